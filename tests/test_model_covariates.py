"""BG/NBD and MBG/NBD with static covariates: likelihood, gradient, recovery, predictions, scoring, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv.errors import DataError
from clv.models import BetaGeoModel, ModifiedBetaGeoModel, load_model
from clv.models.covariate_link import BGNBD_LINK, _compress_with_covariates, _CovariateObjective
from clv.scores import score_customers
from clv.summary import CustomerData, attach_covariates

TRUTH = {"r": 0.8, "alpha": 5.0, "a": 0.8, "b": 2.5,
         "trans[g]": 0.5, "trans[h]": -0.3, "life[g]": 0.4, "life[h]": 0.2}


def _covariates(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"g": rng.integers(0, 2, n).astype(float), "h": rng.integers(0, 3, n).astype(float)})


def _simulated(model_class=BetaGeoModel, n: int = 3000, seed: int = 0):
    X = _covariates(n, seed)
    history = model_class().simulate(np.full(n, 40.0), TRUTH, rng=seed + 1000, covariates=X)
    return history, X


@pytest.fixture(scope="module")
def simulated():
    return _simulated()


@pytest.fixture(scope="module")
def fitted(simulated):
    history, X = simulated
    return BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], covariates=X)


def _data(history, X=None) -> CustomerData:
    table = history.assign(customer_id=[f"c{i}" for i in range(len(history))])
    data = CustomerData(table, time_unit="week", has_amounts=False)
    if X is None:
        return data
    return attach_covariates(data, X.assign(customer_id=table["customer_id"].to_numpy()))


def test_without_covariates_the_fit_is_bit_identical(simulated, fitted):
    history, X = simulated
    args = (history["frequency"], history["recency"], history["T"])
    plain = BetaGeoModel().fit(*args)
    again = BetaGeoModel().fit(*args, covariates=None)
    assert again.params_ == plain.params_ and again.log_likelihood_ == plain.log_likelihood_
    reused = BetaGeoModel().fit(*args, covariates=X).fit(*args)  # a covariate fit leaves nothing behind
    assert reused.params_ == plain.params_ and reused.log_likelihood_ == plain.log_likelihood_
    assert reused.param_names == ("r", "alpha", "a", "b")
    dropped = BetaGeoModel().fit(_data(history, X).without_covariates())
    assert dropped.params_ == plain.params_ and dropped.log_likelihood_ == plain.log_likelihood_


def test_customer_data_with_covariates_fits_the_same_as_arrays(simulated, fitted):
    history, X = simulated
    from_data = BetaGeoModel().fit(_data(history, X))
    assert from_data.covariate_names_ == ("g", "h") and from_data.time_unit_ == "week"
    assert from_data.params_ == pytest.approx(fitted.params_, rel=1e-9)


def test_analytic_gradient_matches_finite_differences(simulated):
    history, X = simulated
    for model_class in (BetaGeoModel, ModifiedBetaGeoModel):
        model = model_class()
        data, X_profiles, weights = _compress_with_covariates(
            {"x": history["frequency"].to_numpy(), "t_x": history["recency"].to_numpy(), "T": history["T"].to_numpy()},
            X.to_numpy(), None)
        objective = _CovariateObjective(model, data, X_profiles, weights, BGNBD_LINK, ("r", "alpha", "a", "b"), 0.7)
        theta = np.array([np.log(0.7), np.log(4.0), np.log(0.9), np.log(2.0), 0.3, -0.2, 0.1, 0.25])
        _, gradient = objective.value_and_gradient(theta)
        numeric = np.empty_like(theta)
        for j in range(theta.shape[0]):
            step = np.zeros_like(theta)
            step[j] = 1e-6
            numeric[j] = (objective.value_and_gradient(theta + step)[0]
                          - objective.value_and_gradient(theta - step)[0]) / 2e-6
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-4)


def test_generic_per_row_route_gives_the_same_sums_as_the_profile_route(simulated):
    history, X = simulated
    model = BetaGeoModel()
    data, X_profiles, weights = _compress_with_covariates(
        {"x": history["frequency"].to_numpy(), "t_x": history["recency"].to_numpy(), "T": history["T"].to_numpy()},
        X.to_numpy(), None)
    from clv.models.covariate_link import profile_sums

    params = BGNBD_LINK.row_params(("r", "alpha", "a", "b"), np.array([0.7, 4.0, 0.9, 2.0]),
                                   np.array([0.3, -0.2, 0.1, 0.25]), X_profiles)
    value, sums = model._profile_log_likelihood_and_gradient(params, dict(data), weights)
    generic_value, generic_sums = profile_sums(model, params, data, weights)
    assert value == pytest.approx(generic_value, rel=1e-12)
    np.testing.assert_allclose(sums[:, 1:], generic_sums[:, 1:], rtol=1e-9, atol=1e-9)
    assert sums[:, 0].sum() == pytest.approx(generic_sums[:, 0].sum(), rel=1e-9)


def test_every_parameter_has_a_finite_standard_error_and_the_names_follow_the_link(fitted):
    assert fitted.param_names == ("r", "alpha", "a", "b", "trans[g]", "trans[h]", "life[g]", "life[h]")
    assert all(np.isfinite(v) and v > 0 for v in fitted.standard_errors_.values())
    lower, upper = fitted.confidence_intervals_["trans[h]"]
    assert lower < fitted.params_["trans[h]"] < upper < 0  # a coefficient's interval is on its own scale
    assert fitted.summary().table.shape == (8, 4)


def test_known_coefficients_are_recovered_within_two_standard_errors_over_many_seeds():
    hits, total = 0, 0
    for seed in range(20):
        history, X = _simulated(n=1500, seed=seed)
        model = BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], covariates=X)
        for name in ("trans[g]", "trans[h]", "life[g]", "life[h]"):
            total += 1
            hits += abs(model.params_[name] - TRUTH[name]) <= 2 * model.standard_errors_[name]
    assert hits / total >= 0.90, f"{hits}/{total} coefficients within 2 SE"


def test_mbgnbd_fits_covariates_too():
    history, X = _simulated(ModifiedBetaGeoModel, n=3000, seed=3)
    model = ModifiedBetaGeoModel().fit(history["frequency"], history["recency"], history["T"], covariates=X)
    assert abs(model.params_["trans[g]"] - TRUTH["trans[g]"]) < 3 * model.standard_errors_["trans[g]"]
    assert model.capabilities.static_covariates


def test_per_row_predictions_equal_those_of_each_profiles_model(simulated, fitted):
    history, X = simulated
    rows = slice(0, 40)
    x, t_x, T = (history[c].to_numpy()[rows] for c in ("frequency", "recency", "T"))
    Xr = X.iloc[rows]
    alive = fitted.probability_alive(x, t_x, T, covariates=Xr)
    purchases = fitted.expected_purchases(10.0, x, t_x, T, covariates=Xr)
    grid = fitted.expected_purchases(np.array([[5.0, 10.0]]), x[:, None], t_x[:, None], T[:, None], covariates=Xr)
    for i in range(40):
        plain = fitted.profile_model(Xr.to_numpy()[i])
        assert alive[i] == pytest.approx(plain.probability_alive(x[i], t_x[i], T[i]), rel=1e-12)
        assert purchases[i] == pytest.approx(plain.expected_purchases(10.0, x[i], t_x[i], T[i]), rel=1e-10)
        assert grid[i, 0] == pytest.approx(plain.expected_purchases(5.0, x[i], t_x[i], T[i]), rel=1e-10)
    new = fitted.expected_purchases_new(10.0, covariates=Xr.iloc[:3])
    assert new[0] == pytest.approx(fitted.profile_model(Xr.to_numpy()[0]).expected_purchases_new(10.0), rel=1e-12)
    draws = fitted.sample_future_purchases(10.0, x, t_x, T, rng=1, covariates=Xr)
    assert draws.shape == (40,) and np.all(draws >= 0)


def test_zero_covariates_give_the_base_parameters(fitted):
    plain = fitted.profile_model([0.0, 0.0])
    assert plain.params_ == pytest.approx({k: fitted.params_[k] for k in ("r", "alpha", "a", "b")}, rel=1e-14)
    assert plain.standard_errors_["alpha"] == pytest.approx(fitted.standard_errors_["alpha"], rel=1e-12)


def test_predictions_refuse_missing_or_unexpected_covariates(simulated, fitted):
    history, X = simulated
    x, t_x, T = (history[c].to_numpy()[:3] for c in ("frequency", "recency", "T"))
    with pytest.raises(DataError, match=r"fitted with covariates \['g', 'h'\]: pass covariates="):
        fitted.probability_alive(x, t_x, T)
    with pytest.raises(DataError, match="fitted without covariates"):
        BetaGeoModel().fit(history["frequency"], history["recency"], history["T"]).probability_alive(
            x, t_x, T, covariates=X.iloc[:3])
    with pytest.raises(DataError, match="same columns"):
        fitted.probability_alive(x, t_x, T, covariates=X.iloc[:3][["h", "g"]])


def test_save_and_load_keep_the_coefficients(fitted, tmp_path):
    loaded = load_model(fitted.to_json(tmp_path / "m.json") and tmp_path / "m.json")
    assert loaded.params_ == fitted.params_ and loaded.covariate_names_ == ("g", "h")
    np.testing.assert_array_equal(loaded.covariance_theta_, fitted.covariance_theta_)


def test_l2_penalty_shrinks_the_coefficients(simulated, fitted):
    history, X = simulated
    args = (history["frequency"], history["recency"], history["T"])
    shrunk = BetaGeoModel(l2_penalty=200.0).fit(*args, covariates=X)
    names = ("trans[g]", "trans[h]", "life[g]", "life[h]")
    assert sum(abs(shrunk.params_[n]) for n in names) < sum(abs(fitted.params_[n]) for n in names)
    assert shrunk.l2_penalty_ == 200.0
    with pytest.raises(DataError, match="l2_penalty"):
        BetaGeoModel(l2_penalty=-1.0).fit(*args, covariates=X)


def test_score_customers_scores_each_profile_with_its_parameters(simulated, fitted):
    history, X = simulated
    data = _data(history.iloc[:300].reset_index(drop=True), X.iloc[:300].reset_index(drop=True))
    scores = score_customers(data, fitted, horizon=20.0, intervals=(0.8,), n_draws=50)
    assert scores["customer_id"].tolist() == data["customer_id"].tolist()
    Xd = data.covariate_matrix()
    expected = fitted.expected_purchases(20.0, data["frequency"].to_numpy(), data["recency"].to_numpy(),
                                         data["T"].to_numpy(), covariates=Xd)
    np.testing.assert_allclose(scores["expected_purchases"].to_numpy(), expected, rtol=1e-9)
    assert np.all(scores["purchases_q0.9"] >= scores["purchases_q0.1"])
    lifetime = score_customers(data, fitted, horizon=None, intervals=None)
    assert np.all(np.isfinite(lifetime["discounted_purchases"]))
    with pytest.raises(DataError, match=r"lacks \['g', 'h'\].*--covariates FILE"):
        score_customers(data.without_covariates(), fitted, horizon=20.0, intervals=None)


def test_scoring_refuses_more_profiles_than_it_scores_with_the_fix(simulated, monkeypatch):
    import clv.scores.score as score_module

    history, X = simulated
    data = _data(history.iloc[:200].reset_index(drop=True), X.iloc[:200].reset_index(drop=True))
    model = BetaGeoModel().fit(data)
    monkeypatch.setattr(score_module, "MAX_COVARIATE_PROFILES", 3)
    with pytest.raises(DataError, match=r"6 distinct covariate profiles \(g, h\).*at most 3.*pandas.qcut"):
        score_customers(data, model, horizon=10.0, intervals=None)
