"""What loading does with each kind of bad or special input line.

Every input line ends up in exactly one place: an accepted purchase line, an
accepted (netted) refund line, or a reject with one reason. When several reasons
apply, the first in :data:`REASON_PRECEDENCE` wins.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from clv.errors import DataError

BLANK_LINE = "blank_line"
MALFORMED_LINE = "malformed_line"
MISSING_CUSTOMER_ID = "missing_customer_id"
UNPARSABLE_TIMESTAMP = "unparsable_timestamp"
DATE_IN_FUTURE = "date_in_future"
DATE_BEFORE_MIN = "date_before_min"
DATE_OUTLIER = "date_outlier"
UNPARSABLE_AMOUNT = "unparsable_amount"
AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
NO_EXCHANGE_RATE = "no_exchange_rate"
AFTER_OBSERVATION_END = "after_observation_end"
DUPLICATE = "duplicate"
REFUND = "refund"
ZERO_AMOUNT = "zero_amount"

REASON_PRECEDENCE = (
    BLANK_LINE,
    MALFORMED_LINE,
    MISSING_CUSTOMER_ID,
    UNPARSABLE_TIMESTAMP,
    DATE_IN_FUTURE,
    DATE_BEFORE_MIN,
    DATE_OUTLIER,
    UNPARSABLE_AMOUNT,
    AMOUNT_OUT_OF_RANGE,
    NO_EXCHANGE_RATE,
    AFTER_OBSERVATION_END,
    DUPLICATE,
    REFUND,
    ZERO_AMOUNT,
)
"""Reject reasons, highest precedence first (a line gets the first that applies)."""

PURCHASE = "purchase"
NETTED_REFUND = "netted_refund"
"""Status of accepted lines (the other statuses are the reject reasons)."""

EPOCH_FORMATS = ("epoch_s", "epoch_ms")
"""``date_format`` values for integer timestamps: seconds or milliseconds since 1970-01-01 UTC."""

_CHOICES = {
    "refunds": ("net", "reject"),
    "duplicates": ("auto", "drop", "keep"),
    "zero_amounts": ("keep", "reject"),
    "unknown_currency": ("reject", "error"),
    "decimal": (".", ","),
    "thousands": (None, ",", ".", " ", "'"),
    "ids": ("normalize", "as_written"),
    "future_dates": ("reject", "keep"),
    "outlier_dates": ("reject", "keep"),
}

# Directives DuckDB's strptime understands (an optional '-' drops the zero padding).
_STRPTIME_DIRECTIVES = set("aAwdbBmyYHIpMSfgnzZjUWcxX%")
_DIRECTIVE = re.compile(r"%(-?)(.?)")


@dataclass(frozen=True)
class LoadPolicy:
    """How :func:`clv.data.load_orders` treats special and bad lines.

    Parameters
    ----------
    refunds : {"net", "reject"}, default "net"
        Lines with a negative amount or quantity, or whose order id starts with
        ``cancel_prefix``. "net": kept in the orders as (negative) lines that
        reduce revenue; they are counted as netted refunds, never as purchases.
        "reject": sent to the rejects with reason ``refund``.
    cancel_prefix : str or None, default "C"
        Order ids starting with this text are cancellations (UCI Online Retail's
        "C536379"). None: only the sign of amount/quantity marks a refund.
    duplicates : {"auto", "drop", "keep"}, default "auto"
        Exact duplicate lines (every original column equal, nulls equal).
        "drop": the first copy (lowest ``source_row``) is kept, the others are
        rejected with reason ``duplicate``. "keep": every copy is kept.
        "auto": copies are dropped only where they are certainly copies, i.e.
        the line has an order id or a time of day (not midnight); identical
        lines of a date-only log without order ids (CDNOW) may be genuine
        repeat purchases, so they are kept and counted in
        ``LoadReport.repeated_lines_kept``.
    zero_amounts : {"keep", "reject"}, default "keep"
        Lines whose amount is 0. "keep": accepted purchase lines (a zero-value
        order is still a visit, as in the CDNOW literature). "reject": reason
        ``zero_amount``.
    date_format : str or None, default None
        strftime-style format of text dates, e.g. "%Y%m%d" for CDNOW,
        "%d/%m/%Y %H:%M" (European) or "%m/%d/%Y %H:%M" (US); "epoch_s" or
        "epoch_ms" for integer timestamps (seconds or milliseconds since
        1970-01-01 UTC). None: ISO 8601 ("2011-12-09", "2011-12-09 12:50:00",
        with or without a UTC offset such as "+02:00" or "Z"). When most lines
        fail to parse, the load error names the likely format.
    timezone : str, default "UTC"
        IANA zone of the output timestamps. Time-zone aware values (aware
        columns, text with an offset, epochs) are converted to it; naive values
        are taken to be in it already. Output timestamps are naive.
    decimal : {".", ","}, default "."
        Decimal mark of numbers written as text: "." or "," ("12,50" and
        "1.234,56" with ``thousands="."``).
    thousands : str or None, default None
        Thousands separator of numbers written as text: None, ",", ".", " " or
        "'". None: "1,234.50" is not a number (the line is rejected and the load
        report's hint names this option).
    currency_symbol : str or None, default None
        A currency symbol or code written next to amounts ("£", "$", "€",
        "EUR"), stripped before parsing. Only this one symbol is stripped: an
        amount with another symbol is rejected as ``unparsable_amount``, so
        amounts in two currencies are never added up. None: amounts with a
        symbol are rejected (and the hint names this option).
    ids : {"normalize", "as_written"}, default "normalize"
        Customer, order and product ids. "normalize": blanks (spaces, tabs,
        line breaks) around an id are removed and an integral number written
        with a zero fraction ("17850.0") is the same id as "17850".
        "as_written": ids are kept as written (only blanks are removed).
    future_dates : {"reject", "keep"}, default "reject"
        Lines dated after the moment of loading (sentinels such as 9999-12-31,
        typing errors): "reject" -> reason ``date_in_future``; "keep".
    outlier_dates : {"reject", "keep"}, default "reject"
        Lines dated far outside the bulk of the data (a mistyped year): further
        from the central 98% of the dates than that span, and at least 366 days
        from it. "reject" -> reason ``date_outlier`` (so the default
        observation end never follows a single outlier); "keep". Costs one
        query over the time column at load.
    min_date : str or None, default "1990-01-01"
        Lines dated before this day are rejected with reason
        ``date_before_min`` (placeholders such as 1900-01-01 or 1970-01-01).
        None: no lower bound.
    max_amount : float, default 1e12
        Lines whose amount (or cost) is larger than this in absolute value are
        rejected with reason ``amount_out_of_range``, so that per-customer sums
        can never overflow; amounts that are not finite (quantity x unit price
        beyond float range) always are.
    max_rejected_share : float, default 0.9
        A load whose rejected lines exceed this share of the input (or that
        keeps no line at all) is an error naming the top reasons and the likely
        fix, not a result. 1.0 turns the check off.
    exchange_rates : mapping of str to float, or None, default None
        ``{"EUR": 1.0, "USD": 0.92, ...}``: value of one unit of each currency in
        the reporting currency; amounts and costs are multiplied by the rate of
        their line's currency. Needed when the mapped currency column holds more
        than one currency (otherwise loading raises DataError listing them).
    unknown_currency : {"reject", "error"}, default "reject"
        With ``exchange_rates``, a line whose currency has no rate (or is empty):
        "reject" -> reason ``no_exchange_rate``; "error" -> DataError listing
        the currencies without a rate.
    """

    refunds: str = "net"
    cancel_prefix: str | None = "C"
    duplicates: str = "auto"
    zero_amounts: str = "keep"
    date_format: str | None = None
    timezone: str = "UTC"
    decimal: str = "."
    thousands: str | None = None
    currency_symbol: str | None = None
    ids: str = "normalize"
    future_dates: str = "reject"
    outlier_dates: str = "reject"
    min_date: str | None = "1990-01-01"
    max_amount: float = 1e12
    max_rejected_share: float = 0.9
    exchange_rates: Mapping[str, float] | None = field(default=None, hash=False)
    unknown_currency: str = "reject"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise DataError(
                    f"LoadPolicy({name}={value!r}) is not one of {allowed}; "
                    f"fix: e.g. LoadPolicy({name}={allowed[0]!r})."
                )
        if self.cancel_prefix == "":
            raise DataError(
                "LoadPolicy(cancel_prefix='') would mark every order as cancelled; "
                "fix: pass None to turn the prefix rule off."
            )
        if self.thousands is not None and self.thousands == self.decimal:
            raise DataError(
                f"LoadPolicy(thousands={self.thousands!r}) is also the decimal mark; "
                "fix: e.g. LoadPolicy(decimal=',', thousands='.')."
            )
        _check_currency_symbol(self.currency_symbol)
        _check_date_format(self.date_format)
        _check_timezone(self.timezone)
        object.__setattr__(self, "min_date", _checked_min_date(self.min_date))
        _check_positive("max_amount", self.max_amount)
        if not (isinstance(self.max_rejected_share, (int, float)) and 0 <= self.max_rejected_share <= 1):
            raise DataError(
                f"LoadPolicy(max_rejected_share={self.max_rejected_share!r}) must be a share "
                "between 0 and 1; fix: e.g. LoadPolicy(max_rejected_share=0.9)."
            )
        if self.exchange_rates is not None:
            object.__setattr__(self, "exchange_rates", _checked_rates(self.exchange_rates))

    @property
    def rejects_refunds(self) -> bool:
        return self.refunds == "reject"

    @property
    def searches_duplicates(self) -> bool:
        """Whether loading looks for exact copies at all ("drop" or "auto")."""
        return self.duplicates != "keep"

    @property
    def drops_duplicates(self) -> bool:
        """Whether every exact copy is dropped, even where it may be a genuine repeat."""
        return self.duplicates == "drop"

    @property
    def rejects_zero_amounts(self) -> bool:
        return self.zero_amounts == "reject"

    @property
    def rejects_future_dates(self) -> bool:
        return self.future_dates == "reject"

    @property
    def rejects_outlier_dates(self) -> bool:
        return self.outlier_dates == "reject"

    @property
    def normalizes_ids(self) -> bool:
        return self.ids == "normalize"

    @property
    def parses_plain_numbers_only(self) -> bool:
        """Text numbers need no cleaning: '.' decimals, no separators, no symbol."""
        return self.decimal == "." and self.thousands is None and self.currency_symbol is None


def _check_currency_symbol(symbol: str | None) -> None:
    if symbol is None:
        return
    if not isinstance(symbol, str) or not symbol.strip() or any(ch.isdigit() for ch in symbol):
        raise DataError(
            f"LoadPolicy(currency_symbol={symbol!r}) must be a symbol or code such as "
            "'£', '$', '€' or 'EUR'; fix: pass the one written next to your amounts."
        )


def _check_date_format(date_format: str | None) -> None:
    """Refuse formats DuckDB's strptime cannot read, before any data is touched."""
    if date_format is None or date_format in EPOCH_FORMATS:
        return
    if not isinstance(date_format, str) or "%" not in date_format:
        raise DataError(
            f"LoadPolicy(date_format={date_format!r}) has no % directive; fix: e.g. "
            "'%Y-%m-%d', '%d/%m/%Y %H:%M', or 'epoch_s' / 'epoch_ms' for integer timestamps."
        )
    for _, directive in _DIRECTIVE.findall(date_format):
        if directive == "s":
            raise DataError(
                f"LoadPolicy(date_format={date_format!r}): '%s' (seconds since 1970) is not a "
                "strptime directive here; fix: LoadPolicy(date_format='epoch_s') "
                "(or 'epoch_ms' for milliseconds)."
            )
        if directive not in _STRPTIME_DIRECTIVES:
            raise DataError(
                f"LoadPolicy(date_format={date_format!r}) uses '%{directive}', which is not a "
                "supported directive (%Y %m %d %H %M %S %f %b %B %y %j %p %z ...); "
                "fix: e.g. '%Y-%m-%d %H:%M:%S'."
            )


def _check_timezone(zone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise DataError(
            f"LoadPolicy(timezone={zone!r}) is not a known IANA time zone; fix: e.g. "
            "'UTC', 'Europe/London' or 'America/New_York'."
        ) from exc


def _checked_min_date(min_date) -> str | None:
    if min_date is None:
        return None
    try:
        return _dt.date.fromisoformat(str(min_date)).isoformat()
    except ValueError as exc:
        raise DataError(
            f"LoadPolicy(min_date={min_date!r}) is not a date; fix: e.g. "
            "LoadPolicy(min_date='1990-01-01'), or None for no lower bound."
        ) from exc


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise DataError(f"LoadPolicy({name}={value!r}) must be a positive number; fix: e.g. LoadPolicy({name}=1e12).")


def _checked_rates(rates: Mapping[str, float]) -> Mapping[str, float]:
    checked = {}
    for currency, rate in rates.items():
        if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise DataError(
                f"LoadPolicy(exchange_rates=...) has rate {rate!r} for {currency!r}; "
                "fix: give a positive number (value of one unit in the reporting currency)."
            )
        checked[str(currency).strip().upper()] = float(rate)
    if not checked:
        raise DataError("LoadPolicy(exchange_rates={}) is empty; fix: pass None or the rates.")
    return MappingProxyType(checked)
