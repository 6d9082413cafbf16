"""Gamma-Gompertz/NBD (Bemmaor & Glady 2012; CLVTools ggomnbd): quadrature, gradient, CDNOW, recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from clv.models import ParetoNBDModel
from clv.models.ggomnbd import (
    GammaGompertzNBDModel,
    _aging,
    _log_integral,
    _log_likelihood,
    expected_lifetime_within,
    quadrature_rule,
)

DATA = Path(__file__).parent / "data"
TRUTH = {"r": 0.6, "alpha": 5.0, "b": 0.05, "s": 0.8, "beta": 8.0}
# (r, alpha, b, s, c = beta / b): near the Pareto/NBD limit, moderate aging, strong aging, slow heavy buyers
NATURAL = [(0.55, 10.6, 1e-6, 0.6, 11.0), (0.6, 5.0, 0.05, 0.8, 160.0), (2.0, 1.0, 0.5, 2.0, 1.0),
           (0.2, 3.0, 0.01, 5.0, 5000.0)]


def _cdnow():
    frame = pd.read_csv(DATA / "cdnow_customers_summary.csv")
    return frame["frequency"].to_numpy(float), frame["recency"].to_numpy(float), frame["T"].to_numpy(float)


def _phi(y, x, natural):
    r, alpha, b, s, c = natural
    return b * y - (r + x) * np.log(alpha + y) - (s + 1.0) * _aging(np.array([y]), b, c, False)[0][0]


@pytest.mark.parametrize("natural", NATURAL)
def test_the_likelihood_integral_matches_scipy_quad(natural):
    rng = np.random.default_rng(0)
    n = 40
    x = rng.integers(0, 2000, n).astype(float) * (rng.random(n) < 0.5)
    T = rng.uniform(1.0, 150.0, n)
    t_x = T * rng.uniform(0.0, 1.0, n)
    ours = _log_integral(np.array(natural), x, t_x, T)[0]
    for i in range(n):
        top = _phi(t_x[i], x[i], natural)  # scaled: the integrand's value at t_x is 1
        breaks = [t_x[i] + (T[i] - t_x[i]) * 2.0 ** -k for k in range(1, 30)]
        reference = quad(lambda y: np.exp(_phi(y, x[i], natural) - top), t_x[i], T[i], epsabs=0.0, epsrel=1e-12,
                         limit=500, points=breaks)[0]
        assert np.exp(ours[i] - top) == pytest.approx(reference, rel=1e-8)


@pytest.mark.parametrize("natural", NATURAL)
def test_expected_time_alive_matches_scipy_quad(natural):
    r, alpha, b, s, c = natural
    for t, T in ((1.0, 0.0), (52.0, 10.0), (500.0, 80.0)):
        reference = quad(lambda v: np.exp(-s * (_aging(np.array([T + v]), b, c, False)[0][0]
                                               - _aging(np.array([T]), b, c, False)[0][0])), 0.0, t,
                         epsabs=0.0, epsrel=1e-12, limit=500)[0]
        assert expected_lifetime_within(np.array([t]), np.array([T]), b, s, b * c)[0] == pytest.approx(reference, rel=1e-8)


def test_the_rule_integrates_polynomials_and_sums_to_one():
    nodes, weights = quadrature_rule()
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert weights @ nodes ** 7 == pytest.approx(1 / 8, abs=1e-14)


@pytest.mark.parametrize("natural", NATURAL)
def test_gradient_matches_finite_differences(natural):
    rng = np.random.default_rng(4)
    n = 40
    x = rng.integers(0, 30, n).astype(float)
    T = rng.uniform(5.0, 60.0, n)
    t_x = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    natural = np.array(natural)
    _, gradient = _log_likelihood(natural, x, t_x, T, gradient=True)
    for j in range(5):  # in log parameters, relative steps: d/dlog p = p d/dp
        up, down = natural.copy(), natural.copy()
        up[j] *= np.exp(1e-5)
        down[j] *= np.exp(-1e-5)
        numeric = (_log_likelihood(up, x, t_x, T)[0] - _log_likelihood(down, x, t_x, T)[0]) / 2e-5
        np.testing.assert_allclose(natural[j] * gradient[:, j], numeric, rtol=1e-5, atol=1e-8)


def test_cdnow_reproduces_clvtools_and_reaches_the_pareto_nbd_limit():
    """CLVTools' ggomnbd on CDNOW (tests/testthat, correctness): r = 0.55313, alpha = 10.5758, b = 0.0000011,
    s = 0.60682, beta = 0.000013, LL = -9594.9762: b -> 0 with beta / b fixed, the Pareto/NBD limit."""
    x, t_x, T = _cdnow()
    clvtools = np.array([0.55313, 10.5758, 0.0000011, 0.60682, 0.000013])
    model = GammaGompertzNBDModel()
    at_clvtools = model._log_likelihood_terms(clvtools, {"x": x, "t_x": t_x, "T": T}).sum()
    # beta is published to 2 significant digits, over whose rounding interval the LL moves by 0.1
    assert at_clvtools == pytest.approx(-9594.9762, abs=0.01)
    model.fit(x, t_x, T)
    assert model.log_likelihood_ == pytest.approx(-9594.9739, abs=1e-4)  # above CLVTools' -9594.9762
    for name, theirs in (("r", 0.55313), ("alpha", 10.5758), ("s", 0.60682)):  # their optimiser stopped short
        assert model.params_[name] == pytest.approx(theirs, rel=2e-3)
    pareto = ParetoNBDModel().fit(x, t_x, T)
    assert model.log_likelihood_ >= at_clvtools - 1e-6
    assert model.log_likelihood_ == pytest.approx(pareto.log_likelihood_, abs=1e-3)
    for name in ("r", "alpha", "s"):
        assert model.params_[name] == pytest.approx(pareto.params_[name], rel=1e-3)
    assert model.params_["b"] < 1e-5
    assert model.params_["beta"] / model.params_["b"] == pytest.approx(pareto.params_["beta"], rel=1e-3)
    histories = (np.array([0.0, 1.0, 2.0, 5.0]), np.array([0.0, 1.0, 3.0, 4.0]), np.array([5.0, 5.0, 6.0, 30.0]))
    np.testing.assert_allclose(model.probability_alive(*histories), pareto.probability_alive(*histories), rtol=1e-5)
    np.testing.assert_allclose(model.expected_purchases(13.0, *histories), pareto.expected_purchases(13.0, *histories),
                               rtol=1e-5)


def test_simulated_parameters_are_recovered():
    history = GammaGompertzNBDModel().simulate(T=np.random.default_rng(1).uniform(30.0, 104.0, 6000), params=TRUTH,
                                               rng=1)
    model = GammaGompertzNBDModel().fit(history["frequency"], history["recency"], history["T"])
    for name, truth in TRUTH.items():
        log_se = model.standard_errors_[name] / model.params_[name]
        assert abs(np.log(model.params_[name] / truth)) < 3.5 * log_se, (name, model.params_, model.standard_errors_)


def test_predictions_agree_with_simulated_futures():
    model = GammaGompertzNBDModel()
    model.params_ = dict(TRUTH)
    x, t_x, T = np.array([0.0, 2.0, 10.0, 10.0]), np.array([0.0, 5.0, 30.0, 20.0]), np.array([40.0, 40.0, 40.0, 40.0])
    n = 100_000
    draws = model.sample_future_purchases(26.0, *(np.repeat(v, n) for v in (x, t_x, T)), rng=7).reshape(4, n)
    np.testing.assert_allclose(draws.mean(axis=1), model.expected_purchases(26.0, x, t_x, T),
                               atol=4 * draws.std(axis=1).max() / np.sqrt(n))
    new = model.simulate(T=np.full(n, 26.0), params=TRUTH, rng=3)["frequency"]
    assert abs(new.mean() - model.expected_purchases_new(26.0)) < 4 * new.std() / np.sqrt(n)
    # P(alive) of a customer never seen buying again is below that of a recent buyer; all in [0, 1]
    p = model.probability_alive(x, t_x, T)
    assert np.all((p > 0) & (p <= 1)) and p[2] > p[3]
