"""Simple predictors a BTYD model has to beat on the holdout.

Each baseline maps the calibration summary (one row per customer: frequency x,
recency t_x, age T, calibration revenue) to predicted holdout purchases and
holdout value over a window of length ``H`` (in the summary's time unit):

* ``classic``: every customer is the average customer, as in the classic
  formula CLV (AOV x purchase frequency x time; Gupta & Lehmann 2003):
  ``purchases = (sum x / sum T) * H`` (the population's repeat purchases per
  unit of customer age) and ``value = purchases * AOV * margin`` with
  ``AOV = sum gross_revenue / sum (x + 1)`` (purchase value per purchase period, refunds not subtracted, as the holdout value counts it).
* ``naive``: "the same rate as before": ``purchases = x / T * H`` (0 when T = 0)
  and ``value = purchases * average spend * margin``, the customer's own
  average spend ``gross_revenue / (x + 1)``.
* ``rfm``: quintile RFM scores (R on time since the last purchase ``T - t_x``,
  shorter = better; F on x; M on the average spend; each ``ceil(5 r / n)`` with
  ``r`` the average rank, so ties share a score) summed to a score 3..15. The
  score's purchases and value per unit of time are learnt *inside* the
  calibration period: scores taken at an inner cut-off ``L`` before the
  calibration end (``L = min(H, calibration length / 2)``) and the mean
  purchases and gross value of each score in those last ``L`` units, divided by
  ``L``. A customer's prediction is that rate of their score at the calibration
  end times ``H`` (value times margin). Scores nobody had at the inner cut-off
  get the inner window's overall rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

BASELINES = ("classic", "naive", "rfm")


@dataclass(frozen=True)
class Prediction:
    """Per-customer predicted holdout purchases and value (same row order as the summary)."""

    purchases: np.ndarray
    value: np.ndarray


def _columns(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "average_spend"))


def classic_baseline(summary: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Population rate ``sum x / sum T`` times the horizon for everyone; value at the population AOV."""
    x, _, T, _ = _columns(summary)
    rate = x.sum() / T.sum() if T.sum() > 0 else 0.0
    aov = summary["gross_revenue"].sum() / (x + 1).sum()
    purchases = np.full(x.shape, rate * horizon)
    return Prediction(purchases, purchases * aov * margin)


def naive_baseline(summary: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Each customer keeps their own calibration rate ``x / T`` and average spend."""
    x, _, T, spend = _columns(summary)
    rate = np.divide(x, T, out=np.zeros_like(x), where=T > 0)
    purchases = rate * horizon
    return Prediction(purchases, purchases * spend * margin)


def quintile_score(values: np.ndarray) -> np.ndarray:
    """1..5 by quintile of ``values`` (5 = highest): ``ceil(5 r / n)`` with ``r`` the average rank."""
    if values.size == 0:
        return np.zeros(0, dtype=int)
    return np.clip(np.ceil(5 * rankdata(values) / values.size - 1e-9).astype(int), 1, 5)


def rfm_score(summary: pd.DataFrame) -> np.ndarray:
    """R + F + M quintile scores, 3..15 (R: shorter time since the last purchase scores higher)."""
    x, t_x, T, spend = _columns(summary)
    return quintile_score(-(T - t_x)) + quintile_score(x) + quintile_score(spend)


@dataclass(frozen=True)
class RfmRates:
    """Purchases and gross value per unit of time by RFM score (index 0..15), learnt in calibration."""

    purchases: np.ndarray
    value: np.ndarray
    customers: np.ndarray


def learn_rfm_rates(inner: pd.DataFrame) -> RfmRates:
    """Mean inner-holdout purchases and value per unit of time, per RFM score at the inner cut-off."""
    length = float(inner["duration_holdout"].iloc[0])
    score = rfm_score(inner)
    counts = np.bincount(score, minlength=16).astype(float)
    sums_n = np.bincount(score, weights=inner["frequency_holdout"].to_numpy(float), minlength=16)
    sums_v = np.bincount(score, weights=inner["value_holdout"].to_numpy(float), minlength=16)
    overall_n = sums_n.sum() / counts.sum() / length
    overall_v = sums_v.sum() / counts.sum() / length
    seen = counts > 0
    per_n = np.where(seen, sums_n / np.maximum(counts, 1) / length, overall_n)
    per_v = np.where(seen, sums_v / np.maximum(counts, 1) / length, overall_v)
    return RfmRates(per_n, per_v, counts.astype(int))


def rfm_baseline(summary: pd.DataFrame, inner: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Each customer's RFM score at the calibration end, mapped through the rates learnt in ``inner``."""
    rates = learn_rfm_rates(inner)
    score = rfm_score(summary)
    return Prediction(rates.purchases[score] * horizon, rates.value[score] * horizon * margin)
