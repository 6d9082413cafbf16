"""``clv acquisition``, ``clv cohorts`` and ``clv whatif``: payback per channel, cohorts and CLV over time, driver what-ifs."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from clv.cli.common import (
    FORMAT_OPTION, OUTPUT_OPTION, OutputFormat, emit, fail, frame_records, note, progress, read_table_file,
)
from clv.cli.data_commands import OrdersInput, takes_orders
from clv.cli.wording import to_cli
from clv.errors import DataError
from clv.units import whole_months

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

MODEL_OPTION = typer.Option(None, "--model", "-m", help="BG/NBD model JSON from `clv fit --save` (default: fit BG/NBD on the orders).")
SPEND_MODEL_OPTION = typer.Option(None, "--spend-model", help="Gamma-Gamma model JSON (default: fit Gamma-Gamma on the orders).")
NO_MODEL_OPTION = typer.Option(False, "--no-model", help="Observed figures only: no projection (acquisition CLV from the classic formula).")
TIME_UNIT_OPTION = typer.Option(None, "--time-unit", help="Model time unit (and --horizon's): day, week, month, quarter, year (default: the saved model's, else week).")
MARGIN_OPTION = typer.Option(None, "--margin", help="Gross margin rate (0-1]; default (revenue - cost) / revenue from the cost column.")
HORIZON_OPTION = typer.Option(None, "--horizon", help="How far to report and project, in --time-unit, rounded to whole months since acquisition (default: 3 years = 36 months).")


class AcquisitionView(str, enum.Enum):
    channel = "channel"
    cohort = "cohort"
    curves = "curves"


class CohortView(str, enum.Enum):
    retention = "retention"
    curves = "curves"
    repeat = "repeat"


class WhatIfView(str, enum.Enum):
    totals = "totals"
    classic = "classic"
    customers = "customers"


def register(app: typer.Typer) -> None:
    app.command("acquisition")(acquisition_command)
    app.command("cohorts")(cohorts_command)
    app.command("whatif")(whatif_command)


def parse_change(text: str | None, option: str) -> float:
    """'+5%' -> 0.05, '-10%' -> -0.1, '0.05' -> 0.05; a bare number >= 1 in size is refused as ambiguous."""
    if text is None:
        return 0.0
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        raise DataError(f"{option} {text!r} is not a change; write e.g. {option} +5% or {option} -10%.") from None
    if percent:
        return value / 100.0
    if abs(value) >= 1:
        raise DataError(f"{option} {text!r} is ambiguous: write {option} {value:+g}% for {value:g} percent, or a fraction like 0.05.")
    return value


def _models(model_path: Path | None, spend_path: Path | None, no_model: bool, time_unit: str | None):
    """(transaction model, spend model, time unit) for the library calls."""
    if no_model:
        return None, None, time_unit or "week"
    from clv.cli.model_commands import load_model

    transaction = "fit" if model_path is None else load_model(model_path)
    spend = "fit" if spend_path is None else load_model(spend_path)
    saved_unit = getattr(transaction, "time_unit_", None)
    if time_unit and saved_unit and time_unit != saved_unit:
        raise DataError(f"--time-unit {time_unit} differs from the unit the model was fitted in ({saved_unit}). Fix: drop --time-unit.")
    return transaction, spend, time_unit or saved_unit or "week"


def _read_spend(path: Path) -> pd.DataFrame:
    return read_table_file(path, "--spend file")


def _wants_json(fmt: OutputFormat, output: Path | None) -> bool:
    return fmt is OutputFormat.json or (output is not None and output.suffix.lower() == ".json")


@takes_orders
def acquisition_command(
    orders: OrdersInput,
    spend: Path = typer.Option(..., "--spend", help="Acquisition spend: CSV or Parquet with columns channel, month (e.g. 2024-03), spend."),
    model: Path = MODEL_OPTION,
    spend_model: Path = SPEND_MODEL_OPTION,
    no_model: bool = NO_MODEL_OPTION,
    time_unit: str = TIME_UNIT_OPTION,
    margin: float = MARGIN_OPTION,
    horizon: float = HORIZON_OPTION,
    view: AcquisitionView = typer.Option(AcquisitionView.channel, "--view", help="What to print/write: channel, cohort (channel x acquisition month) or curves."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """CAC, CLV, CLV:CAC and payback month per acquisition channel (and per channel x acquisition month)."""
    from clv.acquisition import acquisition_payback

    spend_frame = _read_spend(spend)
    transaction, spend_fit, unit = _models(model, spend_model, no_model, time_unit)
    with progress("computing acquisition payback"):
        result = orders.open()
        report = acquisition_payback(
            result.orders, spend_frame, transaction_model=transaction, spend_model=spend_fit, time_unit=unit,
            margin=margin, observation_end=orders.observation_end, horizon=horizon,
        )
    if _wants_json(fmt, output):
        payload = {"settings": report.settings, "by_channel": frame_records(report.by_channel),
                   "by_cohort": frame_records(report.by_cohort)}
        if report.next_customer is not None:
            payload["next_customer"] = frame_records(report.next_customer)
        if view is AcquisitionView.curves:
            payload["curves"] = frame_records(report.curves)
            payload["cohort_curves"] = frame_records(report.cohort_curves)
        emit(payload, OutputFormat.json, output)
        return
    frame = {"channel": report.by_channel, "cohort": report.by_cohort, "curves": report.curves}[view.value]
    if view is AcquisitionView.channel and report.next_customer is not None:
        frame = frame.merge(report.next_customer.drop(columns="next_customer_basis"), on="channel", how="left")
    if fmt is OutputFormat.table and output is None and "clv_source" in frame.columns:
        note(f"CLV: {frame['clv_source'].iloc[0] if len(frame) else '-'}")
        frame = frame.drop(columns="clv_source")
    emit(frame, fmt, output, title=f"acquisition by {view.value} (margin {report.settings['margin_rate']:.1%}, "
                                  f"months 0..{report.settings['horizon_months']} since acquisition)")
    if fmt is OutputFormat.table and output is None:
        note("payback month: first month since acquisition (0 = acquisition month) whose cumulative margin "
             "per customer covers CAC; see docs/acquisition-cohorts-whatif.md")
        if view is AcquisitionView.channel and report.next_customer is not None:
            note(f"next_customer_*: the expected margin over months 0..{report.settings['horizon_months']} of the "
                 "NEXT customer each channel acquires (models refitted per channel), with a 90% interval of that "
                 "expected value; next_customer_clv_to_cac divides it by the channel's CAC")


@takes_orders
def cohorts_command(
    orders: OrdersInput,
    model: Path = MODEL_OPTION,
    spend_model: Path = SPEND_MODEL_OPTION,
    no_model: bool = NO_MODEL_OPTION,
    time_unit: str = TIME_UNIT_OPTION,
    margin: float = MARGIN_OPTION,
    horizon: float = HORIZON_OPTION,
    view: CohortView = typer.Option(CohortView.retention, "--view", help="retention (matrix), curves (CLV over time per cohort and overall) or repeat (repeat vs first-order revenue)."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Cohorts by acquisition month: retention matrix, cumulative revenue/margin per customer (observed and projected), repeat share."""
    import pandas as pd
    from clv.cohorts import clv_over_time, repeat_share, retention_matrix, retention_wide

    transaction, spend_fit, unit = _models(model, spend_model, no_model, time_unit)
    with progress(f"computing cohort {view.value}"):
        result = orders.open()
        if view is CohortView.retention:
            long = retention_matrix(result.orders, observation_end=orders.observation_end,
                                    max_months=whole_months(horizon, unit))
            payload: Any = long if _wants_json(fmt, output) or fmt is OutputFormat.csv else retention_wide(long)
            title = "retention: share of the cohort buying in month k since acquisition"
        elif view is CohortView.repeat:
            shares = repeat_share(result.orders, observation_end=orders.observation_end)
            payload = pd.concat([shares.overall.assign(month="all"), shares.by_month], ignore_index=True)
            payload = payload[["month", *shares.overall.columns]]
            title = "revenue from first vs repeat orders"
        else:
            curves = clv_over_time(
                result.orders, transaction_model=transaction, spend_model=spend_fit, time_unit=unit, margin=margin,
                observation_end=orders.observation_end, horizon=horizon,
            )
            payload = pd.concat([curves.overall.assign(cohort="all"), curves.by_cohort], ignore_index=True)
            payload = payload[["cohort", *curves.overall.columns]]
            title = "cumulative revenue and margin per customer by months since acquisition"
    emit(payload, fmt, output, title=title)


@takes_orders
def whatif_command(
    orders: OrdersInput,
    aov: str = typer.Option(None, "--aov", help="Change of average order value, e.g. +5%."),
    frequency: str = typer.Option(None, "--frequency", help="Change of purchase frequency (purchase rate), e.g. +10%."),
    margin_change: str = typer.Option(None, "--margin-change", help="Change of the gross margin rate, e.g. +2% (relative: 40% -> 40.8%)."),
    churn: str = typer.Option(None, "--churn", help="Change of churn (mean dropout probability), e.g. -10%."),
    elasticity: float = typer.Option(0.0, "--elasticity", help="Price elasticity of frequency: frequency also changes by elasticity x AOV change (e.g. -0.5)."),
    segment_col: str = typer.Option(None, "--segment-col", help="Apply only to customers whose FIRST purchase line has --segment-value in this column (or acquisition_month)."),
    segment_value: str = typer.Option(None, "--segment-value", help="The segment's value, e.g. email."),
    margin: float = MARGIN_OPTION,
    model: Path = MODEL_OPTION,
    spend_model: Path = SPEND_MODEL_OPTION,
    time_unit: str = TIME_UNIT_OPTION,
    horizon: float = typer.Option(None, "--horizon", help="CLV horizon from the observation end in --time-unit, or inf for the whole remaining lifetime (default: 3 years)."),
    discount_rate: float = typer.Option(0.10, "--discount-rate", help="Annual discount rate (0.1 = 10% a year)."),
    view: WhatIfView = typer.Option(WhatIfView.totals, "--view", help="totals (customer equity before/after), classic (formula comparison) or customers (CLV per customer)."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """What if AOV, frequency, margin or churn change by a percentage (for everyone or one segment)? CLV and equity before/after."""
    from clv.whatif import Scenario, what_if

    scenario = Scenario(
        aov=parse_change(aov, "--aov"), frequency=parse_change(frequency, "--frequency"),
        margin_change=parse_change(margin_change, "--margin-change"), churn=parse_change(churn, "--churn"), price_elasticity=elasticity,
    )
    if (segment_col is None) != (segment_value is None):
        raise DataError("--segment-col and --segment-value go together, e.g. --segment-col channel --segment-value email.")
    transaction, spend_fit, unit = _models(model, spend_model, False, time_unit)
    with progress("fitting models and computing the what-if"):
        result = orders.open()
        outcome = what_if(
            result.orders, scenario, segment_col=segment_col, segment_value=segment_value,
            transaction_model=transaction, spend_model=spend_fit, time_unit=unit, margin=margin,
            horizon=horizon, discount_rate=discount_rate, observation_end=orders.observation_end,
        )
    if _wants_json(fmt, output):
        payload = {"settings": outcome.settings, "totals": frame_records(outcome.totals),
                   "classic": None if outcome.classic is None else frame_records(outcome.classic), "notes": outcome.notes}
        if view is WhatIfView.customers:
            payload["customers"] = frame_records(outcome.customers)
        emit(payload, OutputFormat.json, output)
        return
    frames = {"totals": outcome.totals, "classic": outcome.classic, "customers": outcome.customers}
    frame = frames[view.value]
    if frame is None:
        fail(outcome.notes[-1])
    emit(frame, fmt, output, title=f"what-if ({outcome.settings['segment']}): {view.value}")
    if fmt is OutputFormat.table and output is None:
        if view is WhatIfView.totals and outcome.classic is not None:
            emit(outcome.classic, fmt, None, title="classic formula, same changes")
        for text in outcome.notes:
            note(to_cli(text, "whatif"), label="note: ")

