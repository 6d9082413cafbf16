"""The extended Pareto/NBD with time-varying covariates (Bachmann, Meierer & Naef 2021; CLVTools pnbd dyncov).

A mode of ParetoNBDModel: fit(..., covariates=PeriodPaths). Checked against the
static-covariate and the plain Pareto/NBD (the special cases), by finite
differences, and by recovery of a known seasonal effect over seeds. The
contract checks of tests/test_model_contract.py that apply to this mode are
repeated at the end (the contract suite fits on histories alone).
"""

import numpy as np
import pandas as pd
import pytest

from clv.errors import DataError, FitError, NotFittedError
from clv.models import paretonbd_covariates as static
from clv.models import paretonbd_dynamic as dynamic
from clv.models.paretonbd import ParetoNBDModel, _row_log_likelihood, _with_pair_index
from clv.summary.dynamic_covariates import PeriodPaths, paths_from_calendar

PERIOD = 4.0  # weeks per period
N_PERIODS = 26


def calendar_values(n, rng, member=None):
    """(n, P, 2): a seasonal wave common to everyone, and a customer attribute constant in time."""
    season = np.sin(2 * np.pi * np.arange(N_PERIODS + 6) / 13.0)
    member = rng.integers(0, 2, n) if member is None else member
    values = np.empty((n, N_PERIODS + 6, 2))
    values[:, :, 0] = season[None, :]
    values[:, :, 1] = member[:, None]
    return values


def simulate(params, first, T, boundaries, values, rng):
    """Extended Pareto/NBD histories: Poisson purchases at lambda a(u), dropout at hazard mu c(u), per period."""
    k = values.shape[2]
    r, alpha, s, beta = params[:4]
    n, P = first.shape[0], boundaries.shape[0] - 1
    start = np.clip(boundaries[None, :-1] - first[:, None], 0.0, T[:, None])
    length = np.clip(boundaries[None, 1:] - first[:, None], 0.0, T[:, None]) - start
    a = np.exp(values[:, :P] @ params[4:4 + k])
    c = np.exp(values[:, :P] @ params[4 + k:])
    rate, dropout = rng.gamma(r, 1.0 / alpha, n), rng.gamma(s, 1.0 / beta, n)
    c_len = c * length
    c_start = np.cumsum(c_len, axis=1) - c_len
    target = rng.exponential(1.0, n) / dropout  # death when C(u) reaches it
    alive = np.clip((target[:, None] - c_start) / c, 0.0, length)
    counts = rng.poisson(rate[:, None] * a * alive)
    x = counts.sum(axis=1).astype(float)
    rows = np.arange(n)
    last = P - 1 - np.argmax(counts[:, ::-1] > 0, axis=1)
    in_last = counts[rows, last]
    t_x = np.where(x > 0, start[rows, last] + alive[rows, last] * rng.random(n) ** (1.0 / np.maximum(in_last, 1)), 0.0)
    return x, t_x, counts


def dataset(params, n, seed, values=None):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 20, n) + rng.random(n).round(1)  # weeks since the calendar origin
    boundaries = PERIOD * np.arange(N_PERIODS + 1)
    T = boundaries[-1] - first
    values = calendar_values(n, rng) if values is None else values
    x, t_x, counts = simulate(params, first, T, boundaries, values, rng)
    paths = paths_from_calendar(first, T, boundaries, values[:, :N_PERIODS], counts, ("season", "member"),
                                future_length=np.full(6, PERIOD), future_values=values[:, N_PERIODS:])
    return x, t_x, T, paths


TRUTH = np.array([0.9, 6.0, 0.8, 20.0, 0.6, 0.4, -0.5, 0.3])


@pytest.fixture(scope="module")
def data():
    return dataset(TRUTH, 1200, 11)


@pytest.fixture(scope="module")
def fitted(data):
    x, t_x, T, paths = data
    return ParetoNBDModel().fit(x, t_x, T, covariates=paths)


# ----- likelihood -------------------------------------------------------------
def test_zero_coefficients_give_the_plain_pareto_nbd(data):
    x, t_x, T, paths = data
    params = np.array([0.9, 6.0, 0.8, 20.0, 0.0, 0.0, 0.0, 0.0])
    terms, grad = dynamic.log_likelihood_and_gradient(params, x, t_x, T, paths)
    plain, plain_grad = _row_log_likelihood(params[:4], _with_pair_index({"x": x, "t_x": t_x, "T": T}))
    np.testing.assert_allclose(terms, plain, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad[:, :4], plain_grad, rtol=1e-9, atol=1e-10)


def test_constant_covariates_give_the_static_model(data):
    x, t_x, T, paths = data
    rng = np.random.default_rng(5)
    constant = np.repeat(rng.normal(size=(x.shape[0], 1, 2)), N_PERIODS, axis=1)
    counts_paths = PeriodPaths(start=paths.start, length=paths.length, values=constant,
                               purchase_sums=x[:, None] * constant[:, 0, :], names=("u", "v"))
    terms, _ = dynamic.log_likelihood_and_gradient(TRUTH, x, t_x, T, counts_paths)
    rows = static.with_triple_index({"x": x, "t_x": t_x, "T": T, "cov0": constant[:, 0, 0], "cov1": constant[:, 0, 1]}, 2)
    np.testing.assert_allclose(terms, static.row_terms(TRUTH, rows), rtol=1e-11)


@pytest.mark.parametrize("params", [TRUTH, np.array([2.0, 1.0, 0.3, 60.0, -1.0, 0.5, 1.0, -0.8])])
def test_gradient_matches_finite_differences(data, params):
    x, t_x, T, paths = data
    sub = np.arange(600)
    x, t_x, T, paths = x[sub], t_x[sub], T[sub], paths.rows(sub)
    grad = dynamic.log_likelihood_and_gradient(params, x, t_x, T, paths)[1].sum(axis=0)
    for j in range(params.shape[0]):
        step = 1e-6 * max(1.0, abs(params[j]))
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        numeric = (dynamic.log_likelihood_and_gradient(up, x, t_x, T, paths)[0].sum()
                   - dynamic.log_likelihood_and_gradient(down, x, t_x, T, paths)[0].sum()) / (2 * step)
        assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-4 * max(1.0, np.abs(grad).max()))


# ----- fit --------------------------------------------------------------------
def test_fit_with_constant_paths_equals_the_static_fit():
    rng = np.random.default_rng(3)
    member = rng.integers(0, 2, 2000)
    values = calendar_values(2000, rng, member)
    values[:, :, 0] = 0.0  # no season: the member flag is a static covariate
    x, t_x, T, paths = dataset(np.array([0.9, 6.0, 0.8, 20.0, 0.0, 0.4, 0.0, 0.3]), 2000, 3, values)
    one = PeriodPaths(start=paths.start, length=paths.length, values=paths.values[:, :, 1:],
                      purchase_sums=paths.purchase_sums[:, 1:], names=("member",))
    extended = ParetoNBDModel().fit(x, t_x, T, covariates=one)
    plain_static = ParetoNBDModel().fit(x, t_x, T, covariates=pd.DataFrame({"member": member.astype(float)}))
    assert extended.log_likelihood_ == pytest.approx(plain_static.log_likelihood_, rel=1e-10)
    for name, value in plain_static.params_.items():
        assert extended.params_[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
        assert extended.standard_errors_[name] == pytest.approx(plain_static.standard_errors_[name], rel=1e-3), name


def test_recovers_a_seasonal_effect_within_two_standard_errors_over_seeds():
    inside, total = 0, 0
    for seed in range(10):
        x, t_x, T, paths = dataset(TRUTH, 500, 200 + seed)
        model = ParetoNBDModel().fit(x, t_x, T, covariates=paths)
        for j, name in enumerate(model.param_names[4:], start=4):
            inside += abs(model.params_[name] - TRUTH[j]) <= 2 * model.standard_errors_[name]
            total += 1
    assert inside / total >= 0.9


# ----- predictions -------------------------------------------------------------
def test_predictions_reduce_to_the_plain_model_with_zero_coefficients(fitted, data):
    x, t_x, T, paths = data
    zero = dict(fitted.params_, **{n: 0.0 for n in fitted.param_names[4:]})
    model = ParetoNBDModel.from_dict({**fitted.to_dict(), "params": zero})
    plain = ParetoNBDModel()
    plain.params_ = {n: zero[n] for n in ("r", "alpha", "s", "beta")}
    rows = np.arange(40)
    sub = paths.rows(rows)
    np.testing.assert_allclose(model.probability_alive(x[rows], t_x[rows], T[rows], covariates=sub),
                               plain.probability_alive(x[rows], t_x[rows], T[rows]), rtol=1e-10)
    np.testing.assert_allclose(model.expected_purchases(10.0, x[rows], t_x[rows], T[rows], covariates=sub),
                               plain.expected_purchases(10.0, x[rows], t_x[rows], T[rows]), rtol=1e-10)


def test_expected_purchases_follow_the_future_covariates(fitted, data):
    """A future season with a higher purchase multiplier gives more expected purchases; the total over the
    window is the sum of its parts; the paths must cover the horizon."""
    x, t_x, T, paths = data
    rows = np.arange(30)
    sub = paths.rows(rows)
    whole = fitted.expected_purchases(24.0, x[rows], t_x[rows], T[rows], covariates=sub)
    high = dict(sub.__dict__)
    high["future_values"] = sub.future_values.copy()
    high["future_values"][:, :, 0] = 1.0
    low = dict(high, future_values=high["future_values"].copy())
    low["future_values"][:, :, 0] = -1.0
    more = fitted.expected_purchases(24.0, x[rows], t_x[rows], T[rows], covariates=PeriodPaths(**high))
    less = fitted.expected_purchases(24.0, x[rows], t_x[rows], T[rows], covariates=PeriodPaths(**low))
    assert np.all(more > less) and np.all(whole > 0)
    assert np.all(fitted.expected_purchases(6.0, x[rows], t_x[rows], T[rows], covariates=sub) < whole)
    with pytest.raises(DataError, match=r"covers only 24 time units .*Fix: add the future periods"):
        fitted.expected_purchases(30.0, x[rows], t_x[rows], T[rows], covariates=sub)


def test_constant_covariates_predict_as_the_static_model():
    rng = np.random.default_rng(8)
    member = rng.integers(0, 2, 1500)
    values = calendar_values(1500, rng, member)
    x, t_x, T, paths = dataset(np.array([0.9, 6.0, 0.8, 20.0, 0.0, 0.4, 0.0, 0.3]), 1500, 8, values)
    one = PeriodPaths(start=paths.start, length=paths.length, values=paths.values[:, :, 1:],
                      purchase_sums=paths.purchase_sums[:, 1:], names=("member",),
                      future_length=paths.future_length, future_values=paths.future_values[:, :, 1:])
    extended = ParetoNBDModel().fit(x, t_x, T, covariates=one)
    plain_static = ParetoNBDModel()
    plain_static.fit(x, t_x, T, covariates=pd.DataFrame({"member": member.astype(float)}))
    plain_static.params_ = dict(extended.params_)  # same parameters, two routes
    frame = pd.DataFrame({"member": member.astype(float)})
    np.testing.assert_allclose(extended.probability_alive(x, t_x, T, covariates=one),
                               plain_static.probability_alive(x, t_x, T, covariates=frame), rtol=1e-10)
    np.testing.assert_allclose(extended.expected_purchases(20.0, x, t_x, T, covariates=one),
                               plain_static.expected_purchases(20.0, x, t_x, T, covariates=frame), rtol=1e-10)


def test_predictions_without_paths_or_over_the_whole_lifetime_are_refused(fitted, data):
    x, t_x, T, paths = data
    with pytest.raises(DataError, match="pass covariates= as their per-period paths"):
        fitted.probability_alive(x[:3], t_x[:3], T[:3])
    with pytest.raises(DataError, match="whole remaining lifetime"):
        fitted.discounted_residual_purchases(x[:3], t_x[:3], T[:3], discount_rate=0.1, time_unit="week")
    with pytest.raises(DataError, match="whole remaining lifetime"):
        fitted.expected_purchases_new(10.0)
    with pytest.raises(DataError, match="covariate paths cover 1200 customers for 3 histories"):
        fitted.probability_alive(x[:3], t_x[:3], T[:3], covariates=paths)


# ----- the contract checks that apply to this mode ----------------------------
def test_contract_fitted_state_round_trip_and_all_or_nothing(fitted, data, tmp_path):
    x, t_x, T, paths = data
    assert fitted.param_names == ("r", "alpha", "s", "beta", "trans[season]", "trans[member]",
                                  "life[season]", "life[member]")
    assert set(fitted.standard_errors_) == set(fitted.param_names) and fitted.n_ == len(x)
    summary = fitted.summary()
    assert list(summary.table.index) == list(fitted.param_names)
    loaded = ParetoNBDModel.from_json(fitted.to_json(tmp_path / "dyn.json"))
    sub = paths.rows(np.arange(10))
    np.testing.assert_array_equal(loaded.probability_alive(x[:10], t_x[:10], T[:10], covariates=sub),
                                  fitted.probability_alive(x[:10], t_x[:10], T[:10], covariates=sub))
    draws = fitted.sample_params(50, seed=1)
    assert draws.shape == (50, 8) and np.all(draws[:, :4] > 0)
    # a failing fit leaves the model as it was
    before = dict(loaded.params_)
    with pytest.raises(DataError):
        loaded.fit(x, t_x, T, covariates=paths.rows(np.arange(5)))
    assert loaded.params_ == before
    with pytest.raises(NotFittedError):
        ParetoNBDModel().probability_alive(x[:2], t_x[:2], T[:2], covariates=paths.rows(np.arange(2)))
    with pytest.raises(FitError):
        ParetoNBDModel().fit(np.zeros(5), np.zeros(5), T[:5], covariates=paths.rows(np.arange(5)))


# ----- the loader (clv.summary.dynamic_covariates.dynamic_covariate_paths) on the apparel data -----
@pytest.fixture(scope="module")
def apparel():
    from pathlib import Path

    from clv.summary import summarize

    folder = Path(__file__).parent / "data"
    lines = pd.read_csv(folder / "apparelTrans.csv", parse_dates=["Date"])
    orders = pd.DataFrame({"customer_id": lines["Id"], "order_ts": lines["Date"], "amount": lines["Price"]})
    end = lines["Date"].min() + pd.Timedelta(weeks=104)
    data = summarize(orders[orders["order_ts"] <= end], observation_end=end.date(), time_unit="week")
    weeks = pd.date_range(lines["Date"].min(), periods=130, freq="7D")
    return data, orders, pd.read_csv(folder / "apparelStaticCov.csv"), weeks


def test_loader_with_constant_per_customer_rows_gives_the_static_fit(apparel):
    from clv.summary.dynamic_covariates import dynamic_covariate_paths

    data, orders, static_table, weeks = apparel
    table = static_table.rename(columns={"Id": "customer_id"}).merge(pd.DataFrame({"period_start": weeks}), how="cross")
    paths = dynamic_covariate_paths(data, orders, table, ["Gender", "Channel"])
    assert paths.start.shape == (600, 1)  # 104 weekly periods with the same values: one segment
    assert paths.future_length.sum() == pytest.approx(26.0)
    np.testing.assert_array_equal(paths.purchase_sums[:, 0], data.table["frequency"] * data.table.merge(
        static_table, left_on="customer_id", right_on="Id")["Gender"])
    columns = (data.table["frequency"], data.table["recency"], data.table["T"])
    extended = ParetoNBDModel().fit(*columns, covariates=paths)
    covariates = data.table[["customer_id"]].merge(static_table, left_on="customer_id", right_on="Id")[["Gender", "Channel"]]
    static_fit = ParetoNBDModel().fit(*columns, covariates=covariates)
    assert extended.log_likelihood_ == pytest.approx(static_fit.log_likelihood_, rel=1e-12)
    for name, value in static_fit.params_.items():
        assert extended.params_[name] == pytest.approx(value, rel=1e-6, abs=1e-8), name


def test_loader_with_a_calendar_wide_season(apparel):
    """Q4 (October-December) weeks as a calendar-wide covariate: purchases are more frequent in Q4."""
    from clv.summary.dynamic_covariates import dynamic_covariate_paths

    data, orders, _, weeks = apparel
    calendar = pd.DataFrame({"period_start": weeks, "q4": (weeks.month >= 10).astype(int)})
    paths = dynamic_covariate_paths(data, orders, calendar, id_column=None)
    assert paths.values.shape[0] == 1 and paths.start.shape[1] == 4  # Q4 2005, Q4 2006 and the weeks between
    model = ParetoNBDModel().fit(data.table["frequency"], data.table["recency"], data.table["T"], covariates=paths)
    assert model.params_["trans[q4]"] - 2 * model.standard_errors_["trans[q4]"] > 0
    forecast = model.expected_purchases(26.0, data.table["frequency"], data.table["recency"], data.table["T"],
                                        covariates=paths)
    assert forecast.shape == (600,) and np.all(forecast >= 0)


def test_loader_errors_name_the_column_the_customers_and_the_fix(apparel):
    from clv.summary.dynamic_covariates import dynamic_covariate_paths

    data, orders, static_table, weeks = apparel
    table = static_table.rename(columns={"Id": "customer_id"}).merge(pd.DataFrame({"period_start": weeks}), how="cross")
    with pytest.raises(DataError, match=r"no column\(s\) \['Region'\]"):
        dynamic_covariate_paths(data, orders, table, ["Region"])
    holes = table[~((table["customer_id"] == 7) & (table["period_start"] == weeks[30]))]
    with pytest.raises(DataError, match=r"1 customer\(s\) have no covariate row for a period they need \(first: \['7'\]"):
        dynamic_covariate_paths(data, orders, holes, ["Gender", "Channel"])
    text = table.assign(Gender=table["Gender"].map({0: "f", 1: "m"}))
    with pytest.raises(DataError, match=r"covariate column 'Gender' is missing or not numeric.*encode categories"):
        dynamic_covariate_paths(data, orders, text, ["Gender"])
    short = table[table["period_start"] < weeks[50]]
    with pytest.raises(DataError, match="ends before the calibration end"):
        dynamic_covariate_paths(data, orders, short, ["Gender"])
    with pytest.raises(DataError, match="do not match the data's frequency"):
        dynamic_covariate_paths(data, orders.drop(index=orders.index[orders["customer_id"] == 1][-1]), table, ["Gender"])
