"""BG/BB model (Fader, Hardie & Shang 2010): fit, predictions, sampling, numerics."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError, FitError
from clv.models.bgbb import BetaGeoBetaBinomModel

DATA = Path(__file__).parent / "data"
PAPER = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}


@pytest.fixture(scope="module")
def donations():
    """11,104 donors, 6 annual opportunities 1996-2001, compressed with weights."""
    return pd.read_csv(DATA / "donations.csv")


@pytest.fixture(scope="module")
def model(donations):
    return BetaGeoBetaBinomModel().fit(
        donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
    )


def fixed(alpha, beta, gamma, delta):
    fitted = BetaGeoBetaBinomModel()
    fitted.params_ = dict(zip(BetaGeoBetaBinomModel.param_names, (alpha, beta, gamma, delta)))
    return fitted


def simulate(n_customers, params, n_periods, rng):
    """Draw (x, t_x, n) histories from the BG/BB story, vectorised."""
    alpha, beta, gamma, delta = params
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    dead_from = rng.geometric(theta)  # alive at opportunity t iff t < dead_from
    t = np.arange(1, n_periods + 1)
    bought = (t < dead_from[:, None]) & (rng.random((n_customers, n_periods)) < p[:, None])
    x = bought.sum(axis=1)
    t_x = np.where(x > 0, n_periods - np.argmax(bought[:, ::-1], axis=1), 0)
    return x, t_x, np.full(n_customers, n_periods)


# ----- published results (donations data) ------------------------------------------
def test_reproduces_published_estimates(model):
    for name, value in PAPER.items():
        assert model.params_[name] == pytest.approx(value, abs=6e-4)
    assert model.log_likelihood_ == pytest.approx(-33225.6, abs=0.05)
    assert model.n_ == 11_104
    assert model.n_distinct_ == 22


def test_probability_alive_matches_paper_table_6(model):
    """P(alive in 2002) for (x, t_x) = (0, 0), (2, 4), (6, 6): 0.11, 0.59, 0.93."""
    alive = model.probability_alive([0, 2, 6], [0, 4, 6], 6)
    np.testing.assert_allclose(alive, [0.11, 0.59, 0.93], atol=0.005)


def test_matches_hardie_spreadsheet_totals(model, donations):
    """Hardie's BG/BB spreadsheet: 12,884.2 expected donations in 2002-2006;
    3,454.9 donors with 0 and 1,253.1 with 6 donations in 1996-2001."""
    conditional = model.expected_purchases(5, donations["frequency"], donations["recency"], donations["periods"])
    assert float(conditional @ donations["weights"]) == pytest.approx(12_884.2, abs=0.5)
    counts = model.probability_purchases([0, 6], 6) * 11_104
    np.testing.assert_allclose(counts, [3_454.9, 1_253.1], atol=0.5)


def test_weights_equal_expanded_rows(donations):
    expanded = donations.loc[donations.index.repeat(donations["weights"])]
    model = BetaGeoBetaBinomModel().fit(expanded["frequency"], expanded["recency"], expanded["periods"])
    assert model.params_["delta"] == pytest.approx(PAPER["delta"], abs=6e-4)
    assert model.n_distinct_ == 22


# ----- likelihood and gradient -----------------------------------------------------
HISTORIES = {
    "frequency": np.array([0.0, 1, 1, 3, 6, 0, 40, 1, 300]),
    "recency": np.array([0.0, 1, 5, 4, 6, 0, 50, 1, 300]),
    "n_periods": np.array([6.0, 6, 6, 6, 6, 1, 200, 500, 300]),
}


@pytest.mark.parametrize("params", [[1.2, 0.75, 0.66, 2.8], [0.05, 20.0, 3.0, 0.1], [400.0, 90.0, 0.01, 800.0]])
def test_gradient_matches_finite_differences(params):
    model = BetaGeoBetaBinomModel()
    params = np.array(params)
    analytic = model._log_likelihood_gradient(params, HISTORIES)
    for j in range(4):
        step = 1e-4 * params[j]  # betaln(gamma ~ 0.01, .) is noisy at ~1e-13: smaller steps amplify it
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        numeric = (model._log_likelihood_terms(up, HISTORIES) - model._log_likelihood_terms(down, HISTORIES)) / (2 * step)
        np.testing.assert_allclose(analytic[:, j], numeric, rtol=1e-5, atol=2e-6)


def test_likelihood_hand_computed_for_one_opportunity():
    a, b, g, d = 2.0, 3.0, 1.5, 4.0
    mean_p, mean_stay = a / (a + b), d / (g + d)
    data = {"frequency": np.array([1.0, 0.0]), "recency": np.array([1.0, 0.0]), "n_periods": np.array([1.0, 1.0])}
    expected = np.log([mean_p * mean_stay, (1 - mean_p) * mean_stay + (1 - mean_stay)])
    np.testing.assert_allclose(BetaGeoBetaBinomModel()._log_likelihood_terms(np.array([a, b, g, d]), data), expected)


# ----- predictions -------------------------------------------------------------------
def test_new_customer_predictions_hand_computed():
    a, b, g, d = 2.0, 3.0, 1.5, 4.0
    model = fixed(a, b, g, d)
    one = a / (a + b) * d / (g + d)  # buy at opportunity 1: alive and buying
    assert model.expected_purchases_new(1)[()] == pytest.approx(one)
    assert model.probability_purchases(1, 1)[()] == pytest.approx(one)
    assert model.probability_purchases(2, 1)[()] == 0.0
    assert model.probability_purchases(0, 0)[()] == 1.0


@pytest.mark.parametrize("params", [[1.204, 0.75, 0.657, 2.783], [0.4, 2.0, 1.0, 3.0], [3.0, 1.0, 2.5, 0.5]])
def test_count_distribution_sums_to_one_and_gives_the_mean(params):
    model = fixed(*params)
    for horizon in (1, 6, 25):
        probabilities = model.probability_purchases(np.arange(horizon + 1), horizon)
        assert probabilities.sum() == pytest.approx(1.0, rel=1e-10)
        assert np.arange(horizon + 1) @ probabilities == pytest.approx(model.expected_purchases_new(horizon)[()], rel=1e-10)


def test_conditional_expectation_consistent_with_alive_probability(model):
    x, t_x, n = np.array([0, 2, 6, 3]), np.array([0, 4, 6, 3]), 6
    a, b = model.params_["alpha"], model.params_["beta"]
    next_one = model.expected_purchases(1, x, t_x, n)
    np.testing.assert_allclose(next_one, model.probability_alive(x, t_x, n) * (a + x) / (a + b + n), rtol=1e-12)
    assert np.all(np.diff(model.expected_purchases(np.arange(0, 30), 2, 4, 6)) > 0)
    assert np.all(model.probability_alive(x, t_x, n, horizon=0) >= model.probability_alive(x, t_x, n))


def test_dert_matches_discounted_sum_of_expected_increments(model):
    d = 0.1
    x, t_x, n = np.array([0, 2, 6, 1]), np.array([0, 4, 6, 1]), np.array([6, 6, 6, 6])
    horizons = np.arange(0, 801)
    cumulative = model.expected_purchases(
        np.tile(horizons, 4), np.repeat(x, horizons.size), np.repeat(t_x, horizons.size), np.repeat(n, horizons.size)
    ).reshape(4, -1)
    direct = (np.diff(cumulative, axis=1) / (1 + d) ** horizons[1:]).sum(axis=1)
    np.testing.assert_allclose(model.discounted_expected_residual_transactions(x, t_x, n, d), direct, rtol=1e-9)


def test_dert_long_history_small_discount_is_finite():
    model = fixed(1.2, 0.75, 0.66, 2.8)
    dert = model.discounted_expected_residual_transactions([900, 0], [1000, 0], [1000, 1000], 0.001)
    assert np.all(np.isfinite(dert)) and dert[0] > dert[1] >= 0


def test_sampled_future_purchases_average_to_the_expectation(model):
    rng = np.random.default_rng(11)
    x, t_x, n = np.repeat([0, 2, 6], 40_000), np.repeat([0, 4, 6], 40_000), 6
    draws = model.sample_future_purchases(5, x, t_x, n, rng=rng).reshape(3, -1)
    expected = model.expected_purchases(5, [0, 2, 6], [0, 4, 6], 6)
    standard_error = draws.std(axis=1) / np.sqrt(draws.shape[1])
    assert np.all(np.abs(draws.mean(axis=1) - expected) < 4 * standard_error)
    assert draws.min() >= 0 and draws.max() <= 5


def test_sampling_accepts_per_customer_parameter_draws(model):
    params = model.sample_params(1_000, seed=1)
    draws = model.sample_future_purchases(3, np.full(1_000, 2), np.full(1_000, 4), 6, params=params, rng=2)
    assert draws.shape == (1_000,) and np.all((draws >= 0) & (draws <= 3))
    with pytest.raises(DataError, match="params"):
        model.sample_future_purchases(3, [2, 2], [4, 4], 6, params=np.ones((3, 4)))


# ----- parameter recovery ---------------------------------------------------------
def test_confidence_intervals_cover_true_parameters():
    rng = np.random.default_rng(3)
    true = (1.2, 0.75, 0.66, 2.8)
    covered = np.zeros(4, dtype=int)
    for _ in range(50):
        x, t_x, n = simulate(4_000, true, 6, rng)
        fit = BetaGeoBetaBinomModel().fit(x, t_x, n)
        for j, name in enumerate(BetaGeoBetaBinomModel.param_names):
            low, high = fit.confidence_intervals_[name]
            covered[j] += low < true[j] < high
    # nominal 95% of 50: P(Binomial(50, 0.95) < 43) = 0.003 per parameter
    assert np.all(covered >= 43), covered


# ----- properties ----------------------------------------------------------------
parameter = st.floats(1e-3, 1e3)


@st.composite
def histories(draw, max_periods=400):
    n = draw(st.integers(1, max_periods))
    t_x = draw(st.integers(0, n))
    x = 0 if t_x == 0 else draw(st.integers(1, t_x))
    return x, t_x, n


@settings(max_examples=50, deadline=None)
@given(a=parameter, b=parameter, g=parameter, d=parameter, history=histories())
def test_probability_alive_in_unit_interval(a, b, g, d, history):
    alive = fixed(a, b, g, d).probability_alive(*history)
    assert np.all((alive >= 0) & (alive <= 1))


@settings(max_examples=50, deadline=None)
@given(a=parameter, b=parameter, g=parameter, d=parameter, history=histories())
def test_expected_purchases_non_negative_and_non_decreasing(a, b, g, d, history):
    model = fixed(a, b, g, d)
    horizons = np.arange(0, 60, 3)
    conditional = model.expected_purchases(horizons, *history)
    new = model.expected_purchases_new(horizons)
    for values in (conditional, new):
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
        assert np.all(np.diff(values) >= -1e-12 * values[1:])
    assert np.all(conditional <= horizons + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    params=st.lists(st.floats(1e-6, 1e6), min_size=4, max_size=4),
    history=histories(max_periods=3000),
)
def test_log_likelihood_finite_for_extreme_histories(params, history):
    data = {k: np.array([float(v)]) for k, v in zip(("frequency", "recency", "n_periods"), history)}
    model = BetaGeoBetaBinomModel()
    value = model._log_likelihood_terms(np.array(params), data)
    # a log-probability: <= 0 up to the rounding of betaln at parameters near 1e6
    assert np.all(np.isfinite(value)) and value[0] <= 1e-7
    assert np.all(np.isfinite(model._log_likelihood_gradient(np.array(params), data)))


# ----- persistence and validation ------------------------------------------------
def test_json_round_trip(model, donations):
    restored = BetaGeoBetaBinomModel.from_json(model.to_json())
    assert restored.params_ == model.params_
    args = (donations["frequency"], donations["recency"], donations["periods"])
    np.testing.assert_array_equal(restored.probability_alive(*args), model.probability_alive(*args))


def test_validation_names_the_first_bad_row():
    with pytest.raises(DataError, match="row 2.*frequency=3"):
        BetaGeoBetaBinomModel().fit([0, 1, 3], [0, 1, 2], [6, 6, 6])
    with pytest.raises(DataError, match="recency must be 0"):
        BetaGeoBetaBinomModel().fit([0], [2], [6])
    with pytest.raises(DataError, match="must not exceed n_periods"):
        BetaGeoBetaBinomModel().fit([1], [7], [6])
    with pytest.raises(DataError, match="whole numbers"):
        BetaGeoBetaBinomModel().fit([1.5], [2], [6])
    with pytest.raises(DataError, match="same length"):
        BetaGeoBetaBinomModel().fit([1, 2], [1, 2, 3], [6, 6, 6])
    with pytest.raises(DataError, match="weights"):
        BetaGeoBetaBinomModel().fit([1], [1], [6], weights=[-1])


def test_degenerate_data_is_refused_with_a_reason():
    with pytest.raises(FitError, match="no customer transacted"):
        BetaGeoBetaBinomModel().fit([0, 0], [0, 0], [6, 6])
    with pytest.raises(FitError, match="every opportunity"):
        BetaGeoBetaBinomModel().fit([6, 3], [6, 3], [6, 3])
    model = BetaGeoBetaBinomModel()
    with pytest.raises(FitError, match="degenerate"):
        model.fit(np.arange(20), np.arange(20), np.full(20, 40))  # p's distribution collapses to 1
    assert not hasattr(model, "params_")
