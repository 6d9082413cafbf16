"""Reading order lines into the canonical schema (:mod:`clv.data.schema`).

>>> from clv.data import Columns, LoadPolicy, load_orders
>>> result = load_orders("orders.csv", Columns(customer_id="CustomerID"))  # doctest: +SKIP
>>> result.report.as_dict()  # doctest: +SKIP
"""

from clv.data.columns import Columns
from clv.data.load import LoadRejectedError, LoadReport, LoadResult, load_orders
from clv.data.orders_table import as_orders_table
from clv.data.policy import REASON_PRECEDENCE, LoadPolicy
from clv.data.sources import Csv, DatabaseTable, Excel, Parquet

__all__ = [
    "Columns",
    "Csv",
    "DatabaseTable",
    "Excel",
    "LoadPolicy",
    "LoadRejectedError",
    "LoadReport",
    "LoadResult",
    "Parquet",
    "REASON_PRECEDENCE",
    "as_orders_table",
    "load_orders",
]
