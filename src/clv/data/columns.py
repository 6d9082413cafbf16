"""Which of the user's columns hold which canonical field (see :mod:`clv.data.schema`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from clv.data import schema
from clv.errors import DataError, missing_column_message


@dataclass(frozen=True)
class Columns:
    """Map the user's column names onto the canonical order-line fields.

    Required: ``customer_id``, the time of the line (``timestamp`` or ``date``, one
    of them) and the revenue (``amount``, or ``quantity`` and ``unit_price``, in
    which case ``amount = quantity * unit_price``). Defaults are the canonical
    names, so a table already in canonical form needs ``Columns()`` only.

    Parameters
    ----------
    customer_id : str, default "customer_id"
        The column holding the customer id.
    timestamp : str or None
        The column holding the date and time of the line (or use ``date``).
    date : str or None
        The column holding the date of the line, when there is no time of day.
    amount : str or None
        The column holding the revenue of the line.
    order_id : str or None
        The column holding the order (invoice) id.
    quantity : str or None
        The column holding the quantity; with ``unit_price``, ``amount = quantity * unit_price``.
    unit_price : str or None
        The column holding the price of one unit.
    product_id : str or None
        The column holding the product id (cross-sell).
    channel : str or None
        The column holding the acquisition or sales channel.
    cost : str or None
        The column holding the absolute cost of the line (or use ``margin_rate``).
    margin_rate : str, float or None
        A column name, or one number for every line: the fraction of revenue
        that is margin, so ``cost = amount * (1 - margin_rate)``.
    currency : str or None
        The column holding the currency code of the line.
    extra : sequence of str, default ()
        User columns carried through to the orders unchanged (e.g.
        ``("Country",)`` to segment by later).
    has_amounts : bool, default True
        False for a purchase log without values (customer and date only, as many
        retail and app panels are). It becomes False by itself when neither
        ``amount`` nor ``unit_price`` is mapped and the input has no ``amount``
        column: every line's amount is then null and value columns downstream
        are marked as not available.

    Examples
    --------
    >>> Columns(customer_id="CustomerID", timestamp="InvoiceDate",
    ...         quantity="Quantity", unit_price="UnitPrice", order_id="InvoiceNo",
    ...         extra=("Country",))  # doctest: +ELLIPSIS
    Columns(customer_id='CustomerID', ...)
    """

    customer_id: str = schema.CUSTOMER_ID
    timestamp: str | None = None
    date: str | None = None
    amount: str | None = None
    order_id: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    product_id: str | None = None
    channel: str | None = None
    cost: str | None = None
    margin_rate: str | float | None = None
    currency: str | None = None
    extra: Sequence[str] = field(default_factory=tuple)
    has_amounts: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", tuple(self.extra))
        if not self.has_amounts and (self.amount is not None or self.unit_price is not None):
            raise DataError(
                f"Columns(has_amounts=False) but amount={self.amount!r}, unit_price={self.unit_price!r} "
                "are mapped; fix: drop has_amounts=False, or the amount mapping."
            )
        if self.timestamp is not None and self.date is not None:
            raise DataError(
                f"Columns got both timestamp={self.timestamp!r} and date={self.date!r}; "
                "fix: pass only one of them."
            )
        if self.cost is not None and self.margin_rate is not None:
            raise DataError(
                f"Columns got both cost={self.cost!r} and margin_rate={self.margin_rate!r}; "
                "fix: pass the absolute cost or the margin rate, not both."
            )
        if self.amount is None and self.unit_price is not None and self.quantity is None:
            raise DataError(
                f"Columns got unit_price={self.unit_price!r} without quantity or amount; "
                "fix: pass quantity= (amount = quantity x unit_price) or amount=."
            )
        if isinstance(self.margin_rate, bool) or (
            isinstance(self.margin_rate, (int, float)) and not 0 <= self.margin_rate <= 1
        ):
            raise DataError(
                f"Columns(margin_rate={self.margin_rate!r}) must be a column name or a "
                "fraction between 0 and 1 (e.g. 0.3 for a 30% margin)."
            )
        reserved = (*schema.CANONICAL, "is_refund", "source")
        clash = [c for c in self.extra if c in reserved or c.startswith("__clv")]
        if clash:
            raise DataError(
                f"Columns(extra=...) names {clash}, which are canonical output names; "
                "fix: map them through their own field (e.g. Columns(channel=...)) instead."
            )

    @property
    def time_column(self) -> str:
        """The user's column holding the time of the line."""
        return self.timestamp or self.date or schema.ORDER_TS

    @property
    def amount_is_derived(self) -> bool:
        """True when amount is computed as quantity x unit_price."""
        return self.amount is None and self.unit_price is not None

    @property
    def amount_column(self) -> str | None:
        """The user's amount column (None when amount = quantity x unit_price or there is none)."""
        if self.amount_is_derived or not self.has_amounts:
            return None
        return self.amount or schema.AMOUNT

    def used(self) -> dict[str, str]:
        """Every user column this mapping reads, keyed by what it stands for."""
        named = {
            "customer id": self.customer_id,
            "timestamp" if self.date is None else "date": self.time_column,
            "amount": self.amount_column,
            "order id": self.order_id,
            "quantity": self.quantity,
            "unit price": self.unit_price,
            "product id": self.product_id,
            "channel": self.channel,
            "cost": self.cost,
            "margin rate": self.margin_rate if isinstance(self.margin_rate, str) else None,
            "currency": self.currency,
        }
        used = {kind: col for kind, col in named.items() if col is not None}
        used.update({f"extra {col}": col for col in self.extra})
        return used

    def with_canonical_defaults(self, found: Sequence[str]) -> "Columns":
        """Unmapped optional fields take the source column of their canonical name, if any.

        A table already in canonical form (``order_id``, ``channel``, ``cost``...)
        then needs ``Columns()`` only. A column already mapped to another field
        is never taken twice; ``cost`` is not defaulted when ``margin_rate`` is given.
        """
        taken = set(self.used().values())
        updates = {}
        for name in (schema.ORDER_ID, schema.QUANTITY, schema.PRODUCT_ID, schema.CHANNEL, schema.COST, "currency"):
            if name == schema.COST and self.margin_rate is not None:
                continue
            if getattr(self, name) is None and name in found and name not in taken:
                updates[name] = name
        if self.amount is None and self.unit_price is None and schema.AMOUNT not in found:
            updates["has_amounts"] = False
        return dataclasses.replace(self, **updates) if updates else self

    def check_against(self, found: Sequence[str]) -> None:
        """Raise DataError naming the first mapped column not in ``found``."""
        found = list(found)
        for kind, col in self.used().items():
            if col not in found:
                label = "extra" if kind.startswith("extra ") else kind
                raise DataError(missing_column_message(label, col, found))
