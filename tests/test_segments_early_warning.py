"""Early-warning flag on hand-made order histories."""

import numpy as np
import pandas as pd
import pytest

from clv.errors import DataError
from clv.segments import EarlyWarningSettings, early_warning

START = pd.Timestamp("2024-01-01")
END = "2024-12-30"  # day 364 after START
END_DAY = 364


def orders_for(histories: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    """Order lines from {customer: [(day after START, amount), ...]}."""
    rows = [(customer, day, amount) for customer, lines in histories.items() for day, amount in lines]
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    frame["order_ts"] = START + pd.to_timedelta(frame.pop("day"), unit="D") + pd.Timedelta(hours=10)
    return frame


def every(gap: int, start: int, stop: int, amount: float = 20.0) -> list[tuple[int, float]]:
    return [(d, amount) for d in range(start, stop + 1, gap)]


@pytest.mark.parametrize("phase", range(0, 14))
def test_a_customer_whose_order_rate_halves_is_flagged_and_a_steady_one_is_not(phase):
    change = END_DAY - 90  # the recent window starts the day after
    histories = {
        "halved": every(7, phase % 7, change) + every(14, change + 1 + phase, END_DAY),
        "steady": every(7, phase % 7, END_DAY),
        "halved_short_history": every(7, 180 - phase % 7, change) + every(14, change + 1 + phase, END_DAY),
    }
    table = early_warning(orders_for(histories), observation_end=END).set_index("customer_id")
    assert table.loc["halved", "warning_eligible"] and table.loc["steady", "warning_eligible"]
    assert table.loc["halved", "early_warning"]
    assert table.loc["halved_short_history", "warning_eligible"] and table.loc["halved_short_history", "early_warning"]
    assert not table.loc["steady", "early_warning"]
    assert table.loc["halved", "order_rate_ratio"] <= 0.6
    assert table.loc["steady", "order_rate_ratio"] > 0.9


def test_counts_and_ratios_on_a_hand_computed_history():
    # first purchase day 0, cutoff day 274: 10 repeat orders in 274 days -> 10 * 90 / 274 = 3.28 expected
    history = {"a": every(25, 0, 250, amount=50.0) + [(300, 10.0), (301, 10.0)]}
    row = early_warning(orders_for(history), observation_end=END).iloc[0]
    assert row["orders_before"] == 11 and row["orders_recent"] == 2
    expected = 10 * 90 / 274
    assert row["expected_recent_orders"] == pytest.approx(expected)
    assert row["order_rate_ratio"] == pytest.approx(2 / expected)  # 0.61: the rate alone would not flag
    assert row["expected_recent_spend"] == pytest.approx(expected * 50.0)
    assert row["spend_ratio"] == pytest.approx(20.0 / (expected * 50.0))
    assert row["early_warning"]  # flagged by the spend: 0.12 <= 0.6


def test_a_falling_spend_at_a_steady_rate_is_flagged():
    history = {"cheaper": every(7, 0, 274, amount=100.0) + every(7, 280, END_DAY, amount=30.0)}
    row = early_warning(orders_for(history), observation_end=END).iloc[0]
    assert row["order_rate_ratio"] > 0.9
    assert row["spend_ratio"] < 0.35
    assert row["early_warning"]


def test_same_day_lines_are_one_order_and_refunds_count_in_spend_only():
    history = {"a": every(10, 0, 270) + [(270, 5.0)] + every(10, 280, END_DAY) + [(290, -15.0)]}
    row = early_warning(orders_for(history), observation_end=END).iloc[0]
    assert row["orders_before"] == 28 and row["orders_recent"] == 9
    assert row["spend_recent"] == pytest.approx(9 * 20.0 - 15.0)


def test_customers_without_enough_history_are_not_eligible():
    histories = {
        "one_order_before": [(10, 20.0)],
        "short_burst": [(250, 20.0), (252, 20.0)],  # only 25 days observed before the window
        "yearly": [(0, 20.0), (200, 20.0)],  # expected 0.66 orders in 90 days: not late yet
        "eligible": every(20, 0, 260),
    }
    table = early_warning(orders_for(histories), observation_end=END).set_index("customer_id")
    assert table["warning_eligible"].to_dict() == {
        "eligible": True, "one_order_before": False, "short_burst": False, "yearly": False}
    assert table["early_warning"].to_dict() == {
        "eligible": True, "one_order_before": False, "short_burst": False, "yearly": False}


def test_lines_after_the_observation_end_are_ignored_and_refund_only_customers_dropped():
    histories = {"a": every(7, 0, END_DAY) + [(END_DAY + 5, 20.0)], "refunder": [(100, -20.0)]}
    table = early_warning(orders_for(histories), observation_end=END)
    assert table["customer_id"].tolist() == ["a"]
    assert not table["early_warning"].iloc[0]


def test_thresholds_are_configurable():
    history = {"a": every(7, 0, 274) + every(10, 280, END_DAY)}  # rate falls to 0.7 of before
    orders = orders_for(history)
    assert not early_warning(orders, observation_end=END)["early_warning"].iloc[0]
    loose = EarlyWarningSettings(rate_drop=0.75, spend_drop=0.75)
    assert early_warning(orders, observation_end=END, settings=loose)["early_warning"].iloc[0]
    longer = early_warning(orders, observation_end=END, settings=EarlyWarningSettings(window_days=30))
    assert longer.thresholds.window_days == 30 and longer.settings()["window_days"] == 30


@pytest.mark.parametrize("bad", [
    {"window_days": 0}, {"rate_drop": 1.0}, {"spend_drop": -0.1}, {"min_orders_before": 1},
    {"min_expected_orders": -1.0},
])
def test_bad_settings_are_refused(bad):
    with pytest.raises(DataError, match=next(iter(bad))):
        EarlyWarningSettings(**bad)


def test_runs_on_an_ibis_table_with_the_same_result():
    import ibis

    orders = orders_for({"a": every(7, 0, 274) + every(21, 280, END_DAY), "b": every(7, 0, END_DAY)})
    from_frame = early_warning(orders, observation_end=END)
    from_table = early_warning(ibis.memtable(orders), observation_end=END)
    pd.testing.assert_frame_equal(from_frame.table, from_table.table)
    assert from_frame.settings() == from_table.settings()
    assert np.array_equal(from_frame["early_warning"], [True, False])
