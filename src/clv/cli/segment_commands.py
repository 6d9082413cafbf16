"""``clv segments``: fit BG/NBD + Gamma-Gamma on order lines, segment customers, print the playbook."""

from __future__ import annotations

from pathlib import Path

import typer

from clv.cli.common import FORMAT_OPTION, OutputFormat, emit, fail, note, progress, rich_table, say
from clv.cli.outputs import ROWS_SUFFIXES, suffix_of, write_frame
from clv.cli.data_commands import OrdersInput, parse_pairs, takes_orders
from clv.errors import DataError
from clv.units import TIME_UNITS as UNITS



def register(app: typer.Typer) -> None:
    """Add ``segments`` to the ``clv`` app."""
    app.command("segments")(segments_command)


def _fit_and_score(result, *, observation_end, unit: str, horizon: float, discount_rate: float, margin: float):
    from clv.cli.model_commands import model_note
    from clv.models.gammagamma import GammaGammaModel
    from clv.models.ladder import fit_purchase_model
    from clv.scores import score_customers
    from clv.summary import summarize, summary_is_log

    summary = summarize(result, observation_end=observation_end, time_unit=unit)
    transactions = fit_purchase_model(summary, "bgnbd")
    model_note(transactions)
    spend = None if summary_is_log(summary) else GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    scores = score_customers(summary, transactions, spend, horizon=horizon, time_unit=unit,
                             discount_rate=discount_rate, margin=margin, intervals=None)
    return summary, scores


def _assumed_rates(pairs: list[str] | None) -> dict[str, float]:
    from clv.segments import ACTIONS

    rates = {}
    for action, value in parse_pairs(pairs, "--assume", ACTIONS).items():
        try:
            rates[action] = float(value)
        except ValueError:
            raise DataError(f"--assume {action}={value!r}: the rate must be a number between 0 and 1, e.g. 0.1.") from None
    return rates


@takes_orders
def segments_command(
    orders: OrdersInput,
    time_unit: str = typer.Option("week", "--time-unit", "-u", help="Time unit of the models: day, week, month, quarter or year."),
    horizon: float = typer.Option(52, "--horizon", help="CLV horizon in --time-unit (52 weeks = one year)."),
    discount_rate: float = typer.Option(0.10, "--discount-rate", help="Annual discount rate of future purchases."),
    margin: float = typer.Option(1.0, "--margin", help="Profit margin as a fraction of revenue (1 = CLV in revenue)."),
    window_days: int = typer.Option(90, "--window-days", help="Early warning: the recent window compared with the customer's earlier rate."),
    value_cuts: str = typer.Option("0.01,0.05,0.2", "--value-cuts", help="Value tiers: cumulative shares of customers by CLV."),
    assume: list[str] = typer.Option(None, "--assume", help="Playbook assumption ACTION=RATE (repeatable), e.g. win_back=0.15."),
    export: str = typer.Option(None, "--export", help="Write this segment's customers to --output: an action (win_back...), RFM segment, value tier, risk tier or early_warning."),
    output: Path = typer.Option(None, "--output", "-o", help="With --export: the segment file (.csv or .parquet); otherwise the playbook (.csv, .json, .parquet)."),
    customers: Path = typer.Option(None, "--customers", help="Also write every customer's scores and labels here (.csv or .parquet)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Segment customers (RFM, value and churn-risk tiers, early warning) and print the action playbook."""
    from clv.segments import EarlyWarningSettings, PlaybookSettings, assign_segments, playbook

    if time_unit not in UNITS:
        fail(f"--time-unit must be one of {', '.join(UNITS)}, not {time_unit!r}.")
    if export is not None and (output is None or suffix_of(output) not in ROWS_SUFFIXES):
        fail("--export needs --output FILE (.csv or .parquet) to write the segment's customers to.")
    settings = PlaybookSettings(rates=_assumed_rates(assume))
    cuts = _parse_cuts(value_cuts)
    with progress("fitting BG/NBD + Gamma-Gamma and segmenting customers"):
        result = orders.open()
        summary, scores = _fit_and_score(result, observation_end=orders.observation_end, unit=time_unit, horizon=horizon,
                                         discount_rate=discount_rate, margin=margin)
        frame = assign_segments(summary, scores, result, value_cuts=cuts, playbook=settings,
                                warning=EarlyWarningSettings(window_days=window_days))
        plays = playbook(frame, settings)
    if export is not None:
        members = segment_members(frame, export)
        write_frame(members, output)
        note(f"wrote {len(members):,} customers of segment {export!r} to {output}")
    if customers is not None:
        export_all(frame, customers)
    measure = "expected purchases (no amounts in this history)" if _is_purchases(plays) else "CLV"
    note(f"{len(frame):,} customers; {measure} over {horizon:g} {time_unit}s; "
         f"{int(frame['early_warning'].sum()):,} early warnings")
    destination = None if export is not None else output
    if fmt is OutputFormat.table and destination is None:
        print_playbook(plays)
        print_cut_points(frame)
    else:
        emit(plays, fmt, destination, title="action playbook")


def print_playbook(plays) -> None:
    """The playbook as a compact table, then each action's assumption and why in full sentences."""
    from rich.console import Console

    if _is_purchases(plays):
        columns = ["action", "customers", "share_of_customers", "purchases_to_date", "purchases_at_stake",
                   "assumed_rate", "expected_purchases_saved"]
        title = "action playbook (purchases at stake = sum of expected purchases; no amounts in this history)"
    else:
        columns = ["action", "customers", "share_of_customers", "revenue_to_date", "value_at_stake", "assumed_rate",
                   "expected_value_saved"]
        title = "action playbook (value at stake = sum of predicted CLV)"
    out = Console()
    out.print(rich_table(plays[columns], title))
    for row in plays.itertuples(index=False):
        say(f"{row.why} Assumption: {row.assumption}.", label=f"{row.action}: ")


def _is_purchases(plays) -> bool:
    """Whether the playbook measures expected purchases (a purchase log) rather than value."""
    return plays.measure == "purchases"


def _parse_cuts(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise DataError(f"--value-cuts must be shares separated by commas, e.g. 0.01,0.05,0.2; got {text!r}.") from None


def print_cut_points(frame) -> None:
    """The value-tier cut points and the RFM score thresholds the labels were built from (``frame``: the segments)."""
    from rich.console import Console

    out = Console()
    measure = "CLV" if "clv" in frame.columns else "expected purchases"
    out.print(rich_table(frame.value_cuts,
                         f"value tiers by predicted {measure} (cut = {measure} of the tier's last customer)"))
    thresholds = frame.rfm_thresholds[["measure", "score", "range", "customers"]]
    out.print(rich_table(thresholds, "RFM score thresholds", max_rows=len(thresholds)))


def segment_members(frame, name: str):
    """The customers of one segment as :func:`clv.segments.export_segment` writes them: its columns, highest CLV first."""
    from clv.segments import select_segment
    from clv.segments.assign import EXPORT_COLUMNS

    members = select_segment(frame, name)
    columns = [c for c in EXPORT_COLUMNS if c in members.columns]
    order = "clv" if "clv" in members.columns else "expected_purchases"
    return members[columns].sort_values(order, ascending=False, kind="stable").reset_index(drop=True)


def export_all(frame, path: Path) -> None:
    """Every customer's row (scores and labels) as CSV or Parquet (``frame``: the segments)."""
    write_frame(frame.table, path)
    note(f"wrote {len(frame):,} customers to {path}")
