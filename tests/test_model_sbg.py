"""Shifted-beta-geometric model (Fader & Hardie 2007): fit, predictions, numerics."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import betaln

from clv.errors import DataError, FitError
from clv.models.sbg import (
    ShiftedBetaGeometricModel,
    expected_survived_periods,
    hyp2f1_unit_a,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def retention():
    """Percent of 1000 customers surviving, years 0-12 (Fader & Hardie 2007, Table 1)."""
    return pd.read_csv(DATA / "sbg_retention_fader_hardie_2007.csv")


def fitted(alpha, beta):
    model = ShiftedBetaGeometricModel()
    model.params_ = {"alpha": alpha, "beta": beta}
    return model


# ----- published estimates ------------------------------------------------------
# The paper's Table 2 reports regular alpha=0.704, beta=1.182 (LL -1680.3) and
# high end alpha=0.668, beta=3.806 (LL -1611.2), fitted on years 0-7.
@pytest.mark.parametrize(
    "segment, alpha, beta, log_likelihood",
    [("regular", 0.704, 1.182, -1680.27), ("high_end", 0.668, 3.806, -1611.16)],
)
def test_reproduces_published_estimates(retention, segment, alpha, beta, log_likelihood):
    survivors = retention[segment].to_numpy()[:8] * 10  # 1000 customers
    model = ShiftedBetaGeometricModel().fit_survival(survivors)
    assert model.params_["alpha"] == pytest.approx(alpha, abs=6e-4)
    assert model.params_["beta"] == pytest.approx(beta, abs=6e-4)
    assert model.log_likelihood_ == pytest.approx(log_likelihood, abs=0.01)
    assert model.n_ == pytest.approx(1000)


@pytest.mark.parametrize("segment, tolerance", [("regular", 0.8), ("high_end", 2.0)])
def test_projection_to_year_12_tracks_the_series(retention, segment, tolerance):
    survivors = retention[segment].to_numpy()
    model = ShiftedBetaGeometricModel().fit_survival(survivors[:8] * 10)
    projected = 100 * model.survival(np.arange(13))
    assert np.max(np.abs(projected - survivors)) < tolerance
    # the holdout years 8-12 are projected, not fitted: still within a couple of points
    assert np.all(np.abs(projected[8:] - survivors[8:]) < tolerance)


def test_survival_and_per_customer_fits_agree(retention):
    counts = np.round(retention["regular"].to_numpy()[:8] * 10).astype(int)
    lost = -np.diff(counts)
    tenure = np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(counts[-1], 7)])
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(counts[-1], bool)])
    per_customer = ShiftedBetaGeometricModel().fit(tenure, churned)
    by_counts = ShiftedBetaGeometricModel().fit_survival(counts)
    assert per_customer.params_["alpha"] == pytest.approx(by_counts.params_["alpha"], rel=1e-6)
    assert per_customer.log_likelihood_ == pytest.approx(by_counts.log_likelihood_, rel=1e-9)
    assert per_customer.n_distinct_ == 8


# ----- likelihood and gradient ---------------------------------------------------
def test_gradient_matches_finite_differences():
    model = ShiftedBetaGeometricModel()
    data = {"tenure": np.array([0.0, 1, 1, 3, 12, 500, 7]), "churned": np.array([0.0, 1, 0, 1, 1, 0, 0])}
    for params in ([0.7, 1.2], [3.0, 0.05], [250.0, 900.0]):
        params = np.array(params)
        analytic = model._log_likelihood_gradient(params, data)
        for j in range(2):
            step = 1e-6 * params[j]
            up, down = params.copy(), params.copy()
            up[j] += step
            down[j] -= step
            numeric = (model._log_likelihood_terms(up, data) - model._log_likelihood_terms(down, data)) / (2 * step)
            np.testing.assert_allclose(analytic[:, j], numeric, rtol=1e-5, atol=1e-8)


def test_likelihood_is_hand_computable():
    model = ShiftedBetaGeometricModel()
    a, b = 2.0, 3.0
    data = {"tenure": np.array([1.0, 2.0, 2.0]), "churned": np.array([1.0, 1.0, 0.0])}
    expected = np.log([a / (a + b), b / (a + b) * a / (a + b + 1), b / (a + b) * (b + 1) / (a + b + 1)])
    np.testing.assert_allclose(model._log_likelihood_terms(np.array([a, b]), data), expected, rtol=1e-12)


# ----- predictions ---------------------------------------------------------------
def test_predictions_hand_computed():
    model = fitted(2.0, 3.0)
    assert model.churn_probability(1)[()] == pytest.approx(0.4)
    assert model.survival([0, 1, 2]) == pytest.approx([1.0, 0.6, 0.6 * 4 / 6])
    assert model.retention_rate([1, 2, 3]) == pytest.approx([3 / 5, 4 / 6, 5 / 7])
    assert model.expected_lifetime() == pytest.approx(4.0)  # (a + b - 1) / (a - 1)
    assert model.expected_remaining_lifetime([0, 2]) == pytest.approx([3.0, 5.0])  # (b + r) / (a - 1)


def test_probabilities_add_up_and_retention_is_survival_ratio():
    model = fitted(0.7, 1.2)
    t = np.arange(1, 41)
    assert model.churn_probability(t).sum() + model.survival(40) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(model.retention_rate(t), model.survival(t) / model.survival(t - 1), rtol=1e-12)


def test_expected_lifetime_is_infinite_when_alpha_at_most_one():
    assert fitted(0.7, 1.2).expected_lifetime() == np.inf
    assert fitted(1.0, 1.2).expected_lifetime() == np.inf
    assert np.all(np.isinf(fitted(0.7, 1.2).expected_remaining_lifetime([0, 3])))
    assert np.isinf(fitted(0.7, 1.2).discounted_expected_lifetime(0.0))
    # the mean of T by direct summation, when it exists
    model = fitted(3.5, 2.0)
    t = np.arange(1, 200_001)
    assert model.expected_lifetime() == pytest.approx(float(np.sum(t * model.churn_probability(t))), rel=1e-6)


def test_expected_renewals_matches_direct_sum():
    for alpha, beta in [(0.7, 1.2), (1.0, 3.0), (1.0 + 1e-7, 3.0), (4.0, 0.5)]:
        model = fitted(alpha, beta)
        direct = np.cumsum(model.survival(np.arange(1, 61)))
        np.testing.assert_allclose(model.expected_renewals(np.arange(1, 61)), direct, rtol=1e-9)
        # after 5 renewals the posterior is Beta(alpha, beta + 5)
        conditional = np.cumsum(model.survival(np.arange(6, 16)) / model.survival(5))
        np.testing.assert_allclose(model.expected_renewals(np.arange(1, 11), renewals_so_far=5), conditional, rtol=1e-9)
    assert fitted(0.7, 1.2).expected_renewals(0)[()] == 0.0


@pytest.mark.parametrize("alpha, beta", [(0.704, 1.182), (0.668, 3.806), (3.0, 40.0)])
@pytest.mark.parametrize("renewals", [0, 1, 4, 30])
def test_derl_matches_discounted_direct_sum(alpha, beta, renewals):
    model = fitted(alpha, beta)
    d = 0.1
    n = renewals + 1
    t = np.arange(n, n + 2000)
    direct = np.sum(model.survival(t) / model.survival(n - 1) / (1 + d) ** (t - n))
    assert model.discounted_expected_residual_lifetime(renewals, d)[()] == pytest.approx(direct, rel=1e-10)


def test_derl_limits_and_del():
    model = fitted(2.5, 4.0)
    r = np.array([0, 3, 10])
    np.testing.assert_allclose(model.discounted_expected_residual_lifetime(r, 0.0), model.expected_remaining_lifetime(r))
    d = 0.08
    # DEL counts the first payment now: DEL = 1 + DERL(0 renewals) / (1 + d)
    assert model.discounted_expected_lifetime(d)[()] == pytest.approx(
        1 + model.discounted_expected_residual_lifetime(0, d)[()] / (1 + d), rel=1e-12
    )
    assert np.all(np.diff(model.discounted_expected_residual_lifetime(r, d)) > 0)  # survivors are better risks


def test_hypergeometric_fallback_for_long_tenures():
    """scipy's hyp2f1 gives NaN for large b near z = 1; the continued fraction takes over."""
    for b, gap, z in [(1e5, 0.5, 0.999), (1e4, 0.657, 1 / 1.001), (3e3, 2.0, 0.99), (5.0, 0.3, 0.5)]:
        k = np.arange(400_000)
        log_terms = np.concatenate([[0.0], np.cumsum(np.log((b + k[:-1]) / (b + gap + k[:-1]) * z))])
        direct = np.exp(log_terms).sum()
        assert hyp2f1_unit_a(b, gap, z)[()] == pytest.approx(direct, rel=1e-10)
    assert hyp2f1_unit_a(3.0, 2.0, 1.0)[()] == pytest.approx(4.0)  # (b + gap - 1) / (gap - 1)
    assert hyp2f1_unit_a(3.0, 0.5, 1.0)[()] == np.inf


def test_expected_survived_periods_near_shape_one_and_large_b():
    for a in (1 - 1e-9, 1.0, 1 + 1e-6, 1.01, 0.3, 7.0):
        for b in (0.2, 4.0, 5e4):
            t = np.arange(1, 301)
            direct = np.exp(betaln(a, b + t) - betaln(a, b)).sum()
            assert expected_survived_periods(a, b, 300)[()] == pytest.approx(direct, rel=1e-8)
    assert expected_survived_periods(3.0, 2.0, np.inf)[()] == pytest.approx(1.0)  # b / (a - 1)
    assert expected_survived_periods(0.5, 2.0, np.inf)[()] == np.inf


# ----- parameter recovery ----------------------------------------------------------
def simulate_tenures(n, alpha, beta, horizon, rng):
    theta = rng.beta(alpha, beta, n)
    churn_period = rng.geometric(theta)
    churned = churn_period <= horizon
    return np.where(churned, churn_period, horizon), churned


def test_confidence_intervals_cover_true_parameters():
    rng = np.random.default_rng(7)
    true = {"alpha": 0.8, "beta": 2.5}
    covered = {name: 0 for name in true}
    estimates = []
    for _ in range(50):
        tenure, churned = simulate_tenures(3_000, true["alpha"], true["beta"], 12, rng)
        model = ShiftedBetaGeometricModel().fit(tenure, churned)
        estimates.append(model.params_["alpha"])
        for name, value in true.items():
            low, high = model.confidence_intervals_[name]
            covered[name] += low < value < high
    # nominal 95% of 50: P(Binomial(50, 0.95) < 43) = 0.003
    assert all(count >= 43 for count in covered.values()), covered
    assert np.mean(estimates) == pytest.approx(true["alpha"], rel=0.05)


# ----- properties ----------------------------------------------------------------
positive = st.floats(1e-3, 1e3)


@settings(max_examples=60, deadline=None)
@given(alpha=positive, beta=positive, horizon=st.integers(1, 3000))
def test_survival_is_non_increasing_and_in_unit_interval(alpha, beta, horizon):
    survival = fitted(alpha, beta).survival(np.unique(np.linspace(0, horizon, 50).round()))
    assert np.all((survival >= 0) & (survival <= 1))
    assert np.all(np.diff(survival) <= 1e-15)


@settings(max_examples=60, deadline=None)
@given(alpha=st.floats(1e-6, 1e6), beta=st.floats(1e-6, 1e6), tenure=st.integers(0, 100_000), churned=st.booleans())
@example(alpha=1e-6, beta=983986.0, tenure=1, churned=False)  # betaln difference rounded to +1.9e-9
def test_log_likelihood_and_gradient_finite_at_edges(alpha, beta, tenure, churned):
    if churned and tenure == 0:
        tenure = 1
    data = {"tenure": np.array([float(tenure)]), "churned": np.array([float(churned)])}
    model = ShiftedBetaGeometricModel()
    params = np.array([alpha, beta])
    assert np.all(np.isfinite(model._log_likelihood_terms(params, data)))
    assert model._log_likelihood_terms(params, data)[0] <= 1e-12
    assert np.all(np.isfinite(model._log_likelihood_gradient(params, data)))


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(0.05, 50), beta=st.floats(0.05, 50), r=st.integers(0, 5000), d=st.floats(1e-4, 1.0))
def test_derl_positive_finite_and_below_undiscounted(alpha, beta, r, d):
    model = fitted(alpha, beta)
    derl = model.discounted_expected_residual_lifetime(r, d)[()]
    assert np.isfinite(derl) and derl > 0
    assert derl <= model.expected_remaining_lifetime(r)[()] * (1 + 1e-9)
    assert derl <= (1 + d) / d * (1 + 1e-9)  # at most one payment per period


# ----- persistence and validation ------------------------------------------------
def test_json_round_trip(retention):
    model = ShiftedBetaGeometricModel().fit_survival(retention["high_end"].to_numpy()[:8] * 10)
    restored = ShiftedBetaGeometricModel.from_json(model.to_json())
    assert restored.params_ == model.params_
    np.testing.assert_array_equal(restored.survival(np.arange(13)), model.survival(np.arange(13)))
    assert restored.summary().log_likelihood == pytest.approx(model.log_likelihood_)


def test_validation_names_the_problem():
    with pytest.raises(DataError, match="row 1"):
        ShiftedBetaGeometricModel().fit([3, 0], [True, True])
    with pytest.raises(DataError, match="whole number"):
        ShiftedBetaGeometricModel().fit([1.5], [False])
    with pytest.raises(DataError, match="churned"):
        ShiftedBetaGeometricModel().fit([1], [2])
    with pytest.raises(DataError, match="increase"):
        ShiftedBetaGeometricModel().fit_survival([100, 80, 90])
    with pytest.raises(DataError, match="weights"):
        ShiftedBetaGeometricModel().fit([1, 2], [True, False], weights=[1, -1])
    with pytest.raises(DataError, match="discount_rate"):
        fitted(1.0, 1.0).discounted_expected_residual_lifetime(1, -0.1)
    with pytest.raises(DataError, match="t must be"):
        fitted(1.0, 1.0).churn_probability(0)


def test_degenerate_data_is_refused_with_a_reason():
    with pytest.raises(FitError, match="no customer cancelled"):
        ShiftedBetaGeometricModel().fit([3, 0], [False, False])
    with pytest.raises(FitError, match="past the first renewal"):
        ShiftedBetaGeometricModel().fit([1, 1, 0], [True, True, False])
    with pytest.raises(FitError, match="degenerate"):
        ShiftedBetaGeometricModel().fit([1, 3], [True, False])
    # one shared churn probability (no heterogeneity) is a legitimate limit, not an error
    homogeneous = ShiftedBetaGeometricModel().fit_survival(1000 * 0.5 ** np.arange(8))
    assert homogeneous.churn_probability(1)[()] == pytest.approx(0.5, rel=1e-3)
