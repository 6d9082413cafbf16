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


# ----- the next customer of each channel (issue 15 part 4) ---------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory):
    from clv.data.synthetic import generate_store

    return generate_store(tmp_path_factory.mktemp("store") / "s", n_customers=4000, seed=3, end="2025-12-31")


@pytest.fixture(scope="module")
def store_report(synthetic_store):
    return acquisition_payback(synthetic_store.orders_frame(), synthetic_store.acquisition_spend_frame(),
                               observation_end="2025-12-31", time_unit="week")


def test_next_customer_value_per_channel_brackets_the_truth(store_report, synthetic_store):
    """Every channel of the store behaves alike (BG/NBD and Gamma-Gamma with known parameters): the next
    customer's expected 36-month margin is margin x E[order] x (1 + E[X(36.5 months)]), known exactly."""
    from clv.data.synthetic import DEFAULT_PARAMS, DEFAULT_SPEND, expected_order_value, expected_repeat_purchases

    k = store_report.settings["horizon_months"]
    truth = store_report.settings["margin_rate"] * expected_order_value(DEFAULT_SPEND) * (
        1.0 + float(expected_repeat_purchases("bgnbd", DEFAULT_PARAMS["bgnbd"], (k + 0.5) * 365.25 / 12)))
    nxt = store_report.next_customer.set_index("channel")
    assert list(nxt.index) == list(store_report.by_channel["channel"])
    inside = (nxt["next_customer_clv_low"] <= truth) & (truth <= nxt["next_customer_clv_high"])
    assert inside.sum() >= 4, (truth, nxt)  # 90% intervals over 5 channels: P(<= 3 inside) = 0.008
    assert ((nxt["next_customer_clv_low"] < nxt["next_customer_clv"])
            & (nxt["next_customer_clv"] < nxt["next_customer_clv_high"])).all()
    cac = store_report.by_channel.set_index("channel")["cac"]
    assert nxt["next_customer_clv_to_cac"].to_numpy() == pytest.approx((nxt["next_customer_clv"] / cac).to_numpy())
    assert nxt["next_customer_basis"].str.contains("fitted on the channel's").all()
    # the past customers' CLV and the next customer's estimate the same thing here: close, not equal
    past = store_report.by_channel.set_index("channel")["clv"]
    assert (np.abs(nxt["next_customer_clv"] / past - 1.0) < 0.25).all()


def test_past_customers_outputs_are_unchanged_by_the_next_customer(store_report):
    assert list(store_report.by_channel.columns) == list(payback_columns())
    assert "next_customer_clv" not in store_report.by_cohort.columns


def payback_columns():
    from clv.acquisition.payback import CHANNEL_COLUMNS

    return CHANNEL_COLUMNS


def test_a_channel_too_small_to_fit_uses_the_pooled_models():
    from clv.acquisition.next_customer import next_customer_by_channel
    from clv.models import GammaGammaModel

    rng = np.random.default_rng(0)
    history = BetaGeoModel().simulate(T=rng.uniform(20, 80, 1500), params={"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5},
                                      rng=rng)
    history["channel"] = np.where(np.arange(1500) < 5, "tiny", "big")
    history["monetary_value"] = np.where(history["frequency"] > 0, rng.gamma(5.0, 8.0, 1500), 0.0)
    history["average_order"] = history["monetary_value"]
    pooled = BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], time_unit="week")
    repeat = history["frequency"] > 0
    spend = GammaGammaModel().fit(history.loc[repeat, "frequency"], history.loc[repeat, "monetary_value"])
    out = next_customer_by_channel(history, pd.Series({"big": 20.0, "tiny": 0.0}), transaction_model=pooled,
                                   spend_model=spend, time_unit="week", months=12, margin=0.4, n_draws=200)
    tiny = out.set_index("channel").loc["tiny"]
    assert "of all customers" in tiny["next_customer_basis"]
    assert np.isnan(tiny["next_customer_clv_to_cac"])  # no spend: no CAC
    assert np.isfinite(tiny["next_customer_clv"])


def test_cli_acquisition_shows_the_next_customer(tmp_path, synthetic_store):
    orders, spend = tmp_path / "orders.parquet", tmp_path / "spend.csv"
    synthetic_store.orders_frame().to_parquet(orders)
    synthetic_store.acquisition_spend_frame().to_csv(spend, index=False)
    result = CliRunner().invoke(app, [
        "acquisition", str(orders), "--spend", str(spend), "--observation-end", "2025-12-31", "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rows = {row["channel"]: row for row in payload["next_customer"]}
    assert set(rows) == {row["channel"] for row in payload["by_channel"]}
    assert all(row["next_customer_clv_low"] < row["next_customer_clv"] < row["next_customer_clv_high"]
               for row in rows.values())
    table = CliRunner().invoke(app, ["acquisition", str(orders), "--spend", str(spend), "--observation-end",
                                     "2025-12-31", "--format", "csv"])
    assert table.exit_code == 0, table.output
    assert "next_customer_clv_to_cac" in table.stdout.splitlines()[0]
