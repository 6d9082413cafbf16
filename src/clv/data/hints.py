"""Guess the option that would read values a load could not: date formats, number formats.

Used when a load rejects many lines: a sample of the rejected values is tried
against common formats, and the message names the option that reads them
(``LoadPolicy(date_format='%m/%d/%Y %H:%M')``, ``LoadPolicy(decimal=',')``...).
Only small samples are examined, in pandas.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import pandas as pd

DATE_CANDIDATES = (
    "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%y %H:%M", "%m/%d/%y %H:%M", "%d/%m/%y", "%m/%d/%y",
    "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%y",
    "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%m-%d-%Y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%d %b %Y", "%d %b %Y %H:%M", "%b %d %Y", "%d-%b-%Y", "%d-%b-%y", "%d %B %Y", "%B %d %Y",
)
"""strftime formats tried, day-first before month-first (ties are reported as ambiguous)."""

_MIN_SHARE = 0.8
_SYMBOL = re.compile(r"^\s*([^\d\s+\-.,'()]+)?\s*([+-]?\s*[\d.,' ]*\d)\s*([^\d\s+\-.,'()]+)?\s*$")


def suggest_date_format(values: Sequence[object]) -> list[str]:
    """The formats that read at least 80% of ``values``, best first (two when ambiguous).

    >>> suggest_date_format(["12/13/2010 08:26", "12/01/2010 09:00"])
    ['%m/%d/%Y %H:%M']
    >>> suggest_date_format(["1291191960", "1291192000"])
    ['epoch_s']
    """
    texts = pd.Series([str(v).strip() for v in values if v is not None and str(v).strip()], dtype=object)
    if texts.empty:
        return []
    epoch = _epoch_format(texts)
    if epoch:
        return [epoch]
    shares = {fmt: _parsed_share(texts, fmt) for fmt in DATE_CANDIDATES}
    best = max(shares.values())
    if best < _MIN_SHARE:
        return []
    return [fmt for fmt, share in shares.items() if share == best][:2]


def _parsed_share(texts: pd.Series, fmt: str) -> float:
    parsed = pd.to_datetime(texts, format=fmt, errors="coerce")
    return float(parsed.notna().mean())


def _epoch_format(texts: pd.Series) -> str | None:
    """'epoch_s' for 9-10 digit integers, 'epoch_ms' for 12-13 digits (plausible 1973-2286)."""
    digits = texts.str.fullmatch(r"-?\d+")
    if digits.mean() < _MIN_SHARE:
        return None
    lengths = texts[digits].str.lstrip("-").str.len()
    if lengths.between(9, 10).mean() >= _MIN_SHARE:
        return "epoch_s"
    if lengths.between(12, 13).mean() >= _MIN_SHARE:
        return "epoch_ms"
    return None


def suggest_number_format(values: Sequence[object]) -> dict[str, str]:
    """LoadPolicy options that would read these amounts: currency_symbol, decimal, thousands.

    >>> suggest_number_format(["£2.55", "£10.00"])
    {'currency_symbol': '£'}
    >>> suggest_number_format(["1.234,56 €", "12,50 €"])
    {'currency_symbol': '€', 'decimal': ',', 'thousands': '.'}
    >>> suggest_number_format(["1,234.50", "2,000"])
    {'thousands': ','}
    """
    symbols, bodies = Counter(), []
    for value in values:
        match = _SYMBOL.match(str(value)) if value is not None else None
        if match is None:
            continue
        symbol = match.group(1) or match.group(3)
        if symbol:
            symbols[symbol] += 1
        bodies.append(match.group(2).replace(" ", ""))
    options: dict[str, str] = {}
    if symbols:
        options["currency_symbol"] = symbols.most_common(1)[0][0]
    options.update(_separators(bodies))
    return options


def _separators(bodies: list[str]) -> dict[str, str]:
    """Decimal mark and thousands separator most bodies are written with.

    "2,000" could be either (a thousands comma or a decimal comma): it follows
    the unambiguous values, and alone counts as a thousands separator.
    """
    votes: Counter = Counter()
    for body in bodies:
        votes[_separator_kind(body.lstrip("+-"))] += 1
    votes.pop(None, None)
    ambiguous = votes.pop("comma-or-thousands", 0)
    if "decimal-comma" in votes or "decimal-comma-dot-thousands" in votes:
        options = {"decimal": ","}
        if "decimal-comma-dot-thousands" in votes:
            options["thousands"] = "."
        return options
    if votes:
        return {"thousands": votes.most_common(1)[0][0].split(":")[1]}
    return {"thousands": ","} if ambiguous else {}


def _separator_kind(body: str) -> str | None:
    if re.fullmatch(r"\d{1,3}(\.\d{3})+,\d+|\d{1,3}(\.\d{3}){2,}", body):
        return "decimal-comma-dot-thousands"
    if re.fullmatch(r"\d{1,3}(,\d{3})+\.\d+|\d{1,3}(,\d{3}){2,}", body):
        return "thousands:,"
    if re.fullmatch(r"\d{1,3}('\d{3})+(\.\d+)?", body):
        return "thousands:'"
    if re.fullmatch(r"\d{1,3},\d{3}", body):
        return "comma-or-thousands"
    if re.fullmatch(r"\d+,\d+", body):
        return "decimal-comma"
    return None
