"""Load order lines from any source into the canonical schema, losing nothing.

One *classified* Ibis expression holds every input line with its ``source_row``,
its original values, the parsed canonical fields and a status (``purchase``,
``netted_refund`` or a reject reason). The orders, the rejects and the report are
three views of that one expression, so they always add up to the input.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
from ibis.backends import BaseBackend

from clv.data import policy as P
from clv.data import schema
from clv.data.columns import Columns
from clv.data.policy import LoadPolicy
from clv.data.sources import SOURCE_ROW_COL, raw_table, resolve_source
from clv.errors import ClvError, DataError

STATUS = "__clv_status"
ACCEPTED = "__clv_accepted"
REFUND_FLAG = "__clv_refund"
LABEL = "__clv_label"
IS_REFUND = "is_refund"
SOURCE = "source"
REASON = "reason"
_FIELD = "__clv_f_"  # prefix of parsed canonical fields inside the classified table
_TZ_SUFFIX = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|z|[+-]\d\d(:?\d\d)?)$"


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(text: str, fmt: str) -> dt.Timestamp():
    """DuckDB ``try_strptime``: NULL instead of an error on a bad date."""


@ibis.udf.scalar.builtin(name="timezone")
def _local_time(zone: str, ts: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():
    """DuckDB ``timezone(zone, timestamptz)``: the naive wall-clock time in ``zone``."""


@dataclass(frozen=True)
class LoadReport:
    """What happened to every input line.

    ``input_rows == accepted_purchase_lines + netted_refund_lines + sum(rejected)``
    always holds (:meth:`check` raises otherwise).
    """

    input_rows: int
    accepted_purchase_lines: int
    netted_refund_lines: int
    rejected: Mapping[str, int] = field(default_factory=dict)

    @property
    def rejected_lines(self) -> int:
        return int(sum(self.rejected.values()))

    def check(self) -> LoadReport:
        """Raise ClvError unless every input line is accounted for exactly once."""
        total = self.accepted_purchase_lines + self.netted_refund_lines + self.rejected_lines
        if total != self.input_rows:
            raise ClvError(
                f"load report does not add up: {self.accepted_purchase_lines} purchase + "
                f"{self.netted_refund_lines} refund + {self.rejected_lines} rejected = "
                f"{total} lines, but the input has {self.input_rows}."
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_rows": self.input_rows,
            "accepted_purchase_lines": self.accepted_purchase_lines,
            "netted_refund_lines": self.netted_refund_lines,
            "rejected": dict(self.rejected),
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


@dataclass
class LoadResult:
    """Orders, rejects and report of one :func:`load_orders` call (all lazy)."""

    orders: ibis.Table
    rejects: ibis.Table
    classified: ibis.Table
    con: BaseBackend
    originals: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    multi: bool = False
    order_times_source: Callable[[], ibis.Table] | None = None  # builds the accepted lines' order_ts, copies included

    def cache(self) -> LoadResult:
        """The same result with the classification computed once into a temp table.

        Worth it when orders, rejects and report are all queried (each query
        otherwise re-runs parsing and duplicate detection).
        """
        return _result(self.con.create_table(_cache_name(), self.classified, temp=True),
                       self.con, self.originals, self.extras, multi=self.multi)

    @cached_property
    def report(self) -> LoadReport:
        """Counts per outcome, computed in one aggregate query on first access."""
        counts = self.con.execute(
            self.classified.group_by(STATUS).aggregate(lines=ibis._.count())
        )
        by_status = dict(zip(counts[STATUS], counts["lines"].astype(int)))
        report = LoadReport(
            input_rows=int(sum(by_status.values())),
            accepted_purchase_lines=by_status.get(P.PURCHASE, 0),
            netted_refund_lines=by_status.get(P.NETTED_REFUND, 0),
            rejected={r: int(by_status.get(r, 0)) for r in P.REASON_PRECEDENCE},
        )
        return report.check()

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
            self.con.to_parquet(self.rejects, path)
        else:
            self.con.to_csv(self.rejects, path)
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
) -> LoadResult:
    """Read order lines into the canonical schema; reject (never drop) bad lines.

    ``source``: a CSV/text path (``.csv``, ``.csv.gz``, ``.txt``; ``delimiter=``
    for other separators or ``"whitespace"``; ``header=False`` and ``names=`` for
    headerless files), a Parquet file/directory/glob, a pandas or Polars
    DataFrame, a PyArrow Table, an Ibis table, a database (``"shop.duckdb"`` with
    ``table="orders"``, or :class:`clv.data.DatabaseTable`), or a dict
    ``{label: source}`` unioned into one history per customer (the label fills
    ``channel`` when no channel column is mapped; ``columns`` may then be a dict
    ``{label: Columns}`` too).

    ``observation_end``: lines after it are rejected (``after_observation_end``);
    a date without a time means the end of that day.

    Returns a :class:`LoadResult` whose ``orders`` and ``rejects`` are lazy Ibis
    tables on ``con`` (default :func:`clv.engine.default_connection`).
    """
    columns = columns if columns is not None else Columns()
    policy = policy or LoadPolicy()
    options = {"table": table, "delimiter": delimiter, "header": header, "names": names}
    if isinstance(source, Mapping):
        return _load_many(source, columns, policy, observation_end, con, options)
    if isinstance(columns, Mapping):
        raise DataError("columns is a dict but source is not; fix: pass one Columns(...).")
    classified, con, originals, times = _classify_source(
        source, columns, policy, observation_end, con, options
    )
    result = _result(classified, con, originals, columns.extra, multi=False)
    return replace(result, order_times_source=times)


def _classify_source(source, columns, policy, observation_end, con, options):
    """Classified lines, connection, original column names and a builder of the accepted lines' times.

    The times come from the same classification without the duplicate search
    (copies share their line's time), so the date range is one light query;
    that expression is built only when asked for.
    """
    spec = resolve_source(source, **options)
    raw, con = raw_table(spec, con)
    originals = [c for c in raw.columns if c != SOURCE_ROW_COL]
    columns = columns.with_canonical_defaults(originals)
    columns.check_against(originals)
    rate = _rate(raw, columns, policy, con)
    classified = _classify(raw, originals, columns, policy, observation_end, con, rate)

    def times() -> ibis.Table:
        kept = classified
        if policy.drops_duplicates:
            kept = _classify(raw, originals, columns, replace(policy, duplicates="keep"), observation_end, con, rate)
        return kept.filter(kept[ACCEPTED]).select(**{schema.ORDER_TS: kept[_FIELD + schema.ORDER_TS]})

    return classified, con, originals, times


def _load_many(sources, columns, policy, observation_end, con, options) -> LoadResult:
    if not sources:
        raise DataError("load_orders got an empty dict of sources; fix: pass at least one.")
    parts, all_originals, extras, times = [], [], None, []
    for label, source in sources.items():
        if isinstance(columns, Mapping) and label not in columns:
            raise DataError(f"no Columns for source {label!r}; fix: add it to columns.")
        cols = columns[label] if isinstance(columns, Mapping) else columns
        classified, con, originals, source_times = _classify_source(
            source, cols, policy, observation_end, con, options
        )
        times.append(source_times)
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
    return replace(result, order_times_source=lambda: ibis.union(*(build() for build in times)))


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


def _cache_name() -> str:
    return f"__clv_loaded_{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- parsing


@ibis.udf.scalar.builtin(name="trim")
def _duckdb_trim(value: str) -> str:
    """DuckDB's one-argument TRIM (spaces)."""


def _trim(text: ibis.Value) -> ibis.Value:
    """Leading and trailing blanks removed.

    On DuckDB the one-argument TRIM: Ibis' ``strip()`` compiles to TRIM with a
    character set, several times slower over millions of ids. Tabs and line
    breaks around an id are therefore kept on DuckDB.
    """
    if _backend_name(text) == "duckdb":
        return _duckdb_trim(text)
    return text.strip()


@ibis.udf.scalar.builtin(name="ltrim")
def _duckdb_ltrim(value: str) -> str:
    """DuckDB's one-argument LTRIM (leading spaces)."""


def _customer_key(value: ibis.Value) -> ibis.Value:
    """Customer ids: integer columns stay integers (cheaper to group by), others become text."""
    if value.type().is_integer():
        return value.cast(dt.int64)
    return _text(value)


def _text(value: ibis.Value) -> ibis.Value:
    """Identifier text: trimmed, empty -> null; integral floats lose their '.0'."""
    vtype = value.type()
    if vtype.is_integer():
        return value.cast(dt.string)
    if vtype.is_floating():
        integral = (value.abs() < 2.0**53) & (value % 1 == 0)
        return ibis.cases(
            (integral, value.cast(dt.int64).cast(dt.string)), else_=value.cast(dt.string)
        )
    text = value if vtype.is_string() else value.cast(dt.string)
    return _trim(text).nullif("")


def _text_missing(value: ibis.Value) -> ibis.Value:
    """True where the identifier is null or blank (cheap for typed columns)."""
    vtype = value.type()
    if vtype.is_integer():
        return value.isnull()
    if vtype.is_floating():
        return _not_finite(value)
    return _text(value).isnull()


def _number(value: ibis.Value) -> ibis.Value:
    """Float64, null when missing or unparsable.

    On DuckDB text is cast as it is: its cast ignores surrounding blanks and
    gives null for a blank text, like trimming first, at a fraction of the cost.
    """
    if value.type().is_numeric() or value.type().is_boolean():
        return value.cast(dt.float64)
    if _backend_name(value) == "duckdb":
        return value.try_cast(dt.float64)
    return _text(value).try_cast(dt.float64)


@ibis.udf.scalar.builtin(name="isfinite")
def _duckdb_isfinite(value: float) -> bool:
    """DuckDB's ISFINITE."""


def _not_finite(value: ibis.Value) -> ibis.Value:
    """True where a float value is null, NaN or infinite.

    On DuckDB this uses ``NOT isfinite(x)``: DuckDB 2.0 prunes Parquet row groups
    by their min/max statistics, which ignore NaN, so a pushed-down
    ``isnan(x)`` filter misses NaN values (``isfinite`` is not pushed down).
    """
    if _backend_name(value) == "duckdb":
        # One reference to ``value``: DuckDB does not share subexpressions inside a
        # filter, and ``value`` is often a parse of text (trim + cast).
        return ~_duckdb_isfinite(value).fill_null(False)
    return value.isnull() | value.isnan() | value.isinf()


def _backend_name(value: ibis.Value) -> str:
    try:
        return value._find_backend(use_default=True).name
    except Exception:  # noqa: BLE001 - unbound expressions run on the default engine (DuckDB)
        return "duckdb"


def _bad_number(raw: ibis.Value, parsed: ibis.Value) -> ibis.Value:
    """A required number that is missing, unparsable or not finite."""
    if raw.type().is_integer() or raw.type().is_boolean():
        return raw.isnull()
    return _not_finite(parsed)


def _bad_optional(raw: ibis.Value, parsed: ibis.Value) -> ibis.Value:
    """An optional number that is given but not a finite number (null is fine)."""
    if raw.type().is_integer() or raw.type().is_boolean():
        return ibis.literal(False)
    if raw.type().is_floating():
        return raw.notnull() & _not_finite(raw)
    return _not_finite(parsed) & _text(raw).notnull()  # the cheap test first


def _timestamp(value: ibis.Value, policy: LoadPolicy) -> ibis.Value:
    """Naive timestamp in ``policy.timezone``, null when missing or unparsable."""
    vtype = value.type()
    if vtype.is_timestamp():
        if vtype.timezone is not None:
            return _local_time(policy.timezone, value)
        return value.cast(dt.Timestamp())
    if vtype.is_date():
        return value.cast(dt.Timestamp())
    if not vtype.is_string() and not vtype.is_integer():
        raise DataError(
            f"the time column has type {vtype}; fix: map a date, timestamp or text column."
        )
    text = _text(value)
    if policy.date_format is not None:
        return _try_strptime(text, policy.date_format)
    if vtype.is_integer():
        raise DataError(
            "the time column holds integers; fix: give its format, e.g. "
            "LoadPolicy(date_format='%Y%m%d')."
        )
    aware = text.re_search(_TZ_SUFFIX)
    return ibis.cases(
        (aware, _local_time(policy.timezone, text.try_cast(dt.Timestamp(timezone="UTC")))),
        else_=text.try_cast(dt.Timestamp()),
    )


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
_NO_RATE = "__clv_no_rate"
_CANCELLED = "__clv_cancelled"
_DUPLICATE = "__clv_duplicate"
_HASH = "__clv_hash"
_COUNT = "__clv_count"


def _classify(raw, originals, cols: Columns, policy: LoadPolicy, observation_end, con, rate=None):
    """Add parsed canonical fields and the status of every line to ``raw``.

    ``rate``: the result of :func:`_rate` when already known (it queries the data).
    """
    quantity = _number(raw[cols.quantity]) if cols.quantity else ibis.null(dt.float64)
    bad_amount = ibis.literal(False)
    if cols.amount_is_derived:
        unit_price = _number(raw[cols.unit_price])
        amount = quantity * unit_price
        bad_amount = _bad_number(raw[cols.quantity], quantity) | _bad_number(
            raw[cols.unit_price], unit_price
        )
    else:
        amount = _number(raw[cols.amount_column])
        bad_amount = _bad_number(raw[cols.amount_column], amount)
        if cols.quantity:
            bad_amount |= _bad_optional(raw[cols.quantity], quantity)
    cost, bad_cost = _cost(raw, cols, amount)
    rate, no_rate = rate if rate is not None else _rate(raw, cols, policy, con)
    if rate is not None:
        amount, cost = amount * rate, cost * rate
    fields = {
        schema.CUSTOMER_ID: _customer_key(raw[cols.customer_id]),
        schema.ORDER_TS: _timestamp(raw[cols.time_column], policy),
        schema.AMOUNT: amount,
        schema.ORDER_ID: _optional_text(raw, cols.order_id),
        schema.PRODUCT_ID: _optional_text(raw, cols.product_id),
        schema.QUANTITY: quantity,
        schema.CHANNEL: _optional_text(raw, cols.channel),
        schema.COST: cost,
    }
    flags = {
        _MISSING_CUSTOMER: _text_missing(raw[cols.customer_id]),
        _BAD_AMOUNT: bad_amount | bad_cost,
        _NO_RATE: no_rate,
        _CANCELLED: _cancelled(raw, cols, policy),
    }
    if policy.drops_duplicates:
        raw = _mark_duplicates(raw, originals, _duplicate_key_columns(cols, originals))
    parsed = raw.mutate(**{_FIELD + k: v for k, v in fields.items()}, **flags)
    rejected, refund = _reject_and_refund(parsed, policy, observation_end)
    return parsed.mutate(
        **{STATUS: _status(parsed, originals, policy, observation_end), ACCEPTED: ~rejected, REFUND_FLAG: refund}
    )


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
    if _backend_name(raw[SOURCE_ROW_COL]) == "duckdb":
        copies = _duplicate_rows_by_hash(raw, originals, key_columns)
        return raw.mutate(**{_DUPLICATE: raw[SOURCE_ROW_COL].isin(copies)})
    return raw.mutate(**{_DUPLICATE: _copy_number(raw, originals) > 0})


def _copy_number(table: ibis.Table, originals: list[str]) -> ibis.Value:
    """0 for the first line of each group of equal lines, 1, 2, ... for its copies."""
    return ibis.row_number().over(
        group_by=[table[c] for c in originals], order_by=table[SOURCE_ROW_COL]
    )


def _duplicate_rows_by_hash(raw: ibis.Table, originals: list[str], key_columns: list[str]) -> ibis.Column:
    """source_row of every copy but the first, exact, sorting only candidate lines.

    Equal lines have equal ``hash(key1, ..., keyK)`` over the key columns, so
    only lines whose key hash occurs more than once can be copies (few, on real
    data); the exact window, over every original column, then runs over those
    candidates alone. A hash collision or lines equal on the keys only add
    candidates, never a false duplicate: the window compares all the values.
    """
    keys = key_columns or originals
    row_hash = _duckdb_hash([raw[c].type() for c in keys])(*(raw[c] for c in keys))
    repeated = (
        raw.group_by(**{_HASH: row_hash}).aggregate(**{_COUNT: ibis._.count()})
        .filter(ibis._[_COUNT] > 1)[_HASH]
    )
    # The hash is computed twice rather than once in a shared subquery: a shared
    # one becomes a CTE that DuckDB materialises with every column of every line.
    candidates = raw.filter(row_hash.isin(repeated))
    numbered = candidates.mutate(**{_COUNT: _copy_number(candidates, originals)})
    return numbered.filter(numbered[_COUNT] > 0)[SOURCE_ROW_COL]


def _duckdb_hash(types: list[dt.DataType]):
    """DuckDB's variadic ``hash(v1, ..., vN)`` as an Ibis builtin UDF for these types."""

    def row_hash(*values):
        """DuckDB ``hash``: equal values (nulls, NaNs, 0.0 and -0.0 included) hash equal."""

    row_hash.__signature__ = inspect.Signature(
        [inspect.Parameter(f"v{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(types))]
    )
    return ibis.udf.scalar.builtin(row_hash, name="hash", signature=(tuple(types), dt.uint64))


def _optional_text(raw: ibis.Table, column: str | None) -> ibis.Value:
    return _text(raw[column]) if column else ibis.null(dt.string)


def _cost(raw: ibis.Table, cols: Columns, amount: ibis.Value):
    """(cost of the line, True where a given cost/margin is not a number)."""
    if cols.cost:
        cost = _number(raw[cols.cost])
        return cost, _bad_optional(raw[cols.cost], cost)
    if isinstance(cols.margin_rate, str):
        margin = _number(raw[cols.margin_rate])
        return amount * (1 - margin), _bad_optional(raw[cols.margin_rate], margin)
    if cols.margin_rate is not None:
        return amount * (1 - float(cols.margin_rate)), ibis.literal(False)
    return ibis.null(dt.float64), ibis.literal(False)


def _rate(raw: ibis.Table, cols: Columns, policy: LoadPolicy, con):
    """(rate to the reporting currency or None, True where a line has no rate)."""
    if not cols.currency:
        return None, ibis.literal(False)
    currency = _text(raw[cols.currency]).upper()
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
    stripped = _duckdb_ltrim(order_id) if _backend_name(order_id) == "duckdb" else order_id.lstrip()
    return stripped.startswith(policy.cancel_prefix).fill_null(False)


def _reject_and_refund(t, policy, observation_end) -> tuple[ibis.Value, ibis.Value]:
    """Booleans: the line is rejected (any reject rule applies); it is a refund.

    The same rules as :func:`_status`, without building the reason text, so that
    filtering the orders and flagging refunds stay cheap on large inputs.
    """
    rules = _reject_rules(t, policy, observation_end)
    by_time = {P.UNPARSABLE_TIMESTAMP, P.AFTER_OBSERVATION_END}
    rejected = _unusable_time(t, policy, observation_end)
    for condition, reason in rules[:-1]:
        if reason not in by_time:
            rejected = rejected | condition.fill_null(False)
    return rejected, rules[-1][0].fill_null(False)


def _unusable_time(t, policy, observation_end) -> ibis.Value:
    """Timestamp unparsable or after the observation end, with one reference to it.

    Same lines as those two rules of :func:`_reject_rules`; one reference matters
    because DuckDB re-evaluates each copy of a text-date parse inside a filter.
    """
    ts = t[_FIELD + schema.ORDER_TS]
    if observation_end is None:
        return ts.isnull()
    bound, inclusive = _end_bound(observation_end, policy)
    return ~(ts <= bound if inclusive else ts < bound).fill_null(False)


def _status(t, originals, policy, observation_end) -> ibis.Value:
    """First applicable reason in REASON_PRECEDENCE, else purchase / netted_refund."""
    return ibis.cases(
        *((cond.fill_null(False), reason) for cond, reason in _reject_rules(t, policy, observation_end)),
        else_=ibis.literal(P.PURCHASE),
    )


def _reject_rules(t, policy, observation_end) -> list[tuple[ibis.Value, str]]:
    """(condition, status) in precedence order; the last one is the netted refund."""
    amount, ts = t[_FIELD + schema.AMOUNT], t[_FIELD + schema.ORDER_TS]
    is_refund = (amount < 0) | (t[_FIELD + schema.QUANTITY] < 0).fill_null(False) | t[_CANCELLED]
    rules = [
        (t[_MISSING_CUSTOMER], P.MISSING_CUSTOMER_ID),
        (ts.isnull(), P.UNPARSABLE_TIMESTAMP),
        (t[_BAD_AMOUNT], P.UNPARSABLE_AMOUNT),
        (t[_NO_RATE], P.NO_EXCHANGE_RATE),
    ]
    if observation_end is not None:
        bound, inclusive = _end_bound(observation_end, policy)
        rules.append((ts > bound if inclusive else ts >= bound, P.AFTER_OBSERVATION_END))
    if policy.drops_duplicates:
        rules.append((t[_DUPLICATE], P.DUPLICATE))
    if policy.rejects_refunds:
        rules.append((is_refund, P.REFUND))
    if policy.rejects_zero_amounts:
        rules.append(((amount == 0) & ~is_refund, P.ZERO_AMOUNT))
    rules.append((is_refund, P.NETTED_REFUND))
    return rules
