"""What-if on the four CLV drivers (AOV, purchase frequency, margin, churn), through the fitted models.

A scenario changes each driver by a fraction (``aov=0.05`` is +5%), for every
customer or for one segment, and CLV per customer and total customer equity
(the sum of CLV) are computed before and after with BG/NBD + Gamma-Gamma:

    CLV = margin x E[spend per order] x DET,   DET = sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) (1+d)^(-t_k years)

(:func:`clv.scores.customer_lifetime_value`). The history of each customer is
what it is: P(alive at T) stays that of the fitted model; the scenario changes
behaviour from now on.

AOV +x
    E[spend per order] x (1+x): CLV changes by exactly x.
Margin +x
    margin rate x (1+x) (must stay <= 1): CLV changes by exactly x.
Frequency +x
    every customer's purchase rate lambda x (1+x). In BG/NBD lambda ~ Gamma(r, alpha),
    so the population rate becomes Gamma(r, alpha/(1+x)); for a customer with
    history (x_i, T_i) the posterior Gamma(r+x_i, alpha+T_i) becomes
    Gamma(r+x_i, (alpha+T_i)/(1+x)). Since the BG/NBD purchase count given alive
    depends on lambda t only, this is E'[Y(t)] = E[Y((1+x) t)]: purchases come
    (1+x) times faster, and so does the dropout that follows each purchase.
Churn +x
    the dropout probability p after each purchase, p ~ Beta(a, b) with mean
    a/(a+b), gets the mean (1+x) a/(a+b) with a+b (the concentration) kept:
    a' = (1+x) a, b' = a + b - a' (needs (1+x) a/(a+b) < 1). A customer alive
    at T after x_i repeat purchases then has p ~ Beta(a', b'+x_i).

So for a customer, E'[Y(t) | x, t_x, T] = P(alive | x, t_x, T) x
G(t; r+x, (alpha+T)/(1+f), a', b'+x), G the BG/NBD expectation given alive
(Fader, Hardie & Lee 2005, "Counting your customers the easy way", eq. 10;
:func:`clv.models.bgnbd.expected_purchases_given_alive`). With all changes 0
this is the fitted model exactly.

Trade-off: a price rise raises AOV and usually lowers purchase frequency (and
may raise churn). ``price_elasticity`` e links them: with AOV +x the frequency
change applied is (1+f)(1+e x) - 1 (e = -0.5: +10% AOV costs -5% frequency).

The classic formula (clv.formula.classic_clv: AOV x frequency x margin / churn)
is given before and after for comparison: there a +x% change of AOV, frequency
or margin raises CLV by x% and churn +x% divides it by 1+x.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import ibis
import numpy as np
import pandas as pd

from clv.cohorts.cells import resolve_margin
from clv.cohorts.clv_over_time import describe_model
from clv.cohorts.projection import expected_spend, fit_default_models
from clv.data.schema import CUSTOMER_ID
from clv.engine import execute
from clv.errors import DataError
from clv.formula import classic_clv
from clv.formula.customer_segments import SEGMENT, customer_segments
from clv.lazy import LazyModule
from clv.models import BetaGeoModel, PurchaseModel
from clv.models.base import validate_rfm
from clv.models.contract import purchase_capabilities
from clv.models.bgnbd import (
    expected_purchases_given_alive,
    sample_purchases_given_alive,
)
from clv.scores import customer_lifetime_value, forecast_purchases
from clv.summary import summary_expression, valued_orders_table
from clv.summary.customers import resolve_observation_end
from clv.units import convert_duration, long_run_horizon

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

FIT = "fit"
TRADE_OFF_NOTE = (
    "Drivers move together in practice: a price rise lifts AOV but tends to lower purchase frequency "
    "(and may raise churn); discounts do the reverse. Use price_elasticity (--elasticity) to tie the "
    "frequency change to the AOV change, and read single-driver results as upper bounds."
)
DRIVERS = ("aov", "frequency", "margin_change", "churn")


@dataclass(frozen=True)
class Scenario:
    """Relative changes of the four drivers (0.05 = +5%, -0.1 = -10%) and the price elasticity of frequency.

    Parameters
    ----------
    aov : float, default 0.0
        Relative change of the expected spend per order: E[spend per order] x (1 + aov).
    frequency : float, default 0.0
        Relative change of every customer's purchase rate lambda (the BG/NBD Gamma(r, alpha)
        becomes Gamma(r, alpha / (1 + frequency))).
    margin_change : float, default 0.0
        Relative change of the margin rate (0.02: 40% -> 40.8%); the changed rate must stay
        <= 1. On the CLI, ``--margin-change``.
    churn : float, default 0.0
        Relative change of the mean dropout probability a / (a + b) after each purchase, the
        concentration a + b kept: a' = (1 + churn) a, b' = a + b - a'.
    price_elasticity : float, default 0.0
        The elasticity e of purchase frequency to AOV: the frequency change applied is
        (1 + frequency)(1 + e aov) - 1 (e = -0.5: +10% AOV costs -5% frequency).

    Raises
    ------
    clv.errors.DataError
        When a value is not a finite number, a driver change is -100% or less, or the elasticity
        makes the applied frequency change -100% or less.

    Examples
    --------
    >>> scenario = Scenario(aov=0.10, price_elasticity=-0.5)
    >>> round(scenario.effective_frequency, 4)
    -0.05
    """

    aov: float = 0.0
    frequency: float = 0.0
    margin_change: float = 0.0
    churn: float = 0.0
    price_elasticity: float = 0.0

    def __post_init__(self) -> None:
        for name in (*DRIVERS, "price_elasticity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise DataError(f"{name}={value!r} must be a finite number (0.05 = +5%). Fix: e.g. {name}=0.05.")
            if name in DRIVERS and value <= -1:
                raise DataError(f"{name}={value!r} would make the driver zero or negative; changes must be > -1 (-100%). Fix: e.g. {name}=-0.1.")
        if self.effective_frequency <= -1:
            raise DataError(
                f"price_elasticity={self.price_elasticity} with aov={self.aov} makes purchase frequency zero or "
                "negative. Fix: use a smaller elasticity or AOV change."
            )

    @property
    def effective_frequency(self) -> float:
        """The frequency change applied: (1 + frequency) (1 + price_elasticity x aov) - 1."""
        return (1.0 + self.frequency) * (1.0 + self.price_elasticity * self.aov) - 1.0

    @property
    def is_neutral(self) -> bool:
        return self.aov == 0 and self.margin_change == 0 and self.churn == 0 and self.effective_frequency == 0


class ScenarioModel(PurchaseModel):
    """A fitted BG/NBD (or MBG/NBD) whose future purchase rate and dropout are changed; the history is not.

    ``expected_purchases(t, x, t_x, T) = P(alive | x, t_x, T) x
    G(t; r+x, (alpha+T)/(1+frequency), a', b'+x+s)`` with a' = (1+churn) a,
    b' = a + b - a' (s = 1 for MBG/NBD). See the module docstring.

    It implements the purchase-model contract (:class:`clv.models.PurchaseModel`)
    by delegating to its base model: P(alive) and the parameter draws are the
    base's, so it scores like any model, with prediction intervals
    ("factorised" or "simulate": the scenario's predictive draws use the changed
    rate and dropout; the exact BG/NBD tail tables and the lifetime quadrature
    are the base model's only, so they are not offered).

    An NBD base (:class:`clv.models.NBDModel`, what the model ladder uses when the data show no churn) has
    no dropout: ``frequency`` scales its posterior rate (expected purchases times 1 + frequency) and a
    relative ``churn`` change of no churn leaves it at none (no effect).

    Parameters
    ----------
    base : BetaGeoModel
        A fitted BG/NBD (:class:`clv.models.BetaGeoModel`), MBG/NBD
        (:class:`clv.models.ModifiedBetaGeoModel`) or NBD; its ``time_unit_`` is the scenario's.
    frequency : float, default 0.0
        Relative change of the purchase rate (0.05 = +5%): the posterior rate
        Gamma(r + x, alpha + T) becomes Gamma(r + x, (alpha + T) / (1 + frequency)).
    churn : float, default 0.0
        Relative change of the mean dropout probability: a' = (1 + churn) a, b' = a + b - a'.

    Raises
    ------
    clv.errors.DataError
        When ``base`` is not a BG/NBD or MBG/NBD, or ``churn`` pushes the mean dropout probability
        to 1 or more (b' <= 0).

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284 (eq. 10, the
    expectation given alive).
    """

    model_name: ClassVar[str] = "scenario"

    def __init__(self, base: BetaGeoModel, *, frequency: float = 0.0, churn: float = 0.0):
        self.no_dropout = not purchase_capabilities(base).dropout
        if not (isinstance(base, BetaGeoModel) or self.no_dropout):
            raise DataError(
                f"what-if needs a fitted BG/NBD (BetaGeoModel), MBG/NBD or NBD transaction model, got "
                f"{type(base).__name__}. Fix: fit clv.models.bgnbd.BetaGeoModel, or pass transaction_model='fit'."
            )
        self.base = base
        self.frequency, self.churn = float(frequency), float(churn)
        self.rate_factor = 1.0 + frequency
        if self.no_dropout:  # the NBD (the data show no churn): a relative change of no churn is no churn
            self.r, self.alpha = base.params
            self.a = self.b = 0.0
            self.s = 0
            self.capabilities = dataclasses.replace(base.capabilities, grid_scoring=False, closed_form_lifetime=False)
            self.time_unit_ = getattr(base, "time_unit_", None)
            return
        r, alpha, a, b = base.params
        self.a, self.b = _changed_dropout(a, b, churn)
        if self.b <= 0:
            raise DataError(
                f"churn={churn:+g} would push the mean dropout probability (1+churn) a/(a+b) = "
                f"{self.a / (a + b):.3g} to 1 or more (fitted a={a:.4g}, b={b:.4g}). Fix: use a smaller churn increase."
            )
        self.r, self.alpha = r, alpha
        self.capabilities = dataclasses.replace(
            base.capabilities, grid_scoring=False, closed_form_lifetime=False, closed_form_tails=False
        )
        self.s = self.capabilities.dropout_at_first_purchase
        self.time_unit_ = getattr(base, "time_unit_", None)

    # ----- the contract, by the base model ------------------------------------
    @property
    def is_fitted(self) -> bool:
        return True

    @property
    def params(self) -> np.ndarray:
        """The base model's parameters (r, alpha, a, b): the scenario changes them only from now on."""
        return self.base.params

    @property
    def covariance_theta_(self) -> np.ndarray:
        return self.base.covariance_theta_

    def fit(self, frequency, recency, T, weights=None) -> ScenarioModel:
        raise DataError("a scenario is not fitted: it changes a fitted model. Fix: fit the base model, then "
                        "ScenarioModel(base, frequency=..., churn=...).")

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        return self.base.probability_alive(frequency, recency, T)

    def probability_alive_validated(self, x, t_x, T, params=None) -> np.ndarray:
        return self.base.probability_alive_validated(x, t_x, T, params)

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        if self.no_dropout:  # lambda | history ~ Gamma(r+x, (alpha+T)/(1+f)): the base's mean times 1+f
            return self.base.expected_purchases(t, frequency, recency, T) * self.rate_factor
        t, x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, frequency, recency, T)))
        alive = self.base.probability_alive(x, t_x, T)
        given_alive = expected_purchases_given_alive(t, self.r + x, (self.alpha + T) / self.rate_factor, self.a, self.b + x + self.s)
        return alive * given_alive

    def expected_purchases_new(self, t) -> np.ndarray:
        """E[X(t)] of a new customer under the scenario: B(a', b'+s)/B(a', b') G(t; r, alpha/(1+f), a', b'+s)."""
        if self.no_dropout:
            return self.base.expected_purchases_new(t) * self.rate_factor
        t = np.asarray(t, dtype=float)
        survive_first = np.exp(special.betaln(self.a, self.b + self.s) - special.betaln(self.a, self.b))
        return survive_first * expected_purchases_given_alive(t, self.r, self.alpha / self.rate_factor, self.a, self.b + self.s)

    def sample_params(self, n_draws: int, seed=None) -> np.ndarray:
        """Draws of the base model's parameters (the scenario is applied to each in :meth:`sample_future_purchases`)."""
        return self.base.sample_params(n_draws, seed)

    def sample_future_purchases(self, t, frequency, recency, T, params=None, rng=None) -> np.ndarray:
        """One draw per customer of the purchases in (T, T+t] under the scenario.

        ``params``: base parameters (r, alpha, a, b), e.g. a row of
        :meth:`sample_params`; alive at T with the base's P(alive) at those
        parameters, then the scenario's rate and dropout: lambda ~ Gamma(r+x,
        (alpha+T)/(1+f)), p ~ Beta(a', b'+x+s) (b'+x+s floored at 1e-12 for
        draws where the churn change would make it <= 0).
        """
        rng = np.random.default_rng(rng)
        t = np.asarray(t, dtype=float)
        t, x, t_x, T = np.broadcast_arrays(t, *validate_rfm(frequency, recency, T))
        if self.no_dropout:
            r, alpha = self.base.params if params is None else np.asarray(params, dtype=float)
            return rng.poisson(rng.gamma(r + x, self.rate_factor / (alpha + T)) * t).astype(float)
        r, alpha, a, b = self.base.params if params is None else np.asarray(params, dtype=float)
        a_new, b_new = _changed_dropout(a, b, self.churn)
        alive = rng.random(x.shape) < self.base.probability_alive_validated(x, t_x, T, params)
        beta = np.maximum(b_new + x + self.s, 1e-12)
        draws = sample_purchases_given_alive(t, r + x, (alpha + T) / self.rate_factor, a_new, beta, rng)
        return np.where(alive, draws, 0.0)

    def to_dict(self) -> dict:
        return {"model": self.model_name, "time_unit": self.time_unit_, "base": self.base.to_dict(),
                "frequency": self.frequency, "churn": self.churn}

    @classmethod
    def from_dict(cls, payload) -> ScenarioModel:
        from clv.models import load_model

        return cls(load_model(payload["base"]), frequency=payload["frequency"], churn=payload["churn"])


def _changed_dropout(a: float, b: float, churn: float) -> tuple[float, float]:
    """(a', b') = ((1+churn) a, a + b - a'): the mean dropout times 1+churn, a+b kept (b unchanged when churn = 0)."""
    a_new = a * (1.0 + churn)
    return a_new, (b if churn == 0 else a + b - a_new)


@dataclass
class WhatIfResult:
    """Result of :func:`what_if`.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer: ``customer_id``, ``in_segment``, ``expected_purchases_before`` /
        ``_after`` (over the horizon; NaN for the whole lifetime), ``expected_spend_before`` /
        ``_after``, ``clv_before`` / ``_after`` and ``clv_change``.
    totals : pandas.DataFrame
        Customer equity (the sum of CLV) before and after, its change (absolute and in %) and the
        expected purchases, for all customers, and with a segment for the segment and the rest.
    classic : pandas.DataFrame or None
        The classic formula's CLV and equity before and after, per scope; None if it cannot be
        estimated (the reason is in ``notes``).
    notes : list of str, default []
        The trade-off note and anything set aside.
    settings : dict, default {}
        The scenario (with the effective frequency change), segment, horizon (in ``time_unit``
        and in months), annual discount rate, time unit, margin rate and source, models.
    """

    customers: pd.DataFrame
    totals: pd.DataFrame
    classic: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def what_if(
    orders: object,
    scenario: Scenario,
    *,
    segment: object = None,
    segment_col: str | None = None,
    segment_value: object = None,
    transaction_model: object = FIT,
    spend_model: object = FIT,
    time_unit: str = "week",
    margin: float | None = None,
    horizon: float | None = None,
    discount_rate: float = 0.10,
    observation_end: object = None,
    classic_time_unit: str = "year",
) -> WhatIfResult:
    """CLV per customer and customer equity before and after ``scenario``, through BG/NBD + Gamma-Gamma.

    Segment (at most one way): ``segment`` = boolean pandas Series indexed by
    customer_id, a boolean array aligned with the customers sorted by id (the
    rows of :func:`clv.summary.summarize`), or a list of customer ids; or
    ``segment_col`` + ``segment_value`` (the value on the customer's first
    purchase line, e.g. channel == 'email'; 'acquisition_month' works too).
    ``horizon``: CLV horizon from the observation end in ``time_unit`` (default
    None: 3 years, :func:`clv.units.long_run_horizon`; ``math.inf``: the whole
    remaining lifetime, slower). ``discount_rate``: annual. ``margin``: base
    margin rate (default from cost). ``classic_time_unit``: the unit of the
    classic formula's comparison (:func:`clv.formula.classic_clv`).

    CLV = margin x E[spend per order] x DET with DET = sum_k (E[Y(t_k)] - E[Y(t_{k-1})])
    (1 + d) ** (-t_k in years), by :func:`clv.scores.customer_lifetime_value`, before and after
    the scenario (:class:`ScenarioModel` changes the purchase rate and dropout from now on; the
    history and P(alive) stay those of the fitted model).

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines (``customer_id``, ``order_ts``, ``amount``; optional ``cost`` and
        the segment column); a purchase log (no amounts) is refused.
    scenario : Scenario
        The relative changes of AOV, frequency, margin and churn, and the price elasticity.
    segment : pandas.Series or array-like or list or None, default None
        The customers the scenario applies to: a boolean Series indexed by customer_id, a boolean
        array aligned with the customers sorted by id, or a list of customer ids. None (and no
        ``segment_col``): every customer.
    segment_col : str or None, default None
        With ``segment_value``: a column whose value on the customer's first purchase line selects
        the segment (e.g. ``"channel"``; ``"acquisition_month"`` works too).
    segment_value : object, default None
        The value of ``segment_col`` that selects the segment.
    transaction_model : BetaGeoModel or "fit", default "fit"
        A fitted BG/NBD or MBG/NBD whose durations are in ``time_unit``, or "fit" (BG/NBD fitted on
        the customers' histories in ``time_unit``).
    spend_model : SpendModel or "fit" or None, default "fit"
        A fitted spend model, "fit" (Gamma-Gamma), or None (each customer's observed average
        order value).
    time_unit : str, default "week"
        The unit of the histories, the models and ``horizon``; one of
        :data:`clv.units.TIME_UNITS`.
    margin : float or None, default None
        Base gross margin rate in (0, 1]; default (revenue - cost) / revenue from the ``cost``
        column.
    horizon : float or None, default None
        The CLV horizon from the observation end, in ``time_unit``; None is 3 years
        (:func:`clv.units.long_run_horizon`); ``math.inf`` the whole remaining lifetime (slower).
    discount_rate : float, default 0.10
        The ANNUAL discount rate (0.10 = 10% a year).
    observation_end : date-like or None, default None
        The last day of the data; default: the last order's day.
    classic_time_unit : {"year", "quarter", "month"}, default "year"
        The period of the classic formula's comparison.

    Returns
    -------
    WhatIfResult
        CLV per customer and customer equity before and after, the classic formula's comparison,
        notes and settings.

    Raises
    ------
    clv.errors.DataError
        When ``scenario`` is not a :class:`Scenario`, the margin change takes the margin above
        100%, the segment is given both ways, ``segment_col`` comes without ``segment_value`` or no
        customer has that value, a boolean mask has not one value per customer, the transaction
        model is None or not a BG/NBD, or the churn change pushes the mean dropout probability to
        1 or more.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430.
    """
    if not isinstance(scenario, Scenario):
        raise DataError(f"scenario: expected a clv.whatif.Scenario, got {type(scenario).__name__}. Fix: Scenario(aov=0.05).")
    table = valued_orders_table(orders, "the what-if", string_ids=True)
    margin_rule = resolve_margin(table, margin)
    after_margin = margin_rule.rate * (1.0 + scenario.margin_change)
    if after_margin > 1:
        raise DataError(
            f"margin_change={scenario.margin_change:+g} takes the margin rate {margin_rule.rate:.3g} above 100% ({after_margin:.3g}). "
            "Fix: use a smaller margin change."
        )
    histories = _histories(table, time_unit, observation_end, segment_col, segment_value)
    in_segment = _segment_mask(histories, segment, segment_col, segment_value)
    transaction_model, spend_model = _models(histories, transaction_model, spend_model)
    horizon = long_run_horizon(time_unit) if horizon is None else float(horizon)
    scored_horizon = None if math.isinf(horizon) else horizon
    before = _scores(histories, transaction_model, spend_model, margin_rule.rate, scored_horizon, time_unit, discount_rate)
    after = before.copy()
    if in_segment.any() and not scenario.is_neutral:
        changed = ScenarioModel(transaction_model, frequency=scenario.effective_frequency, churn=scenario.churn)
        subset = _scores(histories[in_segment], changed, spend_model, after_margin, scored_horizon, time_unit,
                         discount_rate, spend_factor=1.0 + scenario.aov)
        after.loc[in_segment] = subset.to_numpy()
    customers = _customer_frame(histories, in_segment, before, after)
    notes = [TRADE_OFF_NOTE]
    classic = _classic(table, scenario, in_segment, histories, margin_rule.rate, classic_time_unit, observation_end, notes)
    settings = {
        "scenario": asdict(scenario) | {"effective_frequency": scenario.effective_frequency},
        "segment": _segment_description(segment, segment_col, segment_value),
        "customers_in_segment": int(in_segment.sum()),
        "horizon": scored_horizon,
        "horizon_months": None if scored_horizon is None else convert_duration(scored_horizon, time_unit, "month"),
        "discount_rate": discount_rate,
        "time_unit": time_unit,
        "margin_rate": margin_rule.rate,
        "margin_source": margin_rule.source,
        "model": describe_model(transaction_model),
        "spend_model": describe_model(spend_model),
    }
    return WhatIfResult(customers, _totals(customers), classic, notes, settings)


def _histories(table, time_unit: str, observation_end, segment_col, segment_value) -> pd.DataFrame:
    end = resolve_observation_end(table, observation_end)
    summary = summary_expression(table, observation_end=end, time_unit=time_unit)
    summary = summary.mutate(
        average_order=ibis.ifelse(summary.n_orders > 0, summary.revenue / summary.n_orders.cast("float64"), 0.0)
    )
    if segment_col is not None:
        segments = customer_segments(table, segment_col).rename(_seg_id=CUSTOMER_ID)
        summary = summary.left_join(segments, summary[CUSTOMER_ID] == segments._seg_id).drop("_seg_id")
    columns = [CUSTOMER_ID, "frequency", "recency", "T", "monetary_value", "average_order"]
    columns += [SEGMENT] if segment_col is not None else []
    frame = execute(summary.select(*columns).order_by(CUSTOMER_ID))
    if frame.empty:
        raise DataError("orders: no customer has a purchase by the observation end. Fix: check the data or observation_end.")
    return frame


def _segment_mask(histories: pd.DataFrame, segment, segment_col, segment_value) -> np.ndarray:
    if segment is not None and segment_col is not None:
        raise DataError("give the segment either as segment= or as segment_col= + segment_value=, not both.")
    if segment_col is not None:
        if segment_value is None:
            raise DataError(f"segment_col={segment_col!r} needs segment_value=, e.g. segment_value='email'.")
        labels = histories[SEGMENT].astype(str)
        mask = (labels == str(segment_value)).to_numpy()
        if not mask.any():
            found = ", ".join(sorted(labels.unique())[:20])
            raise DataError(f"no customer has {segment_col} == {segment_value!r}; values found: {found}. Fix: pass one of them.")
        return mask
    if segment is None:
        return np.ones(len(histories), dtype=bool)
    ids = histories[CUSTOMER_ID].astype(str)
    if isinstance(segment, pd.Series) and pd.api.types.is_bool_dtype(segment.dtype):
        mapped = pd.Series(segment.to_numpy(), index=segment.index.astype(str))
        return ids.map(mapped).fillna(False).astype(bool).to_numpy()
    array = np.asarray(segment)
    if array.dtype == bool:
        if array.shape != (len(histories),):
            raise DataError(
                f"segment: a boolean mask must have one value per customer ({len(histories)}, sorted by customer_id), "
                f"got shape {array.shape}. Fix: pass a boolean Series indexed by customer_id, or a list of ids."
            )
        return array
    return ids.isin(set(map(str, array.ravel()))).to_numpy()


def _segment_description(segment, segment_col, segment_value) -> str:
    if segment_col is not None:
        return f"{segment_col} == {segment_value!r}"
    return "all customers" if segment is None else "given customers"


def _models(histories: pd.DataFrame, transaction_model, spend_model):
    if transaction_model is None:
        raise DataError("what-if runs through a transaction model: pass a fitted BetaGeoModel or transaction_model='fit'.")
    if isinstance(transaction_model, str) or isinstance(spend_model, str):
        fitted_transactions, fitted_spend = fit_default_models(histories)
        transaction_model = fitted_transactions if isinstance(transaction_model, str) else transaction_model
        spend_model = fitted_spend if isinstance(spend_model, str) else spend_model
    return transaction_model, spend_model


def _scores(histories, model, spend_model, margin_rate, horizon, time_unit, rate, spend_factor: float = 1.0) -> pd.DataFrame:
    x, t_x, T = (histories[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    spend = expected_spend(histories, spend_model) * spend_factor
    common = dict(time_unit=time_unit, discount_rate=rate)
    clv = customer_lifetime_value(model, None, x, t_x, T, spend, horizon=horizon, margin=margin_rate, **common)
    if horizon is None:
        purchases = np.full(x.shape, np.nan)
    else:
        purchases = forecast_purchases(model, x, t_x, T, horizon=horizon, **common).expected
    return pd.DataFrame({"expected_purchases": purchases, "expected_spend": spend, "clv": clv}, index=histories.index)


def _customer_frame(histories, in_segment, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({CUSTOMER_ID: histories[CUSTOMER_ID].to_numpy(), "in_segment": in_segment})
    for name in ("expected_purchases", "expected_spend", "clv"):
        frame[f"{name}_before"] = before[name].to_numpy()
        frame[f"{name}_after"] = after[name].to_numpy()
    frame["clv_change"] = frame["clv_after"] - frame["clv_before"]
    return frame


def _totals(customers: pd.DataFrame) -> pd.DataFrame:
    scopes = {"all customers": np.ones(len(customers), dtype=bool), "segment": customers["in_segment"].to_numpy()}
    scopes["rest"] = ~scopes["segment"]
    if scopes["segment"].all():  # no segment: one row
        scopes = {"all customers": scopes["all customers"]}
    rows = []
    for scope, mask in scopes.items():
        part = customers[mask]
        before, after = float(part["clv_before"].sum()), float(part["clv_after"].sum())
        rows.append({
            "scope": scope, "customers": int(mask.sum()), "equity_before": before, "equity_after": after,
            "change": after - before, "change_pct": (after / before - 1.0) * 100 if before else math.nan,
            "expected_purchases_before": float(part["expected_purchases_before"].sum()),
            "expected_purchases_after": float(part["expected_purchases_after"].sum()),
        })
    return pd.DataFrame(rows)


def _classic(table, scenario: Scenario, in_segment, histories, margin_rate, period, end, notes) -> pd.DataFrame | None:
    """Classic formula CLV per scope before/after: AOV(1+a) x frequency(1+f) x margin(1+m) / (churn(1+c))."""
    labels = np.where(in_segment, "segment", "rest")
    mapping = pd.Series(labels, index=histories[CUSTOMER_ID].astype(str).to_numpy())
    try:
        result = classic_clv(table, time_unit=period, margin=margin_rate, segment_by=mapping, end=end)
    except DataError as exc:
        notes.append(f"classic formula not computed: {exc}")
        return None
    factor = (1 + scenario.aov) * (1 + scenario.effective_frequency) * (1 + scenario.margin_change) / (1 + scenario.churn)
    by_segment = result.by_segment.set_index("segment")
    rows = []
    for scope in ("segment", "rest"):
        if scope not in by_segment.index:
            continue
        row = by_segment.loc[scope]
        clv_after = float(row["clv"]) * (factor if scope == "segment" else 1.0)
        churn_after = float(row["churn_rate"]) * (1 + scenario.churn if scope == "segment" else 1.0)
        rows.append({
            "scope": scope, "customers": int(row["customers"]), "churn_rate_before": float(row["churn_rate"]),
            "churn_rate_after": churn_after, "clv_before": float(row["clv"]), "clv_after": clv_after,
            "equity_before": float(row["clv"]) * int(row["customers"]), "equity_after": clv_after * int(row["customers"]),
        })
    if in_segment.all():
        rows[0]["scope"] = "all customers"
        frame = pd.DataFrame(rows)
        frame["change_pct"] = (frame["equity_after"] / frame["equity_before"] - 1.0) * 100
        return frame
    frame = pd.DataFrame(rows)
    total = {"scope": "all customers", "customers": int(frame["customers"].sum()),
             "equity_before": float(frame["equity_before"].sum()), "equity_after": float(frame["equity_after"].sum())}
    frame = pd.concat([pd.DataFrame([total]), frame], ignore_index=True)
    frame["change_pct"] = (frame["equity_after"] / frame["equity_before"] - 1.0) * 100
    if (frame["churn_rate_after"] > 1).any():
        notes.append("classic formula: churn after the change exceeds 100% per period; its CLV is then below one period's value.")
    return frame
