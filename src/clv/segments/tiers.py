"""Value tiers by predicted CLV and churn-risk tiers by P(alive) and the spend trend.

Value tiers (exclusive): with the default cuts (0.01, 0.05, 0.20) the
``top 1%`` tier holds the ``ceil(0.01 n)`` customers of highest predicted CLV,
``top 5%`` the next ones up to ``ceil(0.05 n)``, ``top 20%`` the next up to
``ceil(0.20 n)``, and ``rest`` everyone else. The cut point of a tier is the
CLV of its last customer in rank order; a customer whose CLV equals a cut point
joins the higher tier, so ties never split across tiers (a tier can then hold
a few more than its share, reported in the cut-point table). A purchase log has
no CLV (no amounts): its tiers rank customers by expected purchases over the
horizon instead (``measure="expected_purchases"``), the value the purchase
models can see.

Risk tiers: ``low risk`` when P(alive) >= ``high_alive`` (default 0.7),
``high risk`` when P(alive) < ``low_alive`` (default 0.3), ``medium risk``
between (one-time buyers whose P(alive) is 1 by construction, as under
BG/NBD, are placed by their R score instead). A customer with the early-warning flag (their own order rate or spend
fell well below their earlier level, see :mod:`clv.segments.early_warning`)
moves up one level, because P(alive) from a BTYD model only sees the count and
timing of purchases, not a falling basket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from clv.errors import DataError

DEFAULT_VALUE_CUTS = (0.01, 0.05, 0.20)
RISK_TIERS = ("low risk", "medium risk", "high risk")
REST = "rest"


def value_tier_names(cuts: Sequence[float] = DEFAULT_VALUE_CUTS) -> tuple[str, ...]:
    """'top 1%', 'top 5%', 'top 20%', 'rest' for the default cuts.

    Parameters
    ----------
    cuts : sequence of float, default (0.01, 0.05, 0.2)
        Cumulative shares of customers, increasing in (0, 1).

    Returns
    -------
    tuple of str
        One name per tier, the top tier first.
    """
    return (*(f"top {100 * c:g}%" for c in _checked_cuts(cuts)), REST)


def _checked_cuts(cuts: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(c) for c in cuts)
    except (TypeError, ValueError):
        raise DataError(f"value_cuts must be shares between 0 and 1, e.g. (0.01, 0.05, 0.2); got {cuts!r}.") from None
    if not values or any(not 0 < c < 1 for c in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise DataError(
            f"value_cuts must be increasing shares strictly between 0 and 1, e.g. (0.01, 0.05, 0.2); got {cuts!r}."
        )
    return values


def value_tiers(clv: np.ndarray, cuts: Sequence[float] = DEFAULT_VALUE_CUTS,
                measure: str = "clv") -> tuple[np.ndarray, pd.DataFrame]:
    """Tier label per customer and the cut-point table (tier, share, cut CLV, customers, CLV sum).

    ``cuts`` are cumulative shares of customers ranked by CLV, highest first.
    ``measure`` names what ``clv`` holds in the table's columns (``cut_<measure>``,
    ``<measure>_sum``): ``"expected_purchases"`` for a purchase log.

    Parameters
    ----------
    clv : numpy.ndarray
        The value of each customer (CLV, or expected purchases for a purchase log).
    cuts : sequence of float, default (0.01, 0.05, 0.2)
        Cumulative shares of customers, increasing in (0, 1).
    measure : str, default "clv"
        What ``clv`` holds, for the table's column names.

    Returns
    -------
    labels : numpy.ndarray of str
        The tier of each customer.
    table : pandas.DataFrame
        One row per tier: tier, share, cut point, customers, sum.

    Raises
    ------
    DataError
        When the cuts are not increasing shares in (0, 1), there is no
        customer, or a value is not finite.
    """
    cuts = _checked_cuts(cuts)
    clv = np.asarray(clv, dtype=float)
    if clv.size == 0:
        raise DataError("no customers to put in value tiers.")
    if not np.isfinite(clv).all():
        row = int(np.flatnonzero(~np.isfinite(clv))[0])
        raise DataError(f"{measure} must be finite for every customer; row {row} is {clv[row]}. Fix: score the "
                        "customers with a spend model (or a monetary_value column) so CLV is defined.")
    descending = np.sort(clv)[::-1]
    ranks = np.array([max(1, math.ceil(c * clv.size - 1e-9)) for c in cuts])
    cut_values = descending[ranks - 1]
    # tier index = how many cut values are strictly above the customer's CLV
    index = np.searchsorted(-cut_values, -clv, side="left")
    names = np.array(value_tier_names(cuts), dtype=object)
    table = pd.DataFrame({
        "value_tier": names,
        "share_of_customers_target": [*cuts, 1.0],
        f"cut_{measure}": [*cut_values, np.nan],
        "customers": np.bincount(index, minlength=len(names)),
        f"{measure}_sum": np.bincount(index, weights=clv, minlength=len(names)),
    })
    return names[index], table


def risk_tiers(p_alive: np.ndarray, early_warning: np.ndarray | None = None, *,
               low_alive: float = 0.3, high_alive: float = 0.7,
               frequency: np.ndarray | None = None, r_score: np.ndarray | None = None) -> np.ndarray:
    """'low risk' / 'medium risk' / 'high risk' from P(alive), one level up with an early warning.

    BG/NBD lets a customer drop out only after a repeat purchase, so a one-time
    buyer's P(alive) is exactly 1 whatever their age: it carries no information.
    Given ``frequency`` and ``r_score``, such customers (frequency 0, P(alive) = 1)
    take their level from recency instead: R 4-5 low, R 3 medium, R 1-2 high.
    A model without dropout (the NBD, which the model ladder uses when the data
    show no churn) gives every customer P(alive) = 1: then every customer takes
    their level from recency.

    Parameters
    ----------
    p_alive : numpy.ndarray
        P(alive) of each customer.
    early_warning : numpy.ndarray of bool or None
        The early-warning flag of each customer; a flagged customer moves one level up.
    low_alive, high_alive : float, default 0.3 and 0.7
        P(alive) below ``low_alive`` is high risk; at or above ``high_alive``, low risk.
    frequency : numpy.ndarray or None
        Repeat purchases, to find the one-time buyers.
    r_score : numpy.ndarray or None
        The RFM R score, which sets the level of one-time buyers.

    Returns
    -------
    numpy.ndarray of str
        The risk tier of each customer.
    """
    if not 0 <= low_alive <= high_alive <= 1:
        raise DataError(f"risk cut points must satisfy 0 <= low_alive <= high_alive <= 1; got low_alive={low_alive}, "
                        f"high_alive={high_alive}.")
    p = np.asarray(p_alive, dtype=float)
    if np.isnan(p).any():
        raise DataError(f"p_alive is missing for {int(np.isnan(p).sum())} customer(s); score every customer first.")
    level = np.where(p >= high_alive, 0, np.where(p >= low_alive, 1, 2))
    if frequency is not None and r_score is not None:
        certain = p >= 1.0 - 1e-12
        uninformative = certain if certain.all() else (np.asarray(frequency) == 0) & certain
        by_recency = np.select([np.asarray(r_score) >= 4, np.asarray(r_score) == 3], [0, 1], default=2)
        level = np.where(uninformative, by_recency, level)
    if early_warning is not None:
        level = np.minimum(level + np.asarray(early_warning, dtype=bool), 2)
    return np.array(RISK_TIERS, dtype=object)[level]
