"""Pareto/NBD: Poisson purchases while alive, exponential lifetimes.

Schmittlein, Morrison & Colombo (1987), "Counting your customers: who are
they and what will they do next?", Management Science 33(1), 1-24; likelihood
as derived in Fader & Hardie (2005), "A note on deriving the Pareto/NBD model
and related expressions" (brucehardie.com/notes/009).

Story: while alive a customer buys as a Poisson process with rate ``lambda``;
the lifetime is exponential with rate ``mu``. Across customers
``lambda ~ Gamma(r, alpha)`` and ``mu ~ Gamma(s, beta)`` (shape, rate),
independent. A history is (x, t_x, T): ``frequency`` x repeat purchases, the
last at ``recency`` t_x, customer age ``T``, all measured from the first
purchase in one time unit (days, weeks...); every ``t`` argument is in that
same unit.

Numerics. The Fader-Hardie likelihood is

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [F + s * (I(t_x) - I(T))],
    F = (alpha+T)^-(r+x) (beta+T)^-s,
    I(y) = int_y^inf (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau,

where ``s (I(t_x) - I(T))`` is their ``s/(r+s+x) A_0`` written as the integral
it comes from (death at tau in (t_x, T]). Fader-Hardie and the peers
evaluate ``I`` as ``2F1(r+s+x, b; r+s+x+1; z) / (max(alpha,beta)+y)^(r+s+x)``;
that 2F1 overflows or loses all accuracy for heavy buyers (b = r+x in the
thousands) and converges slowly for z near 1. Here ``I`` is computed, in log
space and with its analytic gradient, by :func:`log_tail_integral`:

* with p1 <= p2 the two bases (alpha+y, beta+y) sorted, e1, e2 their
  exponents and zeta = |alpha-beta| / p2, Euler's transformation gives a
  positive series whose term ratios are below zeta,
  ``I = p1^(1-e1) p2^-e2 / (e1+e2-1) * sum_n (e2)_n / (e1+e2)_n zeta^n``;
  it is used when zeta <= 0.8 or when it provably converges within 400
  terms (e1 large: heavy buyers);
* otherwise (one base much smaller than the other) the integral is split at
  the point where the smaller base reaches the larger one: the first piece
  by tanh-sinh quadrature in log(base), the rest again by the series, now
  with zeta <= 1/2.

``I`` depends only on (x, y), so it is evaluated once per distinct
(frequency, recency) and (frequency, T) pair and gathered per row; the fit
cost grows with those pairs, not with customers. During a fit the value and
gradient are computed together (:meth:`ParetoNBDModel._weighted_log_likelihood_and_gradient`):
everything that depends on a pair is summed per pair with weighted counts,
and the pass over the distinct rows only combines the gathered logs
(softplus form, a few exponentials per row) in cache-sized blocks. The
observed information (:meth:`ParetoNBDModel._weighted_hessian`) is analytic
except for the second derivatives of log I, differenced per pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

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
from clv.models.contract import PurchaseCapabilities, PurchaseModel
from clv.models.paretonbd_covariates import (
    BASE_NAMES,
    coefficient_names,
    covariate_matrix,
    log_tail_rowwise,
    with_triple_index,
)
from clv.models.paretonbd_covariates import rates as covariate_rates
from clv.models.paretonbd_covariates import row_terms as covariate_row_terms
from clv.models.paretonbd_covariates import weighted_log_likelihood_and_gradient as covariate_log_likelihood
from clv.models.paretonbd_dynamic import check_paths
from clv.models.paretonbd_dynamic import expected_purchases as dynamic_expected_purchases
from clv.models.paretonbd_dynamic import log_likelihood_and_gradient as dynamic_log_likelihood
from clv.models.paretonbd_dynamic import log_probability_alive as dynamic_log_probability_alive
from clv.models.special import softplus
from clv.summary.compress import apply_on_distinct, compress, offset_codes
from clv.summary.dynamic_covariates import PeriodPaths
from clv.units import continuous_rate_per_unit

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

_SERIES_MAX_ZETA = 0.8  # series always (<= 180 terms); beyond, only if it converges within:
_SERIES_MAX_TERMS = 400  # (cheaper than the split quadrature's ~100-300 nodes of several logs each)
_SERIES_TOLERANCE = 1e-17
# The series drops finished rows from its working arrays once at most this share of them is still summing
# (finished rows meanwhile add terms below the tolerance: cheaper than compacting at every finished row).
_SERIES_KEEP_SHARE = 0.25
_SERIES_CHECK_EVERY = 4  # terms between convergence tests (a test costs about as much as a term)
_EDGE_LOG_PARAM = 25.0
# Rows per block in the fit's row passes: a block's temporaries (a few hundred KB) stay in the CPU cache.
_BLOCK_ROWS = 32_768
_Z95 = 1.959963984540054


# ----- tail integral -------------------------------------------------------
def log_tail_integral(e1, e2, p1, p2, gap):
    """log of ``int_0^inf (p1+u)^-e1 (p2+u)^-e2 du`` and its gradient.

    Requires p1 <= p2, ``gap = p2 - p1`` (passed separately so that it is
    exact when the bases are close), e1 > 0, e2 > 0 and e1 + e2 > 1.
    Returns ``(log_value, grad)`` with ``grad`` of shape (4, n): d/d(e1, e2,
    p1, p2) of the log value. Arrays broadcast; no NaN for any valid input.
    """
    e1, e2, p1, p2, gap = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(e1, e2, p1, p2, gap))
    shape = e1.shape
    e1, e2, p1, p2, gap = (v.ravel() for v in (e1, e2, p1, p2, gap))
    log_value = np.empty(e1.shape)
    grad = np.empty((4,) + e1.shape)
    zeta = gap / p2
    near = (zeta <= _SERIES_MAX_ZETA) | _series_converges_within(_SERIES_MAX_TERMS, e1, e2, zeta)
    if near.any():
        log_value[near], grad[:, near] = _tail_series(e1[near], e2[near], p1[near], p2[near], gap[near])
    far = ~near
    if far.any():
        log_value[far], grad[:, far] = _tail_split(e1[far], e2[far], p1[far], p2[far], gap[far])
    return log_value.reshape(shape), grad.reshape((4,) + shape)


def _series_converges_within(n_terms: int, e1, e2, zeta):
    """True where term n_terms, c_n zeta^n with c_n = (e2)_n/(e1+e2)_n, bounds the remaining tail below tolerance.

    The tail after term n is <= term_n zeta/(1-zeta) since every later ratio is < zeta.
    """
    with np.errstate(divide="ignore"):
        log_term = (special.gammaln(e2 + n_terms) - special.gammaln(e2) + special.gammaln(e1 + e2) - special.gammaln(e1 + e2 + n_terms)
                    + n_terms * np.log(zeta))
        return log_term + np.log(zeta) - np.log1p(-zeta) < np.log(_SERIES_TOLERANCE)


def _tail_series(e1, e2, p1, p2, gap):
    """Series form (Euler-transformed 2F1(1, e2; e1+e2; zeta)); zeta <= 0.8.

    Terms c_n zeta^n, c_n = (e2)_n/(e1+e2)_n, all positive with ratio
    (e2+n)/(e1+e2+n) zeta < zeta, so no cancellation and no overflow; the
    gradient accumulates d log(term_n) = D_n d e2 - HK_n d e1 + n/zeta d zeta
    with the partial sums HK_n = sum_{k<n} 1/(e1+e2+k) and
    D_n = sum_{k<n} (1/(e2+k) - 1/(e1+e2+k)) = sum_{k<n} e1/((e2+k)(e1+e2+k))
    (the last form without cancellation when e1 << e2). The loop works in
    place on the rows still summing and tests convergence every
    ``_SERIES_CHECK_EVERY`` terms (a finished row may add a few terms below
    the tolerance).
    """
    zeta = gap / p2
    n_rows = e1.shape[0]
    total, d_e1, d_e2, d_zeta = np.ones(n_rows), np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    # running state of the rows still summing, kept compact (no fancy indexing per term)
    rows = np.arange(n_rows)
    a_e1, a_e2, a_k1, a_zeta = e1.copy(), e2.copy(), e1 + e2, zeta.copy()
    term, d_sum, hk = np.ones(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    a_total, a_de1, a_de2, a_dzeta = np.ones(n_rows), np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    e2n, inv_k, scratch = np.empty(n_rows), np.empty(n_rows), np.empty(n_rows)
    n = 0
    while rows.size:
        for _ in range(_SERIES_CHECK_EVERY):
            np.add(a_e2, n, out=e2n)
            np.add(a_k1, n, out=inv_k)
            np.reciprocal(inv_k, out=inv_k)  # 1/(e1+e2+n)
            np.multiply(term, e2n, out=term)
            term *= inv_k  # c_{n+1} zeta^n
            np.multiply(term, n + 1, out=scratch)
            a_dzeta += scratch  # d/dzeta of c_{n+1} zeta^(n+1)
            term *= a_zeta
            np.multiply(a_e1, inv_k, out=scratch)
            scratch /= e2n
            d_sum += scratch
            hk += inv_k
            a_total += term
            np.multiply(term, hk, out=scratch)
            a_de1 -= scratch
            np.multiply(term, d_sum, out=scratch)
            a_de2 += scratch
            n += 1
        # remaining tail <= term * zeta / (1 - zeta) (ratios stay below zeta)
        going = term * a_zeta > _SERIES_TOLERANCE * (1.0 - a_zeta) * a_total
        n_going = np.count_nonzero(going)
        if n_going > _SERIES_KEEP_SHARE * rows.size:
            continue  # finished rows keep adding terms below tolerance until enough finish to compact
        done = ~going
        total[rows[done]], d_e1[rows[done]] = a_total[done], a_de1[done]
        d_e2[rows[done]], d_zeta[rows[done]] = a_de2[done], a_dzeta[done]
        rows, a_e1, a_e2, a_k1, a_zeta, term, d_sum, hk, a_total, a_de1, a_de2, a_dzeta = (
            v[going] for v in (rows, a_e1, a_e2, a_k1, a_zeta, term, d_sum, hk, a_total, a_de1, a_de2, a_dzeta)
        )
        e2n, inv_k, scratch = np.empty(rows.size), np.empty(rows.size), np.empty(rows.size)
    k = e1 + e2 - 1.0
    log_p1, log_p2 = np.log(p1), np.log(p2)
    log_value = (1.0 - e1) * log_p1 - e2 * log_p2 - np.log(k) + np.log(total)
    dlog_zeta = d_zeta / total
    grad = np.stack([
        -log_p1 - 1.0 / k + d_e1 / total,
        -log_p2 - 1.0 / k + d_e2 / total,
        (1.0 - e1) / p1 - dlog_zeta / p2,
        -e2 / p2 + dlog_zeta * p1 / p2**2,
    ])
    return log_value, grad


def _tail_split(e1, e2, p1, p2, gap):
    """zeta > 0.8: split at u = gap, where p1 + u reaches p2.

    ``int_0^gap`` by tanh-sinh quadrature in v = log(p1+u) (the integrand
    exp((1-e1) v - e2 log(e^v + gap)) is log-concave, with at most one bump
    of width >= 2/sqrt(e2), and any steep part sits at the left end, where
    tanh-sinh nodes cluster); ``int_gap^inf`` is the same tail integral with
    bases (p2, p2+gap), i.e. zeta = gap/(p2+gap) <= 1/2, by the series.
    """
    log_head, grad_head = _head_quadrature(e1, e2, p1, p2, gap)
    log_rest, grad_rest = _tail_series(e1, e2, p2, p2 + gap, gap)
    log_value = np.logaddexp(log_head, log_rest)
    share_head = np.exp(log_head - log_value)
    grad = share_head * grad_head + (1.0 - share_head) * grad_rest
    return log_value, grad


def _tanh_sinh(n_nodes_half: int, t_max: float = 3.2):
    """Tanh-sinh nodes on (0, 1): positions, 1 - positions, log weights."""
    h = t_max / n_nodes_half
    t = h * np.arange(-n_nodes_half, n_nodes_half + 1)
    arg = 0.5 * np.pi * np.sinh(t)
    position = special.expit(2.0 * arg)  # (1 + tanh(arg)) / 2, accurate near both ends
    complement = special.expit(-2.0 * arg)
    log_cosh = np.abs(arg) + np.log1p(np.exp(-2.0 * np.abs(arg))) - np.log(2.0)
    log_weight = np.log(h * 0.25 * np.pi * np.cosh(t)) - 2.0 * log_cosh
    return position, complement, log_weight


def _head_quadrature(e1, e2, p1, p2, gap, block_rows: int = 4096):
    """log int_0^gap (p1+u)^-e1 (p2+u)^-e2 du and its gradient, by tanh-sinh in log(p1+u).

    Each row gets the nodes its own integrand needs (:func:`_head_half_nodes`),
    rounded up to a power of two: rows are grouped by that count, so a few
    rows that need thousands of nodes (a steep start: heavy buyers, or bases
    far apart) do not impose them on the others. Within a group rows are
    processed in blocks so the (rows x nodes) work arrays stay small.
    """
    half = _head_half_nodes(e1, e2, p1, p2)
    groups = np.unique(half)
    if groups.size > 1:
        log_value, grad = np.empty(e1.shape), np.empty((4,) + e1.shape)
        for nodes in groups:
            rows = half == nodes
            log_value[rows], grad[:, rows] = _head_quadrature(*(v[rows] for v in (e1, e2, p1, p2, gap)),
                                                              block_rows=block_rows)
        return log_value, grad
    if e1.shape[0] > block_rows:
        parts = [
            _head_quadrature(*(v[i:i + block_rows] for v in (e1, e2, p1, p2, gap)), block_rows=block_rows)
            for i in range(0, e1.shape[0], block_rows)
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts], axis=1)
    length = np.log(p2) - np.log(p1)  # in [log 5, 60] here
    position, _, log_weight = _tanh_sinh(int(groups[0]))
    v = np.log(p1)[:, None] + length[:, None] * position[None, :]
    w = np.exp(v)  # p1 + u
    log_shifted = np.logaddexp(v, np.log(gap)[:, None])  # log(p2 + u) = log(w + gap)
    log_f = (1.0 - e1[:, None]) * v - e2[:, None] * log_shifted
    log_terms = log_f + log_weight[None, :]
    peak = log_terms.max(axis=1, keepdims=True)
    share = np.exp(log_terms - peak)
    total = share.sum(axis=1)
    share /= total[:, None]
    log_value = peak[:, 0] + np.log(total) + np.log(length)
    grad = np.stack([
        -(share * v).sum(axis=1),
        -(share * log_shifted).sum(axis=1),
        -e1 * (share / w).sum(axis=1),
        -e2 * (share * np.exp(-log_shifted)).sum(axis=1),
    ])
    return log_value, grad


def _head_half_nodes(e1, e2, p1, p2) -> np.ndarray:
    """Tanh-sinh nodes per side each row of :func:`_head_quadrature` needs, rounded up to a power of two.

    Node spacing: below 0.6 mid-interval (an interior bump has log-curvature
    <= 1, so the trapezoid error is below exp(-2 pi^2 / 0.6^2) = e^-55) and
    below 0.3 in log-distance where a steep start (log-slope ~ e1 + e2 p1/p2)
    lives, at distance ~ 1/slope from the left end. Between 64 and 4096.
    """
    length = np.log(p2) - np.log(p1)
    slope = e1 + e2 * p1 / p2 + 1.0
    h_middle = 0.6 / (0.25 * np.pi * length)
    h_steep = 0.3 / (0.5 * np.pi * (np.log(slope * length) + 2.0))
    needed = np.clip(np.ceil(3.2 / np.minimum(h_middle, h_steep)), 48, 4000)
    return np.exp2(np.ceil(np.log2(needed))).astype(np.int64)


def _log_tail_by_rates(r, alpha, s, beta, x, y):
    """log I(y) = log int_y^inf (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau and d/d(r, alpha, s, beta)."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    if alpha <= beta:
        log_value, g = log_tail_integral(r + x, s + 1.0, alpha + y, beta + y, beta - alpha)
        return log_value, np.stack([g[0], g[2], g[1], g[3]])
    log_value, g = log_tail_integral(s + 1.0, r + x, beta + y, alpha + y, alpha - beta)
    return log_value, np.stack([g[1], g[3], g[0], g[2]])


# ----- the model -----------------------------------------------------------
class ParetoNBDModel(MaximumLikelihoodModel, PurchaseModel):
    """Pareto/NBD with parameters (r, alpha, s, beta); time in the data's unit.

    ``r, alpha``: shape and rate of the Gamma distribution of purchase rates
    (mean rate r/alpha purchases per time unit); ``s, beta``: shape and rate
    of the Gamma distribution of dropout rates (mean lifetime beta/(s-1) when
    s > 1). ``alpha`` and ``beta`` are in the data's time unit.

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search, one positive value per parameter
        (``"r", "alpha", "s", "beta"``). The search starts there and, if it does
        not converge from it, goes on from data-based guesses and a few fixed points, keeping the
        best optimum; None starts from those. A start missing a parameter makes the fit raise
        :class:`clv.errors.DataError`.
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.
    l2_penalty : float, default 0.0
        With covariates: the fit maximises LL - l2_penalty * (sum of the squared covariate
        coefficients), shrinking them towards 0 (no covariate effect); 0 is plain maximum likelihood.
        Not used without covariates.

    Attributes
    ----------
    params_ : dict of str to float
        The maximum-likelihood estimates, by parameter name (set by a successful fit only). With
        covariates also ``"trans[<covariate>]"`` and ``"life[<covariate>]"``, the coefficients of
        alpha_i = alpha exp(-trans'x_i) and beta_i = beta exp(-life'x_i)
        (:mod:`clv.models.paretonbd_covariates`).
    standard_errors_ : dict of str to float
        Their standard errors (delta method from the observed information).
    confidence_intervals_ : dict of str to tuple of float
        95% Wald intervals, computed on the log scale (always positive); for covariate
        coefficients on their own scale (estimate +- 1.96 standard errors).
    covariate_names_ : tuple of str
        The covariates of the fit, in the order of the design matrix (empty without covariates).
    log_likelihood_ : float
        The maximised (weighted) log-likelihood.
    n_ : float
        The customers fitted (the sum of the weights).
    n_distinct_ : int
        The distinct rows the likelihood was evaluated on.
    time_unit_ : str or None
        The unit of the durations fitted (``fit(..., time_unit=...)``, or the customer data's);
        None for unitless arrays. Saved by ``to_dict`` / ``to_json``.

    See Also
    --------
    BetaGeoModel : The BG/NBD, dropout after a purchase instead of at any time.

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was. Before a successful
    fit, a method that needs one raises :class:`clv.errors.NotFittedError`.

    References
    ----------
    Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). "Counting Your Customers: Who Are
    They and What Will They Do Next?". *Management Science* 33(1), 1-24.

    Fader, P. S. and Hardie, B. G. S. (2005). "A Note on Deriving the Pareto/NBD Model and Related
    Expressions" (the likelihood, P(alive) and the conditional expectation used here).

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430 (DERT).
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    dropout_parameters: ClassVar[tuple[str, ...]] = ("s", "beta")
    model_name: ClassVar[str] = "pareto"
    # The whole-lifetime value in closed form (DERT, discounted_expected_residual_transactions); static
    # covariates (fit(..., covariates=), or customer data with covariates attached); closed-form timing
    # (probability_no_purchase, probability_alive_at; without covariates).
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities(
        factorisable=True, closed_form_lifetime=True, static_covariates=True, closed_form_timing=True)
    _fit_caches: ClassVar[tuple[str, ...]] = ("_last_parts", "_pair_rows")
    # Many distinct rows: start from a subsample fit refined by chord-Newton steps with its Hessian
    # (MaximumLikelihoodModel._pilot_start): a dozen passes over the pairs instead of 30-80 L-BFGS-B ones.
    _pilot_fit: ClassVar[bool] = True
    _pilot_keeps_hessian: ClassVar[bool] = True

    def __init__(self, *, initial_params: Mapping[str, float] | None = None, max_iter: int = 2000,
                 l2_penalty: float = 0.0):
        super().__init__(initial_params=initial_params, max_iter=max_iter)
        if not (isinstance(l2_penalty, (int, float)) and np.isfinite(l2_penalty) and l2_penalty >= 0):
            raise DataError(f"l2_penalty must be a finite number >= 0 (0: no penalty), got {l2_penalty!r}.")
        self.l2_penalty = float(l2_penalty)

    # ----- fitting --------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None, covariates: Any = None) -> ParetoNBDModel:
        """Maximum-likelihood fit on per-customer (or compressed, weighted) histories.

        ``frequency``: repeat purchases x; ``recency``: time of the last
        purchase t_x (0 when x = 0); ``T``: customer age at the end of
        calibration; all from the first purchase, in one time unit.
        ``weights``: optional count of customers sharing each row.
        ``covariates``: optional static covariates, one row per customer (a
        DataFrame, whose column names name the coefficients, or an (n, k)
        array, whose columns are named ``x0``, ``x1``...); customer data with
        covariates attached passes them itself. The distinct rows are then
        (history, covariate row).

        Raises FitError when nobody made a repeat purchase (the maximum is
        then at the edge, purchase rate 0, and nothing is identified), when
        the maximum is at the edge of the parameter space, or when the
        information matrix is singular there (e.g. a single customer).
        """
        x, t_x, T = validate_rfm(frequency, recency, T)
        weights = validate_weights(weights, x.shape[0])
        require_customers(self, x.shape[0], weights)
        counted = x > 0 if weights is None else (x > 0) & (weights > 0)
        if not counted.any():
            raise FitError(
                "ParetoNBDModel: no customer made a repeat purchase (all frequency 0), so the likelihood "
                "is maximised at the edge (purchase rates 0) and dropout is not identified. Use a longer "
                "calibration period or more customers."
            )
        for name in ("param_names", "covariate_names_", "dynamic_covariate_names_"):
            self.__dict__.pop(name, None)  # a covariate fit's names belong to that fit
        if covariates is None:
            self._fit({"x": x, "t_x": t_x, "T": T}, weights)
        elif isinstance(covariates, PeriodPaths):
            self._fit_dynamic(x, t_x, T, weights, covariates)
        else:
            matrix, names = covariate_matrix(covariates, x.shape[0])
            self.param_names = BASE_NAMES + coefficient_names(names)
            self.covariate_names_ = names
            self._fit({"x": x, "t_x": t_x, "T": T, **{f"cov{j}": matrix[:, j] for j in range(len(names))}}, weights)
        require_identified(self)
        return self

    def _fit_dynamic(self, x, t_x, T, weights, paths: PeriodPaths) -> None:
        """The extended Pareto/NBD (:mod:`clv.models.paretonbd_dynamic`): one row per customer (the covariate
        paths differ), L-BFGS-B from the fit without covariates with coefficients 0."""
        check_paths(paths, x.shape[0])
        if weights is not None:
            raise DataError("weights are not used with time-varying covariates (each customer has its own covariate "
                            "path). Fix: pass one row per customer and no weights.")
        self.param_names = BASE_NAMES + coefficient_names(paths.names)
        self.dynamic_covariate_names_ = tuple(paths.names)
        self._fit_compressed({"x": x, "t_x": t_x, "T": T, "paths": paths}, np.ones(x.shape[0]))

    @property
    def _with_covariates(self) -> bool:
        """True for a model fitted (or being fitted) with static or time-varying covariates."""
        return bool(self.__dict__.get("covariate_names_")) or self._dynamic

    @property
    def _dynamic(self) -> bool:
        """True for a model fitted (or being fitted) with time-varying covariates."""
        return bool(self.__dict__.get("dynamic_covariate_names_"))

    def _fit_compressed(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> None:
        """Fit on distinct rows; with ``initial_params`` also from the default start, keep the better.

        A far-off user start can end on a ridge towards an edge (e.g. s -> 0,
        beta -> inf: no dropout), where L-BFGS-B stops with success; the
        data-driven start then usually finds the interior maximum.
        """
        if self._with_covariates:
            if not self._dynamic:
                data = with_triple_index(data, len(self.covariate_names_))
            MaximumLikelihoodModel._fit_compressed(self, data, weights)
            _require_interior(self)
            return
        try:
            self._fit_from_starts(_with_pair_index(data), weights)
        finally:  # the per-fit caches of the likelihood evaluations
            self.__dict__.pop("_last_parts", None)
            self.__dict__.pop("_pair_rows", None)
        _require_interior(self)

    def _fit_from_starts(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> None:
        """The base fit from the usual starts, and with ``initial_params`` also from the default start."""
        first_error = None
        try:
            super()._fit_compressed(data, weights)
        except FitError as error:
            if self.initial_params is None:
                raise
            first_error = error
        if self.initial_params is not None:
            default = type(self)(max_iter=self.max_iter)
            try:
                MaximumLikelihoodModel._fit_compressed(default, data, weights)
            except FitError:
                if first_error is not None:
                    raise first_error
                default = None
            if default is not None and (first_error is not None or default.log_likelihood_ > self.log_likelihood_):
                self.__dict__.update({k: v for k, v in vars(default).items() if k.endswith("_")})

    def _pilot_start(self, data: Mapping[str, np.ndarray], weights: np.ndarray, objective: Any):
        """The base pilot start; none with covariates (their Hessian is numerical: no cheap Newton steps)."""
        if self._with_covariates:
            return None
        return super()._pilot_start(data, weights, objective)

    def _starting_points(self, data: Mapping[str, np.ndarray], weights: np.ndarray):
        """The base starts; with covariates, in theta = (log r, log alpha, log s, log beta, coefficients):
        the fit without covariates on the same rows with coefficients 0, then ``initial_params`` (every
        name, coefficients on their own scale), then the data-based guess with coefficients 0."""
        if not self._with_covariates:
            yield from super()._starting_points(data, weights)
            return
        zeros = np.zeros(len(self.param_names) - 4)
        plain = type(self)(max_iter=self.max_iter)
        try:
            rows = compress({name: data[name] for name in ("x", "t_x", "T")}, weights)
            ParetoNBDModel._fit_compressed(plain, rows.columns, rows.weights)
            yield np.concatenate([np.log(plain.params), zeros])
        except FitError:
            pass
        if self.initial_params is not None:
            missing = set(self.param_names) - set(self.initial_params)
            if missing:
                raise DataError(f"initial_params is missing {sorted(missing)}; give all of {list(self.param_names)}.")
            start = np.array([float(self.initial_params[n]) for n in self.param_names])
            yield np.concatenate([np.log(start[:4]), start[4:]])
        yield np.concatenate([np.log(np.clip(self._initial_params(data, weights), 1e-8, 1e8)), zeros])

    def _natural(self, params: np.ndarray) -> np.ndarray:
        """The optimiser's positive vector exp(theta) as (r, alpha, s, beta, coefficients): coefficients
        are optimised as theta itself (any sign), so they are log of their positive stand-ins."""
        natural = np.array(params, dtype=float)
        natural[4:] = np.log(natural[4:])
        return natural

    def _covariate_objective(self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray):
        """Penalised weighted LL and its gradient in the optimiser's positive parameters (see :meth:`_natural`)."""
        natural = self._natural(params)
        if self._dynamic:
            terms, row_grad = dynamic_log_likelihood(natural, data["x"], data["t_x"], data["T"], data["paths"])
            value, grad = float(weights @ terms), weights @ row_grad
        else:
            value, grad = covariate_log_likelihood(natural, with_triple_index(data, len(self.covariate_names_)), weights)
        coefficients = natural[4:]
        value -= self.l2_penalty * float(coefficients @ coefficients)
        grad[4:] -= 2.0 * self.l2_penalty * coefficients
        grad[4:] /= params[4:]  # d/dp = d/dg / p with g = log p
        return value, grad

    def _set_fitted(self, theta, log_likelihood, weights, data, objective) -> None:
        """The base fitted attributes; coefficients reported on their own scale, the LL without the penalty."""
        super()._set_fitted(theta, log_likelihood, weights, data, objective)
        if not self._with_covariates:
            return
        se_theta = np.sqrt(np.clip(np.diag(self.covariance_theta_), 0.0, None))
        for j, name in enumerate(self.param_names[4:], start=4):
            self.params_[name] = float(theta[j])
            self.standard_errors_[name] = float(se_theta[j])
            self.confidence_intervals_[name] = (float(theta[j] - _Z95 * se_theta[j]), float(theta[j] + _Z95 * se_theta[j]))
        self.log_likelihood_ = float(log_likelihood + self.l2_penalty * float(theta[4:] @ theta[4:]))

    def _params_array(self, params: Any = None) -> np.ndarray:
        """The base check; with covariates the coefficients may have any sign."""
        if not self._with_covariates or params is None:
            return super()._params_array(params)
        if isinstance(params, Mapping):
            missing = [n for n in self.param_names if n not in params]
            if missing:
                raise DataError(f"params is missing {missing}; give all of {list(self.param_names)}.")
            params = [params[n] for n in self.param_names]
        values = as_float_array(params, "params")
        if values.shape != (len(self.param_names),) or not (np.all(np.isfinite(values)) and np.all(values[:4] > 0)):
            raise DataError(f"params must be {len(self.param_names)} finite numbers {list(self.param_names)}, "
                            f"the first four positive; got {params!r}.")
        return values

    def sample_params(self, n_draws: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draws of the parameters from their estimated sampling distribution, shape (n_draws, k).

        Multivariate normal on (log r, log alpha, log s, log beta, coefficients) with the inverse
        observed information as covariance; the first four mapped back with ``exp``.
        """
        if not self._with_covariates:
            return super().sample_params(n_draws, seed)
        rng = np.random.default_rng(seed)
        centre = self.params.copy()
        centre[:4] = np.log(centre[:4])
        draws = rng.multivariate_normal(centre, self.covariance_theta_, size=n_draws, method="eigh")
        draws[:, :4] = np.exp(draws[:, :4])
        return draws

    def _rates(self, covariates: Any, n_rows: int, params: Any = None):
        """Per-row (alpha_i, beta_i) from ``covariates``, or (None, None) for a model without covariates."""
        self._check_fitted()
        if self._dynamic:
            raise DataError(
                f"{type(self).__name__} was fitted with time-varying covariates {list(self.dynamic_covariate_names_)}: "
                "this prediction needs their future values for the whole remaining lifetime and is not available. "
                "Fix: use probability_alive or expected_purchases over a horizon with covariates=<the paths>."
            )
        if not self._with_covariates:
            if covariates is not None:
                raise DataError(f"{type(self).__name__} was fitted without covariates; covariates= is not used. "
                                "Fix: leave covariates out, or refit with them.")
            return None, None
        if covariates is None:
            raise DataError(
                f"{type(self).__name__} was fitted with covariates {list(self.covariate_names_)}: pass covariates= "
                "(one row per customer, the same columns) to predict, or use customer data with them attached."
            )
        matrix, names = covariate_matrix(covariates, n_rows, expected=self.covariate_names_)
        return covariate_rates(self._params_array(params), matrix)

    def _paths(self, covariates: Any, x: np.ndarray) -> PeriodPaths:
        """The covariate paths of the histories, checked, for a model fitted with time-varying covariates."""
        if not isinstance(covariates, PeriodPaths):
            raise DataError(
                f"{type(self).__name__} was fitted with time-varying covariates {list(self.dynamic_covariate_names_)}: "
                "pass covariates= as their per-period paths (clv.summary.covariates.dynamic_covariate_paths) for the "
                "same customers."
            )
        if tuple(covariates.names) != self.dynamic_covariate_names_:
            raise DataError(f"the covariate paths hold {list(covariates.names)}; the model was fitted with "
                            f"{list(self.dynamic_covariate_names_)}. Fix: build them from the same columns.")
        if x.ndim != 1:
            raise DataError("with time-varying covariates, histories are one row per customer (1-D arrays).")
        check_paths(covariates, x.shape[0])
        return covariates

    def _dynamic_expected_purchases(self, t, x, t_x, T, covariates) -> np.ndarray:
        """Expected purchases in (T, T+t] with time-varying covariates: the future periods of the paths must cover t."""
        paths = self._paths(covariates, x)
        t = np.broadcast_to(t, x.shape)
        future_length, future_values = paths.future_length, paths.future_values
        covered = float(future_length.sum()) if future_length is not None else 0.0
        if t.size and float(t.max()) > covered + 1e-9:
            raise DataError(
                f"expected_purchases over t={float(t.max()):g} needs the time-varying covariates of the forecast window, "
                f"but the covariate table covers only {covered:g} time units after the calibration end. Fix: add the "
                "future periods' rows (planned campaigns, seasons) to the covariate table, or shorten the horizon."
            )
        if future_length is None:
            return np.zeros(x.shape)
        ends = np.cumsum(future_length)
        lengths = np.clip(t[:, None] - (ends - future_length)[None, :], 0.0, future_length[None, :])
        return dynamic_expected_purchases(self.params, x, t_x, T, paths, lengths, future_values)

    def to_dict(self) -> dict[str, Any]:
        """The base JSON data; with covariates also ``"covariates"`` (their names) and ``"l2_penalty"``."""
        payload = super().to_dict()
        if self._dynamic:
            payload["dynamic_covariates"] = list(self.dynamic_covariate_names_)
            payload["l2_penalty"] = self.l2_penalty
        elif self._with_covariates:
            payload["covariates"] = list(self.covariate_names_)
            payload["l2_penalty"] = self.l2_penalty
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ParetoNBDModel:
        """The model saved by :meth:`to_dict`, with its covariates when it has some."""
        names = payload.get("covariates") or payload.get("dynamic_covariates")
        if not names:
            return super().from_dict(payload)
        model = cls(l2_penalty=float(payload.get("l2_penalty", 0.0)))
        if payload.get("dynamic_covariates"):
            model.dynamic_covariate_names_ = tuple(names)
        else:
            model.covariate_names_ = tuple(names)
        model.param_names = BASE_NAMES + coefficient_names(names)
        base = {**payload, "covariates": None, "dynamic_covariates": None, "params": {n: payload["params"][n] for n in BASE_NAMES}}
        fitted = super().from_dict(base)
        for name in ("log_likelihood_", "n_", "n_distinct_", "covariance_theta_", "standard_errors_",
                     "confidence_intervals_", "time_unit_"):
            setattr(model, name, getattr(fitted, name))
        for name in ("model_choice_", "sufficiency_"):
            if hasattr(fitted, name):
                setattr(model, name, getattr(fitted, name))
        model.params_ = {n: float(payload["params"][n]) for n in model.param_names}
        return model

    def profile_model(self, covariate_row: Any) -> ParetoNBDModel:
        """The model without covariates of one static covariate profile (its parameters and their uncertainty).

        (r, alpha e^(-trans'x), s, beta e^(-life'x)) and the covariance of their logs A Sigma A', with A the
        linear map from (log r, log alpha, log s, log beta, trans, life) to those logs (exact: the link is
        linear in the logs; Sigma = ``covariance_theta_``). Every prediction, value and interval method of the
        plain model applies to the customers of that profile, which is how a scorer can score each distinct
        profile by the usual vectorised route.
        """
        self._check_fitted()
        if not self.__dict__.get("covariate_names_"):
            raise DataError(f"{type(self).__name__} was fitted without static covariates: it has no profiles.")
        row = np.asarray(covariate_row, dtype=float).reshape(-1)
        k = len(self.covariate_names_)
        if row.shape[0] != k:
            raise DataError(f"a covariate profile has {k} values {list(self.covariate_names_)}, got {row.shape[0]}.")
        A = np.zeros((4, 4 + 2 * k))
        A[:, :4] = np.eye(4)
        A[1, 4:4 + k], A[3, 4 + k:] = -row, -row
        theta = self.params.copy()
        theta[:4] = np.log(theta[:4])
        values, covariance = np.exp(A @ theta), A @ self.covariance_theta_ @ A.T
        model = type(self)(max_iter=self.max_iter)
        model.params_ = dict(zip(BASE_NAMES, values.tolist()))
        model.covariance_theta_ = covariance
        se_log = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        model.standard_errors_ = dict(zip(BASE_NAMES, (values * se_log).tolist()))
        model.confidence_intervals_ = {n: (float(v * np.exp(-_Z95 * e)), float(v * np.exp(_Z95 * e)))
                                       for n, v, e in zip(BASE_NAMES, values, se_log)}
        model.log_likelihood_, model.n_, model.n_distinct_ = self.log_likelihood_, self.n_, self.n_distinct_
        model.time_unit_ = getattr(self, "time_unit_", None)
        return model

    def _history_rates(self, covariates: Any, shape: tuple, params: Any = None):
        """:meth:`_rates` for histories of ``shape`` (one covariate row per history, in their order)."""
        alpha, beta = self._rates(covariates, int(np.prod(shape)), params)
        if alpha is None:
            return None, None
        return alpha.reshape(shape), beta.reshape(shape)

    def _pilot_sample(self, data: Mapping[str, np.ndarray], weights: np.ndarray, size: int):
        """The base subsample of the rows (x, t_x, T) with its own pair index."""
        rows = {name: data[name] for name in ("x", "t_x", "T")}
        sample, sample_weights = super()._pilot_sample(rows, weights, size)
        return _with_pair_index(sample), sample_weights

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        total = weights.sum()
        mean_x = float(weights @ data["x"]) / total
        mean_T = float(weights @ data["T"]) / total
        return np.array([1.0, mean_T / max(mean_x, 0.1), 1.0, mean_T])

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._dynamic:
            return dynamic_log_likelihood(self._natural(params), data["x"], data["t_x"], data["T"], data["paths"])[0]
        if self._with_covariates:
            return covariate_row_terms(self._natural(params), with_triple_index(data, len(self.covariate_names_)))
        return self._log_likelihood_parts(params, data)[0]

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._log_likelihood_parts(params, data)[1]

    def _log_likelihood_parts(self, params, data):
        """Per-row log L (Fader-Hardie 2005, eq. (22) rewritten with I(y)) and d/dparams, (n, 4).

        log L = lgamma(r+x) - lgamma(r) + r log alpha + s log beta
                + log(F + s (I(t_x) - I(T))).
        Everything but the final combination is computed per distinct
        (x, y) pair; the optimiser asks for value and gradient at the same
        point one after the other, so the last result is kept.
        """
        key = (tuple(float(v) for v in params), id(data))
        cached = getattr(self, "_last_parts", None)
        if cached is not None and cached[0] == key and cached[1] is data:
            return cached[2]
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            result = _row_log_likelihood(np.asarray(params, dtype=float), _with_pair_index(data))
        self._last_parts = (key, data, result)
        return result

    def _weighted_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """The weighted sum of the per-row gradients (by the fused evaluation)."""
        if self._with_covariates:
            return self._covariate_objective(params, data, weights)[1]
        return self._weighted_log_likelihood_and_gradient(params, data, weights)[1]

    def _weighted_log_likelihood_and_gradient(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """sum_i w_i log L_i and its gradient, with the least work per row.

        The formulas of :meth:`_log_likelihood_parts` summed with weights w.
        Per row, log L = C(x) + log F + softplus(d) with
        d = log(s (I(t_x) - I(T)) / F) = log s + log I(t_x) + log(1 - I(T)/I(t_x)) - log F
        (-inf when t_x = T) and softplus(d) = log(1 + e^d); C, log F and log I
        come from the per-pair table (:func:`_pair_tables`). The gradient is
        sum_i w_i [dC + f_i d log F(x_i, T_i) + g1_i d log I(x_i, t_x_i) - g2_i d log I(x_i, T_i)]
        plus sum_i w_i (1 - f_i) / s in d/ds, with the shares of the three parts
        of the bracket B = F + s (I(t_x) - I(T)): f = F/B = e^-softplus(d),
        g1 = s I(t_x)/B = e^(log(s I(t_x)/F) - softplus(d)) and g2 = g1 I(T)/I(t_x)
        (where t_x = T, g1 = g2 on the same pair: their contributions cancel).
        Terms in one pair are summed per pair: the weighted shares are added
        up per pair with np.bincount and multiplied with the pair table once.
        The row pass runs in blocks of ``_BLOCK_ROWS`` rows so that its
        temporaries stay in the CPU cache. With covariates:
        :func:`clv.models.paretonbd_covariates.weighted_log_likelihood_and_gradient`.
        """
        if self._with_covariates:
            return self._covariate_objective(params, data, weights)
        data = _with_pair_index(data)
        rows = self._pair_rows_for(data, weights)
        s = params[2]
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            table = _pair_tables(np.asarray(params, dtype=float), data)
            share_f, share_1, share_2 = rows.shares  # overwritten below
            soft_sum = 0.0
            for block, w, soft, f, g1, g2 in _row_shares(table, rows, np.log(s)):
                soft_sum += w @ soft
                share_f[block], share_1[block], share_2[block] = w * f, w * g1, w * g2
            f_by_pair, tail_by_pair = _shares_by_pair(rows)
            value = rows.weight_by_T_pair @ (table[:, 10] + table[:, 5]) + soft_sum
            grad = rows.weight_by_T_pair @ table[:, 11:15] + f_by_pair @ table[:, 6:10] + tail_by_pair @ table[:, 1:5]
            grad[2] += (rows.total - f_by_pair.sum()) / s
        return float(value), grad

    def _weighted_hessian(self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """Second derivatives of sum_i w_i log L_i in (r, alpha, s, beta), shape (4, 4).

        With B = F + s (I(t_x) - I(T)), the shares f, g1, g2 and the row
        gradient G = d log B of :meth:`_weighted_log_likelihood_and_gradient`,
        and u = d log s = (0, 0, 1/s, 0):
        d2 log B = f (H_F + gF gF') + g1 M(t_x) - g2 M(T) - G G',
        M(y) = (u + gI)(u + gI)' - u u' + H_I  (gI, H_I: gradient and Hessian of log I(y)),
        since d2(s I)/(s I) = (u + gI)(u + gI)' - u u' + H_I. The Hessians of
        log F and of C(x) are analytic (C: psi'(r+x) - psi'(r) in r, 1/alpha in
        (r, alpha), -r/alpha^2, 1/beta in (s, beta), -s/beta^2); H_I, the
        second derivatives of the series / quadrature, is taken per (x, y)
        pair by central differences of its analytic gradient (8 evaluations
        of the tail integral on the distinct pairs, not on the rows). Terms in
        one pair are summed per pair with the weighted shares; only
        sum_i w_i G_i G_i' needs a pass over the rows. None with covariates: central differences of
        the analytic gradient (the base's fallback).
        """
        if self._with_covariates:
            return None
        data = _with_pair_index(data)
        rows = self._pair_rows_for(data, weights)
        params = np.asarray(params, dtype=float)
        r, alpha, s, beta = params
        x, y = data["pair_x"], data["pair_y"]
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            table = _pair_tables(params, data)
            tail_grad, f_grad = table[:, 1:5], table[:, 6:10]
            tail_columns = [np.ascontiguousarray(c) for c in tail_grad.T]  # gathered per row
            f_columns = [np.ascontiguousarray(c) for c in f_grad.T]
            outer_products = np.zeros((4, 4))  # sum_i w_i G_i G_i'
            share_f, share_1, share_2 = rows.shares
            for block, w, _, f, g1, g2 in _row_shares(table, rows, np.log(s)):
                t_x_pairs, T_pairs = rows.t_x_pairs[block], rows.T_pairs[block]
                row_grad = np.empty((4, w.shape[0]))
                for k in range(4):
                    row_grad[k] = f * f_columns[k][T_pairs] + g1 * tail_columns[k][t_x_pairs] - g2 * tail_columns[k][T_pairs]
                row_grad[2] += (1.0 - f) / s
                outer_products += (row_grad * w) @ row_grad.T
                share_f[block], share_1[block], share_2[block] = w * f, w * g1, w * g2
            f_by_pair, tail_by_pair = _shares_by_pair(rows)

            u = np.array([0.0, 0.0, 1.0 / s, 0.0])
            tail_hessian = _log_tail_hessian(params, x, y)
            around_s = tail_grad[:, :, None] * u[None, None, :]
            tail_part = tail_hessian + tail_grad[:, :, None] * tail_grad[:, None, :] + around_s + around_s.transpose(0, 2, 1)
            f_part = _log_f_hessian(params, x, y) + f_grad[:, :, None] * f_grad[:, None, :]
            hessian = (np.einsum("p,pij->ij", f_by_pair, f_part) + np.einsum("p,pij->ij", tail_by_pair, tail_part)
                       - outer_products)
            weight_by_T_pair = rows.weight_by_T_pair
            hessian[0, 0] += weight_by_T_pair @ (special.polygamma(1, r + x) - special.polygamma(1, r))
            hessian[0, 1] += rows.total / alpha
            hessian[1, 0] += rows.total / alpha
            hessian[1, 1] -= rows.total * r / alpha**2
            hessian[2, 3] += rows.total / beta
            hessian[3, 2] += rows.total / beta
            hessian[3, 3] -= rows.total * s / beta**2
        return 0.5 * (hessian + hessian.T)

    def _pair_rows_for(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> _PairRows:
        """The fit's rows as pair codes with weighted counts (built once per fit, kept while the same arrays come back)."""
        columns = (data["pair_of_t_x"], data["pair_of_T"], weights)
        cached = self.__dict__.get("_pair_rows")
        if cached is None or not all(a is b for a, b in zip(cached[0], columns)):
            cached = (columns, _PairRows.build(*columns, n_pairs=data["pair_x"].shape[0]))
            self._pair_rows = cached
        return cached[1]
    # ----- predictions ----------------------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, T: Any, covariates: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T) = F / (F + s (I(t_x) - I(T))) (Fader-Hardie 2005, eq. (24)).

        ``covariates``: one row per history, required by (and only by) a model fitted with covariates;
        then alpha and beta are the customer's alpha_i, beta_i in every formula.
        """
        x, t_x, T = broadcast_history(frequency, recency, T)
        if self._dynamic:
            paths = self._paths(covariates, x)
            return np.exp(dynamic_log_probability_alive(self.params, x, t_x, T, paths))
        alpha, beta = self._history_rates(covariates, x.shape)
        if alpha is None:
            return apply_on_distinct(self._probability_alive, x=x, t_x=t_x, T=T)
        return apply_on_distinct(self._probability_alive, x=x, t_x=t_x, T=T, alpha=alpha, beta=beta)

    def _probability_alive(self, x, t_x, T, params=None, alpha=None, beta=None):
        return np.exp(self._log_probability_alive(x, t_x, T, params, alpha, beta))

    def _log_probability_alive(self, x, t_x, T, params=None, alpha_i=None, beta_i=None):
        r, alpha, s, beta = self._params_array(params)[:4]
        if alpha_i is None:
            pairs = _with_pair_index({"x": x, "t_x": t_x, "T": T})
            log_tail, _ = _log_tail_by_rates(r, alpha, s, beta, pairs["pair_x"], pairs["pair_y"])
            log_i1, log_i2 = log_tail[pairs["pair_of_t_x"]], log_tail[pairs["pair_of_T"]]
        else:
            alpha, beta = np.broadcast_to(alpha_i, x.shape), np.broadcast_to(beta_i, x.shape)
            log_i1 = log_tail_rowwise(r, s, alpha, beta, x, t_x)[0]
            log_i2 = log_tail_rowwise(r, s, alpha, beta, x, T)[0]
        log_f = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        with np.errstate(divide="ignore"):
            log_death = np.log(s) + log_i1 + np.log(-np.expm1(np.minimum(log_i2 - log_i1, 0.0)))
        return log_f - np.logaddexp(log_f, log_death)

    def expected_purchases_new(self, t: Any, covariates: Any = None) -> np.ndarray:
        """E[X(t)] for a new customer over (0, t], t in the data's time unit.

        r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (Schmittlein et
        al. 1987; Fader-Hardie 2005, eq. (17)), written as
        (r beta/alpha) u exprel(-(s-1) u) with u = log(1 + t/beta) so that
        s = 1 (limit (r beta/alpha) u) needs no special case. With covariates:
        one value per covariate profile (rows of ``covariates``, broadcast with t).
        """
        t = non_negative(t, "t")
        r, alpha, s, beta = self.params[:4]
        if self._with_covariates:
            n_rows = np.shape(covariates)[0] if covariates is not None and np.ndim(covariates) > 0 else 0
            alpha, beta = self._rates(covariates, n_rows)
        u = np.log1p(t / beta)
        return r * beta / alpha * u * special.exprel(-(s - 1.0) * u)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any, covariates: Any = None) -> np.ndarray:
        """E[purchases in (T, T+t] | x, t_x, T]; t in the data's time unit.

        P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
        (Fader-Hardie 2005, eq. (27)), with the same exprel form as
        :meth:`expected_purchases_new`. ``covariates`` as in :meth:`probability_alive`.
        """
        t = non_negative(t, "t")
        history = broadcast_history(frequency, recency, T)
        if self._dynamic:
            return self._dynamic_expected_purchases(t, *history, covariates)
        alpha, beta = self._history_rates(covariates, history[0].shape)
        if alpha is None:
            t, x, t_x, T = np.broadcast_arrays(t, *history)
            return apply_on_distinct(self._expected_purchases, t=t, x=x, t_x=t_x, T=T)
        t, x, t_x, T, alpha, beta = np.broadcast_arrays(t, *history, alpha, beta)
        return apply_on_distinct(self._expected_purchases, t=t, x=x, t_x=t_x, T=T, alpha=alpha, beta=beta)

    def _expected_purchases(self, t, x, t_x, T, params=None, alpha=None, beta=None):
        r, alpha_0, s, beta_0 = self._params_array(params)[:4]
        alpha_i, beta_i = alpha, beta
        if alpha is None:
            alpha, beta = alpha_0, beta_0
        u = np.log1p(t / (beta + T))
        given_alive = (r + x) / (alpha + T) * (beta + T) * u * special.exprel(-(s - 1.0) * u)
        return self._probability_alive(x, t_x, T, params, alpha_i, beta_i) * given_alive

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T): no purchase in (T, T+t] given the history; t in the data's time unit.

        Given alive at T with rates lambda, mu, there is no purchase in (T, T+t]
        if the customer neither buys nor leaves before T+t, or leaves at some
        tau in (T, T+t] before buying: ``e^-(lambda+mu)t + int_0^t mu e^-(lambda+mu)u du``.
        Over the posterior ``lambda ~ Gamma(r+x, alpha+T)``, ``mu ~ Gamma(s, beta+T)``
        (the x* = 0 case of Fader & Hardie, "Deriving the conditional PMF of the
        Pareto/NBD model", brucehardie.com/notes/028):

            P(Y(t) = 0 | alive) = F(T+t)/F(T) + s (I(T) - I(T+t)) / F(T),
            F(y) = (alpha+y)^-(r+x) (beta+y)^-s,
            I(y) = int_y^inf (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau,

        and ``P(Y(t) = 0 | history) = 1 - P(alive) + P(alive) P(Y(t) = 0 | alive)``.
        ``I`` is the likelihood's tail integral (:func:`log_tail_integral`, in logs).
        As t grows, ``s I(T) / F(T)`` is the chance that an alive customer leaves
        before buying again.
        """
        self._require_no_covariates("probability_no_purchase")
        t = non_negative(t, "t")
        t, x, t_x, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        flat = {name: np.ascontiguousarray(v, dtype=float).reshape(-1) for name, v in (("t", t), ("x", x), ("t_x", t_x), ("T", T))}
        return apply_on_distinct(self._probability_no_purchase, **flat).reshape(t.shape)

    def _probability_no_purchase(self, t, x, t_x, T):
        r, alpha, s, beta = self.params[:4]
        n = x.shape[0]
        log_tail, _ = _log_tail_by_rates(r, alpha, s, beta, np.concatenate([x, x]), np.concatenate([T, T + t]))
        log_i_now, log_i_later = log_tail[:n], log_tail[n:]
        log_f_now = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_quiet_and_alive = -(r + x) * np.log1p(t / (alpha + T)) - s * np.log1p(t / (beta + T))
        with np.errstate(divide="ignore"):
            log_left_first = (np.log(s) + log_i_now - log_f_now
                              + np.log(-np.expm1(np.minimum(log_i_later - log_i_now, 0.0))))
        none_given_alive = np.minimum(np.exp(np.logaddexp(log_quiet_and_alive, log_left_first)), 1.0)
        alive = self._probability_alive(x, t_x, T)
        return np.clip(1.0 - alive * (1.0 - none_given_alive), 0.0, 1.0)

    def probability_alive_at(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T+t | x, t_x, T) = P(alive at T) ((beta+T)/(beta+T+t))^s; t in the data's time unit.

        Given alive at T the dropout rate is ``mu ~ Gamma(s, beta+T)`` and the
        residual lifetime Exp(mu): ``E[e^(-mu t)] = ((beta+T)/(beta+T+t))^s``
        (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005, notes/009).
        """
        self._require_no_covariates("probability_alive_at")
        t = non_negative(t, "t")
        t, x, t_x, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        _, _, s, beta = self.params[:4]
        flat = {name: np.ascontiguousarray(v, dtype=float).reshape(-1) for name, v in (("x", x), ("t_x", t_x), ("T", T))}
        log_alive = apply_on_distinct(self._log_probability_alive, **flat).reshape(t.shape)
        return np.clip(np.exp(log_alive - s * np.log1p(t / (beta + T))), 0.0, 1.0)

    def _require_no_covariates(self, method: str) -> None:
        if self._with_covariates or self._dynamic:
            raise DataError(f"ParetoNBDModel.{method} has no covariate form yet: this model was fitted with covariates. "
                            "Fix: refit without them (data.without_covariates()) for next-purchase timing.")

    def probability_purchases(self, n: Any, t: Any, covariates: Any = None) -> np.ndarray:
        """P(X(t) = n) for a new customer over (0, t]; t in the data's time unit.

        Fader & Hardie (2006), "Deriving an expression for P(X(t) = x) under
        the Pareto/NBD model" (brucehardie.com/notes/012): alive throughout,
        or dead at tau in (0, t] after n purchases,

            P = Gamma(r+n) / (Gamma(r) n!) alpha^r beta^s
                [t^n (alpha+t)^-(r+n) (beta+t)^-s
                 + s int_0^t tau^n (alpha+tau)^-(r+n) (beta+tau)^-(s+1) dtau].

        The integral (their 2F1 sum, which alternates and cancels) is done by
        tanh-sinh quadrature in log space. With covariates: one covariate
        profile per row of ``covariates``, broadcast with n and t.
        """
        n = non_negative(n, "n")
        if np.any(n != np.round(n)):
            raise DataError("n must be whole numbers of purchases.")
        t = non_negative(t, "t")
        n, t = np.broadcast_arrays(n, t)
        r, alpha, s, beta = self.params[:4]
        if self._with_covariates:
            n_rows = np.shape(covariates)[0] if covariates is not None and np.ndim(covariates) > 0 else 0
            alpha, beta = self._rates(covariates, n_rows)
            n, t, alpha, beta = np.broadcast_arrays(n, t, alpha, beta)
            log_dead = np.log(s) + _log_death_integral(n, t, r, alpha[..., None], s, beta[..., None])
        else:
            log_dead = np.log(s) + _log_death_integral(n, t, r, alpha, s, beta)
        with np.errstate(divide="ignore"):
            # n log t with n = 0 is 0 even at t = 0 (t^0 = 1), not 0 * -inf.
            n_log_t = np.where(n == 0, 0.0, n * np.log(np.where(n == 0, 1.0, t)))
            log_alive = n_log_t - (r + n) * np.log(alpha + t) - s * np.log(beta + t)
        constant = special.gammaln(r + n) - special.gammaln(r) - special.gammaln(n + 1) + r * np.log(alpha) + s * np.log(beta)
        return np.exp(constant + np.logaddexp(log_alive, log_dead))

    def discounted_expected_residual_transactions(
        self, frequency: Any, recency: Any, T: Any, continuous_rate: Any, covariates: Any = None
    ) -> np.ndarray:
        """DERT: E[sum of future purchases discounted continuously at rate delta per time unit].

        Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for
        customer base analysis", JMR 42(4), eq. (2):

            DERT = P(alive) (r+x)/(alpha+T) (beta+T)^s delta^(s-1) U(s, s; delta (beta+T)),

        i.e. P(alive) E[lambda | alive] E[1/(delta+mu) | alive], U the
        confluent hypergeometric function of the second kind. A continuous
        rate delta matches an annual rate d through delta = log(1+d)/periods
        per year. ``scipy.special.hyperu`` is used where it returns a finite
        positive value (it is NaN for large s and small delta (beta+T));
        elsewhere ``int_0^inf exp(-z v) (1+v)^-s dv = z^(s-1) U(s, s; z)`` is
        integrated numerically. ``covariates`` as in :meth:`probability_alive`.
        """
        delta = as_float_array(continuous_rate, "continuous_rate")
        bad = ~np.isfinite(delta) | (delta <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"continuous_rate must be finite and > 0 (continuous rate per time unit of the data); "
                f"first offending row {row}: {delta[row]}."
            )
        history = broadcast_history(frequency, recency, T)
        alpha, beta = self._history_rates(covariates, history[0].shape)
        if alpha is None:
            delta, x, t_x, T = np.broadcast_arrays(delta, *history)
            return apply_on_distinct(self._dert, delta=delta, x=x, t_x=t_x, T=T)
        delta, x, t_x, T, alpha, beta = np.broadcast_arrays(delta, *history, alpha, beta)
        return apply_on_distinct(self._dert, delta=delta, x=x, t_x=t_x, T=T, alpha=alpha, beta=beta)

    def discounted_residual_purchases(
        self, frequency: Any, recency: Any, T: Any, *, discount_rate: float, time_unit: str, step: float = 1.0,
        covariates: Any = None,
    ) -> np.ndarray:
        """Whole-lifetime discounted expected purchases (the contract method): DERT at the continuous rate
        ``delta = ln(1 + discount_rate) * years_per_unit(time_unit)`` equivalent to the annual ``discount_rate``
        (:func:`clv.units.continuous_rate_per_unit`); ``step`` is not used (discounting is continuous).
        ``covariates`` as in :meth:`probability_alive`.
        """
        delta = continuous_rate_per_unit(discount_rate, time_unit)
        return self.discounted_expected_residual_transactions(frequency, recency, T, delta, covariates=covariates)

    def _dert(self, delta, x, t_x, T, alpha=None, beta=None):
        r, alpha_0, s, beta_0 = self.params[:4]
        alpha_i, beta_i = alpha, beta
        if alpha is None:
            alpha, beta = alpha_0, beta_0
        log_mean_inverse = np.log(beta + T) + _log_laplace_power(s, delta * (beta + T))
        log_dert = (self._log_probability_alive(x, t_x, T, None, alpha_i, beta_i) + np.log(r + x) - np.log(alpha + T)
                    + log_mean_inverse)
        return np.exp(log_dert)

    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any,
        params: Any = None, rng: np.random.Generator | int | None = None, covariates: Any = None,
    ) -> np.ndarray:
        """One draw per customer of the number of purchases in (T, T+t]; t in the data's time unit.

        From the posterior given the history: alive at T with probability
        P(alive | x, t_x, T); if alive, lambda ~ Gamma(r+x, alpha+T) and
        mu ~ Gamma(s, beta+T) (independent), the residual lifetime is
        Exp(mu) and the count is Poisson(lambda min(t, lifetime)); 0 if dead.
        Its mean is :meth:`expected_purchases`. ``params`` (mapping or
        sequence in ``param_names`` order; default the fitted ones) lets
        callers add parameter uncertainty, e.g. with rows of
        :meth:`sample_params`. Returns floats (whole numbers). ``covariates`` as in
        :meth:`probability_alive` (alpha_i, beta_i from ``params`` when given).
        """
        rng = np.random.default_rng(rng)
        t = non_negative(t, "t")
        history = broadcast_history(frequency, recency, T)
        alpha_i, beta_i = self._history_rates(covariates, history[0].shape, params)
        r, alpha, s, beta = self._params_array(params)[:4]
        if alpha_i is None:
            t, x, t_x, T = np.broadcast_arrays(t, *history)
        else:
            t, x, t_x, T, alpha, beta = np.broadcast_arrays(t, *history, alpha_i, beta_i)
            alpha_i, beta_i = alpha, beta
        alive = rng.random(x.shape) < self._probability_alive(x, t_x, T, params, alpha_i, beta_i)
        rate = rng.gamma(r + x, 1.0 / (alpha + T))
        dropout = rng.gamma(s, 1.0 / (beta + T))
        with np.errstate(divide="ignore"):
            lifetime = rng.exponential(1.0, x.shape) / dropout
        purchases = rng.poisson(rate * np.minimum(t, lifetime)).astype(float)
        return np.where(alive, purchases, 0.0)


# ----- helpers -------------------------------------------------------------
def _row_shares(table: np.ndarray, rows: _PairRows, log_s: float):
    """Per block of rows: (slice, weights, softplus(d), f, g1, g2), unweighted.

    In the notation of :meth:`ParetoNBDModel._weighted_log_likelihood_and_gradient`:
    d = log(s I(t_x)/F) + log(1 - I(T)/I(t_x)), f = F/B = e^-softplus(d),
    g1 = s I(t_x)/B = e^(log(s I(t_x)/F) - softplus(d)), g2 = g1 I(T)/I(t_x)
    (where t_x = T, g1 = g2 on the same pair: their contributions cancel).
    """
    log_tail, log_f = table[:, 0].copy(), table[:, 5].copy()  # contiguous: gathered per row
    for block, w, t_x_pairs, T_pairs in rows.blocks():
        log_i1 = log_tail[t_x_pairs]
        # I(T)/I(t_x) - 1, 0 when t_x = T (no death term)
        ratio_minus_one = np.expm1(np.minimum(log_tail[T_pairs] - log_i1, 0.0))
        log_i1_over_f = log_s + log_i1 - log_f[T_pairs]  # log(s I(t_x) / F)
        soft = softplus(log_i1_over_f + np.log(-ratio_minus_one))
        g1 = np.exp(log_i1_over_f - soft)
        yield block, w, soft, np.exp(-soft), g1, g1 * (1.0 + ratio_minus_one)


def _shares_by_pair(rows: _PairRows) -> tuple[np.ndarray, np.ndarray]:
    """From the weighted shares in ``rows.shares``: sum of w f per (x, T) pair, and
    sum of w g1 per (x, t_x) pair minus sum of w g2 per (x, T) pair."""
    share_f, share_1, share_2 = rows.shares
    n_pairs = rows.weight_by_T_pair.shape[0]
    f_by_pair = np.bincount(rows.T_pairs, share_f, minlength=n_pairs)
    tail_by_pair = (np.bincount(rows.t_x_pairs, share_1, minlength=n_pairs)
                    - np.bincount(rows.T_pairs, share_2, minlength=n_pairs))
    return f_by_pair, tail_by_pair


def _log_f_hessian(params: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Second derivatives of log F = -(r+x) log(alpha+y) - s log(beta+y) per pair, shape (n, 4, 4)."""
    r, alpha, s, beta = params
    hessian = np.zeros((x.shape[0], 4, 4))
    hessian[:, 0, 1] = hessian[:, 1, 0] = -1.0 / (alpha + y)
    hessian[:, 1, 1] = (r + x) / (alpha + y) ** 2
    hessian[:, 2, 3] = hessian[:, 3, 2] = -1.0 / (beta + y)
    hessian[:, 3, 3] = s / (beta + y) ** 2
    return hessian


def _log_tail_hessian(params: np.ndarray, x: np.ndarray, y: np.ndarray, relative_step: float = 1e-5) -> np.ndarray:
    """Second derivatives of log I(y) in (r, alpha, s, beta) per pair, shape (n, 4, 4).

    Central differences of the analytic gradient (:func:`_log_tail_by_rates`),
    symmetrised; truncation error O(step^2), about 1e-10 relative.
    """
    hessian = np.empty((x.shape[0], 4, 4))
    for j in range(4):
        step = relative_step * params[j]
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        grad_up, grad_down = _log_tail_by_rates(*up, x, y)[1], _log_tail_by_rates(*down, x, y)[1]
        hessian[:, :, j] = ((grad_up - grad_down) / (2.0 * step)).T
    return 0.5 * (hessian + hessian.transpose(0, 2, 1))


@dataclass(frozen=True)
class _PairRows:
    """A fit's distinct rows as indices into the (x, y) pair table, with weights.

    ``t_x_pairs`` / ``T_pairs``: each row's pair (x, t_x) / (x, T);
    ``weight_by_T_pair``: total weight of the rows of each (x, T) pair;
    ``shares``: (3, n_rows) work space for the per-row weighted shares of an
    evaluation, allocated once per fit rather than once per evaluation.
    """

    weights: np.ndarray
    total: float
    t_x_pairs: np.ndarray
    T_pairs: np.ndarray
    weight_by_T_pair: np.ndarray
    shares: np.ndarray

    def blocks(self):
        """(slice, weights, t_x_pairs, T_pairs) for consecutive blocks of ``_BLOCK_ROWS`` rows."""
        for start in range(0, self.weights.shape[0], _BLOCK_ROWS):
            block = slice(start, start + _BLOCK_ROWS)
            yield block, self.weights[block], self.t_x_pairs[block], self.T_pairs[block]

    @classmethod
    def build(cls, t_x_pairs: np.ndarray, T_pairs: np.ndarray, weights: np.ndarray, n_pairs: int) -> _PairRows:
        return cls(
            weights=weights, total=float(weights.sum()), t_x_pairs=t_x_pairs, T_pairs=T_pairs,
            weight_by_T_pair=np.bincount(T_pairs, weights, minlength=n_pairs),
            shares=np.empty((3, weights.shape[0])),
        )


def _pair_tables(params: np.ndarray, data: Mapping[str, np.ndarray]):
    """Per (x, y) pair: log I(y) with gradient, and log F, the constant and their gradients with T = y.

    Columns: 0 log I, 1-4 d log I, 5 log F, 6-9 d log F, 10 constant, 11-14 d constant.
    """
    r, alpha, s, beta = params
    x, y = data["pair_x"], data["pair_y"]
    log_tail, tail_grad = _log_tail_by_rates(r, alpha, s, beta, x, y)
    log_alpha_y, log_beta_y = np.log(alpha + y), np.log(beta + y)
    table = np.empty((x.shape[0], 15))
    table[:, 0] = log_tail
    table[:, 1:5] = tail_grad.T
    table[:, 5] = -(r + x) * log_alpha_y - s * log_beta_y
    table[:, 6] = -log_alpha_y
    table[:, 7] = -(r + x) / (alpha + y)
    table[:, 8] = -log_beta_y
    table[:, 9] = -s / (beta + y)
    table[:, 10] = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    table[:, 11] = special.digamma(r + x) - special.digamma(r) + np.log(alpha)
    table[:, 12] = r / alpha
    table[:, 13] = np.log(beta)
    table[:, 14] = s / beta
    return table


def _row_log_likelihood(params: np.ndarray, data: Mapping[str, np.ndarray]):
    """Combine the pair tables per row: log(F + s (I1 - I2)) and its gradient (shares of each part)."""
    s = params[2]
    table = _pair_tables(params, data)
    at_T = table[data["pair_of_T"]]
    at_t_x = table[data["pair_of_t_x"], :5]
    log_i1, log_i2, log_f = at_t_x[:, 0], at_T[:, 0], at_T[:, 5]
    # I(t_x) - I(T) = I(t_x) (1 - exp(log_i2 - log_i1)); 0 when t_x = T
    log_death = np.log(s) + log_i1 + np.log(-np.expm1(np.minimum(log_i2 - log_i1, 0.0)))
    log_bracket = np.logaddexp(log_f, log_death)
    terms = at_T[:, 10] + log_bracket
    share_f = np.exp(log_f - log_bracket)[:, None]
    share_1 = np.exp(np.log(s) + log_i1 - log_bracket)[:, None]
    share_2 = np.exp(np.log(s) + log_i2 - log_bracket)[:, None]
    grad = at_T[:, 11:15] + share_f * at_T[:, 6:10] + share_1 * at_t_x[:, 1:5] - share_2 * at_T[:, 1:5]
    grad[:, 2] += (1.0 - share_f[:, 0]) / s  # d/ds of the factor s in front of the death term
    return terms, grad

def _with_pair_index(data: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """Add the distinct (x, y) pairs over y in {t_x, T} and each row's index into them."""
    if "pair_x" in data:
        return data
    x, t_x, T = data["x"], data["t_x"], data["T"]
    n = x.shape[0]
    pair_x, pair_y, inverse = _distinct_pairs(np.concatenate([x, x]), np.concatenate([t_x, T]))
    return {**data, "pair_x": pair_x, "pair_y": pair_y, "pair_of_t_x": inverse[:n], "pair_of_T": inverse[n:]}


def _distinct_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (x, y) rows and each row's index into them (in an order that does not matter here).

    Where both columns are whole numbers in narrow ranges (purchase counts,
    ages in whole days) the rows are numbered through a table of all (x, y)
    combinations, pairs sorted by x then y: a few array passes, no hashing.
    Otherwise by :func:`clv.summary.compress.compress`.
    """
    x_coded, y_coded = offset_codes(x), offset_codes(y)
    if x_coded is None or y_coded is None or x_coded[1] * y_coded[1] > 4 * x.shape[0]:
        packed = compress({"x": x, "y": y})
        return packed.columns["x"], packed.columns["y"], packed.inverse
    n_y = y_coded[1]
    key = x_coded[0] * n_y + y_coded[0]
    present = np.zeros(x_coded[1] * n_y, dtype=bool)
    present[key] = True
    keys = np.flatnonzero(present)
    inverse = (np.cumsum(present) - 1)[key]
    return x.min() + keys // n_y, y.min() + keys % n_y, inverse


def _log_death_integral(n, t, r, alpha, s, beta, half_nodes: int = 200):
    """log int_0^t tau^n (alpha+tau)^-(r+n) (beta+tau)^-(s+1) dtau by tanh-sinh (tau = t * position)."""
    position, _, log_weight = _tanh_sinh(half_nodes)
    n, t = np.asarray(n, dtype=float)[..., None], np.asarray(t, dtype=float)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = t * position
        log_terms = (np.where(n > 0, n * np.log(tau), 0.0) - (r + n) * np.log(alpha + tau)
                     - (s + 1.0) * np.log(beta + tau) + log_weight + np.log(t))
        result = special.logsumexp(log_terms, axis=-1)
    return np.where(t[..., 0] > 0, result, -np.inf)


def _log_laplace_power(s: float, z: np.ndarray, half_nodes: int = 200) -> np.ndarray:
    """log int_0^inf exp(-z v) (1+v)^-s dv = log(z^(s-1) U(s, s; z)).

    hyperu where finite and positive; otherwise tanh-sinh in q = log(1+v)
    on [0, log(1 + 80/z)] (the integrand exp(-z (e^q - 1) - (s-1) q) is
    below e^-80 of its scale beyond).
    """
    z = np.asarray(z, dtype=float)
    with np.errstate(all="ignore"):
        u = special.hyperu(s, s, z)
        result = (s - 1.0) * np.log(z) + np.log(u)
    bad = ~np.isfinite(result)
    if bad.any():
        zb = z[bad][:, None]
        upper = np.log1p(80.0 / zb)
        position, _, log_weight = _tanh_sinh(half_nodes)
        q = upper * position
        log_terms = -zb * np.expm1(q) - (s - 1.0) * q + log_weight + np.log(upper)
        result[bad] = special.logsumexp(log_terms, axis=1)
    return result


def _require_interior(model: MaximumLikelihoodModel) -> None:
    """FitError when a parameter ran to 0 or infinity (|log param| > 25: e^25 = 7e10)."""
    edge = [name for name, value in model.params_.items() if name in BASE_NAMES and abs(np.log(value)) > _EDGE_LOG_PARAM]
    if edge:
        values = ", ".join(f"{k}={v:.4g}" for k, v in model.params_.items())
        raise FitError(
            f"{type(model).__name__}: the maximum lies at the edge of the parameter space for {edge} ({values}): "
            "e.g. s -> 0 with beta -> inf means no dropout is detectable. The data may not identify the "
            "model: use a longer calibration period, more customers, check the time unit, or try BG/NBD."
        )

