"""score_subscribers: per-customer sBG scores (Fader & Hardie 2007, 2010) and their intervals."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.models.sbg import ShiftedBetaGeometricModel
from clv.scores.subscriptions import (
    MAX_QUANTILE_PERIODS,
    discounted_renewals,
    renewal_quantiles,
    renewal_tail,
    score_subscribers,
)

DATA = Path(__file__).parent / "data"


def model_at(alpha, beta, covariance=None):
    """An sBG model with the given parameters (and, for intervals, a covariance of log-parameters)."""
    model = ShiftedBetaGeometricModel()
    model.params_ = {"alpha": alpha, "beta": beta}
    if covariance is not None:
        model.covariance_theta_ = np.asarray(covariance, dtype=float)
    return model


@pytest.fixture(scope="module")
def regular():
    """The 'regular' segment fitted on years 0-7 (Fader & Hardie 2007: alpha 0.704, beta 1.182)."""
    survivors = pd.read_csv(DATA / "sbg_retention_fader_hardie_2007.csv")["regular"].to_numpy()[:8] * 10
    return ShiftedBetaGeometricModel().fit_survival(survivors)


def customers(tenure, churned, **extra):
    return pd.DataFrame({"tenure": tenure, "churned": churned, **extra})


# ----- hand-computable values -----------------------------------------------------
def test_alpha_one_beta_one_by_hand():
    # alpha = beta = 1, r renewals: P(N >= k | r) = (1 + r) / (1 + r + k).
    frame = customers([0, 2], [0, 0], customer_id=["a", "b"])
    scores = score_subscribers(frame, model_at(1.0, 1.0), horizon=2, discount_rate=0.1, time_unit="year", value_per_period=10.0,
                               intervals=None)
    assert list(scores["customer_id"]) == ["a", "b"]
    assert scores["p_renew_next"].tolist() == pytest.approx([1 / 2, 3 / 4])
    assert scores["expected_renewals"].tolist() == pytest.approx([1 / 2 + 1 / 3, 3 / 4 + 3 / 5])
    derl = [1 / 2 + 1 / 3 / 1.1, 3 / 4 + 3 / 5 / 1.1]
    assert scores["derl"].tolist() == pytest.approx(derl, rel=1e-12)
    assert scores["residual_value"].tolist() == pytest.approx([10 * v for v in derl], rel=1e-12)


def test_whole_lifetime_alpha_one_closed_form_and_infinite_mean():
    # sum_{k>=1} z^(k-1) / (k + 1) = (-ln(1 - z) - z) / z^2 for a new customer with alpha = beta = 1.
    z = 1 / 1.05
    scores = score_subscribers(customers([0], [0]), model_at(1.0, 1.0), horizon=None, discount_rate=0.05, time_unit="year",
                               intervals=None)
    assert scores["derl"].iloc[0] == pytest.approx((-math.log(1 - z) - z) / z**2, rel=1e-10)
    assert scores["expected_renewals"].iloc[0] == math.inf  # E[N] diverges when alpha <= 1


def test_whole_lifetime_expected_renewals_alpha_two():
    # alpha = 2, beta = 1: P(N >= k) = 2 / ((k+1)(k+2)), E[N] = 1 = (beta + r)/(alpha - 1).
    scores = score_subscribers(customers([0, 3], [0, 0]), model_at(2.0, 1.0), horizon=None, discount_rate=0.0, time_unit="year",
                               intervals=None)
    assert scores["expected_renewals"].tolist() == pytest.approx([1.0, 4.0])
    assert scores["derl"].tolist() == pytest.approx([1.0, 4.0])  # d = 0: DERL is the expected lifetime
    assert renewal_tail(2.0, 1.0, 0, np.arange(1, 5)) == pytest.approx([2 / (k + 1) / (k + 2) for k in range(1, 5)])


def test_horizon_one_is_the_renewal_probability(regular):
    scores = score_subscribers(customers([0, 1, 5, 40], [0] * 4), regular, horizon=1, discount_rate=0.1, time_unit="year",
                               intervals=None)
    np.testing.assert_allclose(scores["expected_renewals"], scores["p_renew_next"], rtol=1e-12)
    np.testing.assert_allclose(scores["derl"], scores["p_renew_next"], rtol=1e-12)
    alpha, beta = regular.params
    np.testing.assert_allclose(scores["p_renew_next"], (beta + np.array([0, 1, 5, 40])) / (alpha + beta + np.array([0, 1, 5, 40])))


def test_lifetime_derl_is_the_models_and_the_finite_horizon_tends_to_it(regular):
    r = np.array([0, 1, 4, 12])
    lifetime = score_subscribers(customers(r, [0] * 4), regular, horizon=None, discount_rate=0.1, time_unit="year", intervals=None)
    np.testing.assert_allclose(lifetime["derl"], regular.discounted_expected_residual_lifetime(r, 0.1), rtol=1e-12)
    gaps = [np.max(lifetime["derl"].to_numpy() - discounted_renewals(*regular.params, r, h, 0.1)) for h in (5, 20, 80, 400)]
    assert gaps[0] > gaps[1] > gaps[2] > 0 and abs(gaps[-1]) < 1e-12


def test_undiscounted_finite_horizon_equals_expected_renewals(regular):
    r = np.array([0, 3, 30])
    scores = score_subscribers(customers(r, [0] * 3), regular, horizon=24, discount_rate=0.0, time_unit="year", intervals=None)
    np.testing.assert_allclose(scores["derl"], regular.expected_renewals(24, r), rtol=1e-10)
    np.testing.assert_allclose(scores["expected_renewals"], regular.expected_renewals(24, r), rtol=1e-12)


def test_churned_customers_are_zero_and_order_and_index_kept(regular):
    frame = customers([3, 1, 0, 7], [1, 0, 0, True], fee=[5.0, 6.0, 7.0, 8.0]).set_axis([40, 10, 30, 20])
    scores = score_subscribers(frame, regular, horizon=12, discount_rate=0.1, time_unit="year", value_per_period="fee", n_draws=50)
    assert list(scores.index) == [40, 10, 30, 20]
    assert scores["active"].tolist() == [False, True, True, False]
    numeric = scores.drop(columns="active")
    assert (numeric.loc[[40, 20]] == 0).all().all()
    assert (numeric.loc[[10, 30], "derl"] > 0).all()
    assert scores.loc[10, "residual_value"] == pytest.approx(6.0 * scores.loc[10, "derl"])
    assert scores.discount_rate_per_contract_period == pytest.approx(0.1)
    assert scores.time_unit == "year" and scores.n_draws == 50 and scores.settings()["seed"] == 0


# ----- intervals -------------------------------------------------------------------
def exact_quantiles(alpha, beta, r, horizon, levels):
    """Quantiles of min(N, h) at fixed parameters by enumerating the pmf."""
    k = np.arange(0, horizon + 1)
    tail = np.exp(np.array([math.lgamma(beta + r + j) - math.lgamma(alpha + beta + r + j) for j in k])
                  - (math.lgamma(beta + r) - math.lgamma(alpha + beta + r)))
    cdf = 1.0 - np.append(tail[1:], 0.0)  # P(N_h <= n), n = 0..h
    return [int(np.argmax(cdf >= u)) for u in levels]


@pytest.mark.parametrize("horizon", [6, 40])
def test_tight_model_quantiles_are_the_exact_point_quantiles(horizon):
    alpha, beta = 0.83, 2.37
    model = model_at(alpha, beta, covariance=np.eye(2) * 1e-12)
    r = np.array([0, 2, 9, 25])
    scores = score_subscribers(customers(r, [0] * 4), model, horizon=horizon, discount_rate=0.0, time_unit="year", n_draws=400,
                               intervals=(0.5, 0.8, 0.95))
    for level in (0.025, 0.1, 0.25, 0.75, 0.9, 0.975):
        expected = [exact_quantiles(alpha, beta, ri, horizon, [level])[0] for ri in r]
        assert scores[f"renewals_q{level:g}"].tolist() == expected, level


def test_intervals_are_ordered_and_contain_the_median(regular):
    r = np.arange(0, 30)
    draws = regular.sample_params(300, np.random.default_rng(4))
    levels = [0.025, 0.1, 0.5, 0.9, 0.975]
    for horizon in (12, None):
        q = renewal_quantiles(draws, r, horizon, levels)
        assert np.all(np.diff(q, axis=1) >= 0)
        assert np.all(q[:, 0] < q[:, -1])
        assert np.all(q == np.round(q)) or horizon is None
    assert np.all(renewal_quantiles(draws, r, 12, levels) <= 12)


def test_parameter_uncertainty_widens_the_intervals():
    tight = model_at(0.9, 1.6, covariance=np.eye(2) * 1e-12)
    loose = model_at(0.9, 1.6, covariance=np.eye(2) * 0.25)
    r = np.array([1.0])
    tight_q = renewal_quantiles(tight.sample_params(2000, np.random.default_rng(0)), r, 200, [0.975])
    loose_q = renewal_quantiles(loose.sample_params(2000, np.random.default_rng(0)), r, 200, [0.975])
    assert loose_q[0, 0] > tight_q[0, 0]


def test_value_quantiles_are_the_discounted_value_of_the_renewal_quantiles(regular):
    frame = customers([2, 5, 5], [0, 0, 0], margin=[10.0, -4.0, 0.0])
    scores = score_subscribers(frame, regular, horizon=24, discount_rate=0.1, time_unit="year", value_per_period="margin")
    annuity = lambda n: (1 - 1.1 ** -n) * 1.1 / 0.1  # noqa: E731
    assert scores.loc[0, "residual_value_q0.9"] == pytest.approx(10 * annuity(scores.loc[0, "renewals_q0.9"]))
    # a negative value reverses the order: its 0.9 quantile comes from the 0.1 renewal quantile
    assert scores.loc[1, "residual_value_q0.9"] == pytest.approx(-4 * annuity(scores.loc[1, "renewals_q0.1"]))
    assert scores.loc[1, "residual_value_q0.1"] <= scores.loc[1, "residual_value_q0.9"]
    assert scores.loc[2, ["residual_value", "residual_value_q0.975"]].tolist() == [0.0, 0.0]


def test_lifetime_quantiles_beyond_the_cap_are_infinite():
    # alpha = 0.2: P(N >= k | r) ~ k^-0.2 decays so slowly that the 97.5% quantile is astronomically large.
    model = model_at(0.2, 5.0, covariance=np.eye(2) * 1e-6)
    scores = score_subscribers(customers([10], [0]), model, horizon=None, discount_rate=0.01, time_unit="year", value_per_period=1.0)
    assert scores.loc[0, "renewals_q0.975"] == math.inf
    assert scores.loc[0, "residual_value_q0.975"] == pytest.approx(101.0)  # perpetuity (1 + d) / d
    assert scores.quantile_cap_periods == MAX_QUANTILE_PERIODS


def test_seed_makes_the_intervals_reproducible(regular):
    frame = customers(np.arange(20), [0] * 20)
    first = score_subscribers(frame, regular, horizon=36, discount_rate=0.1, time_unit="year", seed=7)
    again = score_subscribers(frame, regular, horizon=36, discount_rate=0.1, time_unit="year", seed=7)
    pd.testing.assert_frame_equal(first.table, again.table)


# ----- properties ------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    alpha=st.floats(0.05, 20.0), beta=st.floats(0.05, 50.0),
    tenure=st.lists(st.integers(0, 500), min_size=1, max_size=6),
    horizon=st.integers(0, 80), rate=st.floats(0.0, 1.0),
)
def test_properties(alpha, beta, tenure, horizon, rate):
    model = model_at(alpha, beta)
    frame = customers(tenure, [0] * len(tenure))
    now = score_subscribers(frame, model, horizon=horizon, discount_rate=rate, time_unit="year", intervals=None)
    later = score_subscribers(frame, model, horizon=horizon + 1, discount_rate=rate, time_unit="year", intervals=None)
    p = now["p_renew_next"].to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(later["expected_renewals"].to_numpy() >= now["expected_renewals"].to_numpy() - 1e-9)
    # each payment's discount factor z^(k-1) lies in [z^(h-1), 1], so z^(h-1) E <= DERL <= E
    expected, derl = now["expected_renewals"].to_numpy(), now["derl"].to_numpy()
    assert np.all(derl <= expected * (1 + 1e-9) + 1e-12)
    assert np.all(derl >= expected * (1 + rate) ** -max(horizon - 1, 0) * (1 - 1e-9) - 1e-12)
    assert np.all(derl <= horizon + 1e-9)


# ----- validation --------------------------------------------------------------------
@pytest.mark.parametrize(
    "frame, message",
    [
        (customers([1, -2], [0, 0]), "'tenure'.*row 1"),
        (customers([1, 2.5], [0, 0]), "'tenure'.*whole number.*row 1"),
        (customers([1, 2], [0, 2]), "'churned'.*True/False.*row 1"),
        (customers([1, 2], [0, None]), "'churned'.*row 1"),
        (customers([3, 0], [1, 1]), "'tenure'.*period of cancellation.*row 1"),
        (customers(["3", "x"], [0, 0]), "'tenure'.*numeric.*row 1"),
        (pd.DataFrame({"tenure": [1]}), "'churned'.*not found.*churned_col"),
        (pd.DataFrame({"months": [1], "churned": [0]}), "'tenure'.*not found.*tenure_col"),
    ],
)
def test_bad_input_names_the_column_and_row(frame, message):
    with pytest.raises(DataError, match=message):
        score_subscribers(frame, model_at(1.0, 2.0), horizon=3, discount_rate=0.1, time_unit="year", intervals=None)


def test_bad_options_are_refused():
    frame = customers([1, 2], [0, 0], fee=[1.0, np.nan])
    model = model_at(1.0, 2.0)
    with pytest.raises(DataError, match="horizon"):
        score_subscribers(frame, model, horizon=1.5, discount_rate=0.1, time_unit="year", intervals=None)
    with pytest.raises(DataError, match="discount_rate"):
        score_subscribers(frame, model, horizon=3, discount_rate=-0.1, time_unit="year", intervals=None)
    with pytest.raises(DataError, match="'fee'.*finite.*row 1"):
        score_subscribers(frame, model, horizon=3, discount_rate=0.1, time_unit="year", value_per_period="fee", intervals=None)
    with pytest.raises(DataError, match="covariance"):
        score_subscribers(frame, model, horizon=3, discount_rate=0.1, time_unit="year")
    with pytest.raises(DataError, match="n_draws"):
        score_subscribers(frame, model_at(1.0, 2.0, np.eye(2)), horizon=3, discount_rate=0.1, time_unit="year", n_draws=5)
    with pytest.raises(DataError, match="sBG"):
        score_subscribers(frame, object(), horizon=3, discount_rate=0.1, time_unit="year")
    # a churned customer's missing value is not needed
    ok = score_subscribers(customers([1, 2], [0, 1], fee=[1.0, np.nan]), model, horizon=3, discount_rate=0.1, time_unit="year",
                           value_per_period="fee", intervals=None)
    assert ok["residual_value"].tolist()[1] == 0.0


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.3, 10.0), beta=st.floats(0.1, 30.0), r=st.integers(0, 300), horizon=st.integers(0, 200))
def test_horizon_quantiles_are_the_lifetime_quantiles_capped(alpha, beta, r, horizon):
    # min(N, h) has quantiles min(q(N), h): the horizon only truncates the same mixed tail.
    draws = model_at(alpha, beta, np.eye(2) * 0.01).sample_params(50, np.random.default_rng(1))
    levels = [0.025, 0.1, 0.5, 0.9, 0.975]
    lifetime = renewal_quantiles(draws, [r], None, levels)
    capped = renewal_quantiles(draws, [r], horizon, levels)
    assert np.all(np.diff(capped) >= 0)
    np.testing.assert_array_equal(capped, np.minimum(lifetime, horizon))
