"""``litt``: the sum of log inter-purchase times, computed in the engine (summarize / calibration_holdout)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.summary import calibration_holdout, summarize


def _orders(rows):
    customers, days = zip(*rows)
    return pd.DataFrame({"customer_id": list(customers),
                         "order_ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(list(days), unit="D"),
                         "amount": np.full(len(rows), 10.0)})


def _litt_by_hand(days: list[int], per_unit: float) -> float:
    distinct = sorted(set(days))
    return float(sum(math.log((b - a) / per_unit) for a, b in zip(distinct, distinct[1:])))


def test_litt_is_off_by_default_and_sums_log_gaps_in_the_unit():
    orders = _orders([("a", 0), ("a", 7), ("a", 21), ("a", 21), ("b", 7), ("c", 0), ("c", 1)])
    assert "litt" not in summarize(orders).table.columns
    data = summarize(orders, litt=True)
    got = dict(zip(data["customer_id"], data["litt"]))
    assert got["a"] == pytest.approx(math.log(1.0) + math.log(2.0), abs=1e-12)  # gaps of 1 and 2 weeks
    assert got["b"] == 0.0  # no repeat purchase
    assert got["c"] == pytest.approx(math.log(1 / 7), abs=1e-12)
    in_days = summarize(orders, litt=True, time_unit="day")
    np.testing.assert_allclose(in_days["litt"], [math.log(7) + math.log(14), 0.0, 0.0], atol=1e-12)


def test_in_time_unit_converts_litt_by_frequency_log_ratio():
    orders = _orders([("a", 0), ("a", 7), ("a", 21), ("b", 3), ("c", 0), ("c", 30), ("c", 31), ("c", 95)])
    weeks = summarize(orders, litt=True)
    for unit in ("day", "month", "year"):
        np.testing.assert_allclose(weeks.in_time_unit(unit)["litt"], summarize(orders, litt=True, time_unit=unit)["litt"],
                                   atol=1e-12)


def test_a_cancelled_first_period_still_starts_the_first_gap():
    orders = _orders([("a", 0), ("a", 10), ("a", 24)])
    orders = pd.concat([orders, pd.DataFrame({"customer_id": ["a"], "order_ts": [pd.Timestamp("2024-01-01")],
                                              "amount": [-10.0]})], ignore_index=True)
    data = summarize(orders, litt=True, time_unit="day")
    assert data["frequency"].tolist() == [2] and data["recency"].tolist() == [24.0]
    assert data["litt"].tolist() == pytest.approx([math.log(10) + math.log(14)])


def test_calibration_holdout_litt_covers_the_calibration_window_only():
    orders = _orders([("a", 0), ("a", 2), ("a", 5), ("a", 40), ("b", 1), ("b", 50)])
    split = calibration_holdout(orders, calibration_end="2024-01-20", observation_end="2024-03-01",
                                time_unit="day", litt=True)
    assert dict(zip(split["customer_id"], split["litt"])) == pytest.approx({"a": math.log(2) + math.log(3), "b": 0.0})
    assert "litt" not in calibration_holdout(orders, calibration_end="2024-01-20").table.columns


def test_merge_unit_counts_gaps_in_whole_periods():
    orders = _orders([("a", 0), ("a", 1), ("a", 15), ("a", 29)])  # Mon 1 Jan, Tue, Mon 15, Mon 29
    data = summarize(orders, litt=True, merge="unit")
    assert data["frequency"].tolist() == [2] and data["litt"].tolist() == pytest.approx([math.log(2) + math.log(2)])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 200)), min_size=1, max_size=30),
       st.sampled_from(["day", "week", "month"]))
def test_litt_matches_a_direct_computation(rows, unit):
    data = summarize(_orders(rows), litt=True, time_unit=unit, observation_end="2024-12-31")
    per_unit = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}[unit]
    for customer, litt in zip(data["customer_id"], data["litt"]):
        days = [d for c, d in rows if c == customer]
        assert litt == pytest.approx(_litt_by_hand(days, per_unit), abs=1e-9)
