"""Whole-lifetime discounted purchases of BG/NBD and MBG/NBD, by quadrature.

Given alive at T with purchase rate lambda and dropout probability p, the
per-step discounted lifetime purchases are ``f = q (1 - e^-c) / (p (1 - q e^-c))``
with ``c = lambda p s`` (see :meth:`clv.models.bgnbd.BetaGeoModel.discounted_lifetime_purchases`
for the derivation); this module computes ``E[f]`` over the posterior
``lambda ~ Gamma(r+x, alpha+T)``, ``p ~ Beta(a, b+x)`` per distinct (x, T) by
trapezoid rules in log lambda and logit p (docs/models/bgnbd.md).
"""

from __future__ import annotations

import numpy as np

from clv.errors import DataError
from clv.lazy import LazyModule
from clv.models.special import softplus

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

# Whole-lifetime discounted purchases (BetaGeoModel.discounted_lifetime_purchases): trapezoid rules in
# log-scale variables. Grids are cut where the integrand's envelope has fallen by e^-40 (~4e-18) from its
# top; steps are at most 0.25 and at most 0.6 of the width of the log-scale distribution (the rules'
# error is then ~1e-11 relative; tests compare with halved steps).
_LIFETIME_DROP = 40.0
_LIFETIME_MAX_STEP = 0.25
_LIFETIME_STEP_PER_WIDTH = 0.6
# Distributions whose shape parameters (a, b+x or r+x) reach this have tails beyond the cuts below e^-36.
_LIFETIME_LIGHT_TAILS = 10.0
# (row, lattice point) elements per block of the per-row sums.
_LIFETIME_ROW_ELEMENTS = 1 << 20


def checked_lifetime_step(step: float, step_factor: float) -> tuple[float, float]:
    """(step, -log q) after checking 0 < step < inf and 0 < q < 1."""
    s, q = float(step), float(step_factor)
    if not (np.isfinite(s) and s > 0):
        raise DataError(f"step must be a positive number of time units (of the data), got {step!r}.")
    if not (0.0 < q < 1.0):
        raise DataError(
            f"step_factor must be in (0, 1) (e.g. 1.1 ** (-1/12) for monthly steps at 10% a year), "
            f"got {step_factor!r}."
        )
    return s, -np.log(q)


def lifetime_given_alive(x, T, r, alpha, a, beta0, step, log_discount) -> np.ndarray:
    """E[q (1 - e^-c) / (p (1 - q e^-c))] per row, c = lambda p step, q = e^-log_discount,
    lambda ~ Gamma(r+x, rate alpha+T), p ~ Beta(a, beta0+x).

    With u = lambda (alpha+T) ~ Gamma(r+x, 1) and K = step/(alpha+T) the
    integrand is ``h(c)/p``, ``h(c) = q (1-e^-c)/(1 - q e^-c)``, c = u p K.
    Trapezoid rules in w = log u and v = logit p converge geometrically for
    integrands analytic in a strip and decaying in both directions; to make
    the p-integrand decay at both ends, ``G(p) = E_u[h(c)]/p`` is split as
    ``(G - S0 - S1) + S0 + S1`` with ``S1 = G(1) p`` and
    ``S0 = C0 (1-p)^n``, ``C0 = G(0+) = K (r+x) q/(1-q)``: the remainder
    vanishes at p = 0 and 1 and the expectations of S0 (``C0 B(a, beta+n)/B(a, beta)``)
    and S1 are exact (needed only when a or beta is small: heavy tails in v).
    ``n = max(1, (r+x) K / -log q)`` puts S0's fall where G falls
    (c ~ -log q), so S0 never dwarfs the result.

    The v-nodes p_j and their weights depend on x only. For each p_j the
    w-nodes are shifted to ``w = m h - log p_j`` so that ``log c = m h + log K``
    lies on one lattice: the double sum folds, per distinct x, into one
    weight per lattice point (``_lifetime_lattice``), and each row (x, T)
    costs one h(c) per lattice point (``_lifetime_lattice_sum``). Rows are
    grouped by x (a loop over distinct x, not over rows).
    """
    out = np.empty(x.shape[0])
    if out.shape[0] == 0:
        return out
    xs, inverse = np.unique(x, return_inverse=True)
    shape, beta = r + xs, beta0 + xs
    v_lo, v_hi = _lifetime_cut_points(
        lambda v: -(a + 1.0) * softplus(-v) - (beta + 1.0) * softplus(v), np.log((a + 1.0) / (beta + 1.0))
    )
    w_lo, w_hi = _lifetime_cut_points(lambda w: (shape + 1.0) * w - np.exp(w), np.log(shape + 1.0))
    h_v = np.minimum(_LIFETIME_MAX_STEP, _LIFETIME_STEP_PER_WIDTH * np.sqrt(special.polygamma(1, a + 1.0) + special.polygamma(1, beta + 1.0)))
    h_w = np.minimum(_LIFETIME_MAX_STEP, _LIFETIME_STEP_PER_WIDTH * np.sqrt(special.polygamma(1, shape + 1.0)))
    slope = np.exp(-log_discount) / -np.expm1(-log_discount)  # h'(0) = q/(1-q)
    order = np.argsort(inverse, kind="stable")
    ends = np.cumsum(np.bincount(inverse, minlength=xs.shape[0]))
    for i, rows in enumerate(np.split(order, ends[:-1])):
        lattice, weights, p_weights, log_1mp = _lifetime_lattice(
            shape[i], a, beta[i], (v_lo[i], v_hi[i], h_v[i]), (w_lo[i], w_hi[i], h_w[i])
        )
        log_scale = np.log(step) - np.log(alpha + T[rows])  # log K
        out[rows] = _lifetime_lattice_sum(lattice, weights, log_scale, log_discount)
        if p_weights is not None:  # S0: E[S0] minus its trapezoid
            scale = np.exp(log_scale)
            power = np.maximum(1.0, shape[i] * scale / log_discount)
            exact = np.exp(special.betaln(a, beta[i] + power) - special.betaln(a, beta[i]))
            trapezoid = np.exp(power[:, None] * log_1mp[None, :]) @ p_weights
            out[rows] += slope * shape[i] * scale * (exact - trapezoid)
    return out


def _lifetime_cut_points(log_envelope, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the unimodal ``log_envelope`` has fallen ``_LIFETIME_DROP`` below its top at ``mode``: (left, right).

    Vectorised over ``mode`` (and the envelope's parameters): doubling, then bisection.
    """
    top = log_envelope(mode)
    cuts = []
    for sign in (-1.0, 1.0):
        far = np.ones_like(mode)
        for _ in range(64):
            short = top - log_envelope(mode + sign * far) < _LIFETIME_DROP
            if not short.any():
                break
            far = np.where(short, 2.0 * far, far)
        near = np.zeros_like(mode)
        for _ in range(48):
            middle = 0.5 * (near + far)
            short = top - log_envelope(mode + sign * middle) < _LIFETIME_DROP
            near, far = np.where(short, middle, near), np.where(short, far, middle)
        cuts.append(mode + sign * far)
    return cuts[0], cuts[1]


def _lifetime_lattice(shape, a, beta, v_grid, w_grid):
    """Per distinct x: (lattice log c - log K, its weights, the p-nodes' weights, their log(1-p)).

    v-nodes ``v_k = v* + k h_v`` in [v_lo, v_hi] (v* = log(a/beta), the mode)
    with weights h_v Beta density in v (``p^a (1-p)^beta / B(a, beta)``); node
    p = 1 added with weight ``E[p] - sum_k W_k p_k`` (S1 of
    :func:`lifetime_given_alive`). For node k the u-integral is a trapezoid
    over ``w = m h_w - log p_k`` in [w_lo, w_hi] with weights h_w Gamma
    density in w (``e^(shape w - e^w) / Gamma(shape)``), times 1/p_k; the
    weights are summed per lattice point m. Densities are taken relative to
    their modes (:func:`_log_beta_density_in_logit`, :func:`_log_gamma_density_in_log`).
    With narrow distributions (a, beta or shape >= ``_LIFETIME_LIGHT_TAILS``)
    the mass beyond the cuts is below e^-36, the weights are normalised to sum
    to 1 (the normalising constants of such large parameters lose digits) and
    no tail terms are needed (the p weights returned are then None).
    """
    (v_lo, v_hi, h_v), (w_lo, w_hi, h_w) = v_grid, w_grid
    v_mode = np.log(a) - np.log(beta)
    offset = np.arange(np.ceil((v_lo - v_mode) / h_v), np.floor((v_hi - v_mode) / h_v) + 1.0) * h_v
    v = v_mode + offset
    log_p, log_1mp = -softplus(-v), -softplus(v)
    light_p = min(a, beta) >= _LIFETIME_LIGHT_TAILS
    p_weights = h_v * np.exp(_log_beta_density_in_logit(offset, v_mode, a, beta, normalised=not light_p))
    p = np.exp(log_p)
    if light_p:
        p_weights /= p_weights.sum()
        node_log_p, node_weight = log_p, p_weights / p
    else:
        node_log_p = np.append(log_p, 0.0)
        node_weight = np.append(p_weights / p, a / (a + beta) - p_weights @ p)
    first = np.ceil((w_lo + node_log_p) / h_w).astype(np.int64)
    counts = np.maximum(np.floor((w_hi + node_log_p) / h_w).astype(np.int64) - first + 1, 0)
    node = np.repeat(np.arange(node_log_p.shape[0]), counts)
    m = np.arange(counts.sum()) + np.repeat(first - (np.cumsum(counts) - counts), counts)
    w = m * h_w - node_log_p[node]
    light_u = shape >= _LIFETIME_LIGHT_TAILS
    density = h_w * np.exp(_log_gamma_density_in_log(w - np.log(shape), shape, normalised=not light_u))
    if light_u:
        density /= np.bincount(node, density, minlength=node_log_p.shape[0])[node]
    lowest = m.min()
    weights = np.bincount(m - lowest, weights=node_weight[node] * density)
    lattice = (lowest + np.arange(weights.shape[0])) * h_w
    return lattice, weights, (None if light_p else p_weights), log_1mp


def _log_beta_density_in_logit(offset, v_mode, a, beta, *, normalised: bool) -> np.ndarray:
    """log of the density of v = logit(p), p ~ Beta(a, beta), at v_mode + offset (v_mode = log(a/beta)).

    ``a (log p - log p*) + beta (log(1-p) - log(1-p*))`` with the differences
    computed as log1p(expit(-v*) expm1(-offset)) etc. (accurate for a, beta
    in the billions, where a log p alone would lose the result's digits);
    plus ``a log p* + beta log(1-p*) - log B(a, beta)`` if ``normalised``.
    """
    relative = (-a * np.log1p(special.expit(-v_mode) * np.expm1(-offset))
                - beta * np.log1p(special.expit(v_mode) * np.expm1(offset)))
    if normalised:
        relative += -a * softplus(-v_mode) - beta * softplus(v_mode) - special.betaln(a, beta)
    return relative


def _log_gamma_density_in_log(offset, shape, *, normalised: bool) -> np.ndarray:
    """log of the density of w = log u, u ~ Gamma(shape, 1), at log(shape) + offset.

    ``-shape (expm1(offset) - offset)`` relative to the mode; plus
    ``shape log(shape) - shape - log Gamma(shape)`` if ``normalised``.
    """
    relative = -shape * (np.expm1(offset) - offset)
    if normalised:
        relative += shape * np.log(shape) - shape - special.gammaln(shape)
    return relative


def _lifetime_lattice_sum(lattice, weights, log_scale, log_discount) -> np.ndarray:
    """sum_m weights_m h(exp(lattice_m + log K)) per row, h(c) = q (1-e^-c)/(1 - q e^-c) via expm1."""
    out = np.empty(log_scale.shape[0])
    q = np.exp(-log_discount)
    block = max(1, _LIFETIME_ROW_ELEMENTS // lattice.shape[0])
    for start in range(0, log_scale.shape[0], block):
        c = np.exp(lattice[None, :] + log_scale[start:start + block, None])
        values = np.expm1(-c)
        values /= np.expm1(-log_discount - c)
        out[start:start + block] = values @ weights
    out *= q
    return out
