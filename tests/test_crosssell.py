"""Cross-sell: product pairs (support, confidence, lift) and next-product suggestions."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.crosssell import basket_items, product_labels, product_pairs, recommend
from clv.data import Columns, load_orders
from clv.engine import connect
from clv.errors import DataError

DATA = Path(__file__).parent / "data"

# customer -> list of orders, each a list of products; c1 buys C in a second order.
BASKETS = {
    "c1": [["A", "B"], ["C"]],
    "c2": [["A", "B"]],
    "c3": [["A", "C"]],
    "c4": [["B", "D"]],
    "c5": [["A", "B", "D"]],
}
N = 5  # customer baskets
COUNTS = {"A": 4, "B": 4, "C": 2, "D": 2}
BOTH = {("A", "B"): 3, ("A", "C"): 2, ("A", "D"): 1, ("B", "C"): 1, ("B", "D"): 2}


def _lines(baskets: dict[str, list[list[str]]]) -> pd.DataFrame:
    rows = []
    for customer, orders in baskets.items():
        for number, products in enumerate(orders):
            for product in products:
                rows.append((customer, f"2024-01-{number + 1:02d}", 10.0, f"{customer}-{number}", product))
    return pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "order_id", "product_id"])


def _orders(frame: pd.DataFrame, con):
    columns = Columns(order_id="order_id", product_id="product_id")
    return load_orders(frame, columns, con=con).orders


@pytest.fixture(scope="module")
def con():
    return connect()


@pytest.fixture(scope="module")
def hand_orders(con):
    lines = _lines(BASKETS)
    refund = pd.DataFrame([("c4", "2024-01-05", -10.0, "c4-9", "C"), ("c6", "2024-01-05", -5.0, "c6-1", "A")],
                          columns=lines.columns)
    return _orders(pd.concat([lines, refund], ignore_index=True), con)


def _rule(rules: pd.DataFrame, a: str, b: str) -> pd.Series:
    row = rules[(rules.product_a == a) & (rules.product_b == b)]
    assert len(row) == 1, (a, b)
    return row.iloc[0]


def test_pairs_match_hand_computed_support_confidence_lift(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0)
    assert rules.baskets == N  # c6 has only a refund: no basket
    assert len(rules) == 2 * len(BOTH)
    # A -> B: 3 of 5 baskets hold both; 3 of A's 4; lift 0.75 / (4/5)
    ab = _rule(rules, "A", "B")
    assert (ab.baskets_a, ab.baskets_b, ab.baskets_both) == (4, 4, 3)
    assert ab.support == pytest.approx(0.6)
    assert ab.confidence == pytest.approx(0.75)
    assert ab.lift == pytest.approx(0.9375)
    # C -> A: both 2 of 5; P(A | C) = 2/2; lift 1 / 0.8
    ca = _rule(rules, "C", "A")
    assert (ca.support, ca.confidence, ca.lift) == pytest.approx((0.4, 1.0, 1.25))
    assert _rule(rules, "A", "C").confidence == pytest.approx(0.5)
    assert _rule(rules, "A", "D").lift == pytest.approx((1 / 4) / (2 / 5))
    assert not ((rules.product_a == "C") & (rules.product_b == "D")).any()  # never bought together
    for (a, b), n in BOTH.items():
        for x, y in ((a, b), (b, a)):
            rule = _rule(rules, x, y)
            assert rule.baskets_both == n
            assert rule.confidence == pytest.approx(n / COUNTS[x])
            assert rule.lift == pytest.approx(n * N / (COUNTS[x] * COUNTS[y]))


def test_pairs_are_sorted_by_lift_then_count(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0)
    assert rules["lift"].is_monotonic_decreasing
    assert list(rules.columns[:5]) == ["product_a", "product_b", "baskets_a", "baskets_b", "baskets_both"]


def test_refund_lines_are_not_purchases(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0)
    assert _rule(rules, "C", "A").baskets_a == 2  # c4's refunded C does not count
    assert not ((rules.product_a == "B") & (rules.product_b == "C") & (rules.baskets_both > 1)).any()
    items = basket_items(hand_orders).execute()
    assert "c6" not in set(items.basket)


@pytest.mark.parametrize(("min_support", "min_count", "pairs"), [
    (0.5, 1, {("A", "B")}),  # 3 of 5 baskets needed: only A and B are frequent alone
    (0.4, 1, {("A", "B"), ("A", "C"), ("B", "D")}),
    (0.0, 3, {("A", "B")}),
    (0.0, 2, {("A", "B"), ("A", "C"), ("B", "D")}),
    (0.7, 1, set()),
])
def test_min_support_and_min_count_prune(hand_orders, min_support, min_count, pairs):
    rules = product_pairs(hand_orders, min_support=min_support, min_count=min_count)
    found = {tuple(sorted(p)) for p in zip(rules.product_a, rules.product_b)}
    assert found == pairs
    assert len(rules) == 2 * len(pairs)


def test_order_baskets_split_a_customers_orders(hand_orders):
    rules = product_pairs(hand_orders, basket="order", min_support=0.0)
    assert rules.baskets == 6  # c1 has two orders
    assert _rule(rules, "A", "C").baskets_both == 1  # c1's C came in its second order
    assert _rule(rules, "A", "B").support == pytest.approx(3 / 6)


def test_excluded_products_leave_the_baskets(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0, exclude_products="B")
    assert "B" not in set(rules.product_a) | set(rules.product_b)
    assert rules.products == 3


def test_bad_options_name_the_parameter(hand_orders):
    with pytest.raises(DataError, match="basket='customer'"):
        product_pairs(hand_orders, basket="invoice")
    with pytest.raises(DataError, match="min_support"):
        product_pairs(hand_orders, min_support=5)
    with pytest.raises(DataError, match="min_count"):
        product_pairs(hand_orders, min_count=0)
    with pytest.raises(DataError, match="product_id"):
        product_pairs(hand_orders.drop("product_id"))


def test_no_product_ids_is_a_clear_error(con):
    lines = _lines(BASKETS).assign(product_id=None)
    orders = load_orders(lines, Columns(order_id="order_id"), con=con).orders
    with pytest.raises(DataError, match="no baskets"):
        product_pairs(orders)


# --------------------------------------------------------------------------- suggestions


def test_suggestions_sum_rule_weights_and_exclude_owned(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0)
    recs = recommend(hand_orders, rules, k=5, weight="lift", min_lift=0.0, customers=["c4"])
    # c4 owns B, D.  A: lift(B->A) + lift(D->A) = 0.9375 + 0.625; C: lift(B->C) = (1/5)/(4/5 * 2/5)
    assert list(recs.product_id) == ["A", "C"]
    assert list(recs["rank"]) == [1, 2]
    assert recs.score.tolist() == pytest.approx([0.9375 + 0.625, 0.625])
    assert list(recs.because) == ["B", "B"]
    assert list(recs.supporting_products) == [2, 1]


def test_suggestions_by_confidence_use_only_positive_lift(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0)
    recs = recommend(hand_orders, rules, k=5)
    # rules with lift > 1: A<->C and B<->D (lift 1.25). c2 owns A, B: C by P(C|A)=0.5, D by P(D|B)=0.5, a tie
    c2 = recs[recs.customer_id == "c2"]
    assert list(c2.product_id) == ["C", "D"]  # tie broken by product id
    assert c2.score.tolist() == pytest.approx([0.5, 0.5])
    owned = _lines(BASKETS).groupby("customer_id")["product_id"].agg(set)
    for row in recs.itertuples():
        assert row.product_id not in owned[row.customer_id]
    # c1 owns A, B, C: D by B->D; c5 owns A, B, D: C by A->C; c3 (A, C) and c4 (B, D) own both ends of their rules
    assert dict(zip(recs.customer_id, recs.product_id)) == {"c1": "D", "c2": "D", "c5": "C"}
    assert recs.groupby("customer_id").size().to_dict() == {"c1": 1, "c2": 2, "c5": 1}


def test_k_limits_suggestions_and_unknown_customer_is_an_error(hand_orders):
    rules = product_pairs(hand_orders, min_support=0.0)
    recs = recommend(hand_orders, rules, k=1, min_lift=0.0)
    assert recs.groupby("customer_id").size().max() == 1
    with pytest.raises(DataError, match="'nobody'"):
        recommend(hand_orders, rules, customers=["nobody"])
    with pytest.raises(DataError, match="weight"):
        recommend(hand_orders, rules, weight="support")
    with pytest.raises(DataError, match="k="):
        recommend(hand_orders, rules, k=0)


baskets_strategy = st.dictionaries(
    st.sampled_from([f"c{i}" for i in range(12)]),
    st.lists(st.lists(st.sampled_from("PQRSTU"), min_size=1, max_size=4), min_size=1, max_size=2),
    min_size=1, max_size=12,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(baskets=baskets_strategy, min_support=st.sampled_from([0.0, 0.2, 0.5]))
def test_pair_counts_match_brute_force(con, baskets, min_support):
    rules = product_pairs(_orders(_lines(baskets), con), min_support=min_support)
    owned = {c: set(itertools.chain.from_iterable(orders)) for c, orders in baskets.items()}
    n = len(owned)
    expected = {}
    for a, b in itertools.permutations("PQRSTU", 2):
        both = sum(a in s and b in s for s in owned.values())
        if both and both >= min_support * n - 1e-9:
            n_a, n_b = (sum(x in s for s in owned.values()) for x in (a, b))
            expected[(a, b)] = (both, both / n_a, both * n / (n_a * n_b))
    found = {(r.product_a, r.product_b): (r.baskets_both, r.confidence, r.lift) for r in rules.itertuples()}
    assert found.keys() == expected.keys()
    for key, values in expected.items():
        assert found[key] == pytest.approx(values)


# --------------------------------------------------------------------------- UCI Online Retail


@pytest.fixture(scope="module")
def retail(con):
    columns = Columns(customer_id="CustomerID", timestamp="InvoiceDate", quantity="Quantity",
                      unit_price="UnitPrice", order_id="InvoiceNo", product_id="StockCode", extra=("Description",))
    return load_orders(DATA / "online_retail.csv.gz", columns, con=con).cache().orders


@pytest.fixture(scope="module")
def retail_rules(retail):
    return product_pairs(retail, basket="customer", min_support=0.01)


def test_online_retail_customer_pairs(retail_rules):
    assert (retail_rules.baskets, retail_rules.products, retail_rules.frequent_products) == (4339, 3665, 1738)
    assert retail_rules.min_basket_count == 44  # ceil(1% of 4,339)
    assert len(retail_rules) == 2 * 34383
    assert (retail_rules.baskets_both >= 44).all()
    # the regency teacup-and-saucer colour variants: 22697 green, 22699 roses
    cup = _rule(retail_rules, "22697", "22699")
    assert (cup.baskets_a, cup.baskets_b, cup.baskets_both) == (387, 423, 321)
    assert cup.confidence == pytest.approx(321 / 387)
    assert cup.lift == pytest.approx(321 * 4339 / (387 * 423))
    assert cup.lift > 8


def test_online_retail_pair_counts_agree_with_sparse_cooccurrence(retail, retail_rules):
    items = basket_items(retail).execute()
    baskets, b = np.unique(items.basket.to_numpy(dtype=str), return_inverse=True)
    products, p = np.unique(items.product_id.to_numpy(dtype=str), return_inverse=True)
    owned = sp.csr_matrix((np.ones(len(b)), (b, p)), shape=(len(baskets), len(products)))
    together = sp.triu(owned.T @ owned, k=1).tocoo()
    keep = together.data >= 44
    expected = {(products[i], products[j]): int(n) for i, j, n in
                zip(together.row[keep], together.col[keep], together.data[keep])}
    half = retail_rules[retail_rules.product_a < retail_rules.product_b]
    found = dict(zip(zip(half.product_a, half.product_b), half.baskets_both))
    assert found == expected


def test_online_retail_order_pairs(retail):
    rules = product_pairs(retail, basket="order", min_support=0.01)
    assert rules.baskets == 18536
    assert len(rules) == 666
    cup = _rule(rules, "22697", "22699")
    assert cup.baskets_both == 541
    assert cup.lift == pytest.approx(541 * 18536 / (691 * 783))
    labels = product_labels(retail, "Description").set_index("product_id")["label"]
    assert "REGENCY TEACUP AND SAUCER" in labels["22697"] and "GREEN" in labels["22697"]
    assert "ROSES" in labels["22699"]


def test_online_retail_suggestions(retail, retail_rules):
    recs = recommend(retail, retail_rules, k=5)
    assert recs.customer_id.nunique() > 4000
    assert recs.groupby("customer_id")["rank"].max().max() == 5
    owned = basket_items(retail).execute().rename(columns={"basket": "customer_id"})
    clash = recs.merge(owned, on=["customer_id", "product_id"])
    assert clash.empty
    previous = recs.groupby("customer_id")["score"].shift()
    assert (recs.score <= previous.fillna(np.inf) + 1e-12).all()
    assert recs.score.gt(0).all()


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def hand_csv(tmp_path) -> Path:
    path = tmp_path / "orders.csv"
    _lines(BASKETS).assign(name=lambda f: "item " + f.product_id).to_csv(path, index=False)
    return path


CLI_COLS = ["--col", "order_id=order_id", "--col", "product_id=product_id"]


def test_cli_crosssell_json_and_output(hand_csv, tmp_path):
    from typer.testing import CliRunner

    from clv.cli.main import app

    runner = CliRunner()
    result = runner.invoke(app, ["crosssell", str(hand_csv), *CLI_COLS, "--min-support", "0", "--top", "3",
                                 "--label", "name", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3 and rows[0]["lift"] == pytest.approx(1.25)
    assert rows[0]["label_a"] == "item " + rows[0]["product_a"]
    out = tmp_path / "rules.parquet"
    result = runner.invoke(app, ["crosssell", str(hand_csv), *CLI_COLS, "--min-support", "0", "--basket", "order",
                                 "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 2 * 4  # order baskets: AB, AC, AD, BD; c1 bought C in another order
    bad = runner.invoke(app, ["crosssell", str(hand_csv), *CLI_COLS, "--basket", "invoice"])
    assert bad.exit_code == 2 and "basket" in bad.output


def test_cli_recommend_one_customer(hand_csv):
    from typer.testing import CliRunner

    from clv.cli.main import app

    result = CliRunner().invoke(app, ["recommend", str(hand_csv), *CLI_COLS, "--min-support", "0", "--customer", "c4",
                                      "--min-lift", "0", "--weight", "lift", "--k", "1", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(io.StringIO(result.stdout))
    assert rows.product_id.tolist() == ["A"] and rows.score.iloc[0] == pytest.approx(0.9375 + 0.625)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(baskets=baskets_strategy, weight=st.sampled_from(["confidence", "lift"]), k=st.integers(1, 3))
def test_suggestions_match_brute_force(con, baskets, weight, k):
    orders = _orders(_lines(baskets), con)
    rules = product_pairs(orders, min_support=0.0)
    recs = recommend(orders, rules, k=k, weight=weight, min_lift=0.5)
    owned = {c: set(itertools.chain.from_iterable(o)) for c, o in baskets.items()}
    useful = rules[rules.lift > 0.5]
    expected = []
    for customer, products in sorted(owned.items()):
        votes = useful[useful.product_a.isin(products) & ~useful.product_b.isin(products)]
        scores = votes.groupby("product_b")[weight].sum()
        ranked = sorted(scores.items(), key=lambda item: (-round(item[1], 12), item[0]))[:k]
        expected += [(customer, rank + 1, product) for rank, (product, _) in enumerate(ranked)]
        for rank, (product, score) in enumerate(ranked):
            row = recs[(recs.customer_id == customer) & (recs["rank"] == rank + 1)]
            assert row.score.iloc[0] == pytest.approx(score)
            best = votes[votes.product_b == product].sort_values([weight, "product_a"], ascending=[False, True])
            assert row.because.iloc[0] == best.product_a.iloc[0]
    found = list(zip(recs.customer_id, recs["rank"], recs.product_id))
    assert found == expected
