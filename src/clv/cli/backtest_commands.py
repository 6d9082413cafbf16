"""``clv backtest``: fit on a calibration period, predict the holdout, compare models and baselines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from clv.cli.common import FORMAT_OPTION, OUTPUT_OPTION, OutputFormat, emit, note, progress, rich_table, say
from clv.cli.data_commands import OrdersInput, check_date, takes_orders
from clv.cli.wording import to_cli
from clv.errors import DataError

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

TABLE_ROWS = {
    "purchases_predicted_total": "holdout purchases: predicted total",
    "purchases_total_error_pct": "holdout purchases: total error %",
    "purchases_mae": "purchases MAE",
    "purchases_rmse": "purchases RMSE",
    "purchases_spearman": "purchases Spearman",
    "value_predicted_total": "holdout value: predicted total",
    "value_total_error_pct": "holdout value: total error %",
    "value_mae": "value MAE",
    "value_rmse": "value RMSE",
    "value_spearman": "value Spearman",
    "value_normalized_gini": "value normalized Gini",
    "value_top10_capture": "value captured by top 10%",
    "value_top20_capture": "value captured by top 20%",
    "value_decile_error": "value decile calibration error",
}


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest_command)


def split_names(text: str, option: str) -> tuple[str, ...]:
    """'bgnbd, pareto' -> ('bgnbd', 'pareto'); 'none' or '' -> ()."""
    if text.strip().lower() in ("", "none"):
        return ()
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise DataError(f"{option} must be names separated by commas, e.g. bgnbd,pareto; got {text!r}.")
    return names


def parse_coverages(text: str) -> tuple[float, ...]:
    """'0.8,0.95' -> (0.8, 0.95); 'none' -> ()."""
    try:
        return tuple(float(part) for part in split_names(text, "--intervals"))
    except ValueError:
        raise DataError(f"--intervals must be coverages separated by commas, e.g. 0.8,0.95 (or none); got {text!r}.") from None


def metrics_table(metrics: pd.DataFrame, intervals: tuple[float, ...]) -> pd.DataFrame:
    """One row per metric, one column per predictor (the terminal view)."""
    rows = dict(TABLE_ROWS)
    for coverage in intervals:
        rows[f"purchases_coverage_{coverage:g}"] = f"purchases inside {coverage:.0%} interval"
        rows[f"value_coverage_{coverage:g}"] = f"value inside {coverage:.0%} interval"
    present = [key for key in rows if key in metrics.columns]
    table = metrics.set_index("predictor")[present].T
    table.index = [rows[key] for key in present]
    table.columns = [str(c) for c in table.columns]
    return table.reset_index(names="metric")


@takes_orders
def backtest_command(
    orders: OrdersInput,
    calibration_end: str = typer.Option(None, "--calibration-end", help="Last day of the calibration period (the holdout runs to --observation-end)."),
    calibration_fraction: float = typer.Option(None, "--calibration-fraction", help="Instead of --calibration-end: this fraction of the span from the first order to the observation end (e.g. 0.5)."),
    time_unit: str = typer.Option("week", "--time-unit", "-u", help="Time unit of the summary and models: day, week, month, quarter or year."),
    merge: str = typer.Option("day", "--merge", help="Merge purchases per calendar 'day' (literature) or per 'unit' period."),
    models: str = typer.Option("bgnbd,pareto,mbgnbd", "--models", help="Transaction models to fit, comma-separated: bgnbd, pareto, mbgnbd (or none)."),
    spend_model: str = typer.Option("gammagamma", "--spend-model", help="gammagamma, or none to use each customer's average spend."),
    baselines: str = typer.Option("classic,naive,rfm", "--baselines", help="Baselines, comma-separated: classic, naive, rfm (or none)."),
    margin: float = typer.Option(1.0, "--margin", help="Fraction of purchase value counted as value (0.3 = 30%)."),
    intervals: str = typer.Option("0.8,0.95", "--intervals", help="Prediction-interval coverages to check, e.g. 0.8,0.95, or none."),
    draws: int = typer.Option(200, "--draws", help="Monte Carlo draws per distinct history for the intervals."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the interval draws."),
    charts: Path = typer.Option(None, "--charts", help="Write the tracking, conditional-expectation and frequency charts as HTML files into this folder."),
    png: bool = typer.Option(False, "--png", help="With --charts: also write PNG images (needs pip install 'clv[png]' and Chrome/Chromium)."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Backtest: fit BTYD models and baselines on a calibration period, score their holdout predictions, name the best."""
    from clv.backtest import backtest

    check_date(calibration_end, "--calibration-end")
    coverages = parse_coverages(intervals)
    spend = None if spend_model.strip().lower() == "none" else spend_model.strip()
    with progress("backtesting"):
        loaded = orders.open()
        result = backtest(
            loaded, calibration_end=calibration_end, calibration_fraction=calibration_fraction,
            observation_end=orders.observation_end, time_unit=time_unit, merge=merge,
            models=split_names(models, "--models"), spend_model=spend,
            baselines=split_names(baselines, "--baselines"), margin=margin, intervals=coverages,
            n_draws=draws, seed=seed,
        )
    if charts is not None:
        for path in result.write_charts(charts, png=png):
            note(f"wrote {path}")
    settings = result.settings
    if fmt is OutputFormat.json or (output is not None and output.suffix.lower() == ".json"):
        emit(result.to_dict(), OutputFormat.json, output)
        return
    if fmt is OutputFormat.csv or output is not None:
        emit(result.metrics, fmt, output)
        return
    title = (f"backtest: calibration {settings['first_order']} .. {settings['calibration_end']}, "
             f"holdout to {settings['observation_end']} ({settings['holdout_length']:.4g} {settings['time_unit']}s), "
             f"{settings['customers']:,} customers")
    Console().print(rich_table(metrics_table(result.metrics, coverages), title))
    say(result.best_reason, label="best: ")
    for warning in result.warnings:
        say(to_cli(warning, "backtest"), label="warning: ", style="yellow")
