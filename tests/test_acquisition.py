"""Acquisition: CAC, payback month (observed / projected / not within N), CLV:CAC, CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.acquisition import acquisition_payback
from clv.acquisition.payback import payback
from clv.cli.main import app
from clv.errors import DataError
from clv.models.bgnbd import BetaGeoModel


def hand_orders() -> pd.DataFrame:
    """A, B email (Jan 2024), C search (Feb), D search (Mar); margins = amount - cost.

    Cumulative margin per customer: email Jan cohort 25, 35, 55; search Feb cohort 110, 100;
    search Mar cohort 30.
    """
    rows = [
        ("A", "2024-01-05", 100.0, 60.0, "email"),
        ("A", "2024-02-10", 50.0, 30.0, "email"),
        ("A", "2024-03-15", 80.0, 40.0, "email"),
        ("B", "2024-01-20", 30.0, 20.0, "email"),
        ("C", "2024-02-03", 200.0, 100.0, "search"),
        ("C", "2024-02-20", 20.0, 10.0, "search"),
        ("C", "2024-03-05", -20.0, -10.0, "search"),
        ("D", "2024-03-10", 60.0, 30.0, "search"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "cost", "channel"])
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return frame


def hand_spend() -> pd.DataFrame:
    return pd.DataFrame(
        {"channel": ["email", "search", "search"], "month": ["2024-01", "2024-02", "2024-03"], "spend": [100.0, 150.0, 40.0]}
    )


@pytest.fixture(scope="module")
def observed_report():
    return acquisition_payback(hand_orders(), hand_spend(), transaction_model=None, observation_end="2024-03-31", horizon=6, time_unit="month")


def test_cac_per_channel_and_cohort(observed_report):
    channels = observed_report.by_channel.set_index("channel")
    assert channels.loc["email", "new_customers"] == 2
    assert channels.loc["email", "cac"] == pytest.approx(50.0)
    assert channels.loc["search", "spend"] == pytest.approx(190.0)
    assert channels.loc["search", "cac"] == pytest.approx(95.0)
    cohorts = observed_report.by_cohort.set_index(["channel", "cohort"])
    assert cohorts.loc[("search", "2024-02"), "cac"] == pytest.approx(150.0)
    assert cohorts.loc[("search", "2024-03"), "cac"] == pytest.approx(40.0)


def test_observed_payback_month(observed_report):
    channels = observed_report.by_channel.set_index("channel")
    # email: 25, 35, 55 per customer against CAC 50 -> month 2
    assert channels.loc["email", "payback_month"] == 2
    assert channels.loc["email", "payback_status"] == "observed"
    # search: month 0 is (110 + 30) / 2 = 70, month 1 (Feb cohort only) 100 >= 95 -> month 1
    assert channels.loc["search", "payback_month"] == 1
    assert channels.loc["email", "margin_to_date_per_customer"] == pytest.approx(55.0)
    assert channels.loc["search", "margin_to_date_per_customer"] == pytest.approx((100.0 + 30.0) / 2)


def test_not_reached_without_model_says_so(observed_report):
    cohorts = observed_report.by_cohort.set_index(["channel", "cohort"])
    row = cohorts.loc[("search", "2024-03")]  # 30 of margin against CAC 40, only month 0 observed
    assert pd.isna(row["payback_month"])
    assert row["payback_status"] == "not reached in months 0..0 observed (no model to project)"
    assert cohorts.loc[("search", "2024-02"), "payback_status"] == "not reached in months 0..1 observed (no model to project)"
    assert observed_report.by_channel["clv_source"].eq("classic formula").all()


def test_projected_payback_with_a_model():
    model = BetaGeoModel()
    model.params_ = {"r": 1.0, "alpha": 2.0, "a": 0.8, "b": 2.5}
    report = acquisition_payback(
        hand_orders(), hand_spend(), transaction_model=model, spend_model=None, margin=0.5,
        observation_end="2024-03-31", horizon=12 * 30.4375 / 7, time_unit="week",
    )
    row = report.by_cohort.set_index(["channel", "cohort"]).loc[("search", "2024-03")]
    # D: 30 of margin in month 0, then 0.5 x 60 x expected purchases per future month
    m = 30.4375 / 7
    cumulative = 30.0 + 30.0 * model.expected_purchases(m * np.arange(1, 13), 0, 0, 3.0)
    expected_month = 1 + int(np.argmax(cumulative >= 40.0))
    assert row["payback_status"] == "projected"
    assert row["payback_month"] == expected_month
    assert row["clv"] == pytest.approx(cumulative[-1])
    assert row["clv_to_cac"] == pytest.approx(cumulative[-1] / 40.0)


def test_payback_statuses_vectorised():
    observed = np.array([[1.0, 5.0, np.nan], [1.0, 2.0, np.nan], [1.0, 2.0, np.nan], [0.0, np.nan, np.nan]])
    projected = np.array([[1.0, 5.0, 6.0], [1.0, 2.0, 9.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    cac = np.array([4.0, 8.0, 8.0, np.inf])
    month, status = payback(observed, projected, cac, 2, np.array([1, 1, 1, 0]))
    assert list(status) == ["observed", "projected", "not within 2 months (projected)", "no new customers for this spend"]
    assert month[0] == 1 and month[1] == 2 and np.isnan(month[2]) and np.isnan(month[3])


def test_channel_without_spend_rows_gets_zero_cac():
    spend = hand_spend()[hand_spend()["channel"] == "search"]
    report = acquisition_payback(hand_orders(), spend, transaction_model=None, observation_end="2024-03-31", horizon=3, time_unit="month")
    email = report.by_channel.set_index("channel").loc["email"]
    assert email["spend"] == 0 and email["cac"] == 0 and email["payback_month"] == 0
    assert np.isnan(email["clv_to_cac"])


def test_spend_errors_name_the_column():
    with pytest.raises(DataError, match="spend"):
        acquisition_payback(hand_orders(), hand_spend().drop(columns="spend"), transaction_model=None)
    bad = hand_spend().assign(spend=[100.0, -1.0, 40.0])
    with pytest.raises(DataError, match="row 1"):
        acquisition_payback(hand_orders(), bad, transaction_model=None)


def test_cli_acquisition_json(tmp_path):
    orders, spend = tmp_path / "orders.csv", tmp_path / "spend.csv"
    hand_orders().to_csv(orders, index=False)
    hand_spend().to_csv(spend, index=False)
    result = CliRunner().invoke(app, [
        "acquisition", str(orders), "--spend", str(spend), "--col", "channel=channel", "--col", "cost=cost",
        "--no-model", "--observation-end", "2024-03-31", "--horizon", "26", "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    email = next(row for row in payload["by_channel"] if row["channel"] == "email")
    assert email["cac"] == pytest.approx(50.0) and email["payback_month"] == 2
    assert len(payload["by_cohort"]) == 3


def test_cli_acquisition_missing_spend_file(tmp_path):
    orders = tmp_path / "orders.csv"
    hand_orders().to_csv(orders, index=False)
    result = CliRunner().invoke(app, ["acquisition", str(orders), "--spend", str(tmp_path / "nope.csv"), "--no-model"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cohort_curves_hold_the_observed_margin(observed_report):
    curves = observed_report.cohort_curves
    email = curves[(curves["channel"] == "email") & (curves["cohort"] == "2024-01")].set_index("months_since_acquisition")
    assert list(email.loc[[0, 1, 2], "margin_per_customer"]) == pytest.approx([25.0, 35.0, 55.0])
