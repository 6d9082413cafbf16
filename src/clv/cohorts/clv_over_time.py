"""CLV over time: cumulative revenue and margin per customer by months since acquisition.

For a group G of customers (a cohort, a channel, everyone) and month k since
acquisition (k = 0 is the acquisition month):

    observed  margin_per_customer(k) = sum over cohorts c in G with age_c >= k of
              margin of c's customers in months 0..k  /  customers of those cohorts

(only cohorts that have lived k whole months count, so the curve at large k
rests on the oldest cohorts; ``customers_observed`` says how many), and, with a
fitted model,

    projected margin_per_customer(k) = sum over all cohorts c in G of
              [observed margin of c in months 0..min(k, age_c)
               + expected margin of c in months age_c+1..k]  /  customers of G

where the expected margin of a future month is expected purchases x expected
spend x margin rate (see :mod:`clv.cohorts.projection`). The projected curve
covers every customer of G at every k: a cohort is observed up to its age and
projected after it. Revenue curves are the same with net revenue. Nothing is
discounted. The "CLV over time" curve is in the spirit of Fader & Hardie's
cohort "C3" charts (Fader, Hardie, "Customer-base valuation in a contractual
setting", 2010; McCarthy & Fader 2018, "Customer-Based Corporate Valuation").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clv.data.schema import CHANNEL
from clv.errors import DataError
from clv.formula.periods import period_label
from clv.summary import valued_orders_table
from clv.units import whole_months

from .cells import COHORT, MONTHS_SINCE, Cells, group_index, group_sum, observed_cells
from .projection import Projection, customer_histories, fit_default_models, project

FIT = "fit"


@dataclass
class ClvOverTime:
    """Result of :func:`clv_over_time`: long frames, one row per (group, month since acquisition).

    Each frame has ``months_since_acquisition`` (0..K), ``customers``, ``customers_observed``
    (customers of the cohorts that have lived that long), ``revenue_per_customer`` and
    ``margin_per_customer`` (observed, cumulative), with a model
    ``projected_revenue_per_customer`` and ``projected_margin_per_customer`` (every customer,
    observed then expected), and ``source`` ("observed", "partly projected", "projected"; without
    a model "partly observed", "not observed").

    Parameters
    ----------
    overall : pandas.DataFrame
        The curve of all customers.
    by_cohort : pandas.DataFrame
        One curve per acquisition month (column ``cohort``, e.g. "2024-03").
    by_channel : pandas.DataFrame or None
        One curve per acquisition channel (column ``channel``); None unless
        ``clv_over_time(..., by_channel=True)``.
    settings : dict, default {}
        Last complete month, observation end, margin rate and source, horizon in months, the models
        (name and parameters) and the time unit they were used in (None without a model).
    """

    overall: pd.DataFrame
    by_cohort: pd.DataFrame
    by_channel: pd.DataFrame | None
    settings: dict = field(default_factory=dict)


@dataclass
class ModelInputs:
    """The cells plus, when a model is used, its projection, the models themselves and the customers' histories."""

    cells: Cells
    projection: Projection | None
    transaction_model: object
    spend_model: object
    histories: pd.DataFrame | None = None


def prepare(
    orders: object,
    *,
    transaction_model: object = FIT,
    spend_model: object = FIT,
    time_unit: str = "week",
    margin: float | None = None,
    observation_end: object = None,
    months: int = 36,
) -> ModelInputs:
    """Observed cells and (unless ``transaction_model=None``) the model projection over ``months`` months.

    ``transaction_model`` / ``spend_model``: a fitted model, ``"fit"`` (fit
    BG/NBD / Gamma-Gamma on the customers' histories at the end of the last
    complete month, in ``time_unit``) or None (no projection / observed
    average order value as the expected spend).
    """
    months = _checked_months(months)
    cells = observed_cells(orders, margin=margin, observation_end=observation_end)
    if transaction_model is None:
        return ModelInputs(cells, None, None, None)
    histories = customer_histories(orders, cells, time_unit)
    if isinstance(transaction_model, str) or isinstance(spend_model, str):
        fitted_transactions, fitted_spend = fit_default_models(histories)
        transaction_model = fitted_transactions if isinstance(transaction_model, str) else transaction_model
        spend_model = fitted_spend if isinstance(spend_model, str) else spend_model
    projection = project(
        orders, cells, transaction_model, spend_model, time_unit=time_unit, months=months, histories=histories,
    )
    return ModelInputs(cells, projection, transaction_model, spend_model, histories)


def _checked_months(months: object) -> int:
    if isinstance(months, bool) or not isinstance(months, (int, np.integer)) or months < 1:
        raise DataError(f"months={months!r} must be a whole number of months >= 1. Fix: e.g. horizon=36, time_unit='month'.")
    return int(months)


def clv_over_time(
    orders: object,
    *,
    transaction_model: object = FIT,
    spend_model: object = FIT,
    time_unit: str = "week",
    margin: float | None = None,
    observation_end: object = None,
    horizon: float | None = None,
    by_channel: bool = False,
) -> ClvOverTime:
    """Cumulative revenue and margin per customer by months since acquisition, per cohort and overall.

    Observed where the cohorts have lived that long; projected (every customer,
    observed then expected) when a transaction model is used. See the module
    docstring for the exact definitions; months k = 0..K, K = ``horizon`` (in
    ``time_unit``; default None: 3 years) as the nearest whole number of months
    (:func:`clv.units.whole_months`).

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines (``customer_id``, ``order_ts``, ``amount``; optional ``channel``,
        ``cost``); a purchase log (no amounts) is refused.
    transaction_model : PurchaseModel or "fit" or None, default "fit"
        A fitted purchase model whose durations are in ``time_unit`` (its ``time_unit_``); "fit"
        fits a BG/NBD (:class:`clv.models.BetaGeoModel`) on the customers' histories at the end
        of the last complete month, in ``time_unit``; None projects nothing (observed values
        only).
    spend_model : SpendModel or "fit" or None, default "fit"
        A fitted spend model; "fit" fits a Gamma-Gamma (:class:`clv.models.GammaGammaModel`) on
        the repeat buyers with positive spend; None takes each customer's observed average order
        value as the expected spend.
    time_unit : str, default "week"
        The unit of the histories the models see (recency, T and the model's durations); one of
        :data:`clv.units.TIME_UNITS`. The curves themselves are by calendar month.
    margin : float or None, default None
        Gross margin rate in (0, 1]; default (revenue - cost) / revenue over the lines with a
        ``cost``.
    observation_end : date-like or None, default None
        The last day of the data; the curves stop at the last complete calendar month up to it.
        Default: the last order's day.
    horizon : float or None, default None
        How far the curves reach, in ``time_unit``, as the nearest whole number of months K
        (:func:`clv.units.whole_months`); None is 3 years (36 months).
    by_channel : bool, default False
        Also give the curves per acquisition channel (the channel of the first purchase line).

    Returns
    -------
    ClvOverTime
        The overall, per-cohort (and per-channel) curves and the settings.

    Raises
    ------
    clv.errors.DataError
        For a purchase log, a margin out of range or not computable (no ``cost`` column), a
        horizon under half a month, an unknown ``time_unit``, or no customer acquired by the end of
        the last complete month.

    Notes
    -----
    Nothing is discounted: the curves are cumulative revenue and margin per customer.

    References
    ----------
    Fader, P. S. and Hardie, B. G. S. (2010). "Customer-Base Valuation in a Contractual Setting:
    The Perils of Ignoring Heterogeneity". *Marketing Science* 29(1), 85-93.

    McCarthy, D. M. and Fader, P. S. (2018). "Customer-Based Corporate Valuation for Publicly
    Traded Non-Subscription Firms". *Journal of Marketing Research* 55(5), 617-635.
    """
    k_max = whole_months(horizon, time_unit)
    orders = valued_orders_table(orders, "the CLV over time", string_ids=True)
    inputs = prepare(
        orders, transaction_model=transaction_model, spend_model=spend_model, time_unit=time_unit,
        margin=margin, observation_end=observation_end, months=k_max,
    )
    by_cohort = curves(inputs.cells, inputs.projection, ("cohort_label",), k_max).rename(columns={"cohort_label": COHORT})
    return ClvOverTime(
        overall=curves(inputs.cells, inputs.projection, (), k_max).drop(columns="group"),
        by_cohort=by_cohort,
        by_channel=curves(inputs.cells, inputs.projection, (CHANNEL,), k_max) if by_channel else None,
        settings=_settings(inputs, time_unit, k_max),
    )


def _settings(inputs: ModelInputs, time_unit: str, k_max: int) -> dict:
    cells = inputs.cells
    return {
        "last_complete_month": period_label(cells.end_month, "month"),
        "observation_end": str(cells.observation_end.date()),
        "margin_rate": cells.margin_rule.rate,
        "margin_source": cells.margin_rule.source,
        "horizon_months": k_max,
        "model": describe_model(inputs.transaction_model),
        "spend_model": describe_model(inputs.spend_model),
        "time_unit": time_unit if inputs.projection is not None else None,
    }


def describe_model(model: object) -> str | None:
    """Model name and parameters for the settings (None without a model)."""
    if model is None:
        return None
    params = getattr(model, "params_", None) or {}
    values = ", ".join(f"{name}={value:.4g}" for name, value in params.items())
    return f"{type(model).__name__}({values})"


def completed_cumulative(cells: Cells, monthly: np.ndarray, future: np.ndarray, k_max: int) -> np.ndarray:
    """Per cell, cumulative value through month k (0..k_max): observed up to its age, then projected."""
    ages = cells.cells["age"].to_numpy()
    k = np.arange(k_max + 1)
    cumulative = np.cumsum(monthly, axis=1)
    last_observed = np.minimum(k[None, :], ages[:, None])
    base = np.take_along_axis(cumulative, np.minimum(last_observed, cumulative.shape[1] - 1), axis=1)
    future_cumulative = np.concatenate([np.zeros((future.shape[0], 1)), np.cumsum(future, axis=1)], axis=1)
    ahead = np.clip(k[None, :] - ages[:, None], 0, future.shape[1])
    return base + np.take_along_axis(future_cumulative, ahead, axis=1)


def observed_cumulative(cells: Cells, monthly: np.ndarray, k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, cumulative value through month k and the mask of observed months, width k_max + 1."""
    cumulative = _fit_width(np.cumsum(monthly, axis=1), k_max)
    observed = _fit_width(cells.observed, k_max).astype(bool)
    return np.where(observed, cumulative, 0.0), observed


def _fit_width(values: np.ndarray, k_max: int) -> np.ndarray:
    width = k_max + 1
    if values.shape[1] >= width:
        return values[:, :width]
    pad = np.zeros((values.shape[0], width - values.shape[1]), dtype=values.dtype)
    return np.concatenate([values, pad], axis=1)


def curves(cells: Cells, projection: Projection | None, by: tuple[str, ...], k_max: int) -> pd.DataFrame:
    """Long frame of the observed (and projected) cumulative curves of the groups ``by`` (() = everyone)."""
    codes, keys = group_index(cells.cells, by)
    n_groups = len(keys)
    sizes = cells.cells["customers"].to_numpy(float)
    observed_margin, observed = observed_cumulative(cells, cells.margin, k_max)
    observed_revenue, _ = observed_cumulative(cells, cells.revenue, k_max)
    customers_observed = group_sum(sizes[:, None] * observed, codes, n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = {
            "customers": np.repeat(group_sum(sizes, codes, n_groups), k_max + 1),
            "customers_observed": customers_observed.ravel(),
            "revenue_per_customer": (group_sum(observed_revenue, codes, n_groups) / customers_observed).ravel(),
            "margin_per_customer": (group_sum(observed_margin, codes, n_groups) / customers_observed).ravel(),
        }
        if projection is not None:
            totals = group_sum(sizes, codes, n_groups)[:, None]
            for name, monthly, future in (("revenue", cells.revenue, projection.revenue), ("margin", cells.margin, projection.margin)):
                completed = completed_cumulative(cells, monthly, future, k_max)
                columns[f"projected_{name}_per_customer"] = (group_sum(completed, codes, n_groups) / totals).ravel()
    frame = keys.loc[keys.index.repeat(k_max + 1)].reset_index(drop=True)
    frame[MONTHS_SINCE] = np.tile(np.arange(k_max + 1), n_groups)
    for name, values in columns.items():
        frame[name] = values
    frame["customers_observed"] = frame["customers_observed"].astype("int64")
    frame["customers"] = frame["customers"].astype("int64")
    frame["source"] = np.select(
        [frame["customers_observed"] == frame["customers"], frame["customers_observed"] > 0],
        ["observed", "partly projected" if projection is not None else "partly observed"],
        "projected" if projection is not None else "not observed",
    )
    return frame
