"""The action playbook: one retention tactic per customer, and what each is worth.

Every customer gets exactly one action, the first whose rule holds, in this
order (``high value`` = any value tier above ``rest``; ``top tiers`` = the
first ``vip_tiers`` value tiers, by default top 1% and top 5%; ``big spender``
= M score >= ``big_spender_m_score``, by default 5):

====================== =======================================================
action                 rule
====================== =======================================================
win_back               high churn risk and (high value or big spender)
vip_loyalty            top tiers (and not high risk)
onboarding             one purchase so far (frequency 0) and R score >= 4
price_rise_candidate   high value and low churn risk
shield_from_price_rise high value and medium churn risk
cross_sell             F score >= 4 and order value below the median customer's
reactivation           high churn risk (low value)
nurture                everyone else
====================== =======================================================

Per action the playbook reports the customers, the value at stake (sum of
their predicted CLV) and the expected value saved = ``rate x value at stake``
under a stated, configurable rate per action (:data:`DEFAULT_RATES`): these
rates are planning assumptions, not estimates from the data; replace them with
your own campaign results.

A purchase log (no amounts) has no CLV and no spend: ``high value`` and the top
tiers come from tiers ranked by expected purchases, the two rules that need
spend are skipped (the big-spender part of win_back, which needs the M score,
and cross_sell, which needs the order value), and the playbook reports
purchases at stake (sum of expected purchases over the horizon) and
purchases to date (sum of ``n_orders``) instead of value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.result_table import ResultTable
from clv.segments.tiers import REST

ACTIONS = (
    "win_back", "vip_loyalty", "onboarding", "price_rise_candidate", "shield_from_price_rise",
    "cross_sell", "reactivation", "nurture",
)

DEFAULT_RATES: dict[str, float] = {
    "win_back": 0.10,
    "vip_loyalty": 0.05,
    "price_rise_candidate": 0.03,
    "shield_from_price_rise": 0.10,
    "onboarding": 0.05,
    "cross_sell": 0.05,
    "reactivation": 0.02,
    "nurture": 0.0,
}

ASSUMPTIONS: dict[str, str] = {
    "win_back": "a win-back campaign recovers {rate:.0%} of the at-risk value",
    "vip_loyalty": "VIP treatment keeps {rate:.0%} more of their predicted value",
    "price_rise_candidate": "a price rise adds {rate:.0%} of their predicted value, net of the few who leave",
    "shield_from_price_rise": "a price rise would lose {rate:.0%} of their value; shielding them keeps it",
    "onboarding": "onboarding adds {rate:.0%} to their predicted value (more second orders)",
    "cross_sell": "cross-sell and upsell add {rate:.0%} to their predicted value (bigger baskets)",
    "reactivation": "a cheap reactivation e-mail recovers {rate:.0%} of their predicted value",
    "nurture": "no campaign: {rate:.0%} change assumed",
}

WHY: dict[str, str] = {
    "win_back": "Valuable (high predicted value, or among the biggest spenders so far) but likely slipping away "
                "(low chance of being active, or their order rate or spend fell): worth a personal win-back offer "
                "before they are gone.",
    "vip_loyalty": "The few customers who carry the most future value: recognise and reward them (VIP perks, "
                   "early access, loyalty points) rather than discount them.",
    "price_rise_candidate": "Valuable and very likely to stay: the customers least likely to leave over a "
                            "modest price rise.",
    "shield_from_price_rise": "Valuable but not secure: a price rise could push them out; keep them on current "
                              "prices or grandfather them.",
    "onboarding": "Bought once, recently: a welcome series aimed at the second order, the step where most "
                  "customers are lost.",
    "cross_sell": "Buy often but spend little per order: bundles, recommendations and upsell to grow the basket.",
    "reactivation": "Low predicted value and likely gone: one cheap automated reactivation message, no paid media.",
    "nurture": "Low to middling value and not at risk: regular newsletter, no special spend.",
}


@dataclass(frozen=True)
class PlaybookSettings:
    """Rules and assumptions of the playbook.

    Parameters
    ----------
    vip_tiers : int, default 2
        How many top value tiers get VIP treatment (2 = top 1% and top 5%).
    new_r_score : int, default 4
        The RFM R score from which a one-time buyer is "new".
    frequent_f_score : int, default 4
        The RFM F score from which a buyer is "frequent".
    big_spender_m_score : int, default 5
        The M score from which a high-risk customer is worth a win-back even
        when their predicted value is low (predicted CLV already counts the
        churn risk, so lapsed big spenders rarely reach a top tier).
    low_aov_quantile : float, default 0.5
        Average order value below this quantile of all customers' is "low".
    rates : mapping of str to float, default DEFAULT_RATES
        Per action, the share of the value at stake assumed saved.
    """

    vip_tiers: int = 2
    new_r_score: int = 4
    frequent_f_score: int = 4
    big_spender_m_score: int = 5
    low_aov_quantile: float = 0.5
    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))

    def __post_init__(self) -> None:
        if int(self.vip_tiers) != self.vip_tiers or self.vip_tiers < 1:
            raise DataError(f"vip_tiers must be a whole number >= 1, got {self.vip_tiers!r}.")
        for name in ("new_r_score", "frequent_f_score", "big_spender_m_score"):
            if getattr(self, name) not in (1, 2, 3, 4, 5):
                raise DataError(f"{name} must be an RFM score 1-5, got {getattr(self, name)!r}.")
        if not 0 < self.low_aov_quantile < 1:
            raise DataError(f"low_aov_quantile must be in (0, 1), got {self.low_aov_quantile!r}.")
        unknown = sorted(set(self.rates) - set(ACTIONS))
        if unknown:
            raise DataError(f"rates: unknown action(s) {unknown}; actions are {list(ACTIONS)}.")
        bad = {k: v for k, v in self.rates.items() if not 0 <= float(v) <= 1}
        if bad:
            raise DataError(f"rates must be shares between 0 and 1; got {bad}.")
        object.__setattr__(self, "rates", {**DEFAULT_RATES, **{k: float(v) for k, v in self.rates.items()}})

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (``rates`` as a plain dict)."""
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "rates": dict(self.rates)}


MEASURES = ("value", "purchases")
"""What a playbook sums: predicted CLV ("value"), or expected purchases for a purchase log."""


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Playbook(ResultTable):
    """Per action: customers, what is at stake and the expected saving, with the rules and rates used.

    Returned by :func:`playbook`. Reads like its table (``plays["customers"]``,
    ``plays.set_index("action")``); the context is in typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per action, in :data:`ACTIONS` order (columns: see :func:`playbook`).
    measure : {"value", "purchases"}
        What the table sums: predicted CLV (``value_at_stake``, ...), or for a
        purchase log expected purchases (``purchases_at_stake``, ...).
    rules : PlaybookSettings
        The rules' thresholds and the assumed saved share per action (``rates``).
    skipped_rules : dict of str to str
        The rules that could not be applied, and why (a purchase log has no
        spend: :data:`LOG_SKIPPED_RULES`); empty with amounts.
    """

    measure: str = "value"
    rules: PlaybookSettings = PlaybookSettings()
    skipped_rules: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.measure not in MEASURES:
            raise DataError(f"measure must be one of {', '.join(MEASURES)}, got {self.measure!r}.")

    def settings(self) -> dict[str, Any]:
        """The measure, rules (rates included) and skipped rules as JSON-ready values."""
        return {"measure": self.measure, "rules": self.rules.to_dict(), "skipped_rules": dict(self.skipped_rules)}


ACTION_INPUTS = ("value_tier", "value_tier_rank", "risk_tier", "frequency", "r_score", "f_score", "m_score", "aov")
SPEND_INPUTS = ("m_score", "aov")
"""Inputs a purchase log does not have (no amounts)."""


def assign_actions(frame: pd.DataFrame, settings: PlaybookSettings = PlaybookSettings(), *,
                   without_amounts: bool = False) -> np.ndarray:
    """One action per customer: the first rule in :data:`ACTIONS` order that holds.

    ``without_amounts`` (a purchase log): the rules on spend (big spender, low
    order value) are skipped, so ``m_score`` and ``aov`` are not needed.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per customer with the columns the rules read (value_tier_rank,
        risk_tier, r_score, f_score, frequency, early_warning, and m_score and aov
        unless ``without_amounts``), as :func:`assign_segments` builds it.
    settings : PlaybookSettings, default PlaybookSettings()
        The rules' thresholds.
    without_amounts : bool, default False
        True for a purchase log: the rules on spend are skipped.

    Returns
    -------
    numpy.ndarray of str
        The action of each customer, in the frame's row order.
    """
    needed = [c for c in ACTION_INPUTS if not (without_amounts and c in SPEND_INPUTS)]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(missing_column_message(missing[0], missing[0], map(str, frame.columns)).split(" Fix:")[0]
                        + " Fix: pass the frame from clv.segments.assign_segments(...).")
    rank = frame["value_tier_rank"].to_numpy()
    risk = frame["risk_tier"].to_numpy()
    high_value = frame["value_tier"].to_numpy() != REST
    never = np.zeros(len(frame), dtype=bool)
    big_spender = never if without_amounts else frame["m_score"].to_numpy() >= settings.big_spender_m_score
    conditions = [
        (high_value | big_spender) & (risk == "high risk"),
        rank <= settings.vip_tiers,
        (frame["frequency"].to_numpy() == 0) & (frame["r_score"].to_numpy() >= settings.new_r_score),
        high_value & (risk == "low risk"),
        high_value & (risk == "medium risk"),
        never if without_amounts else _frequent_small_baskets(frame, settings),
        risk == "high risk",
    ]
    return np.select(conditions, ACTIONS[:-1], default=ACTIONS[-1]).astype(object)


def _frequent_small_baskets(frame: pd.DataFrame, settings: PlaybookSettings) -> np.ndarray:
    """The cross-sell rule: F score >= ``frequent_f_score`` and order value below the ``low_aov_quantile``."""
    aov = frame["aov"].to_numpy(float)
    return (frame["f_score"].to_numpy() >= settings.frequent_f_score) & (aov < np.quantile(aov, settings.low_aov_quantile))


def playbook(frame: pd.DataFrame, settings: PlaybookSettings = PlaybookSettings()) -> Playbook:
    """Per action: customers, value at stake (sum of CLV), expected value saved, the assumption and why.

    ``revenue_to_date`` (net revenue of the members so far) shows what the
    list was worth in the past, next to what it is predicted to be worth.

    ``frame`` is the output of :func:`clv.segments.assign_segments` (columns
    ``action`` and ``clv``). Rows follow :data:`ACTIONS`; sizes add up to the
    number of customers and value at stake to their total CLV.

    For a purchase log (segments whose ``value_measure`` is
    ``"expected_purchases"``, no ``clv``) the measure is purchases: columns
    ``purchases_at_stake``, ``share_of_purchases``, ``purchases_to_date`` and
    ``expected_purchases_saved`` replace the value columns, and the
    assumptions speak of purchases.

    Parameters
    ----------
    frame : Segments or pandas.DataFrame
        The output of :func:`clv.segments.assign_segments`.
    settings : PlaybookSettings, default PlaybookSettings()
        The assumed saved shares (``rates``) and rules.

    Returns
    -------
    Playbook
        One row per action, in :data:`ACTIONS` order, with the measure, the
        rules and the rules skipped.
    """
    measure = _measure(frame)
    for column in ("action", measure.source):
        if column not in frame.columns:
            raise DataError(missing_column_message(column, column, map(str, frame.columns)).split(" Fix:")[0]
                            + " Fix: pass the frame from clv.segments.assign_segments(...).")
    codes = pd.Categorical(frame["action"], categories=ACTIONS).codes
    if (codes < 0).any():
        raise DataError(f"unknown action {frame['action'][codes < 0].iloc[0]!r}; actions are {list(ACTIONS)}.")
    predicted = frame[measure.source].to_numpy(float)
    customers = np.bincount(codes, minlength=len(ACTIONS))
    at_stake = np.bincount(codes, weights=predicted, minlength=len(ACTIONS))
    rates = np.array([settings.rates[a] for a in ACTIONS])
    total = predicted.sum()
    table = pd.DataFrame({
        "action": ACTIONS,
        "customers": customers,
        "share_of_customers": customers / max(len(frame), 1),
        f"{measure.name}_at_stake": at_stake,
        f"share_of_{measure.name}": at_stake / total if total else np.nan,
        f"{measure.to_date}_to_date": np.bincount(codes, weights=frame[measure.to_date_source].to_numpy(float),
                                                  minlength=len(ACTIONS))
        if measure.to_date_source in frame.columns else np.nan,
        "assumed_rate": rates,
        f"expected_{measure.name}_saved": rates * at_stake,
        "assumption": [measure.words(ASSUMPTIONS[a].format(rate=settings.rates[a])) for a in ACTIONS],
        "why": [WHY[a] for a in ACTIONS],
    })
    skipped = dict(LOG_SKIPPED_RULES) if measure is _PURCHASES else {}
    return Playbook(table, measure=measure.name, rules=settings, skipped_rules=skipped)


LOG_SKIPPED_RULES = {
    "cross_sell": "needs the order value: this history has no amounts",
    "win_back (big spender)": "needs the M score: this history has no amounts",
}
"""The rules a purchase log cannot apply, and why (``playbook(...).skipped_rules``)."""


@dataclass(frozen=True)
class _Measure:
    """What the playbook sums: predicted CLV (value), or expected purchases for a purchase log."""

    name: str
    source: str
    to_date: str
    to_date_source: str

    def words(self, text: str) -> str:
        """An assumption in the words of the measure ("value" becomes "purchases" for a log)."""
        return text if self.name == "value" else text.replace("value", "purchases")


_VALUE = _Measure("value", "clv", "revenue", "revenue")
_PURCHASES = _Measure("purchases", "expected_purchases", "purchases", "n_orders")


def _measure(frame: pd.DataFrame) -> _Measure:
    """Purchases for a purchase log's segments (no clv, value tiers ranked by expected purchases), else value."""
    log = "clv" not in frame.columns and getattr(frame, "value_measure", None) == "expected_purchases"
    return _PURCHASES if log else _VALUE
