"""Gamma-Gompertz/NBD: Poisson purchases with a Gompertz lifetime (Bemmaor & Glady 2012; CLVTools ``ggomnbd``).

Bemmaor, A. C. and Glady, N. (2012), "Modeling Purchasing Behavior with
Sudden 'Death': A Flexible Customer Lifetime Model", Management Science 58(5),
1012-1021.

Story: while alive a customer buys as a Poisson process with rate
``lambda ~ Gamma(r, alpha)``; the lifetime tau is Gompertz with scale ``b``
and a customer-specific ``zeta ~ Gamma(s, beta)``:
P(tau > t | zeta) = exp(-zeta (e^(bt) - 1)), so over customers
S(t) = P(tau > t) = (beta / (beta - 1 + e^(bt)))^s. As b -> 0 with beta/b
fixed it tends to the Pareto/NBD's exponential lifetimes; b > 0 makes the
dropout hazard grow with age (or the other way round through the mixing).

Likelihood per customer (CLVTools ``ggomnbd_LL_ind``):

    L = Gamma(r+x) alpha^r / Gamma(r) [ (alpha+T)^-(r+x) S(T)
                                        + b s beta^s I ],
    I = integral_{t_x}^{T} e^(by) (alpha+y)^-(r+x) (beta - 1 + e^(by))^-(s+1) dy,

the first term "alive at T", the second "died at y in (t_x, T]". I is taken
by a fixed composite Gauss-Legendre rule in v = (y - t_x)/(T - t_x) on [0, 1]
with panels graded towards v = 0, where (alpha+y)^-(r+x) is sharply peaked
for frequent buyers (see :func:`quadrature_rule`); every customer row uses
the same nodes, so the log-likelihood, its analytic gradient and the
predictions are vectorised over rows and nodes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clv.errors import FitError
from clv.lazy import LazyModule
from clv.models.base import (
    _Z95,
    MaximumLikelihoodModel,
    as_float_array,
    broadcast_history,
    non_negative,
    require_customers,
    require_identified,
    validate_rfm,
    validate_weights,
)
from clv.models.bgcnbd import poisson_draws
from clv.models.contract import PurchaseCapabilities, PurchaseModel
from clv.summary.compress import apply_on_distinct

special = LazyModule("scipy.special")

_GAUSS_NODES = 8  # Gauss-Legendre nodes per panel
_UNIFORM_PANELS = 8  # panels of width 1/8 on [0, 1] ...
_GRADED_PANELS = 18  # ... refined by edges at 2^-1, ..., 2^-18 towards 0
_ROWS_PER_BLOCK = 4096
_RIDGE_S = 1e4  # s above this: the fit went along the ridge of no lifetime heterogeneity (try another start)  # rows evaluated at once (rows x nodes temporaries stay a few MB)


@functools.cache
def quadrature_rule() -> tuple[np.ndarray, np.ndarray]:
    """(nodes, weights) of the composite Gauss-Legendre rule on [0, 1] used for every integral here.

    Panel edges: k/8 (k = 0..8) and 2^-j (j = 1..18), 8 Legendre nodes per
    panel (23 panels, 184 nodes). The graded edges resolve integrands that
    decay within 2^-18 of the interval's start (a customer with thousands of
    purchases), the uniform ones smooth features anywhere. Tested against
    scipy.integrate.quad to 1e-8 relative (tests/test_model_ggomnbd.py).
    """
    edges = np.unique(np.concatenate([np.linspace(0.0, 1.0, _UNIFORM_PANELS + 1),
                                      2.0 ** -np.arange(1, _GRADED_PANELS + 1), [0.0]]))
    base_nodes, base_weights = np.polynomial.legendre.leggauss(_GAUSS_NODES)
    low, high = edges[:-1, None], edges[1:, None]
    nodes = (low + high) / 2 + (high - low) / 2 * base_nodes[None, :]
    weights = (high - low) / 2 * base_weights[None, :]
    return nodes.reshape(-1), weights.reshape(-1)


class GammaGompertzNBDModel(MaximumLikelihoodModel, PurchaseModel):
    """Gamma-Gompertz/NBD model (Bemmaor & Glady 2012), parameters ``r, alpha, b, s, beta``.

    ``r, alpha``: Gamma distribution of purchase rates (mean r/alpha per time
    unit). ``b``: the Gompertz scale of the lifetime (per time unit);
    ``s, beta``: shape and rate of the Gamma distribution of the
    customer-specific Gompertz factor zeta. The population survival is
    S(t) = (beta / (beta - 1 + e^(bt)))^s.

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search (``"r", "alpha", "b", "s", "beta"``).
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.

    Attributes
    ----------
    params_, standard_errors_, confidence_intervals_, log_likelihood_, n_, n_distinct_, time_unit_
        As in :class:`~clv.models.paretonbd.ParetoNBDModel`.

    Notes
    -----
    P(alive | x, t_x, T) = (alpha+T)^-(r+x) S(T) / [(alpha+T)^-(r+x) S(T) + b s beta^s I].
    Given alive at T, lambda ~ Gamma(r+x, alpha+T) and the lifetime is past T,
    so E[Y(t) | x, t_x, T] = P(alive) (r+x)/(alpha+T) integral_0^t S(T+u)/S(T) du
    (the conditional expectation of Bemmaor & Glady with Adler's 2022
    erratum, as CLVTools computes it), the integral by the same quadrature.

    References
    ----------
    Bemmaor, A. C. and Glady, N. (2012). "Modeling Purchasing Behavior with Sudden 'Death': A
    Flexible Customer Lifetime Model". *Management Science* 58(5), 1012-1021.

    Examples
    --------
    >>> import numpy as np
    >>> truth = {"r": 0.6, "alpha": 5.0, "b": 0.05, "s": 0.8, "beta": 8.0}
    >>> history = GammaGompertzNBDModel().simulate(T=np.full(4000, 52.0), params=truth, rng=2)
    >>> model = GammaGompertzNBDModel().fit(history["frequency"], history["recency"], history["T"])
    >>> round(model.params_["r"], 1), round(model.params_["alpha"], 0)
    (0.6, 5.0)
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "b", "s", "beta")
    # s -> 0 is no dropout; beta is not checked: at the Pareto/NBD limit (b -> 0) beta = b c is weakly identified
    dropout_parameters: ClassVar[tuple[str, ...]] = ("s",)
    model_name: ClassVar[str] = "ggomnbd"
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities()

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> GammaGompertzNBDModel:
        """Maximum-likelihood fit on per-customer (or compressed, weighted) histories.

        ``frequency`` x, ``recency`` t_x and ``T`` as for the Pareto/NBD, in
        one time unit; ``weights``: customers per row.
        """
        x, t_x, T = validate_rfm(frequency, recency, T)
        weights = validate_weights(weights, x.shape[0])
        require_customers(self, x.shape[0], weights)
        repeat = x > 0 if weights is None else (x > 0) & (weights > 0)
        if not repeat.any():
            raise FitError(
                f"{type(self).__name__}: no customer made a repeat purchase (all frequency 0), so purchase "
                "rates and lifetimes cannot be estimated. Use a longer calibration period or more customers."
            )
        start = None
        if self.initial_params is not None and {"b", "beta"} <= set(self.initial_params):
            start = {**self.initial_params, "c": float(self.initial_params["beta"]) / float(self.initial_params["b"])}
        data = {"x": x, "t_x": t_x, "T": T}
        try:
            natural = self._natural_fit(data, weights, start, from_pareto=True)
        except FitError:
            natural = None
        if natural is None or natural.params_["s"] > _RIDGE_S:
            # From the Pareto/NBD start the search can end on the s -> infinity ridge (no heterogeneity in
            # zeta) although an interior optimum exists: then the data-based start, keeping the better fit.
            try:
                other = self._natural_fit(data, weights, start, from_pareto=False)
            except FitError:
                if natural is None:
                    raise
                other = None
            if other is not None and (natural is None or other.log_likelihood_ > natural.log_likelihood_):
                natural = other
        self._adopt(natural)
        return self

    def _natural_fit(self, data, weights, start, from_pareto: bool) -> MaximumLikelihoodModel:
        natural = _NaturalFit(initial_params=start if start is not None else self.initial_params,
                              max_iter=self.max_iter)
        natural.from_pareto = from_pareto
        natural._fit(data, weights)
        require_identified(natural)
        return natural

    def _adopt(self, natural: MaximumLikelihoodModel) -> None:
        """The fit in (r, alpha, b, s, c) taken to (r, alpha, b, s, beta = b c): log beta = log b + log c."""
        theta_natural = np.log(natural.params)
        to_beta = np.eye(5)
        to_beta[4, 2] = 1.0  # d log beta / d log b
        theta = to_beta @ theta_natural
        covariance = to_beta @ natural.covariance_theta_ @ to_beta.T
        params = np.exp(theta)
        se_theta = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        self.params_ = dict(zip(self.param_names, params.tolist()))
        self.log_likelihood_ = natural.log_likelihood_
        self.n_, self.n_distinct_ = natural.n_, natural.n_distinct_
        self.covariance_theta_ = covariance
        self.standard_errors_ = dict(zip(self.param_names, (params * se_theta).tolist()))
        with np.errstate(over="ignore"):
            lower, upper = np.exp(theta - _Z95 * se_theta), np.exp(theta + _Z95 * se_theta)
        self.confidence_intervals_ = {n: (lo, hi) for n, lo, hi in zip(self.param_names, lower.tolist(), upper.tolist())}

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-row log L at (r, alpha, b, s, beta) (module docstring)."""
        return _log_likelihood(_natural(params), data["x"], data["t_x"], data["T"])[0]

    # ----- predictions ----------------------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) (class Notes)."""
        x, t_x, T = validate_rfm(frequency, recency, T)
        self._check_fitted()
        return self.probability_alive_validated(x, t_x, T)

    def probability_alive_validated(self, x, t_x, T, params=None):
        """:meth:`probability_alive` on validated float arrays; ``params`` instead of the fitted ones."""
        params = self._params_array(params)
        shape = np.broadcast_shapes(np.shape(x), np.shape(t_x), np.shape(T))
        x, t_x, T = (np.ascontiguousarray(np.broadcast_to(v, shape), dtype=float).reshape(-1) for v in (x, t_x, T))
        log_alive, log_died = _log_terms(params, x, t_x, T)
        return special.expit(log_alive - log_died).reshape(shape)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] (class Notes); arguments broadcast."""
        self._check_fitted()
        t = non_negative(t, "t")
        t, x, t_x, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        flat = {name: np.ascontiguousarray(v, dtype=float).reshape(-1)
                for name, v in (("t", t), ("x", x), ("t_x", t_x), ("T", T))}
        return apply_on_distinct(self._expected_purchases, **flat).reshape(t.shape)

    def _expected_purchases(self, t, x, t_x, T):
        params = self.params
        r, alpha = params[0], params[1]
        return (self.probability_alive_validated(x, t_x, T) * (r + x) / (alpha + T)
                * expected_lifetime_within(t, T, params[2], params[3], params[4]))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)] = r/alpha integral_0^t S(u) du: expected repeat purchases in (0, t] of a new customer."""
        t = non_negative(t, "t")
        r, alpha, b, s, beta = self.params
        return r / alpha * expected_lifetime_within(t, np.zeros(t.shape), b, s, beta)

    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any,
        params: Any = None, rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """One draw per customer of the purchases in (T, T+t], from the posterior given the history.

        Alive with probability P(alive); if alive, lambda ~ Gamma(r+x, alpha+T),
        zeta ~ Gamma(s, beta - 1 + e^(bT)) (the Gompertz factor given survival
        to T), the remaining life u = log1p(E e^(-bT) / zeta) / b with E ~
        Exp(1), and the count is Poisson(lambda min(u, t)). Returns floats.
        """
        self._check_fitted()
        rng = np.random.default_rng(rng)
        t = non_negative(t, "t")
        t, x, t_x, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        r, alpha, b, s, beta = params = self._params_array(params)
        alive = rng.random(x.shape) < self.probability_alive_validated(x, t_x, T, params)
        rate = rng.gamma(r + x, 1.0 / (alpha + T))
        c = beta / b
        # b zeta given survival to T is Gamma(s, 1) / (c e^u(T)); the remaining life solves
        # e^(bT) (e^(bv) - 1) = E / zeta: v = log1p(e^z) / b, z = log(b E e^(-bT) / (b zeta)), in logs
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (math.log(b) + np.log(rng.standard_exponential(x.shape)) - b * T
                 - np.log(rng.standard_gamma(s, x.shape)) + math.log(c) + _aging(T, b, c, False)[0])
        remaining = np.logaddexp(0.0, np.where(np.isnan(z), -np.inf, z)) / b
        return np.where(alive, poisson_draws(rate * np.minimum(remaining, t), rng), 0.0)

    def simulate(self, T: Any, params: Any = None, rng: np.random.Generator | int | None = None) -> pd.DataFrame:
        """Simulate calibration histories (frequency, recency, T) for customers of ages ``T``.

        lambda ~ Gamma(r, alpha), zeta ~ Gamma(s, beta), lifetime
        tau = log1p(E/zeta)/b (E ~ Exp(1)); x ~ Poisson(lambda min(tau, T)) and
        t_x the last of x uniform times on (0, min(tau, T)).
        """
        rng = np.random.default_rng(rng)
        T = as_float_array(T, "T")
        r, alpha, b, s, beta = self._params_array(params)
        rate = rng.gamma(r, 1.0 / alpha, T.shape)
        with np.errstate(divide="ignore", invalid="ignore"):  # b zeta ~ Gamma(s, rate beta / b); tau = log1p(E / zeta) / b
            z = math.log(b) + np.log(rng.standard_exponential(T.shape)) - np.log(rng.standard_gamma(s, T.shape) * b / beta)
        lifetime = np.logaddexp(0.0, np.where(np.isnan(z), -np.inf, z)) / b
        active = np.minimum(lifetime, T)
        x = poisson_draws(rate * active, rng)
        t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1.0), 1.0), 0.0)
        return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


class _NaturalFit(MaximumLikelihoodModel):
    """The likelihood in (r, alpha, b, s, c = beta / b), smooth at the Pareto/NBD limit b -> 0 (fit only)."""

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "b", "s", "c")
    reported_name: ClassVar[str] = "GammaGompertzNBDModel"

    from_pareto: bool = True

    def _initial_params(self, data, weights):
        """The Pareto/NBD fit (r, alpha, s, beta) with a small b: the Gompertz lifetime's b -> 0 limit.

        Its estimates are the optimum on data without aging (CDNOW) and a close
        start otherwise; the data-based guesses when the Pareto/NBD cannot be
        fitted or ``from_pareto`` is False.
        """
        total = weights.sum()
        mean_x = float(weights @ data["x"]) / total
        mean_T = float(weights @ data["T"]) / total
        from clv.errors import ClvError
        from clv.models.paretonbd import ParetoNBDModel

        if not self.from_pareto:
            return np.array([1.0, mean_T / max(mean_x, 0.1), 1.0 / max(mean_T, 1e-3), 1.0, mean_T])
        try:
            pareto = ParetoNBDModel().fit(data["x"], data["t_x"], data["T"], weights).params_
        except ClvError:
            return np.array([1.0, mean_T / max(mean_x, 0.1), 0.1 / max(mean_T, 1e-3), 1.0, mean_T])
        return np.array([pareto["r"], pareto["alpha"], 0.01 / max(mean_T, 1e-3), pareto["s"], pareto["beta"]])

    def _log_likelihood_terms(self, params, data):
        return _log_likelihood(params, data["x"], data["t_x"], data["T"])[0]

    def _log_likelihood_gradient(self, params, data):
        return _log_likelihood(params, data["x"], data["t_x"], data["T"], gradient=True)[1]

    def _weighted_log_likelihood_and_gradient(self, params, data, weights):
        value, gradient = _log_likelihood(params, data["x"], data["t_x"], data["T"], gradient=True)
        total = float(weights @ value)
        return (total, None) if not np.isfinite(total) else (total, weights @ gradient)


def _natural(params) -> tuple[float, float, float, float, float]:
    """(r, alpha, b, s, beta) -> (r, alpha, b, s, c = beta / b)."""
    r, alpha, b, s, beta = params
    return r, alpha, b, s, beta / b


def _aging(y, b: float, c: float, derivatives: bool = True):
    """(u, sigma, du/db) at ages y: u = log(1 + g), g = expm1(by) / (b c), sigma = g / (1 + g).

    S(y) = (beta / (beta - 1 + e^(by)))^s = exp(-s u(y)) with beta = b c:
    written with c = beta / b, u is smooth as b -> 0 (g -> y / c, the
    Pareto/NBD's Pareto-II lifetime), where CDNOW's maximum lies. du/db =
    (dg/db) / (1 + g) with dg/db = (y e^(by) - expm1(by)/b) / (b c), evaluated
    as y^2 q(by) / c, q(z) = (e^z - expm1(z)/z) / z (its series below 1e-4),
    for by <= 1 and as ((by - 1 + e^(-by)) / b) / (b c e^(-by) + 1 - e^(-by))
    above. Without ``derivatives``, sigma and du/db are None.
    """
    y = np.asarray(y, dtype=float)
    xi = b * y
    with np.errstate(divide="ignore"):
        log_g = xi + np.log(-np.expm1(-xi)) - math.log(b * c)  # -inf at y = 0
    u = np.logaddexp(0.0, log_g)
    if not derivatives:
        return u, None, None
    sigma = special.expit(log_g)
    z = np.clip(xi, 1e-4, 1.0)
    q = (np.exp(z) - np.expm1(z) / z) / z
    if xi.min() < 1e-4:
        q = np.where(xi < 1e-4, 0.5 + xi / 3.0 + xi * xi / 8.0, q)
    d_b = y * y * q / c * (1.0 - sigma)
    above = xi > 1.0
    if above.any():
        xa = xi[above]
        decay = np.exp(-xa)
        d_b[above] = ((xa - 1.0 + decay) / b) / (b * c * decay - np.expm1(-xa))
    return u, sigma, d_b


def _log_terms(params, x, t_x, T):
    """(log "alive" term, log "died in (t_x, T]" term) of the likelihood without the common factor (1-D)."""
    r, alpha, b, s, beta = params
    c = beta / b
    log_alive = -(r + x) * np.log(alpha + T) - s * _aging(T, b, c, derivatives=False)[0]
    log_died = math.log(s) - math.log(c) + _log_integral((r, alpha, b, s, c), x, t_x, T)[0]
    return log_alive, log_died


def _log_integral(natural, x, t_x, T, gradient: bool = False):
    """log J (1-D over rows) and, optionally, d log J / d(r, alpha, b, s, c) (rows, 5); -inf where t_x = T.

    J = integral_{t_x}^T exp(phi(y)) dy, phi = by - (r+x) log(alpha+y) - (s+1) u(y) (u of :func:`_aging`;
    (s/c) exp(phi) (alpha+y)^(r+x) is the lifetime density), on the nodes y = t_x + (T - t_x) v of
    :func:`quadrature_rule`; log J by log-sum-exp over the nodes, the gradient as the node-weighted mean of
    d phi / d(r, alpha, b, s, c). ``natural`` = (r, alpha, b, s, c).
    """
    r, alpha, b, s, c = natural
    nodes, weights = quadrature_rule()
    log_weights = np.log(weights)[None, :]
    n = x.shape[0]
    log_integral = np.full(n, -np.inf)
    d_log = np.zeros((n, 5)) if gradient else None
    span = T - t_x
    for start in range(0, n, _ROWS_PER_BLOCK):
        rows = np.arange(start, min(n, start + _ROWS_PER_BLOCK))
        rows = rows[span[rows] > 0]
        if rows.size == 0:
            continue
        y = t_x[rows, None] + span[rows, None] * nodes[None, :]
        shape = (r + x[rows])[:, None]
        log_at = np.log(alpha + y)
        u, sigma, d_u_b = _aging(y, b, c, derivatives=gradient)
        phi = b * y - shape * log_at - (s + 1.0) * u + log_weights
        top = phi.max(axis=1, keepdims=True)
        share = np.exp(phi - top)
        total = share.sum(axis=1)
        log_integral[rows] = top[:, 0] + np.log(total) + np.log(span[rows])
        if gradient:
            share /= total[:, None]
            d_log[rows] = np.column_stack([
                -(share * log_at).sum(axis=1),
                -(share * shape / (alpha + y)).sum(axis=1),
                (share * (y - (s + 1.0) * d_u_b)).sum(axis=1),
                -(share * u).sum(axis=1),
                (s + 1.0) / c * (share * sigma).sum(axis=1),
            ])
    return log_integral, d_log


def _log_likelihood(natural, x, t_x, T, gradient: bool = False):
    """Per-row log L and (optionally) d log L / d(r, alpha, b, s, c), c = beta / b, shape (rows, 5)."""
    r, alpha, b, s, c = natural
    common = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
    log_at_T = np.log(alpha + T)
    u_T, sigma_T, d_u_b_T = _aging(T, b, c, derivatives=gradient)
    log_alive = -(r + x) * log_at_T - s * u_T
    log_integral, d_integral = _log_integral(natural, x, t_x, T, gradient)
    log_died = math.log(s) - math.log(c) + log_integral
    log_total = np.logaddexp(log_alive, log_died)
    value = common + log_total
    if not gradient:
        return value, None
    alive_share = np.exp(log_alive - log_total)
    died_share = 1.0 - alive_share
    d_alive = np.column_stack([-log_at_T, -(r + x) / (alpha + T), -s * d_u_b_T, -u_T, s * sigma_T / c])
    d_died = d_integral + np.array([0.0, 0.0, 0.0, 1.0 / s, -1.0 / c])[None, :]
    d_died = np.where(died_share[:, None] > 0, d_died, 0.0)
    d_common = np.zeros((x.shape[0], 5))
    d_common[:, 0] = special.digamma(r + x) - special.digamma(r) + math.log(alpha)
    d_common[:, 1] = r / alpha
    return value, d_common + alive_share[:, None] * d_alive + died_share[:, None] * d_died


def expected_lifetime_within(t, T, b: float, s: float, beta: float) -> np.ndarray:
    """integral_0^t S(T+u)/S(T) du = integral_0^t exp(-s (u(T+v) - u(T))) dv, u of :func:`_aging` (broadcast).

    The expected time alive in (T, T+t] of a customer alive at T, by the
    rule of :func:`quadrature_rule` on v = t w (blocks of rows).
    """
    t, T = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(t, T))
    shape = t.shape
    t, T = t.reshape(-1), T.reshape(-1)
    nodes, weights = quadrature_rule()
    c = beta / b
    out = np.empty(t.shape[0])
    for start in range(0, t.shape[0], _ROWS_PER_BLOCK):
        rows = slice(start, start + _ROWS_PER_BLOCK)
        ages = T[rows, None] + t[rows, None] * nodes[None, :]
        log_ratio = -s * (_aging(ages, b, c, False)[0] - _aging(T[rows], b, c, False)[0][:, None])
        out[rows] = t[rows] * (np.exp(log_ratio) @ weights)
    return np.clip(out, 0.0, t).reshape(shape)
