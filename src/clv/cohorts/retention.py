"""Cohort retention matrix and the share of revenue from repeat versus first orders.

Retention (cohort c = acquisition month, k = months since acquisition):

    retention(c, k) = customers of c with a purchase line (amount > 0) in calendar
                      month c + k  /  customers acquired in c

k = 0 is the acquisition month (retention 1 by construction). Only whole
calendar months up to the last complete month are cells (see
:mod:`clv.cohorts.cells`); a cohort's row stops at its age.

Repeat share: a customer's *first order* is the order (order_id, or the
calendar day when there is no order id) of their first purchase line ever; all
its lines (refunds of it included) are first-order revenue, every other line is
repeat revenue. share_repeat = repeat revenue / (first + repeat revenue), per
calendar month and overall. Lines of customers who never purchased (refunds
only) are left out and counted in :attr:`RepeatShare.lines_without_purchase`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv.data.orders_table import as_orders_table
from clv.data.schema import AMOUNT, CUSTOMER_ID, ORDER_TS
from clv.engine import dialect, execute
from clv.formula.periods import (
    ORDER_KEY,
    first_purchase_lines,
    period_index,
    period_label,
    resolve_window,
    with_order_key,
)

from .cells import COHORT, MONTHS_SINCE, group_index, group_sum, observed_cells

RETENTION_COLUMNS = (COHORT, MONTHS_SINCE, "customers", "active", "retention")


def retention_matrix(orders: object, *, observation_end: object = None, max_months: int | None = None) -> pd.DataFrame:
    """Long retention table: cohort ('2024-03'), months_since_acquisition, customers, active, retention.

    One row per observed (cohort, k), k = 0..min(age, max_months). Use
    :func:`retention_wide` for the familiar triangle. retention(c, k) =
    customers of cohort c with a purchase line in calendar month c + k /
    customers acquired in c (see the module doc).

    Parameters
    ----------
    orders : ibis.Table, DataFrame or LoadResult
        Canonical order lines (``customer_id``, ``order_ts``, ``amount``).
    observation_end : date-like or None, default None
        The last day observed (inclusive); default the last order line's day.
        Only whole calendar months up to the last complete one are cells.
    max_months : int or None, default None
        The largest months since acquisition k shown (whole calendar months);
        None: every observed month.

    Returns
    -------
    pandas.DataFrame
        Columns ``cohort`` (acquisition month, '2024-03'),
        ``months_since_acquisition`` (k, int), ``customers`` (cohort size),
        ``active`` (customers buying in month c + k) and ``retention``
        (active / customers, 1 at k = 0), sorted by cohort then k.

    Raises
    ------
    DataError
        When ``observation_end`` is not a date, or no customer was acquired by
        the end of the last complete month.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "b", "a", "c", "b"],
    ...                        "order_ts": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-10",
    ...                                                    "2024-02-03", "2024-03-15"]),
    ...                        "amount": [10.0, 20.0, 5.0, 30.0, 15.0]})
    >>> retention_matrix(orders, observation_end="2024-03-31")
        cohort  months_since_acquisition  customers  active  retention
    0  2024-01                         0          2       2        1.0
    1  2024-01                         1          2       1        0.5
    2  2024-01                         2          2       1        0.5
    3  2024-02                         0          1       1        1.0
    4  2024-02                         1          1       0        0.0
    """
    cells = observed_cells(orders, margin=1.0, observation_end=observation_end)  # margin unused here
    codes, keys = group_index(cells.cells, ("cohort_label",))
    sizes = group_sum(cells.cells["customers"].to_numpy(float), codes, len(keys))
    active = group_sum(cells.active, codes, len(keys))
    ages = group_sum(cells.cells["age"].to_numpy(float), codes, len(keys)) / np.bincount(codes)
    k = np.arange(active.shape[1])
    keep = k[None, :] <= ages[:, None]
    if max_months is not None:
        keep &= k[None, :] <= int(max_months)
    rows, ks = np.nonzero(keep)
    frame = pd.DataFrame(
        {
            COHORT: keys["cohort_label"].to_numpy()[rows],
            MONTHS_SINCE: ks.astype("int64"),
            "customers": sizes[rows].astype("int64"),
            "active": active[rows, ks].astype("int64"),
        }
    )
    frame["retention"] = frame["active"] / frame["customers"]
    return frame[list(RETENTION_COLUMNS)]


def retention_wide(long: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Pivot the long table to one row per cohort (with its size) and one column per month since acquisition.

    Parameters
    ----------
    long : pandas.DataFrame
        The long table of :func:`retention_matrix` (``cohort``,
        ``months_since_acquisition``, ``customers`` and the value column).
    value : str, default "retention"
        The column spread over the months: ``"retention"`` (a share) or
        ``"active"`` (customers).

    Returns
    -------
    pandas.DataFrame
        One row per cohort: ``cohort``, ``customers``, then ``m0``, ``m1``, ...
        (months since acquisition); NaN where a cohort is not that old yet (the
        triangle).

    Examples
    --------
    >>> import pandas as pd
    >>> long = pd.DataFrame({"cohort": ["2024-01", "2024-01", "2024-02"], "months_since_acquisition": [0, 1, 0],
    ...                      "customers": [2, 2, 1], "active": [2, 1, 1], "retention": [1.0, 0.5, 1.0]})
    >>> retention_wide(long)
        cohort  customers   m0   m1
    0  2024-01          2  1.0  0.5
    1  2024-02          1  1.0  NaN
    """
    wide = long.pivot(index=[COHORT, "customers"], columns=MONTHS_SINCE, values=value)
    wide.columns = [f"m{k}" for k in wide.columns]
    return wide.reset_index()


@dataclass(frozen=True)
class RepeatShare:
    """Revenue from first versus repeat orders, overall and per calendar month.

    Returned by :func:`repeat_share`.

    Parameters
    ----------
    overall : pandas.DataFrame
        One row: first_order_revenue, repeat_revenue, revenue, share_repeat,
        share_first.
    by_month : pandas.DataFrame
        The same columns after ``month`` ('2024-03'), one row per calendar month.
    lines_without_purchase : int
        Order lines of customers who never purchased (refunds only), left out
        of both.
    """

    overall: pd.DataFrame
    by_month: pd.DataFrame
    lines_without_purchase: int = 0


def repeat_share(orders: object, *, observation_end: object = None) -> RepeatShare:
    """Share of net revenue from repeat orders versus first orders, overall and per calendar month.

    Parameters
    ----------
    orders : ibis.Table, DataFrame or LoadResult
        Canonical order lines.
    observation_end : date-like or None
        The last day observed (inclusive); default the last order line's day.

    Returns
    -------
    RepeatShare
        ``overall``, ``by_month`` and ``lines_without_purchase``.
    """
    # The lines and the first orders are computed once, as tables with statistics: PostgreSQL
    # estimated a few dozen rows for the loader's filtered lines and joined them to the first
    # orders by a nested loop (minutes at 100k lines instead of a second).
    with contextlib.ExitStack() as tables:
        table = _computed_once(as_orders_table(orders, string_ids=True), "orders", tables)
        window = resolve_window(table, None, observation_end)
        lines = with_order_key(window.filter(table))
        first = first_purchase_lines(with_order_key(table), (ORDER_KEY,)).rename(_first_id=CUSTOMER_ID,
                                                                                 _first_key=ORDER_KEY)
        first = _computed_once(first, "first_orders", tables)
        per_month = execute(_revenue_by_month(lines, first)).sort_values("_month").reset_index(drop=True)
    for column in ("first_order_revenue", "repeat_revenue"):
        per_month[column] = pd.to_numeric(per_month[column]).astype(float).fillna(0.0)
    without_purchase = int(pd.to_numeric(per_month["lines_without_purchase"]).fillna(0).sum())
    by_month = pd.DataFrame({"month": [period_label(m, "month") for m in per_month["_month"]]})
    by_month = pd.concat([by_month, _shares(per_month)], axis=1)
    overall = _shares(per_month[["first_order_revenue", "repeat_revenue"]].sum().to_frame().T)
    return RepeatShare(overall=overall, by_month=by_month, lines_without_purchase=without_purchase)


def _computed_once(table, kind: str, tables: contextlib.ExitStack):
    """``table`` materialised on its engine (:func:`clv.engine.dialect.materialise`), released with ``tables``."""
    computed = dialect.materialise(table, kind)
    tables.callback(dialect.release, computed)
    return computed


def _revenue_by_month(lines, first):
    """First-order and repeat revenue and lines without a purchase, per calendar month (lazy)."""
    joined = lines.left_join(first, lines[CUSTOMER_ID] == first._first_id)
    is_first = joined[ORDER_KEY] == joined._first_key
    joined = joined.mutate(_month=period_index(joined[ORDER_TS], "month"), _first=is_first, _known=joined._first_id.notnull())
    return joined.group_by("_month").aggregate(
        first_order_revenue=joined[AMOUNT].sum(where=joined._known & joined._first),
        repeat_revenue=joined[AMOUNT].sum(where=joined._known & ~joined._first),
        lines_without_purchase=(~joined._known).sum(),
    )


def _shares(sums: pd.DataFrame) -> pd.DataFrame:
    first, repeat = sums["first_order_revenue"].astype(float), sums["repeat_revenue"].astype(float)
    total = first + repeat
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (repeat / total).where(total != 0)
    return pd.DataFrame(
        {
            "first_order_revenue": first.to_numpy(),
            "repeat_revenue": repeat.to_numpy(),
            "revenue": total.to_numpy(),
            "share_repeat": share.to_numpy(),
            "share_first": (1.0 - share).to_numpy(),
        }
    )
