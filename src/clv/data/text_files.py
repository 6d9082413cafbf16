"""Bytes of a user's text file before DuckDB reads it: opening, encoding, header, line endings.

Every problem found here becomes a one-line :class:`~clv.errors.DataError` that
names the file, the line when there is one, and the option that fixes it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from clv.data.text_scan import (
    CHUNK_BYTES,
    CR,
    NL,
    TextFileError,
    check_utf8_stream,
    outside_quotes,
)
from clv.errors import DataError

UTF8 = "utf-8"
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
_RESERVED_PREFIX = "__clv_"


def is_gzip(path: str) -> bool:
    return path.lower().endswith(".gz")


def opener(path: str) -> Callable[[], BinaryIO]:
    """A function opening the file's bytes (decompressed for .gz)."""
    if is_gzip(path):
        return lambda: gzip.open(path, "rb")
    return lambda: open(path, "rb", buffering=0)


def check_file(path: str) -> None:
    """The path names one existing, non-empty regular file."""
    if os.path.isdir(path):
        raise DataError(f"{path!r} is a folder; fix: name a file in it (or read a folder of Parquet parts "
                        "with clv.data.Parquet(folder)).")
    if not os.path.isfile(path):
        raise DataError(f"file {path!r} not found; fix: check the path (a path names exactly one file; "
                        "for several files pass a list or pattern=...).")
    if os.path.getsize(path) == 0:
        raise DataError(f"file {path!r} is empty (0 bytes); fix: check that it was copied or exported completely.")


@contextlib.contextmanager
def file_errors(path: str) -> Iterator[None]:
    """Turn byte-level problems of ``path`` into one-line DataErrors naming it."""
    try:
        yield
    except TextFileError as exc:
        raise DataError(f"{path!r}, {exc}") from None
    except _GZIP_ERRORS as exc:
        raise DataError(f"{path!r} is not a complete gzip file ({exc}); fix: download or compress it again, "
                        "or pass the uncompressed file.") from None


def canonical_encoding(encoding: str | None) -> str:
    """Python's name of the encoding ('utf-8' for None); DataError for an unknown one."""
    if encoding is None:
        return UTF8
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}; fix: e.g. encoding='utf-8', 'cp1252', "
                        "'latin-1' or 'utf-16'.") from None
    return UTF8 if name in ("utf-8", "utf-8-sig") else name


def sniff_utf16(path: str) -> None:
    """A UTF-16 byte order mark read as UTF-8: say which option reads it."""
    with opener(path)() as stream:
        start = stream.read(2)
    if start in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path!r} is UTF-16 text (it starts with a UTF-16 byte order mark); "
                        "fix: encoding='utf-16'.")


def transcode_to_utf8(path: str, encoding: str, directory: str) -> str:
    """A UTF-8 copy of the file (decompressed), in ``directory``; returns its path."""
    target = os.path.join(directory, "utf8.csv")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    done = 0
    with opener(path)() as source, open(target, "wb") as sink:
        while True:
            data = source.read(CHUNK_BYTES)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeError as exc:  # UnicodeDecodeError, or UTF-16 without a byte order mark
                where = (f"byte 0x{exc.object[exc.start]:02x} at byte {done + exc.start}"
                         if isinstance(exc, UnicodeDecodeError) else str(exc))
                raise DataError(f"{path!r} cannot be read as {encoding!r} ({where}); fix: pass the file's "
                                "encoding, e.g. encoding='utf-8', 'cp1252', 'latin-1' or 'utf-16-le'.") from None
            sink.write(text.encode(UTF8))
            done += len(data)
            if not data:
                return target


def without_separator_crs(path: str, directory: str, quoting: bool,
                          separator_lines: np.ndarray | None = None) -> str:
    """A copy whose \\r\\n line ends become \\n (carriage returns inside quotes are kept).

    For files mixing \\r\\n and \\n line ends, which DuckDB's strict reader refuses.
    The record ends come from quote parity, or from ``separator_lines`` (the lines
    whose newline ends a record) when parity cannot place them.
    """
    target = os.path.join(directory, "lf.csv")
    carry, lines = b"", 0
    with opener(path)() as source, open(target, "wb") as sink:
        while True:
            data = source.read(CHUNK_BYTES)
            buf = carry + data
            a = np.frombuffer(buf, np.uint8)
            newlines = np.flatnonzero(a == NL)
            separators = _separators(a, newlines, quoting, separator_lines, lines)
            end = len(buf) if not data else (int(separators[-1]) + 1 if len(separators) else 0)
            sink.write(_drop_crs_before(a[:end], separators[separators < end]))
            lines += int(np.count_nonzero(newlines < end))
            carry = buf[end:]
            if not data:
                return target


def _separators(a: np.ndarray, newlines: np.ndarray, quoting: bool, separator_lines: np.ndarray | None,
                lines_before: int) -> np.ndarray:
    """Positions of the newlines that end records."""
    if separator_lines is not None:
        numbers = lines_before + 1 + np.arange(len(newlines))
        return newlines[np.isin(numbers, separator_lines)]
    if not quoting:
        return newlines
    quotes = np.flatnonzero(a == ord('"'))
    return newlines[outside_quotes(quotes, newlines)]


def _drop_crs_before(a: np.ndarray, separators: np.ndarray) -> bytes:
    before = separators[separators > 0] - 1
    drop = before[a[before] == CR]
    if not len(drop):
        return a.tobytes()
    keep = np.ones(len(a), bool)
    keep[drop] = False
    return a[keep].tobytes()


def temporary_directory() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="clv-text-")


def first_record(path: str, delimiter: str) -> tuple[list[str], int]:
    """The first non-blank record (Python's csv module) and the line where it ends."""
    with opener(path)() as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
        try:
            for row in reader:
                if row:
                    return row, reader.line_num
        except csv.Error as exc:
            raise TextFileError(reader.line_num, f"the quoting cannot be read ({exc})",
                                "a quoted field must end right before a delimiter or the line end") from None
        except UnicodeDecodeError:
            raise_first_utf8_error(path)
    return [], 0


def raise_first_utf8_error(path: str) -> None:
    """Raise TextFileError at the first byte that is not UTF-8 (streamed, chunk by chunk)."""
    check_utf8_stream(opener(path))


def first_words(path: str) -> list[str]:
    """The first non-blank line split on runs of blanks (whitespace-separated files)."""
    with opener(path)() as stream:
        for line in io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline=""):
            if line.split():
                return line.split()
    return []


def column_names(path: str, found: list[str], names: tuple[str, ...] | None, header: bool) -> list[str]:
    """The columns' names: ``names`` if given, else the header's (trimmed), else column0, column1, ...

    Refuses duplicated names (compared without case, as DuckDB does) and reserved ones.
    """
    if names:
        chosen = [str(n) for n in names]
        if header and found and len(found) != len(chosen):
            raise DataError(f"names= gives {len(chosen)} names but the header of {path!r} has {len(found)} "
                            "columns; fix: give one name per column.")
    elif header:  # blanks around a name are dropped (as DuckDB's reader did)
        chosen = [name.strip() or f"column{i}" for i, name in enumerate(found)]
    else:
        chosen = [f"column{i}" for i in range(len(found))]
    check_names(chosen, f"the header of {path!r}")
    return chosen


def check_names(names: list[str], where: str) -> None:
    """DataError for names used twice (case-insensitive) or reserved by clv."""
    seen: dict[str, list[str]] = {}
    for name in names:
        seen.setdefault(str(name).lower(), []).append(str(name))
    repeated = [group for group in seen.values() if len(group) > 1]
    if repeated:
        listed = "; ".join(" = ".join(repr(n) for n in group) for group in repeated)
        raise DataError(f"{where} names a column more than once ({listed}; names are compared without "
                        "case); fix: rename the columns so that each name is used once (or pass names=[...]).")
    reserved = [n for n in names if str(n).startswith(_RESERVED_PREFIX)]
    if reserved:
        raise DataError(f"{where} uses the reserved column name {reserved[0]!r}; fix: rename it.")


def extra_names(names: list[str], total: int) -> list[str]:
    """Names for the fields past the header in long records: column<i>, made unique."""
    taken = {n.lower() for n in names}
    extra = []
    for i in range(len(names), total):
        name = f"column{i}"
        while name.lower() in taken:
            name += "_extra"
        taken.add(name.lower())
        extra.append(name)
    return extra


def sample_field(path: str, delimiter: str, index: int, count: int) -> list[str]:
    """About ``count`` values of field ``index`` from lines spread evenly through a UTF-8 text file.

    Seeks to ``count`` evenly spaced byte offsets and reads the first whole line
    after each (the header is never taken), so a sample of a large file costs a
    few reads, not a pass over it. A line inside a quoted multi-line field may
    give a wrong value: use the sample for robust statistics only.
    """
    size = os.path.getsize(path)
    values: list[str] = []
    with open(path, "rb") as handle:
        handle.readline()  # the header (or the first line)
        start = handle.tell()
        for offset in np.linspace(start, size, num=count, endpoint=False).astype(np.int64):
            handle.seek(int(offset))
            if offset > start:
                handle.readline()  # the rest of a line cut by the seek
            line = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n")
            fields = next(csv.reader([line], delimiter=delimiter), [])
            if len(fields) > index:
                values.append(fields[index])
    return values
