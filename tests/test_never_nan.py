"""Never NaN: every model and the scorer either refuse with a reason and a fix, or return finite, in-range values.

Property tests (hypothesis) over extreme but valid histories: one to three
customers, all identical, frequencies in the thousands, T tiny (1e-3) or huge
(1e4), recency = T, recency 0, frequency 0 for everybody. Every registered
purchase model is covered (``clv.models.model_names("purchase")``: a model
added to the registry is tested without editing this file), and Gamma-Gamma,
and ``score_customers`` with prediction intervals, and the timing and value
curves (``purchase_timing``, ``value_curve``, the closed-form chance of no
purchase and P(alive) at a future date).

Outcome rule (issue 14, item 2): a :class:`clv.errors.ClvError` whose message
gives the reason and the next step, or P(alive) in [0, 1], expected purchases
and quantiles finite and >= 0, lower quantiles <= higher ones. (The mean need
not lie inside a central interval of a count: with P(Y = 0) = 0.95 the 90%
interval is [0, 0] and the mean is positive, so that is not asserted.)
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.errors import ClvError
from clv.models import model_class, model_names
from clv.models.gammagamma import GammaGammaModel
from clv.scores.curves import value_curve
from clv.scores.score import score_customers
from clv.scores.timing import purchase_timing

DATA = Path(__file__).parent / "data"
PURCHASE_MODELS = model_names("purchase")
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FIT_SETTINGS = settings(SETTINGS, max_examples=20)  # a fit per example: fewer, to keep the file near half a minute
# Words that mark the next step in a refusal ("Fix: ...", "use a longer ...", "try ...", "pass ...").
NEXT_STEP_WORDS = ("fix", "use ", "try", "pass ", "check", "refit", "fit ", "score without", "give ", "summarise")
KINDS = ("identical", "heavy", "tiny_T", "huge_T", "recency_is_T", "no_repeat", "mixed")


def assert_refusal_explained(error: ClvError) -> None:
    """The message says what is wrong (it is a sentence, not a bare value) and what to do next."""
    message = str(error)
    assert len(message) > 40, message
    assert any(word in message.lower() for word in NEXT_STEP_WORDS), message


CUSTOMER_COUNTS = st.sampled_from([1, 2, 3, 12])


@st.composite
def extreme_histories(draw, n_customers=CUSTOMER_COUNTS):
    """(frequency, recency, T) of valid but extreme customers, in one time unit."""
    n = draw(n_customers)
    kind = draw(st.sampled_from(KINDS))
    T_scale = {"tiny_T": 1e-3, "huge_T": 1e4}.get(kind, 52.0)
    T = np.array(draw(st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n))) * T_scale
    if kind == "identical":
        T = np.full(n, T[0])
    high = 5000 if kind in ("heavy", "mixed") else 30
    x = np.array(draw(st.lists(st.integers(0, high), min_size=n, max_size=n)), dtype=float)
    if kind == "heavy":
        x = np.maximum(x, 1000.0)
    if kind == "no_repeat":
        x = np.zeros(n)
    if kind == "identical":
        x = np.full(n, x[0])
    share = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    t_x = np.where(x > 0, T * (1.0 if kind in ("recency_is_T", "identical") else share), 0.0)
    return x, t_x, T


def as_discrete(x, t_x, T):
    """The same customers as BG/BB histories: whole opportunities, x <= recency <= n_periods."""
    n = np.clip(np.round(T), 1, 1_000)
    x = np.minimum(np.round(x), n)
    t_x = np.where(x > 0, np.clip(np.round(t_x * n / np.maximum(T, 1e-300)), x, n), 0.0)
    return x, t_x, n


def histories_for(model_cls, x, t_x, T):
    if model_cls.capabilities.discrete_time:
        return as_discrete(x, t_x, T)
    return x, t_x, T


def assert_predictions_valid(model, x, t_x, T) -> None:
    p_alive = model.probability_alive(x, t_x, T)
    assert np.all(np.isfinite(p_alive)) and np.all((p_alive >= 0) & (p_alive <= 1)), p_alive
    for horizon in (1.0, 52.0):
        expected = model.expected_purchases(horizon, x, t_x, T)
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0), expected


def assert_scores_valid(model, x, t_x, T) -> None:
    """score_customers with intervals: refused with an explanation, or every column finite and in range."""
    t_name = "n_periods" if model.capabilities.discrete_time else "T"
    table = pd.DataFrame({"frequency": x, "recency": t_x, t_name: T, "monetary_value": np.full(x.shape, 25.0)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = score_customers(table, model, horizon=4, time_unit="week", intervals=(0.8, 0.95), n_draws=30)
    except ClvError as error:
        assert_refusal_explained(error)
        return
    frame = scores.table if hasattr(scores, "table") else scores
    values = frame.drop(columns="customer_id")
    assert np.all(np.isfinite(values.to_numpy(dtype=float))), values
    assert np.all(values.to_numpy(dtype=float) >= 0), values
    assert np.all(frame["p_alive"] <= 1)
    for prefix in ("purchases_q", "clv_q"):
        names = sorted((c for c in frame.columns if c.startswith(prefix)), key=lambda c: float(c[len(prefix):]))
        for lower, upper in itertools.pairwise(names):
            assert np.all(frame[lower] <= frame[upper]), (lower, upper)


def reference_data(model_cls):
    """A real data set each model fits: CDNOW (weeks), or the donations for a discrete-time model."""
    if model_cls.capabilities.discrete_time:
        donations = pd.read_csv(DATA / "donations.csv")
        return (donations["frequency"], donations["recency"], donations["periods"]), donations["weights"]
    cdnow = pd.read_csv(DATA / "cdnow_customers_summary.csv")
    return (cdnow["frequency"], cdnow["recency"], cdnow["T"]), None


@pytest.fixture(scope="module", params=PURCHASE_MODELS)
def fitted_on_real_data(request):
    model_cls = model_class(request.param)
    columns, weights = reference_data(model_cls)
    return model_cls().fit(*columns, weights=weights)


@pytest.mark.parametrize("name", PURCHASE_MODELS)
@FIT_SETTINGS
@given(histories=extreme_histories(n_customers=st.sampled_from([1, 2, 3, 8])))
def test_fit_on_extreme_histories_refuses_or_predicts_finite(name, histories):
    model_cls = model_class(name)
    x, t_x, T = histories_for(model_cls, *histories)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = model_cls().fit(x, t_x, T)
    except ClvError as error:
        assert_refusal_explained(error)
        return
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values()), model.params_
    assert_predictions_valid(model, x, t_x, T)
    assert_scores_valid(model, x, t_x, T)


@SETTINGS
@given(histories=extreme_histories(n_customers=st.sampled_from([1, 3, 12, 40])))
def test_a_fitted_model_predicts_finite_on_extreme_histories(fitted_on_real_data, histories):
    model = fitted_on_real_data
    x, t_x, T = histories_for(type(model), *histories)
    assert_predictions_valid(model, x, t_x, T)


@SETTINGS
@given(histories=extreme_histories(n_customers=st.sampled_from([1, 3, 12])))
def test_timing_and_value_curves_are_finite_on_extreme_histories(fitted_on_real_data, histories):
    """The chance of no purchase, P(alive) later (closed forms), purchase_timing and value_curve: refused with
    a reason and a fix, or finite, probabilities in [0, 1], quantile days ordered (inf = not within the window)."""
    model = fitted_on_real_data
    x, t_x, T = histories_for(type(model), *histories)
    if model.capabilities.closed_form_timing:
        for t in (1.0, 52.0):
            for values in (model.probability_no_purchase(t, x, t_x, T), model.probability_alive_at(t, x, t_x, T)):
                assert np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1)), values
    t_name = "n_periods" if model.capabilities.discrete_time else "T"
    table = pd.DataFrame({"frequency": x, "recency": t_x, t_name: T, "monetary_value": np.full(x.shape, 25.0)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timing = purchase_timing(table, model, time_unit="week", n_draws=60)
            curve = value_curve(table, model, time_unit="week", periods=6)
    except ClvError as error:
        assert_refusal_explained(error)
        return
    numbers = timing.table.select_dtypes("number").drop(columns="customer_id", errors="ignore")
    assert not numbers.isna().any().any(), numbers
    probabilities = numbers[[c for c in numbers.columns if c.startswith("p_")]].to_numpy()
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    days = numbers[sorted((c for c in numbers.columns if c.startswith("next_order_days_q")),
                          key=lambda c: float(c.rsplit("q", 1)[1]))].to_numpy()
    assert np.all(days >= 0) and np.all(days[:, :-1] <= days[:, 1:])
    values = curve.table.drop(columns="customer_id").to_numpy(dtype=float)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)


@pytest.mark.parametrize("name", PURCHASE_MODELS)
def test_the_no_dropout_edge_predicts_finite(name):
    """Parameters at the edge a model's fit can reach when no churn shows (dropout parameters in the
    millions): the predictions stay finite (BG/NBD used to give NaN expected purchases there)."""
    model_cls = model_class(name)
    model = model_cls()
    edge = {"a": 1.4e5, "b": 7.0e8, "s": 2.4e5, "beta": 9.4e7, "gamma": 1.0e5, "delta": 8.0e8}
    model.params_ = {n: edge.get(n, 1.0 if n != "r" else 281.5) for n in model.param_names}
    x, t_x, T = histories_for(model_cls, np.array([5000.0, 5000.0, 0.0, 3.0]), np.array([55.0, 20.0, 0.0, 1e-3]),
                              np.array([55.0, 55.0, 1e-3, 1e4]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_predictions_valid(model, x, t_x, T)


@FIT_SETTINGS
@given(
    n=st.sampled_from([1, 2, 3, 12]),
    frequency=st.integers(1, 5000),
    spread=st.sampled_from([0.0, 1e-9, 0.5, 5.0]),
    level=st.sampled_from([1e-3, 1.0, 25.0, 1e6]),
)
def test_gamma_gamma_refuses_or_predicts_finite(n, frequency, spread, level):
    rng = np.random.default_rng(frequency)
    x = np.full(n, float(frequency))
    m = level * np.exp(spread * rng.standard_normal(n))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GammaGammaModel().fit(x, m)
    except ClvError as error:
        assert_refusal_explained(error)
        return
    spend = model.expected_spend(np.r_[x, 0.0, 5000.0], np.r_[m, 0.0, level])
    assert np.all(np.isfinite(spend)) and np.all(spend >= 0), spend


@SETTINGS
@given(
    a=st.floats(1.05, 60.0), b=st.floats(0.5, 3000.0), x=st.integers(0, 3000), r=st.floats(0.1, 8.0),
    rate=st.floats(1.0, 1000.0), t=st.floats(0.1, 5000.0),
)
def test_bgnbd_quadrature_equals_the_2f1_form_where_both_apply(a, b, x, r, rate, t):
    """The logit-p quadrature that takes over near the no-dropout edge agrees with the Euler-transformed
    2F1 form (FHL 2005, eq. 10) wherever the latter is computed (its power term above e^-100)."""
    from clv.models import bgnbd

    power = (a - 1.0) * np.log(rate / (rate + t))
    if power < bgnbd._POWER_FLOOR:
        return
    shape, beta = r + x, b + x
    closed = bgnbd._given_alive_core(np.array(t), np.array(shape), np.array(rate), a, np.array(beta))
    quadrature = bgnbd._given_alive_by_quadrature(np.array([t]), np.array([shape]), np.array([rate]), np.array([beta]), a)
    assert float(closed) == pytest.approx(quadrature[0], rel=1e-9)


def test_bgnbd_expected_purchases_at_the_no_dropout_edge_tend_to_the_nbd():
    """a, b -> infinity with a/(a+b) -> 0: no dropout, so E[Y(t)] -> P(alive) (r+x) t / (alpha+T) (the NBD)."""
    from clv.models.bgnbd import BetaGeoModel

    model = BetaGeoModel()
    model.params_ = {"r": 281.5, "alpha": 2.96, "a": 1.0e5, "b": 1.0e11}
    x, t_x, T = np.array([5000.0, 3.0]), np.array([55.0, 20.0]), np.array([55.0, 55.0])
    expected = model.expected_purchases(10.0, x, t_x, T)
    nbd = model.probability_alive(x, t_x, T) * (281.5 + x) * 10.0 / (2.96 + T)
    np.testing.assert_allclose(expected, nbd, rtol=1e-3)  # p ~ 1e-6: about 911 p / 2 fewer purchases


def test_unconverged_series_is_nan_not_a_partial_sum():
    from clv.models import bgnbd

    value = bgnbd._series_minus_one(np.array([-1e6]), np.array([1e5]), np.array([1e6]), np.array([0.9]), max_terms=50)
    assert np.isnan(value[0])


def test_scorer_refuses_a_nan_score_with_the_customer_and_a_fix():
    from clv.errors import FitError
    from clv.models.bgnbd import BetaGeoModel
    from clv.scores.score import require_valid_scores

    model = BetaGeoModel()
    model.params_ = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}
    x, t_x, T = np.array([1.0, 5000.0]), np.array([2.0, 38.0]), np.array([38.0, 38.0])
    columns = {"customer_id": np.array(["a", "b"]), "p_alive": np.array([0.5, 0.9]),
               "expected_purchases": np.array([0.1, np.nan])}
    with pytest.raises(FitError, match=r"expected_purchases for 1 of 2 customers \(first: row 1, frequency=5000.*Fix:"):
        require_valid_scores(columns, model, x, t_x, T)
    columns["expected_purchases"] = np.array([0.1, 2.0])
    columns["p_alive"] = np.array([0.5, 1.5])
    with pytest.raises(FitError, match="p_alive"):
        require_valid_scores(columns, model, x, t_x, T)
    columns["p_alive"] = np.array([0.5, 0.9])
    columns.update({"purchases_q0.1": np.array([0.0, 3.0]), "purchases_q0.9": np.array([1.0, 2.0])})
    with pytest.raises(FitError, match="purchases_q0.1 is above purchases_q0.9"):
        require_valid_scores(columns, model, x, t_x, T)


def test_intervals_without_usable_parameter_uncertainty_say_so_in_the_result():
    """A fit whose covariance is singular or so wide that draws overflow: the intervals hold process noise
    only, and the scores state it (not an interval presented as if it had the parameters' uncertainty)."""
    from clv.scores.intervals import covariance_problem, parameter_draws

    columns, _ = reference_data(model_class("bgnbd"))
    model = model_class("bgnbd")().fit(*columns)
    table = pd.DataFrame({"frequency": [0.0, 2.0], "recency": [0.0, 30.0], "T": [38.0, 38.0]})
    usable = score_customers(table, model, horizon=4, time_unit="week", intervals=(0.8,), n_draws=30)
    assert covariance_problem(model) is None and usable.interval_uncertainty == "parameters and process noise"
    for covariance, reason in ((np.full((4, 4), np.nan), "singular"), (np.diag([1.0, 1.0, 1e6, 1e6]), "overflow")):
        model.covariance_theta_ = covariance
        assert reason in covariance_problem(model)
        with pytest.warns(UserWarning, match="process noise only"):
            draws = parameter_draws(model, 20, np.random.default_rng(0))
        assert np.all(draws == model.params)
        with pytest.warns(UserWarning, match="process noise only"):
            scores = score_customers(table, model, horizon=4, time_unit="week", intervals=(0.8,), n_draws=30)
        assert scores.interval_uncertainty.startswith("process noise only") and reason in scores.interval_uncertainty
        assert scores.settings()["interval_uncertainty"] == scores.interval_uncertainty
