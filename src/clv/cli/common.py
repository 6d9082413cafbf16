"""Shared pieces of the CLI: output formats, messages, progress.

Errors are not handled here: every command's failures go through
:mod:`clv.cli.core` (one line, exit 2; a crash log for a bug). Text printed to
the terminal is shown literally (:func:`note`, :func:`say`, tables of
:mod:`clv.cli.tables`), never read as Rich markup.
"""

from __future__ import annotations

import contextlib
import enum
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from clv.cli.failures import user_message
from clv.cli.outputs import CSV, csv_text, frame_records, jsonable, suffix_of, write_frame, write_payload
from clv.cli.tables import FittedTable, rich_table
from clv.errors import DataError

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

console = Console(stderr=True, soft_wrap=True)
"""Messages about the run (progress, notes, 'wrote FILE') go to stderr; results go to stdout."""

__all__ = [
    "FORMAT_OPTION", "OUTPUT_OPTION", "OutputFormat", "console", "emit", "fail", "frame_records", "jsonable", "note",
    "progress", "read_table_file", "rich_table", "say",
]


class OutputFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


FORMAT_OPTION = typer.Option(OutputFormat.table, "--format", "-f", help="How to print the result: table, csv or json.")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="Write the result to this file instead of the terminal (.csv, .json, .parquet).")


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line reason (exit 2): see :mod:`clv.cli.core`."""
    raise DataError(message)


def read_table_file(path: Path, what: str) -> pd.DataFrame:
    """A small table of the user's (CSV, .csv.gz, .tsv, .txt or Parquet) read with pandas.

    A file that is missing, a folder, or cannot be read stops the command with
    one line naming ``what`` (e.g. "--spend file") and the file. Customer data
    written by ``clv summarize --output x.parquet`` comes back as
    :class:`clv.summary.CustomerData`, with its time unit and dates.
    """
    import pandas as pd
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        fail(f"{what} {str(path)!r} {state}. Fix: check the path.")
    suffix = suffix_of(path)
    try:
        if suffix in (".parquet", ".pq"):
            return _parquet_table(path)
        if suffix in (*CSV, ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as exc:  # the reasons a file cannot be read, worded once in clv.cli.failures
        reason = user_message(exc)
        if reason is None:
            raise
        fail(f"{what} {str(path)!r}: {reason}")
    fail(f"{what} {str(path)!r}: clv reads .csv, .csv.gz, .tsv, .txt or .parquet files here. "
         "Fix: give a CSV or Parquet file.")


def _parquet_table(path: Path):
    """Customer data when the file carries clv's context, else a plain DataFrame."""
    import pandas as pd
    import pyarrow.parquet as pq

    from clv.summary.customer_data import PARQUET_KEY, CustomerData

    if PARQUET_KEY in (pq.read_schema(path).metadata or {}):
        return CustomerData.read_parquet(path)
    return pd.read_parquet(path)


def note(message: str, style: str | None = None, label: str = "") -> None:
    """A line about the run on stderr, shown literally (data and paths are never read as markup)."""
    console.print(Text.assemble((label, style or ""), message) if label else Text(message, style=style or ""))


def say(message: str, label: str = "", style: str = "bold") -> None:
    """A line of the result on stdout, shown literally, with an optional styled label."""
    Console(soft_wrap=True).print(Text.assemble((label, style), message) if label else Text(message))


@contextlib.contextmanager
def progress(description: str) -> Iterator[None]:
    """A spinner with elapsed time for work whose length is not known up front."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        bar.add_task(description, total=None)
        yield


def emit(result: Any, fmt: OutputFormat, output: Path | None, title: str = "") -> None:
    """Write a frame or a dict as a table, CSV or JSON, to a file (by its extension) or stdout."""
    import pandas as pd
    from clv.result_table import as_frame
    from clv.summary import CustomerData

    if output is not None:
        if suffix_of(output) == ".parquet" and isinstance(result, CustomerData):
            result.to_parquet(output)  # customer data: its time unit and dates travel in the file
        elif isinstance(as_frame(result), pd.DataFrame):
            write_frame(as_frame(result), output)
        else:
            write_payload(result, output)
        note(f"wrote {output}")
        return
    result = as_frame(result)
    if fmt is OutputFormat.json:
        payload = frame_records(result) if isinstance(result, pd.DataFrame) else jsonable(dict(result))
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    elif fmt is OutputFormat.csv:
        frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame([dict(result)])
        sys.stdout.write(csv_text(frame))
    else:
        Console().print(FittedTable(result, title))
