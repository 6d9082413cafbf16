"""The per-engine pieces of clv, in one place.

Everything else in clv is portable Ibis. Where engines differ (a builtin that
is faster on DuckDB, a date parser with another name on Spark, a temporary
table Spark cannot make), the difference lives here and nowhere else: a
function of this module takes an expression or a connection, asks which engine
it runs on (:func:`engine_name`) and returns the form that engine needs.
No raw SQL is written outside :mod:`clv.engine` (a test reads the sources).

Engines covered: DuckDB (the default), PySpark, PostgreSQL. Any other Ibis
backend gets Ibis' portable forms; :func:`compiling_for` names the target for
expressions not bound to a connection (the BigQuery and Snowflake SQL test).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import uuid
from collections.abc import Iterator, Mapping, Sequence

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
from ibis.backends import BaseBackend

__all__ = [
    "DUCKDB", "POSTGRES", "SPARK",
    "arrow_batches", "write_local_csv", "write_local_parquet",
    "compiling_for", "contains", "require_supported", "direct_aggregate_bits", "materialise", "release", "engine_name", "engine_of", "ltrim_spaces", "not_finite", "number_rows", "register_arrow",
    "row_hash", "temp_name", "text_to_float", "trim_blank_set", "trim_blanks", "trim_spaces", "try_parse_timestamp",
    "epoch_to_local_time", "to_local_time", "value_at_min",
]

DUCKDB, SPARK, POSTGRES = "duckdb", "pyspark", "postgres"
BIGQUERY, SNOWFLAKE = "bigquery", "snowflake"  # compiled in tests, never run here
_TARGET: contextvars.ContextVar[str] = contextvars.ContextVar("clv_engine_target", default=DUCKDB)


# --------------------------------------------------------------------------- which engine


def engine_of(value: ibis.Expr) -> BaseBackend | None:
    """The connection an expression is bound to, None for an unbound one (a memtable)."""
    try:
        return value._find_backend(use_default=False)  # noqa: SLF001 - Ibis has no public equivalent
    except Exception:  # noqa: BLE001 - unbound expressions (memtables) have none
        return None


def engine_name(value: ibis.Expr | BaseBackend) -> str:
    """``"duckdb"``, ``"pyspark"``, ``"postgres"`` or another Ibis backend name.

    An unbound expression runs on clv's DuckDB connection, unless
    :func:`compiling_for` names another target.
    """
    con = value if isinstance(value, BaseBackend) else engine_of(value)
    return con.name if con is not None else _TARGET.get()


@contextlib.contextmanager
def compiling_for(name: str) -> Iterator[None]:
    """Build expressions for engine ``name`` when they are bound to no connection.

    Used to compile the SQL clv would send to a warehouse it cannot reach
    (``ibis.to_sql(expr, dialect="bigquery")``).
    """
    token = _TARGET.set(name)
    try:
        yield
    finally:
        _TARGET.reset(token)


#: Ibis backends clv refuses up front, with the reason (they lack what the pipeline needs).
UNSUPPORTED = {
    "polars": ("Ibis' Polars backend has no window functions (Ibis: 'No translation rule for "
               "WindowFunction'), which the loader's duplicate search and the summary need"),
}


def require_supported(con: BaseBackend | None, step: str) -> None:
    """Refuse an engine clv cannot run ``step`` on, before any work, naming the reason and the fix."""
    if con is not None and con.name in UNSUPPORTED:
        from clv.errors import DataError

        raise DataError(
            f"{step} cannot run on the {con.name} engine: {UNSUPPORTED[con.name]}; fix: pass the Polars "
            "DataFrame itself (it runs on clv's DuckDB), or a DuckDB, Spark or PostgreSQL connection."
        )


def temp_name(kind: str) -> str:
    """A fresh name for a temporary table or view: ``__clv_<kind>_<12 hex>``."""
    return f"__clv_{kind}_{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- DuckDB builtins


@ibis.udf.scalar.builtin(name="try_strptime")
def _duckdb_try_strptime(text: str, fmt: str) -> dt.Timestamp():
    """DuckDB ``try_strptime``: NULL instead of an error on a bad date."""


@ibis.udf.scalar.builtin(name="timezone")
def _duckdb_timezone(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():
    """DuckDB ``timezone(zone, timestamptz)``: the naive wall-clock time in ``zone``."""


@ibis.udf.scalar.builtin(name="to_timestamp")
def _duckdb_epoch_to_timestamp(seconds: float) -> dt.Timestamp(timezone="UTC"):
    """DuckDB ``to_timestamp(seconds)``: an aware UTC timestamp."""


@ibis.udf.scalar.builtin(name="trim")
def _duckdb_trim(value: str) -> str:
    """DuckDB's one-argument TRIM (spaces)."""


@ibis.udf.scalar.builtin(name="trim")
def _duckdb_trim_chars(value: str, characters: str) -> str:
    """DuckDB's TRIM of a set of characters."""


@ibis.udf.scalar.builtin(name="ltrim")
def _duckdb_ltrim(value: str) -> str:
    """DuckDB's one-argument LTRIM (leading spaces)."""


@ibis.udf.scalar.builtin(name="contains")
def _duckdb_contains(value: str, part: str) -> bool:
    """DuckDB ``contains`` (a memchr-speed substring test)."""


@ibis.udf.scalar.builtin(name="isfinite")
def _duckdb_isfinite(value: float) -> bool:
    """DuckDB's ISFINITE."""


@ibis.udf.agg.builtin(name="arg_min")
def _duckdb_arg_min(arg: float, key: int) -> float:
    """DuckDB's ARG_MIN: a plain hash aggregate (Ibis' argmin compiles to an ordered FIRST)."""


def _duckdb_hash(types: list[dt.DataType]):
    """DuckDB's variadic ``hash(v1, ..., vN)`` as an Ibis builtin UDF for these types."""

    def row_hash(*values):
        """DuckDB ``hash``: equal values (nulls, NaNs, 0.0 and -0.0 included) hash equal."""

    row_hash.__signature__ = inspect.Signature(
        [inspect.Parameter(f"v{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(types))]
    )
    return ibis.udf.scalar.builtin(row_hash, name="hash", signature=(tuple(types), dt.uint64))


# --------------------------------------------------------------------------- text


def trim_spaces(text: ibis.Value) -> ibis.Value:
    """Leading and trailing spaces removed (DuckDB's cheap one-argument TRIM)."""
    return _duckdb_trim(text) if engine_name(text) == DUCKDB else text.strip()


def trim_blank_set(text: ibis.Value, blanks: str) -> ibis.Value:
    """Leading and trailing characters of ``blanks`` removed."""
    return _duckdb_trim_chars(text, blanks) if engine_name(text) == DUCKDB else text.strip()


def trim_blanks(text: ibis.Value, blanks: str) -> ibis.Value:
    """Leading and trailing characters of ``blanks`` removed, cheapest form first.

    On DuckDB the one-argument TRIM (spaces only) is about three times cheaper
    than TRIM with a character set, so the full trim runs only on the rare
    values that contain another blank (tested with memchr-speed ``contains``).
    ``text`` should be a column, not an expression: DuckDB does not share
    repeated subexpressions.
    """
    if engine_name(text) != DUCKDB:
        return text.strip()
    others = [contains(text, ch) for ch in blanks if ch != " "]
    has_other_blank = others[0]
    for other in others[1:]:
        has_other_blank = has_other_blank | other
    return ibis.cases((has_other_blank, _duckdb_trim_chars(text, blanks)), else_=_duckdb_trim(text))


def ltrim_spaces(text: ibis.Value) -> ibis.Value:
    """Leading blanks removed (LTRIM is much cheaper than TRIM on DuckDB)."""
    return _duckdb_ltrim(text) if engine_name(text) == DUCKDB else text.lstrip()


def contains(text: ibis.Value, part: str) -> ibis.Value:
    """True where ``text`` contains ``part`` (memchr-speed on DuckDB)."""
    return _duckdb_contains(text, part) if engine_name(text) == DUCKDB else text.contains(part)


def text_to_float(text: ibis.Value) -> ibis.Value:
    """Text read as a float, null when it is not a plain number (surrounding blanks allowed).

    DuckDB's cast ignores surrounding blanks and gives null for a blank text,
    like trimming first, at a fraction of the cost.
    """
    if engine_name(text) == DUCKDB:
        return text.try_cast(dt.float64)
    return text.strip().try_cast(dt.float64)


def not_finite(value: ibis.Value) -> ibis.Value:
    """True where a float value is null, NaN or infinite.

    On DuckDB this uses ``NOT isfinite(x)``: DuckDB 2.0 prunes Parquet row groups
    by their min/max statistics, which ignore NaN, so a pushed-down
    ``isnan(x)`` filter misses NaN values (``isfinite`` is not pushed down).
    """
    if engine_name(value) == DUCKDB:
        # One reference to ``value``: DuckDB does not share subexpressions inside a
        # filter, and ``value`` is often a parse of text (trim + cast).
        return ~_duckdb_isfinite(value).fill_null(False)
    return value.isnull() | value.isnan() | value.isinf()


# --------------------------------------------------------------------------- time


def try_parse_timestamp(text: ibis.Value, strptime_format: str) -> ibis.Value:
    """Naive timestamp read from ``text`` with a strptime format, null when it does not match."""
    name = engine_name(text)
    if name == DUCKDB:
        return _duckdb_try_strptime(text, strptime_format)
    if name in (BIGQUERY, SNOWFLAKE):
        return _warehouse_parse_timestamp(name, text, strptime_format)
    return text.as_timestamp(strptime_format)


def to_local_time(aware: ibis.Value, zone: str) -> ibis.Value:
    """The naive wall-clock time in ``zone`` of an aware (UTC) timestamp."""
    name = engine_name(aware)
    if name == DUCKDB:
        return _duckdb_timezone(zone, aware)
    if name in (BIGQUERY, SNOWFLAKE):
        return _warehouse_local_time(name, aware, zone)
    return aware.cast(dt.Timestamp())


def epoch_to_local_time(seconds: ibis.Value, zone: str, in_range: ibis.Value) -> ibis.Value:
    """Seconds since 1970-01-01 UTC as a naive time in ``zone``; null where not ``in_range``."""
    if engine_name(seconds) != DUCKDB:
        return ibis.cases((in_range, seconds.cast(dt.int64).as_timestamp("s")), else_=ibis.null(dt.Timestamp()))
    aware = ibis.cases((in_range, _duckdb_epoch_to_timestamp(seconds)), else_=ibis.null(dt.Timestamp(timezone="UTC")))
    return _duckdb_timezone(zone, aware)


# --------------------------------------------------------------------------- aggregates and hashes


def value_at_min(value: ibis.Value, key: ibis.Value) -> ibis.Value:
    """``value`` on the row with the smallest non-null ``key`` (per group), fastest form the engine has."""
    if engine_name(value) == DUCKDB:
        return _duckdb_arg_min(value, key)  # skips rows whose key is null
    return value.argmin(key, where=key.notnull())


def row_hash(columns: Sequence[ibis.Value]) -> ibis.Value | None:
    """One integer per row that is equal for equal values of ``columns`` (nulls equal).

    None where the engine has no such hash: the caller then compares the
    values themselves.
    """
    if engine_name(columns[0]) == DUCKDB:
        return _duckdb_hash([c.type() for c in columns])(*columns)
    return None


# --------------------------------------------------------------------------- materialised intermediates


def materialise(table: ibis.Table, kind: str = "cache") -> ibis.Table:
    """``table`` computed once, as a table on its own engine, so later queries read it instead of recomputing it.

    DuckDB and PostgreSQL: a temporary table (with fresh statistics on PostgreSQL,
    so its planner knows the row count). Spark: the DataFrame persisted and
    registered as a temporary view (Spark has no temporary tables). Free it
    with :func:`release`.
    """
    con = engine_of(table)
    if con is None:
        from clv.engine import default_connection

        con = default_connection()
    name = temp_name(kind)
    if con.name == SPARK:
        return table.cache()
    cached = con.create_table(name, table, temp=True)
    if con.name == POSTGRES:
        con.raw_sql(f'ANALYZE "{name}"')
    return cached


def release(table: ibis.Table) -> None:
    """Drop a table made by :func:`materialise` (nothing if it is already gone).

    Plain SQL on DuckDB and PostgreSQL: Ibis 12's ``drop_table`` / ``Table.release``
    emit a statement DuckDB 2.0 rejects.
    """
    con = engine_of(table)
    if con is None:
        return
    if con.name == SPARK:
        table.release()
        return
    con.raw_sql(f'DROP TABLE IF EXISTS "{table.get_name()}"')


@contextlib.contextmanager
def direct_aggregate_bits(con: BaseBackend, bits: int) -> Iterator[None]:
    """On DuckDB, let an aggregate over keys of ``bits`` bits use a directly indexed table.

    DuckDB uses its perfect-hash aggregate only up to ``perfect_ht_threshold``
    bits (12 by default); raising it (at most 24 bits, 16M slots) halves the
    cost of a dense pair count. Restored after. Other engines: nothing to do.
    """
    if con.name != DUCKDB or bits > 24:
        yield
        return
    previous = con.raw_sql("SELECT current_setting('perfect_ht_threshold')").fetchone()[0]
    con.raw_sql(f"SET perfect_ht_threshold = {max(bits, int(previous))}")
    try:
        yield
    finally:
        con.raw_sql(f"SET perfect_ht_threshold = {int(previous)}")


# --------------------------------------------------------------------------- results back to Python and to files


def arrow_batches(table: ibis.Table, chunk_size: int = 1_000_000) -> pa.RecordBatchReader:
    """The rows of ``table`` as a stream of Arrow record batches, never the whole result at once.

    DuckDB: its own streaming reader (Ibis 12's calls an API DuckDB 2.0 no
    longer has). PostgreSQL and other engines: Ibis' streaming reader
    (PostgreSQL through a server-side cursor). Spark: each partition is turned
    into Arrow batches on its executor and the driver pulls them one partition
    at a time (``mapInArrow`` + ``toLocalIterator``); Ibis' own Spark reader
    goes through one ``toPandas()`` of the whole result, and its batches have the
    table's Ibis schema.
    """
    con = _connection(table, None)
    if con.name == SPARK:
        return _spark_arrow_batches(table, con)
    if con.name == DUCKDB:
        con._run_pre_execute_hooks(table)  # noqa: SLF001 - registers the memtables the query reads
        return con.con.sql(str(con.compile(table))).to_arrow_reader(chunk_size)
    return con.to_pyarrow_batches(table, chunk_size=chunk_size)


def write_local_parquet(table: ibis.Table, path: str, metadata: Mapping[str, str] | None = None,
                  con: BaseBackend | None = None) -> None:
    """Write ``table`` to one Parquet file on this machine, with key-value ``metadata`` in its footer.

    DuckDB: its ``COPY`` (parallel, no rows through Python). Other engines: the
    rows stream through :func:`arrow_batches` into a ``pyarrow`` writer, one
    batch in memory at a time. ``con``: where an unbound table (a memtable) runs
    (default: clv's DuckDB).
    """
    con = _connection(table, con)
    if con.name == DUCKDB:
        options = "FORMAT parquet"
        if metadata:
            pairs = ", ".join(f"{_sql_key(k)}: {_sql_text(v)}" for k, v in metadata.items())
            options += f", KV_METADATA {{{pairs}}}"
        con.raw_sql(f"COPY ({con.compile(table)}) TO {_sql_text(str(path))} ({options})")
        return
    import pyarrow.parquet as pq

    reader = arrow_batches(table)
    schema = reader.schema.with_metadata({**(reader.schema.metadata or {}), **dict(metadata or {})})
    with pq.ParquetWriter(str(path), schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def write_local_csv(table: ibis.Table, path: str, con: BaseBackend | None = None) -> None:
    """Write ``table`` to one CSV file (with a header; ``.csv.gz`` compressed) on this machine.

    DuckDB: Ibis' ``to_csv`` (DuckDB's writer). Other engines: streamed Arrow
    batches through ``pyarrow.csv`` (one batch in memory at a time).
    """
    con = _connection(table, con)
    if con.name == DUCKDB:
        con.to_csv(table, str(path))
        return
    import pyarrow.csv as pcsv

    reader = arrow_batches(table)
    compression = "gzip" if str(path).lower().endswith(".gz") else None
    options = pcsv.WriteOptions(quoting_style="needed")  # as DuckDB writes: quotes only where a value needs them
    with pa.CompressedOutputStream(str(path), "gzip") if compression else pa.OSFile(str(path), "wb") as sink, \
            pcsv.CSVWriter(sink, reader.schema, write_options=options) as writer:
        for batch in reader:
            writer.write_batch(batch)


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_key(key: str) -> str:
    return '"' + str(key).replace('"', '""') + '"'


def _spark_arrow_batches(table: ibis.Table, con: BaseBackend) -> pa.RecordBatchReader:
    """Spark's rows as Arrow batches, pulled by the driver one partition at a time.

    Each executor serialises its partition's Arrow batches (``mapInArrow``) as
    Arrow IPC bytes in a one-column DataFrame; the driver iterates over that
    DataFrame with ``toLocalIterator`` (one partition in memory at a time) and
    reads each message back, cast to the table's Ibis schema (Spark's session
    time zone is UTC: its timestamps are read as naive UTC, as on DuckDB).
    """
    schema = table.schema().to_pyarrow()
    frame = con._session.sql(con.compile(table))  # noqa: SLF001 - Ibis keeps the session there

    def serialise(batches):
        for batch in batches:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as stream:
                stream.write_batch(batch)
            yield pa.RecordBatch.from_pydict({"ipc": [sink.getvalue().to_pybytes()]})

    def read_back():
        for row in frame.mapInArrow(serialise, "ipc binary").toLocalIterator(prefetchPartitions=True):
            for batch in pa.ipc.open_stream(row["ipc"]):
                yield from pa.Table.from_batches([batch]).cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, read_back())


def _connection(table: ibis.Table, con: BaseBackend | None) -> BaseBackend:
    """The table's own connection, else ``con``, else clv's DuckDB."""
    bound = engine_of(table)
    if bound is not None:
        return bound
    if con is not None:
        return con
    from clv.engine import default_connection

    return default_connection()


# --------------------------------------------------------------------------- reading


def register_arrow(arrow: pa.Table, con: BaseBackend) -> ibis.Table:
    """An Arrow table as a table on ``con``: zero-copy on DuckDB, uploaded elsewhere."""
    name = temp_name("frame")
    if con.name == DUCKDB:
        con.con.register(name, arrow)
        return con.table(name)
    return con.create_table(name, arrow, temp=True)


def number_rows(table: ibis.Table, column: str) -> ibis.Table:
    """``table`` with ``column`` = its row's position, 1-based, first, in the table's scan order.

    DuckDB: insertion order of its tables.
    """
    numbered = table.mutate(**{column: ibis.row_number() + 1})
    return numbered.select(column, *table.columns)


# --------------------------------------------------------------------------- BigQuery and Snowflake
# Compiled in tests (tests/test_engine_warehouse_sql.py), never run here: no server
# is reachable. On BigQuery a text date that does not match an explicit format fails
# the query (PARSE_DATETIME has no NULL-returning form Ibis can emit) instead of
# becoming a reject; Snowflake's TRY_TO_TIMESTAMP_NTZ gives NULL as everywhere else.


@ibis.udf.scalar.builtin(name="parse_datetime")
def _bigquery_parse_datetime(fmt: str, text: str) -> dt.Timestamp():
    """BigQuery ``PARSE_DATETIME(format, text)``: strptime-style directives, a naive DATETIME."""


@ibis.udf.scalar.builtin(name="datetime")
def _bigquery_datetime(ts: dt.Timestamp(timezone="UTC"), zone: str) -> dt.Timestamp():
    """BigQuery ``DATETIME(timestamp, zone)``: the wall-clock time in ``zone``."""


@ibis.udf.scalar.builtin(name="try_to_timestamp_ntz")
def _snowflake_try_timestamp(text: str, fmt: str) -> dt.Timestamp():
    """Snowflake ``TRY_TO_TIMESTAMP_NTZ(text, format)``: NULL on a bad date."""


@ibis.udf.scalar.builtin(name="convert_timezone")
def _snowflake_convert_timezone(source: str, zone: str, ts: dt.Timestamp()) -> dt.Timestamp():
    """Snowflake ``CONVERT_TIMEZONE(source_zone, target_zone, ntz)``: the wall-clock time in ``zone``."""


def _warehouse_parse_timestamp(name: str, text: ibis.Value, strptime_format: str) -> ibis.Value:
    if name == BIGQUERY:
        return _bigquery_parse_datetime(strptime_format, text)
    from sqlglot import time as sqlglot_time
    from sqlglot.dialects.snowflake import Snowflake

    return _snowflake_try_timestamp(text, sqlglot_time.format_time(strptime_format, Snowflake.INVERSE_TIME_MAPPING))


def _warehouse_local_time(name: str, aware: ibis.Value, zone: str) -> ibis.Value:
    if name == BIGQUERY:
        return _bigquery_datetime(aware, zone)
    return _snowflake_convert_timezone("UTC", zone, aware.cast(dt.Timestamp()))
