"""The SQL clv would send to BigQuery and Snowflake, compiled without a connection.

No warehouse is reachable here, so these engines are compiled, not run: the
load (orders, rejects, report counts) and the per-customer summary are built on
an unbound table inside :func:`clv.engine.dialect.compiling_for`, compiled by
Ibis for each dialect, and parsed back with sqlglot. Every function the SQL
calls must be one sqlglot knows for that dialect or a named function of that
warehouse; none may be a DuckDB-only builtin.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pytest
import sqlglot
from sqlglot import exp

from clv import Columns, LoadPolicy, load_orders
from clv.engine import dialect
from clv.summary.customers import summary_expression

# Functions only DuckDB has (or has with DuckDB's meaning); none may reach a warehouse.
DUCKDB_ONLY = {"TRY_STRPTIME", "STRPTIME", "ARG_MIN", "ARG_MAX", "ISFINITE", "HASH", "TIMEZONE", "EPOCH_MS",
               "LIST_VALUE", "STRUCT_PACK", "REGEXP_FULL_MATCH", "REGEXP_MATCHES", "READ_PARQUET", "READ_CSV",
               "CURRENT_SETTING", "EPOCH"}
# Warehouse functions clv calls by name (sqlglot parses them as anonymous functions).
NAMED = {"bigquery": {"PARSE_DATETIME", "DATETIME", "IS_INF", "IS_NAN", "IEEE_DIVIDE"},
         "snowflake": {"TRY_TO_TIMESTAMP_NTZ", "CONVERT_TIMEZONE"}}
WAREHOUSES = tuple(NAMED)

TEXT_LINES = {"customer_id": "string", "order_ts": "string", "amount": "string", "order_id": "string",
              "product_id": "string"}


def _functions(sql: str, name: str) -> tuple[set[str], set[str]]:
    """(every function called, the ones sqlglot does not know for the dialect)."""
    tree = sqlglot.parse_one(sql, read=name)
    called, unknown = set(), set()
    for node in tree.find_all(exp.Func):
        function = node.sql(name).split("(", 1)[0].strip().upper()
        called.add(function)
        if isinstance(node, exp.Anonymous):
            unknown.add(function)
    return called, unknown


def _load_sql(name: str, policy: LoadPolicy) -> list[str]:
    with dialect.compiling_for(name):
        result = load_orders(ibis.table(TEXT_LINES, name="orders"), Columns(), policy)
        report = result.classified.group_by(result.classified.columns[0]).aggregate(n=ibis._.count())
        return [ibis.to_sql(t, dialect=name) for t in (result.orders, result.rejects, report)]


def _summary_sql(name: str) -> str:
    orders = ibis.table({"customer_id": "string", "order_ts": "timestamp", "amount": "float64",
                         "order_id": "string", "cost": "float64"}, name="orders")
    with dialect.compiling_for(name):
        return ibis.to_sql(summary_expression(orders, observation_end=dt.date(2011, 12, 9), time_unit="week"),
                           dialect=name)


POLICIES = {
    "iso dates, UTC": LoadPolicy(outlier_dates="keep"),
    "a date format and a time zone": LoadPolicy(outlier_dates="keep", date_format="%d/%m/%Y %H:%M",
                                               timezone="Europe/London", cancel_prefix="C"),
}


@pytest.mark.parametrize("name", WAREHOUSES)
@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES)
def test_the_load_compiles_with_only_the_warehouse_functions(name, policy):
    for sql in _load_sql(name, policy):
        called, unknown = _functions(sql, name)
        assert not called & DUCKDB_ONLY, sql
        assert unknown <= NAMED[name], f"{sorted(unknown - NAMED[name])} in\n{sql}"


@pytest.mark.parametrize("name", WAREHOUSES)
def test_the_summary_compiles_with_only_the_warehouse_functions(name):
    sql = _summary_sql(name)
    called, unknown = _functions(sql, name)
    assert not called & DUCKDB_ONLY, sql
    assert unknown <= NAMED[name], f"{sorted(unknown - NAMED[name])} in\n{sql}"


def test_the_check_itself_catches_a_duckdb_builtin():
    """The same load compiled for DuckDB does call DuckDB's builtins: the check is not vacuous."""
    policy = LoadPolicy(outlier_dates="keep", date_format="%d/%m/%Y %H:%M")
    orders = load_orders(ibis.table(TEXT_LINES, name="orders"), Columns(), policy).orders
    called, _ = _functions(ibis.to_sql(orders, dialect="duckdb"), "duckdb")
    assert {"TRY_STRPTIME"} <= called | {f.upper() for f in called}


def test_the_warehouse_forms_read_the_date_format_and_zone():
    formatted = POLICIES["a date format and a time zone"]
    iso_in_london = LoadPolicy(outlier_dates="keep", timezone="Europe/London")
    sql = " ".join(_load_sql("snowflake", formatted))
    assert "TRY_TO_TIMESTAMP_NTZ" in sql and "'DD/mm/yyyy hh24:mi'" in sql
    assert "CONVERT_TIMEZONE('UTC','Europe/London'" in "".join(" ".join(_load_sql("snowflake", iso_in_london)).split())
    assert "PARSE_DATETIME('%d/%m/%Y %H:%M'" in " ".join(_load_sql("bigquery", formatted))
    assert "'Europe/London')" in "".join(" ".join(_load_sql("bigquery", iso_in_london)).split())


def test_the_polars_backend_is_refused_up_front_with_the_reason():
    """Ibis' Polars backend lacks window functions: clv says so before any work, and names the fix."""
    import polars as pl

    from clv import summarize
    from clv.errors import DataError

    con = ibis.polars.connect()
    table = con.create_table("lines", pl.DataFrame({"customer_id": ["a"], "order_ts": ["2020-01-01"], "amount": [1.0]}))
    for step in (lambda: load_orders(table), lambda: summarize(table)):
        with pytest.raises(DataError, match="no window functions.*fix: pass the Polars DataFrame itself"):
            step()
    frame = pl.DataFrame({"customer_id": ["a", "a"], "order_ts": ["2020-01-01", "2020-02-01"], "amount": [1.0, 2.0]})
    assert summarize(load_orders(frame))["frequency"].tolist() == [1]
