"""Count the records of a delimited text file on its own, independently of DuckDB.

A vectorised NumPy pass over the bytes (chunks of 64 MB) finds every record
separator: a ``\\n`` outside quotes (the count of ``"`` bytes before it is even;
RFC 4180, ``""`` is an escaped quote). From them it gives the number of
records, the physical line (1-based, as a text editor shows) where each record
starts, the blank records and the records with more fields than the header.
DuckDB skips blank lines and numbers the other records 1, 2, ...: the scan
therefore keeps *breakpoints* ``(duckdb_row, offset)``, the places where
``line - duckdb_row`` changes, so that ``source_row = duckdb_row + offset``
(one constant offset for a regular file, a few breakpoints otherwise).

A plain file (no quotes, no ``\\r``, no blank line) costs a few memory-bandwidth
passes per chunk; chunks with quotes, carriage returns, blank lines or a wrong
delimiter count are processed record by record (still vectorised). A file
whose quotes do not follow RFC 4180 (a ``"`` inside an unquoted field, as in
``5" screen``) is counted again with Python's :mod:`csv` module (one Python
step per record: slow, but only for such files).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from clv.errors import DataError

CHUNK_BYTES = 64 << 20
_BLOCK = 1 << 18  # cache-sized blocks for the counting passes of a plain chunk
NL, CR, QUOTE = 0x0A, 0x0D, 0x22


@dataclass(frozen=True)
class RecordScan:
    """What the scan found in one text file.

    ``records``: every record (header and blank records included).
    ``skip``: records before the first data record (blank lines before the
    header, and the header); DuckDB's ``skip`` option.
    ``data_records``: records after them, blank ones included: the number of
    rows a load must account for.
    ``duckdb_rows``: the non-blank data records (the rows DuckDB returns).
    ``break_rows``/``break_offsets``: ``source_row = duckdb_row + offset`` from
    each break row on (sorted, the first is 1 when there is a DuckDB row).
    ``blank_lines``: physical lines of the blank data records.
    ``long_rows``: DuckDB rows (1-based) with more fields than ``width``.
    ``max_fields``: the most fields of any data record.
    ``multiline``: some record spans several lines (a quoted line break).
    ``crlf_records`` / ``lf_records``: records ended by ``\\r\\n`` / ``\\n``.
    ``lines``: physical lines in the file (a last line without a newline included).
    ``quote_parity``: False when a quote inside an unquoted field made the scan
    count with Python's csv module (quote parity does not find the records);
    ``separator_lines`` then lists the lines whose newline ends a record.
    ``max_record_bytes``: the longest record (at least; DuckDB needs its
    ``max_line_size`` above it).
    """

    records: int
    skip: int
    data_records: int
    duckdb_rows: int
    break_rows: np.ndarray
    break_offsets: np.ndarray
    blank_lines: np.ndarray
    long_rows: np.ndarray
    max_fields: int
    multiline: bool
    crlf_records: int
    lf_records: int
    lines: int = 0
    quote_parity: bool = True
    separator_lines: np.ndarray | None = None
    max_record_bytes: int = 0

    @property
    def mixed_line_endings(self) -> bool:
        return self.crlf_records > 0 and self.lf_records > 0

    @property
    def regular(self) -> bool:
        """One record per line, no blank or long record: source_row = DuckDB row + constant."""
        return len(self.break_rows) <= 1 and not len(self.blank_lines) and not len(self.long_rows)

    @property
    def constant_offset(self) -> int:
        return int(self.break_offsets[0]) if len(self.break_offsets) else 0


class StrayQuote(Exception):
    """A quote byte that RFC 4180 parity cannot place (counted with csv instead)."""


class TextFileError(DataError):
    """A byte-level problem at a known line of the file (the reader adds the file name)."""

    def __init__(self, line: int, problem: str, fix: str):
        super().__init__(f"line {line}: {problem}; fix: {fix}")
        self.line, self.problem, self.fix = line, problem, fix


@dataclass
class _Tally:
    """Running totals of a scan, turned into a :class:`RecordScan` at the end."""

    header: bool
    width: int
    blank_is_row: bool = False  # DuckDB returns blank lines as rows when it reads one column
    records: int = 0
    skip: int = 0
    in_header: bool = True
    duckdb_rows: int = 0
    last_offset: int | None = None
    multiline: bool = False
    crlf: int = 0
    lf: int = 0
    max_fields: int = 0
    lines: int = 0
    max_bytes: int = 0
    breaks: list = field(default_factory=list)
    blanks: list = field(default_factory=list)
    longs: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.in_header = self.header

    def add(self, start_lines: np.ndarray, fields: np.ndarray) -> None:
        """Records in file order: their start lines and field counts (0 = blank)."""
        first = self.records
        self.records += len(start_lines)
        if self.in_header:
            nonblank = np.flatnonzero(fields > 0)
            if not len(nonblank):
                self.skip = self.records
                return
            self.skip = first + int(nonblank[0]) + 1
            self.in_header = False
            start_lines, fields = start_lines[nonblank[0] + 1:], fields[nonblank[0] + 1:]
        self._add_data(start_lines, np.maximum(fields, 1) if self.blank_is_row else fields)

    def _add_data(self, start_lines: np.ndarray, fields: np.ndarray) -> None:
        blank = fields == 0
        self.blanks.append(start_lines[blank])
        lines = start_lines[~blank]
        if not len(lines):
            return
        rows = self.duckdb_rows + 1 + np.arange(len(lines), dtype=np.int64)
        self.duckdb_rows += len(lines)
        offsets = lines - rows
        previous = np.concatenate(([np.int64(-1 << 62) if self.last_offset is None else self.last_offset], offsets[:-1]))
        change = offsets != previous
        self.breaks.append((rows[change], offsets[change]))
        self.last_offset = int(offsets[-1])
        kept = fields[~blank]
        self.longs.append(rows[kept > self.width])
        self.max_fields = max(self.max_fields, int(kept.max()))

    def add_regular(self, count: int, first_line: int) -> None:
        """``count`` plain records (width fields each) starting at ``first_line``, one per line."""
        if self.in_header or not count:
            self.add(np.arange(first_line, first_line + count, dtype=np.int64), np.full(count, self.width, np.int64))
            return
        self.records += count
        offset = first_line - (self.duckdb_rows + 1)
        if offset != self.last_offset:
            self.breaks.append((np.array([self.duckdb_rows + 1]), np.array([offset])))
        self.duckdb_rows += count
        self.last_offset = offset
        self.max_fields = max(self.max_fields, self.width)

    def result(self) -> RecordScan:
        rows = [b[0] for b in self.breaks] or [np.empty(0, np.int64)]
        offsets = [b[1] for b in self.breaks] or [np.empty(0, np.int64)]
        return RecordScan(
            records=self.records, skip=self.skip, data_records=self.records - self.skip,
            duckdb_rows=self.duckdb_rows, break_rows=np.concatenate(rows),
            break_offsets=np.concatenate(offsets), blank_lines=_joined(self.blanks),
            long_rows=_joined(self.longs), max_fields=max(self.max_fields, self.width),
            multiline=self.multiline, crlf_records=self.crlf, lf_records=self.lf, lines=self.lines,
            max_record_bytes=self.max_bytes,
        )


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)


def scan_records(open_binary: Callable[[], BinaryIO], delimiter: str | None, *, header: bool,
                 width: int, quoting: bool = True, chunk_bytes: int = CHUNK_BYTES,
                 blank_is_row: bool | None = None) -> RecordScan:
    """Scan a UTF-8 (or ASCII-compatible) file; ``delimiter=None`` counts lines only.

    ``open_binary`` opens the file (gzip streams included) for reading bytes.
    ``width``: the fields a record should have (the header's). DuckDB skips
    blank lines when it reads several columns and returns them as rows when it
    reads one (``width == 1``, unless ``blank_is_row`` says otherwise); the
    scan follows. Raises
    :class:`TextFileError` for NUL bytes, bare carriage returns or an
    unclosed quote; counts with :mod:`csv` when quotes are not RFC 4180.
    """
    delim = None if delimiter is None else delimiter_byte(delimiter)
    blank_is_row = width == 1 if blank_is_row is None else blank_is_row
    try:
        return _Scanner(delim, quoting, _Tally(header, width, blank_is_row), chunk_bytes).run(open_binary)
    except StrayQuote:
        counted = scan_with_csv(open_binary, delimiter or ",", header=header, width=width, blank_is_row=blank_is_row)
        return dataclasses.replace(counted, quote_parity=False)


def delimiter_byte(delimiter: str) -> int:
    encoded = delimiter.encode("utf-8")
    if len(encoded) != 1 or encoded[0] in (NL, CR, QUOTE):
        raise DataError(
            f"delimiter {delimiter!r} is not supported; fix: use one ASCII character other than "
            "a quote or a line break, e.g. ',', ';', '\\t' or '|', or delimiter='whitespace'."
        )
    return encoded[0]


class _Buffer:
    """A reusable byte buffer: the unread tail of the last chunk, then the next chunk."""

    def __init__(self, chunk_bytes: int):
        self.chunk_bytes = chunk_bytes
        self.data = bytearray()
        self.length = 0

    def refill(self, stream: BinaryIO, used: int) -> bool:
        """Drop the first ``used`` bytes and read up to a chunk after the rest; False at the end."""
        if not self.data:  # a small file gets a buffer of its own size
            self.data = bytearray(min(self.chunk_bytes, _size_hint(stream) + 1))
        rest = self.length - used
        if rest:
            self.data[:rest] = self.data[used:self.length]
        full = self.length == len(self.data) and len(self.data) < self.chunk_bytes
        if rest == len(self.data) or full:  # a record longer than the buffer, or a stream larger than guessed
            self.data.extend(bytes(max(len(self.data), 1 << 16)))
        room = min(len(self.data) - rest, self.chunk_bytes)
        read = stream.readinto(memoryview(self.data)[rest:rest + room]) or 0
        self.length = rest + read
        return read > 0

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, np.uint8, self.length)


def _size_hint(stream: BinaryIO) -> int:
    """The file's size for a plain file, else 1 MB (a compressed stream; the buffer grows)."""
    if isinstance(stream, io.FileIO):
        return os.fstat(stream.fileno()).st_size
    return 1 << 20


class _Scanner:
    """One pass over the chunks of a file, carrying line numbers (chunks end at a record end)."""

    def __init__(self, delim: int | None, quoting: bool, tally: _Tally, chunk_bytes: int):
        self.delim, self.quoting, self.chunk_bytes = delim, quoting, chunk_bytes
        self.tally = tally
        self.lines = 0  # newlines before the current chunk
        self.chunks = 0  # chunks processed
        self.ended_line = True  # the bytes so far end with a newline (or there are none)

    def run(self, open_binary: Callable[[], BinaryIO]) -> RecordScan:
        buffer = _Buffer(self.chunk_bytes)
        with open_binary() as stream:
            more = buffer.refill(stream, 0)
            if buffer.data.startswith(b"\xef\xbb\xbf"):
                more = buffer.refill(stream, 3) or more
            while buffer.length:
                used = self._chunk(buffer, final=not more)
                if not more:
                    break
                more = buffer.refill(stream, used)  # used == 0: a record longer than the buffer
        self.tally.lines = self.lines + (0 if self.ended_line else 1)
        return self.tally.result()

    def _chunk(self, buffer: _Buffer, final: bool) -> int:
        """Process the whole records in the buffer; returns the bytes used."""
        data, length = buffer.data, buffer.length
        self._check_bytes(data, length, final)
        plain = not (self.quoting and data.find(b'"', 0, length) >= 0) and data.find(b"\r", 0, length) < 0
        # Files smaller than a chunk are always checked record by record.
        whole_file = not self.chunks and length < self.chunk_bytes
        self.chunks += 1
        if plain and not whole_file:
            end = length if final else data.rfind(b"\n", 0, length) + 1
            if end and self._plain(data, buffer.array()[:end], final):
                return end
        return self._detailed(buffer.array(), final)

    def _check_bytes(self, data: bytearray, length: int, final: bool) -> None:
        nul = data.find(b"\x00", 0, length)
        if nul >= 0:
            raise TextFileError(
                self.lines + data.count(b"\n", 0, nul) + 1, "a NUL byte (this is not UTF-8 text)",
                "if the file is UTF-16 text, pass encoding='utf-16'; otherwise check that it is a text file",
            )
        if np.frombuffer(data, np.uint8, length).max(initial=0) >= 0x80:
            check_utf8(data, length, self.lines, final=final)

    def _plain(self, data: bytearray, a: np.ndarray, final: bool) -> bool:
        """Count a quote-free, CR-free chunk; False when it needs the record-by-record pass."""
        newlines, delims, irregular = _plain_counts(data, a, self.delim, self.tally.width - 1)
        records = newlines + (1 if final and a[-1] != NL else 0)
        expected = (self.tally.width - 1) * records
        if irregular or a[0] == NL or (self.delim is not None and delims != expected):
            return False
        self.tally.add_regular(records, self.lines + 1)
        self.tally.max_bytes = max(self.tally.max_bytes, 2 * _BLOCK)  # every block holds a newline
        self.tally.lf += newlines
        self.lines += newlines
        self.ended_line = a[-1] == NL
        return True

    def _detailed(self, a: np.ndarray, final: bool) -> int:
        newlines = np.flatnonzero(a == NL)
        quotes = np.flatnonzero(a == QUOTE) if self.quoting else np.empty(0, np.int64)
        separators = newlines[outside_quotes(quotes, newlines)] if len(quotes) else newlines
        end = len(a) if final else (int(separators[-1]) + 1 if len(separators) else 0)
        if end == 0:
            return 0
        quotes, newlines = _before(quotes, end), _before(newlines, end)
        separators = _before(separators, end)
        _check_quotes(a, quotes, self.delim, end)
        if final and len(quotes) % 2:
            raise TextFileError(self.lines + _line_of(newlines, quotes[-1]), "a quoted field is never closed",
                                "close the quote (a quote inside a field is doubled: \"5\"\" screen\")")
        self._check_carriage_returns(a, quotes, newlines, end)
        starts, stops = _record_bounds(separators, end)
        crlf = (stops > starts) & (a[np.maximum(stops - 1, 0)] == CR)
        self._count_endings(crlf, len(separators))
        fields = self._fields(a[:end], quotes, starts, stops - crlf)
        self.tally.max_bytes = max(self.tally.max_bytes, int((stops - starts).max(initial=0)) + 1)
        multiline = len(separators) != len(newlines)
        first_lines = self.lines + 1 + (np.searchsorted(newlines, starts) if multiline else np.arange(len(starts)))
        self.tally.add(first_lines, fields)
        self.tally.multiline |= multiline
        self.lines += len(newlines)
        self.ended_line = a[end - 1] == NL
        return end

    def _count_endings(self, crlf: np.ndarray, ended: int) -> None:
        """Records ended by CRLF / LF (the first ``ended`` records end with a newline)."""
        with_crlf = int(np.count_nonzero(crlf[:ended]))
        self.tally.crlf += with_crlf
        self.tally.lf += ended - with_crlf

    def _check_carriage_returns(self, a: np.ndarray, quotes: np.ndarray, newlines: np.ndarray, end: int) -> None:
        crs = np.flatnonzero(a[:end] == CR)
        if not len(crs):
            return
        outside = outside_quotes(quotes, crs)
        following = a[np.minimum(crs + 1, end - 1)]
        bare = crs[outside & ((following != NL) | (crs + 1 >= end))]
        if len(bare):
            raise TextFileError(
                self.lines + _line_of(newlines, bare[0]),
                "a carriage return (\\r) that does not end a line (old Mac line endings, or a stray \\r)",
                "convert the line endings to \\n or \\r\\n, or quote the field that holds it",
            )

    def _fields(self, a: np.ndarray, quotes: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Fields per record (0 for a blank record)."""
        blank = stops <= starts
        if self.delim is None:
            return np.where(blank, 0, 1)
        delims = np.flatnonzero(a == self.delim)
        if len(quotes):
            delims = delims[outside_quotes(quotes, delims)]
        # A record starts right after the previous one's separator: no delimiter in between.
        before = np.searchsorted(delims, np.concatenate((starts[:1], stops)))
        return np.where(blank, 0, np.diff(before) + 1)


def _plain_counts(data: bytearray, a: np.ndarray, delim: int | None, per_line: int) -> tuple[int, int, bool]:
    """(newlines, delimiters, irregular) of a quote-free chunk, in cache-sized blocks.

    ``irregular``: two newlines in a row (a blank line), or, with a delimiter, a
    block whose whole lines do not hold ``per_line`` delimiters each on average
    (nor the line across its start). A short and a long line that balance each
    other exactly inside one block are not told apart.
    """
    newline_mask = np.empty(min(_BLOCK, len(a)), bool)
    other = np.empty_like(newline_mask)
    newlines = delims = carried = 0
    irregular = False
    for start in range(0, len(a), _BLOCK):
        block = a[start:start + _BLOCK]
        n = len(block)
        np.equal(block, NL, out=newline_mask[:n])
        in_block = int(np.count_nonzero(newline_mask[:n]))
        newlines += in_block
        np.logical_and(newline_mask[1:n], newline_mask[:n - 1], out=other[:n - 1])
        irregular |= bool(other[:n - 1].any()) or (start > 0 and a[start - 1] == NL and block[0] == NL)
        if delim is None:
            continue
        np.equal(block, delim, out=other[:n])
        block_delims = int(np.count_nonzero(other[:n]))
        delims += block_delims
        if not in_block:  # a line longer than a block: checked record by record
            return newlines, delims, True
        first = data.find(b"\n", start, start + n) - start
        last = data.rfind(b"\n", start, start + n) - start
        before, after = int(np.count_nonzero(other[:first])), int(np.count_nonzero(other[last + 1:n]))
        irregular |= carried + before != per_line or block_delims - before - after != per_line * (in_block - 1)
        carried = after
    return newlines, delims, irregular


def _before(positions: np.ndarray, end: int) -> np.ndarray:
    """The sorted positions below ``end`` (a view, no copy)."""
    return positions[: np.searchsorted(positions, end)]


def outside_quotes(quotes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """True where an even number of quotes comes before the position."""
    if not len(quotes):
        return np.ones(len(positions), bool)
    return (np.searchsorted(quotes, positions) & 1) == 0


def _check_quotes(a: np.ndarray, quotes: np.ndarray, delim: int | None, end: int) -> None:
    """Raise StrayQuote unless every quote opens a field, closes it or is doubled.

    Quotes alternate: even ones (0, 2, ...) open a quoted field and follow a
    delimiter, a newline, the chunk start or a closing quote (``""``); odd ones
    close it and precede a delimiter, a line end or an opening quote.
    """
    if not len(quotes):
        return
    opens = np.zeros(256, bool)
    opens[[NL, QUOTE] + ([delim] if delim is not None else [])] = True
    closes = opens.copy()
    closes[CR] = True
    opening, closing = quotes[0::2], quotes[1::2]
    after_start = opening[1:] if opening[0] == 0 else opening
    if not opens.take(a.take(after_start - 1)).all():
        raise StrayQuote
    inside = closing[:-1] if len(closing) and closing[-1] == end - 1 else closing
    if not closes.take(a.take(inside + 1)).all():
        raise StrayQuote


def _record_bounds(separators: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive, before the separator) of each record in a[:end]."""
    stops = separators
    if end and (not len(separators) or separators[-1] != end - 1):
        stops = np.append(separators, end)  # a last record without a final newline
    starts = np.concatenate(([0], separators[: len(stops) - 1] + 1)).astype(np.int64)
    return starts, stops.astype(np.int64)


def _line_of(newlines: np.ndarray, position: int) -> int:
    """1-based line (within the chunk) of a byte position."""
    return int(np.searchsorted(newlines, position)) + 1


def check_utf8(data: bytes | bytearray, length: int | None = None, lines_before: int = 0, *,
               final: bool = False) -> None:
    """Raise TextFileError naming the first byte of ``data[:length]`` that is not UTF-8 and its line.

    Unless ``final``, a character cut by the end of ``data`` is not an error (it
    is checked with the next chunk).
    """
    length = len(data) if length is None else length
    try:
        codecs.utf_8_decode(memoryview(data)[:length], "strict", final)
    except UnicodeDecodeError as exc:
        raise TextFileError(
            lines_before + data.count(b"\n", 0, exc.start) + 1,
            f"the file is not UTF-8 (byte 0x{data[exc.start]:02x})",
            "pass its encoding, e.g. encoding='cp1252' (Windows, or latin-1)",
        ) from None


def _file_bytes(open_binary: Callable[[], BinaryIO]) -> int:
    """The size of the (decompressed) file: an upper bound of its longest record."""
    size = 0
    with open_binary() as stream:
        while data := stream.read(CHUNK_BYTES):
            size += len(data)
    return size


def check_utf8_stream(open_binary: Callable[[], BinaryIO]) -> None:
    """Raise TextFileError at the first byte of the file that is not UTF-8 (chunk by chunk)."""
    lines, pending = 0, b""
    with open_binary() as stream:
        while True:
            data = stream.read(CHUNK_BYTES)
            buf = pending + data
            decoded_to = len(buf)
            try:
                decoded_to = codecs.utf_8_decode(buf, "strict", not data)[1]
            except UnicodeDecodeError:
                check_utf8(buf, None, lines, final=not data)
            lines += buf.count(b"\n", 0, decoded_to)
            pending = buf[decoded_to:]
            if not data:
                return


def scan_with_csv(open_binary: Callable[[], BinaryIO], delimiter: str, *, header: bool,
                  width: int, blank_is_row: bool = False) -> RecordScan:
    """The same scan through Python's csv module (quotes inside unquoted fields are literal).

    One Python step per record: used only for files whose quotes parity cannot place.
    """
    check_utf8_stream(open_binary)
    crlf, lf = _line_endings(open_binary)
    tally = _Tally(header=header, width=width, blank_is_row=blank_is_row, crlf=crlf, lf=lf)
    with open_binary() as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
        ends = []
        for starts, fields, last_lines in _csv_records(reader, tally):
            tally.add(np.asarray(starts, np.int64), np.asarray(fields, np.int64))
            ends.append(np.asarray(last_lines, np.int64))
        tally.lines = reader.line_num
    return dataclasses.replace(tally.result(), separator_lines=_joined(ends), max_record_bytes=_file_bytes(open_binary))


def _csv_records(reader, tally: _Tally, batch: int = 1 << 20):
    """Batches of (start lines, field counts, last lines) read by a csv reader; sets tally.multiline."""
    starts, fields, last = [], [], []
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise TextFileError(reader.line_num, f"the quoting cannot be read ({exc})",
                                "a quoted field must end right before a delimiter or the line end") from None
        starts.append(before + 1)
        fields.append(len(row))
        last.append(reader.line_num)
        tally.multiline |= reader.line_num - before > 1
        if len(starts) == batch:
            yield starts, fields, last
            starts, fields, last = [], [], []
    yield starts, fields, last


def _line_endings(open_binary: Callable[[], BinaryIO]) -> tuple[int, int]:
    """(CRLF, LF-only) line ends in the whole file; raises on a carriage return alone."""
    crlf = newlines = 0
    previous = b""
    with open_binary() as stream:
        while data := stream.read(CHUNK_BYTES):
            buf = previous + data
            a = np.frombuffer(buf, np.uint8)
            crs = np.flatnonzero(a[:-1] == CR)
            bare = crs[a[crs + 1] != NL]
            if len(bare):
                raise TextFileError(newlines + buf.count(b"\n", 0, int(bare[0])) + 1,
                                    "a carriage return (\\r) that does not end a line",
                                    "convert the line endings to \\n or \\r\\n")
            crlf += len(crs)
            newlines += data.count(b"\n")
            previous = buf[-1:]
    if previous == b"\r":
        raise TextFileError(newlines + 1, "a carriage return (\\r) that does not end a line",
                            "convert the line endings to \\n or \\r\\n")
    return crlf, newlines - crlf
