"""Acquisition economics per channel and per (channel, acquisition month): CAC, CLV, CLV:CAC, payback.

Inputs: the order lines and a spend table (channel, month, spend). A customer's
acquisition channel is the channel on their first purchase line ever and their
acquisition month the month of that line (as in :mod:`clv.formula.cac`, whose
spend parsing and new-customer counts are reused).

Per (channel, month) of the spend table (channels that acquired customers but
have no spend row get spend 0 in every month they acquired someone):

    new_customers  customers whose first purchase is in that month via that channel
    CAC            spend / new_customers          (inf when spend > 0 and nobody was acquired)

Per channel: sums of spend and new customers, CAC = total spend / total new.

Value per customer is the cumulative gross margin by months since acquisition
(:mod:`clv.cohorts.clv_over_time`): observed, and with a fitted model
completed with expected purchases x expected spend x margin for the months not
yet lived.

    CLV          with a model: cumulative margin per customer at month
                 K since acquisition (K = ``horizon`` in whole months; observed +
                 expected, undiscounted), i.e. the K-month CLV from acquisition; without
                 a model: the classic formula CLV (clv.formula.classic_clv,
                 AOV x frequency x margin / churn) of the same customers
    CLV:CAC      CLV / CAC (NaN when CAC is 0)
    payback      the first month k since acquisition (k = 0 is the acquisition
                 month) whose cumulative margin per customer >= CAC:
                 'observed' when the observed curve reaches CAC; else
                 'projected' when the model-completed curve does within
                 K months; else 'not within N months' (N =
                 K with a model, the months observed without one)

With a model, the NEXT customer of each channel (not only the past ones):
its expected margin over the same months and CLV:CAC, with a 90% interval, from
the models refitted on the channel's customers (:mod:`clv.acquisition.next_customer`,
``AcquisitionReport.next_customer``).

Payback follows the usual marketing definition (months of gross margin needed
to recover the acquisition cost, e.g. Skok, "SaaS Metrics 2.0"; Gupta &
Lehmann 2005, "Managing Customers as Investments").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clv.cohorts.cells import COHORT, acquisitions, group_index, group_sum
from clv.acquisition.next_customer import next_customer_by_channel
from clv.cohorts.clv_over_time import FIT, ModelInputs, curves, describe_model, prepare
from clv.data.schema import CHANNEL, CUSTOMER_ID
from clv.engine import execute
from clv.errors import DataError
from clv.units import whole_months
from clv.formula import classic_clv
from clv.formula.cac import (
    SPEND_COLUMNS,
    new_customers_by_channel_month,
    spend_by_channel_month,
)
from clv.formula.periods import period_label
from clv.summary import valued_orders_table

CHANNEL_COLUMNS = (
    CHANNEL, "new_customers", "spend", "cac", "months_observed", "margin_to_date_per_customer",
    "clv", "clv_source", "clv_to_cac", "payback_month", "payback_status",
)


@dataclass
class AcquisitionReport:
    """Result of :func:`acquisition_payback`.

    Parameters
    ----------
    by_channel : pandas.DataFrame
        One row per acquisition channel, columns ``CHANNEL_COLUMNS``: ``channel``,
        ``new_customers``, ``spend``, ``cac``, ``months_observed``,
        ``margin_to_date_per_customer``, ``clv``, ``clv_source``, ``clv_to_cac``,
        ``payback_month`` and ``payback_status`` ("observed", "projected" or "not within N
        months").
    by_cohort : pandas.DataFrame
        One row per (channel, acquisition month), the same columns plus ``cohort`` (e.g.
        "2024-03").
    curves : pandas.DataFrame
        Cumulative margin per customer by months since acquisition, per channel (observed and,
        with a model, projected; see :class:`clv.cohorts.ClvOverTime`).
    cohort_curves : pandas.DataFrame
        The same per (channel, acquisition month).
    settings : dict, default {}
        Margin rate and source, horizon in months, models used.
    next_customer : pandas.DataFrame or None, default None
        With a model: one row per channel, the expected margin of the NEXT customer the channel
        acquires over the same months and its CLV:CAC, with a 90% interval (columns
        :data:`clv.acquisition.next_customer.NEXT_CUSTOMER_COLUMNS`; see that module). None
        without a model.
    """

    by_channel: pd.DataFrame
    by_cohort: pd.DataFrame
    curves: pd.DataFrame
    cohort_curves: pd.DataFrame
    settings: dict = field(default_factory=dict)
    next_customer: pd.DataFrame | None = None


def acquisition_payback(
    orders: object,
    spend: pd.DataFrame,
    *,
    transaction_model: object = FIT,
    spend_model: object = FIT,
    time_unit: str = "week",
    margin: float | None = None,
    observation_end: object = None,
    horizon: float | None = None,
) -> AcquisitionReport:
    """CAC, CLV, CLV:CAC and payback per acquisition channel and per (channel, acquisition month).

    ``spend``: DataFrame with columns channel, month (e.g. '2024-03'), spend.
    ``transaction_model`` / ``spend_model``: fitted models, "fit" (BG/NBD and
    Gamma-Gamma fitted on the data, time in ``time_unit``) or None (no
    projection; CLV from the classic formula). ``margin``: gross margin rate,
    default from the cost column. Months since acquisition run 0..K, K = ``horizon`` (in
    ``time_unit``; default None: 3 years) as the nearest whole number of months.

    Per (channel, month) of the spend table, CAC = spend / new customers (inf when spend > 0 and
    nobody was acquired); per channel, total spend / total new customers. CLV with a model is the
    K-month cumulative margin per customer from acquisition (observed + expected, undiscounted);
    without one, the classic formula CLV (:func:`clv.formula.classic_clv`) of the same customers.
    Payback is the first month k since acquisition whose cumulative margin per customer reaches
    the CAC (see the module docstring).

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines (``customer_id``, ``order_ts``, ``amount``; optional ``channel``,
        ``cost``); a customer's channel is the one on their first purchase line ("(missing)" when
        null, "(all)" without a channel column). A purchase log (no amounts) is refused.
    spend : pandas.DataFrame
        Acquisition spend, columns ``channel``, ``month`` (e.g. "2024-03") and ``spend``.
    transaction_model : PurchaseModel or "fit" or None, default "fit"
        A fitted purchase model whose durations are in ``time_unit`` (its ``time_unit_``); "fit"
        fits a BG/NBD (:class:`clv.models.BetaGeoModel`) on the customers' histories at the end
        of the last complete month, in ``time_unit``; None projects nothing (observed values
        only; CLV from the classic formula).
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

    Returns
    -------
    AcquisitionReport
        CAC, CLV, CLV:CAC and payback per channel and per (channel, acquisition month), the
        margin curves behind them and, with a model, the next customer of each channel
        (``next_customer``: expected margin over the same months, CLV:CAC, 90% interval).

    Raises
    ------
    clv.errors.DataError
        For a purchase log, a spend table without its columns or with bad values, a margin out of
        range or not computable, a horizon under half a month, or an unknown ``time_unit``.

    References
    ----------
    Gupta, S. and Lehmann, D. R. (2005). *Managing Customers as Investments*. Wharton School
    Publishing (payback: months of gross margin needed to recover the acquisition cost).

    Skok, D. "SaaS Metrics 2.0" (CAC payback).
    """
    table = valued_orders_table(orders, "the acquisition payback", string_ids=True)
    spend_rows = _spend_rows(table, spend)
    k_max = whole_months(horizon, time_unit)
    inputs = prepare(
        table, transaction_model=transaction_model, spend_model=spend_model, time_unit=time_unit,
        margin=margin, observation_end=observation_end, months=k_max,
    )
    channel_curves = curves(inputs.cells, inputs.projection, (CHANNEL,), k_max)
    cohort_curves = curves(inputs.cells, inputs.projection, (CHANNEL, COHORT), k_max)

    by_channel = spend_rows.groupby(CHANNEL, as_index=False)[["spend", "new_customers"]].sum()
    by_cohort = spend_rows.rename(columns={"month_index": COHORT})
    classic = None if inputs.projection is not None else _classic_by_group(table, margin, inputs)
    by_channel = _economics(by_channel, channel_curves, (CHANNEL,), inputs, k_max, classic)
    by_cohort = _economics(by_cohort, cohort_curves, (CHANNEL, COHORT), inputs, k_max, classic)
    by_cohort.insert(1, "month", [period_label(m, "month") for m in by_cohort[COHORT]])
    by_cohort = by_cohort.drop(columns=COHORT).rename(columns={"month": COHORT})
    next_customer = None
    if inputs.projection is not None and inputs.histories is not None:
        next_customer = next_customer_by_channel(
            inputs.histories, by_channel.set_index(CHANNEL)["cac"], transaction_model=inputs.transaction_model,
            spend_model=inputs.spend_model, time_unit=time_unit, months=k_max, margin=inputs.cells.margin_rule.rate,
        )
    return AcquisitionReport(
        by_channel=by_channel[list(CHANNEL_COLUMNS)],
        by_cohort=by_cohort[[CHANNEL, COHORT, *CHANNEL_COLUMNS[1:]]],
        curves=channel_curves,
        cohort_curves=_labelled(cohort_curves),
        next_customer=next_customer,
        settings={
            "margin_rate": inputs.cells.margin_rule.rate,
            "margin_source": inputs.cells.margin_rule.source,
            "horizon_months": k_max,
            "last_complete_month": period_label(inputs.cells.end_month, "month"),
            "model": describe_model(inputs.transaction_model),
            "spend_model": describe_model(inputs.spend_model),
            "time_unit": time_unit if inputs.projection is not None else None,
        },
    )


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Cohort month indices as labels ('2024-03')."""
    out = frame.copy()
    out[COHORT] = [period_label(m, "month") for m in out[COHORT]]
    return out


def _spend_rows(table, spend: pd.DataFrame) -> pd.DataFrame:
    """Spend and new customers per (channel, month_index); unlisted acquiring channels get spend 0."""
    if not isinstance(spend, pd.DataFrame):
        raise DataError(
            f"spend: expected a DataFrame with columns {', '.join(SPEND_COLUMNS)}, got {type(spend).__name__}. "
            "Fix: pass e.g. pd.read_csv('spend.csv')."
        )
    missing = [c for c in SPEND_COLUMNS if c not in spend.columns]
    if missing:
        raise DataError(
            f"spend lacks column(s) {', '.join(missing)}; columns found: {', '.join(map(str, spend.columns))}. "
            "Fix: give columns channel, month (e.g. '2024-03'), spend."
        )
    spent = spend_by_channel_month(spend)
    new = new_customers_by_channel_month(table).rename(columns={CHANNEL: "channel"})
    rows = spent.merge(new, how="left", on=["channel", "month_index"])
    unlisted = new[~new["channel"].isin(set(spent["channel"]))].assign(spend=0.0)
    rows = pd.concat([rows, unlisted], ignore_index=True)
    rows["new_customers"] = rows["new_customers"].fillna(0).astype("int64")
    rows["month_index"] = rows["month_index"].astype("int64")
    return rows.rename(columns={"channel": CHANNEL}).sort_values([CHANNEL, "month_index"]).reset_index(drop=True)


def _economics(
    rows: pd.DataFrame, group_curves: pd.DataFrame, keys: tuple[str, ...], inputs: ModelInputs, k_max: int,
    classic: dict[tuple, float] | None,
) -> pd.DataFrame:
    out = rows.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cac"] = np.where(out["spend"] > 0, out["spend"] / out["new_customers"], 0.0)
    curve_keys = group_curves[list(keys)].drop_duplicates().reset_index(drop=True)
    wide = {name: _curve_matrix(group_curves, keys, name, curve_keys, k_max)
            for name in ("margin_per_customer", "projected_margin_per_customer", "customers_observed")}
    position = pd.MultiIndex.from_frame(curve_keys).get_indexer(pd.MultiIndex.from_frame(out[list(keys)]))
    found = position >= 0
    take = np.where(found, position, 0)
    observed = np.where(found[:, None], wide["margin_per_customer"][take], np.nan)
    projected = None
    if inputs.projection is not None:
        projected = np.where(found[:, None], wide["projected_margin_per_customer"][take], np.nan)
    months_observed = np.where(found, (wide["customers_observed"][take] > 0).sum(axis=1) - 1, -1)
    out["months_observed"] = np.where(found, months_observed, 0).astype("int64")
    out["margin_to_date_per_customer"] = _margin_to_date(inputs, keys, out)
    if projected is not None:
        out["clv"] = projected[:, k_max]
        out["clv_source"] = f"model: {k_max}-month margin from acquisition"
    else:
        labels = [_group_label(row, keys) for row in out[list(keys)].itertuples(index=False)]
        out["clv"] = [classic.get(label, np.nan) for label in labels]
        out["clv_source"] = "classic formula"
    with np.errstate(divide="ignore", invalid="ignore"):
        out["clv_to_cac"] = np.where(out["cac"] > 0, out["clv"] / out["cac"], np.nan)
    month, status = payback(observed, projected, out["cac"].to_numpy(float), k_max, out["months_observed"].to_numpy())
    out["payback_month"] = pd.array(month, dtype="Int64")
    out["payback_status"] = status
    return out


def _margin_to_date(inputs: ModelInputs, keys: tuple[str, ...], rows: pd.DataFrame) -> np.ndarray:
    """Observed margin to the last complete month per customer of each group (all its cohorts, each to its age)."""
    cells = inputs.cells
    codes, groups = group_index(cells.cells, keys)
    margin = group_sum(cells.margin.sum(axis=1), codes, len(groups))
    customers = group_sum(cells.cells["customers"].to_numpy(float), codes, len(groups))
    position = pd.MultiIndex.from_frame(groups).get_indexer(pd.MultiIndex.from_frame(rows[list(keys)]))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_customer = margin / customers
    return np.where(position >= 0, per_customer[np.maximum(position, 0)], np.nan)


def _curve_matrix(frame: pd.DataFrame, keys, column: str, curve_keys: pd.DataFrame, k_max: int) -> np.ndarray:
    if column not in frame.columns:
        return np.full((len(curve_keys), k_max + 1), np.nan)
    return frame[column].to_numpy(float).reshape(len(curve_keys), k_max + 1)


def payback(
    observed: np.ndarray, projected: np.ndarray | None, cac: np.ndarray, horizon: int, months_observed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First month k with cumulative margin per customer >= CAC, and whether it was observed or projected.

    ``observed`` / ``projected``: (rows, horizon + 1) cumulative margin per
    customer (NaN where unknown). Returns (month as float, NaN when none;
    status) per row.
    """
    first_observed = _first_reach(observed, cac)
    first_projected = np.full(cac.shape, -1) if projected is None else _first_reach(projected, cac)
    has_model = projected is not None
    finite = np.isfinite(cac)
    conditions = [
        ~finite,
        first_observed >= 0,
        has_model & (first_projected >= 0),
        np.full(cac.shape, has_model),
        months_observed < 0,
    ]
    statuses = [
        "no new customers for this spend",
        "observed",
        "projected",
        f"not within {horizon} months (projected)",
        "not observed yet (no complete month; no model to project)",
    ]
    default = np.char.add(np.char.add("not reached in months 0..", months_observed.astype(str)), " observed (no model to project)")
    status = np.select(conditions, statuses, default=default.astype(object)).astype(object)
    month = np.select(conditions[:3], [np.nan, first_observed, first_projected], default=np.nan)
    return month, status


def _first_reach(curve: np.ndarray, cac: np.ndarray) -> np.ndarray:
    """Index of the first column where the row reaches its CAC, -1 when it never does."""
    with np.errstate(invalid="ignore"):
        reached = curve >= cac[:, None]
    return np.where(reached.any(axis=1), reached.argmax(axis=1), -1)


def _group_label(values: tuple, keys: tuple[str, ...]) -> str:
    return "|".join(str(v) for v in values)


def _classic_by_group(table, margin: float | None, inputs: ModelInputs) -> dict[str, float]:
    """Classic formula CLV of each channel and each (channel, acquisition month) of the cells' customers."""
    acquired = execute(acquisitions(table).filter(lambda t: t[COHORT] <= inputs.cells.end_month))
    channel = acquired[CHANNEL].astype(str)
    out: dict[str, float] = {}
    for labels in (channel, channel + "|" + acquired[COHORT].astype("int64").astype(str)):
        mapping = pd.Series(labels.to_numpy(), index=acquired[CUSTOMER_ID].astype(str).to_numpy())
        try:
            result = classic_clv(table, time_unit="year", segment_by=mapping,  # per year, as before issue 14
                                 margin=inputs.cells.margin_rule.rate if margin is None else margin)
        except DataError:
            continue
        out.update(dict(zip(result.by_segment["segment"], result.by_segment["clv"].astype(float))))
    return out


