"""What loading does with each kind of bad or special input line.

Every input line ends up in exactly one place: an accepted purchase line, an
accepted (netted) refund line, or a reject with one reason. When several reasons
apply, the first in :data:`REASON_PRECEDENCE` wins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from clv.errors import DataError

MISSING_CUSTOMER_ID = "missing_customer_id"
UNPARSABLE_TIMESTAMP = "unparsable_timestamp"
UNPARSABLE_AMOUNT = "unparsable_amount"
NO_EXCHANGE_RATE = "no_exchange_rate"
AFTER_OBSERVATION_END = "after_observation_end"
DUPLICATE = "duplicate"
REFUND = "refund"
ZERO_AMOUNT = "zero_amount"

REASON_PRECEDENCE = (
    MISSING_CUSTOMER_ID,
    UNPARSABLE_TIMESTAMP,
    UNPARSABLE_AMOUNT,
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

_CHOICES = {
    "refunds": ("net", "reject"),
    "duplicates": ("drop", "keep"),
    "zero_amounts": ("keep", "reject"),
    "unknown_currency": ("reject", "error"),
}


@dataclass(frozen=True)
class LoadPolicy:
    """How :func:`clv.data.load_orders` treats special and bad lines.

    Parameters (defaults in brackets):

    refunds ["net"]
        Lines with a negative amount or quantity, or whose order id starts with
        ``cancel_prefix``. "net": kept in the orders as (negative) lines that
        reduce revenue; they are counted as netted refunds, never as purchases.
        "reject": sent to the rejects with reason ``refund``.
    cancel_prefix ["C"]
        Order ids starting with this text are cancellations (UCI Online Retail's
        "C536379"). None: only the sign of amount/quantity marks a refund.
    duplicates ["drop"]
        Exact duplicate lines (every original column equal, nulls equal). "drop":
        the first copy (lowest ``source_row``) is kept, the others are rejected
        with reason ``duplicate``. "keep": every copy is kept.
    zero_amounts ["keep"]
        Lines whose amount is 0. "keep": accepted purchase lines (a zero-value
        order is still a visit, as in the CDNOW literature). "reject": reason
        ``zero_amount``.
    date_format [None]
        strftime-style format of text dates, e.g. "%Y%m%d" for CDNOW or
        "%d/%m/%Y %H:%M". None: ISO 8601 ("2011-12-09", "2011-12-09 12:50:00",
        with or without a UTC offset such as "+02:00" or "Z").
    timezone ["UTC"]
        IANA zone of the output timestamps. Time-zone aware values (aware
        columns, text with an offset) are converted to it; naive values are
        taken to be in it already. Output timestamps are naive.
    exchange_rates [None]
        ``{"EUR": 1.0, "USD": 0.92, ...}``: value of one unit of each currency in
        the reporting currency; amounts and costs are multiplied by the rate of
        their line's currency. Needed when the mapped currency column holds more
        than one currency (otherwise loading raises DataError listing them).
    unknown_currency ["reject"]
        With ``exchange_rates``, a line whose currency has no rate (or is empty):
        "reject" -> reason ``no_exchange_rate``; "error" -> DataError listing
        the currencies without a rate.
    """

    refunds: str = "net"
    cancel_prefix: str | None = "C"
    duplicates: str = "drop"
    zero_amounts: str = "keep"
    date_format: str | None = None
    timezone: str = "UTC"
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
        if self.exchange_rates is not None:
            object.__setattr__(self, "exchange_rates", _checked_rates(self.exchange_rates))

    @property
    def rejects_refunds(self) -> bool:
        return self.refunds == "reject"

    @property
    def drops_duplicates(self) -> bool:
        return self.duplicates == "drop"

    @property
    def rejects_zero_amounts(self) -> bool:
        return self.zero_amounts == "reject"


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
