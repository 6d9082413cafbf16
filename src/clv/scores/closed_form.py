"""Closed-form predictive distribution of future purchases for the BG/NBD family.

Given that a customer with history ``(x, t_x, T)`` is alive at ``T``, the BG/NBD
posterior of the traits is ``lambda ~ Gamma(r + x, alpha + T)`` and ``p ~ Beta(a,
b + x + s)`` (``s`` = 1 for MBG/NBD, 0 for BG/NBD), independent, and the number of
purchases in ``(T, T + t]`` is ``Y = min(K, N)`` with ``K ~ Poisson(lambda t)`` and
``N ~ Geometric(p)`` on {1, 2, ...} (the purchase after which the customer drops
out). Integrating, with ``K ~ NegBin(r + x, P0 = (alpha+T)/(alpha+T+t))`` and
``c_n = E[(1-p)^n] = B(a, beta + n) / B(a, beta)`` (``beta = b + x + s``)::

    P(Y = 0 | alive) = P(K = 0)
    P(Y = n | alive) = c_{n-1} [ P(K = n) + a / (a + beta + n - 1) * P(K > n) ],   n >= 1

(the conditional version of Fader, Hardie & Lee 2005, eq. 8). The predictive
distribution of a history is then ``P(Y > n) = P(alive | x, t_x, T) * P(Y > n | alive)``,
so one table per distinct ``(x, T)`` serves every recency, and a quantile needs
no simulation: ``q_u = #{n : P(Y > n) > 1 - u}``.

Parameter uncertainty is added by averaging the tail over parameter draws
(``model.sample_params``): ``P(Y > n | history) ~ mean_d P_d(alive | history)
P_d(Y > n | alive)``. We hold the ratio ``P_d(alive | history) / P_d(alive | x, T, T)``
at the point estimate (it cancels exactly for one-time buyers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

CLOSED_FORM_MODELS = frozenset({"bgnbd", "mbgnbd"})
TAIL_EPSILON = 1e-7  # tables stop once the tail probability is below this


def dropout_shift(model) -> int:
    """``s``: 1 if the model lets customers drop out right after the first purchase (MBG/NBD)."""
    return int(getattr(model, "_dropout_at_first_purchase", 0))


def alive_at_reference(params: np.ndarray, x: np.ndarray, s: int) -> np.ndarray:
    """P(alive | x, t_x = T, T) per (draw, group): ``1 / (1 + a / (b + x + s - 1))`` (1 when x + s = 0)."""
    a, b = params[:, 2:3], params[:, 3:4]
    beta_tail = b + x[None, :] + s - 1.0
    return np.where(x[None, :] + s >= 1, beta_tail / np.maximum(beta_tail + a, 1e-300), 1.0)


@dataclass(frozen=True)
class TailTable:
    """Per group g, the mixture tail ``S_g(n) = P(Y > n)`` at the reference row, n = 0, 1, ...

    Stored flat, sorted by group then n, with ``key = g + (1 - S) / 2`` increasing,
    so counting entries with ``S > c`` in a group is one ``searchsorted``.
    """

    keys: np.ndarray
    starts: np.ndarray  # starts[g] .. starts[g+1]

    def count_above(self, group: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        """``#{n : S_group(n) > threshold}``: the inverse-CDF quantile / the draw for a uniform ``threshold``."""
        query = group + (1.0 - np.clip(threshold, 0.0, 1.0)) / 2.0
        return np.searchsorted(self.keys, query, side="left") - self.starts[group]


def reference_tails(param_draws: np.ndarray, x: np.ndarray, T: np.ndarray, horizon: float, s: int) -> TailTable:
    """Tail tables of the predictive distribution at the reference rows ``(x, T, T)``, mixed over draws.

    ``param_draws`` is (D, 4) in (r, alpha, a, b) order; ``x, T`` per group, in
    the model's time unit like ``horizon``.
    """
    r, alpha, a, b = (param_draws[:, j:j + 1] for j in range(4))
    shape = r + x[None, :]
    log_p0 = np.log(alpha + T[None, :]) - np.log(alpha + T[None, :] + horizon)
    log_q1 = np.log(horizon) - np.log(alpha + T[None, :] + horizon)
    beta = b + x[None, :] + s
    alive = alive_at_reference(param_draws, x, s)
    groups, values, counts = [], [], np.zeros(x.shape[0], dtype=np.int64)
    active = np.arange(x.shape[0])
    nb_cdf = np.zeros_like(shape)
    stay = np.ones_like(shape)  # c_{n-1}
    tail_alive = np.ones_like(shape)
    n = 0
    while active.size:
        log_pmf = (gammaln(shape[:, active] + n) - gammaln(shape[:, active]) - gammaln(n + 1.0)
                   + shape[:, active] * log_p0[:, active] + n * log_q1[:, active])
        pmf = np.exp(log_pmf)
        nb_cdf[:, active] += pmf
        if n == 0:
            mass = pmf
        else:
            drop = a / (a + beta[:, active] + n - 1.0)
            mass = stay[:, active] * (pmf + drop * np.clip(1.0 - nb_cdf[:, active], 0.0, 1.0))
            stay[:, active] *= (beta[:, active] + n - 1.0) / (a + beta[:, active] + n - 1.0)
        tail_alive[:, active] = np.clip(tail_alive[:, active] - mass, 0.0, 1.0)
        tail = np.mean(alive[:, active] * tail_alive[:, active], axis=0)
        groups.append(active)
        values.append(tail)
        counts[active] += 1
        active = active[tail > TAIL_EPSILON]
        n += 1
    group_ids = np.concatenate(groups)
    tails = np.concatenate(values)
    order = np.argsort(group_ids, kind="stable")  # rounds were appended in n order
    keys = group_ids[order] + (1.0 - tails[order]) / 2.0
    starts = np.concatenate(([0], np.cumsum(counts)))
    return TailTable(keys, starts)
