"""Shared pieces of the CLI: output formats, error exits, progress."""

from __future__ import annotations

import contextlib
import enum
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clv.errors import ClvError

console = Console(stderr=True)


class OutputFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


FORMAT_OPTION = typer.Option(OutputFormat.table, "--format", "-f", help="How to print the result: table, csv or json.")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="Write the result to this file instead of the terminal (.csv, .json, .parquet).")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line reason to stderr and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into a one-line message and exit code 2."""
    try:
        yield
    except (ClvError, FileNotFoundError) as exc:
        fail(str(exc))


@contextlib.contextmanager
def progress(description: str) -> Iterator[None]:
    """A spinner with elapsed time for work whose length is not known up front."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        bar.add_task(description, total=None)
        yield


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(row) for row in frame.to_dict(orient="records")]


def emit(result: pd.DataFrame | dict[str, Any], fmt: OutputFormat, output: Path | None, title: str = "") -> None:
    """Write a frame or a dict as a table, CSV or JSON, to a file or stdout."""
    if output is not None:
        _write_file(result, output, fmt)
        console.print(f"wrote {output}")
        return
    if fmt is OutputFormat.json:
        payload = frame_records(result) if isinstance(result, pd.DataFrame) else _jsonable(result)
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    elif fmt is OutputFormat.csv:
        frame = result if isinstance(result, pd.DataFrame) else pd.DataFrame([result])
        sys.stdout.write(frame.to_csv(index=False))
    else:
        Console().print(rich_table(result, title))


def _write_file(result: pd.DataFrame | dict[str, Any], output: Path, fmt: OutputFormat) -> None:
    frame = result if isinstance(result, pd.DataFrame) else None
    suffix = output.suffix.lower()
    if suffix == ".parquet" and frame is not None:
        frame.to_parquet(output, index=False)
    elif suffix == ".json" or (fmt is OutputFormat.json and suffix != ".csv"):
        payload = frame_records(frame) if frame is not None else _jsonable(result)
        output.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        (frame if frame is not None else pd.DataFrame([result])).to_csv(output, index=False)


def rich_table(result: pd.DataFrame | dict[str, Any], title: str = "", max_rows: int = 40) -> Table:
    """A Rich table of a frame (first ``max_rows`` rows) or of a dict (key, value)."""
    table = Table(title=title or None, show_lines=False)
    if isinstance(result, dict):
        table.add_column("measure")
        table.add_column("value", justify="right")
        for key, value in result.items():
            table.add_row(str(key), _format_cell(value))
        return table
    for column in result.columns:
        justify = "right" if pd.api.types.is_numeric_dtype(result[column]) else "left"
        table.add_column(str(column), justify=justify)
    for row in result.head(max_rows).itertuples(index=False):
        table.add_row(*(_format_cell(v) for v in row))
    if len(result) > max_rows:
        table.caption = f"first {max_rows} of {len(result):,} rows (use --format csv or --output for all)"
    return table


def _format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return "-"
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    return str(value)
