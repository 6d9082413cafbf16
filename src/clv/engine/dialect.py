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
    "arrow_batches", "arrow_table_writer", "save_spark_dataframe", "spark_dataframe", "write_local_csv", "write_local_parquet",
    "compiling_for", "contains", "require_supported", "direct_aggregate_bits", "materialise", "release", "engine_name", "engine_of", "ltrim_spaces", "not_finite", "number_rows", "once_per_row", "register_arrow",
    "row_hash", "sample", "is_aware_timestamp", "known_row_count", "read_parquet_numbered", "spark_datetime_pattern", "temp_name", "text_to_float", "text_to_timestamp", "trim_blank_set", "trim_blanks", "trim_spaces", "try_parse_timestamp",
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
    if engine_name(text) == SPARK:
        return _spark_trim(text)
    if engine_name(text) == POSTGRES:
        return _pg_btrim(text, " ")
    return _duckdb_trim(text) if engine_name(text) == DUCKDB else text.strip()


def trim_blank_set(text: ibis.Value, blanks: str) -> ibis.Value:
    """Leading and trailing characters of ``blanks`` removed."""
    if engine_name(text) == SPARK:
        return _spark_btrim(text, blanks)
    if engine_name(text) == POSTGRES:
        return _pg_btrim(text, blanks)
    return _duckdb_trim_chars(text, blanks) if engine_name(text) == DUCKDB else text.strip()


def trim_blanks(text: ibis.Value, blanks: str) -> ibis.Value:
    """Leading and trailing characters of ``blanks`` removed, cheapest form first.

    On DuckDB the one-argument TRIM (spaces only) is about three times cheaper
    than TRIM with a character set, so the full trim runs only on the rare
    values that contain another blank (tested with memchr-speed ``contains``).
    ``text`` should be a column, not an expression: DuckDB does not share
    repeated subexpressions.
    """
    if engine_name(text) == SPARK:
        return _spark_btrim(text, blanks)
    if engine_name(text) == POSTGRES:
        return _pg_btrim(text, blanks)
    if engine_name(text) != DUCKDB:
        return text.strip()
    others = [contains(text, ch) for ch in blanks if ch != " "]
    has_other_blank = others[0]
    for other in others[1:]:
        has_other_blank = has_other_blank | other
    return ibis.cases((has_other_blank, _duckdb_trim_chars(text, blanks)), else_=_duckdb_trim(text))


def ltrim_spaces(text: ibis.Value) -> ibis.Value:
    """Leading blanks removed (LTRIM is much cheaper than TRIM on DuckDB)."""
    if engine_name(text) == SPARK:
        return _spark_ltrim(text)
    if engine_name(text) == POSTGRES:
        return _pg_ltrim(text, " ")
    return _duckdb_ltrim(text) if engine_name(text) == DUCKDB else text.lstrip()


def contains(text: ibis.Value, part: str) -> ibis.Value:
    """True where ``text`` contains ``part`` (memchr-speed on DuckDB)."""
    return _duckdb_contains(text, part) if engine_name(text) == DUCKDB else text.contains(part)


def text_to_float(text: ibis.Value) -> ibis.Value:
    """Text read as a float, null when it is not a plain number (surrounding blanks allowed).

    DuckDB's cast ignores surrounding blanks and gives null for a blank text,
    like trimming first, at a fraction of the cost.
    """
    if engine_name(text) == POSTGRES:
        return _pg_try_float_of(text)
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
    if engine_name(text) == POSTGRES:
        return _pg_try_strptime(text, strptime_format)
    name = engine_name(text)
    if name == SPARK:
        return _spark_try_parse_timestamp(text, strptime_format)
    if name == DUCKDB:
        return _duckdb_try_strptime(text, strptime_format)
    if name in (BIGQUERY, SNOWFLAKE):
        return _warehouse_parse_timestamp(name, text, strptime_format)
    return text.as_timestamp(strptime_format)


def text_to_timestamp(text: ibis.Value, aware: bool = False) -> ibis.Value:
    """ISO 8601 text as a timestamp, null when it is not one (DuckDB's TRY_CAST rules).

    ``aware``: an aware (UTC) timestamp, the text's offset applied; otherwise
    naive, any offset ignored.
    """
    if engine_name(text) == POSTGRES:
        return _pg_try_iso_of(text, aware)
    return text.try_cast(dt.Timestamp(timezone="UTC") if aware else dt.Timestamp())


def is_aware_timestamp(value: ibis.Value) -> bool:
    """Whether a timestamp column holds instants (time-zone aware) rather than wall-clock times.

    Ibis types say so on DuckDB and PostgreSQL. On Spark both kinds have one
    Ibis type: ``TIMESTAMP`` is an instant, ``TIMESTAMP_NTZ`` a wall-clock time
    (the Spark schema tells them apart).
    """
    if engine_name(value) == SPARK and value.type().is_timestamp() and value.type().timezone is None:
        return _spark_is_instant(value)
    return value.type().is_timestamp() and value.type().timezone is not None


def to_local_time(aware: ibis.Value, zone: str) -> ibis.Value:
    """The naive wall-clock time in ``zone`` of an aware (UTC) timestamp."""
    if engine_name(aware) == POSTGRES:
        return _pg_timezone(zone, aware)
    name = engine_name(aware)
    if name == SPARK:
        return _spark_to_local_time(aware, zone)
    if name == DUCKDB:
        return _duckdb_timezone(zone, aware)
    if name in (BIGQUERY, SNOWFLAKE):
        return _warehouse_local_time(name, aware, zone)
    return aware.cast(dt.Timestamp())


def epoch_to_local_time(seconds: ibis.Value, zone: str, in_range: ibis.Value) -> ibis.Value:
    """Seconds since 1970-01-01 UTC as a naive time in ``zone``; null where not ``in_range``."""
    if engine_name(seconds) == SPARK:
        return _spark_epoch_to_local_time(seconds, zone, in_range)
    if engine_name(seconds) == POSTGRES:
        return _pg_epoch_to_local_time(seconds, zone, in_range)
    if engine_name(seconds) != DUCKDB:
        return ibis.cases((in_range, seconds.cast(dt.int64).as_timestamp("s")), else_=ibis.null(dt.Timestamp()))
    aware = ibis.cases((in_range, _duckdb_epoch_to_timestamp(seconds)), else_=ibis.null(dt.Timestamp(timezone="UTC")))
    return _duckdb_timezone(zone, aware)


# --------------------------------------------------------------------------- aggregates and hashes


def value_at_min(value: ibis.Value, key: ibis.Value) -> ibis.Value:
    """``value`` on the row with the smallest non-null ``key`` (per group), fastest form the engine has."""
    if engine_name(value) == SPARK:
        return _spark_min_by(value, key)
    if engine_name(value) == DUCKDB:
        return _duckdb_arg_min(value, key)  # skips rows whose key is null
    return value.argmin(key, where=key.notnull())


def row_hash(columns: Sequence[ibis.Value]) -> ibis.Value | None:
    """One integer per row that is equal for equal values of ``columns`` (nulls equal).

    None where the engine has no such hash: the caller then compares the
    values themselves.
    """
    if engine_name(columns[0]) == SPARK:
        return _spark_row_hash(columns)
    if engine_name(columns[0]) == POSTGRES:
        # hashtextextended over the row as text works, but PostgreSQL misjudges the join of the
        # lines to their repeated hashes (millions of rows for hundreds) and then scans the copies
        # once per line: 8.7-10.5 s at 100k lines against 4.1-5.5 s for the exact window alone.
        return None
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
    if con.name == SPARK:
        return _spark_register_arrow(arrow, con)
    name = temp_name("frame")
    if con.name == DUCKDB:
        con.con.register(name, arrow)
        return con.table(name)
    if con.name == POSTGRES:
        return _pg_upload(arrow, con, name)
    return con.create_table(name, arrow, temp=True)


def sample(table: ibis.Table, fraction: float, seed: int, row_column: str) -> ibis.Table:
    """A repeatable sample of about ``fraction`` of the rows: a block sample.

    PostgreSQL's TABLESAMPLE takes no seed on a derived table (Ibis refuses
    it): there every k-th row by ``row_column`` (a line number), k = 1 / fraction.
    """
    if engine_name(table) == POSTGRES:
        return _pg_sample(table, fraction, row_column)
    if engine_name(table) == SPARK:
        return _spark_sample(table, fraction, seed)
    return table.sample(fraction, method="block", seed=seed)


def once_per_row(table: ibis.Table) -> ibis.Table:
    """``table`` with its columns computed once per row, however often later steps read them.

    PostgreSQL flattens a subquery into the query around it and then evaluates
    a computed column (a parsed date) again at every reference: it has no
    common subexpressions. A LIMIT it cannot reach keeps the subquery whole.
    Other engines: ``table`` itself.
    """
    if engine_name(table) == POSTGRES:
        return table.limit(2**62)
    return table


def number_rows(table: ibis.Table, column: str) -> ibis.Table:
    """``table`` with ``column`` = its row's position, 1-based, first, in the table's scan order.

    DuckDB: insertion order of its tables. Spark: partition order, then the
    order within each partition (a file's order for one file read by Spark),
    numbered without a global ordering and materialised once.
    """
    if engine_name(table) == SPARK:
        return _spark_number_rows(table, column)
    numbered = table.mutate(**{column: ibis.row_number() + 1})
    return numbered.select(column, *table.columns)


def known_row_count(table: ibis.Table) -> int | None:
    """The rows of ``table`` when the engine already counted them (Spark: a table numbered by :func:`number_rows`), else None."""
    if engine_name(table) == SPARK:
        return _spark_known_row_count(table)
    return None


def read_parquet_numbered(con: BaseBackend, files: Sequence[str], counts: Sequence[int], column: str) -> ibis.Table | None:
    """Parquet files as one table on ``con`` with ``column`` = line number, first; None where clv reads them itself.

    The number is the rows of earlier files + the row's index in its file + 1
    (the files' order, no global ordering). Spark: its Parquet reader's
    ``_metadata.row_index``. DuckDB: None (clv.data.sources reads them with
    ``read_parquet(file_row_number)``).
    """
    if con.name == SPARK:
        return _spark_read_parquet_numbered(con, files, counts, column)
    return None


# --------------------------------------------------------------------------- Arrow batches out and back in


class ArrowTableWriter:
    """Writes Arrow tables into one table of a connection, batch after batch (:func:`arrow_table_writer`)."""

    def __init__(self, con: BaseBackend, name: str, overwrite: bool):
        self.con, self.name, self.overwrite, self.rows = con, name, overwrite, 0
        # DuckDB: a cursor (a second connection to the same database), because the connection itself is
        # busy streaming the rows being scored (arrow_batches) and a new statement would end that stream.
        self._cursor = con.con.cursor() if con.name == DUCKDB else None

    def write(self, arrow: pa.Table) -> None:
        """Create the table from the first batch (replacing it when ``overwrite``), append the later ones."""
        first = self.rows == 0
        if self._cursor is not None:
            view = temp_name("batch")
            self._cursor.register(view, arrow)
            try:
                head = (f'CREATE {"OR REPLACE " if self.overwrite else ""}TABLE "{self.name}" AS' if first
                        else f'INSERT INTO "{self.name}"')
                self._cursor.execute(f'{head} SELECT * FROM "{view}"')
            finally:
                self._cursor.unregister(view)
        elif first:
            if self.overwrite:  # Ibis 12's create_table(overwrite=True) emits a DROP without the name on PostgreSQL
                self.con.raw_sql(f'DROP TABLE IF EXISTS "{self.name}"')
            self.con.create_table(self.name, arrow)
        else:
            self.con.insert(self.name, arrow)
        self.rows += arrow.num_rows

    def close(self) -> ibis.Table:
        """The written table, as an Ibis table of the connection."""
        if self._cursor is not None:
            self._cursor.close()
        return self.con.table(self.name)


def arrow_table_writer(con: BaseBackend, name: str, *, overwrite: bool = False) -> ArrowTableWriter:
    """A writer of Arrow batches into table ``name`` on ``con`` (DuckDB, PostgreSQL, any SQL backend)."""
    return ArrowTableWriter(con, name, overwrite)


def spark_dataframe(table: ibis.Table):
    """The Spark DataFrame of an Ibis expression on the PySpark backend (nothing is computed)."""
    con = engine_of(table)
    con._run_pre_execute_hooks(table)  # registers in-memory tables as temporary views
    return con._session.sql(con.compile(table))


def save_spark_dataframe(con: BaseBackend, frame, name: str | None, *, overwrite: bool = False) -> ibis.Table:
    """A Spark DataFrame as a table of ``con``: saved as table ``name``, or (None) persisted as a temporary view."""
    if name is None:
        name = temp_name("scores")
        frame.persist().createOrReplaceTempView(name)
    else:
        frame.write.saveAsTable(name, mode="overwrite" if overwrite else "errorifexists")
    return con.table(name)


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


# --------------------------------------------------------------------------- PostgreSQL
#
# PostgreSQL has no TRY_CAST and no try_strptime: its casts raise on bad text.
# The parsers below give NULL instead, with DuckDB's rules (tested value by
# value against DuckDB in tests/engines/test_postgres_parsing.py): the text's
# shape is checked, the fields by their calendar ranges, and only then is a
# value built. They are functions created once per session in ``pg_temp``: an
# inlined SQL function reads the common full-width forms by position (LIKE and
# translate, a tenth of the cost of a regular expression), a PL/pgSQL function
# the rest (regular expressions). Measured at 100k values (2 shared cores,
# loaded): full-width dates 0.35-0.5 s, other forms 1.1-1.6 s; a PL/pgSQL
# to_timestamp inside an EXCEPTION block is faster (0.11-0.25 s) but not
# exact: it reads '69' as 2069 (DuckDB: 1969), ignores trailing text
# ('2011-01-05x') and takes any separator ('2011/01/05' for %Y-%m-%d).

_PG_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december")
_PG_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Naive timestamp from its fields, NULL unless they form a valid date and time (DuckDB's ranges;
# year 0 is 1 BC, which make_timestamp calls -1; 24:00:00 is the next midnight).
_PG_MAKE_TIMESTAMP = """
CREATE OR REPLACE FUNCTION pg_temp.clv_make_timestamp(y int, mo int, d int, h int, mi int, s int, us int)
RETURNS timestamp LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN mo BETWEEN 1 AND 12 AND y BETWEEN 0 AND 294275
             AND d BETWEEN 1 AND CASE WHEN mo = 2 THEN 28 + (y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0))::int
                                      ELSE 30 + (mo + mo / 8) % 2 END
             AND mi BETWEEN 0 AND 59 AND s BETWEEN 0 AND 59 AND us BETWEEN 0 AND 999999
             AND (h BETWEEN 0 AND 23 OR (h = 24 AND mi = 0 AND s = 0 AND us = 0))
       THEN make_timestamp(CASE WHEN y = 0 THEN -1 ELSE y END, mo, d, h % 24, mi, s + us / 1e6::float8)
            + CASE WHEN h = 24 THEN interval '1 day' ELSE interval '0' END END
$$"""

# DuckDB's TRY_CAST(text AS DOUBLE): blanks around, '_' between digits, inf / infinity / nan;
# out of range: +-inf (overflow) or 0 (underflow).
_PG_TRY_FLOAT = r"""
CREATE OR REPLACE FUNCTION pg_temp.clv_try_float_any(t text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  s text := btrim(t, E' \t\n\r');
  n numeric;
BEGIN
  IF s ~ '^[+-]?[0-9]{1,15}(\.[0-9]{0,15})?$' THEN RETURN s::double precision; END IF;
  IF s ~* '^[+-]?(inf|infinity|nan)$' THEN RETURN ltrim(s, '+')::double precision; END IF;
  IF s !~ '^[+-]?([0-9]+(_[0-9]+)*(\.([0-9]+(_[0-9]+)*)?)?|\.[0-9]+(_[0-9]+)*)([eE][+-]?[0-9]+(_[0-9]+)*)?$' THEN
    RETURN NULL;
  END IF;
  n := replace(s, '_', '')::numeric;
  IF abs(n) > 1.7976931348623157e308 THEN RETURN sign(n) * 'Infinity'::double precision; END IF;
  IF n <> 0 AND abs(n) < 2.5e-324 THEN RETURN 0; END IF;
  RETURN n::double precision;
END $$"""

# Plain decimals (up to 15 characters, a leading '-', one '.', a digit) are recognised by C string
# functions and cast in place, in an inlined SQL function; other text goes to the PL/pgSQL one.
_PG_TRY_FLOAT_FAST = r"""
CREATE OR REPLACE FUNCTION pg_temp.clv_try_float(t text) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
  WHEN length(t) BETWEEN 1 AND 15 AND translate(t, '0123456789', '') IN ('', '.', '-', '-.')
       AND strpos(t, '-') <= 1 AND translate(t, '-.', '') <> '' THEN t::double precision
  ELSE pg_temp.clv_try_float_any(t) END
$$"""

# DuckDB's TRY_CAST(text AS TIMESTAMP / TIMESTAMPTZ) for ISO text: date with '-' or '/', optional
# time (T or space), fraction truncated to microseconds, optional offset Z / +hh / +hhmm / +hh:mm
# (ignored by the naive cast, applied by the aware one); 'epoch', 'infinity', '-infinity'.
_PG_ISO = r"""
CREATE OR REPLACE FUNCTION pg_temp.clv_try_iso_any(t text, aware boolean) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  u text; day_part text; time_part text; offset_text text; seconds text; p int; ts timestamp;
BEGIN
  IF lower(btrim(t)) IN ('epoch', 'infinity', '-infinity') THEN RETURN lower(btrim(t))::timestamp; END IF;
  IF t !~ '^[0-9]{1,6}(?:-[0-9]{1,2}-|/[0-9]{1,2}/)[0-9]{1,2}(?:[T ][0-9]{1,2}:[0-9]{1,2}(?::[0-9]{1,2}(?:\.[0-9]*)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$' THEN
    RETURN NULL;
  END IF;
  u := translate(t, 'T/', ' -');
  day_part := split_part(u, ' ', 1);
  time_part := split_part(u, ' ', 2);
  p := greatest(strpos(time_part, '+'), strpos(time_part, '-'), strpos(time_part, 'Z'));
  IF p > 0 THEN
    offset_text := replace(substr(time_part, p), ':', '');
    time_part := left(time_part, p - 1);
  END IF;
  seconds := split_part(time_part, ':', 3);
  ts := pg_temp.clv_make_timestamp(split_part(day_part, '-', 1)::int, split_part(day_part, '-', 2)::int,
                                   split_part(day_part, '-', 3)::int, coalesce(nullif(split_part(time_part, ':', 1), ''), '0')::int,
                                   coalesce(nullif(split_part(time_part, ':', 2), ''), '0')::int,
                                   coalesce(nullif(split_part(seconds, '.', 1), ''), '0')::int,
                                   rpad(left(split_part(seconds, '.', 2), 6), 6, '0')::int);
  IF NOT aware OR offset_text IS NULL OR offset_text = 'Z' THEN RETURN ts; END IF;
  RETURN ts - (left(offset_text, 1) || '1')::int * make_interval(hours => substr(offset_text, 2, 2)::int,
                                                                 mins => coalesce(nullif(substr(offset_text, 4, 2), ''), '0')::int);
END $$"""

# The common full-width forms read by position: LIKE and translate cost a tenth of a regular expression.
_PG_ISO_FAST = r"""
CREATE OR REPLACE FUNCTION pg_temp.clv_try_iso(t text, aware boolean) RETURNS timestamp
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
  WHEN t LIKE '____-__-__' AND translate(t, '0123456789', '') = '--'
    THEN pg_temp.clv_make_timestamp(substr(t, 1, 4)::int, substr(t, 6, 2)::int, substr(t, 9, 2)::int, 0, 0, 0, 0)
  WHEN t LIKE '____-__-__%__:__:__' AND translate(t, '0123456789', '') IN ('-- ::', '--T::')
    THEN pg_temp.clv_make_timestamp(substr(t, 1, 4)::int, substr(t, 6, 2)::int, substr(t, 9, 2)::int,
                                    substr(t, 12, 2)::int, substr(t, 15, 2)::int, substr(t, 18, 2)::int, 0)
  ELSE pg_temp.clv_try_iso_any(t, aware) END
$$"""


def _pg_prepare(con: BaseBackend, name: str, *definitions: str) -> None:
    """Create ``pg_temp`` functions once per connection (a session's temporary schema)."""
    made = con.__dict__.setdefault("_clv_pg_temp_functions", set())
    if name in made:
        return
    for definition in definitions:
        con.raw_sql(definition).close()
    made.add(name)


@ibis.udf.scalar.builtin(name="clv_try_float", database="pg_temp")
def _pg_try_float(text: str) -> float:
    """``pg_temp.clv_try_float``: DuckDB's TRY_CAST(text AS DOUBLE)."""


@ibis.udf.scalar.builtin(name="clv_try_iso", database="pg_temp")
def _pg_try_iso(text: str, aware: bool) -> dt.Timestamp():
    """``pg_temp.clv_try_iso``: DuckDB's TRY_CAST of ISO text; aware: the offset applied (UTC)."""


@ibis.udf.scalar.builtin(name="btrim")
def _pg_btrim(value: str, characters: str) -> str:
    """PostgreSQL's BTRIM of a set of characters."""


@ibis.udf.scalar.builtin(name="ltrim")
def _pg_ltrim(value: str, characters: str) -> str:
    """PostgreSQL's LTRIM of a set of characters."""


@ibis.udf.scalar.builtin(name="strpos")
def _pg_strpos(value: str, part: str) -> int:
    """PostgreSQL's STRPOS (1-based position, 0 when absent)."""


@ibis.udf.scalar.builtin(name="timezone")
def _pg_timezone(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():
    """PostgreSQL ``timezone(zone, timestamptz)`` (``AT TIME ZONE``): the wall-clock time in ``zone``."""


@ibis.udf.scalar.builtin(name="timezone")
def _pg_utc_instant(zone: str, ts: dt.Timestamp()) -> dt.Timestamp(timezone="UTC"):
    """PostgreSQL ``timezone(zone, timestamp)``: the instant of a wall-clock time in ``zone``."""


@ibis.udf.scalar.builtin(name="to_timestamp")
def _pg_epoch_to_timestamp(seconds: float) -> dt.Timestamp(timezone="UTC"):
    """PostgreSQL ``to_timestamp(seconds)``: an aware timestamp."""


def _pg_con(value: ibis.Expr) -> BaseBackend:
    con = engine_of(value)
    if con is None:
        raise ValueError("a PostgreSQL expression without its connection")
    return con


def _pg_try_float_of(text: ibis.Value) -> ibis.Value:
    _pg_prepare(_pg_con(text), "float", _PG_TRY_FLOAT, _PG_TRY_FLOAT_FAST)
    return _pg_try_float(text)


def _pg_try_iso_of(text: ibis.Value, aware: bool) -> ibis.Value:
    _pg_prepare(_pg_con(text), "iso", _PG_MAKE_TIMESTAMP, _PG_ISO, _PG_ISO_FAST)
    parsed = _pg_try_iso(text, aware)
    return _pg_utc_instant("UTC", parsed) if aware else parsed


def _pg_try_strptime(text: ibis.Value, strptime_format: str) -> ibis.Value:
    """DuckDB's try_strptime on PostgreSQL: one ``pg_temp`` function per format (see :func:`pg_strptime_function`)."""
    try:
        name, definitions = pg_strptime_function(strptime_format)
    except NotImplementedError as exc:
        from clv.errors import DataError

        raise DataError(
            f"LoadPolicy(date_format={strptime_format!r}) uses {exc}, which clv does not read on PostgreSQL "
            "(it reads %Y %m %d %H %M %S %f %y %b %B %I %p %a %A there); fix: load the file or frame on DuckDB, "
            "or convert the column to a timestamp in the database first."
        ) from None
    _pg_prepare(_pg_con(text), name, _PG_MAKE_TIMESTAMP, *definitions)
    def parse(text):
        """The pg_temp function of this format."""

    return ibis.udf.scalar.builtin(parse, name=name, database="pg_temp",
                                   signature=((dt.string,), dt.Timestamp()))(text)


_PG_NUMERIC = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2, "I": 2, "y": 2}
_PG_FIELD_OF = {"Y": "y", "m": "mo", "d": "d", "H": "h", "M": "mi", "S": "s", "I": "h12", "y": "y2",
                "f": "us", "b": "mo_abbr", "B": "mo_name", "p": "pm", "a": None, "A": None}


def pg_strptime_function(strptime_format: str) -> tuple[str, list[str]]:
    """(name, CREATE statements) of a PostgreSQL function reading text with ``strptime_format`` like DuckDB.

    DuckDB's rules: blanks around the text are ignored and a blank in the
    format matches one or more; a number reads up to its width greedily (4
    digits for %Y, 2 for %m %d %H %M %S %I %y, 1-6 for %f), never giving
    digits back; month and day names are case-insensitive; %y < 69 is 20yy;
    the date must exist. Directives: %Y %m %d %H %M %S %f %y %b %B %I %p %a %A
    %% (with or without '-'); others raise NotImplementedError.

    Capturing groups cost PostgreSQL about 10 us a value, LIKE and translate a
    tenth of a plain match: text written at full width ("20110105",
    "05/01/2011 10:30") is recognised by those and read by position, in an
    inlined SQL function; other text goes to the PL/pgSQL one.
    """
    pattern, fields = _pg_strptime_pattern(strptime_format)
    name = "clv_strptime_" + uuid.uuid5(uuid.NAMESPACE_OID, strptime_format).hex[:16]
    groups = {field: f"g[{i}]" for i, field in enumerate(fields, start=1) if field is not None}
    general = f"""
CREATE OR REPLACE FUNCTION pg_temp.{name}_any(t text) RETURNS timestamp LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE g text[] := regexp_match(t, '{pattern}');
BEGIN
  IF g IS NULL THEN RETURN NULL; END IF;
  RETURN {_pg_timestamp_of_fields(groups)};
END $$"""
    fixed = _pg_fixed_width(strptime_format)
    if fixed is None:
        wrapper = f"SELECT pg_temp.{name}_any(t)"
    else:
        like, separators, positions = fixed
        by_position = {field: f"substr(t, {start}, {width})" for field, (start, width) in positions.items()}
        wrapper = (f"SELECT CASE WHEN t LIKE '{like}' AND translate(t, '0123456789', '') = '{separators}' "
                   f"THEN {_pg_timestamp_of_fields(by_position)} ELSE pg_temp.{name}_any(t) END")
    fast = f"""
CREATE OR REPLACE FUNCTION pg_temp.{name}(t text) RETURNS timestamp LANGUAGE sql IMMUTABLE AS $$
{wrapper}
$$"""
    return name, [general, fast]


def _pg_timestamp_of_fields(text_of: dict[str, str]) -> str:
    """SQL of ``clv_make_timestamp`` over the text of each field (missing fields: DuckDB's defaults)."""

    def number(field: str, default: str) -> str:
        return f"{text_of[field]}::int" if field in text_of else default

    year = number("y", "1900")
    if "y2" in text_of:
        year = f"(CASE WHEN {text_of['y2']}::int < 69 THEN 2000 ELSE 1900 END + {text_of['y2']}::int)"
    month = number("mo", "1")
    if "mo_abbr" in text_of:
        abbreviations = ", ".join(f"'{m[:3]}'" for m in _PG_MONTHS)
        month = f"array_position(ARRAY[{abbreviations}], lower({text_of['mo_abbr']}))"
    if "mo_name" in text_of:
        names = ", ".join(f"'{m}'" for m in _PG_MONTHS)
        month = f"array_position(ARRAY[{names}], lower({text_of['mo_name']}))"
    hour = f"(CASE WHEN {text_of['h']}::int < 24 THEN {text_of['h']}::int ELSE -1 END)" if "h" in text_of else "0"
    if "h12" in text_of:
        pm = f"(lower({text_of['pm']}) = 'pm')::int * 12" if "pm" in text_of else "0"
        hour = f"(CASE WHEN {text_of['h12']}::int BETWEEN 1 AND 12 THEN {text_of['h12']}::int % 12 + {pm} ELSE -1 END)"
    micros = f"rpad({text_of['us']}, 6, '0')::int" if "us" in text_of else "0"
    return (f"pg_temp.clv_make_timestamp({year}, {month}, {number('d', '1')}, {hour}, {number('mi', '0')}, "
            f"{number('s', '0')}, {micros})")


def _pg_fixed_width(strptime_format: str) -> tuple[str, str, dict[str, tuple[int, int]]] | None:
    """(LIKE pattern, the text's non-digits, field -> (start, width)) of the format's text at full width.

    None when the format has a name, %f or a digit or LIKE wildcard of its own.
    """
    like, separators, positions, position, i = [], [], {}, 1, 0
    while i < len(strptime_format):
        char = strptime_format[i]
        i += 1
        if char == "%":
            if strptime_format[i:i + 1] == "-":
                i += 1
            char, i = strptime_format[i:i + 1], i + 1
            if char != "%":
                if char not in _PG_NUMERIC:
                    return None
                width = _PG_NUMERIC[char]
                like.append("_" * width)
                positions[_PG_FIELD_OF[char]] = (position, width)
                position += width
                continue
        if char.isdigit() or char in "%_\\'":
            return None
        like.append(char)
        separators.append(char)
        position += 1
    return "".join(like), "".join(separators), positions


def _pg_strptime_pattern(strptime_format: str) -> tuple[str, list[str | None]]:
    """The anchored regular expression of a strptime format and the field each group holds."""
    parts, fields, i = ["^\\s*"], [], 0
    while i < len(strptime_format):
        char = strptime_format[i]
        if char != "%":
            parts.append("\\s+" if char.isspace() else _pg_literal(char))
            i += 1
            continue
        i += 1
        if strptime_format[i:i + 1] == "-":
            i += 1
        directive = strptime_format[i:i + 1]
        i += 1
        if directive == "%":
            parts.append("%")
            continue
        if directive not in _PG_FIELD_OF:
            raise NotImplementedError(f"%{directive}")
        parts.append(_pg_directive_pattern(directive))
        fields.append(_PG_FIELD_OF[directive])
    parts.append("\\s*$")
    return "".join(parts), fields


def _pg_directive_pattern(directive: str) -> str:
    """One capturing group: a greedy number that never gives digits back, or a name."""
    if directive in _PG_NUMERIC:
        width = _PG_NUMERIC[directive]
        return f"([0-9]{{{width}}}|[0-9]{{1,{width - 1}}}(?![0-9]))"
    if directive == "f":
        return "([0-9]{1,6})(?![0-9])"
    if directive == "p":
        return "(" + _pg_any_case("am") + "|" + _pg_any_case("pm") + ")"
    names = _PG_MONTHS if directive in "bB" else _PG_DAYS
    return "(" + "|".join(_pg_any_case(n[:3] if directive in "ba" else n) for n in names) + ")"


def _pg_any_case(word: str) -> str:
    """A word matched in any case (``[Jj][Aa][Nn]``): literal format characters stay case-sensitive."""
    return "".join(f"[{c.upper()}{c}]" for c in word)


def _pg_literal(char: str) -> str:
    """A format character matched literally (quoted for a regular expression inside a SQL string)."""
    if char == "'":
        return "''"
    return "\\" + char if not char.isalnum() else char


def _pg_epoch_to_local_time(seconds: ibis.Value, zone: str, in_range: ibis.Value) -> ibis.Value:
    aware = ibis.cases((in_range, _pg_epoch_to_timestamp(seconds)), else_=ibis.null(dt.Timestamp(timezone="UTC")))
    return _pg_timezone(zone, aware)


def _pg_sample(table: ibis.Table, fraction: float, row_column: str) -> ibis.Table:
    every = max(int(round(1.0 / fraction)), 1) if fraction > 0 else 1
    return table if every == 1 else table.filter(table[row_column] % every == 0)


def _pg_upload(arrow: pa.Table, con: BaseBackend, name: str) -> ibis.Table:
    """An Arrow table as a temporary PostgreSQL table, sent by COPY, with statistics.

    Ibis sends one INSERT per row (about 10 s for 100k rows); COPY sends them
    in one stream (psycopg writes each value in PostgreSQL's text form: floats
    exactly, NaN and infinities included). ANALYZE gives the planner the row count.
    """
    table = con.create_table(name, schema=ibis.Schema.from_pyarrow(arrow.schema), temp=True)
    columns = ", ".join('"' + column.replace('"', '""') + '"' for column in arrow.column_names)
    values = [arrow.column(i).to_pylist() for i in range(arrow.num_columns)]
    with con.con.cursor() as cursor:
        with cursor.copy(f'COPY "{name}" ({columns}) FROM STDIN') as copy:
            for row in zip(*values):
                copy.write_row(row)
        cursor.execute(f'ANALYZE "{name}"')
    return table


# --------------------------------------------------------------------------- Spark
#
# Spark SQL (PySpark 4, ANSI mode on, session time zone UTC: :mod:`clv.engine.spark`).
# Spark's TIMESTAMP is an instant shown in the session zone; with the session in
# UTC its wall-clock reading is the naive UTC time, as on DuckDB.

_SPARK_ROW_BITS = 33  # monotonically_increasing_id(): partition index << 33 | row in partition
_SPARK_ROW_COUNTS: dict[str, int] = {}  # temp view made by number_rows -> its row count


@ibis.udf.scalar.builtin(name="try_to_timestamp")
def _spark_try_to_timestamp(text: str, pattern: str) -> dt.Timestamp():
    """Spark ``try_to_timestamp(text, javaPattern)``: NULL on a bad date, even in ANSI mode."""


@ibis.udf.scalar.builtin(name="from_utc_timestamp")
def _spark_from_utc(ts: dt.Timestamp(), zone: str) -> dt.Timestamp():
    """Spark ``from_utc_timestamp``: the wall-clock time in ``zone`` of a UTC instant."""


@ibis.udf.scalar.builtin(name="timestamp_seconds")
def _spark_timestamp_seconds(seconds: float) -> dt.Timestamp():
    """Spark ``timestamp_seconds``: seconds since 1970 UTC (fractions kept to the microsecond)."""


@ibis.udf.scalar.builtin(name="add_months")
def _spark_add_months(ts: dt.Timestamp(), months: int) -> dt.Date():
    """Spark ``add_months`` (a date)."""


@ibis.udf.scalar.builtin(name="regexp_replace")
def _spark_regexp_replace(text: str, pattern: str, replacement: str) -> str:
    """Spark ``regexp_replace`` (Java regular expressions)."""


@ibis.udf.scalar.builtin(name="trim")
def _spark_trim(value: str) -> str:
    """Spark's one-argument TRIM (spaces only, as DuckDB's)."""


@ibis.udf.scalar.builtin(name="ltrim")
def _spark_ltrim(value: str) -> str:
    """Spark's one-argument LTRIM (leading spaces)."""


@ibis.udf.scalar.builtin(name="btrim")
def _spark_btrim(value: str, characters: str) -> str:
    """Spark ``btrim(text, chars)``: the characters of ``chars`` removed from both ends."""


@ibis.udf.agg.builtin(name="min_by")
def _spark_min_by(arg: float, key: int) -> float:
    """Spark ``min_by(value, key)``: the value at the smallest key (rows with a null key skipped)."""


@ibis.udf.scalar.builtin(name="rand")
def _spark_rand(seed: int) -> float:
    """Spark ``rand(seed)``: uniform in [0, 1), repeatable for a given partitioning."""


def _spark_xxhash64(types: list[dt.DataType]):
    """Spark's variadic ``xxhash64(v1, ..., vN)`` as an Ibis builtin UDF for these types."""

    def row_hash(*values):
        """Spark ``xxhash64``: equal values hash equal (0.0 and -0.0, NaNs too); nulls are skipped."""

    row_hash.__signature__ = inspect.Signature(
        [inspect.Parameter(f"v{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(types))]
    )
    return ibis.udf.scalar.builtin(row_hash, name="xxhash64", signature=(tuple(types), dt.int64))


# strptime directive -> Java DateTimeFormatter letters: (fixed width, flexible width).
# Numbers are read with a flexible width ("1/5/2021" for %m/%d/%Y, as DuckDB does)
# unless another number touches them with no separator ("%Y%m%d"): then at fixed width.
_JAVA_FIELDS = {
    "Y": ("yyyy", "y"), "y": ("yy", "yy"), "m": ("MM", "M"), "d": ("dd", "d"),
    "H": ("HH", "H"), "I": ("hh", "h"), "M": ("mm", "m"), "S": ("ss", "s"),
    "f": ("SSSSSS", "SSSSSS"), "g": ("SSS", "SSS"), "n": ("SSSSSSSSS", "SSSSSSSSS"),
    "j": ("DDD", "D"), "p": ("a", "a"), "b": ("MMM", "MMM"), "B": ("MMMM", "MMMM"),
    "z": ("Z", "Z"), "Z": ("z", "z"),
}
_NUMERIC_DIRECTIVES = set("YymdHIMSfgnj")
_STRPTIME_SHORTHANDS = {"c": "%Y-%m-%d %H:%M:%S", "x": "%Y-%m-%d", "X": "%H:%M:%S"}
_WEEKDAY_NAMES = r"(?i)(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)"


def _strptime_tokens(strptime_format: str) -> list[tuple[str, str]]:
    """The format as ("%", directive) and ("text", literal) tokens, shorthands expanded."""
    import re

    tokens: list[tuple[str, str]] = []
    for literal, directive in re.findall(r"([^%]+)|%-?(.)", strptime_format):
        if literal:
            tokens.append(("text", literal))
        elif directive in _STRPTIME_SHORTHANDS:
            tokens += _strptime_tokens(_STRPTIME_SHORTHANDS[directive])
        elif directive == "%":
            tokens.append(("text", "%"))
        else:
            tokens.append(("%", directive))
    return tokens


def spark_datetime_pattern(strptime_format: str) -> str:
    """The Java DateTimeFormatter pattern Spark's ``try_to_timestamp`` reads like ``strptime_format``.

    Weekday names (``%a``, ``%A``) are not a parsing field on Spark: the caller
    removes them from the text first (see :func:`_spark_try_parse_timestamp`).
    ``%w``, ``%U`` and ``%W`` (weekday and week numbers) have no Spark form.

    Raises
    ------
    DataError
        For a directive Spark cannot read, naming the fix.
    """
    from clv.errors import DataError

    tokens = [t for t in _strptime_tokens(strptime_format) if t != ("%", "a") and t != ("%", "A")]
    pattern = []
    for i, (kind, value) in enumerate(tokens):
        if kind == "text":
            pattern.append("'" + value.replace("'", "''") + "'")
            continue
        if value not in _JAVA_FIELDS:
            raise DataError(
                f"LoadPolicy(date_format={strptime_format!r}): '%{value}' cannot be read on Spark; fix: "
                "use a format without weekday or week numbers (%w %U %W), e.g. '%Y-%m-%d'."
            )
        neighbours = [tokens[j] for j in (i - 1, i + 1) if 0 <= j < len(tokens)]
        adjacent = value in _NUMERIC_DIRECTIVES and any(k == "%" and v in _NUMERIC_DIRECTIVES for k, v in neighbours)
        fixed, flexible = _JAVA_FIELDS[value]
        pattern.append(fixed if adjacent else flexible)
    return "".join(pattern)


def _spark_try_parse_timestamp(text: ibis.Value, strptime_format: str) -> ibis.Value:
    """``try_to_timestamp`` with the format translated; DuckDB's reading of blanks, weekdays and %y.

    DuckDB's strptime lets a run of blanks in the format match any run of
    blanks, ignores the weekday name's value, and reads ``%y`` 69-99 as 19xx
    and 00-68 as 20xx (Java: always 20xx); the same is done here.
    """
    import re

    fmt = strptime_format
    if re.search(r"%-?[aA]", fmt):
        text = _spark_regexp_replace(text, _WEEKDAY_NAMES, "")
        fmt = re.sub(r"%-?[aA]", "", fmt)
    if re.search(r"\s", fmt):
        text = _spark_regexp_replace(text, r"\s+", " ")
        fmt = re.sub(r"\s+", " ", fmt)
    parsed = _spark_try_to_timestamp(text, spark_datetime_pattern(fmt))
    if re.search(r"%-?y", fmt):
        return ibis.cases((parsed.year() >= 2069, parsed - ibis.interval(years=100)), else_=parsed)
    return parsed


def _spark_is_instant(value: ibis.Value) -> bool:
    """A column of Spark type ``TIMESTAMP`` (an instant), not ``TIMESTAMP_NTZ``."""
    from pyspark.sql import types as T

    op = value.op()
    if not hasattr(op, "rel"):
        return False
    frame, _ = _spark_frame(op.rel.to_expr())
    return type(frame.schema[op.name].dataType) is T.TimestampType


def _spark_to_local_time(aware: ibis.Value, zone: str) -> ibis.Value:
    """``from_utc_timestamp``: Spark timestamps are instants (the session is UTC)."""
    return _spark_from_utc(aware, zone)


def _spark_epoch_to_local_time(seconds: ibis.Value, zone: str, in_range: ibis.Value) -> ibis.Value:
    """``timestamp_seconds`` then ``from_utc_timestamp``, only on values ``in_range`` (no ANSI overflow)."""
    instant = ibis.cases((in_range, _spark_timestamp_seconds(seconds)), else_=ibis.null(dt.Timestamp()))
    return _spark_from_utc(instant, zone)


def _spark_row_hash(columns: Sequence[ibis.Value]) -> ibis.Value:
    """``xxhash64`` of the columns (a null is skipped: collisions only add candidates)."""
    return _spark_xxhash64([c.type() for c in columns])(*columns)


def _spark_session(con: BaseBackend):
    return con._session  # noqa: SLF001 - Ibis' PySpark backend keeps its session here


def _spark_frame(table: ibis.Table):
    """The Spark DataFrame of an Ibis table on a PySpark connection."""
    con = engine_of(table)
    return _spark_session(con).sql(con.compile(table)), con


def _spark_register_arrow(arrow: pa.Table, con: BaseBackend) -> ibis.Table:
    """An Arrow table uploaded as a Spark DataFrame, registered as a temporary view.

    Aware timestamps become Spark ``TIMESTAMP`` (instants), naive ones ``TIMESTAMP_NTZ``.
    """
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_schema

    name = temp_name("frame")
    arrow = _spark_arrow_types(arrow)
    naive = {f.name for f in arrow.schema if pa.types.is_timestamp(f.type) and f.type.tz is None}
    schema = T.StructType([T.StructField(f.name, T.TimestampNTZType(), f.nullable) if f.name in naive else f
                           for f in from_arrow_schema(arrow.schema).fields])
    frame = _spark_session(con).createDataFrame(arrow, schema=schema)
    frame.createOrReplaceTempView(name)
    return con.table(name)


def _spark_arrow_types(arrow: pa.Table) -> pa.Table:
    """Arrow types Spark reads: large strings as strings, nanosecond times as microseconds."""
    fields = []
    for field in arrow.schema:
        kind = field.type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_timestamp(kind) and kind.unit == "ns":
            kind = pa.timestamp("us", kind.tz)
        fields.append(pa.field(field.name, kind))
    target = pa.schema(fields)
    return arrow if target == arrow.schema else arrow.cast(target)


def _spark_number_rows(table: ibis.Table, column: str) -> ibis.Table:
    """Rows numbered 1..N in scan order with no global ordering, materialised once.

    ``monotonically_increasing_id()`` holds the partition index in its upper
    bits and the row's position in the partition in the lower 33; one pass
    counts the rows of each partition (the table is persisted meanwhile), and
    the number is the rows of earlier partitions + position + 1. The same
    contiguous numbers as ``ROW_NUMBER() OVER ()`` in scan order, without the
    single-partition exchange that a global window needs. The persisted lines
    stay for the session (``spark.catalog.clearCache()`` frees them), so every
    query of the load reads the same numbering.
    """
    from pyspark.sql import functions as F

    frame, con = _spark_frame(table)
    mid = "__clv_mid"
    tagged = frame.select(F.monotonically_increasing_id().alias(mid), *[frame[c] for c in frame.columns]).persist()
    part = F.shiftright(F.col(mid), _SPARK_ROW_BITS)
    counts = dict(tagged.groupBy(part.alias("p")).count().collect())
    offsets, total = [0] * (max(counts, default=0) + 1), 0
    for p in sorted(counts):
        offsets[p], total = total, total + counts[p]
    position = F.col(mid).bitwiseAND((1 << _SPARK_ROW_BITS) - 1)
    offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), (part + 1).cast("int"))
    numbered = tagged.select((offset + position + 1).alias(column), *[tagged[c] for c in frame.columns])
    name = temp_name("numbered")
    numbered.createOrReplaceTempView(name)
    _SPARK_ROW_COUNTS[name] = total
    return con.table(name)


def _spark_known_row_count(table: ibis.Table) -> int | None:
    try:
        return _SPARK_ROW_COUNTS.get(table.get_name())
    except Exception:  # noqa: BLE001 - an expression, not a named table
        return None


def _spark_sample(table: ibis.Table, fraction: float, seed: int) -> ibis.Table:
    """A Bernoulli sample by ``rand(seed)`` (repeatable on a materialised table's fixed partitions)."""
    return table.filter(_spark_rand(seed) < fraction)


def _spark_read_parquet_numbered(con: BaseBackend, files: Sequence[str], counts: Sequence[int], column: str) -> ibis.Table:
    """Each file read by Spark with its row index (``_metadata.row_index``) plus the file's offset, unioned by name."""
    from functools import reduce

    from pyspark.sql import functions as F

    session, parts, offset = _spark_session(con), [], 0
    for path, rows in zip(files, counts):
        frame = session.read.parquet(path)
        index = F.col("_metadata.row_index") + F.lit(offset + 1)
        parts.append(frame.select(index.alias(column), *[frame[c] for c in frame.columns]))
        offset += int(rows)
    name = temp_name("parquet")
    reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts).createOrReplaceTempView(name)
    _SPARK_ROW_COUNTS[name] = offset
    return con.table(name)
