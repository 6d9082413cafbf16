"""Backtests: fit on the past, predict a holdout window, and measure which predictor to trust."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "BacktestResult": "clv.backtest.run",
    "Champion": "clv.backtest.champion",
    "RollingBacktest": "clv.backtest.rolling",
    "Prediction": "clv.backtest.baselines",
    "Split": "clv.backtest.split",
    "accuracy": "clv.backtest.metrics",
    "backtest": "clv.backtest.run",
    "choose_best": "clv.backtest.run",
    "choose_champion": "clv.backtest.champion",
    "classic_baseline": "clv.backtest.baselines",
    "decile_calibration": "clv.backtest.metrics",
    "gini": "clv.backtest.metrics",
    "interval_coverage": "clv.backtest.metrics",
    "mae": "clv.backtest.metrics",
    "naive_baseline": "clv.backtest.baselines",
    "normalized_gini": "clv.backtest.metrics",
    "percent_error": "clv.backtest.metrics",
    "rfm_baseline": "clv.backtest.baselines",
    "rfm_score": "clv.backtest.baselines",
    "rmse": "clv.backtest.metrics",
    "rolling_backtest": "clv.backtest.rolling",
    "spearman": "clv.backtest.metrics",
    "split_orders": "clv.backtest.split",
    "top_share_captured": "clv.backtest.metrics",
})
