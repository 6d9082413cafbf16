"""Calibration/holdout split of the order lines for a backtest."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clv.data.orders_table import as_orders_table
from clv.errors import DataError
from clv.summary import CustomerData
from clv.summary.customers import calibration_holdout, order_date, resolve_observation_end
from clv.units import DAYS_PER_UNIT, DEFAULT_TIME_UNIT


@dataclass(frozen=True)
class Split:
    """The split customer data of a backtest, and the first order date.

    ``data`` is :func:`clv.summary.calibration_holdout`'s result, its table
    with ``value_holdout`` (net purchase value in the holdout window =
    ``frequency_holdout * monetary_value_holdout``, refunds netted: docs/summary.md) and
    ``average_spend`` (net calibration purchase value per purchase period,
    ``(gross_revenue - refunded) / (frequency + 1)``, floored at 0) added. A purchase log (no amounts) has neither, nor the value
    columns of the summary: ``has_amounts`` is False and only purchases can
    be compared.

    Parameters
    ----------
    data : CustomerData
        The split customer data (calibration columns, holdout columns, ``value_holdout`` and
        ``average_spend``), with its calibration end, observation end, time unit and merge rule.
    first_order : datetime.date
        The day of the first order line: where the calibration window starts.
    """

    data: CustomerData
    first_order: dt.date

    @property
    def frame(self) -> pd.DataFrame:
        """The per-customer table."""
        return self.data.table

    @property
    def calibration_end(self) -> dt.date:
        return self.data.calibration_end

    @property
    def observation_end(self) -> dt.date:
        return self.data.observation_end

    @property
    def time_unit(self) -> str:
        return self.data.time_unit

    @property
    def merge(self) -> str:
        return self.data.merged_per

    @property
    def has_amounts(self) -> bool:
        """False for a purchase log: the split has no value columns."""
        return self.data.has_amounts

    @property
    def holdout_length(self) -> float:
        """Length of the holdout window in ``time_unit``."""
        return float(self.data.holdout_length)

    @property
    def calibration_length(self) -> float:
        """Calibration length in ``time_unit``: from the first order to the calibration end."""
        return (self.calibration_end - self.first_order).days / DAYS_PER_UNIT[self.time_unit]


def resolve_calibration_end(first: dt.date, end: dt.date, calibration_end: Any, calibration_fraction: Any) -> dt.date:
    """The calibration end: given as a date, or ``first + fraction * (end - first)`` (whole days, floor)."""
    if (calibration_end is None) == (calibration_fraction is None):
        raise DataError("give exactly one of calibration_end (a date) or calibration_fraction (e.g. 0.5 of the data's span).")
    if calibration_end is not None:
        try:
            return pd.Timestamp(calibration_end).date()
        except (TypeError, ValueError) as exc:
            raise DataError(f"calibration_end {calibration_end!r} is not a date (use e.g. '1997-09-30').") from exc
    fraction = float(calibration_fraction)
    if not 0 < fraction < 1:
        raise DataError(f"calibration_fraction must lie strictly between 0 and 1 (0.5 = first half), got {calibration_fraction!r}.")
    return first + dt.timedelta(days=math.floor(fraction * (end - first).days))


def split_orders(
    orders: Any, *, calibration_end: Any = None, calibration_fraction: Any = None,
    observation_end: Any = None, time_unit: str = DEFAULT_TIME_UNIT, merge: str = "day", litt: bool = False,
) -> Split:
    """Split at the calibration end and summarise both windows per customer (inside the engine).

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines.
    calibration_end : date-like or None, default None
        Last calibration day; or give ``calibration_fraction`` (exactly one of the two).
    calibration_fraction : float or None, default None
        The calibration end as a fraction, strictly between 0 and 1, of the span from the first
        order to ``observation_end`` (whole days, rounded down).
    observation_end : date-like or None, default None
        Last holdout day (default: the last order date).
    time_unit : str, default "week"
        Time unit of the summary; one of :data:`clv.units.TIME_UNITS`.
    merge : {"day", "unit"}, default "day"
        Purchases merged per day or per period of ``time_unit``.
    litt : bool, default False
        Also compute ``litt``, the sum of log inter-purchase times (the CNBD-k models read it;
        :func:`clv.summary.calibration_holdout`).

    Returns
    -------
    Split
        The split customer data (:func:`clv.summary.calibration_holdout` with ``value_holdout``
        and ``average_spend``) and the first order date.

    Raises
    ------
    clv.errors.DataError
        For both or neither of ``calibration_end`` and ``calibration_fraction``, a calibration end
        that is not a date or not in [first order, observation end), a fraction not in (0, 1), or
        no customer who purchased by the calibration end.
    """
    table = as_orders_table(orders)
    first = pd.Timestamp(order_date(table).min().to_pyarrow().as_py()).date()
    end = resolve_observation_end(orders, observation_end)
    cal_end = resolve_calibration_end(first, end, calibration_end, calibration_fraction)
    if not first <= cal_end < end:
        raise DataError(
            f"calibration_end {cal_end} must lie in [{first}, {end}) (first order date, observation end); "
            "pick a date inside the data so both windows have days."
        )
    extra = {"litt": True} if litt else {}  # asked only when a model reads it (it costs a window in the engine)
    data = calibration_holdout(orders, calibration_end=cal_end, observation_end=end, time_unit=time_unit, merge=merge,
                               **extra)
    if data.table.empty:
        raise DataError(f"no customer purchased by calibration_end {cal_end}: nothing to backtest.")
    if data.has_amounts:
        frame = data.table
        frame["value_holdout"] = frame["frequency_holdout"] * frame["monetary_value_holdout"]
        # net purchase value per purchase (refunds netted), as the holdout value and the spend models count it
        net = frame["gross_revenue"].to_numpy(float) - frame["refunded"].to_numpy(float)
        frame["average_spend"] = np.maximum(net, 0.0) / (frame["frequency"].to_numpy(float) + 1)
    return Split(data, first)


def inner_split(orders: Any, split: Split) -> Split:
    """A split inside the calibration period, used to learn baseline relationships without the holdout.

    The inner holdout is the last ``min(holdout length, half the calibration
    length)`` of the calibration period (in whole days).
    """
    unit_days = DAYS_PER_UNIT[split.time_unit]
    days = min(split.holdout_length * unit_days, split.calibration_length * unit_days / 2)
    inner_end = split.calibration_end - dt.timedelta(days=max(1, math.floor(days)))
    if inner_end < split.first_order:
        raise DataError("the calibration period is too short (under 2 days) to learn the RFM baseline's relationship.")
    return split_orders(orders, calibration_end=inner_end, observation_end=split.calibration_end,
                        time_unit=split.time_unit, merge=split.merge)
