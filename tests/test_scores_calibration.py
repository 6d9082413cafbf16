"""Recalibrated prediction intervals (clv.scores.calibration): coverage within the band on a store with known
truth, no use of data after the calibration end, determinism, and the conformal level's definition."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from clv.backtest import backtest
from clv.data.synthetic import simulate_orders
from clv.errors import DataError
from clv.models import BetaGeoModel, GammaGammaModel
from clv.scores import IntervalCalibration, calibrate_intervals, score_customers
from clv.scores.calibration import COVERAGE_GRID, conformal_level, inner_calibration_end
from clv.summary import calibration_holdout

CALIBRATION_END = "2024-06-30"
OBSERVATION_END = "2024-12-31"


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    """A BG/NBD store (known truth): 4,000 customers over 2023-2024."""
    return simulate_orders(4_000, seed=7, start="2023-01-01", end=OBSERVATION_END, defects=False)


@pytest.fixture(scope="module")
def fitted(orders):
    split = calibration_holdout(orders, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    model = BetaGeoModel().fit(split)
    repeat = split.table[split.table["frequency"] > 0]
    spend = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    return split, model, spend


@pytest.fixture(scope="module")
def calibration(orders, fitted) -> IntervalCalibration:
    split, model, spend = fitted
    return calibrate_intervals(orders, model, spend, calibration_end=CALIBRATION_END, horizon=split.holdout_length)


def _coverage(scores, actual: np.ndarray, prefix: str, low: float, high: float) -> float:
    lower = scores[f"{prefix}_q{low:g}"].to_numpy(float)
    upper = scores[f"{prefix}_q{high:g}"].to_numpy(float)
    return float(np.mean((lower - 1e-9 <= actual) & (actual <= upper + 1e-9)))


def test_recalibrated_coverage_is_within_the_band_on_a_store_with_known_truth(fitted, calibration):
    split, model, spend = fitted
    table = split.table
    nominal = score_customers(split, model, spend, horizon=split.holdout_length, discount_rate=0.0)
    recalibrated = score_customers(split, model, spend, horizon=split.holdout_length, discount_rate=0.0,
                                   interval_calibration=calibration)
    purchases = table["frequency_holdout"].to_numpy(float)
    value = (table["frequency_holdout"] * table["monetary_value_holdout"]).to_numpy(float)
    for prefix, actual in (("purchases", purchases), ("clv", value)):
        # discrete counts: the nominal central intervals over-cover even when the model is true
        assert _coverage(nominal, actual, prefix, 0.1, 0.9) > 0.86
        assert 0.75 <= _coverage(recalibrated, actual, prefix, 0.1, 0.9) <= 0.85
        assert 0.92 <= _coverage(recalibrated, actual, prefix, 0.025, 0.975) <= 0.98
    assert recalibrated.interval_calibration == calibration.as_dict()
    assert nominal.interval_calibration is None
    assert list(recalibrated.columns) == list(nominal.columns)
    for prefix in ("purchases", "clv"):
        assert (recalibrated[f"{prefix}_q0.1"] <= recalibrated[f"{prefix}_q0.9"]).all()
        assert (recalibrated[f"{prefix}_q0.025"] <= recalibrated[f"{prefix}_q0.1"]).all()
        assert (recalibrated[f"{prefix}_q0.9"] <= recalibrated[f"{prefix}_q0.975"]).all()


def test_the_calibration_reads_nothing_after_the_calibration_end(orders, fitted, calibration):
    split, model, spend = fitted
    before = orders[orders["order_ts"] < pd.Timestamp(CALIBRATION_END) + pd.Timedelta(days=1)]
    later = orders[orders["order_ts"] >= pd.Timestamp(CALIBRATION_END) + pd.Timedelta(days=1)].copy()
    later["amount"] *= 50.0  # a different future must not change anything
    changed_future = pd.concat([before, later, later], ignore_index=True)
    for other in (before, changed_future):
        again = calibrate_intervals(other, model, spend, calibration_end=CALIBRATION_END, horizon=split.holdout_length)
        assert again.as_dict() == calibration.as_dict()
    assert calibration.calibration_end == CALIBRATION_END
    assert calibration.inner_calibration_end < CALIBRATION_END


def test_the_calibration_is_deterministic_for_a_seed_and_travels_as_json(orders, fitted, calibration):
    split, model, spend = fitted
    again = calibrate_intervals(orders, model, spend, calibration_end=CALIBRATION_END, horizon=split.holdout_length,
                                seed=0)
    assert again == calibration
    assert IntervalCalibration.from_dict(json.loads(json.dumps(calibration.as_dict()))) == calibration
    assert "recalibrated" in str(calibration) and calibration.inner_calibration_end in str(calibration)
    for quantity in ("purchases", "value"):
        for coverage in ("0.8", "0.95"):
            assert len(calibration.levels[quantity][coverage]) == len(calibration.stratum_edges) + 1
            assert set(calibration.levels[quantity][coverage]) <= set(COVERAGE_GRID)
            assert calibration.coverage_after[quantity][coverage] >= float(coverage) - 0.02


def test_the_inner_holdout_has_the_horizon_when_it_fits_else_half_the_calibration_period(orders, fitted):
    import datetime as dt
    first, end = dt.date(2023, 1, 1), dt.date(2024, 6, 30)
    assert inner_calibration_end(first, end, 91.0) == end - dt.timedelta(days=91)
    assert inner_calibration_end(first, end, 10_000.0) == end - dt.timedelta(days=(end - first).days // 2)
    with pytest.raises(DataError, match="under 2 days"):
        inner_calibration_end(end, end, 7.0)


def test_a_level_not_calibrated_is_refused(fitted, calibration):
    split, model, spend = fitted
    with pytest.raises(DataError, match="no 0.5 interval"):
        score_customers(split, model, spend, horizon=10, intervals=(0.5,), interval_calibration=calibration)


def test_the_backtest_reports_recalibrated_coverage_learnt_before_the_calibration_end(orders):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = backtest(orders, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
                          models=("bgnbd",), baselines=())
        nominal = backtest(orders, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
                           models=("bgnbd",), baselines=(), calibrate_intervals=False)
    row = result.metrics.iloc[0]
    for quantity in ("purchases", "value"):
        assert 0.75 <= row[f"{quantity}_coverage_0.8"] <= 0.85
        assert 0.92 <= row[f"{quantity}_coverage_0.95"] <= 0.98
        assert nominal.metrics.iloc[0][f"{quantity}_coverage_0.8"] > 0.86
    calibration = result.settings["interval_calibration"]["bgnbd"]
    assert calibration["calibration_end"] == CALIBRATION_END
    assert nominal.settings["interval_calibration"].startswith("not recalibrated")
    json.dumps(result.to_dict())


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 60), st.just(len(COVERAGE_GRID)))), st.floats(0.05, 0.99))
def test_the_level_is_the_grid_coverage_whose_inner_coverage_is_nearest_the_target(raw, target):
    covered = np.logical_or.accumulate(raw, axis=1)  # model intervals are nested in the nominal coverage
    level, reached = conformal_level(covered, target)
    share = covered.mean(axis=0)
    k = COVERAGE_GRID.index(level)
    assert np.all(np.abs(share - target) >= abs(share[k] - target) - 1e-12)
    assert np.all(np.abs(share[:k] - target) > abs(share[k] - target) + 1e-12)
    assert reached == (share[-1] >= target - 1 / covered.shape[0])


def test_the_command_line_says_whether_the_intervals_were_recalibrated(tmp_path):
    from pathlib import Path

    from typer.testing import CliRunner

    from clv.cli.main import app

    data = Path(__file__).parent / "data"
    orders = ("--from-orders", "--names", "master_id,customer_id,date,cds,amount", "--delimiter", "whitespace",
              "--date-col", "date", "--date-format", "%Y%m%d", "--amount-col", "amount", "--observation-end", "1997-09-30")
    runner = CliRunner()
    model = tmp_path / "bg.json"
    fit = runner.invoke(app, ["fit", str(data / "CDNOW_sample.txt"), *orders, "--time-unit", "week", "-m", "bgnbd",
                              "--save", str(model)])
    assert fit.exit_code == 0, fit.output
    scored = runner.invoke(app, ["score", str(data / "CDNOW_sample.txt"), *orders, "-m", str(model), "--horizon", "39",
                                 "-o", str(tmp_path / "scores.csv")])
    assert scored.exit_code == 0, scored.output
    assert "intervals recalibrated" in scored.output and "inner backtest 1997-05-17" in scored.output
    summary = runner.invoke(app, ["score", str(data / "cdnow_customers_summary.csv"), "-m", str(model), "--horizon", "39",
                                  "--id-col", "ID", "-o", str(tmp_path / "summary_scores.csv")])
    assert summary.exit_code == 0, summary.output
    assert "not recalibrated: recalibration needs the order lines" in summary.output


def test_a_model_the_ladder_chose_is_refitted_as_the_model_it_used(orders, fitted):
    from clv.models.ladder import fit_purchase_model

    split, _, spend = fitted
    nbd = fit_purchase_model(split, "nbd")
    calibration = calibrate_intervals(orders, nbd, spend, calibration_end=CALIBRATION_END, horizon=split.holdout_length)
    assert not any("could not be refitted" in note for note in calibration.notes)
    scores = score_customers(split, nbd, spend, horizon=split.holdout_length, interval_calibration=calibration)
    assert scores.interval_calibration["levels"] == calibration.as_dict()["levels"]
