"""Spreadsheets (.xlsx, .xls, ...) read with python-calamine, one row per sheet row.

The first non-empty row names the columns. Every later row up to the last
used one is a data row, empty rows included (all cells NULL, marked
``__clv_blank``), so that ``source_row`` is the row number the spreadsheet
shows. Cells keep the reader's types (a whole number, which spreadsheets store
as a float, is read as an integer: ``17850``, not ``17850.0``); a column that
mixes types is read as text.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from clv.data.text_files import check_names
from clv.data.text_source import BLANK_COL, SOURCE_ROW_COL
from clv.errors import DataError


def read_sheet(path: str, sheet: str | int | None) -> pa.Table:
    """The sheet as Arrow: source row, the header's columns (typed as read) and, if needed, the blank marker."""
    rows = _sheet_rows(path, sheet)
    header_at = next((i for i, row in enumerate(rows) if any(_filled(v) for v in row)), None)
    if header_at is None:
        raise DataError(f"sheet {sheet if sheet is not None else 0!r} of {path!r} is empty; fix: pass sheet=... "
                        "naming the sheet that holds the orders.")
    names = _names(rows[header_at], path)
    body = [row[: len(names)] + [None] * (len(names) - len(row)) for row in rows[header_at + 1:]]
    frame = pd.DataFrame(body, columns=names, dtype=object).map(_cell)
    blank = frame.isna().all(axis=1)
    frame.insert(0, SOURCE_ROW_COL, pd.RangeIndex(header_at + 2, header_at + 2 + len(frame)))
    if blank.any():
        frame[BLANK_COL] = blank.to_numpy()
    from clv.data.sources import _all_null_as_text, _pandas_to_arrow

    return _all_null_as_text(_pandas_to_arrow(frame))


def _sheet_rows(path: str, sheet: str | int | None) -> list[list]:
    """Every row from row 1 (empty cells as ''), through python-calamine."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("reading spreadsheets needs python-calamine; fix: pip install python-calamine.") from None
    try:
        book = CalamineWorkbook.from_path(path)
        wanted = sheet if sheet is not None else 0
        chosen = book.get_sheet_by_index(wanted) if isinstance(wanted, int) else book.get_sheet_by_name(wanted)
        return chosen.to_python(skip_empty_area=False)
    except (IndexError, KeyError, LookupError) as exc:
        raise DataError(f"{path!r} has no sheet {sheet!r} (sheets: {', '.join(map(repr, book.sheet_names))}); "
                        "fix: pass sheet=... with one of them.") from exc
    except Exception as exc:  # noqa: BLE001 - calamine's errors on unreadable files
        if type(exc).__name__ in ("WorksheetNotFound",):
            raise DataError(f"{path!r} has no sheet {sheet!r} (sheets: {', '.join(map(repr, book.sheet_names))}); "
                            "fix: pass sheet=... with one of them.") from None
        raise DataError(f"{path!r} is not a readable spreadsheet ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                        "fix: check the file, or export the sheet as CSV.") from None


def _cell(value):
    """A cell as the sheet shows it: empty -> None, whole numbers (stored as floats) -> int."""
    if not _filled(value):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2.0**53:
        return int(value)
    return value


def _filled(value) -> bool:
    return value is not None and value != ""


def _names(header: list, path: str) -> list[str]:
    """Header cells as names (an empty cell is column<i>; trailing empty cells dropped)."""
    cells = list(header)
    while cells and not _filled(cells[-1]):
        cells.pop()
    names = [str(v) if _filled(v) else f"column{i}" for i, v in enumerate(cells)]
    check_names(names, f"the header row of {path!r}")
    return names
