"""Refreshes: a killed refresh (SIGKILL in the middle of the computation, or of the commit) loses nothing and
corrupts nothing; the workspace settings; the schedule; one refresh at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from clv.errors import DataError
from clv.service.demo import make_demo_workspace
from clv.service.runs import refresh
from clv.service.schedule import Refresher, check_cron, next_times
from clv.service.server import open_workspace_store
from clv.service.workspace import read_workspace

SRC = str(Path(__file__).resolve().parents[1] / "src")

CHILD = """
import sys, time
from clv.service import store as store_module
from clv.cli.main import app
point = sys.argv[2]
original_progress = store_module.RunStore.set_progress
original_insert = store_module.RunStore._bulk_insert

def set_progress(self, run_id, stage, fraction):
    original_progress(self, run_id, stage, fraction)
    if point == "computing" and stage == "scoring customers":
        print("KILL-ME", flush=True); time.sleep(120)

def bulk_insert(self, conn, table, frame):
    original_insert(self, conn, table, frame)
    if point == "committing" and table.name == "customer_scores":
        print("KILL-ME", flush=True); time.sleep(120)

store_module.RunStore.set_progress = set_progress
store_module.RunStore._bulk_insert = bulk_insert
app(["serve", "refresh", "--workspace", sys.argv[1]])
"""


@pytest.fixture(scope="module")
def workspace_with_a_run(tmp_path_factory):
    root = make_demo_workspace(tmp_path_factory.mktemp("ws"), customers=300, seed=3, backtest=False, report=False)
    workspace, store = open_workspace_store(root)
    first = refresh(workspace, store, trigger="test")
    store.close()
    return root, first


@pytest.mark.parametrize("point", ["computing", "committing"])
def test_a_refresh_killed_midway_leaves_the_previous_run_serving(workspace_with_a_run, point):
    root, first = workspace_with_a_run
    _, store = open_workspace_store(root)
    before = store.customers(first, limit=1_000)
    store.close()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), point], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": SRC})
    try:
        seen = _read_until(child, "KILL-ME", timeout=120)
        assert seen, f"the child never reached the {point} point: {child.stderr.read()}"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    workspace, store = open_workspace_store(root)  # the database opens: not corrupted
    try:
        assert store.current_run_id() == first
        cut = [r for r in store.runs(10) if r["run_id"] != first and r["status"] != "succeeded"]
        assert cut and cut[0]["status"] == "interrupted" and "previous run kept serving" in cut[0]["error"]
        assert store.customers(cut[0]["run_id"])[0] == 0  # none of the killed run's rows were kept
        assert store.customers(first, limit=1_000) == before  # the serving run is untouched
        from fastapi.testclient import TestClient

        from clv.service.app import ServiceState, create_app
        from clv.service.security import create_token

        token = create_token(store, "viewer")
        client = TestClient(create_app(ServiceState(workspace, store), dashboard=False))
        some = before[1][0]["customer_id"]
        answer = client.get(f"/api/customers/{some}", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["customer"]["run_id"] == first
    finally:
        store.close()


def _read_until(child: subprocess.Popen, marker: str, timeout: float) -> bool:
    found = threading.Event()

    def read() -> None:
        for line in child.stdout:
            if marker in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    return found.wait(timeout)


def test_a_run_failing_on_the_data_is_recorded_and_changes_nothing(workspace_with_a_run, tmp_path):
    root, first = workspace_with_a_run
    workspace, store = open_workspace_store(root)
    try:
        broken = workspace.__class__(workspace.root, workspace.settings,
                                     workspace.source.__class__(orders="no-such-file.csv"), {}, workspace.service)
        with pytest.raises(DataError):
            refresh(broken, store, trigger="test")
        last = store.runs(1)[0]
        assert last["status"] == "failed" and "no-such-file.csv" in last["error"]
        assert store.current_run_id() == first
    finally:
        store.close()


def test_workspace_settings_are_checked(tmp_path):
    root = make_demo_workspace(tmp_path, customers=50, seed=1, backtest=False, report=False)
    workspace = read_workspace(root)
    assert workspace.time_unit == "week" and workspace.horizon == 52 and workspace.service.schedule == "0 6 * * 1"
    assert workspace.store_url() == f"duckdb:///{root.resolve() / 'runs.duckdb'}"
    settings = root / "clv-service.toml"
    text = settings.read_text()
    for bad, message in (('schedule = "0 6 * * 1"', "not a cron schedule"),
                         ("[service]", "'servce' is not a setting"), ('orders = "store/orders.parquet"', "in [source]")):
        replaced = {'schedule = "0 6 * * 1"': 'schedule = "61 6 * * 1"', "[service]": "[servce]",
                    'orders = "store/orders.parquet"': 'order = "store/orders.parquet"'}[bad]
        settings.write_text(text.replace(bad, replaced))
        with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
            read_workspace(root)
    settings.write_text(text + '\n[cac_per_channel]\nemail = "cheap"\n')
    with pytest.raises(DataError, match="cac_per_channel"):
        read_workspace(root)


def test_cron_schedule():
    assert check_cron("*/15 * * * *") == "*/15 * * * *"
    times = next_times("0 6 * * 1", 3)
    assert len(times) == 3 and all("T06:00:00" in t for t in times)
    with pytest.raises(DataError, match="five fields"):
        check_cron("every monday")


def test_one_refresh_at_a_time_and_the_schedule_is_registered():
    release = threading.Event()
    started = []

    def slow_run(trigger, on_run):
        on_run(f"run-{len(started)}")
        started.append(trigger)
        release.wait(10)
        return "done"

    refresher = Refresher(slow_run, schedule="*/5 * * * *")
    try:
        assert refresher.trigger("manual") == "run-0"
        assert refresher.busy and refresher.trigger("manual") is None  # refused while one runs
        release.set()
        refresher.wait(5)
        assert not refresher.busy and refresher.last_error is None
        refresher.start_schedule()
        assert refresher.next_run_time() is not None
    finally:
        refresher.stop()
    assert started == ["manual"]
