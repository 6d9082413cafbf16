"""``clv report``: the whole analysis as one self-contained HTML file for a marketer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from clv.cli.common import console, fail, note, read_table_file
from clv.cli.data_commands import OrdersInput, check_date, takes_orders
from clv.cli.provenance import provenance_sentence, read_provenance


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


@takes_orders
def report_command(
    orders: OrdersInput,
    spend: Path = typer.Option(None, "--spend", help="Acquisition spend per channel and month (CSV/Parquet: channel, month, spend); without it the channel section says so."),
    survey: Path = typer.Option(None, "--survey", help="NPS survey answers (CSV/Parquet: customer_id, date, score 0-10); without it the NPS section says so."),
    time_unit: str = typer.Option("week", "--time-unit", "-u", help="Time unit of the models: day, week, month, quarter or year."),
    horizon: float = typer.Option(52, "--horizon", help="CLV horizon in --time-unit (52 weeks = one year)."),
    calibration_end: str = typer.Option(None, "--calibration-end", help="Backtest: fit on orders up to this date, check the rest (default: the first two thirds of the history)."),
    margin: float = typer.Option(None, "--margin", help="Gross margin rate (0-1]; default from the cost column."),
    title: str = typer.Option("Customer lifetime value report", "--title", help="Title at the top of the report."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="Where to write the HTML report."),
    label: str = typer.Option(None, "--label", help="A column of yours naming products (e.g. Description): the cross-sell section shows product names instead of ids."),
    strict: bool = typer.Option(False, "--strict", help="Exit with an error when a section cannot be computed (default: that section says why and the rest is written)."),
) -> None:
    """Write one self-contained HTML report: data check, KPIs, cohorts, models and backtest, segments, channels, what-if, cross-sell, NPS."""
    from clv.report import build_report

    check_date(calibration_end, "--calibration-end")
    spend_frame = None if spend is None else read_table_file(spend, "--spend file")
    if survey is not None and not survey.is_file():
        fail(f"--survey file {str(survey)!r} does not exist. Fix: check the path.")
    origin = read_provenance(orders.source)
    source_note = None if origin is None else provenance_sentence(origin)
    result = orders.open(list(dict.fromkeys([*(orders.extra or []), *([label] if label else [])])))
    with step_progress() as on_step:
        path = build_report(
            result, spend=spend_frame, survey=None if survey is None else str(survey), time_unit=time_unit, horizon=horizon,
            calibration_end=calibration_end, margin=margin, observation_end=orders.observation_end, title=title,
            path=output, on_step=on_step, strict=strict, source_note=source_note, label=label,
        )
    if source_note is not None:
        note(source_note, label="note: ")
    note(f"report written to {path}")


@contextlib.contextmanager
def step_progress() -> Iterator:
    """A Rich progress bar over the report's steps; yields the ``on_step(name)`` callback."""
    from clv.report.build import STEP_NAMES

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("report", total=len(STEP_NAMES))
        started = [False]

        def on_step(name: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=name)

        yield on_step
        bar.update(task, completed=len(STEP_NAMES))
