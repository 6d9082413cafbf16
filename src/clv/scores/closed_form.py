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

from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from clv.lazy import LazyModule
from clv.models.contract import purchase_capabilities

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

TAIL_EPSILON = 1e-6  # tables stop once the tail probability is below this
PARAMETER_DRAWS = 16  # parameter draws mixed into the tail tables (see docs/scoring.md)
TAIL_BLOCK = 4096  # groups whose tail tables are built together


def dropout_shift(model) -> int:
    """``s``: 1 if the model lets customers drop out right after the first purchase (MBG/NBD)."""
    return purchase_capabilities(model).dropout_at_first_purchase


def alive_at_reference(params: np.ndarray, x: np.ndarray, T: np.ndarray, s: int) -> np.ndarray:
    """P(alive | x, T*, T) per (draw, group) at the reference recency ``T* = T`` (0 when x = 0).

    ``1 / (1 + a / (b + x + s - 1) ((alpha + T) / (alpha + T*))^(r + x))`` when
    ``x + s >= 1``, else 1 (FHL 2005 eq. 11; Batislam et al. 2007 for MBG/NBD).
    """
    r, alpha, a, b = (params[:, j:j + 1] for j in range(4))
    reference = np.where(x > 0, T, 0.0)[None, :]
    has_dropout_term = (x + s >= 1)[None, :]
    beta_tail = np.where(has_dropout_term, b + x[None, :] + s - 1.0, 1.0)
    log_odds_dead = (np.log(a) - np.log(beta_tail)
                     + (r + x[None, :]) * (np.log(alpha + T[None, :]) - np.log(alpha + reference)))
    return np.where(has_dropout_term, special.expit(-log_odds_dead), 1.0)


def _clip_unit(values: np.ndarray) -> None:
    """``np.clip(values, 0, 1)`` in place (NaN stays NaN), without np.clip's per-call overhead."""
    np.maximum(values, 0.0, out=values)
    np.minimum(values, 1.0, out=values)


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

    def count_above_per_row(self, group: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """``count_above`` for a (rows, k) array of thresholds, row ``i`` of group ``group[i]``.

        ``thresholds`` must be a fresh array: it is overwritten with the queries.
        Rows sorted by group make the search cache-friendly.
        """
        query = _queries_in_place(group, thresholds)
        counts = np.searchsorted(self.keys, query.ravel(), side="left").reshape(query.shape)
        counts -= self.starts[group][:, None]
        return counts

    def count_above_sorted_draws(self, uniforms: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
        """``count_above`` for a (groups, draws) array of uniforms in [0, 1], each row sorted descending.

        Same result as ``count_above(group of the row, uniform)``, but the queries
        ``g + (1 - u) / 2`` are then sorted, so the table keys are placed among
        the queries instead (one search per table entry, not per query): the
        number of keys below query ``j`` is the number of keys whose place among
        the queries is at most ``j``. ``overwrite=True`` builds the queries in
        ``uniforms`` (C-contiguous) instead of a copy.
        """
        n_groups, n_draws = uniforms.shape
        query = np.ascontiguousarray(uniforms) if overwrite else np.array(uniforms)
        query = _queries_in_place(np.arange(n_groups), query)
        places = np.searchsorted(query.ravel(), self.keys, side="right")
        below = np.bincount(places, minlength=query.size + 1)[:-1]
        np.cumsum(below, out=below)
        below = below.reshape(n_groups, n_draws)
        below -= self.starts[:n_groups, None]
        return below


def _queries_in_place(group: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The keys ``g + (1 - c) / 2`` of thresholds ``c`` (clipped to [0, 1]) of row groups ``g``, in ``thresholds``."""
    np.clip(thresholds, 0.0, 1.0, out=thresholds)
    np.subtract(1.0, thresholds, out=thresholds)
    thresholds /= 2.0
    thresholds += group[:, None]
    return thresholds


def reference_tails(param_draws: np.ndarray, x: np.ndarray, T: np.ndarray, horizon: float, s: int,
                    executor: Executor | None = None) -> TailTable:
    """Tail tables of the predictive distribution at the reference rows ``(x, T, T)``, mixed over draws.

    ``param_draws`` is (D, 4) in (r, alpha, a, b) order; ``x, T`` per group, in
    the model's time unit like ``horizon``. Groups are taken in blocks of
    ``TAIL_BLOCK`` (a block's state stays in the CPU cache); ``executor``, when
    given, computes every other block meanwhile (the tables do not depend on it).
    """
    firsts = range(0, x.shape[0], TAIL_BLOCK)

    def block(first: int):
        part = slice(first, first + TAIL_BLOCK)
        return _block_tails(param_draws, x[part], T[part], horizon, s, first)

    elsewhere = {first: executor.submit(block, first) for first in firsts[1::2]} if executor is not None else {}
    here = {first: block(first) for first in firsts if first not in elsewhere}
    blocks = [here[first] if first in here else elsewhere[first].result() for first in firsts]
    group_ids = np.concatenate([ids for ids, _ in blocks]) if blocks else np.zeros(0, dtype=np.intp)
    tails = np.concatenate([values for _, values in blocks]) if blocks else np.zeros(0)
    order = np.argsort(group_ids, kind="stable")  # rounds were appended in n order
    keys = group_ids[order] + (1.0 - tails[order]) / 2.0
    starts = np.concatenate(([0], np.cumsum(np.bincount(group_ids, minlength=x.shape[0]))))
    return TailTable(keys, starts)


def _block_tails(param_draws: np.ndarray, x: np.ndarray, T: np.ndarray, horizon: float, s: int, first_group: int):
    """Group ids (from ``first_group``) and tail values ``S_g(n)``, n = 0, 1, ..., of one block of groups.

    Rounds n = 0, 1, ... run on the groups whose tail is still above
    ``TAIL_EPSILON`` (state arrays are compacted as groups finish).
    """
    r, alpha, a, b = (param_draws[None, :, j] for j in range(4))
    group = np.arange(first_group, first_group + x.shape[0])
    shape = r + x[:, None]
    log_p0 = np.log(alpha + T[:, None]) - np.log(alpha + T[:, None] + horizon)
    log_q1 = np.log(horizon) - np.log(alpha + T[:, None] + horizon)
    beta = b + x[:, None] + s
    alive = alive_at_reference(param_draws, x, T, s).T
    nb_cdf = np.zeros_like(shape)
    stay = np.ones_like(shape)  # c_{n-1}
    tail_alive = np.ones_like(shape)
    a = np.array(np.broadcast_to(a, shape.shape))
    log_pmf = shape * log_p0
    groups, values = [], []
    open_rows = np.ones(group.shape[0], dtype=bool)  # rows whose tail is still above TAIL_EPSILON
    n = 0
    while group.size:
        # In place, on buffers allocated once per block.
        if n == 0:
            pmf = np.exp(log_pmf)
            mass = pmf.copy()
            work = np.empty_like(pmf)
        else:
            # log P(K = n) by the recurrence P(K = n) = P(K = n-1) (shape + n - 1) / n * (1 - P0), in logs (no underflow).
            np.add(shape, n - 1.0, out=work)
            np.log(work, out=work)
            np.subtract(log_q1, np.log(n), out=mass)
            work += mass
            log_pmf += work
            np.exp(log_pmf, out=pmf)
        nb_cdf += pmf
        if n > 0:
            # mass = c_{n-1} (P(K = n) + a / (a + beta + n - 1) P(K > n)); then c_n = c_{n-1} (beta + n - 1) / (a + beta + n - 1)
            scale = np.add(a, beta, out=work)
            scale += n - 1.0
            np.subtract(1.0, nb_cdf, out=mass)
            _clip_unit(mass)
            mass *= np.divide(a, scale)
            mass += pmf
            mass *= stay
            stay *= np.divide(np.add(beta, n - 1.0), scale, out=scale)
        tail_alive -= mass
        _clip_unit(tail_alive)
        tail = np.multiply(alive, tail_alive, out=work).sum(axis=1)
        tail /= alive.shape[1]  # the mean over parameter draws
        groups.append(group[open_rows])
        values.append(tail[open_rows])
        open_rows &= tail > TAIL_EPSILON
        if open_rows.mean() < 0.7:  # compact the state now and then, not every round
            group, shape, log_pmf, log_q1, beta, alive, nb_cdf, stay, tail_alive, a, pmf, mass, work = (
                v[open_rows] for v in (group, shape, log_pmf, log_q1, beta, alive, nb_cdf, stay, tail_alive, a,
                                       pmf, mass, work)
            )
            open_rows = np.ones(group.shape[0], dtype=bool)
        n += 1
    return np.concatenate(groups), np.concatenate(values)
