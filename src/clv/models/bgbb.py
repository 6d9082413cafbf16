"""Beta-geometric/beta-Bernoulli (BG/BB) model for discrete transaction opportunities.

Setting: customers can transact only at discrete opportunities 1, 2, ..., n
(an annual fund drive, a yearly event, one chance per week...). While "alive"
a customer transacts at each opportunity with probability ``p``; at the start
of each opportunity an alive customer drops out for good with probability
``theta``. Across customers p ~ Beta(alpha, beta) and theta ~ Beta(gamma, delta).

Source: P. S. Fader, B. G. S. Hardie and J. Shang (2010), "Customer-Base
Analysis in a Discrete-Time Noncontractual Setting", Marketing Science 29(6),
1086-1108; equation numbers below refer to that paper.

A customer's history is (x, t_x, n): x transactions over the n opportunities
after the first (acquisition) one, the last of them at opportunity t_x
(t_x = 0 when x = 0). Every time argument is a whole number of opportunities.

The likelihood (eq. 5) sums over the ways the history can arise: alive through
opportunity n, or alive through t_x + i and gone from t_x + i + 1 on:

    L = B(alpha+x, beta+n-x)/B(alpha,beta) * B(gamma, delta+n)/B(gamma,delta)
        + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha,beta) * B(gamma+1, delta+t_x+i)/B(gamma,delta)

Here each term is written as ``term(x, k, c)`` with k the opportunities the
customer was alive for and c = 1 if the customer then dropped out:
``log term = betaln(alpha+x, beta+k-x) - betaln(alpha,beta) + betaln(gamma+c, delta+k) - betaln(gamma,delta)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from clv.errors import DataError, FitError
from clv.lazy import LazyModule
from clv.models.base import (
    MaximumLikelihoodModel,
    as_float_array,
    require_customers,
    validate_weights,
)
from clv.models.contract import PurchaseCapabilities, PurchaseModel
from clv.models.sbg import (
    _discount_rate,
    _periods,
    expected_survived_periods,
    hyp2f1_unit_a,
    require_identified,
)
from clv.summary.compress import apply_on_distinct
from clv.units import check_annual_rate, years_per_unit

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv


class BetaGeoBetaBinomModel(MaximumLikelihoodModel, PurchaseModel):
    """BG/BB model: p ~ Beta(alpha, beta) transaction, theta ~ Beta(gamma, delta) dropout.

    Time is counted in transaction opportunities (whatever the business's
    unit: years for an annual drive...); ``n_periods`` is the number of
    opportunities observed after the first transaction and every horizon
    ``t`` is a whole number of further opportunities.

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search, one positive value per parameter
        (``"alpha", "beta", "gamma", "delta"``). The search starts there and, if it does
        not converge from it, goes on from data-based guesses and a few fixed points, keeping the
        best optimum; None starts from those. A start missing a parameter makes the fit raise
        :class:`clv.errors.DataError`.
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.

    Attributes
    ----------
    params_ : dict of str to float
        The maximum-likelihood estimates, by parameter name (set by a successful fit only).
    standard_errors_ : dict of str to float
        Their standard errors (delta method from the observed information).
    confidence_intervals_ : dict of str to tuple of float
        95% Wald intervals, computed on the log scale (always positive).
    log_likelihood_ : float
        The maximised (weighted) log-likelihood.
    n_ : float
        The customers fitted (the sum of the weights).
    n_distinct_ : int
        The distinct rows the likelihood was evaluated on.
    time_unit_ : str or None
        The unit of the durations fitted (``fit(..., time_unit=...)``, or the customer data's);
        None for unitless arrays. Saved by ``to_dict`` / ``to_json``.

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was. Before a successful
    fit, a method that needs one raises :class:`clv.errors.NotFittedError`.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). "Customer-Base Analysis in a
    Discrete-Time Noncontractual Setting". *Marketing Science* 29(6), 1086-1108 (likelihood eq. 5,
    DERT eq. 17).
    """

    param_names = ("alpha", "beta", "gamma", "delta")
    model_name = "bgbb"
    # Whole opportunities (discrete time); the whole-lifetime value in closed form (DERT, eq. 17).
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities(
        discrete_time=True, factorisable=True, closed_form_lifetime=True, closed_form_timing=True
    )
    _fit_caches: ClassVar[tuple[str, ...]] = ("_groups_cache",)

    # ----- fitting --------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None) -> BetaGeoBetaBinomModel:
        """Maximum likelihood on histories (x = frequency, t_x = recency, n = n_periods).

        ``recency`` is the opportunity index of the last transaction (0 if
        none); ``weights`` optionally counts customers sharing a row (the
        compressed form the paper's donation data come in).
        """
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        weights = validate_weights(weights, x.shape[0])
        require_customers(self, x.shape[0], weights)
        counted = np.ones(x.shape, dtype=bool) if weights is None else weights > 0
        if not np.any(counted & (x > 0)):
            raise FitError(
                "no customer transacted after the first opportunity (all frequency = 0): the transaction "
                "probability cannot be estimated. Check that frequency counts repeat transactions."
            )
        if not np.any(counted & (x < n)):
            raise FitError(
                "every customer transacted at every opportunity (frequency = n_periods): nothing identifies "
                "dropout or the spread of the transaction probability. Fix: fit on more customers (some of whom "
                "missed an opportunity) or a longer calibration period, or check that n_periods counts the "
                "opportunities after the first transaction."
            )
        self._fit({"frequency": x, "recency": t_x, "n_periods": n}, weights)
        require_identified(self, (("alpha", "beta"), ("gamma", "delta")))
        return self

    def _groups(self, data: Mapping[str, np.ndarray]) -> _TermGroups:
        """The term layout of ``data``, built once per fit (the optimiser reuses the same rows)."""
        cached = getattr(self, "_groups_cache", None)
        if cached is not None and cached[0] is data:
            return cached[1]
        groups = _likelihood_groups(data["frequency"], data["recency"], data["n_periods"])
        self._groups_cache = (data, groups)
        return groups

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        groups = self._groups(data)
        return groups.log_sum(groups.log_terms(params))

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        groups = self._groups(data)
        log_terms = groups.log_terms(params)
        shares = np.exp(log_terms - groups.log_sum(log_terms)[groups.row])
        return groups.sum(shares[:, None] * groups.term_gradient(params))

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        return np.ones(4)

    # ----- predictions for a new customer ----------------------------------
    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected transactions of a new customer in the next t opportunities.

        Eq. (8): alpha/(alpha+beta) * delta/(gamma-1) * [1 - G(gamma+delta) G(1+delta+t) / (G(1+delta) G(gamma+delta+t))]
        (G = gamma function; the limit at gamma = 1 is used there).
        ``t`` is a whole number of opportunities.
        """
        alpha, beta, gamma, delta = self.params
        t = _periods(t, "t", minimum=0)
        return alpha / (alpha + beta) * expected_survived_periods(gamma, delta, t)

    def probability_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n): probability a new customer transacts n times in t opportunities.

        Eq. (7): C(t,n) B(alpha+n, beta+t-n)/B(alpha,beta) B(gamma, delta+t)/B(gamma,delta)
        + sum_{i=n}^{t-1} C(i,n) B(alpha+n, beta+i-n)/B(alpha,beta) B(gamma+1, delta+i)/B(gamma,delta).
        ``t`` is a whole number of opportunities; 0 when n > t.
        """
        count, horizon = np.broadcast_arrays(_periods(n, "n", minimum=0), _periods(t, "t", minimum=0))
        out = np.zeros(count.shape)
        possible = count <= horizon
        if possible.any():
            x, h = count[possible], horizon[possible]
            groups = _TermGroups(x, first_dropout=x, alive_through=h)
            log_terms = groups.log_terms(self.params) + _log_binomial(groups.k, groups.x)
            out[possible] = np.exp(groups.log_sum(log_terms))
        return out

    # ----- predictions given a history ---------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, n_periods: Any, horizon: int = 1) -> np.ndarray:
        """P(alive at opportunity n + m | x, t_x, n), m = ``horizon`` (default 1).

        Eq. (11) for m = 1: B(alpha+x, beta+n-x)/B(alpha,beta) * B(gamma, delta+n+m)/B(gamma,delta) / L;
        m = 1 is "alive in the next opportunity" (Table 6 of the paper).
        """
        m = float(_periods(horizon, "horizon", minimum=0))
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        params = self.params

        def alive(frequency, recency, n_periods):
            gamma, delta = params[2], params[3]
            log_alive_now = _log_posterior_alive(params, frequency, recency, n_periods)
            return np.exp(log_alive_now + special.betaln(gamma, delta + n_periods + m) - special.betaln(gamma, delta + n_periods))

        return apply_on_distinct(alive, frequency=x, recency=t_x, n_periods=n)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """E[X(n, n+t) | x, t_x, n]: expected transactions in the next t opportunities.

        Eq. (13): B(alpha+x+1, beta+n-x)/B(alpha,beta) * delta/(gamma-1) * G(gamma+delta)/G(1+delta)
        * [G(1+delta+n)/G(gamma+delta+n) - G(1+delta+n+t)/G(gamma+delta+n+t)] / L, computed as
        P(alive at n | history) * (alpha+x)/(alpha+beta+n) * sum_{s=1..t} B(gamma, delta+n+s)/B(gamma, delta+n).
        ``t`` is a whole number of opportunities.
        """
        horizon = _periods(t, "t", minimum=0)
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        x, t_x, n, horizon = _broadcast(x, t_x, n, horizon)
        params = self.params

        def conditional(frequency, recency, n_periods, horizon):
            alpha, beta, gamma, delta = params
            alive_now = np.exp(_log_posterior_alive(params, frequency, recency, n_periods))
            mean_p = (alpha + frequency) / (alpha + beta + n_periods)
            return alive_now * mean_p * expected_survived_periods(gamma, delta + n_periods, horizon)

        return apply_on_distinct(conditional, frequency=x, recency=t_x, n_periods=n, horizon=horizon)

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """P(no transaction in opportunities n+1 .. n+t | x, t_x, n); ``t`` whole opportunities.

        Alive at n (eq. 11 at m = 0), with posteriors p ~ Beta(alpha+x, beta+n-x) and
        theta ~ Beta(gamma, delta+n), the customer stays for G more opportunities,
        ``P(G = k) = (1-theta)^k theta``, and buys at none of the first min(G, t):

            P(none | alive) = sum_{k=0}^{t-1} B(gamma+1, delta+n+k)/B(gamma, delta+n) B(alpha+x, beta+n-x+k)/B(alpha+x, beta+n-x)
                              + B(gamma, delta+n+t)/B(gamma, delta+n) B(alpha+x, beta+n-x+t)/B(alpha+x, beta+n-x)

        (the zero of the conditional distribution of Fader, Hardie & Shang 2010,
        section 3, from the model's story; the same posterior as
        :meth:`sample_future_purchases`), and P(none) = 1 - P(alive) + P(alive) P(none | alive).
        """
        horizon = _periods(t, "t", minimum=0)
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        shape = np.broadcast_shapes(horizon.shape, x.shape)
        x, t_x, n, horizon = _broadcast(x, t_x, n, horizon)
        params = self.params

        def none(frequency, recency, n_periods, horizon):
            alpha, beta, gamma, delta = params
            alive = np.exp(_log_posterior_alive(params, frequency, recency, n_periods))
            steps = np.arange(max(int(horizon.max(initial=0.0)), 1), dtype=float)[None, :]
            p_a, p_b = (alpha + frequency)[:, None], (beta + n_periods - frequency)[:, None]
            stay_b = (delta + n_periods)[:, None]
            log_base = special.betaln(p_a, p_b) + special.betaln(gamma, stay_b)
            log_leave_quiet = special.betaln(gamma + 1.0, stay_b + steps) + special.betaln(p_a, p_b + steps) - log_base
            leave_quiet = np.where(steps < horizon[:, None], np.exp(log_leave_quiet), 0.0).sum(axis=1)
            h = horizon[:, None]
            stay_quiet = np.exp(special.betaln(gamma, stay_b + h) + special.betaln(p_a, p_b + h) - log_base)[:, 0]
            quiet_given_alive = np.minimum(leave_quiet + stay_quiet, 1.0)
            return np.clip(1.0 - alive * (1.0 - quiet_given_alive), 0.0, 1.0)

        return apply_on_distinct(none, frequency=x, recency=t_x, n_periods=n, horizon=horizon).reshape(shape)

    def probability_alive_at(self, t: Any, frequency: Any, recency: Any, n_periods: Any) -> np.ndarray:
        """P(alive at opportunity n + t | x, t_x, n); ``t`` whole opportunities (t = 1: :meth:`probability_alive`).

        Eq. (11) with m = t: P(alive at n | history) B(gamma, delta+n+t) / B(gamma, delta+n).
        """
        horizon = _periods(t, "t", minimum=0)
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        shape = np.broadcast_shapes(horizon.shape, x.shape)
        x, t_x, n, horizon = _broadcast(x, t_x, n, horizon)
        params = self.params

        def alive(frequency, recency, n_periods, horizon):
            gamma, delta = params[2], params[3]
            log_alive_now = _log_posterior_alive(params, frequency, recency, n_periods)
            return np.exp(log_alive_now + special.betaln(gamma, delta + n_periods + horizon)
                          - special.betaln(gamma, delta + n_periods))

        values = apply_on_distinct(alive, frequency=x, recency=t_x, n_periods=n, horizon=horizon)
        return np.clip(values, 0.0, 1.0).reshape(shape)

    def discounted_expected_residual_transactions(
        self, frequency: Any, recency: Any, n_periods: Any, period_rate: float
    ) -> np.ndarray:
        """DERT: discounted expected transactions from opportunity n+1 on, given the history.

        Eq. (17): DERT(d) = B(alpha+x+1, beta+n-x)/B(alpha,beta) * B(gamma, delta+n+1) / (B(gamma,delta) (1+d))
        * 2F1(1, delta+n+1; gamma+delta+n+1; 1/(1+d)) / L.
        A transaction at opportunity n+s is discounted by (1+d)^-s; d is the rate
        per opportunity (e.g. 0.1 for yearly opportunities at 10% a year).
        Multiply by the value per transaction to get the residual lifetime value.
        """
        d = _discount_rate(period_rate)
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        x, t_x, n, d = _broadcast(x, t_x, n, d)
        params = self.params

        def dert(frequency, recency, n_periods, d):
            alpha, beta, gamma, delta = params
            alive_now = np.exp(_log_posterior_alive(params, frequency, recency, n_periods))
            mean_p = (alpha + frequency) / (alpha + beta + n_periods)
            z = 1.0 / (1.0 + d)
            stays = (delta + n_periods) / (gamma + delta + n_periods)
            return alive_now * mean_p * stays * z * hyp2f1_unit_a(delta + n_periods + 1.0, gamma, z)

        return apply_on_distinct(dert, frequency=x, recency=t_x, n_periods=n, d=d)

    def discounted_residual_purchases(
        self, frequency: Any, recency: Any, T: Any, *, discount_rate: float, time_unit: str, step: float = 1.0
    ) -> np.ndarray:
        """Whole-lifetime discounted expected transactions (the contract method): DERT at the rate per
        opportunity ``(1 + discount_rate) ** years_per_unit(time_unit) - 1`` equivalent to the annual
        ``discount_rate`` (one opportunity = one ``time_unit``); ``step`` is not used (one opportunity).
        """
        rate = check_annual_rate(discount_rate)
        per_period = math.expm1(math.log1p(rate) * years_per_unit(time_unit))
        return self.discounted_expected_residual_transactions(frequency, recency, T, per_period)

    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, n_periods: Any, params: Any = None, rng: Any = None
    ) -> np.ndarray:
        """One posterior draw per customer of the transactions in opportunities n+1 .. n+t.

        Given the history and the parameters (fitted, or ``params``: a mapping,
        a length-4 array, or an (n_customers, 4) array of per-customer draws
        from :meth:`sample_params` for parameter uncertainty):

        1. alive at n with probability P(alive at n | history) = term(x, n, 0) / L;
        2. if alive: theta ~ Beta(gamma, delta + n) and p ~ Beta(alpha + x, beta + n - x)
           (the posteriors given survival through n; a customer already gone buys nothing);
        3. the customer survives K = min(G, t) more opportunities with
           P(G >= k) = (1 - theta)^k, and buys Binomial(K, p) times.

        Its mean is :meth:`expected_purchases`. ``t`` is a whole number of
        opportunities. Returns float counts.
        """
        horizon = _periods(t, "t", minimum=0)
        x, t_x, n = validate_bgbb(frequency, recency, n_periods)
        x, t_x, n, horizon = _broadcast(x, t_x, n, horizon)
        theta_all = self._params_per_customer(params, x.shape[0])
        rng = np.random.default_rng(rng)
        alpha, beta, gamma, delta = (theta_all[:, j] for j in range(4))
        if theta_all.shape[0] == 1:
            log_alive = apply_on_distinct(
                lambda frequency, recency, n_periods: _log_posterior_alive(theta_all[0], frequency, recency, n_periods),
                frequency=x, recency=t_x, n_periods=n,
            )
        else:
            log_alive = _log_posterior_alive(theta_all.T, x, t_x, n)
        alive = rng.random(x.shape[0]) < np.exp(log_alive)
        dropout = rng.beta(gamma, delta + n)
        purchase = rng.beta(alpha + x, beta + n - x)
        with np.errstate(divide="ignore"):
            survived = np.floor(np.log(rng.random(x.shape[0])) / np.log1p(-dropout))
        opportunities = np.where(alive, np.minimum(survived, horizon), 0.0)
        return rng.binomial(opportunities.astype(np.int64), purchase).astype(float)

    def _params_per_customer(self, params: Any, n_customers: int) -> np.ndarray:
        if params is None:
            values = self.params
        elif isinstance(params, Mapping):
            values = np.array([float(params[name]) for name in self.param_names])
        else:
            values = as_float_array(params, "params")
        values = np.atleast_2d(values)
        if values.shape[1] != 4 or values.shape[0] not in (1, n_customers):
            raise DataError(
                f"params must be alpha, beta, gamma, delta: a length-4 array or one row of 4 per customer "
                f"({n_customers} rows); got shape {values.shape}."
            )
        if not np.all(np.isfinite(values) & (values > 0)):
            raise DataError("params must all be finite and > 0.")
        return values


# ----- likelihood machinery -------------------------------------------------
class _TermGroups:
    """Ragged groups of likelihood terms, one group per row, flattened.

    Row r holds term(x, n, 0) ("alive through n") followed by the dropout
    terms term(x, k, 1) for k = first_dropout .. n - 1, so a row's terms are
    contiguous and every group is non-empty; sums over a group use
    ``np.add.reduceat`` (no Python loop over rows). Every argument of the
    special functions is a parameter plus a whole number, so with one
    parameter vector they are looked up in small tables indexed by that
    number (the same values, computed once per distinct argument).
    """

    def __init__(self, x: np.ndarray, first_dropout: np.ndarray, alive_through: np.ndarray):
        counts = 1 + (alive_through - first_dropout).astype(np.int64)
        self.starts = np.cumsum(counts) - counts
        self.row = np.repeat(np.arange(counts.shape[0]), counts)
        position = np.arange(self.row.shape[0]) - self.starts[self.row]
        self.x = x.astype(np.int64)[self.row]
        self.dropped = (position > 0).astype(np.int64)
        self.k = np.where(position > 0, first_dropout[self.row] + position - 1, alive_through[self.row]).astype(np.int64)
        self.misses = self.k - self.x  # opportunities alive without a transaction

    def log_terms(self, params: Any) -> np.ndarray:
        """log term(x, k, c) per term; ``params`` a 4-vector or (4, n_rows) per-row values."""
        values = [np.asarray(p, dtype=float) for p in params]
        if values[0].ndim:
            alpha, beta, gamma, delta = (v[self.row] for v in values)
            return (special.betaln(alpha + self.x, beta + self.misses) - special.betaln(alpha, beta)
                    + special.betaln(gamma + self.dropped, delta + self.k) - special.betaln(gamma, delta))
        alpha, beta, gamma, delta = values
        dropout = special.betaln(gamma + np.array([[0.0], [1.0]]), delta + np.arange(self.k.max() + 1.0))
        return (self._purchase_betaln(alpha, beta) - special.betaln(alpha, beta)
                + dropout[self.dropped, self.k] - special.betaln(gamma, delta))

    def _purchase_betaln(self, alpha: float, beta: float) -> np.ndarray:
        """betaln(alpha + x, beta + k - x) per term, via an (x, k - x) grid when that is smaller."""
        n_x, n_misses = self.x.max() + 1, self.misses.max() + 1
        if n_x * n_misses <= self.x.shape[0]:
            grid = special.betaln(alpha + np.arange(n_x)[:, None], beta + np.arange(n_misses)[None, :])
            return grid[self.x, self.misses]
        return special.betaln(alpha + self.x, beta + self.misses)

    def term_gradient(self, params: np.ndarray) -> np.ndarray:
        """d log term / d(alpha, beta, gamma, delta), one row per term."""
        alpha, beta, gamma, delta = params
        x, k, c, misses = self.x, self.k, self.dropped, self.misses
        steps = np.arange(k.max() + 2.0)
        psi_ab = special.digamma(alpha + beta + steps)[k]
        psi_gd = special.digamma(gamma + delta + steps)[k + c]
        return np.column_stack([
            special.digamma(alpha + steps)[x] - psi_ab - special.digamma(alpha) + special.digamma(alpha + beta),
            special.digamma(beta + steps)[misses] - psi_ab - special.digamma(beta) + special.digamma(alpha + beta),
            special.digamma(gamma + steps[:2])[c] - psi_gd - special.digamma(gamma) + special.digamma(gamma + delta),
            special.digamma(delta + steps)[k] - psi_gd - special.digamma(delta) + special.digamma(gamma + delta),
        ])

    def log_sum(self, log_terms: np.ndarray) -> np.ndarray:
        """log of each group's sum of exp(log_terms), by the max-shift trick."""
        peak = np.maximum.reduceat(log_terms, self.starts)
        return peak + np.log(np.add.reduceat(np.exp(log_terms - peak[self.row]), self.starts))

    def sum(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts, axis=0)


def _likelihood_groups(x: np.ndarray, t_x: np.ndarray, n: np.ndarray) -> _TermGroups:
    return _TermGroups(x, first_dropout=t_x, alive_through=n)


def _log_posterior_alive(params, x, t_x, n) -> np.ndarray:
    """log P(alive at opportunity n | x, t_x, n) = log term(x, n, 0) - log L.

    ``params`` is a length-4 vector, or a (4, n_rows) array of per-row parameters.
    """
    groups = _likelihood_groups(x, t_x, n)
    log_terms = groups.log_terms(params)
    return log_terms[groups.starts] - groups.log_sum(log_terms)


def _broadcast(*arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast histories against a horizon or rate, as writable 1-D float arrays."""
    try:
        return [np.array(a, dtype=float).ravel() for a in np.broadcast_arrays(*arrays)]
    except ValueError as exc:
        raise DataError(
            f"the horizon/rate must be a single value or one per customer (got shapes {[np.shape(a) for a in arrays]})."
        ) from exc


def _log_binomial(k: np.ndarray, x: np.ndarray) -> np.ndarray:
    return special.gammaln(k + 1.0) - special.gammaln(x + 1.0) - special.gammaln(k - x + 1.0)


def validate_bgbb(frequency: Any, recency: Any, n_periods: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check BG/BB histories and return float arrays.

    Rules: whole numbers, n_periods >= 1, 0 <= frequency <= recency <= n_periods,
    recency = 0 exactly when frequency = 0. The first offending row is named.
    """
    x, t_x, n = (as_float_array(v, name) for v, name in ((frequency, "frequency"), (recency, "recency"), (n_periods, "n_periods")))
    try:
        x, t_x, n = np.broadcast_arrays(x, t_x, n)
    except ValueError as exc:
        raise DataError(
            f"frequency, recency and n_periods must have the same length (got {x.shape[0]}, {t_x.shape[0]}, {n.shape[0]})."
        ) from exc
    whole = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(n) & (x == np.round(x)) & (t_x == np.round(t_x)) & (n == np.round(n))
    checks = (
        (~whole, "frequency, recency and n_periods must be finite whole numbers of opportunities"),
        (n < 1, "n_periods (opportunities after the first transaction) must be >= 1"),
        (x < 0, "frequency must be >= 0"),
        (x > t_x, "frequency cannot exceed recency (x transactions need at least x opportunities up to the last one)"),
        (t_x > n, "recency (the opportunity of the last transaction) must not exceed n_periods"),
        ((x == 0) & (t_x != 0), "recency must be 0 for customers with no repeat transaction"),
    )
    for bad, message in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{message}; first offending row {row}: frequency={x[row]}, recency={t_x[row]}, "
                f"n_periods={n[row]} ({int(bad.sum())} rows in all)."
            )
    return np.array(x), np.array(t_x), np.array(n)
