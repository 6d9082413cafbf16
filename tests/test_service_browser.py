"""The dashboard in a real browser: Playwright drives Debian's Chromium against a live uvicorn on localhost.

Pages load without console errors, the numbers shown equal the API's, the what-if
sliders change the figures, and a screenshot of each page is not blank. Skipped only
where /usr/bin/chromium is absent (.ci/run installs it); never downloads a browser.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def live():
    import uvicorn

    from clv.service.app import ServiceState, create_app
    from clv.service.server import open_workspace_store
    from service_workspace import built_workspace

    built = built_workspace()
    workspace, store = open_workspace_store(built.root)
    app = create_app(ServiceState(workspace, store))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.1)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {built.tokens['analyst']}"}, timeout=120)
    yield base, built, api
    api.close()
    server.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture(scope="module")
def browser_page(live):
    from playwright.sync_api import sync_playwright

    base, built, _ = live
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base + "/")
        assert page.url.endswith("/login")
        page.fill("#token", built.tokens["analyst"])
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        yield page, errors
        browser.close()


def wait_for_text(page, selector: str, wanted, seconds: float = 120) -> bool:
    """Poll ``selector``'s text until ``wanted(text)`` (the page's CSP forbids the eval wait_for_function uses)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if wanted(page.inner_text(selector)):
            return True
        page.wait_for_timeout(200)
    return False


def money(value: float) -> str:
    return f"{round(value):,}"


def not_blank(png: bytes) -> bool:
    from test_report_browser import decode_png

    image = decode_png(png)[..., :3].reshape(-1, 3)
    colours = np.unique(image[:: max(1, len(image) // 200_000)], axis=0)
    return len(colours) > 50 and float(image.std()) > 10


def test_overview_numbers_equal_the_api(live, browser_page, tmp_path):
    base, _, api = live
    page, errors = browser_page
    page.goto(base + "/")
    page.wait_for_selector("#chart-equity .main-svg")
    page.wait_for_selector("#chart-drivers .main-svg")
    latest = api.get("/api/kpis").json()["points"][-1]
    assert page.inner_text("#kpi-customers") == f"{latest['customers']:,}"
    assert page.inner_text("#kpi-equity") == money(latest["customer_equity"])
    assert page.inner_text("#kpi-at-risk") == f"{latest['customers_at_risk']:,}"
    movers = api.get("/api/segments/movers").json()
    assert page.inner_text("#newly-at-risk") == f"{movers['newly_at_risk']['customers']:,}"
    assert page.locator("#chart-equity .scatterlayer .trace").count() == 2
    assert not_blank(page.screenshot(full_page=True))
    assert errors == []


def test_segments_page_matches_the_playbook(live, browser_page):
    base, _, api = live
    page, errors = browser_page
    page.goto(base + "/segments")
    page.wait_for_selector("#chart-playbook .main-svg")
    for row in api.get("/api/segments").json()["playbook"]:
        cells = page.locator(f"tr[data-action='{row['action']}'] td")
        assert cells.nth(1).inner_text() == f"{row['customers']:,}"
        assert cells.nth(2).inner_text() == money(row["value_at_stake"])
    link = page.locator("tr[data-action='win_back'] a", has_text="CSV")
    assert link.count() == 1  # an analyst sees the exports
    assert not_blank(page.screenshot(full_page=True))
    assert errors == []


def test_customer_lookup_shows_the_api_scores(live, browser_page):
    base, _, api = live
    page, errors = browser_page
    some = api.get("/api/customers", params={"limit": 1}).json()["items"][0]
    detail = api.get(f"/api/customers/{some['customer_id']}").json()
    page.goto(base + "/customers")
    page.fill("#q", some["customer_id"])
    page.click("#search button")
    page.wait_for_selector("#detail:not([hidden])")
    page.wait_for_selector("#chart-customer .main-svg")
    assert page.inner_text("#detail-clv") == money(detail["customer"]["clv"])
    assert page.inner_text("#detail-alive") == f"{round(100 * detail['customer']['p_alive'])}%"
    assert some["email"] in page.inner_text("#detail-title")
    assert not_blank(page.screenshot(full_page=True))
    assert errors == []


def test_what_if_sliders_change_the_figures(live, browser_page):
    base, _, api = live
    page, errors = browser_page
    page.goto(base + "/whatif")
    equity = api.get("/api/kpis").json()["points"][-1]["customer_equity"]
    assert wait_for_text(page, "#equity-after", lambda text: text != "…")
    assert page.inner_text("#equity-before") == money(equity)
    assert page.inner_text("#equity-after") == money(equity)
    page.fill("#s-aov", "20")
    answer = api.post("/api/whatif", json={"aov": 0.2})
    assert answer.status_code == 200, answer.text
    expected = answer.json()["totals"][0]["equity_after"]
    assert wait_for_text(page, "#equity-after", lambda text: text == money(expected))
    assert page.inner_text("#o-aov") == "+20%"
    assert page.inner_text("#equity-change").startswith("+")
    assert not_blank(page.screenshot(full_page=True))
    assert errors == []


def test_run_history_lists_every_run(live, browser_page):
    base, built, api = live
    page, errors = browser_page
    page.goto(base + "/runs")
    runs = api.get("/api/runs").json()["items"]
    assert page.locator("#runs tbody tr").count() == len(runs) == 2
    assert page.locator(f"tr[data-run='{built.run_ids[1]}'] strong").inner_text() == runs[0]["verdict"]
    assert page.locator("#refresh").count() == 0  # an analyst cannot refresh
    assert not_blank(page.screenshot(full_page=True))
    assert errors == []
