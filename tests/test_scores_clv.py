"""Discounted expected purchases and CLV: hand computations, units, discounting, horizons, closed forms."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.models.bgbb import BetaGeoBetaBinomModel
from clv.models.bgnbd import BetaGeoModel
from clv.models.contract import PurchaseCapabilities
from clv.models.gammagamma import GammaGammaModel
from clv.models.mbgnbd import ModifiedBetaGeoModel
from clv.models.paretonbd import ParetoNBDModel
from clv.scores import (
    customer_lifetime_value,
    discounted_expected_purchases,
    forecast_purchases,
    score_customers,
)
from clv.units import DAYS_PER_UNIT, discount_factor

DATA = Path(__file__).parent / "data"


class ConstantRate:
    """Test double: every customer buys at ``rate`` per time unit forever (the no-dropout Poisson limit)."""

    model_name = "test_constant_rate"

    def __init__(self, rate):
        self.rate = rate

    def probability_alive(self, frequency, recency, T):
        return np.ones(np.shape(frequency))

    def expected_purchases(self, t, frequency, recency, T):
        return self.rate * t * np.ones(np.shape(frequency))


class Direct:
    """Wraps a model under a name the factorisation does not know, forcing direct evaluation."""

    model_name = "test_direct"

    def __init__(self, model):
        self.model = model
        self.capabilities = PurchaseCapabilities(discrete_time=model.capabilities.discrete_time)

    def probability_alive(self, *args):
        return self.model.probability_alive(*args)

    def expected_purchases(self, *args):
        return self.model.expected_purchases(*args)


def fitted(cls, **params):
    model = cls()
    model.params_ = dict(params)
    return model


BGNBD_CDNOW = dict(r=0.2426, alpha=4.414, a=0.7929, b=2.426)  # Fader, Hardie & Lee 2005, weeks
PARETO_CDNOW = dict(r=0.5534, alpha=10.5802, s=0.6061, beta=11.6562)  # FHL 2005 "RFM and CLV", weeks
BGBB_DONATIONS = dict(alpha=1.204, beta=0.750, gamma=0.657, delta=2.783)  # Fader, Hardie & Shang 2010, years


@pytest.fixture(scope="module")
def cdnow():
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


def test_month_is_365_25_over_12_days_and_rate_is_annual():
    assert DAYS_PER_UNIT["month"] == pytest.approx(30.4375)
    assert discount_factor(12, 0.10, "month") == pytest.approx(1 / 1.1)
    assert discount_factor(365.25, 0.10, "day") == pytest.approx(1 / 1.1)
    assert discount_factor(365.25 / 7, 0.10, "week") == pytest.approx(1 / 1.1)


def test_constant_rate_clv_matches_hand_computation():
    # 3 purchases a month, 2 monthly steps, each discounted at its end: 3 (1.1^-1/12 + 1.1^-2/12).
    model = ConstantRate(3.0)
    clv = customer_lifetime_value(model, None, [1], [1.0], [5.0], [50.0], horizon=2, time_unit="month",
                                  discount_rate=0.10, margin=0.3)
    assert clv[0] == pytest.approx(0.3 * 50 * 3 * (1.1 ** (-1 / 12) + 1.1 ** (-2 / 12)), rel=1e-12)


def test_partial_last_step_is_discounted_at_the_horizon():
    # 10 weeks with monthly steps (30.4375/7 = 4.348 weeks): steps end at 4.348, 8.696, 10.
    step = 30.4375 / 7
    ends = [step, 2 * step, 10.0]
    hand = sum(1.0 * (t1 - t0) * 1.1 ** (-t1 * 7 / 365.25) for t0, t1 in zip([0.0] + ends[:-1], ends))
    det = discounted_expected_purchases(ConstantRate(1.0), [0], [0], [3.0], horizon=10, time_unit="week")
    assert det[0] == pytest.approx(hand, rel=1e-12)


def test_same_answer_in_days_weeks_and_months():
    per_month = 2.0
    args = ([2], [3.0], [9.0])
    by_month = discounted_expected_purchases(ConstantRate(per_month), *args, horizon=12, time_unit="month")
    by_day = discounted_expected_purchases(ConstantRate(per_month / 30.4375), *args, horizon=365.25, time_unit="day")
    by_week = discounted_expected_purchases(ConstantRate(per_month * 7 / 30.4375), *args, horizon=365.25 / 7, time_unit="week")
    assert by_day[0] == pytest.approx(by_month[0], rel=1e-12)
    assert by_week[0] == pytest.approx(by_month[0], rel=1e-12)


def test_bgnbd_without_dropout_tends_to_the_constant_rate_case():
    # r, alpha -> infinity with r/alpha = 0.5 fixes every rate at 0.5; a -> 0 with b large: no dropout.
    model = fitted(BetaGeoModel, r=1e6, alpha=2e6, a=1e-3, b=1e4)
    args = ([2], [20.0], [30.0])
    limit = discounted_expected_purchases(ConstantRate(0.5), *args, horizon=52, time_unit="week")
    det = discounted_expected_purchases(model, *args, horizon=52, time_unit="week")
    assert det[0] == pytest.approx(limit[0], rel=1e-3)


def test_zero_rate_gives_expected_purchases_and_positive_rate_less(cdnow):
    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    x, t_x, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    undiscounted = forecast_purchases(model, x, t_x, T, horizon=52, time_unit="week", discount_rate=0.0)
    np.testing.assert_allclose(undiscounted.discounted, undiscounted.expected, rtol=1e-12)
    np.testing.assert_allclose(undiscounted.expected, model.expected_purchases(52, x, t_x, T), rtol=1e-10)
    at_10 = discounted_expected_purchases(model, x, t_x, T, horizon=52, time_unit="week", discount_rate=0.10)
    at_20 = discounted_expected_purchases(model, x, t_x, T, horizon=52, time_unit="week", discount_rate=0.20)
    assert np.all(at_10 < undiscounted.expected) and np.all(at_20 < at_10)
    assert np.all(at_10 > undiscounted.expected / 1.1)  # nothing is discounted by more than a full year


@pytest.mark.parametrize("model", [fitted(BetaGeoModel, **BGNBD_CDNOW), fitted(ModifiedBetaGeoModel, **BGNBD_CDNOW),
                                   fitted(ParetoNBDModel, **PARETO_CDNOW)])
def test_factorised_evaluation_equals_direct(model, cdnow):
    x, t_x, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    fast = forecast_purchases(model, x, t_x, T, horizon=39, time_unit="week")
    slow = forecast_purchases(Direct(model), x, t_x, T, horizon=39, time_unit="week")
    np.testing.assert_allclose(fast.expected, slow.expected, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(fast.discounted, slow.discounted, rtol=1e-9, atol=1e-300)


def test_factorised_evaluation_equals_direct_bgbb():
    donations = pd.read_csv(DATA / "donations.csv")
    model = fitted(BetaGeoBetaBinomModel, **BGBB_DONATIONS)
    args = (donations["frequency"], donations["recency"], donations["periods"])
    fast = forecast_purchases(model, *args, horizon=5, time_unit="year")
    slow = forecast_purchases(Direct(model), *args, horizon=5, time_unit="year")
    np.testing.assert_allclose(fast.discounted, slow.discounted, rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(h1=st.floats(0.5, 200), extra=st.floats(0.0, 200), rate=st.floats(0.0, 0.5))
def test_longer_horizon_never_lowers_clv(h1, extra, rate):
    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    x, t_x, T = [0, 1, 5, 40], [0.0, 2.0, 30.0, 38.0], [10.0, 38.0, 38.0, 38.5]
    kwargs = dict(time_unit="week", discount_rate=rate, margin=0.4)
    short = customer_lifetime_value(model, None, x, t_x, T, [20.0] * 4, horizon=h1, **kwargs)
    long = customer_lifetime_value(model, None, x, t_x, T, [20.0] * 4, horizon=h1 + extra, **kwargs)
    assert np.all(long >= short * (1 - 1e-12))


def test_lifetime_sum_converges_to_pareto_dert():
    model = fitted(ParetoNBDModel, **PARETO_CDNOW)
    x, t_x, T = [0, 2, 7], [0.0, 30.4, 35.0], [38.9, 38.9, 38.9]
    kwargs = dict(horizon=None, time_unit="week", discount_rate=0.15)
    dert = discounted_expected_purchases(model, x, t_x, T, **kwargs)
    weekly = discounted_expected_purchases(model, x, t_x, T, discount_step=1.0, use_closed_form=False, **kwargs)
    half = discounted_expected_purchases(model, x, t_x, T, discount_step=0.5, use_closed_form=False, **kwargs)
    # Step-end discounting errs by ~ delta * step / 2 relative (delta = ln 1.15 / 52.18 per week).
    delta = math.log(1.15) * 7 / 365.25
    np.testing.assert_allclose(weekly, dert * (1 - delta / 2), rtol=2e-4)
    assert np.all(np.abs(half - dert) < np.abs(weekly - dert))
    np.testing.assert_allclose(2 * half - weekly, dert, rtol=1e-5)  # Richardson: the O(step) error cancels


def test_lifetime_sum_equals_bgbb_dert():
    model = fitted(BetaGeoBetaBinomModel, **BGBB_DONATIONS)
    x, t_x, n = [0, 3, 6, 2], [0, 4, 6, 6], [6, 6, 6, 6]
    kwargs = dict(horizon=None, time_unit="year", discount_rate=0.10)
    dert = discounted_expected_purchases(model, x, t_x, n, **kwargs)
    summed = discounted_expected_purchases(model, x, t_x, n, use_closed_form=False, **kwargs)
    np.testing.assert_allclose(summed, dert, rtol=1e-5)


def test_lifetime_needs_a_positive_rate():
    with pytest.raises(DataError, match="discount_rate > 0"):
        discounted_expected_purchases(fitted(BetaGeoModel, **BGNBD_CDNOW), [1], [1.0], [2.0], horizon=None,
                                      time_unit="week", discount_rate=0.0)


def test_bad_options_name_the_fix():
    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    with pytest.raises(DataError, match="time_unit"):
        discounted_expected_purchases(model, [1], [1.0], [2.0], horizon=4, time_unit="fortnight")
    with pytest.raises(DataError, match="horizon"):
        discounted_expected_purchases(model, [1], [1.0], [2.0], horizon=-1, time_unit="week")
    with pytest.raises(DataError, match="recency"):
        discounted_expected_purchases(model, [1], [3.0], [2.0], horizon=4, time_unit="week")
    with pytest.raises(DataError, match="margin"):
        customer_lifetime_value(model, None, [1], [1.0], [2.0], [5.0], horizon=4, time_unit="week", margin=float("nan"))


def test_score_customers_columns_and_clv(cdnow):
    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    spend = fitted(GammaGammaModel, p=6.25, q=3.74, gamma=15.44)  # FHL 2005 "RFM and CLV" CDNOW spend
    summary = cdnow.rename(columns={"ID": "customer_id"}).assign(
        monetary_value=np.where(cdnow["frequency"] > 0, 20 + cdnow["recency"], np.nan))
    scores = score_customers(summary, model, spend, horizon=52, time_unit="week", margin=0.3, intervals=None)
    assert list(scores.columns) == ["customer_id", "p_alive", "expected_purchases", "expected_spend", "clv"]
    assert scores["customer_id"].tolist() == summary["customer_id"].tolist()
    direct = customer_lifetime_value(model, spend, summary["frequency"], summary["recency"], summary["T"],
                                     summary["monetary_value"], horizon=52, time_unit="week", margin=0.3)
    np.testing.assert_allclose(scores["clv"], direct, rtol=1e-12)
    np.testing.assert_allclose(scores["expected_spend"],
                               spend.expected_spend(summary["frequency"], summary["monetary_value"]), rtol=1e-12)
    np.testing.assert_allclose(scores["p_alive"], model.probability_alive(summary["frequency"], summary["recency"], summary["T"]))
    assert scores.time_unit == "week"


def test_one_time_buyers_need_a_value_without_a_spend_model():
    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    summary = pd.DataFrame({"frequency": [0, 2], "recency": [0.0, 3.0], "T": [5.0, 5.0], "monetary_value": [np.nan, 10.0]})
    with pytest.raises(DataError, match="monetary_value"):
        score_customers(summary, model, horizon=10, time_unit="week", intervals=None)


def test_summary_without_money_gives_purchases_only():
    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    summary = pd.DataFrame({"frequency": [0, 2], "recency": [0.0, 3.0], "T": [5.0, 5.0]})
    scores = score_customers(summary, model, horizon=10, time_unit="week", intervals=None)
    assert list(scores.columns) == ["customer_id", "p_alive", "expected_purchases"]


def test_zero_value_repeat_buyer_is_scored_not_refused():
    from clv.models.gammagamma import GammaGammaModel

    model = fitted(BetaGeoModel, **BGNBD_CDNOW)
    spend = GammaGammaModel()
    spend.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    summary = pd.DataFrame({"frequency": [2, 2], "recency": [3.0, 3.0], "T": [5.0, 5.0], "monetary_value": [0.0, 10.0]})
    with pytest.warns(UserWarning, match="no usable parameter covariance"):  # set by hand: no fit, no covariance
        scores = score_customers(summary, model, spend, horizon=10, time_unit="week", intervals=(0.8,), n_draws=50)
    assert np.all(np.isfinite(scores["clv"])) and scores["clv"].iloc[0] < scores["clv"].iloc[1]
    assert scores["expected_spend"].iloc[0] == pytest.approx(6.25 * 15.44 / (2 * 6.25 + 3.74 - 1))


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_clv_equals_a_direct_per_customer_computation(model_class):
    """Day-unit histories with repeats, Gamma-Gamma spend, monthly steps: CLV from every customer's own path."""
    rng = np.random.default_rng(6)
    n = 3_000
    T = rng.integers(0, 1100, n).astype(float)
    x = np.where(rng.random(n) < 0.55, 0, rng.geometric(0.3, n)).astype(float)
    x[:5] = [0, 150, 2000, 1, 3]
    t_x = np.where(x > 0, np.floor(T * rng.random(n)), 0.0)
    m = np.where(x > 0, rng.gamma(3.0, 20.0, n), np.nan)
    model = fitted(model_class, r=0.253, alpha=41.64, a=0.806, b=2.54)
    spend = GammaGammaModel()
    spend.params_ = {"p": 5.93, "q": 3.98, "gamma": 30.35}
    rate = 1.01 ** (365.25 / 30) - 1
    clv = customer_lifetime_value(model, spend, x, t_x, T, m, horizon=360.0, time_unit="day",
                                  discount_rate=rate, discount_step=30.0, margin=0.3)
    step_ends = 30.0 * np.arange(1, 13)
    path = np.column_stack([model.expected_purchases(t, x, t_x, T) for t in step_ends])
    det = np.diff(path, axis=1, prepend=0.0) @ (1 + rate) ** (-step_ends / 365.25)
    direct = 0.3 * spend.expected_spend(x, np.where(x > 0, m, 0.0)) * det
    np.testing.assert_allclose(clv, direct, rtol=1e-12, atol=0)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_bgnbd_lifetime_quadrature_equals_the_step_sum(model_class, monkeypatch):
    # horizon=None: BG/NBD-type models use discounted_lifetime_purchases on the reference rows (x, T);
    # use_closed_form=False sums the monthly steps (tolerance tightened so it is the exact sum).
    import clv.scores.lifetime_value as lifetime_value

    model = fitted(model_class, **BGNBD_CDNOW)
    x = [0, 1, 1, 2, 2, 7, 7, 40]
    t_x = [0.0, 2.0, 38.0, 30.4, 10.0, 35.0, 20.0, 38.5]
    T = [38.9, 38.0, 38.0, 38.9, 38.9, 38.9, 38.9, 38.9]
    kwargs = dict(horizon=None, time_unit="week", discount_rate=0.5, margin=0.3)
    money = [0.0, 10.0, 10.0, 25.0, 25.0, 7.5, 7.5, 40.0]
    quadrature = customer_lifetime_value(model, None, x, t_x, T, money, **kwargs)
    monkeypatch.setattr(lifetime_value, "LIFETIME_RTOL", 1e-12)
    summed = customer_lifetime_value(model, None, x, t_x, T, money, use_closed_form=False, **kwargs)
    np.testing.assert_allclose(quadrature, summed, rtol=1e-9, atol=0)
    assert quadrature[2] > quadrature[1] and quadrature[3] > quadrature[4]  # a recent last purchase is worth more
    det = discounted_expected_purchases(model, x, t_x, T, **{k: v for k, v in kwargs.items() if k != "margin"})
    np.testing.assert_allclose(quadrature, 0.3 * np.array(money) * det, rtol=1e-13)


@pytest.mark.parametrize("model", [fitted(BetaGeoModel, **BGNBD_CDNOW), fitted(ParetoNBDModel, **PARETO_CDNOW)],
                         ids=["bgnbd", "pareto"])
@pytest.mark.parametrize("lifetime", [None, float("inf")])
def test_score_customers_over_the_whole_lifetime_equals_the_lifetime_value(model, lifetime):
    summary = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "frequency": [0, 2, 2, 7],
                            "recency": [0.0, 10.0, 30.0, 35.0], "T": [38.0, 38.0, 38.0, 39.0],
                            "monetary_value": [0.0, 20.0, 20.0, 45.0]})
    scores = score_customers(summary, model, None, horizon=lifetime, time_unit="week", discount_rate=0.12,
                             margin=0.3, intervals=None)
    expected = customer_lifetime_value(model, None, summary["frequency"], summary["recency"], summary["T"],
                                       summary["monetary_value"], horizon=None, time_unit="week",
                                       discount_rate=0.12, margin=0.3)
    assert list(scores.columns) == ["customer_id", "p_alive", "discounted_purchases", "expected_spend", "clv"]
    np.testing.assert_allclose(scores["clv"], expected, rtol=1e-12)
    np.testing.assert_allclose(scores["clv"], 0.3 * scores["expected_spend"] * scores["discounted_purchases"], rtol=1e-12)
    assert scores["clv"].iloc[2] > scores["clv"].iloc[1]  # same x and T: the later last purchase is worth more


def test_whole_lifetime_scores_refuse_intervals():
    summary = pd.DataFrame({"frequency": [1], "recency": [3.0], "T": [10.0], "monetary_value": [5.0]})
    with pytest.raises(DataError, match="intervals need a finite horizon"):
        score_customers(summary, fitted(BetaGeoModel, **BGNBD_CDNOW), None, horizon=None, time_unit="week")
