"""Pareto/NBD with static covariates: the likelihood with per-customer rates.

CLVTools' parameterisation (Bachmann, Meierer & Naef 2021, "The Role of
Time-Varying Contextual Factors in Latent Attrition Models for Customer Base
Analysis", Marketing Science 40(4); CLVTools ``pnbd_staticcov_LL_ind``): with
covariates x_i (one row per customer),

    alpha_i = alpha0 exp(-g_trans' x_i),   beta_i = beta0 exp(-g_life' x_i),

so a positive ``trans`` coefficient raises the mean purchase rate r/alpha_i and
a positive ``life`` coefficient raises the mean dropout rate s/beta_i. Given
(alpha_i, beta_i) the likelihood of a history is the Pareto/NBD one
(Fader & Hardie 2005, eq. (22)), written as in :mod:`clv.models.paretonbd`:

    log L_i = lgamma(r+x) - lgamma(r) + r log alpha_i + s log beta_i
              + log(F + s (I(t_x) - I(T))),
    F = (alpha_i+T)^-(r+x) (beta_i+T)^-s,
    I(y) = int_y^inf (alpha_i+tau)^-(r+x) (beta_i+tau)^-(s+1) dtau,

with I by :func:`clv.models.paretonbd.log_tail_integral` (no hypergeometric
function, no overflow for heavy buyers).

Work is shared where it can be: the distinct covariate rows are few (a
channel, a gender...), so alpha_i and beta_i are computed per distinct
covariate row, the tail integrals per distinct (x, y, covariate row) triple
(y in {t_x, T}) and only the final combination per distinct row. The gradient
is analytic: d log L / d(r, alpha_i, s, beta_i) per row, then the chain rule
d alpha_i / d alpha0 = alpha_i / alpha0, d alpha_i / d g_trans = -alpha_i x_i
(the same for beta with g_life), summed per covariate row with the weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from clv.errors import DataError
from clv.lazy import LazyModule
from clv.summary.compress import compress

special = LazyModule("scipy.special")

BASE_NAMES: tuple[str, ...] = ("r", "alpha", "s", "beta")


def coefficient_names(covariate_names) -> tuple[str, ...]:
    """``trans[<name>]`` for every covariate, then ``life[<name>]`` (the order of the coefficient vector)."""
    names = list(covariate_names)
    return tuple(f"trans[{n}]" for n in names) + tuple(f"life[{n}]" for n in names)


def rates(params: np.ndarray, covariates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alpha_i = alpha0 exp(-X g_trans), beta_i = beta0 exp(-X g_life), one per row of ``covariates`` (n, k)."""
    k = covariates.shape[1]
    alpha0, beta0 = params[1], params[3]
    g_trans, g_life = params[4:4 + k], params[4 + k:4 + 2 * k]
    return alpha0 * np.exp(-(covariates @ g_trans)), beta0 * np.exp(-(covariates @ g_life))


def log_tail_rowwise(r, s, alpha, beta, x, y):
    """log I(y) with per-row alpha, beta and its gradient in (r, alpha, s, beta), shape (4, n).

    The per-row form of :func:`clv.models.paretonbd._log_tail_by_rates`: the
    bases are put in increasing order row by row before the tail integral.
    """
    from clv.models.paretonbd import log_tail_integral

    low = alpha <= beta
    e_alpha, e_beta = r + x, s + 1.0
    e1, e2 = np.where(low, e_alpha, e_beta), np.where(low, e_beta, e_alpha)
    p1, p2 = np.where(low, alpha + y, beta + y), np.where(low, beta + y, alpha + y)
    log_value, g = log_tail_integral(e1, e2, p1, p2, np.abs(beta - alpha))
    grad = np.stack([
        np.where(low, g[0], g[1]),  # d/dr = d/d(exponent of alpha+tau)
        np.where(low, g[2], g[3]),  # d/dalpha = d/d(base alpha+y)
        np.where(low, g[1], g[0]),
        np.where(low, g[3], g[2]),
    ])
    return log_value, grad


def row_log_likelihood(r, s, alpha, beta, x, log_i1, grad_i1, log_i2, grad_i2, T):
    """Per-row log L and d log L / d(r, alpha, s, beta) (n, 4), from the tail integrals at t_x and T.

    B = F + s (I(t_x) - I(T)); the gradient is d C + f d log F + g1 d log I(t_x) - g2 d log I(T)
    plus (1 - f)/s in s, with the shares f = F/B, g1 = s I(t_x)/B, g2 = s I(T)/B.
    """
    log_alpha_T, log_beta_T = np.log(alpha + T), np.log(beta + T)
    log_f = -(r + x) * log_alpha_T - s * log_beta_T
    with np.errstate(divide="ignore"):
        log_death = np.log(s) + log_i1 + np.log(-np.expm1(np.minimum(log_i2 - log_i1, 0.0)))
    log_bracket = np.logaddexp(log_f, log_death)
    constant = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    terms = constant + log_bracket
    share_f = np.exp(log_f - log_bracket)
    share_1 = np.exp(np.log(s) + log_i1 - log_bracket)
    share_2 = np.exp(np.log(s) + log_i2 - log_bracket)
    grad = np.empty((x.shape[0], 4))
    grad[:, 0] = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - share_f * log_alpha_T
    grad[:, 1] = r / alpha - share_f * (r + x) / (alpha + T)
    grad[:, 2] = np.log(beta) - share_f * log_beta_T + (1.0 - share_f) / s
    grad[:, 3] = s / beta - share_f * s / (beta + T)
    grad += share_1[:, None] * grad_i1.T - share_2[:, None] * grad_i2.T
    return terms, grad


def with_triple_index(data: Mapping[str, np.ndarray], n_covariates: int) -> dict[str, np.ndarray]:
    """Index the distinct covariate rows and the distinct (x, y, covariate row) triples of a fit's rows.

    ``data`` holds ``x``, ``t_x``, ``T`` and the covariate columns ``cov0``...;
    adds ``cov_rows`` (distinct covariate rows, (m, k)), ``cov_of_row``,
    ``tri_x``, ``tri_y``, ``tri_cov`` and each row's triple at t_x and at T.
    """
    if "cov_rows" in data:
        return dict(data)
    x, t_x, T = data["x"], data["t_x"], data["T"]
    n = x.shape[0]
    matrix = np.column_stack([data[f"cov{j}"] for j in range(n_covariates)]) if n_covariates else np.zeros((n, 0))
    packed_cov = compress({f"c{j}": matrix[:, j] for j in range(n_covariates)}) if n_covariates else None
    cov_of_row = packed_cov.inverse if packed_cov is not None else np.zeros(n, dtype=np.int64)
    cov_rows = (np.column_stack([packed_cov.columns[f"c{j}"] for j in range(n_covariates)])
                if packed_cov is not None else np.zeros((1, 0)))
    packed = compress({"x": np.concatenate([x, x]), "y": np.concatenate([t_x, T]),
                       "c": np.concatenate([cov_of_row, cov_of_row]).astype(float)}, ordered=False)
    return {
        **data, "cov_rows": cov_rows, "cov_of_row": cov_of_row,
        "tri_x": packed.columns["x"], "tri_y": packed.columns["y"], "tri_cov": packed.columns["c"].astype(np.int64),
        "tri_of_t_x": packed.inverse[:n], "tri_of_T": packed.inverse[n:],
    }


def weighted_log_likelihood_and_gradient(params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray):
    """sum_i w_i log L_i and its gradient in (r, alpha0, s, beta0, g_trans, g_life) (natural scale).

    ``data`` as returned by :func:`with_triple_index`.
    """
    r, s = params[0], params[2]
    cov_rows = data["cov_rows"]
    alpha_c, beta_c = rates(params, cov_rows)
    tri_cov = data["tri_cov"]
    log_tail, tail_grad = log_tail_rowwise(r, s, alpha_c[tri_cov], beta_c[tri_cov], data["tri_x"], data["tri_y"])
    i1, i2, c = data["tri_of_t_x"], data["tri_of_T"], data["cov_of_row"]
    terms, grad = row_log_likelihood(r, s, alpha_c[c], beta_c[c], data["x"], log_tail[i1], tail_grad[:, i1],
                                     log_tail[i2], tail_grad[:, i2], data["T"])
    value = float(weights @ terms)
    weighted = grad * weights[:, None]
    n_cov_rows = cov_rows.shape[0]
    # d/d alpha_i summed per covariate row, times alpha_i: the chain rule to alpha0 and g_trans
    alpha_part = np.bincount(c, weighted[:, 1], minlength=n_cov_rows) * alpha_c
    beta_part = np.bincount(c, weighted[:, 3], minlength=n_cov_rows) * beta_c
    full = np.concatenate([
        [weighted[:, 0].sum(), alpha_part.sum() / params[1], weighted[:, 2].sum(), beta_part.sum() / params[3]],
        -(alpha_part @ cov_rows), -(beta_part @ cov_rows),
    ])
    return value, full


def row_terms(params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per-row log L at (r, alpha0, s, beta0, g_trans, g_life); ``data`` as from :func:`with_triple_index`."""
    r, s = params[0], params[2]
    alpha_c, beta_c = rates(params, data["cov_rows"])
    tri_cov = data["tri_cov"]
    log_tail, tail_grad = log_tail_rowwise(r, s, alpha_c[tri_cov], beta_c[tri_cov], data["tri_x"], data["tri_y"])
    i1, i2, c = data["tri_of_t_x"], data["tri_of_T"], data["cov_of_row"]
    return row_log_likelihood(r, s, alpha_c[c], beta_c[c], data["x"], log_tail[i1], tail_grad[:, i1],
                              log_tail[i2], tail_grad[:, i2], data["T"])[0]


def covariate_matrix(covariates, n_rows: int, expected=None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The covariates as a finite float (n_rows, k) matrix and their names.

    ``covariates``: a DataFrame (names from its columns) or an (n, k) array
    (names ``x0``, ``x1``...; a 1-D array is one covariate). ``expected``: the
    names a fitted model needs, in order (a DataFrame is reordered to them; an
    array must have that many columns). DataError naming the column, the first
    offending row and the fix otherwise.
    """
    columns = getattr(covariates, "columns", None)
    if columns is not None:
        names = tuple(str(c) for c in columns)
        if expected is not None:
            missing = [n for n in expected if n not in names]
            if missing:
                raise DataError(f"covariates lack the column(s) {missing} the model was fitted with "
                                f"({list(expected)}). Fix: pass the same covariate columns as in the fit.")
            covariates, names = covariates[list(expected)], tuple(expected)
        try:
            matrix = covariates.to_numpy(dtype=float)
        except (TypeError, ValueError):
            bad = [n for n in names if not np.issubdtype(np.asarray(covariates[n]).dtype, np.number)]
            raise DataError(f"covariate column(s) {bad} are not numeric. Fix: encode them first "
                            "(clv.summary.attach_covariates makes treatment dummies of categorical columns).") from None
    else:
        matrix = np.asarray(covariates, dtype=float)
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.ndim != 2:
            raise DataError(f"covariates must be a table or an (n, k) array, got an array of shape {matrix.shape}.")
        names = tuple(f"x{j}" for j in range(matrix.shape[1])) if expected is None else tuple(expected)
        if matrix.shape[1] != len(names):
            raise DataError(f"covariates have {matrix.shape[1]} columns; the model was fitted with {len(names)} "
                            f"({list(names)}). Fix: pass the same covariate columns as in the fit.")
    if matrix.shape[0] != n_rows:
        raise DataError(f"covariates have {matrix.shape[0]} rows for {n_rows} customers. Fix: one covariate row per "
                        "customer, in the order of the histories.")
    if not names:
        raise DataError("covariates has no columns. Fix: pass at least one covariate column, or covariates=None.")
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, column = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"covariate {names[column]!r} is missing or not finite in row {row} ({int(bad.any(axis=1).sum())} "
                        "row(s) in all). Fix: fill or drop those customers before fitting.")
    return matrix, names
