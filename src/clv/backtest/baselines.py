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

On a purchase log (no amounts: the summary has no ``gross_revenue`` and no
``average_spend``) every baseline predicts purchases only (``value`` is None),
and the RFM score is R + F (2..10): there is no M without amounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BASELINES = ("classic", "naive", "rfm")


@dataclass(frozen=True)
class Prediction:
    """Per-customer predicted holdout purchases and value (same row order as the summary).

    ``value`` is None for a purchase log (no amounts, so no value to predict).
    """

    purchases: np.ndarray
    value: np.ndarray | None


def _columns(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """frequency, recency, T and average spend (None for a purchase log)."""
    x, t_x, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    spend = summary["average_spend"].to_numpy(float) if "average_spend" in summary.columns else None
    return x, t_x, T, spend


def classic_baseline(summary: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Population rate ``sum x / sum T`` times the horizon for everyone; value at the population AOV."""
    x, _, T, spend = _columns(summary)
    rate = x.sum() / T.sum() if T.sum() > 0 else 0.0
    purchases = np.full(x.shape, rate * horizon)
    if spend is None:
        return Prediction(purchases, None)
    aov = summary["gross_revenue"].sum() / (x + 1).sum()
    return Prediction(purchases, purchases * aov * margin)


def naive_baseline(summary: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Each customer keeps their own calibration rate ``x / T`` and average spend."""
    x, _, T, spend = _columns(summary)
    rate = np.divide(x, T, out=np.zeros_like(x), where=T > 0)
    purchases = rate * horizon
    return Prediction(purchases, None if spend is None else purchases * spend * margin)


def quintile_score(values: np.ndarray) -> np.ndarray:
    """1..5 by quintile of ``values`` (5 = highest): ``ceil(5 r / n)`` with ``r`` the average rank."""
    from scipy.stats import rankdata  # here, not at the top: scipy.stats costs ~0.4 s to import

    if values.size == 0:
        return np.zeros(0, dtype=int)
    return np.clip(np.ceil(5 * rankdata(values) / values.size - 1e-9).astype(int), 1, 5)


def rfm_score(summary: pd.DataFrame) -> np.ndarray:
    """R + F + M quintile scores, 3..15 (R: shorter time since the last purchase scores higher).

    A purchase log has no M: its score is R + F, 2..10.
    """
    x, t_x, T, spend = _columns(summary)
    score = quintile_score(-(T - t_x)) + quintile_score(x)
    return score if spend is None else score + quintile_score(spend)


@dataclass(frozen=True)
class RfmRates:
    """Purchases and gross value per unit of time by RFM score (index 0..15), learnt in calibration.

    ``value`` is None for a purchase log.
    """

    purchases: np.ndarray
    value: np.ndarray | None
    customers: np.ndarray


def _rates_per_score(score: np.ndarray, amounts: np.ndarray, length: float) -> np.ndarray:
    """Mean of ``amounts`` per unit of time for each score 0..15; unseen scores get the overall mean."""
    counts = np.bincount(score, minlength=16).astype(float)
    sums = np.bincount(score, weights=amounts, minlength=16)
    overall = sums.sum() / counts.sum() / length
    return np.where(counts > 0, sums / np.maximum(counts, 1) / length, overall)


def learn_rfm_rates(inner: pd.DataFrame) -> RfmRates:
    """Mean inner-holdout purchases and value per unit of time, per RFM score at the inner cut-off."""
    length = float(inner["duration_holdout"].iloc[0])
    score = rfm_score(inner)
    purchases = _rates_per_score(score, inner["frequency_holdout"].to_numpy(float), length)
    value = (_rates_per_score(score, inner["value_holdout"].to_numpy(float), length)
             if "value_holdout" in inner.columns else None)
    return RfmRates(purchases, value, np.bincount(score, minlength=16))


def rfm_baseline(summary: pd.DataFrame, inner: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Each customer's RFM score at the calibration end, mapped through the rates learnt in ``inner``."""
    rates = learn_rfm_rates(inner)
    score = rfm_score(summary)
    value = None if rates.value is None else rates.value[score] * horizon * margin
    return Prediction(rates.purchases[score] * horizon, value)
