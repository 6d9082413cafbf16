"""Cohorts: retention by acquisition month, repeat-order revenue share, CLV over time (observed and projected)."""

from clv.cohorts.clv_over_time import ClvOverTime, clv_over_time
from clv.cohorts.retention import RepeatShare, repeat_share, retention_matrix, retention_wide

__all__ = ["ClvOverTime", "RepeatShare", "clv_over_time", "repeat_share", "retention_matrix", "retention_wide"]
