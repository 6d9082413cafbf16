"""The model contract: what every model of a family offers, and what it can do, as data.

Three families, one abstract base each (the scikit-learn / lifelines idea: the
scorer, the backtest, the report and the what-if talk to the contract, never to
a model's name or private attributes):

* :class:`PurchaseModel`: repeat purchases from (frequency, recency, T)
  histories (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB);
* :class:`SpendModel`: the value of an order (Gamma-Gamma);
* :class:`ContractualModel`: renewals of contracts (sBG).

Each family declares its methods (abstract, so a model that misses one cannot
be instantiated) and a frozen dataclass of *capabilities* as a class attribute,
``capabilities``, which the scorer reads to choose how to compute (for example
``PurchaseCapabilities.closed_form_lifetime`` instead of ``hasattr(model,
"discounted_expected_residual_transactions")``).

What every model gets from :class:`Model`, once for all:

* all-or-nothing fits: every public fit method (``fit``, and the names in
  ``_fit_methods``) is wrapped when the class is created; if it raises, the
  instance is restored exactly as it was before the call (an unfitted model
  stays unfitted, a fitted one keeps its previous fit), so no half-set
  ``params_`` survive a failed check. The caches named in ``_fit_caches`` are
  dropped before and after every fit: they belong to one fit and are never
  seen by a later one;
* the time unit: ``fit(..., time_unit=None)`` records ``time_unit_`` (checked
  by :func:`clv.units.check_time_unit`; None = unitless arrays). A customer-data
  object (:class:`clv.summary.CustomerData`: ``.time_unit`` and ``.rfm()``) as
  first argument gives its columns and its unit;
* :class:`clv.errors.NotFittedError` (a ``ValueError`` and an
  ``AttributeError``, the scikit-learn convention) before a successful fit.

This module imports no numerical library: ``import clv.models`` stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from clv.errors import DataError, NotFittedError

FAMILIES: tuple[str, ...] = ("purchase", "spend", "contractual")
INTERVAL_METHODS: tuple[str, ...] = ("closed", "factorised", "simulate")


@dataclasses.dataclass(frozen=True)
class PurchaseCapabilities:
    """What a purchase model can do, read by the scorer (:mod:`clv.scores`).

    Parameters
    ----------
    discrete_time : bool
        Counts whole periods (BG/BB): horizons are whole numbers of periods,
        steps are one period, and discounting is per period.
    factorisable : bool
        The history enters the forecast only through P(alive):
        ``E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) / P(alive | x, T*, T) E[Y(t) | x, T*, T]``,
        so one path per distinct (x, T) serves every recency (all the
        Buy-Till-You-Die models).
    grid_scoring : bool
        ``expected_purchases`` evaluates (n, 1) histories by (1, m) times as an
        (n, m) grid, and :meth:`PurchaseModel.probability_alive_validated` is
        cheap per row (BG/NBD, MBG/NBD).
    closed_form_lifetime : bool
        :meth:`PurchaseModel.discounted_residual_purchases` gives the
        whole-lifetime discounted purchases exactly (closed-form DERT or
        quadrature); otherwise the scorer sums steps until they are negligible.
    closed_form_tails : bool
        The exact predictive tail tables of the BG/NBD family
        (:mod:`clv.scores.closed_form`) apply: parameters ``(r, alpha, a, b)``
        in that order, with the BG/NBD meaning.
    dropout_at_first_purchase : int
        1 if a customer may drop out right after the first purchase (MBG/NBD),
        else 0: the shift ``s`` of the BG/NBD family's formulas.
    dropout : bool
        Customers can leave (P(alive) < 1 is possible). False for the NBD,
        which the model ladder uses when the data show no churn: then churn
        changes nothing in a what-if and P(alive) ranks no one.
    static_covariates : bool
        Fits and predicts with static covariates (one row per customer,
        :func:`clv.summary.attach_covariates`) through an exponential link on
        its parameters (:mod:`clv.models.covariate_link`). A model without it
        refuses customer data that carries covariates.
    closed_form_timing : bool
        :meth:`PurchaseModel.probability_no_purchase` and
        :meth:`PurchaseModel.probability_alive_at` are exact (closed forms or
        quadrature: BG/NBD, MBG/NBD, Pareto/NBD, NBD, BG/BB). Otherwise
        :mod:`clv.scores.timing` estimates the chance of no purchase from
        :meth:`PurchaseModel.sample_future_purchases` draws and P(alive) at a
        future date is not available.
    """

    discrete_time: bool = False
    factorisable: bool = False
    grid_scoring: bool = False
    closed_form_lifetime: bool = False
    closed_form_tails: bool = False
    dropout_at_first_purchase: int = 0
    dropout: bool = True
    static_covariates: bool = False
    closed_form_timing: bool = False

    def __post_init__(self) -> None:
        if self.dropout_at_first_purchase not in (0, 1):
            raise DataError(f"dropout_at_first_purchase must be 0 or 1, got {self.dropout_at_first_purchase!r}.")
        if self.closed_form_tails and not self.factorisable:
            raise DataError("closed_form_tails needs factorisable=True (the tables are built per distinct (x, T)).")

    @property
    def interval_methods(self) -> tuple[str, ...]:
        """The prediction-interval methods this model supports (see :mod:`clv.scores.intervals`)."""
        methods = (("closed", self.closed_form_tails), ("factorised", self.factorisable), ("simulate", True))
        return tuple(name for name, supported in methods if supported)

    @property
    def default_interval_method(self) -> str:
        """What ``interval_method="auto"`` picks: the first of closed, factorised, simulate that applies."""
        return self.interval_methods[0]


@dataclasses.dataclass(frozen=True)
class SpendCapabilities:
    """What a spend model can do.

    Parameters
    ----------
    linear_in_monetary_value : bool
        ``E[M | x, m] = A(x) + B(x) m`` (Gamma-Gamma): the scorer evaluates the
        model at m = 1 and 2 per distinct x only.
    gamma_gamma_draws : bool
        Parameter draws are ``(p, q, gamma)`` of the Gamma-Gamma posterior
        (Fader, Hardie & Lee 2005, "RFM and CLV", section 3), used for the
        money part of prediction intervals.
    covariates : bool
        Fits and predicts with static covariates of the customers (spend
        covariates); a model without it refuses customer data that carries
        covariates.
    """

    linear_in_monetary_value: bool = False
    gamma_gamma_draws: bool = False
    covariates: bool = False


@dataclasses.dataclass(frozen=True)
class ContractualCapabilities:
    """What a contractual (subscription) model can do.

    Parameters
    ----------
    discrete_time : bool
        Renewals happen at whole contract periods (sBG).
    closed_form_residual_lifetime : bool
        :meth:`ContractualModel.discounted_expected_residual_lifetime` is exact.
    """

    discrete_time: bool = True
    closed_form_residual_lifetime: bool = False


class Model(ABC):
    """What every model shares: all-or-nothing fits, the time unit, the not-fitted error, persistence.

    Subclasses set ``model_name`` (the registry name, also the ``"model"`` key
    of the saved JSON) and the family base sets ``family``.
    """

    family: ClassVar[str] = ""
    model_name: ClassVar[str] = ""
    # Public fit methods made all-or-nothing (see the module docstring).
    _fit_methods: ClassVar[tuple[str, ...]] = ("fit",)
    # Instance attributes that cache work of one fit (dropped before and after every fit).
    _fit_caches: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._fit_methods:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__isabstractmethod__", False) \
                    and not getattr(method, "_all_or_nothing", False):
                setattr(cls, name, _all_or_nothing(method))

    # ----- fitted state ---------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """True after a successful fit (or a load from a saved model)."""
        return hasattr(self, "params_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(...) first.")

    def _drop_fit_caches(self) -> None:
        for name in self._fit_caches:
            self.__dict__.pop(name, None)

    def _customer_data_arguments(self, data: Any) -> tuple:
        """The positional arguments of ``fit`` taken from a customer-data object (family specific)."""
        raise DataError(f"{type(self).__name__}.fit does not take customer data; pass the arrays and time_unit=.")

    def _restore_time_unit(self, payload: Mapping[str, Any]) -> None:
        """Set ``time_unit_`` from a saved model's ``"time_unit"`` (None when it has none)."""
        self.time_unit_ = _checked_unit(payload.get("time_unit"), "time_unit (in the saved model)")

    # ----- persistence ----------------------------------------------------
    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-able data, ``"model"`` and ``"time_unit"`` included."""

    @classmethod
    @abstractmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Model:
        """The model saved by :meth:`to_dict` (its ``time_unit_`` too)."""


class PurchaseModel(Model):
    """Repeat purchases of customers with (frequency, recency, T) histories.

    Histories: ``frequency`` x (repeat purchases), ``recency`` t_x (time of the
    last purchase from the first; 0 when x = 0), ``T`` (age at the end of
    calibration), all in ``time_unit_``.
    """

    family: ClassVar[str] = "purchase"
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities()
    #: The parameters that carry dropout (BG/NBD: a, b; Pareto/NBD: s, beta). The model ladder
    #: (:func:`clv.models.ladder.fit_purchase_model`) checks them for an edge fit and tests the model
    #: against the NBD without dropout; empty for a model without dropout or with no NBD limit.
    dropout_parameters: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> PurchaseModel:
        """Fit on histories (or a customer-data object as first argument); returns self."""

    @abstractmethod
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """P(alive at T | x, t_x, T) per history."""

    def probability_alive_validated(self, x: Any, t_x: Any, T: Any, params: Any = None) -> Any:
        """P(alive) on float arrays that already passed :func:`clv.models.base.validate_rfm`.

        Models with ``capabilities.grid_scoring`` override it to skip the
        checks; ``params`` (a parameter vector) replaces the fitted ones where supported.
        """
        if params is not None:
            raise DataError(f"{type(self).__name__}.probability_alive_validated does not take params.")
        return self.probability_alive(x, t_x, T)

    @abstractmethod
    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] (arguments broadcast)."""

    @abstractmethod
    def expected_purchases_new(self, t: Any) -> Any:
        """E[X(t)]: expected repeat purchases in (0, t] of a new customer."""

    def discounted_residual_purchases(
        self, frequency: Any, recency: Any, T: Any, *, discount_rate: float, time_unit: str, step: float = 1.0
    ) -> Any:
        """Discounted expected purchases over the whole remaining lifetime (``capabilities.closed_form_lifetime``).

        ``discount_rate`` is annual; ``time_unit`` the unit of recency, T and
        ``step`` (the discounting step of step-discounted models).
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form lifetime value (capabilities.closed_form_lifetime is False): "
            "the scorer sums discounted steps instead."
        )

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """P(Y(t) = 0 | x, t_x, T): no purchase in (T, T + t] (``capabilities.closed_form_timing``).

        ``1 - P(alive at T) + P(alive at T) P(no purchase in (T, T + t] | alive at T)``;
        arguments broadcast, ``t`` in the model's time unit.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form chance of no purchase (capabilities.closed_form_timing is "
            "False): clv.scores.timing estimates it from sample_future_purchases draws instead."
        )

    def probability_alive_at(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """P(alive at T + t | x, t_x, T) (``capabilities.closed_form_timing``); ``t`` in the model's time unit."""
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form P(alive) at a future date (capabilities.closed_form_timing "
            "is False)."
        )

    @abstractmethod
    def sample_params(self, n_draws: int, seed: Any = None) -> Any:
        """(n_draws, k) draws of the parameters from their estimated sampling distribution."""

    @abstractmethod
    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any, params: Any = None, rng: Any = None
    ) -> Any:
        """One draw per history of the purchases in (T, T + t], given ``params`` (default: the fitted ones)."""

    def _customer_data_arguments(self, data: Any) -> tuple:
        return tuple(data.rfm())


class SpendModel(Model):
    """The value of a customer's future orders from (frequency, monetary_value)."""

    family: ClassVar[str] = "spend"
    capabilities: ClassVar[SpendCapabilities] = SpendCapabilities()

    @abstractmethod
    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None) -> SpendModel:
        """Fit on repeat buyers' mean order values (or a customer-data object); returns self."""

    @abstractmethod
    def expected_spend(self, frequency: Any, monetary_value: Any) -> Any:
        """E[value of one future order | x, m] per customer."""

    @abstractmethod
    def population_mean_spend(self) -> float:
        """The mean order value of a new customer."""

    @abstractmethod
    def sample_params(self, n_draws: int, seed: Any = None) -> Any:
        """(n_draws, k) parameter draws."""

    def _customer_data_arguments(self, data: Any) -> tuple:
        if "monetary_value" not in data.columns:
            raise DataError(
                "the customer data has no monetary_value column (a purchase log without amounts): a spend model "
                "needs amounts. Fix: load the orders with their amount column."
            )
        return data["frequency"].to_numpy(), data["monetary_value"].to_numpy()


class ContractualModel(Model):
    """Renewals of contracts observed at whole periods (tenure, churned)."""

    family: ClassVar[str] = "contractual"
    capabilities: ClassVar[ContractualCapabilities] = ContractualCapabilities()

    @abstractmethod
    def fit(self, tenure: Any, churned: Any, weights: Any = None) -> ContractualModel:
        """Fit on tenures with right-censoring; returns self."""

    @abstractmethod
    def survival(self, t: Any) -> Any:
        """P(still subscribed after t periods)."""

    @abstractmethod
    def expected_renewals(self, n_periods: Any, renewals_so_far: Any = 0) -> Any:
        """Expected renewals over the next ``n_periods`` periods."""

    @abstractmethod
    def discounted_expected_residual_lifetime(self, renewals_so_far: Any, discount_rate: float) -> Any:
        """DERL: discounted expected remaining periods of a subscriber."""

    @abstractmethod
    def sample_params(self, n_draws: int, seed: Any = None) -> Any:
        """(n_draws, k) parameter draws."""

    def _customer_data_arguments(self, data: Any) -> tuple:
        return data["tenure"].to_numpy(), data["churned"].to_numpy()


def check_model_unit(model: Any, time_unit: str, argument: str = "time_unit") -> str:
    """``time_unit`` checked against the unit the model was fitted in (``model.time_unit_``).

    Functions that take a fitted model and durations (recency, T, a horizon)
    in ``time_unit`` call this: a model fitted in weeks read with days gives
    wrong numbers without any error, so a differing unit is refused. A model
    fitted on unitless arrays (``time_unit_`` None) takes ``time_unit``.

    Parameters
    ----------
    model : fitted model
        Any model of :mod:`clv.models` (``time_unit_`` may be absent or None).
    time_unit : str
        The unit the caller's durations are in.
    argument : str
        How the unit is named in the error (e.g. ``"time_unit"``).

    Returns
    -------
    str
        ``time_unit``, checked (:func:`clv.units.check_time_unit`).

    Raises
    ------
    DataError
        When the model was fitted in another unit.
    """
    unit = _checked_unit(time_unit, argument)
    fitted = getattr(model, "time_unit_", None)
    if fitted is not None and unit is not None and fitted != unit:
        raise DataError(
            f"the model was fitted in {fitted}s but {argument}={unit!r}: recency, T and the horizon must be in the "
            f"model's unit. Fix: pass {argument}={fitted!r}, or refit the model on data in {unit}s."
        )
    return unit


def purchase_capabilities(model: Any) -> PurchaseCapabilities:
    """The capabilities of a purchase model, or a DataError naming what is missing.

    An object that declares none but has ``probability_alive`` and
    ``expected_purchases`` (a duck-typed model) gets the defaults: the general
    paths (no factorisation, step sums, simulated intervals).
    """
    capabilities = getattr(model, "capabilities", None)
    if capabilities is None and all(callable(getattr(model, m, None)) for m in ("probability_alive", "expected_purchases")):
        return PurchaseCapabilities()
    if not isinstance(capabilities, PurchaseCapabilities):
        raise DataError(
            f"the transaction model must be a purchase model (clv.models.PurchaseModel: BG/NBD, MBG/NBD, "
            f"Pareto/NBD, BG/BB), got {type(model).__name__}. Fix: fit one of them, e.g. clv.models.BetaGeoModel."
        )
    return capabilities


def spend_capabilities(model: Any) -> SpendCapabilities:
    """The capabilities of a spend model, or a DataError naming what is missing."""
    capabilities = getattr(model, "capabilities", None)
    if not isinstance(capabilities, SpendCapabilities):
        raise DataError(
            f"the spend model must be a spend model (clv.models.SpendModel: Gamma-Gamma), got "
            f"{type(model).__name__}. Fix: fit clv.models.GammaGammaModel, or pass no spend model."
        )
    return capabilities


# ----- all-or-nothing fits ------------------------------------------------------
def _is_customer_data(value: Any) -> bool:
    """Duck test for :class:`clv.summary.CustomerData` (no import of the summary layer here)."""
    return hasattr(value, "time_unit") and callable(getattr(value, "rfm", None)) and hasattr(value, "table")


def _checked_unit(time_unit: Any, argument: str = "time_unit") -> str | None:
    if time_unit is None:
        return None
    from clv.units import check_time_unit

    return check_time_unit(time_unit, argument)


def supports_covariates(model: Any) -> bool:
    """Whether a model (class or instance) fits and predicts with static covariates, by its capabilities.

    ``PurchaseCapabilities.static_covariates`` for purchase models,
    ``SpendCapabilities.covariates`` for spend models.
    """
    capabilities = getattr(model, "capabilities", None)
    return bool(getattr(capabilities, "static_covariates", False) or getattr(capabilities, "covariates", False))


def covariate_models(family: str = "purchase") -> tuple[str, ...]:
    """The registered models of ``family`` that support static covariates (for error messages and choices)."""
    from clv.models import model_class, model_names

    return tuple(name for name in model_names(family) if supports_covariates(model_class(name)))


def refuse_covariates(model: Any, names: Any) -> None:
    """DataError for customer data with covariates given to a model that does not support them."""
    family = getattr(model, "family", "purchase") or "purchase"
    able = ", ".join(covariate_models(family)) or "none yet"
    label = getattr(model, "model_name", "") or type(model).__name__
    raise DataError(
        f"model {label!r} does not take covariates, but the customer data carries {list(names)}. Fix: use a "
        f"model that does ({able}), or drop them with data.without_covariates()."
    )


def _is_engine_table(value: Any) -> bool:
    """Duck test for an Ibis table expression (no import of Ibis here)."""
    return hasattr(value, "op") and callable(getattr(value, "group_by", None)) and hasattr(value, "columns")


def _engine_fit_columns(model: Model, columns: Any) -> tuple[str, ...]:
    """The columns a model's likelihood reads from a customer table (what the engine compresses on)."""
    if model.family == "spend":
        return ("frequency", "monetary_value")
    if model.family == "contractual":
        return ("tenure", "churned")
    age = "T" if "T" in columns or "n_periods" not in columns else "n_periods"
    litt = ("litt",) if "litt" in columns and "litt" in inspect.signature(type(model).fit).parameters else ()
    return ("frequency", "recency", age, *litt)


def _compressed_engine_table(model: Model, table: Any, rest: tuple, time_unit: Any):
    """Fit arguments from a customer table on an engine: its distinct rows with their counts as weights.

    The likelihood depends on a customer only through the model's columns, so the engine
    groups by them (:func:`clv.summary.compressed_summary`) and only the distinct rows
    cross to Python: the fit's input grows with distinct histories, not with customers.
    """
    from clv.summary.customer_data import CustomerData
    from clv.summary.customers import compressed_summary

    if rest:
        raise DataError(f"{type(model).__name__}.fit takes a customer table alone (its rows are compressed on the "
                        "engine, with their counts as weights); pass no other positional argument.")
    unit = _checked_unit(time_unit)
    columns = _engine_fit_columns(model, table.columns)
    packed = compressed_summary(table, columns)
    data = CustomerData(packed.drop(columns="count"), time_unit=unit or "week",
                        has_amounts="monetary_value" in packed.columns)
    args = tuple(model._customer_data_arguments(data))
    weights = packed["count"].to_numpy(dtype=float)
    if any(a is None for a in args):  # the weights' place among the positional arguments (BG/CNBD-k: x, t_x, T, weights, litt)
        return tuple(weights if a is None else a for a in args), unit, {}
    return args, unit, {"weights": weights}


def _fit_unit(model: Model, args: tuple, time_unit: Any) -> tuple[tuple, str | None, dict[str, Any]]:
    """(positional arguments, time unit, extra keyword arguments) of a fit call, unpacking a customer-data
    first argument (its covariates, when it has some, become ``covariates=``), or compressing a customer
    table on an engine (an Ibis table: its distinct rows, weighted by their counts)."""
    if args and _is_engine_table(args[0]):
        return _compressed_engine_table(model, args[0], args[1:], time_unit)
    if not (args and _is_customer_data(args[0])):
        return args, _checked_unit(time_unit), {}
    data = args[0]
    data_unit = _checked_unit(data.time_unit, "the customer data's time_unit")
    if time_unit is not None and _checked_unit(time_unit) != data_unit:
        raise DataError(
            f"time_unit={time_unit!r} differs from the customer data's unit {data_unit!r}. Fix: leave time_unit "
            f"out (the data's unit is used), or convert the data first with data.in_time_unit({time_unit!r})."
        )
    extra = {}
    names = tuple(getattr(data, "covariate_names", ()) or ())
    if names:
        if not supports_covariates(model):
            refuse_covariates(model, names)
        extra["covariates"] = data.table[list(names)]
        extra["_design"] = data.covariates
    return (*model._customer_data_arguments(data), *args[1:]), data_unit, extra


# What clv.models.ladder.fit_purchase_model sets after a fit: a new fit drops them.
_LADDER_ATTRIBUTES = ("model_choice_", "sufficiency_")


def _all_or_nothing(fit):
    """Wrap a fit method: customer data and ``time_unit`` handled, state restored on any exception."""

    @functools.wraps(fit)
    def wrapper(self, *args, time_unit=None, **kwargs):
        args, unit, extra = _fit_unit(self, args, time_unit)
        if "weights" in extra and kwargs.get("weights") is not None:
            raise DataError("weights were given twice: a customer table on an engine is weighted by its distinct rows' "
                            "counts. Fix: leave weights out.")
        if "covariates" in extra and kwargs.get("covariates") is not None:
            raise DataError("covariates were given twice: by the customer data and by covariates=. Fix: give them "
                            "once (data.without_covariates() to use covariates= instead).")
        design = extra.pop("_design", None)
        kwargs = {**kwargs, **extra}
        before = dict(self.__dict__)
        self._drop_fit_caches()
        for name in _LADDER_ATTRIBUTES:  # set by clv.models.ladder for the fit they describe, not for this one
            self.__dict__.pop(name, None)
        try:
            result = fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        finally:
            self._drop_fit_caches()
        self.time_unit_ = unit
        if design is not None:  # how the covariate columns were encoded: scoring new data encodes them the same way
            self.covariate_design_ = design
        else:
            self.__dict__.pop("covariate_design_", None)
        return result

    signature = inspect.signature(fit)
    parameters = list(signature.parameters.values())
    if "time_unit" not in signature.parameters:
        unit = inspect.Parameter("time_unit", inspect.Parameter.KEYWORD_ONLY, default=None)
        at = next((i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD), len(parameters))
        parameters.insert(at, unit)
    wrapper.__signature__ = signature.replace(parameters=parameters)
    wrapper.__doc__ = (fit.__doc__ or "") + (
        "\n\n        All or nothing: if the fit raises, the model is left exactly as before the call. "
        "``time_unit`` (keyword) records the unit of the durations as ``time_unit_``; a customer-data "
        "object as first argument gives its columns and unit."
    )
    wrapper._all_or_nothing = True
    return wrapper
