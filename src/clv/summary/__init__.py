"""Per-customer summaries (frequency, recency, T, monetary value), computed in the engine."""

from clv.summary.amounts import (
    HOLDOUT_VALUE_COLUMNS,
    NO_AMOUNTS,
    VALUE_COLUMNS,
    declared_amounts,
    no_amounts_error,
    require_amounts,
    summary_is_log,
    valued_orders_table,
)
from clv.summary.compress import Compressed, apply_on_distinct, compress
from clv.summary.customers import (
    UNIT_DAYS,
    calibration_holdout,
    compressed_summary,
    summarize,
    summary_expression,
)

__all__ = [
    "HOLDOUT_VALUE_COLUMNS",
    "NO_AMOUNTS",
    "UNIT_DAYS",
    "VALUE_COLUMNS",
    "Compressed",
    "apply_on_distinct",
    "calibration_holdout",
    "compress",
    "compressed_summary",
    "declared_amounts",
    "no_amounts_error",
    "require_amounts",
    "summarize",
    "summary_expression",
    "summary_is_log",
    "valued_orders_table",
]
