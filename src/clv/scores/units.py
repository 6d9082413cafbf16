"""Time units and the discounting convention used by every score.

Model time is whatever unit the summary was built in (day, week, month...); the
discount rate is annual. The conversion is explicit and the same everywhere:

* a day is the base; a week is 7 days; a year is 365.25 days; a month is
  365.25 / 12 = 30.4375 days (never a 30-day month); a quarter is 365.25 / 4;
* money received at model time ``t`` (after the end of calibration) is
  discounted by ``(1 + d) ** (-t * years_per_unit)`` with ``d`` the annual rate;
* the equivalent continuous rate per model unit is
  ``delta = ln(1 + d) * years_per_unit``, so that ``exp(-delta t)`` equals the
  discrete factor at every ``t``.
"""

from __future__ import annotations

import math

import numpy as np

from clv.errors import DataError

DAYS_PER_YEAR = 365.25
DAYS_PER_UNIT: dict[str, float] = {
    "day": 1.0,
    "week": 7.0,
    "month": DAYS_PER_YEAR / 12,
    "quarter": DAYS_PER_YEAR / 4,
    "year": DAYS_PER_YEAR,
}


def days_per_unit(time_unit: str) -> float:
    """Length of one ``time_unit`` in days (month = 365.25/12 days)."""
    try:
        return DAYS_PER_UNIT[time_unit]
    except (KeyError, TypeError):
        raise DataError(
            f"time_unit={time_unit!r} is not a known unit; use one of {list(DAYS_PER_UNIT)}, "
            "the unit the summary (frequency, recency, T) and the model were built in."
        ) from None


def years_per_unit(time_unit: str) -> float:
    """Length of one ``time_unit`` in years of 365.25 days."""
    return days_per_unit(time_unit) / DAYS_PER_YEAR


def step_in_units(discount_step: str | float, time_unit: str) -> float:
    """Length of one discounting step in model time units.

    ``discount_step`` is a unit name ("day", "week", "month", "quarter",
    "year") or a positive number already in model units.
    """
    if isinstance(discount_step, str):
        return days_per_unit(discount_step) / days_per_unit(time_unit)
    step = float(discount_step)
    if not (math.isfinite(step) and step > 0):
        raise DataError(f"discount_step must be a unit name or a positive number of model time units, got {discount_step!r}.")
    return step


def check_annual_rate(annual_discount_rate: float) -> float:
    """The annual discount rate as a float, checked to be finite and >= 0."""
    rate = float(annual_discount_rate)
    if not (math.isfinite(rate) and rate >= 0):
        raise DataError(
            f"annual_discount_rate must be a finite number >= 0 (0.10 means 10% a year), got {annual_discount_rate!r}."
        )
    return rate


def continuous_rate_per_unit(annual_discount_rate: float, time_unit: str) -> float:
    """``delta = ln(1 + d) * years_per_unit``: the continuous rate per model unit."""
    return math.log1p(check_annual_rate(annual_discount_rate)) * years_per_unit(time_unit)


def discount_factor(t: np.ndarray | float, annual_discount_rate: float, time_unit: str) -> np.ndarray:
    """``(1 + d) ** (-t * years_per_unit)`` for model times ``t`` after calibration end."""
    delta = continuous_rate_per_unit(annual_discount_rate, time_unit)
    return np.exp(-delta * np.asarray(t, dtype=float))
