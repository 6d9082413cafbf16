"""Customer feedback: Net Promoter Score, over time and next to customer value."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "FREQUENCIES": "clv.feedback.nps",
    "NPSByValue": "clv.feedback.nps",
    "NPS_GROUPS": "clv.feedback.nps",
    "REJECT_REASONS": "clv.feedback.nps",
    "SurveyAnswers": "clv.feedback.nps",
    "SurveyColumns": "clv.feedback.nps",
    "latest_answers": "clv.feedback.nps",
    "nps_by_value": "clv.feedback.nps",
    "nps_over_time": "clv.feedback.nps",
    "nps_summary": "clv.feedback.nps",
    "read_survey": "clv.feedback.nps",
})
