"""Refunds netted against the purchases they cancel: the spend the models see is net spend.

A refund or cancellation line (``is_refund``, see :func:`clv.data.schema.is_purchase`)
is never a purchase. Its value, ``refund = -amount``, is **netted** against one
purchase period of the same customer (a calendar day, or with ``merge="unit"``
one period of the time unit):

* the period the refund falls in, when the customer bought in it (a same-day
  cancellation: Online Retail's 'C' invoices, most web-shop cancellations);
* otherwise the customer's most recent purchase period before it (a return
  of the last purchase);
* a refund before the customer's first purchase in the window is
  **unmatched**: it cancels a purchase made before the window (before the
  calibration end of a split, say). It still counts in ``refunded`` and
  ``revenue`` but reduces no purchase period.

A refund never reaches forward in time, so a calibration summary never uses a
refund made after its end; nor does it reach further back than the latest
purchase (an excess over that period's value is not carried to earlier
periods). The rule needs no order or product link between a refund and its
purchase, which many files (Online Retail among them) do not have.

A purchase period's **net value** (``spend``) is its gross value (its
purchase lines) minus the refunds netted against it. A period whose refunds
cancel it (net value <= :data:`CANCELLED_TOLERANCE` x gross value; exact
cancellations leave rounding residue) is **fully cancelled**: it is no
repeat purchase, adding nothing to ``frequency``, ``recency`` or
``monetary_value`` (the mean net value of the counted repeat purchase
periods). The customer's *first* purchase period still marks when the
customer was acquired (``first_purchase`` and ``T`` count from it) even when it
was cancelled, so a customer who bought once and cancelled is a one-time buyer
(frequency 0) and every buyer keeps their row. A period with no refund netted
against it keeps its gross value exactly, so data without refunds (CDNOW)
summarise exactly as before.

Per customer the summary carries ``gross_revenue`` (all purchase lines),
``refunded`` (all refund lines, matched or not), ``refund_share =
refunded / gross_revenue`` and ``largely_refunded`` (``refund_share >=``
:data:`LARGELY_REFUNDED_SHARE`); ``revenue = gross_revenue - refunded``.
Computed inside the engine: one running maximum and one partitioned sum over
the customer-period table, no join and no per-customer loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clv.data import schema

if TYPE_CHECKING:
    import ibis.expr.types as ir

LARGELY_REFUNDED_SHARE = 0.5
"""A customer is *largely refunded* when refunds are at least this share of their gross spend."""
CANCELLED_TOLERANCE = 1e-9
"""A purchase period is fully cancelled when its net value is at most this share of its gross value."""
REFUND_COLUMNS = ("refunded", "refund_share", "largely_refunded")
"""The per-customer refund columns of a summary (value columns: absent from a purchase log's)."""


def with_netted_refunds(periods: ir.Table) -> ir.Table:
    """The customer-period table with ``netted``, ``spend`` and ``bought`` (the rule of this module).

    Parameters
    ----------
    periods : ibis.expr.types.Table
        One row per customer and period (:func:`clv.summary.customers.period_table`):
        ``customer_id``, ``_period`` (the period index), ``gross`` (value of its purchase
        lines, null when none), ``purchase_lines`` and ``refunds`` (value of its refund
        lines, positive, null when none).

    Returns
    -------
    ibis.expr.types.Table
        ``periods`` with ``netted`` (refunds netted against the period: those of the
        period and of the following refund-only periods up to the customer's next
        purchase; 0 on a refund-only period), ``spend = gross - netted`` (its net value;
        exactly ``gross`` when nothing is netted) and ``bought`` (a purchase period not
        fully cancelled: not ``netted > 0`` with ``spend <= CANCELLED_TOLERANCE * gross``).
    """
    import ibis

    cid = schema.CUSTOMER_ID
    # Only customers with a refund need the windows; the others (most, in most files) keep their
    # gross values. Two joins on the few refunding customers cost less than sorting every period.
    refunding = periods.filter(periods.refunds > 0).select(cid).distinct()
    untouched = periods.anti_join(refunding, cid)
    untouched = untouched.mutate(netted=ibis.literal(0.0, "float64"), spend=untouched.gross,
                                 bought=(untouched.purchase_lines > 0).fill_null(False))
    netted = _netted_periods(periods.semi_join(refunding, cid))
    return netted.union(untouched.select(*netted.columns).cast(netted.schema()))


def _netted_periods(periods: ir.Table) -> ir.Table:
    """:func:`with_netted_refunds` on the periods of customers with at least one refund."""
    import ibis

    cid = schema.CUSTOMER_ID
    purchase_period = ibis.ifelse(periods.purchase_lines > 0, periods._period, ibis.null("int64"))
    to_date = ibis.window(group_by=periods[cid], order_by=periods._period, preceding=None, following=0)
    targeted = periods.mutate(_target=purchase_period.max().over(to_date))
    netted = targeted.refunds.sum().over(ibis.window(group_by=[targeted[cid], targeted._target]))
    is_target = (targeted.purchase_lines > 0).fill_null(False)
    netted = ibis.ifelse(is_target, netted.fill_null(0.0), 0.0)
    with_net = targeted.mutate(netted=netted).drop("_target")
    spend = ibis.ifelse(with_net.netted == 0, with_net.gross, with_net.gross - with_net.netted)
    cancelled = (with_net.netted > 0) & (spend <= CANCELLED_TOLERANCE * with_net.gross)
    return with_net.mutate(spend=spend, bought=is_target & ~cancelled.fill_null(False))


def largely_refunded_sentence(flagged, *, limit: int = 3, currency: str | None = None) -> str | None:
    """One plain sentence naming the largely refunded customers and their amounts (None when there are none).

    Parameters
    ----------
    flagged : pandas.DataFrame
        :meth:`clv.summary.CustomerData.largely_refunded`: ``customer_id``,
        ``gross_revenue``, ``refunded``, largest refund first.
    limit : int, default 3
        How many customers are named; the rest are counted.
    currency : str, optional
        Prefix of the amounts (e.g. ``"£"``).

    Returns
    -------
    str or None
        E.g. ``"1 customer had at least 50% of their purchases refunded (netted before
        their value is modelled): 16446 (168,469.60 of 168,472.50 refunded)."``

    Examples
    --------
    >>> import pandas as pd
    >>> largely_refunded_sentence(pd.DataFrame({"customer_id": ["16446"], "gross_revenue": [168472.5],
    ...                                         "refunded": [168469.6]}))
    '1 customer had at least 50% of their purchases refunded (netted before their value is modelled): 16446 (168,469.60 of 168,472.50 refunded).'
    """
    if flagged is None or len(flagged) == 0:
        return None
    unit = currency or ""
    named = "; ".join(
        f"{row.customer_id} ({unit}{row.refunded:,.2f} of {unit}{row.gross_revenue:,.2f} refunded)"
        for row in flagged.head(limit).itertuples()
    )
    more = f"; and {len(flagged) - limit:,} more" if len(flagged) > limit else ""
    who = "1 customer" if len(flagged) == 1 else f"{len(flagged):,} customers"
    return (f"{who} had at least {LARGELY_REFUNDED_SHARE:.0%} of their purchases refunded "
            f"(netted before their value is modelled): {named}{more}.")
