"""Fast distinct rows of a few numeric columns (same result type as clv.summary.compress).

``compress`` groups with pandas on several float columns; here each column is
first mapped to small integer codes (directly when it holds whole numbers, as
day/week counts do, else by hashing), the codes are combined into one int64 key,
and the key is hashed once. Distinct rows come in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clv.summary.compress import Compressed, compress

_MAX_KEY = 2**62
# The table path (a count per possible key) is used while the table is at most this many entries per row (plus a floor).
_TABLE_ROWS_PER_KEY = 4
_TABLE_MIN_KEYS = 1 << 16


def _codes(values: np.ndarray) -> tuple[np.ndarray, int, Any]:
    """Integer codes 0..k-1 of a column, k (an upper bound on the number of codes) and the offset.

    The offset is the minimum when the codes are value - minimum (whole
    numbers), so that value = code + offset; else None (hashed codes).
    """
    if values.size and np.issubdtype(values.dtype, np.number):
        low, high = values.min(), values.max()
        if np.isfinite(low) and np.isfinite(high) and high - low < 2**31:
            shifted = values - low
            as_int = shifted.astype(np.int64)
            if np.array_equal(as_int, shifted):
                return as_int, int(high - low) + 1, low
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), max(len(uniques), 1), None


def distinct_rows(columns: Mapping[str, np.ndarray], *, ordered: bool = True) -> Compressed:
    """Distinct rows of ``columns`` with counts and the map back (``Compressed``).

    ``ordered=False`` lets the distinct rows come in any order (in practice
    by increasing codes), which allows a faster path when the combined key
    is small (see :func:`_distinct_by_table`).
    """
    names = list(columns)
    arrays = [np.asarray(columns[name]) for name in names]
    n = arrays[0].shape[0]
    if n == 0:
        return compress(dict(zip(names, arrays)))
    key = None
    size = 1
    spans = []  # (k, offset) per column
    for array in arrays:
        codes, k, offset = _codes(array)  # a fresh array: the key is built in place
        if size * k >= _MAX_KEY:
            return compress(dict(zip(names, arrays)))
        if key is None:
            key = codes
        else:
            key *= k
            key += codes
        size *= k
        spans.append((k, offset))
    if not ordered and size <= _TABLE_ROWS_PER_KEY * n + _TABLE_MIN_KEYS:
        return _distinct_by_table(names, arrays, key, size, spans)
    inverse, uniques = pd.factorize(key)
    inverse = inverse.astype(np.intp, copy=False)
    # Codes number the rows by first appearance: a row is the first of its kind where the running maximum grows.
    running_max = np.maximum.accumulate(inverse)
    first = np.flatnonzero(np.concatenate(([True], running_max[1:] != running_max[:-1])))
    weights = np.bincount(inverse, minlength=len(uniques)).astype(float)
    return Compressed({name: a[first] for name, a in zip(names, arrays)}, weights, inverse)


def _distinct_by_table(names: list[str], arrays: list[np.ndarray], key: np.ndarray, size: int,
                       spans: list[tuple[int, Any]]) -> Compressed:
    """Distinct rows by counting each key in a table of all ``size`` possible keys (no hashing).

    A group's number is the rank of its key among the keys present, so the
    distinct rows come in increasing key order. The distinct values are
    decoded from the keys present when every column is coded as value -
    minimum; otherwise each distinct row is read from one of its rows (all
    hold equal values).
    """
    counts = np.bincount(key, minlength=size)
    present = counts > 0
    rank = np.cumsum(present) - 1
    inverse = rank[key]
    weights = counts[present].astype(float)
    if all(offset is not None for _, offset in spans):
        remaining = np.flatnonzero(present)
        decoded = {}
        for name, array, (k, offset) in reversed(list(zip(names, arrays, spans))):
            remaining, codes = np.divmod(remaining, k)
            decoded[name] = (codes + offset).astype(array.dtype, copy=False)
        return Compressed({name: decoded[name] for name in names}, weights, inverse)
    one_row = np.empty(weights.shape[0], dtype=np.intp)
    one_row[inverse] = np.arange(key.shape[0])
    return Compressed({name: a[one_row] for name, a in zip(names, arrays)}, weights, inverse)
