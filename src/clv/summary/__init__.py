"""Per-customer summaries (frequency, recency, T, monetary value), computed in the engine."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "HOLDOUT_VALUE_COLUMNS": "clv.summary.amounts",
    "NO_AMOUNTS": "clv.summary.amounts",
    "UNIT_DAYS": "clv.summary.customers",
    "VALUE_COLUMNS": "clv.summary.amounts",
    "Compressed": "clv.summary.compress",
    "apply_on_distinct": "clv.summary.compress",
    "calibration_holdout": "clv.summary.customers",
    "compress": "clv.summary.compress",
    "compressed_summary": "clv.summary.customers",
    "declared_amounts": "clv.summary.amounts",
    "no_amounts_error": "clv.summary.amounts",
    "require_amounts": "clv.summary.amounts",
    "summarize": "clv.summary.customers",
    "summary_expression": "clv.summary.customers",
    "summary_is_log": "clv.summary.amounts",
    "valued_orders_table": "clv.summary.amounts",
})
