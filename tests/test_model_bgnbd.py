"""BG/NBD (Fader, Hardie & Lee 2005): published CDNOW fit, gradient, predictions, simulation."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import betaln, gammaln, hyp2f1

from clv.errors import DataError, FitError
from clv.models import bgnbd, bgnbd_lifetime
from clv.models.bgnbd import BetaGeoModel, expected_purchases_given_alive
from clv.models.mbgnbd import ModifiedBetaGeoModel
from fused_checks import assert_fused_equals_per_row, assert_fused_follows_new_data, fused_central_differences

DATA = Path(__file__).parent / "data"
CDNOW_PARAMS = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def fitted(cdnow):
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def model_at(params):
    """A model with given parameters, for prediction tests that need no fit."""
    model = BetaGeoModel()
    model.params_ = dict(params)
    return model


def test_reproduces_published_cdnow_estimates(fitted):
    # FHL 2005, section 4: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4 (weeks).
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert fitted.params_[name] == pytest.approx(published, rel=2e-3), name
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert fitted.n_ == 2357
    assert all(np.isfinite(list(fitted.standard_errors_.values())))


def test_published_conditional_expectation(fitted):
    # FHL 2005: a customer with x=2, t_x=30.43, T=38.86 is expected to make 1.226 purchases in the next 39 weeks.
    assert fitted.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=1e-3)


def numerical_gradient(model, params, data, step=1e-6):
    grad = np.empty((data["x"].shape[0], params.shape[0]))
    for j in range(params.shape[0]):
        up, down = params.copy(), params.copy()
        up[j] += step * params[j]
        down[j] -= step * params[j]
        diff = model._log_likelihood_terms(up, data) - model._log_likelihood_terms(down, data)
        grad[:, j] = diff / (2 * step * params[j])
    return grad


@pytest.mark.parametrize("params", [[0.243, 4.41, 0.793, 2.43], [2.0, 0.5, 3.0, 0.7], [0.05, 80.0, 1.0, 1.5]])
def test_gradient_matches_finite_differences(params):
    data = {
        "x": np.array([0.0, 1, 2, 7, 40, 2000]),
        "t_x": np.array([0.0, 1.7, 30.4, 35.1, 200.0, 2999.0]),
        "T": np.array([38.9, 38.9, 38.9, 38.9, 400.0, 3000.0]),
    }
    model, params = BetaGeoModel(), np.array(params)
    analytic = model._log_likelihood_gradient(params, data)
    assert analytic == pytest.approx(numerical_gradient(model, params, data), rel=1e-5, abs=1e-6)


def test_probability_alive_hand_values(fitted):
    r, alpha, a, b = fitted.params
    expected = 1 / (1 + a / (b + 1) * ((alpha + 38.86) / (alpha + 1.71)) ** (r + 2))
    got = fitted.probability_alive([0, 2], [0, 1.71], [38.86, 38.86])
    assert got[0] == 1.0  # BG/NBD: no repeat purchase, no chance to have dropped out
    assert got[1] == pytest.approx(expected, rel=1e-12)


def test_probability_purchases_is_a_distribution_with_the_right_mean(fitted):
    n = np.arange(0, 20_000)
    for t in (1.0, 39.0, 500.0):
        pmf = fitted.probability_purchases(n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-6)
        # mean of the pmf (negative binomial route) vs the 2F1 closed form of E[X(t)]
        assert (n * pmf).sum() == pytest.approx(fitted.expected_purchases_new(t)[0], rel=1e-4)
    assert fitted.probability_purchases(0, 0.0)[0] == 1.0


def test_expected_purchases_new_hand_value():
    # a = 2, b = 1: E[X(t)] = 2 [1 - (alpha/(alpha+t))^r 2F1(r, 1; 2; z)], and
    # 2F1(r, 1; 2; z) = (1 - (1-z)^(1-r)) / ((1-r) z).
    r, alpha, t = 0.5, 3.0, 7.0
    z = t / (alpha + t)
    hyp = (1 - (1 - z) ** (1 - r)) / ((1 - r) * z)
    expected = 2 * (1 - (alpha / (alpha + t)) ** r * hyp)
    got = model_at({"r": r, "alpha": alpha, "a": 2.0, "b": 1.0}).expected_purchases_new(t)[0]
    assert got == pytest.approx(expected, rel=1e-12)


def given_alive_by_quadrature(t, shape, rate, a, beta):
    """E over p ~ Beta(a, beta) of (1 - (rate/(rate + p t))^shape)/p, numerically."""
    def integrand(p):
        inner = -np.expm1(shape * (np.log(rate) - np.log(rate + p * t)))
        return inner / p * np.exp((a - 1) * np.log(p) + (beta - 1) * np.log1p(-p) - betaln(a, beta))
    bulk = min(0.5, 30 * a / (a + beta))  # the posterior of p is concentrated near 0 for large beta
    with warnings.catch_warnings():  # quad may warn that 1e-11 is not reached; the tests' tolerance is 1e-7
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, _ = integrate.quad(integrand, 0, 1, points=[bulk], limit=400, epsabs=0, epsrel=1e-11)
    return value


@pytest.mark.parametrize(
    "t, x, T, params",
    [
        (39.0, 2, 38.86, (0.243, 4.41, 0.793, 2.43)),
        (39.0, 2000, 3000.0, (0.243, 4.41, 0.793, 2.43)),  # large frequency and T
        (3000.0, 2000, 3000.0, (0.243, 4.41, 0.793, 2.43)),
        (0.01, 5, 100.0, (1.5, 10.0, 2.5, 4.0)),  # tiny horizon
        (1e5, 0, 1.0, (0.7, 2.0, 3.0, 1.2)),  # horizon far beyond the data
        (52.0, 30, 60.0, (0.9, 5.0, 1.00003, 3.0)),  # a next to 1 (0/0 form)
    ],
)
def test_conditional_expectation_matches_quadrature(t, x, T, params):
    r, alpha, a, b = params
    closed = expected_purchases_given_alive(t, r + x, alpha + T, a, b + x)[()]
    assert closed == pytest.approx(given_alive_by_quadrature(t, r + x, alpha + T, a, b + x), rel=1e-7)


def test_large_history_is_finite_and_plausible(fitted):
    value = fitted.expected_purchases(39, 2000, 2999, 3000)[0]
    assert np.isfinite(value)
    assert value == pytest.approx(2000 / 3000 * 39, rel=0.05)  # alive, rate ~ x/T


def test_sample_future_purchases_mean_matches_closed_form(fitted):
    n = 200_000
    histories = [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 10.0, 38.86), (25, 38.0, 38.86)]
    for x, t_x, T in histories:
        draws = fitted.sample_future_purchases(39, np.full(n, x), t_x, T, rng=np.random.default_rng(x))
        expected = fitted.expected_purchases(39, x, t_x, T)[0]
        assert draws.mean() == pytest.approx(expected, abs=4.5 * draws.std() / np.sqrt(n)), (x, t_x, T)
        assert np.all(draws == np.round(draws)) and draws.min() >= 0


def test_sample_future_purchases_accepts_parameter_draws(fitted):
    draws = fitted.sample_params(3, seed=0)
    for row in draws:
        sample = fitted.sample_future_purchases(10, [0, 3], [0, 20], [38, 38], params=row, rng=1)
        assert sample.shape == (2,)
    with pytest.raises(DataError, match="params"):
        fitted.sample_future_purchases(10, [0], [0], [38], params=[1, 2, 3])


def test_simulated_histories_are_valid_and_match_the_pmf():
    model = model_at(CDNOW_PARAMS)
    T = np.full(100_000, 39.0)
    sim = model.simulate(T, rng=3)
    assert np.all((sim["recency"] <= sim["T"]) & ((sim["frequency"] > 0) | (sim["recency"] == 0)))
    observed = np.bincount(sim["frequency"].astype(int), minlength=4)[:4] / T.shape[0]
    assert observed == pytest.approx(model.probability_purchases(np.arange(4), 39.0), abs=0.005)


def test_parameter_recovery_intervals_cover_at_nominal_rate():
    true = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    generator = model_at(true)
    covered = []
    for seed in range(50):
        rng = np.random.default_rng(seed)
        sim = generator.simulate(rng.uniform(20, 60, 1000), rng=rng)
        model = BetaGeoModel(initial_params=true).fit(sim["frequency"], sim["recency"], sim["T"])
        covered.append([lo < true[k] < hi for k, (lo, hi) in model.confidence_intervals_.items()])
    coverage = np.mean(covered, axis=0)
    # Binomial(50, 0.95): P(<= 41 covered) = 0.0008, so 0.82 is a 1-in-1000 lower band per parameter.
    assert np.all(coverage >= 0.82), coverage


def test_weights_equal_repeated_rows(cdnow):
    rows = cdnow[["frequency", "recency", "T"]].iloc[:300]
    counts = np.arange(300) % 3 + 1
    repeated = rows.loc[rows.index.repeat(counts)]
    weighted = BetaGeoModel().fit(rows["frequency"], rows["recency"], rows["T"], weights=counts)
    full = BetaGeoModel().fit(repeated["frequency"], repeated["recency"], repeated["T"])
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-9)
    assert weighted.params_["r"] == pytest.approx(full.params_["r"], rel=1e-4)


def test_far_off_start_still_converges(cdnow):
    start = {"r": 50.0, "alpha": 0.01, "a": 30.0, "b": 0.02}
    model = BetaGeoModel(initial_params=start).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert model.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)


def test_unidentifiable_data_is_a_fit_error_not_a_crash():
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        BetaGeoModel().fit([0, 0, 0], [0, 0, 0], [10, 20, 30])
    with pytest.raises(FitError, match="do not identify|edge of the parameter space"):
        BetaGeoModel().fit([3], [5], [10])  # a single customer


def test_input_errors_name_the_row():
    with pytest.raises(DataError, match="row 1"):
        BetaGeoModel().fit([1, 2], [3, 50], [10, 20])
    with pytest.raises(DataError, match="weights"):
        BetaGeoModel().fit([1, 2], [3, 5], [10, 20], weights=[1, -1])
    with pytest.raises(DataError, match="t must be finite and >= 0"):
        model_at(CDNOW_PARAMS).expected_purchases(-1, 1, 2, 3)
    with pytest.raises(FitError, match="not fitted"):
        BetaGeoModel().probability_alive(1, 2, 3)


def test_json_round_trip(fitted):
    restored = BetaGeoModel.from_json(fitted.to_json())
    assert restored.params_ == fitted.params_
    assert restored.expected_purchases(10, 3, 20, 38)[0] == fitted.expected_purchases(10, 3, 20, 38)[0]


histories = st.tuples(
    st.integers(0, 5000), st.floats(0.0, 1.0), st.floats(1e-3, 2e4)
).map(lambda h: (h[0], 0.0 if h[0] == 0 else h[1] * h[2], h[2]))
# The documented range of reliable predictions: r, a, b up to 20 (see docs/models/bgnbd.md).
parameters = st.fixed_dictionaries(
    {"r": st.floats(1e-3, 20.0), "alpha": st.floats(1e-3, 1e3), "a": st.floats(1e-2, 20.0), "b": st.floats(1e-2, 20.0)}
)


@settings(max_examples=80, deadline=None)
@given(history=histories, params=parameters)
def test_properties_on_extreme_histories(history, params):
    x, t_x, T = history
    model = model_at(params)
    values = np.array(list(params.values()))
    data = {"x": np.array([float(x)]), "t_x": np.array([t_x]), "T": np.array([T])}
    assert np.isfinite(model._log_likelihood_terms(values, data)).all()
    alive = model.probability_alive(x, t_x, T)[0]
    assert 0.0 <= alive <= 1.0
    expected = model.expected_purchases(np.array([0.0, 1.0, 30.0, 1e3]), x, t_x, T)
    assert np.all(np.isfinite(expected)) and expected[0] == 0.0
    assert np.all(np.diff(expected) >= -1e-9 * np.abs(expected[1:]))


@settings(max_examples=60, deadline=None)
@given(params=parameters, t=st.floats(0.0, 1e4))
def test_expected_purchases_new_non_negative_and_increasing(params, t):
    curve = model_at(params).expected_purchases_new(np.array([t, t * 1.5 + 1.0]))
    assert np.all(np.isfinite(curve)) and curve[0] >= 0
    assert curve[1] >= curve[0] * (1 - 1e-9)


@pytest.mark.parametrize("a, b", [(0.5, 0.5), (0.3, 0.70002), (0.9, 0.09995)])
def test_new_customer_expectation_across_the_c_zero_pole(a, b):
    # a + b = 1 makes 2F1(...; a+b-1; z) singular; the expectation itself is smooth there.
    closed = model_at({"r": 1.0, "alpha": 1.0, "a": a, "b": b}).expected_purchases_new(10.0)[0]
    assert closed == pytest.approx(given_alive_by_quadrature(10.0, 1.0, 1.0, a, b), rel=1e-5)


# ----- the fused weighted value and gradient used by the fit -------------------------------
# Rows with repeated x, t_x and T values (the fit gathers per-value tables by code), x = 0
# rows (no dropout term for BG/NBD), large histories, zero and fractional weights.
FUSED_DATA = {
    "x": np.array([0.0, 0, 0, 1, 1, 2, 2, 7, 7, 40, 2000, 1]),
    "t_x": np.array([0.0, 0, 0, 1.7, 30.4, 30.4, 35.1, 35.1, 1.7, 200.0, 2999.0, 38.9]),
    "T": np.array([38.9, 12.0, 400.0, 38.9, 38.9, 38.9, 38.9, 400.0, 38.9, 400.0, 3000.0, 38.9]),
}
FUSED_WEIGHTS = np.array([120.0, 3, 0, 17, 1, 2.5, 9, 1, 4, 2, 1, 6])
FUSED_PARAMS = [[0.243, 4.41, 0.793, 2.43], [2.0, 0.5, 3.0, 0.7], [0.05, 80.0, 1.0, 1.5], [0.5, 6.0, 0.9, 0.3]]


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_value_and_gradient_equal_the_per_row_hooks(model_class, params):
    model, params = model_class(), np.array(params)
    assert_fused_equals_per_row(model, params, FUSED_DATA, FUSED_WEIGHTS)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_gradient_matches_finite_differences_of_the_fused_value(model_class, params):
    model, params = model_class(), np.array(params)
    _, grad = model._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    numerical, _ = fused_central_differences(model, params, FUSED_DATA, FUSED_WEIGHTS)
    assert grad == pytest.approx(numerical, rel=1e-5, abs=1e-4)


def test_fused_evaluation_follows_new_data_not_a_stale_cache():
    model, params = BetaGeoModel(), np.array([0.243, 4.41, 0.793, 2.43])
    assert_fused_follows_new_data(model, params, FUSED_DATA, FUSED_WEIGHTS)


def test_log_likelihood_is_the_papers_two_term_formula():
    # FHL 2005 eq. 6, term by term with beta functions, for x = 0 (no dropout term) and x > 0.
    r, alpha, a, b = 0.243, 4.41, 0.793, 2.43
    rows = [(0.0, 0.0, 38.9), (1.0, 1.7, 38.9), (3.0, 20.0, 38.0), (40.0, 200.0, 400.0)]
    for x, t_x, T in rows:
        alive = np.exp(betaln(a, b + x) - betaln(a, b)) * (alpha + T) ** -(r + x)
        dropped = np.exp(betaln(a + 1, b + x - 1) - betaln(a, b)) * (alpha + t_x) ** -(r + x) if x > 0 else 0.0
        by_hand = np.log(alive + dropped) + gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        data = {"x": np.array([x]), "t_x": np.array([t_x]), "T": np.array([T])}
        assert BetaGeoModel()._log_likelihood_terms(np.array([r, alpha, a, b]), data)[0] == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_analytic_hessian_matches_finite_differences_of_the_fused_gradient(model_class, params):
    model, params = model_class(), np.array(params)
    analytic = model._weighted_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    _, numerical = fused_central_differences(model, params, FUSED_DATA, FUSED_WEIGHTS)
    assert analytic == pytest.approx(numerical, rel=2e-5, abs=1e-3)
    assert analytic == pytest.approx(analytic.T, rel=1e-15)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_standard_errors_equal_those_from_differencing_the_gradient(cdnow, model_class):
    class Differenced(model_class):
        def _weighted_hessian(self, params, data, weights):
            return None  # the base class falls back to central differences of the gradient

    columns = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    analytic, differenced = model_class().fit(*columns), Differenced().fit(*columns)
    for name in analytic.param_names:
        assert analytic.standard_errors_[name] == pytest.approx(differenced.standard_errors_[name], rel=1e-6), name


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_fused_evaluation_in_several_row_blocks_equals_one_block(model_class, monkeypatch):
    params = np.array([0.5, 6.0, 0.9, 0.3])
    whole = model_class()._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    monkeypatch.setattr(bgnbd, "_BLOCK_ROWS", 5)  # 12 rows: blocks of 5, 5 and 2
    blocked = model_class()._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    assert blocked[0] == pytest.approx(whole[0], rel=1e-14)
    assert blocked[1] == pytest.approx(whole[1], rel=1e-12)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_value_gradient_and_hessian_equal_the_separate_hooks(model_class, params, monkeypatch):
    model, params = model_class(), np.array(params)
    monkeypatch.setattr(bgnbd, "_BLOCK_ROWS", 5)  # several row blocks
    value, grad, hessian = model._weighted_log_likelihood_gradient_and_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    separate = model._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    assert value == pytest.approx(separate[0], rel=1e-13)
    assert grad == pytest.approx(separate[1], rel=1e-11, abs=1e-11)
    assert hessian == pytest.approx(model._weighted_hessian(params, FUSED_DATA, FUSED_WEIGHTS), rel=1e-14)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@pytest.mark.parametrize("whole_days", [False, True])  # True: recency coded by offset, not hashed
def test_pilot_started_fit_on_many_distinct_rows_equals_the_plain_fit(model_class, whole_days):
    from clv.models.base import _PILOT_MIN_ROWS

    class Plain(model_class):
        _pilot_fit = False  # L-BFGS-B from the default start only

    ages = np.round(np.random.default_rng(11).uniform(1.0, 700.0, 60_000))  # whole days, as the 1M bench
    history = BetaGeoModel().simulate(ages, params=[0.25, 40.0, 0.8, 2.5], rng=12)
    recency = np.round(history["recency"]) if whole_days else history["recency"]
    columns = history["frequency"], recency, history["T"]
    piloted, plain = model_class().fit(*columns), Plain().fit(*columns)
    assert piloted.n_distinct_ >= _PILOT_MIN_ROWS
    for name in piloted.param_names:
        assert piloted.params_[name] == pytest.approx(plain.params_[name], rel=1e-6), name
        assert piloted.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-5), name
    assert piloted.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)


def series_term_by_term(A, B, C, z, max_terms=5_000):
    """sum_{k>=1} (A)_k (B)_k / ((C)_k k!) z^k element by element, stopping each at |term| <= 1e-17 |sum|."""
    total = np.zeros(np.shape(z))
    for i, (a_, b_, c_, z_) in enumerate(np.broadcast(A, B, C, z)):
        term = 1.0
        for k in range(max_terms):
            term *= (a_ + k) * (b_ + k) / ((c_ + k) * (k + 1.0)) * z_
            total.flat[i] += term
            if abs(term) <= 1e-17 * abs(total.flat[i]) or term == 0 or not np.isfinite(total.flat[i]):
                break
    return total


@pytest.mark.parametrize(
    "A, B, C",
    [
        (2.09, -0.19, 2.35),  # BG/NBD-like, x = 0
        (2.09, -0.19, 3002.35),  # large x
        (-0.3, -0.9999, 1.4),  # a near 0 (B near -1)
        (0.5, 1e-4, 0.6),  # a next to 1 (B near 0)
        (-2.5, 0.7, 4.0),  # A crossing zero: the terms change sign
        (-3.0, 0.7, 4.0),  # A a negative integer: the series stops after 3 terms
        (40.0, 30.0, 25.0),  # terms grow for a while before they shrink
    ],
)
def test_row_shared_series_equals_the_term_by_term_series(A, B, C):
    z = np.array([[0.0, 1e-6, 0.1, 0.3, 0.5], [0.6, 0.8, 0.9, 0.95, 0.2]])
    rows = np.full(2, A), np.full(2, B), np.full(2, C)
    fast = bgnbd._series_minus_one(*rows, z)
    expected = series_term_by_term(A, B, C, z)
    np.testing.assert_allclose(fast, expected, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(bgnbd._series_minus_one(np.full(10, A), np.full(10, B), np.full(10, C), z.ravel()),
                               expected.ravel(), rtol=1e-13, atol=1e-300)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_series_rows_with_different_parameters_and_an_overflowing_row():
    A, B, C = np.array([2.09, 400.0, -1.0]), np.array([-0.19, 400.0, 0.5]), np.array([20.0, 1.0, 3.0])
    z = np.array([[0.1, 0.4], [0.45, 0.5], [0.3, 0.99]])
    fast = bgnbd._series_minus_one(A, B, C, z)
    expected = series_term_by_term(A[:, None], B[:, None], C[:, None], z)
    assert np.all(np.isinf(fast[1])) and np.all(np.isinf(expected[1]))  # (400)_k^2 / k! overflows: inf, not a crash
    np.testing.assert_allclose(fast[[0, 2]], expected[[0, 2]], rtol=1e-13)
    assert fast[2, 0] == pytest.approx(-1.0 * 0.5 / 3.0 * 0.3)  # A = -1: one term


def test_hypergeometric_on_a_grid_equals_element_by_element():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 300, 40).astype(float)
    r, a, b = 0.25, 0.8, 2.5
    A, B, C = (a + b + x - 1) - (r + x), a - 1.0, a + b + x - 1  # the Euler-transformed BG/NBD parameters
    z = rng.uniform(0.0, 0.95, (40, 7))
    grid = bgnbd._hyp2f1_minus_one(A[:, None], B, C[:, None], z)
    flat = bgnbd._hyp2f1_minus_one(np.repeat(A, 7), B, np.repeat(C, 7), z.ravel())
    np.testing.assert_allclose(grid, flat.reshape(40, 7), rtol=1e-13)
    scipy_values = hyp2f1(A[:, None], B, C[:, None], z) - 1.0
    np.testing.assert_allclose(grid, scipy_values, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_expected_purchases_on_a_grid_equals_the_flat_evaluation(model_class):
    rng = np.random.default_rng(4)
    n = 300
    T = rng.integers(0, 1200, n).astype(float)
    x = np.where(rng.random(n) < 0.4, 0.0, rng.integers(1, 400, n)).astype(float)
    t_x = np.where(x > 0, np.floor(T * rng.random(n)), 0.0)
    times = np.array([0.0, 30.0, 90.0, 360.0, 5000.0])
    model = model_class()
    model.params_ = {"r": 0.25, "alpha": 41.6, "a": 0.81, "b": 2.54}
    grid = model.expected_purchases(times[None, :], x[:, None], t_x[:, None], T[:, None])
    flat = model.expected_purchases(np.tile(times, n), np.repeat(x, 5), np.repeat(t_x, 5), np.repeat(T, 5))
    assert grid.shape == (n, 5)
    np.testing.assert_allclose(grid, flat.reshape(n, 5), rtol=1e-12, atol=0)
    other = model.expected_purchases(times[:, None], x[:3], t_x[:3], T[:3])  # any other broadcast: shape kept
    assert other.shape == (5, 3)
    np.testing.assert_allclose(other, grid[:3].T, rtol=1e-12)


def test_probability_alive_direct_equals_the_formula():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 50, 1000).astype(float)
    T = rng.integers(0, 700, 1000).astype(float)
    t_x = np.where(x > 0, np.floor(T * rng.random(1000)), 0.0)
    r, alpha, a, b = 0.25, 41.6, 0.81, 2.54
    model = model_at({"r": r, "alpha": alpha, "a": a, "b": b})
    safe_tail = np.maximum(b + x - 1, 1e-300)
    expected = np.where(x > 0, 1 / (1 + a / safe_tail * ((alpha + T) / (alpha + t_x)) ** (r + x)), 1.0)
    np.testing.assert_allclose(model.probability_alive(x, t_x, T), expected, rtol=1e-12)


# ----- whole-lifetime discounted purchases (quadrature over the posterior of lambda and p) ----------
def lifetime_step_sum(model, x, t_x, T, step, q, tol=1e-13):
    """sum_k q^k (E[Y(k s)] - E[Y((k-1) s)]), summed until the bound P(alive) E[lambda] s q^k / (1-q) on the rest
    is below ``tol`` times the first term."""
    r, alpha = model.params[:2]
    alive = model.probability_alive(x, t_x, T)[0]
    first = model.expected_purchases(step, x, t_x, T)[0]
    if first == 0.0:  # P(alive) underflows: nothing to sum
        return 0.0
    bound = alive * (r + x) / (alpha + T) * step / (1 - q)
    n_steps = int(np.ceil(np.log(tol * first / max(bound, first)) / np.log(q))) + 1
    path = model.expected_purchases(step * np.arange(1, max(n_steps, 2) + 1.0), x, t_x, T)
    return float(np.diff(path, prepend=0.0) @ q ** np.arange(1, path.shape[0] + 1.0))


lifetime_parameters = st.fixed_dictionaries(
    {"r": st.floats(0.05, 10.0), "alpha": st.floats(0.1, 100.0), "a": st.floats(0.05, 10.0), "b": st.floats(0.05, 20.0)}
)
lifetime_histories = st.tuples(st.integers(0, 300), st.floats(0.0, 1.0), st.floats(0.0, 500.0)).map(
    lambda h: (h[0], 0.0 if h[0] == 0 else h[1] * h[2], h[2])
)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@settings(max_examples=40, deadline=None)
@given(params=lifetime_parameters, history=lifetime_histories, step=st.floats(0.5, 60.0), q=st.floats(0.3, 0.9))
def test_discounted_lifetime_purchases_equal_the_step_sum(model_class, params, history, step, q):
    model = model_class()
    model.params_ = dict(params)
    x, t_x, T = history
    quadrature = model.discounted_lifetime_purchases(x, t_x, T, step, q)[0]
    assert quadrature == pytest.approx(lifetime_step_sum(model, x, t_x, T, step, q), rel=1e-7)


def test_discounted_lifetime_purchases_with_dropout_fixed_equal_the_lambda_only_sum():
    # a, b huge with a/(a+b) = p0: p is p0 (sd ~ 1e-5 p0); then
    # E_lambda[q (1-e^-c) / (p0 (1 - q e^-c))] = (1 - (1-q) sum_k q^k E[e^(-lambda p0 s k)]) / p0, with
    # E[e^(-lambda u)] = (1 + u/(alpha+T))^-(r+x): a one-dimensional sum, summed directly here.
    p0, r, alpha, step, q = 0.2, 0.6, 8.0, 7.0, 0.8
    model = model_at({"r": r, "alpha": alpha, "a": p0 * 1e10, "b": (1 - p0) * 1e10})
    x = np.array([0.0, 3.0, 40.0, 900.0])
    T = np.array([5.0, 60.0, 61.0, 300.0])
    k = np.arange(400.0)
    laplace = (1 + p0 * step * k[None, :] / (alpha + T[:, None])) ** -(r + x[:, None])
    expected = (1 - (1 - q) * (laplace @ q**k)) / p0
    t_x = np.where(x > 0, T, 0.0)
    given_alive = model.discounted_lifetime_purchases(x, t_x, T, step, q) / model.probability_alive(x, t_x, T)
    np.testing.assert_allclose(given_alive, expected, rtol=1e-7)


def test_discounted_lifetime_purchases_without_dropout_are_the_discounted_poisson_rate():
    # p ~ Beta(1e-4, 1e6): no dropout in practice; DET -> E[lambda] s q / (1-q) = (r+x)/(alpha+T) s q/(1-q).
    model = model_at({"r": 0.7, "alpha": 3.0, "a": 1e-4, "b": 1e6})
    x, t_x, T = np.array([0.0, 2.0, 50.0]), np.array([0.0, 10.0, 11.0]), np.array([4.0, 12.0, 11.0])
    step, q = 2.0, 0.97
    det = model.discounted_lifetime_purchases(x, t_x, T, step, q)
    np.testing.assert_allclose(det, (0.7 + x) / (3.0 + T) * step * q / (1 - q), rtol=1e-6)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_very_heavy_discount_leaves_only_the_first_step(model_class):
    # q -> 0: DET = q E[Y(s)] + O(q^2), with E[Y(s)] the paper's closed form (2F1).
    model = model_class()
    model.params_ = dict(CDNOW_PARAMS)
    x, t_x, T = np.array([0.0, 1.0, 7.0, 2000.0]), np.array([0.0, 30.0, 20.0, 300.0]), np.array([38.0, 38.0, 39.0, 300.0])
    q = 1e-9
    np.testing.assert_allclose(model.discounted_lifetime_purchases(x, t_x, T, 4.0, q) / q,
                               model.expected_purchases(4.0, x, t_x, T), rtol=1e-7)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
@settings(max_examples=30, deadline=None)
@given(params=parameters, x=st.integers(1, 3000), T=st.floats(0.0, 3000.0), q=st.floats(0.5, 0.9999))
def test_more_purchases_more_value_and_more_discount_less(model_class, params, x, T, q):
    model = model_class()
    model.params_ = dict(params)
    more = model.discounted_lifetime_purchases([x, x + 1], [T, T], [T, T], 30.0, q)
    assert np.all(np.isfinite(more)) and more[0] > 0 and more[1] >= more[0] * (1 - 1e-9)
    heavier = model.discounted_lifetime_purchases(x, T, T, 30.0, q * 0.99)[0]
    assert heavier <= more[0] * (1 + 1e-9)


lifetime_wide_parameters = st.fixed_dictionaries(
    {"r": st.floats(1e-2, 50.0), "alpha": st.floats(1e-2, 1e3), "a": st.floats(1e-2, 50.0), "b": st.floats(1e-2, 1e3)}
)


@settings(max_examples=30, deadline=None)
@given(params=lifetime_wide_parameters, x=st.integers(0, 5000), T=st.floats(0.0, 3000.0),
       step=st.floats(0.1, 400.0), log_q=st.floats(-3.0, -1e-4))
def test_lifetime_quadrature_agrees_with_halved_steps(params, x, T, step, log_q):
    # Where the step sum would take too long (x in the thousands, tiny discounts): the rule against a finer one.
    model = model_at(params)
    history = (x, T if x > 0 else 0.0, T)
    default = model.discounted_lifetime_purchases(*history, step, np.exp(log_q))[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bgnbd_lifetime, "_LIFETIME_MAX_STEP", bgnbd_lifetime._LIFETIME_MAX_STEP / 2)
        patch.setattr(bgnbd_lifetime, "_LIFETIME_STEP_PER_WIDTH", bgnbd_lifetime._LIFETIME_STEP_PER_WIDTH / 2)
        patch.setattr(bgnbd_lifetime, "_LIFETIME_DROP", bgnbd_lifetime._LIFETIME_DROP + 10)
        finer = model.discounted_lifetime_purchases(*history, step, np.exp(log_q))[0]
    assert np.isfinite(default) and default > 0
    assert default == pytest.approx(finer, rel=1e-9)


def test_discounted_lifetime_purchases_per_customer_equal_one_by_one():
    model = model_at(CDNOW_PARAMS)
    x = np.array([0.0, 2.0, 2.0, 0.0, 2.0, 15.0])
    t_x = np.array([0.0, 30.0, 10.0, 0.0, 30.0, 37.0])
    T = np.array([38.0, 38.0, 38.0, 12.0, 38.0, 38.0])
    together = model.discounted_lifetime_purchases(x, t_x, T, 4.35, 0.99)
    alone = [model.discounted_lifetime_purchases(*row, 4.35, 0.99)[0] for row in zip(x, t_x, T)]
    np.testing.assert_allclose(together, alone, rtol=1e-13)
    assert together[1] == together[4] and together[2] < together[1]  # same history, same value; older purchase: less
    assert model.discounted_lifetime_purchases(2, 30.0, 38.0, 4.35, 0.99).shape == (1,)


@pytest.mark.parametrize("step, q, match", [(0.0, 0.9, "step"), (np.inf, 0.9, "step"), (1.0, 1.0, "step_factor"),
                                            (1.0, 0.0, "step_factor"), (1.0, np.nan, "step_factor")])
def test_discounted_lifetime_purchases_name_bad_arguments(step, q, match):
    with pytest.raises(DataError, match=match):
        model_at(CDNOW_PARAMS).discounted_lifetime_purchases(1, 1.0, 2.0, step, q)
