"""Value curves: expected purchases and value per future period, per customer, in one pass.

For a customer with history ``(x, t_x, T)`` and periods of length ``L`` (a
month by default) ending at ``t_k = k L`` after the observation end, k = 1..m:

    purchases_k = E[Y(t_k) | x, t_x, T] - E[Y(t_{k-1}) | x, t_x, T]
    value_k     = margin * E[spend per order] * purchases_k * (1 + d) ** (-t_k in years)

``E[Y(t)]`` is the model's expected purchases in ``(T, T + t]`` and each
period's purchases are discounted at the period's end: exactly the rule of
:func:`clv.scores.score_customers` with ``discount_step`` = the period, so the
cumulative value after k periods equals the scorer's ``clv`` at horizon
``k L`` (tests check it to 1e-10) and the cumulative purchases its
``expected_purchases``. The whole-lifetime value is the scorer's too
(``horizon=None``: closed-form DERT or exact quadrature where the model has
one, else the step sum until negligible).

One pass: ``E[Y(t)]`` is evaluated once on the (distinct histories x m
period ends) grid, through the scorer's own machinery
(:func:`clv.scores.lifetime_value.forecast_rows`: one path per distinct
``(x, T)`` for the Buy-Till-You-Die models, times each history's P(alive)
ratio; BG/NBD and MBG/NBD evaluate the grid directly). The 3-, 12- and
36-month values and the lifetime value are then columns of one table, not
re-runs: the peers (lifetimes, pymc-marketing) compute one horizon per call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError
from clv.result_table import ResultTable
from clv.scores.timing import require_no_covariates
from clv.summary import CustomerData, as_customer_data
from clv.summary.compress import compress
from clv.units import DAYS_PER_UNIT, check_annual_rate, check_time_unit, days_per_unit, discount_factor

MILESTONE_MONTHS = (3, 12, 36)
_UNIT_LETTER = {"day": "d", "week": "w", "month": "m", "quarter": "q", "year": "y"}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ValueCurve(ResultTable):
    """Per-customer value curve: expected purchases and value per future period, with cumulative milestones.

    Returned by :func:`value_curve`. Columns, one row per customer:
    ``customer_id``, ``p_alive``; the milestones (cumulative to about 3, 12 and
    36 months, named in the period's unit: ``purchases_3m``, ``value_3m``...,
    ``value_13w`` with weekly periods) and ``value_lifetime`` (discounted,
    whole remaining lifetime) with ``discounted_purchases_lifetime``; then per
    period k = 1..m (not cumulative): ``purchases_{k}`` and ``value_{k}``.
    Without amounts (a purchase log, no spend model) the value columns are
    left out. :meth:`per_period`, :meth:`cumulative` and :meth:`long` give the
    grid as arrays or as a long table.

    Parameters
    ----------
    table : pandas.DataFrame
        The columns above.
    model : str
        Registry name of the purchase model.
    time_unit : str
        Unit of the customer data.
    step : str or float
        Length of one period of the curve: a unit name ("month", "week"...), or
        a number of ``time_unit``.
    periods : int
        Number of periods m.
    period_ends : tuple of datetime.date or None
        Calendar end of each period (observation end + k periods), when the
        observation end is known.
    discount_rate : float
        Annual discount rate (0.10 = 10% a year); each period discounted at its end.
    margin : float
        Fraction of purchase value counted as value.
    has_amounts : bool
        False without value columns.
    milestones : tuple of str
        Suffixes of the cumulative columns (e.g. ``("3m", "12m", "36m")``).
    lifetime : bool
        Whether the lifetime columns are there.
    observation_end : datetime.date or None
        Day 0 of the curve.
    currency : str or None
        Currency of the value columns.
    """

    model: str
    time_unit: str
    step: str | float
    periods: int
    period_ends: tuple[dt.date, ...] | None
    discount_rate: float
    margin: float
    has_amounts: bool
    milestones: tuple[str, ...]
    lifetime: bool
    observation_end: dt.date | None = None
    currency: str | None = None

    def per_period(self, kind: str = "value") -> np.ndarray:
        """(customers, periods) array of ``kind`` ("value" or "purchases") per period, not cumulative.

        Parameters
        ----------
        kind : {"value", "purchases"}
            Which grid.
        """
        if kind not in ("value", "purchases"):
            raise DataError(f"kind must be 'value' or 'purchases', got {kind!r}.")
        if kind == "value" and not self.has_amounts:
            raise DataError("this curve has no value columns (no amounts and no spend model): use kind='purchases'.")
        return self.table[[f"{kind}_{k}" for k in range(1, self.periods + 1)]].to_numpy(dtype=float)

    def cumulative(self, kind: str = "value") -> np.ndarray:
        """(customers, periods) array of ``kind`` summed from the observation end to each period's end.

        Parameters
        ----------
        kind : {"value", "purchases"}
            Which grid.
        """
        return np.cumsum(self.per_period(kind), axis=1)

    def long(self) -> pd.DataFrame:
        """The grid as a long table: customer_id, period, period_end (when known), purchases, value and their cumulative sums."""
        purchases = self.per_period("purchases")
        n, m = purchases.shape
        out = {"customer_id": np.repeat(self.table["customer_id"].to_numpy(), m),
               "period": np.tile(np.arange(1, m + 1), n)}
        if self.period_ends is not None:
            out["period_end"] = np.tile(np.array(self.period_ends, dtype="datetime64[D]"), n)
        out["purchases"] = purchases.ravel()
        out["cumulative_purchases"] = np.cumsum(purchases, axis=1).ravel()
        if self.has_amounts:
            value = self.per_period("value")
            out["value"] = value.ravel()
            out["cumulative_value"] = np.cumsum(value, axis=1).ravel()
        return pd.DataFrame(out)


def value_curve(
    summary: CustomerData | pd.DataFrame,
    transaction_model,
    spend_model=None,
    *,
    periods: int | None = None,
    step: str | float | None = None,
    time_unit: str | None = None,
    discount_rate: float = 0.10,
    margin: float = 1.0,
    lifetime: bool = True,
) -> ValueCurve:
    """Expected purchases and value per future period for every customer, up to any horizon, in one pass.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        Customer data (:func:`clv.summary.summarize`: its time unit and
        observation end travel to the result, which dates the periods), or a
        plain table with frequency, recency, T (``n_periods`` for BG/BB),
        optional customer_id and monetary_value.
    transaction_model : fitted purchase model
        Any registered purchase model (a model fitted in another unit gets the
        data converted, as in :func:`clv.scores.score_customers`).
    spend_model : fitted spend model, optional
        E.g. :class:`clv.models.GammaGammaModel`; without it each customer's
        own monetary_value is the expected spend per order.
    periods : int, optional
        Number of periods m; default: enough to cover 36 months (36 months,
        157 weeks).
    step : str or float, optional
        Length of one period of the curve: a unit name, or a number of the
        data's time unit (e.g. 30 days, lifetimes' month); default "month" (the
        data's unit when it is longer than a month; one period for BG/BB,
        which counts whole periods and takes no other length).
    time_unit : str, optional
        Unit of a plain table's durations (customer data carries its own).
    discount_rate : float
        Annual discount rate; each period's value is discounted at its end
        (as :func:`clv.scores.score_customers` with ``discount_step`` = period).
    margin : float
        Fraction of purchase value counted as value.
    lifetime : bool
        Add ``value_lifetime`` and ``discounted_purchases_lifetime`` (whole
        remaining lifetime; needs ``discount_rate`` > 0).

    Returns
    -------
    ValueCurve
        Per customer: p_alive, milestones, lifetime and per-period columns
        (:class:`ValueCurve`).

    Raises
    ------
    DataError
        Bad options (named), a plain table without ``time_unit``, invalid
        histories, a spend model on data without amounts.

    Notes
    -----
    See :mod:`clv.scores.curves` for the formulas. The cumulative value after
    k periods equals ``score_customers(horizon=k * step, discount_step=step).clv``.

    Examples
    --------
    >>> import pandas as pd
    >>> from clv.models import BetaGeoModel
    >>> model = BetaGeoModel()
    >>> model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> customers = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86],
    ...                           "monetary_value": [35.0, 0.0]})
    >>> curve = value_curve(customers, model, time_unit="week", periods=12)
    >>> curve.milestones
    ('3m', '12m')
    >>> curve["value_12m"].round(2).tolist()
    [52.15, 0.0]
    """
    from clv.scores.lifetime_value import (
        _checked_margin,
        _frequency_groups,
        _linear_in_m,
        _path_function,
        clean_monetary_value,
        forecast_from_rows,
        forecast_rows_in_groups,
        is_discrete_time,
        reference_groups,
    )
    from clv.scores.score import _in_model_unit, _summary_columns
    from clv.summary.amounts import summary_is_log

    data = as_customer_data(summary, time_unit)
    require_no_covariates(data, "value_curve")
    margin = _checked_margin(margin)
    rate = check_annual_rate(discount_rate)
    in_model_unit, _, unit = _in_model_unit(data, transaction_model, None)
    discrete = is_discrete_time(transaction_model)
    period = _checked_step(step, data.time_unit, unit, discrete, getattr(transaction_model, "model_name", "this model"))
    step_days = _step_days(period, data.time_unit)
    length = step_days / days_per_unit(unit)
    periods = _checked_periods(periods, step_days)
    x, t_x, T, m, customer_id = _summary_columns(in_model_unit, transaction_model, spend_model)
    money = clean_monetary_value(x, m, has_spend_model=spend_model is not None) if m is not None else None
    histories = compress({"x": x, "t_x": t_x, "T": T})
    hx, ht, hT = (histories.columns[k] for k in ("x", "t_x", "T"))
    rows = forecast_rows_in_groups(transaction_model, hx, ht, hT, reference_groups(transaction_model, hx, hT))
    ends = length * np.arange(1, periods + 1, dtype=float)
    path = _path_function(transaction_model, rows)
    expected = rows.scale[:, None] * path(np.arange(rows.frequency.shape[0]), ends)[rows.index]  # per history
    purchases = histories.expand(np.diff(expected, axis=1, prepend=0.0))
    out: dict[str, Any] = {"customer_id": customer_id, "p_alive": histories.expand(rows.p_alive)}
    milestones = _milestones(period, step_days, periods)
    value = spend = None
    if money is not None:
        spend = money if spend_model is None else _linear_in_m(spend_model, x, money, _frequency_groups(histories))
        value = (margin * spend)[:, None] * purchases * discount_factor(ends, rate, unit)[None, :]
    for suffix, k in milestones.items():
        out[f"purchases_{suffix}"] = purchases[:, :k].sum(axis=1)
        if value is not None:
            out[f"value_{suffix}"] = value[:, :k].sum(axis=1)
    if lifetime:
        forecast = forecast_from_rows(transaction_model, rows, horizon=None, time_unit=unit, discount_rate=rate,
                                      discount_step=length)
        discounted = histories.expand(forecast.discounted)
        out["discounted_purchases_lifetime"] = discounted
        if spend is not None:
            out["value_lifetime"] = margin * spend * discounted
    frame = pd.concat(
        [pd.DataFrame(out, copy=False),
         pd.DataFrame(purchases, columns=[f"purchases_{k}" for k in range(1, periods + 1)], copy=False)]
        + ([pd.DataFrame(value, columns=[f"value_{k}" for k in range(1, periods + 1)], copy=False)]
           if value is not None else []),
        axis=1)
    return ValueCurve(
        frame, model=getattr(transaction_model, "model_name", type(transaction_model).__name__),
        time_unit=data.time_unit, step=period, periods=periods,
        period_ends=_period_ends(data.observation_end, step_days, periods), discount_rate=rate, margin=margin,
        has_amounts=value is not None and not summary_is_log(data), milestones=tuple(milestones),
        lifetime=bool(lifetime), observation_end=data.observation_end, currency=data.currency,
    )


def _checked_step(step: str | float | None, data_unit: str, unit: str, discrete: bool, name: str) -> str | float:
    """The curve's step: a unit name (default month; the model's unit when longer, or for discrete-time
    models), or a positive number of the data's time unit (e.g. 30 days, as lifetimes' months)."""
    if step is None:
        return unit if discrete or days_per_unit(unit) > DAYS_PER_UNIT["month"] else "month"
    if isinstance(step, str):
        step = check_time_unit(step, "step")
        same = step == unit
    else:
        try:
            step = float(step)
        except (TypeError, ValueError):
            raise DataError(f"step must be a unit name (e.g. 'month') or a number of {data_unit}s > 0, "
                            f"got {step!r}.") from None
        if not (math.isfinite(step) and step > 0):
            raise DataError(f"step must be a unit name (e.g. 'month') or a number of {data_unit}s > 0, got {step!r}.")
        same = step * days_per_unit(data_unit) == days_per_unit(unit)
    if discrete and not same:
        raise DataError(f"{name} counts whole {unit}s: the curve's step must be {unit!r}, got {step!r}. "
                        f"Fix: leave step out, or pass step={unit!r}.")
    return step


def _step_days(step: str | float, data_unit: str) -> float:
    """The step's length in days."""
    return days_per_unit(step) if isinstance(step, str) else step * days_per_unit(data_unit)


def _checked_periods(periods: int | None, step_days: float) -> int:
    """Number of periods: default enough for 36 months; else a whole number >= 1."""
    if periods is None:
        return max(1, math.ceil(36 * DAYS_PER_UNIT["month"] / step_days - 1e-9))
    try:
        number = float(periods)
    except (TypeError, ValueError):
        raise DataError(f"periods must be a whole number >= 1 (how many steps), got {periods!r}.") from None
    if not (math.isfinite(number) and number >= 1 and number == round(number)):
        raise DataError(f"periods must be a whole number >= 1 (how many steps), got {periods!r}.")
    if number > 100_000:
        raise DataError(f"periods must be at most 100000, got {periods!r}: use a longer step (e.g. step='month').")
    return int(number)


def _milestones(step: str | float, step_days: float, periods: int) -> dict[str, int]:
    """Suffix -> number of periods of the cumulative columns: about 3, 12 and 36 months, within the curve.

    Suffixes count periods in the step's unit ("3m", "13w"), or "p" (periods) for a numeric step.
    """
    letter = _UNIT_LETTER[step] if isinstance(step, str) else "p"
    out: dict[str, int] = {}
    for months in MILESTONE_MONTHS:
        k = max(1, round(months * DAYS_PER_UNIT["month"] / step_days))
        if k <= periods and f"{k}{letter}" not in out:
            out[f"{k}{letter}"] = k
    return out


def _period_ends(observation_end: dt.date | None, step_days: float, periods: int) -> tuple[dt.date, ...] | None:
    """Calendar end of each period: observation end + k steps (whole days, rounded)."""
    if observation_end is None:
        return None
    days = np.rint(step_days * np.arange(1, periods + 1)).astype(int)
    return tuple(observation_end + dt.timedelta(days=int(d)) for d in days)



__all__ = ["ValueCurve", "value_curve"]
