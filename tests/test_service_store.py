"""The run database (clv.service.store): migrations, the atomic run life cycle, history queries, on DuckDB and SQLite.

SQLite stands in for PostgreSQL here: both go through the portable SQLAlchemy path
(batched inserts), while DuckDB uses its DataFrame scan.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from clv.service.store import CUSTOMER_COLUMNS, MIGRATIONS, RunData, StoreError, open_store


@pytest.fixture(params=["duckdb", "sqlite"])
def store(request, tmp_path):
    url = f"{request.param}:///{tmp_path / ('runs.' + request.param)}"
    opened = open_store(url)
    yield opened
    opened.close()


def run_data(n: int, seed: int, risk_shift: float = 0.0) -> RunData:
    rng = np.random.default_rng(seed)
    clv = rng.gamma(1.0, 50.0, n)
    p_alive = np.clip(rng.uniform(0, 1, n) - risk_shift, 0, 1)
    customers = pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(n)]})
    for name in CUSTOMER_COLUMNS:
        customers[name] = None
    customers = customers.assign(
        email=[f"c{i}@example.com" for i in range(n)], frequency=rng.integers(0, 9, n).astype(float),
        recency=1.0, age=10.0, monetary_value=20.0, n_orders=rng.integers(1, 9, n), revenue=100.0, p_alive=p_alive,
        expected_purchases=1.0, expected_spend=20.0, clv=clv, clv_low=clv / 2, clv_high=clv * 2,
        expected_orders_90d=0.5, rfm_segment="loyal", value_tier=np.where(clv > 60, "top 20%", "rest"),
        risk_tier=np.where(p_alive < 0.3, "high risk", "low risk"), action=np.where(p_alive < 0.3, "win_back", "nurture"),
        early_warning=False, next_products=None)
    sizes = pd.concat([customers.groupby(kind).agg(customers=("customer_id", "size"), value=("clv", "sum"))
                       .reset_index().rename(columns={kind: "segment"}).assign(kind=kind)
                       for kind in ("action", "rfm_segment", "value_tier", "risk_tier")], ignore_index=True)
    return RunData(n_customers=n, settings={"time_unit": "week"}, load_report={"input_rows": n}, models={},
                   scorecard={"verdict": "bgnbd"}, kpis={"customer_equity": float(clv.sum()), "mean_clv": float("nan")},
                   drivers=[], playbook=[{"action": "win_back", "why": "valuable and slipping"}], notes=[],
                   customers=customers, segment_sizes=sizes, report_html="<html>report</html>")


def test_migrations_are_applied_once_and_recorded(store):
    assert store.schema_version() == max(version for version, _, _ in MIGRATIONS)
    assert store.migrate() == []  # nothing left to apply on the second open


def test_a_database_from_a_newer_clv_is_refused(store):
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_migrations VALUES (999, 'future', CURRENT_TIMESTAMP)"))
    with pytest.raises(StoreError, match="newer than this clv knows"):
        store.migrate()


def test_commit_makes_the_run_current_with_all_its_rows(store):
    assert store.current_run_id() is None
    run_id = store.begin_run("test", {"time_unit": "week"})
    assert store.active_run()["run_id"] == run_id and store.current_run_id() is None
    data = run_data(300, seed=1)
    store.commit_run(run_id, data)
    assert store.current_run_id() == run_id and store.active_run() is None
    record = store.run(run_id)
    assert record["status"] == "succeeded" and record["n_customers"] == 300
    assert record["kpis"]["mean_clv"] is None  # NaN stored as JSON null
    total, rows = store.customers(run_id, limit=5)
    assert total == 300 and rows[0]["clv"] == pytest.approx(data.customers["clv"].max())
    one = store.customer(run_id, "c0007")
    assert one["email"] == "c7@example.com" and one["clv"] == pytest.approx(data.customers["clv"][7])
    assert store.report_html(run_id) == "<html>report</html>"


def test_a_failed_run_leaves_the_previous_run_serving(store):
    first = store.begin_run("test", {})
    store.commit_run(first, run_data(50, seed=1))
    second = store.begin_run("test", {})
    store.set_progress(second, "scoring customers", 0.4)
    assert store.active_run()["stage"] == "scoring customers"
    store.fail_run(second, "the orders file is empty")
    assert store.current_run_id() == first
    assert store.run(second)["status"] == "failed" and store.run(second)["error"] == "the orders file is empty"
    assert store.customers(second)[0] == 0


def test_a_commit_that_breaks_halfway_writes_nothing(store):
    first = store.begin_run("test", {})
    store.commit_run(first, run_data(50, seed=1))
    second = store.begin_run("test", {})
    broken = run_data(50, seed=2)
    broken.segment_sizes = broken.segment_sizes.assign(segment=None)  # NOT NULL primary key: the insert fails
    with pytest.raises(sa.exc.SQLAlchemyError):
        store.commit_run(second, broken)
    assert store.current_run_id() == first
    assert store.customers(second)[0] == 0  # the customers inserted before the failure were rolled back
    assert store.run(second)["status"] == "running"


def test_recover_marks_cut_off_runs_interrupted(store):
    run_id = store.begin_run("test", {})
    assert store.recover() == []  # fresh heartbeat: still running
    assert store.recover(stale_after=dt.timedelta(0)) == [run_id]
    assert store.run(run_id)["status"] == "interrupted"


def test_history_movers_and_exports(store):
    first, second = store.begin_run("test", {}), None
    store.commit_run(first, run_data(200, seed=3))
    second = store.begin_run("test", {})
    store.commit_run(second, run_data(200, seed=3, risk_shift=0.2))  # same customers, lower P(alive): more at risk
    assert [p["run_id"] for p in store.kpi_history()] == [first, second]
    history = store.customer_history("c0001")
    assert [h["run_id"] for h in history] == [first, second]
    found, same = store.customer_and_history(first, "c0001")
    assert same == history and found == store.customer(first, "c0001")
    assert store.customer_and_history(first, "nobody") == (None, [])
    assert store.previous_run_id(second) == first and store.previous_run_id(first) is None
    moved = store.movers(second, first)
    before = {r["customer_id"]: r for r in store.customers(first, limit=500)[1]}
    after = {r["customer_id"]: r for r in store.customers(second, limit=500)[1]}
    newly = {c for c in after if after[c]["risk_tier"] == "high risk" and before[c]["risk_tier"] != "high risk"}
    won = {c for c in after if after[c]["risk_tier"] != "high risk" and before[c]["risk_tier"] == "high risk"}
    assert moved["newly_at_risk"]["customers"] == len(newly) > 0 and moved["won_back"]["customers"] == len(won)
    assert {r["customer_id"] for r in moved["newly_at_risk"]["top"]} <= newly
    sizes = {(r["kind"], r["segment"]): r["customers"] for r in store.segment_sizes(second)}
    exported = list(store.export_rows(second, "action", "win_back", with_email=True))
    assert len(exported) == sizes[("action", "win_back")]
    assert set(exported[0]) == {"customer_id", "email", "value_tier", "risk_tier", "churn_probability", "action", "clv"}
    assert exported[0]["churn_probability"] == pytest.approx(1 - after[exported[0]["customer_id"]]["p_alive"])
    points = store.segment_history("risk_tier")
    assert {p["run_id"] for p in points} == {first, second}


def test_search_filters_and_pages(store):
    run_id = store.begin_run("test", {})
    store.commit_run(run_id, run_data(120, seed=4))
    total, rows = store.customers(run_id, search="c001", limit=100)
    assert total == 10 and all(r["customer_id"].startswith("c001") for r in rows)
    assert store.customers(run_id, search="%")[0] == 0  # a LIKE wildcard is taken literally
    total, rows = store.customers(run_id, kind="risk_tier", segment="high risk", min_clv=10, sort="clv",
                                  descending=False, limit=7, offset=2)
    assert len(rows) <= 7 and all(r["risk_tier"] == "high risk" and r["clv"] >= 10 for r in rows)
    assert [r["clv"] for r in rows] == sorted(r["clv"] for r in rows)
