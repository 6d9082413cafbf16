"""Delimited text files as one DuckDB relation, every record accounted for.

The dialect is pinned, never sniffed: the given delimiter, ``"`` as quote and
as escape (RFC 4180), no comment character, every column text. The header is
read by Python's :mod:`csv` module; DuckDB skips it (``skip``) and reads the
records; :mod:`clv.data.text_scan` counts them on its own. ``source_row`` is the
physical line where a record starts (header = line 1):

* a regular file (one record per line, no blank line, no record longer than
  the header): ``source_row = DuckDB row number + 1``, no join;
* otherwise DuckDB's row numbers are mapped to lines through the scan's
  breakpoints (an ASOF join on a small table); blank lines, which DuckDB
  skips, are added back as rows whose columns are all NULL with
  ``__clv_blank = true``; records with more fields than the header keep the
  extra fields in columns ``column<i>`` and get ``__clv_ragged = true``. The
  marker columns exist only when the file has such lines.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb
import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from clv.data import text_files as tf
from clv.data.text_scan import RecordScan, delimiter_byte, scan_records
from clv.errors import DataError

SOURCE_ROW_COL = "__clv_source_row"
BLANK_COL = "__clv_blank"
RAGGED_COL = "__clv_ragged"
WHITESPACE = "whitespace"
_ROW = "__clv_row"
DUCKDB_MAX_LINE = 2_000_000  # DuckDB's default max_line_size (bytes), raised for longer records
INLINE_LIMIT = 1024  # break points / long rows written into the SQL; more are joined (and the file copied)


@dataclass(frozen=True)
class TextPart:
    """One file, checked and scanned: what DuckDB reads and how rows map to lines."""

    original: str
    path: str  # the file DuckDB reads (a UTF-8 / LF copy when the original needed one)
    names: list[str]
    extras: list[str]
    scan: RecordScan
    whitespace: bool
    delimiter: str

    @property
    def columns(self) -> list[str]:
        return self.names + self.extras

    @property
    def markers(self) -> list[str]:
        """Marker columns this file needs (whitespace files: decided after reading)."""
        if self.whitespace:
            return [BLANK_COL, RAGGED_COL]
        return ([BLANK_COL] if len(self.scan.blank_lines) else []) + ([RAGGED_COL] if len(self.scan.long_rows) else [])

    @property
    def lines(self) -> int:
        return self.scan.lines

    @property
    def inline(self) -> bool:
        """Few enough break points and long rows to write them into the query (a lazy view)."""
        return len(self.scan.break_rows) <= INLINE_LIMIT and len(self.scan.long_rows) <= INLINE_LIMIT


@dataclass(frozen=True)
class TextRead:
    """The relation of one or several text files and the records they hold.

    ``sample``: for files read lazily (re-read by every query), a function
    ``(column, count) -> values`` that reads about ``count`` values of a column
    from lines spread through the files without a pass over them; None when the
    files were copied into a table (sampling the table is cheap then).
    """

    table: ibis.Table
    expected_rows: int
    sample: Any = None


def read_text(paths: list[str], delimiter: str, header: bool, names: tuple[str, ...] | None,
              encoding: str | None, con: BaseBackend) -> TextRead:
    """Read text files (joined end to end, ``cat`` order) into one relation on ``con``."""
    encoding = tf.canonical_encoding(encoding)
    if delimiter != WHITESPACE:
        delimiter_byte(delimiter)  # one ASCII character, checked before any reading
    with tf.temporary_directory() as work:
        parts = [_prepare(path, delimiter, header, names, encoding, os.path.join(work, str(i)))
                 for i, path in enumerate(paths)]
        _check_same_header(parts)
        lazy = all(p.path == p.original and not tf.is_gzip(p.path) and not p.whitespace and p.inline
                   for p in parts)
        query = _union(parts, con)
        name = f"__clv_text_{uuid.uuid4().hex[:12]}"
        _create(con, f"CREATE TEMP {'VIEW' if lazy else 'TABLE'} {name} AS {query}", paths)
        if any(p.whitespace for p in parts):
            _drop_unused_markers(con, name)
    sample = _sampler(parts) if lazy else None
    return TextRead(con.table(name), sum(p.scan.data_records for p in parts), sample)


def _sampler(parts: list[TextPart]):
    """(column, count) -> about ``count`` values of that column, spread over the parts by size."""
    def sample(column: str, count: int) -> list[str]:
        sizes = [max(os.path.getsize(p.path), 1) for p in parts]
        values: list[str] = []
        for part, size in zip(parts, sizes):
            if column in part.columns:
                share = max(1, round(count * size / sum(sizes)))
                values += tf.sample_field(part.path, part.delimiter, part.columns.index(column), share)
        return values

    return sample


def _prepare(path: str, delimiter: str, header: bool, names, encoding: str, work: str) -> TextPart:
    """Check, transcode, scan and name the columns of one file."""
    tf.check_file(path)
    whitespace = delimiter == WHITESPACE
    with tf.file_errors(path):
        readable = _utf8_file(path, encoding, work)
        columns = _column_names(path, readable, delimiter, header, names, whitespace)
        scan = _scan(readable, delimiter, header, len(columns), whitespace)
        if scan.mixed_line_endings:
            os.makedirs(work, exist_ok=True)
            readable = tf.without_separator_crs(readable, work, quoting=not whitespace,
                                                separator_lines=scan.separator_lines)
    extras = [] if whitespace else tf.extra_names(columns, scan.max_fields)
    return TextPart(path, readable, columns, extras, scan, whitespace, delimiter)


def _utf8_file(path: str, encoding: str, work: str) -> str:
    """The file itself when it is UTF-8, else a UTF-8 copy in ``work``."""
    if encoding == tf.UTF8:
        tf.sniff_utf16(path)
        return path
    os.makedirs(work, exist_ok=True)
    return tf.transcode_to_utf8(path, encoding, work)


def _column_names(path: str, readable: str, delimiter: str, header: bool, names, whitespace: bool) -> list[str]:
    found = tf.first_words(readable) if whitespace else tf.first_record(readable, delimiter)[0]
    if header and not found:
        raise DataError(f"{path!r} has no header line (it is empty or holds only blank lines); fix: check "
                        "the file, or pass header=False with names=[...].")
    columns = tf.column_names(path, found, names, header)
    if not columns:
        raise DataError(f"{path!r} holds only blank lines; fix: check the file.")
    return columns


def _scan(readable: str, delimiter: str, header: bool, width: int, whitespace: bool) -> RecordScan:
    """The independent record scan, as DuckDB will read the file."""
    if whitespace:
        return scan_records(tf.opener(readable), None, header=header, width=1, quoting=False)
    scan = scan_records(tf.opener(readable), delimiter, header=header, width=width)
    if width == 1 and scan.max_fields > 1:
        # DuckDB reads the extra fields as columns too, and then skips blank lines.
        scan = scan_records(tf.opener(readable), delimiter, header=header, width=1, blank_is_row=False)
    return scan


def _check_same_header(parts: list[TextPart]) -> None:
    first = parts[0]
    for part in parts[1:]:
        if part.names != first.names:
            raise DataError(f"{part.original!r} has columns {part.names}, {first.original!r} has {first.names}; "
                            "fix: read files with the same columns together, or load them as separate sources.")


def _union(parts: list[TextPart], con: BaseBackend) -> str:
    """One SELECT over every part; source rows continue across files (cat order)."""
    columns = list(dict.fromkeys(c for p in parts for c in p.columns))
    markers = list(dict.fromkeys(m for p in parts for m in p.markers))
    queries, before = [], 0
    for part in parts:
        queries.append(_part_query(part, columns, markers, before, con))
        before += part.lines
    return " UNION ALL ".join(f"({q})" for q in queries) if len(queries) > 1 else queries[0]


def _part_query(part: TextPart, columns: list[str], markers: list[str], lines_before: int,
                con: BaseBackend) -> str:
    scan = part.scan
    reader = _whitespace_reader(part) if part.whitespace else _csv_reader(part)
    if scan.regular and not part.whitespace and not markers and part.columns == columns:
        return (f"SELECT row_number() OVER () + {scan.constant_offset + lines_before} AS {SOURCE_ROW_COL}, * "
                f"FROM {reader}")
    numbered = f"(SELECT row_number() OVER () AS {_ROW}, * FROM {reader}) r"
    if part.inline:
        offset = _piecewise(scan.break_rows, scan.break_offsets, 0, len(scan.break_rows))
        source = numbered
    else:  # many break points: an ASOF join (the file is then copied once, see read_text)
        breaks = _temp_table(con, "breaks", {"row": scan.break_rows, "offset": scan.break_offsets})
        offset, source = "b.offset", f"{numbered} ASOF JOIN {breaks} b ON r.{_ROW} >= b.row"
    values = _values(part, columns) + _marker_values(part, markers, con)
    mapped = f"SELECT r.{_ROW} + {offset} + {lines_before} AS {SOURCE_ROW_COL}, {values} FROM {source}"
    if not len(scan.blank_lines):
        return mapped
    blanks = _temp_table(con, "blanks", {"line": scan.blank_lines})
    nulls = ", ".join(f"NULL::VARCHAR AS {quote_ident(c)}" for c in columns)
    blank_marks = "".join(f", {str(m == BLANK_COL).upper()} AS {m}" for m in markers)
    return f"{mapped} UNION ALL SELECT line + {lines_before}, {nulls}{blank_marks} FROM {blanks}"


def _piecewise(rows, offsets, lo: int, hi: int) -> str:
    """SQL for the offset of DuckDB row r: a balanced CASE tree over break points [lo, hi)."""
    if hi - lo <= 1:
        return str(int(offsets[lo])) if hi > lo else "0"
    mid = (lo + hi) // 2
    return (f"(CASE WHEN r.{_ROW} >= {int(rows[mid])} THEN {_piecewise(rows, offsets, mid, hi)} "
            f"ELSE {_piecewise(rows, offsets, lo, mid)} END)")


def _values(part: TextPart, columns: list[str]) -> str:
    """The part's columns in the union's order (NULL for those it lacks)."""
    own = set(part.columns)
    return ", ".join(f"r.{quote_ident(c)}" if c in own else f"NULL::VARCHAR AS {quote_ident(c)}" for c in columns)


def _marker_values(part: TextPart, markers: list[str], con: BaseBackend) -> str:
    out = []
    for marker in markers:
        if part.whitespace:
            out.append(f"r.{marker} AS {marker}")
        elif marker == RAGGED_COL and len(part.scan.long_rows) and part.inline:
            listed = ", ".join(str(int(r)) for r in part.scan.long_rows)
            out.append(f"r.{_ROW} IN ({listed}) AS {RAGGED_COL}")
        elif marker == RAGGED_COL and len(part.scan.long_rows):
            longs = _temp_table(con, "long", {"row": part.scan.long_rows})
            out.append(f"r.{_ROW} IN (SELECT row FROM {longs}) AS {RAGGED_COL}")
        else:
            out.append(f"FALSE AS {marker}")
    return "".join(f", {m}" for m in out)


def _csv_reader(part: TextPart) -> str:
    columns = "{" + ", ".join(f"{sql_text(c)}: 'VARCHAR'" for c in part.columns) + "}"
    options = [
        "auto_detect = false", "header = false", f"skip = {part.scan.skip}",
        f"delim = {sql_text(part.delimiter)}", "quote = '\"'", "escape = '\"'", "comment = ''",
        "strict_mode = true", "null_padding = true", f"columns = {columns}",
    ]
    if part.scan.multiline:
        options.append("parallel = false")  # DuckDB's parallel reader refuses quoted line breaks with null_padding
    if part.scan.max_record_bytes > DUCKDB_MAX_LINE:
        options.append(f"max_line_size = {part.scan.max_record_bytes + 1024}")
    return f"read_csv({sql_text(duckdb_path(part.path))}, {', '.join(options)})"


def _whitespace_reader(part: TextPart) -> str:
    """Each line split on runs of spaces/tabs; blank-only lines and extra words marked."""
    line = (f"read_csv({sql_text(duckdb_path(part.path))}, columns = {{'line': 'VARCHAR'}}, delim = '\x1f', "
            f"quote = '', escape = '', comment = '', header = false, skip = {part.scan.skip}, auto_detect = false)")
    split = "regexp_split_to_array(trim(line, ' \t\r'), '[ \t]+')"
    fields = ", ".join(f"nullif(__clv_parts[{i + 1}], '') AS {quote_ident(n)}" for i, n in enumerate(part.names))
    return (f"(SELECT {fields}, coalesce(trim(line, ' \t\r'), '') = '' AS {BLANK_COL}, "
            f"coalesce(len(__clv_parts) > {len(part.names)} AND trim(line, ' \t\r') <> '', false) AS {RAGGED_COL} "
            f"FROM (SELECT line, {split} AS __clv_parts FROM {line}))")


def _drop_unused_markers(con: BaseBackend, name: str) -> None:
    """Whitespace files: drop a marker column that no line sets."""
    used = run_sql(con, f"SELECT coalesce(bool_or({BLANK_COL}), false), "
                        f"coalesce(bool_or({RAGGED_COL}), false) FROM {name}")[0]
    for marker, any_set in zip((BLANK_COL, RAGGED_COL), used):
        if not any_set:
            run_sql(con, f"ALTER TABLE {name} DROP COLUMN {marker}")


def _temp_table(con: BaseBackend, kind: str, columns: dict[str, Any]) -> str:
    """A small temp table (break points, blank lines, long rows) on the connection."""
    name = f"__clv_{kind}_{uuid.uuid4().hex[:12]}"
    arrow = pa.table({k: pa.array(v, pa.int64()) for k, v in columns.items()})
    registered = name + "_arrow"
    con.con.register(registered, arrow)
    try:
        run_sql(con, f"CREATE TEMP TABLE {name} AS SELECT * FROM {registered}")
    finally:
        con.con.unregister(registered)
    return name


def _create(con: BaseBackend, sql: str, paths: list[str]) -> None:
    """Create the view or table; an engine error while copying becomes a DataError naming the file."""
    try:
        run_sql(con, sql)
    except duckdb.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"DuckDB could not read {paths[0]!r}{' and the other files' if len(paths) > 1 else ''} "
                        f"({first}); fix: check the line it names, or convert the file to Parquet.") from None


def run_sql(con: BaseBackend, sql: str) -> list[tuple]:
    """Run one statement to completion (DuckDB refuses new work while a result is unread)."""
    return con.raw_sql(sql).fetchall()


def duckdb_path(path: str) -> str:
    """The absolute path with glob characters escaped: DuckDB reads exactly this one file."""
    resolved = os.path.abspath(path)
    return "".join(f"[{ch}]" if ch in "[*?" else ch for ch in resolved)


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
