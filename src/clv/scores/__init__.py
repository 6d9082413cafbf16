"""Per-customer scores from fitted models: P(alive), expected purchases, CLV, intervals;
renewals and residual value of subscribers (sBG)."""

from clv.scores.intervals import quantile_levels, quantile_name
from clv.scores.lifetime_value import (
    customer_lifetime_value,
    discounted_expected_purchases,
    expected_spend_per_order,
    forecast_purchases,
)
from clv.scores.score import score_customers
from clv.scores.subscriptions import score_subscribers

__all__ = [
    "customer_lifetime_value",
    "discounted_expected_purchases",
    "expected_spend_per_order",
    "forecast_purchases",
    "quantile_levels",
    "quantile_name",
    "score_customers",
    "score_subscribers",
]
