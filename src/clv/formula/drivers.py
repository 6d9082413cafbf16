"""The four drivers of the formula CLV (AOV, frequency, margin, churn) period by period.

For each calendar period p of the window:

    customers_active   customers with a purchase (positive line) in p
    new_customers      customers whose first purchase ever falls in p
    aov                revenue_p / orders_p
    purchase_frequency orders_p / customers_active_p
    customer_value     revenue_p / customers_active_p       (= aov x purchase_frequency)
    churn              1 - (active in p-1 and in p) / (active in p-1)
    lifespan           1 / churn                             (periods)
    clv                customer_value x margin x lifespan    (implied formula CLV)

so a change of CLV from one period to the next can be read off its drivers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ibis.expr.types import Table

from clv.data.schema import AMOUNT, COST, CUSTOMER_ID, ORDER_TS
from clv.engine import execute
from clv.errors import DataError

from ._activity import activity_pairs
from .periods import (
    ORDER_KEY,
    PERIOD,
    Window,
    as_valued_orders,
    check_rates,
    check_unit,
    first_purchase_lines,
    is_purchase,
    no_margin_message,
    period_index,
    period_is_complete,
    period_label,
    period_start,
    refuse_without_amounts,
    resolve_window,
    window_period_range,
    with_order_key,
)

DRIVER_COLUMNS = (
    "period",
    "period_start",
    "complete",
    "customers_active",
    "new_customers",
    "orders",
    "revenue",
    "aov",
    "purchase_frequency",
    "customer_value",
    "margin",
    "churn",
    "lifespan",
    "clv",
)


def drivers_over_time(
    orders: Table | pd.DataFrame,
    *,
    time_unit: str = "month",
    margin: float | None = None,
    start: object = None,
    end: object = None,
) -> pd.DataFrame:
    """AOV, purchase frequency, margin, churn and the implied CLV per period, sorted by period.

    Every calendar period the window touches has a row, also periods without
    orders (0 customers, NaN ratios, churn 1 if the previous period had buyers).
    ``complete`` is False for a period only partly inside the window. Revenue is
    net of all refund lines dated in the period. ``margin`` is a rate; by default
    (revenue - cost) / revenue of the period from the ``cost`` column.

    CLV per period is the same formula as :func:`clv.formula.classic_clv` with the
    period as unit: (revenue / active customers) x margin / churn; NaN when churn
    is 0 or undefined. ``time_unit``: 'month' (default) or 'quarter', the calendar
    period of each row. Source: Gupta & Lehmann (2003), "Customers as Assets".
    A purchase log (no amounts) is refused (:func:`clv.summary.no_amounts_error`).

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame
        Canonical order lines (``customer_id``, ``order_ts``, ``amount``; optional ``order_id``,
        ``cost``); refunds are lines with a negative amount.
    time_unit : {"month", "quarter", "year"}, default "month"
        The calendar period of each row (drivers are tracked per calendar month by default).
    margin : float or None, default None
        Gross margin rate in (0, 1]; default (revenue - cost) / revenue of each period from the
        ``cost`` column.
    start, end : date-like or None, default None
        First and last day of the window (inclusive); default: the first and last order line.

    Returns
    -------
    pandas.DataFrame
        One row per calendar period, sorted, with the columns ``period``,
        ``period_start``, ``complete``, ``customers_active``, ``new_customers``, ``orders``,
        ``revenue``, ``aov``, ``purchase_frequency``, ``customer_value``, ``margin``, ``churn``,
        ``lifespan`` (periods) and ``clv``.

    Raises
    ------
    clv.errors.DataError
        When ``time_unit`` is not a calendar period, ``margin`` is not in (0, 1], the margin is
        neither given nor computable (no ``cost`` column), the window is empty or reversed, or the
        orders have no amounts.

    References
    ----------
    Gupta, S. and Lehmann, D. R. (2003). "Customers as Assets". *Journal of Interactive
    Marketing* 17(1), 9-24.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b", "b", "c"],
    ...     "order_ts": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20", "2024-03-02", "2024-02-15"]),
    ...     "amount": [50.0, 30.0, 20.0, 40.0, 60.0],
    ... })
    >>> drivers = drivers_over_time(orders, margin=0.4)
    >>> drivers[["period", "customers_active", "aov", "churn", "clv"]]
        period  customers_active   aov  churn   clv
    0  2024-01                 2  35.0    NaN   NaN
    1  2024-02                 2  45.0    0.5  36.0
    2  2024-03                 1  40.0    1.0  16.0
    """
    table = as_valued_orders(orders)
    freq = check_unit("time_unit", time_unit)
    check_rates(margin, None, None)
    has_cost = COST in table.columns
    if margin is None and not has_cost:
        raise DataError(no_margin_message(table.columns))
    window = resolve_window(table, start, end)
    lines = with_order_key(window.filter(table))

    frame = _calendar(window, freq)
    frame = frame.merge(_period_totals(lines, freq, has_cost), on=PERIOD, how="left")
    frame = frame.merge(_new_customers(table, window, freq), on=PERIOD, how="left")
    frame = frame.merge(_churn_by_period(lines, freq), on=PERIOD, how="left")
    return _derive(frame, margin, has_cost)[list(DRIVER_COLUMNS)]


def _calendar(window: Window, freq: str) -> pd.DataFrame:
    periods = list(window_period_range(window, freq))
    return pd.DataFrame(
        {
            PERIOD: periods,
            "period": [period_label(p, freq) for p in periods],
            "period_start": [period_start(p, freq) for p in periods],
            "complete": [period_is_complete(p, freq, window) for p in periods],
        }
    )


def _period_totals(lines: Table, freq: str, has_cost: bool) -> pd.DataFrame:
    purchase = is_purchase(lines)
    lines = lines.mutate(
        **{
            PERIOD: period_index(lines[ORDER_TS], freq),
            "_customer_order": lines[CUSTOMER_ID] + "|" + lines[ORDER_KEY],
        }
    )
    metrics = {
        "customers_active": lines[CUSTOMER_ID].nunique(where=purchase),
        "orders": lines._customer_order.nunique(where=purchase),
        "revenue": lines[AMOUNT].sum(),
        "amount_lines": lines[AMOUNT].count(where=purchase),
    }
    if has_cost:
        metrics["revenue_with_cost"] = lines[AMOUNT].sum(where=lines[COST].notnull())
        metrics["cost"] = lines[COST].cast("float64").sum()
    frame = execute(lines.group_by(PERIOD).aggregate(**metrics))
    refuse_without_amounts(pd.to_numeric(frame["amount_lines"]).sum(), pd.to_numeric(frame["orders"]).sum())
    return frame.drop(columns="amount_lines").astype({PERIOD: "int64"})


def _new_customers(table: Table, window: Window, freq: str) -> pd.DataFrame:
    first = first_purchase_lines(table)
    first = first.filter(first.first_ts >= window.start, first.first_ts < window.end_exclusive)
    first = first.mutate(**{PERIOD: period_index(first.first_ts, freq)})
    frame = execute(first.group_by(PERIOD).aggregate(new_customers=first.count()))
    return frame.astype({PERIOD: "int64"})


def _churn_by_period(lines: Table, freq: str) -> pd.DataFrame:
    """churn of period p+1 from the pair (p, p+1): 1 - retained_p / active_p."""
    pairs = activity_pairs(lines, None, freq)
    with np.errstate(divide="ignore", invalid="ignore"):
        churn = 1.0 - pairs["retained"] / pairs["active"]
    return pd.DataFrame({PERIOD: pairs[PERIOD] + 1, "_churn_from_pair": churn.to_numpy(float)})


def _derive(frame: pd.DataFrame, margin: float | None, has_cost: bool) -> pd.DataFrame:
    out = frame.sort_values(PERIOD).reset_index(drop=True)
    for column in ("customers_active", "new_customers", "orders"):
        out[column] = out[column].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].astype(float).fillna(0.0)
    active, orders, revenue = (out[c].astype(float) for c in ("customers_active", "orders", "revenue"))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["aov"] = (revenue / orders).where(orders > 0)
        out["purchase_frequency"] = (orders / active).where(active > 0)
        out["customer_value"] = (revenue / active).where(active > 0)
        if margin is not None:
            out["margin"] = float(margin)
        else:
            with_cost = out["revenue_with_cost"].astype(float)
            out["margin"] = ((with_cost - out["cost"].astype(float)) / with_cost).where(with_cost > 0)
        # No pair row for the first period or after a period without buyers: NaN.
        out["churn"] = out["_churn_from_pair"].astype(float)
        out["lifespan"] = (1.0 / out["churn"]).where(out["churn"] > 0)
    out["clv"] = out["customer_value"] * out["margin"] * out["lifespan"]
    return out
