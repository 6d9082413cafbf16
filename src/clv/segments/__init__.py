"""From scores to decisions: RFM segments, value and churn-risk tiers, early warning, the action playbook.

Typical use::

    summary = summarize(orders, time_unit="week")
    scores = score_customers(summary, bgnbd, gammagamma, horizon=52, time_unit="week")
    frame = assign_segments(summary, scores, orders)
    playbook(frame)                       # one row per action, with value at stake
    export_segment(frame, "win_back", "win_back.csv")

See docs/segments.md for the rules, thresholds and assumptions.
"""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ACTIONS": "clv.segments.playbook",
    "DEFAULT_RATES": "clv.segments.playbook",
    "DEFAULT_SEGMENT_RULES": "clv.segments.rfm",
    "DEFAULT_VALUE_CUTS": "clv.segments.tiers",
    "RISK_TIERS": "clv.segments.tiers",
    "SEGMENT_NAMES": "clv.segments.rfm",
    "EarlyWarning": "clv.segments.early_warning",
    "EarlyWarningSettings": "clv.segments.early_warning",
    "Playbook": "clv.segments.playbook",
    "PlaybookSettings": "clv.segments.playbook",
    "RFMScores": "clv.segments.rfm",
    "Segments": "clv.segments.assign",
    "assign_actions": "clv.segments.playbook",
    "assign_segments": "clv.segments.assign",
    "early_warning": "clv.segments.early_warning",
    "early_warning_expression": "clv.segments.early_warning",
    "export_segment": "clv.segments.assign",
    "playbook": "clv.segments.playbook",
    "risk_tiers": "clv.segments.tiers",
    "rfm_scores": "clv.segments.rfm",
    "rfm_segments": "clv.segments.rfm",
    "segment_names": "clv.segments.assign",
    "select_segment": "clv.segments.assign",
    "validate_rules": "clv.segments.rfm",
    "value_tier_names": "clv.segments.tiers",
    "value_tiers": "clv.segments.tiers",
})
