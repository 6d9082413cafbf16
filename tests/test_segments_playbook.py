"""assign_segments, the playbook (sizes and value add up) and segment exports."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.data.synthetic import simulate_orders
from clv.errors import DataError
from clv.models.bgnbd import BetaGeoModel
from clv.models.gammagamma import GammaGammaModel
from clv.scores import score_customers
from clv.segments import (
    ACTIONS, SEGMENT_NAMES, PlaybookSettings, assign_segments, export_segment, playbook, select_segment,
    value_tier_names,
)
from clv.summary import summarize


@pytest.fixture(scope="module")
def store():
    orders = simulate_orders(1500, seed=11)
    summary = summarize(orders, time_unit="week")
    model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    spend = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    scores = score_customers(summary, model, spend, horizon=52, time_unit="week", intervals=None)
    return orders, summary, scores


@pytest.fixture(scope="module")
def segmented(store):
    orders, summary, scores = store
    return assign_segments(summary, scores, orders)


def test_one_row_per_customer_with_every_label(store, segmented):
    _, summary, scores = store
    assert len(segmented) == len(summary)
    assert segmented["customer_id"].tolist() == summary["customer_id"].tolist()
    assert np.allclose(segmented["clv"], scores["clv"])
    assert segmented["rfm_segment"].isin(SEGMENT_NAMES).all()
    assert segmented["value_tier"].isin(value_tier_names()).all()
    assert segmented["action"].isin(ACTIONS).all()
    assert segmented["early_warning"].dtype == bool
    assert segmented["early_warning"].sum() > 0  # simulated dropouts slow down before they stop
    assert segmented.early_warning_computed is True and segmented.settings()["early_warning"]["computed"] is True
    assert set(segmented.rfm_thresholds["metric"]) == {"recency", "frequency", "monetary"}


def test_playbook_sizes_add_up_and_value_at_stake_is_the_clv_of_members(segmented):
    plays = playbook(segmented)
    assert plays["action"].tolist() == list(ACTIONS)
    assert plays["customers"].sum() == len(segmented)
    members = segmented.groupby("action")["clv"].agg(["size", "sum"]).reindex(ACTIONS, fill_value=0)
    assert plays["customers"].tolist() == members["size"].tolist()
    assert np.allclose(plays["value_at_stake"], members["sum"])
    assert plays["value_at_stake"].sum() == pytest.approx(segmented["clv"].sum())
    assert np.allclose(plays["expected_value_saved"], plays["assumed_rate"] * plays["value_at_stake"])
    assert plays["revenue_to_date"].sum() == pytest.approx(segmented["revenue"].sum())
    win_back = plays.set_index("action").loc["win_back"]
    assert "10%" in win_back["assumption"] and win_back["why"]


def test_rules_of_the_actions_hold(segmented):
    by = segmented.groupby("action")
    high_value = segmented["value_tier"] != "rest"
    assert (segmented.loc[segmented.action == "win_back", "risk_tier"] == "high risk").all()
    big_spender = segmented["m_score"] >= 5
    assert (high_value | big_spender)[segmented.action == "win_back"].all()
    assert not (high_value | big_spender)[segmented.action == "reactivation"].any()
    assert segmented.loc[segmented.action == "vip_loyalty", "value_tier"].isin(["top 1%", "top 5%"]).all()
    assert (segmented.loc[segmented.action == "price_rise_candidate", "risk_tier"] == "low risk").all()
    assert (segmented.loc[segmented.action == "shield_from_price_rise", "risk_tier"] == "medium risk").all()
    assert (segmented.loc[segmented.action == "onboarding", "frequency"] == 0).all()
    assert not high_value[segmented.action.isin(["cross_sell", "reactivation", "nurture"])].any()
    assert set(by.groups) >= {"win_back", "vip_loyalty", "onboarding", "reactivation"}


def test_assumptions_are_configurable_and_stated(segmented):
    plays = playbook(segmented, PlaybookSettings(rates={"win_back": 0.25}))
    row = plays.set_index("action").loc["win_back"]
    assert row["assumed_rate"] == 0.25 and "25%" in row["assumption"]
    assert row["expected_value_saved"] == pytest.approx(0.25 * row["value_at_stake"])
    with pytest.raises(DataError, match="unknown action"):
        PlaybookSettings(rates={"winback": 0.1})
    with pytest.raises(DataError, match="between 0 and 1"):
        PlaybookSettings(rates={"win_back": 1.5})


def test_without_orders_no_customer_is_flagged(store):
    _, summary, scores = store
    frame = assign_segments(summary, scores)
    assert not frame["early_warning"].any() and not frame["warning_eligible"].any()
    assert frame.early_warning_computed is False


def test_export_csv_and_parquet_hold_the_segment_ids_and_scores(segmented, tmp_path):
    written = export_segment(segmented, "win-back", tmp_path / "win_back.csv")
    from_file = pd.read_csv(tmp_path / "win_back.csv")
    expected = segmented[segmented.action == "win_back"]
    assert sorted(from_file["customer_id"]) == sorted(expected["customer_id"])
    assert len(written) == len(from_file) > 0
    assert {"customer_id", "p_alive", "expected_purchases", "clv", "action", "value_tier"} <= set(from_file.columns)
    assert from_file["clv"].is_monotonic_decreasing
    joined = from_file.merge(segmented[["customer_id", "clv"]], on="customer_id", suffixes=("", "_all"))
    assert np.allclose(joined["clv"], joined["clv_all"])

    export_segment(segmented, "top 1%", tmp_path / "top.parquet")
    top = pd.read_parquet(tmp_path / "top.parquet")
    assert len(top) == 15 and (top["value_tier"] == "top 1%").all()
    assert len(select_segment(segmented, "CHAMPIONS")) == (segmented.rfm_segment == "champions").sum()
    assert len(select_segment(segmented, "early_warning")) == segmented["early_warning"].sum()


def test_export_refuses_unknown_names_and_formats(segmented, tmp_path):
    with pytest.raises(DataError, match="no segment named 'vips'.*win_back"):
        export_segment(segmented, "vips", tmp_path / "x.csv")
    with pytest.raises(DataError, match=r"\.csv"):
        export_segment(segmented, "win_back", tmp_path / "x.xlsx")


def test_summary_and_scores_must_hold_the_same_customers(store):
    _, summary, scores = store
    with pytest.raises(DataError, match="same customers"):
        assign_segments(summary, scores.iloc[:-1])
    with pytest.raises(DataError, match="clv"):
        assign_segments(summary, scores.drop(columns="clv"))


def random_inputs(n, seed):
    rng = np.random.default_rng(seed)
    frequency = rng.integers(0, 6, n)
    T = rng.uniform(1, 100, n)
    summary = pd.DataFrame({
        "customer_id": np.arange(n), "frequency": frequency,
        "recency": np.where(frequency > 0, T * rng.uniform(0, 1, n), 0.0), "T": T,
        "monetary_value": np.where(frequency > 0, rng.gamma(2, 20, n), 0.0),
        "n_orders": frequency + 1, "revenue": rng.gamma(2, 50, n),
    })
    scores = pd.DataFrame({
        "customer_id": np.arange(n)[::-1], "p_alive": np.where(frequency > 0, rng.uniform(0, 1, n), 1.0)[::-1],
        "expected_purchases": rng.uniform(0, 5, n), "expected_spend": rng.gamma(2, 20, n),
        "clv": rng.choice([0.0, 10.0, rng.gamma(1, 100)], n) if seed % 2 else rng.gamma(1, 100, n),
    })
    return summary, scores


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 400), st.integers(0, 10_000))
def test_every_customer_gets_exactly_one_segment_tier_and_action(n, seed):
    summary, scores = random_inputs(n, seed)
    frame = assign_segments(summary, scores)
    assert len(frame) == n and frame["customer_id"].is_unique
    assert frame["rfm_segment"].isin(SEGMENT_NAMES).all()
    assert frame["value_tier"].isin(value_tier_names()).all()
    assert frame["action"].isin(ACTIONS).all()
    plays = playbook(frame)
    assert plays["customers"].sum() == n
    assert plays["value_at_stake"].sum() == pytest.approx(frame["clv"].sum())
