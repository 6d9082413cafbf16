"""The extended Pareto/NBD: time-varying (per period) covariates on purchases and dropout.

Bachmann, Meierer & Naef (2021), "The Role of Time-Varying Contextual Factors
in Latent Attrition Models for Customer Base Analysis", Marketing Science
40(4), 783-809; CLVTools ``pnbd`` on ``clv.data.dynamic.covariates``.

Story. Customer i buys, while alive, at rate lambda_i exp(g_trans' z_i(u)) and
drops out at rate mu_i exp(g_life' z_i(u)), with lambda_i ~ Gamma(r, alpha),
mu_i ~ Gamma(s, beta) as in the Pareto/NBD and z_i(u) the covariates of the
calendar period that contains the customer's time u (piecewise constant: one
value per customer per period, e.g. season, campaign, price level). With
z constant this is the Pareto/NBD with static covariates (alpha_i = alpha
e^(-g_trans'z), beta_i = beta e^(-g_life'z)); with zero coefficients the plain
Pareto/NBD.

Likelihood (derived here from the story; it is the paper's, and CLVTools'
walk-based ``pnbd_dyncov_LL``, in other bookkeeping). With the cumulated
intensities A(u) = int_0^u e^(g_trans'z(v)) dv and C(u) = int_0^u e^(g_life'z(v)) dv
and S_i the sum of z over the customer's repeat purchases,

    L_i = e^(g_trans'S_i) Gamma(r+x)/Gamma(r) alpha^r beta^s
          [ (alpha+A(T))^-(r+x) (beta+C(T))^-s + s D ],
    D = int_{t_x}^T c(tau) (alpha+A(tau))^-(r+x) (beta+C(tau))^-(s+1) dtau.

On a period segment [u0, u1] inside (t_x, T] the rates a = e^(g_trans'z),
c = e^(g_life'z) are constant, A and C linear, and the substitution w = a (tau-u0) gives

    D_k = (a/c)^s [ G(alpha+A(u0), (beta+C(u0)) a/c) - G(alpha+A(u1), (beta+C(u1)) a/c) ],
    G(p, q) = int_0^inf (p+w)^-(r+x) (q+w)^-(s+1) dw,

the Pareto/NBD tail integral (:func:`clv.models.paretonbd.log_tail_integral`,
series or split quadrature, no 2F1). So D is a sum over periods of positive
terms: the per-customer integrals of the hazards become sums over the periods,
evaluated on a customers x periods matrix (no loop over customers). The
gradient in (r, alpha, s, beta, g_trans, g_life) is analytic (chain rule
through G's gradient in its exponents and bases).

Data of one fit (:class:`clv.summary.dynamic_covariates.PeriodPaths`): per customer, the periods' start in
customer time and length, both clipped to [0, T] (n, P); the covariates per
period (n, P, k) (or (1, P, k) when every customer sees the same calendar
values); and S (n, k).
"""

from __future__ import annotations

import numpy as np

from clv.errors import DataError
from clv.lazy import LazyModule
from clv.summary.dynamic_covariates import PeriodPaths

special = LazyModule("scipy.special")


def _sorted_tail(e_p, e_q, p, q):
    """log G(p, q) = log int_0^inf (p+w)^-e_p (q+w)^-e_q dw and d/d(e_p, e_q, p, q), any order of p, q."""
    from clv.models.paretonbd import log_tail_integral

    low = p <= q
    log_value, g = log_tail_integral(np.where(low, e_p, e_q), np.where(low, e_q, e_p), np.where(low, p, q),
                                     np.where(low, q, p), np.abs(q - p))
    return log_value, (np.where(low, g[0], g[1]), np.where(low, g[1], g[0]),
                       np.where(low, g[2], g[3]), np.where(low, g[3], g[2]))


def log_likelihood_and_gradient(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                                paths: PeriodPaths) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log L (n,) and its gradient (n, 4 + 2k) in (r, alpha, s, beta, g_trans, g_life).

    See the module docstring for the formula; every period segment is one
    column of an (n, P) matrix, inactive segments (before t_x, after T, or of
    zero length) are masked out.
    """
    k = paths.values.shape[2]
    r, alpha, s, beta = params[:4]
    g_trans, g_life = params[4:4 + k], params[4 + k:4 + 2 * k]
    z = paths.values
    a = np.broadcast_to(np.exp(z @ g_trans), paths.start.shape)  # purchase multiplier per period
    c = np.broadcast_to(np.exp(z @ g_life), paths.start.shape)
    start, length = paths.start, paths.length
    a_len, c_len = a * length, c * length
    cum_a, cum_c = np.cumsum(a_len, axis=1) - a_len, np.cumsum(c_len, axis=1) - c_len  # A, C at each period start
    A_T, C_T = a_len.sum(axis=1), c_len.sum(axis=1)
    # d A / d g_trans at the period starts and at T (n, P, k) / (n, k)
    za_len = a_len[:, :, None] * z
    zc_len = c_len[:, :, None] * z
    dA_start = np.cumsum(za_len, axis=1) - za_len
    dC_start = np.cumsum(zc_len, axis=1) - zc_len
    dA_T, dC_T = za_len.sum(axis=1), zc_len.sum(axis=1)

    # the death segments: [u0, u1] = period clipped to [t_x, T]
    u0 = np.maximum(start, t_x[:, None])
    u1 = np.maximum(start + length, t_x[:, None])
    active = u1 > u0
    e_p = (r + x)[:, None] * np.ones_like(u0)
    ratio = a / c
    p0, p1 = alpha + cum_a + a * (u0 - start), alpha + cum_a + a * (u1 - start)
    C0, C1 = cum_c + c * (u0 - start), cum_c + c * (u1 - start)
    q0, q1 = (beta + C0) * ratio, (beta + C1) * ratio
    n, P = u0.shape
    rows, cols = np.nonzero(active)
    log_g0, g0 = _sorted_tail(e_p[rows, cols], s + 1.0, p0[rows, cols], q0[rows, cols])
    log_g1, g1 = _sorted_tail(e_p[rows, cols], s + 1.0, p1[rows, cols], q1[rows, cols])
    delta = np.minimum(log_g1 - log_g0, 0.0)
    with np.errstate(divide="ignore"):
        log_diff = log_g0 + np.log(-np.expm1(delta))
    log_piece = s * np.log(ratio[rows, cols]) + log_diff
    # weights of d log G0 and d log G1 in d log(G0 - G1)
    w0 = -1.0 / np.expm1(delta)
    w1 = w0 * np.exp(delta)
    pieces = np.full((n, P), -np.inf)
    pieces[rows, cols] = log_piece
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sum = special.logsumexp(pieces, axis=1)  # -inf when no segment (t_x = T)
        share = np.zeros((n, P))
        share[rows, cols] = np.exp(log_piece - log_sum[rows])
    log_death = np.log(s) + log_sum
    log_f = -(r + x) * np.log(alpha + A_T) - s * np.log(beta + C_T)
    log_bracket = np.logaddexp(log_f, log_death)
    f = np.exp(log_f - log_bracket)
    constant = (paths.purchase_sums @ g_trans + special.gammaln(r + x) - special.gammaln(r)
                + r * np.log(alpha) + s * np.log(beta))
    terms = constant + log_bracket

    grad = np.zeros((n, 4 + 2 * k))
    # constant
    grad[:, 0] = special.digamma(r + x) - special.digamma(r) + np.log(alpha)
    grad[:, 1] = r / alpha
    grad[:, 2] = np.log(beta)
    grad[:, 3] = s / beta
    grad[:, 4:4 + k] = paths.purchase_sums
    # alive part, times f
    grad[:, 0] -= f * np.log(alpha + A_T)
    grad[:, 1] -= f * (r + x) / (alpha + A_T)
    grad[:, 2] -= f * np.log(beta + C_T)
    grad[:, 3] -= f * s / (beta + C_T)
    grad[:, 4:4 + k] -= (f * (r + x) / (alpha + A_T))[:, None] * dA_T
    grad[:, 4 + k:] -= (f * s / (beta + C_T))[:, None] * dC_T
    # death part: (1 - f) [1/s in s + sum_segments share * d log piece]
    grad[:, 2] += (1.0 - f) / s
    weight = (1.0 - f)[rows] * share[rows, cols]  # per active segment
    zs = np.broadcast_to(z, (n, P, k))[rows, cols]  # (m, k)
    rho = ratio[rows, cols]
    d_logg = [w0 * g0[i] - w1 * g1[i] for i in range(4)]  # only usable where bases move together below
    # d log piece / d r: via the exponent of p
    grad[:, 0] += np.bincount(rows, weight * d_logg[0], minlength=n)
    # d/d s: log(ratio) + d/d e_q
    grad[:, 2] += np.bincount(rows, weight * (np.log(rho) + d_logg[1]), minlength=n)
    # d/d alpha: dp0 = dp1 = 1
    d_p0, d_p1, d_q0, d_q1 = w0 * g0[2], w1 * g1[2], w0 * g0[3], w1 * g1[3]
    grad[:, 1] += np.bincount(rows, weight * (d_p0 - d_p1), minlength=n)
    # d/d beta: dq = ratio
    grad[:, 3] += np.bincount(rows, weight * (d_q0 - d_q1) * rho, minlength=n)
    # d/d g_trans: s z (from ratio^s); p moves with dA(u); q with (beta + C(u)) ratio z
    u0m, u1m, startm = u0[rows, cols], u1[rows, cols], start[rows, cols]
    am, cm = a[rows, cols], c[rows, cols]
    dA0 = dA_start[rows, cols] + (am * (u0m - startm))[:, None] * zs
    dA1 = dA_start[rows, cols] + (am * (u1m - startm))[:, None] * zs
    dC0 = dC_start[rows, cols] + (cm * (u0m - startm))[:, None] * zs
    dC1 = dC_start[rows, cols] + (cm * (u1m - startm))[:, None] * zs
    q0m, q1m = q0[rows, cols], q1[rows, cols]
    d_trans = (s * zs + d_p0[:, None] * dA0 - d_p1[:, None] * dA1
               + (d_q0 * q0m - d_q1 * q1m)[:, None] * zs)
    d_life = (-s * zs + (d_q0 * rho)[:, None] * dC0 - (d_q1 * rho)[:, None] * dC1
              - (d_q0 * q0m - d_q1 * q1m)[:, None] * zs)
    for j in range(k):
        grad[:, 4 + j] += np.bincount(rows, weight * d_trans[:, j], minlength=n)
        grad[:, 4 + k + j] += np.bincount(rows, weight * d_life[:, j], minlength=n)
    return terms, grad


def log_probability_alive(params: np.ndarray, x, t_x, T, paths: PeriodPaths) -> np.ndarray:
    """log P(alive at T | history, covariate path) = log F - log(F + s D) (the likelihood's two parts)."""
    k = paths.values.shape[2]
    r, alpha, s, beta = params[:4]
    a = np.broadcast_to(np.exp(paths.values @ params[4:4 + k]), paths.start.shape)
    c = np.broadcast_to(np.exp(paths.values @ params[4 + k:4 + 2 * k]), paths.start.shape)
    A_T, C_T = (a * paths.length).sum(axis=1), (c * paths.length).sum(axis=1)
    log_f = -(r + x) * np.log(alpha + A_T) - s * np.log(beta + C_T)
    terms, _ = log_likelihood_and_gradient(params, x, t_x, T, paths)
    constant = (paths.purchase_sums @ params[4:4 + k] + special.gammaln(r + x) - special.gammaln(r)
                + r * np.log(alpha) + s * np.log(beta))
    return log_f - (terms - constant)


def expected_purchases(params: np.ndarray, x, t_x, T, paths: PeriodPaths, future_length: np.ndarray,
                       future_values: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T + t] | history] with the future periods' lengths (n, Q) and covariates (n or 1, Q, k).

    Given alive at T: lambda ~ Gamma(r+x, alpha+A(T)), mu ~ Gamma(s, beta+C(T)), so
    E = P(alive) (r+x)/(alpha+A(T)) sum_k (a_k/c_k) (beta+C_T)^s int over segment k of c_k (beta+C(u))^-s du
      = P(alive) (r+x)/(alpha+A(T)) sum_k (a_k/c_k) (beta+C_T)^s Q0^(1-s) L exprel(-(s-1) L),
    Q0 = beta + C(start of segment), L = log(Q1/Q0) (exprel: no special case at s = 1).
    """
    k = paths.values.shape[2]
    r, alpha, s, beta = params[:4]
    a_past = np.broadcast_to(np.exp(paths.values @ params[4:4 + k]), paths.start.shape)
    c_past = np.broadcast_to(np.exp(paths.values @ params[4 + k:4 + 2 * k]), paths.start.shape)
    A_T, C_T = (a_past * paths.length).sum(axis=1), (c_past * paths.length).sum(axis=1)
    a = np.broadcast_to(np.exp(future_values @ params[4:4 + k]), future_length.shape)
    c = np.broadcast_to(np.exp(future_values @ params[4 + k:4 + 2 * k]), future_length.shape)
    c_len = c * future_length
    Q0 = beta + C_T[:, None] + np.cumsum(c_len, axis=1) - c_len
    L = np.log1p(c_len / Q0)
    per_segment = (a / c) * np.exp(s * np.log((beta + C_T)[:, None] / Q0)) * Q0 * L * special.exprel(-(s - 1.0) * L)
    alive = np.exp(log_probability_alive(params, x, t_x, T, paths))
    return alive * (r + x) / (alpha + A_T) * per_segment.sum(axis=1)


def check_paths(paths: PeriodPaths, n_rows: int) -> None:
    """DataError when the paths do not match the histories (rows, shapes, finite values)."""
    if paths.start.shape != paths.length.shape or paths.start.shape[0] != n_rows:
        raise DataError(f"the covariate paths cover {paths.start.shape[0]} customers for {n_rows} histories. Fix: build "
                        "them from the same customer data (clv.summary.dynamic_covariates.dynamic_covariate_paths).")
    if paths.values.ndim != 3 or paths.values.shape[1] != paths.start.shape[1] or paths.values.shape[0] not in (1, n_rows):
        raise DataError(f"covariate values must be (customers or 1, periods, covariates); got {paths.values.shape}.")
    if not np.all(np.isfinite(paths.values)):
        raise DataError("a time-varying covariate value is missing or not finite. Fix: fill every period of every "
                        "covariate column in the table.")

