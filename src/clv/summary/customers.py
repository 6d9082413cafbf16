"""Per-customer recency-frequency-monetary summaries, computed inside the engine.

Conventions (the BTYD literature's, so results compare with lifetimes and the
papers; see docs/summary.md):

* A *purchase period* is a calendar day (``merge="day"``, the default, as in
  Fader, Hardie & Lee's CDNOW analyses) or one period of the time unit
  (``merge="unit"``: ISO weeks starting Monday, calendar months, as lifetimes'
  ``freq=`` does). All purchase lines of a customer in one period are one
  transaction.
* A refund or cancellation line (``is_refund`` as set by the loader; without
  that column, ``amount < 0``) is never a purchase. It is netted against the
  purchase period it cancels (its order, else the latest earlier purchase of
  its product, else the customer's latest earlier purchase period: the rules of
  :mod:`clv.summary.refunds`); a later purchase period whose refunds cancel it
  is no repeat purchase. Every other line is a purchase line.
* ``frequency`` = number of purchase periods after the first (repeat purchases),
  fully cancelled ones not counted.
* ``recency``  = time from the first to the last (counted) purchase period.
* ``T``        = time from the first purchase period to the observation end.
* ``monetary_value`` = mean net purchase value (refunds netted) of the repeat
  purchase periods (the first purchase excluded, as Gamma-Gamma expects); 0
  when frequency = 0. Without refunds, the mean gross value.
* ``gross_revenue`` (every purchase line), ``refunded`` (every refund line),
  ``refund_share`` and ``largely_refunded`` (refund share >= 50%,
  :data:`clv.summary.refunds.LARGELY_REFUNDED_SHARE`) per customer.
* A purchase log without amounts (customer and date only) is summarised with
  the same purchase columns and without the value columns (``monetary_value``,
  ``gross_revenue``, ``revenue``, ``margin``); ``CustomerData.has_amounts`` says
  which kind a summary is (see :mod:`clv.summary.amounts`).
* Time is measured in ``time_unit`` (default ``"week"``, :mod:`clv.units`):
  day = 1 day, week = 7 days, month = 365.25 / 12 = 30.4375 days, quarter =
  365.25 / 4 days, year = 365.25 days. With ``merge="day"`` recency and T are
  whole days divided by the unit's length (CDNOW: 272 days = 38.86 weeks); with
  ``merge="unit"`` they are whole numbers of periods.
* The result is :class:`clv.summary.CustomerData`: the table with its time
  unit, observation end, split and merge rule, so no later step can read it in
  another unit.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from clv.data import schema
from clv.data.orders_table import as_orders_table
from clv.engine import dialect, to_frame
from clv.errors import DataError
from clv.result_table import as_frame
from clv.summary.customer_data import CustomerData
from clv.units import DAYS_PER_UNIT, DEFAULT_TIME_UNIT, check_time_unit
from clv.summary.amounts import VALUE_COLUMNS, declared_amounts, values_missing, without_values
from clv.summary.refunds import LARGELY_REFUNDED_SHARE, with_netted_refunds

Unit = Literal["day", "week", "month", "quarter", "year"]
Merge = Literal["day", "unit"]


_MONDAY_EPOCH_OFFSET = 4  # 1970-01-05, the first Monday after the Unix epoch, is day 4
MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "year": 12}  # calendar periods of merge="unit"
RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")
IS_REFUND = schema.IS_REFUND


def order_date(table: ir.Table) -> ir.DateValue:
    """The order day, whether ``order_ts`` holds timestamps or dates."""
    column = table[schema.ORDER_TS]
    return column if column.type().is_date() else column.date()


def _validate_options(unit: str, merge: str) -> float:
    check_time_unit(unit)
    if merge not in ("day", "unit"):
        raise DataError(f"merge must be 'day' or 'unit', not {merge!r}.")
    return DAYS_PER_UNIT[unit]


def _period_index(day: ir.IntegerValue, date: ir.DateValue, unit: str, merge: str) -> ir.IntegerValue:
    """Integer index of the purchase period a day falls in."""
    if merge == "day" or unit == "day":
        return day
    if unit == "week":
        return ((day - _MONDAY_EPOCH_OFFSET) / 7).floor().cast("int64")
    months = date.year().cast("int64") * 12 + date.month() - 1
    return (months / MONTHS_PER_PERIOD[unit]).floor().cast("int64")


def _period_length(unit: str, merge: str) -> float:
    """How many units one step of the period index is worth."""
    if merge == "unit" or unit == "day":
        return 1.0
    return 1.0 / DAYS_PER_UNIT[unit]


def _observation_end_index(observation_end: dt.date, unit: str, merge: str) -> int:
    day = (observation_end - dt.date(1970, 1, 1)).days
    if merge == "day" or unit == "day":
        return day
    if unit == "week":
        return (day - _MONDAY_EPOCH_OFFSET) // 7
    return (observation_end.year * 12 + observation_end.month - 1) // MONTHS_PER_PERIOD[unit]


def resolve_observation_end(orders: Any, observation_end: Any) -> dt.date:
    """The observation end as a date; by default the last order date in the data.

    ``orders``: an orders table, or a load result (whose last date is found
    without its duplicate search).
    """
    if observation_end is None:
        if hasattr(orders, "last_order_ts"):
            last = orders.last_order_ts()
        else:
            last = as_orders_table(orders)[schema.ORDER_TS].max().to_pyarrow().as_py()
        if last is None:
            raise DataError("orders are empty: nothing to summarise.")
        return pd.Timestamp(last).date()
    try:
        return pd.Timestamp(observation_end).date()
    except (TypeError, ValueError) as exc:
        raise DataError(f"observation_end {observation_end!r} is not a date (use e.g. '2025-12-31').") from exc


def period_table(table: ir.Table, *, unit: str, merge: str, totals: bool = True, last_day: bool = False) -> ir.Table:
    """One row per customer and purchase period: gross purchases, refunds netted, purchase lines.

    ``gross`` is the value of the period's purchase lines (null when it has
    none: a refund-only period), ``purchase_lines`` their number, ``netted``
    the refunds netted against the period, ``spend`` its net value and
    ``bought`` whether it counts as a purchase (not fully cancelled), by the
    rules of :mod:`clv.summary.refunds`. With
    ``totals`` also ``net`` (refunds netted), ``margin`` (when there is a cost
    column) and ``orders``: distinct order ids among the period's purchase lines,
    at least one per purchase period (lines without an order id form one order).
    With an order id the lines are first reduced to orders (a grouping is much
    cheaper than a distinct count); without ``totals`` that level is skipped.
    ``last_day`` adds ``_last_day``, the last day (since 1970-01-01) with a line
    in the period, refunds included.
    """
    date = order_date(table)
    purchase = schema.is_purchase(table)
    amount = table[schema.AMOUNT]
    day = date.epoch_days().cast("int64")
    period_is_day = merge == "day" or unit == "day"
    lines = table.mutate(
        _period=_period_index(day, date, unit, merge),
        _purchase_amount=ibis.ifelse(purchase, amount, ibis.null("float64")),
        _purchase_line=ibis.ifelse(purchase, 1, ibis.null("int64")),
        _refund=ibis.ifelse(purchase, ibis.null("float64"), -amount),
        **({"_last_day": day} if last_day and not period_is_day else {}),
    )
    # A day period is its own last day; longer periods carry the maximum up each level.
    day_max = {"_last_day": lines["_last_day"].max()} if last_day and not period_is_day else {}
    keys = [schema.CUSTOMER_ID, "_period"]
    if not totals:
        periods = lines.group_by(keys).aggregate(
            gross=lines._purchase_amount.sum(), purchase_lines=lines._purchase_line.count(),
            refunds=lines._refund.sum(), **day_max
        )
        return with_netted_refunds(_with_period_day(periods, last_day and period_is_day))
    has_cost = schema.COST in table.columns
    margin = {"_margin": lines[schema.AMOUNT] - lines[schema.COST]} if has_cost else {}
    if schema.ORDER_ID in table.columns:
        lines = lines.group_by([*keys, schema.ORDER_ID]).aggregate(
            _purchase_amount=lines._purchase_amount.sum(),
            _net=lines[schema.AMOUNT].sum(),
            _purchase_line=lines._purchase_line.count(),
            _refund=lines._refund.sum(),
            **({name: value.sum() for name, value in margin.items()}),
            **day_max,
        )
        day_max = {"_last_day": lines["_last_day"].max()} if day_max else {}
        named_order = ibis.ifelse((lines._purchase_line > 0) & lines[schema.ORDER_ID].notnull(), 1, ibis.null("int64"))
        orders = {"orders": named_order.count()}
        purchase_lines = lines._purchase_line.sum()
    else:
        lines = lines.mutate(_net=lines[schema.AMOUNT], **margin)
        orders = {}
        purchase_lines = lines._purchase_line.count()
    periods = lines.group_by(keys).aggregate(
        gross=lines._purchase_amount.sum(),
        net=lines._net.sum(),
        purchase_lines=purchase_lines,
        refunds=lines._refund.sum(),
        **({"margin": lines._margin.sum()} if has_cost else {}),
        **orders,
        **day_max,
    )
    bought = ibis.ifelse(periods.purchase_lines > 0, 1, 0).cast("int64")  # PostgreSQL casts no boolean to bigint
    orders_in_period = ibis.greatest(periods.orders, bought) if orders else bought
    periods = _with_period_day(periods.mutate(orders=orders_in_period), last_day and period_is_day)
    return with_netted_refunds(periods)


def _with_period_day(periods: ir.Table, add: bool) -> ir.Table:
    """``_last_day`` as the period itself when periods are days (no extra aggregate)."""
    return periods.mutate(_last_day=periods._period) if add else periods


def _value_at_min(table: ir.Table, value: ir.Column, key: ir.Column) -> ir.Scalar:
    """``value`` on the row with the smallest non-null ``key`` (per group)."""
    return dialect.value_at_min(value, key)


def summary_expression(
    orders: Any,
    *,
    observation_end: Any = None,
    time_unit: Unit = DEFAULT_TIME_UNIT,
    merge: Merge = "day",
    keep_non_buyers: bool = False,
    totals: bool = True,
    litt: bool = False,
) -> ir.Table:
    """The per-customer summary as a lazy Ibis expression (see :func:`summarize`).

    ``keep_non_buyers`` keeps customers whose lines are all refunds, with a
    null ``frequency`` (they have no purchase to measure from). ``totals=False``
    leaves out ``n_orders``, ``revenue`` and ``margin``. The default
    ``observation_end`` (the last order date) is looked up with one query first.
    A history declared without amounts (a log's load result, a table without
    ``amount``) has no value columns; one whose amounts are null in the data
    cannot be told without running the query, so its value columns are null.

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Order lines with the canonical columns (``customer_id``, ``order_ts``, ``amount``;
        optional ``order_id``, ``cost``); Polars and Arrow frames work too.
    observation_end : date-like or None, default None
        End of the observation window (inclusive); lines after it are ignored. Default: the last
        order date (one query).
    time_unit : {"day", "week", "month", "quarter", "year"}, default "week"
        Time unit of recency and T (:data:`clv.units.DEFAULT_TIME_UNIT`).
    merge : {"day", "unit"}, default "day"
        Purchases merged per calendar day or per period of ``time_unit``.
    keep_non_buyers : bool, default False
        Keep customers whose lines are all refunds, with a null ``frequency``.
    totals : bool, default True
        Also count orders and sum net revenue and margin (``n_orders``, ``revenue``,
        ``margin``).
    litt : bool, default False
        Also compute ``litt``, the sum of log inter-purchase times (see :func:`summarize`).

    Returns
    -------
    ibis.expr.types.Table
        The unexecuted per-customer summary, the columns of :func:`summarize` (not sorted).

    Raises
    ------
    clv.errors.DataError
        For an unknown ``time_unit`` or ``merge``, an input without ``customer_id`` or
        ``order_ts``, or an ``observation_end`` that is not a date.
    """
    unit = time_unit
    _validate_options(unit, merge)
    table = as_orders_table(orders)
    dialect.require_supported(dialect.engine_of(table), "the summary")
    end = resolve_observation_end(table, observation_end)
    table = table.filter(order_date(table) <= ibis.date(end))
    per_customer = _per_customer(table, unit, merge, totals, last_day=False, litt=litt)
    if not keep_non_buyers:
        per_customer = per_customer.filter(per_customer._n_periods > 0)
    end_index = ibis.literal(_observation_end_index(end, unit, merge))
    columns = _summary_columns(per_customer, end_index, unit, merge)
    if declared_amounts(orders) is False:
        columns = {name: value for name, value in columns.items() if name not in VALUE_COLUMNS}
    return per_customer.select(**columns)


def _summary_to_last_order(table: ir.Table, unit: str, merge: str, totals: bool,
                           litt: bool = False) -> tuple[pd.DataFrame, dt.date]:
    """The summary observed to the last order date of ``table``, without a query for that date.

    Every customer row carries the day of its last line (refunds included); the
    maximum over the rows is the last order date, so no line is after it and
    only ``T`` depends on it: T is computed here, by the formula of
    :func:`_summary_columns`. A window maximum inside the query would cost more
    than the separate query it saves. Non-buyers are kept (they may hold the
    last line); returns the frame and that date.
    """
    per_customer = _per_customer(table, unit, merge, totals, last_day=True, litt=litt)
    columns = _summary_columns(per_customer, None, unit, merge)
    frame = to_frame(per_customer.select(**columns, _first=per_customer._first, _last_day=per_customer._last_day)
                     .order_by(schema.CUSTOMER_ID))
    if frame.empty:
        raise DataError("orders are empty: nothing to summarise.")
    end = dt.date(1970, 1, 1) + dt.timedelta(days=int(frame.pop("_last_day").max()))
    end_index = _observation_end_index(end, unit, merge)
    t = (end_index - frame.pop("_first").to_numpy()).astype("float64") * _period_length(unit, merge)
    frame.insert(frame.columns.get_loc("recency") + 1, "T", t)
    return frame, end


def _per_customer(table: ir.Table, unit: str, merge: str, totals: bool, *, last_day: bool,
                  litt: bool = False) -> ir.Table:
    """One row per customer: first/last purchase period, repeat purchases, gross and net value (+ totals).

    ``_first`` is the customer's first purchase period (cancelled or not: the
    customer was acquired then). Repeat purchases are the later purchase
    periods not fully cancelled (``bought``), valued net of the refunds netted
    against them (``spend``, :mod:`clv.summary.refunds`): ``_frequency`` of
    them, worth ``_repeat_spend``, the last at ``_last`` (``_first`` when none).
    ``_gross`` is the value of every purchase line, ``_refunded`` of every
    refund line, ``_n_periods`` the number of purchase periods (0: refunds only).
    ``last_day`` adds ``_last_day``, the day (since 1970-01-01) of the
    customer's last line, refunds included. ``litt`` adds ``_log_gaps``, the
    sum of the logs of the gaps between bought periods (:func:`_litt`).
    """
    periods = period_table(table, unit=unit, merge=merge, totals=totals, last_day=last_day)
    if litt:
        periods = periods.mutate(_log_gap=_log_gap_between_bought(periods))
    purchase_period = ibis.ifelse(periods.purchase_lines > 0, periods._period, ibis.null("int64"))
    bought_period = ibis.ifelse(periods.bought, periods._period, ibis.null("int64"))
    sums = {"revenue": periods.net.sum(), "n_orders": periods.orders.sum()} if totals else {}
    if totals and "margin" in periods.columns:
        sums["_margin"] = periods.margin.sum()
    if last_day:
        sums["_last_day"] = periods["_last_day"].max()
    spend = ibis.ifelse(periods.bought, periods.spend, ibis.null("float64"))
    if litt:
        sums["_log_gaps"] = periods._log_gap.sum()
    per_customer = periods.group_by(schema.CUSTOMER_ID).aggregate(
        _first=purchase_period.min(),
        _n_periods=purchase_period.count(),
        _first_bought=bought_period.min(),
        _last_bought=bought_period.max(),
        _n_bought=bought_period.count(),
        _gross=periods.gross.sum(),
        _spend=spend.sum(),
        _first_spend=_value_at_min(periods, spend, bought_period),
        _refunded=periods.refunds.sum().fill_null(0.0),
        **sums,
    )
    first_kept = (per_customer._first_bought == per_customer._first).fill_null(False)
    return per_customer.mutate(
        _frequency=per_customer._n_bought - ibis.ifelse(first_kept, 1, 0).cast("int64"),
        _repeat_spend=ibis.ifelse(first_kept, per_customer._spend - per_customer._first_spend,
                                  per_customer._spend.fill_null(0.0)),
        _last=ibis.coalesce(per_customer._last_bought, per_customer._first),
    )


def _log_gap_between_bought(periods: ir.Table) -> ir.FloatingValue:
    """log(period - previous bought period) on each bought period after another one (null elsewhere).

    The previous bought period is the running maximum of the bought periods
    strictly before this one (periods ascend within a customer; max skips the
    nulls of unbought periods): one window over the period rows.
    """
    before = ibis.window(group_by=schema.CUSTOMER_ID, order_by=periods._period, rows=(None, -1))
    previous = ibis.ifelse(periods.bought, periods._period, ibis.null("int64")).max().over(before)
    return ibis.ifelse(periods.bought & previous.notnull(),
                       (periods._period - previous).cast("float64").ln(), ibis.null("float64"))


def _litt(per_customer: ir.Table, frequency: ir.IntegerValue, step: float) -> ir.FloatingValue:
    """``litt``: the sum of log inter-purchase times in the unit, over the repeat purchases (0 without any).

    The purchase times are the first purchase period and the repeat (bought)
    periods after it: sum_j log((p_j - p_{j-1}) step) = sum_j log(p_j - p_{j-1})
    + frequency log(step). The gaps between bought periods come from the
    window of :func:`_log_gap_between_bought`; when the first purchase period
    was cancelled (not bought) the first gap is first bought - first. Platzer
    & Reutterer (2016), the statistic of the CNBD-k models (BTYDplus ``litt``).
    """
    first_gap = ibis.ifelse(per_customer._first_bought > per_customer._first,
                            (per_customer._first_bought - per_customer._first).cast("float64").ln(), 0.0)
    gaps = per_customer._log_gaps.fill_null(0.0) + first_gap.fill_null(0.0)
    return ibis.ifelse(frequency > 0, gaps + frequency.cast("float64") * math.log(step), 0.0)


def _summary_columns(per_customer: ir.Table, end_index: ir.IntegerValue | None, unit: str, merge: str) -> dict[str, ir.Value]:
    """The summary's columns; without ``end_index`` (the observation end's period) no ``T``."""
    step = _period_length(unit, merge)
    frequency = per_customer._frequency.cast("int64")
    columns = {
        schema.CUSTOMER_ID: per_customer[schema.CUSTOMER_ID],
        "frequency": frequency,
        "recency": (per_customer._last - per_customer._first).cast("float64") * step,
        **({"T": (end_index - per_customer._first).cast("float64") * step} if end_index is not None else {}),
        "monetary_value": ibis.ifelse(
            frequency > 0, per_customer._repeat_spend / frequency.cast("float64"), 0.0
        ),
        "first_purchase": _period_start(per_customer._first, unit, merge),
        "last_purchase": _period_start(per_customer._last, unit, merge),
    }
    if "n_orders" in per_customer.columns:
        columns["n_orders"] = per_customer.n_orders.cast("int64")
    columns["gross_revenue"] = per_customer._gross
    columns.update(_refund_columns(per_customer._gross, per_customer._refunded))
    if "revenue" in per_customer.columns:
        columns["revenue"] = per_customer.revenue
    if "_margin" in per_customer.columns:
        columns["margin"] = per_customer._margin
    if "_log_gaps" in per_customer.columns:
        columns["litt"] = _litt(per_customer, frequency, step)
    return columns


def _refund_columns(gross: ir.FloatingValue, refunded: ir.FloatingValue) -> dict[str, ir.Value]:
    """``refunded``, ``refund_share = refunded / gross_revenue`` (0 without gross spend) and ``largely_refunded``."""
    share = ibis.ifelse(gross > 0, refunded / gross, 0.0)
    return {"refunded": refunded, "refund_share": share, "largely_refunded": share >= LARGELY_REFUNDED_SHARE}


def _period_start(index: ir.IntegerValue, unit: str, merge: str) -> ir.DateValue:
    epoch = ibis.date(1970, 1, 1)
    if merge == "day" or unit == "day":
        days = index
    elif unit == "week":
        days = index * 7 + _MONDAY_EPOCH_OFFSET
    else:
        months = index * MONTHS_PER_PERIOD[unit]
        year = (months / 12).floor().cast("int32")
        month = (months - year * 12 + 1).cast("int32")
        return ibis.date(year, month, 1)
    return epoch + days.cast("int32").as_interval("D")


def summarize(
    orders: Any,
    *,
    observation_end: Any = None,
    time_unit: Unit = DEFAULT_TIME_UNIT,
    merge: Merge = "day",
    totals: bool = True,
    currency: str | None = None,
    litt: bool = False,
) -> CustomerData:
    """Summarise order lines into one row per customer, inside the engine.

    Parameters
    ----------
    orders : Ibis table | pandas/Polars/Arrow frame | LoadResult
        Order lines with the canonical columns (``customer_id``, ``order_ts``,
        ``amount``; optional ``order_id``, ``cost``), e.g. ``load_orders(...)``.
    observation_end : date-like, optional
        End of the observation window (inclusive); lines after it are ignored.
        Default: the last order date.
    time_unit : {"day", "week", "month", "quarter", "year"}
        Time unit of recency and T (default ``"week"``, :data:`clv.units.DEFAULT_TIME_UNIT`).
    merge : {"day", "unit"}
        Purchases merged per calendar day (literature) or per period of
        ``time_unit`` (lifetimes' ``freq=``; weeks run Monday to Sunday,
        months, quarters and years are calendar ones).
    totals : bool
        Also count orders and sum net revenue and margin (``n_orders``,
        ``revenue``, ``margin``). ``False`` gives only what the models need
        (the RFM columns, first/last purchase, gross revenue) at about half the
        cost on large inputs: counting orders needs one more grouping level,
        by order id.
    currency : str, optional
        Currency of the amounts, recorded with the data; default: the load
        policy's ``currency_symbol`` when the orders come from ``load_orders``.
    litt : bool, default False
        Also compute ``litt``, the sum over the repeat purchases of the log of
        the time since the previous purchase, in ``time_unit`` (0 for frequency
        0): the statistic of the regularity models BG/CNBD-k and MBG/CNBD-k
        (Platzer & Reutterer 2016; BTYDplus's ``litt``). Opt-in: it needs a
        window over each customer's purchase periods, which costs about as
        much again as the rest of the model inputs (1.5 s -> 4.2 s at 2M lines).

    Returns
    -------
    CustomerData
        The table ``customer_id, frequency, recency, T, monetary_value,
        first_purchase, last_purchase, n_orders, gross_revenue`` (value of all
        purchases, refunds not subtracted), ``refunded`` (value of all refund
        lines), ``refund_share`` (refunded / gross_revenue), ``largely_refunded``
        (refund share >= :data:`clv.summary.refunds.LARGELY_REFUNDED_SHARE`),
        ``revenue`` (net of refunds: gross_revenue - refunded) (+
        ``margin``, the sum of amount - cost over the customer's lines that
        have a cost, null when none has), sorted by customer id; with its time
        unit, merge rule, observation end, currency and ``has_amounts``.
        ``monetary_value`` is net of the refunds netted against each purchase
        period, and a fully cancelled period is no repeat purchase
        (:mod:`clv.summary.refunds`). Customers whose only lines are refunds
        have no purchase and are not rows; ``customers_without_purchase``
        counts them.

        A purchase log (no amounts: see :mod:`clv.summary.amounts`) gives the
        same columns without ``monetary_value``, ``gross_revenue``, ``revenue``
        and ``margin``, and ``has_amounts=False``.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...                        "order_ts": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-08"]),
    ...                        "amount": [10.0, 20.0, 5.0]})
    >>> data = summarize(orders)
    >>> data.time_unit, data["frequency"].tolist(), data["T"].tolist()
    ('week', [1, 0], [2.0, 1.0])
    """
    table = as_orders_table(orders)
    unit = time_unit
    _validate_options(unit, merge)
    dialect.require_supported(dialect.engine_of(table), "the summary")
    if observation_end is None:
        frame, end = _summary_to_last_order(table, unit, merge, totals, litt=litt)
    else:
        end = resolve_observation_end(orders, observation_end)
        expression = summary_expression(
            table, observation_end=end, time_unit=unit, merge=merge, keep_non_buyers=True, totals=totals, litt=litt
        )
        frame = to_frame(expression.order_by(schema.CUSTOMER_ID))
    buyers = frame["first_purchase"].notna().to_numpy()
    if not buyers.any():
        _refuse_empty(orders, end)
    frame = frame[buyers].reset_index(drop=True)
    frame["frequency"] = frame["frequency"].astype("int64")
    frame, has_amounts = _with_amounts(frame, declared_amounts(orders))
    return CustomerData(
        frame, time_unit=unit, observation_end=end, merged_per=merge, has_amounts=has_amounts,
        currency=_currency(orders, currency), customers_without_purchase=int((~buyers).sum()),
        load_report=_computed_load_report(orders),
    )


def _refuse_empty(orders: Any, end: dt.date) -> None:
    """An empty summary helps no one: say why there is no customer (the load report's refusal when it has one)."""
    if hasattr(orders, "classified"):  # a load result: its report raises LoadRejectedError naming the reasons
        orders.report  # noqa: B018
    raise DataError(
        f"no customer has a purchase on or before the observation end ({end}): nothing to summarise. "
        "Fix: check the observation end and the load report (clv load prints it), e.g. lines rejected for their date."
    )


def _with_amounts(frame: pd.DataFrame, declared: bool | None) -> tuple[pd.DataFrame, bool]:
    """The frame (a log's value columns dropped) and whether it has amounts (declared, or some purchase has a value)."""
    if declared is False or (declared is None and values_missing(frame)):
        return without_values(frame), False
    return frame, True


def _currency(orders: Any, currency: str | None) -> str | None:
    """The currency given, else the load policy's currency symbol (None when unknown)."""
    if currency is not None:
        return str(currency)
    policy = getattr(orders, "policy", None)
    return getattr(policy, "currency_symbol", None)


def _computed_load_report(orders: Any) -> Any:
    """The load report of a LoadResult when it was already computed (it costs a query otherwise), else None."""
    return vars(orders).get("report") if hasattr(orders, "__dict__") and hasattr(orders, "classified") else None


def compressed_summary(
    summary: pd.DataFrame | ir.Table, columns: tuple[str, ...] = ("frequency", "recency", "T")
) -> pd.DataFrame:
    """Distinct rows of ``columns`` with the number of customers sharing each (``count``).

    Models fit on these rows weighted by ``count`` as on the customers themselves (the
    likelihood depends on a customer only through these columns).

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame or ibis.expr.types.Table
        A per-customer summary (:func:`summarize`).
    columns : tuple of str, default ("frequency", "recency", "T")
        The columns that make a row.

    Returns
    -------
    pandas.DataFrame
        ``columns`` plus ``count``, one row per distinct combination, sorted by ``columns``.

    Raises
    ------
    clv.errors.DataError
        When ``summary`` lacks one of ``columns`` (the message lists the columns found).
    """
    table = summary if isinstance(summary, ir.Table) else ibis.memtable(as_frame(summary))
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"summary lacks column(s) {missing}; columns found: {', '.join(table.columns)}.")
    grouped = table.group_by(list(columns)).aggregate(count=table.count())
    return to_frame(grouped.order_by(list(columns)))


def calibration_holdout(
    orders: Any,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    time_unit: Unit = DEFAULT_TIME_UNIT,
    merge: Merge = "day",
    currency: str | None = None,
    litt: bool = False,
) -> CustomerData:
    """Summary at ``calibration_end`` plus what each customer did after it.

    The calibration columns are those of :func:`summarize` (customers who had
    purchased by ``calibration_end``). Added per customer, for the holdout
    window ``(calibration_end, observation_end]``:

    * ``frequency_holdout``: purchase periods in the window (fully cancelled ones excluded);
    * ``monetary_value_holdout``: mean net value of those periods (0 if none), refunds
      netted within the window by the rules of :mod:`clv.summary.refunds`;
    * ``revenue_holdout``: net revenue in the window (refunds included);
    * ``duration_holdout``: the window's length in ``time_unit`` (same for everyone).

    Customers first seen in the holdout window are not in the calibration
    summary; ``new_customers_in_holdout`` counts them. A purchase log
    has no value columns, in calibration or holdout (``has_amounts=False``,
    see :mod:`clv.summary.amounts`).

    Parameters
    ----------
    orders : Ibis table | pandas/Polars/Arrow frame | LoadResult
        Order lines with the canonical columns (``customer_id``, ``order_ts``,
        ``amount``; optional ``order_id``, ``cost``), e.g. ``load_orders(...)``.
    calibration_end : date-like
        End of the calibration (fitting) window, inclusive; required. The
        holdout window starts the day after. With ``merge="unit"`` it must be
        the last day of a period of ``time_unit`` (a Sunday for weeks).
    observation_end : date-like, optional
        End of the holdout window (inclusive); lines after it are ignored.
        Default: the last order date.
    time_unit : {"day", "week", "month", "quarter", "year"}
        Time unit of recency, T and the holdout's length (default ``"week"``,
        :data:`clv.units.DEFAULT_TIME_UNIT`).
    merge : {"day", "unit"}
        Purchases merged per calendar day (default, the literature's rule) or
        per period of ``time_unit``; in both windows alike (see :func:`summarize`).
    currency : str, optional
        Currency of the amounts, recorded with the data; default: the load
        policy's ``currency_symbol`` when the orders come from ``load_orders``.
    litt : bool, default False
        Also compute the calibration column ``litt`` (see :func:`summarize`).

    Returns
    -------
    CustomerData
        Split customer data: the calibration columns of :func:`summarize` and
        the holdout columns above, one row per customer who purchased by
        ``calibration_end``, sorted by customer id; ``calibration_end``,
        ``holdout_length`` (in ``time_unit``), ``observation_end`` (the
        holdout's end) and ``new_customers_in_holdout`` set.

    Raises
    ------
    DataError
        When ``time_unit`` or ``merge`` is not one of the values above, a date
        is not a date, ``observation_end`` is not after ``calibration_end``, or
        (with ``merge="unit"``) ``calibration_end`` falls inside a period.

    Examples
    --------
    >>> import pandas as pd
    >>> orders = pd.DataFrame({"customer_id": ["a", "a", "b", "a", "b"],
    ...                        "order_ts": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-08",
    ...                                                    "2024-02-05", "2024-02-19"]),
    ...                        "amount": [10.0, 20.0, 5.0, 30.0, 15.0]})
    >>> data = calibration_holdout(orders, calibration_end="2024-01-31", observation_end="2024-02-28")
    >>> data["frequency"].tolist(), data["frequency_holdout"].tolist(), data["revenue_holdout"].tolist()
    ([1, 0], [1, 1], [30.0, 15.0])
    >>> data.holdout_length  # 28 days in weeks
    4.0
    """
    unit = time_unit
    _validate_options(unit, merge)
    table = as_orders_table(orders)
    cal_end = resolve_observation_end(orders, calibration_end)
    obs_end = resolve_observation_end(orders, observation_end)
    if obs_end <= cal_end:
        raise DataError(f"observation_end ({obs_end}) must be after calibration_end ({cal_end}).")
    _require_period_end(cal_end, unit, merge)
    calibration = summary_expression(table, observation_end=cal_end, time_unit=unit, merge=merge, litt=litt)
    day = order_date(table)
    later = table.filter((day > ibis.date(cal_end)) & (day <= ibis.date(obs_end)))
    periods = period_table(later, unit=unit, merge=merge)
    buys = periods.bought
    holdout = periods.group_by(schema.CUSTOMER_ID).aggregate(
        frequency_holdout=buys.sum().cast("int64"),
        _gross_holdout=periods.spend.sum(where=buys),
        revenue_holdout=periods.net.sum(),
    )
    joined = calibration.left_join(holdout, schema.CUSTOMER_ID)
    n_holdout = joined.frequency_holdout.fill_null(0)
    joined = joined.mutate(
        frequency_holdout=n_holdout,
        monetary_value_holdout=ibis.ifelse(
            n_holdout > 0, joined._gross_holdout / n_holdout.cast("float64"), 0.0
        ),
        revenue_holdout=joined.revenue_holdout.fill_null(0.0),
    ).drop("_gross_holdout", f"{schema.CUSTOMER_ID}_right")
    frame = to_frame(joined.order_by(schema.CUSTOMER_ID))
    holdout_length = _window_length(cal_end, obs_end, unit, merge)
    frame["duration_holdout"] = holdout_length
    known = holdout.select(schema.CUSTOMER_ID).anti_join(calibration, schema.CUSTOMER_ID).count().to_pyarrow().as_py()
    frame, has_amounts = _with_amounts(frame, declared_amounts(orders))
    return CustomerData(
        frame, time_unit=unit, observation_end=obs_end, calibration_end=cal_end, holdout_length=holdout_length,
        merged_per=merge, has_amounts=has_amounts, currency=_currency(orders, currency),
        new_customers_in_holdout=int(known), load_report=_computed_load_report(orders),
    )


def _require_period_end(day: dt.date, unit: str, merge: str) -> None:
    """With whole-period merging the split must fall between two periods, or one period is in both."""
    if merge != "unit" or unit == "day":
        return
    next_day = day + dt.timedelta(days=1)
    if _observation_end_index(next_day, unit, merge) == _observation_end_index(day, unit, merge):
        boundary = "a Sunday (weeks run Monday to Sunday)" if unit == "week" else f"the last day of a {unit}"
        raise DataError(
            f"calibration_end {day} falls inside a {unit}: with merge='unit' it must be {boundary}, "
            "so that no purchase period is split between calibration and holdout."
        )


def _window_length(start: dt.date, end: dt.date, unit: str, merge: str) -> float:
    if merge == "unit" and unit != "day":
        return float(_observation_end_index(end, unit, merge) - _observation_end_index(start, unit, merge))
    return (end - start).days / DAYS_PER_UNIT[unit]
