"""The REST API of clv serve (FastAPI TestClient on a workspace refreshed twice): every endpoint, and security:
tokens and roles, injection refused, no internals in any response, rate limiting, CORS."""

from __future__ import annotations

import csv
import io
import logging

import pytest
from fastapi.testclient import TestClient

from clv.service.app import ServiceState, create_app
from clv.service.server import open_workspace_store
from service_workspace import built_workspace


@pytest.fixture(scope="module")
def service():
    built = built_workspace()
    workspace, store = open_workspace_store(built.root)
    state = ServiceState(workspace, store)
    client = TestClient(create_app(state))
    yield built, state, client
    store.close()


def auth(built, role: str) -> dict:
    return {"Authorization": f"Bearer {built.tokens[role]}"}


def test_health_needs_no_token(service):
    _, _, client = service
    assert client.get("/api/health").json() == {"status": "ok", "has_run": True}


ROUTES = ["/api/customers", "/api/customers/1", "/api/segments", "/api/segments/history", "/api/segments/movers",
          "/api/segments/action/win_back/export", "/api/runs", "/api/kpis", "/api/kpis/drivers", "/api/refresh"]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_a_valid_token(service, route):
    built, _, client = service
    assert client.get(route).status_code == 401
    for wrong in ("Bearer nope", "Bearer " + built.tokens["viewer"][:-1] + "x", "Basic " + built.tokens["viewer"],
                  "Bearer clv_000000000000_" + "A" * 43):
        answer = client.get(route, headers={"Authorization": wrong})
        assert answer.status_code == 401 and answer.json() == {"detail": "missing or invalid token"}


def test_the_customer_lookup(service):
    built, state, client = service
    first, second = built.run_ids
    _, rows = state.store.customers(second, limit=1)
    cid = rows[0]["customer_id"]
    answer = client.get(f"/api/customers/{cid}", headers=auth(built, "viewer"))
    assert answer.status_code == 200
    body = answer.json()
    customer = body["customer"]
    assert customer["run_id"] == second and customer["clv"] == pytest.approx(rows[0]["clv"])
    assert customer["email"] is None  # personal data: analysts only
    assert customer["clv_low"] <= customer["clv"] <= customer["clv_high"]
    assert customer["expected_orders_90d"] > 0 and customer["action"] and body["action_why"]
    assert isinstance(customer["next_products"], list)
    assert [h["run_id"] for h in body["history"]] == [first, second]
    analyst = client.get(f"/api/customers/{cid}", headers=auth(built, "analyst")).json()
    assert analyst["customer"]["email"] == f"customer{cid}@example.com"
    older = client.get(f"/api/customers/{cid}", params={"run_id": first}, headers=auth(built, "viewer")).json()
    assert older["customer"]["run_id"] == first
    assert client.get("/api/customers/no-such-customer", headers=auth(built, "viewer")).status_code == 404


def test_lists_filter_page_and_search(service):
    built, state, client = service
    head = auth(built, "viewer")
    page = client.get("/api/customers", params={"segment_kind": "risk_tier", "segment": "high risk", "limit": 5,
                                                "offset": 5, "sort": "clv", "order": "asc"}, headers=head).json()
    sizes = {(r["kind"], r["segment"]): r["customers"] for r in state.store.segment_sizes(built.run_ids[1])}
    assert page["total"] == sizes[("risk_tier", "high risk")] and len(page["items"]) == 5
    assert all(r["risk_tier"] == "high risk" for r in page["items"])
    assert [r["clv"] for r in page["items"]] == sorted(r["clv"] for r in page["items"])
    scored = client.get("/api/customers", params={"min_clv": 50, "min_p_alive": 0.5}, headers=head).json()
    assert all(r["clv"] >= 50 and r["p_alive"] >= 0.5 for r in scored["items"])
    found = client.get("/api/customers", params={"q": "12"}, headers=head).json()
    assert found["total"] > 0 and all(r["customer_id"].startswith("12") for r in found["items"])
    assert client.get("/api/customers", params={"q": "customer1@"}, headers=head).status_code == 403
    any_kind = client.get("/api/customers", params={"segment": "win_back", "limit": 1}, headers=head).json()
    assert any_kind["total"] == sizes[("action", "win_back")]


def test_segments_runs_kpis_and_report(service):
    built, state, client = service
    head = auth(built, "viewer")
    first, second = built.run_ids
    segments = client.get("/api/segments", headers=head).json()
    assert {row["action"] for row in segments["playbook"]} >= {"win_back", "nurture"}
    total = sum(r["customers"] for r in segments["sizes"] if r["kind"] == "action")
    assert total == state.store.run(second)["n_customers"]
    runs = client.get("/api/runs", headers=head).json()
    assert runs["current_run_id"] == second and [r["run_id"] for r in runs["items"]] == [second, first]
    assert runs["items"][0]["verdict"] and runs["items"][1]["verdict"] is None  # backtest only in run 2
    full = client.get(f"/api/runs/{second}", headers=head).json()
    assert full["scorecard"]["metrics"] and full["models"]["purchase_model"] in ("bgnbd", "nbd")
    assert full["load_report"]["input_rows"] > 0 and "source" not in full["settings"]
    kpis = client.get("/api/kpis", headers=head).json()["points"]
    assert [p["run_id"] for p in kpis] == [first, second]
    assert kpis[1]["customer_equity"] == pytest.approx(sum(
        r["clv"] for r in state.store.customers(second, limit=10_000)[1]))
    assert set(kpis[1]["drivers"]) == {"aov", "purchase_frequency", "margin", "churn"}
    months = client.get("/api/kpis/drivers", headers=head).json()["months"]
    assert months and {"aov", "churn", "margin", "purchase_frequency"} <= set(months[0])
    report = client.get(f"/api/runs/{second}/report", headers=head)
    assert report.status_code == 200 and report.text.lstrip().lower().startswith("<!doctype html")
    assert client.get(f"/api/runs/{first}/report", headers=head).status_code == 404  # run 1 had no report
    movers = client.get("/api/segments/movers", headers=head).json()
    assert movers["previous_run_id"] == first and "newly_at_risk" in movers and "won_back" in movers
    history = client.get("/api/segments/history", params={"kind": "value_tier"}, headers=head).json()["points"]
    assert {p["run_id"] for p in history} == {first, second}


def test_exports_need_the_analyst_role_and_have_the_tools_shape(service):
    built, state, client = service
    route = "/api/segments/action/win_back/export"
    assert client.get(route, headers=auth(built, "viewer")).status_code == 403
    answer = client.get(route, headers=auth(built, "analyst"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    sizes = {(r["kind"], r["segment"]): r["customers"] for r in state.store.segment_sizes(built.run_ids[1])}
    assert len(rows) == sizes[("action", "win_back")] > 0
    assert list(rows[0]) == ["customer_id", "email", "value_tier", "risk_tier", "churn_probability", "action", "clv"]
    assert all(r["action"] == "win_back" and r["email"].endswith("@example.com") for r in rows)
    as_json = client.get(route, params={"format": "json"}, headers=auth(built, "admin")).json()
    assert [r["customer_id"] for r in as_json] == [r["customer_id"] for r in rows]
    assert client.get("/api/segments/action/no_such/export", headers=auth(built, "analyst")).status_code == 404


def test_what_if_moves_customer_equity(service):
    built, state, client = service
    head = auth(built, "viewer")
    equity = state.store.run(built.run_ids[1])["kpis"]["customer_equity"]
    answer = client.post("/api/whatif", json={"aov": 0.1}, headers=head)
    assert answer.status_code == 200
    total = answer.json()["totals"][0]
    assert total["equity_before"] == pytest.approx(equity, rel=1e-9)
    assert total["equity_after"] == pytest.approx(equity * 1.1, rel=1e-9)  # +10% per order, everyone: CLV x 1.1
    segment = client.post("/api/whatif", json={"churn": -0.2, "segment_kind": "action", "segment": "win_back"},
                          headers=head).json()
    scopes = {row["scope"]: row for row in segment["totals"]}
    assert scopes["segment"]["change"] > 0 and scopes["rest"]["change"] == pytest.approx(0, abs=1e-9)
    assert client.post("/api/whatif", json={"aov": 5}, headers=head).status_code == 422
    assert client.post("/api/whatif", json={"segment_kind": "action", "segment": "nobody"}, headers=head).status_code == 404


def test_refresh_needs_admin_and_shows_progress(service):
    built, state, client = service
    assert client.post("/api/refresh", headers=auth(built, "analyst")).status_code == 403
    progress = client.get("/api/refresh", headers=auth(built, "viewer")).json()
    assert progress["running"] is False and progress["current_run_id"] == built.run_ids[1]
    assert progress["last_status"] == "succeeded"
    assert client.post("/api/refresh", headers=auth(built, "admin")).status_code == 409  # no refresher here


INJECTIONS = ["..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "..", "1'%20OR%20'1'%3D'1", "1;DROP%20TABLE%20runs",
              "%00", "9" * 5000, "%2e%2e%2f", "<script>"]


@pytest.mark.parametrize("bad", INJECTIONS)
def test_path_and_id_injection_is_refused(service, bad):
    built, state, client = service
    head = auth(built, "admin")
    for route in (f"/api/customers/{bad}", f"/api/runs/{bad}", f"/api/runs/{bad}/report",
                  f"/api/segments/action/{bad}/export"):
        answer = client.get(route, headers=head)
        assert 400 <= answer.status_code < 500, (route, answer.status_code)
        assert "Traceback" not in answer.text and "/tmp" not in answer.text and "site-packages" not in answer.text
    assert client.get("/api/customers", params={"q": bad[:300]}, headers=head).status_code in (200, 422)
    assert state.store.current_run_id() == built.run_ids[1]  # nothing dropped or changed


@pytest.mark.parametrize("params", [{"limit": 10**30}, {"offset": -1}, {"limit": 0}, {"min_p_alive": 2},
                                    {"sort": "email; DROP TABLE runs"}, {"run_id": "../../x"},
                                    {"segment_kind": "email", "segment": "x"}])
def test_bad_parameters_are_422_without_internals(service, params):
    built, _, client = service
    answer = client.get("/api/customers", params=params, headers=auth(built, "viewer"))
    assert answer.status_code == 422
    assert set(answer.json()) == {"detail", "problems"} and "Traceback" not in answer.text


def test_a_crash_answers_500_without_internals(service, caplog):
    built, state, client = service
    original = state.store.kpi_history
    state.store.kpi_history = lambda: 1 / 0
    try:
        with caplog.at_level(logging.ERROR, logger="clv.service"):
            answer = TestClient(client.app, raise_server_exceptions=False).get("/api/kpis", headers=auth(built, "viewer"))
    finally:
        state.store.kpi_history = original
    assert answer.status_code == 500 and answer.json() == {"detail": "internal error; see the server log"}
    assert "ZeroDivisionError" in caplog.text and built.tokens["viewer"] not in caplog.text


def test_tokens_never_appear_in_logs(service, caplog):
    built, _, client = service
    with caplog.at_level(logging.DEBUG):
        client.get("/api/kpis", headers=auth(built, "viewer"))
        client.get("/api/kpis", headers={"Authorization": "Bearer " + built.tokens["viewer"] + "x"})
        client.post("/api/session", json={"token": built.tokens["viewer"]})
    assert all(token not in caplog.text for token in built.tokens.values())


def test_tokens_are_stored_hashed(service):
    built, state, _ = service
    import sqlalchemy as sa

    with state.store.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM api_tokens")) for v in row)
    for token in built.tokens.values():
        assert token[len("clv_") + 13:] not in stored  # the secret after clv_<12 hex>_


def test_rate_limit_and_cors(service):
    built, state, _ = service
    from dataclasses import replace

    tight = replace(state.workspace, service=replace(state.workspace.service, rate_limit="5/minute"))
    client = TestClient(create_app(ServiceState(tight, state.store), dashboard=False))
    codes = [client.get("/api/kpis", headers=auth(built, "viewer")).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert client.get("/api/health").status_code == 200  # health is never limited
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    assert "access-control-allow-origin" not in client.options("/api/kpis", headers=origin).headers
    allowed = replace(state.workspace, service=replace(state.workspace.service, cors_origins=("https://crm.example",)))
    open_client = TestClient(create_app(ServiceState(allowed, state.store), dashboard=False))
    answer = open_client.get("/api/health", headers={"Origin": "https://crm.example"})
    assert answer.headers["access-control-allow-origin"] == "https://crm.example"


def test_dashboard_pages_need_a_session(service):
    built, _, client = service
    fresh = TestClient(client.app)
    assert fresh.get("/", follow_redirects=False).status_code == 303
    assert fresh.post("/api/session", json={"token": "wrong"}).status_code == 401
    assert fresh.post("/api/session", json={"token": built.tokens["viewer"]}).json() == {"role": "viewer"}
    for page in ("/", "/segments", "/customers", "/whatif", "/runs"):
        answer = fresh.get(page)
        assert answer.status_code == 200 and "Content-Security-Policy" in answer.headers
    assert fresh.get("/api/kpis").status_code == 200  # the session cookie works for the API too
    script = fresh.get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000
    assert fresh.get("/static/../service.py").status_code == 404
