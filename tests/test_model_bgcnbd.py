"""BG/CNBD-k and MBG/CNBD-k (Platzer & Reutterer 2016): Erlang-k purchase regularity, k chosen by likelihood."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clv.errors import DataError
from clv.models import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, model_class
from clv.models.bgcnbd import BetaGeoCNBDModel, _expected_given_alive, _log_likelihood, _log_terms
from clv.models.bgnbd import expected_purchases_given_alive
from clv.models.mbgcnbd import ModifiedBetaGeoCNBDModel

DATA = Path(__file__).parent / "data"
PAIRS = [(BetaGeoCNBDModel, BetaGeoModel), (ModifiedBetaGeoCNBDModel, ModifiedBetaGeoModel)]
GROCERY = {"r": 1.2, "alpha": 2.5, "a": 0.8, "b": 4.0}  # weekly-ish buyers, k = 3 below


def _cdnow_master_split():
    from clv.data import Columns, LoadPolicy, load_orders
    from clv.summary import calibration_holdout

    columns = Columns(customer_id="customer_id", date="date", quantity="number_of_cds", amount="dollar_value")
    orders = load_orders(DATA / "CDNOW_master.txt", columns, LoadPolicy(date_format="%Y%m%d", duplicates="keep"),
                         delimiter="whitespace")
    return calibration_holdout(orders, calibration_end="1997-09-30", observation_end="1998-06-30", litt=True)


@pytest.fixture(scope="module")
def cdnow_master():
    return _cdnow_master_split()


@pytest.mark.parametrize(("cnbd", "nbd"), PAIRS)
def test_k1_is_the_bgnbd_exactly(cdnow_master, cnbd, nbd):
    x, t_x, T = cdnow_master.rfm()
    regular = cnbd(k=1).fit(cdnow_master)
    plain = nbd().fit(x, t_x, T)
    assert regular.k_ == 1 and regular.k_basis_ == "given"
    assert regular.params_ == plain.params_ and regular.log_likelihood_ == plain.log_likelihood_
    assert regular.standard_errors_ == plain.standard_errors_
    np.testing.assert_allclose(regular.probability_alive(x, t_x, T), plain.probability_alive(x, t_x, T), rtol=1e-12)
    np.testing.assert_array_equal(regular.expected_purchases(39.0, x, t_x, T), plain.expected_purchases(39.0, x, t_x, T))


@pytest.mark.parametrize("cnbd", [BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel])
def test_cdnow_shows_no_regularity(cdnow_master, cnbd):
    """BTYDplus's demo (demo/cdnow.R): "k=1 -> no regularity detected for CDNow"; here on the whole cohort."""
    model = cnbd().fit(cdnow_master)
    assert model.k_ == 1 and model.k_basis_ == "litt"
    lls = model.k_log_likelihoods_
    assert lls[1] > lls[2] > lls[3]


def test_series_at_k1_equals_the_bgnbd_closed_form():
    rng = np.random.default_rng(0)
    n = 200
    x, T = rng.integers(0, 40, n).astype(float), rng.uniform(1.0, 80.0, n)
    t = rng.uniform(0.1, 100.0, n)
    for s, (r, alpha, a, b) in ((0, (0.4, 3.0, 0.7, 2.5)), (1, (2.0, 9.0, 3.0, 0.8))):
        series = _expected_given_alive(t, x, T, np.ones((n, 1)), (r, alpha, a, b), 1, s)
        closed = expected_purchases_given_alive(t, r + x, alpha + T, a, b + x + s)
        np.testing.assert_allclose(series, closed, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("cnbd", [BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel])
def test_expected_purchases_agree_with_simulated_futures(cnbd):
    model = cnbd(k=3)
    model.params_ = dict(GROCERY)
    model.k_ = 3
    x, t_x, T = np.array([0.0, 2.0, 10.0, 10.0]), np.array([0.0, 5.0, 30.0, 20.0]), np.array([40.0, 40.0, 40.0, 40.0])
    n = 100_000
    draws = model.sample_future_purchases(13.0, *(np.repeat(v, n) for v in (x, t_x, T)), rng=7).reshape(4, n)
    expected = model.expected_purchases(13.0, x, t_x, T)
    np.testing.assert_allclose(draws.mean(axis=1), expected, atol=4 * draws.std(axis=1).max() / np.sqrt(n))
    new = model.expected_purchases_new(26.0)
    simulated = model.simulate(T=np.zeros(n), params=GROCERY, holdout_length=26.0, rng=3)["frequency_holdout"]
    assert abs(simulated.mean() - new) < 4 * simulated.std() / np.sqrt(n)


def test_probability_alive_agrees_with_simulation():
    """Among simulated customers with a given history, the share still alive equals P(alive)."""
    model = BetaGeoCNBDModel(k=4)
    model.params_, model.k_ = dict(GROCERY), 4
    panel = model.simulate(T=np.full(200_000, 30.0), params=GROCERY, holdout_length=200.0, rng=11)
    x, t_x, T = panel["frequency"].to_numpy(), panel["recency"].to_numpy(), panel["T"].to_numpy()
    # alive at T <=> a purchase after T eventually (nearly: 200 time units ahead), so compare in bins of P(alive)
    p = model.probability_alive(x, t_x, T)
    bought_later = panel["frequency_holdout"].to_numpy() > 0
    for low, high in ((0.0, 0.3), (0.3, 0.7), (0.7, 0.95)):
        chosen = (p >= low) & (p < high) & (x > 0)
        assert chosen.sum() > 2000
        assert bought_later[chosen].mean() == pytest.approx(p[chosen].mean(), abs=0.02)


@pytest.mark.parametrize("s", [0, 1])
def test_gradient_matches_finite_differences(s):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 30, 50).astype(float)
    T = rng.uniform(5.0, 60.0, 50)
    t_x = np.where(x > 0, T * rng.uniform(0.0, 1.0, 50), 0.0)
    data = {"x": x, "t_x": t_x, "T": T}
    params = np.array([0.9, 4.0, 0.7, 2.2])
    _, gradient = _log_likelihood(params, 3, s, data, gradient=True)
    for j in range(4):
        step = 1e-6 * params[j]
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        numeric = (_log_likelihood(up, 3, s, data)[0] - _log_likelihood(down, 3, s, data)[0]) / (2 * step)
        np.testing.assert_allclose(gradient[:, j], numeric, rtol=1e-6, atol=1e-7)


def test_log_likelihood_matches_btydplus_formula():
    """The per-customer log-likelihood against a direct transcription of BTYDplus's xbgcnbd.LL (k = 3)."""
    from scipy.special import betaln, gammaln

    k, (r, alpha, a, b) = 3, (0.9, 4.0, 0.7, 2.2)
    x, t_x, T, litt = np.array([0.0, 1.0, 4.0]), np.array([0.0, 3.0, 20.0]), np.array([30.0, 30.0, 30.0]), np.array([0.0, 1.1, 5.0])
    for s in (0, 1):
        p1 = (k - 1) * litt - x * np.log(2.0)
        p2 = betaln(a, b + x + s) - betaln(a, b)
        p3 = gammaln(r + k * x) - gammaln(r) + r * np.log(alpha)
        p4 = -(r + k * x) * np.log(alpha + T)
        s1 = ((s == 1) | (x > 0)) * a / (b + x - 1 + s) * ((alpha + T) / (alpha + t_x)) ** (r + k * x)
        s2 = 1 + (r + k * x) * (T - t_x) / (alpha + T) + (r + k * x) * (r + k * x + 1) * (T - t_x) ** 2 / (2 * (alpha + T) ** 2)
        reference = p1 + p2 + p3 + p4 + np.log(s1 + s2)
        ours = _log_likelihood(np.array([r, alpha, a, b]), k, s, {"x": x, "t_x": t_x, "T": T})[0] + p1
        np.testing.assert_allclose(ours, reference, rtol=1e-12)
        log_dropped, terms = _log_terms((r, alpha, a, b), k, s, x, t_x, T)
        btyd_palive = 1 / (1 + s1 / s2)
        if s == 0:
            btyd_palive[x == 0] = 1.0
        p_alive = 1 / (1 + np.exp(log_dropped - np.logaddexp.reduce(terms, axis=1)))
        np.testing.assert_allclose(p_alive, btyd_palive, rtol=1e-12)


def _grocery_panel(cls, seed):
    truth = BetaGeoCNBDModel()
    panel = cls().simulate(T=np.random.default_rng(seed).uniform(26.0, 52.0, 4000), params=GROCERY, k=3,
                           holdout_length=26.0, rng=seed)
    return panel


@pytest.mark.parametrize("cls", [BetaGeoCNBDModel, ModifiedBetaGeoCNBDModel])
def test_regular_buyers_k_recovered_and_holdout_error_lower_than_bgnbd_and_pareto(cls):
    panel = _grocery_panel(cls, seed=5)
    x, t_x, T = (panel[c].to_numpy() for c in ("frequency", "recency", "T"))
    regular = cls().fit(x, t_x, T, litt=panel["litt"])
    assert regular.k_ == 3 and regular.k_basis_ == "litt"
    for name, truth in GROCERY.items():
        assert abs(np.log(regular.params_[name] / truth)) < 3 * regular.standard_errors_[name] / regular.params_[name] + 0.05
    actual = panel["frequency_holdout"].to_numpy()
    errors = {}
    for label, model in (("cnbd", regular), ("bgnbd", BetaGeoModel().fit(x, t_x, T)),
                         ("pareto", ParetoNBDModel().fit(x, t_x, T))):
        errors[label] = np.mean(np.abs(model.expected_purchases(26.0, x, t_x, T) - actual))
    assert errors["cnbd"] < 0.97 * min(errors["bgnbd"], errors["pareto"]), errors


def test_without_litt_k_is_chosen_on_recency_alone():
    panel = _grocery_panel(BetaGeoCNBDModel, seed=6)
    model = BetaGeoCNBDModel().fit(panel["frequency"], panel["recency"], panel["T"])
    assert model.k_basis_ == "recency" and model.k_ == 3


def test_round_trip_keeps_k_and_the_choice():
    panel = _grocery_panel(BetaGeoCNBDModel, seed=8)
    model = BetaGeoCNBDModel().fit(panel["frequency"], panel["recency"], panel["T"], litt=panel["litt"], time_unit="week")
    loaded = model_class("bgcnbd").from_json(model.to_json())
    assert loaded.k_ == model.k_ and loaded.k_log_likelihoods_ == model.k_log_likelihoods_ and loaded.k_basis_ == "litt"
    assert loaded.aic_ == model.aic_ and model.aic_ == 2 * 5 - 2 * model.log_likelihood_


def test_fit_in_days_finds_the_same_k_and_rescaled_rates():
    panel = _grocery_panel(BetaGeoCNBDModel, seed=9)
    weeks = pd.DataFrame(panel)
    data_weeks = weeks[["frequency", "recency", "T", "litt"]]
    from clv.summary import CustomerData

    as_weeks = CustomerData(data_weeks.copy(), time_unit="week")
    as_days = as_weeks.in_time_unit("day")
    in_weeks, in_days = BetaGeoCNBDModel().fit(as_weeks), BetaGeoCNBDModel().fit(as_days)
    assert in_weeks.k_ == in_days.k_ == 3
    assert in_days.params_["alpha"] == pytest.approx(7 * in_weeks.params_["alpha"], rel=1e-4)
    assert in_days.params_["r"] == pytest.approx(in_weeks.params_["r"], rel=1e-4)
    differences = np.diff([in_days.k_log_likelihoods_[k] - in_weeks.k_log_likelihoods_[k] for k in in_days.k_log_likelihoods_])
    np.testing.assert_allclose(differences, 0.0, atol=1e-3)  # a unit change shifts every k's LL by the same amount


def test_bad_litt_and_k_are_refused_with_the_fix():
    with pytest.raises(DataError, match="litt must be 0 where frequency is 0"):
        BetaGeoCNBDModel().fit([0, 2], [0, 3.0], [5.0, 5.0], litt=[1.0, 0.5])
    with pytest.raises(DataError, match="one litt per customer"):
        BetaGeoCNBDModel().fit([0, 2], [0, 3.0], [5.0, 5.0], litt=[0.0])
    with pytest.raises(DataError, match="k must be a whole number"):
        BetaGeoCNBDModel(k=0).fit([0, 2], [0, 3.0], [5.0, 5.0])
