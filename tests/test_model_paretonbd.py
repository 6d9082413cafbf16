"""Pareto/NBD (Schmittlein et al. 1987; Fader-Hardie 2005 likelihood): CDNOW fit, numerics, predictions."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from clv.errors import DataError, FitError
from clv.models import paretonbd
from clv.models.base import MaximumLikelihoodModel
from clv.models.paretonbd import ParetoNBDModel, log_tail_integral
from fused_checks import assert_fused_equals_per_row, assert_fused_follows_new_data, fused_central_differences

DATA = Path(__file__).parent / "data"
CDNOW_MLE = (0.5533, 10.5776, 0.6062, 11.6679)

# log int_0^inf (p1+u)^-e1 (p2+u)^-e2 du as (e1, e2, p1, p2, value), computed with
# mpmath (50 digits) from Fader-Hardie's form -K log p2 - log K + log 2F1(K, e1; K+1; 1-p1/p2),
# K = e1+e2-1: an independent formula from the one the code uses.
TAIL_REFERENCE = [
    (0.05, 1.6, 1, 1, 0.4307829160924541),
    (0.5, 1.6, 1, 1.5, -0.4404195415132156),
    (1.6, 0.55, 2, 30, -1.9669900981585484),
    (1.6, 0.55, 1e-06, 40, 6.771213121699515),
    (0.55, 1.6, 1e-06, 40, -3.522248975490486),
    (1.0, 1.0, 0.01, 5000, -5.94287328864785),
    (1.6, 5000.55, 0.01, 5000, -42587.49999550416),
    (5000.55, 1.6, 0.01, 5000, 23001.633991062492),
    (5000.55, 1.6, 5000, 5010, -42604.2813485821),
    (1.6, 5000.55, 5000, 5010, -42614.26726726818),
    (1.6, 5000.55, 1, 5.1, -8153.988273080594),
    (20, 7, 1e-12, 1e12, 328.62781441197615),
    (0.05, 7, 1e-12, 1e12, -168.84293656829732),
    (1.001, 0.05, 0.001, 1e4, 3.1075823685698127),
    (3, 1.6, 1, 1.0000001, -1.2809339706794503),
]

# (params, (x, t_x, T), log-likelihood, P(alive)) from Fader-Hardie (2005) eqs. (22), (24)
# with mpmath hyp2f1 at 60 digits; alpha >= beta, alpha > beta far apart, alpha < beta.
LL_REFERENCE = [
    (CDNOW_MLE, (5000, 4000, 5000), -3912.4322123962083, 0.0),
    (CDNOW_MLE, (5000, 5000, 5000), -5016.75169570381, 1.0),
    (CDNOW_MLE, (0, 0, 5000), -0.673221658211579, 0.001644006964156429),
    (CDNOW_MLE, (3, 0, 5000), -8.28449783832653, 5.795532935855365e-11),
    (CDNOW_MLE, (1, 0.001, 39), -4.174115697137177, 0.12666726977760165),
    (CDNOW_MLE, (50, 30.5, 39), -45.50443382840602, 0.005718980634442598),
    (CDNOW_MLE, (200, 100, 3000), -89.23539901801253, 7.366212758620485e-287),
    ((0.5533, 10.5776, 0.6062, 1.6679), (5000, 4000, 5000), -3913.607430769792, 0.0),
    ((0.5533, 10.5776, 0.6062, 1.6679), (0, 0, 5000), -0.2889974072057608, 0.00034469223814686704),
    ((0.5533, 10.5776, 0.6062, 1.6679), (1, 0.001, 39), -3.510690815475469, 0.022924074323738317),
    ((2.0, 0.5, 0.3, 40.0), (5000, 4000, 5000), -3900.302887871689, 0.0),
    ((2.0, 0.5, 0.3, 40.0), (5000, 5000, 5000), -5006.676795340707, 1.0),
    ((2.0, 0.5, 0.3, 40.0), (0, 0, 5000), -5.6413823653916015, 6.604245569376168e-07),
    ((2.0, 0.5, 0.3, 40.0), (3, 0, 5000), -1.720154337239943, 2.5120395080081486e-18),
    ((2.0, 0.5, 0.3, 40.0), (50, 30.5, 39), -33.681477795592826, 0.0012721722078427007),
    ((2.0, 0.5, 0.3, 40.0), (200, 100, 3000), -71.32209306884202, 4.1253291294681975e-296),
]

# P(X(t) = n) at CDNOW_MLE by mpmath quadrature of the defining integral (FH 2006 note).
PXT_REFERENCE = [
    (0, 39, 0.5935173520531541),
    (1, 39, 0.1655879011952603),
    (5, 39, 0.021493167700420385),
    (0, 1e-3, 0.9999476965467965),
    (2, 500, 0.06911312342659365),
    (30, 78, 0.00030708483529704426),
    (0, 1000, 0.5122231204560885),
]


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def fitted(cdnow):
    return ParetoNBDModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def model_at(params):
    model = ParetoNBDModel()
    model.params_ = dict(zip(ParetoNBDModel.param_names, params))
    return model


def one_row(x, t_x, T):
    return {"x": np.array([x], float), "t_x": np.array([t_x], float), "T": np.array([T], float)}


def simulate(params, T, rng):
    """Pareto/NBD histories for customers of ages T (continuous time)."""
    r, alpha, s, beta = params
    rate = rng.gamma(r, 1.0 / alpha, T.shape)
    dropout = rng.gamma(s, 1.0 / beta, T.shape)
    active = np.minimum(rng.exponential(1.0, T.shape) / dropout, T)
    x = rng.poisson(rate * active).astype(float)
    t_x = np.where(x > 0, active * rng.random(T.shape) ** (1.0 / np.maximum(x, 1.0)), 0.0)
    return x, t_x, T


# ----- published estimates -------------------------------------------------
def test_reproduces_published_cdnow_estimates(fitted):
    # Fader, Hardie & Lee (2005) / Fader & Hardie's note: r=0.553, alpha=10.578,
    # s=0.606, beta=11.669, LL=-9595.0 (weeks).
    for name, published in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert fitted.params_[name] == pytest.approx(published, rel=1e-3)
    assert fitted.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)
    assert fitted.n_ == 2357
    # the dropout parameters are weakly identified on CDNOW: wide interval for beta
    low, high = fitted.confidence_intervals_["beta"]
    assert low < 11.669 < high and high / low > 5


def test_far_off_start_reaches_the_same_maximum(cdnow):
    start = {"r": 50.0, "alpha": 0.01, "s": 50.0, "beta": 0.01}
    model = ParetoNBDModel(initial_params=start).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert model.log_likelihood_ == pytest.approx(-9594.97, abs=0.01)
    assert model.params_["r"] == pytest.approx(0.5533, rel=1e-3)


# ----- numerics -------------------------------------------------------------
@pytest.mark.parametrize("e1, e2, p1, p2, expected", TAIL_REFERENCE)
def test_tail_integral_matches_high_precision(e1, e2, p1, p2, expected):
    value, grad = log_tail_integral(e1, e2, p1, p2, p2 - p1)
    assert float(value) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("params, history, log_likelihood, p_alive", LL_REFERENCE)
def test_log_likelihood_and_p_alive_match_high_precision(params, history, log_likelihood, p_alive):
    model = model_at(params)
    value = model._log_likelihood_terms(np.array(params), one_row(*history))[0]
    assert value == pytest.approx(log_likelihood, rel=1e-13, abs=1e-12)
    assert model.probability_alive(*history)[0] == pytest.approx(p_alive, rel=1e-10, abs=1e-300)


def test_tail_integral_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    for _ in range(60):
        point = np.array([np.exp(rng.uniform(-3, 8)), np.exp(rng.uniform(-3, 8)), 0.0, 0.0])
        if point[0] + point[1] < 1.05:
            continue
        point[2] = np.exp(rng.uniform(-8, 8))
        point[3] = point[2] * np.exp(rng.uniform(0, 25))
        value, grad = log_tail_integral(*point, point[3] - point[2])
        for j in range(4):
            step = 1e-6 * point[j]
            up, down = point.copy(), point.copy()
            up[j] += step
            down[j] -= step
            numeric = (log_tail_integral(*up, up[3] - up[2])[0] - log_tail_integral(*down, down[3] - down[2])[0]) / (2 * step)
            assert numeric == pytest.approx(grad[j], rel=1e-4, abs=1e-6 * max(1.0, abs(float(value))) / point[j])


@pytest.mark.parametrize("params", [CDNOW_MLE, (0.5533, 10.5776, 0.6062, 0.05), (2.0, 0.5, 0.3, 40.0)])
def test_likelihood_gradient_matches_finite_differences(cdnow, params):
    data = {"x": cdnow["frequency"].to_numpy(float), "t_x": cdnow["recency"].to_numpy(float), "T": cdnow["T"].to_numpy(float)}
    extreme = {"x": [5000.0, 0.0, 3.0, 200.0], "t_x": [4000.0, 0.0, 0.0, 100.0], "T": [5000.0, 5000.0, 5000.0, 3000.0]}
    data = {k: np.concatenate([v, extreme[k]]) for k, v in data.items()}
    model = ParetoNBDModel()
    params = np.array(params)
    grad = model._log_likelihood_gradient(params, data).sum(axis=0)
    for j in range(4):
        step = 1e-6 * params[j]
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        numeric = (model._log_likelihood_terms(up, data).sum() - model._log_likelihood_terms(down, data).sum()) / (2 * step)
        assert numeric == pytest.approx(grad[j], rel=1e-5, abs=1e-3)


def test_extreme_histories_give_finite_predictions(fitted):
    x, t_x, T = [5000, 5000, 0, 3, 1], [5000, 10, 0, 0, 1e-6], [5000, 5000, 5000, 5000, 1e-3]
    assert np.all(np.isfinite(fitted._log_likelihood_terms(fitted.params, {"x": np.array(x, float), "t_x": np.array(t_x, float), "T": np.array(T, float)})))
    p_alive = fitted.probability_alive(x, t_x, T)
    assert np.all((p_alive >= 0) & (p_alive <= 1))
    assert p_alive[0] == pytest.approx(1.0)  # bought at T
    for values in (
        fitted.expected_purchases(52, x, t_x, T),
        fitted.discounted_expected_residual_transactions(x, t_x, T, 0.002),
        fitted.sample_future_purchases(52, x, t_x, T, rng=0),
    ):
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert 40 < fitted.expected_purchases(52, x, t_x, T)[0] < 52  # ~1 purchase per week, surely alive


def test_all_one_time_buyers_raise_fit_error():
    with pytest.raises(FitError, match="no customer made a repeat purchase"):
        ParetoNBDModel().fit([0, 0, 0], [0, 0, 0], [10, 20, 30])


def test_single_customer_raises_fit_error():
    with pytest.raises(FitError, match="edge|identify"):
        ParetoNBDModel().fit([2], [30.43], [38.86])


def test_bad_input_names_the_row():
    with pytest.raises(DataError, match="row 1"):
        ParetoNBDModel().fit([1, 2], [3, 12], [10, 11])
    with pytest.raises(DataError, match="continuous_rate"):
        model_at(CDNOW_MLE).discounted_expected_residual_transactions(1, 2, 3, 0.0)
    with pytest.raises(DataError, match="params"):
        model_at(CDNOW_MLE).sample_future_purchases(1, [1], [2], [3], params=[1, 2, 3])


# ----- predictions -----------------------------------------------------------
@pytest.mark.parametrize("n, t, expected", PXT_REFERENCE)
def test_probability_purchases_matches_high_precision(n, t, expected):
    assert model_at(CDNOW_MLE).probability_purchases(n, t)[0] == pytest.approx(expected, rel=1e-9)


def test_probability_purchases_sum_to_one_with_the_right_mean():
    model = model_at(CDNOW_MLE)
    n = np.arange(400)
    for t in (1.0, 39.0, 78.0):
        pmf = model.probability_purchases(n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
        assert (n * pmf).sum() == pytest.approx(model.expected_purchases_new(t)[0], rel=1e-8)


def test_expected_purchases_new_known_values():
    r, alpha, s, beta = CDNOW_MLE
    model = model_at(CDNOW_MLE)
    t = 39.0
    closed = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    assert model.expected_purchases_new(t)[0] == pytest.approx(closed, rel=1e-12)
    assert model.expected_purchases_new(0.0)[0] == 0.0
    # s = 1 is the limit r beta / alpha log(1 + t / beta)
    at_one = model_at((r, alpha, 1.0, beta)).expected_purchases_new(t)[0]
    assert at_one == pytest.approx(r * beta / alpha * np.log1p(t / beta), rel=1e-12)


def test_conditional_expectation_closed_form_and_cdnow_holdout(fitted, cdnow):
    r, alpha, s, beta = fitted.params
    x, t_x, T = 2.0, 30.43, 38.86
    p_alive = fitted.probability_alive(x, t_x, T)[0]
    closed = p_alive * (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + 39)) ** (s - 1))
    assert fitted.expected_purchases(39, x, t_x, T)[0] == pytest.approx(closed, rel=1e-12)
    # a new customer's expectation is the t_x = 0, x = 0, T -> 0 limit
    assert fitted.expected_purchases(39, 0, 0, 1e-12)[0] == pytest.approx(fitted.expected_purchases_new(39)[0], rel=1e-6)
    total = fitted.expected_purchases(39, cdnow["frequency"], cdnow["recency"], cdnow["T"]).sum()
    # CDNOW_sample.txt has 1,882 distinct purchase days in weeks 40-78; the fit predicts 1,666
    assert total == pytest.approx(1882, rel=0.15)


def test_sampled_future_purchases_match_conditional_expectation():
    model = model_at(CDNOW_MLE)
    histories = [(0, 0, 38.0), (2, 30.4, 38.9), (10, 20.0, 39.0), (40, 38.0, 39.0)]
    for x, t_x, T in histories:
        n = 100_000
        draws = model.sample_future_purchases(39, np.full(n, x), np.full(n, t_x), np.full(n, T), rng=1)
        expected = model.expected_purchases(39, x, t_x, T)[0]
        assert abs(draws.mean() - expected) < 5 * draws.std() / np.sqrt(n) + 1e-9


def test_dert_matches_numerical_integral():
    for params in (CDNOW_MLE, (0.8, 3.0, 20.0, 40.0), (0.5, 10.0, 1.0, 12.0)):
        model = model_at(params)
        r, alpha, s, beta = params
        for x, t_x, T, delta in [(2, 30.4, 38.9, 0.01), (0, 0, 39, 0.001), (30, 38, 39, 0.2), (1, 5, 400, 1e-4)]:
            p_alive = model.probability_alive(x, t_x, T)[0]
            # DERT = int_0^inf e^{-delta t} d/dt E[Y(t)] dt, d/dt E[Y(t)] = P(alive) (r+x)/(alpha+T) ((beta+T)/(beta+T+t))^s
            integrand = lambda t: np.exp(-delta * t) * p_alive * (r + x) / (alpha + T) * ((beta + T) / (beta + T + t)) ** s
            numeric = integrate.quad(integrand, 0, np.inf, limit=500, epsabs=0, epsrel=1e-11)[0]
            dert = model.discounted_expected_residual_transactions(x, t_x, T, delta)[0]
            assert dert == pytest.approx(numeric, rel=1e-8)


# ----- fitting ---------------------------------------------------------------
def test_weights_equal_repeated_rows(cdnow):
    rows = cdnow[["frequency", "recency", "T"]].iloc[:800]
    full = ParetoNBDModel().fit(rows["frequency"], rows["recency"], rows["T"])
    grouped = rows.value_counts().reset_index()
    weighted = ParetoNBDModel().fit(grouped["frequency"], grouped["recency"], grouped["T"], weights=grouped["count"])
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-10)
    assert weighted.params_["r"] == pytest.approx(full.params_["r"], rel=1e-5)


def test_parameter_recovery_and_interval_coverage():
    truth = (0.6, 8.0, 0.8, 10.0)
    rng = np.random.default_rng(11)
    covered, trials = 0, 0
    estimates = []
    for _ in range(40):
        T = rng.choice(np.arange(26.0, 53.0), 1000)
        model = ParetoNBDModel().fit(*simulate(truth, T, rng))
        estimates.append(model.params)
        for name, value in zip(model.param_names, truth):
            low, high = model.confidence_intervals_[name]
            covered += low < value < high
            trials += 1
    # nominal 0.95 over 160 (partly correlated) intervals: binomial sd ~ 0.017
    assert covered / trials >= 0.88
    assert np.median(np.array(estimates), axis=0) == pytest.approx(truth, rel=0.15)


def test_json_round_trip(fitted, tmp_path):
    path = tmp_path / "pareto.json"
    fitted.to_json(path)
    restored = ParetoNBDModel.from_json(path)
    assert restored.params_ == fitted.params_
    assert restored.probability_alive(2, 30.43, 38.86)[0] == fitted.probability_alive(2, 30.43, 38.86)[0]
    assert restored.summary().model == "pareto"


# ----- properties ------------------------------------------------------------
parameters = st.tuples(*(st.floats(0.02, 50.0) for _ in range(4)))
histories = st.tuples(st.integers(0, 5000), st.floats(0.0, 1.0), st.floats(1e-3, 1e4))


@settings(max_examples=80, deadline=None)
@given(params=parameters, history=histories)
def test_log_likelihood_finite_and_p_alive_in_unit_interval(params, history):
    x, share, T = history
    t_x = 0.0 if x == 0 else share * T
    model = model_at(params)
    value = model._log_likelihood_terms(np.array(params), one_row(x, t_x, T))[0]
    assert np.isfinite(value)
    p_alive = model.probability_alive(x, t_x, T)[0]
    assert 0.0 <= p_alive <= 1.0


@settings(max_examples=60, deadline=None)
@given(params=parameters, history=histories, t=st.floats(0.0, 1e4))
def test_expected_purchases_non_negative_and_non_decreasing(params, history, t):
    x, share, T = history
    t_x = 0.0 if x == 0 else share * T
    model = model_at(params)
    grid = np.array([t, t * 1.5 + 1.0])
    new = model.expected_purchases_new(grid)
    conditional = model.expected_purchases(grid, x, t_x, T)
    for values in (new, conditional):
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
        assert values[1] >= values[0] * (1 - 1e-12)


# ----- the fused weighted value and gradient used by the fit -------------------------------
# Rows sharing (x, t_x) and (x, T) pairs (the fit sums per pair), x = 0 rows, rows bought at T
# (t_x = T: no death term), a heavy buyer, a tiny age, zero and fractional weights.
FUSED_DATA = {
    "x": np.array([0.0, 0, 0, 1, 1, 2, 2, 7, 7, 40, 2000, 1, 3, 1]),
    "t_x": np.array([0.0, 0, 0, 1.7, 30.4, 30.4, 35.1, 35.1, 1.7, 200.0, 2999.0, 38.9, 400.0, 1e-3]),
    "T": np.array([38.9, 12.0, 400.0, 38.9, 38.9, 38.9, 38.9, 400.0, 38.9, 400.0, 3000.0, 38.9, 400.0, 2e-3]),
}
FUSED_WEIGHTS = np.array([120.0, 3, 0, 17, 1, 2.5, 9, 1, 4, 2, 1, 6, 5, 1])
# alpha < beta, alpha > beta, alpha = beta, and alpha << beta (split quadrature of the tail integral)
FUSED_PARAMS = [CDNOW_MLE, (2.0, 40.0, 0.3, 0.5), (0.7, 5.0, 1.2, 5.0), (0.5, 0.01, 0.8, 300.0)]


@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_value_and_gradient_equal_the_per_row_hooks(params):
    model, params = ParetoNBDModel(), np.array(params)
    assert_fused_equals_per_row(model, params, FUSED_DATA, FUSED_WEIGHTS)


@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_gradient_matches_finite_differences_of_the_fused_value(params):
    model, params = ParetoNBDModel(), np.array(params)
    _, grad = model._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    numerical, _ = fused_central_differences(model, params, FUSED_DATA, FUSED_WEIGHTS)
    assert grad == pytest.approx(numerical, rel=1e-5, abs=1e-3)


def test_fused_evaluation_follows_new_data_not_a_stale_cache():
    model, params = ParetoNBDModel(), np.array(CDNOW_MLE)
    assert_fused_follows_new_data(model, params, FUSED_DATA, FUSED_WEIGHTS)


def test_fused_evaluation_in_several_row_blocks_equals_one_block(monkeypatch):
    params = np.array((2.0, 40.0, 0.3, 0.5))
    whole = ParetoNBDModel()._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    monkeypatch.setattr(paretonbd, "_BLOCK_ROWS", 5)  # 14 rows: blocks of 5, 5 and 4
    blocked = ParetoNBDModel()._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    assert blocked[0] == pytest.approx(whole[0], rel=1e-14)
    assert blocked[1] == pytest.approx(whole[1], rel=1e-12)


def test_tail_series_with_late_compaction_equals_compaction_at_every_finished_row(monkeypatch):
    rng = np.random.default_rng(3)
    e1 = np.concatenate([rng.uniform(0.1, 5.0, 300), rng.uniform(50.0, 3000.0, 100)])
    e2, p1 = rng.uniform(1.05, 4.0, 400), rng.uniform(0.5, 500.0, 400)
    zeta = np.concatenate([rng.uniform(0.0, 0.8, 300), rng.uniform(0.8, 0.95, 100)])  # heavy buyers: zeta > 0.8
    p2 = p1 / (1.0 - zeta)
    late = log_tail_integral(e1, e2, p1, p2, p2 - p1)
    monkeypatch.setattr(paretonbd, "_SERIES_KEEP_SHARE", 1.0)
    eager = log_tail_integral(e1, e2, p1, p2, p2 - p1)
    np.testing.assert_allclose(late[0], eager[0], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(late[1], eager[1], rtol=1e-12, atol=1e-14)


def test_fit_on_weighted_rows_equals_the_per_row_hooks_fit_with_differenced_hessian(cdnow):
    class PerRow(ParetoNBDModel):
        """The base class's separate hooks and central-difference Hessian instead of the fused ones."""

        _weighted_log_likelihood_and_gradient = MaximumLikelihoodModel._weighted_log_likelihood_and_gradient
        _weighted_gradient = MaximumLikelihoodModel._weighted_gradient

        def _weighted_hessian(self, params, data, weights):
            return None

    grouped = cdnow[["frequency", "recency", "T"]].value_counts().reset_index()
    columns = grouped["frequency"], grouped["recency"], grouped["T"]
    fused, per_row = ParetoNBDModel().fit(*columns, weights=grouped["count"]), PerRow().fit(*columns, weights=grouped["count"])
    assert fused.log_likelihood_ == pytest.approx(-9594.97, abs=0.005)
    assert fused.log_likelihood_ == pytest.approx(per_row.log_likelihood_, rel=1e-12)
    for name in fused.param_names:
        assert fused.params_[name] == pytest.approx(per_row.params_[name], rel=1e-6), name
        assert fused.standard_errors_[name] == pytest.approx(per_row.standard_errors_[name], rel=1e-5), name


@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_hessian_matches_finite_differences_of_the_fused_gradient(params):
    model, params = ParetoNBDModel(), np.array(params, dtype=float)
    hessian = model._weighted_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    _, numerical = fused_central_differences(model, params, FUSED_DATA, FUSED_WEIGHTS)
    # the tail integral switches formula at alpha = beta (one of the cases): a little differencing noise there
    assert hessian == pytest.approx(numerical, rel=2e-5, abs=1e-5 * np.abs(numerical).max())
    np.testing.assert_array_equal(hessian, hessian.T)


def test_hessian_in_several_row_blocks_equals_one_block(monkeypatch):
    params = np.array((2.0, 40.0, 0.3, 0.5))
    whole = ParetoNBDModel()._weighted_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    monkeypatch.setattr(paretonbd, "_BLOCK_ROWS", 5)
    blocked = ParetoNBDModel()._weighted_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    assert blocked == pytest.approx(whole, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 400), st.sampled_from([1.0, 0.5])), min_size=1, max_size=80))
def test_distinct_pairs_by_table_or_by_hashing_index_the_same_pairs(rows):
    x, y, scale = (np.array(column, dtype=float) for column in zip(*rows))
    y = y * scale  # some rows fractional: the hashing path, else the table of combinations
    pair_x, pair_y, inverse = paretonbd._distinct_pairs(x, y)
    np.testing.assert_array_equal(pair_x[inverse], x)
    np.testing.assert_array_equal(pair_y[inverse], y)
    assert len(pair_x) == len(set(zip(x.tolist(), y.tolist())))


def heavy_buyer_panel(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto/NBD histories in whole days with a heavy-tailed purchase rate, frequencies up to 5,000."""
    rng = np.random.default_rng(seed)
    T = rng.integers(30, 366, n).astype(float)
    active = np.minimum(rng.exponential(1.0, n) / rng.gamma(0.6, 1.0 / 120.0, n), T)
    x = np.minimum(rng.poisson(rng.gamma(0.3, 1.0 / 0.5, n) * active), 5000).astype(float)
    t_x = np.where(x > 0, np.minimum(np.round(active * rng.random(n) ** (1.0 / np.maximum(x, 1.0))), T), 0.0)
    return x, t_x, T


def test_pilot_with_chord_newton_reaches_the_plain_fit_optimum():
    """Many distinct rows: the subsample pilot refined by chord-Newton steps (one Hessian, the pilot's) ends at
    the optimum of the plain L-BFGS-B fit from the default starts, with the same standard errors."""

    class Plain(ParetoNBDModel):
        _pilot_fit = False

    x, t_x, T = heavy_buyer_panel(30_000)
    piloted, plain = ParetoNBDModel().fit(x, t_x, T), Plain().fit(x, t_x, T)
    assert piloted.n_distinct_ >= 20_000  # the pilot's threshold: this fit used it
    assert piloted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-12)
    for name in ParetoNBDModel.param_names:
        assert piloted.params_[name] == pytest.approx(plain.params_[name], rel=1e-6), name
        assert piloted.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-4), name


def test_head_quadrature_grouped_by_node_count_equals_each_row_alone():
    """Rows needing very different node counts (a heavy buyer next to light ones) are evaluated in
    groups; each row's value and gradient equal those of the row evaluated alone."""
    e1 = np.array([0.3, 5000.3, 1.2, 30.0])
    e2 = np.array([2e5, 2e5, 1.6, 1.6])
    p1 = np.array([0.2, 0.2, 3.0, 1.0])
    p2 = np.array([9e7, 9e7, 300.0, 1e6])
    gap = p2 - p1
    together = paretonbd._head_quadrature(e1, e2, p1, p2, gap)
    assert np.unique(paretonbd._head_half_nodes(e1, e2, p1, p2)).size > 1
    for row in range(4):
        alone = paretonbd._head_quadrature(*(v[row:row + 1] for v in (e1, e2, p1, p2, gap)))
        assert together[0][row] == alone[0][0]
        np.testing.assert_array_equal(together[1][:, row], alone[1][:, 0])
