"""Terminal tables that fit the terminal and show data literally.

:class:`FittedTable` measures its cells when it is printed and lays them out for
the console's width: one table when everything fits; a long measure/value view
for a single row (or a dict); otherwise the columns are split into several
tables that each repeat the first (key) column. No cell is cut to "…": long
text wraps, and a word wider than its column is folded onto the next line.
Every cell, header, title and caption is a :class:`rich.text.Text`, so text from
the data (``[/]``, ``[link=...]``) is shown as it is, never read as Rich markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # imported where used: `clv --help` starts without them (tests/test_startup.py)
    import pandas as pd

TEXT_WIDTH_CAP = 36
"""Text columns wider than this wrap instead of taking the whole line."""
_EDGES = 1
"""Width of the table's outer left border."""
_PER_COLUMN = 3
"""Padding (one space each side) plus the border after each column."""


def is_identifier(name: Any) -> bool:
    """Columns of ids (``customer_id``, ``order_id``...): shown as written, without thousands separators."""
    text = str(name).lower()
    return text == "id" or text.endswith(("_id", " id"))


def format_cell(value: Any, identifier: bool = False) -> str:
    """A cell as text: thousands separators, four significant digits below 10,000, '-' for missing.

    ``identifier``: an id is shown as written (17850, not 17,850).
    """
    import numpy as np
    import pandas as pd
    if identifier and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(value)
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return str(value)
        if abs(value) >= 1e15:
            return f"{value:.4g}"
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if value is pd.NA or value is pd.NaT:
        return "-"
    return str(value)


@dataclass
class _Column:
    header: str
    cells: list[str]
    numeric: bool

    @property
    def width(self) -> int:
        """Width it needs: its longest cell or header; long text is capped (it wraps)."""
        natural = max([cell_len(self.header), *(cell_len(c) for c in self.cells)])
        return natural if self.numeric else min(natural, max(TEXT_WIDTH_CAP, cell_len(self.header)))


class FittedTable:
    """A frame (first ``max_rows`` rows) or a dict, printed to fit the console's width."""

    def __init__(self, result: pd.DataFrame | Mapping[str, Any], title: str = "", max_rows: int = 40) -> None:
        import pandas as pd
        self.title = title
        self.caption = ""
        if isinstance(result, Mapping):
            self.columns = [_Column("measure", [str(k) for k in result], False),
                            _Column("value", [format_cell(v) for v in result.values()], True)]
            self.rows = len(result)
            return
        shown = result.head(max_rows)
        self.columns = [
            _Column(str(name), [format_cell(v, is_identifier(name)) for v in shown.iloc[:, i].tolist()],
                    pd.api.types.is_numeric_dtype(shown.iloc[:, i]) and not pd.api.types.is_bool_dtype(shown.iloc[:, i]))
            for i, name in enumerate(result.columns)
        ]
        self.rows = len(shown)
        if len(result) > max_rows:
            self.caption = f"first {max_rows} of {len(result):,} rows (use --format csv or --output for all)"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if _table_width(self.columns) <= width or len(self.columns) <= 2:
            yield self._table(self.columns, self.title, self.caption)
        elif self.rows == 1:
            yield self._table(self._long(), self.title, self.caption)
        else:
            groups = list(_column_groups(self.columns, width))
            for number, group in enumerate(groups, start=1):
                title = f"{self.title} ({number}/{len(groups)})" if self.title else f"({number}/{len(groups)})"
                yield self._table(group, title, self.caption if number == len(groups) else "")

    def _long(self) -> list[_Column]:
        """The single row as measure/value pairs."""
        return [_Column("measure", [c.header for c in self.columns], False),
                _Column("value", [c.cells[0] for c in self.columns], True)]

    @staticmethod
    def _table(columns: list[_Column], title: str, caption: str) -> Table:
        table = Table(title=Text(title) if title else None, caption=Text(caption) if caption else None)
        for column in columns:
            table.add_column(Text(column.header), justify="right" if column.numeric else "left", overflow="fold",
                             min_width=column.width if column.numeric else None)
        for row in zip(*(c.cells for c in columns)) if columns and columns[0].cells else ():
            table.add_row(*(Text(cell) for cell in row))
        return table


def _table_width(columns: Iterable[_Column]) -> int:
    return _EDGES + sum(c.width + _PER_COLUMN for c in columns)


def _column_groups(columns: list[_Column], width: int) -> Iterator[list[_Column]]:
    """Consecutive columns packed into tables of at most ``width``, each led by the first (key) column."""
    key, rest = columns[0], columns[1:]
    group: list[_Column] = [key]
    for column in rest:
        if len(group) > 1 and _table_width([*group, column]) > width:
            yield group
            group = [key]
        group.append(column)
    yield group


def rich_table(result: pd.DataFrame | Mapping[str, Any], title: str = "", max_rows: int = 40) -> FittedTable:
    """The terminal view of a frame or a dict: see :class:`FittedTable`."""
    return FittedTable(result, title, max_rows)
