"""Per-customer scores from fitted models: P(alive), expected purchases, CLV, intervals;
next-purchase timing and value curves per future period; renewals and residual value of subscribers (sBG)."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "calibrate_intervals": "clv.scores.calibration",
    "customer_lifetime_value": "clv.scores.lifetime_value",
    "discounted_expected_purchases": "clv.scores.lifetime_value",
    "expected_spend_per_order": "clv.scores.lifetime_value",
    "forecast_purchases": "clv.scores.lifetime_value",
    "purchase_timing": "clv.scores.timing",
    "PurchaseTiming": "clv.scores.timing",
    "quantile_levels": "clv.scores.intervals",
    "quantile_name": "clv.scores.intervals",
    "IntervalCalibration": "clv.scores.calibration",
    "new_customer_value": "clv.scores.new_customers",
    "NewCustomerValue": "clv.scores.new_customers",
    "Scores": "clv.scores.result",
    "score_customers": "clv.scores.score",
    "score_on_engine": "clv.scores.engine_scoring",
    "score_subscribers": "clv.scores.subscriptions",
    "SubscriberScores": "clv.scores.subscriptions",
    "value_curve": "clv.scores.curves",
    "ValueCurve": "clv.scores.curves",
})
