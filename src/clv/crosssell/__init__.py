"""Cross-sell: products bought together (support, confidence, lift) and next-product suggestions."""

from clv.crosssell.pairs import BASKETS, RULE_COLUMNS, basket_items, product_labels, product_pairs
from clv.crosssell.recommend import WEIGHTS, recommend

__all__ = ["BASKETS", "RULE_COLUMNS", "WEIGHTS", "basket_items", "product_labels", "product_pairs", "recommend"]
