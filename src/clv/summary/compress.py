"""Compressed sufficient statistics: identical rows kept once, with a weight.

Every model likelihood in ``clv`` depends on a customer only through a few
numbers (e.g. frequency, recency, T), so customers with the same numbers
contribute identical terms. Fitting and scoring on the distinct rows, each
weighted by how many customers share it, makes the cost grow with the number of
distinct histories instead of the number of customers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Compressed:
    """Distinct rows of some columns, their weights, and the map back.

    ``columns[name][inverse]`` reproduces the original column.
    """

    columns: dict[str, np.ndarray]
    weights: np.ndarray
    inverse: np.ndarray

    @property
    def n_distinct(self) -> int:
        return int(self.weights.shape[0])

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Map per-distinct-row values back to the original rows."""
        return np.asarray(values)[self.inverse]


def compress(columns: Mapping[str, np.ndarray], weights: np.ndarray | None = None) -> Compressed:
    """Group identical rows of ``columns`` and add up their ``weights`` (default 1).

    Uses a hash-based grouping (pandas factorisation), so it runs in linear time.
    """
    names = list(columns)
    arrays = [np.asarray(columns[name]) for name in names]
    n = arrays[0].shape[0]
    if weights is None:
        weights = np.ones(n, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if n == 0:
        return Compressed({k: a[:0] for k, a in zip(names, arrays)}, weights[:0], np.zeros(0, dtype=np.intp))
    inverse = _row_codes(arrays)
    n_groups = int(inverse.max()) + 1
    # Codes number the groups by first appearance, so a row opens a new group
    # exactly when its code exceeds every code before it.
    seen_before = np.maximum.accumulate(np.concatenate(([-1], inverse[:-1])))
    first = np.flatnonzero(inverse > seen_before)
    distinct = {name: a[first] for name, a in zip(names, arrays)}
    summed = np.bincount(inverse, weights=weights, minlength=n_groups)
    return Compressed(distinct, summed, inverse)


def _row_codes(arrays: list[np.ndarray]) -> np.ndarray:
    """Group ids of the rows, numbered by first appearance (hash factorisation).

    Each column is factorised on its own and the codes are combined into one
    integer key, factorised again: a few linear passes instead of a multi-column
    group-by.
    """
    key = np.zeros(arrays[0].shape[0], dtype=np.int64)
    span = 1
    for array in arrays:
        codes, uniques = pd.factorize(array, use_na_sentinel=False)
        if span * len(uniques) >= 2**62:  # the combined key would overflow: re-number first
            key, _ = pd.factorize(key)
            span = int(key.max()) + 1
        key = key * len(uniques) + codes
        span *= len(uniques)
    inverse, _ = pd.factorize(key)
    return inverse.astype(np.intp, copy=False)


def apply_on_distinct(function: Callable[..., np.ndarray], **columns: np.ndarray) -> np.ndarray:
    """Evaluate ``function(**columns)`` once per distinct row and map back.

    Scoring millions of customers this way costs as much as scoring their
    distinct histories.
    """
    arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in columns.items()}
    packed = compress(arrays)
    if packed.n_distinct == 0:
        return np.zeros(0)
    if packed.n_distinct > 0.7 * packed.inverse.shape[0]:
        return np.asarray(function(**arrays))
    return packed.expand(function(**packed.columns))
