"""Checks of customer histories: (frequency, recency, T) and the arrays beside them.

Every model and scorer takes histories through these checks, which name the
first offending row and the rule it breaks (e.g. ``recency must not exceed T``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clv.errors import DataError


def as_float_array(values: Any, name: str) -> np.ndarray:
    """A 1-D float array, with an error that names the argument when it is not numeric."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from exc
    return np.atleast_1d(array)


def validate_rfm(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check (frequency, recency, T) histories and return them as float arrays.

    Rules: all finite; frequency a non-negative integer; 0 <= recency <= T;
    T >= 0; recency == 0 when frequency == 0. The first offending row is named.

    Parameters
    ----------
    frequency : array-like
        Repeat purchases per customer.
    recency : array-like
        Time from the first to the last purchase, in the data's time unit.
    T : array-like
        Time from the first purchase to the observation end, same unit.

    Returns
    -------
    tuple of numpy.ndarray
        ``(frequency, recency, T)`` as float arrays.

    Raises
    ------
    DataError
        Naming the first offending row, the rule it breaks and how many rows break it.
    """
    x, t_x, T = (as_float_array(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T")))
    if not (x.shape == t_x.shape == T.shape):
        raise DataError(f"frequency, recency and T must have the same length (got {x.shape[0]}, {t_x.shape[0]}, {T.shape[0]}).")
    if _valid_histories(x, t_x, T):
        return x, t_x, T
    checks = (
        (~np.isfinite(x) | ~np.isfinite(t_x) | ~np.isfinite(T), "values must be finite (no NaN or inf)"),
        ((x < 0) | (x != np.round(x)), "frequency must be a non-negative whole number of repeat purchases"),
        (t_x < 0, "recency must be >= 0"),
        (T < 0, "T (customer age) must be >= 0"),
        (t_x > T * (1 + 1e-9), "recency must not exceed T (both measured from the first purchase, same time unit)"),
        ((x == 0) & (t_x != 0), "recency must be 0 for customers with no repeat purchase"),
    )
    for bad, message in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{message}; first offending row {row}: frequency={x[row]}, recency={t_x[row]}, T={T[row]} "
                f"({int(bad.sum())} rows in all)."
            )
    return x, t_x, T


def _valid_histories(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> bool:
    """All the rules of :func:`validate_rfm` at once (fewer passes; the rules one by one name the row).

    Comparisons with NaN are false, and x + t_x + T is finite only when all three are.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if not np.isfinite(x + t_x + T).all():
            return False
        return bool(
            (x >= 0).all() and np.array_equal(x, np.round(x)) and (t_x >= 0).all()
            and (t_x <= T * (1 + 1e-9)).all() and not ((x == 0) & (t_x != 0)).any()
        )



def validate_weights(weights: Any, n_rows: int) -> np.ndarray | None:
    """None, or a float array of n_rows finite non-negative customer counts."""
    if weights is None:
        return None
    array = as_float_array(weights, "weights")
    if array.shape[0] != n_rows:
        raise DataError(f"weights must have one value per row ({n_rows}); got {array.shape[0]}.")
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"weights must be finite and >= 0 (customer counts); first offending row {row}: {array[row]}.")
    return array

def broadcast_history(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast (frequency, recency, T) to one shape and validate them (:func:`validate_rfm`)."""
    x, t_x, T = np.broadcast_arrays(*(as_float_array(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T"))))
    return validate_rfm(np.ascontiguousarray(x), np.ascontiguousarray(t_x), np.ascontiguousarray(T))

def non_negative(values: Any, name: str) -> np.ndarray:
    """A float array of finite values >= 0, naming the first bad row."""
    array = as_float_array(values, name)
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must be finite and >= 0; first offending row {row}: {name}={array[row]}.")
    return array
