"""Simple predictors a BTYD model has to beat on the holdout.

Each baseline maps the calibration summary (one row per customer: frequency x,
recency t_x, age T, calibration revenue) to predicted holdout purchases and
holdout value over a window of length ``H`` (in the summary's time unit):

* ``classic``: every customer is the average customer, as in the classic
  formula CLV (AOV x purchase frequency x time; Gupta & Lehmann 2003):
  ``purchases = (sum x / sum T) * H`` (the population's repeat purchases per
  unit of customer age) and ``value = purchases * AOV * margin`` with
  ``AOV = sum (gross_revenue - refunded) / sum (x + 1)`` (net purchase value per purchase period, refunds netted, as the holdout value counts it).
* ``naive``: "the same rate as before": ``purchases = x / T * H`` (0 when T = 0)
  and ``value = purchases * average spend * margin``, the customer's own
  average spend ``(gross_revenue - refunded) / (x + 1)`` (the split's ``average_spend``).
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

    Parameters
    ----------
    purchases : numpy.ndarray
        Predicted purchases in the holdout window, per customer.
    value : numpy.ndarray or None
        Predicted holdout value (gross purchase value x margin), per customer; None for a
        purchase log.
    """

    purchases: np.ndarray
    value: np.ndarray | None


def _columns(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """frequency, recency, T and average spend (None for a purchase log)."""
    x, t_x, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    spend = summary["average_spend"].to_numpy(float) if "average_spend" in summary.columns else None
    return x, t_x, T, spend


def _net_spend(summary: pd.DataFrame) -> pd.Series:
    """Per customer ``gross_revenue - refunded`` (refunds netted; gross alone when there is no ``refunded``)."""
    if "refunded" not in summary.columns:
        return summary["gross_revenue"]
    return summary["gross_revenue"] - summary["refunded"]


def classic_baseline(summary: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Population rate ``sum x / sum T`` times the horizon for everyone; value at the population AOV.

    ``purchases = (sum x / sum T) * H`` (0 when sum T = 0) and ``value = purchases * AOV *
    margin`` with ``AOV = sum (gross_revenue - refunded) / sum (x + 1)`` (``refunded`` 0 when
    absent): every customer is the average
    customer, as in the classic formula CLV (Gupta & Lehmann 2003).

    Parameters
    ----------
    summary : pandas.DataFrame
        The calibration summary, one row per customer: ``frequency`` (x), ``recency`` (t_x), ``T``
        in the summary's time unit, and, unless a purchase log, ``gross_revenue`` and
        ``average_spend`` (the ``frame`` of a :class:`Split`).
    horizon : float
        The length H of the holdout window, in the summary's time unit.
    margin : float, default 1.0
        The fraction of revenue kept as profit; 1.0 predicts revenue (compared with holdout
        revenue).

    Returns
    -------
    Prediction
        Predicted holdout purchases and value per customer (``value`` None for a purchase log).

    References
    ----------
    Gupta, S. and Lehmann, D. R. (2003). "Customers as Assets". *Journal of Interactive
    Marketing* 17(1), 9-24.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [2.0, 0.0], "recency": [20.0, 0.0], "T": [30.0, 10.0],
    ...                         "gross_revenue": [90.0, 20.0], "average_spend": [30.0, 20.0]})
    >>> prediction = classic_baseline(summary, horizon=52)
    >>> prediction.purchases, prediction.value
    (array([2.6, 2.6]), array([71.5, 71.5]))
    """
    x, _, T, spend = _columns(summary)
    rate = x.sum() / T.sum() if T.sum() > 0 else 0.0
    purchases = np.full(x.shape, rate * horizon)
    if spend is None:
        return Prediction(purchases, None)
    aov = _net_spend(summary).sum() / (x + 1).sum()
    return Prediction(purchases, purchases * aov * margin)


def naive_baseline(summary: pd.DataFrame, horizon: float, margin: float = 1.0) -> Prediction:
    """Each customer keeps their own calibration rate ``x / T`` and average spend.

    ``purchases = x / T * H`` (0 when T = 0) and ``value = purchases * average_spend * margin``
    with the customer's own ``average_spend = (gross_revenue - refunded) / (x + 1)``.

    Parameters
    ----------
    summary : pandas.DataFrame
        The calibration summary, one row per customer: ``frequency`` (x), ``recency`` (t_x), ``T``
        in the summary's time unit, and, unless a purchase log, ``gross_revenue`` and
        ``average_spend`` (the ``frame`` of a :class:`Split`).
    horizon : float
        The length H of the holdout window, in the summary's time unit.
    margin : float, default 1.0
        The fraction of revenue kept as profit; 1.0 predicts revenue (compared with holdout
        revenue).

    Returns
    -------
    Prediction
        Predicted holdout purchases and value per customer (``value`` None for a purchase log).

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [2.0, 0.0], "recency": [20.0, 0.0], "T": [30.0, 10.0],
    ...                         "gross_revenue": [90.0, 20.0], "average_spend": [30.0, 20.0]})
    >>> prediction = naive_baseline(summary, horizon=52)
    >>> prediction.purchases.round(3), prediction.value.round(1)
    (array([3.467, 0.   ]), array([104.,   0.]))
    """
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

    Each score is ``ceil(5 r / n)`` with ``r`` the average rank among the n customers (ties share
    a score): R on ``-(T - t_x)``, F on x, M on ``average_spend``.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per customer: ``frequency``, ``recency``, ``T`` and, unless a purchase log,
        ``average_spend``.

    Returns
    -------
    numpy.ndarray
        The integer score per customer, 3..15 (2..10 for a purchase log).

    References
    ----------
    Hughes, A. M. (1994). *Strategic Database Marketing*. Probus (RFM quintile scores).
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
    """Each customer's RFM score at the calibration end, mapped through the rates learnt in ``inner``.

    The rates are the mean holdout purchases and gross value per unit of time of each score in
    ``inner`` (scores taken at an inner cut-off L before the calibration end, L = min(H,
    calibration length / 2)); a score nobody had there gets the inner window's overall rate.
    ``purchases = rate[score] * H``, ``value = value_rate[score] * H * margin``.

    Parameters
    ----------
    summary : pandas.DataFrame
        The calibration summary, one row per customer: ``frequency`` (x), ``recency`` (t_x), ``T``
        in the summary's time unit, and, unless a purchase log, ``gross_revenue`` and
        ``average_spend`` (the ``frame`` of a :class:`Split`).
    inner : pandas.DataFrame
        The split inside the calibration period (the frame of an inner :class:`Split`): the
        calibration columns at the inner cut-off and ``frequency_holdout``, ``duration_holdout``
        and, unless a purchase log, ``value_holdout``.
    horizon : float
        The length H of the holdout window, in the summary's time unit.
    margin : float, default 1.0
        The fraction of revenue kept as profit; 1.0 predicts revenue (compared with holdout
        revenue).

    Returns
    -------
    Prediction
        Predicted holdout purchases and value per customer (``value`` None for a purchase log).
    """
    rates = learn_rfm_rates(inner)
    score = rfm_score(summary)
    value = None if rates.value is None else rates.value[score] * horizon * margin
    return Prediction(rates.purchases[score] * horizon, value)
