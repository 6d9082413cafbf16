"""Product pairs bought together: support, confidence and lift, computed in the engine.

A *basket* is either everything one customer ever bought (``basket="customer"``)
or one order (``basket="order"``). Only purchase lines count: refund and
cancellation lines (``is_refund``) and lines without a product id are left out,
and each product counts once per basket however many units or lines it has.

For products A and B over N baskets (Agrawal, Imielinski & Swami 1993,
"Mining association rules between sets of items in large databases", SIGMOD;
Brin, Motwani, Ullman & Tsur 1997 for lift):

* support(A)      = n(A) / N                 share of baskets holding A
* support(A, B)   = n(A and B) / N           share of baskets holding both
* confidence(A->B) = n(A and B) / n(A)        P(B | A)
* lift(A->B)      = confidence(A->B) / support(B) = N n(A and B) / (n(A) n(B))

A lift above 1 means B is bought with A more often than chance would give.

The a-priori property (Agrawal & Srikant 1994) prunes the work: a pair cannot
reach a minimum support its rarer product does not reach, so only frequent
products enter the self-join of (basket, product) rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterable, Iterator
from typing import Any

import ibis
import pandas as pd

from clv.engine import dialect
from clv.data.schema import CUSTOMER_ID, IS_REFUND, ORDER_ID, PRODUCT_ID
from clv.errors import DataError, missing_column_message
from clv.result_table import ResultTable

BASKETS = ("customer", "order")
RULE_COLUMNS = (
    "product_a", "product_b", "baskets_a", "baskets_b", "baskets_both",
    "support", "support_a", "support_b", "confidence", "lift",
)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class AssociationRules(ResultTable):
    """Association rules A -> B (one row each, :data:`RULE_COLUMNS`) and the counts and options behind them.

    Returned by :func:`product_pairs`. Reads like its table (``rules["lift"]``,
    ``rules.head(20)``, ``rules.table.to_csv(...)``); the context is in typed
    fields.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per rule with :data:`RULE_COLUMNS`, sorted by lift, then
        baskets_both (both descending), then product ids.
    basket : {"customer", "order"}
        What a basket is: all of a customer's purchases, or one order.
    baskets : int
        ``N``, the number of baskets (the denominator of every support).
    products : int
        Distinct products in those baskets.
    frequent_products : int
        Products in at least ``min_basket_count`` baskets on their own (the
        only ones that can enter a rule, by the a-priori property).
    min_basket_count : int
        The count threshold used: ``max(min_count, ceil(min_support * N), 1)``.
    min_support : float
        The least share of baskets holding both products, as asked.
    min_count : int
        The least number of baskets holding both products, as asked.
    exclude_products : tuple of str
        Product ids left out.
    """

    basket: str = "customer"
    baskets: int = 0
    products: int = 0
    frequent_products: int = 0
    min_basket_count: int = 1
    min_support: float = 0.0
    min_count: int = 1
    exclude_products: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """The counts and options as JSON-ready values (``exclude_products`` as a list)."""
        return {**self.context(), "exclude_products": list(self.exclude_products)}


def basket_items(orders: ibis.Table, *, basket: str = "customer",
                 exclude_products: Iterable[str] = ()) -> ibis.Table:
    """Distinct (basket, product_id) rows of the purchase lines.

    Refund lines, lines without a product id and the ``exclude_products`` (e.g.
    postage codes) are left out; with ``basket="order"`` so are lines without an
    order id. The basket key of an order is customer id + order id, so two
    customers' orders never share a basket even when ids repeat across shops.

    Parameters
    ----------
    orders : ibis.Table
        Canonical order lines (``load_orders(...).orders``).
    basket : {"customer", "order"}, default "customer"
        What a basket is: all of a customer's purchases, or one order.
    exclude_products : iterable of str, default ()
        Product ids left out (e.g. postage codes).

    Returns
    -------
    ibis.Table
        Distinct ``(basket, product_id)`` rows (lazy).
    """
    _check_basket(basket)
    _require_columns(orders, (CUSTOMER_ID, PRODUCT_ID, IS_REFUND) + ((ORDER_ID,) if basket == "order" else ()))
    lines = orders.filter(~orders[IS_REFUND].fill_null(False), orders[PRODUCT_ID].notnull())
    excluded = _product_list(exclude_products)
    if excluded:
        lines = lines.filter(~lines[PRODUCT_ID].isin(excluded))
    if basket == "order":
        lines = lines.filter(lines[ORDER_ID].notnull())
        key = lines[CUSTOMER_ID].cast("string") + "\x1f" + lines[ORDER_ID].cast("string")
    else:
        key = lines[CUSTOMER_ID].cast("string")
    return lines.select(basket=key, product_id=lines[PRODUCT_ID].cast("string")).distinct()


def product_pairs(
    orders: ibis.Table,
    *,
    basket: str = "customer",
    min_support: float = 0.01,
    min_count: int = 1,
    exclude_products: Iterable[str] = (),
) -> AssociationRules:
    """Association rules A -> B between products bought in the same baskets.

    ``orders`` are canonical order lines (:func:`clv.data.load_orders`, its
    ``orders``). A pair is kept when both ``support(A, B) >= min_support`` and
    ``n(A and B) >= min_count``; each kept pair gives two rows, A -> B and B -> A
    (confidence is directional; support and lift are symmetric).

    Returns one row per rule with :data:`RULE_COLUMNS`, sorted by lift, then
    baskets_both (both descending), then product ids, as
    :class:`AssociationRules`: its fields record the basket kind, ``baskets``
    (N), ``products``, ``frequent_products`` (those that pass the threshold
    alone), ``min_basket_count`` (the count threshold used) and the options.

    Parameters
    ----------
    orders : ibis.Table
        Canonical order lines (``load_orders(...).orders``).
    basket : {"customer", "order"}, default "customer"
        What a basket is: all of a customer's purchases, or one order.
    min_support : float, default 0.01
        The least share of baskets holding both products.
    min_count : int, default 1
        The least number of baskets holding both products.
    exclude_products : iterable of str, default ()
        Product ids left out (e.g. postage codes).

    Returns
    -------
    AssociationRules
        One row per rule with :data:`RULE_COLUMNS`, and the counts behind them.

    Raises
    ------
    DataError
        When the orders have no product id or an option is invalid.
    """
    _check_thresholds(min_support, min_count)
    with contextlib.ExitStack() as caches:
        items = _cached(caches, basket_items(orders, basket=basket, exclude_products=exclude_products))
        product_counts = _cached(caches, items.group_by("product_id").aggregate(baskets=ibis._.count()))
        n_baskets, n_products = _basket_and_product_totals(items, product_counts, basket)
        threshold = max(int(min_count), math.ceil(min_support * n_baskets - 1e-9), 1)
        frequent = product_counts.filter(product_counts.baskets >= threshold)
        n_frequent = int(frequent.count().execute())
        counted = _pair_counts(items, frequent, threshold, caches)
        with _direct_pair_table(items, n_frequent):
            rules = _sorted(_directed_rules(counted, n_baskets).execute())
    return AssociationRules(rules, basket=basket, baskets=int(n_baskets), products=int(n_products),
                            frequent_products=n_frequent, min_basket_count=int(threshold), min_support=min_support,
                            min_count=int(min_count), exclude_products=tuple(_product_list(exclude_products)))


def product_labels(orders: ibis.Table, column: str) -> pd.DataFrame:
    """product_id and its most frequent value of ``column`` (e.g. a description carried as an extra).

    Parameters
    ----------
    orders : ibis.Table
        Canonical order lines with ``product_id`` and ``column``.
    column : str
        The column holding the label (e.g. a description carried by ``Columns.extra``).

    Returns
    -------
    pandas.DataFrame
        Columns ``product_id`` and ``column``, one row per product.
    """
    _require_columns(orders, (PRODUCT_ID, column))
    lines = orders.filter(orders[PRODUCT_ID].notnull(), orders[column].notnull())
    counts = lines.group_by([PRODUCT_ID, column]).aggregate(lines=ibis._.count())
    ranked = counts.mutate(
        rank=ibis.row_number().over(group_by=PRODUCT_ID, order_by=[ibis.desc("lines"), column])
    )
    best = ranked.filter(ranked["rank"] == 0)
    return best.select(product_id=best[PRODUCT_ID].cast("string"), label=best[column].cast("string")).execute()


def _basket_and_product_totals(items: ibis.Table, product_counts: ibis.Table, basket: str) -> tuple[int, int]:
    n_baskets = int(items.basket.nunique().execute())
    if n_baskets == 0:
        needs = " and an order id (map order_id)" if basket == "order" else ""
        raise DataError(
            f"no purchase line has a product id{needs}, so there are no baskets; fix: map the "
            "product column, e.g. Columns(product_id='StockCode'), and check that not every line is a refund."
        )
    return n_baskets, int(product_counts.count().execute())


def _pair_counts(items: ibis.Table, frequent: ibis.Table, threshold: int, caches: contextlib.ExitStack) -> ibis.Table:
    """Unordered pairs (product_a < product_b) of frequent products with their basket counts.

    Products and baskets are coded as integers before the self-join: the join
    and the pair aggregation on integers are several times cheaper than on text.
    """
    codes = frequent.mutate(p=ibis.row_number().over(order_by="product_id").cast("int32"))
    baskets = items.select("basket").distinct()
    baskets = baskets.mutate(b=ibis.row_number().over(order_by="basket").cast("int32"))
    coded = _cached(caches, items.join(codes, "product_id").join(baskets, "basket").select("b", "p"))
    left, right = coded, coded.view()
    joined = left.join(right, [left.b == right.b, left.p < right.p]).select(pa=left.p, pb=right.p)
    counts = joined.group_by(["pa", "pb"]).aggregate(baskets_both=ibis._.count())
    counts = counts.filter(counts.baskets_both >= threshold)
    a = codes.select(pa="p", product_a="product_id", baskets_a="baskets")
    b = codes.select(pb="p", product_b="product_id", baskets_b="baskets")
    return counts.join(a, "pa").join(b, "pb").select("product_a", "product_b", "baskets_a", "baskets_b", "baskets_both")


@contextlib.contextmanager
def _direct_pair_table(items: ibis.Table, n_frequent: int) -> Iterator[None]:
    """On DuckDB, let the pair count use a directly indexed table for the duration.

    The pair codes (p, q) span ``2 * ceil(log2(n_frequent))`` bits; DuckDB uses
    its perfect-hash aggregate only up to ``perfect_ht_threshold`` bits (12 by
    default). Raising it to that width (at most 24 bits, 16M slots) halves the
    CPU time of the pair count on Online Retail; the setting is restored after.
    """
    con = items._find_backend(use_default=True)
    bits = 2 * max(1, math.ceil(math.log2(max(n_frequent, 2))))
    with dialect.direct_aggregate_bits(con, bits):
        yield


def _directed_rules(pairs: ibis.Table, n_baskets: int) -> ibis.Table:
    """Both directions of each pair with support, confidence and lift."""
    swapped = pairs.select(product_a="product_b", product_b="product_a", baskets_a="baskets_b",
                           baskets_b="baskets_a", baskets_both="baskets_both")
    rules = pairs.union(swapped)
    n = float(n_baskets)
    both, a, b = (rules[c].cast("float64") for c in ("baskets_both", "baskets_a", "baskets_b"))
    return rules.mutate(
        support=both / n, support_a=a / n, support_b=b / n,
        confidence=both / a, lift=both * n / (a * b),
    ).select(*RULE_COLUMNS)


def _sorted(rules: pd.DataFrame) -> pd.DataFrame:
    for column in ("baskets_a", "baskets_b", "baskets_both"):
        rules[column] = rules[column].astype("int64")
    order = rules.sort_values(["lift", "baskets_both", "product_a", "product_b"],
                              ascending=[False, False, True, True], kind="stable")
    return order.reset_index(drop=True)


def _product_list(products: Iterable[str] | str) -> list[str]:
    """Product ids as text; a single id may be given as a plain string."""
    return [products] if isinstance(products, str) else [str(p) for p in products]


def _check_basket(basket: str) -> None:
    if basket not in BASKETS:
        raise DataError(f"basket={basket!r} is not one of {', '.join(BASKETS)}; fix: basket='customer' "
                        "(everything a customer bought) or basket='order' (one order).")


def _check_thresholds(min_support: float, min_count: int) -> None:
    if not (isinstance(min_support, (int, float)) and 0.0 <= float(min_support) <= 1.0):
        raise DataError(f"min_support={min_support!r} must be a share between 0 and 1, e.g. 0.01 (1% of baskets).")
    if isinstance(min_count, bool) or int(min_count) != min_count or min_count < 1:
        raise DataError(f"min_count={min_count!r} must be a whole number of baskets >= 1, e.g. 5.")


def _require_columns(orders: ibis.Table, columns: Iterable[str]) -> None:
    for column in columns:
        if column not in orders.columns:
            raise DataError(missing_column_message(column.replace("_", " "), column, orders.columns))


def _cached(caches: contextlib.ExitStack, table: ibis.Table) -> ibis.Table:
    """Materialise ``table`` until ``caches`` closes (it is read several times)."""
    cached = dialect.materialise(table, "crosssell")
    caches.callback(dialect.release, cached)
    return cached
