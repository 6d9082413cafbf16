"""What the command line prints when a command fails: one line, never a traceback.

A failure the user can fix (a :class:`~clv.errors.ClvError`, a missing or
unreadable file, a file that is not what its name says) prints one line,
``error: what is wrong. Fix: ...``, in the command line's words (see
:mod:`clv.cli.wording`), and exits 2. Anything else is a bug in ``clv``: its
traceback goes to a log file in the temp folder, and the command prints one line
naming that file and exits 1.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import platform
import re
import shlex
import sys
import tempfile
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from clv import __version__
from clv.cli.wording import to_cli
from clv.errors import ClvError

USER_ERROR = 2
"""Exit code of bad input, a bad file, a bad path or a bad option."""
CRASH = 1
"""Exit code of a bug in ``clv`` (the traceback is in a crash log)."""

_stderr = Console(stderr=True, soft_wrap=True, highlight=False)
_FILE_HINT = ("Fix: check that the file is complete and is what its name says (CSV: .csv, .csv.gz, .txt; "
              "Parquet: .parquet); see clv load --help for --delimiter and --names.")


def one_line(message: str) -> str:
    """The message on one line: line breaks and runs of blanks become one space."""
    return re.sub(r"\s+", " ", str(message)).strip()


def print_error(message: str, command: str | None = None) -> None:
    """``error: <message>`` on stderr, on one line, in CLI words, shown literally (no Rich markup)."""
    text = one_line(to_cli(message, command)) or "failed (no message)."
    _stderr.print(Text.assemble(("error: ", "bold red"), text))


def warning_printer(command: str | None) -> Callable[..., None]:
    """A ``warnings.showwarning`` for a command: ``warning: <message>`` on one line, in CLI words."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file=None,
             line=None) -> None:
        _stderr.print(Text.assemble(("warning: ", "yellow"), one_line(to_cli(str(message), command))))

    return show


def user_message(exc: BaseException, inputs: tuple[str, ...] = (), options: frozenset[str] = frozenset()) -> str | None:
    """The one-line explanation of a failure the user can fix, or None when it is a bug.

    ``inputs``: the files the command was reading, named in messages about a
    file's content that do not name the file themselves. ``options``: the
    command's options (a fix names an option only when the command has it).
    """
    if isinstance(exc, ClvError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return _about_file(inputs, _unicode_message(exc, "--encoding" in options))
    if isinstance(exc, OSError) and not _is_gzip_error(exc):
        return _os_message(exc)
    content = _content_message(exc)
    return None if content is None else _about_file(inputs, content)


def _os_message(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else "the file"
    shown = repr(str(name)) if exc.filename is not None else name
    if isinstance(exc, FileNotFoundError):
        return f"{shown} does not exist. Fix: check the path (and that its folder exists)."
    if isinstance(exc, IsADirectoryError):
        return f"{shown} is a folder, not a file. Fix: give the path of a file."
    if isinstance(exc, NotADirectoryError):
        return f"{shown}: a part of the path is a file, not a folder. Fix: check the path."
    if isinstance(exc, PermissionError):
        return f"no permission to use {shown}. Fix: check its permissions, or choose another path."
    if exc.errno == errno.ENOSPC:
        return f"the disk is full while writing {shown}. Fix: free some space or write elsewhere."
    reason = exc.strerror or str(exc)
    return f"cannot use {shown}: {reason}. Fix: check the path."


def _unicode_message(exc: UnicodeDecodeError, has_encoding_option: bool) -> str:
    byte = exc.object[exc.start:exc.start + 1].hex() if exc.object else "?"
    fix = ("save it as UTF-8, or pass its encoding with --encoding (e.g. --encoding cp1252 or latin-1)"
           if has_encoding_option else "save it as UTF-8 text (or give a Parquet file)")
    return f"the file is not {exc.encoding.upper()} text (byte 0x{byte} at position {exc.start}). Fix: {fix}."


def _is_gzip_error(exc: BaseException) -> bool:
    import gzip

    return isinstance(exc, gzip.BadGzipFile)


def _content_message(exc: BaseException) -> str | None:
    """Failures of the readers (DuckDB, pandas, Arrow, gzip) on a file whose content is not what it should be."""
    import duckdb
    import pandas as pd
    import pyarrow as pa

    if _is_gzip_error(exc) or isinstance(exc, zlib.error):
        return f"the compressed file is corrupt ({exc}). Fix: check that the .gz file is complete, or decompress it first."
    if isinstance(exc, EOFError):
        return ("the file ends in the middle of its data (a truncated download or copy?). "
                "Fix: get a complete copy of the file.")
    if isinstance(exc, (duckdb.IOException, duckdb.InvalidInputException)):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = re.sub(r"^(IO Error|Invalid Input Error):\s*", "", first)
        return f"cannot read the file: {first.rstrip('.')}. {_FILE_HINT}"
    if isinstance(exc, (pd.errors.EmptyDataError, pd.errors.ParserError)):
        return f"cannot read the file as CSV: {one_line(exc).rstrip('.')}. {_FILE_HINT}"
    if isinstance(exc, pa.ArrowException):
        return f"cannot read the file: {one_line(exc).rstrip('.')}. {_FILE_HINT}"
    return None


def _about_file(inputs: tuple[str, ...], message: str) -> str:
    """The message, saying which input it is about when it does not name the file itself."""
    if not inputs or any(path in message for path in inputs):
        return message
    if len(inputs) == 1:
        return f"{inputs[0]!r}: {message}"
    return f"one of the input files ({', '.join(repr(p) for p in inputs)}): {message}"


def report_failure(exc: BaseException, command: str | None = None, inputs: tuple[str, ...] = (),
                   options: frozenset[str] = frozenset()) -> int:
    """Print the one-line message of a failure; returns the exit code (2 user error, 1 bug)."""
    message = user_message(exc, inputs, options)
    if message is not None:
        print_error(message, command)
        return USER_ERROR
    log = write_crash_log(exc, command)
    where = f"the details are in {log}" if log is not None else "no crash log could be written"
    what = one_line(f"{type(exc).__name__}: {exc}")[:200]
    print_error(f"clv {command or ''} stopped on an internal error ({what}). This is a bug in clv, not in your data or "
                f"options; {where} (please attach it to a bug report).".replace("clv  ", "clv "))
    return CRASH


def write_crash_log(exc: BaseException, command: str | None) -> Path | None:
    """Write the traceback and the command line to ``clv-crash-<time>-<random>.log`` in the temp folder."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    lines = [
        f"clv {__version__} crashed in command {command!r} at {_dt.datetime.now().isoformat(timespec='seconds')}",
        f"command line: {shlex.join(sys.argv)}",
        f"working folder: {os.getcwd()}",
        f"python {platform.python_version()} on {platform.platform()}",
        "",
        *traceback.format_exception(type(exc), exc, exc.__traceback__),
    ]
    try:
        handle, name = tempfile.mkstemp(prefix=f"clv-crash-{stamp}-", suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as log:
            log.write("\n".join(line.rstrip("\n") for line in lines) + "\n")
    except OSError:
        return None
    return Path(name)
