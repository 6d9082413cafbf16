"""Turn whatever the user gives (file, DataFrame, Ibis or database table) into one
Ibis table on a connection: a ``__clv_source_row`` column followed by the user's
columns exactly as given (plus, for text files with such lines, the markers
``__clv_blank`` and ``__clv_ragged``).

``source_row`` is the physical line number for text files (header = line 1, so
the first data line is 2; a record with a quoted line break is numbered by the
line where it starts), the spreadsheet row for Excel files (header = row 1),
and the 1-based row number for Parquet, DataFrames and tables.

A path names exactly one file: it is never expanded as a glob (``orders[1].csv``
is that file). Several files come from a list, a folder, or ``pattern=``.

Typed sources (Parquet, DataFrames, tables) stay lazy: nothing is read until a
query runs. Text files are read every column as text (see
:mod:`clv.data.text_source`), so a bad value becomes a reject later instead of a
crash: plain UTF-8 files through a lazy view, compressed, re-encoded and
whitespace-separated files copied once into a temporary table.
"""

from __future__ import annotations

import glob as globlib
import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
from ibis.backends import BaseBackend
from ibis.common.exceptions import IbisError

from clv.data import text_source
from clv.data.text_files import check_file, check_names
from clv.data.text_source import (  # noqa: F401 - WHITESPACE re-exported
    BLANK_COL,
    RAGGED_COL,
    SOURCE_ROW_COL,
    WHITESPACE,
    duckdb_path,
)
from clv.engine import default_connection, dialect
from clv.errors import ClvError, DataError

MARKER_COLUMNS = (BLANK_COL, RAGGED_COL)

_TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_DATABASE_SUFFIXES = (".duckdb", ".ddb", ".db")
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")

PathLike = str | os.PathLike
Paths = PathLike | Sequence[PathLike]


@dataclass(frozen=True)
class Csv:
    """One or several delimited text files (optionally gzip-compressed).

    Several files are read end to end in the order given (sorted for a folder
    or pattern) and must have the same header; ``source_row`` then counts the
    lines of the files joined end to end (``cat a.csv b.csv``). Quotes follow
    RFC 4180 (``"`` quotes, ``""`` inside quotes); no comment character.

    Parameters
    ----------
    path : str, path-like, sequence of them, or None
        A file, a list of files, or a folder (its .csv/.tsv/.txt files, .gz included).
    delimiter : str, default ","
        One ASCII character (",", ";", "\\t", "|") or ``"whitespace"`` for
        columns separated by runs of spaces/tabs (CDNOW's format).
    header : bool, default True
        Whether the first non-blank line names the columns.
    names : tuple of str or None
        Column names of a file without a header line (default ``column0, column1, ...``).
    encoding : str, default "utf-8"
        The file's text encoding ("utf-8", "cp1252", "latin-1", "utf-16", any
        name Python knows).
    pattern : str or None
        A glob such as ``"parts/*.csv"``, instead of ``path`` (a path is never a glob).
    """

    path: Paths | None = None
    delimiter: str = ","
    header: bool = True
    names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    pattern: str | None = None


@dataclass(frozen=True)
class Parquet:
    """A Parquet file, a list of files, a folder of ``*.parquet`` parts, or ``pattern=``.

    Parts are read in the order given (sorted for a folder or a pattern);
    ``source_row`` counts on across parts.

    Parameters
    ----------
    path : str, path-like, sequence of them, or None
        A file, a list of files, or a folder of ``*.parquet`` parts.
    pattern : str or None
        A glob such as ``"parts/*.parquet"``, instead of ``path``.
    """

    path: Paths | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Excel:
    """A spreadsheet (.xlsx, .xlsm, .xls, .xlsb, .ods), read with python-calamine.

    The first non-empty row names the columns; ``source_row`` is the spreadsheet
    row number (header = row 1 when the table starts at A1). Cells keep the
    type the reader gives (numbers, dates, text); a column mixing types is
    read as text.

    Parameters
    ----------
    path : str or path-like
        The spreadsheet file.
    sheet : str, int or None
        A sheet name or 0-based index (default: the first sheet).
    """

    path: PathLike
    sheet: str | int | None = None


@dataclass(frozen=True)
class DatabaseTable:
    """A table in a database, plus the table name.

    Parameters
    ----------
    database : str, path-like or ibis BaseBackend
        A DuckDB file path (attached read-only to the connection), an Ibis
        connection URL (``"postgres://user@host/shop"``, opened with
        ``ibis.connect``; the load then runs on that backend), or any Ibis backend.
    table : str
        The table name (``"schema.table"`` allowed).
    """

    database: str | os.PathLike | BaseBackend
    table: str


@dataclass(frozen=True)
class RawSource:
    """The input as an Ibis table, its connection and the rows it must yield.

    ``expected_rows``: records counted independently of the engine (text files:
    a byte scan of the file; Parquet: the files' metadata; frames: their
    length), None when unknown (database tables). ``description``: the input,
    for messages. Unpacks as ``table, con = raw_table(...)``.
    """

    table: ibis.Table
    con: BaseBackend
    expected_rows: int | None = None
    description: str = "the input"
    sample: Callable[[str, int], list[str]] | None = None  # (column, count) -> values, for text files read lazily

    def __iter__(self):
        return iter((self.table, self.con))

    def check_rows(self, read: int) -> None:
        """Raise ClvError when the engine read another number of rows than expected."""
        if self.expected_rows is not None and read != self.expected_rows:
            raise ClvError(
                f"{self.description} holds {self.expected_rows} records but {read} were read, so lines "
                "would be lost; fix: check the file's quoting (a quote that is never closed) and its "
                "delimiter, or convert it to Parquet first."
            )


def resolve_source(source: Any, *, table: str | None = None, delimiter: str | None = None,
                   header: bool = True, names: tuple[str, ...] | None = None,
                   encoding: str | None = None, sheet: str | int | None = None,
                   pattern: str | None = None) -> Any:
    """Turn a plain path or list of paths (plus the load_orders keyword options) into a spec."""
    if isinstance(source, (Csv, Parquet, Excel, DatabaseTable)):
        return source
    if table is not None:
        return DatabaseTable(source, table)
    if pattern is not None:
        return _spec_for_paths([pattern], delimiter, header, names, encoding, sheet, pattern=pattern)
    if isinstance(source, (str, os.PathLike)):
        return _spec_for_paths([str(source)], delimiter, header, names, encoding, sheet)
    if _is_path_list(source):
        return _spec_for_paths([str(p) for p in source], delimiter, header, names, encoding, sheet)
    return source


def _is_path_list(source: Any) -> bool:
    return isinstance(source, (list, tuple)) and bool(source) and all(isinstance(p, (str, os.PathLike)) for p in source)


def _spec_for_paths(paths: list[str], delimiter, header, names, encoding, sheet, pattern=None):
    """The spec for files that all have one format; DataError for a mix."""
    kinds = {_kind_of(p, delimiter) for p in paths}
    if len(kinds) > 1:
        raise DataError(f"the files {paths} have different formats ({', '.join(sorted(kinds))}); fix: load "
                        "one format at a time.")
    kind = kinds.pop()
    target = {"path": None, "pattern": pattern} if pattern else {"path": paths[0] if len(paths) == 1 else tuple(paths)}
    if kind == "parquet":
        return Parquet(**target)
    if kind == "excel":
        if len(paths) > 1 or pattern:
            raise DataError("several spreadsheets cannot be read as one source; fix: load them as "
                            "load_orders({'a': 'a.xlsx', 'b': 'b.xlsx'}).")
        return Excel(paths[0], sheet)
    plain = paths[0].lower().removesuffix(".gz")
    default = "\t" if plain.endswith(".tsv") else ","
    return Csv(**target, delimiter=delimiter or default, header=header,
               names=tuple(names) if names else None, encoding=encoding or "utf-8")


def _kind_of(path: str, delimiter: str | None) -> str:
    plain = path.lower().removesuffix(".gz")
    if plain.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if os.path.isdir(path):
        return "text" if delimiter is not None or not _files_in(path, _PARQUET_SUFFIXES) else "parquet"
    if plain.endswith(_EXCEL_SUFFIXES):
        return "excel"
    if plain.endswith(_DATABASE_SUFFIXES):
        raise DataError(
            f"{path!r} looks like a database file; fix: name the table, e.g. "
            f"load_orders({path!r}, table='orders')."
        )
    if plain.endswith(_TEXT_SUFFIXES) or delimiter is not None:
        return "text"
    raise DataError(
        f"cannot tell the format of {path!r}; fix: use a .csv/.csv.gz/.txt, .parquet or .xlsx "
        "name, pass delimiter= for a text file, or wrap it: clv.data.Csv(path) / "
        "clv.data.Parquet(path) / clv.data.Excel(path)."
    )


def raw_table(source: Any, con: BaseBackend | None) -> RawSource:
    """The input as an Ibis table (source row + original columns) on a connection.

    Returns a :class:`RawSource` (unpacks as ``table, con``) whose
    ``expected_rows`` is the independent record count.
    """
    if isinstance(source, DatabaseTable) and _is_url(source.database):
        source = DatabaseTable(ibis.connect(str(source.database)), source.table)
    if isinstance(source, DatabaseTable) and isinstance(source.database, BaseBackend):
        con = con or source.database
    if isinstance(source, ibis.Table):
        con = con or _backend_of(source)
    con = con or default_connection()
    dialect.require_supported(con, "loading orders")
    if isinstance(source, Csv):
        return _read_text(source, con)
    if isinstance(source, Parquet):
        return _read_parquet(source, con)
    if isinstance(source, Excel):
        return _read_excel(source, con)
    if isinstance(source, DatabaseTable):
        return RawSource(_with_row_number(_database_table(source, con)), con, None, f"table {source.table!r}")
    if isinstance(source, ibis.Table):
        return RawSource(_with_row_number(source), con, None, "the Ibis table")
    arrow = _frame_arrow(source)
    return RawSource(_register_arrow(arrow, con), con, arrow.num_rows, f"the {type(source).__name__}")


def _is_url(database: Any) -> bool:
    """An Ibis connection URL such as 'postgres://user@host/db' or 'duckdb://shop.duckdb'."""
    return isinstance(database, str) and "://" in database


def _backend_of(table: ibis.Table) -> BaseBackend | None:
    try:
        return table._find_backend(use_default=False)
    except IbisError:  # an unbound expression (memtable): any connection runs it
        return None


def _temp_name(kind: str) -> str:
    return f"__clv_{kind}_{uuid.uuid4().hex[:12]}"


def _require_duckdb(con: BaseBackend, what: str) -> None:
    if dialect.engine_name(con) != dialect.DUCKDB:
        raise DataError(
            f"reading {what} needs a DuckDB connection (got {con.name!r}); fix: load it "
            "into your database first and pass the table, or use clv.engine.connect()."
        )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_text(spec: Csv, con: BaseBackend) -> RawSource:
    paths = _files(spec.path, spec.pattern, _TEXT_SUFFIXES, "text")
    _require_duckdb(con, "a text file")
    read = text_source.read_text(paths, spec.delimiter, spec.header, spec.names, spec.encoding, con)
    return RawSource(read.table, con, read.expected_rows, _describe(paths), read.sample)


def _describe(paths: list[str]) -> str:
    return repr(paths[0]) if len(paths) == 1 else f"the {len(paths)} files {paths[0]!r}, ..."


def _files(path: Paths | None, pattern: str | None, suffixes: tuple[str, ...], kind: str) -> list[str]:
    """The files a spec names: one path, a list, a folder's files or a pattern's matches.

    A single path is never expanded as a glob: ``orders[1].csv`` is that file.
    """
    if (path is None) == (pattern is None):
        raise DataError(f"give either a path or pattern= for the {kind} files (not both, not neither).")
    if pattern is not None:
        files = sorted(f for f in globlib.glob(str(pattern), recursive=True) if os.path.isfile(f))
        if not files:
            raise DataError(f"no file matches pattern={pattern!r}; fix: check the folder and the pattern.")
        return files
    if isinstance(path, (str, os.PathLike)):
        return _files_in(str(path), suffixes, kind) if os.path.isdir(path) else _one_file(str(path))
    files = [str(p) for p in path]
    for f in files:
        _one_file(f)
    if not files:
        raise DataError(f"the list of {kind} files is empty; fix: name at least one file.")
    return files


def _one_file(path: str) -> list[str]:
    if not os.path.exists(path) and any(ch in path for ch in "*?["):
        raise DataError(
            f"file {path!r} not found (a path names exactly one file, it is not expanded); fix: to read "
            f"every file it matches, pass pattern={path!r} (or a list of files)."
        )
    check_file(path)
    return [path]


def _files_in(folder: str, suffixes: tuple[str, ...], kind: str = "") -> list[str]:
    """The files of a folder (any depth) whose names end with one of the suffixes (.gz too)."""
    found = []
    for root, _, names in os.walk(folder):
        found += [os.path.join(root, n) for n in names if n.lower().removesuffix(".gz").endswith(suffixes)]
    if kind and not found:
        raise DataError(f"no {kind} file ({', '.join(suffixes)}) in folder {folder!r}; fix: check the path.")
    return sorted(found)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_parquet(spec: Parquet, con: BaseBackend) -> RawSource:
    """Lazy read; source_row = rows of earlier parts + row number within the part."""
    files = [os.path.abspath(f) for f in _files(spec.path, spec.pattern, _PARQUET_SUFFIXES, "Parquet")]
    counts = _parquet_row_counts(files)
    numbered = dialect.read_parquet_numbered(con, files, counts, SOURCE_ROW_COL)  # engines that read Parquet themselves
    if numbered is not None:
        check_names([c for c in numbered.columns if c != SOURCE_ROW_COL], f"the Parquet file {_describe(files)}")
        return RawSource(numbered, con, int(sum(counts)), _describe(files))
    _require_duckdb(con, "Parquet through SQL")
    file_list = "[" + ", ".join(_sql_text(duckdb_path(f)) for f in files) + "]"
    if len(files) == 1:
        row = "file_row_number + 1"
        options = "file_row_number = true"
        exclude = "file_row_number"
    else:
        offsets = np.cumsum([0] + counts[:-1])
        # DuckDB reports the file name as given; the escaped names are matched here.
        branches = " ".join(f"WHEN {_sql_text(f)} THEN {int(o)}" for f, o in zip(files, offsets))
        row = f"file_row_number + 1 + CASE __clv_file {branches} END"
        options = "file_row_number = true, filename = '__clv_file'"
        exclude = "file_row_number, __clv_file"
    name = _temp_name("parquet")
    try:  # a view, not con.sql(): it stays lazy and works across Ibis/DuckDB versions
        con.raw_sql(
            f"CREATE TEMP VIEW {name} AS SELECT {row} AS {SOURCE_ROW_COL}, "
            f"* EXCLUDE ({exclude}) FROM read_parquet({file_list}, {options})"
        )
    except Exception as exc:  # noqa: BLE001 - DuckDB's errors on unreadable files
        raise DataError(f"cannot read the Parquet file(s) {_describe(files)}: {_first_line(exc)}; fix: check "
                        "that they are complete Parquet files with the same columns.") from None
    table = con.table(name)
    check_names([c for c in table.columns if c != SOURCE_ROW_COL], f"the Parquet file {_describe(files)}")
    return RawSource(table, con, int(sum(counts)), _describe(files))


def _parquet_row_counts(files: list[str]) -> list[int]:
    """Rows of each file from its footer (an independent count); DataError for a broken file."""
    import pyarrow.parquet as pq

    counts = []
    for f in files:
        check_file(f)
        try:
            counts.append(pq.read_metadata(f).num_rows)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{f!r} is not a readable Parquet file ({_first_line(exc)}); fix: check that it "
                            "was written or copied completely.") from None
    return counts


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _read_excel(spec: Excel, con: BaseBackend) -> RawSource:
    from clv.data.spreadsheet import read_sheet

    path = str(spec.path)
    check_file(path)
    arrow = read_sheet(path, spec.sheet)
    table = _register_arrow(arrow, con, numbered=True)
    return RawSource(table, con, arrow.num_rows, repr(path))


def _database_table(spec: DatabaseTable, con: BaseBackend) -> ibis.Table:
    schema_name, _, table_name = spec.table.rpartition(".")
    if isinstance(spec.database, BaseBackend):
        try:
            return spec.database.table(table_name, database=schema_name or None)
        except Exception as exc:  # noqa: BLE001 - each backend has its own "no such table" error
            reason = _first_line(exc)
            what = "was not found" if reason in (table_name, spec.table) else f"cannot be read ({reason})"
            raise DataError(f"table={spec.table!r} {what} on {spec.database.name}; fix: check the table name "
                            "(schema.table allowed) and that this user may read it.") from None
    path = str(spec.database)
    if not os.path.exists(path):
        raise DataError(f"database file {path!r} not found; fix: check the path.")
    _require_duckdb(con, "a DuckDB file")
    alias = _attached_alias(con, path)
    return con.table(table_name, database=(alias, schema_name or "main"))


def _attached_alias(con: BaseBackend, path: str) -> str:
    resolved = str(Path(path).resolve())
    rows = con.raw_sql("SELECT database_name, path FROM duckdb_databases()").fetchall()
    for name, db_path in rows:
        if db_path and str(Path(db_path).resolve()) == resolved:
            return name
    alias = re.sub(r"\W", "_", _temp_name("db"))
    con.attach(resolved, name=alias, read_only=True)
    return alias


def _with_row_number(table: ibis.Table) -> ibis.Table:
    """Number rows in the table's scan order (:func:`clv.engine.dialect.number_rows`)."""
    return dialect.number_rows(table, SOURCE_ROW_COL)


def _to_arrow(frame: Any) -> pa.Table:
    module = type(frame).__module__.split(".")[0]
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if module == "pandas":
        return _pandas_to_arrow(frame.rename(columns=str))
    if module == "polars":
        if hasattr(frame, "collect"):
            frame = frame.collect()
        return frame.to_arrow()
    raise DataError(
        f"cannot load orders from a {type(frame).__name__}; fix: pass a file path, a "
        "pandas/Polars DataFrame, a PyArrow Table, an Ibis table, or "
        "load_orders('shop.duckdb', table='orders')."
    )


def _pandas_to_arrow(frame) -> pa.Table:
    """Arrow table of a pandas frame; object columns of mixed types become text."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame = frame.copy()
        for name in frame.columns[frame.dtypes == object]:
            column = frame[name]
            frame[name] = column.map(str, na_action="ignore").astype(object)
        return pa.Table.from_pandas(frame, preserve_index=False)


def _all_null_as_text(arrow: pa.Table) -> pa.Table:
    """A column with no value at all has Arrow type null; read it as text."""
    for i, column in enumerate(arrow.schema):
        if pa.types.is_null(column.type):
            arrow = arrow.set_column(i, column.name, arrow.column(i).cast(pa.string()))
    return arrow


_FRAME_BATCH_ROWS = 1 << 17


def _frame_arrow(frame: Any) -> pa.Table:
    """An in-memory frame as Arrow, after checking its column names."""
    names = [str(c) for c in getattr(frame, "columns", [])] if type(frame).__module__.startswith("pandas") else None
    if names is not None:
        check_names(names, "the DataFrame")
    arrow = _all_null_as_text(_to_arrow(frame))
    check_names(arrow.column_names, f"the {type(frame).__name__}")
    return arrow


def _register_arrow(arrow: pa.Table, con: BaseBackend, *, numbered: bool = False) -> ibis.Table:
    """Register an Arrow table (zero-copy on DuckDB); source_row = position + 1 unless ``numbered``."""
    if not numbered:
        rows = pa.array(np.arange(1, arrow.num_rows + 1, dtype=np.int64))
        arrow = arrow.add_column(0, SOURCE_ROW_COL, rows)
    # DuckDB scans an Arrow table one record batch per thread: a frame converted in one
    # piece would be read by a single thread. Slicing is zero-copy.
    arrow = pa.Table.from_batches(arrow.to_batches(max_chunksize=_FRAME_BATCH_ROWS), schema=arrow.schema)
    return dialect.register_arrow(arrow, con)
