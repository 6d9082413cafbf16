"""The embedded engine: one DuckDB connection reached through Ibis.

Every table-shaped computation in ``clv`` is an Ibis expression, so the same code
runs on DuckDB (the default, in process) or on any backend Ibis reaches (Spark,
Postgres, BigQuery, Snowflake) by passing that backend's connection instead.
:func:`connect_engine` turns a name, a DuckDB file or a URL (what ``--engine``
takes on the command line) into such a connection.
"""

from __future__ import annotations

import os
from functools import lru_cache

import ibis
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend
from ibis.backends.duckdb import Backend as DuckDBBackend

__all__ = ["connect", "connect_engine", "default_connection", "execute", "to_frame"]


def connect(database: str = ":memory:", *, threads: int | None = None) -> BaseBackend:
    """Open a DuckDB connection through Ibis.

    ``database`` is a DuckDB file path or ``":memory:"``. ``threads`` defaults to
    all cores (``CLV_THREADS`` overrides).
    """
    con = DuckDBBackend().connect(database)
    threads = threads or int(os.environ.get("CLV_THREADS", "0")) or os.cpu_count() or 1
    con.raw_sql(f"SET threads = {int(threads)}")
    return con


@lru_cache(maxsize=1)
def default_connection() -> BaseBackend:
    """The process-wide in-memory DuckDB connection used when none is given."""
    return connect()


def execute(expression: ibis.Expr) -> pd.DataFrame:
    """Run an Ibis expression on its own backend, or on :func:`default_connection` if it has none.

    Pure memtable expressions (a pandas, Polars or Arrow frame wrapped by
    :func:`clv.data.orders_table.as_orders_table`) are bound to no backend;
    they run on clv's DuckDB connection rather than on Ibis' global default.

    Parameters
    ----------
    expression : ibis.Expr
        A table or scalar expression (small, already aggregated results).

    Returns
    -------
    pandas.DataFrame
        The result as Ibis' ``to_pandas()`` gives it.
    """
    backends, _ = expression._find_backends()  # noqa: SLF001 - Ibis has no public equivalent
    if backends:
        return expression.to_pandas()
    return default_connection().execute(expression)


def to_frame(expression: ibis.Table) -> pd.DataFrame:
    """Run ``expression`` and return a pandas DataFrame, through Arrow.

    Same dtypes as Ibis' ``to_pandas()`` for flat columns (dates as
    ``datetime64[s]``, strings as pandas' ``str``, integers with nulls as
    floats), but a column with nulls is converted in bulk: Ibis' DuckDB backend
    turns such a column into Python objects one value at a time (about 1 s per
    million rows).
    """
    table = expression.to_pyarrow()
    frame = table.to_pandas(date_as_object=False)
    for field in table.schema:
        if pa.types.is_date(field.type):
            frame[field.name] = frame[field.name].astype("datetime64[s]")
    return frame


from clv.engine.connections import connect_engine  # noqa: E402 - after connect/default_connection, which it uses
