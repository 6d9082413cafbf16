"""What a report section holds (plain data the template renders) and the number formats."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Metric:
    """A key number: ``key`` is a stable machine name (the HTML ``data-key``), ``raw`` the unformatted value."""

    key: str
    label: str
    value: str
    raw: Any = None


@dataclass
class TableBlock:
    caption: str
    columns: list[str]
    rows: list[list[str]]
    key: str = ""

    @property
    def text_columns(self) -> list[bool]:
        """Columns whose first cell is words (left-aligned), not a number."""
        first = self.rows[0] if self.rows else [""] * len(self.columns)
        return [bool(cell) and cell[0].isalpha() and cell != "n/a" for cell in first]


@dataclass
class FigureBlock:
    """A chart's HTML (a Plotly div without plotly.js) and its one-line reading."""

    key: str
    html: str
    reading: str


@dataclass
class Section:
    key: str
    title: str
    intro: str
    metrics: list[Metric] = field(default_factory=list)
    tables: list[TableBlock] = field(default_factory=list)
    figures: list[FigureBlock] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: str | None = None


def number(value: Any, digits: int = 0) -> str:
    """1234.5 -> '1,235' (digits=0) or '1,234.50'; NaN/None -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "infinite"
    return f"{float(value):,.{digits}f}"


def money(value: Any) -> str:
    """Amounts: whole units from 1,000 up, cents below."""
    if value is None or pd.isna(value):
        return "n/a"
    return number(value, 0 if abs(float(value)) >= 1000 else 2)


def pct(value: Any, digits: int = 1, signed: bool = False) -> str:
    """0.123 -> '12.3%' (a share, not already in percent)."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{100 * float(value):{'+' if signed else ''},.{digits}f}%"


def ratio(value: Any) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{float(value):.1f}x"


def table_from_frame(frame: pd.DataFrame, caption: str, formats: dict[str, Any], key: str = "") -> TableBlock:
    """A table of the ``formats`` columns (name -> (header, formatter)), in that order."""
    headers = [header for header, _ in formats.values()]
    columns = {name: frame[name].map(formatter) if formatter else frame[name].astype(str)
               for name, (_, formatter) in formats.items()}
    rows = [list(values) for values in zip(*columns.values())] if len(frame) else []
    return TableBlock(caption=caption, columns=headers, rows=rows, key=key)
