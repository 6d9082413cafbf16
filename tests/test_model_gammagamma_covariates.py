"""Gamma-Gamma with spend covariates: derivatives, recovery over seeds, the no-covariate identity, predictions."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clv.errors import DataError, FitError
from clv.models import gammagamma_covariates as cov
from clv.models.gammagamma import GammaGammaModel

DATA = Path(__file__).parent / "data"
TRUE = {"p": 4.0, "q": 3.0, "gamma": 20.0}
TRUE_COEFFICIENTS = np.array([0.4, -0.3])


def simulate(n, rng, coefficients=TRUE_COEFFICIENTS, p=4.0, q=3.0, gamma=20.0):
    """Repeat buyers with a dummy and a standard normal covariate: nu_i ~ Gamma(q, rate gamma exp(g'z_i))."""
    z = np.column_stack([rng.random(n) < 0.4, rng.normal(size=n)]).astype(float)
    x = rng.integers(1, 8, n).astype(float)
    scale = gamma * np.exp(z @ coefficients)
    nu = rng.gamma(q, 1.0 / scale)
    m = rng.gamma(p * x, 1.0 / nu) / x
    return x, m, z


ROWS = cov.CovariateRows.build(
    np.array([1.0, 1, 2, 2, 3, 7, 40, 2000, 1, 5]),
    np.array([12.5, 0.01, 30.0, 4.2, 1e5, 25.0, 18.3, 22.0, 3e-4, 60.0]),
    np.array([[0, 1.2], [1, -0.3], [0, 0.0], [1, 2.5], [0, -1.0], [1, 0.7], [0, 0.1], [1, -2.0], [0, 3.0], [1, 0.0]]),
    np.array([120.0, 3, 17, 1, 2.5, 9, 4, 1, 6, 2]),
)
THETAS = [np.log([6.25, 3.74, 15.44]).tolist() + [0.3, -0.2], np.log([0.5, 1.2, 300.0]).tolist() + [-1.0, 0.5],
          np.log([40.0, 0.3, 0.02]).tolist() + [2.0, 0.0]]


@pytest.mark.parametrize("theta", THETAS)
@pytest.mark.parametrize("l2_penalty", [0.0, 3.0])
def test_gradient_and_hessian_match_finite_differences(theta, l2_penalty):
    theta = np.array(theta)
    value, gradient, hessian = cov.value_gradient_hessian(theta, ROWS, l2_penalty)
    penalty = l2_penalty * theta[3:] @ theta[3:]
    assert value == pytest.approx(ROWS.weights @ cov.log_likelihood_terms(theta, ROWS) - penalty, rel=1e-12)
    step = 1e-6
    numerical_gradient, numerical_hessian = np.empty(5), np.empty((5, 5))
    for j in range(5):
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        v_up, g_up, _ = cov.value_gradient_hessian(up, ROWS, l2_penalty)
        v_down, g_down, _ = cov.value_gradient_hessian(down, ROWS, l2_penalty)
        numerical_gradient[j] = (v_up - v_down) / (2 * step)
        numerical_hessian[:, j] = (g_up - g_down) / (2 * step)
    assert gradient == pytest.approx(numerical_gradient, rel=1e-5, abs=1e-4)
    assert hessian == pytest.approx(numerical_hessian, rel=1e-5, abs=1e-3)
    assert hessian == pytest.approx(hessian.T)


def test_zero_coefficients_equal_the_plain_likelihood():
    plain = GammaGammaModel()
    params = np.array([6.25, 3.74, 15.44])
    terms = cov.log_likelihood_terms(np.concatenate([np.log(params), [0.0, 0.0]]), ROWS)
    assert terms == pytest.approx(plain._log_likelihood_terms(params, {"x": ROWS.x, "m": ROWS.m}), rel=1e-12)


def test_without_covariates_the_fit_is_bit_identical(cdnow_spend):
    x, m = cdnow_spend
    before = GammaGammaModel().fit(x, m)
    after = GammaGammaModel(l2_penalty=0.0).fit(x, m, covariates=None)
    assert after.params_ == before.params_  # to the bit
    assert after.log_likelihood_ == before.log_likelihood_
    assert after.standard_errors_ == before.standard_errors_
    assert not after.has_covariates and after.param_names == ("p", "q", "gamma")
    # a covariate fit then a plain refit of the same instance is the plain fit again
    model = GammaGammaModel().fit(x, m, covariates=np.random.default_rng(0).normal(size=(x.shape[0], 1)))
    assert model.has_covariates
    model.fit(x, m)
    assert model.params_ == before.params_ and model.capabilities is GammaGammaModel.capabilities


@pytest.fixture(scope="module")
def cdnow_spend():
    raw = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "customer", "date", "cds", "dollars"], dtype={"date": str})
    raw = raw[raw["date"] <= "19970930"]
    daily = raw.groupby(["customer", "date"], as_index=False)["dollars"].sum().sort_values(["customer", "date"])
    repeat = daily[daily.groupby("customer").cumcount() > 0]
    spend = repeat.groupby("customer")["dollars"].agg(frequency="count", monetary_value="mean")
    return spend["frequency"].to_numpy(float), spend["monetary_value"].to_numpy(float)


def test_covariates_of_zeros_change_nothing_but_are_not_identified(cdnow_spend):
    x, m = cdnow_spend
    with pytest.raises(FitError):  # a constant column is not identified (singular information or at the edge)
        GammaGammaModel().fit(x, m, covariates=np.zeros((x.shape[0], 1)))


def test_recovery_within_two_standard_errors_over_seeds():
    inside, names = [], ("spend[dummy]", "spend[normal]")
    for seed in range(30):
        x, m, z = simulate(1500, np.random.default_rng(seed))
        model = GammaGammaModel().fit(x, m, covariates=z, covariate_names=["dummy", "normal"])
        estimates = np.array([model.params_[n] for n in names])
        errors = np.array([model.standard_errors_[n] for n in names])
        inside.append(np.abs(estimates - TRUE_COEFFICIENTS) <= 2 * errors)
        for name in ("p", "q", "gamma"):
            low, high = model.confidence_intervals_[name]
            assert low < model.params_[name] < high
    # each coefficient within 2 SE in >= 90% of seeds (nominal 95.4%; Binomial(30, 0.954): P(< 27) ~ 0.15...
    # so allow 26 of 30 = 87%, P(<= 25) = 0.05)
    assert np.mean(inside, axis=0).min() >= 26 / 30, np.mean(inside, axis=0)


def test_recovery_rate_is_at_least_ninety_percent_over_many_seeds():
    inside = []
    for seed in range(100, 160):
        x, m, z = simulate(600, np.random.default_rng(seed))
        model = GammaGammaModel().fit(x, m, covariates=z)
        estimates, errors = model.params[3:], np.array([model.standard_errors_[n] for n in model.param_names[3:]])
        inside.append(np.abs(estimates - TRUE_COEFFICIENTS) <= 2 * errors)
    assert np.mean(inside) >= 0.90


def test_expected_spend_and_prior_mean_with_covariates():
    x, m, z = simulate(4000, np.random.default_rng(7))
    model = GammaGammaModel().fit(x, m, covariates=pd.DataFrame(z, columns=["dummy", "normal"]))
    p, q, gamma, g1, g2 = model.params
    assert model.param_names == ("p", "q", "gamma", "spend[dummy]", "spend[normal]")
    got = model.expected_spend([0, 3], [np.nan, 50.0], covariates=np.array([[1.0, 0.5], [0.0, -1.0]]))
    gamma_i = gamma * np.exp(np.array([g1 + 0.5 * g2, -g2]))
    assert got == pytest.approx([p * gamma_i[0] / (q - 1), p * (gamma_i[1] + 150.0) / (3 * p + q - 1)], rel=1e-12)
    profiles = pd.DataFrame({"normal": [0.0, 0.0], "dummy": [0.0, 1.0]})  # columns found by name
    prior = model.prior_mean_spend(profiles)
    assert prior == pytest.approx([p * gamma / (q - 1), p * gamma * np.exp(g1) / (q - 1)], rel=1e-12)
    assert prior[0] == pytest.approx(model.population_mean_spend)
    draws = model.sample_params(500, seed=1)
    assert draws.shape == (500, 5) and (draws[:, :3] > 0).all() and (draws[:, 3] < 0).any() is not None
    by_draw = model.prior_mean_spend(profiles, params=draws)
    assert by_draw.shape == (500, 2)
    # the draws' spread of the coefficient matches its standard error
    assert draws[:, 3].std() == pytest.approx(model.standard_errors_["spend[dummy]"], rel=0.15)
    with pytest.raises(DataError, match="fitted with covariates"):
        model.expected_spend([1], [10.0])
    with pytest.raises(DataError, match="lack column"):
        model.prior_mean_spend(pd.DataFrame({"dummy": [1.0]}))
    assert not model.capabilities.linear_in_monetary_value and model.capabilities.covariates


def test_json_round_trip_keeps_the_covariates():
    x, m, z = simulate(2000, np.random.default_rng(3))
    model = GammaGammaModel().fit(x, m, covariates=z)
    restored = GammaGammaModel.from_json(model.to_json())
    assert restored.params_ == model.params_ and restored.covariate_names_ == ("x1", "x2")
    assert restored.expected_spend([2.0], [30.0], covariates=z[:1]) == model.expected_spend([2.0], [30.0], covariates=z[:1])
    assert restored.sample_params(3, 0) == pytest.approx(model.sample_params(3, 0))


def test_l2_penalty_shrinks_the_coefficients():
    x, m, z = simulate(800, np.random.default_rng(11))
    free = GammaGammaModel().fit(x, m, covariates=z)
    shrunk = GammaGammaModel(l2_penalty=500.0).fit(x, m, covariates=z)
    assert np.all(np.abs(shrunk.params[3:]) < np.abs(free.params[3:]))
    assert shrunk.log_likelihood_ < free.log_likelihood_  # unpenalised likelihood at the penalised optimum


def test_bad_covariates_name_row_and_fix():
    x, m, z = simulate(50, np.random.default_rng(0))
    z[7, 1] = np.nan
    with pytest.raises(DataError, match="row 7"):
        GammaGammaModel().fit(x, m, covariates=z)
    with pytest.raises(DataError, match="one row per customer"):
        GammaGammaModel().fit(x, m, covariates=z[:10])
    with pytest.raises(DataError, match="l2_penalty"):
        GammaGammaModel(l2_penalty=-1.0).fit(x, m, covariates=np.nan_to_num(z))
    with pytest.raises(DataError, match="fitted without"):
        GammaGammaModel().fit(x, m).expected_spend([1], [2.0], covariates=[[1.0, 2.0]])


def test_many_rows_pilot_start_reaches_the_same_optimum():
    x, m, z = simulate(30_000, np.random.default_rng(5))  # above the pilot threshold
    model = GammaGammaModel().fit(x, m, covariates=z)
    theta = model._theta()
    rows = cov.CovariateRows.build(x, m, z, np.ones_like(x))
    _, gradient, _ = cov.value_gradient_hessian(theta, rows, hessian=False)
    assert np.max(np.abs(gradient)) / x.shape[0] <= 1e-8
    # the L-BFGS-B route from the plain fit on the same rows lands at the same point
    objective = cov.ThetaObjective(rows, 0.0)
    plain = GammaGammaModel().fit(x, m)
    result = objective.minimise(np.concatenate([np.log(plain.params), [0.0, 0.0]]), 2000)
    assert result.x == pytest.approx(theta, abs=1e-4)


# ----- scoring with a spend model fitted with covariates -------------------------------------------------------------
@pytest.fixture(scope="module")
def scored_inputs():
    from clv.models import BetaGeoModel

    rng = np.random.default_rng(21)
    n = 3000
    history = BetaGeoModel().simulate(T=rng.uniform(20, 60, n), params={"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5},
                                      rng=rng)
    web = (rng.random(n) < 0.5).astype(float)
    x = history["frequency"].to_numpy()
    nu = rng.gamma(3.0, 1 / (20.0 * np.exp(0.6 * web)))
    history["monetary_value"] = np.where(x > 0, rng.gamma(4.0 * np.maximum(x, 1), 1 / nu) / np.maximum(x, 1), 0.0)
    history["channel=web"] = web
    purchases = BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], time_unit="week")
    repeat = x > 0
    spend = GammaGammaModel().fit(x[repeat], history["monetary_value"].to_numpy()[repeat],
                                  covariates=history.loc[repeat, ["channel=web"]])
    return history, purchases, spend


@pytest.mark.parametrize("method", ["closed", "simulate"])
def test_scores_use_the_spend_covariates(scored_inputs, method):
    from clv.scores import forecast_purchases, score_customers

    history, purchases, spend = scored_inputs
    scores = score_customers(history, purchases, spend, horizon=52, time_unit="week", n_draws=100,
                             interval_method=method)
    z = history[["channel=web"]]
    expected = spend.expected_spend(history["frequency"], history["monetary_value"], covariates=z)
    assert scores["expected_spend"].to_numpy() == pytest.approx(expected, rel=1e-12)
    det = forecast_purchases(purchases, history["frequency"], history["recency"], history["T"], horizon=52,
                             time_unit="week").discounted
    assert scores["clv"].to_numpy() == pytest.approx(expected * det, rel=1e-9)
    # one-time buyers get the prior mean of their profile: web ones exp(g) times the others
    once = history["frequency"].to_numpy() == 0
    web = history["channel=web"].to_numpy() == 1
    ratio = scores["expected_spend"][once & web].mean() / scores["expected_spend"][once & ~web].mean()
    assert ratio == pytest.approx(np.exp(spend.params_["spend[channel=web]"]), rel=1e-9)
    assert (scores["clv_q0.1"] <= scores["clv_q0.9"]).all()
    assert scores.interval_uncertainty == "parameters and process noise"
    # the upper CLV bound of one-time buyers follows their profile's spend level
    upper = scores["clv_q0.975"].to_numpy()
    buyers = once & (upper > 0)
    assert upper[buyers & web].mean() > upper[buyers & ~web].mean()


def test_scoring_data_without_the_covariate_columns_is_refused(scored_inputs):
    from clv.scores import score_customers

    history, purchases, spend = scored_inputs
    with pytest.raises(DataError, match="attach the same covariates"):
        score_customers(history.drop(columns="channel=web"), purchases, spend, horizon=52, time_unit="week",
                        intervals=None)


def test_customer_data_with_covariates_fits_and_scores(scored_inputs):
    """The covariates travel with the customer data: attach_covariates, fit on the data, score the data."""
    from clv.scores import score_customers
    from clv.summary import CustomerData, attach_covariates

    history, purchases, spend = scored_inputs
    table = history.drop(columns="channel=web").assign(customer_id=[f"c{i}" for i in range(len(history))])
    channel = np.where(history["channel=web"].to_numpy() == 1, "web", "shop")
    data = attach_covariates(CustomerData(table, time_unit="week"),
                             pd.DataFrame({"customer_id": table["customer_id"], "channel": channel}),
                             reference={"channel": "shop"})
    assert data.covariate_names == ("channel=web",)
    fitted = GammaGammaModel().fit(data)
    assert fitted.params_ == spend.params_  # the same rows and covariate column as the array fit
    scores = score_customers(data, purchases, fitted, horizon=52,
                             intervals=None)
    expected = spend.expected_spend(history["frequency"], history["monetary_value"], covariates=history[["channel=web"]])
    assert scores["expected_spend"].to_numpy() == pytest.approx(expected, rel=1e-12)
