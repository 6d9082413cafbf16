"""Early warning: a customer's recent order rate or spend fell well below their own earlier level.

Definition (all inside the engine, on order lines, through Ibis). With the
observation end ``E`` (a day, inclusive) and a window of ``W`` days:

* the *recent window* is the ``W`` days ``(E - W, E]``; the *earlier window*
  runs from the customer's first purchase day ``d0`` to ``C = E - W``;
* an *order* is a purchase day (all lines with ``amount >= 0`` of one customer
  on one calendar day), as in the customer summary; spend is the net amount of
  all lines (refunds included) in the window;
* earlier span ``S = C - d0`` days; the earlier *repeat* rate is
  ``(orders_before - 1) / S``: the first purchase starts the clock and is not
  counted, as in the BTYD literature's ``x / T`` (counting it would overstate
  the rate of customers who bought twice early on);
* ``expected_recent_orders = (orders_before - 1) * W / S`` and
  ``expected_recent_spend = expected_recent_orders * spend_before / orders_before``
  (the earlier spend per order at the earlier pace);
* ``order_rate_ratio = orders_recent / expected_recent_orders`` and
  ``spend_ratio = spend_recent / expected_recent_spend``.

A customer is *eligible* when they have at least ``min_orders_before`` (2)
orders in the earlier window, were a customer for at least ``W`` days before
it (``S >= W``, so a short burst just before ``C`` does not pass for a high
rate) and ``expected_recent_orders >= min_expected_orders`` (1: a customer who
buys once a year is not late after a quiet quarter). An eligible customer is
flagged when ``order_rate_ratio <= rate_drop`` (default 0.6) or, with positive
earlier spend, ``spend_ratio <= spend_drop`` (0.6): the order rate, or the
spend at the customer's own earlier spend per order, fell to 60% or less.

A customer none of whose lines has an amount (every customer of a purchase log)
has no spend: ``spend_before``, ``spend_recent``, ``expected_recent_spend`` and
``spend_ratio`` are null (not 0), and the flag watches the order rate alone.

Why 0.6 and not 0.5 for "the rate halved": orders are whole numbers, so a
customer who went from every 7 to every 14 days places 6 or 7 orders in a
90-day window against about 12.9 expected, a ratio of 0.47-0.58 depending on
the phase and the length of their history. With 0.6 such a halving is flagged
in every phase once the customer has the required 90 days of earlier history;
a steady customer's ratio stays near 1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from clv.data import schema
from clv.data.orders_table import as_orders_table
from clv.engine import to_frame
from clv.errors import DataError
from clv.result_table import ResultTable
from clv.summary.customers import order_date, resolve_observation_end


@dataclass(frozen=True)
class EarlyWarningSettings:
    """Thresholds of the early-warning flag (see the module docstring for the definition).

    Parameters
    ----------
    window_days : int, default 90
        ``W``: the length of the recent window in days (a whole number >= 1).
    rate_drop : float, default 0.6
        Flag when ``order_rate_ratio <= rate_drop``; in [0, 1).
    spend_drop : float, default 0.6
        Flag when ``spend_ratio <= spend_drop`` (with positive earlier spend); in [0, 1).
    min_orders_before : int, default 2
        The least orders in the earlier window for a customer to be eligible (>= 2).
    min_expected_orders : float, default 1.0
        The least ``expected_recent_orders`` for a customer to be eligible (>= 0).

    Raises
    ------
    DataError
        When a threshold is outside its range, naming it.
    """

    window_days: int = 90
    rate_drop: float = 0.6
    spend_drop: float = 0.6
    min_orders_before: int = 2
    min_expected_orders: float = 1.0

    def __post_init__(self) -> None:
        if int(self.window_days) != self.window_days or self.window_days < 1:
            raise DataError(f"window_days must be a whole number of days >= 1, got {self.window_days!r}.")
        for name in ("rate_drop", "spend_drop"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise DataError(f"{name} must be in [0, 1) (0.6 = flag when the recent level is at most 60% of "
                                f"the earlier one), got {value!r}.")
        if int(self.min_orders_before) != self.min_orders_before or self.min_orders_before < 2:
            raise DataError(f"min_orders_before must be a whole number >= 2 (a rate needs two orders), "
                            f"got {self.min_orders_before!r}.")
        if self.min_expected_orders < 0:
            raise DataError(f"min_expected_orders must be >= 0, got {self.min_expected_orders!r}.")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class EarlyWarning(ResultTable):
    """The early-warning table and the windows and thresholds it was computed with.

    Returned by :func:`early_warning`. Reads like its table
    (``warnings["early_warning"].sum()``); the context is in typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer with a purchase by ``observation_end`` (columns:
        see :func:`early_warning`).
    observation_end : datetime.date or None
        ``E``, the last day observed (inclusive).
    recent_window_start : datetime.date or None
        First day of the recent window, ``E - W + 1``.
    thresholds : EarlyWarningSettings
        The window ``W`` (``window_days``) and the thresholds of the flag.
    """

    observation_end: dt.date | None = None
    recent_window_start: dt.date | None = None
    thresholds: EarlyWarningSettings = EarlyWarningSettings()

    def settings(self) -> dict[str, Any]:
        """The windows (ISO dates) and thresholds as JSON-ready values, in one flat dict."""
        return {"observation_end": _iso(self.observation_end), "recent_window_start": _iso(self.recent_window_start),
                **dataclasses.asdict(self.thresholds)}


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def early_warning_expression(orders: Any, *, observation_end: Any = None,
                             settings: EarlyWarningSettings = EarlyWarningSettings()) -> ir.Table:
    """Per customer with a purchase by ``observation_end``: the windows' counts, ratios and the flag (lazy).

    Parameters
    ----------
    orders : ibis.Table, DataFrame or LoadResult
        Canonical order lines.
    observation_end : date-like or None
        ``E``, the last day observed (inclusive); default the last order line's day.
    settings : EarlyWarningSettings, default EarlyWarningSettings()
        The window and thresholds.

    Returns
    -------
    ibis.Table
        The columns of :func:`early_warning`, not yet computed.
    """
    table = as_orders_table(orders)
    end = resolve_observation_end(table, observation_end)
    cutoff = end - dt.timedelta(days=int(settings.window_days))
    day = order_date(table)
    lines = table.filter(day <= ibis.date(end)).mutate(_day=day.epoch_days().cast("int64"))
    recent = lines._day > _epoch_day(cutoff)
    buy = schema.is_purchase(lines)
    per_customer = lines.group_by(schema.CUSTOMER_ID).aggregate(
        _first_day=lines._day.min(where=buy),
        orders_before=lines._day.nunique(where=buy & ~recent).cast("int64"),
        orders_recent=lines._day.nunique(where=buy & recent).cast("int64"),
        spend_before=lines[schema.AMOUNT].sum(where=~recent),
        spend_recent=lines[schema.AMOUNT].sum(where=recent),
        _amount_lines=lines[schema.AMOUNT].count(),
    )
    per_customer = per_customer.filter(per_customer._first_day.notnull())
    return _flagged(per_customer, _epoch_day(cutoff), settings)


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _flagged(per_customer: ir.Table, cutoff_day: int, settings: EarlyWarningSettings) -> ir.Table:
    window = float(settings.window_days)
    span = ibis.literal(cutoff_day) - per_customer._first_day
    repeat_rate = (per_customer.orders_before - 1).cast("float64") / ibis.greatest(span, 1).cast("float64")
    has_spend = per_customer._amount_lines > 0  # a purchase log has no spend: null, not 0
    no_spend = ibis.null("float64")
    spend_before = ibis.ifelse(has_spend, per_customer.spend_before.fill_null(0.0), no_spend)
    spend_recent = ibis.ifelse(has_spend, per_customer.spend_recent.fill_null(0.0), no_spend)
    expected_orders = repeat_rate * window
    expected_spend = expected_orders * spend_before / per_customer.orders_before.cast("float64")
    rate_ratio = per_customer.orders_recent.cast("float64") / ibis.ifelse(expected_orders > 0, expected_orders, ibis.null())
    spend_ratio = spend_recent / ibis.ifelse(expected_spend > 0, expected_spend, ibis.null())
    eligible = ((per_customer.orders_before >= settings.min_orders_before) & (span >= int(window))
                & (expected_orders >= settings.min_expected_orders))
    dropped = (rate_ratio <= settings.rate_drop) | (spend_ratio.fill_null(float("inf")) <= settings.spend_drop)
    return per_customer.select(
        schema.CUSTOMER_ID, "orders_before", "orders_recent",
        spend_before=spend_before, spend_recent=spend_recent,
        expected_recent_orders=expected_orders, expected_recent_spend=expected_spend,
        order_rate_ratio=rate_ratio, spend_ratio=spend_ratio,
        warning_eligible=eligible, early_warning=eligible & dropped.fill_null(False),
    )


def early_warning(orders: Any, *, observation_end: Any = None,
                  settings: EarlyWarningSettings = EarlyWarningSettings()) -> EarlyWarning:
    """Early-warning table, one row per customer with a purchase, sorted by customer id.

    Columns: customer_id, orders_before, orders_recent, spend_before,
    spend_recent, expected_recent_orders, expected_recent_spend,
    order_rate_ratio, spend_ratio (null when the earlier level is 0),
    warning_eligible, early_warning; the result's fields record the windows
    and thresholds (:class:`EarlyWarning`).

    Parameters
    ----------
    orders : ibis.Table, DataFrame or LoadResult
        Canonical order lines.
    observation_end : date-like or None
        ``E``, the last day observed (inclusive); default the last order line's day.
    settings : EarlyWarningSettings, default EarlyWarningSettings()
        The window and thresholds.

    Returns
    -------
    EarlyWarning
        One row per customer with a purchase by ``observation_end``, with the
        observation end, the recent window's first day and the thresholds.
    """
    if not isinstance(settings, EarlyWarningSettings):
        raise DataError(f"settings must be an EarlyWarningSettings, got {type(settings).__name__}.")
    expression = early_warning_expression(orders, observation_end=observation_end, settings=settings)
    frame = to_frame(expression.order_by(schema.CUSTOMER_ID))
    end = resolve_observation_end(orders, observation_end)
    start = end - dt.timedelta(days=int(settings.window_days) - 1)
    return EarlyWarning(frame, observation_end=end, recent_window_start=start, thresholds=settings)
