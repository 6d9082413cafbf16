"""Load order lines from any source into the canonical schema, losing nothing.

One *classified* Ibis expression holds every input line with its ``source_row``,
its original values, the parsed canonical fields and a status (``purchase``,
``netted_refund`` or a reject reason). The orders, the rejects and the report are
three views of that one expression, so they always add up to the input.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend
from ibis.common.exceptions import OperationNotDefinedError

from clv.data import parse
from clv.data import policy as P
from clv.data import schema
from clv.data.columns import Columns
from clv.data.policy import LoadPolicy
from clv.data.sources import SOURCE_ROW_COL, raw_table, resolve_source
from clv.engine import dialect
from clv.errors import ClvError, DataError

STATUS = "__clv_status"
ACCEPTED = "__clv_accepted"
REFUND_FLAG = "__clv_refund"
LABEL = "__clv_label"
IS_REFUND = "is_refund"
SOURCE = "source"
REASON = "reason"
_FIELD = "__clv_f_"  # prefix of parsed canonical fields inside the classified table


@dataclass(frozen=True)
class LoadReport:
    """What happened to every input line.

    ``input_rows == accepted_purchase_lines + netted_refund_lines + sum(rejected)``
    always holds (:meth:`check` raises otherwise). ``input_rows`` is also checked
    against ``expected_rows``, the records a reader counted on its own (text
    files: an independent count of the file's records), so a line can never
    vanish between the file and the report.

    Parameters
    ----------
    input_rows : int
        Lines read from the input.
    accepted_purchase_lines : int
        Lines kept as purchases.
    netted_refund_lines : int
        Refund lines kept to reduce revenue (never counted as purchases).
    rejected : mapping of str to int, default {}
        Rejected lines per reason (``"duplicate"``, ``"date_in_future"``, ...).
    repeated_lines_kept : int, default 0
        Accepted lines identical to an earlier line that were kept because they
        may be genuine repeat purchases (no order id and no time of day;
        ``LoadPolicy(duplicates="drop")`` drops them).
    expected_rows : int or None
        The records a reader counted on its own, None when unknown.
    has_amounts : bool, default True
        False for a purchase log without values.
    """

    input_rows: int
    accepted_purchase_lines: int
    netted_refund_lines: int
    rejected: Mapping[str, int] = field(default_factory=dict)
    repeated_lines_kept: int = 0
    expected_rows: int | None = None
    has_amounts: bool = True

    @property
    def rejected_lines(self) -> int:
        return int(sum(self.rejected.values()))

    @property
    def accepted_lines(self) -> int:
        return self.accepted_purchase_lines + self.netted_refund_lines

    def check(self) -> LoadReport:
        """Raise ClvError unless every input line is accounted for exactly once."""
        total = self.accepted_purchase_lines + self.netted_refund_lines + self.rejected_lines
        if total != self.input_rows:
            raise ClvError(
                f"load report does not add up: {self.accepted_purchase_lines} purchase + "
                f"{self.netted_refund_lines} refund + {self.rejected_lines} rejected = "
                f"{total} lines, but the input has {self.input_rows}."
            )
        if self.expected_rows is not None and self.expected_rows != self.input_rows:
            raise ClvError(
                f"the file has {self.expected_rows} records but {self.input_rows} were read; "
                "lines would be lost. Fix: check the file's quoting (an unclosed '\"') and "
                "delimiter, or convert it to Parquet first."
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_rows": self.input_rows,
            "accepted_purchase_lines": self.accepted_purchase_lines,
            "netted_refund_lines": self.netted_refund_lines,
            "rejected": dict(self.rejected),
            "repeated_lines_kept": self.repeated_lines_kept,
            "has_amounts": self.has_amounts,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome (purchase, netted_refund, each reason) with its count."""
        rows = [
            ("accepted", P.PURCHASE, self.accepted_purchase_lines),
            ("accepted", P.NETTED_REFUND, self.netted_refund_lines),
            *(("rejected", reason, n) for reason, n in self.rejected.items()),
        ]
        frame = pd.DataFrame(rows, columns=["outcome", "status", "lines"])
        frame["share"] = frame["lines"] / max(self.input_rows, 1)
        return frame

    def top_reasons(self, count: int = 3) -> list[tuple[str, int]]:
        """The most frequent reject reasons with their line counts."""
        ranked = sorted(((n, r) for r, n in self.rejected.items() if n), reverse=True)
        return [(reason, n) for n, reason in ranked[:count]]


class LoadRejectedError(DataError):
    """A load that keeps no line, or rejects more than ``max_rejected_share`` of them.

    The rejected lines are still in ``LoadResult.rejects``.

    Parameters
    ----------
    message : str
        The error message: the top reasons and the likely fix.
    report : LoadReport
        The load report.
    hints : list of str
        The likely fixes.
    """

    def __init__(self, message: str, report: LoadReport, hints: list[str]):
        super().__init__(message)
        self.report = report
        self.hints = hints


@dataclass
class LoadResult:
    """Orders, rejects and report of one :func:`load_orders` call (all lazy).

    Made by :func:`load_orders`; read ``orders``, ``rejects`` and ``report``.

    Parameters
    ----------
    orders : ibis.Table
        The accepted lines in the canonical schema (purchases and netted refunds).
    rejects : ibis.Table
        The rejected lines: original columns, ``source_row`` and ``reason``.
    classified : ibis.Table
        Every input line with its outcome (the table ``orders``, ``rejects``
        and ``report`` are computed from).
    con : ibis BaseBackend
        The connection the tables live on.
    originals : tuple of str, default ()
        The input's original column names.
    extras : tuple of str, default ()
        The user columns carried through (``Columns.extra``).
    multi : bool, default False
        True when several labelled sources were loaded as one history.
    order_times_source : callable or None
        Builds the accepted lines' order times, copies included.
    expected_rows : int or None
        The records a reader counted on its own, None when unknown.
    columns : Columns or None
        The column mapping used.
    policy : LoadPolicy or None
        The load policy used.
    """

    orders: ibis.Table
    rejects: ibis.Table
    classified: ibis.Table
    con: BaseBackend
    originals: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    multi: bool = False
    order_times_source: Callable[[], ibis.Table] | None = None  # builds the accepted lines' order_ts, copies included
    expected_rows: int | None = None
    columns: Columns | None = None
    policy: LoadPolicy | None = None

    def cache(self) -> LoadResult:
        """The same result with the classification computed once (:func:`clv.engine.dialect.materialise`).

        Worth it when orders, rejects and report are all queried (each query
        otherwise re-runs parsing and duplicate detection).
        """
        cached = _result(dialect.materialise(self.classified, "loaded"),
                         self.con, self.originals, self.extras, multi=self.multi)
        return replace(cached, order_times_source=self.order_times_source, expected_rows=self.expected_rows,
                       columns=self.columns, policy=self.policy)

    @cached_property
    def report(self) -> LoadReport:
        """Counts per outcome, computed in one aggregate query on first access.

        Raises :class:`LoadRejectedError` when the load keeps no line or rejects
        more than ``LoadPolicy.max_rejected_share`` of them, naming the top
        reasons and the likely fix.
        """
        counts = self.con.execute(
            self.classified.group_by(STATUS, REPEAT_KEPT).aggregate(lines=ibis._.count())
        )
        lines = counts["lines"].astype(int)
        by_status = lines.groupby(counts[STATUS]).sum().to_dict()
        report = LoadReport(
            input_rows=int(lines.sum()),
            accepted_purchase_lines=int(by_status.get(P.PURCHASE, 0)),
            netted_refund_lines=int(by_status.get(P.NETTED_REFUND, 0)),
            rejected={r: int(by_status.get(r, 0)) for r in P.REASON_PRECEDENCE},
            repeated_lines_kept=int(lines[counts[REPEAT_KEPT].astype(bool)].sum()),
            expected_rows=self.expected_rows,
            has_amounts=self.columns.has_amounts if self.columns is not None else True,
        )
        report.check()
        self._refuse_if_mostly_rejected(report)
        return report

    def _refuse_if_mostly_rejected(self, report: LoadReport) -> None:
        limit = (self.policy or LoadPolicy()).max_rejected_share
        if limit >= 1:
            return
        if report.input_rows == 0:
            raise LoadRejectedError("the input has no data lines; fix: check the file (it holds a header at most).",
                                    report, [])
        share = report.rejected_lines / report.input_rows
        if report.accepted_lines > 0 and share <= limit:
            return
        hints = self.hints(report)
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in report.top_reasons())
        kept = "no line was kept" if report.accepted_lines == 0 else f"{share:.0%} of lines were rejected"
        fix = " ".join(hints) if hints else "fix: check the column mapping and the rejects."
        raise LoadRejectedError(
            f"{kept} ({report.rejected_lines:,} of {report.input_rows:,}: {reasons}). {fix}", report, hints
        )

    def hints(self, report: LoadReport | None = None) -> list[str]:
        """Likely fixes for the most frequent reject reasons (examines a few rejected lines)."""
        report = report or self.report
        return [hint for reason, _ in report.top_reasons() if (hint := self._hint(reason))]

    def _hint(self, reason: str) -> str | None:
        from clv.data import hints

        columns = self.columns or Columns()
        if reason == P.UNPARSABLE_TIMESTAMP:
            formats = hints.suggest_date_format(self._rejected_values(reason, columns.time_column))
            if not formats:
                return "fix: give the date format, e.g. LoadPolicy(date_format='%d/%m/%Y %H:%M')."
            if len(formats) > 1:
                return (f"fix: dates read as LoadPolicy(date_format={formats[0]!r}) or {formats[1]!r} "
                        "(day and month cannot be told apart here): pass the right one.")
            return f"fix: LoadPolicy(date_format={formats[0]!r})."
        if reason == P.UNPARSABLE_AMOUNT:
            column = columns.amount_column or columns.unit_price
            options = hints.suggest_number_format(self._rejected_values(reason, column)) if column else {}
            if options:
                return "fix: LoadPolicy(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")."
            return None
        return _FIXED_HINTS.get(reason)

    def _rejected_values(self, reason: str, column: str | None, limit: int = 500) -> list[Any]:
        if column is None or _reject_name(column) not in self.rejects.columns:
            return []
        sample = self.rejects.filter(self.rejects[REASON] == reason).select(_reject_name(column)).limit(limit)
        return self.con.execute(sample).iloc[:, 0].tolist()

    def last_order_ts(self) -> Any:
        """Timestamp of the last accepted line (None when there is none).

        Copies of a line have its timestamp, so this is found on the lines
        classified without the duplicate search (one light query).
        """
        if self.order_times_source is None:
            return self.orders[schema.ORDER_TS].max().to_pyarrow().as_py()
        return self.order_times_source()[schema.ORDER_TS].max().to_pyarrow().as_py()

    def write_rejects(self, path: str) -> str:
        """Write the rejects to ``path`` (.parquet, else CSV); returns the path."""
        if str(path).lower().endswith(".parquet"):
            dialect.write_local_parquet(self.rejects, str(path), con=self.con)
        else:
            dialect.write_local_csv(self.rejects, str(path), con=self.con)
        return str(path)


def load_orders(
    source: Any,
    columns: Columns | Mapping[str, Columns] | None = None,
    policy: LoadPolicy | None = None,
    *,
    observation_end: Any = None,
    con: BaseBackend | None = None,
    table: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    names: tuple[str, ...] | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    pattern: str | None = None,
) -> LoadResult:
    """Read order lines into the canonical schema; reject (never drop) bad lines.

    Parameters
    ----------
    source : path, frame, table, DatabaseTable or mapping
        A CSV/text path (``.csv``, ``.csv.gz``, ``.txt``), a Parquet file, list
        of files or folder, an Excel file, a pandas or Polars DataFrame, a
        PyArrow Table, an Ibis table, a database (``"shop.duckdb"`` with
        ``table="orders"``, or :class:`clv.data.DatabaseTable`), or a dict
        ``{label: source}`` unioned into one history per customer (the label
        fills ``channel`` when no channel column is mapped).
    columns : Columns, mapping of str to Columns, or None
        Which columns hold which field (default ``Columns()``: the canonical
        names); a dict ``{label: Columns}`` when ``source`` is a dict.
    policy : LoadPolicy or None
        How special and bad lines are treated (default ``LoadPolicy()``).
    observation_end : date-like or None
        Lines after it are rejected (``after_observation_end``); a date without
        a time means the end of that day.
    con : ibis BaseBackend or None
        The connection to load on (default :func:`clv.engine.default_connection`).
    table : str or None
        The table to read when ``source`` is a database file.
    delimiter : str or None
        For text files: one ASCII character, or ``"whitespace"``.
    header : bool, default True
        For text files: whether the first non-blank line names the columns.
    names : tuple of str or None
        For text files without a header line: the column names.
    encoding : str or None
        For text files not in UTF-8: ``"cp1252"``, ``"latin-1"``, ...
    sheet : str, int or None
        For spreadsheets: the sheet name or 0-based index.
    pattern : str or None
        Several files by a glob, ``"parts/*.parquet"`` (a path is never a glob).

    Returns
    -------
    LoadResult
        ``orders`` and ``rejects`` are lazy Ibis tables on ``con``; ``report``
        accounts for every input line.

    Raises
    ------
    DataError
        When a mapped column is missing, an option is invalid or the input
        cannot be read, naming the fix.
    LoadRejectedError
        When ``report`` is read and the load keeps no line or rejects more than
        ``policy.max_rejected_share`` of them.
    """
    columns = columns if columns is not None else Columns()
    policy = policy or LoadPolicy()
    if not isinstance(columns, (Columns, Mapping)) or not isinstance(policy, LoadPolicy):
        raise DataError(
            f"load_orders takes (source, Columns(...), LoadPolicy(...)); got columns={type(columns).__name__}, "
            f"policy={type(policy).__name__}. Fix: pass them in that order or by name."
        )
    options = {"table": table, "delimiter": delimiter, "header": header, "names": names,
               "encoding": encoding, "sheet": sheet, "pattern": pattern}
    if isinstance(source, Mapping):
        return _load_many(source, columns, policy, observation_end, con, options)
    if isinstance(columns, Mapping):
        raise DataError("columns is a dict but source is not; fix: pass one Columns(...).")
    loaded = _classify_source(source, columns, policy, observation_end, con, options)
    result = _result(loaded.classified, loaded.con, loaded.originals, columns.extra, multi=False)
    return replace(result, order_times_source=loaded.times, expected_rows=loaded.expected_rows,
                   columns=loaded.columns, policy=policy)


@dataclass(frozen=True)
class _Classified:
    """One source classified: the lines, their connection and what was read."""

    classified: ibis.Table
    con: BaseBackend
    originals: list[str]
    times: Callable[[], ibis.Table]
    columns: Columns
    expected_rows: int | None


def _classify_source(source, columns, policy, observation_end, con, options):
    """Classified lines, connection, original column names and a builder of the accepted lines' times.

    The times come from the same classification without the duplicate search
    (copies share their line's time), so the date range is one light query;
    that expression is built only when asked for.
    """
    spec = resolve_source(source, **options)
    read = raw_table(spec, con)  # RawSource: the table, its connection, the independently counted rows
    raw, con = read.table, read.con
    originals = [c for c in raw.columns if c != SOURCE_ROW_COL and c not in (BLANK_MARK, RAGGED_MARK)]
    columns = columns.with_canonical_defaults(originals)
    columns.check_against(originals)
    rate = _rate(raw, columns, policy, con)
    window = TimeWindow.of(policy, observation_end)
    if policy.rejects_outlier_dates:
        window = replace(window, bulk=_bulk_of_dates(_time_sample(read, columns.time_column), policy, window))
    classified = _classify(raw, originals, columns, policy, window, con, rate)

    def times() -> ibis.Table:
        kept = classified
        if policy.searches_duplicates:
            kept = _classify(raw, originals, columns, replace(policy, duplicates="keep"), window, con, rate)
        return kept.filter(kept[ACCEPTED]).select(**{schema.ORDER_TS: kept[_FIELD + schema.ORDER_TS]})

    return _Classified(classified, con, originals, times, columns, read.expected_rows)


def _load_many(sources, columns, policy, observation_end, con, options) -> LoadResult:
    if not sources:
        raise DataError("load_orders got an empty dict of sources; fix: pass at least one.")
    parts, all_originals, extras, times, expected = [], [], None, [], []
    for label, source in sources.items():
        if isinstance(columns, Mapping) and label not in columns:
            raise DataError(f"no Columns for source {label!r}; fix: add it to columns.")
        cols = columns[label] if isinstance(columns, Mapping) else columns
        loaded = _classify_source(source, cols, policy, observation_end, con, options)
        classified, con, originals = loaded.classified, loaded.con, loaded.originals
        times.append(loaded.times)
        expected.append(loaded.expected_rows)
        if extras is not None and tuple(cols.extra) != extras:
            raise DataError(
                f"source {label!r} carries extra={cols.extra}, another carries {extras}; "
                "fix: carry the same extra columns from every source."
            )
        extras = tuple(cols.extra)
        classified = classified.mutate(**{LABEL: ibis.literal(str(label))})
        if cols.channel is None:
            classified = classified.mutate(**{_FIELD + schema.CHANNEL: ibis.literal(str(label))})
        parts.append((classified, originals))
        all_originals += [c for c in originals if c not in all_originals]
    unioned = ibis.union(*(_as_text_originals(c, o, all_originals) for c, o in parts))
    result = _result(unioned, con, all_originals, extras, multi=True)
    known = None if None in expected else int(sum(expected))
    return replace(result, order_times_source=lambda: ibis.union(*(build() for build in times)),
                   expected_rows=known, policy=policy)


def _as_text_originals(classified: ibis.Table, originals, all_originals) -> ibis.Table:
    """Cast original columns to text (and add missing ones) so sources can be unioned."""
    text = {
        c: classified[c].cast(dt.string) if c in originals else ibis.null(dt.string)
        for c in all_originals
    }
    customer = _FIELD + schema.CUSTOMER_ID
    text[customer] = classified[customer].cast(dt.string)  # one key type across sources
    fixed = [c for c in classified.columns if c not in originals and c != customer]
    return classified.select(*fixed, **text)


def _result(classified, con, originals, extras, *, multi: bool) -> LoadResult:
    accepted = classified[ACCEPTED]
    label = {SOURCE: classified[LABEL]} if multi else {}
    orders = classified.filter(accepted).select(
        **{schema.SOURCE_ROW: classified[SOURCE_ROW_COL]},
        **label,
        **{name: classified[_FIELD + name] for name in schema.CANONICAL[1:]},
        **{IS_REFUND: classified[REFUND_FLAG]},
        **{name: classified[name] for name in extras},
    )
    rejects = classified.filter(~accepted).select(
        **{schema.SOURCE_ROW: classified[SOURCE_ROW_COL]},
        **label,
        **{REASON: classified[STATUS]},
        **{_reject_name(name): classified[name] for name in originals},
    )
    return LoadResult(orders=orders, rejects=rejects, classified=classified, con=con,
                      originals=tuple(originals), extras=tuple(extras), multi=multi)


def _reject_name(original: str) -> str:
    """Original column name in the rejects; 'original_' prefix if it clashes."""
    clashes = original in (schema.SOURCE_ROW, REASON, SOURCE)
    return f"original_{original}" if clashes else original


_FIXED_HINTS = {
    P.MISSING_CUSTOMER_ID: ("lines without a customer id are anonymous; if the ids are in another column, "
                            "fix: map it, e.g. Columns(customer_id='CustomerID')."),
    P.DATE_IN_FUTURE: "fix: check the dates; LoadPolicy(future_dates='keep') keeps lines dated after today.",
    P.DATE_BEFORE_MIN: "fix: check the dates; LoadPolicy(min_date=None) (or an earlier date) keeps old lines.",
    P.DATE_OUTLIER: "fix: check the dates; LoadPolicy(outlier_dates='keep') keeps dates far from the rest.",
    P.AMOUNT_OUT_OF_RANGE: "fix: check the amounts; LoadPolicy(max_amount=...) raises the bound.",
    P.AFTER_OBSERVATION_END: "fix: check observation_end.",
    P.NO_EXCHANGE_RATE: "fix: add the missing rates to LoadPolicy(exchange_rates=...).",
}


# --------------------------------------------------------------------------- rules


def _end_bound(observation_end: Any, policy: LoadPolicy) -> tuple[pd.Timestamp, bool]:
    """(bound, inclusive). A date without a time includes that whole day."""
    whole_day = isinstance(observation_end, _dt.date) and not isinstance(
        observation_end, _dt.datetime
    )
    if isinstance(observation_end, str):
        whole_day = re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", observation_end) is not None
    try:
        bound = pd.Timestamp(observation_end)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"observation_end={observation_end!r} is not a date; fix: e.g. '1997-09-30'."
        ) from exc
    if bound.tzinfo is not None:
        bound = bound.tz_convert(policy.timezone).tz_localize(None)
    if whole_day:
        return bound.normalize() + pd.Timedelta(days=1), False
    return bound, True


def _currency_rate(currency: ibis.Value, policy: LoadPolicy, con):
    """Per-line rate to the reporting currency (None when there is one currency)."""
    if policy.exchange_rates is None:
        found = con.execute(currency.name("c").as_table().distinct().limit(50))["c"]
        found = sorted(str(c) for c in found.dropna())
        if len(found) > 1:
            raise DataError(
                f"the currency column holds several currencies: {', '.join(found)}; "
                "amounts in different currencies cannot be added. Fix: pass "
                "LoadPolicy(exchange_rates={"
                + ", ".join(f"{c!r}: ..." for c in found[:4])
                + "}) with the value of one unit in your reporting currency."
            )
        return None
    rates = dict(policy.exchange_rates)
    if policy.unknown_currency == "error":
        found = con.execute(currency.name("c").as_table().distinct())["c"]
        found = {"(blank)" if pd.isna(c) else str(c) for c in found}
        missing = sorted(c for c in found if c not in rates)
        if missing:
            raise DataError(
                f"no exchange rate for currencies {missing} (rates given: {sorted(rates)}); "
                "fix: add them to LoadPolicy(exchange_rates=...) or use "
                "unknown_currency='reject'."
            )
    return currency.substitute(rates, else_=ibis.null(dt.float64))


_MISSING_CUSTOMER = "__clv_missing_customer"
_BAD_AMOUNT = "__clv_bad_amount"
_AMOUNT_OUT_OF_RANGE = "__clv_amount_out_of_range"
_NO_RATE = "__clv_no_rate"
_CANCELLED = "__clv_cancelled"
_DUPLICATE = "__clv_duplicate"
_CERTAIN_COPY = "__clv_certain_copy"
_ORDER_GIVEN = "__clv_order_given"
REPEAT_KEPT = "__clv_repeat_kept"
_HASH = "__clv_hash"
_COUNT = "__clv_count"
BLANK_MARK = "__clv_blank"
"""Marker column a reader may add: True on a blank line (every field empty)."""
RAGGED_MARK = "__clv_ragged"
"""Marker column a reader may add: True on a line with more fields than the header."""


def _classify(raw, originals, cols: Columns, policy: LoadPolicy, window: TimeWindow, con, rate=None):
    """Add parsed canonical fields and the status of every line to ``raw``.

    ``rate``: the result of :func:`_rate` when already known (it queries the data).
    """
    quantity = parse.number(raw[cols.quantity], policy) if cols.quantity else ibis.null(dt.float64)
    amount, bad_amount = _amount(raw, cols, policy, quantity)
    cost, bad_cost = _cost(raw, cols, amount, policy)
    rate, no_rate = rate if rate is not None else _rate(raw, cols, policy, con)
    if rate is not None:
        amount, cost = amount * rate, cost * rate
    fields = {
        schema.CUSTOMER_ID: parse.customer_key(raw[cols.customer_id], policy),
        schema.ORDER_TS: parse.timestamp(raw[cols.time_column], policy),
        schema.AMOUNT: amount,
        schema.ORDER_ID: _optional_id(raw, cols.order_id, policy),
        schema.PRODUCT_ID: _optional_id(raw, cols.product_id, policy),
        schema.QUANTITY: quantity,
        schema.CHANNEL: _optional_id(raw, cols.channel, None),
        schema.COST: cost,
    }
    flags = {
        _MISSING_CUSTOMER: parse.identifier_missing(raw[cols.customer_id]),
        _BAD_AMOUNT: bad_amount | bad_cost,
        _AMOUNT_OUT_OF_RANGE: _out_of_range(amount, policy) | _out_of_range(cost, policy),
        _NO_RATE: no_rate,
        _CANCELLED: _cancelled(raw, cols, policy),
        _ORDER_GIVEN: _order_id_given(raw, cols),
    }
    if policy.searches_duplicates:
        raw = _mark_duplicates(raw, originals, _duplicate_key_columns(cols, originals))
    parsed = dialect.once_per_row(raw.mutate(**{_FIELD + k: v for k, v in fields.items()}, **flags))
    if policy.searches_duplicates:
        parsed = parsed.mutate(**{_CERTAIN_COPY: _certain_copy(parsed, cols, policy)})
    rejected, refund = _reject_and_refund(parsed, policy, window)
    classified = parsed.mutate(
        **{STATUS: _status(parsed, policy, window), ACCEPTED: ~rejected, REFUND_FLAG: refund}
    )
    return classified.mutate(**{REPEAT_KEPT: _repeat_kept(classified, policy)})


def _amount(raw, cols: Columns, policy: LoadPolicy, quantity) -> tuple[ibis.Value, ibis.Value]:
    """(amount of the line, True where a needed number is missing or unparsable).

    A purchase log without amounts (``cols.has_amounts`` false) has a null
    amount on every line and nothing to reject for it.
    """
    if not cols.has_amounts:
        return ibis.null(dt.float64), ibis.literal(False)
    if cols.amount_is_derived:
        unit_price = parse.number(raw[cols.unit_price], policy)
        bad = _bad_number(raw[cols.quantity], quantity) | _bad_number(raw[cols.unit_price], unit_price)
        return quantity * unit_price, bad
    amount = parse.number(raw[cols.amount_column], policy)
    bad = _bad_number(raw[cols.amount_column], amount)
    if cols.quantity:
        bad |= _bad_optional(raw[cols.quantity], quantity)
    return amount, bad


def _bad_number(raw: ibis.Value, parsed: ibis.Value) -> ibis.Value:
    """A required number that is missing, unparsable or not finite ("inf", NaN)."""
    if raw.type().is_integer() or raw.type().is_boolean():
        return raw.isnull()
    return parse.not_finite(parsed)


def _bad_optional(raw: ibis.Value, parsed: ibis.Value) -> ibis.Value:
    """An optional number that is given but not a finite number (null is fine)."""
    if raw.type().is_integer() or raw.type().is_boolean():
        return ibis.literal(False)
    if raw.type().is_floating():
        return raw.notnull() & parse.not_finite(raw)
    return parse.not_finite(parsed) & parse.identifier(raw).notnull()  # the cheap test first


def _out_of_range(value: ibis.Value, policy: LoadPolicy) -> ibis.Value:
    """A number beyond ``policy.max_amount``, or a product of finite numbers that overflowed.

    Missing and unparsable values are not (they are rejected as unparsable first).
    """
    return (value.abs() > policy.max_amount).fill_null(False)


def _order_id_given(raw: ibis.Table, cols: Columns) -> ibis.Value:
    """The line has an order id (not null, not empty), tested raw and cheaply: the summary never needs its parse.

    An id of blanks only counts as given here (rare; its copies are then dropped as certain copies).
    """
    if cols.order_id is None:
        return ibis.literal(False)
    order_id = raw[cols.order_id]
    if not order_id.type().is_string():
        return order_id.notnull()
    return (order_id != "").fill_null(False)


def _certain_copy(parsed: ibis.Table, cols: Columns, policy: LoadPolicy) -> ibis.Value:
    """Whether an exact copy of this line is certainly a copy, not a repeat purchase.

    With ``duplicates="drop"`` every copy is; with "auto" only a line that has
    an order id or a time of day (two identical dated-only lines without an
    order id may be two real purchases on one day). The order id is tested
    raw (given and not blank), not parsed: the summary never needs the parse.
    """
    if policy.drops_duplicates:
        return ibis.literal(True)
    ts = parsed[_FIELD + schema.ORDER_TS]
    has_time = (ts.truncate("D") != ts).fill_null(False)
    return parsed[_ORDER_GIVEN] | has_time


def _repeat_kept(classified: ibis.Table, policy: LoadPolicy) -> ibis.Value:
    """An accepted line that is an exact copy of an earlier one, kept as a possible repeat."""
    if not policy.searches_duplicates:
        return ibis.literal(False)
    return (classified[ACCEPTED] & classified[_DUPLICATE] & ~classified[_CERTAIN_COPY]).fill_null(False)


def _duplicate_key_columns(cols: Columns, originals: list[str]) -> list[str]:
    """Original columns that copies of a line must share: customer, time, value, product.

    A few typed columns are much cheaper to read and hash than every column of
    a line, and about as selective; all columns are still compared before a line
    is called a copy.
    """
    mapped = [cols.customer_id, cols.time_column, cols.amount_column, cols.quantity, cols.unit_price, cols.product_id]
    return [c for c in originals if c in mapped]


def _mark_duplicates(raw: ibis.Table, originals: list[str], key_columns: list[str]) -> ibis.Table:
    """Flag every copy of a line but the first (lowest source_row).

    Copies are lines whose original columns are all equal (nulls equal). On
    DuckDB a hash pre-filter on ``key_columns`` keeps the exact window small
    (see :func:`_duplicate_rows_by_hash`); elsewhere one window over every line.
    """
    copies = _duplicate_rows_by_hash(raw, originals, key_columns)
    if copies is not None:
        return raw.mutate(**{_DUPLICATE: raw[SOURCE_ROW_COL].isin(copies)})
    return raw.mutate(**{_DUPLICATE: _copy_number(raw, originals) > 0})


def _copy_number(table: ibis.Table, originals: list[str]) -> ibis.Value:
    """0 for the first line of each group of equal lines, 1, 2, ... for its copies."""
    return ibis.row_number().over(
        group_by=[table[c] for c in originals], order_by=table[SOURCE_ROW_COL]
    )


def _duplicate_rows_by_hash(raw: ibis.Table, originals: list[str], key_columns: list[str]) -> ibis.Column | None:
    """source_row of every copy but the first, exact, sorting only candidate lines.

    Equal lines have equal ``hash(key1, ..., keyK)`` over the key columns, so
    only lines whose key hash occurs more than once can be copies (few, on real
    data); the exact window, over every original column, then runs over those
    candidates alone. A hash collision or lines equal on the keys only add
    candidates, never a false duplicate: the window compares all the values.
    """
    keys = key_columns or originals
    row_hash = dialect.row_hash([raw[c] for c in keys])
    if row_hash is None:  # the engine has no hash of equal values: one window over every line
        return None
    repeated = (
        raw.group_by(**{_HASH: row_hash}).aggregate(**{_COUNT: ibis._.count()})
        .filter(ibis._[_COUNT] > 1)[_HASH]
    )
    # The hash is computed twice rather than once in a shared subquery: a shared
    # one becomes a CTE that DuckDB materialises with every column of every line.
    candidates = raw.filter(row_hash.isin(repeated))
    numbered = candidates.mutate(**{_COUNT: _copy_number(candidates, originals)})
    return numbered.filter(numbered[_COUNT] > 0)[SOURCE_ROW_COL]


def _optional_id(raw: ibis.Table, column: str | None, policy: LoadPolicy | None) -> ibis.Value:
    return parse.identifier(raw[column], policy) if column else ibis.null(dt.string)


def _cost(raw: ibis.Table, cols: Columns, amount: ibis.Value, policy: LoadPolicy):
    """(cost of the line, True where a given cost/margin is not a number)."""
    if cols.cost:
        cost = parse.number(raw[cols.cost], policy)
        return cost, _bad_optional(raw[cols.cost], cost)
    if isinstance(cols.margin_rate, str):
        margin = parse.number(raw[cols.margin_rate], policy)
        return amount * (1 - margin), _bad_optional(raw[cols.margin_rate], margin)
    if cols.margin_rate is not None:
        return amount * (1 - float(cols.margin_rate)), ibis.literal(False)
    return ibis.null(dt.float64), ibis.literal(False)


def _rate(raw: ibis.Table, cols: Columns, policy: LoadPolicy, con):
    """(rate to the reporting currency or None, True where a line has no rate)."""
    if not cols.currency:
        return None, ibis.literal(False)
    currency = parse.identifier(raw[cols.currency], policy).upper()
    rate = _currency_rate(currency, policy, con)
    if rate is None:
        return None, ibis.literal(False)
    return rate, rate.isnull()


def _cancelled(raw: ibis.Table, cols: Columns, policy: LoadPolicy) -> ibis.Value:
    """Order id starts with the cancellation prefix (text ids only)."""
    if policy.cancel_prefix is None or not cols.order_id:
        return ibis.literal(False)
    order_id = raw[cols.order_id]
    if not order_id.type().is_string():
        return ibis.literal(False)
    # Only leading blanks matter for a prefix; LTRIM is much cheaper than TRIM on DuckDB.
    stripped = dialect.ltrim_spaces(order_id)
    return stripped.startswith(policy.cancel_prefix).fill_null(False)


def _reject_and_refund(t, policy, window: TimeWindow) -> tuple[ibis.Value, ibis.Value]:
    """Booleans: the line is rejected (any reject rule applies); it is a refund.

    The same rules as :func:`_status`, without building the reason text, so that
    filtering the orders and flagging refunds stay cheap on large inputs.
    """
    rules = _reject_rules(t, policy, window)
    by_time = set(_TIME_REASONS)
    rejected = _unusable_time(t, window)
    for condition, reason in rules[:-1]:
        if reason not in by_time:
            rejected = rejected | condition.fill_null(False)
    return rejected, rules[-1][0].fill_null(False)


_TIME_REASONS = (P.UNPARSABLE_TIMESTAMP, P.DATE_IN_FUTURE, P.DATE_BEFORE_MIN, P.DATE_OUTLIER,
                 P.AFTER_OBSERVATION_END)
_FIRST_TIMESTAMP, _LAST_TIMESTAMP = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")


@dataclass(frozen=True)
class TimeWindow:
    """The times a line may have, fixed once per load (so every view of it agrees).

    ``earliest``: ``LoadPolicy.min_date``; ``now``: the moment of loading when
    future dates are rejected; ``end``: the last moment allowed by
    ``observation_end`` (inclusive); ``bulk``: (low, high) outside which a date
    is an outlier, found from the data (:func:`_bulk_of_dates`). None: no bound.
    """

    earliest: pd.Timestamp | None = None
    now: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    bulk: tuple[pd.Timestamp, pd.Timestamp] | None = None

    @classmethod
    def of(cls, policy: LoadPolicy, observation_end) -> TimeWindow:
        earliest = pd.Timestamp(policy.min_date) if policy.min_date is not None else None
        now = _load_time(policy) if policy.rejects_future_dates else None
        end = None
        if observation_end is not None:
            bound, inclusive = _end_bound(observation_end, policy)
            end = bound if inclusive else bound - pd.Timedelta(microseconds=1)
        return cls(earliest, now, end)

    @property
    def allowed(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(first, last) allowed time, both inclusive; None when every parsed time is."""
        lows = [b for b in (self.earliest, self.bulk and self.bulk[0]) if b is not None]
        highs = [b for b in (self.now, self.end, self.bulk and self.bulk[1]) if b is not None]
        if not lows and not highs:
            return None
        return max(lows, default=_FIRST_TIMESTAMP), min(highs, default=_LAST_TIMESTAMP)


def _load_time(policy: LoadPolicy) -> pd.Timestamp:
    """The moment of loading as a naive wall-clock time in the policy's zone (whole microseconds)."""
    return pd.Timestamp.now(tz=policy.timezone).tz_localize(None).floor("us")


_BULK_QUANTILES = (0.01, 0.99)
_MIN_OUTLIER_GAP = pd.Timedelta(days=366)
_BULK_SAMPLE_ROWS = 200_000
_TEXT_SAMPLE_LINES = 5_000


def _time_sample(read, time_column: str) -> ibis.Table:
    """The time column, or a sample of it on large inputs, as a one-column table ``t``.

    Text files read lazily give about 5,000 values from lines spread through
    the file, read without a pass over it; other large inputs a repeatable
    block sample of about 200,000 rows (percentiles need no more, and the
    outlier gap is wide).
    """
    if read.sample is not None and (read.expected_rows or 0) > _TEXT_SAMPLE_LINES:
        values = read.sample(time_column, _TEXT_SAMPLE_LINES)
        return ibis.memtable(pa.table({"t": pa.array(values, pa.string())}))
    table = read.table
    rows = read.expected_rows if read.expected_rows is not None else dialect.known_row_count(read.table)
    if rows is None:  # a database table: count it (a block sample of a small table is one run of its lines)
        rows = int(table.count().to_pyarrow().as_py())
    if rows > 5 * _BULK_SAMPLE_ROWS:
        table = dialect.sample(table, _BULK_SAMPLE_ROWS / rows, seed=0, row_column=SOURCE_ROW_COL)
    return table.select(t=table[time_column])


def _bulk_of_dates(times: ibis.Table, policy: LoadPolicy, window: TimeWindow) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(low, high) beyond which a date is far outside the bulk of the data; None when no date parses.

    The bulk is the central 98% of the parsed dates of ``times`` (a sample,
    :func:`_time_sample`) within the policy's window (1st to 99th percentile,
    approximate). A date is an outlier when it lies further from the bulk than
    the bulk's own span, and at least 366 days from it: a single mistyped year
    (2011 -> 2019) is caught, a long history never is.
    """
    parsed = times.select(ts=parse.timestamp(times.t, policy))  # parsed once, then filtered
    inside = TimeWindow(window.earliest, window.now).allowed
    if inside is not None:
        parsed = parsed.filter(parsed.ts.between(*inside))
    seconds = parsed.select(s=parsed.ts.epoch_seconds())
    try:
        stats = seconds.aggregate(low=seconds.s.approx_quantile(_BULK_QUANTILES[0]),
                                  high=seconds.s.approx_quantile(_BULK_QUANTILES[1])).execute().iloc[0]
    except OperationNotDefinedError:  # a backend without approximate quantiles: no outlier rule there
        return None
    if pd.isna(stats["low"]):
        return None
    gap = max(stats["high"] - stats["low"], _MIN_OUTLIER_GAP.total_seconds())
    first, last = _FIRST_TIMESTAMP.timestamp(), _LAST_TIMESTAMP.timestamp()
    low, high = max(stats["low"] - gap, first), min(stats["high"] + gap, last)
    return pd.Timestamp(low, unit="s").floor("s"), pd.Timestamp(high, unit="s").floor("s")


def _unusable_time(t, window: TimeWindow) -> ibis.Value:
    """Timestamp unparsable or outside the allowed window, with one reference to it.

    Same lines as the time rules of :func:`_reject_rules`; one reference matters
    because DuckDB re-evaluates each copy of a text-date parse inside a filter.
    """
    ts = t[_FIELD + schema.ORDER_TS]
    allowed = window.allowed
    if allowed is None:
        return ts.isnull()
    return ~ts.between(*allowed).fill_null(False)


def _status(t, policy, window: TimeWindow) -> ibis.Value:
    """First applicable reason in REASON_PRECEDENCE, else purchase / netted_refund."""
    return ibis.cases(
        *((cond.fill_null(False), reason) for cond, reason in _reject_rules(t, policy, window)),
        else_=ibis.literal(P.PURCHASE),
    )


def _reject_rules(t, policy, window: TimeWindow) -> list[tuple[ibis.Value, str]]:
    """(condition, status) in precedence order; the last one is the netted refund."""
    amount, ts = t[_FIELD + schema.AMOUNT], t[_FIELD + schema.ORDER_TS]
    is_refund = (amount < 0).fill_null(False) | (t[_FIELD + schema.QUANTITY] < 0).fill_null(False) | t[_CANCELLED]
    rules = _reader_rules(t)
    rules += [
        (t[_MISSING_CUSTOMER], P.MISSING_CUSTOMER_ID),
        (ts.isnull(), P.UNPARSABLE_TIMESTAMP),
    ]
    if window.now is not None:
        rules.append((ts > window.now, P.DATE_IN_FUTURE))
    if window.earliest is not None:
        rules.append((ts < window.earliest, P.DATE_BEFORE_MIN))
    if window.bulk is not None:
        rules.append((~ts.between(*window.bulk), P.DATE_OUTLIER))
    rules += [
        (t[_BAD_AMOUNT], P.UNPARSABLE_AMOUNT),
        (t[_AMOUNT_OUT_OF_RANGE], P.AMOUNT_OUT_OF_RANGE),
        (t[_NO_RATE], P.NO_EXCHANGE_RATE),
    ]
    if window.end is not None:
        rules.append((ts > window.end, P.AFTER_OBSERVATION_END))
    if policy.searches_duplicates:
        rules.append((t[_DUPLICATE] & t[_CERTAIN_COPY], P.DUPLICATE))
    if policy.rejects_refunds:
        rules.append((is_refund, P.REFUND))
    if policy.rejects_zero_amounts:
        rules.append(((amount == 0) & ~is_refund, P.ZERO_AMOUNT))
    rules.append((is_refund, P.NETTED_REFUND))
    return rules


def _reader_rules(t) -> list[tuple[ibis.Value, str]]:
    """Lines the reader marked: blank lines, lines with more fields than the header."""
    rules = []
    if BLANK_MARK in t.columns:
        rules.append((t[BLANK_MARK], P.BLANK_LINE))
    if RAGGED_MARK in t.columns:
        rules.append((t[RAGGED_MARK], P.MALFORMED_LINE))
    return rules
