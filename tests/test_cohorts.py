"""Cohorts: retention matrix, repeat share and CLV-over-time curves on hand-computed cases; projection checks."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clv.cli.main import app
from clv.cohorts import clv_over_time, repeat_share, retention_matrix, retention_wide
from clv.data.synthetic import simulate
from clv.errors import DataError
from clv.models.bgnbd import BetaGeoModel


def hand_orders() -> pd.DataFrame:
    """4 customers, Jan-Mar 2024; margins are amount - cost.

    A email: Jan 100 (m 40), Feb 50 (m 20), Mar 80 (m 40)
    B email: Jan 30 (m 10)
    C search: Feb 200 (m 100), Feb 20 (m 10), Mar refund -20 (m -10)
    D search: Mar 60 (m 30)
    """
    rows = [
        ("A", "2024-01-05", 100.0, 60.0, "o1", "email"),
        ("A", "2024-02-10", 50.0, 30.0, "o2", "email"),
        ("A", "2024-03-15", 80.0, 40.0, "o3", "email"),
        ("B", "2024-01-20", 30.0, 20.0, "o4", "email"),
        ("C", "2024-02-03", 200.0, 100.0, "o5", "search"),
        ("C", "2024-02-20", 20.0, 10.0, "o6", "search"),
        ("C", "2024-03-05", -20.0, -10.0, "r1", "search"),
        ("D", "2024-03-10", 60.0, 30.0, "o7", "search"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "cost", "order_id", "channel"])
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return frame


def cell(frame: pd.DataFrame, cohort: str, k: int, column: str) -> float:
    row = frame[(frame["cohort"] == cohort) & (frame["months_since_acquisition"] == k)]
    assert len(row) == 1
    return float(row[column].iloc[0])


def test_retention_matrix_cells():
    long = retention_matrix(hand_orders(), observation_end="2024-03-31")
    assert cell(long, "2024-01", 0, "retention") == 1.0
    assert cell(long, "2024-01", 1, "retention") == 0.5
    assert cell(long, "2024-01", 2, "retention") == 0.5
    assert cell(long, "2024-02", 1, "retention") == 0.0  # C's only March line is a refund
    assert cell(long, "2024-03", 0, "customers") == 1
    # a cohort's row stops at its age: 2024-03 has only k = 0
    assert set(long.loc[long["cohort"] == "2024-03", "months_since_acquisition"]) == {0}
    wide = retention_wide(long)
    assert list(wide.columns) == ["cohort", "customers", "m0", "m1", "m2"]
    assert np.isnan(wide.loc[wide["cohort"] == "2024-02", "m2"].iloc[0])


def test_incomplete_last_month_is_left_out():
    # observation ends mid-March: March is not a whole month, so the last complete month is February
    long = retention_matrix(hand_orders(), observation_end="2024-03-20")
    assert set(long["cohort"]) == {"2024-01", "2024-02"}
    assert long["months_since_acquisition"].max() == 1


def test_repeat_share_overall_and_by_month():
    shares = repeat_share(hand_orders())
    overall = shares.overall.iloc[0]
    assert overall["first_order_revenue"] == pytest.approx(390.0)
    assert overall["repeat_revenue"] == pytest.approx(130.0)  # 50 + 80 + 20 - 20
    assert overall["share_repeat"] == pytest.approx(0.25)
    by_month = shares.by_month.set_index("month")
    assert by_month.loc["2024-01", "share_repeat"] == 0.0
    assert by_month.loc["2024-02", "repeat_revenue"] == pytest.approx(70.0)
    assert by_month.loc["2024-02", "share_repeat"] == pytest.approx(70.0 / 270.0)
    assert by_month.loc["2024-03", "share_repeat"] == pytest.approx(0.5)


def test_repeat_share_without_order_ids_uses_the_day():
    orders = hand_orders().drop(columns="order_id")
    overall = repeat_share(orders).overall.iloc[0]
    assert overall["share_repeat"] == pytest.approx(0.25)


def test_observed_cumulative_margin_curve():
    curves = clv_over_time(hand_orders(), transaction_model=None, observation_end="2024-03-31", horizon=3, time_unit="month")
    by_cohort = curves.by_cohort
    assert cell(by_cohort, "2024-01", 0, "margin_per_customer") == pytest.approx(25.0)
    assert cell(by_cohort, "2024-01", 1, "margin_per_customer") == pytest.approx(35.0)
    assert cell(by_cohort, "2024-01", 2, "margin_per_customer") == pytest.approx(55.0)
    assert cell(by_cohort, "2024-02", 1, "margin_per_customer") == pytest.approx(100.0)  # refund nets out
    assert cell(by_cohort, "2024-01", 2, "revenue_per_customer") == pytest.approx(130.0)
    assert np.isnan(cell(by_cohort, "2024-01", 3, "margin_per_customer"))
    overall = curves.overall.set_index("months_since_acquisition")
    assert overall.loc[0, "margin_per_customer"] == pytest.approx(47.5)
    assert overall.loc[1, "margin_per_customer"] == pytest.approx(170.0 / 3)  # cohorts aged >= 1 only
    assert overall.loc[1, "customers_observed"] == 3
    assert overall.loc[2, "margin_per_customer"] == pytest.approx(55.0)
    assert "projected_margin_per_customer" not in overall.columns


def test_given_margin_rate_overrides_cost():
    curves = clv_over_time(hand_orders(), transaction_model=None, margin=0.5, observation_end="2024-03-31", horizon=2, time_unit="month")
    assert cell(curves.by_cohort, "2024-01", 0, "margin_per_customer") == pytest.approx((100.0 + 30.0) * 0.5 / 2)
    assert cell(curves.by_cohort, "2024-01", 2, "margin_per_customer") == pytest.approx(65.0)


def test_projection_matches_model_expectation_by_hand():
    model = BetaGeoModel()
    model.params_ = {"r": 1.0, "alpha": 2.0, "a": 0.8, "b": 2.5}
    curves = clv_over_time(
        hand_orders(), transaction_model=model, spend_model=None, margin=0.5, observation_end="2024-03-31",
        horizon=2 * 30.4375 / 7, time_unit="week",
    )
    # D (cohort 2024-03): x = 0, T = 21 days = 3 weeks, average order 60; future month j covers
    # ((j-1) m, j m] weeks with m = 30.4375 / 7.
    m = 30.4375 / 7
    path = model.expected_purchases(np.array([m, 2 * m]), 0, 0, 3.0)
    expected = 30.0 + 0.5 * 60.0 * path
    assert cell(curves.by_cohort, "2024-03", 1, "projected_margin_per_customer") == pytest.approx(expected[0], rel=1e-9)
    assert cell(curves.by_cohort, "2024-03", 2, "projected_margin_per_customer") == pytest.approx(expected[1], rel=1e-9)
    # observed months of a cohort are the observed values
    assert cell(curves.by_cohort, "2024-01", 2, "projected_margin_per_customer") == pytest.approx(65.0)


@pytest.fixture(scope="module")
def simulated():
    return simulate(1500, seed=3, start="2023-01-01", end="2024-12-31").orders


def test_projected_curves_are_non_decreasing(simulated):
    curves = clv_over_time(simulated, horizon=30 * 30.4375 / 7, time_unit="week")
    for _, group in curves.by_cohort.groupby("cohort"):
        steps = np.diff(group["projected_margin_per_customer"].to_numpy())
        assert (steps >= -1e-9).all()
    overall = curves.overall["projected_margin_per_customer"].to_numpy()
    assert (np.diff(overall) >= -1e-9).all()
    assert curves.overall["source"].iloc[-1] == "projected"


def test_projection_tracks_what_happened_later(simulated):
    """Fit on 2023 only, project 12 months; compare with the observed curve of the 2023 cohorts a year later."""
    orders_2023 = simulated[simulated["order_ts"] < "2024-01-01"]
    early = clv_over_time(orders_2023, horizon=12 * 30.4375 / 7, observation_end="2023-12-31")
    late = clv_over_time(simulated, transaction_model=None, observation_end="2024-12-31", horizon=12, time_unit="month")
    cohort = "2023-06"
    predicted = cell(early.by_cohort, cohort, 12, "projected_margin_per_customer")
    observed = cell(late.by_cohort, cohort, 12, "margin_per_customer")
    assert predicted == pytest.approx(observed, rel=0.25)


def test_errors_name_the_fix():
    with pytest.raises(DataError, match="margin"):
        clv_over_time(hand_orders().drop(columns="cost"), transaction_model=None)
    with pytest.raises(DataError, match="horizon"):
        clv_over_time(hand_orders(), transaction_model=None, horizon=0, time_unit="month")
    with pytest.raises(DataError, match="last complete month"):
        retention_matrix(hand_orders()[hand_orders()["order_ts"] < "2024-01-25"], observation_end="2024-01-25")


@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 150), st.floats(1, 500)), min_size=1, max_size=25))
def test_retention_shares_are_valid(lines):
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{c}" for c, _, _ in lines],
            "order_ts": [pd.Timestamp("2024-01-01") + pd.Timedelta(days=d) for _, d, _ in lines],
            "amount": [a for _, _, a in lines],
        }
    )
    long = retention_matrix(frame, observation_end="2024-06-30")
    assert (long["retention"].between(0, 1)).all()
    assert (long.loc[long["months_since_acquisition"] == 0, "retention"] == 1.0).all()
    assert long.groupby("cohort")["customers"].first().sum() == frame["customer_id"].nunique()


def test_cli_cohorts_retention_and_repeat(tmp_path):
    path = tmp_path / "orders.csv"
    hand_orders().to_csv(path, index=False)
    common = ["--col", "cost=cost", "--col", "order_id=order_id", "--observation-end", "2024-03-31"]
    result = CliRunner().invoke(app, ["cohorts", str(path), *common, "--no-model", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    jan = {row["months_since_acquisition"]: row["retention"] for row in rows if row["cohort"] == "2024-01"}
    assert jan == {0: 1.0, 1: 0.5, 2: 0.5}
    result = CliRunner().invoke(app, ["cohorts", str(path), *common, "--view", "repeat", "--format", "csv"])
    assert result.exit_code == 0, result.output
    overall = pd.read_csv(io.StringIO(result.stdout)).set_index("month").loc["all"]
    assert overall["share_repeat"] == pytest.approx(0.25)
