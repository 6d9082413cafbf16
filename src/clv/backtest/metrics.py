"""Holdout accuracy metrics: one predicted and one actual number per customer.

Every function takes NumPy arrays of equal length (one entry per customer) and
is vectorised. Ties in the predictions are handled so that results never depend
on the order of the rows: where a ranking decides (top-k capture, Gini, deciles)
tied customers are treated as exchangeable, i.e. the result is the expectation
over random tie-breaking.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from clv.errors import DataError


def _pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise DataError(f"actual and predicted must be 1-d arrays of one length; got shapes {y.shape} and {p.shape}.")
    bad = ~(np.isfinite(y) & np.isfinite(p))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"actual and predicted must be finite; first offending row {row}: actual {y[row]}, predicted {p[row]}.")
    return y, p


def percent_error(actual_total: float, predicted_total: float) -> float:
    """Aggregate error in percent: ``100 (sum predicted - sum actual) / sum actual`` (NaN if the actual is 0).

    Parameters
    ----------
    actual_total : float
        The sum of the actuals.
    predicted_total : float
        The sum of the predictions.

    Returns
    -------
    float
        The error in percent; NaN when ``actual_total`` is 0.
    """
    if actual_total == 0:
        return math.nan
    return 100.0 * (predicted_total - actual_total) / actual_total


def mae(actual, predicted) -> float:
    """Mean absolute error ``mean |y_i - p_i|``.

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.

    Returns
    -------
    float
        The mean absolute error; NaN for no customers.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    y, p = _pair(actual, predicted)
    return float(np.mean(np.abs(y - p))) if y.size else math.nan


def rmse(actual, predicted) -> float:
    """Root mean squared error ``sqrt(mean (y_i - p_i)^2)``.

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.

    Returns
    -------
    float
        The root mean squared error; NaN for no customers.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    y, p = _pair(actual, predicted)
    return float(np.sqrt(np.mean((y - p) ** 2))) if y.size else math.nan


def spearman(actual, predicted) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks (ties share their mean rank).

    NaN when either side is constant (no ranking to compare).

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.

    Returns
    -------
    float
        The rank correlation in [-1, 1]; NaN when either side is constant.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    from scipy.stats import rankdata  # here, not at the top: scipy.stats costs ~0.4 s to import

    y, p = _pair(actual, predicted)
    ry, rp = rankdata(y), rankdata(p)
    ry, rp = ry - ry.mean(), rp - rp.mean()
    denominator = math.sqrt(float(np.sum(ry**2) * np.sum(rp**2)))
    return float(np.sum(ry * rp) / denominator) if denominator > 0 else math.nan


def _tie_averaged_by_prediction(actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Actuals sorted by prediction (highest first), each tie group's actuals replaced by their mean.

    Replacing tied customers' actuals by their group mean gives the expected
    cumulative curve over every order of the tied customers.
    """
    order = np.argsort(-predicted, kind="stable")
    p_sorted, y_sorted = predicted[order], actual[order]
    starts = np.flatnonzero(np.concatenate(([True], p_sorted[1:] != p_sorted[:-1])))
    sizes = np.diff(np.append(starts, p_sorted.size))
    means = np.add.reduceat(y_sorted, starts) / sizes if p_sorted.size else np.zeros(0)
    return np.repeat(means, sizes), p_sorted


def top_share_captured(actual, predicted, share: float) -> float:
    """Share of the total actual captured by the customers with the highest ``share`` of predictions.

    ``k = share * n`` customers (possibly fractional: the last one counts
    pro rata); customers tied at the cut-off count with their group's mean
    actual (expected capture under random tie-breaking). NaN if the actual
    total is 0.

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.
    share : float
        The share of customers with the highest predictions, in (0, 1] (0.1 = top 10%).

    Returns
    -------
    float
        The captured share of the actual total, in [0, 1]; NaN when the actual total is 0.

    Raises
    ------
    DataError
        When ``share`` is outside (0, 1] or the arrays are not usable.
    """
    if not 0 < share <= 1:
        raise DataError(f"share must lie in (0, 1] (0.1 = top 10%), got {share!r}.")
    y, p = _pair(actual, predicted)
    total = y.sum()
    if y.size == 0 or total == 0:
        return math.nan
    averaged, _ = _tie_averaged_by_prediction(y, p)
    k = share * y.size
    whole = int(math.floor(k + 1e-12))
    captured = averaged[:whole].sum() + (averaged[whole] * (k - whole) if whole < y.size else 0.0)
    return float(captured / total)


def gini(actual, predicted) -> float:
    """Gini of the actuals ordered by prediction (highest first).

    With ``L_i`` the share of the total actual held by the first ``i`` customers,
    ``G = (1/n) sum_i L_i - (n + 1) / (2n)``: 0 for a random ordering, largest
    when the ordering is perfect. Ties: tie groups averaged (see module doc).

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.

    Returns
    -------
    float
        ``G``; NaN when there are no customers or the actual total is 0.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    y, p = _pair(actual, predicted)
    total = y.sum()
    if y.size == 0 or total == 0:
        return math.nan
    averaged, _ = _tie_averaged_by_prediction(y, p)
    n = y.size
    value = float(np.cumsum(averaged).sum() / total / n - (n + 1) / (2 * n))
    return 0.0 if abs(value) < 1e-12 else value  # a constant prediction is exactly 0, not rounding noise


def normalized_gini(actual, predicted) -> float:
    """Gini of the predicted ordering divided by the Gini of the perfect ordering (1 = perfect ranking).

    NaN when the actuals are all equal (no ordering is better than another).

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.

    Returns
    -------
    float
        ``gini(actual, predicted) / gini(actual, actual)``: 1 for a perfect ranking, 0 for a random one.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    best = gini(actual, actual)
    if not best or math.isnan(best):
        return math.nan
    return gini(actual, predicted) / best


def decile_calibration(actual, predicted, n_groups: int = 10) -> pd.DataFrame:
    """Mean predicted and mean actual per group of predicted value (decile 10 = highest predictions).

    A customer with average rank ``r`` (1 = lowest prediction, ties share their
    mean rank) of ``n`` falls in group ``ceil(n_groups r / n)``, so tied
    customers always share a group; groups nobody falls in are left out.
    Columns: decile, customers, mean_predicted, mean_actual.

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.
    n_groups : int, default 10
        The number of groups.

    Returns
    -------
    pandas.DataFrame
        Columns ``decile``, ``customers``, ``mean_predicted``, ``mean_actual``, one
        row per group somebody falls in.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    from scipy.stats import rankdata  # here, not at the top: scipy.stats costs ~0.4 s to import

    y, p = _pair(actual, predicted)
    if y.size == 0:
        return pd.DataFrame(columns=["decile", "customers", "mean_predicted", "mean_actual"])
    group = np.clip(np.ceil(n_groups * rankdata(p) / y.size - 1e-9).astype(int), 1, n_groups)
    counts = np.bincount(group, minlength=n_groups + 1)[1:]
    sums_p = np.bincount(group, weights=p, minlength=n_groups + 1)[1:]
    sums_y = np.bincount(group, weights=y, minlength=n_groups + 1)[1:]
    used = counts > 0
    return pd.DataFrame({
        "decile": np.arange(1, n_groups + 1)[used],
        "customers": counts[used],
        "mean_predicted": sums_p[used] / counts[used],
        "mean_actual": sums_y[used] / counts[used],
    })


def decile_error(table: pd.DataFrame) -> float:
    """Customer-weighted mean of ``|mean_predicted - mean_actual|`` over the deciles of :func:`decile_calibration`."""
    if table.empty:
        return math.nan
    gaps = np.abs(table["mean_predicted"] - table["mean_actual"])
    return float(np.average(gaps, weights=table["customers"]))


def interval_coverage(actual, lower, upper) -> float:
    """Share of customers with ``lower_i <= actual_i <= upper_i`` (closed interval).

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer.
    lower, upper : array-like of float
        The bounds of each customer's prediction interval, same shape.

    Returns
    -------
    float
        The share of actuals inside their interval; NaN for no customers.

    Raises
    ------
    DataError
        When the three arrays differ in shape.
    """
    y = np.asarray(actual, dtype=float)
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if not (y.shape == lo.shape == hi.shape):
        raise DataError(f"actual, lower and upper must have one shape; got {y.shape}, {lo.shape}, {hi.shape}.")
    if y.size == 0:
        return math.nan
    return float(np.mean((lo <= y) & (y <= hi)))


def accuracy(actual, predicted, shares: tuple[float, ...] = (0.1, 0.2)) -> dict[str, float]:
    """All point-prediction metrics of one quantity (purchases or value) as a flat dict.

    Parameters
    ----------
    actual : array-like of float
        The actual value per customer (1-d, finite).
    predicted : array-like of float
        The predicted value per customer, same length.
    shares : tuple of float, default (0.1, 0.2)
        The top shares whose capture is reported (``top10_capture``, ``top20_capture``).

    Returns
    -------
    dict of str to float
        ``actual_total``, ``predicted_total``, ``total_error_pct``, ``mae``,
        ``rmse``, ``spearman``, ``normalized_gini``, ``decile_error`` and one
        ``top<k>_capture`` per share.

    Raises
    ------
    DataError
        When the arrays differ in shape, are not 1-d or hold a value that is not finite.
    """
    y, p = _pair(actual, predicted)
    out = {
        "actual_total": float(y.sum()),
        "predicted_total": float(p.sum()),
        "total_error_pct": percent_error(float(y.sum()), float(p.sum())),
        "mae": mae(y, p),
        "rmse": rmse(y, p),
        "spearman": spearman(y, p),
        "normalized_gini": normalized_gini(y, p),
        "decile_error": decile_error(decile_calibration(y, p)),
    }
    for share in shares:
        out[f"top{round(100 * share)}_capture"] = top_share_captured(y, p, share)
    return out
