"""Backtests: fit on the past, predict a holdout window, and measure which predictor to trust."""

from clv.backtest.baselines import Prediction, classic_baseline, naive_baseline, rfm_baseline, rfm_score
from clv.backtest.metrics import (
    accuracy,
    decile_calibration,
    gini,
    interval_coverage,
    mae,
    normalized_gini,
    percent_error,
    rmse,
    spearman,
    top_share_captured,
)
from clv.backtest.run import BacktestResult, backtest, choose_best
from clv.backtest.split import Split, split_orders

__all__ = [
    "BacktestResult",
    "Prediction",
    "Split",
    "accuracy",
    "backtest",
    "choose_best",
    "classic_baseline",
    "decile_calibration",
    "gini",
    "interval_coverage",
    "mae",
    "naive_baseline",
    "normalized_gini",
    "percent_error",
    "rfm_baseline",
    "rfm_score",
    "rmse",
    "spearman",
    "split_orders",
    "top_share_captured",
]
