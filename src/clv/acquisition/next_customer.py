"""The next customer of each acquisition channel: expected margin from acquisition, CLV:CAC, with an interval.

The CLV of the customers a channel acquired in the past is their observed
margin completed by the model (:mod:`clv.acquisition.payback`). The next
customer the channel brings has no history yet; its expected margin over the
same window is the value of a customer not yet seen
(:func:`clv.scores.new_customers.new_customer_value`):

    next_customer_clv = margin x E[M_c] x (1 + E[X_c(H)]),

with E[X_c(H)] the expected repeat purchases in the first H after acquisition
of a new customer of channel c (the purchase model refitted on channel c's
customers, by the same ladder as the pooled fit), E[M_c] the prior mean order
value of the Gamma-Gamma refitted on channel c's repeat buyers (without a spend
model: the mean observed average order value of channel c's customers), the
first order counted, nothing discounted (as the past customers' CLV), and
H = K + 0.5 months: the past customers' CLV counts months 0..K since
acquisition, month 0 being the rest of the acquisition month (half a month on
average).

When a channel's own customers do not support a fit (too few, or no churn the
model can identify and the ladder refuses even the NBD), the model of all
customers is used for it and ``next_customer_basis`` says so.

The interval (``NEXT_CUSTOMER_INTERVAL``, 90%) is for the expected value of
the next customer, from the uncertainty of the channel's estimates (parameter
draws); it does not cover the spread between individual customers.
``next_customer_clv_to_cac`` divides by the channel's CAC (total spend / total
new customers), the price paid for its customers so far.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from clv.data.schema import CHANNEL
from clv.errors import DataError, FitError
from clv.units import convert_duration

NEXT_CUSTOMER_INTERVAL = 0.9
NEXT_CUSTOMER_COLUMNS = (
    CHANNEL, "next_customer_clv", "next_customer_clv_low", "next_customer_clv_high", "next_customer_clv_to_cac",
    "next_customer_basis",
)
_HISTORY = ("frequency", "recency", "T")


def next_customer_by_channel(
    histories: pd.DataFrame,
    cac: pd.Series,
    *,
    transaction_model,
    spend_model,
    time_unit: str,
    months: int,
    margin: float,
    n_draws: int = 400,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Expected margin of the next customer of each channel over months 0..``months`` and its CLV:CAC.

    See the module docstring for the definitions (one fit per channel, the
    pooled models as the fallback, H = ``months`` + 0.5 months, undiscounted).

    Parameters
    ----------
    histories : pandas.DataFrame
        Per customer: ``channel``, ``frequency``, ``recency``, ``T`` (in ``time_unit``),
        ``monetary_value`` and ``average_order`` (:func:`clv.cohorts.projection.customer_histories`).
    cac : pandas.Series
        CAC per channel (index: channel).
    transaction_model : PurchaseModel
        The purchase model fitted on all customers: its registry name (the ladder's requested
        model) is refitted per channel, and it stands in where a channel cannot be fitted.
    spend_model : SpendModel or None
        The spend model fitted on all customers (refitted per channel likewise), or None for the
        observed average order value of each channel's customers.
    time_unit : str
        Unit of the histories and of the models.
    months : int
        The months since acquisition K of the past customers' CLV.
    margin : float
        Gross margin rate.
    n_draws : int, default 400
        Parameter draws for the interval per channel (the Monte Carlo error of a 5% or 95% bound's
        level is sqrt(0.05 x 0.95 / 400) = 0.011).
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    pandas.DataFrame
        One row per channel of ``cac``, columns ``NEXT_CUSTOMER_COLUMNS``.
    """
    from clv.scores.intervals import quantile_levels, quantile_name
    from clv.scores.new_customers import new_customer_value

    horizon = convert_duration(months + 0.5, "month", time_unit)
    coverage = NEXT_CUSTOMER_INTERVAL
    bounds = quantile_levels((coverage,))
    channel_of = histories[CHANNEL].astype(str).to_numpy()
    rows = []
    for channel in cac.index:
        customers = histories[channel_of == str(channel)]
        purchases, spend, basis = _channel_models(customers, transaction_model, spend_model, time_unit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            value = new_customer_value(purchases, spend, horizon=horizon, time_unit=time_unit, discount_rate=0.0,
                                       margin=margin, intervals=(coverage,), n_draws=n_draws, seed=seed)
        if spend is None:  # the channel's observed average order value, known: the interval is the purchases'
            scale = margin * _mean_order(customers if len(customers) else histories)
            point, low, high = (scale * (1.0 + value[name][0]) for name in
                                ("discounted_purchases", *(quantile_name("discounted_purchases", u) for u in bounds)))
        else:
            point, low, high = (value[name][0] for name in ("clv", *(quantile_name("clv", u) for u in bounds)))
        rows.append({CHANNEL: channel, "next_customer_clv": point, "next_customer_clv_low": low,
                     "next_customer_clv_high": high, "next_customer_basis": basis})
    out = pd.DataFrame(rows, columns=[c for c in NEXT_CUSTOMER_COLUMNS if c != "next_customer_clv_to_cac"])
    channel_cac = cac.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out.insert(4, "next_customer_clv_to_cac", np.where(channel_cac > 0, out["next_customer_clv"] / channel_cac, np.nan))
    return out


def _channel_models(customers: pd.DataFrame, transaction_model, spend_model, time_unit: str):
    """(purchase model, spend model or None, basis in words) for one channel's customers."""
    from clv.models import model_class
    from clv.models.ladder import fit_purchase_model

    requested = _requested_name(transaction_model)
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            purchases = fit_purchase_model(tuple(customers[c].to_numpy(float) for c in _HISTORY), requested,
                                           time_unit=time_unit)
            notes.append(f"{purchases.model_name} fitted on the channel's {len(customers)} customers")
        except (FitError, DataError) as refused:
            purchases = transaction_model
            notes.append(f"{getattr(purchases, 'model_name', 'model')} of all customers (the channel's "
                         f"{len(customers)} customers do not support a fit: {_first_sentence(refused)})")
        spend = None
        if spend_model is not None:
            usable = (customers["frequency"] > 0) & (customers["monetary_value"] > 0)
            try:
                spend = model_class(spend_model.model_name)().fit(
                    customers.loc[usable, "frequency"].to_numpy(float), customers.loc[usable, "monetary_value"].to_numpy(float))
                notes.append(f"{spend.model_name} on its {int(usable.sum())} repeat buyers")
            except (FitError, DataError) as refused:
                spend = spend_model
                notes.append(f"{spend.model_name} of all customers ({_first_sentence(refused)})")
        else:
            notes.append("its observed average order value")
    return purchases, spend, "; ".join(notes)


def _requested_name(model) -> str:
    choice = getattr(model, "model_choice_", None)
    return choice.requested if choice is not None else model.model_name


def _mean_order(customers: pd.DataFrame) -> float:
    return float(np.clip(customers["average_order"].to_numpy(float), 0.0, None).mean())


def _first_sentence(error: Exception) -> str:
    text = str(error).split(". ")[0]
    return text[:160]
