"""From scores to decisions: RFM segments, value and churn-risk tiers, early warning, the action playbook.

Typical use::

    summary = summarize(orders, unit="week")
    scores = score_customers(summary, bgnbd, gammagamma, horizon=52, time_unit="week")
    frame = assign_segments(summary, scores, orders)
    playbook(frame)                       # one row per action, with value at stake
    export_segment(frame, "win_back", "win_back.csv")

See docs/segments.md for the rules, thresholds and assumptions.
"""

from clv.segments.assign import assign_segments, export_segment, segment_names, select_segment
from clv.segments.early_warning import EarlyWarningSettings, early_warning, early_warning_expression
from clv.segments.playbook import ACTIONS, DEFAULT_RATES, PlaybookSettings, assign_actions, playbook
from clv.segments.rfm import DEFAULT_SEGMENT_RULES, SEGMENT_NAMES, rfm_scores, rfm_segments, validate_rules
from clv.segments.tiers import DEFAULT_VALUE_CUTS, RISK_TIERS, risk_tiers, value_tier_names, value_tiers

__all__ = [
    "ACTIONS",
    "DEFAULT_RATES",
    "DEFAULT_SEGMENT_RULES",
    "DEFAULT_VALUE_CUTS",
    "RISK_TIERS",
    "SEGMENT_NAMES",
    "EarlyWarningSettings",
    "PlaybookSettings",
    "assign_actions",
    "assign_segments",
    "early_warning",
    "early_warning_expression",
    "export_segment",
    "playbook",
    "risk_tiers",
    "rfm_scores",
    "rfm_segments",
    "segment_names",
    "select_segment",
    "validate_rules",
    "value_tier_names",
    "value_tiers",
]
