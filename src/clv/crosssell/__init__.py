"""Cross-sell: products bought together (support, confidence, lift) and next-product suggestions."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "AssociationRules": "clv.crosssell.pairs",
    "BASKETS": "clv.crosssell.pairs",
    "RULE_COLUMNS": "clv.crosssell.pairs",
    "Suggestions": "clv.crosssell.recommend",
    "WEIGHTS": "clv.crosssell.recommend",
    "basket_items": "clv.crosssell.pairs",
    "product_labels": "clv.crosssell.pairs",
    "product_pairs": "clv.crosssell.pairs",
    "recommend": "clv.crosssell.recommend",
})
