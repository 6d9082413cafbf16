"""Customer data: per-customer summaries (frequency, recency, T, monetary value) with their context.

:func:`summarize` and :func:`calibration_holdout` compute the table in the
engine and return :class:`CustomerData`, which carries the time unit,
observation end, split, merge rule and currency with it.
"""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "HOLDOUT_VALUE_COLUMNS": "clv.summary.amounts",
    "LARGELY_REFUNDED_SHARE": "clv.summary.refunds",
    "NO_AMOUNTS": "clv.summary.amounts",
    "VALUE_COLUMNS": "clv.summary.amounts",
    "Compressed": "clv.summary.compress",
    "CovariateDesign": "clv.summary.covariates",
    "attach_covariates": "clv.summary.covariates",
    "CustomerData": "clv.summary.customer_data",
    "as_customer_data": "clv.summary.customer_data",
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
    "validate_rfm": "clv.summary.histories",
})
