"""One refresh of the workspace: the clv pipeline through its public API, written to the run database as one run.

:func:`refresh` loads the orders (with the load report), summarises customers,
fits the purchase model through the model ladder (BG/NBD, or the NBD where the
data show no churn) and Gamma-Gamma, scores every customer with 80% intervals,
labels them (RFM, value and risk tiers, early warning, action), computes the
classic formula's KPIs and the four drivers (AOV, purchase frequency, margin,
churn), the backtest scorecard and verdict (when ``[service] backtest``), the
next-product suggestions (when the orders have products) and the HTML report,
then commits all of it as the new current run in one transaction
(:meth:`clv.service.store.RunStore.commit_run`). Any failure marks the run
``failed`` and leaves the previous run serving.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clv.errors import ClvError
from clv.service.store import SEGMENT_KINDS, RunData, RunStore, json_safe
from clv.service.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STAGES", "compute_run", "load_workspace_orders", "refresh"]

STAGES = ("loading orders", "summarising customers", "fitting models", "scoring customers", "segmenting customers",
          "computing KPIs and drivers", "backtesting", "suggesting next products", "writing the report",
          "saving the run")
"""The stages of a run, in order; progress = stage index / number of stages."""

Progress = Callable[[str, float], None]


def refresh(workspace: Workspace, store: RunStore, *, trigger: str = "manual",
            on_run: Callable[[str], None] | None = None) -> str:
    """Run the pipeline on the workspace and store it as the new current run; returns the run id.

    Parameters
    ----------
    workspace : Workspace
        The settings and sources.
    store : RunStore
        The run database.
    trigger : str, default "manual"
        What started the run (manual, schedule, cli, demo), recorded with it.
    on_run : callable or None
        Called with the run id as soon as the run is registered (before computing).

    Raises
    ------
    clv.errors.ClvError
        When the run fails on the data (it is recorded as failed; the previous run keeps serving).
    """
    store.recover()
    run_id = store.begin_run(trigger, run_settings(workspace))
    if on_run is not None:
        on_run(run_id)

    def progress(stage: str, fraction: float) -> None:
        store.set_progress(run_id, stage, fraction)

    try:
        data = compute_run(workspace, progress)
        progress("saving the run", (len(STAGES) - 1) / len(STAGES))
        store.commit_run(run_id, data)
    except ClvError as exc:
        store.fail_run(run_id, str(exc))
        raise
    except Exception as exc:  # a bug: recorded without internals, re-raised for the log
        store.fail_run(run_id, f"internal error ({type(exc).__name__}); see the server log")
        raise
    return run_id


def run_settings(workspace: Workspace) -> dict:
    """The settings a run records: options, column mapping, sources (file names only)."""
    return json_safe({
        "time_unit": workspace.time_unit, "horizon": workspace.horizon, "discount_rate": workspace.discount_rate,
        "margin": workspace.settings.margin, "cac": workspace.settings.cac, "cac_per_channel": workspace.cac_per_channel,
        "columns": dict(workspace.settings.columns), "source": {
            k: v for k, v in vars(workspace.source).items() if v is not None and k != "database"},
        "backtest": workspace.service.backtest,
    })


def load_workspace_orders(workspace: Workspace):
    """The workspace's orders through :func:`clv.load_orders` (file or database table), with its load report."""
    from clv.data import DatabaseTable, load_orders

    source = workspace.source
    if source.database is not None:
        database = source.database if "://" in source.database else str(workspace.path(source.database))
        target: Any = DatabaseTable(database, source.table)
    else:
        target = str(workspace.path(source.orders))
    return load_orders(target, workspace.settings.column_mapping(), workspace.settings.load_policy(),
                       observation_end=source.observation_end)


def compute_run(workspace: Workspace, progress: Progress) -> RunData:
    """Everything a run stores, computed through clv's public API (``progress(stage, fraction)`` per stage)."""
    from clv.models import GammaGammaModel
    from clv.models.ladder import fit_purchase_model
    from clv.scores import score_customers
    from clv.segments import assign_segments, playbook
    from clv.summary import summarize, summary_is_log

    step = _stepper(progress)
    step("loading orders")
    result = load_workspace_orders(workspace)
    unit, horizon = workspace.time_unit, workspace.horizon
    step("summarising customers")
    summary = summarize(result, time_unit=unit, observation_end=workspace.source.observation_end)
    if summary_is_log(summary):
        raise ClvError("the orders have no amounts (a purchase log): the service needs amounts to value customers. "
                       "Fix: map an amount column ([columns] amount = ..., or quantity and unit_price).")
    step("fitting models")
    purchases = fit_purchase_model(summary, "bgnbd")
    spend = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    margin = _margin(workspace, summary)
    step("scoring customers")
    scores = score_customers(summary, purchases, spend, horizon=horizon, time_unit=unit,
                             discount_rate=workspace.discount_rate, margin=margin, intervals=(0.8,), n_draws=100, seed=0)
    step("segmenting customers")
    segments = assign_segments(summary, scores, result)
    plays = playbook(segments)
    step("computing KPIs and drivers")
    classic, drivers = _classic(workspace, result)
    scorecard = None
    if workspace.service.backtest:
        step("backtesting")
        scorecard = _scorecard(result, workspace)
    step("suggesting next products")
    suggestions = _suggestions(result)
    report = None
    if workspace.service.report:
        step("writing the report")
        report = _report(result, workspace, margin)
    customers = _customer_frame(workspace, segments.table, scores, purchases, suggestions)
    return RunData(
        n_customers=len(customers), settings=run_settings(workspace), load_report=json_safe(result.report.as_dict()),
        models=_models(purchases, spend, summary), scorecard=scorecard,
        kpis=_kpis(customers, classic, margin, summary),
        drivers=json_safe(drivers.to_dict("records")), playbook=json_safe(_playbook_records(plays)),
        notes=[f"model: {purchases.model_choice_.reason}"], customers=customers,
        segment_sizes=_segment_sizes(customers), report_html=report,
    )


def _stepper(progress: Progress) -> Callable[[str], None]:
    def step(stage: str) -> None:
        progress(stage, STAGES.index(stage) / len(STAGES))
    return step


def _margin(workspace: Workspace, summary) -> float:
    """The margin rate: the settings' ``margin``, else revenue-weighted from the cost column, else 1 (CLV in revenue)."""
    if workspace.settings.margin is not None:
        return float(workspace.settings.margin)
    table = summary.table
    if "margin" in table and table["revenue"].sum() > 0:
        return float(min(1.0, max(1e-6, table["margin"].sum() / table["revenue"].sum())))
    return 1.0


def _classic(workspace: Workspace, result):
    """The classic formula per year (with CAC per channel or the settings' CAC) and the drivers per month."""
    from clv.formula import classic_clv, drivers_over_time

    orders = result.orders
    cac: Any = None
    if workspace.source.spend is not None:
        import pandas as pd

        cac = pd.read_csv(workspace.path(workspace.source.spend))
    elif workspace.cac_per_channel and "channel" in orders.columns:
        cac = dict(workspace.cac_per_channel)
    elif isinstance(workspace.settings.cac, float):
        cac = workspace.settings.cac
    classic = classic_clv(orders, time_unit="year", cac=cac, margin=workspace.settings.margin)
    drivers = drivers_over_time(orders, time_unit="month", margin=workspace.settings.margin)
    return classic, drivers


def _scorecard(result, workspace: Workspace) -> dict:
    """The backtest (half the span for calibration) as a scorecard: champion, reason, metrics per predictor."""
    from clv.backtest import backtest

    try:
        outcome = backtest(result, calibration_fraction=0.5, time_unit=workspace.time_unit, models=("bgnbd",),
                           intervals=(0.8,), n_draws=100, margin=workspace.settings.margin or 1.0)
    except ClvError as exc:
        return {"verdict": None, "reason": f"no backtest: {exc}", "metrics": []}
    return json_safe({
        "verdict": outcome.champion.name if outcome.champion is not None else outcome.best,
        "reason": outcome.best_reason,
        "calibration_end": outcome.settings.get("calibration_end"),
        "metrics": outcome.metrics.to_dict("records"),
        "warnings": list(outcome.warnings),
    })


def _suggestions(result) -> dict[str, list[str]]:
    """Top-3 next products per customer from product association rules; {} when the orders have no products."""
    if "product_id" not in result.orders.columns:
        return {}
    from clv.crosssell import product_pairs, recommend

    try:
        rules = product_pairs(result.orders, min_support=0.005, min_count=5)
        if len(rules) == 0:
            return {}
        found = recommend(result.orders, rules, k=3).to_pandas()
    except ClvError:
        return {}
    found = found.sort_values(["customer_id", "rank"])
    return found.groupby(found["customer_id"].astype(str))["product_id"].agg(lambda s: [str(p) for p in s]).to_dict()


def _report(result, workspace: Workspace, margin: float) -> str | None:
    from clv.report import build_report

    with tempfile.TemporaryDirectory() as folder:
        path = build_report(result, time_unit=workspace.time_unit, horizon=workspace.horizon, margin=margin,
                            observation_end=workspace.source.observation_end, path=Path(folder) / "report.html",
                            title=f"{workspace.service.title}: report")
        return Path(path).read_text(encoding="utf-8")


def _customer_frame(workspace: Workspace, table: pd.DataFrame, scores, purchases, suggestions) -> pd.DataFrame:
    """The per-customer rows the store keeps (:data:`clv.service.store.CUSTOMER_COLUMNS`)."""
    import numpy as np
    import pandas as pd

    from clv.units import convert_duration

    frame = pd.DataFrame({
        "customer_id": table["customer_id"].astype(str).to_numpy(),
        "frequency": table["frequency"].astype(float), "recency": table["recency"].astype(float),
        "age": table["T"].astype(float), "monetary_value": table["monetary_value"].astype(float),
        "n_orders": table["n_orders"].astype("int64"), "revenue": table["revenue"].astype(float),
        "p_alive": table["p_alive"].astype(float), "expected_purchases": table["expected_purchases"].astype(float),
        "expected_spend": table["expected_spend"].astype(float), "clv": table["clv"].astype(float),
    })
    bounds = scores.set_index(scores["customer_id"].astype(str))
    frame["clv_low"] = bounds["clv_q0.1"].reindex(frame["customer_id"]).to_numpy() if "clv_q0.1" in bounds else np.nan
    frame["clv_high"] = bounds["clv_q0.9"].reindex(frame["customer_id"]).to_numpy() if "clv_q0.9" in bounds else np.nan
    ninety = float(convert_duration(90.0, "day", workspace.time_unit))
    frame["expected_orders_90d"] = purchases.expected_purchases(
        ninety, table["frequency"].to_numpy(float), table["recency"].to_numpy(float), table["T"].to_numpy(float))
    for column in ("rfm_segment", "value_tier", "risk_tier", "action"):
        frame[column] = table[column].astype(str).to_numpy()
    frame["early_warning"] = table["early_warning"].astype(bool).to_numpy()
    frame["email"] = _emails(workspace, frame["customer_id"])
    frame["next_products"] = frame["customer_id"].map(
        lambda cid: json.dumps(suggestions[cid]) if cid in suggestions else None) if suggestions else None
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _emails(workspace: Workspace, ids: pd.Series) -> Any:
    """Each customer's email from the workspace's customers file (customer_id, email), None where absent."""
    if workspace.source.customers is None:
        return None
    import pandas as pd

    from clv.errors import DataError

    path = workspace.path(workspace.source.customers)
    people = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    missing = {"customer_id", "email"} - set(people.columns)
    if missing:
        raise DataError(f"[source] customers = {str(workspace.source.customers)!r} lacks the column(s) "
                        f"{', '.join(sorted(missing))}. Fix: a file with customer_id and email.")
    mapping = people.drop_duplicates("customer_id").set_index(people["customer_id"].drop_duplicates().astype(str))["email"]
    return ids.map(mapping).where(lambda s: s.notna(), None).to_numpy(dtype=object)


def _models(purchases, spend, summary) -> dict:
    choice = purchases.model_choice_
    return json_safe({
        "purchase_model": purchases.model_name, "purchase_params": dict(purchases.params_),
        "purchase_log_likelihood": purchases.log_likelihood_, "model_choice": choice.reason,
        "spend_model": "gammagamma", "spend_params": dict(spend.params_), "time_unit": summary.time_unit,
        "observation_end": str(summary.observation_end),
        "saved": {"purchase": purchases.to_dict(), "spend": spend.to_dict()},
    })


def _kpis(customers: pd.DataFrame, classic, margin: float, summary) -> dict:
    """Per run: customers, customer equity (sum of CLV), mean CLV, at-risk counts, the classic CLV and the four drivers."""
    overall = classic.overall.iloc[0].to_dict()
    at_risk = customers["risk_tier"] == "high risk"
    return json_safe({
        "customers": int(len(customers)),
        "customer_equity": float(customers["clv"].sum()),
        "mean_clv": float(customers["clv"].mean()),
        "median_clv": float(customers["clv"].median()),
        "expected_purchases": float(customers["expected_purchases"].sum()),
        "active_customers": int((customers["p_alive"] >= 0.5).sum()),
        "customers_at_risk": int(at_risk.sum()),
        "value_at_risk": float(customers.loc[at_risk, "clv"].sum()),
        "margin_rate": margin,
        "observation_end": str(summary.observation_end),
        "classic_clv": overall.get("clv"), "net_clv": overall.get("net_clv"), "cac": overall.get("cac"),
        "drivers": {"aov": overall.get("aov"), "purchase_frequency": overall.get("purchase_frequency"),
                    "margin": overall.get("margin"), "churn": overall.get("churn_rate")},
    })


def _playbook_records(plays) -> list[dict]:
    return plays.to_pandas().to_dict("records")


def _segment_sizes(customers: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for kind in SEGMENT_KINDS:
        sizes = customers.groupby(kind, sort=True).agg(customers=("customer_id", "size"), value=("clv", "sum"))
        parts.append(sizes.reset_index().rename(columns={kind: "segment"}).assign(kind=kind))
    return pd.concat(parts, ignore_index=True)
