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


def model_names_option(text: str) -> tuple[str, ...] | None:
    """--models: 'all' -> None (every registered purchase model in continuous time), else :func:`split_names`."""
    return None if text.strip().lower() == "all" else split_names(text, "--models")


def parse_coverages(text: str) -> tuple[float, ...]:
    """'0.8,0.95' -> (0.8, 0.95); 'none' -> ()."""
    try:
        return tuple(float(part) for part in split_names(text, "--intervals"))
    except ValueError:
        raise DataError(f"--intervals must be coverages separated by commas, e.g. 0.8,0.95 (or none); got {text!r}.") from None


def metrics_table(metrics: pd.DataFrame, intervals: tuple[float, ...], failed: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per metric, one column per predictor (the terminal view); a failed predictor's column says so.

    The first row, ``status``, is "compared" or "no intervals" for each compared
    predictor and "failed (<stage>)" for one that could not be compared (its
    metrics are empty; the reason is printed below the table).
    """
    import pandas as pd

    rows = dict(TABLE_ROWS)
    for coverage in intervals:
        rows[f"purchases_coverage_{coverage:g}"] = f"purchases inside {coverage:.0%} interval"
        rows[f"value_coverage_{coverage:g}"] = f"value inside {coverage:.0%} interval"
    present = [key for key in rows if key in metrics.columns]
    table = metrics.set_index("predictor")[present].T.astype(object)
    table.index = [rows[key] for key in present]
    table.columns = [str(c) for c in table.columns]
    status = {name: "compared" for name in table.columns}
    for _, failure in (failed if failed is not None else pd.DataFrame(columns=["predictor", "stage"])).iterrows():
        name = str(failure["predictor"])
        if name in status:
            status[name] = "compared, no intervals" if failure["stage"] == "intervals" else status[name]
        else:
            table[name] = None
            status[name] = f"failed ({failure['stage']})"
    table = pd.concat([pd.DataFrame([status], index=["status"]), table])
    return table.reset_index(names="metric")


def failed_lines(failed: pd.DataFrame | None) -> list[str]:
    """One line per predictor that failed: ``name (stage): reason``."""
    if failed is None:
        return []
    return [f"{row['predictor']} ({row['stage']}): {row['reason']}" for _, row in failed.iterrows()]


def metrics_with_failures(result) -> pd.DataFrame:
    """The metrics (one row per predictor) with a ``status`` and ``reason`` column and a row per failed predictor."""
    import pandas as pd

    metrics = result.metrics.assign(status="compared", reason="")
    failed = result.failed if result.failed is not None else pd.DataFrame(columns=["predictor", "kind", "stage", "reason"])
    for _, row in failed.iterrows():
        if row["predictor"] in set(metrics["predictor"]):
            metrics.loc[metrics["predictor"] == row["predictor"], ["status", "reason"]] = \
                [f"failed ({row['stage']})", row["reason"]]
        else:
            metrics = pd.concat([metrics, pd.DataFrame([{"predictor": row["predictor"], "kind": row["kind"],
                                                         "status": f"failed ({row['stage']})",
                                                         "reason": row["reason"]}])], ignore_index=True)
    return metrics


@takes_orders
def backtest_command(
    orders: OrdersInput,
    calibration_end: list[str] = typer.Option(None, "--calibration-end", help="Last day of the calibration period (the holdout runs to --observation-end). Repeat it for a rolling-origin backtest: every end predicts the same length of future as the latest."),
    calibration_fraction: float = typer.Option(None, "--calibration-fraction", help="Instead of --calibration-end: this fraction of the span from the first order to the observation end (e.g. 0.5)."),
    origins: int = typer.Option(None, "--origins", help="Rolling origin: this many calibration ends, the latest from --calibration-end or --calibration-fraction, the others --origin-step days apart before it."),
    origin_step: int = typer.Option(None, "--origin-step", help="With --origins: days between two calibration ends (default: the holdout's days / --origins)."),
    time_unit: str = typer.Option("week", "--time-unit", "-u", help="Time unit of the summary and models: day, week, month, quarter or year."),
    merge: str = typer.Option("day", "--merge", help="Merge purchases per calendar 'day' (literature) or per 'unit' period."),
    models: str = typer.Option("all", "--models", help="Transaction models to fit, comma-separated (e.g. bgnbd,pareto,mbgnbd), all (every registered purchase model in continuous time) or none."),
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
    """Backtest: fit BTYD models and baselines on a calibration period, score their holdout predictions, name the champion."""
    from clv.backtest import backtest
    from clv.backtest.champion import vote_table

    ends = list(calibration_end or [])
    for end in ends:
        check_date(end, "--calibration-end")
    coverages = parse_coverages(intervals)
    spend = None if spend_model.strip().lower() == "none" else spend_model.strip()
    options = dict(time_unit=time_unit, merge=merge, models=model_names_option(models), spend_model=spend,
                   baselines=split_names(baselines, "--baselines"), margin=margin, intervals=coverages,
                   n_draws=draws, seed=seed)
    if len(ends) > 1 or origins is not None:
        _rolling(orders, ends, calibration_fraction, origins, origin_step, options, fmt, output)
        return
    if origin_step is not None:
        raise DataError("--origin-step needs --origins (the number of calibration ends), e.g. --origins 3.")
    with progress("backtesting"):
        loaded = orders.open()
        result = backtest(loaded, calibration_end=ends[0] if ends else None, calibration_fraction=calibration_fraction,
                          observation_end=orders.observation_end, **options)
    if charts is not None:
        for path in result.write_charts(charts, png=png):
            note(f"wrote {path}")
    settings = result.settings
    if fmt is OutputFormat.json or (output is not None and output.suffix.lower() == ".json"):
        emit(result.to_dict(), OutputFormat.json, output)
        return
    if fmt is OutputFormat.csv or output is not None:
        emit(metrics_with_failures(result), fmt, output)
        return
    title = (f"backtest: calibration {settings['first_order']} .. {settings['calibration_end']}, "
             f"holdout to {settings['observation_end']} ({settings['holdout_length']:.4g} {settings['time_unit']}s), "
             f"{settings['customers']:,} customers")
    console = Console()
    console.print(rich_table(metrics_table(result.metrics, coverages, result.failed), title))
    for line in failed_lines(result.failed):
        say(to_cli(line, "backtest"), label="failed: ", style="bold red")
    console.print(rich_table(vote_table(result.champion, measures=False),
                             f"how the champion was chosen (a baseline needs {result.champion.needed} checks)"))
    say(result.best_reason, label="best: ")
    for warning in result.warnings:
        say(to_cli(warning, "backtest"), label="warning: ", style="yellow")


ROLLING_COLUMNS = {
    "calibration_end": "calibration end", "holdout_end": "holdout end", "customers": "customers",
    "champion": "champion", "tied": "tied with", "checks_won": "checks won", "checks": "of",
    "purchases_total_error_pct": "purchases: total error %", "value_total_error_pct": "value: total error %",
    "value_spearman": "value Spearman", "failed": "failed", "error": "not evaluated because",
}


def rolling_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The rolling-origin summary for a terminal: readable headers, empty columns left out."""
    shown = summary[[c for c in ROLLING_COLUMNS if c in summary.columns]]
    shown = shown[[c for c in shown.columns if not (shown[c].astype(str).isin(["", "nan"])).all()]]
    return shown.rename(columns=ROLLING_COLUMNS)


def _rolling(orders: OrdersInput, ends: list[str], fraction, origins, step, options: dict, fmt: OutputFormat,
             output: Path | None) -> None:
    """The rolling-origin backtest: one row per calibration end, and whether the champion holds."""
    from clv.backtest import rolling_backtest

    if origins is not None and len(ends) > 1:
        raise DataError("give either several --calibration-end dates or --origins with one --calibration-end "
                        "(or --calibration-fraction), not both.")
    if len(ends) > 1 and fraction is not None:
        raise DataError("--calibration-fraction sets one calibration end; with several --calibration-end dates "
                        "leave it out.")
    with progress("backtesting each origin"):
        loaded = orders.open()
        if origins is not None:
            result = rolling_backtest(loaded, origins=origins, step_days=step, calibration_end=ends[0] if ends else None,
                                      calibration_fraction=fraction, observation_end=orders.observation_end, **options)
        else:
            result = rolling_backtest(loaded, ends, observation_end=orders.observation_end, **options)
    if fmt is OutputFormat.json or (output is not None and output.suffix.lower() == ".json"):
        emit(result.to_dict(), OutputFormat.json, output)
        return
    if fmt is OutputFormat.csv or output is not None:
        emit(result.summary, fmt, output)
        return
    settings = result.settings
    title = (f"rolling-origin backtest: {len(result.summary)} calibration ends, each predicting "
             f"{settings['holdout_days']} days")
    Console().print(rich_table(rolling_table(result.summary), title))
    for end, one in result.results.items():
        say(f"{end}: {one.best_reason}", label="best: ")
        for line in failed_lines(one.failed):
            say(to_cli(line, "backtest"), label=f"failed at {end}: ", style="bold red")
    say(result.verdict, label="choice: ")
