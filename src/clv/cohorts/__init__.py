"""Cohorts: retention by acquisition month, repeat-order revenue share, CLV over time (observed and projected)."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ClvOverTime": "clv.cohorts.clv_over_time",
    "RepeatShare": "clv.cohorts.retention",
    "clv_over_time": "clv.cohorts.clv_over_time",
    "repeat_share": "clv.cohorts.retention",
    "retention_matrix": "clv.cohorts.retention",
    "retention_wide": "clv.cohorts.retention",
})
