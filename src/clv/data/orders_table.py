"""The one adapter from whatever holds order lines to a typed Ibis table.

Every stage that reads order lines (summary, formula, cohorts, acquisition,
what-if, backtest, segments, cross-sell) goes through :func:`as_orders_table`,
so they all accept the same inputs and refuse them with the same errors:

* an Ibis table (any backend), or the result of :func:`clv.data.load_orders`
  (its ``.orders``);
* a pandas, Polars or PyArrow frame (wrapped with ``ibis.memtable``; it then
  runs on :func:`clv.engine.default_connection`).

The canonical columns (:mod:`clv.data.schema`) are typed: ``order_ts`` as a
timestamp, ``amount`` as float64, ``customer_id`` as string or integer (the
loader keeps integer ids; ``string_ids=True`` casts them). A table without an
``amount`` column is a *purchase log* (customer and date only): its lines get a
null amount and every line is a purchase. Stages that value orders refuse a
log with :func:`clv.summary.no_amounts_error`; counting purchases needs no
amounts.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from clv.data import schema
from clv.errors import DataError, missing_column_message

__all__ = ["as_log_lines", "as_orders_table"]

ORDERS_FIX = (
    "Fix: pass clv.data.load_orders(...) or a frame with the columns customer_id, order_ts and amount."
)


def as_orders_table(orders: Any, *, string_ids: bool = False) -> ir.Table:
    """Return order lines as an Ibis table with typed canonical columns.

    Parameters
    ----------
    orders : ibis Table | LoadResult | pandas.DataFrame | polars.DataFrame | pyarrow.Table
        Order lines with at least ``customer_id`` and ``order_ts`` (canonical
        names, see :mod:`clv.data.schema`); ``amount`` when values are known.
        A load result stands for its ``.orders``.
    string_ids : bool, default False
        Cast ``customer_id`` to string even when it holds integers (the
        formula family joins ids with user mappings given as text).

    Returns
    -------
    ibis.expr.types.Table
        The lines, ``order_ts`` cast to timestamp and ``amount`` to float64
        where they were not already; without an ``amount`` column, the lines
        of a purchase log (:func:`as_log_lines`). A column already of its
        canonical type is left untouched, so a loaded table's query is
        unchanged.

    Raises
    ------
    DataError
        For an input that holds no table (naming its type), or one without
        ``customer_id`` or ``order_ts`` (naming the column and listing those
        found).
    """
    table = _ibis_table(orders)
    for column in (schema.CUSTOMER_ID, schema.ORDER_TS):
        if column not in table.columns:
            found = missing_column_message(column.replace("_", " "), column, table.columns).split(" Fix:")[0]
            raise DataError(
                f"orders: {found} Fix: load the orders with clv.data.load_orders(...), which maps your "
                f"column names (Columns({column}=...)), or rename the column to {column!r}."
            )
    typed = _typed(table, string_ids)
    return typed if schema.AMOUNT in typed.columns else as_log_lines(typed)


def as_log_lines(table: ir.Table) -> ir.Table:
    """Order lines of a table without amounts: a null ``amount``, and every line a purchase.

    Without amounts there is no sign to tell a refund by, so unless the table
    says which lines are refunds (``is_refund``) none is.

    Parameters
    ----------
    table : ibis.expr.types.Table
        Order lines without an ``amount`` column.

    Returns
    -------
    ibis.expr.types.Table
        ``table`` with ``amount`` null (float64) and ``is_refund`` False unless given.
    """
    refund = {} if schema.IS_REFUND in table.columns else {schema.IS_REFUND: ibis.literal(False)}
    return table.mutate(**{schema.AMOUNT: ibis.null("float64")}, **refund)


def _ibis_table(orders: Any) -> ir.Table:
    """The Ibis table behind ``orders``: itself, a frame wrapped, or a load result's ``.orders``."""
    if not (isinstance(orders, ir.Table) or _is_frame(orders)):
        orders = getattr(orders, "orders", orders)  # a clv.data.load_orders result
    if isinstance(orders, ir.Table):
        return orders
    if _is_frame(orders):
        return ibis.memtable(orders)
    raise DataError(
        "orders: expected an Ibis table, a pandas/Polars/Arrow frame or the result of "
        f"clv.data.load_orders, got {type(orders).__name__}. {ORDERS_FIX}"
    )


def _is_frame(value: Any) -> bool:
    """A pandas frame, or anything exporting Arrow data (PyArrow and Polars tables)."""
    return isinstance(value, pd.DataFrame) or hasattr(value, "__arrow_c_stream__") or hasattr(value, "to_arrow")


def _typed(table: ir.Table, string_ids: bool) -> ir.Table:
    """Cast the canonical columns that are not of their canonical type (no cast of a typed column)."""
    casts = {}
    ids = table[schema.CUSTOMER_ID].type()
    if not (ids.is_string() or (ids.is_integer() and not string_ids)):
        casts[schema.CUSTOMER_ID] = table[schema.CUSTOMER_ID].cast("string")
    timestamps = table[schema.ORDER_TS].type()
    if not (timestamps.is_timestamp() and timestamps.timezone is None):
        casts[schema.ORDER_TS] = table[schema.ORDER_TS].cast("timestamp")
    if schema.AMOUNT in table.columns and not table[schema.AMOUNT].type().is_float64():
        casts[schema.AMOUNT] = table[schema.AMOUNT].cast("float64")
    return table.mutate(**casts) if casts else table
