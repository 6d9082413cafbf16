"""Which calendar period the classic formula is computed per, and how its churn converts between periods.

The classic formula's churn is "bought in one period, did not buy in the next".
A period shorter than the time customers usually take between orders counts
every pause as a loss, so the same orders give a very different CLV per month,
per quarter and per year (on the apparel data of CLVTools: 3.46, 14.05 and 80.37
at a 100% margin). The period is therefore picked from the data by
:data:`PERIOD_RULE`, stated, and the CLV at the other periods is shown next to
it (:attr:`clv.formula.ClassicCLV.by_period`). See docs/formula.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ibis.expr.types import Table

from clv.data.schema import CUSTOMER_ID, ORDER_TS
from clv.engine import execute
from clv.units import DAYS_PER_UNIT, PERIODS_PER_YEAR

from .periods import PERIOD_UNITS, is_purchase

__all__ = ["PERIOD_RULE", "PeriodChoice", "choose_period", "convert_churn", "median_days_between_orders"]

PERIOD_RULE = (
    "the shortest calendar period (month, quarter, year) at least as long as the median time between orders "
    "(over customers who bought on two or more days: (last purchase day - first) / (purchase days - 1)) "
    "whose churn the window can measure (two consecutive periods, the second complete); when none of those "
    "can be measured, the longest period that can"
)
_SHORTEST_FIRST = tuple(sorted(PERIOD_UNITS, key=DAYS_PER_UNIT.__getitem__))


@dataclass(frozen=True)
class PeriodChoice:
    """The period of the classic formula and why.

    Parameters
    ----------
    period : str
        'year', 'quarter' or 'month'.
    source : str
        'given' (the caller's ``time_unit``) or 'picked from the data' (:data:`PERIOD_RULE`).
    median_days_between_orders : float
        The median time between orders in days (NaN when no customer bought on two days).
    reason : str
        One sentence in plain words: the period, and why.
    """

    period: str
    source: str
    median_days_between_orders: float
    reason: str


def median_days_between_orders(lines: Table) -> float:
    """Median over customers with two or more purchase days of their average days between purchases.

    Parameters
    ----------
    lines : ibis.expr.types.Table
        Canonical order lines (refunds and zero lines are not purchases).

    Returns
    -------
    float
        median over customers of (last purchase day - first purchase day) / (purchase days - 1), in
        days; NaN when no customer bought on two different days.
    """
    purchases = lines.filter(is_purchase(lines))
    days = purchases.select(CUSTOMER_ID, day=purchases[ORDER_TS].date()).distinct()
    per_customer = days.group_by(CUSTOMER_ID).aggregate(
        n_days=days.day.count(), first=days.day.min(), last=days.day.max()
    )
    repeat = per_customer.filter(per_customer.n_days >= 2)
    span_days = (repeat["last"].epoch_seconds() - repeat["first"].epoch_seconds()) / 86400.0
    gaps = execute(repeat.select(gap=span_days / (repeat.n_days - 1)))["gap"]
    return float(gaps.median()) if len(gaps) else math.nan


def choose_period(requested: str | None, median_days: float, measurable: dict[str, bool]) -> PeriodChoice:
    """The period per :data:`PERIOD_RULE`, or the requested one.

    Parameters
    ----------
    requested : str or None
        The caller's period ('year', 'quarter', 'month'), or None to pick it from the data.
    median_days : float
        :func:`median_days_between_orders` (NaN: no repeat buyer; the rule then prefers a year).
    measurable : dict of str to bool
        Per period, whether the window can measure its churn: two consecutive periods, the second
        complete, and a churn above 0 (with a churn or lifespan given, every period counts).

    Returns
    -------
    PeriodChoice
        The period, its source and the reason in words.
    """
    gap = "no customer bought on two different days" if math.isnan(median_days) else (
        f"customers who buy again do so every {median_days:,.0f} days (median)")
    if requested is not None:
        return PeriodChoice(requested, "given", median_days, f"per {requested}, as asked ({gap})")
    fitting = [] if math.isnan(median_days) else [p for p in _SHORTEST_FIRST if DAYS_PER_UNIT[p] >= median_days]
    fitting = fitting or ["year"]
    preferred = fitting[0]
    if measurable.get(preferred, False):
        reason = (f"per {preferred}, picked from the data: {gap}, and a {preferred} is the shortest calendar period "
                  "at least that long")
        return PeriodChoice(preferred, "picked from the data", median_days, reason)
    shorter = [p for p in _SHORTEST_FIRST if measurable.get(p, False)]
    period = shorter[-1] if shorter else preferred  # none measurable: the caller refuses
    reason = (f"per {period}, picked from the data: {gap}, so a {preferred} would fit, but this window cannot "
              f"measure a churn per {preferred} (it needs two consecutive {preferred}s, the second complete, and "
              f"a customer lost between them); per {period}, pauses between orders longer than a {period} count "
              "as churn")
    return PeriodChoice(period, "picked from the data", median_days, reason)


def convert_churn(churn: float, from_period: str, to_period: str) -> float:
    """Churn per ``to_period`` from churn per ``from_period``, assuming the same retention every period.

    Parameters
    ----------
    churn : float
        Churn per ``from_period``, in [0, 1].
    from_period, to_period : str
        'year', 'quarter' or 'month'.

    Returns
    -------
    float
        1 - (1 - churn) ** (k_from / k_to), with k the periods per year (quarter -> year: 1 - (1 - c)^4).

    Examples
    --------
    >>> round(convert_churn(0.5, "quarter", "year"), 4)
    0.9375
    """
    exponent = PERIODS_PER_YEAR[from_period] / PERIODS_PER_YEAR[to_period]
    return 1.0 - (1.0 - churn) ** exponent
