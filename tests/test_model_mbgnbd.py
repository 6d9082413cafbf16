"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): CDNOW fit vs lifetimes, gradient, predictions, simulation."""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import betaln

from clv.errors import DataError
from clv.models.bgnbd import BetaGeoModel
from clv.models.mbgnbd import ModifiedBetaGeoModel

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def fitted(cdnow):
    return ModifiedBetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def model_at(params):
    model = ModifiedBetaGeoModel()
    model.params_ = dict(params)
    return model


def test_cdnow_estimates_match_lifetimes(fitted):
    # lifetimes 0.11.3 ModifiedBetaGeoFitter on the same data: r=0.525, alpha=6.183, a=0.891, b=1.614.
    for name, peer in {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}.items():
        assert fitted.params_[name] == pytest.approx(peer, rel=2e-3), name
    assert fitted.log_likelihood_ == pytest.approx(-9582.13, abs=0.01)
    assert fitted.model_name == "mbgnbd"


def test_likelihood_is_the_papers_formula():
    r, alpha, a, b = 0.5, 6.0, 0.9, 1.6
    x, t_x, T = 3.0, 20.0, 38.0
    by_hand = math.log(
        math.exp(betaln(a, b + x + 1) - betaln(a, b)) * (alpha + T) ** -(r + x)
        + math.exp(betaln(a + 1, b + x) - betaln(a, b)) * (alpha + t_x) ** -(r + x)
    ) + math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    data = {"x": np.array([x]), "t_x": np.array([t_x]), "T": np.array([T])}
    assert ModifiedBetaGeoModel()._log_likelihood_terms(np.array([r, alpha, a, b]), data)[0] == pytest.approx(by_hand)


@pytest.mark.parametrize("params", [[0.525, 6.18, 0.891, 1.61], [2.0, 0.5, 3.0, 0.7], [0.05, 80.0, 1.0, 1.5]])
def test_gradient_matches_finite_differences(params):
    data = {
        "x": np.array([0.0, 1, 2, 7, 40, 2000]),
        "t_x": np.array([0.0, 1.7, 30.4, 35.1, 200.0, 2999.0]),
        "T": np.array([38.9, 38.9, 38.9, 38.9, 400.0, 3000.0]),
    }
    model, params = ModifiedBetaGeoModel(), np.array(params)
    analytic = model._log_likelihood_gradient(params, data)
    numerical = np.empty_like(analytic)
    for j in range(4):
        up, down = params.copy(), params.copy()
        up[j] *= 1 + 1e-6
        down[j] *= 1 - 1e-6
        diff = model._log_likelihood_terms(up, data) - model._log_likelihood_terms(down, data)
        numerical[:, j] = diff / (2e-6 * params[j])
    assert analytic == pytest.approx(numerical, rel=1e-5, abs=1e-6)


def test_one_time_buyers_may_have_dropped_out(fitted):
    r, alpha, a, b = fitted.params
    alive = fitted.probability_alive([0, 0, 2], [0, 0, 30.43], [1.0, 38.86, 38.86])
    assert alive[0] > alive[1]  # the longer with no repeat purchase, the less likely alive
    assert alive[1] == pytest.approx(1 / (1 + a / b * ((alpha + 38.86) / alpha) ** r), rel=1e-12)
    assert alive[2] == pytest.approx(1 / (1 + a / (b + 2) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2)), rel=1e-12)
    assert np.all(alive < 1)


def test_differs_from_bgnbd_only_by_the_extra_dropout(fitted):
    bg = BetaGeoModel()
    bg.params_ = dict(fitted.params_)
    assert bg.probability_alive(0, 0, 38.86)[0] == 1.0
    assert fitted.probability_alive(0, 0, 38.86)[0] < 1.0
    # P(X(t)=0) = E[p] + E[(1-p)] P(K=0) for MBG vs P(K=0) + ... for BG: MBG puts more mass on 0.
    assert fitted.probability_purchases(0, 39.0)[0] > bg.probability_purchases(0, 39.0)[0]


def test_probability_purchases_is_a_distribution_with_the_right_mean(fitted):
    n = np.arange(0, 20_000)
    for t in (1.0, 39.0, 500.0):
        pmf = fitted.probability_purchases(n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-6)
        assert (n * pmf).sum() == pytest.approx(fitted.expected_purchases_new(t)[0], rel=1e-4)
    a, b = fitted.params_["a"], fitted.params_["b"]
    assert fitted.probability_purchases(0, 0.0)[0] == pytest.approx(1.0)
    # dropping out at once (probability E[p] = a/(a+b)) means no repeat purchase however long we wait
    assert fitted.probability_purchases(0, 1e9)[0] > a / (a + b)


def given_alive_by_quadrature(t, shape, rate, a, beta):
    def integrand(p):
        inner = -np.expm1(shape * (np.log(rate) - np.log(rate + p * t)))
        return inner / p * np.exp((a - 1) * np.log(p) + (beta - 1) * np.log1p(-p) - betaln(a, beta))
    bulk = min(0.5, 30 * a / (a + beta))
    with warnings.catch_warnings():  # quad may warn that 1e-11 is not reached; the tests' tolerance is 1e-7
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.quad(integrand, 0, 1, points=[bulk], limit=400, epsabs=0, epsrel=1e-11)
    return value


@pytest.mark.parametrize("t, x, t_x, T", [(39.0, 0, 0.0, 38.86), (39.0, 2, 30.43, 38.86), (39.0, 2000, 2999.0, 3000.0)])
def test_conditional_expectation_matches_quadrature(fitted, t, x, t_x, T):
    r, alpha, a, b = fitted.params
    by_quadrature = fitted.probability_alive(x, t_x, T)[0] * given_alive_by_quadrature(t, r + x, alpha + T, a, b + x + 1)
    assert fitted.expected_purchases(t, x, t_x, T)[0] == pytest.approx(by_quadrature, rel=1e-7)


def test_expected_purchases_new_by_quadrature(fitted):
    r, alpha, a, b = fitted.params
    survive_first = b / (a + b)
    assert fitted.expected_purchases_new(39.0)[0] == pytest.approx(
        survive_first * given_alive_by_quadrature(39.0, r, alpha, a, b + 1), rel=1e-7
    )


def test_sample_future_purchases_mean_matches_closed_form(fitted):
    n = 200_000
    for x, t_x, T in [(0, 0.0, 38.86), (2, 30.43, 38.86), (25, 38.0, 38.86)]:
        draws = fitted.sample_future_purchases(39, np.full(n, x), t_x, T, rng=np.random.default_rng(x))
        expected = fitted.expected_purchases(39, x, t_x, T)[0]
        assert draws.mean() == pytest.approx(expected, abs=4.5 * draws.std() / np.sqrt(n)), (x, t_x, T)


def test_simulated_histories_match_the_pmf(fitted):
    T = np.full(100_000, 39.0)
    sim = fitted.simulate(T, rng=5)
    observed = np.bincount(sim["frequency"].astype(int), minlength=4)[:4] / T.shape[0]
    assert observed == pytest.approx(fitted.probability_purchases(np.arange(4), 39.0), abs=0.005)


def test_parameter_recovery_intervals_cover_at_nominal_rate():
    true = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    generator = model_at(true)
    covered = []
    for seed in range(30):  # 30 replications keep the file fast; BG/NBD's test runs 50
        rng = np.random.default_rng(100 + seed)
        sim = generator.simulate(rng.uniform(20, 60, 1000), rng=rng)
        model = ModifiedBetaGeoModel(initial_params=true).fit(sim["frequency"], sim["recency"], sim["T"])
        covered.append([lo < true[k] < hi for k, (lo, hi) in model.confidence_intervals_.items()])
    assert np.all(np.mean(covered, axis=0) >= 24 / 30)  # Binomial(30, 0.95): P(<= 23) = 0.0006


def test_json_round_trip_and_model_kind(fitted):
    restored = ModifiedBetaGeoModel.from_json(fitted.to_json())
    assert restored.params_ == fitted.params_
    with pytest.raises(DataError, match="'mbgnbd' model, not 'bgnbd'"):
        BetaGeoModel.from_json(fitted.to_json())


histories = st.tuples(
    st.integers(0, 5000), st.floats(0.0, 1.0), st.floats(1e-3, 2e4)
).map(lambda h: (h[0], 0.0 if h[0] == 0 else h[1] * h[2], h[2]))
parameters = st.fixed_dictionaries(
    {"r": st.floats(1e-3, 20.0), "alpha": st.floats(1e-3, 1e3), "a": st.floats(1e-2, 20.0), "b": st.floats(1e-2, 20.0)}
)


@settings(max_examples=80, deadline=None)
@given(history=histories, params=parameters)
def test_properties_on_extreme_histories(history, params):
    x, t_x, T = history
    model = model_at(params)
    data = {"x": np.array([float(x)]), "t_x": np.array([t_x]), "T": np.array([T])}
    assert np.isfinite(model._log_likelihood_terms(np.array(list(params.values())), data)).all()
    assert 0.0 <= model.probability_alive(x, t_x, T)[0] <= 1.0
    expected = model.expected_purchases(np.array([0.0, 1.0, 30.0, 1e3]), x, t_x, T)
    assert np.all(np.isfinite(expected)) and expected[0] == 0.0
    assert np.all(np.diff(expected) >= -1e-9 * np.abs(expected[1:]))
    new = model.expected_purchases_new(np.array([1.0, 30.0, 1e3]))
    assert np.all(np.isfinite(new)) and np.all(np.diff(new) >= -1e-9 * new[1:])


def test_fused_fit_objective_matches_the_papers_formula_including_one_time_buyers():
    # The fit's fused evaluation (per-value tables, codes, weighted counts) on rows that
    # share values, one-time buyers included (they have a dropout term in the MBG/NBD).
    r, alpha, a, b = 0.5, 6.0, 0.9, 1.6
    x = np.array([0.0, 0.0, 3.0, 3.0, 1.0])
    t_x = np.array([0.0, 0.0, 20.0, 5.0, 20.0])
    T = np.array([38.0, 10.0, 38.0, 38.0, 38.0])
    weights = np.array([10.0, 2.0, 1.0, 0.5, 3.0])
    by_hand = sum(
        w * (math.log(
            math.exp(betaln(a, b + xi + 1) - betaln(a, b)) * (alpha + Ti) ** -(r + xi)
            + math.exp(betaln(a + 1, b + xi) - betaln(a, b)) * (alpha + ti) ** -(r + xi)
        ) + math.lgamma(r + xi) - math.lgamma(r) + r * math.log(alpha))
        for xi, ti, Ti, w in zip(x, t_x, T, weights)
    )
    data = {"x": x, "t_x": t_x, "T": T}
    value, _ = ModifiedBetaGeoModel()._weighted_log_likelihood_and_gradient(np.array([r, alpha, a, b]), data, weights)
    assert value == pytest.approx(by_hand, rel=1e-12)


def test_lifetime_discounted_purchases_given_alive_are_bgnbd_with_b_plus_one():
    # Alive at T, MBG/NBD has p ~ Beta(a, b+x+1): the BG/NBD posterior with b -> b+1 (same lambda posterior).
    params = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
    shifted = BetaGeoModel()
    shifted.params_ = {**params, "b": params["b"] + 1}
    model = model_at(params)
    x, t_x, T = np.array([0.0, 1.0, 4.0, 60.0]), np.array([0.0, 3.0, 30.0, 38.0]), np.array([38.0, 38.0, 39.0, 38.5])
    mbg = model.discounted_lifetime_purchases(x, t_x, T, 1.0, 0.998) / model.probability_alive(x, t_x, T)
    bg = shifted.discounted_lifetime_purchases(x, t_x, T, 1.0, 0.998) / shifted.probability_alive(x, t_x, T)
    np.testing.assert_allclose(mbg, bg, rtol=1e-13)
    # One-time buyers may already be gone under MBG/NBD: less value than under BG/NBD with the same b+1.
    assert model.discounted_lifetime_purchases(0, 0.0, 38.0, 1.0, 0.998)[0] < shifted.discounted_lifetime_purchases(0, 0.0, 38.0, 1.0, 0.998)[0]
