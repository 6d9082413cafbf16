"""Discounted expected purchases and customer lifetime value from fitted models.

Definition (per customer with history ``(x, t_x, T)``, time in model units)::

    DET = sum_k ( E[Y(t_k)] - E[Y(t_{k-1})] ) * (1 + d) ** (-t_k * years_per_unit)
    CLV = margin * E[spend per order] * DET

``E[Y(t)]`` is the model's conditional expectation of the number of purchases in
``(T, T + t]`` given the history (Fader, Hardie & Lee 2005, "Counting your
customers the easy way", eq. 10 for BG/NBD); the steps ``t_k = k * step`` run to
the horizon (the last one may be partial) and each step's purchases are
discounted at the step's end. For the whole remaining lifetime (``horizon=None``)
the sum runs until the bound on the remaining terms is negligible (see
:func:`_lifetime_sum`) or, where the model has one, uses its closed-form
discounted expected residual transactions (DERT: Fader, Hardie & Lee 2005, "RFM
and CLV", for Pareto/NBD with continuous discounting; Fader, Hardie & Shang 2010
for BG/BB with per-period discounting) or, for BG/NBD and MBG/NBD, the same step
sum to infinity evaluated exactly as an expectation over the posterior of the
purchase rate and dropout probability
(:meth:`~clv.models.bgnbd.BetaGeoModel.discounted_lifetime_purchases`).
``use_closed_form=False`` forces the step sum (the reference in tests).

Speed: for the Buy-Till-You-Die models (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB) the
history enters the forecast only through P(alive): given that the customer is
alive at ``T``, the likelihood of the history depends on ``x`` and ``T`` only, so
``E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) / P(alive | x, T*, T) * E[Y(t) | x, T*, T]``
for any reference recency ``T*`` (we take ``T*=T``, or 0 when x=0). The path of
expectations is then computed once per distinct ``(x, T)`` instead of once per
distinct ``(x, t_x, T)``; tests check it equals the direct computation. BG/NBD
and MBG/NBD evaluate each row's path as one (rows, 1) by (1, step ends) grid,
so the per-row work (and the coefficients of the hypergeometric series) is
done once per row, not once per (row, step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clv.errors import DataError
from clv.models.base import as_float_array, validate_rfm
from clv.models.contract import check_model_unit, purchase_capabilities, spend_capabilities
from clv.units import check_annual_rate, discount_factor, step_in_units, years_per_unit
from clv.summary.compress import Compressed, compress

LIFETIME_RTOL = 1e-6
LIFETIME_MAX_YEARS = 1000.0
GRID_ELEMENTS_PER_CALL = 2_000_000
# (row, time) elements per grid call of BG/NBD-type models: the series' working arrays stay in the CPU cache.
ROW_GRID_ELEMENTS_PER_CALL = 65_536


@dataclass(frozen=True)
class ForecastRows:
    """Where to evaluate the model, and how to map back to the histories.

    ``E[Y(t) | history i] = scale[i] * E[Y(t) | row index[i]]``.
    """

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    index: np.ndarray
    scale: np.ndarray
    p_alive: np.ndarray

    def expand(self, row_values: np.ndarray) -> np.ndarray:
        """Per-row values mapped back to per-history values, times the scale."""
        return self.scale * np.asarray(row_values)[self.index]


def forecast_rows(model, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> ForecastRows:
    """Reference rows per distinct ``(x, T)`` for factorisable models, else the histories.

    ``frequency, recency, T`` are in the model's time unit.
    """
    return forecast_rows_in_groups(model, frequency, recency, T, reference_groups(model, frequency, T))


def reference_groups(model, frequency: np.ndarray, T: np.ndarray, *, ordered: bool = True) -> Compressed | None:
    """The distinct ``(x, T)`` of the histories for a factorisable model (None for the others).

    ``ordered``: in order of first appearance (else in any order, found faster;
    see :func:`clv.summary.compress.compress`).
    """
    if not purchase_capabilities(model).factorisable:
        return None
    return compress({"x": frequency, "T": T}, ordered=ordered)


def forecast_rows_in_groups(model, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray,
                            groups: Compressed | None, *, checked: bool = False) -> ForecastRows:
    """:func:`forecast_rows` given ``groups = reference_groups(model, frequency, T)``.

    ``checked``: the histories already passed :func:`validate_rfm` (models with
    ``capabilities.grid_scoring``, BG/NBD and MBG/NBD, then skip checking them again).
    """
    if checked and purchase_capabilities(model).grid_scoring:
        p_alive = model.probability_alive_validated(frequency, recency, T)
    else:
        p_alive = np.asarray(model.probability_alive(frequency, recency, T), dtype=float)
    if groups is None:
        identity = np.arange(frequency.shape[0])
        return ForecastRows(frequency, recency, T, identity, np.ones_like(p_alive), p_alive)
    x_ref, T_ref = groups.columns["x"], groups.columns["T"]
    recency_ref = np.where(x_ref > 0, T_ref, 0.0)
    p_alive_ref = np.asarray(model.probability_alive(x_ref, recency_ref, T_ref), dtype=float)
    if np.all(p_alive_ref > 0):  # checked on the few reference rows, not per history
        ratio = p_alive / p_alive_ref[groups.inverse]
    else:
        p_alive_ref = p_alive_ref[groups.inverse]
        ratio = np.divide(p_alive, p_alive_ref, out=np.zeros_like(p_alive), where=p_alive_ref > 0)
    np.clip(ratio, 0.0, 1.0, out=ratio)
    ratio = np.where(frequency > 0, ratio, 1.0)
    return ForecastRows(x_ref, recency_ref, T_ref, groups.inverse, ratio, p_alive)


@dataclass(frozen=True)
class PurchaseForecast:
    """Per-history P(alive), expected purchases to the horizon, discounted purchases."""

    p_alive: np.ndarray
    expected: np.ndarray
    discounted: np.ndarray
    rows: ForecastRows

    @property
    def mean_discount(self) -> np.ndarray:
        """Purchase-weighted average discount factor ``discounted / expected`` (1 when nothing is expected)."""
        return np.divide(self.discounted, self.expected, out=np.ones_like(self.expected), where=self.expected > 0)


def forecast_purchases(
    model, frequency, recency, T, *, horizon: float | None, time_unit: str,
    discount_rate: float = 0.10, discount_step: str | float = "month", use_closed_form: bool = True,
) -> PurchaseForecast:
    """P(alive), E[Y(horizon)] and the discounted expected purchases (DET) per history.

    All times (recency, T, horizon) are in ``time_unit``, the unit the model was
    fitted in. ``expected`` is NaN when ``horizon`` is None (whole lifetime).

    DET = sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) (1 + d) ** (-t_k years), with E[Y(t)] the model's
    expected purchases in (T, T + t] given the history.

    Parameters
    ----------
    model : PurchaseModel
        A fitted purchase model (:class:`clv.models.PurchaseModel`).
    frequency : array-like of float
        Repeat purchases x per customer.
    recency : array-like of float
        Time of the last purchase t_x, from the first, in ``time_unit`` (0 when x = 0).
    T : array-like of float
        Customer age at the observation (calibration) end, from the first purchase, in
        ``time_unit``; recency <= T.
    horizon : float or None
        How far ahead, from the observation end, in ``time_unit``; None is the whole remaining
        lifetime (closed-form DERT where the model has one). A discrete-time model (BG/BB) needs a
        whole number of periods.
    time_unit : str
        The unit of recency, T and horizon: the unit the model was fitted in (its ``time_unit_``);
        one of :data:`clv.units.TIME_UNITS`. It sets the discounting (years per unit).
    discount_rate : float, default 0.10
        The ANNUAL discount rate d (0.10 = 10% a year): purchases at t_k are weighted by
        ``(1 + d) ** (-t_k in years)``.
    discount_step : str or float, default "month"
        Purchases are discounted at the end of each such step: a unit name or a positive number of
        ``time_unit`` (:func:`clv.units.step_in_units`); the last step may be partial.
        Discrete-time models step one period.
    use_closed_form : bool, default True
        For ``horizon=None``, use the model's closed-form or exact lifetime sum where it has one;
        False forces the step sum (the reference in tests).

    Returns
    -------
    PurchaseForecast
        Per customer: ``p_alive`` (P(alive) at T), ``expected`` (E[Y(horizon)], NaN for the whole
        lifetime) and ``discounted`` (DET), and ``mean_discount`` (discounted / expected).

    Raises
    ------
    clv.errors.DataError
        For histories that are not finite, negative, or with recency > T; a discount rate that is
        not finite and >= 0; a horizon that is not > 0 (or not whole for a discrete-time model);
        an unknown unit or a bad ``discount_step``.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284 (eq. 10).

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (DERT, Pareto/NBD).

    Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). "Customer-Base Analysis in a
    Discrete-Time Noncontractual Setting". *Marketing Science* 29(6), 1086-1108 (DERT, BG/BB).

    Examples
    --------
    A BG/NBD with the published CDNOW estimates (weeks):

    >>> from clv.models import BetaGeoModel
    >>> model = BetaGeoModel()
    >>> model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> forecast = forecast_purchases(model, [2, 0, 7], [30.43, 0, 35.0], [38.86] * 3, horizon=52, time_unit="week")
    >>> forecast.p_alive.round(3)
    array([0.727, 1.   , 0.844])
    >>> forecast.expected.round(3)
    array([1.559, 0.252, 5.521])
    """
    x, t_x, T = validate_rfm(frequency, recency, T)
    check_annual_rate(discount_rate)
    check_model_unit(model, time_unit)
    return forecast_from_rows(
        model, forecast_rows_in_groups(model, x, t_x, T, reference_groups(model, x, T), checked=True),
        horizon=horizon, time_unit=time_unit,
        discount_rate=discount_rate, discount_step=discount_step, use_closed_form=use_closed_form,
    )


def forecast_from_rows(
    model, rows: ForecastRows, *, horizon: float | None, time_unit: str,
    discount_rate: float = 0.10, discount_step: str | float = "month", use_closed_form: bool = True,
) -> PurchaseForecast:
    """:func:`forecast_purchases` from the histories' :func:`forecast_rows` (work that needs only the rows can start first)."""
    expected, discounted = _row_forecast(
        model, rows, horizon=horizon, time_unit=time_unit, discount_rate=discount_rate,
        discount_step=discount_step, use_closed_form=use_closed_form,
    )
    if expected is None:
        return PurchaseForecast(rows.p_alive, np.full(rows.p_alive.shape, np.nan), rows.expand(discounted), rows)
    return PurchaseForecast(rows.p_alive, rows.expand(expected), rows.expand(discounted), rows)


def _row_forecast(model, rows: ForecastRows, *, horizon: float | None, time_unit: str, discount_rate: float,
                  discount_step: str | float, use_closed_form: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """E[Y(horizon)] (None for the whole lifetime) and DET per forecast row (before :meth:`ForecastRows.expand`)."""
    rate = check_annual_rate(discount_rate)
    path = _path_function(model, rows)
    n_rows = rows.frequency.shape[0]
    if horizon is None:
        return None, _lifetime_row_values(model, rows, path, n_rows, time_unit, rate, discount_step, use_closed_form)
    step_ends = _step_ends(model, _checked_horizon(horizon), time_unit, discount_step)
    return _finite_sum(path, n_rows, step_ends, discount_factor(step_ends, rate, time_unit))


def discounted_expected_purchases(
    model, frequency, recency, T, *, horizon: float | None, time_unit: str,
    discount_rate: float = 0.10, discount_step: str | float = "month", use_closed_form: bool = True,
) -> np.ndarray:
    """DET = sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) (1+d)^(-t_k years_per_unit) per customer.

    Times in ``time_unit`` (the model's unit); ``horizon=None`` is the whole
    remaining lifetime (closed-form DERT where the model has one).

    Parameters
    ----------
    model : PurchaseModel
        A fitted purchase model (:class:`clv.models.PurchaseModel`).
    frequency : array-like of float
        Repeat purchases x per customer.
    recency : array-like of float
        Time of the last purchase t_x, from the first, in ``time_unit`` (0 when x = 0).
    T : array-like of float
        Customer age at the observation (calibration) end, from the first purchase, in
        ``time_unit``; recency <= T.
    horizon : float or None
        How far ahead, from the observation end, in ``time_unit``; None is the whole remaining
        lifetime (closed-form DERT where the model has one). A discrete-time model (BG/BB) needs a
        whole number of periods.
    time_unit : str
        The unit of recency, T and horizon: the unit the model was fitted in (its ``time_unit_``);
        one of :data:`clv.units.TIME_UNITS`. It sets the discounting (years per unit).
    discount_rate : float, default 0.10
        The ANNUAL discount rate d (0.10 = 10% a year): purchases at t_k are weighted by
        ``(1 + d) ** (-t_k in years)``.
    discount_step : str or float, default "month"
        Purchases are discounted at the end of each such step: a unit name or a positive number of
        ``time_unit`` (:func:`clv.units.step_in_units`); the last step may be partial.
        Discrete-time models step one period.
    use_closed_form : bool, default True
        For ``horizon=None``, use the model's closed-form or exact lifetime sum where it has one;
        False forces the step sum (the reference in tests).

    Returns
    -------
    numpy.ndarray
        DET per customer (:attr:`PurchaseForecast.discounted` of :func:`forecast_purchases`).

    Raises
    ------
    clv.errors.DataError
        For histories that are not finite, negative, or with recency > T; a discount rate that is
        not finite and >= 0; a horizon that is not > 0 (or not whole for a discrete-time model);
        an unknown unit or a bad ``discount_step``.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284 (eq. 10).

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (DERT, Pareto/NBD).

    Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). "Customer-Base Analysis in a
    Discrete-Time Noncontractual Setting". *Marketing Science* 29(6), 1086-1108 (DERT, BG/BB).

    Examples
    --------
    A BG/NBD with the published CDNOW estimates (weeks):

    >>> from clv.models import BetaGeoModel
    >>> model = BetaGeoModel()
    >>> model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> discounted_expected_purchases(model, [2, 0, 7], [30.43, 0, 35.0], [38.86] * 3, horizon=52, time_unit="week").round(3)
    array([1.486, 0.24 , 5.267])
    """
    return forecast_purchases(
        model, frequency, recency, T, horizon=horizon, time_unit=time_unit,
        discount_rate=discount_rate, discount_step=discount_step, use_closed_form=use_closed_form,
    ).discounted


def expected_spend_per_order(spend_model, frequency, monetary_value) -> np.ndarray:
    """E[value of one future order]: the spend model's conditional mean, or the observed mean when no model.

    With a Gamma-Gamma model: ``(gamma + x m) p / (p x + q - 1)`` (Fader, Hardie &
    Lee 2005, "RFM and CLV", eq. 5); ``monetary_value`` is then ignored (may be
    NaN) for customers with no repeat purchase. Without a spend model the given
    ``monetary_value`` is the expected spend per order and must be finite.

    Parameters
    ----------
    spend_model : SpendModel or None
        A fitted spend model (:class:`clv.models.SpendModel`, e.g. Gamma-Gamma), or None.
    frequency : array-like of float
        Repeat purchases x per customer.
    monetary_value : array-like of float
        The mean value m of each customer's repeat purchases (>= 0).

    Returns
    -------
    numpy.ndarray
        The expected value of one future order, per customer.

    Raises
    ------
    clv.errors.DataError
        When ``monetary_value`` is None, or not finite and >= 0 where it is used (repeat buyers
        with a spend model, every customer without one); the message gives the first row.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (eq. 5).

    Examples
    --------
    A Gamma-Gamma with the published CDNOW estimates: a one-time buyer gets the population mean
    p gamma / (q - 1) = 35.22.

    >>> from clv.models import GammaGammaModel
    >>> spend_model = GammaGammaModel()
    >>> spend_model.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> expected_spend_per_order(spend_model, [2, 0, 7], [30.0, float("nan"), 25.0]).round(2)
    array([30.94, 35.22, 25.6 ])
    """
    _require_monetary_value(monetary_value)
    return _spend_per_order(spend_model, as_float_array(frequency, "frequency"), monetary_value)


def _require_monetary_value(monetary_value) -> None:
    if monetary_value is None:
        raise DataError("monetary_value is needed for CLV: pass the customers' mean order value (monetary_value column).")


def _spend_per_order(spend_model, x: np.ndarray, monetary_value, groups: Compressed | None = None) -> np.ndarray:
    """:func:`expected_spend_per_order` for float frequencies ``x``; ``groups``: distinct x (column "x"), if known."""
    m = clean_monetary_value(x, monetary_value, has_spend_model=spend_model is not None)
    if spend_model is None:
        return m
    return _linear_in_m(spend_model, x, m, groups)


def _linear_in_m(spend_model, x: np.ndarray, m: np.ndarray, groups: Compressed | None = None) -> np.ndarray:
    """Gamma-Gamma E[M | x, m] is ``A(x) + B(x) m``: evaluate the model at m = 1 and 2 per distinct x only.

    ``groups``: the distinct values of ``x`` with the map back (column "x"), when the caller has them.
    """
    if not spend_capabilities(spend_model).linear_in_monetary_value:
        return np.asarray(spend_model.expected_spend(x, m), dtype=float)
    if groups is None:
        groups = compress({"x": x}, ordered=False)
    x_distinct = groups.columns["x"]
    at_one = np.asarray(spend_model.expected_spend(x_distinct, np.ones_like(x_distinct)), dtype=float)
    at_two = np.asarray(spend_model.expected_spend(x_distinct, np.full_like(x_distinct, 2.0)), dtype=float)
    slope = at_two - at_one
    spend = groups.expand(slope)
    spend *= m
    spend += groups.expand(at_one - slope)
    return spend


def clean_monetary_value(frequency: np.ndarray, monetary_value, *, has_spend_model: bool) -> np.ndarray:
    """monetary_value as floats, checked; with a spend model, one-time buyers' values become 0 (unused)."""
    m = np.broadcast_to(as_float_array(monetary_value, "monetary_value"), frequency.shape)
    m = np.where(frequency > 0, m, 0.0) if has_spend_model else m.astype(float)
    if m.size and not (m.min() >= 0 and m.max() < np.inf):  # False also for NaN, which min and max propagate
        row = int(np.flatnonzero(~np.isfinite(m) | (m < 0))[0])
        fix = (" for repeat buyers (Gamma-Gamma); fix missing amounts and negative values" if has_spend_model
               else " (without a spend model it is the expected value of every future order)")
        raise DataError(f"monetary_value must be finite and >= 0{fix}; first offending row {row}: {m[row]}.")
    return m


def customer_lifetime_value(
    transaction_model, spend_model, frequency, recency, T, monetary_value=None, *,
    horizon: float | None = None, time_unit: str, discount_rate: float = 0.10, margin: float = 1.0,
    discount_step: str | float = "month", use_closed_form: bool = True,
) -> np.ndarray:
    """CLV = margin * E[spend per order] * DET, per customer.

    ``frequency, recency, T`` and ``horizon`` are in ``time_unit`` (day, week,
    month = 365.25/12 days, quarter, year), the unit the transaction model was
    fitted in; ``horizon=None`` means the whole remaining lifetime. Each step's
    expected purchases are discounted at the step's end by
    ``(1 + discount_rate) ** (-t_k in years)``. ``spend_model=None``
    uses ``monetary_value`` as the expected spend per order.

    CLV = margin x E[spend per order] x DET, DET = sum_k (E[Y(t_k)] - E[Y(t_{k-1})])
    (1 + d) ** (-t_k years) (see :func:`discounted_expected_purchases` and
    :func:`expected_spend_per_order`).

    Parameters
    ----------
    transaction_model : PurchaseModel
        A fitted purchase model (:class:`clv.models.PurchaseModel`).
    spend_model : SpendModel or None
        A fitted spend model (Gamma-Gamma), or None: ``monetary_value`` is then the expected
        spend per order.
    frequency : array-like of float
        Repeat purchases x per customer.
    recency : array-like of float
        Time of the last purchase t_x, from the first, in ``time_unit`` (0 when x = 0).
    T : array-like of float
        Customer age at the observation (calibration) end, from the first purchase, in
        ``time_unit``; recency <= T.
    monetary_value : array-like of float
        The mean value of each customer's repeat purchases (>= 0); required (with a spend model
        it may be NaN for customers with no repeat purchase).
    horizon : float or None, default None
        How far ahead, from the observation end, in ``time_unit``; None is the whole remaining
        lifetime (closed-form DERT where the model has one). A discrete-time model (BG/BB) needs a
        whole number of periods.
    time_unit : str
        The unit of recency, T and horizon: the unit the model was fitted in (its ``time_unit_``);
        one of :data:`clv.units.TIME_UNITS`. It sets the discounting (years per unit).
    discount_rate : float, default 0.10
        The ANNUAL discount rate d (0.10 = 10% a year): purchases at t_k are weighted by
        ``(1 + d) ** (-t_k in years)``.
    discount_step : str or float, default "month"
        Purchases are discounted at the end of each such step: a unit name or a positive number of
        ``time_unit`` (:func:`clv.units.step_in_units`); the last step may be partial.
        Discrete-time models step one period.
    use_closed_form : bool, default True
        For ``horizon=None``, use the model's closed-form or exact lifetime sum where it has one;
        False forces the step sum (the reference in tests).
    margin : float, default 1.0
        The fraction of revenue kept as profit (>= 0); 1.0 values revenue (a customer summary has
        no costs).

    Returns
    -------
    numpy.ndarray
        CLV per customer, in the currency of ``monetary_value``.

    Raises
    ------
    clv.errors.DataError
        For a missing or invalid ``monetary_value``, a margin that is not finite and >= 0, and as
        :func:`discounted_expected_purchases`.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284 (eq. 10).

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (DERT, Pareto/NBD).

    Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). "Customer-Base Analysis in a
    Discrete-Time Noncontractual Setting". *Marketing Science* 29(6), 1086-1108 (DERT, BG/BB).

    Examples
    --------
    A BG/NBD with the published CDNOW estimates (weeks):

    >>> from clv.models import BetaGeoModel
    >>> model = BetaGeoModel()
    >>> model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> customer_lifetime_value(
    ...     model, None, [2, 0, 7], [30.43, 0, 35.0], [38.86] * 3, [30.0, 0.0, 25.0],
    ...     horizon=52, time_unit="week", margin=0.3,
    ... ).round(2)
    array([13.37,  0.  , 39.51])
    """
    margin = _checked_margin(margin)
    _require_monetary_value(monetary_value)
    x, t_x, T = validate_rfm(frequency, recency, T)
    check_annual_rate(discount_rate)
    check_model_unit(transaction_model, time_unit)
    groups = reference_groups(transaction_model, x, T, ordered=False)
    spend = _spend_per_order(spend_model, x, monetary_value, None if groups is None else _frequency_groups(groups))
    rows = forecast_rows_in_groups(transaction_model, x, t_x, T, groups, checked=True)
    _, discounted = _row_forecast(
        transaction_model, rows, horizon=horizon, time_unit=time_unit, discount_rate=discount_rate,
        discount_step=discount_step, use_closed_form=use_closed_form,
    )
    spend *= margin
    spend *= rows.expand(discounted)
    return spend


def _frequency_groups(groups: Compressed) -> Compressed:
    """Distinct x with the map back to the histories, from the distinct (x, T) ``groups`` (far fewer rows)."""
    by_x = compress({"x": groups.columns["x"]}, ordered=False)
    weights = np.bincount(by_x.inverse, weights=groups.weights, minlength=by_x.n_distinct)
    return Compressed(by_x.columns, weights, by_x.inverse[groups.inverse])


# ----- helpers ---------------------------------------------------------------
def is_discrete_time(model) -> bool:
    """Whether the model counts whole periods (BG/BB): its ``capabilities.discrete_time``."""
    return purchase_capabilities(model).discrete_time


def _checked_horizon(horizon: float) -> float:
    value = float(horizon)
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"horizon must be a positive number of model time units (or None for the whole lifetime), got {horizon!r}.")
    return value


def _checked_margin(margin: float) -> float:
    value = float(margin)
    if not (math.isfinite(value) and value >= 0):
        raise DataError(f"margin must be a finite fraction >= 0 of revenue (0.3 = 30%), got {margin!r}.")
    return value


def _step_ends(model, horizon: float, time_unit: str, discount_step: str | float) -> np.ndarray:
    """t_1 < ... < t_K = horizon: steps of ``discount_step``, the last one possibly partial.

    Discrete-time models (BG/BB) step one period at a time and need a whole horizon.
    """
    if is_discrete_time(model):
        if horizon != round(horizon):
            raise DataError(f"horizon must be a whole number of periods for {model.model_name}, got {horizon}.")
        return np.arange(1.0, horizon + 1.0)
    step = step_in_units(discount_step, time_unit)
    n_steps = max(1, math.ceil(horizon / step - 1e-9))
    return np.minimum(step * np.arange(1, n_steps + 1), horizon)


def expectation_grid(expectation: Callable, rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``E[Y(t)]`` for every row in ``rows`` and every ``t`` in ``times``: shape (rows, times).

    One model call per chunk of (row, time) pairs rather than one per time, so
    the per-call overhead of the model is paid a few times only.
    """
    n_times = times.shape[0]
    out = np.empty((rows.shape[0], n_times))
    chunk = max(1, GRID_ELEMENTS_PER_CALL // max(n_times, 1))
    for start in range(0, rows.shape[0], chunk):
        part = rows[start:start + chunk]
        values = expectation(np.tile(times, part.shape[0]), np.repeat(part, n_times))
        out[start:start + part.shape[0]] = values.reshape(part.shape[0], n_times)
    return out


def _path_function(model, rows: ForecastRows) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``path(take, times)``: E[Y(t)] of the rows ``take`` at every ``t`` in ``times``, shape (rows, times).

    Models with ``capabilities.grid_scoring`` (BG/NBD, MBG/NBD) evaluate a (rows, 1) by
    (1, times) grid directly (the per-row work once per row); other models get
    flat (row, time) pairs.
    """
    if purchase_capabilities(model).grid_scoring:
        def path(take: np.ndarray, times: np.ndarray) -> np.ndarray:
            out = np.empty((take.shape[0], times.shape[0]))
            chunk = max(1, ROW_GRID_ELEMENTS_PER_CALL // max(times.shape[0], 1))
            for start in range(0, take.shape[0], chunk):
                part = take[start:start + chunk]
                history = (column[part][:, None] for column in (rows.frequency, rows.recency, rows.T))
                out[start:start + part.shape[0]] = model.expected_purchases(times[None, :], *history)
            return out

        return path

    def expectation(t: np.ndarray, take: np.ndarray) -> np.ndarray:
        return np.asarray(model.expected_purchases(t, rows.frequency[take], rows.recency[take], rows.T[take]), dtype=float)

    return lambda take, times: expectation_grid(expectation, take, times)


def _finite_sum(path: Callable, n_rows: int, step_ends: np.ndarray, factors: np.ndarray):
    values = path(np.arange(n_rows), step_ends)
    increments = np.diff(values, axis=1, prepend=0.0)
    return values[:, -1], increments @ factors


def _lifetime_row_values(model, rows, path, n_rows, time_unit, rate, discount_step, use_closed_form):
    if rate <= 0:
        raise DataError(
            "the whole-lifetime value (horizon=None) needs discount_rate > 0: undiscounted "
            "lifetime purchases can be infinite. Give a positive rate or a finite horizon."
        )
    step = 1.0 if is_discrete_time(model) else step_in_units(discount_step, time_unit)
    if use_closed_form and purchase_capabilities(model).closed_form_lifetime:
        # Closed-form DERT (Pareto/NBD, BG/BB) or quadrature (BG/NBD family): P(alive) times an
        # alive-conditional factor, like E[Y(t)]; evaluated on the rows.
        return np.asarray(model.discounted_residual_purchases(
            rows.frequency, rows.recency, rows.T, discount_rate=rate, time_unit=time_unit, step=step), dtype=float)
    step_factor = math.exp(-math.log1p(rate) * step * years_per_unit(time_unit))
    max_steps = math.ceil(LIFETIME_MAX_YEARS / (step * years_per_unit(time_unit)))
    return _lifetime_sum(path, n_rows, step, step_factor, max_steps)


def _lifetime_sum(path: Callable, n_rows: int, step: float, q: float, max_steps: int, block: int = 120):
    """sum_k (E[Y(k s)] - E[Y((k-1) s)]) q^k until the remaining terms are negligible.

    In these models the expected purchase rate of a customer never increases
    (the purchase rate is fixed and the customer can only die), so the step
    increments D_k are non-increasing and the remainder after step K is at most
    ``D_K q^(K+1) / (1 - q)``. A row stops when that bound is below
    ``LIFETIME_RTOL`` times its sum (or is zero); the sum is capped at
    ``LIFETIME_MAX_YEARS`` of steps and raises if a row has not converged.
    """
    total = np.zeros(n_rows)
    previous = np.zeros(n_rows)
    active = np.arange(n_rows)
    k = 0
    while active.size and k < max_steps:
        steps = np.arange(k + 1, min(k + block, max_steps) + 1)
        values = path(active, steps * step)
        increments = np.diff(values, axis=1, prepend=previous[active][:, None])
        total[active] += increments @ q ** steps.astype(float)
        previous[active] = values[:, -1]
        k = int(steps[-1])
        bound = np.maximum(increments[:, -1], 0.0) * q ** (k + 1) / (1.0 - q)
        active = active[bound > LIFETIME_RTOL * np.abs(total[active])]
    if active.size:
        raise DataError(
            f"the whole-lifetime sum did not converge within {LIFETIME_MAX_YEARS:g} years for {active.size} "
            "customers: the discount rate is too small for these histories. Give a finite horizon."
        )
    return total
