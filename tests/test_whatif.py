"""What-if on the four drivers through BG/NBD + Gamma-Gamma, the scenario model's math, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clv.cli.insight_commands import parse_change
from clv.cli.main import app
from clv.cohorts.projection import fit_default_models
from clv.data.synthetic import simulate
from clv.errors import DataError
from clv.models.bgnbd import BetaGeoModel
from clv.summary import summarize
from clv.whatif import Scenario, ScenarioModel, what_if


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return simulate(1200, seed=5, start="2023-01-01", end="2024-12-31").orders


@pytest.fixture(scope="module")
def models(orders):
    summary = summarize(orders, time_unit="week")
    summary["average_order"] = summary["revenue"] / summary["n_orders"]
    return fit_default_models(summary)


def run(orders, models, scenario, **options):
    transactions, spend = models
    return what_if(orders, scenario, transaction_model=transactions, spend_model=spend, time_unit="week",
                   horizon=24 * 30.4375 / 7, **options)


@pytest.fixture(scope="module")
def baseline(orders, models):
    return run(orders, models, Scenario())


def test_no_change_changes_nothing(baseline):
    customers = baseline.customers
    assert (customers["clv_after"] == customers["clv_before"]).all()
    assert baseline.totals["change"].iloc[0] == 0.0
    assert list(baseline.totals["scope"]) == ["all customers"]


@pytest.fixture(scope="module")
def aov_ten(orders, models):
    return run(orders, models, Scenario(aov=0.10))


def test_aov_plus_ten_percent_raises_clv_by_exactly_ten_percent(aov_ten, baseline):
    result = aov_ten
    np.testing.assert_allclose(result.customers["clv_after"], 1.1 * baseline.customers["clv_before"], rtol=1e-12)
    assert result.totals["change_pct"].iloc[0] == pytest.approx(10.0)
    assert result.classic["change_pct"].iloc[0] == pytest.approx(10.0)


def test_margin_change_scales_clv(orders, models, baseline):
    result = run(orders, models, Scenario(margin_change=0.05))
    np.testing.assert_allclose(result.customers["clv_after"], 1.05 * baseline.customers["clv_before"], rtol=1e-12)


def test_frequency_up_raises_expected_purchases(orders, models, baseline):
    result = run(orders, models, Scenario(frequency=0.10))
    after, before = result.customers["expected_purchases_after"], baseline.customers["expected_purchases_before"]
    assert (after >= before - 1e-12).all()
    assert after.sum() > before.sum()
    assert result.totals["equity_after"].iloc[0] > result.totals["equity_before"].iloc[0]


def test_churn_up_lowers_clv(orders, models, baseline):
    result = run(orders, models, Scenario(churn=0.20))
    assert (result.customers["clv_after"] <= baseline.customers["clv_before"] + 1e-12).all()
    assert result.totals["equity_after"].iloc[0] < result.totals["equity_before"].iloc[0]
    down = run(orders, models, Scenario(churn=-0.20))
    assert down.totals["equity_after"].iloc[0] > down.totals["equity_before"].iloc[0]


def test_segment_change_leaves_other_customers_unchanged(orders, models, baseline):
    result = run(orders, models, Scenario(aov=0.10, frequency=0.05), segment_col="channel", segment_value="email")
    customers = result.customers
    rest = ~customers["in_segment"]
    assert customers["in_segment"].sum() == orders.groupby("customer_id")["channel"].first().eq("email").sum()
    assert (customers.loc[rest, "clv_after"] == customers.loc[rest, "clv_before"]).all()
    assert (customers.loc[~rest, "clv_after"] > customers.loc[~rest, "clv_before"]).all()
    totals = result.totals.set_index("scope")
    assert totals.loc["rest", "change"] == 0.0
    assert totals.loc["all customers", "change"] == pytest.approx(totals.loc["segment", "change"])


def test_segment_as_ids_and_as_mask_agree(orders, models):
    ids = ["1", "2", "3", "10"]
    by_ids = run(orders, models, Scenario(aov=0.2), segment=ids)
    mask = by_ids.customers["customer_id"].isin(ids).to_numpy()
    by_mask = run(orders, models, Scenario(aov=0.2), segment=mask)
    assert by_ids.customers["in_segment"].sum() == 4
    # (DuckDB sums in parallel, so monetary values may differ in the last bits between two loads)
    np.testing.assert_allclose(by_ids.customers["clv_after"], by_mask.customers["clv_after"], rtol=1e-9)


def test_price_elasticity_lowers_frequency(orders, models, aov_ten):
    plain = aov_ten
    elastic = run(orders, models, Scenario(aov=0.10, price_elasticity=-0.5))
    assert elastic.settings["scenario"]["effective_frequency"] == pytest.approx(-0.05)
    assert elastic.totals["equity_after"].iloc[0] < plain.totals["equity_after"].iloc[0]
    assert any("price rise" in note for note in elastic.notes)


def fitted(params) -> BetaGeoModel:
    model = BetaGeoModel()
    model.params_ = dict(zip(("r", "alpha", "a", "b"), params))
    return model


def test_frequency_scenario_is_alpha_over_one_plus_x_for_a_new_customer():
    base = fitted((0.8, 10.0, 0.9, 3.0))
    t = np.array([5.0, 20.0, 80.0])
    scenario = ScenarioModel(base, frequency=0.25)
    # a customer with no history (x = 0, T = 0) is a new customer: E[X(t)] with alpha / 1.25
    np.testing.assert_allclose(scenario.expected_purchases(t, 0, 0, 0), fitted((0.8, 8.0, 0.9, 3.0)).expected_purchases_new(t), rtol=1e-10)
    # and for any history it is the original forecast over a (1 + x) times longer window
    np.testing.assert_allclose(scenario.expected_purchases(t, 3, 20.0, 30.0), base.expected_purchases(1.25 * t, 3, 20.0, 30.0), rtol=1e-10)


def test_churn_scenario_scales_the_mean_dropout_keeping_a_plus_b():
    base = fitted((0.8, 10.0, 0.9, 3.0))
    scenario = ScenarioModel(base, churn=0.5)
    assert scenario.a / (scenario.a + scenario.b) == pytest.approx(1.5 * 0.9 / 3.9)
    assert scenario.a + scenario.b == pytest.approx(3.9)
    t = np.array([10.0, 50.0])
    np.testing.assert_allclose(scenario.expected_purchases(t, 0, 0, 0), fitted((0.8, 10.0, 1.35, 2.55)).expected_purchases_new(t), rtol=1e-10)
    # the history is kept: P(alive) is the fitted model's
    assert scenario.probability_alive(2, 5.0, 30.0) == pytest.approx(base.probability_alive(2, 5.0, 30.0))
    with pytest.raises(DataError, match="churn"):
        ScenarioModel(base, churn=4.0)  # (1 + 4) x 0.9 / 3.9 > 1


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 30), st.floats(0, 1), st.floats(1, 100), st.floats(0.1, 50))
def test_neutral_scenario_model_equals_the_fitted_model(x, share, T, t):
    base = fitted((0.5, 12.0, 0.7, 2.0))
    recency = share * T if x > 0 else 0.0
    times = np.array([t, 2 * t])
    np.testing.assert_allclose(
        ScenarioModel(base).expected_purchases(times, x, recency, T), base.expected_purchases(times, x, recency, T), rtol=1e-12)


def test_scenario_validation():
    with pytest.raises(DataError, match="aov"):
        Scenario(aov=-1.0)
    with pytest.raises(DataError, match="frequency"):
        Scenario(frequency=float("nan"))
    with pytest.raises(DataError, match="price_elasticity"):
        Scenario(aov=0.5, price_elasticity=-3.0)


def test_parse_change():
    assert parse_change("+5%", "--aov") == pytest.approx(0.05)
    assert parse_change("-10%", "--churn") == pytest.approx(-0.10)
    assert parse_change("0.05", "--aov") == pytest.approx(0.05)
    with pytest.raises(DataError, match="ambiguous"):
        parse_change("5", "--aov")


def test_cli_whatif_json(tmp_path, orders):
    path = tmp_path / "orders.csv"
    orders.to_csv(path, index=False)
    result = CliRunner().invoke(app, [
        "whatif", str(path), "--col", "cost=cost", "--col", "channel=channel", "--aov", "+10%", "--churn=-10%",
        "--segment-col", "channel", "--segment-value", "email", "--horizon", "52.18", "--margin-change", "+0%", "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    totals = {row["scope"]: row for row in payload["totals"]}
    assert totals["rest"]["change"] == 0.0
    assert totals["segment"]["change_pct"] > 10.0  # +10% AOV and lower churn
    assert payload["settings"]["scenario"]["churn"] == pytest.approx(-0.1)


# ----- the scenario implements the purchase-model contract ---------------------------------
def test_a_scenario_scores_with_the_default_intervals(orders, models):
    from clv.models import PurchaseModel
    from clv.scores import score_customers

    transactions, spend = models
    summary = summarize(orders, time_unit="week")
    scenario = ScenarioModel(transactions, frequency=0.2, churn=-0.1)
    assert isinstance(scenario, PurchaseModel) and scenario.capabilities.factorisable
    scores = score_customers(summary, scenario, spend, horizon=26.0, time_unit="week")  # intervals=(0.8, 0.95)
    base = score_customers(summary, transactions, spend, horizon=26.0, time_unit="week", interval_method="factorised")
    assert scores.interval_method == "factorised"
    np.testing.assert_array_equal(scores["p_alive"], base["p_alive"])  # the history is what it is
    assert scores["expected_purchases"].sum() > base["expected_purchases"].sum()
    for q in ("purchases_q0.025", "purchases_q0.975", "clv_q0.1", "clv_q0.9"):
        assert np.isfinite(scores[q]).all(), q
    assert scores["purchases_q0.975"].sum() > base["purchases_q0.975"].sum()
    assert (scores["purchases_q0.1"] <= scores["purchases_q0.9"]).all()


def test_scenario_draws_have_the_scenarios_mean(models):
    transactions, _ = models
    scenario = ScenarioModel(transactions, frequency=0.3, churn=0.2)
    x, t_x, T = np.full(40_000, 3.0), np.full(40_000, 40.0), np.full(40_000, 60.0)
    draws = scenario.sample_future_purchases(20.0, x, t_x, T, rng=1)
    expected = scenario.expected_purchases(20.0, x[:1], t_x[:1], T[:1])[0]
    assert draws.mean() == pytest.approx(expected, abs=4 * draws.std() / np.sqrt(draws.size))
    neutral = ScenarioModel(transactions)
    np.testing.assert_allclose(neutral.expected_purchases_new([5.0, 30.0]), transactions.expected_purchases_new([5.0, 30.0]),
                               rtol=1e-12)
    loaded = ScenarioModel.from_dict(json.loads(json.dumps(scenario.to_dict())))
    np.testing.assert_array_equal(loaded.expected_purchases(20.0, x[:3], t_x[:3], T[:3]),
                                  scenario.expected_purchases(20.0, x[:3], t_x[:3], T[:3]))
