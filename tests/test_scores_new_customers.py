"""Value of a customer not yet seen: closed forms, agreement with the scorer at history (0, 0, 0), intervals."""

import numpy as np
import pandas as pd
import pytest

from clv.errors import DataError
from clv.models import BetaGeoModel, GammaGammaModel, model_class
from clv.scores import forecast_purchases, new_customer_value

CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PUBLISHED = {
    "bgnbd": CDNOW_BGNBD, "mbgnbd": CDNOW_BGNBD, "pareto": {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67},
    "nbd": {"r": 0.385, "alpha": 12.07},
}


def with_params(name, params, unit="week"):
    model = model_class(name)()
    model.params_ = dict(params)
    model.time_unit_ = unit
    return model


def cdnow_spend():
    model = GammaGammaModel()
    model.params_ = dict(CDNOW_GG)
    return model


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_a_new_customer_is_the_history_zero_zero_zero(name):
    """E[X(t)] of a new customer equals E[Y(t) | 0, 0, 0], and so do the discounted sums of the scorer there."""
    model = with_params(name, PUBLISHED[name])
    value = new_customer_value(model, cdnow_spend(), horizon=52, time_unit="week", discount_rate=0.0, intervals=None)
    assert value["expected_purchases"][0] == pytest.approx(model.expected_purchases_new(52.0), rel=1e-12)
    assert value["discounted_purchases"][0] == pytest.approx(value["expected_purchases"][0], rel=1e-12)
    spend = 6.25 * 15.44 / 2.74
    assert value["clv"][0] == pytest.approx(spend * (1 + model.expected_purchases_new(52.0)), rel=1e-9)
    lifetime = new_customer_value(model, cdnow_spend(), horizon=None, time_unit="week", intervals=None)
    steps = forecast_purchases(model, [0.0], [0.0], [0.0], horizon=None, time_unit="week", use_closed_form=False)
    assert lifetime["discounted_purchases"][0] == pytest.approx(steps.discounted[0], rel=1e-9)
    # the closed forms (Pareto/NBD's DERT discounts continuously, not at month ends) agree within 0.5%
    closed = forecast_purchases(model, [0.0], [0.0], [0.0], horizon=None, time_unit="week")
    assert lifetime["discounted_purchases"][0] == pytest.approx(closed.discounted[0], rel=5e-3)
    discounted_year = new_customer_value(model, None, horizon=52, time_unit="week", intervals=None,
                                         include_first_purchase=False)
    scorer = forecast_purchases(model, [0.0], [0.0], [0.0], horizon=52, time_unit="week")
    assert discounted_year["discounted_purchases"][0] == pytest.approx(scorer.discounted[0], rel=1e-12)
    assert "clv" not in discounted_year.columns


def test_bgbb_counts_whole_periods():
    model = with_params("bgbb", {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}, unit="year")
    value = new_customer_value(model, None, horizon=6, time_unit="year", discount_rate=0.0, intervals=None)
    assert value["expected_purchases"][0] == pytest.approx(model.expected_purchases_new(6), rel=1e-12)


def simulated_fit(seed, n=3000):
    rng = np.random.default_rng(seed)
    true_purchases = dict(CDNOW_BGNBD)
    history = BetaGeoModel().simulate(T=rng.uniform(20, 78, n), params=true_purchases, rng=rng)
    purchases = BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], time_unit="week")
    x = history["frequency"].to_numpy()
    repeat = x > 0
    nu = rng.gamma(CDNOW_GG["q"], 1 / CDNOW_GG["gamma"], n)
    m = rng.gamma(CDNOW_GG["p"] * np.maximum(x, 1), 1 / nu) / np.maximum(x, 1)
    spend = GammaGammaModel().fit(x[repeat], m[repeat])
    return purchases, spend


def test_interval_of_the_expected_value_covers_the_truth_over_seeds():
    truth = new_customer_value(with_params("bgnbd", CDNOW_BGNBD), cdnow_spend(), horizon=104, time_unit="week",
                               intervals=None)["clv"][0]
    covered = []
    for seed in range(20):
        purchases, spend = simulated_fit(seed)
        value = new_customer_value(purchases, spend, horizon=104, intervals=(0.9,), n_draws=600, seed=seed)
        low, high = value["clv_q0.05"][0], value["clv_q0.95"][0]
        assert low < value["clv"][0] < high
        covered.append(low <= truth <= high)
    # nominal 90%: Binomial(20, 0.9) gives <= 14 covered with probability 0.011
    assert sum(covered) >= 15, covered
    assert "parameter estimates" in value.interval_uncertainty and value.n_draws == 600


def test_one_model_per_channel():
    fits = {f"channel{seed}": simulated_fit(seed, n=1500) for seed in (1, 2)}
    value = new_customer_value({k: v[0] for k, v in fits.items()}, {k: v[1] for k, v in fits.items()},
                               horizon=52, intervals=(0.8,))
    assert list(value["profile"]) == ["channel1", "channel2"]
    for row, (purchases, spend) in zip(value.itertuples(), fits.values()):
        expected = spend.population_mean_spend * (1 + new_customer_value(purchases, None, horizon=52, intervals=None)
                                                  ["discounted_purchases"][0])
        assert row.clv == pytest.approx(expected, rel=1e-12)
    with pytest.raises(DataError, match="no model for profile"):
        new_customer_value({"a": fits["channel1"][0]}, {"b": fits["channel1"][1]}, horizon=52)


def test_profiles_with_spend_covariates():
    rng = np.random.default_rng(4)
    n = 3000
    z = (rng.random(n) < 0.5).astype(float)
    x = rng.integers(1, 6, n).astype(float)
    nu = rng.gamma(3.0, 1 / (20.0 * np.exp(0.5 * z)))
    m = rng.gamma(4.0 * x, 1 / nu) / x
    spend = GammaGammaModel().fit(x, m, covariates=pd.DataFrame({"web": z}))
    purchases = with_params("bgnbd", CDNOW_BGNBD)
    profiles = pd.DataFrame({"web": [0.0, 1.0]}, index=["store", "web"])
    value = new_customer_value(purchases, spend, horizon=52, profiles=profiles, intervals=(0.95,), n_draws=400)
    assert list(value["profile"]) == ["store", "web"]
    ratio = value["expected_spend"][1] / value["expected_spend"][0]
    assert ratio == pytest.approx(np.exp(spend.params_["spend[web]"]), rel=1e-12)
    assert value["clv"][1] / value["clv"][0] == pytest.approx(ratio, rel=1e-12)  # same purchase model
    assert (value["clv_q0.025"] < value["clv"]).all() and (value["clv"] < value["clv_q0.975"]).all()
    with pytest.raises(DataError, match="fitted with covariates"):
        new_customer_value(purchases, cdnow_spend(), horizon=52, profiles=profiles)


def test_errors_name_the_fix():
    model = with_params("bgnbd", CDNOW_BGNBD)
    with pytest.raises(DataError, match="discount_rate > 0"):
        new_customer_value(model, None, horizon=None, discount_rate=0.0, intervals=None)
    with pytest.raises(DataError, match="fitted in weeks"):
        new_customer_value(model, None, horizon=12, time_unit="month")
    unitless = BetaGeoModel()
    unitless.params_ = dict(CDNOW_BGNBD)
    with pytest.raises(DataError, match="time_unit is needed"):
        new_customer_value(unitless, None, horizon=52)
    with pytest.raises(DataError, match="n_draws"):
        new_customer_value(model, None, horizon=52, n_draws=1)


@pytest.mark.parametrize("name", sorted({**PUBLISHED, "bgbb": None}))
def test_parameter_draws_in_one_call_equal_one_call_per_draw(name):
    """Where a model's E[X(t)] broadcasts over parameter columns the draws take one call; the values are the
    per-draw ones (BG/NBD and MBG/NBD do not broadcast and take the per-draw route)."""
    from clv.scores.new_customers import _purchases_path, _with_params

    params = PUBLISHED.get(name) or {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    model = with_params(name, params)
    rows = np.array(list(params.values()))[None, :] * np.exp(np.random.default_rng(0).normal(0, 0.2, (50, len(params))))
    times = np.arange(1.0, 30.0)
    one_by_one = np.vstack([_with_params(model, row).expected_purchases_new(times) for row in rows])
    assert _purchases_path(model, rows, times) == pytest.approx(one_by_one, rel=1e-12)


def test_purchase_profiles_go_through_profile_model():
    """A purchase model with static covariates gives each profile its plain model (here a Pareto/NBD set by hand)."""
    from clv.models import ParetoNBDModel

    model = ParetoNBDModel()
    model.param_names = ("r", "alpha", "s", "beta", "trans[web]", "life[web]")
    model.params_ = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67, "trans[web]": 0.4, "life[web]": -0.2}
    model.covariate_names_ = ("web",)
    model.covariance_theta_ = np.diag([0.01, 0.01, 0.01, 0.01, 0.004, 0.004])
    model.log_likelihood_, model.n_, model.n_distinct_, model.time_unit_ = -1.0, 100.0, 100, "week"
    profiles = pd.DataFrame({"web": [0.0, 1.0]}, index=["store", "web"])
    value = new_customer_value(model, None, horizon=52, profiles=profiles, intervals=(0.9,), n_draws=300)
    web = with_params("pareto", {"r": 0.55, "alpha": 10.58 * np.exp(-0.4), "s": 0.61, "beta": 11.67 * np.exp(0.2)})
    assert value["expected_purchases"][1] == pytest.approx(web.expected_purchases_new(52.0), rel=1e-12)
    assert value["expected_purchases"][0] == pytest.approx(
        with_params("pareto", PUBLISHED["pareto"]).expected_purchases_new(52.0), rel=1e-12)
    assert (value["discounted_purchases_q0.05"] < value["discounted_purchases"]).all()
    with pytest.raises(DataError, match="pass profiles="):
        new_customer_value(model, None, horizon=52)
