"""The model ladder (clv.models.ladder) and the data-sufficiency verdict (clv.models.sufficiency)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError, FitError
from clv.models import BetaGeoModel, ModifiedBetaGeoModel, NBDModel, ParetoNBDModel, load_model
from clv.models import ladder
from clv.models import sufficiency as suff
from clv.models.ladder import FallbackWarning, ModelChoice, fit_purchase_model, likelihood_ratio_test
from clv.models.sufficiency import DataSufficiency, assess_sufficiency

from conftest import DATA, ONLINE_RETAIL_SPLITS


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@pytest.fixture(scope="module")
def cdnow():
    frame = pd.read_csv(DATA / "cdnow_customers_summary.csv")
    return tuple(frame[c].to_numpy(float) for c in ("frequency", "recency", "T"))


# ----- the rule on Online Retail: the same answer whichever optimum, with or without the zero-price lines -----
@pytest.mark.parametrize("end", ONLINE_RETAIL_SPLITS)
@pytest.mark.parametrize("keep_zero", [True, False])
def test_online_retail_bgnbd_falls_back_to_nbd(online_retail_summaries, end, keep_zero):
    """Refused (2011-09-08 with zero-price lines), at the edge (2011-06-30) or interior but not significant (full
    period, a = 0.0034, LR = 0.24): the ladder gives the NBD on every slice."""
    data = online_retail_summaries[end, keep_zero]
    model = fit_purchase_model(data, "bgnbd")
    choice = model.model_choice_
    assert isinstance(model, NBDModel) and model.time_unit_ == "week"
    assert (choice.requested, choice.used, choice.fell_back) == ("bgnbd", "nbd", True)
    assert "NBD" in str(choice) and "BG/NBD" in str(choice)
    assert choice.p_value is None or choice.p_value >= ladder.SIGNIFICANCE
    assert model.sufficiency_.verdict == "sufficient"


@pytest.mark.parametrize("end", ["2011-06-30", None])
def test_online_retail_mbgnbd_falls_back_to_nbd(online_retail_summaries, end):
    for keep_zero in (True, False):
        model = fit_purchase_model(online_retail_summaries[end, keep_zero], "mbgnbd")
        assert model.model_name == "nbd" and model.model_choice_.requested == "mbgnbd"


def test_two_optima_of_equal_likelihood_give_the_same_choice(online_retail_gross_summaries):
    """Full period, refunds left out (clv's summary before refunds were netted): the optimiser finds a = 0.0034
    (interior) from its default start and a -> 0 from an edge start; the likelihoods differ by 0.12, so the
    decision (by likelihood only) is the same."""
    data = online_retail_gross_summaries[None, True]
    nested = NBDModel().fit(data)
    interior = BetaGeoModel().fit(data)
    assert 1e-3 < interior.params_["a"] < 1e-2
    edge_start = {"r": 0.83, "alpha": 9.87, "a": 1e-7, "b": 1e5}
    try:
        edge = BetaGeoModel(initial_params=edge_start, max_iter=5).fit(data)
    except FitError:  # refused: the ladder's first step
        edge = None
    chosen = [ladder._decide("bgnbd", interior, nested, True, data, None)]
    if edge is not None:
        chosen.append(ladder._decide("bgnbd", edge, nested, True, data, None))
    assert {model.model_name for model in chosen} == {"nbd"}


# ----- published estimates stay identical -------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [("bgnbd", BetaGeoModel), ("mbgnbd", ModifiedBetaGeoModel),
                                       ("pareto", ParetoNBDModel)])
def test_cdnow_keeps_the_requested_model_and_its_estimates(cdnow, name, cls):
    model = fit_purchase_model(cdnow, name, time_unit="week")
    assert type(model) is cls and not model.model_choice_.fell_back
    assert model.model_choice_.p_value < 1e-50 and "churn" in model.model_choice_.reason
    assert model.params_ == cls().fit(*cdnow).params_
    assert not ladder.edge_parameters(model)


# ----- fallback=False ----------------------------------------------------------------------------------
def test_no_fallback_keeps_the_fit_with_a_warning(online_retail_gross_summaries):
    data = online_retail_gross_summaries[None, True]  # an interior fit without significant churn
    with pytest.warns(FallbackWarning, match="no significant churn"):
        model = fit_purchase_model(data, "bgnbd", fallback=False)
    assert model.model_name == "bgnbd" and not model.model_choice_.fell_back
    assert "kept as asked" in model.model_choice_.reason and model.model_choice_.fallback is False


def test_no_fallback_raises_the_refusal(online_retail_summaries):
    with pytest.raises(FitError, match="do not identify"):
        fit_purchase_model(online_retail_summaries["2011-09-08", True], "bgnbd", fallback=False)


def test_refused_everywhere_raises_the_requested_models_error():
    with pytest.raises(FitError, match="BetaGeoModel: no customer made a repeat purchase"):
        fit_purchase_model(([0, 0, 0], [0, 0, 0], [4, 5, 6]), "bgnbd")


def test_models_without_a_nested_nbd_are_fitted_as_asked(cdnow):
    model = fit_purchase_model(cdnow, "nbd")
    assert model.model_name == "nbd" and model.model_choice_.reason.startswith("as asked")
    with pytest.raises(DataError, match="not a purchase model"):
        fit_purchase_model(cdnow, "gammagamma")


# ----- persistence and summary -------------------------------------------------------------------------
def test_choice_and_verdict_survive_json_and_show_in_the_summary(online_retail_summaries, cdnow):
    for model in (fit_purchase_model(online_retail_summaries["2011-06-30", True], "bgnbd"),
                  fit_purchase_model(cdnow, "bgnbd", time_unit="week")):
        payload = json.loads(model.to_json())
        assert payload["model_choice"]["requested"] == "bgnbd"
        assert payload["sufficiency"]["verdict"] in suff.VERDICTS
        loaded = load_model(payload)
        assert loaded.model_choice_ == model.model_choice_ and loaded.sufficiency_ == model.sufficiency_
        text = repr(loaded.summary())
        assert str(model.model_choice_) in text and str(model.sufficiency_) in text
        assert loaded.summary().model_choice == model.model_choice_


def test_a_refit_drops_the_previous_choice(cdnow):
    model = fit_purchase_model(cdnow, "bgnbd")
    model.fit(*cdnow)
    assert not hasattr(model, "model_choice_") and not hasattr(model, "sufficiency_")
    assert "model_choice" not in model.to_dict()


# ----- the test -----------------------------------------------------------------------------------------
def test_boundary_likelihood_ratio_test():
    assert likelihood_ratio_test(-100.0, -100.0) == (0.0, 1.0)
    assert likelihood_ratio_test(-100.0, -99.0) == (0.0, 1.0)  # rounding below the nested: LR 0
    statistic, p_value = likelihood_ratio_test(-100.0 + 4.605 / 2, -100.0)
    assert statistic == pytest.approx(4.605) and p_value == pytest.approx(0.05, abs=2e-4)


@settings(max_examples=30, deadline=None)
@given(gain=st.floats(0.0, 50.0))
def test_p_value_falls_as_the_likelihood_gain_grows(gain):
    _, p_small = likelihood_ratio_test(-10.0 + gain, -10.0)
    _, p_large = likelihood_ratio_test(-10.0 + gain + 1.0, -10.0)
    assert 0.0 <= p_large <= p_small <= 1.0


def test_choice_round_trip():
    choice = ModelChoice("pareto", "nbd", "why", -1.0, -1.0, 0.0, 1.0, True)
    assert ModelChoice.from_dict(json.loads(json.dumps(choice.as_dict()))) == choice


# ----- sufficiency ------------------------------------------------------------------------------------
def _histories(n_customers: int, repeat_share: float, T: float, gap: float):
    n_repeat = int(round(n_customers * repeat_share))
    x = np.r_[np.ones(n_repeat), np.zeros(n_customers - n_repeat)]  # repeat buyers: one repeat, ``gap`` after
    t_x = np.where(x > 0, gap, 0.0)
    return x, t_x, np.full(n_customers, T)


class _Fitted:
    """A fitted model's face for assess_sufficiency: parameters with given relative standard errors."""

    model_name = "stub"

    def __init__(self, relative_se: float, time_unit="week"):
        self.params_ = {"r": 1.0}
        self.standard_errors_ = {"r": relative_se}
        width = math.exp(1.96 * relative_se)
        self.confidence_intervals_ = {"r": (1.0 / width, width)}
        self.time_unit_ = time_unit


@pytest.mark.parametrize("n, repeat_share, T, gap, relative_se, verdict", [
    (suff.MIN_CUSTOMERS, 0.5, 40.0, 5.0, 0.1, "sufficient"),
    (suff.MIN_CUSTOMERS - 1, 0.5, 40.0, 5.0, 0.1, "thin"),
    (suff.MIN_CUSTOMERS_ANY - 1, 1.0, 40.0, 5.0, 0.1, "insufficient"),
    (1000, (suff.MIN_REPEAT_BUYERS - 1) / 1000, 40.0, 5.0, 0.1, "thin"),
    (1000, (suff.MIN_REPEAT_BUYERS_ANY - 1) / 1000, 40.0, 5.0, 0.1, "insufficient"),
    (1000, 0.5, 25.0, 5.0, 0.1, "thin"),  # 175 days < 180
    (1000, 0.5, 40.0, 15.0, 0.1, "thin"),  # 40 / 15 < 3 typical gaps
    (1000, 0.5, 40.0, 13.0, 0.1, "sufficient"),
    (1000, 0.5, 40.0, 5.0, suff.MAX_RELATIVE_SE * 1.01, "thin"),
    (1000, 0.5, 40.0, 5.0, 10.0, "insufficient"),  # interval spans e^39: not identified
])
def test_sufficiency_thresholds(n, repeat_share, T, gap, relative_se, verdict):
    x, t_x, T_ = _histories(n, repeat_share, T, gap)
    result = assess_sufficiency((x, t_x, T_), _Fitted(relative_se))
    assert result.verdict == verdict, result.reasons
    assert bool(result.reasons) == (verdict != "sufficient")
    assert result.verdict in str(result)
    assert DataSufficiency.from_dict(json.loads(json.dumps(result.as_dict()))) == result


def test_sufficiency_weights_count_customers():
    x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 10.0]), np.array([40.0, 40.0])
    result = assess_sufficiency((x, t_x, T), _Fitted(0.1), weights=[400, 200])
    assert (result.customers, result.repeat_buyers, result.typical_gap) == (600, 200, 5.0)
    assert result.calibration_in_gaps == pytest.approx(8.0) and result.calibration_days == pytest.approx(280.0)
