"""The Gamma-Gamma spend model with customer covariates: likelihood, derivatives, fit objective.

Link (exponential, as CLVTools and pymc-marketing use for the purchase models).
Customer i with covariate row z_i (k numbers) has its own scale of the Gamma
prior of the rate nu_i of its transaction values:

    nu_i ~ Gamma(q, gamma_i),   gamma_i = gamma exp(g' z_i),

so the prior mean value per transaction is E[M | z_i] = p gamma_i / (q - 1)
= exp(g' z_i) x (the mean at z = 0): exp(g_j) is the factor by which one more
unit of covariate j multiplies the expected spend per transaction, and a
positive coefficient means higher spend. The design's ``v exp(-g' x)`` would
give the opposite sign; the sign here follows the purchase models' convention
that a positive coefficient means "more" (there alpha_i = alpha exp(-g' x)
because alpha is the Gamma *rate* of the purchase rate; here gamma plays the
role of a Gamma *scale* of the mean spend, 1/nu). p and q are shared.

Log-likelihood of a repeat buyer with x repeat transactions of mean value m
(Fader & Hardie 2013, eq. 3, with gamma -> gamma_i), writing eta_i = log gamma_i,
a = p x + q, u_i = gamma_i + m x:

    l_i = lnG(a) - lnG(p x) - lnG(q) + q eta_i + (p x - 1) log m + p x log x - a log u_i.

The fit works on the unconstrained vector theta = (log p, log q, log gamma, g).
With w_i = gamma_i / u_i, psi the digamma and psi' the trigamma function:

    dl/dp   = x [psi(a) - psi(p x) + log(m x) - log u_i]
    dl/dq   = psi(a) - psi(q) + eta_i - log u_i
    dl/deta = q - a w_i                       (eta_i = log gamma + g' z_i)
    d2l/dp2 = x^2 [psi'(a) - psi'(p x)],   d2l/dp dq = x psi'(a),   d2l/dq2 = psi'(a) - psi'(q)
    d2l/dp deta = -x w_i,   d2l/dq deta = 1 - w_i,   d2l/deta2 = -a w_i (1 - w_i)

and theta's derivatives follow by the chain rule (d/dlog p = p d/dp, and
d/dlog gamma, d/dg_j are d/deta times 1 and z_ij). The gamma functions depend
on x only and are evaluated once per distinct x; a pass over the rows is one
exp, one log and a few products per row. An optional L2 penalty
``l2_penalty * |g|^2`` is subtracted from the log-likelihood (the coefficients
only, never p, q, gamma; as in :mod:`clv.models.covariate_link`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv.lazy import LazyModule
from clv.models.base import _Objective
from clv.summary.compress import offset_codes

special = LazyModule("scipy.special")

N_BASE = 3  # p, q, gamma


@dataclass(frozen=True)
class CovariateRows:
    """The repeat buyers' rows of a covariate fit, with what does not change during the fit.

    ``x``, ``m``, ``z`` (n, k), ``weights``; ``x_codes`` maps each row to its
    distinct x (``x_values``); ``log_m`` and ``log_mx`` per row.
    """

    x: np.ndarray
    m: np.ndarray
    z: np.ndarray
    weights: np.ndarray
    x_codes: np.ndarray
    x_values: np.ndarray
    weight_by_x: np.ndarray
    log_m: np.ndarray
    log_mx: np.ndarray
    mx: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, m: np.ndarray, z: np.ndarray, weights: np.ndarray) -> CovariateRows:
        """The fixed quantities of rows (x, m, z) with weights."""
        offset = offset_codes(x)
        if offset is None:
            x_codes, x_values = pd.factorize(x)
        else:
            x_codes, x_values = offset[0], x.min() + np.arange(offset[1], dtype=x.dtype)
        return cls(
            x=x, m=m, z=np.ascontiguousarray(z, dtype=float), weights=weights, x_codes=x_codes,
            x_values=np.asarray(x_values, dtype=float),
            weight_by_x=np.bincount(x_codes, weights, minlength=len(x_values)),
            log_m=np.log(m), log_mx=np.log(m * x), mx=m * x,
        )

    def subset(self, keep: np.ndarray, weights: np.ndarray) -> CovariateRows:
        """The rows ``keep`` with new weights (a pilot subsample)."""
        return CovariateRows.build(self.x[keep], self.m[keep], self.z[keep], weights)


def log_likelihood_terms(theta: np.ndarray, rows: CovariateRows) -> np.ndarray:
    """Per-row log-likelihood l_i at theta = (log p, log q, log gamma, g) (module docstring)."""
    p, q = np.exp(theta[:2])
    eta = theta[2] + rows.z @ theta[N_BASE:]
    px = p * rows.x
    a = px + q
    log_u = np.logaddexp(eta, rows.log_mx)
    return (
        special.gammaln(a) - special.gammaln(px) - special.gammaln(q) + q * eta
        + (px - 1.0) * rows.log_m + px * np.log(rows.x) - a * log_u
    )


def value_gradient_hessian(
    theta: np.ndarray, rows: CovariateRows, l2_penalty: float = 0.0, *, hessian: bool = True
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Weighted log-likelihood (minus the L2 penalty), its gradient and Hessian in theta.

    Formulas in the module docstring; the gamma functions per distinct x.
    """
    p, q = np.exp(theta[:2])
    coefficients = theta[N_BASE:]
    eta = rows.z @ coefficients
    eta += theta[2]
    scale = np.exp(eta)
    pooled = scale + rows.mx
    if np.all(np.isfinite(pooled)):
        log_u = np.log(pooled)
        share = np.divide(scale, pooled, out=scale)  # w_i = gamma_i / u_i
    else:  # huge covariate values: the slower overflow-free form
        log_u = np.logaddexp(eta, rows.log_mx)
        share = np.exp(eta - log_u)
    px_values = p * rows.x_values
    a_values = px_values + q
    psi_a = special.digamma(a_values)
    psi_px = special.digamma(px_values)
    w = rows.weights
    a = a_values[rows.x_codes]
    total = float(w.sum())

    value = (
        rows.weight_by_x @ (special.gammaln(a_values) - special.gammaln(px_values)) - total * special.gammaln(q)
        + q * (w @ eta) + p * ((w * rows.x) @ rows.log_mx) - w @ rows.log_m - w @ (a * log_u)
    )
    # d l / d p and d l / d q summed with weights
    wx = w * rows.x
    d_p = (rows.weight_by_x * rows.x_values) @ (psi_a - psi_px) + wx @ (rows.log_mx - log_u)
    d_q = rows.weight_by_x @ psi_a - total * special.digamma(q) + w @ (eta - log_u)
    d_eta = w * (q - a * share)
    gradient = np.concatenate([[p * d_p, q * d_q, d_eta.sum()], rows.z.T @ d_eta])
    gradient[N_BASE:] -= 2.0 * l2_penalty * coefficients
    value -= l2_penalty * float(coefficients @ coefficients)
    if not hessian:
        return float(value), gradient, None

    tri_a = special.polygamma(1, a_values)
    tri_px = special.polygamma(1, px_values)
    h_pp = (rows.weight_by_x * rows.x_values**2) @ (tri_a - tri_px)
    h_pq = (rows.weight_by_x * rows.x_values) @ tri_a
    h_qq = rows.weight_by_x @ tri_a - total * special.polygamma(1, q)
    cross_p = -wx * share  # d2l/dp deta, weighted
    cross_q = w * (1.0 - share)  # d2l/dq deta, weighted
    curvature = -w * a * share * (1.0 - share)  # d2l/deta2, weighted
    k = theta.shape[0]
    out = np.empty((k, k))
    out[0, 0] = p * p * h_pp + p * d_p
    out[0, 1] = out[1, 0] = p * q * h_pq
    out[1, 1] = q * q * h_qq + q * d_q
    design_cross_p = np.concatenate([[cross_p.sum()], rows.z.T @ cross_p]) * p
    design_cross_q = np.concatenate([[cross_q.sum()], rows.z.T @ cross_q]) * q
    out[0, 2:] = out[2:, 0] = design_cross_p
    out[1, 2:] = out[2:, 1] = design_cross_q
    weighted_z = rows.z * curvature[:, None]
    out[2, 2] = curvature.sum()
    out[2, 3:] = out[3:, 2] = weighted_z.sum(axis=0)
    out[3:, 3:] = rows.z.T @ weighted_z
    out[3:, 3:] -= 2.0 * l2_penalty * np.eye(k - N_BASE)
    return float(value), gradient, out


class ThetaObjective(_Objective):
    """The base fit objective (mean negative log-likelihood) directly in theta = (log p, log q, log gamma, g).

    The coefficients g are not positive, so theta is not log(params) here; the
    optimiser, the Newton steps and the standard errors of
    :class:`clv.models.base.MaximumLikelihoodModel` work unchanged on this objective.
    """

    def __init__(self, rows: CovariateRows, l2_penalty: float):
        super().__init__(None, rows, rows.weights, float(rows.weights.sum()))
        self.l2_penalty = l2_penalty

    def log_likelihood(self, theta: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            return value_gradient_hessian(theta, self.data, self.l2_penalty, hessian=False)[0]

    def gradient_theta(self, theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return value_gradient_hessian(theta, self.data, self.l2_penalty, hessian=False)[1]

    def _evaluate(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            value, grad, _ = value_gradient_hessian(theta, self.data, self.l2_penalty, hessian=False)
        if not (np.isfinite(value) and np.all(np.isfinite(grad))):
            return np.inf, np.zeros_like(theta)
        return -value / self.total, -grad / self.total

    def value_gradient_and_hessian(self, theta: np.ndarray):
        key = np.asarray(theta, dtype=float).tobytes()
        if not (self._last_hessian is not None and self._last_hessian[0] == key):
            with np.errstate(all="ignore"):
                value, grad, hessian = value_gradient_hessian(theta, self.data, self.l2_penalty)
            if np.isfinite(value) and np.all(np.isfinite(grad)):
                self._last = (key, -value / self.total, -grad / self.total)
                self._last_hessian = (key, hessian)
            else:
                self._last = (key, np.inf, np.zeros_like(theta))
        value, grad = self.value_and_gradient(theta)
        if not np.isfinite(value):
            return value, grad, None
        return value, grad, -self.hessian_theta(theta) / self.total

    def _hessian_theta(self, theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return value_gradient_hessian(theta, self.data, self.l2_penalty)[2]


def covariate_names(covariates, names) -> tuple[str, ...]:
    """Names of the covariate columns: ``names``, else a DataFrame's columns, else ``x1..xk``."""
    if names is not None:
        return tuple(str(n) for n in names)
    if isinstance(covariates, pd.DataFrame):
        return tuple(str(c) for c in covariates.columns)
    k = np.asarray(covariates).reshape(np.asarray(covariates).shape[0], -1).shape[1]
    return tuple(f"x{j + 1}" for j in range(k))


def coefficient_name(covariate: str) -> str:
    """The parameter name of a spend coefficient: ``spend[<covariate>]``."""
    return f"spend[{covariate}]"


def scale_of(params: Mapping[str, float] | np.ndarray, z: np.ndarray) -> np.ndarray:
    """gamma_i = gamma exp(g' z_i) per row of ``z`` (params: (k,) vector or (draws, k) matrix -> (draws, n))."""
    values = np.asarray(params, dtype=float)
    return values[..., 2, None] * np.exp(values[..., N_BASE:] @ z.T) if values.ndim > 1 \
        else values[2] * np.exp(z @ values[N_BASE:])
