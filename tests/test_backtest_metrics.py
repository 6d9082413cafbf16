"""Holdout metrics on hand-computed cases, and their properties (ties, row order, bounds)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from clv.backtest.metrics import (
    accuracy,
    decile_calibration,
    decile_error,
    gini,
    interval_coverage,
    mae,
    normalized_gini,
    percent_error,
    rmse,
    spearman,
    top_share_captured,
)
from clv.errors import DataError


def test_mae_and_rmse_by_hand():
    actual, predicted = [1, 2, 3], [2, 2, 5]
    assert mae(actual, predicted) == pytest.approx(1.0)  # (1 + 0 + 2) / 3
    assert rmse(actual, predicted) == pytest.approx(math.sqrt(5 / 3))  # sqrt((1 + 0 + 4) / 3)


def test_percent_error_of_totals():
    assert percent_error(100.0, 90.0) == pytest.approx(-10.0)
    assert percent_error(80.0, 100.0) == pytest.approx(25.0)
    assert math.isnan(percent_error(0.0, 5.0))


def test_spearman_with_ties_by_hand():
    # ranks: actual (1, 2.5, 2.5, 4), predicted (1, 3, 2, 4); centred products 2.25 + 0 + 0 + 2.25 = 4.5,
    # sums of squares 4.5 and 5, so rho = 4.5 / sqrt(22.5) = sqrt(0.9)
    actual, predicted = [1, 2, 2, 3], [1, 3, 2, 4]
    assert spearman(actual, predicted) == pytest.approx(math.sqrt(0.9))
    assert spearman(actual, predicted) == pytest.approx(spearmanr(actual, predicted).statistic)


def test_spearman_is_nan_for_a_constant_prediction():
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))


def test_top_share_captured_by_hand():
    actual = [10, 0, 5, 0, 0, 0, 0, 0, 0, 5]  # total 20
    predicted = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert top_share_captured(actual, predicted, 0.1) == pytest.approx(10 / 20)
    assert top_share_captured(actual, predicted, 0.2) == pytest.approx(10 / 20)
    assert top_share_captured(actual, predicted, 0.3) == pytest.approx(15 / 20)
    assert top_share_captured(actual, predicted, 1.0) == pytest.approx(1.0)


def test_top_share_captured_averages_tied_customers_and_counts_a_fractional_last_one():
    actual, predicted = [4, 0, 2, 2], [1, 1, 0, 0]  # total 8; the top two are tied, mean actual 2
    assert top_share_captured(actual, predicted, 0.25) == pytest.approx(2 / 8)
    assert top_share_captured(actual, predicted, 0.5) == pytest.approx(4 / 8)
    assert top_share_captured(actual, predicted, 0.1) == pytest.approx(0.4 * 2 / 8)  # k = 0.4 customer
    with pytest.raises(DataError, match="share"):
        top_share_captured(actual, predicted, 0.0)


def test_gini_by_hand():
    # perfect ordering of (1, 0, 0, 0): Lorenz shares (1, 1, 1, 1): G = 4/4 - 5/8 = 3/8
    assert gini([1, 0, 0, 0], [4, 3, 2, 1]) == pytest.approx(3 / 8)
    # worst ordering: shares (0, 0, 0, 1): G = 1/4 - 5/8 = -3/8
    assert gini([1, 0, 0, 0], [1, 2, 3, 4]) == pytest.approx(-3 / 8)


def test_normalized_gini_by_hand():
    # ordered by prediction: actual (3, 2, 0, 1), total 6: shares (1/2, 5/6, 5/6, 1), G = 19/24 - 15/24 = 1/6;
    # perfect (3, 2, 1, 0): shares (1/2, 5/6, 1, 1), G = 20/24 - 15/24 = 5/24; ratio 0.8
    actual, predicted = [3, 1, 0, 2], [0.9, 0.1, 0.2, 0.5]
    assert normalized_gini(actual, predicted) == pytest.approx(0.8)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini([1, 0, 0, 0], [1, 2, 3, 4]) == pytest.approx(-1.0)
    assert math.isnan(normalized_gini([2, 2, 2], [1, 2, 3]))
    assert normalized_gini([5, 0, 1, 0, 3, 7, 0], [2.5] * 7) == 0.0  # one prediction for all: no ranking


def test_gini_of_tied_predictions_is_the_average_over_tie_orders():
    # the prediction ties customer 0 (actual 1) with two zeros: over the 3 orders of the tie group the
    # Lorenz shares average (1/3, 2/3, 1) after the top customer's 0 -> G = (0 + 1/3 + 2/3 + 1)/4 - 5/8
    assert gini([1, 0, 0, 0], [0, 0, 0, 1]) == pytest.approx(2 / 4 - 5 / 8)


def test_decile_calibration_by_hand():
    predicted = np.arange(20.0)
    table = decile_calibration(2 * predicted, predicted)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["customers"].tolist() == [2] * 10
    assert table["mean_predicted"].tolist() == pytest.approx([2 * k + 0.5 for k in range(10)])
    assert table["mean_actual"].tolist() == pytest.approx([4 * k + 1 for k in range(10)])
    assert decile_error(table) == pytest.approx(np.mean([2 * k + 0.5 for k in range(10)]))


def test_decile_calibration_keeps_tied_customers_together():
    table = decile_calibration([0, 1, 2, 3], [5, 5, 5, 5])  # mean rank 2.5 of 4 -> group ceil(6.25) = 7
    assert table[["decile", "customers"]].values.tolist() == [[7, 4]]
    assert table["mean_actual"].iloc[0] == pytest.approx(1.5)


def test_interval_coverage_by_hand():
    actual, lower, upper = [0, 1, 2, 3], [0, 0, 3, 1], [0, 2, 4, 2]
    assert interval_coverage(actual, lower, upper) == pytest.approx(0.5)  # the closed ends count


def test_accuracy_collects_every_metric():
    out = accuracy([1, 0, 3], [1.5, 0.5, 2.0])
    assert out["actual_total"] == 4 and out["predicted_total"] == 4
    assert out["total_error_pct"] == 0
    assert out["mae"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert {"top10_capture", "top20_capture", "normalized_gini", "spearman", "decile_error"} <= set(out)


def test_bad_input_names_the_problem():
    with pytest.raises(DataError, match="one length"):
        mae([1, 2], [1])
    with pytest.raises(DataError, match="finite; first offending row 1"):
        rmse([1, np.nan], [1, 2])


pairs = st.integers(2, 40).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 6), min_size=n, max_size=n),
    st.lists(st.integers(0, 4), min_size=n, max_size=n),
    st.randoms(use_true_random=False),
))


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_ranking_metrics_do_not_depend_on_row_order(data):
    actual, predicted, rng = data
    order = list(range(len(actual)))
    rng.shuffle(order)
    a, p = np.array(actual, float), np.array(predicted, float)
    for metric in (normalized_gini, spearman, lambda y, q: top_share_captured(y, q, 0.2)):
        first, second = metric(a, p), metric(a[order], p[order])
        assert (math.isnan(first) and math.isnan(second)) or first == pytest.approx(second)
    assert np.allclose(decile_calibration(a, p).to_numpy(float), decile_calibration(a[order], p[order]).to_numpy(float))


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_metric_bounds(data):
    actual, predicted, _ = data
    a, p = np.array(actual, float), np.array(predicted, float)
    if a.sum() > 0:
        captured = [top_share_captured(a, p, s) for s in (0.1, 0.2, 0.5, 1.0)]
        assert all(0 <= c <= 1 + 1e-12 for c in captured)
        assert all(b >= a - 1e-12 for a, b in zip(captured, captured[1:]))  # more customers capture no less
        assert captured[-1] == pytest.approx(1.0)
        g = normalized_gini(a, p)
        assert math.isnan(g) or -1 - 1e-9 <= g <= 1 + 1e-9
    rho = spearman(a, p)
    assert math.isnan(rho) or -1 - 1e-12 <= rho <= 1 + 1e-12
    assert mae(a, p) <= rmse(a, p) + 1e-12
    table = decile_calibration(a, p)
    assert table["customers"].sum() == len(a)
    assert np.average(table["mean_actual"], weights=table["customers"]) == pytest.approx(a.mean())
