"""Files the commands write: checked before any work, written in the format their name says.

* :func:`check_outputs` runs before every command (see :mod:`clv.cli.core`): an
  output that is an input file, a folder given for a file, a missing folder, an
  extension ``clv`` cannot write or two outputs naming one file stop the command
  with a one-line error (exit 2) before anything is read or written.
* :func:`write_frame`, :func:`write_payload` and :func:`write_table` write by the
  file's extension: ``.csv`` (also ``.csv.gz``), ``.json`` or ``.parquet``.
* CSV meant for spreadsheets is protected against formula injection (OWASP): a
  text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
  gets a leading ``'``, unless it is a plain number such as ``-5.0``. Numeric
  columns are never changed. The global ``--raw-csv`` option turns this off.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clv.errors import DataError

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

CSV = (".csv", ".csv.gz")
TABLE_SUFFIXES = (*CSV, ".json", ".parquet")
ROWS_SUFFIXES = (*CSV, ".parquet")
FORMULA_FIRST_CHARACTERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
RAW_CSV_HELP = ("Write CSV cells exactly as they are. By default a text cell starting with =, +, -, @, tab or CR gets "
                "a leading ' so that spreadsheets do not run it as a formula (numbers are never changed).")

_escape_csv: contextvars.ContextVar[bool] = contextvars.ContextVar("clv_escape_csv", default=True)


@contextlib.contextmanager
def csv_escaping(enabled: bool) -> Iterator[None]:
    """Within the block, CSV written by the CLI neutralises formulas (``enabled``) or not."""
    token = _escape_csv.set(enabled)
    try:
        yield
    finally:
        _escape_csv.reset(token)


# --------------------------------------------------------------------------- checks before work


@dataclass(frozen=True)
class OutputKind:
    """What an output option names: a file with one of ``suffixes``, or a folder (``suffixes`` empty).

    ``makes_folder``: the writer creates a missing folder for the file (else a missing folder is refused).
    """

    suffixes: tuple[str, ...] = TABLE_SUFFIXES
    makes_folder: bool = False

    @property
    def is_folder(self) -> bool:
        return not self.suffixes


FOLDER = OutputKind(())
OUTPUTS: dict[str, OutputKind] = {
    "output": OutputKind(TABLE_SUFFIXES),
    "rejects": OutputKind(ROWS_SUFFIXES),
    "orders_out": OutputKind((".parquet", *CSV)),
    "save": OutputKind((".json",)),
    "customers": OutputKind(ROWS_SUFFIXES),
    "series_out": OutputKind(TABLE_SUFFIXES),
    "groups_out": OutputKind(TABLE_SUFFIXES),
    "charts": FOLDER,
    "directory": FOLDER,
}
"""Output parameters of the commands (by parameter name) and what they accept."""
COMMAND_OUTPUTS: dict[tuple[str, str], OutputKind] = {
    ("report", "output"): OutputKind((".html", ".htm"), makes_folder=True),
}
"""Per-command exceptions to :data:`OUTPUTS`."""
NAMED_INPUTS = ("cac",)
"""Text options that may name an input file (``--cac spend.csv``)."""


def suffix_of(path: Path) -> str:
    """``.csv.gz`` for a gzipped CSV, else the last extension, lower case ('' when there is none)."""
    double = "".join(path.suffixes[-2:]).lower()
    return double if double == ".csv.gz" else path.suffix.lower()


def output_kind(command: str | None, name: str) -> OutputKind | None:
    return COMMAND_OUTPUTS.get((command or "", name), OUTPUTS.get(name))


def split_paths(command: str | None, params: Mapping[str, Any]) -> tuple[dict[str, Path], list[Path]]:
    """({parameter: output path}, [input paths]) among a command's parameter values."""
    outputs, inputs = {}, []
    for name, value in params.items():
        if value is None:
            continue
        if output_kind(command, name) is not None and isinstance(value, Path):
            outputs[name] = value
        elif isinstance(value, Path):
            inputs.append(value)
        elif name in NAMED_INPUTS and isinstance(value, str) and os.path.isfile(value):
            inputs.append(Path(value))
    return outputs, inputs


def check_outputs(command: str | None, params: Mapping[str, Any], flags: Mapping[str, str]) -> None:
    """Refuse, before any work, outputs that would destroy an input, cannot be written, or clash.

    ``flags``: parameter name -> the option as typed on the command line (``--rejects``).
    """
    outputs, inputs = split_paths(command, params)
    for name, path in outputs.items():
        flag = flags.get(name, "--" + name.replace("_", "-"))
        _check_place(path, flag, output_kind(command, name))
        for source in inputs:
            if same_file(path, source):
                raise DataError(f"{flag} {str(path)!r} is the input file {str(source)!r}: writing it would replace your "
                                "data. Fix: write to another file.")
    _check_distinct(outputs, flags)


def _check_place(path: Path, flag: str, kind: OutputKind) -> None:
    if kind.is_folder:
        if path.exists() and not path.is_dir():
            raise DataError(f"{flag} {str(path)!r} is a file, but {flag} names a folder. Fix: give a folder path.")
        return
    if path.is_dir():
        raise DataError(f"{flag} {str(path)!r} is a folder; {flag} names a file. "
                        f"Fix: give a file name, e.g. {str(path / ('result' + kind.suffixes[0]))!r}.")
    folder = _existing_part(path.parent) if kind.makes_folder else path.parent
    if not folder.exists():
        raise DataError(f"the folder {str(folder)!r} of {flag} {str(path)!r} does not exist. "
                        f"Fix: create it first (mkdir -p {str(folder)!r}) or write somewhere else.")
    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} in {flag} {str(path)!r} is a file, not a folder. Fix: check the path.")
    suffix = suffix_of(path)
    if suffix not in kind.suffixes:
        what = f"the extension {suffix!r}" if suffix else "no extension"
        raise DataError(f"{flag} {str(path)!r} has {what}; clv writes {', '.join(kind.suffixes)} here. "
                        f"Fix: name the file with one of these extensions.")


def _existing_part(folder: Path) -> Path:
    """The nearest part of ``folder`` that exists (the folder the writer would create the rest in)."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _check_distinct(outputs: Mapping[str, Path], flags: Mapping[str, str]) -> None:
    names = list(outputs)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if same_file(outputs[first], outputs[second]):
                raise DataError(f"{flags.get(first, first)} and {flags.get(second, second)} both name "
                                f"{str(outputs[first])!r}. Fix: give each output its own file.")


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file (links and relative paths resolved)."""
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
        return first.resolve() == second.resolve()
    except OSError:
        return False


# --------------------------------------------------------------------------- formula injection


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``'`` before every text cell a spreadsheet could run as a formula (a copy when changed)."""
    import pandas as pd
    if not _escape_csv.get():
        return frame
    changed = {}
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        risky = _risky_text(values)
        if risky.any():
            changed[column] = values.where(~risky, "'" + values[risky].astype(str))
    return frame.assign(**changed) if changed else frame


def _risky_text(values: pd.Series) -> pd.Series:
    """True where a cell is text that starts like a formula and is not a plain number (non-text cells: False)."""
    import pandas as pd
    try:
        text = values.str
    except AttributeError:  # no text in the column (e.g. an object column of numbers)
        return pd.Series(False, index=values.index)
    risky = text[:1].isin(FORMULA_FIRST_CHARACTERS).fillna(False).astype(bool)
    if risky.any():
        number = text.fullmatch(PLAIN_NUMBER).fillna(False).astype(bool)
        risky &= ~number
    return risky


def neutralised_table(table):
    """The Ibis table with the same protection on its text columns (computed by the engine, for big exports)."""
    import ibis

    if not _escape_csv.get():
        return table
    updates = {}
    for name, dtype in table.schema().items():
        if dtype.is_string():
            column = table[name]
            risky = column.substr(0, 1).isin(FORMULA_FIRST_CHARACTERS) & ~column.re_search(f"^{PLAIN_NUMBER}$")
            updates[name] = ibis.ifelse(risky.fill_null(False), "'" + column, column)
    return table.mutate(**updates) if updates else table


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text (for the terminal), protected as :func:`neutralise_formulas` says."""
    return neutralise_formulas(frame).to_csv(index=False)


# --------------------------------------------------------------------------- writers


def jsonable(value: Any) -> Any:
    """Plain JSON values: NumPy numbers, NaN -> None, timestamps -> text, nested dicts and lists."""
    import numpy as np
    import pandas as pd
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(value))
    if isinstance(value, pd.DataFrame):
        return frame_records(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [jsonable(row) for row in frame.to_dict(orient="records")]


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as CSV, JSON (a list of records) or Parquet, by the file's extension."""
    suffix = suffix_of(path)
    if suffix in CSV:
        neutralise_formulas(frame).to_csv(path, index=False)
    elif suffix == ".json":
        path.write_text(json.dumps(frame_records(frame), indent=2, default=str) + "\n", encoding="utf-8")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        raise DataError(f"cannot write {str(path)!r}: use a .csv, .json or .parquet file name.")
    return path


def write_payload(payload: Mapping[str, Any], path: Path) -> Path:
    """Write a dict: JSON as it is; CSV or Parquet as one row."""
    import pandas as pd
    if suffix_of(path) == ".json":
        path.write_text(json.dumps(jsonable(dict(payload)), indent=2, default=str) + "\n", encoding="utf-8")
        return path
    return write_frame(pd.DataFrame([{k: _flat(v) for k, v in payload.items()}]), path)


def _flat(value: Any) -> Any:
    return json.dumps(jsonable(value), default=str) if isinstance(value, (dict, list, tuple)) else value


def write_table(table, con, path: Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write an Ibis table (on ``con``, its engine) to one file: Parquet (with key-value ``metadata``) or CSV (protected).

    DuckDB writes the file itself; on any other engine (Spark, PostgreSQL...) the
    rows come back in Arrow batches, one at a time (:func:`clv.engine.dialect.write_local_parquet`).
    """
    from clv.engine import dialect

    suffix = suffix_of(path)
    if suffix == ".parquet":
        dialect.write_local_parquet(table, str(path), metadata, con=con)
    elif suffix in CSV:
        dialect.write_local_csv(neutralised_table(table), str(path), con=con)
    else:
        raise DataError(f"cannot write {str(path)!r}: use a .parquet or .csv file name.")
    return path
