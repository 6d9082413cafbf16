"""Acquisition cells: (acquisition channel, acquisition month) x months since acquisition.

Everything the acquisition, cohort and CLV-over-time reports show is a sum over
small cells computed once in the engine (Ibis on DuckDB):

* a customer's *acquisition month* (cohort) is the calendar month of their first
  purchase line ever, their *acquisition channel* the channel on that line;
* ``k`` = calendar month of an order line - acquisition month (k = 0 is the
  acquisition month itself);
* per cell (channel, cohort, k): customers who bought (a line with amount > 0),
  net revenue (refund lines included, dated when refunded) and gross margin.

Only calendar months fully observed count: months up to the *last complete
month* (the month of ``observation_end`` if that day is the month's last day,
else the month before). Customers acquired after it are left out of the cells.

The per-cell arrays are then combined in NumPy (a few channels x cohorts x
months, never per customer).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from ibis.expr.types import Table

from clv.data.orders_table import as_orders_table
from clv.data.schema import AMOUNT, CHANNEL, COST, CUSTOMER_ID, ORDER_TS
from clv.engine import execute
from clv.errors import DataError
from clv.formula.customer_segments import MISSING_VALUE
from clv.formula.periods import (
    check_rates,
    first_purchase_lines,
    is_purchase,
    no_margin_message,
    period_index,
    period_label,
    period_start,
    resolve_window,
)

__all__ = [
    "COHORT",
    "LINE_MARGIN",
    "MONTHS_SINCE",
    "NO_CHANNEL",
    "Cells",
    "Margin",
    "acquisitions",
    "group_index",
    "group_sum",
    "last_complete_month",
    "month_end",
    "observed_cells",
    "resolve_margin",
    "with_line_margin",
]

COHORT = "cohort"
MONTHS_SINCE = "months_since_acquisition"
NO_CHANNEL = "(all)"
LINE_MARGIN = "_line_margin"


@dataclass(frozen=True)
class Margin:
    """The gross margin rule: a given rate, or amount - cost per line (rate from cost where cost is null)."""

    rate: float
    source: str


def resolve_margin(table: Table, margin: float | None) -> Margin:
    """The margin rate: as given, or (revenue - cost) / revenue over the lines that have a cost.

    Parameters
    ----------
    table : ibis.expr.types.Table
        Typed order lines (:func:`clv.data.orders_table.as_orders_table`).
    margin : float or None
        The gross margin rate in (0, 1]; None computes it from the ``cost`` column.

    Returns
    -------
    Margin
        The rate and its source ("given" or "from cost").

    Raises
    ------
    DataError
        For a rate outside (0, 1], or no margin given and no cost to compute it from.
    """
    check_rates(margin, None, None)
    if margin is not None:
        return Margin(float(margin), "given")
    if COST not in table.columns:
        raise DataError(no_margin_message(table.columns))
    has_cost = table[COST].notnull()
    sums = execute(table.aggregate(revenue=table[AMOUNT].sum(where=has_cost), cost=table[COST].cast("float64").sum()))
    revenue, cost = (float(pd.to_numeric(sums[c]).fillna(0.0).iloc[0]) for c in ("revenue", "cost"))
    if revenue <= 0:
        raise DataError(
            "margin: the 'cost' column has no value on any line with revenue, so the gross margin "
            "cannot be computed. Fix: pass margin=0.3 (your gross margin rate) or fill the cost column."
        )
    return Margin((revenue - cost) / revenue, "from cost")


def with_line_margin(table: Table, margin: Margin) -> Table:
    """Add the gross margin of each line: amount - cost when the cost is known (and no rate is given), else amount x rate."""
    by_rate = table[AMOUNT] * margin.rate
    if margin.source == "given" or COST not in table.columns:
        return table.mutate(**{LINE_MARGIN: by_rate})
    cost = table[COST].cast("float64")
    return table.mutate(**{LINE_MARGIN: ibis.ifelse(cost.notnull(), table[AMOUNT] - cost, by_rate)})


def last_complete_month(table: Table, observation_end: object = None) -> tuple[int, pd.Timestamp]:
    """Index (year x 12 + month - 1) of the last fully observed calendar month, and the observation end day."""
    window = resolve_window(table, None, observation_end)
    end = window.end
    month = end.year * 12 + end.month - 1
    if (end + pd.Timedelta(days=1)).month == end.month:
        month -= 1
    return month, end


def month_end(month: int) -> pd.Timestamp:
    """Last day of the calendar month with index ``month``."""
    return period_start(month + 1, "month") - pd.Timedelta(days=1)


def acquisitions(table: Table) -> Table:
    """Each customer's acquisition: cohort (month of the first purchase) and channel.

    Parameters
    ----------
    table : ibis.expr.types.Table
        Typed order lines (:func:`clv.data.orders_table.as_orders_table`).

    Returns
    -------
    ibis.expr.types.Table
        ``customer_id``, ``cohort`` (month index year x 12 + month - 1 of the
        first purchase line ever) and ``channel`` (on that line; '(missing)'
        when null, '(all)' without a channel column).
    """
    has_channel = CHANNEL in table.columns
    first = first_purchase_lines(table, (CHANNEL,) if has_channel else ())
    channel = first[CHANNEL].cast("string").fill_null(MISSING_VALUE) if has_channel else ibis.literal(NO_CHANNEL)
    return first.select(CUSTOMER_ID, **{COHORT: period_index(first.first_ts, "month"), CHANNEL: channel})


@dataclass
class Cells:
    """Observed cells of one order table, as dense arrays over (cell, k).

    cells     frame of the (channel, cohort) cells: channel, cohort, cohort_label,
              customers, age (last observed k = last complete month - cohort)
    active    customers buying in month k, shape (cells, K+1), K = max age
    revenue   net revenue in month k
    margin    gross margin in month k
    """

    cells: pd.DataFrame
    active: np.ndarray
    revenue: np.ndarray
    margin: np.ndarray
    end_month: int
    observation_end: pd.Timestamp
    margin_rule: Margin

    @property
    def max_age(self) -> int:
        return self.active.shape[1] - 1

    @property
    def observed(self) -> np.ndarray:
        """Mask (cells, K+1): month k of the cell is observed (k <= age)."""
        return np.arange(self.max_age + 1)[None, :] <= self.cells["age"].to_numpy()[:, None]


def observed_cells(orders: object, *, margin: float | None = None, observation_end: object = None) -> Cells:
    """Compute the cells of ``orders`` (canonical order lines, Ibis table or DataFrame)."""
    table = as_orders_table(orders, string_ids=True)
    margin_rule = resolve_margin(table, margin)
    end_month, end_day = last_complete_month(table, observation_end)
    acquired = acquisitions(table)
    acquired = acquired.filter(acquired[COHORT] <= end_month)
    sizes = execute(acquired.group_by([CHANNEL, COHORT]).aggregate(customers=acquired.count()))
    if sizes.empty:
        raise DataError(
            f"no customer was acquired by the end of the last complete month ({period_label(end_month, 'month')}). "
            "Fix: pass a later observation_end, or orders covering at least one whole calendar month."
        )
    lines = with_line_margin(table, margin_rule)
    month = period_index(lines[ORDER_TS], "month")
    lines = lines.filter(month <= end_month).mutate(_month=month)
    # the lines may carry their own channel column: the acquisition's is renamed apart before joining
    acquired = acquired.rename(_acq_id=CUSTOMER_ID, _acq_channel=CHANNEL, _acq_cohort=COHORT)
    joined = lines.join(acquired, lines[CUSTOMER_ID] == acquired._acq_id)
    joined = joined.mutate(_k=(joined._month - joined._acq_cohort).cast("int64"))
    counts = execute(
        joined.group_by(["_acq_channel", "_acq_cohort", "_k"]).aggregate(
            active=joined[CUSTOMER_ID].nunique(where=is_purchase(joined)),
            revenue=joined[AMOUNT].sum(),
            margin=joined[LINE_MARGIN].sum(),
        )
    ).rename(columns={"_acq_channel": CHANNEL, "_acq_cohort": COHORT})
    return _dense(sizes, counts, end_month, end_day, margin_rule)


def _dense(sizes: pd.DataFrame, counts: pd.DataFrame, end_month: int, end_day, margin_rule: Margin) -> Cells:
    cells = sizes.astype({COHORT: "int64", "customers": "int64"})
    cells[CHANNEL] = cells[CHANNEL].astype(str)
    cells = cells.sort_values([CHANNEL, COHORT]).reset_index(drop=True)
    cells["cohort_label"] = [period_label(c, "month") for c in cells[COHORT]]
    cells["age"] = end_month - cells[COHORT]
    n_k = int(cells["age"].max()) + 1
    position = pd.Series(np.arange(len(cells)), index=pd.MultiIndex.from_frame(cells[[CHANNEL, COHORT]]))
    counts = counts.astype({COHORT: "int64", "_k": "int64"})
    counts[CHANNEL] = counts[CHANNEL].astype(str)
    rows = position.reindex(pd.MultiIndex.from_frame(counts[[CHANNEL, COHORT]])).to_numpy()
    keep = ~np.isnan(rows) & (counts["_k"].to_numpy() >= 0)
    rows, ks = rows[keep].astype(np.intp), counts["_k"].to_numpy()[keep]
    arrays = {}
    for name in ("active", "revenue", "margin"):
        dense = np.zeros((len(cells), n_k))
        values = pd.to_numeric(counts[name]).fillna(0).to_numpy(float)[keep]
        np.add.at(dense, (rows, ks), values)
        arrays[name] = dense
    return Cells(cells, arrays["active"], arrays["revenue"], arrays["margin"], end_month, end_day, margin_rule)


def group_index(cells: pd.DataFrame, by: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    """Code of each cell's group and the groups' key frame (``by`` empty: one group, 'all').

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per cell, with the ``by`` columns.
    by : tuple of str
        Columns to group by (e.g. ``("channel",)``).

    Returns
    -------
    codes : numpy.ndarray
        Group code of each cell (intp).
    keys : pandas.DataFrame
        The groups' keys, sorted, one row per code.
    """
    if not by:
        return np.zeros(len(cells), dtype=np.intp), pd.DataFrame({"group": ["all"]})
    columns = list(by)
    keys = cells[columns].drop_duplicates().sort_values(columns).reset_index(drop=True)
    codes = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(cells[columns]))
    return codes.astype(np.intp), keys


def group_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (cells, ...) into groups.

    Parameters
    ----------
    values : numpy.ndarray
        Per-cell values, shape (cells, ...).
    codes : numpy.ndarray
        Group code of each cell (:func:`group_index`).
    n_groups : int
        Number of groups.

    Returns
    -------
    numpy.ndarray
        Shape (n_groups, ...): ``out[g] = sum of values[codes == g]``.
    """
    out = np.zeros((n_groups, *values.shape[1:]))
    np.add.at(out, codes, values)
    return out
