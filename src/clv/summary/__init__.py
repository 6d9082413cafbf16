"""Per-customer summaries (frequency, recency, T, monetary value), computed in the engine."""

from clv.summary.compress import Compressed, apply_on_distinct, compress
from clv.summary.customers import (
    UNIT_DAYS,
    calibration_holdout,
    compressed_summary,
    summarize,
    summary_expression,
)

__all__ = [
    "UNIT_DAYS",
    "Compressed",
    "apply_on_distinct",
    "calibration_holdout",
    "compress",
    "compressed_summary",
    "summarize",
    "summary_expression",
]
