"""Gamma-Gamma spend model: published CDNOW fit from the raw transactions, gradient, predictions."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError, FitError
from clv.models.base import MaximumLikelihoodModel
from clv.models.gammagamma import GammaGammaModel
from fused_checks import assert_fused_equals_per_row, fused_central_differences

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow_repeat_spend():
    """Per repeat buyer of the 39-week calibration: number and mean value of repeat transactions.

    Same-day purchases are one transaction (amounts summed); the first
    transaction is not a repeat transaction and is left out of the mean.
    """
    raw = pd.read_csv(
        DATA / "CDNOW_sample.txt", sep=r"\s+", header=None,
        names=["master_id", "customer", "date", "cds", "dollars"], dtype={"date": str},
    )
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    calibration = raw[raw["date"] <= "1997-09-30"]
    daily = calibration.groupby(["customer", "date"], as_index=False)["dollars"].sum()
    daily = daily.sort_values(["customer", "date"])
    repeat = daily[daily.groupby("customer").cumcount() > 0]
    spend = repeat.groupby("customer")["dollars"].agg(frequency="count", monetary_value="mean")
    everyone = pd.Index(daily["customer"].unique(), name="customer")
    return spend.reindex(everyone, fill_value=0).reset_index()


@pytest.fixture(scope="module")
def fitted(cdnow_repeat_spend):
    data = cdnow_repeat_spend
    return GammaGammaModel().fit(data["frequency"], data["monetary_value"])


def test_reproduces_published_cdnow_estimates(fitted, cdnow_repeat_spend):
    # Fader, Hardie & Lee (2005) "RFM and CLV"; Fader & Hardie (2013) note: p=6.25, q=3.74, v=15.44.
    assert fitted.params_["p"] == pytest.approx(6.25, abs=0.005)
    assert fitted.params_["q"] == pytest.approx(3.74, abs=0.005)
    assert fitted.params_["gamma"] == pytest.approx(15.44, abs=0.005)
    assert fitted.n_ == 946  # repeat buyers
    assert fitted.n_excluded_ == 2357 - 946
    assert fitted.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)  # ours (no published value found)


def numerical_gradient(model, params, data, step=1e-4):  # terms reach 1e5: a wide central step
    grad = np.empty((data["x"].shape[0], params.shape[0]))
    for j in range(params.shape[0]):
        up, down = params.copy(), params.copy()
        up[j] += step * params[j]
        down[j] -= step * params[j]
        diff = model._log_likelihood_terms(up, data) - model._log_likelihood_terms(down, data)
        grad[:, j] = diff / (2 * step * params[j])
    return grad


@pytest.mark.parametrize("params", [[6.25, 3.74, 15.44], [0.3, 1.5, 200.0], [40.0, 80.0, 2.0]])
def test_gradient_matches_finite_differences(params):
    data = {"x": np.array([1.0, 2, 5, 30, 3000]), "m": np.array([0.01, 35.0, 12.5, 400.0, 27.0])}
    model, params = GammaGammaModel(), np.array(params)
    analytic = model._log_likelihood_gradient(params, data)
    assert analytic == pytest.approx(numerical_gradient(model, params, data), rel=1e-5, abs=1e-6)


def test_expected_spend_hand_values(fitted):
    p, q, gamma = fitted.params
    population = p * gamma / (q - 1)
    got = fitted.expected_spend([0, 1, 4], [np.nan, 30.0, 50.0])
    assert got[0] == pytest.approx(population) == fitted.population_mean_spend
    weight = p * 1 / (p * 1 + q - 1)
    assert got[1] == pytest.approx((1 - weight) * population + weight * 30.0, rel=1e-12)
    assert got[2] == pytest.approx(p * (gamma + 4 * 50.0) / (p * 4 + q - 1), rel=1e-12)


def test_expected_spend_published_cdnow_mean(fitted, cdnow_repeat_spend):
    # The population mean p*v/(q-1) with the published estimates is 35.2 dollars.
    assert fitted.population_mean_spend == pytest.approx(6.25 * 15.44 / 2.74, rel=2e-3)
    repeaters = cdnow_repeat_spend[cdnow_repeat_spend["frequency"] > 0]
    predicted = fitted.expected_spend(repeaters["frequency"], repeaters["monetary_value"])
    # shrinkage: predictions are pulled from each observed mean toward the population mean
    observed = repeaters["monetary_value"].to_numpy()
    between = (predicted - observed) * (predicted - fitted.population_mean_spend) <= 1e-9
    assert between.all()


def simulate(n, p, q, gamma, rng):
    x = rng.integers(1, 8, n).astype(float)
    nu = rng.gamma(q, 1 / gamma, n)
    total = rng.gamma(p * x, 1 / nu)
    return x, total / x


def test_parameter_recovery_intervals_cover():
    true = {"p": 4.0, "q": 3.0, "gamma": 20.0}
    covered = []
    for seed in range(40):
        x, m = simulate(800, *true.values(), np.random.default_rng(seed))
        model = GammaGammaModel(initial_params=true).fit(x, m)
        covered.append([lo < true[k] < hi for k, (lo, hi) in model.confidence_intervals_.items()])
    # Binomial(40, 0.95): P(<= 32 covered) = 0.0008.
    assert np.all(np.mean(covered, axis=0) >= 33 / 40)


def test_infinite_mean_spend_is_refused():
    x, m = simulate(3000, 2.0, 0.6, 5.0, np.random.default_rng(0))
    with pytest.raises(FitError, match="q=.* <= 1"):
        GammaGammaModel().fit(x, m)


def test_too_little_data_is_a_fit_error():
    with pytest.raises(FitError):
        GammaGammaModel().fit([2], [30.0])


def test_frequency_zero_set_aside_and_weights(cdnow_repeat_spend):
    data = cdnow_repeat_spend
    weights = np.where(np.arange(len(data)) % 2 == 0, 1.0, 2.0)
    weighted = GammaGammaModel().fit(data["frequency"], data["monetary_value"], weights=weights)
    assert weighted.n_excluded_ == weights[data["frequency"].to_numpy() == 0].sum()
    assert weighted.n_ == weights[data["frequency"].to_numpy() > 0].sum()


def test_bad_monetary_value_names_the_row():
    with pytest.raises(DataError, match="first offending row 2"):
        GammaGammaModel().fit([1, 0, 3, 2], [10.0, 0.0, -1.0, 5.0])
    with pytest.raises(DataError, match="first offending row 0"):
        GammaGammaModel().fit([1], [np.nan])
    with pytest.raises(DataError, match="frequency must be a whole number"):
        GammaGammaModel().fit([1.5], [3.0])
    with pytest.raises(FitError, match="no customer has frequency > 0"):
        GammaGammaModel().fit([0, 0], [0.0, 0.0])


def test_zero_value_repeat_buyers_are_set_aside_and_still_scored(cdnow_repeat_spend, fitted):
    data = pd.concat([cdnow_repeat_spend, pd.DataFrame({"frequency": [2, 0], "monetary_value": [0.0, 0.0]})])
    model = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
    assert model.n_ == fitted.n_  # the zero-spend repeat buyer is not in the likelihood
    assert model.n_excluded_ == fitted.n_excluded_ + 2
    assert model.params_["p"] == pytest.approx(fitted.params_["p"], rel=1e-6)
    p, q, gamma = model.params
    assert model.expected_spend([2], [0.0])[0] == pytest.approx(p * gamma / (2 * p + q - 1))


def test_json_round_trip(fitted):
    restored = GammaGammaModel.from_json(fitted.to_json())
    assert restored.params_ == fitted.params_
    assert restored.n_excluded_ == fitted.n_excluded_
    assert restored.expected_spend(3, 20.0)[0] == fitted.expected_spend(3, 20.0)[0]


@settings(max_examples=80, deadline=None)
@given(
    x=st.integers(0, 100_000), m=st.floats(1e-4, 1e7),
    p=st.floats(1e-2, 1e3), q=st.floats(1.001, 1e3), gamma=st.floats(1e-3, 1e5),
)
def test_expected_spend_is_a_positive_weighted_average(x, m, p, q, gamma):
    model = GammaGammaModel()
    model.params_ = {"p": p, "q": q, "gamma": gamma}
    spend = model.expected_spend(x, m)[0]
    population = model.population_mean_spend
    assert np.isfinite(spend) and spend > 0
    low, high = (population, population) if x == 0 else sorted((population, m))
    assert low * (1 - 1e-9) <= spend <= high * (1 + 1e-9)
    data = {"x": np.array([max(x, 1.0)]), "m": np.array([m])}
    assert np.isfinite(model._log_likelihood_terms(np.array([p, q, gamma]), data)).all()


# ----- the fused weighted value, gradient and Hessian used by the fit ----------------------
# Rows sharing x values (gamma functions are evaluated per distinct x), x = 1, a heavy buyer,
# tiny and huge mean spends, zero and fractional weights.
FUSED_DATA = {
    "x": np.array([1.0, 1, 1, 2, 2, 3, 7, 7, 40, 2000, 1, 5]),
    "m": np.array([12.5, 0.01, 12.5, 30.0, 4.2, 1e5, 25.0, 26.0, 18.3, 22.0, 3e-4, 60.0]),
}
FUSED_WEIGHTS = np.array([120.0, 3, 0, 17, 1, 2.5, 9, 1, 4, 1, 6, 2])
FUSED_PARAMS = [[6.25, 3.74, 15.44], [0.5, 1.2, 300.0], [40.0, 0.3, 0.02], [2.0, 3.0, 1e4]]


@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_value_and_gradient_equal_the_per_row_hooks(params):
    model, params = GammaGammaModel(), np.array(params)
    assert_fused_equals_per_row(model, params, FUSED_DATA, FUSED_WEIGHTS)


@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_gradient_and_hessian_match_finite_differences(params):
    model, params = GammaGammaModel(), np.array(params)
    _, grad = model._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    hessian = model._weighted_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    numerical_grad, numerical_hessian = fused_central_differences(model, params, FUSED_DATA, FUSED_WEIGHTS)
    scale = np.abs(numerical_hessian).max()
    assert grad == pytest.approx(numerical_grad, rel=1e-5, abs=1e-3)
    assert hessian == pytest.approx(numerical_hessian, rel=1e-5, abs=1e-7 * scale)
    assert hessian == pytest.approx(hessian.T, rel=1e-15)


def test_fused_evaluation_follows_new_data_not_a_stale_cache():
    model, params = GammaGammaModel(), np.array([6.25, 3.74, 15.44])
    first = model._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    shifted = {"x": FUSED_DATA["x"][::-1].copy(), "m": FUSED_DATA["m"] * 2.0}
    second = model._weighted_log_likelihood_and_gradient(params, shifted, FUSED_WEIGHTS)
    assert second[0] != pytest.approx(first[0], rel=1e-6)
    assert second[0] == pytest.approx(FUSED_WEIGHTS @ model._log_likelihood_terms(params, shifted), rel=1e-12)
    assert second[1] == pytest.approx(FUSED_WEIGHTS @ model._log_likelihood_gradient(params, shifted), rel=1e-10)


def test_fit_equals_the_per_row_hooks_fit_with_differenced_hessian(cdnow_repeat_spend, fitted):
    class PerRow(GammaGammaModel):
        """The base class's separate hooks and central-difference Hessian instead of the fused ones."""

        _weighted_log_likelihood_and_gradient = MaximumLikelihoodModel._weighted_log_likelihood_and_gradient
        _weighted_gradient = MaximumLikelihoodModel._weighted_gradient

        def _weighted_hessian(self, params, data, weights):
            return None

    data = cdnow_repeat_spend
    per_row = PerRow().fit(data["frequency"], data["monetary_value"])
    assert fitted.log_likelihood_ == pytest.approx(per_row.log_likelihood_, rel=1e-12)
    for name in fitted.param_names:
        assert fitted.params_[name] == pytest.approx(per_row.params_[name], rel=1e-6), name
        assert fitted.standard_errors_[name] == pytest.approx(per_row.standard_errors_[name], rel=1e-5), name


def test_large_fit_pilot_start_and_uncompressed_rows_equal_the_plain_compressed_fit():
    from clv.models.base import _PILOT_MIN_ROWS

    class Plain(GammaGammaModel):
        _pilot_fit = False  # L-BFGS-B from the default start only
        _compress_rows = True

    rng = np.random.default_rng(13)
    x, m = simulate(40_000, 4.0, 3.0, 20.0, rng)
    m = np.round(m, 1)  # some customers share (x, m): compressing changes the rows, not the fit
    fast, plain = GammaGammaModel().fit(x, m), Plain().fit(x, m)
    assert fast.n_distinct_ == 40_000 >= _PILOT_MIN_ROWS  # rows fitted as given, from a pilot start
    assert plain.n_distinct_ < 40_000
    for name in fast.param_names:
        assert fast.params_[name] == pytest.approx(plain.params_[name], rel=1e-6), name
        assert fast.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-5), name
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)


@pytest.mark.parametrize("params", FUSED_PARAMS)
def test_fused_value_gradient_and_hessian_equal_the_separate_hooks(params):
    model, params = GammaGammaModel(), np.array(params)
    value, grad, hessian = model._weighted_log_likelihood_gradient_and_hessian(params, FUSED_DATA, FUSED_WEIGHTS)
    separate = model._weighted_log_likelihood_and_gradient(params, FUSED_DATA, FUSED_WEIGHTS)
    assert value == pytest.approx(separate[0], rel=1e-14)
    assert grad == pytest.approx(separate[1], rel=1e-14)
    assert hessian == pytest.approx(hessian.T, rel=1e-15)
