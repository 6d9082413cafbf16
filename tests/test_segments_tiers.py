"""Value tiers by predicted CLV (cut points) and churn-risk tiers by P(alive) and the early warning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.segments import RISK_TIERS, risk_tiers, value_tier_names, value_tiers


def test_exactly_1_5_20_percent_of_1000_customers():
    rng = np.random.default_rng(0)
    clv = rng.permutation(np.arange(1, 1001, dtype=float))
    tiers, table = value_tiers(clv)
    counts = {name: int((tiers == name).sum()) for name in value_tier_names()}
    assert counts == {"top 1%": 10, "top 5%": 40, "top 20%": 150, "rest": 800}
    assert table["customers"].tolist() == [10, 40, 150, 800]
    # cut points: CLV of the 10th, 50th and 200th best customers
    assert table["cut_clv"].iloc[:3].tolist() == [991.0, 951.0, 801.0]
    assert clv[tiers == "top 1%"].min() == 991.0 and clv[tiers == "top 5%"].max() == 990.0
    assert table["clv_sum"].sum() == pytest.approx(clv.sum())


def test_ties_at_a_cut_point_join_the_higher_tier():
    clv = np.array([100.0, 50.0, 50.0, 50.0] + [1.0] * 96)
    tiers, table = value_tiers(clv)
    assert tiers[0] == "top 1%"
    assert (tiers[1:4] == "top 5%").all()  # the 5th best is 1.0, so the 50s sit above the top-5% cut
    tiers, table = value_tiers(clv, cuts=(0.02,))
    assert (tiers[:4] == "top 2%").all()  # the 2nd best is 50: every 50 joins, the tier holds 4
    assert table.set_index("value_tier").loc["top 2%", "customers"] == 4


def test_custom_cuts_and_small_populations():
    tiers, table = value_tiers(np.array([5.0, 3.0, 1.0]), cuts=(0.1, 0.5))
    assert tiers.tolist() == ["top 10%", "top 50%", "rest"]  # at least one customer in the top tier
    assert table["cut_clv"].iloc[:2].tolist() == [5.0, 3.0]


@pytest.mark.parametrize("cuts", [(0.2, 0.05), (0.0, 0.1), (0.5, 1.0), ("a",), ()])
def test_bad_cuts_are_refused(cuts):
    with pytest.raises(DataError, match="value_cuts"):
        value_tiers(np.arange(10.0), cuts)


def test_nan_clv_is_refused_with_the_row():
    with pytest.raises(DataError, match="row 1"):
        value_tiers(np.array([1.0, np.nan]))


def test_risk_tiers_from_p_alive_and_one_level_up_with_a_warning():
    p = np.array([0.9, 0.7, 0.5, 0.3, 0.1, 0.9, 0.5, 0.1])
    warned = np.array([False] * 5 + [True] * 3)
    assert risk_tiers(p, warned).tolist() == [
        "low risk", "low risk", "medium risk", "medium risk", "high risk",
        "medium risk", "high risk", "high risk",
    ]
    assert risk_tiers(p[:5], low_alive=0.2, high_alive=0.95).tolist() == [
        "medium risk", "medium risk", "medium risk", "medium risk", "high risk"]


def test_one_time_buyers_with_uninformative_p_alive_are_placed_by_recency():
    p = np.array([1.0, 1.0, 1.0, 1.0, 0.95])
    frequency = np.array([0, 0, 0, 3, 0])
    r_score = np.array([5, 3, 1, 1, 1])
    assert risk_tiers(p, frequency=frequency, r_score=r_score).tolist() == [
        "low risk", "medium risk", "high risk", "low risk", "low risk"]


def test_bad_risk_cuts_are_refused():
    with pytest.raises(DataError, match="low_alive"):
        risk_tiers(np.array([0.5]), low_alive=0.8, high_alive=0.2)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=300))
def test_every_customer_gets_exactly_one_value_tier_and_higher_clv_never_a_lower_tier(values):
    clv = np.array(values)
    tiers, table = value_tiers(clv)
    names = value_tier_names()
    rank = np.array([names.index(t) for t in tiers])
    assert table["customers"].sum() == clv.size
    order = np.argsort(clv, kind="stable")
    assert np.all(np.diff(rank[order]) <= 0)
    top = max(1, int(np.ceil(0.01 * clv.size - 1e-9)))
    assert (rank == 0).sum() >= top  # ties can only add members
    assert set(risk_tiers(np.clip(clv / 1e5, 0, 1))) <= set(RISK_TIERS)


def test_a_model_without_dropout_places_every_customer_by_recency():
    """The NBD gives everyone P(alive) = 1: repeat buyers too take their risk level from recency."""
    p = np.ones(4)
    frequency = np.array([0, 3, 7, 1])
    r_score = np.array([5, 1, 3, 2])
    assert risk_tiers(p, frequency=frequency, r_score=r_score).tolist() == [
        "low risk", "high risk", "medium risk", "high risk"]
    warned = np.array([False, False, False, True])
    assert risk_tiers(p, warned, frequency=frequency, r_score=r_score)[0] == "low risk"
