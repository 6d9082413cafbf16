"""One contract suite over every registered model (as scikit-learn's check_estimator and lifelines' fitter tests).

Each test takes a registry name; the suite also runs on a toy model registered
here (a never-dropping Poisson purchase process), which proves that a model
added as one class + one registry line is fitted, saved, loaded and scored by
the rest of ``clv`` without any other edit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clv.models as registry
from clv.errors import ClvError, DataError, FitError, NotFittedError
from clv.models import (
    BetaGeoModel,
    ContractualModel,
    PurchaseCapabilities,
    PurchaseModel,
    SpendModel,
    load_model,
    model_class,
    model_names,
)
from clv.models.base import require_customers, validate_rfm
from clv.models.sbg import survival_to_rows
from clv.scores import customer_lifetime_value, score_customers

DATA = Path(__file__).parent / "data"
TOY = "toy_poisson"
REGISTERED = model_names()
FAMILY_BASES = {"purchase": PurchaseModel, "spend": SpendModel, "contractual": ContractualModel}


# ----- a toy model, defined and registered here only ---------------------------------
class ToyPoissonModel(PurchaseModel):
    """Purchases at a constant Poisson rate lambda per time unit, never dropping out.

    MLE with exposure T: lambda = sum(x) / sum(T); se(log lambda) = 1/sqrt(sum x).
    """

    model_name = TOY
    capabilities = PurchaseCapabilities(dropout=False)  # adding a model: declare what it can do, as data

    def fit(self, frequency, recency, T, weights=None):
        x, _, T = validate_rfm(frequency, recency, T)
        require_customers(self, x.shape[0], None)
        if x.sum() == 0:
            raise FitError("ToyPoissonModel: no repeat purchase, the rate is 0.")
        self.params_ = {"rate": float(x.sum() / T.sum())}
        self.log_sd_ = 1.0 / math.sqrt(x.sum())
        return self

    @property
    def params(self):
        self._check_fitted()
        return np.array([self.params_["rate"]])

    def probability_alive(self, frequency, recency, T):
        x, _, _ = validate_rfm(frequency, recency, T)
        self._check_fitted()
        return np.ones_like(x)

    def expected_purchases(self, t, frequency, recency, T):
        return self.params[0] * np.asarray(t, dtype=float) * np.ones(np.broadcast_shapes(np.shape(t), np.shape(frequency)))

    def expected_purchases_new(self, t):
        return self.params[0] * np.asarray(t, dtype=float)

    def sample_params(self, n_draws, seed=None):
        rng = np.random.default_rng(seed)
        return np.exp(np.log(self.params) + self.log_sd_ * rng.standard_normal((n_draws, 1)))

    def sample_future_purchases(self, t, frequency, recency, T, params=None, rng=None):
        rng = np.random.default_rng(rng)
        rate = self.params[0] if params is None else float(np.asarray(params).reshape(-1)[0])
        x = np.asarray(frequency, dtype=float)
        return rng.poisson(rate * np.broadcast_to(np.asarray(t, dtype=float), x.shape)).astype(float)

    def to_dict(self):
        self._check_fitted()
        return {"model": self.model_name, "time_unit": self.time_unit_, "params": self.params_, "log_sd": self.log_sd_}

    @classmethod
    def from_dict(cls, payload):
        model = cls()
        model.params_, model.log_sd_ = dict(payload["params"]), float(payload["log_sd"])
        model._restore_time_unit(payload)
        return model


@pytest.fixture
def toy_registered():
    registry.register_model(TOY, ToyPoissonModel, label="Toy Poisson", family="purchase")
    yield
    registry.unregister_model(TOY)


@pytest.fixture(params=[*REGISTERED, TOY])
def name(request):
    """A registered model's name (the toy registered for its test only)."""
    if request.param == TOY:
        request.getfixturevalue("toy_registered")
    return request.param


# ----- data per family ------------------------------------------------------------------
def _cdnow():
    frame = pd.read_csv(DATA / "cdnow_customers_summary.csv")
    return frame["frequency"].to_numpy(float), frame["recency"].to_numpy(float), frame["T"].to_numpy(float)


def _donations():
    frame = pd.read_csv(DATA / "donations.csv")
    return frame["frequency"].to_numpy(float), frame["recency"].to_numpy(float), frame["periods"].to_numpy(float), frame["weights"].to_numpy(float)


def _spend():
    x, _, _ = _cdnow()
    rng = np.random.default_rng(3)
    x = x[x > 0]
    nu = rng.gamma(4.0, 1.0 / 15.0, x.shape)
    m = rng.gamma(6.0 * x, 1.0) / nu / x
    return x, m


def _subscriptions():
    frame = pd.read_csv(DATA / "sbg_retention_fader_hardie_2007.csv")
    tenure, churned, weights = survival_to_rows(frame["regular"].to_numpy(float)[:8])
    return tenure, churned, weights


def fit_arguments(cls) -> tuple[tuple, dict]:
    """(positional, keyword) arguments of a fit on the family's fixture data."""
    if cls.family == "purchase" and cls.capabilities.discrete_time:
        x, t_x, n, w = _donations()
        return (x, t_x, n), {"weights": w}
    if cls.family == "purchase":
        return _cdnow(), {}
    if cls.family == "spend":
        return _spend(), {}
    tenure, churned, weights = _subscriptions()
    return (tenure, churned), {"weights": weights}


def degenerate_arguments(cls) -> dict[str, tuple]:
    """Inputs every model of a family must refuse, by name: the same error class in every model."""
    if cls.family == "contractual":
        return {"empty": ([], []), "nan": ([1.0, np.nan], [1, 0]), "all zero": ([0, 0, 0], [0, 0, 0])}
    if cls.family == "spend":
        return {"empty": ([], []), "nan": ([1.0, np.nan], [2.0, 3.0]), "all zero": ([0, 0, 0], [0.0, 0.0, 0.0])}
    return {"empty": ([], [], []), "nan": ([1.0, np.nan], [1.0, 2.0], [3.0, 4.0]),
            "all zero": ([0, 0, 0], [0, 0, 0], [4, 4, 4])}


EXPECTED_ERROR = {"empty": DataError, "nan": DataError, "all zero": FitError}


def fitted(name, time_unit="week"):
    cls = model_class(name)
    args, kwargs = fit_arguments(cls)
    return cls().fit(*args, **kwargs, time_unit=time_unit)


def predictions(model) -> np.ndarray:
    """A few of the model's predictions, to compare two models."""
    if model.family == "purchase":
        x, t_x, T = (np.array(v, dtype=float) for v in ([0, 1, 2, 4], [0, 1, 3, 4], [5, 5, 6, 6]))
        return np.concatenate([model.probability_alive(x, t_x, T), model.expected_purchases(3.0, x, t_x, T)])
    if model.family == "spend":
        return np.asarray(model.expected_spend([1, 2, 5], [10.0, 20.0, 30.0]))
    return np.asarray(model.survival([1, 2, 5]))


# ----- the contract ---------------------------------------------------------------------
def test_registry_entries_name_their_class_and_family(name):
    cls = model_class(name)
    assert cls.model_name == name
    assert issubclass(cls, FAMILY_BASES[registry.model_family(name)])
    assert registry.model_label(name)
    assert name in model_names(cls.family)


def test_not_fitted_error_before_fit(name):
    model = model_class(name)()
    assert not model.is_fitted
    with pytest.raises(NotFittedError, match="not fitted"):
        model.to_dict()
    with pytest.raises(ValueError):
        model.to_dict()
    assert not hasattr(model, "params")  # NotFittedError is an AttributeError: hasattr says False
    assert not [k for k in vars(model) if k.endswith("_")]  # no fitted attribute before fit


def test_fit_sets_fitted_state_and_time_unit(name):
    model = fitted(name)
    assert model.is_fitted and model.time_unit_ == "week"
    assert np.all(np.isfinite(predictions(model)))
    args, kwargs = fit_arguments(type(model))
    assert type(model)().fit(*args, **kwargs).time_unit_ is None  # arrays without a unit: unitless
    with pytest.raises(DataError, match="fortnight"):
        type(model)().fit(*args, **kwargs, time_unit="fortnight")


def test_round_trip_keeps_predictions_and_time_unit(name):
    model = fitted(name, time_unit="month")
    payload = json.loads(json.dumps(model.to_dict()))
    assert payload["model"] == name and payload["time_unit"] == "month"
    for loaded in (load_model(payload), load_model(json.dumps(payload)), type(model).from_dict(payload)):
        assert type(loaded) is type(model) and loaded.time_unit_ == "month"
        np.testing.assert_array_equal(predictions(loaded), predictions(model))
    assert not [k for k in type(model)._fit_caches if k in vars(load_model(payload))]


def test_degenerate_input_gets_the_same_error_class_in_every_model(name):
    cls = model_class(name)
    for case, args in degenerate_arguments(cls).items():
        model = cls()
        with pytest.raises(EXPECTED_ERROR[case]) as caught:
            model.fit(*args)
        assert type(caught.value) is EXPECTED_ERROR[case], (case, caught.value)
        assert not model.is_fitted and not vars(model).keys() - vars(cls()).keys(), case


def test_failed_fit_leaves_the_model_as_before(name):
    cls = model_class(name)
    one_customer = {"purchase": ([2], [2], [6]), "spend": ([2], [15.0]), "contractual": ([3], [1])}[cls.family]
    fresh = cls()
    before = dict(vars(fresh))
    try:
        fresh.fit(*one_customer)
    except ClvError:
        assert vars(fresh) == before  # unfitted stays unfitted
    previous = fitted(name)
    state = {k: v for k, v in vars(previous).items()}
    args = degenerate_arguments(cls)["all zero"]
    with pytest.raises(FitError):
        previous.fit(*args, time_unit="day")
    assert vars(previous).keys() == state.keys() and previous.time_unit_ == "week"
    np.testing.assert_array_equal(predictions(previous), predictions(fitted(name)))


def test_refit_owns_its_caches(name):
    """A refit equals a fresh fit on the same data (no cache of the first fit is used), and leaves no cache."""
    cls = model_class(name)
    args, kwargs = fit_arguments(cls)
    other_args = tuple(np.asarray(a)[: max(1, len(np.asarray(a)) * 2 // 3)] for a in args)
    other_kwargs = {k: np.asarray(v)[: len(other_args[0])] for k, v in kwargs.items()}
    refitted = cls().fit(*other_args, **other_kwargs).fit(*args, **kwargs)
    np.testing.assert_allclose(predictions(refitted), predictions(cls().fit(*args, **kwargs)), rtol=1e-9)
    assert not [k for k in cls._fit_caches if k in vars(refitted)]


def test_customer_data_gives_columns_and_unit(name):
    """A customer-data object (``.time_unit``, ``.rfm()``, ``.table``, pandas face) as first argument."""
    cls = model_class(name)
    if cls.family != "purchase" or cls.capabilities.discrete_time:
        pytest.skip("customer data holds (frequency, recency, T) histories")

    class Data:  # the face of clv.summary.CustomerData that fit reads
        time_unit = "week"

        def __init__(self, table):
            self.table = table

        def rfm(self):
            return tuple(self.table[c].to_numpy(float) for c in ("frequency", "recency", "T"))

    table = pd.DataFrame(dict(zip(("frequency", "recency", "T"), _cdnow())))
    model = cls().fit(Data(table))
    assert model.time_unit_ == "week"
    np.testing.assert_array_equal(predictions(model), predictions(fitted(name)))
    with pytest.raises(DataError, match="differs from the customer data's unit"):
        cls().fit(Data(table), time_unit="day")


# ----- purchase models: capabilities agree with the methods ------------------------------
def purchase_names():
    return [n for n in (*REGISTERED, TOY) if n == TOY or registry.model_family(n) == "purchase"]


@pytest.fixture(params=purchase_names())
def purchase_name(request):
    if request.param == TOY:
        request.getfixturevalue("toy_registered")
    return request.param


def _histories(discrete: bool):
    x = np.array([0, 1, 2, 5, 0, 3], dtype=float)
    t_x = np.array([0, 1, 2, 5, 0, 6], dtype=float) if discrete else np.array([0, 3.5, 10.0, 30.0, 0, 38.0])
    T = np.array([6, 6, 6, 6, 3, 6], dtype=float) if discrete else np.array([39.0, 39.0, 39.0, 39.0, 12.0, 39.0])
    return x, t_x, T


def test_capabilities_match_the_methods(purchase_name):
    model = fitted(purchase_name)
    capabilities = model.capabilities
    assert isinstance(capabilities, PurchaseCapabilities)
    assert capabilities.default_interval_method in capabilities.interval_methods
    x, t_x, T = _histories(capabilities.discrete_time)
    overrides = type(model).discounted_residual_purchases is not PurchaseModel.discounted_residual_purchases
    assert capabilities.closed_form_lifetime == overrides
    np.testing.assert_allclose(model.probability_alive_validated(x, t_x, T), model.probability_alive(x, t_x, T))
    if capabilities.closed_form_lifetime:  # the closed form against the scorer's step sum
        common = {"horizon": None, "time_unit": "week", "discount_rate": 0.1, "discount_step": "week"}
        exact = customer_lifetime_value(model, None, x, t_x, T, np.ones_like(x), **common)
        summed = customer_lifetime_value(model, None, x, t_x, T, np.ones_like(x), use_closed_form=False, **common)
        np.testing.assert_allclose(exact, summed, rtol=2e-3)
    if capabilities.factorisable:  # E[Y | x, t_x, T] / P(alive | x, t_x, T) depends on (x, T) only
        reference = np.where(x > 0, T, 0.0)
        ratio = model.expected_purchases(2.0, x, t_x, T) / model.probability_alive(x, t_x, T)
        np.testing.assert_allclose(ratio, model.expected_purchases(2.0, x, reference, T)
                                   / model.probability_alive(x, reference, T), rtol=1e-9)
    if capabilities.grid_scoring:
        times = np.array([1.0, 4.0, 10.0])
        grid = model.expected_purchases(times[None, :], x[:, None], t_x[:, None], T[:, None])
        flat = np.column_stack([model.expected_purchases(t, x, t_x, T) for t in times])
        np.testing.assert_allclose(grid, flat, rtol=1e-12)
    if capabilities.closed_form_tails:  # the dropout shift s: a one-time buyer may be gone only if s = 1
        alive_one_time = model.probability_alive([0.0], [0.0], [10.0])[0]
        assert (alive_one_time < 1.0) == (capabilities.dropout_at_first_purchase == 1)
    # dropout: a model without it (the NBD) keeps everyone; one with it lets a long-silent repeat buyer go
    silent = model.probability_alive(*_histories(capabilities.discrete_time))
    assert np.all(silent == 1.0) != capabilities.dropout


def test_every_purchase_model_scores_with_intervals(purchase_name):
    model = fitted(purchase_name)
    discrete = model.capabilities.discrete_time
    x, t_x, T = _histories(discrete)
    summary = pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "monetary_value": np.full(x.shape, 20.0)})
    scores = score_customers(summary, model, horizon=4 if discrete else 13.0, time_unit="week", n_draws=50)
    assert scores.interval_method == model.capabilities.default_interval_method
    for column in ("p_alive", "expected_purchases", "clv", "purchases_q0.1", "purchases_q0.9", "clv_q0.975"):
        assert np.all(np.isfinite(scores[column])), column
    assert np.all(scores["purchases_q0.1"] <= scores["purchases_q0.9"])
    if discrete:
        with pytest.raises(DataError, match="whole number"):
            score_customers(summary, model, horizon=2.5, time_unit="week", intervals=None)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_probability_alive_is_a_probability_on_edge_histories(data):
    for name in purchase_names()[:-1]:  # the registered ones (the toy's P(alive) is 1)
        if name not in _FITTED:  # fitted once per model (setdefault would refit at every example)
            _FITTED[name] = fitted(name)
        model = _FITTED[name]
        discrete = model.capabilities.discrete_time
        n = data.draw(st.integers(1 if discrete else 0, 500 if not discrete else 60))
        T = float(n) if discrete else data.draw(st.floats(0.0, 2000.0))
        x = float(data.draw(st.integers(0, n if discrete else 400)))
        if discrete:
            t_x = float(data.draw(st.integers(int(x), n))) if x > 0 else 0.0
        else:
            t_x = data.draw(st.floats(0.0, T)) if x > 0 else 0.0
        p = model.probability_alive([x], [t_x], [T])
        assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1)), (name, x, t_x, T, p)
        expected = model.expected_purchases(5 if discrete else 10.0, [x], [t_x], [T])
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0), (name, x, t_x, T, expected)


_FITTED: dict[str, object] = {}


# ----- the all-or-nothing fit, the issue's own case -------------------------------------
def test_bgnbd_fit_refused_as_not_identified_leaves_no_parameters():
    model = BetaGeoModel()
    with pytest.raises(FitError):
        model.fit([3], [5.0], [10.0])  # one customer: the information matrix is singular
    assert not hasattr(model, "params_") and not model.is_fitted


def test_all_or_nothing_restores_state_changed_before_a_failing_check():
    class Late(ToyPoissonModel):
        model_name = "late"

        def fit(self, frequency, recency, T, weights=None):
            super().fit(frequency, recency, T)
            raise FitError("a check after the fitted attributes were set")

    model = Late()
    with pytest.raises(FitError):
        model.fit(*_cdnow(), time_unit="week")
    assert vars(model) == {}
    assert "time_unit" in str(__import__("inspect").signature(Late.fit))


def test_registry_is_lazy_and_complete():
    import subprocess
    import sys

    code = ("import sys, clv.models as m; m.model_names(); "
            "print(any(k.split('.')[0] in ('scipy', 'pandas') for k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert set(registry.__all__) >= {"BetaGeoModel", "GammaGammaModel", "load_model", "model_names", "model_class"}
    assert registry.model_names("purchase")[:5] == ("bgnbd", "mbgnbd", "pareto", "bgbb", "nbd")
    assert {"bgcnbd", "mbgcnbd", "ggomnbd"} <= set(registry.model_names("purchase"))
    with pytest.raises(DataError, match="unknown model 'nope'"):
        model_class("nope")
    with pytest.raises(DataError, match="unknown model"):
        load_model({"model": "nope"})
