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
    """A table: caption, column headers, formatted rows; ``titles`` maps a header to its tooltip."""

    caption: str
    columns: list[str]
    rows: list[list[str]]
    key: str = ""
    titles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column in self.columns:  # a plain-words header carries its technical term as a tooltip
            if column in TECHNICAL_TERMS and column not in self.titles:
                term, meaning = TECHNICAL_TERMS[column]
                self.titles[column] = f"{term}: {meaning}"

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


# Plain words for the marketer, the technical term in a tooltip and in the page's "Technical terms" appendix -------

BASELINE_LABELS = {"classic": "classic formula", "naive": "naive guess", "rfm": "RFM scores"}

TECHNICAL_TERMS = {  # plain words -> (technical term, what it means)
    "typical error per customer": (
        "RMSE", ("root mean squared error: the square root of the average squared gap between each customer's "
                 "predicted and actual value; big misses count more than small ones")),
    "average error per customer": (
        "MAE", "mean absolute error: the average gap between each customer's predicted and actual value"),
    "ranking agreement": (
        "Spearman rank correlation", ("how well the predicted order of customers matches their actual order: 1 is "
                                      "a perfect ranking, 0 no better than chance")),
    "top 20% capture": (
        "top-quintile capture", ("the share of all actual value brought by the 20% of customers predicted to be "
                                 "worth most")),
    "interval": (
        "prediction interval", ("a range that should hold the actual value with the stated probability (80% of "
                                "customers inside an 80% interval)")),
    "whole remaining lifetime": (
        "residual lifetime value", ("the discounted expected margin of all a customer's future purchases "
                                    "(expected residual transactions, discounted, x spend per order x margin)")),
    "chance of a purchase in the next 90 days": (
        "1 - P(no purchase in (T, T + 90 days] | history)", ("from the purchase model: the customer is still a "
                                                              "customer and buys at least once in that window")),
}

_PLAIN_REPLACEMENTS = (  # (pattern, replacement) applied to sentences the report passes on from other modules
    (r"\bper-customer RMSE\b", "typical error per customer"),
    (r"\bholdout-value RMSE\b", "typical error per customer in the holdout"),
    (r"\bvalue RMSE\b", "typical error per customer"),
    (r"\bRMSE\b", "typical error"),
    (r"\bvalue Spearman\b", "ranking agreement"),
    (r"\bSpearman\b", "ranking agreement"),
    (r"\bMAE\b", "average error"),
)


def predictor_label(name: str) -> str:
    """A model's or baseline's name for people: 'mbgnbd' -> 'MBG/NBD' (clv.models.model_label), 'rfm' -> 'RFM scores'."""
    from clv.models import model_label, model_names

    if name in model_names():
        return model_label(name)
    return BASELINE_LABELS.get(name, name)


def plain_words(text: str) -> str:
    """A sentence in the marketer's words: model and baseline names as labels, no 'RMSE' or 'Spearman'.

    The technical terms stay in the tooltips and the appendix (:data:`TECHNICAL_TERMS`).
    """
    import re

    from clv.models import model_names

    for pattern, replacement in _PLAIN_REPLACEMENTS:
        text = re.sub(pattern, replacement, text)
    names = sorted((*model_names(), *BASELINE_LABELS), key=len, reverse=True)
    pattern = r"(?<![\w/-])(" + "|".join(map(re.escape, names)) + r")(?![\w/-])(?! formula)"
    return re.sub(pattern, lambda match: predictor_label(match.group(1)), text)
