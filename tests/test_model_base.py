"""The shared maximum-likelihood machinery, exercised through a small NBD model."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from clv.errors import DataError, FitError
from clv.models.base import MaximumLikelihoodModel, validate_rfm


class CountNBD(MaximumLikelihoodModel):
    """Poisson counts over T with Gamma(r, alpha) heterogeneity (the NBD)."""

    param_names = ("r", "alpha")
    model_name = "test_nbd"

    def fit(self, x, T, weights=None):
        return self._fit({"x": np.asarray(x, float), "T": np.asarray(T, float)}, weights)

    def _log_likelihood_terms(self, params, data):
        r, alpha = params
        x, T = data["x"], data["T"]
        return (gammaln(r + x) - gammaln(r) - gammaln(x + 1)
                + r * np.log(alpha / (alpha + T)) + x * np.log(T / (alpha + T)))

    def _log_likelihood_gradient(self, params, data):
        from scipy.special import digamma
        r, alpha = params
        x, T = data["x"], data["T"]
        d_r = digamma(r + x) - digamma(r) + np.log(alpha / (alpha + T))
        d_alpha = r / alpha - (r + x) / (alpha + T)
        return np.column_stack([d_r, d_alpha])


def simulate(n, r=0.8, alpha=4.0, seed=0):
    rng = np.random.default_rng(seed)
    T = rng.choice([10.0, 20.0, 30.0], n)
    lam = rng.gamma(r, 1 / alpha, n)
    return rng.poisson(lam * T), T


def test_recovers_parameters():
    x, T = simulate(20_000)
    model = CountNBD().fit(x, T)
    assert model.params_["r"] == pytest.approx(0.8, rel=0.08)
    assert model.params_["alpha"] == pytest.approx(4.0, rel=0.12)
    assert model.n_ == 20_000
    assert model.n_distinct_ < 500  # compressed: few distinct (x, T) rows


def test_standard_errors_match_spread_and_intervals_cover():
    fits = [CountNBD().fit(*simulate(5_000, seed=seed)) for seed in range(40)]
    estimates = np.array([m.params_["r"] for m in fits])
    mean_se = np.mean([m.standard_errors_["r"] for m in fits])
    assert mean_se == pytest.approx(estimates.std(ddof=1), rel=0.3)
    covered = [m.confidence_intervals_["r"][0] < 0.8 < m.confidence_intervals_["r"][1] for m in fits]
    assert np.mean(covered) >= 0.8  # nominal 0.95; 40 replications


def test_weights_equal_repeated_rows():
    x, T = simulate(3_000, seed=1)
    full = CountNBD().fit(x, T)
    pairs, counts = np.unique(np.column_stack([x, T]), axis=0, return_counts=True)
    weighted = CountNBD().fit(pairs[:, 0], pairs[:, 1], weights=counts)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-9)
    assert weighted.params_["r"] == pytest.approx(full.params_["r"], rel=1e-5)


def test_analytic_and_numerical_standard_errors_agree():
    x, T = simulate(5_000, seed=2)

    class NumericalNBD(CountNBD):
        def _log_likelihood_gradient(self, params, data):
            return None

    analytic = CountNBD().fit(x, T)
    numerical = NumericalNBD().fit(x, T)
    assert numerical.params_["r"] == pytest.approx(analytic.params_["r"], rel=1e-4)
    assert numerical.standard_errors_["alpha"] == pytest.approx(analytic.standard_errors_["alpha"], rel=1e-2)


def test_json_round_trip_and_summary():
    x, T = simulate(2_000, seed=3)
    model = CountNBD().fit(x, T)
    restored = CountNBD.from_json(model.to_json())
    assert restored.params_ == model.params_
    assert restored.aic_ == pytest.approx(model.aic_)
    table = model.summary()
    assert list(table.index) == ["r", "alpha"]
    assert table.log_likelihood == pytest.approx(model.log_likelihood_) and table.model == "test_nbd"
    assert json.loads(model.to_json())["model"] == "test_nbd"
    with pytest.raises(FitError, match="not fitted"):
        CountNBD().summary()


def test_sample_params_centre_on_estimate():
    x, T = simulate(5_000, seed=4)
    model = CountNBD().fit(x, T)
    draws = model.sample_params(4_000, seed=0)
    assert draws.shape == (4_000, 2)
    assert np.all(draws > 0)
    assert np.median(draws[:, 0]) == pytest.approx(model.params_["r"], rel=0.02)


def test_validate_rfm_names_the_row():
    with pytest.raises(DataError, match="row 1"):
        validate_rfm([0, 2], [0, 12], [10, 11])
    with pytest.raises(DataError, match="recency must be 0"):
        validate_rfm([0], [3], [10])
    x, t_x, T = validate_rfm([1], [2], [3])
    assert x.dtype == float and T[0] == 3


def test_default_fused_hook_is_the_two_separate_hooks():
    x, T = simulate(500, seed=5)
    data, weights = {"x": x.astype(float), "T": T}, np.linspace(0.5, 2.0, 500)
    model, params = CountNBD(), np.array([0.7, 3.5])
    value, grad = model._weighted_log_likelihood_and_gradient(params, data, weights)
    assert value == pytest.approx(weights @ model._log_likelihood_terms(params, data), rel=1e-14)
    assert grad == pytest.approx(weights @ model._log_likelihood_gradient(params, data), rel=1e-14)


def test_fit_uses_an_overridden_fused_hook_for_optimisation_and_standard_errors():
    x, T = simulate(5_000, seed=6)

    class FusedNBD(CountNBD):
        calls = 0

        def _weighted_log_likelihood_and_gradient(self, params, data, weights):
            type(self).calls += 1
            return (float(weights @ CountNBD._log_likelihood_terms(self, params, data)),
                    weights @ CountNBD._log_likelihood_gradient(self, params, data))

        def _weighted_gradient(self, params, data, weights):
            return self._weighted_log_likelihood_and_gradient(params, data, weights)[1]

        def _log_likelihood_terms(self, params, data):
            raise AssertionError("the fit should go through the fused hook")

        _log_likelihood_gradient = _log_likelihood_terms

    separate = CountNBD().fit(x, T)
    fused = FusedNBD().fit(x, T)
    assert FusedNBD.calls > 0
    assert fused.params_["r"] == pytest.approx(separate.params_["r"], rel=1e-10)
    assert fused.log_likelihood_ == pytest.approx(separate.log_likelihood_, rel=1e-12)
    assert fused.standard_errors_["alpha"] == pytest.approx(separate.standard_errors_["alpha"], rel=1e-8)


def count_nbd_hessian(params, data, weights):
    """Second derivatives in (r, alpha) of CountNBD's weighted log-likelihood."""
    from scipy.special import polygamma

    r, alpha = params
    x, T = data["x"], data["T"]
    h_rr = weights @ (polygamma(1, r + x) - polygamma(1, r))
    h_r_alpha = weights @ (1 / alpha - 1 / (alpha + T))
    h_alpha_alpha = weights @ (-r / alpha**2 + (r + x) / (alpha + T) ** 2)
    return np.array([[h_rr, h_r_alpha], [h_r_alpha, h_alpha_alpha]])


def test_an_analytic_hessian_gives_the_standard_errors_of_central_differences():
    class HessianNBD(CountNBD):
        used = False

        def _weighted_hessian(self, params, data, weights):
            type(self).used = True
            return count_nbd_hessian(params, data, weights)

    x, T = simulate(5_000, seed=7)
    differenced, analytic = CountNBD().fit(x, T), HessianNBD().fit(x, T)
    assert HessianNBD.used
    assert analytic.covariance_theta_ == pytest.approx(differenced.covariance_theta_, rel=1e-5)


class HessianCountNBD(CountNBD):
    """CountNBD with its analytic Hessian, opted in to pilot-started fits."""

    _pilot_fit = True

    def _weighted_hessian(self, params, data, weights):
        return count_nbd_hessian(params, data, weights)


def many_distinct_rows(n=30_000, seed=8):
    """NBD counts over ages with two decimals: more than _PILOT_MIN_ROWS distinct (x, T) rows."""
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(1.0, 60.0, n), 2)
    return rng.poisson(rng.gamma(0.8, 1 / 4.0, n) * T), T


def test_pilot_started_fit_equals_the_plain_fit(monkeypatch):
    from clv.models import base

    x, T = many_distinct_rows()

    class Plain(HessianCountNBD):
        _pilot_fit = False

    pilots = []
    original = base._subsample
    monkeypatch.setattr(base, "_subsample", lambda *args: pilots.append(1) or original(*args))
    piloted, plain = HessianCountNBD().fit(x, T), Plain().fit(x, T)
    assert pilots == [1] and piloted.n_distinct_ >= base._PILOT_MIN_ROWS
    for name in ("r", "alpha"):
        assert piloted.params_[name] == pytest.approx(plain.params_[name], rel=1e-6)
        assert piloted.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-5)
    assert piloted.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)


def test_a_wrong_hessian_stops_newton_and_l_bfgs_b_still_finds_the_optimum():
    x, T = many_distinct_rows(seed=9)

    class WrongHessian(HessianCountNBD):
        def _weighted_hessian(self, params, data, weights):
            return -super()._weighted_hessian(params, data, weights)  # not negative definite: no Newton step

    class Plain(HessianCountNBD):
        _pilot_fit = False

    wrong, plain = WrongHessian().fit(x, T), Plain().fit(x, T)
    assert wrong.params_["r"] == pytest.approx(plain.params_["r"], rel=1e-6)
    assert wrong.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)


def test_subsample_estimates_weighted_sums_and_keeps_heavy_rows():
    from clv.models.base import _subsample

    rng = np.random.default_rng(10)
    weights = np.concatenate([np.full(50, 500.0), rng.integers(1, 4, 20_000).astype(float)])
    data = {"v": rng.normal(size=weights.shape[0])}
    sample, sample_weights = _subsample(data, weights, 2_000)
    assert 1_000 < sample_weights.shape[0] < 3_000
    np.testing.assert_array_equal(sample["v"][:50], data["v"][:50])  # weight 500 > sum/size: always kept
    np.testing.assert_array_equal(sample_weights[:50], 500.0)
    assert sample_weights.sum() == pytest.approx(weights.sum(), rel=0.05)


history_values = st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, 3.0, -1.0, 1e308, np.nan, np.inf, -np.inf])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(history_values, history_values, history_values), min_size=1, max_size=6))
def test_one_pass_history_check_agrees_with_the_rule_by_rule_checks(rows):
    from clv.summary import histories

    x, t_x, T = (np.array(column) for column in zip(*rows))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(histories, "_valid_histories", lambda *columns: False)  # the rules one by one
            validate_rfm(x, t_x, T)
        valid = True
    except DataError:
        valid = False
    if histories._valid_histories(x, t_x, T):  # may say no to valid rows (e.g. a sum overflowing), never yes to invalid
        assert valid
    else:
        with np.errstate(over="ignore"):
            assert not valid or np.isinf(x + t_x + T).any()
