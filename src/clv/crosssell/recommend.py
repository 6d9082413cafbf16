"""Next-product suggestions per customer from item-to-item association rules.

Each product a customer has bought "votes" for the products bought with it by
other customers: the score of an unbought product j for customer c is

    score(c, j) = sum over products i bought by c of  w(i -> j)

where w is the rule's confidence P(j | i) (default) or its lift, over the rules
of :func:`clv.crosssell.product_pairs` with lift above ``min_lift`` (positively
associated pairs only). This is item-to-item collaborative filtering (Linden,
Smith & York 2003, "Amazon.com recommendations: item-to-item collaborative
filtering", IEEE Internet Computing 7(1)) with association-rule weights.

In matrix form, with X the 0/1 customer-by-product ownership matrix and W the
product-by-product rule weights, the scores are ``S = X W`` with owned entries
removed; both are sparse (scipy.sparse), so every customer is scored at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import ibis
import numpy as np
import pandas as pd
import scipy.sparse as sp

from clv.crosssell.pairs import RULE_COLUMNS, AssociationRules, basket_items
from clv.errors import DataError
from clv.result_table import ResultTable, as_frame

WEIGHTS = ("confidence", "lift")
SUGGESTION_COLUMNS = ("customer_id", "rank", "product_id", "score", "because", "supporting_products")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Suggestions(ResultTable):
    """Next-product suggestions (one row each, :data:`SUGGESTION_COLUMNS`) and how they were scored.

    Returned by :func:`recommend`. Reads like its table
    (``suggestions["product_id"]``, ``suggestions.head()``); the options are
    typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        :data:`SUGGESTION_COLUMNS`, one row per suggestion, rank 1 best.
    k : int
        The most suggestions per customer.
    weight : {"confidence", "lift"}
        The rule column summed into a suggestion's score.
    min_lift : float
        Rules with a lift at or below this were not used.
    rules_used : int
        How many rules (lift above ``min_lift``) voted.
    """

    k: int = 5
    weight: str = "confidence"
    min_lift: float = 1.0
    rules_used: int = 0

    def settings(self) -> dict[str, Any]:
        """The options and the number of rules used, as JSON-ready values."""
        return self.context()


def recommend(
    orders: ibis.Table,
    rules: AssociationRules | pd.DataFrame,
    *,
    k: int = 5,
    weight: str = "confidence",
    min_lift: float = 1.0,
    customers: Iterable[str] | None = None,
    exclude_products: Iterable[str] = (),
) -> Suggestions:
    """Top-``k`` unbought products per customer, scored by summed rule weights.

    ``orders`` are canonical order lines (their purchase lines say what each
    customer owns; refunds do not count); ``rules`` is the frame of
    :func:`product_pairs`. ``customers`` restricts scoring to those ids; an id
    with no purchase line is a :class:`DataError`. Returns
    :data:`SUGGESTION_COLUMNS`, one row per suggestion, rank 1 best (ties broken
    by product id); ``because`` is the owned product whose rule weighs most
    (smallest id on a tie); ``supporting_products`` counts the owned products
    whose rules point to the suggestion. A customer none of whose products has
    a rule gets no row.

    Parameters
    ----------
    orders : ibis.Table
        Canonical order lines: their purchase lines say what each customer owns.
    rules : AssociationRules or pandas.DataFrame
        The rules of :func:`clv.crosssell.product_pairs`.
    k : int, default 5
        The number of suggestions per customer.
    weight : str, default "confidence"
        The rule column summed into a suggestion's score (one of :data:`WEIGHTS`).
    min_lift : float, default 1.0
        Rules with a lower lift are not used.
    customers : iterable of str or None
        Score only these customer ids (default: every customer).
    exclude_products : iterable of str, default ()
        Product ids never suggested.

    Returns
    -------
    Suggestions
        :data:`SUGGESTION_COLUMNS`, one row per suggestion, with the options and
        the number of rules used (``rules_used``).

    Raises
    ------
    DataError
        When a customer id has no purchase line, or an option is invalid.
    """
    rules = as_frame(rules)
    _check_options(k, weight, min_lift, rules)
    owned = basket_items(orders, basket="customer", exclude_products=exclude_products)
    if customers is not None:
        wanted = [str(c) for c in customers]
        owned = owned.filter(owned.basket.isin(wanted))
    owned = owned.execute()
    if customers is not None:
        _check_known(owned["basket"], wanted)
    useful = rules.loc[rules["lift"] > min_lift]
    customer_ids, products, ownership, weights = _matrices(owned, useful, weight)
    top = _top_k(ownership, weights, k)
    frame = pd.DataFrame({
        "customer_id": customer_ids[top.row], "rank": top.rank, "product_id": products[top.col],
        "score": top.score, "because": products[top.because], "supporting_products": top.supporting,
    })
    return Suggestions(frame, k=int(k), weight=weight, min_lift=float(min_lift), rules_used=len(useful))


class _TopK:
    """The kept (customer row, product column) cells with their rank, score and explanation."""

    def __init__(self, row, col, score, rank, because, supporting):
        self.row, self.col, self.score, self.rank = row, col, score, rank
        self.because, self.supporting = because, supporting


def _matrices(owned: pd.DataFrame, rules: pd.DataFrame, weight: str):
    """Sorted customer and product ids, the 0/1 ownership matrix X and the rule weights W.

    Product codes follow the sorted ids, so "smallest code" means "smallest id".
    """
    owner = owned["basket"].to_numpy(dtype=str)
    item = owned["product_id"].to_numpy(dtype=str)
    source = rules["product_a"].to_numpy(dtype=str)
    target = rules["product_b"].to_numpy(dtype=str)
    customer_ids = np.unique(owner)
    products = np.unique(np.concatenate([item, source, target]))
    n_products = len(products)
    ownership = sp.csr_matrix(
        (np.ones(len(owner)), (np.searchsorted(customer_ids, owner), np.searchsorted(products, item))),
        shape=(len(customer_ids), n_products),
    )
    weights = sp.csr_matrix(
        (rules[weight].to_numpy(dtype=float), (np.searchsorted(products, source), np.searchsorted(products, target))),
        shape=(n_products, n_products),
    )
    return customer_ids, products, ownership, weights


def _top_k(ownership: sp.csr_matrix, weights: sp.csr_matrix, k: int) -> _TopK:
    """Scores S = X W without owned cells, then the k best cells of each row."""
    scores = ownership @ weights
    scores = (scores - scores.multiply(ownership)).tocsr()  # weights are > 0, so only owned cells become 0
    scores.eliminate_zeros()
    cells = scores.tocoo()
    # rounded so that sums equal in exact arithmetic tie (and fall back to the product id)
    order = np.lexsort((cells.col, -np.round(cells.data, 12), cells.row))
    row, col, score = cells.row[order], cells.col[order], cells.data[order]
    first = np.r_[True, row[1:] != row[:-1]]
    starts = np.flatnonzero(first)
    rank = np.arange(len(row)) - np.repeat(starts, np.diff(np.r_[starts, len(row)])) + 1
    keep = rank <= k
    row, col, score, rank = row[keep], col[keep], score[keep], rank[keep]
    contributions = ownership[row].multiply(weights.T.tocsr()[col]).tocsr()
    contributions.sort_indices()  # argmax takes the first maximum: the smallest product id
    because = np.asarray(contributions.argmax(axis=1)).ravel()
    return _TopK(row, col, score, rank.astype(np.int64), because, contributions.getnnz(axis=1).astype(np.int64))


def _check_options(k: int, weight: str, min_lift: float, rules: pd.DataFrame) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k={k!r} must be a whole number of suggestions >= 1, e.g. 5.")
    if weight not in WEIGHTS:
        raise DataError(f"weight={weight!r} is not one of {', '.join(WEIGHTS)}; fix: weight='confidence' or 'lift'.")
    if not isinstance(min_lift, (int, float)) or min_lift < 0:
        raise DataError(f"min_lift={min_lift!r} must be a number >= 0 (1 keeps positively associated pairs).")
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise DataError(f"rules lack column(s) {', '.join(missing)}; fix: pass the frame product_pairs() returns.")


def _check_known(owners: pd.Series, wanted: list[str]) -> None:
    found = set(owners)
    unknown = [c for c in wanted if c not in found]
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5])
        raise DataError(f"customer id(s) {shown} have no purchase line with a product; fix: check the id "
                        "(ids are text, e.g. '12347') and the product_id column mapping.")
