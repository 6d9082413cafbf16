"""NBD without dropout (Ehrenberg 1959): likelihood, gradient and Hessian, predictions, the BG/NBD a -> 0 limit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from clv.models import BetaGeoModel, NBDModel, load_model

DATA = {
    "x": np.array([0.0, 1, 2, 7, 40, 2000]),
    "T": np.array([38.9, 38.9, 12.0, 38.9, 400.0, 3000.0]),
}
WEIGHTS = np.array([3.0, 1.0, 2.0, 1.0, 1.0, 0.5])


def _numerical(function, params, step=1e-5):
    # Relative step 1e-5: at 1e-6 the rounding of log-likelihood terms in the thousands
    # (x = 2000) costs more than the 1e-5 tolerance (seen at r = alpha = 0.25).
    columns = []
    for j in range(params.shape[0]):
        up, down = params.copy(), params.copy()
        up[j] += step * params[j]
        down[j] -= step * params[j]
        columns.append((function(up) - function(down)) / (2 * step * params[j]))
    return np.stack(columns, axis=-1)


def test_likelihood_is_the_negative_binomial():
    """L(x | T) = NB(x; r, alpha/(alpha+T)) up to T^x / x!, which is free of the parameters."""
    r, alpha = 0.74, 9.05
    terms = NBDModel()._log_likelihood_terms(np.array([r, alpha]), DATA)
    pmf = stats.nbinom.logpmf(DATA["x"], r, alpha / (alpha + DATA["T"]))
    free = DATA["x"] * np.log(DATA["T"]) - special.gammaln(DATA["x"] + 1)
    np.testing.assert_allclose(terms, pmf - free, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(r=st.floats(0.05, 50.0), alpha=st.floats(0.05, 500.0))
def test_gradient_and_hessian_match_finite_differences(r, alpha):
    model, params = NBDModel(), np.array([r, alpha])
    gradient = model._log_likelihood_gradient(params, DATA)
    numerical = _numerical(lambda p: model._log_likelihood_terms(p, DATA), params)
    np.testing.assert_allclose(gradient, numerical, rtol=1e-5, atol=1e-6)
    hessian = model._weighted_hessian(params, DATA, WEIGHTS)
    numerical_hessian = _numerical(lambda p: WEIGHTS @ model._log_likelihood_gradient(p, DATA), params)
    np.testing.assert_allclose(hessian, numerical_hessian, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def simulated():
    truth = {"r": 0.75, "alpha": 9.0}
    history = NBDModel().simulate(T=np.linspace(5.0, 52.0, 20_000), params=truth, rng=7)
    return truth, history


def test_fit_recovers_the_simulated_parameters(simulated):
    truth, history = simulated
    model = NBDModel().fit(history["frequency"], history["recency"], history["T"], time_unit="week")
    for name, value in truth.items():
        low, high = model.confidence_intervals_[name]
        assert low < value < high, (name, model.params_)
    assert model.time_unit_ == "week" and model.n_ == 20_000


def test_predictions_are_the_posterior_gamma_ones(simulated):
    _, history = simulated
    model = NBDModel().fit(history["frequency"], history["recency"], history["T"])
    r, alpha = model.params
    x, t_x, T = np.array([0.0, 3, 10]), np.array([0.0, 5, 30]), np.array([20.0, 30, 40])
    np.testing.assert_array_equal(model.probability_alive(x, t_x, T), 1.0)
    np.testing.assert_allclose(model.expected_purchases(13.0, x, t_x, T), 13.0 * (r + x) / (alpha + T), rtol=1e-12)
    np.testing.assert_allclose(model.expected_purchases_new(13.0), r * 13.0 / alpha, rtol=1e-12)
    pmf = model.probability_purchases(np.arange(5000), 39.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert (np.arange(5000) @ pmf) == pytest.approx(model.expected_purchases_new(39.0), rel=1e-9)
    draws = model.sample_future_purchases(13.0, np.full(40_000, 3.0), np.full(40_000, 5.0), np.full(40_000, 30.0), rng=1)
    assert draws.mean() == pytest.approx(13.0 * (r + 3) / (alpha + 30), rel=0.03)


def test_discounted_residual_purchases_is_the_geometric_sum(simulated):
    _, history = simulated
    model = NBDModel().fit(history["frequency"], history["recency"], history["T"])
    got = model.discounted_residual_purchases([2.0], [10.0], [30.0], discount_rate=0.1, time_unit="week")
    q = 1.1 ** (-7 / 365.25)
    steps = np.arange(1, 40_000)
    expected = model.expected_purchases(1.0, 2.0, 10.0, 30.0) * (q ** steps).sum()
    assert got[0] == pytest.approx(expected, rel=1e-9)


def test_recency_does_not_enter_the_fit(simulated):
    _, history = simulated
    one = NBDModel().fit(history["frequency"], history["recency"], history["T"])
    other = NBDModel().fit(history["frequency"], np.where(history["frequency"] > 0, history["T"], 0.0), history["T"])
    assert one.params_ == pytest.approx(other.params_, rel=1e-12)


def test_bgnbd_at_a_to_zero_is_the_nbd(simulated):
    """The BG/NBD likelihood with a -> 0 equals the NBD's (FHL 2005 with no dropout): same optimum, same LL."""
    _, history = simulated
    nbd = NBDModel().fit(history["frequency"], history["recency"], history["T"])
    r, alpha = nbd.params
    data = {"x": history["frequency"].to_numpy(), "t_x": history["recency"].to_numpy(), "T": history["T"].to_numpy()}
    limit = BetaGeoModel()._log_likelihood_terms(np.array([r, alpha, 1e-10, 3.0]), data).sum()
    assert limit == pytest.approx(nbd.log_likelihood_, rel=1e-8)


def test_online_retail_bgnbd_edge_fit_is_the_nbd(online_retail_gross_summaries):
    """On Online Retail to 2011-06-30 the BG/NBD runs to a -> 0 at the NBD's r = 0.744, alpha = 9.05 (lifetimes
    reports r = 0.744, alpha = 9.05, a = 1e-6, on the same input: refund lines left out)."""
    data = online_retail_gross_summaries["2011-06-30", True]
    nbd = NBDModel().fit(data)
    assert nbd.params_ == pytest.approx({"r": 0.7444, "alpha": 9.048}, rel=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bgnbd = BetaGeoModel().fit(data)
    assert bgnbd.params_["a"] < 1e-4
    assert bgnbd.params_["r"] == pytest.approx(nbd.params_["r"], rel=1e-3)
    assert bgnbd.params_["alpha"] == pytest.approx(nbd.params_["alpha"], rel=1e-3)
    assert bgnbd.log_likelihood_ == pytest.approx(nbd.log_likelihood_, abs=1e-3)


def test_json_round_trip(simulated):
    _, history = simulated
    model = NBDModel().fit(history["frequency"], history["recency"], history["T"], time_unit="day")
    loaded = load_model(model.to_json())
    assert type(loaded) is NBDModel and loaded.params_ == model.params_ and loaded.time_unit_ == "day"
