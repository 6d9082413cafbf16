"""Timing and value curves per customer (issue 15 part 3).

Closed forms of the chance of no purchase and of P(alive) at a future date
against simulation (the models' own posterior draws, and direct draws of the
traits) and against finite differences of expected purchases; the next-order
quantiles; the value curve against the scorer at every horizon; properties
with hypothesis.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ModifiedBetaGeoModel,
    NBDModel,
    ParetoNBDModel,
    model_class,
    model_names,
)
from clv.models.contract import PurchaseCapabilities
from clv.scores import score_customers
from clv.scores.curves import value_curve
from clv.scores.timing import purchase_timing
from clv.summary import CustomerData

CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
DONATIONS_BGBB = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])


def with_params(cls, params):
    model = cls()
    model.params_ = dict(params)
    return model


CONTINUOUS = {
    "bgnbd": lambda: with_params(BetaGeoModel, CDNOW_BGNBD),
    "mbgnbd": lambda: with_params(ModifiedBetaGeoModel, CDNOW_BGNBD),
    "pareto": lambda: with_params(ParetoNBDModel, CDNOW_PARETO),
    "nbd": lambda: with_params(NBDModel, {"r": 0.4, "alpha": 8.0}),
}
HISTORIES = (np.array([0.0, 1, 2, 7, 20]), np.array([0.0, 5, 30.43, 35, 10]), np.full(5, 38.86))


def customer_table(n=400, seed=3, discrete=False):
    """Synthetic customers (CDNOW-like BG/NBD histories, weeks) with amounts."""
    rng = np.random.default_rng(seed)
    if discrete:
        n_periods = rng.integers(3, 8, n).astype(float)
        x = np.minimum(rng.poisson(2.0, n), n_periods)
        t_x = np.where(x > 0, np.minimum(n_periods, x + rng.integers(0, 3, n)), 0.0)
        return pd.DataFrame({"customer_id": np.arange(n), "frequency": x, "recency": t_x, "n_periods": n_periods,
                             "monetary_value": np.where(x > 0, rng.gamma(3.0, 10.0, n), 0.0)})
    history = BetaGeoModel().simulate(T=rng.uniform(10, 60, n), params=CDNOW_BGNBD, rng=seed)
    history["monetary_value"] = np.where(history["frequency"] > 0, rng.gamma(3.0, 10.0, n), 0.0)
    history.insert(0, "customer_id", np.arange(n))
    return history


# ----- closed forms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_no_purchase_closed_form_equals_the_share_of_zero_draws(name):
    model = CONTINUOUS[name]()
    x, t_x, T = HISTORIES
    rng = np.random.default_rng(7)
    n_draws = 20_000
    for t in (3.0, 26.0, 150.0):
        exact = model.probability_no_purchase(t, x, t_x, T)
        draws = model.sample_future_purchases(t, *(np.tile(v, n_draws) for v in (x, t_x, T)), rng=rng)
        share = (draws.reshape(n_draws, x.size) == 0).mean(axis=0)
        se = np.sqrt(np.maximum(exact * (1 - exact), 1e-4) / n_draws)
        assert np.all(np.abs(share - exact) < 5 * se), (t, exact, share)


def test_bgbb_no_purchase_closed_form_equals_the_share_of_zero_draws():
    model = with_params(BetaGeoBetaBinomModel, DONATIONS_BGBB)
    x, t_x, n = np.array([0.0, 2, 4, 6, 1]), np.array([0.0, 3, 6, 6, 1]), np.full(5, 6.0)
    rng = np.random.default_rng(8)
    for t in (1, 3, 12):
        exact = model.probability_no_purchase(t, x, t_x, n)
        draws = model.sample_future_purchases(t, *(np.tile(v, 20_000) for v in (x, t_x, n)), rng=rng)
        se = np.sqrt(np.maximum(exact * (1 - exact), 1e-4) / 20_000)
        assert np.all(np.abs((draws.reshape(20_000, x.size) == 0).mean(axis=0) - exact) < 5 * se), t
    assert np.allclose(model.probability_alive_at(1, x, t_x, n), model.probability_alive(x, t_x, n), rtol=1e-12)
    assert np.allclose(model.probability_alive_at(4, x, t_x, n), model.probability_alive(x, t_x, n, horizon=4),
                       rtol=1e-12)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_bgnbd_alive_later_equals_draws_of_the_traits(name):
    """P(alive at T+t) = P(alive) E[exp(-lambda p t)] with lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x+s)."""
    model = CONTINUOUS[name]()
    s = model.capabilities.dropout_at_first_purchase
    x, t_x, T = HISTORIES
    r, alpha, a, b = model.params
    rng = np.random.default_rng(9)
    n_draws = 200_000
    rate = rng.gamma(r + x, 1.0 / (alpha + T), size=(n_draws, x.size))
    p = rng.beta(a, b + x + s, size=(n_draws, x.size))
    for t in (4.0, 52.0):
        survive = np.exp(-rate * p * t)
        simulated = model.probability_alive(x, t_x, T) * survive.mean(axis=0)
        se = model.probability_alive(x, t_x, T) * survive.std(axis=0) / np.sqrt(n_draws)
        exact = model.probability_alive_at(t, x, t_x, T)
        assert np.all(np.abs(exact - simulated) < 5 * se + 1e-12), (exact, simulated)


@pytest.mark.parametrize("name", ["pareto", "nbd"])
def test_alive_later_is_the_slope_of_expected_purchases_over_the_mean_rate(name):
    """Pareto/NBD, NBD: lambda and the lifetime are independent given the history, so
    dE[Y(t)]/dt = E[lambda | alive] P(alive at T+t) with E[lambda | alive] = (r+x)/(alpha+T)."""
    model = CONTINUOUS[name]()
    x, t_x, T = HISTORIES
    r, alpha = model.params[:2]
    h = 1e-4
    for t in (1.0, 20.0, 200.0):
        slope = (model.expected_purchases(t + h, x, t_x, T) - model.expected_purchases(t - h, x, t_x, T)) / (2 * h)
        assert np.allclose(slope * (alpha + T) / (r + x), model.probability_alive_at(t, x, t_x, T), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_a_purchase_in_a_short_window_is_about_its_expected_purchases(name):
    """For a short window P(at least one purchase) ~ E[Y(t)] (two purchases are then rare)."""
    model = CONTINUOUS[name]()
    x, t_x, T = HISTORIES
    t = 1e-5
    some = 1.0 - model.probability_no_purchase(t, x, t_x, T)
    expected = model.expected_purchases(t, x, t_x, T)
    assert np.allclose(some, expected, rtol=1e-3, atol=1e-14)


def test_bgnbd_no_purchase_tends_to_not_alive():
    """An alive BG/NBD customer always buys again: P(no purchase for a very long time) -> 1 - P(alive)."""
    model = CONTINUOUS["bgnbd"]()
    x, t_x, T = HISTORIES
    assert np.allclose(model.probability_no_purchase(1e40, x, t_x, T), 1 - model.probability_alive(x, t_x, T),
                       atol=1e-6)


def test_models_without_closed_forms_say_so():
    class NoTiming(BetaGeoModel):
        capabilities = dataclasses.replace(BetaGeoModel.capabilities, closed_form_timing=False)

    model = with_params(NoTiming, CDNOW_BGNBD)
    assert not PurchaseCapabilities().closed_form_timing
    with pytest.raises(NotImplementedError, match="sample_future_purchases"):
        super(BetaGeoModel, model).probability_no_purchase(1.0, *HISTORIES)


# ----- hypothesis properties ------------------------------------------------------------------------
@st.composite
def histories(draw, n=6):
    T = np.array(draw(st.lists(st.floats(0.5, 200.0), min_size=n, max_size=n)))
    x = np.array(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)), dtype=float)
    share = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    return x, np.where(x > 0, T * share, 0.0), T


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
@PROPERTY_SETTINGS
@given(history=histories(), times=st.lists(st.floats(0.0, 500.0), min_size=2, max_size=6))
def test_probabilities_are_in_range_and_fall_with_time(name, history, times):
    model = CONTINUOUS[name]()
    x, t_x, T = history
    t = np.sort(np.array(times))[None, :]
    none = model.probability_no_purchase(t, x[:, None], t_x[:, None], T[:, None])
    alive = model.probability_alive_at(t, x[:, None], t_x[:, None], T[:, None])
    for values in (none, alive):
        assert values.shape == (x.size, t.size)
        assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1))
        assert np.all(np.diff(values, axis=1) <= 1e-12)
    assert np.allclose(model.probability_alive_at(0.0, x, t_x, T), model.probability_alive(x, t_x, T), rtol=1e-9)
    assert np.all(none >= 1 - model.probability_alive(x, t_x, T)[:, None] - 1e-12)  # the departed never buy


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
@PROPERTY_SETTINGS
@given(history=histories(n=4), levels=st.lists(st.floats(0.02, 0.98), min_size=2, max_size=4, unique=True))
def test_next_order_quantiles_are_ordered_and_hit_their_level(name, history, levels):
    model = CONTINUOUS[name]()
    x, t_x, T = history
    table = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    timing = purchase_timing(table, model, time_unit="week", quantiles=levels, within_days=(7,), alive_in_days=())
    levels = sorted(levels)
    days = np.column_stack([timing[f"next_order_days_q{100 * u:g}"] for u in levels])
    assert not np.isnan(days).any()
    assert np.all(days[:, :-1] <= days[:, 1:])  # inf after inf is fine
    for j, u in enumerate(levels):
        finite = np.isfinite(days[:, j])
        weeks = days[finite, j] / 7
        bought = 1 - model.probability_no_purchase(weeks, x[finite], t_x[finite], T[finite])
        assert np.allclose(bought, u, atol=1e-6)
        beyond = ~finite
        assert np.all(timing["p_purchase_3y"].to_numpy()[beyond] < u + 1e-9)


@PROPERTY_SETTINGS
@given(periods=st.integers(1, 40), rate=st.sampled_from([0.0, 0.1, 0.3]), margin=st.floats(0.1, 1.0),
       period=st.sampled_from(["month", "week", 30 / 7]), name=st.sampled_from(sorted(CONTINUOUS)))
def test_curve_at_every_horizon_equals_the_scorer(periods, rate, margin, period, name):
    model = CONTINUOUS[name]()
    table = customer_table(n=60)
    curve = value_curve(table, model, time_unit="week", periods=periods, step=period, discount_rate=rate,
                        margin=margin, lifetime=False)
    purchases, value = curve.cumulative("purchases"), curve.cumulative("value")
    assert np.all(np.diff(purchases, axis=1) >= -1e-12) and np.all(np.diff(value, axis=1) >= -1e-12)
    length = {"month": 365.25 / 12 / 7, "week": 1.0}.get(period, period)  # a number: weeks (30 days here)
    for k in sorted({1, (periods + 1) // 2, periods}):
        scores = score_customers(table, model, horizon=k * length, time_unit="week", discount_rate=rate,
                                 margin=margin, discount_step=period, intervals=None)
        assert np.allclose(purchases[:, k - 1], scores["expected_purchases"], rtol=1e-10, atol=1e-10)
        assert np.allclose(value[:, k - 1], scores["clv"], rtol=1e-10, atol=1e-10)


# ----- the value curve ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", model_names("purchase"))
def test_curve_milestones_and_lifetime_equal_the_scorer_for_every_registered_model(name):
    cls = model_class(name)
    discrete = cls.capabilities.discrete_time
    table = customer_table(n=300, discrete=discrete)
    t_name = "n_periods" if discrete else "T"
    model = cls().fit(table["frequency"], table["recency"], table[t_name], time_unit="week")
    curve = value_curve(table, model, time_unit="week", discount_rate=0.1, margin=0.3)
    assert curve.step == ("week" if discrete else "month")
    for suffix, k in {"3m": 3, "12m": 12, "36m": 36}.items() if not discrete else {"13w": 13, "52w": 52}.items():
        horizon = k * 365.25 / 12 / 7 if not discrete else k
        scores = score_customers(table, model, horizon=horizon, time_unit="week", margin=0.3,
                                 discount_step=curve.step, intervals=None)
        assert np.allclose(curve[f"value_{suffix}"], scores["clv"], rtol=1e-10, atol=1e-10)
        assert np.allclose(curve[f"purchases_{suffix}"], scores["expected_purchases"], rtol=1e-10, atol=1e-10)
    lifetime = score_customers(table, model, horizon=None, time_unit="week", margin=0.3,
                               discount_step=curve.step, intervals=None)
    assert np.allclose(curve["value_lifetime"], lifetime["clv"], rtol=1e-10, atol=1e-10)
    last = curve.milestones[-1]
    # (BG/BB's closed-form DERT is good to ~1e-7 relative; its 157 weeks are nearly the whole lifetime)
    assert np.all(curve["value_lifetime"] >= curve[f"value_{last}"] * (1 - 1e-6) - 1e-9)


def test_curve_context_dates_and_long_table():
    table = customer_table(n=20)
    data = CustomerData(table, time_unit="week", observation_end=dt.date(2024, 12, 31), currency="EUR")
    model = CONTINUOUS["bgnbd"]()
    curve = value_curve(data, model, periods=14)
    # average months of 30.44 days (the scorer's month), rounded to whole days
    assert curve.period_ends[0] == dt.date(2025, 1, 30) and curve.period_ends[11] == dt.date(2025, 12, 31)
    assert curve.milestones == ("3m", "12m") and curve.currency == "EUR" and curve.time_unit == "week"
    long = curve.long()
    assert len(long) == 20 * 14 and long["period_end"].iloc[0] == pd.Timestamp("2025-01-30")
    first = long[long["customer_id"] == 0]
    assert np.isclose(first["cumulative_value"].iloc[11], curve["value_12m"].iloc[0])


def test_curve_without_amounts_has_purchases_only():
    table = customer_table(n=30).drop(columns="monetary_value")
    curve = value_curve(table, CONTINUOUS["pareto"](), time_unit="week", periods=6)
    assert not curve.has_amounts and "value_3m" not in curve.columns and "purchases_3m" in curve.columns
    with pytest.raises(DataError, match="kind='purchases'"):
        curve.per_period("value")


@pytest.mark.parametrize(("option", "value", "words"), [
    ("periods", 0, "whole number >= 1"), ("periods", 2.5, "whole number >= 1"),
    ("step", "fortnight", "step"), ("discount_rate", -0.1, "discount_rate"), ("margin", -1, "margin"),
])
def test_curve_refuses_bad_options_by_name(option, value, words):
    with pytest.raises(DataError, match=words):
        value_curve(customer_table(n=10), CONTINUOUS["bgnbd"](), time_unit="week", **{option: value})


def test_bgbb_curve_counts_whole_periods_only():
    model = with_params(BetaGeoBetaBinomModel, DONATIONS_BGBB)
    with pytest.raises(DataError, match="whole weeks"):
        value_curve(customer_table(n=10, discrete=True), model, time_unit="week", step="month")


# ----- next-order timing ----------------------------------------------------------------------------
def test_timing_dates_follow_the_observation_end():
    table = pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [2, 0, 7], "recency": [30.43, 0.0, 38.0],
                          "T": [38.86] * 3})
    data = CustomerData(table, time_unit="week", observation_end=dt.date(1998, 6, 30))
    timing = purchase_timing(data, CONTINUOUS["bgnbd"]())
    row = timing.table.set_index("customer_id").loc["c"]
    assert row["next_order_q50"] == pd.Timestamp("1998-06-30") + pd.Timedelta(days=np.ceil(row["next_order_days_q50"]))
    assert row["next_order"].startswith("around 1998-08-05 (80% chance between 1998-07-05 and ")
    assert timing.table.set_index("customer_id").loc["b", "next_order"] == \
        "no purchase expected within 3 years (chance of one: 31%)"
    assert pd.isna(timing.table.set_index("customer_id").loc["b", "next_order_q50"])
    assert timing.observation_end == dt.date(1998, 6, 30) and timing.method == "closed form"


def test_timing_in_another_unit_gives_the_same_days():
    table = pd.DataFrame({"frequency": [2.0, 7.0], "recency": [30.43, 38.0], "T": [38.86, 38.86]})
    in_weeks = purchase_timing(table, CONTINUOUS["pareto"](), time_unit="week")
    in_days = table.assign(recency=table["recency"] * 7, T=table["T"] * 7)
    model = CONTINUOUS["pareto"]()
    model.time_unit_ = "week"
    converted = purchase_timing(in_days, model, time_unit="day")
    assert np.allclose(in_weeks["next_order_days_q50"], converted["next_order_days_q50"], rtol=1e-6)
    assert np.allclose(in_weeks["p_purchase_30d"], converted["p_purchase_30d"], rtol=1e-9)


def test_simulation_route_agrees_with_the_closed_form():
    class NoTiming(BetaGeoModel):
        capabilities = dataclasses.replace(BetaGeoModel.capabilities, closed_form_timing=False)

    table = pd.DataFrame({"frequency": [2.0, 7.0, 1.0], "recency": [30.43, 38.0, 20.0], "T": [38.86] * 3})
    exact = purchase_timing(table, CONTINUOUS["bgnbd"](), time_unit="week")
    simulated = purchase_timing(table, with_params(NoTiming, CDNOW_BGNBD), time_unit="week", n_draws=4000, seed=1)
    assert simulated.method == "simulation" and "p_alive_365d" not in simulated.columns
    assert "not available" in simulated.notes[0]
    assert np.allclose(simulated["p_purchase_90d"], exact["p_purchase_90d"], atol=0.04)
    both = np.isfinite(exact["next_order_days_q50"]) & np.isfinite(simulated["next_order_days_q50"])
    assert both.sum() >= 2
    # within the grid step (3 years / 72 = 15 days) plus the Monte Carlo error
    assert np.allclose(simulated["next_order_days_q50"][both], exact["next_order_days_q50"][both], rtol=0.15, atol=16)


def test_bgbb_timing_in_whole_periods():
    model = with_params(BetaGeoBetaBinomModel, DONATIONS_BGBB)
    table = pd.DataFrame({"frequency": [0.0, 4.0, 6.0], "recency": [0.0, 6.0, 6.0], "n_periods": [6.0] * 3})
    timing = purchase_timing(table, model, time_unit="year", within_days=(365.25,), alive_in_days=(730.5,))
    days = timing["next_order_days_q10"].to_numpy()
    assert np.all(days[np.isfinite(days)] % 365.25 < 1e-6)  # whole years
    assert np.allclose(timing["p_purchase_365.25d"], 1 - model.probability_no_purchase(1, *table.to_numpy().T))
    assert np.allclose(timing["p_alive_730.5d"], model.probability_alive_at(2, *table.to_numpy().T))
    assert any("whole years" in note for note in timing.notes)


@pytest.mark.parametrize(("option", "value"), [
    ("quantiles", (0.5, 1.2)), ("quantiles", ()), ("within_days", (0,)), ("search_years", -1), ("alive_in_days", ("x",)),
])
def test_timing_refuses_bad_options_by_name(option, value):
    table = pd.DataFrame({"frequency": [2.0], "recency": [30.0], "T": [38.0]})
    with pytest.raises(DataError, match=option):
        purchase_timing(table, CONTINUOUS["bgnbd"](), time_unit="week", **{option: value})


# ----- clv score --curve ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scored_files(tmp_path_factory):
    """A customer-data Parquet (it carries its unit and observation end) and saved BG/NBD and Gamma-Gamma models."""
    from clv.models import GammaGammaModel

    folder = tmp_path_factory.mktemp("curve_cli")
    table = customer_table(n=200)
    data = CustomerData(table, time_unit="week", observation_end=dt.date(2024, 12, 31))
    data.to_parquet(folder / "customers.parquet")
    purchases = BetaGeoModel().fit(data)
    repeat = table[table["frequency"] > 0]
    spend = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    (folder / "bg.json").write_text(purchases.to_json())
    (folder / "gg.json").write_text(spend.to_json())
    return folder, data, purchases, spend


def run_cli(*args):
    from typer.testing import CliRunner

    from clv.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_curve_writes_the_curve_and_timing_of_every_customer(scored_files):
    folder, data, purchases, spend = scored_files
    out = folder / "curve.csv"
    result = run_cli("score", folder / "customers.parquet", "--model", folder / "bg.json", "--spend-model",
                     folder / "gg.json", "--horizon", 52, "--curve", "--output", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 200
    expected = value_curve(data, purchases, spend, periods=12)  # 52 weeks -> 12 months
    assert np.allclose(table["value_12m"], expected["value_12m"], rtol=1e-9)
    assert [f"value_{k}" for k in range(1, 13)] == [c for c in table.columns if c.startswith("value_") and c[6:].isdigit()]
    assert {"p_purchase_30d", "p_purchase_90d", "next_order", "next_order_q50", "p_alive_365d", "value_lifetime"} <= set(table.columns)
    assert table["next_order"].str.match(r"^(around 20\d\d-\d\d-\d\d|no purchase expected)").all()


def test_cli_curve_options_and_errors_in_cli_words(scored_files):
    folder, *_ = scored_files
    base = ("score", folder / "customers.parquet", "--model", folder / "bg.json", "--horizon", "inf", "--intervals", "none")
    weekly = run_cli(*base, "--curve", "--curve-step", "week", "--curve-periods", 5, "--format", "csv")
    assert weekly.exit_code == 0, weekly.output
    header = weekly.output.splitlines()[0].split(",")
    assert "purchases_5" in header and "purchases_6" not in header and "value_5" in header  # own order values
    alone = run_cli(*base, "--curve-periods", 3)
    assert alone.exit_code == 2 and "add --curve" in alone.output and "Traceback" not in alone.output


def test_curves_and_timing_refuse_customer_data_with_covariates():
    from clv.summary import attach_covariates

    table = customer_table(n=20)
    data = CustomerData(table, time_unit="week")
    with_covariates = attach_covariates(data, pd.DataFrame({"customer_id": np.arange(20), "channel": ["a", "b"] * 10}))
    for function in (value_curve, purchase_timing):
        with pytest.raises(DataError, match="without_covariates"):
            function(with_covariates, CONTINUOUS["bgnbd"]())


def test_closed_forms_refuse_a_model_fitted_with_covariates():
    from clv.errors import ClvError

    table = customer_table(n=300)
    X = np.random.default_rng(0).normal(size=(300, 1))
    for cls in (BetaGeoModel, ParetoNBDModel):
        model = cls().fit(table["frequency"], table["recency"], table["T"], covariates=X)
        for method in (model.probability_no_purchase, model.probability_alive_at):
            with pytest.raises(ClvError, match="covariates"):
                method(4.0, *HISTORIES)


def test_report_reading_of_the_value_curve_says_when_nobody_is_expected_to_leave():
    """With the NBD (no dropout) the report must not say the curves flatten because customers leave."""
    from clv.report.sections import _value_curve_reading

    cumulative = pd.DataFrame([[1.0, 2.0, 3.0], [0.1, 0.2, 0.3]], index=["top 1%", "rest"])
    with_dropout = _value_curve_reading(cumulative, ["top 1%", "rest"], "months", True)
    without = _value_curve_reading(cumulative, ["top 1%", "rest"], "months", False)
    assert "expected to leave or buy less often" in with_dropout
    assert "no customer is expected to leave" in without and "leave or buy less often" not in without
