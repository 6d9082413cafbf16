"""Prediction intervals for future purchases and CLV.

Each predictive draw for a customer combines both sources of uncertainty:

1. parameter uncertainty: a parameter vector drawn from the fitted model's
   sampling distribution (``model.sample_params``: normal on log-parameters with
   the inverse observed information as covariance);
2. process noise: given those parameters, a draw of the number of purchases in
   ``(T, T + horizon]`` from the posterior of the customer's latent traits
   (``model.sample_future_purchases``), and, for money, the Gamma-Gamma
   posterior of the customer's mean order value,
   ``nu | x, m ~ Gamma(shape = p x + q, rate = gamma + x m)``, with the ``Y``
   future order values i.i.d. ``Gamma(shape = p, rate = nu)``, so their sum is
   ``Gamma(p Y, nu)`` (Fader, Hardie & Lee 2005, "RFM and CLV", section 3).

The CLV draw is ``margin * (sum of the future order values) * dbar`` where
``dbar = DET / E[Y(horizon)]`` is the customer's purchase-weighted average
discount factor at the point estimate: the draw's purchase timing is not
simulated, only its count and value (with a 10% annual rate over one year,
discount factors lie in [0.91, 1], so this moves CLV quantiles by at most a few
percent).

Quantiles are the inverse empirical CDF (``numpy.quantile(method="inverted_cdf")``)
of ``n_draws`` predictive draws: for integer purchases they are whole numbers
with ``P(Y < q_u) < u <= P(Y <= q_u)`` up to Monte Carlo error. The Monte Carlo
error of the level actually achieved by the estimated ``q_u`` has standard
deviation ``sqrt(u (1 - u) / n_draws)`` (the rank of a quantile among ``n``
draws is binomial): 0.011 at u = 0.975 and 0.021 at u = 0.9 for 200 draws.

Three methods, all vectorised and reduced to quantiles per distinct row (a
draws-by-customers array over all customers is never built):

``"simulate"`` (any model): per distinct history, ``n_draws`` predictive draws,
each with its own parameter draw. Cost ~ distinct histories x draws.

``"factorised"`` (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB): the predictive tail of a
history is the tail of its reference row ``(x, T*, T)`` scaled by the P(alive)
ratio ``rho`` (see :mod:`clv.scores.lifetime_value`): ``P(Y > n | history) = rho
P(Y > n | reference)``. So ``q_u(history) = q_v(reference)`` with ``v = 1 - (1 -
u) / rho`` (0 purchases when ``v <= 0``): ``n_draws`` predictive draws per distinct
``(x, T)`` serve every recency. Likewise the Gamma-Gamma posterior factorises,
``sum of order values = (gamma + x m) * Gamma(p Y, 1) / Gamma(p x + q, 1)``. The
reference draws carry full parameter uncertainty; ``rho`` and the Gamma-Gamma
``gamma`` in the scale ``(gamma + x m)`` are held at their point estimates (their
sampling variation is not propagated: negligible for large customer bases, and
measured against ``"simulate"`` in docs/scoring.md). Cost ~ distinct (x, T) x draws.

``"closed"`` (BG/NBD, MBG/NBD; chosen by ``"auto"``): like ``"factorised"`` but the
reference distribution of purchases is computed exactly (:mod:`clv.scores.closed_form`),
averaged over ``PARAMETER_DRAWS`` parameter draws; purchase quantiles carry no
process-noise Monte Carlo error; money uses ``n_draws`` inverse-CDF draws per (x, T).

Seeding: the parameter draws (shared by all customers) come from ``numpy.random.default_rng(seed)``;
the process-noise draws of a distinct row (a history, or an (x, T) reference) are keyed by
the row's own values and the seed (:mod:`clv.scores.keyed_random`). A customer's intervals
are therefore a function of their history and the run seed only: the same however the
customers are ordered, chunked or partitioned (e.g. scored on Spark,
:mod:`clv.scores.engine_scoring`), and equal for customers with equal histories.
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from clv.errors import DataError, FitError
from clv.models.contract import (
    INTERVAL_METHODS,
    purchase_capabilities,
    spend_capabilities,
)
from clv.scores.keyed_random import KeyedGenerator, keyed_uniforms, row_keys
from clv.scores.closed_form import (
    PARAMETER_DRAWS,
    TailTable,
    dropout_shift,
    reference_tails,
)
from clv.scores.lifetime_value import ForecastRows

DRAWS_PER_CHUNK = 4_000_000  # rows x draws held at once
_REFERENCE_UNIFORM = 1 << 31  # counter offset, within a draw, of the closed form's uniform for Y


def quantile_levels(intervals) -> np.ndarray:
    """Central intervals -> sorted quantile levels: (0.8, 0.95) -> [0.025, 0.1, 0.9, 0.975].

    Parameters
    ----------
    intervals : iterable of float
        Coverages of central prediction intervals, each strictly between 0 and 1 (0.8 = 80%).

    Returns
    -------
    numpy.ndarray
        The sorted, distinct quantile levels ``(1 - c) / 2`` and ``(1 + c) / 2`` of every
        coverage c.

    Raises
    ------
    clv.errors.DataError
        When a coverage is not strictly between 0 and 1.

    Examples
    --------
    >>> quantile_levels((0.8, 0.95))
    array([0.025, 0.1  , 0.9  , 0.975])
    """
    levels = set()
    for coverage in intervals:
        c = float(coverage)
        if not (0 < c < 1):
            raise DataError(f"interval coverages must lie strictly between 0 and 1 (0.8 = 80%), got {coverage!r}.")
        levels.update((round((1 - c) / 2, 12), round((1 + c) / 2, 12)))
    return np.array(sorted(levels))


def quantile_name(prefix: str, level: float) -> str:
    """Column name of a quantile: ``purchases_q0.025``.

    Parameters
    ----------
    prefix : str
        The quantity (``"purchases"``, ``"clv"``).
    level : float
        The quantile level, in (0, 1).

    Returns
    -------
    str
        ``f"{prefix}_q{level:g}"``.

    Examples
    --------
    >>> quantile_name("clv", 0.975)
    'clv_q0.975'
    """
    return f"{prefix}_q{level:g}"


@dataclass(frozen=True)
class IntervalInputs:
    """Per distinct history: the history, mean order value, and CLV per unit of spend."""

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray
    clv_scale: np.ndarray  # margin * mean discount factor
    spend_covariates: np.ndarray | None = None  # (n, k) for a spend model fitted with covariates


@dataclass(frozen=True)
class QuantileResult:
    purchases: np.ndarray  # (n, L)
    clv: np.ndarray  # (n, L)
    method: str
    n_draws: int


def choose_method(model, method: str) -> str:
    """The interval method: 'auto' picks the model's ``capabilities.default_interval_method``
    (closed for the BG/NBD family, else factorised for Pareto/NBD and BG/BB, else simulate)."""
    capabilities = purchase_capabilities(model)
    if method == "auto":
        return capabilities.default_interval_method
    if method not in INTERVAL_METHODS:
        raise DataError(f"interval_method must be 'auto', 'closed', 'factorised' or 'simulate', got {method!r}.")
    if method not in capabilities.interval_methods:
        raise DataError(f"interval_method={method!r} is not available for {type(model).__name__} (it supports "
                        f"{', '.join(capabilities.interval_methods)}); use 'simulate'.")
    return method


def covariance_problem(model) -> str | None:
    """Why the fit's parameter uncertainty cannot enter the intervals, or None when it can.

    Usable: a finite covariance of the log-parameters whose draws stay finite
    and positive (checked at 8 standard deviations, beyond any of a few
    thousand draws). Otherwise the reason, in words: parameters set by hand
    (no fit, no covariance: taken as known), a singular information matrix,
    or a covariance so wide that draws overflow or reach 0 (a parameter at the
    edge of what the data identify, e.g. BG/NBD's a and b running to infinity
    when no churn shows).

    Parameters
    ----------
    model : fitted model
        A purchase or spend model.

    Returns
    -------
    str or None
    """
    covariance = getattr(model, "covariance_theta_", None)
    if covariance is None:  # a model that samples its own way, or parameters set by hand
        try:
            model.sample_params(2, 0)
        except AttributeError:  # no covariance to draw from (NotFittedError included)
            return "parameters set by hand, taken as known"
        return None
    covariance = np.asarray(covariance, dtype=float)
    if not np.all(np.isfinite(covariance)):
        return "the information matrix is singular at the fit (a parameter is not identified by the data)"
    theta = _theta(model)
    spread = 8.0 * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(over="ignore"):
        extremes = np.exp(np.concatenate([theta - spread, theta + spread]))
    if not np.all(np.isfinite(extremes) & (extremes > 0)):
        return "the parameters' uncertainty is so wide that their draws overflow or reach 0 (a parameter at the edge)"
    return None


def interval_uncertainty(model, spend_model=None) -> str:
    """What the prediction intervals include, in words, for the result (:class:`clv.scores.Scores`).

    Parameters
    ----------
    model : fitted purchase model
    spend_model : fitted spend model, optional

    Returns
    -------
    str
        ``"parameters and process noise"``, or ``"process noise only: <model>: <reason>"``
        when a model's parameter uncertainty is unusable (:func:`covariance_problem`).
    """
    problems = [f"{type(m).__name__}: {problem}" for m in (model, spend_model)
                if m is not None and (problem := covariance_problem(m)) is not None]
    if problems:
        return "process noise only (the parameters' uncertainty is left out; " + "; ".join(problems) + ")"
    return "parameters and process noise"


def parameter_draws(model, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` parameter vectors from the fit's sampling distribution, or the point estimate repeated.

    The point estimate (with a warning) where :func:`covariance_problem` finds the
    fit's uncertainty unusable; the scores then say so (``Scores.interval_uncertainty``),
    so an interval without the parameters' uncertainty is never presented as one with it.

    Raises
    ------
    FitError
        Draws that are not finite positive numbers although the covariance passed the check.
    """
    problem = covariance_problem(model)
    if problem is not None:
        warnings.warn(f"{type(model).__name__}: no usable parameter covariance ({problem}); "
                      "intervals include process noise only.", stacklevel=3)
        return np.tile(model.params, (n_draws, 1))
    draws = model.sample_params(n_draws, rng)
    # covariate coefficients (named on the instance, after the class's base parameters) may be < 0
    positive = draws[:, :len(getattr(type(model), "param_names", ())) or draws.shape[1]]
    if not (np.all(np.isfinite(draws)) and np.all(positive > 0)):
        raise FitError(
            f"{type(model).__name__}: parameter draws for the prediction intervals overflow or reach 0. "
            "Fix: fit on more customers or a longer calibration period, or score without intervals (intervals=None)."
        )
    return draws


def _theta(model) -> np.ndarray:
    """The point the covariance refers to: log-parameters (and covariate coefficients as they are, where the
    model has them: ``model._theta()``)."""
    own = getattr(model, "_theta", None)
    if callable(own):
        return np.asarray(own(), dtype=float)
    return np.log(np.asarray(model.params, dtype=float))


class SpendSampler:
    """Draws of the total value of ``Y`` future orders (Gamma-Gamma, or a fixed mean per order).

    A Gamma-Gamma fitted with spend covariates draws its coefficients g too: customer i's
    scale is ``gamma_d exp(g_d' z_i)`` in draw d (:meth:`total` with ``covariates``).
    """

    def __init__(self, spend_model, n_draws: int, rng: np.random.Generator):
        self.spend_model = spend_model
        if spend_model is not None:
            if not spend_capabilities(spend_model).gamma_gamma_draws:
                raise DataError(f"prediction intervals of money need a Gamma-Gamma spend model's draws; "
                                f"{type(spend_model).__name__} has none. Fix: pass intervals=None.")
            names = list(spend_model.param_names)
            draws = parameter_draws(spend_model, n_draws, rng)
            self.p, self.q, self.gamma = (draws[:, names.index(n)] for n in names[:3])
            self.coefficients = draws[:, 3:]

    def total(self, draw: int, purchases: np.ndarray, x: np.ndarray, m: np.ndarray, rng,
              covariates: np.ndarray | None = None) -> np.ndarray:
        """Sum of the order values: ``Gamma(p Y, 1) / nu`` with ``nu ~ Gamma(p x + q, rate gamma + x m)``
        (``gamma`` times ``exp(g' z)`` per row of ``covariates`` for a fit with spend covariates)."""
        if self.spend_model is None:
            return purchases * m
        p, q, gamma = self.p[draw], self.q[draw], self.gamma[draw]
        if covariates is not None:
            gamma = gamma * np.exp(covariates @ self.coefficients[draw])
        nu = rng.gamma(p * x + q, 1.0) / (gamma + x * m)
        return rng.gamma(p * purchases, 1.0) / nu

    def standardised_total(self, draw: int, purchases: np.ndarray, x: np.ndarray, rng) -> np.ndarray:
        """``Gamma(p Y, 1) / Gamma(p x + q, 1)``: the total divided by ``(gamma + x m)``."""
        if self.spend_model is None:
            return purchases.astype(float)
        p, q = self.p[draw], self.q[draw]
        return rng.gamma(p * purchases, 1.0) / rng.gamma(p * x + q, 1.0)


def spend_scale(spend_model, x: np.ndarray, m: np.ndarray, covariates: np.ndarray | None = None) -> np.ndarray:
    """``gamma + x m`` at the point estimate (Gamma-Gamma), or ``m`` without a spend model: total = scale * standardised.

    With spend covariates (a Gamma-Gamma fitted with them) gamma is each customer's
    ``gamma exp(g' z_i)``, one row of ``covariates`` per customer.
    """
    if spend_model is None:
        return np.array(m, dtype=float)
    if covariates is not None:
        return spend_model.prior_scale(covariates) + x * m
    gamma_hat = dict(zip(spend_model.param_names, spend_model.params))[spend_model.param_names[2]]
    scale = x * m
    scale += gamma_hat
    return scale


def simulate_quantiles(model, spend_model, inputs: IntervalInputs, *, horizon: float, levels: np.ndarray,
                       n_draws: int, rng: np.random.Generator, seed: int | None = None) -> QuantileResult:
    """Quantiles from ``n_draws`` full predictive draws per distinct history, chunk by chunk.

    ``rng`` draws the parameters; each row's process noise is keyed by its values (history,
    mean order value, spend covariates) and ``seed`` (:mod:`clv.scores.keyed_random`).
    """
    thetas = parameter_draws(model, n_draws, rng)
    spend = SpendSampler(spend_model, n_draws, rng)
    n = inputs.frequency.shape[0]
    key_columns = [inputs.frequency, inputs.recency, inputs.T, inputs.monetary_value]
    if inputs.spend_covariates is not None:
        key_columns += list(inputs.spend_covariates.T)
    keys = row_keys(key_columns, seed)
    purchases_q = np.empty((n, levels.size))
    clv_q = np.empty((n, levels.size))
    chunk = max(1, DRAWS_PER_CHUNK // n_draws)
    for start in range(0, n, chunk):
        part = slice(start, min(n, start + chunk))
        x, t_x, T, m = (a[part] for a in (inputs.frequency, inputs.recency, inputs.T, inputs.monetary_value))
        z = None if inputs.spend_covariates is None else inputs.spend_covariates[part]
        purchases = np.empty((x.shape[0], n_draws))
        money = np.empty((x.shape[0], n_draws))
        for d in range(n_draws):
            keyed = KeyedGenerator(keys[part], d)
            purchases[:, d] = model.sample_future_purchases(horizon, x, t_x, T, params=thetas[d], rng=keyed)
            money[:, d] = spend.total(d, purchases[:, d], x, m, keyed, z)
        purchases_q[part] = np.quantile(purchases, levels, axis=1, method="inverted_cdf").T
        clv_q[part] = inputs.clv_scale[part, None] * np.quantile(money, levels, axis=1, method="inverted_cdf").T
    return QuantileResult(purchases_q, clv_q, "simulate", n_draws)


@dataclass(frozen=True)
class HistoryQuantiles:
    """Per distinct history: purchase quantiles, and quantiles of the standardised money total.

    CLV quantile of a customer = margin * mean discount * spend scale * ``money``,
    with spend scale ``gamma + x m`` (Gamma-Gamma) or ``m`` (no spend model).
    """

    purchases: np.ndarray  # (n_histories, L)
    money: np.ndarray  # (n_histories, L)
    method: str
    n_draws: int


def factorised_quantiles(model, spend_model, rows: ForecastRows, *, horizon: float, levels: np.ndarray,
                         n_draws: int, rng: np.random.Generator, seed: int | None = None) -> HistoryQuantiles:
    """Quantiles from ``n_draws`` simulated predictive draws per distinct (x, T), shifted to each history's level.

    ``rows`` maps each history to its reference row and P(alive) ratio. ``rng`` draws the
    parameters; each reference row's process noise is keyed by the row and ``seed``.
    """
    thetas = parameter_draws(model, n_draws, rng)
    spend = SpendSampler(spend_model, n_draws, rng)
    n_groups = rows.frequency.shape[0]
    keys = row_keys([rows.frequency, rows.recency, rows.T], seed)
    order = np.argsort(rows.index, kind="stable")
    bounds = np.searchsorted(rows.index[order], np.arange(n_groups + 1))
    purchases_q = np.empty((rows.index.shape[0], levels.size))
    money_q = np.empty_like(purchases_q)
    chunk = max(1, DRAWS_PER_CHUNK // n_draws)
    for start in range(0, n_groups, chunk):
        groups = slice(start, min(n_groups, start + chunk))
        x, t_x, T = rows.frequency[groups], rows.recency[groups], rows.T[groups]
        purchases = np.empty((x.shape[0], n_draws))
        money = np.empty((x.shape[0], n_draws))
        for d in range(n_draws):
            keyed = KeyedGenerator(keys[groups], d)
            purchases[:, d] = model.sample_future_purchases(horizon, x, t_x, T, params=thetas[d], rng=keyed)
            money[:, d] = spend.standardised_total(d, purchases[:, d], x, keyed)
        purchases.sort(axis=1)
        money.sort(axis=1)
        members = order[bounds[groups.start]:bounds[groups.stop]]
        local_group = rows.index[members] - start
        ranks = _shifted_ranks(rows.scale[members], levels, n_draws)
        purchases_q[members] = np.where(ranks >= 0, purchases[local_group[:, None], np.maximum(ranks, 0)], 0.0)
        money_q[members] = np.where(ranks >= 0, money[local_group[:, None], np.maximum(ranks, 0)], 0.0)
    return HistoryQuantiles(purchases_q, money_q, "factorised", n_draws)


@dataclass(frozen=True)
class ReferenceDraws:
    """What the closed-form intervals compute per (x, T) before the histories' P(alive) ratios are needed."""

    table: TailTable
    spend: SpendSampler
    uniforms: np.ndarray  # (groups, draws), each row sorted descending; used up by closed_form_quantiles
    keys: np.ndarray  # per (x, T) group: the key of its process-noise draws (clv.scores.keyed_random)


def closed_form_reference(model, spend_model, x: np.ndarray, T: np.ndarray, *, horizon: float, n_draws: int,
                          rng: np.random.Generator, seed: int | None = None) -> ReferenceDraws:
    """Tail tables per (x, T) group (``min(n_draws, PARAMETER_DRAWS)`` parameter draws), the Gamma-Gamma
    parameter draws and the uniforms of the money draws: the part of :func:`closed_form_quantiles` that
    needs only the reference rows. ``rng`` draws the parameters; the money draws of a group are keyed
    by its (x, T) and ``seed``."""
    thetas = parameter_draws(model, min(n_draws, PARAMETER_DRAWS), rng)
    spend = SpendSampler(spend_model, n_draws, rng)
    keys = row_keys([x, T], seed)
    # A second core draws the uniforms, then builds half of the tables.
    with ThreadPoolExecutor(max_workers=1) as pool:
        uniforms = pool.submit(_descending_uniforms, keys, n_draws)
        table = reference_tails(thetas, x, T, horizon, dropout_shift(model), executor=pool)
        return ReferenceDraws(table, spend, uniforms.result(), keys)


def closed_form_quantiles(model, spend_model, rows: ForecastRows, *, horizon: float, levels: np.ndarray,
                          n_draws: int, rng: np.random.Generator, seed: int | None = None,
                          reference: ReferenceDraws | None = None) -> HistoryQuantiles:
    """BG/NBD family: exact process-noise quantiles of purchases from tail tables per distinct (x, T).

    Purchases: ``q_u = #{n : rho S(n) > 1 - u}`` with ``S`` the reference tail mixed
    over ``min(n_draws, PARAMETER_DRAWS)`` parameter draws (:mod:`clv.scores.closed_form`). Money: per
    (x, T), ``n_draws`` draws of ``Y`` from the same table by inversion, each
    with its own Gamma-Gamma parameter draw, shifted to the history's level like
    ``"factorised"``. ``rng`` draws the parameters, ``seed`` keys each (x, T) group's money
    draws. ``reference``: ``closed_form_reference(model, spend_model, rows.frequency, rows.T, ...)``
    drawn with ``rng`` and ``seed``, when already computed (its uniforms are used up).
    """
    if reference is None:
        reference = closed_form_reference(model, spend_model, rows.frequency, rows.T, horizon=horizon,
                                          n_draws=n_draws, rng=rng, seed=seed)
    with np.errstate(divide="ignore", over="ignore"):
        thresholds = (1.0 - levels[None, :]) / rows.scale[:, None]
    # The money totals are drawn on a second core while this thread counts the purchase quantiles.
    with ThreadPoolExecutor(max_workers=1) as pool:
        money = pool.submit(_sorted_money_draws, reference.table, reference.spend, rows.frequency,
                            reference.uniforms, reference.keys)
        purchases_q = _sorted_count_above(reference.table, rows.index, thresholds)
        ranks = _ranks_at_thresholds(thresholds, n_draws)
        money_q = _at_shifted_ranks(money.result(), rows.index, ranks)
    return HistoryQuantiles(purchases_q, money_q, "closed", n_draws)


def _descending_uniforms(keys: np.ndarray, n_draws: int) -> np.ndarray:
    """(groups, draws) uniforms keyed per group, each row sorted descending (in place: ``-sort(-u)``)."""
    counters = (np.arange(n_draws, dtype=np.uint64) << np.uint64(32)) + np.uint64(_REFERENCE_UNIFORM)
    uniforms = keyed_uniforms(keys, counters)
    np.negative(uniforms, out=uniforms)
    uniforms.sort(axis=1)
    np.negative(uniforms, out=uniforms)
    return uniforms


def _sorted_money_draws(table, spend, x: np.ndarray, uniforms: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Per (x, T) group, sorted draws of the standardised money total, after a column of zeros.

    ``Y`` is drawn from the group's table by inversion of ``uniforms`` (each row
    sorted descending, so the inverse-CDF queries are globally sorted: one search
    per table entry); the Gamma-Gamma draws paired with them are i.i.d., so the
    pairing is still random (they are keyed per group and draw: ``keys``). Column 0 is the 0
    of a level below the P(alive) shift.
    ``uniforms`` is used up: its memory holds the queries, then the counts.
    """
    n_groups, n_draws = uniforms.shape
    counts = table.count_above_sorted_draws(uniforms, overwrite=True)
    # Draw-major (draws, groups) layout: each draw's counts are contiguous for the sampler.
    y = uniforms.reshape(n_draws, n_groups)
    np.copyto(y, counts.T)
    del counts
    money = np.empty((n_groups, n_draws + 1))
    money[:, 0] = 0.0
    for d in range(n_draws):
        money[:, d + 1] = spend.standardised_total(d, y[d], x, KeyedGenerator(keys, d))
    money[:, 1:].sort(axis=1)
    return money


def _at_shifted_ranks(sorted_money: np.ndarray, group: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per history and level, the group's sorted draw at ``ranks`` (-1: the leading 0 column); overwrites ``ranks``."""
    flat = ranks
    flat += 1
    flat += (group * sorted_money.shape[1])[:, None]
    return sorted_money.ravel()[flat]


def _sorted_count_above(table, group: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``table.count_above`` for (history, level) pairs, queried in group order (cache-friendly search).

    Non-finite thresholds (a P(alive) ratio of 0 or NaN) count 0.
    """
    order = np.argsort(group)  # any order within a group: the counts are put back in place
    out = np.empty(thresholds.shape)
    out[order] = table.count_above_per_row(group[order], thresholds[order])
    out[~np.isfinite(thresholds)] = 0.0
    return out


def _shifted_ranks(rho: np.ndarray, levels: np.ndarray, n_draws: int) -> np.ndarray:
    """Index into the reference's sorted draws of the level ``v = 1 - (1 - u) / rho``; -1 means 0.

    Inverse empirical CDF: ``q_v = sorted[ceil(v n) - 1]``.
    """
    with np.errstate(divide="ignore", over="ignore"):
        thresholds = (1.0 - levels[None, :]) / rho[:, None]
    return _ranks_at_thresholds(thresholds, n_draws)


def _ranks_at_thresholds(thresholds: np.ndarray, n_draws: int) -> np.ndarray:
    """:func:`_shifted_ranks` from ``(1 - u) / rho``, computed in place on one float array.

    The values are small whole numbers, exact in floating point.
    """
    v = np.subtract(1.0, thresholds)
    positive = v > 0
    np.maximum(v, -1.0, out=v)  # rho = 0 (or tiny) gives -inf: no purchases at any level
    v *= n_draws
    v -= 1e-9
    np.ceil(v, out=v)
    v -= 1.0
    np.clip(v, 0.0, n_draws - 1.0, out=v)
    v[~positive] = -1.0  # also replaces NaN before the cast
    return v.astype(np.int64)


def monte_carlo_level_sd(level: float, n_draws: int) -> float:
    """Standard deviation of the level achieved by an estimated ``level`` quantile: ``sqrt(u(1-u)/n)``."""
    return math.sqrt(level * (1 - level) / n_draws)
