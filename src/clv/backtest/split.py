"""Calibration/holdout split of the order lines for a backtest."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from clv.data.orders_table import as_orders_table
from clv.errors import DataError
from clv.summary.customers import (
    UNIT_DAYS,
    calibration_holdout,
    order_date,
    resolve_observation_end,
)


@dataclass(frozen=True)
class Split:
    """The per-customer calibration summary with holdout columns, and the dates behind it.

    ``frame`` is :func:`clv.summary.calibration_holdout`'s result plus
    ``value_holdout`` (gross purchase value in the holdout window =
    ``frequency_holdout * monetary_value_holdout``) and ``average_spend``
    (calibration purchase value per purchase period, ``gross_revenue / (frequency + 1)``,
    floored at 0). A purchase log (no amounts) has neither, nor the value
    columns of the summary: ``has_amounts`` is False and only purchases can
    be compared.
    """

    frame: pd.DataFrame
    first_order: dt.date
    calibration_end: dt.date
    observation_end: dt.date
    unit: str
    merge: str

    @property
    def has_amounts(self) -> bool:
        """False for a purchase log: the split has no value columns."""
        return self.frame.attrs.get("has_amounts", True) is not False

    @property
    def holdout_length(self) -> float:
        """Length of the holdout window in ``unit``."""
        return float(self.frame["duration_holdout"].iloc[0]) if len(self.frame) else math.nan

    @property
    def calibration_length(self) -> float:
        """Calibration length in ``unit``: from the first order to the calibration end."""
        return (self.calibration_end - self.first_order).days / UNIT_DAYS[self.unit]


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
    observation_end: Any = None, unit: str = "week", merge: str = "day",
) -> Split:
    """Split at the calibration end and summarise both windows per customer (inside the engine)."""
    table = as_orders_table(orders)
    first = pd.Timestamp(order_date(table).min().to_pyarrow().as_py()).date()
    end = resolve_observation_end(orders, observation_end)
    cal_end = resolve_calibration_end(first, end, calibration_end, calibration_fraction)
    if not first <= cal_end < end:
        raise DataError(
            f"calibration_end {cal_end} must lie in [{first}, {end}) (first order date, observation end); "
            "pick a date inside the data so both windows have days."
        )
    frame = calibration_holdout(table, calibration_end=cal_end, observation_end=end, unit=unit, merge=merge)
    if frame.empty:
        raise DataError(f"no customer purchased by calibration_end {cal_end}: nothing to backtest.")
    if frame.attrs.get("has_amounts", True) is not False:
        frame["value_holdout"] = frame["frequency_holdout"] * frame["monetary_value_holdout"]
        # gross purchase value per purchase, as the holdout value and the spend models count it
        frame["average_spend"] = frame["gross_revenue"].to_numpy(float) / (frame["frequency"].to_numpy(float) + 1)
    return Split(frame, first, cal_end, end, unit, merge)


def inner_split(orders: Any, split: Split) -> Split:
    """A split inside the calibration period, used to learn baseline relationships without the holdout.

    The inner holdout is the last ``min(holdout length, half the calibration
    length)`` of the calibration period (in whole days).
    """
    days = min(split.holdout_length * UNIT_DAYS[split.unit], split.calibration_length * UNIT_DAYS[split.unit] / 2)
    inner_end = split.calibration_end - dt.timedelta(days=max(1, math.floor(days)))
    if inner_end < split.first_order:
        raise DataError("the calibration period is too short (under 2 days) to learn the RFM baseline's relationship.")
    return split_orders(orders, calibration_end=inner_end, observation_end=split.calibration_end,
                        unit=split.unit, merge=split.merge)
