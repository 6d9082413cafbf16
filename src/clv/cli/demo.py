"""``clv demo``: the whole path on a synthetic store, from raw lines to each customer's CLV and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from clv.cli.common import note, progress, rich_table, say
from clv.cli.data_commands import report_rows
from clv.cli.outputs import write_frame, write_table
from clv.data import Columns

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

DEMO_COLUMNS = Columns(order_id="order_id", product_id="product_id", quantity="quantity", channel="channel", cost="cost")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(
    directory: Path = typer.Option(Path("clv-demo"), "--dir", help="Where to write the demo store and results."),
    customers: int = typer.Option(20_000, "--customers", help="Number of simulated customers."),
    seed: int = typer.Option(42, "--seed", help="Random seed of the synthetic store."),
) -> None:
    """Simulate a store (with refunds, duplicates, anonymous and broken lines), then load, summarise, compute KPIs, fit models, score every customer and write the HTML report."""
    from clv.data import load_orders
    from clv.data.synthetic import generate_store

    out = Console()
    directory.mkdir(parents=True, exist_ok=True)
    with progress(f"simulating {customers:,} customers"):
        store = generate_store(directory / "store", n_customers=customers, seed=seed, defects=True, end="2025-12-31")
    observation_end = "2025-12-31"
    result = load_orders(str(store.orders_path), DEMO_COLUMNS, observation_end=observation_end)
    with progress("checking every line"):
        report = result.report
        write_table(result.rejects, result.con, directory / "rejects.csv")
    out.print(rich_table(report_rows(report), "1. load report: every line accounted for"))

    from clv.summary import summarize

    with progress("summarising customers"):
        summary = summarize(result, observation_end=observation_end, time_unit="week")
        write_frame(summary, directory / "summary.csv")
    say(f"\n2. per-customer summary: {len(summary):,} customers (weeks) -> {directory / 'summary.csv'}")

    kpis = _classic_kpis(result, store, directory)
    out.print(rich_table(kpis.overall.iloc[0].to_dict(), "3. classic formula CLV (per year)"))
    out.print(rich_table(kpis.by_segment, "   by acquisition channel"))

    scores, models = _fit_and_score(summary, directory)
    for name, model in models.items():
        out.print(rich_table(model.summary().reset_index(), f"4. {name}: log-likelihood {model.log_likelihood_:,.1f}"))
    top = scores.sort_values("clv", ascending=False).head(10)
    if "largely_refunded" in top and not top["largely_refunded"].any():
        top = top.drop(columns="largely_refunded")  # a column of False only would take a page of its own
    out.print(rich_table(top, "5. top 10 customers by 1-year CLV (with 80% intervals)"))
    at_risk = scores[(scores["p_alive"] < 0.5)].sort_values("clv", ascending=False)
    say(
        f"\n{len(scores):,} customers scored -> {directory / 'scores.csv'}; total 1-year customer equity "
        f"{scores['clv'].sum():,.0f}; {len(at_risk):,} customers with P(alive) < 50%."
    )
    report = _write_report(result, store, directory, observation_end, seed)
    say(f"\n6. the marketer's report (open it in a browser, no network needed): {report}")
    note(f"demo written to {directory}/")


def _write_report(result, store, directory: Path, observation_end: str, seed: int) -> Path:
    """The HTML report of the store, with its acquisition spend and a synthetic NPS survey (also saved as CSV)."""
    from clv.cli.report_commands import step_progress
    from clv.data.survey import store_survey
    from clv.report import build_report

    spend = store.acquisition_spend_frame()
    survey = store_survey(store, seed=seed)
    write_frame(spend, directory / "spend.csv")
    write_frame(survey, directory / "survey.csv")
    with step_progress() as on_step:
        return build_report(
            result, spend=spend, survey=survey, time_unit="week", horizon=52, observation_end=observation_end,
            title="Customer lifetime value report (demo store)", path=directory / "report.html", on_step=on_step,
        )


def _classic_kpis(result, store, directory: Path):
    from clv.formula import classic_clv, drivers_over_time

    with progress("computing the classic formula"):
        spend = store.acquisition_spend_frame()
        kpis = classic_clv(result.orders, time_unit="year", cac=spend, segment_by="channel")
        (directory / "kpis.json").write_text(json.dumps(kpis.to_dict(), indent=2, default=str))
        write_frame(drivers_over_time(result.orders, time_unit="month"), directory / "drivers_monthly.csv")
    return kpis


def _fit_and_score(summary: pd.DataFrame, directory: Path):
    from clv.models import model_label
    from clv.models.gammagamma import GammaGammaModel
    from clv.models.ladder import fit_purchase_model
    from clv.scores import score_customers

    with progress("fitting BG/NBD and Gamma-Gamma"):
        bgnbd = fit_purchase_model(tuple(summary[c] for c in ("frequency", "recency", "T")), "bgnbd")
    from clv.cli.model_commands import model_note

    model_note(bgnbd)
    with progress("fitting Gamma-Gamma"):
        spend = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
        bgnbd.to_json(directory / "bgnbd.json")
        spend.to_json(directory / "gammagamma.json")
    margin = float(summary["margin"].sum() / summary["revenue"].sum()) if "margin" in summary else 1.0
    with progress("scoring every customer"):
        scores = score_customers(
            summary, bgnbd, spend, horizon=52, time_unit="week", discount_rate=0.10,
            margin=margin, intervals=(0.8,), n_draws=200, seed=0,
        )
        write_frame(scores, directory / "scores.csv")
    return scores, {model_label(bgnbd.model_name): bgnbd, "Gamma-Gamma": spend}
