"""Calendar periods, the observation window and orders of a table of order lines.

Shared by the formula KPIs, the cohorts, acquisition and what-if reports (all
public: :data:`__all__`). Everything here builds Ibis expressions; only
:func:`clv.engine.execute` brings a (small, already aggregated) result back as
pandas. Order lines come in through :func:`clv.data.orders_table.as_orders_table`
and period lengths from :mod:`clv.units`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import pandas as pd
from ibis.expr.types import Table

from clv.data import schema
from clv.data.schema import CUSTOMER_ID, ORDER_ID, ORDER_TS, SOURCE_ROW
from clv.engine import execute
from clv.errors import DataError
from clv.summary.amounts import no_amounts_error, valued_orders_table
from clv.units import PERIODS_PER_YEAR

__all__ = [
    "FORMULA",
    "ORDER_KEY",
    "PERIOD",
    "PERIOD_UNITS",
    "Window",
    "as_valued_orders",
    "check_rates",
    "check_unit",
    "first_purchase_lines",
    "is_purchase",
    "no_margin_message",
    "period_index",
    "period_is_complete",
    "period_label",
    "period_start",
    "refuse_without_amounts",
    "resolve_window",
    "window_period_range",
    "with_order_key",
]

PERIOD_UNITS = tuple(PERIODS_PER_YEAR)  # calendar periods: year, quarter, month
_PANDAS_FREQ = {"year": "Y", "quarter": "Q", "month": "M"}

ORDER_KEY = "_order_key"
PERIOD = "_period"


FORMULA = "the classic formula CLV (revenue, AOV, margin)"


def as_valued_orders(orders: object) -> Table:
    """The orders table of the formula, which values orders: a purchase log is refused.

    A log declared as such (a load result without amounts, a table without
    ``amount``) is refused by :func:`clv.summary.valued_orders_table`, a
    table whose amounts are all null by :func:`refuse_without_amounts` on the
    aggregates. Customer ids are strings (segment mappings join on them).

    Parameters
    ----------
    orders : ibis Table | LoadResult | pandas/Polars/Arrow frame
        Order lines (see :func:`clv.data.orders_table.as_orders_table`).

    Returns
    -------
    ibis.expr.types.Table
        The typed order lines.
    """
    return valued_orders_table(orders, FORMULA, string_ids=True)


def refuse_without_amounts(lines_with_amount: float, purchases: float) -> None:
    """Refuse a history with purchases none of whose lines carries an amount (a log read as a plain table)."""
    if purchases > 0 and lines_with_amount == 0:
        raise no_amounts_error(FORMULA)


def check_unit(name: str, unit: str) -> str:
    """Validate a period unit argument (``period=`` or ``freq=``)."""
    if unit not in PERIOD_UNITS:
        raise DataError(
            f"{name}={unit!r} is not a period unit. Fix: pass {name}='year', 'quarter' or 'month'."
        )
    return unit


@dataclass(frozen=True)
class Window:
    """The observation window: whole days from ``start`` to ``end``, both included."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def end_exclusive(self) -> pd.Timestamp:
        return self.end + pd.Timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def n_periods(self, unit: str) -> float:
        """Length of the window in calendar periods, a partial period counting pro rata.

        Each calendar period the window touches counts (days of it inside the
        window) / (days in the period): 2020-01-01..2021-12-31 is exactly 2 years,
        2021-01-01..2021-02-14 is 1 + 14/28 = 1.5 months.
        """
        total = 0.0
        for index in window_period_range(self, unit):
            first_day, next_first_day = period_start(index, unit), period_start(index + 1, unit)
            inside = min(next_first_day, self.end_exclusive) - max(first_day, self.start)
            total += inside / (next_first_day - first_day)
        return total

    def filter(self, table: Table) -> Table:
        ts = table[ORDER_TS]
        return table.filter(ts >= self.start, ts < self.end_exclusive)


def _as_day(value: object, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name}={value!r} is not a date. Fix: pass a date such as {name}='2011-06-30'."
        ) from exc
    if day.tzinfo is not None:
        day = day.tz_localize(None)
    return day.normalize()


def resolve_window(table: Table, start: object = None, end: object = None) -> Window:
    """The window [start, end] in whole days; missing bounds come from the data.

    ``start`` defaults to the day of the first order line, ``end`` to the day of
    the last one. ``end`` is inclusive: end='2011-12-31' keeps all of Dec 31.
    """
    if start is None or end is None:
        bounds = execute(table.aggregate(first=table[ORDER_TS].min(), last=table[ORDER_TS].max()))
        if bounds["first"].isna().all():
            raise DataError("orders: the table has no rows. Fix: pass a non-empty order table.")
        start = bounds["first"].iloc[0] if start is None else start
        end = bounds["last"].iloc[0] if end is None else end
    window = Window(_as_day(start, "start"), _as_day(end, "end"))
    if window.end < window.start:
        raise DataError(
            f"start={window.start.date()} is after end={window.end.date()}. "
            "Fix: pass start <= end."
        )
    return window


def with_order_key(table: Table) -> Table:
    """Add the order key: order_id when present, else the calendar day of the line.

    Orders are then distinct (customer_id, order key) among lines with a positive
    amount; refunds (negative lines) and zero lines are never orders.
    """
    day_key = ibis.literal("day:") + table[ORDER_TS].date().cast("string")
    if ORDER_ID in table.columns:
        id_key = ibis.literal("id:") + table[ORDER_ID].cast("string")
        key = ibis.coalesce(id_key, day_key)
    else:
        key = day_key
    return table.mutate(**{ORDER_KEY: key})


def is_purchase(table: Table) -> ibis.Expr:
    """Lines that make an order: :func:`clv.data.schema.is_purchase` (refunds never do)."""
    return schema.is_purchase(table)


def period_index(ts: ibis.Expr, unit: str) -> ibis.Expr:
    """Integer index of the calendar period of ``ts`` (consecutive periods differ by 1)."""
    if unit == "year":
        return ts.year()
    if unit == "quarter":
        return ts.year() * 4 + ts.quarter() - 1
    return ts.year() * 12 + ts.month() - 1


def period_start(index: int, unit: str) -> pd.Timestamp:
    """First day of the calendar period with integer ``index`` (inverse of :func:`period_index`)."""
    per_year = PERIODS_PER_YEAR[unit]
    year, within = divmod(int(index), per_year)
    month = 1 + within * (12 // per_year)
    return pd.Timestamp(year=year, month=month, day=1)


def period_label(index: int, unit: str) -> str:
    """Readable label of a period: '2011', '2011Q3' or '2011-07'."""
    return str(pd.Period(period_start(index, unit), freq=_PANDAS_FREQ[unit]))


def period_is_complete(index: int, unit: str, window: Window) -> bool:
    """True when the whole calendar period lies inside the window."""
    first_day = period_start(index, unit)
    next_first_day = period_start(index + 1, unit)
    return bool(first_day >= window.start and next_first_day <= window.end_exclusive)


def window_period_range(window: Window, unit: str) -> range:
    """Integer indices of every calendar period the window touches."""
    first = _index_of_day(window.start, unit)
    last = _index_of_day(window.end, unit)
    return range(first, last + 1)


def _index_of_day(day: pd.Timestamp, unit: str) -> int:
    per_year = PERIODS_PER_YEAR[unit]
    return day.year * per_year + (day.month - 1) // (12 // per_year)


def first_purchase_lines(table: Table, columns: tuple[str, ...] = ()) -> Table:
    """One row per customer: the first purchase line ever (not limited to a window).

    Returns customer_id, ``first_ts`` and the requested ``columns`` as found on
    that line. Ties at the same timestamp are broken by source_row when present,
    then by the columns' values, so the choice is deterministic.
    """
    purchases = table.filter(is_purchase(table))
    order_by = [purchases[ORDER_TS]]
    if SOURCE_ROW in purchases.columns:
        order_by.append(purchases[SOURCE_ROW])
    order_by.extend(purchases[c] for c in columns)
    rank = ibis.row_number().over(group_by=purchases[CUSTOMER_ID], order_by=order_by)
    ranked = purchases.mutate(_rank=rank)
    first = ranked.filter(ranked._rank == 0)
    return first.select(CUSTOMER_ID, first_ts=first[ORDER_TS], **{c: first[c] for c in columns})


def check_rates(margin: float | None, churn_rate: float | None, lifespan: float | None) -> None:
    """Validate the rate arguments: margin and churn in (0, 1], lifespan > 0 (None = estimate)."""
    for name, value in (("margin", margin), ("churn_rate", churn_rate), ("lifespan", lifespan)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DataError(f"{name}={value!r} must be a number. Fix: e.g. {name}=0.3.")
    if margin is not None and not (0 < margin <= 1):
        hint = f" (a percentage? pass margin={margin / 100:g})" if 1 < margin <= 100 else ""
        raise DataError(f"margin={margin!r} must be a rate in (0, 1]{hint}. Fix: e.g. margin=0.35.")
    if churn_rate is not None and not (0 < churn_rate <= 1):
        raise DataError(
            f"churn_rate={churn_rate!r} must be a rate in (0, 1] per period. Fix: e.g. churn_rate=0.4."
        )
    if lifespan is not None and not (0 < lifespan < math.inf):
        raise DataError(f"lifespan={lifespan!r} must be a positive number of periods. Fix: e.g. lifespan=3.")


def no_margin_message(columns: tuple[str, ...]) -> str:
    """The error for a margin that is neither given nor computable from a cost column."""
    return (
        "margin: not given, and the orders have no 'cost' column to compute it from; "
        f"columns found: {', '.join(columns)}. Fix: pass the gross margin rate, e.g. "
        "margin=0.3, or load the cost of goods as the 'cost' column."
    )
