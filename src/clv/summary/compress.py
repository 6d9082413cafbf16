"""Compressed sufficient statistics: identical rows kept once, with a weight.

Every model likelihood in ``clv`` depends on a customer only through a few
numbers (e.g. frequency, recency, T), so customers with the same numbers
contribute identical terms. Fitting and scoring on the distinct rows, each
weighted by how many customers share it, makes the cost grow with the number of
distinct histories instead of the number of customers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Compressed:
    """Distinct rows of some columns, their weights, and the map back.

    ``columns[name][inverse]`` reproduces the original column.

    Parameters
    ----------
    columns : dict of str to numpy.ndarray
        The distinct rows, column by column (each distinct row once).
    weights : numpy.ndarray
        The summed weight of each distinct row (its count when the input weights were 1).
    inverse : numpy.ndarray
        For each original row, the index of its distinct row.

    See Also
    --------
    compress : Builds it.

    Examples
    --------
    >>> import numpy as np
    >>> packed = compress({"x": np.array([2, 0, 2, 0, 5]), "T": np.array([30.0, 38.0, 30.0, 38.0, 38.0])})
    >>> packed.columns["x"], packed.weights, packed.inverse
    (array([2, 0, 5]), array([2., 2., 1.]), array([0, 1, 0, 1, 2]))
    >>> packed.expand(packed.columns["x"] * 10)
    array([20,  0, 20,  0, 50])
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


# The unordered path counts every possible row key in a table while the table
# has at most this many entries per row (plus a floor): no hashing at all.
_TABLE_ROWS_PER_KEY = 4
_TABLE_MIN_KEYS = 1 << 16


def compress(
    columns: Mapping[str, np.ndarray], weights: np.ndarray | None = None, *, ordered: bool = True
) -> Compressed:
    """Group identical rows of ``columns`` and add up their ``weights`` (default 1).

    The one distinct-rows engine of ``clv`` (model fits, scoring, charts).

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        Equal-length columns; a row is the tuple of their values.
    weights : numpy.ndarray, optional
        Weight of each row (default 1: the weights are counts).
    ordered : bool, default True
        Distinct rows in order of first appearance. ``False`` lets them come in
        any order (in practice increasing column codes), which allows a faster
        path when the combined key is small: a count per possible key, no hashing.

    Returns
    -------
    Compressed
        The distinct rows (each as one of its rows), their summed weights and
        ``inverse``, the distinct row of each input row.

    Notes
    -----
    Linear time: each column is coded on its own (value - min for whole
    numbers in a narrow range, else hash factorisation, NaN equal to NaN) and
    the combined row key is hash-factorised, or counted in a table.
    """
    names = list(columns)
    arrays = [np.asarray(columns[name]) for name in names]
    n = arrays[0].shape[0]
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
    if n == 0:
        return Compressed({k: a[:0] for k, a in zip(names, arrays)}, np.zeros(0), np.zeros(0, dtype=np.intp))
    if not ordered and weights is None:
        by_table = _distinct_by_table(names, arrays)
        if by_table is not None:
            return by_table
    inverse = _row_codes(arrays)
    n_groups = int(inverse.max()) + 1
    # Codes number the groups by first appearance, so a row opens a new group
    # exactly when its code exceeds every code before it.
    opens = np.empty(n, dtype=bool)
    opens[0] = True
    np.greater(inverse[1:], np.maximum.accumulate(inverse)[:-1], out=opens[1:])
    first = np.flatnonzero(opens)
    distinct = {name: a[first] for name, a in zip(names, arrays)}
    if weights is None:  # counts: no array of ones to build
        summed = np.bincount(inverse, minlength=n_groups).astype(float)
    else:
        summed = np.bincount(inverse, weights=weights, minlength=n_groups)
    return Compressed(distinct, summed, inverse)


def _distinct_by_table(names: list[str], arrays: list[np.ndarray]) -> Compressed | None:
    """Distinct rows by counting each row key in a table of all possible keys (None when too large).

    A group's number is the rank of its key among the keys present, so the
    distinct rows come in increasing key order. The distinct values are
    decoded from the keys present when every column holds whole numbers
    (coded as value - minimum); otherwise each distinct row is read from one
    of its rows (all hold equal values).
    """
    n = arrays[0].shape[0]
    coded = []
    for array in arrays:
        offset = offset_codes(array)
        coded.append((*offset, array.min()) if offset is not None else (*_column_codes(array), None))
    size = math.prod(n_codes for _, n_codes, _ in coded)
    if size > _TABLE_ROWS_PER_KEY * n + _TABLE_MIN_KEYS:
        return None
    key = None
    for codes, n_codes, _ in coded:
        if key is None:
            key = codes.astype(np.int64, copy=False)  # a fresh array: the key is built in place
        else:
            key *= n_codes
            key += codes
    counts = np.bincount(key, minlength=size)
    present = counts > 0
    rank = np.cumsum(present) - 1
    inverse = rank[key].astype(np.intp, copy=False)
    weights = counts[present].astype(float)
    if all(low is not None and array.dtype.kind in "fi" for array, (_, _, low) in zip(arrays, coded)):
        remaining = np.flatnonzero(present)
        decoded = {}
        for name, array, (_, n_codes, low) in reversed(list(zip(names, arrays, coded))):
            remaining, codes = np.divmod(remaining, n_codes)
            decoded[name] = (codes + low).astype(array.dtype, copy=False)
        return Compressed({name: decoded[name] for name in names}, weights, inverse)
    one_row = np.empty(weights.shape[0], dtype=np.intp)
    one_row[inverse] = np.arange(n)
    return Compressed({name: a[one_row] for name, a in zip(names, arrays)}, weights, inverse)


def _row_codes(arrays: list[np.ndarray]) -> np.ndarray:
    """Group ids of the rows, numbered by first appearance.

    Each column is coded on its own (:func:`_column_codes`) and the codes are
    combined into one integer key, factorised again: a few linear passes
    instead of a multi-column group-by. The key is built and hashed as int32
    when its span allows (a smaller hash table: about a third faster).
    """
    n = arrays[0].shape[0]
    coded = [_column_codes(array) for array in arrays]
    if math.prod(n_codes for _, n_codes in coded) < 2**31:
        key = np.zeros(n, dtype=np.int32)
        for codes, n_codes in coded:
            key *= n_codes
            key += codes  # each code < n_codes: no overflow
    else:
        key = np.zeros(n, dtype=np.int64)
        span = 1
        for codes, n_codes in coded:
            if span * n_codes >= 2**62:  # the combined key would overflow: re-number first
                key, _ = pd.factorize(key, size_hint=n)
                span = int(key.max()) + 1
            key *= n_codes
            key += codes
            span *= n_codes
    inverse, _ = pd.factorize(key, size_hint=n)
    return inverse.astype(np.intp, copy=False)


def _column_codes(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes in [0, n_codes) with equal codes exactly for equal values, and n_codes.

    Whole numbers spanning a range no wider than the number of rows (counts,
    ages in days...) are coded as value - min: a few arithmetic passes, about
    three times faster than hashing. Anything else (fractions, NaN, strings,
    wide ranges) is hash-factorised (NaN equal to NaN, -0.0 equal to 0.0 in
    both).
    """
    offset = offset_codes(array)
    if offset is not None:
        return offset
    codes, uniques = pd.factorize(array, use_na_sentinel=False)
    return codes, len(uniques)


def offset_codes(array: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(value - min as int64, max - min + 1) for whole numbers in a range of at most len(array); else None.

    One new array per call: a cold process pays for every fresh page it touches.
    """
    if array.dtype.kind not in "iuf" or array.shape[0] == 0:
        return None
    low, high = array.min(), array.max()
    width = float(high) - float(low)  # in floats: no integer wrap-around for extreme int64 values
    if not (np.isfinite(width) and width <= array.shape[0]):
        return None  # NaN, inf or a wide range
    if array.dtype.kind in "iu":  # differences computed in int64 (modulo 2^64 for uint64: still exact)
        return np.subtract(array, low, dtype=np.int64, casting="unsafe"), int(width) + 1
    if max(abs(float(low)), abs(float(high))) < 2.0**62:
        codes = array.astype(np.int64)  # truncated: equal to the value exactly when it is whole
        if not np.array_equal(codes, array):
            return None  # not all whole numbers
        codes -= np.int64(low)
        return codes, int(width) + 1
    shifted = array - low
    codes = shifted.astype(np.int64)
    if not np.array_equal(codes, shifted):
        return None
    return codes, int(width) + 1


def apply_on_distinct(function: Callable[..., np.ndarray], **columns: np.ndarray) -> np.ndarray:
    """Evaluate ``function(**columns)`` once per distinct row and map back.

    Scoring millions of customers this way costs as much as scoring their
    distinct histories.

    Parameters
    ----------
    function : callable
        A vectorised function of the columns, called with them as keyword arguments; it returns one
        value per row it is given.
    **columns : numpy.ndarray
        Equal-length columns (scalars count as one row), passed to ``function`` by name.

    Returns
    -------
    numpy.ndarray
        ``function(**columns)``, one value per original row. When more than 70% of the rows are
        distinct, ``function`` is called on all rows as given (grouping would not save work).

    Examples
    --------
    >>> import numpy as np
    >>> apply_on_distinct(lambda x, T: x / T, x=np.array([1.0, 1.0, 1.0, 2.0]), T=np.array([4.0, 4.0, 4.0, 4.0]))
    array([0.25, 0.25, 0.25, 0.5 ])
    """
    arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in columns.items()}
    packed = compress(arrays)
    if packed.n_distinct == 0:
        return np.zeros(0)
    if packed.n_distinct > 0.7 * packed.inverse.shape[0]:
        return np.asarray(function(**arrays))
    return packed.expand(function(**packed.columns))
