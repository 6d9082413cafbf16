"""The value of a customer not yet seen, per acquisition channel or covariate profile, with an interval.

A customer acquired today makes the acquisition purchase at time 0 and then
repeat purchases X(t) in (0, t]. Its expected CLV over ``horizon`` H is

    CLV_new = margin x E[M] x (1{first purchase counted} + DET_new),
    DET_new = sum_k (E[X(t_k)] - E[X(t_(k-1))]) (1 + d) ** (-t_k in years),

with E[X(t)] the purchase model's *unconditional* expectation for a new
customer (``expected_purchases_new``: BG/NBD, Fader, Hardie & Lee 2005,
"Counting your customers the easy way", eq. 9; MBG/NBD, Batislam, Denizel &
Filiztekin 2007; Pareto/NBD, Schmittlein, Morrison & Colombo 1987; NBD
r t / alpha; BG/BB, Fader, Hardie & Shang 2010, eq. 8), t_k the ends of the
discounting steps (the same steps as :func:`clv.scores.customer_lifetime_value`,
so a new customer and a known one are discounted alike), d the annual discount
rate, and E[M] the spend model's *prior* mean order value (Gamma-Gamma:
p gamma / (q - 1), Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4); with
spend covariates p gamma exp(g' z) / (q - 1) for profile z). The first purchase
happens at acquisition (undiscounted); ``include_first_purchase=False`` counts
repeat purchases only. With ``horizon=None`` the sum runs over the whole
lifetime (it needs d > 0).

Profiles. Without covariates a profile is a group fitted on its own (one model
per acquisition channel: pass mappings of fitted models); with covariates it is
a row of covariate values (``profiles``), whose parameters are the fitted
per-customer parameters at those values.

Interval. The interval is for the *expected* value of the next customer of a
profile, from the uncertainty of the estimates: ``n_draws`` parameter vectors
are drawn from each fit's sampling distribution (``sample_params``: normal on
the log-parameters with the inverse observed information as covariance; the
purchase and spend fits independently, as they are fitted separately), the
expected CLV is computed for each, and the quantiles of those values are the
bounds. It does not cover the spread between individual customers (one new
customer may buy nothing or a lot: that spread is far wider and is what
:func:`clv.scores.score_customers`'s prediction intervals describe for known
customers).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from clv.errors import DataError
from clv.models.contract import check_model_unit, purchase_capabilities, spend_capabilities
from clv.result_table import ResultTable
from clv.scores.intervals import covariance_problem, quantile_levels, quantile_name
from clv.scores.lifetime_value import LIFETIME_MAX_YEARS, _checked_horizon, _checked_margin, _lifetime_sum, _step_ends
from clv.units import check_annual_rate, discount_factor, step_in_units, years_per_unit

NEW_CUSTOMER_COLUMNS = ("profile", "expected_purchases", "discounted_purchases", "expected_spend", "clv")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class NewCustomerValue(ResultTable):
    """Expected value of the next customer of each profile (channel or covariate profile), with intervals.

    Returned by :func:`new_customer_value`.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per profile: ``profile``, ``expected_purchases`` (repeat purchases over the
        horizon; NaN for the whole lifetime), ``discounted_purchases`` (DET of a new customer),
        ``expected_spend`` (prior mean per order), ``clv``, and the interval bounds
        ``discounted_purchases_q{u}`` and ``clv_q{u}``.
    time_unit : str
        Unit of ``horizon`` (the models' unit).
    horizon : float or None
        How far from acquisition, in ``time_unit``; None for the whole lifetime.
    discount_rate : float
        Annual discount rate (0.10 = 10% a year).
    margin : float
        Fraction of purchase value counted as value.
    discount_step : str or float
        Length of one discounting step.
    include_first_purchase : bool
        Whether the acquisition purchase (at time 0, undiscounted) is counted.
    n_draws : int
        Parameter draws behind the interval columns.
    seed : int or None
        Seed of the draws.
    interval_uncertainty : str
        What the intervals cover, in words.
    """

    time_unit: str
    horizon: float | None
    discount_rate: float
    margin: float
    discount_step: str | float = "month"
    include_first_purchase: bool = True
    n_draws: int = 0
    seed: int | None = None
    interval_uncertainty: str = ""


def new_customer_value(
    transaction_model,
    spend_model=None,
    *,
    horizon: float | None,
    time_unit: str | None = None,
    profiles: pd.DataFrame | None = None,
    discount_rate: float = 0.10,
    margin: float = 1.0,
    discount_step: str | float = "month",
    intervals: Sequence[float] | None = (0.8, 0.95),
    n_draws: int = 1000,
    seed: int | None = 0,
    include_first_purchase: bool = True,
) -> NewCustomerValue:
    """Expected CLV of a customer not yet seen, per acquisition channel or covariate profile, with intervals.

    ``CLV_new = margin * E[M] * (1 + DET_new)`` with
    ``DET_new = sum_k (E[X(t_k)] - E[X(t_(k-1))]) (1 + discount_rate) ** (-t_k years)``,
    E[X(t)] the purchase model's expected repeat purchases of a new customer in (0, t] and E[M]
    the spend model's prior mean order value (module docstring :mod:`clv.scores.new_customers`).

    Parameters
    ----------
    transaction_model : PurchaseModel or Mapping[str, PurchaseModel]
        A fitted purchase model, or one per profile (e.g. one fit per acquisition channel,
        keyed by channel).
    spend_model : SpendModel or Mapping[str, SpendModel] or None, default None
        A fitted spend model (Gamma-Gamma), or one per profile (the same keys as
        ``transaction_model``); None leaves out the money columns (``expected_spend``, ``clv``).
    horizon : float or None
        How far from acquisition, in ``time_unit``; None for the whole lifetime (needs
        ``discount_rate`` > 0).
    time_unit : str, optional
        The unit of ``horizon``: the models' unit (their ``time_unit_``); needed only for models
        fitted on unitless arrays.
    profiles : pandas.DataFrame, optional
        Covariate profiles, one row each (the index labels them): for models fitted with
        covariates (Gamma-Gamma spend covariates; purchase models with static covariates through
        their ``profile_model``, the plain model of a profile with the covariance of its
        parameters). Not with mappings of models.
    discount_rate : float, default 0.10
        Annual discount rate.
    margin : float, default 1.0
        Fraction of purchase value counted as value (1.0 = revenue).
    discount_step : str or float, default "month"
        Purchases are discounted at the end of each such step.
    intervals : sequence of float or None, default (0.8, 0.95)
        Central interval coverages of the expected discounted purchases and CLV (columns
        ``discounted_purchases_q{u}``, ``clv_q{u}``), from the parameters' uncertainty; None for none.
    n_draws : int, default 1000
        Parameter draws per fit for the intervals.
    seed : int or None, default 0
        Seed of the draws.
    include_first_purchase : bool, default True
        Count the acquisition purchase (at time 0, undiscounted) in the value.

    Returns
    -------
    NewCustomerValue
        One row per profile (columns ``NEW_CUSTOMER_COLUMNS`` and the interval bounds) and the
        settings.

    Raises
    ------
    clv.errors.DataError
        Mappings whose keys differ, profiles with mappings, a model fitted in another unit than
        ``time_unit``, a bad horizon, margin or rate, or ``horizon=None`` with a zero rate.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284 (eq. 9, E[X(t)]).

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (Gamma-Gamma mean).

    Examples
    --------
    BG/NBD and Gamma-Gamma with the published CDNOW estimates (weeks), one year from acquisition:

    >>> from clv.models import BetaGeoModel, GammaGammaModel
    >>> purchases, spend = BetaGeoModel(), GammaGammaModel()
    >>> purchases.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> spend.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> value = new_customer_value(purchases, spend, horizon=52, time_unit="week", discount_rate=0.0,
    ...                            intervals=None)
    >>> value[["expected_purchases", "expected_spend", "clv"]].round(2).to_numpy().tolist()
    [[1.45, 35.22, 86.15]]
    """
    unit, purchase_models, spend_models, labels = _profile_models(transaction_model, spend_model, profiles, time_unit)
    horizon_value = None if horizon is None or (isinstance(horizon, float) and math.isinf(horizon)) \
        else _checked_horizon(horizon)
    rate = check_annual_rate(discount_rate)
    margin_value = _checked_margin(margin)
    levels = quantile_levels(intervals) if intervals else np.array([])
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 2:
        raise DataError(f"n_draws={n_draws!r} must be a whole number >= 2 (parameter draws for the intervals).")
    rng = np.random.default_rng(seed)
    first = 1.0 if include_first_purchase else 0.0
    rows, problems = [], []
    for label, purchases, spend in zip(labels, purchase_models, spend_models):
        forecast = _Forecast(horizon_value, unit, rate, discount_step)
        expected, discounted = forecast.purchases(purchases, purchases.params[None, :])
        row = {"profile": label, "expected_purchases": expected[0], "discounted_purchases": discounted[0]}
        draws_purchases = None
        if levels.size:
            draws_purchases = forecast.purchases(purchases, _draws(purchases, n_draws, rng, problems))[1]
            for level, bound in zip(levels, np.quantile(draws_purchases, levels, method="inverted_cdf")):
                row[quantile_name("discounted_purchases", level)] = float(bound)
        if spend is not None:
            z = profiles.loc[[label]] if profiles is not None and _has_spend_covariates(spend) else None
            mean_spend = float(np.ravel(spend.prior_mean_spend(z) if _has_spend_covariates(spend)
                                        else spend.population_mean_spend)[0])
            row["expected_spend"] = mean_spend
            row["clv"] = margin_value * mean_spend * (first + discounted[0])
            if levels.size:
                spend_draws = _spend_draws(spend, z, n_draws, rng, problems)
                values = margin_value * spend_draws * (first + draws_purchases)
                for level, bound in zip(levels, np.quantile(values, levels, method="inverted_cdf")):
                    row[quantile_name("clv", level)] = float(bound)
        rows.append(row)
    table = pd.DataFrame(rows)
    uncertainty = ("the expected value's uncertainty from the parameter estimates (not the spread between "
                   "individual customers)")
    if problems:
        uncertainty += "; left out for " + "; ".join(sorted(set(problems)))
    return NewCustomerValue(
        table, time_unit=unit, horizon=horizon_value, discount_rate=rate, margin=margin_value,
        discount_step=discount_step, include_first_purchase=bool(include_first_purchase),
        n_draws=int(n_draws) if levels.size else 0, seed=seed, interval_uncertainty=uncertainty if levels.size else "",
    )


@dataclasses.dataclass(frozen=True)
class _Forecast:
    """Expected and discounted repeat purchases of a new customer for a set of parameter vectors."""

    horizon: float | None
    time_unit: str
    rate: float
    discount_step: str | float

    def purchases(self, model, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(E[X(horizon)] or NaN for the lifetime, DET_new) per row of ``params``.

        All rows in one model call where the model's formula broadcasts over parameter columns
        (:func:`_broadcast_path`), else one call per row.
        """
        def path(take: np.ndarray, times: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return _purchases_path(model, params[take], times)

        n = params.shape[0]
        if self.horizon is None:
            if self.rate <= 0:
                raise DataError("the whole-lifetime value of a new customer (horizon=None) needs discount_rate > 0: "
                                "undiscounted lifetime purchases can be infinite. Give a positive rate or a horizon.")
            discrete = purchase_capabilities(model).discrete_time
            step = 1.0 if discrete else step_in_units(self.discount_step, self.time_unit)
            factor = math.exp(-math.log1p(self.rate) * step * years_per_unit(self.time_unit))
            max_steps = math.ceil(LIFETIME_MAX_YEARS / (step * years_per_unit(self.time_unit)))
            return np.full(n, np.nan), _lifetime_sum(path, n, step, factor, max_steps)
        ends = _step_ends(model, self.horizon, self.time_unit, self.discount_step)
        values = path(np.arange(n), ends)
        increments = np.diff(values, axis=1, prepend=0.0)
        return values[:, -1], increments @ discount_factor(ends, self.rate, self.time_unit)


def _purchases_path(model, params: np.ndarray, times: np.ndarray) -> np.ndarray:
    """E[X(t)] of a new customer for each parameter row (rows) at each time (columns).

    First tries one call with the parameters as (rows, 1) columns and ``times`` as a
    (1, times) row: the closed forms of E[X(t)] are elementwise, so they broadcast to
    (rows, times). The result is kept only when it has that shape, is finite where the
    per-row call is, and equals the per-row call on the first and last rows (1e-10);
    otherwise (a model whose formula does not broadcast) one call per row.
    """
    one_by_one = lambda row: np.asarray(_with_params(model, row).expected_purchases_new(times), dtype=float)
    if params.shape[0] > 2:
        try:
            grid = np.asarray(_with_params(model, params, columns=True).expected_purchases_new(times[None, :]),
                              dtype=float)
        except (ValueError, TypeError, DataError, IndexError):
            grid = None
        if grid is not None and grid.shape == (params.shape[0], times.shape[0]) and all(
                np.allclose(grid[i], one_by_one(params[i]), rtol=1e-10, atol=0.0, equal_nan=True) for i in (0, -1)):
            return grid
    return np.vstack([one_by_one(row) for row in params])


def _with_params(model, params: np.ndarray, columns: bool = False):
    """A shallow copy of ``model`` with other parameter values (for the draws); ``columns``: ``params`` is
    (rows, k) and each parameter becomes a (rows, 1) column."""
    other = copy.copy(model)
    if columns:
        other.params_ = {name: params[:, j, None] for j, name in enumerate(model.param_names)}
    else:
        other.params_ = dict(zip(model.param_names, (float(v) for v in params)))
    return other


def _draws(model, n_draws: int, rng: np.random.Generator, problems: list[str]) -> np.ndarray:
    """Parameter draws of a fit, or its point estimate repeated (and the reason noted) when unusable."""
    problem = covariance_problem(model)
    if problem is not None:
        problems.append(f"{type(model).__name__}: {problem}")
        return np.tile(model.params, (n_draws, 1))
    return np.asarray(model.sample_params(n_draws, rng), dtype=float)


def _spend_draws(spend_model, z, n_draws: int, rng: np.random.Generator, problems: list[str]) -> np.ndarray:
    """Prior mean spend per order for each parameter draw of the spend fit (inf where a draw has q <= 1)."""
    if not callable(getattr(spend_model, "prior_mean_spend", None)):  # a spend model without parameter draws of its mean
        problems.append(f"{type(spend_model).__name__}: no prior_mean_spend(params=) to draw from")
        return np.full(n_draws, float(spend_model.population_mean_spend))
    draws = _draws(spend_model, n_draws, rng, problems)
    return np.asarray(spend_model.prior_mean_spend(z, params=draws), dtype=float)[:, 0]


def _has_spend_covariates(spend_model) -> bool:
    return bool(getattr(spend_model, "has_covariates", False))


def _has_purchase_covariates(model) -> bool:
    """A purchase model fitted with static covariates (``covariate_names_``) that gives a profile's plain model."""
    return bool(getattr(model, "__dict__", {}).get("covariate_names_")) and callable(getattr(model, "profile_model", None))


def _profile_purchase_model(model, profile: pd.Series):
    """The plain model of one covariate profile (``model.profile_model``: its parameters and their covariance)."""
    names = list(model.covariate_names_)
    missing = [n for n in names if n not in profile.index]
    if missing:
        raise DataError(f"profiles lack column(s) {missing} the purchase model was fitted with. Fix: give columns "
                        f"{names}.")
    return model.profile_model(profile[names].to_numpy(dtype=float))


def _profile_models(transaction_model, spend_model, profiles, time_unit):
    """(unit, purchase model per profile, spend model per profile, profile labels), checked."""
    if isinstance(transaction_model, Mapping):
        if profiles is not None:
            raise DataError("profiles= is for models fitted with covariates; with one model per profile (mappings) "
                            "leave it out.")
        labels = [str(k) for k in transaction_model]
        if not labels:
            raise DataError("transaction_model is an empty mapping. Fix: give one fitted model per profile.")
        purchases = list(transaction_model.values())
        if isinstance(spend_model, Mapping):
            missing = [k for k in transaction_model if k not in spend_model]
            if missing:
                raise DataError(f"spend_model has no model for profile(s) {missing[:5]}. Fix: give a spend model "
                                "for every key of transaction_model (or one spend model for all).")
            spends = [spend_model[k] for k in transaction_model]
        else:
            spends = [spend_model] * len(purchases)
    else:
        if isinstance(spend_model, Mapping):
            raise DataError("spend_model is a mapping but transaction_model is one model. Fix: give both per "
                            "profile, or one of each.")
        if profiles is not None:
            if not isinstance(profiles, pd.DataFrame) or len(profiles) == 0:
                raise DataError("profiles must be a non-empty DataFrame of covariate values, one row per profile.")
            if not profiles.index.is_unique:
                raise DataError("profiles: the index labels the profiles and must be unique.")
            purchase_covariates = _has_purchase_covariates(transaction_model)
            if not (purchase_covariates or (spend_model is not None and _has_spend_covariates(spend_model))):
                raise DataError("profiles= needs a model fitted with covariates (e.g. GammaGammaModel.fit(..., "
                                "covariates=...), or a purchase model with static covariates). Fix: fit one, or "
                                "give one model per channel instead.")
            labels = list(profiles.index)
            purchases = [_profile_purchase_model(transaction_model, profiles.loc[label]) if purchase_covariates
                         else transaction_model for label in labels]
        else:
            if _has_purchase_covariates(transaction_model):
                raise DataError(f"the purchase model was fitted with covariates {list(transaction_model.covariate_names_)}: "
                                "a new customer's value needs their values. Fix: pass profiles= (one row per profile).")
            labels = ["all"]
            purchases = [transaction_model]
        spends = [spend_model] * len(labels)
    for model in purchases:
        purchase_capabilities(model)
    for model in spends:
        if model is not None:
            spend_capabilities(model)
    unit = _common_unit(purchases, time_unit)
    return unit, purchases, spends, labels


def _common_unit(models: list, time_unit: str | None) -> str:
    units = {getattr(m, "time_unit_", None) for m in models} - {None}
    if len(units) > 1:
        raise DataError(f"the purchase models were fitted in different time units {sorted(units)}. Fix: fit them "
                        "all in one unit.")
    unit = time_unit if time_unit is not None else next(iter(units), None)
    if unit is None:
        raise DataError("time_unit is needed: the purchase model was fitted on unitless arrays. Fix: pass "
                        "time_unit= (the unit of its durations).")
    for model in models:
        check_model_unit(model, unit)
    return unit

