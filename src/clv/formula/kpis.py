"""The classic (formula) customer lifetime value, overall and per segment.

    AOV                = revenue / orders
    purchase frequency = orders / customers / n_periods      (orders per customer per period)
    customer value     = AOV x purchase frequency            (revenue per customer per period)
    lifespan           = 1 / churn rate                      (periods), unless given
    CLV                = customer value x lifespan x gross margin
    net CLV            = CLV - CAC

This is the textbook "simple CLV" of e.g. Gupta & Lehmann, *Customers as Assets*
(J. Interactive Marketing 17(1), 2003), with margin m and retention r = 1 - churn:
the sum over periods of m x value x r^t ~ m x value / churn. See docs/formula.md
for every definition choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ibis.expr.types import Table

from clv.data.schema import AMOUNT, CHANNEL, COST, CUSTOMER_ID, ORDER_TS
from clv.engine import execute
from clv.errors import DataError
from clv.units import DAYS_PER_UNIT

from ._activity import activity_pairs, attach
from .cac import CUSTOMER_CAC, CustomerCac, resolve_cac
from .customer_segments import ALL_CUSTOMERS, SEGMENT, customer_segments
from .period_choice import (
    PERIOD_RULE,
    PeriodChoice,
    choose_period,
    convert_churn,
    median_days_between_orders,
)
from .periods import (
    ORDER_KEY,
    PERIOD,
    PERIOD_UNITS,
    Window,
    as_valued_orders,
    check_rates,
    check_unit,
    is_purchase,
    no_margin_message,
    period_is_complete,
    period_label,
    refuse_without_amounts,
    resolve_window,
    window_period_range,
    with_order_key,
)

_SUM_COLUMNS = (
    "customers",
    "orders",
    "revenue",
    "refunds_excluded",
    "repeat_customers",
    "revenue_with_cost",
    "cost",
    "churned_customers",
    "churned_span_days",
    "cac_sum",
)
_KPI_COLUMNS = (
    "customers",
    "orders",
    "revenue",
    "aov",
    "purchase_frequency",
    "repeat_rate",
    "customer_value",
    "churn_rate",
    "churn_source",
    "lifespan",
    "lifespan_source",
    "lifespan_observed",
    "margin",
    "margin_source",
    "clv",
    "cac",
    "net_clv",
)


@dataclass
class ClassicCLV:
    """Result of :func:`classic_clv`.

    Parameters
    ----------
    overall : pandas.DataFrame
        One row: the window, the KPIs (customers, orders, revenue, AOV, purchase frequency, repeat
        rate, customer value, churn rate, lifespan, margin, each with its source where it can be
        given or estimated) and the CLV of all customers in the window (``net_clv`` with a CAC).
    by_segment : pandas.DataFrame or None
        The same KPIs, one row per segment; None without ``segment_by``.
    segment_average : pandas.DataFrame or None
        One row: the customer-weighted average CLV over the segments next to the overall CLV;
        None without ``segment_by``.
    churn_pairs : pandas.DataFrame
        The consecutive period pairs behind the estimated churn (customers active in the first
        period, and of those in the next).
    cac_by_channel : pandas.DataFrame or None
        The CAC of each acquisition channel; None unless the CAC is given per channel.
    settings : dict, default {}
        The arguments as resolved (time unit, window, margin, churn and lifespan sources...).
    by_period : pandas.DataFrame or None, default None
        The same orders valued per year, per quarter and per month (period, periods in the window,
        orders per customer per period, churn, its source, CLV, whether it is the period used), so
        the formula's dependence on the period is visible; None when a churn or lifespan is given.
    notes : list of str, default []
        Plain-words notes: the period and why, the CLV at the other periods, and any churn converted
        from another period.

    See Also
    --------
    classic_clv : Builds it.
    """

    overall: pd.DataFrame
    by_segment: pd.DataFrame | None
    segment_average: pd.DataFrame | None
    churn_pairs: pd.DataFrame
    cac_by_channel: pd.DataFrame | None
    settings: dict = field(default_factory=dict)
    by_period: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def clv(self) -> float:
        """The overall CLV per customer."""
        return float(self.overall["clv"].iloc[0])

    def to_dict(self) -> dict:
        """Plain-Python (JSON-ready) form: NaN becomes None, timestamps ISO strings."""
        return {
            "overall": _records(self.overall)[0],
            "by_segment": None if self.by_segment is None else _records(self.by_segment),
            "segment_average": None
            if self.segment_average is None
            else _records(self.segment_average)[0],
            "churn_pairs": _records(self.churn_pairs),
            "cac_by_channel": None if self.cac_by_channel is None else _records(self.cac_by_channel),
            "settings": {k: _plain(v) for k, v in self.settings.items()},
            "by_period": None if self.by_period is None else _records(self.by_period),
            "notes": list(self.notes),
        }


def classic_clv(
    orders: Table | pd.DataFrame,
    *,
    start: object = None,
    end: object = None,
    time_unit: str | None = None,
    margin: float | None = None,
    churn_rate: float | None = None,
    lifespan: float | None = None,
    cac: object = None,
    segment_by: object = None,
    pool_rates: bool = False,
) -> ClassicCLV:
    """Classic formula CLV = AOV x purchase frequency x lifespan x margin, minus CAC.

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame
        Canonical order lines (``customer_id``, ``order_ts``, ``amount``; optional ``order_id``,
        ``channel``, ``cost``); refunds are lines with a negative amount.
    start, end : date-like or None, default None
        First and last day of the window (inclusive); default: the first and last order line.
    time_unit : {"year", "quarter", "month"} or None, default None
        The period of frequency, churn and lifespan. None (or 'auto') picks it from the data by
        :data:`clv.formula.period_choice.PERIOD_RULE`: the shortest calendar period at least as long
        as the median time between orders whose churn the window can measure. The result states
        the period (``settings``, ``notes``) and the CLV at the other periods (``by_period``).
        A period whose churn the window cannot measure is computed with the churn converted from
        the longest measurable period (constant retention), with a note.
    margin : float or None, default None
        Gross margin rate in (0, 1]; default (revenue - cost) / revenue from the ``cost`` column.
    churn_rate : float or None, default None
        Churn per period in (0, 1]; default estimated from consecutive period pairs (see
        docs/formula.md).
    lifespan : float or None, default None
        Expected lifetime in periods; overrides churn (else 1 / churn).
    cac : float, dict or pandas.DataFrame or None, default None
        Customer acquisition cost: a number per customer, a dict channel -> CAC, or a DataFrame
        (channel, month, spend); None gives no net CLV.
    segment_by : str or pandas.Series or None, default None
        A column name (its value on the customer's first purchase), 'acquisition_month',
        'acquisition_quarter', or a Series customer_id -> segment.
    pool_rates : bool, default False
        Give every segment the overall churn and margin, so segments differ only in AOV and
        frequency and the customer-weighted average of segment CLVs equals the overall CLV
        exactly.

    Returns
    -------
    ClassicCLV
        The overall KPIs and CLV, per segment when asked, the churn pairs and the CAC per channel.

    Raises
    ------
    clv.errors.DataError
        When ``time_unit`` is not a calendar period, a rate is out of range, the window is empty
        or reversed, the margin is neither given nor computable (no ``cost`` column), the
        orders have no amounts, or the window is too short to measure churn at any period (not
        two consecutive months) and neither churn nor lifespan is given.

    Notes
    -----
    A purchase log (no amounts) is refused: AOV, revenue and margin need them
    (:func:`clv.summary.no_amounts_error`).

    References
    ----------
    S. Gupta & D. R. Lehmann (2003), "Customers as Assets", Journal of
    Interactive Marketing 17(1): CLV = m x r / (1 + i - r) with no discounting
    (i = 0) and value counted from the first period: m / (1 - r) = m / churn.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b", "b", "c"],
    ...     "order_ts": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20", "2024-03-02", "2024-02-15"]),
    ...     "amount": [50.0, 30.0, 20.0, 40.0, 60.0],
    ... })
    >>> result = classic_clv(orders, time_unit="month", margin=0.4)
    >>> round(result.clv, 2)  # customer value a month x margin / churn
    27.56
    """
    table = as_valued_orders(orders)
    requested = None if time_unit in (None, "auto") else check_unit("time_unit", time_unit)
    check_rates(margin, churn_rate, lifespan)
    window = resolve_window(table, start, end)
    has_cost = COST in table.columns
    if margin is None and not has_cost:
        raise DataError(no_margin_message(table.columns))
    customer_cac = resolve_cac(table, cac)
    if segment_by is None and customer_cac.per_customer is not None:
        segment_by = CHANNEL  # a CAC per channel gives a net CLV per acquisition channel
    segments = None if segment_by is None else customer_segments(table, segment_by)
    rates = _Rates(margin, churn_rate, lifespan, pool_rates)

    lines = with_order_key(window.filter(table))
    estimate_churn = churn_rate is None and lifespan is None
    periods = PERIOD_UNITS if estimate_churn else (requested,) if requested else ()
    pairs_by_period = {p: _usable_pairs(activity_pairs(lines, segments, p), window, p) for p in periods}
    churn_by_period = {p: _mean_churn(_overall_pairs(pairs_by_period[p])) for p in pairs_by_period}
    measurable = {p: (not estimate_churn) or _measurable(churn_by_period[p]) for p in PERIOD_UNITS}
    choice = choose_period(requested, median_days_between_orders(lines), measurable)
    period = choice.period
    if estimate_churn and not any(measurable.values()):  # no pair at all, or no customer ever lost
        _check_estimated_churn(max(churn_by_period.values(), key=np.isfinite), window, period)
    customers = _customer_table(lines, window, period, segments, customer_cac, has_cost)
    sums = _segment_sums(customers, has_cost, customer_cac)
    usable_pairs = pairs_by_period.get(period)
    if usable_pairs is None:  # churn given: no pairs needed, listed for the report
        usable_pairs = _usable_pairs(activity_pairs(lines, segments, period), window, period)
    overall_sums = sums[list(_SUM_COLUMNS)].sum().to_frame().T
    overall_pairs = _overall_pairs(usable_pairs)

    estimated = _estimated_churn(churn_by_period, period) if estimate_churn else None
    overall = _kpis(overall_sums, window, period)
    _apply_rates_overall(overall, estimated, rates, window, period)
    _apply_value(overall, overall_sums, customer_cac)
    by_period = _by_period(overall, overall_sums, window, churn_by_period, period) if estimate_churn else None
    by_segment = segment_average = None
    if segments is not None:
        by_segment = _kpis(sums, window, period)
        _apply_rates_segments(by_segment, sums, usable_pairs, overall, rates)
        _apply_value(by_segment, sums, customer_cac)
        by_segment = _order_segments(by_segment, sums)
        segment_average = _segment_average(by_segment, overall)

    return ClassicCLV(
        overall=_overall_table(overall, overall_sums, window, period),
        by_segment=by_segment,
        segment_average=segment_average,
        churn_pairs=_pairs_report(overall_pairs, period),
        cac_by_channel=customer_cac.by_channel,
        settings={**_settings(window, period, rates, cac, segment_by), "period_source": choice.source,
                  "median_days_between_orders": choice.median_days_between_orders, "period_rule": PERIOD_RULE},
        by_period=by_period,
        notes=_period_notes(choice, overall, by_period, window),
    )


def _overall_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """The period pairs of all segments together."""
    return pairs.groupby([PERIOD], as_index=False)[["active", "retained"]].sum()


def _estimated_churn(churn_by_period: dict[str, float], period: str) -> tuple[float, str]:
    """Churn per ``period``: measured, else (no two consecutive periods) converted from the longest measurable period.

    The conversion assumes the same retention every period: churn per year from churn per
    quarter c is 1 - (1 - c)^4 (:func:`clv.formula.period_choice.convert_churn`).
    """
    churn = churn_by_period[period]
    if np.isfinite(churn) or not any(map(_measurable, churn_by_period.values())):
        return churn, "estimated"  # measured (0 included: refused when used, shown as infinite in by_period)
    base = _longest_measurable(churn_by_period)
    return convert_churn(churn_by_period[base], base, period), f"converted from {base}"


def _measurable(churn: float) -> bool:
    """A churn the formula can use: estimated (two consecutive periods) and above 0 (someone was lost)."""
    return bool(np.isfinite(churn) and churn > 0)


def _longest_measurable(churn_by_period: dict[str, float]) -> str:
    measurable = [p for p in churn_by_period if _measurable(churn_by_period[p])]
    return max(measurable, key=DAYS_PER_UNIT.__getitem__)


def _by_period(
    overall: pd.DataFrame, overall_sums: pd.DataFrame, window: Window, churn_by_period: dict[str, float], period: str
) -> pd.DataFrame:
    """The same orders valued per year, quarter and month: CLV = AOV x orders per customer per period x margin / churn."""
    rows = []
    aov, margin = float(overall["aov"].iloc[0]), float(overall["margin"].iloc[0])
    orders_per_customer = float(overall_sums["orders"].iloc[0] / overall_sums["customers"].iloc[0])
    for unit in sorted(churn_by_period, key=DAYS_PER_UNIT.__getitem__, reverse=True):
        churn, source = _estimated_churn(churn_by_period, unit)
        frequency = orders_per_customer / window.n_periods(unit)
        with np.errstate(divide="ignore"):
            clv = aov * frequency * margin / np.float64(churn)
        rows.append({"period": unit, "n_periods": window.n_periods(unit), "purchase_frequency": frequency,
                     "churn_rate": churn, "churn_source": source, "clv": float(clv), "used": unit == period})
    return pd.DataFrame(rows)


def _period_notes(choice: PeriodChoice, overall: pd.DataFrame, by_period: pd.DataFrame | None, window: Window) -> list[str]:
    """Plain-words notes: the period and why; the CLV at every period; churn converted from another period."""
    notes = [f"The classic formula is computed {choice.reason}."]
    if by_period is None:
        return notes
    figures = ", ".join(f"{row.clv:,.2f} per {row.period}" for row in by_period.itertuples())
    notes.append(
        f"The classic CLV depends on the period it is computed per: {figures}. Churn is 'bought in one period, "
        "not in the next', so a period shorter than the time between orders counts pauses as losses and gives a "
        f"lower CLV. This result is per {choice.period}.")
    for row in by_period.itertuples():
        if row.churn_source.startswith("converted"):
            base = row.churn_source.split()[-1]
            notes.append(
                f"Churn per {row.period} cannot be measured in the window {window.start.date()}..{window.end.date()} "
                f"(it needs two consecutive {row.period}s, the second complete): {row.churn_rate:.1%} is converted "
                f"from the churn per {base}, assuming the same retention every {base}.")
    return notes


@dataclass(frozen=True)
class _Rates:
    """The user's margin / churn / lifespan choices (None = estimate from the data)."""

    margin: float | None
    churn_rate: float | None
    lifespan: float | None
    pool: bool


def _overall_table(
    overall: pd.DataFrame, overall_sums: pd.DataFrame, window: Window, period: str
) -> pd.DataFrame:
    header = pd.DataFrame(
        {
            "window_start": [window.start],
            "window_end": [window.end],
            "period": [period],
            "n_periods": [window.n_periods(period)],
        }
    )
    return pd.concat(
        [header, overall[list(_KPI_COLUMNS)], overall_sums[["refunds_excluded"]]], axis=1
    )


def _settings(window: Window, period: str, rates: _Rates, cac: object, segment_by: object) -> dict:
    if cac is None or isinstance(cac, (int, float)):
        cac_setting = cac
    else:
        cac_setting = "per channel" if isinstance(cac, dict) else "from spend"
    return {
        "start": window.start,
        "end": window.end,
        "period": period,
        "margin": rates.margin,
        "churn_rate": rates.churn_rate,
        "lifespan": rates.lifespan,
        "cac": cac_setting,
        "segment_by": segment_by if segment_by is None or isinstance(segment_by, str) else "mapping",
        "pool_rates": rates.pool,
    }


def _customer_table(
    lines: Table,
    window: Window,
    period: str,
    segments: Table | None,
    customer_cac: CustomerCac,
    has_cost: bool,
) -> Table:
    """One row per customer with a line in the window: orders, revenue, cost, span, segment, CAC."""
    purchase = is_purchase(lines)
    metrics = {
        "n_orders": lines[ORDER_KEY].nunique(where=purchase),
        "revenue": lines[AMOUNT].sum(),
        "amount_lines": lines[AMOUNT].count(where=purchase),
        "first_ts": lines[ORDER_TS].min(where=purchase),
        "last_ts": lines[ORDER_TS].max(where=purchase),
    }
    if has_cost:
        metrics["revenue_with_cost"] = lines[AMOUNT].sum(where=lines[COST].notnull())
        metrics["cost"] = lines[COST].cast("float64").sum()
    per_customer = lines.group_by(CUSTOMER_ID).aggregate(**metrics)
    per_customer = attach(per_customer, segments, SEGMENT, ALL_CUSTOMERS)
    if customer_cac.per_customer is not None:
        per_customer = attach(per_customer, customer_cac.per_customer, CUSTOMER_CAC, None)
    churn_cutoff = window.end_exclusive - pd.Timedelta(days=DAYS_PER_UNIT[period])
    span_days = (per_customer.last_ts.epoch_seconds() - per_customer.first_ts.epoch_seconds()) / 86400.0
    return per_customer.mutate(
        churned=per_customer.last_ts < churn_cutoff,
        span_days=span_days,
    )


def _segment_sums(customers: Table, has_cost: bool, customer_cac: CustomerCac) -> pd.DataFrame:
    """Additive sums per segment (small pandas frame); KPIs are ratios of these."""
    ordered = customers.n_orders > 0
    sums = {
        "customers": ordered.sum(),
        "orders": customers.n_orders.sum(),
        "revenue": customers.revenue.sum(where=ordered),
        "refunds_excluded": customers.revenue.sum(where=~ordered),
        "repeat_customers": (customers.n_orders >= 2).sum(),
        "churned_customers": (ordered & customers.churned).sum(),
        "churned_span_days": customers.span_days.sum(where=ordered & customers.churned),
        "amount_lines": customers.amount_lines.sum(),
    }
    if has_cost:
        sums["revenue_with_cost"] = customers.revenue_with_cost.sum(where=ordered)
        sums["cost"] = customers.cost.sum(where=ordered)
    if customer_cac.per_customer is not None:
        sums["cac_sum"] = customers[CUSTOMER_CAC].sum(where=ordered)
    frame = execute(customers.group_by(SEGMENT).aggregate(**sums))
    refuse_without_amounts(pd.to_numeric(frame["amount_lines"]).sum(), pd.to_numeric(frame["orders"]).sum())
    for column in _SUM_COLUMNS:
        values = frame[column] if column in frame else pd.Series(0.0, index=frame.index)
        frame[column] = pd.to_numeric(values).astype(float).fillna(0.0)
    frame[SEGMENT] = frame[SEGMENT].astype(str)
    return frame


def _kpis(sums: pd.DataFrame, window: Window, period: str) -> pd.DataFrame:
    """The ratio KPIs of each row of additive sums."""
    n_periods = window.n_periods(period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame(index=sums.index)
        out["customers"] = sums["customers"].astype("int64")
        out["orders"] = sums["orders"].astype("int64")
        out["revenue"] = sums["revenue"]
        out["aov"] = sums["revenue"] / sums["orders"]
        out["purchase_frequency"] = sums["orders"] / sums["customers"] / n_periods
        out["repeat_rate"] = sums["repeat_customers"] / sums["customers"]
        out["customer_value"] = out["aov"] * out["purchase_frequency"]
        out["lifespan_observed"] = (
            sums["churned_span_days"] / sums["churned_customers"] / DAYS_PER_UNIT[period]
        )
        out["margin_from_cost"] = (sums["revenue_with_cost"] - sums["cost"]) / sums[
            "revenue_with_cost"
        ].where(sums["revenue_with_cost"] > 0)
    return out


def _usable_pairs(pairs: pd.DataFrame, window: Window, period: str) -> pd.DataFrame:
    """Keep pairs (p, p+1) with p+1 inside the window and complete (fully observed)."""
    periods = window_period_range(window, period)
    complete_next = {p: period_is_complete(p + 1, period, window) for p in periods}
    keep = pairs[PERIOD].map(lambda p: p + 1 in periods and complete_next.get(p, False))
    return pairs[keep.astype(bool)].reset_index(drop=True)


def _mean_churn(pairs: pd.DataFrame) -> float:
    """Unweighted mean over period pairs of 1 - retained / active (pairs with active > 0)."""
    valid = pairs[pairs["active"] > 0]
    if valid.empty:
        return math.nan
    return float((1.0 - valid["retained"] / valid["active"]).mean())


def _mean_churn_by_segment(pairs: pd.DataFrame) -> pd.Series:
    """:func:`_mean_churn` of each segment's pairs, indexed by segment."""
    valid = pairs[pairs["active"] > 0]
    churn = 1.0 - valid["retained"] / valid["active"]
    return churn.groupby(valid[SEGMENT]).mean()


def _apply_rates_overall(
    out: pd.DataFrame, estimated_churn: tuple[float, str] | None, rates: _Rates, window: Window, period: str
) -> None:
    margin, churn_rate, lifespan = rates.margin, rates.churn_rate, rates.lifespan
    if margin is not None:
        out["margin"], out["margin_source"] = margin, "given"
    else:
        estimated = out["margin_from_cost"].iloc[0]
        if not np.isfinite(estimated):
            raise DataError(
                "margin: the 'cost' column has no value on any order line with positive revenue "
                "in the window, so the gross margin cannot be computed. Fix: pass margin=0.3 "
                "(your gross margin rate) or fill the cost column."
            )
        out["margin"], out["margin_source"] = estimated, "from cost"

    if lifespan is not None:
        churn, churn_source = 1.0 / lifespan, "1/lifespan"
        life, life_source = lifespan, "given"
    elif churn_rate is not None:
        churn, churn_source = churn_rate, "given"
        life, life_source = 1.0 / churn_rate, "1/churn"
    else:
        churn, churn_source = estimated_churn
        _check_estimated_churn(churn, window, period)
        life, life_source = 1.0 / churn, "1/churn"
    out["churn_rate"], out["churn_source"] = churn, churn_source
    out["lifespan"], out["lifespan_source"] = life, life_source


def _check_estimated_churn(churn: float, window: Window, period: str) -> None:
    if math.isnan(churn):
        raise DataError(
            f"churn_rate: cannot be estimated: the window {window.start.date()}..{window.end.date()} "
            "holds no two consecutive calendar periods (months, quarters or years) with the second "
            "complete and customers active in the first. Fix: pass churn_rate= or lifespan=, widen the "
            "window to two calendar months or more."
        )
    if churn == 0:
        raise DataError(
            f"churn_rate: estimated as 0 (every customer active in a {period} bought again in the "
            "next), so the lifespan 1/churn would be infinite. Fix: pass churn_rate= or lifespan=."
        )


def _apply_rates_segments(
    out: pd.DataFrame, sums: pd.DataFrame, pairs: pd.DataFrame, overall: pd.DataFrame, rates: _Rates
) -> None:
    """Segment churn and margin: own estimate, or the overall one when pooled or not estimable."""
    margin, churn_rate, lifespan, pool_rates = rates.margin, rates.churn_rate, rates.lifespan, rates.pool
    overall_margin = overall["margin"].iloc[0]
    if margin is not None:
        out["margin"], out["margin_source"] = margin, "given"
    elif pool_rates:
        out["margin"], out["margin_source"] = overall_margin, "overall (pooled)"
    else:
        own = out["margin_from_cost"]
        usable = np.isfinite(own)
        out["margin"] = own.where(usable, overall_margin)
        out["margin_source"] = np.where(usable, "from cost", "overall (no cost in segment)")

    for column in ("churn_rate", "churn_source", "lifespan", "lifespan_source"):
        out[column] = overall[column].iloc[0]
    if lifespan is not None or churn_rate is not None:
        return
    if pool_rates:
        out["churn_source"] = "overall (pooled)"
        return
    own_churn = sums[SEGMENT].map(_mean_churn_by_segment(pairs)).astype(float)
    usable = np.isfinite(own_churn) & (own_churn > 0)
    out["churn_rate"] = own_churn.where(usable, out["churn_rate"])
    out["churn_source"] = np.where(usable, "estimated", "overall (segment churn not estimable)")
    out["lifespan"] = 1.0 / out["churn_rate"]


def _apply_value(out: pd.DataFrame, sums: pd.DataFrame, customer_cac: CustomerCac) -> None:
    out["clv"] = out["customer_value"] * out["lifespan"] * out["margin"]
    if customer_cac.constant is not None:
        out["cac"] = customer_cac.constant
    elif customer_cac.per_customer is not None:
        out["cac"] = sums["cac_sum"] / sums["customers"]
    else:
        out["cac"] = math.nan
    out["net_clv"] = out["clv"] - out["cac"]


def _order_segments(by_segment: pd.DataFrame, sums: pd.DataFrame) -> pd.DataFrame:
    table = by_segment[list(_KPI_COLUMNS)].copy()
    table.insert(0, SEGMENT, sums[SEGMENT].to_numpy())
    table = table[table["customers"] > 0]
    total = table["customers"].sum()
    table.insert(2, "share", table["customers"] / total)
    return table.sort_values([SEGMENT]).reset_index(drop=True)


def _segment_average(by_segment: pd.DataFrame, overall: pd.DataFrame) -> pd.DataFrame:
    """Customer-weighted average over segments: sum_s customers_s x CLV_s / customers."""
    weights = by_segment["customers"] / by_segment["customers"].sum()
    weighted_clv = float((weights * by_segment["clv"]).sum())
    weighted_net = float((weights * by_segment["net_clv"]).sum(min_count=1))
    overall_clv = float(overall["clv"].iloc[0])
    return pd.DataFrame(
        {
            "customers": [int(by_segment["customers"].sum())],
            "clv": [weighted_clv],
            "net_clv": [weighted_net if np.isfinite(weighted_net) else math.nan],
            "overall_clv": [overall_clv],
            "difference": [weighted_clv - overall_clv],
            "equals_overall": [bool(np.isclose(weighted_clv, overall_clv, rtol=1e-9, atol=1e-9))],
        }
    )


def _pairs_report(pairs: pd.DataFrame, period: str) -> pd.DataFrame:
    """The overall period pairs used to estimate churn, readable."""
    with np.errstate(divide="ignore", invalid="ignore"):
        churn = 1.0 - pairs["retained"] / pairs["active"]
    return pd.DataFrame(
        {
            "period": [period_label(p, period) for p in pairs[PERIOD]],
            "next_period": [period_label(p + 1, period) for p in pairs[PERIOD]],
            "active": pairs["active"].astype("int64").to_numpy(),
            "retained": pairs["retained"].astype("int64").to_numpy(),
            "churn": churn.to_numpy(dtype=float),
        }
    )


def _plain(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
