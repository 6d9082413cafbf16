"""Reading order lines into the canonical schema (:mod:`clv.data.schema`).

>>> from clv.data import Columns, LoadPolicy, load_orders
>>> result = load_orders("orders.csv", Columns(customer_id="CustomerID"))  # doctest: +SKIP
>>> result.report.as_dict()  # doctest: +SKIP
"""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "Columns": "clv.data.columns",
    "Csv": "clv.data.sources",
    "DatabaseTable": "clv.data.sources",
    "Excel": "clv.data.sources",
    "LoadPolicy": "clv.data.policy",
    "LoadRejectedError": "clv.data.load",
    "LoadReport": "clv.data.load",
    "LoadResult": "clv.data.load",
    "Parquet": "clv.data.sources",
    "REASON_PRECEDENCE": "clv.data.policy",
    "as_orders_table": "clv.data.orders_table",
    "load_orders": "clv.data.load",
})
