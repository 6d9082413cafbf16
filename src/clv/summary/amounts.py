"""Order histories without amounts (purchase logs): how they are recognised, and the refusal of value.

A *purchase log* holds customer and date only, as many retail and app panels
do. Its purchases are counted as usual (frequency, recency, T, n_orders, first
and last purchase), but nothing about their value is known. The summary of a log
therefore has **no value columns** (:data:`VALUE_COLUMNS`, and
:data:`HOLDOUT_VALUE_COLUMNS` in a calibration/holdout split) and
``has_amounts=False`` (:class:`clv.summary.CustomerData`). Absent rather than null: a null column would be
summed to 0 or carried as NaN into a CLV without a word, an absent one cannot
be read by mistake. Every value computation of ``clv`` (spend models, CLV,
value metrics, the classic formula) refuses a log with :func:`no_amounts_error`.

A history is a log when

* it was loaded without an amount (``LoadResult.columns.has_amounts`` is
  False: neither amount nor unit price was mapped and the input has no
  ``amount`` column),
* or it is a table without an ``amount`` column,
* or (found while summarising, at no extra cost) no purchase line has an amount.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from clv.data import schema
from clv.data.orders_table import as_orders_table
from clv.errors import DataError

VALUE_COLUMNS = ("monetary_value", "gross_revenue", "refunded", "refund_share", "largely_refunded", "revenue", "margin")
"""Summary columns that need amounts: absent from the summary of a log."""
HOLDOUT_VALUE_COLUMNS = ("monetary_value_holdout", "revenue_holdout")
"""Holdout columns of :func:`clv.summary.calibration_holdout` that need amounts."""
NO_AMOUNTS = "this history has no amounts"
AMOUNTS_FIX = (
    "fix: map an amount column (Columns(amount=...)), or quantity and unit price "
    "(Columns(quantity=...) with Columns(unit_price=...)), when loading the orders"
)


def no_amounts_error(what: str) -> DataError:
    """The one refusal of a value computation on a purchase log: what needs amounts, and the fix.

    Parameters
    ----------
    what : str
        What needs the amounts, named in the message (e.g. ``"CLV"``, ``"the acquisition
        payback"``).

    Returns
    -------
    clv.errors.DataError
        The error, to raise: it names ``what``, says how to map an amount column when loading, and
        that purchase counts, P(alive) and expected purchases work without amounts.

    Examples
    --------
    >>> str(no_amounts_error("CLV"))  # doctest: +ELLIPSIS
    'this history has no amounts: CLV needs amounts; fix: map an amount column (Columns(amount=...)), ...'
    """
    return DataError(
        f"{NO_AMOUNTS}: {what} needs amounts; {AMOUNTS_FIX}. Purchase counts, P(alive) and expected "
        "purchases work without them."
    )


def declared_amounts(orders: Any) -> bool | None:
    """What the input says about amounts without reading its data.

    False for a load result of a log (``columns.has_amounts`` False) or a table
    without an ``amount`` column; True for a load result with amounts; None
    when only the data can tell (a table with an ``amount`` column).

    Parameters
    ----------
    orders : object
        Order lines: a :class:`clv.data.LoadResult`, or an Ibis, pandas, Polars or PyArrow table.

    Returns
    -------
    bool or None
        True (amounts), False (a purchase log), or None (only the data can tell).

    Examples
    --------
    >>> import pandas as pd
    >>> declared_amounts(pd.DataFrame({"customer_id": ["a"], "order_ts": ["2024-01-01"]}))
    False
    >>> declared_amounts(pd.DataFrame({"customer_id": ["a"], "order_ts": ["2024-01-01"], "amount": [5.0]})) is None
    True
    """
    columns = getattr(orders, "columns", None)
    has_amounts = getattr(columns, "has_amounts", None)  # a LoadResult's Columns (not a frame's column names)
    if isinstance(has_amounts, bool):
        return has_amounts
    names = _column_names(getattr(orders, "orders", orders))
    if names is not None and schema.AMOUNT not in names:
        return False
    return None


def valued_orders_table(orders: Any, what: str, *, string_ids: bool = False) -> Any:
    """The orders table of a computation that values orders: a declared purchase log is refused.

    Parameters
    ----------
    orders : ibis Table | LoadResult | pandas/Polars/Arrow frame
        Order lines (see :func:`clv.data.orders_table.as_orders_table`).
    what : str
        What needs the amounts, named in the refusal (e.g. "the acquisition payback").
    string_ids : bool, default False
        Passed to :func:`clv.data.orders_table.as_orders_table`.

    Returns
    -------
    ibis.expr.types.Table
        The typed order lines.

    Raises
    ------
    DataError
        :func:`no_amounts_error` when :func:`declared_amounts` is False (a log's
        load result, a table without ``amount``: then the message also names
        the column and lists the columns found). Amounts that are null in the
        data are found only by running a query: the caller checks its aggregates.
    """
    if declared_amounts(orders) is False:
        error = no_amounts_error(what)
        columns = _column_names(getattr(orders, "orders", orders))
        if columns is not None and schema.AMOUNT not in columns:  # a table without the column: name it
            error = DataError(f"{error} The orders have no column 'amount'. Columns found: {', '.join(columns)}.")
        raise error
    return as_orders_table(orders, string_ids=string_ids)


def _column_names(table: Any) -> list[str] | None:
    """Column names of an Ibis, pandas, Polars or PyArrow table (None for anything else)."""
    names = getattr(table, "column_names", None)  # PyArrow: its .columns are the arrays themselves
    if names is None:
        names = getattr(table, "columns", None)
    return None if names is None else [str(name) for name in names]


def summary_is_log(summary: Any) -> bool:
    """True for the summary of a purchase log (customer data with ``has_amounts`` False).

    A plain DataFrame does not say; it is taken as having amounts.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        A per-customer summary (:func:`clv.summary.summarize`).

    Returns
    -------
    bool
        Whether ``summary.has_amounts`` is False.
    """
    return getattr(summary, "has_amounts", True) is False


def require_amounts(summary: Any, what: str) -> None:
    """Raise :func:`no_amounts_error` when ``summary`` is the summary of a purchase log.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        A per-customer summary (:func:`clv.summary.summarize`); a plain DataFrame is taken as
        having amounts.
    what : str
        What needs the amounts, named in the message (e.g. ``"CLV"``).

    Raises
    ------
    clv.errors.DataError
        :func:`no_amounts_error` ``(what)`` when :func:`summary_is_log` is True.
    """
    if summary_is_log(summary):
        raise no_amounts_error(what)


def without_values(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the value columns (:data:`VALUE_COLUMNS`, :data:`HOLDOUT_VALUE_COLUMNS`)."""
    dropped = [c for c in (*VALUE_COLUMNS, *HOLDOUT_VALUE_COLUMNS) if c in frame.columns]
    return frame.drop(columns=dropped)


def values_missing(frame: pd.DataFrame) -> bool:
    """Whether no customer of a non-empty summary has a purchase value (gross revenue all null)."""
    return len(frame) > 0 and "gross_revenue" in frame.columns and bool(frame["gross_revenue"].isna().all())
