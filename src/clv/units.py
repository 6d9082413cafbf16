"""Time units and discounting: the one place ``clv`` defines them.

Every duration in ``clv`` (recency, T, a horizon, a holdout window) is a number
of *time units*; the unit travels with the data (:class:`clv.summary.CustomerData`)
and with a fitted model (``model.time_unit_``). The default unit everywhere is
:data:`DEFAULT_TIME_UNIT` (``"week"``, the unit of the published CDNOW
analyses). The discount rate is always annual. The conversions are explicit and
the same everywhere:

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
from typing import TYPE_CHECKING

from clv.errors import DataError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DAYS_PER_UNIT",
    "DAYS_PER_YEAR",
    "DEFAULT_TIME_UNIT",
    "LONG_RUN_YEARS",
    "PERIODS_PER_YEAR",
    "TIME_UNITS",
    "check_annual_rate",
    "check_time_unit",
    "continuous_rate_per_unit",
    "convert_duration",
    "days_per_unit",
    "discount_factor",
    "long_run_horizon",
    "step_in_units",
    "unit_ratio",
    "whole_months",
    "years_per_unit",
]

DAYS_PER_YEAR = 365.25
DAYS_PER_UNIT: dict[str, float] = {
    "day": 1.0,
    "week": 7.0,
    "month": DAYS_PER_YEAR / 12,
    "quarter": DAYS_PER_YEAR / 4,
    "year": DAYS_PER_YEAR,
}
TIME_UNITS: tuple[str, ...] = tuple(DAYS_PER_UNIT)
DEFAULT_TIME_UNIT = "week"
# Units that are a whole number of calendar periods a year (period-based reports: formula, cohorts).
PERIODS_PER_YEAR: dict[str, int] = {"year": 1, "quarter": 4, "month": 12}


def check_time_unit(time_unit: str, argument: str = "time_unit") -> str:
    """``time_unit`` if it is a known unit, else a DataError naming ``argument`` and the units.

    Parameters
    ----------
    time_unit : str
        The unit to check: one of :data:`TIME_UNITS` (``"day"``, ``"week"``, ``"month"``,
        ``"quarter"``, ``"year"``).
    argument : str, default "time_unit"
        The argument's (or CLI option's) name the error message names.

    Returns
    -------
    str
        ``time_unit`` unchanged.

    Raises
    ------
    DataError
        When ``time_unit`` is not one of :data:`TIME_UNITS` (the message lists them and the default,
        :data:`DEFAULT_TIME_UNIT`).

    Examples
    --------
    >>> check_time_unit("week")
    'week'
    """
    if isinstance(time_unit, str) and time_unit in DAYS_PER_UNIT:
        return time_unit
    raise DataError(
        f"{argument}={time_unit!r} is not a known time unit; use one of {list(TIME_UNITS)} "
        f"(the default is {DEFAULT_TIME_UNIT!r})."
    )


def days_per_unit(time_unit: str) -> float:
    """Length of one ``time_unit`` in days (month = 365.25/12 days).

    Parameters
    ----------
    time_unit : str
        One of :data:`TIME_UNITS`.

    Returns
    -------
    float
        :data:`DAYS_PER_UNIT` of the unit: 1, 7, 30.4375, 91.3125 or 365.25.

    Raises
    ------
    DataError
        When ``time_unit`` is not a known unit.

    Examples
    --------
    >>> days_per_unit("month")
    30.4375
    """
    return DAYS_PER_UNIT[check_time_unit(time_unit)]


def unit_ratio(from_unit: str, to_unit: str) -> float:
    """How many ``to_unit`` one ``from_unit`` is: multiply a duration in ``from_unit`` by it.

    Parameters
    ----------
    from_unit : str
        The unit a duration is in; one of :data:`TIME_UNITS`.
    to_unit : str
        The unit wanted; one of :data:`TIME_UNITS`.

    Returns
    -------
    float
        ``days_per_unit(from_unit) / days_per_unit(to_unit)``.

    Raises
    ------
    DataError
        When either unit is not a known unit.

    Examples
    --------
    >>> unit_ratio("week", "day")
    7.0
    """
    return days_per_unit(from_unit) / days_per_unit(to_unit)


def convert_duration(value, from_unit: str, to_unit: str):
    """A duration (number or array) in ``from_unit`` expressed in ``to_unit``.

    Parameters
    ----------
    value : float or numpy.ndarray
        The duration(s), in ``from_unit``.
    from_unit : str
        The unit ``value`` is in; one of :data:`TIME_UNITS`.
    to_unit : str
        The unit wanted; one of :data:`TIME_UNITS`.

    Returns
    -------
    float or numpy.ndarray
        ``value * unit_ratio(from_unit, to_unit)``; ``value`` itself (not a copy) when the units are
        the same.

    Raises
    ------
    DataError
        When the units differ and either is not a known unit.

    Examples
    --------
    >>> convert_duration(52, "week", "day")
    364.0
    """
    if from_unit == to_unit:
        return value
    return value * unit_ratio(from_unit, to_unit)


def years_per_unit(time_unit: str) -> float:
    """Length of one ``time_unit`` in years of 365.25 days.

    Parameters
    ----------
    time_unit : str
        One of :data:`TIME_UNITS`.

    Returns
    -------
    float
        ``days_per_unit(time_unit) / 365.25``: 1/52.18 for a week, 1/12 for a month.

    Raises
    ------
    DataError
        When ``time_unit`` is not a known unit.

    Examples
    --------
    >>> years_per_unit("quarter")
    0.25
    """
    return days_per_unit(time_unit) / DAYS_PER_YEAR


def step_in_units(discount_step: str | float, time_unit: str) -> float:
    """Length of one discounting step in model time units.

    ``discount_step`` is a unit name ("day", "week", "month", "quarter",
    "year") or a positive number already in model units.

    Parameters
    ----------
    discount_step : str or float
        The step: one of :data:`TIME_UNITS`, or a positive number of ``time_unit``.
    time_unit : str
        The model's time unit; one of :data:`TIME_UNITS`.

    Returns
    -------
    float
        ``days_per_unit(discount_step) / days_per_unit(time_unit)`` for a unit name; the number itself
        otherwise.

    Raises
    ------
    DataError
        When ``discount_step`` is an unknown unit name, or a number that is not finite and > 0.

    Examples
    --------
    >>> step_in_units("week", "day")
    7.0
    >>> step_in_units(2, "week")
    2.0
    """
    if isinstance(discount_step, str):
        return days_per_unit(discount_step) / days_per_unit(time_unit)
    step = float(discount_step)
    if not (math.isfinite(step) and step > 0):
        raise DataError(f"discount_step must be a unit name or a positive number of model time units, got {discount_step!r}.")
    return step


def check_annual_rate(discount_rate: float, argument: str = "discount_rate") -> float:
    """The annual discount rate as a float, checked to be finite and >= 0.

    Parameters
    ----------
    discount_rate : float
        The ANNUAL discount rate (0.10 means 10% a year), see the glossary.
    argument : str, default "discount_rate"
        The argument's (or CLI option's) name the error message names.

    Returns
    -------
    float
        ``float(discount_rate)``.

    Raises
    ------
    DataError
        When the rate is not a number, not finite, or negative.

    Examples
    --------
    >>> check_annual_rate("0.1")
    0.1
    """
    try:
        rate = float(discount_rate)
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and rate >= 0):
        raise DataError(
            f"{argument} must be a finite number >= 0, the annual rate (0.10 means 10% a year), "
            f"got {discount_rate!r}."
        )
    return rate


def continuous_rate_per_unit(discount_rate: float, time_unit: str) -> float:
    """``delta = ln(1 + d) * years_per_unit``: the continuous rate per model unit.

    ``exp(-delta * t)`` equals the discrete annual discount ``(1 + d) ** (-t * years_per_unit)`` at
    every ``t``: the continuous rate the closed-form discounted expected residual transactions (DERT)
    take.

    Parameters
    ----------
    discount_rate : float
        The ANNUAL discount rate ``d`` (0.10 means 10% a year), finite and >= 0.
    time_unit : str
        The model's time unit; one of :data:`TIME_UNITS`.

    Returns
    -------
    float
        ``delta``, per ``time_unit``.

    Raises
    ------
    DataError
        When the rate is not finite and >= 0, or the unit is not a known unit.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (DERT).

    Examples
    --------
    >>> round(continuous_rate_per_unit(0.10, "year"), 6)
    0.09531
    """
    return math.log1p(check_annual_rate(discount_rate)) * years_per_unit(time_unit)


def discount_factor(elapsed: np.ndarray | float, discount_rate: float, time_unit: str) -> np.ndarray:
    """``(1 + d) ** (-elapsed * years_per_unit)`` for times ``elapsed`` (in ``time_unit``) after the observation end.

    Computed as ``exp(-delta * elapsed)`` with ``delta`` from :func:`continuous_rate_per_unit`.

    Parameters
    ----------
    elapsed : float or numpy.ndarray
        Time(s) after the observation end, in ``time_unit``.
    discount_rate : float
        The ANNUAL discount rate ``d`` (0.10 means 10% a year), finite and >= 0.
    time_unit : str
        The unit of ``elapsed``; one of :data:`TIME_UNITS`.

    Returns
    -------
    numpy.ndarray
        The discount factors, of the shape of ``elapsed`` (a 0-d array for a number).

    Raises
    ------
    DataError
        When the rate is not finite and >= 0, or the unit is not a known unit.

    Examples
    --------
    >>> float(discount_factor(12, 0.10, "month"))
    0.9090909090909091
    """
    import numpy as np  # here, not at the top: the CLI reads this module and starts without NumPy

    delta = continuous_rate_per_unit(discount_rate, time_unit)
    return np.exp(-delta * np.asarray(elapsed, dtype=float))


LONG_RUN_YEARS = 3
"""The default horizon of long-run value (acquisition payback, cohort curves, what-if): 3 years."""


def long_run_horizon(time_unit: str) -> float:
    """The default long-run horizon, :data:`LONG_RUN_YEARS` years, in ``time_unit``.

    Parameters
    ----------
    time_unit : str
        One of :data:`TIME_UNITS`.

    Returns
    -------
    float
        ``3 * 365.25 / days_per_unit(time_unit)``: 156.54 weeks, 36 months.
    """
    return convert_duration(float(LONG_RUN_YEARS), "year", check_time_unit(time_unit))


def whole_months(horizon, time_unit: str, argument: str = "horizon") -> int:
    """A horizon in ``time_unit`` as the nearest whole number of months (>= 1), for curves by month.

    Parameters
    ----------
    horizon : float or None
        The horizon in ``time_unit``; None is :func:`long_run_horizon` (36 months).
    time_unit : str
        One of :data:`TIME_UNITS`.
    argument : str
        The argument's name in the error message.

    Returns
    -------
    int
        ``round(horizon * days_per_unit(time_unit) / (365.25 / 12))``: 52 weeks is 11.96 months, 12.

    Raises
    ------
    DataError
        When the horizon is not a number or is under half a month.
    """
    value = long_run_horizon(time_unit) if horizon is None else horizon
    try:
        months = float(convert_duration(float(value), check_time_unit(time_unit), "month"))
    except (TypeError, ValueError):
        months = math.nan
    if isinstance(value, bool) or not (math.isfinite(months) and round(months) >= 1):
        raise DataError(
            f"{argument}={horizon!r} {time_unit}s must be at least one month (the curves are by month). "
            f"Fix: e.g. {argument}={round(long_run_horizon(time_unit), 4):g} (3 years in {time_unit}s)."
        )
    return int(round(months))
