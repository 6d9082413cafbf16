"""The canonical order-line schema every later stage reads.

Whatever the source (CSV, Parquet, a DataFrame, a database table), loading maps
the user's columns onto these names. Downstream code (summaries, formula KPIs,
models) only ever sees these names.

Column           Type        Meaning
---------------  ----------  ----------------------------------------------------
source_row       int64       1-based row number in the user's input (data rows,
                             header excluded). Stable key back to the input.
customer_id      string      Customer identifier (never null after loading);
                 or int64    integer ids stay integers (several sources: text).
order_ts         timestamp   Order timestamp (naive, in the policy's time zone).
amount           float64     Net revenue of the line (quantity x unit price when
                             those are given), in the reporting currency.
order_id         string      Order / invoice id, null when not given.
product_id       string      Product / SKU id, null when not given.
quantity         float64     Units, null when not given.
channel          string      Channel / source, null when not given.
cost             float64     Cost of goods of the line, null when not given.
is_refund        boolean     Set by the loader: the line is a refund or
                             cancellation (negative amount or quantity, or a
                             cancelled order id). Netted into revenue, never a
                             purchase.
"""

from __future__ import annotations

SOURCE_ROW = "source_row"
CUSTOMER_ID = "customer_id"
ORDER_TS = "order_ts"
AMOUNT = "amount"
ORDER_ID = "order_id"
PRODUCT_ID = "product_id"
QUANTITY = "quantity"
CHANNEL = "channel"
COST = "cost"
IS_REFUND = "is_refund"

REQUIRED = (CUSTOMER_ID, ORDER_TS, AMOUNT)
OPTIONAL = (ORDER_ID, PRODUCT_ID, QUANTITY, CHANNEL, COST)
CANONICAL = (SOURCE_ROW, *REQUIRED, *OPTIONAL)


def is_purchase(table):
    """Which lines of an Ibis table of order lines are purchases.

    Every line but a refund: the loader's ``is_refund`` flag when present (it
    also marks cancelled order ids and negative quantities), else a negative
    amount. Zero-value lines are purchases (a visit without revenue, as in the
    CDNOW literature). Every module counts purchases with this one rule.
    """
    if IS_REFUND in table.columns:
        return ~table[IS_REFUND]
    return table[AMOUNT] >= 0
