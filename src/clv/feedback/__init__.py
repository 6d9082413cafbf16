"""Customer feedback: Net Promoter Score, over time and next to customer value."""

from clv.feedback.nps import (
    FREQUENCIES,
    NPS_GROUPS,
    REJECT_REASONS,
    SurveyAnswers,
    SurveyColumns,
    latest_answers,
    nps_by_value,
    nps_over_time,
    nps_summary,
    read_survey,
)

__all__ = [
    "FREQUENCIES",
    "NPS_GROUPS",
    "REJECT_REASONS",
    "SurveyAnswers",
    "SurveyColumns",
    "latest_answers",
    "nps_by_value",
    "nps_over_time",
    "nps_summary",
    "read_survey",
]
