"""BG/CNBD-k: the BG/NBD with Erlang-k inter-purchase times (purchase regularity).

Platzer & Reutterer (2016), "Ticking Away the Moments: Timing Regularity Helps
to Better Predict Customer Activity", Marketing Science 35(5), 779-799; the R
package BTYDplus (``bgcnbd.*``, ``mbgcnbd.*``).

Story: while alive, a customer's inter-purchase times are Erlang-k with rate
``lambda`` (every k-th event of a Poisson(lambda) process: k = 1 is the
BG/NBD's Poisson process, larger k more regular buying); ``lambda ~ Gamma(r,
alpha)``; after every repeat purchase the customer drops out with probability
``p ~ Beta(a, b)`` (the MBG/CNBD-k, :mod:`clv.models.mbgcnbd`, also right
after the first purchase: ``s = capabilities.dropout_at_first_purchase``). The
regularity k is a whole number chosen by likelihood: the model is fitted for
k = 1, 2, ... and the best log-likelihood kept.

Sufficient statistics: x (repeat purchases), t_x (recency), T (age) and
``litt`` = sum over the x inter-purchase times of their logs
(``summarize(..., litt=True)``). Per customer (BTYDplus ``xbgcnbd.LL``),

    log L = (k-1) litt - x log((k-1)!) + log B(a, b+x+s) - log B(a, b)
            + log Gamma(r+kx) - log Gamma(r) + r log(alpha) - (r+kx) log(alpha+T)
            + log(S1 + S2),
    S1 = [x+s >= 1] a/(b+x+s-1) ((alpha+T)/(alpha+t_x))^(r+kx)     (dropped after the last purchase),
    S2 = sum_{j=0}^{k-1} (r+kx)_j (T-t_x)^j / (j! (alpha+T)^j)       (alive: no k-th event since t_x),

with (c)_j the rising factorial. For a fixed k the litt term is a constant,
so (r, alpha, a, b) are fitted on the compressed (x, t_x, T) rows and the
constant added for the choice of k. With k = 1 the likelihood is the BG/NBD's
(MBG/NBD's) exactly, and that model's own fit is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clv.errors import DataError, FitError
from clv.lazy import LazyModule
from clv.models.base import (
    MaximumLikelihoodModel,
    as_float_array,
    broadcast_history,
    non_negative,
    require_customers,
    require_identified,
    validate_rfm,
    validate_weights,
)
from clv.models.bgnbd import expected_purchases_given_alive
from clv.models.contract import PurchaseCapabilities, PurchaseModel
from clv.summary.compress import apply_on_distinct

special = LazyModule("scipy.special")

# Far enough in the negative binomial tail that the terms left out of the E[Y(t)] series are below 1e-15.
_TAIL_SDS = 12.0
_TAIL_LOG = 40.0
# Terms of the E[Y(t)] series evaluated per batch (bounds the memory of one call).
_TERMS_PER_BATCH = 2_000_000
# BTYDplus's grid search stops when the log-likelihood fell twice in a row (k > 2); the same here.
_DEFAULT_MAX_K = 12


class BetaGeoCNBDModel(MaximumLikelihoodModel, PurchaseModel):
    """BG/CNBD-k model (Platzer & Reutterer 2016): BG/NBD with Erlang-k inter-purchase times.

    Parameters ``r, alpha`` (Gamma distribution of the Poisson rate lambda of
    the underlying events; the purchase rate is lambda / k) and ``a, b`` (Beta
    distribution of the dropout probability after each repeat purchase), plus
    the regularity ``k_`` (a whole number, chosen by likelihood unless given).

    Parameters
    ----------
    k : int or None, default None
        The regularity. None: fit k = 1, 2, ..., ``max_k`` and keep the
        best log-likelihood (stopping early, as BTYDplus does, once it fell
        twice in a row); an int fixes it.
    max_k : int, default 12
        The largest k tried (BTYDplus's grid is 1..12).
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search (``"r", "alpha", "a", "b"``).
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.

    Attributes
    ----------
    params_ : dict of str to float
        The maximum-likelihood estimates of r, alpha, a, b at the chosen k.
    k_ : int
        The regularity: 1 is the BG/NBD (exponential inter-purchase times).
    k_log_likelihoods_ : dict of int to float
        The maximised log-likelihood for every k tried (comparable across k).
    k_basis_ : str
        ``"litt"`` (the paper's likelihood, with the sum of log inter-purchase
        times), ``"recency"`` (no litt given: the likelihood of (x, t_x, T)
        alone, where the x-th purchase time t_x is Gamma(kx, lambda)) or
        ``"given"`` (k fixed by the caller).
    standard_errors_, confidence_intervals_, log_likelihood_, n_, n_distinct_, time_unit_
        As in :class:`~clv.models.bgnbd.BetaGeoModel` (at the chosen k, which is
        held fixed: the standard errors do not include the choice of k).

    Notes
    -----
    E[Y(t) | history] is computed exactly (a series, not the BG/NBD-based
    approximation with bias correction BTYDplus uses): given alive at T with
    u = T - t_x since the last purchase, the underlying events since t_x
    number j in 0..k-1 with posterior weight proportional to the j-th term of
    S2, lambda | j ~ Gamma(r+kx+j, alpha+T), the purchases in (T, T+t] are
    M = floor((N + j)/k) with N ~ Poisson(lambda t), and the customer drops
    out after purchase G ~ Geometric(p), p ~ Beta(a, b+x+s):

        E[Y(t) | alive] = sum_j w_j sum_{m>=1} P(N >= km - j) B(a, b+x+s+m-1) / B(a, b+x+s),

    P(N >= n) = I_z(n, r+kx+j) (the negative binomial tail, z = t/(alpha+T+t)).

    References
    ----------
    Platzer, M. and Reutterer, T. (2016). "Ticking Away the Moments: Timing Regularity Helps to
    Better Predict Customer Activity". *Marketing Science* 35(5), 779-799.

    Examples
    --------
    >>> import numpy as np
    >>> truth = {"r": 1.5, "alpha": 3.0, "a": 0.6, "b": 3.0}
    >>> panel = BetaGeoCNBDModel().simulate(T=np.full(3000, 52.0), params=truth, k=3, rng=1)
    >>> model = BetaGeoCNBDModel().fit(panel["frequency"], panel["recency"], panel["T"], litt=panel["litt"])
    >>> model.k_
    3
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    dropout_parameters: ClassVar[tuple[str, ...]] = ("a", "b")
    model_name: ClassVar[str] = "bgcnbd"
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities(dropout_at_first_purchase=0)
    # The BG/NBD-family model this one equals at k = 1.
    _k1_model: ClassVar[str] = "bgnbd"

    def __init__(self, *, k: int | None = None, max_k: int = _DEFAULT_MAX_K,
                 initial_params: Mapping[str, float] | None = None, max_iter: int = 2000):
        super().__init__(initial_params=initial_params, max_iter=max_iter)
        self.k = k
        self.max_k = max_k

    # ----- fitting --------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None, litt: Any = None) -> BetaGeoCNBDModel:
        """Maximum-likelihood fit of r, alpha, a, b for each k; the best k kept.

        ``frequency``, ``recency``, ``T`` as for the BG/NBD; ``weights``:
        customers per row; ``litt``: the sum of log inter-purchase times per
        row (``summarize(..., litt=True)``), needed for the paper's choice of
        k (without it k is chosen by the likelihood of (x, t_x, T) alone).
        With weights, ``litt`` is the row's per-customer value.
        """
        x, t_x, T = validate_rfm(frequency, recency, T)
        weights = validate_weights(weights, x.shape[0])
        require_customers(self, x.shape[0], weights)
        litt = None if litt is None else _checked_litt(litt, x)
        ks = self._ks()
        repeat = x > 0 if weights is None else (x > 0) & (weights > 0)
        if not repeat.any():
            raise FitError(
                f"{type(self).__name__}: no customer made a repeat purchase (all frequency 0), so purchase "
                "rates, dropout and regularity cannot be estimated. Use a longer calibration period or more customers."
            )
        w = np.ones(x.shape[0]) if weights is None else weights
        fits, log_likelihoods, refusals = {}, {}, []
        for k in ks:
            try:
                fitted = self._fit_fixed_k(k, x, t_x, T, weights)
            except FitError as refused:
                refusals.append(f"k={k}: {refused}")
                if k == ks[0]:
                    raise
                break
            fits[k] = fitted
            log_likelihoods[k] = fitted.log_likelihood_ + _choice_constant(k, x, t_x, w, litt)
            seen = list(log_likelihoods.values())
            if len(seen) >= 3 and seen[-1] < seen[-2] < seen[-3]:
                break
        best = max(log_likelihoods, key=log_likelihoods.get)
        self._adopt(fits[best], best, log_likelihoods, "given" if self.k is not None else
                    ("litt" if litt is not None else "recency"))
        return self

    def _ks(self) -> list[int]:
        if self.k is not None:
            if not (isinstance(self.k, int | np.integer) and self.k >= 1):
                raise DataError(f"k must be a whole number >= 1 (the Erlang regularity), got {self.k!r}. Fix: pass k=1, 2, ... or k=None.")
            return [int(self.k)]
        if not (isinstance(self.max_k, int | np.integer) and self.max_k >= 1):
            raise DataError(f"max_k must be a whole number >= 1, got {self.max_k!r}. Fix: pass e.g. max_k=12.")
        return list(range(1, int(self.max_k) + 1))

    def _fit_fixed_k(self, k: int, x, t_x, T, weights) -> MaximumLikelihoodModel:
        """The fit at one k: the BG/NBD-family model itself at k = 1, this likelihood otherwise."""
        if k == 1:
            from clv.models import model_class

            return model_class(self._k1_model)(initial_params=self.initial_params, max_iter=self.max_iter).fit(
                x, t_x, T, weights)
        model = _FixedK(k, self.capabilities.dropout_at_first_purchase, self.initial_params, self.max_iter)
        model._fit({"x": x, "t_x": t_x, "T": T}, weights)
        require_identified(model)
        return model

    def _adopt(self, fitted: MaximumLikelihoodModel, k: int, log_likelihoods: dict, basis: str) -> None:
        for name in ("params_", "n_", "n_distinct_", "covariance_theta_", "standard_errors_", "confidence_intervals_"):
            setattr(self, name, getattr(fitted, name))
        self.log_likelihood_ = float(log_likelihoods[k])
        self.k_ = int(k)
        self.k_log_likelihoods_ = {int(key): float(value) for key, value in log_likelihoods.items()}
        self.k_basis_ = basis

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """The per-row log-likelihood at the fitted k without the litt term (see the module docstring)."""
        return _log_likelihood(params, self._regularity(), self.capabilities.dropout_at_first_purchase, data)[0]

    def _customer_data_arguments(self, data: Any) -> tuple:
        rfm = tuple(data.rfm())
        table = getattr(data, "table", None)
        if table is not None and "litt" in table.columns:
            return (*rfm, None, table["litt"].to_numpy(dtype=float))
        return rfm

    @property
    def aic_(self) -> float:
        """AIC = 2 (4 + [k chosen by likelihood]) - 2 LL."""
        self._check_fitted()
        return 2 * self._n_estimated() - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        """BIC = (4 + [k chosen by likelihood]) ln(n) - 2 LL."""
        self._check_fitted()
        return self._n_estimated() * math.log(self.n_) - 2 * self.log_likelihood_

    def _n_estimated(self) -> int:
        return len(self.param_names) + (0 if self.k_basis_ == "given" else 1)

    # ----- predictions ----------------------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = S2 / (S1 + S2) (notation of the module docstring; BTYDplus ``xbgcnbd.PAlive``)."""
        x, t_x, T = validate_rfm(frequency, recency, T)
        self._check_fitted()
        return self.probability_alive_validated(x, t_x, T)

    def probability_alive_validated(self, x, t_x, T, params=None):
        """:meth:`probability_alive` on validated float arrays; ``params`` instead of the fitted ones."""
        params = self._params_array(params)
        shape = np.broadcast_shapes(np.shape(x), np.shape(t_x), np.shape(T))
        log_dropped, log_alive_terms = _log_terms(params, self._regularity(), self.capabilities.dropout_at_first_purchase,
                                                  *np.broadcast_arrays(x, t_x, T))
        log_alive = special.logsumexp(log_alive_terms, axis=-1)
        return special.expit(log_alive - log_dropped).reshape(shape)

    def _regularity(self) -> int:
        """The fitted k (``k_``); for parameters set by hand without one, the constructor's k, else 1."""
        k = self.__dict__.get("k_", self.k)
        return 1 if k is None else int(k)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] (the series of the class Notes).

        Arguments broadcast; evaluated once per distinct (t, x, t_x, T).
        ``t`` in the time unit of the data.
        """
        self._check_fitted()
        t = non_negative(t, "t")
        x, t_x, T = broadcast_history(frequency, recency, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        flat = {name: np.ascontiguousarray(v, dtype=float).reshape(-1)
                for name, v in (("t", t), ("x", x), ("t_x", t_x), ("T", T))}
        return apply_on_distinct(self._expected_purchases, **flat).reshape(t.shape)

    def _expected_purchases(self, t, x, t_x, T):
        params = self.params
        s = self.capabilities.dropout_at_first_purchase
        k = self._regularity()
        log_dropped, log_alive_terms = _log_terms(params, k, s, x, t_x, T)
        log_alive = special.logsumexp(log_alive_terms, axis=-1)
        if k == 1:  # the BG/NBD (MBG/NBD) closed form, Fader, Hardie & Lee (2005) eq. 10
            r, alpha, a, b = params
            given_alive = expected_purchases_given_alive(t, r + x, alpha + T, a, b + x + s)
        else:
            phase_weights = np.exp(log_alive_terms - log_alive[:, None])
            given_alive = _expected_given_alive(t, x, T, phase_weights, params, k, s)
        return special.expit(log_alive - log_dropped) * given_alive

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected repeat purchases in (0, t] of a new customer (the history x = t_x = T = 0).

        At time 0 the customer has just bought (j = 0 events since), is alive
        with probability 1 (BG/CNBD-k) or b/(a+b) (MBG/CNBD-k).
        """
        t = non_negative(t, "t")
        zeros = np.zeros(t.shape)
        return self.expected_purchases(t, zeros, zeros, zeros)

    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any,
        params: Any = None, rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """One draw per customer of the purchases in (T, T+t], from the posterior given the history.

        Alive with probability P(alive); if alive, the events since the last
        purchase j ~ w_j, lambda ~ Gamma(r+kx+j, alpha+T), p ~ Beta(a, b+x+s),
        N ~ Poisson(lambda t), and the count is min(floor((N+j)/k), G) with
        G ~ Geometric(p) the purchase after which the customer drops out. Its
        mean is :meth:`expected_purchases`. ``params``: a parameter vector
        (e.g. a row of :meth:`sample_params`; k stays fixed). Returns floats.
        """
        self._check_fitted()
        rng = np.random.default_rng(rng)
        t = non_negative(t, "t")
        t, x, t_x, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        r, alpha, a, b = params = self._params_array(params)
        k, s = self._regularity(), self.capabilities.dropout_at_first_purchase
        flat = [np.ascontiguousarray(v, dtype=float).reshape(-1) for v in (t, x, t_x, T)]
        log_dropped, log_alive_terms = _log_terms(params, k, s, *flat[1:])
        log_alive = special.logsumexp(log_alive_terms, axis=-1)
        alive = rng.random(log_alive.shape) < special.expit(log_alive - log_dropped)
        cumulative = np.cumsum(np.exp(log_alive_terms - log_alive[:, None]), axis=1)
        phase = np.minimum((rng.random(log_alive.shape)[:, None] > cumulative).sum(axis=1), k - 1)
        horizon, x_, _, T_ = flat
        rate = rng.gamma(r + k * x_ + phase, 1.0 / (alpha + T_))
        p = rng.beta(a, b + x_ + s)
        events = poisson_draws(rate * horizon, rng)
        purchases = np.floor((events + phase) / k)
        drop_after = _geometric_trials(p, rng)
        return np.where(alive, np.minimum(purchases, drop_after), 0.0).reshape(t.shape)

    def simulate(self, T: Any, params: Any = None, k: int | None = None, holdout_length: float = 0.0,
                 rng: np.random.Generator | int | None = None) -> pd.DataFrame:
        """Simulate histories of customers of ages ``T`` (first purchase at 0), with their litt and holdout.

        Each customer draws lambda ~ Gamma(r, alpha), p ~ Beta(a, b);
        inter-purchase times are Gamma(k, lambda) (Erlang-k); after each
        purchase (the first too for the MBG/CNBD-k) the customer drops out
        with probability p. Returns ``frequency``, ``recency``, ``T``,
        ``litt`` (calibration, up to T) and ``frequency_holdout`` (purchases
        in (T, T + holdout_length]). ``k``: default the fitted ``k_``.
        """
        rng = np.random.default_rng(rng)
        T = as_float_array(T, "T")
        r, alpha, a, b = self._params_array(params)
        k = self._regularity() if k is None else int(k)
        s = self.capabilities.dropout_at_first_purchase
        n = T.shape[0]
        rate = rng.gamma(r, 1.0 / alpha, n)
        p = rng.beta(a, b, n)
        alive = rng.random(n) >= p if s else np.ones(n, dtype=bool)
        now = np.zeros(n)
        x, t_x, litt, holdout = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        end = T + holdout_length
        active = np.flatnonzero(alive)
        while active.size:
            gap = rng.gamma(k, 1.0, active.size) / rate[active]
            now[active] += gap
            inside = now[active] <= end[active]
            active, gap = active[inside], gap[inside]
            calibration = now[active] <= T[active]
            cal, later = active[calibration], active[~calibration]
            x[cal] += 1
            t_x[cal] = now[cal]
            litt[cal] += np.log(gap[calibration])
            holdout[later] += 1
            stays = rng.random(active.size) >= p[active]
            active = active[stays]
        return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "litt": litt, "frequency_holdout": holdout})

    # ----- persistence ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        payload = super().to_dict()
        payload.update(k=self.k_, k_log_likelihoods={str(key): v for key, v in self.k_log_likelihoods_.items()},
                       k_basis=self.k_basis_)
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> BetaGeoCNBDModel:
        model = super().from_dict(payload)
        model.k_ = int(payload["k"])
        model.k_log_likelihoods_ = {int(key): float(v) for key, v in payload["k_log_likelihoods"].items()}
        model.k_basis_ = str(payload["k_basis"])
        return model

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}() (not fitted)"
        values = ", ".join(f"{n}={v:.4g}" for n, v in self.params_.items())
        return f"{type(self).__name__}(k={self.k_}, {values}; log-likelihood={self.log_likelihood_:.2f}, n={self.n_:g})"


class _FixedK(MaximumLikelihoodModel):
    """The CNBD-k likelihood at one k >= 2, without the litt term (fitted on compressed rows)."""

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    reported_name: ClassVar[str] = "BetaGeoCNBDModel"

    def __init__(self, k: int, s: int, initial_params, max_iter: int):
        super().__init__(initial_params=initial_params, max_iter=max_iter)
        self.k, self.s = k, s

    def _initial_params(self, data, weights):
        total = weights.sum()
        mean_x = float(weights @ data["x"]) / total
        mean_T = float(weights @ data["T"]) / total
        return np.array([1.0, mean_T / max(mean_x, 0.1) / self.k, 1.0, 3.0])

    def _log_likelihood_terms(self, params, data):
        return _log_likelihood(params, self.k, self.s, data)[0]

    def _log_likelihood_gradient(self, params, data):
        return _log_likelihood(params, self.k, self.s, data, gradient=True)[1]

    def _weighted_log_likelihood_and_gradient(self, params, data, weights):
        value, gradient = _log_likelihood(params, self.k, self.s, data, gradient=True)
        total = float(weights @ value)
        if not np.isfinite(total):
            return total, None
        return total, weights @ gradient


def _log_terms(params, k: int, s: int, x, t_x, T):
    """(log S1, log of the k terms of S2 as an (n, k) array); log S1 = -inf without a dropout term."""
    r, alpha, a, b = params
    x, t_x, T = (np.asarray(v, dtype=float).reshape(-1) for v in (x, t_x, T))
    shape = r + k * x
    has_dropout = (x + s) >= 1
    tail = np.where(has_dropout, b + x + s - 1.0, 1.0)
    log_at_T = np.log(alpha + T)
    with np.errstate(divide="ignore"):
        log_dropped = np.where(has_dropout, np.log(a) - np.log(tail) + shape * (log_at_T - np.log(alpha + t_x)), -np.inf)
        log_u = np.log(np.maximum(T - t_x, 0.0))
    terms = np.empty((x.shape[0], k))
    terms[:, 0] = 0.0
    for j in range(1, k):
        with np.errstate(invalid="ignore"):  # u = 0: log u = -inf, the term is 0
            terms[:, j] = terms[:, j - 1] + np.log(shape + j - 1) + log_u - math.log(j) - log_at_T
    return log_dropped, terms


def _log_likelihood(params, k: int, s: int, data, gradient: bool = False):
    """Per-row log L at k without the litt term, and (optionally) d log L / d(r, alpha, a, b) per row."""
    r, alpha, a, b = params
    x, t_x, T = data["x"], data["t_x"], data["T"]
    shape = r + k * x
    log_at_T = np.log(alpha + T)
    log_dropped, terms = _log_terms(params, k, s, x, t_x, T)
    log_alive = special.logsumexp(terms, axis=1)
    log_total = np.logaddexp(log_dropped, log_alive)
    value = (special.betaln(a, b + x + s) - special.betaln(a, b) + special.gammaln(shape) - special.gammaln(r)
             + r * math.log(alpha) - shape * log_at_T + log_total)
    if not gradient:
        return value, None
    dropped_share = np.exp(log_dropped - log_total)
    term_share = np.exp(terms - log_total[:, None])  # each S2 term's share of S1 + S2
    j = np.arange(k)
    # d log term_j / dr = sum_{i<j} 1/(shape+i); d log term_j / dalpha = -j/(alpha+T)
    inverse = 1.0 / (shape[:, None] + j[None, :-1]) if k > 1 else np.zeros((x.shape[0], 0))
    d_terms_r = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(inverse, axis=1)], axis=1)
    d_total_r = dropped_share * (log_at_T - np.log(alpha + t_x)) + (term_share * d_terms_r).sum(axis=1)
    d_total_alpha = (dropped_share * shape * (1.0 / (alpha + T) - 1.0 / (alpha + t_x))
                     - (term_share * j[None, :]).sum(axis=1) / (alpha + T))
    tail = np.where((x + s) >= 1, b + x + s - 1.0, 1.0)
    psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + x + s)
    d_r = special.digamma(shape) - special.digamma(r) + math.log(alpha) - log_at_T + d_total_r
    d_alpha = r / alpha - shape / (alpha + T) + d_total_alpha
    d_a = psi_ab - psi_abx + dropped_share / a
    d_b = psi_ab - special.digamma(b) + special.digamma(b + x + s) - psi_abx - dropped_share / tail
    return value, np.column_stack([d_r, d_alpha, d_a, d_b])


def _choice_constant(k: int, x, t_x, weights, litt) -> float:
    """The part of the log-likelihood that depends on k but not on (r, alpha, a, b), summed with weights.

    With litt: (k-1) litt - x log((k-1)!) (the Erlang-k densities of the x
    inter-purchase times). Without: the density of t_x alone, Gamma(kx,
    lambda): (kx-1) log t_x - log Gamma(kx) for x >= 1 (the exponential part
    is in the fitted terms); rows with x >= 1 and t_x = 0 (impossible for
    distinct purchase days) are left out of the comparison.
    """
    if litt is not None:
        return float(weights @ ((k - 1) * litt - x * special.gammaln(k)))
    usable = (x >= 1) & (t_x > 0)
    kx = k * x[usable]
    return float(weights[usable] @ ((kx - 1) * np.log(t_x[usable]) - special.gammaln(kx)))


def _checked_litt(litt: Any, x: np.ndarray) -> np.ndarray:
    values = as_float_array(litt, "litt")
    if values.shape != x.shape:
        raise DataError(f"litt has {values.shape[0] if values.ndim else 1} values but frequency has {x.shape[0]}. "
                        "Fix: pass one litt per customer (summarize(..., litt=True) gives the column).")
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(f"litt is not finite in row {bad} ({values[bad]!r}). Fix: recompute it with "
                        "summarize(..., litt=True): the sum of the logs of the times between purchases.")
    if np.any((x == 0) & (values != 0)):
        bad = int(np.flatnonzero((x == 0) & (values != 0))[0])
        raise DataError(f"litt must be 0 where frequency is 0 (row {bad} has litt={values[bad]!r}). Fix: recompute "
                        "it with summarize(..., litt=True).")
    return values


def _expected_given_alive(t, x, T, phase_weights, params, k: int, s: int) -> np.ndarray:
    """E[Y(t) | alive, history] by the series of :class:`BetaGeoCNBDModel` (1-D arrays, phase weights (n, k)).

    The terms are evaluated as one flat array over (row, phase, m) in batches:
    m runs to where the negative binomial tail P(N >= km - j) is negligible
    (mean + 12 sd + 40 / log(1/z) events), and B(a, beta+m-1)/B(a, beta) in
    closed form through log Gamma.
    """
    r, alpha, a, b = params
    n = t.shape[0]
    out = np.zeros(n)
    rate = alpha + T
    shape_max = r + k * x + k - 1
    z = t / (rate + t)
    mean = shape_max * t / rate
    sd = np.sqrt(shape_max * z) / np.maximum(1.0 - z, 1e-300)
    with np.errstate(divide="ignore"):
        geometric_reach = np.where(z > 0, _TAIL_LOG / -np.log(np.maximum(z, 1e-300)), 0.0)
    events = mean + _TAIL_SDS * sd + geometric_reach + k
    n_terms = np.where(t > 0, np.ceil(events / k) + 1.0, 0.0).astype(np.int64)
    beta = b + x + s
    start = 0
    while start < n:
        cumulative = np.cumsum(n_terms[start:] * k)
        stop = start + max(1, int(np.searchsorted(cumulative, _TERMS_PER_BATCH, side="right")))
        rows = np.arange(start, stop)
        out[rows] = _series(rows, n_terms[rows], k, t, z, r + k * x, beta, a, phase_weights)
        start = stop
    return out


def _series(rows, n_terms, k: int, t, z, shape, beta, a, phase_weights) -> np.ndarray:
    """The E[Y | alive] series for ``rows``: flat (row, phase, m) terms summed back per row."""
    counts = n_terms * k
    row = np.repeat(rows, counts)
    if row.size == 0:
        return np.zeros(rows.shape[0])
    first = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(row.size) - first
    phase = within // np.repeat(n_terms, counts)
    m = within % np.repeat(n_terms, counts) + 1.0
    needed = k * m - phase
    tail = special.betainc(needed, shape[row] + phase, z[row])
    log_ratio = (special.gammaln(beta[row] + m - 1) - special.gammaln(a + beta[row] + m - 1)
                 + special.gammaln(a + beta[row]) - special.gammaln(beta[row]))
    terms = phase_weights[row, phase] * tail * np.exp(log_ratio)
    sums = np.bincount(np.repeat(np.arange(rows.shape[0]), counts), terms, minlength=rows.shape[0])
    # 0 <= E <= E[purchases without dropout] <= (mean events + k) / k
    return np.clip(sums, 0.0, None)


def _geometric_trials(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Geometric(p) on {1, 2, ...} as floats, by inversion."""
    u = rng.random(np.shape(p))
    with np.errstate(divide="ignore"):
        trials = np.ceil(np.log(u) / np.log1p(-p))
    return np.maximum(trials, 1.0)


def poisson_draws(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson(mean) draws as floats; above 1e12 (numpy refuses means near 1e19) the normal approximation
    round(mean + sqrt(mean) Z), exact to a relative 1e-6 there."""
    mean = np.asarray(mean, dtype=float)
    large = mean > 1e12
    draws = rng.poisson(np.where(large, 0.0, mean)).astype(float)
    if large.any():
        draws[large] = np.round(mean[large] + np.sqrt(mean[large]) * rng.standard_normal(mean.shape)[large])
    return draws

