"""Customer acquisition cost (CAC): a number, a price per channel, or spend / new customers.

A customer's CAC is the CAC of their acquisition channel, the channel of their
first purchase line ever. A segment's (or the overall) CAC is the average over
its customers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from ibis.expr.types import Table

from clv.data.schema import CHANNEL, CUSTOMER_ID
from clv.engine import execute
from clv.errors import DataError

from .customer_segments import MISSING_VALUE
from .periods import first_purchase_lines, period_index

__all__ = [
    "CUSTOMER_CAC",
    "SPEND_COLUMNS",
    "CustomerCac",
    "new_customers_by_channel_month",
    "resolve_cac",
    "spend_by_channel_month",
]

CUSTOMER_CAC = "_cac"
SPEND_COLUMNS = ("channel", "month", "spend")


@dataclass(frozen=True)
class CustomerCac:
    """Either one CAC for everyone (``constant``) or a per-customer table."""

    constant: float | None
    per_customer: Table | None
    by_channel: pd.DataFrame | None


def resolve_cac(table: Table, cac: object) -> CustomerCac:
    """Turn the ``cac=`` argument into per-customer acquisition costs."""
    if cac is None:
        return CustomerCac(None, None, None)
    if isinstance(cac, (int, float, np.integer, np.floating)) and not isinstance(cac, bool):
        if not np.isfinite(cac) or cac < 0:
            raise DataError(f"cac={cac!r} must be a finite number >= 0. Fix: pass e.g. cac=25.0.")
        return CustomerCac(float(cac), None, None)
    if isinstance(cac, Mapping):
        return _per_channel(table, _price_list(cac))
    if isinstance(cac, pd.DataFrame):
        return _per_channel(table, _from_spend(table, cac))
    raise DataError(
        f"cac: expected a number, a dict channel -> CAC or a DataFrame of spend, got "
        f"{type(cac).__name__}. Fix: pass e.g. cac=25.0 or cac={{'search': 30.0, 'email': 5.0}}."
    )


def _channel_key(value: object) -> str:
    return MISSING_VALUE if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _price_list(cac: Mapping) -> pd.DataFrame:
    rows = []
    for channel, value in cac.items():
        if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value) or value < 0:
            raise DataError(
                f"cac[{channel!r}]={value!r} must be a finite number >= 0. Fix: e.g. cac={{{channel!r}: 25.0}}."
            )
        rows.append((_channel_key(channel), float(value)))
    return pd.DataFrame(rows, columns=["channel", "cac"])


def _acquisition_channels(table: Table) -> Table:
    if CHANNEL not in table.columns:
        raise DataError(
            "cac: a CAC per channel needs a 'channel' column in the orders; columns found: "
            f"{', '.join(table.columns)}. Fix: load the channel column, or pass one number, e.g. cac=25.0."
        )
    first = first_purchase_lines(table, (CHANNEL,))
    return first.mutate(**{CHANNEL: first[CHANNEL].cast("string").fill_null(MISSING_VALUE)})


def _per_channel(table: Table, prices: pd.DataFrame) -> CustomerCac:
    acquired = _acquisition_channels(table)
    channels = execute(acquired.select(CHANNEL).distinct())[CHANNEL].astype(str)
    unpriced = sorted(set(channels) - set(prices["channel"]))
    if unpriced:
        raise DataError(
            f"cac: no CAC for acquisition channel(s) {', '.join(map(repr, unpriced))}; CAC given for "
            f"{', '.join(map(repr, prices['channel']))}. Fix: add them, e.g. cac={{..., {unpriced[0]!r}: 0.0}}."
        )
    price_table = ibis.memtable(prices[["channel", "cac"]].rename(columns={"channel": "_price_channel"}))
    joined = acquired.join(price_table, acquired[CHANNEL] == price_table._price_channel)
    per_customer = joined.select(CUSTOMER_ID, **{CUSTOMER_CAC: joined.cac})
    return CustomerCac(None, per_customer, prices.reset_index(drop=True))


def _from_spend(table: Table, spend: pd.DataFrame) -> pd.DataFrame:
    """CAC per channel = total spend / new customers acquired in the spend table's months.

    New customers of channel c are those whose first purchase ever is in a month
    for which the table lists spend of channel c. Channels that acquired
    customers but have no spend row get spend 0 and CAC 0 (counted over all the
    table's months). A channel with spend but no new customer has CAC = inf.
    """
    missing = [c for c in SPEND_COLUMNS if c not in spend.columns]
    if missing:
        raise DataError(
            f"cac: the spend DataFrame lacks column(s) {', '.join(missing)}; columns found: "
            f"{', '.join(map(str, spend.columns))}. Fix: pass columns channel, month "
            "(e.g. '2011-03'), spend."
        )
    spend = spend_by_channel_month(spend)
    new = new_customers_by_channel_month(table)
    all_months = spend["month_index"].unique()
    extra_channels = sorted(set(new[CHANNEL]) - set(spend["channel"]))
    zero_spend = pd.DataFrame(
        [(ch, m, 0.0) for ch in extra_channels for m in all_months],
        columns=["channel", "month_index", "spend"],
    )
    spend = pd.concat([spend, zero_spend], ignore_index=True)
    merged = spend.merge(
        new, how="left", left_on=["channel", "month_index"], right_on=[CHANNEL, "month_index"]
    )
    merged["new_customers"] = merged["new_customers"].fillna(0).astype("int64")
    by_channel = merged.groupby("channel", as_index=False)[["spend", "new_customers"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        cac = by_channel["spend"] / by_channel["new_customers"]
    by_channel["cac"] = cac.where(by_channel["spend"] > 0, 0.0)
    return by_channel[["channel", "spend", "new_customers", "cac"]]


def spend_by_channel_month(spend: pd.DataFrame) -> pd.DataFrame:
    """Marketing spend summed per (channel, calendar month), checked.

    Parameters
    ----------
    spend : pandas.DataFrame
        Columns ``channel``, ``month`` (a date or e.g. '2011-03') and ``spend``
        (a number >= 0), as :data:`SPEND_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        ``channel`` (text key), ``month_index`` (year x 12 + month - 1) and ``spend``.

    Raises
    ------
    DataError
        For a month that is not a date, or a spend that is not a number >= 0 (naming the row).
    """
    try:
        months = pd.to_datetime(spend["month"].astype(str), format="mixed")
    except (TypeError, ValueError) as exc:
        raise DataError(
            "cac: the spend 'month' column has values that are not dates. Fix: use e.g. '2011-03'."
        ) from exc
    amounts = pd.to_numeric(spend["spend"], errors="coerce")
    bad = amounts.isna() | (amounts < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"cac: spend row {row} has spend={spend['spend'].iloc[row]!r}; spend must be a number >= 0. "
            "Fix: correct or drop that row."
        )
    frame = pd.DataFrame(
        {
            "channel": [_channel_key(v) for v in spend["channel"]],
            "month_index": (months.dt.year * 12 + months.dt.month - 1).to_numpy(),
            "spend": amounts.to_numpy(dtype=float),
        }
    )
    return frame.groupby(["channel", "month_index"], as_index=False)["spend"].sum()


def new_customers_by_channel_month(table: Table) -> pd.DataFrame:
    """New customers per (acquisition channel, acquisition month).

    A customer is acquired in the calendar month of their first purchase line
    ever, through the channel on that line (:func:`clv.formula.periods.first_purchase_lines`).

    Parameters
    ----------
    table : ibis.expr.types.Table
        Typed order lines (:func:`clv.data.orders_table.as_orders_table`).

    Returns
    -------
    pandas.DataFrame
        ``channel``, ``month_index`` (year x 12 + month - 1) and ``new_customers``.
    """
    acquired = _acquisition_channels(table)
    acquired = acquired.mutate(month_index=period_index(acquired.first_ts, "month"))
    counts = acquired.group_by([CHANNEL, "month_index"]).aggregate(new_customers=acquired.count())
    frame = execute(counts)
    frame[CHANNEL] = frame[CHANNEL].astype(str)
    return frame
