"""Random draws keyed by row: each row's draws depend only on its key, the run seed and a counter.

Why
---
The prediction intervals (:mod:`clv.scores.intervals`) draw per distinct history. Drawn
from one sequential generator, a history's draws depended on how many histories came
before it, so scoring the same customers in chunks, in another order or on another
engine's partitions changed their intervals (issue 16: scoring in 4 chunks moved median
CLV bounds by 15-38%). Here the draws of a row are a function of (its key, the run seed,
the draw index, the call index) only: any partitioning or order gives the same draws.

How (a counter-based generator, vectorised)
------------------------------------------
* key: the row's values (e.g. the history ``(x, t_x, T)`` in the model's unit) hashed
  with SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
  generators", OOPSLA) over their float64 bits, mixed with the hashed run seed
  (:func:`row_keys`);
* the ``c``-th uniform of draw ``d`` of a row: ``splitmix64(key + (d 2^32 + c + 1) G)``
  with ``G`` the golden-ratio increment 0x9E3779B97F4A7C15, i.e. the SplitMix64
  sequence started at the key, read at a counter (as in Salmon et al. 2011, "Parallel
  random numbers: as easy as 1, 2, 3", SC'11, counter-based generation); its top 53
  bits give ``u = (k + 1/2) 2^-53`` in (0, 1);
* other distributions from uniforms by exact transforms: inverse CDFs (normal: ``ndtri``;
  exponential: ``-log u``; Poisson and binomial: the quantile functions through
  ``pdtrik`` / ``bdtrik`` with the integer check of ``scipy.stats``, and a vectorised
  CDF search for small Poisson means), Gamma by Marsaglia & Tsang's (2000, "A simple
  method for generating gamma variables", ACM TOMS 26(3)) rejection method with a fixed
  budget of rounds per call (rows still rejected after them, probability < 1e-20, take
  ``gammaincinv``), shape < 1 by ``Gamma(a + 1) U^(1/a)``; Beta as ``G_a / (G_a + G_b)``.

:class:`KeyedGenerator` offers these with :class:`numpy.random.Generator`'s method names,
so the models' own samplers (``sample_future_purchases``) use it unchanged: every call
there draws one value per row, vectorised, in a fixed order.
"""

from __future__ import annotations

import numpy as np
from scipy import special

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
SLOTS_PER_CALL = 64  # counters a call may use (Gamma: 2 per rejection round)
_GAMMA_ROUNDS = (SLOTS_PER_CALL - 2) // 2
_SMALL_POISSON_MEAN = 12.0  # below it the Poisson quantile is found by a CDF search


def splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of uint64 values (a bijection with full avalanche), vectorised.

    ``z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31``.
    """
    z = np.array(values, dtype=np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
    z ^= z >> np.uint64(31)
    return z


def seed_key(seed: int | None) -> np.uint64:
    """The run seed as a 64-bit key (None counts as 0: the scores are always reproducible)."""
    value = 0 if seed is None else int(seed)
    return splitmix64(np.array([value & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]


def row_keys(columns, seed: int | None) -> np.ndarray:
    """One 64-bit key per row from the float64 values of ``columns`` and the run seed.

    Parameters
    ----------
    columns : sequence of array-like
        Equal-length columns, read as float64 (-0.0 counts as 0.0).
    seed : int or None
        The run seed.

    Returns
    -------
    numpy.ndarray of uint64
    """
    key = None
    for column in columns:
        values = np.asarray(column, dtype=np.float64) + 0.0  # -0.0 + 0.0 == +0.0: equal values, equal bits
        bits = values.view(np.uint64)
        key = np.full(bits.shape, seed_key(seed), dtype=np.uint64) if key is None else key
        with np.errstate(over="ignore"):
            key = splitmix64(key ^ bits) + GOLDEN
    if key is None:
        raise ValueError("row_keys needs at least one column")
    return splitmix64(key)


def keyed_uniforms(keys: np.ndarray, counters) -> np.ndarray:
    """Uniforms in (0, 1): ``u[i, j] = top53(splitmix64(keys[i] + (counters[j] + 1) G)) + 1/2, times 2^-53``.

    ``counters`` a scalar gives one uniform per key (shape of ``keys``); an array gives
    ``keys.shape + counters.shape``.
    """
    counters = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        steps = (counters + np.uint64(1)) * GOLDEN
        state = keys.reshape(keys.shape + (1,) * steps.ndim) + steps
    bits = splitmix64(state) >> np.uint64(11)
    out = bits.astype(np.float64)
    out += 0.5
    out *= 2.0 ** -53
    return out


class KeyedGenerator(np.random.Generator):
    """A :class:`numpy.random.Generator` whose draws for row i depend only on ``keys[i]``, the draw and the call.

    Every method returns one value per key (shape ``keys.shape``), the distribution's
    parameters broadcast to it; each call takes the next block of
    :data:`SLOTS_PER_CALL` counters of draw ``draw``. Use one instance per draw.
    ``np.random.default_rng`` passes it through unchanged, so the models' samplers
    accept it as ``rng``.

    Parameters
    ----------
    keys : numpy.ndarray of uint64
        One key per row (:func:`row_keys`).
    draw : int
        The draw index (the Monte Carlo replicate).
    """

    def __init__(self, keys: np.ndarray, draw: int):
        super().__init__(np.random.PCG64(0))  # never used: every method below is overridden
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.draw = int(draw)
        self.calls = 0

    # ---- uniforms ----------------------------------------------------------------------------------
    def _next_call(self) -> int:
        self.calls += 1
        return self.calls - 1

    def _uniform(self, call: int, slot: int, rows=None) -> np.ndarray:
        keys = self.keys if rows is None else self.keys[rows]
        counter = np.uint64((self.draw << 32) + call * SLOTS_PER_CALL + slot)
        return keyed_uniforms(keys, counter)

    def _shape(self, size, *parameters) -> tuple:
        shape = np.broadcast_shapes(*(np.shape(p) for p in parameters)) if size is None else (
            (int(size),) if np.ndim(size) == 0 else tuple(int(s) for s in size))
        if shape not in ((), self.keys.shape):
            raise ValueError(f"KeyedGenerator draws one value per key ({self.keys.shape}), asked for shape {shape}")
        return self.keys.shape

    def _param(self, value, shape) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)

    # ---- numpy.random.Generator's methods used by the samplers --------------------------------------
    def random(self, size=None, dtype=np.float64, out=None):
        self._shape(size)
        return self._uniform(self._next_call(), 0)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        self._shape(size)
        return special.ndtri(self._uniform(self._next_call(), 0))

    def standard_exponential(self, size=None, dtype=np.float64, method="zig", out=None):
        self._shape(size)
        return -np.log(self._uniform(self._next_call(), 0))

    def exponential(self, scale=1.0, size=None):
        shape = self._shape(size, scale)
        return -np.log(self._uniform(self._next_call(), 0)) * self._param(scale, shape)

    def standard_gamma(self, shape, size=None, dtype=np.float64, out=None):
        return self.gamma(shape, 1.0, size)

    def gamma(self, shape, scale=1.0, size=None):
        """Gamma(shape, scale) per row: Marsaglia-Tsang on ``shape + 1`` below 1 (times ``U^(1/shape)``)."""
        out_shape = self._shape(size, shape, scale)
        a = self._param(shape, out_shape)
        call = self._next_call()
        small = a < 1.0
        boosted = np.where(small, a + 1.0, a)
        draws = self._marsaglia_tsang(boosted, call)
        with np.errstate(divide="ignore"):
            power = np.where(small, 1.0 / np.where(a > 0, a, 1.0), 0.0)
        draws = np.where(small, draws * self._uniform(call, SLOTS_PER_CALL - 1) ** power, draws)
        draws = np.where(a > 0, draws, 0.0)  # numpy: shape 0 gives 0
        draws[np.isnan(a)] = np.nan
        return draws * self._param(scale, out_shape)

    def _marsaglia_tsang(self, a: np.ndarray, call: int) -> np.ndarray:
        """Gamma(a, 1) for a >= 1 (other rows: anything finite), rejection rounds on the row's own counters."""
        d = a - 1.0 / 3.0
        c = 1.0 / np.sqrt(9.0 * np.where(np.isfinite(d) & (d > 0), d, 1.0))
        out = np.full(a.shape, np.nan)
        pending = np.flatnonzero(np.isfinite(a))
        for round_ in range(_GAMMA_ROUNDS):
            if pending.size == 0:
                break
            z = special.ndtri(self._uniform(call, 2 * round_, pending))
            u = self._uniform(call, 2 * round_ + 1, pending)
            v = (1.0 + c[pending] * z) ** 3
            dp = d[pending]
            with np.errstate(divide="ignore", invalid="ignore"):
                accept = (v > 0) & (np.log(u) < 0.5 * z * z + dp - dp * v + dp * np.log(np.where(v > 0, v, 1.0)))
            out[pending[accept]] = dp[accept] * v[accept]
            pending = pending[~accept]
        if pending.size:  # probability < 0.05^31 per row
            out[pending] = special.gammaincinv(a[pending], self._uniform(call, SLOTS_PER_CALL - 2, pending))
        return out

    def beta(self, a, b, size=None):
        """Beta(a, b) = G_a / (G_a + G_b), two Gamma calls."""
        shape = self._shape(size, a, b)
        ga = self.gamma(self._param(a, shape), 1.0)
        gb = self.gamma(self._param(b, shape), 1.0)
        with np.errstate(invalid="ignore"):
            return ga / (ga + gb)

    def poisson(self, lam=1.0, size=None):
        """Poisson(lam) by inversion: ``min{k : P(N <= k) >= u}`` (int64, like numpy's)."""
        shape = self._shape(size, lam)
        mean = self._param(lam, shape)
        u = self._uniform(self._next_call(), 0)
        return poisson_quantile(u, mean).astype(np.int64)

    def binomial(self, n, p, size=None):
        """Binomial(n, p) by inversion (``scipy.special.bdtrik`` and the integer check)."""
        shape = self._shape(size, n, p)
        trials, prob = self._param(n, shape), self._param(p, shape)
        u = self._uniform(self._next_call(), 0)
        return binomial_quantile(u, trials, prob).astype(np.int64)


def poisson_quantile(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``min{k >= 0 : P(N <= k) >= u}`` for N ~ Poisson(mean), vectorised.

    Small means: a CDF search (``pmf(k+1) = pmf(k) mean / (k + 1)``) over the rows still
    above their CDF; other rows (and the rare long searches): ``ceil(pdtrik(u, mean))``
    checked one step down with ``pdtr`` (as ``scipy.stats.poisson.ppf``).
    """
    out = np.zeros(u.shape)
    small = np.flatnonzero(mean < _SMALL_POISSON_MEAN)
    pmf = np.exp(-mean[small])
    cdf = pmf.copy()
    k = 0
    pending = u[small] > cdf
    while pending.any() and k < 60:
        idx = np.flatnonzero(pending)
        k += 1
        pmf[idx] *= mean[small[idx]] / k
        cdf[idx] += pmf[idx]
        out[small[idx]] = k
        pending[idx] = u[small[idx]] > cdf[idx]
    rest = np.flatnonzero(mean >= _SMALL_POISSON_MEAN)
    if pending.any():
        rest = np.concatenate([rest, small[pending]])
    if rest.size:
        out[rest] = _checked_quantile(special.pdtrik(u[rest], mean[rest]),
                                      lambda k: special.pdtr(k, mean[rest]), u[rest])
    out[mean == 0] = 0.0
    out[np.isnan(mean)] = np.nan
    return out


def binomial_quantile(u: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``min{k >= 0 : P(K <= k) >= u}`` for K ~ Binomial(n, p), vectorised (``bdtrik``, as ``scipy.stats.binom.ppf``)."""
    with np.errstate(invalid="ignore"):
        raw = special.bdtrik(u, n, p)
    out = _checked_quantile(raw, lambda k: special.bdtr(k.astype(np.int64), n.astype(np.int64), p), u)
    out = np.where(p >= 1.0, n, out)
    return np.clip(np.where((n <= 0) | (p <= 0.0), 0.0, out), 0.0, n)


def _checked_quantile(raw: np.ndarray, cdf, u: np.ndarray) -> np.ndarray:
    """``ceil(raw)``, or one less where the CDF there already reaches ``u`` (a continuous inverse's rounding)."""
    up = np.ceil(np.nan_to_num(raw, nan=0.0))
    down = np.maximum(up - 1.0, 0.0)
    return np.where(cdf(down) >= u, down, up)
