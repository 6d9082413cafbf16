"""``clv crosssell``, ``clv recommend`` and ``clv nps``: products bought together, next-product suggestions, NPS."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from clv.cli.common import FORMAT_OPTION, OUTPUT_OPTION, OutputFormat, emit, fail, note, progress
from clv.cli.outputs import write_frame
from clv.cli.data_commands import DATE_FORMAT_OPTION, DELIMITER_OPTION, OrdersInput, parse_pairs, takes_orders

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

BASKET_OPTION = typer.Option("customer", "--basket", help="What counts as a basket: 'customer' (all a customer bought) or 'order'.")
MIN_SUPPORT_OPTION = typer.Option(0.01, "--min-support", help="Keep pairs bought together in at least this share of baskets.")
MIN_COUNT_OPTION = typer.Option(1, "--min-count", help="Keep pairs bought together in at least this many baskets.")
EXCLUDE_OPTION = typer.Option(None, "--exclude-product", help="A product id to leave out (e.g. POST for postage), repeatable.")
LABEL_OPTION = typer.Option(None, "--label", help="A column of yours naming products (e.g. Description): shown next to the ids.")
SURVEY_FIELDS = ("customer_id", "date", "score")
TABLE_COLUMNS = ("product_a", "label_a", "product_b", "label_b", "baskets_both", "support", "confidence", "lift")


def register(app: typer.Typer) -> None:
    """Add ``crosssell``, ``recommend`` and ``nps`` to the ``clv`` app."""
    app.command("crosssell")(crosssell_command)
    app.command("recommend")(recommend_command)
    app.command("nps")(nps_command)


def _with_label(extra: list[str] | None, label: str | None) -> list[str]:
    extras = list(extra or [])
    if label and label not in extras:
        extras.append(label)
    return extras


def _labelled(frame: pd.DataFrame, orders, label: str | None, id_columns: dict[str, str]) -> pd.DataFrame:
    """Add a product-name column after each product id column ({id column: name column})."""
    if not label or frame.empty:
        return frame
    from clv.crosssell import product_labels

    names = product_labels(orders, label).set_index("product_id")["label"]
    for id_column, name_column in id_columns.items():
        frame.insert(frame.columns.get_loc(id_column) + 1, name_column, frame[id_column].map(names))
    return frame


@takes_orders
def crosssell_command(
    orders: OrdersInput,
    basket: str = BASKET_OPTION,
    min_support: float = MIN_SUPPORT_OPTION,
    min_count: int = MIN_COUNT_OPTION,
    exclude: list[str] = EXCLUDE_OPTION,
    label: str = LABEL_OPTION,
    top: int = typer.Option(20, "--top", help="Print the first N rules by lift (--output writes all of them)."),
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Products bought by the same customers (or in the same orders): support, confidence P(B|A) and lift."""
    from clv.crosssell import product_pairs

    with progress("finding products bought together"):
        result = orders.open(_with_label(orders.extra, label)).cache()
        started = time.perf_counter()
        rules = product_pairs(result.orders, basket=basket, min_support=min_support, min_count=min_count,
                              exclude_products=exclude or ())
        seconds = time.perf_counter() - started
        rules = _labelled(rules, result.orders, label, {"product_a": "label_a", "product_b": "label_b"})
    note(f"{rules.baskets:,} {basket} baskets, {rules.products:,} products, {rules.frequent_products:,} in at "
         f"least {rules.min_basket_count:,} baskets; {len(rules):,} rules (A -> B) in {seconds:.2f} s")
    shown = rules if output is not None else rules.head(top)
    if fmt is OutputFormat.table and output is None:
        shown = shown[[c for c in TABLE_COLUMNS if c in shown.columns]]
    emit(shown, fmt, output, title=f"products bought together ({basket} baskets)")


@takes_orders
def recommend_command(
    orders: OrdersInput,
    customer: list[str] = typer.Option(None, "--customer", help="Suggest for this customer id (repeatable); default every customer."),
    k: int = typer.Option(5, "--k", help="Suggestions per customer."),
    weight: str = typer.Option("confidence", "--weight", help="Score = sum of the rules' 'confidence' (default) or 'lift'."),
    min_lift: float = typer.Option(1.0, "--min-lift", help="Use only rules with lift above this (1 = bought together more than by chance)."),
    basket: str = BASKET_OPTION,
    min_support: float = MIN_SUPPORT_OPTION,
    min_count: int = MIN_COUNT_OPTION,
    exclude: list[str] = EXCLUDE_OPTION,
    label: str = LABEL_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    output: Path = OUTPUT_OPTION,
) -> None:
    """Next-product suggestions: unbought products scored by the rules from each customer's products."""
    from clv.crosssell import product_pairs, recommend

    with progress("scoring next products"):
        result = orders.open(_with_label(orders.extra, label)).cache()
        rules = product_pairs(result.orders, basket=basket, min_support=min_support, min_count=min_count,
                              exclude_products=exclude or ())
        suggestions = recommend(result.orders, rules, k=k, weight=weight, min_lift=min_lift,
                                customers=customer or None, exclude_products=exclude or ())
        suggestions = _labelled(suggestions, result.orders, label, {"product_id": "label", "because": "because_label"})
    note(f"{len(suggestions):,} suggestions for {suggestions['customer_id'].nunique():,} customers from "
         f"{suggestions.rules_used:,} rules with lift > {min_lift:g}")
    emit(suggestions, fmt, output, title=f"top {k} next products")


def nps_command(
    survey: Path = typer.Argument(..., help="Survey answers: CSV or Parquet with customer id, date and a 0-10 score."),
    scores: Path = typer.Option(None, "--scores", help="Per-customer scores (clv score --output scores.csv): customer_id, clv, p_alive."),
    time_unit: str = typer.Option("month", "--time-unit", help="NPS over time per week, month, quarter or year."),
    cols: list[str] = typer.Option(None, "--col", "-c", help="Map a field to your column, FIELD=COLUMN: customer_id, date, score."),
    date_format: str = DATE_FORMAT_OPTION,
    delimiter: str = DELIMITER_OPTION,
    rejects: Path = typer.Option(None, "--rejects", help="Write the set-aside answers (row, reason, original values) here (.csv or .parquet)."),
    series_out: Path = typer.Option(None, "--series", help="Write the NPS over time here (.csv, .json or .parquet)."),
    groups_out: Path = typer.Option(None, "--groups", help="Write CLV and P(alive) per NPS group here (.csv, .json or .parquet)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Net Promoter Score (promoters 9-10 minus detractors 0-6), over time, and by customer value with --scores."""
    from clv.feedback import SurveyColumns, nps_by_value, nps_over_time, nps_summary, read_survey

    if not survey.exists():
        fail(f"survey file {str(survey)!r} does not exist. Fix: check the path.")
    if scores is not None and not scores.exists():
        fail(f"--scores file {str(scores)!r} does not exist. Fix: check the path, or make it with: "
             "clv score ... --output scores.csv")
    checked = read_survey(str(survey), SurveyColumns(**parse_pairs(cols, "--col", SURVEY_FIELDS)),
                          date_format=date_format, delimiter=delimiter)
    counts = checked.counts()
    overall = nps_summary(checked)
    series = nps_over_time(checked, time_unit)
    groups = nps_by_value(checked, str(scores)) if scores is not None else None
    if rejects is not None:
        _write(checked.rejects.order_by("source_row").execute(), rejects)
    _write_optional(series, series_out, fmt)
    _write_optional(groups, groups_out, fmt)
    _print_nps(counts, overall, series, groups, fmt, time_unit)


def _print_nps(counts, overall, series, groups, fmt: OutputFormat, freq: str) -> None:
    import pandas as pd
    rejected = sum(counts["rejected"].values())
    if rejected:
        reasons = ", ".join(f"{reason} {n}" for reason, n in counts["rejected"].items() if n)
        note(f"{rejected:,} of {counts['input_rows']:,} answers set aside ({reasons}); --rejects FILE lists them")
    if fmt is OutputFormat.json:
        payload = {"counts": counts, "overall": overall, "over_time": series}
        if groups is not None:
            payload["by_group"] = groups.table
            payload["scored_without_answer"] = groups.scored_without_answer
        emit({k: (v.astype({"period": str}) if k == "over_time" else v).to_dict(orient="records")
              if isinstance(v, pd.DataFrame) else v for k, v in payload.items()}, fmt, None)
        return
    if fmt is OutputFormat.csv:
        emit(series, fmt, None)
        return
    emit(overall, fmt, None, title="Net Promoter Score (all valid answers)")
    emit(series, fmt, None, title=f"NPS per {freq}")
    if groups is not None:
        emit(groups, fmt, None, title="value and churn risk by NPS group (latest answer per customer)")
        note(f"{groups.scored_without_answer:,} scored customers never answered")


def _write_optional(frame: pd.DataFrame | None, path: Path | None, fmt: OutputFormat) -> None:
    if frame is not None and path is not None:
        emit(frame, fmt, path)


def _write(frame: pd.DataFrame, path: Path) -> None:
    write_frame(frame, path)
    note(f"wrote {len(frame):,} rows to {path}")
