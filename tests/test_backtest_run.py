"""Backtests end to end: baselines by hand, the split, warnings, a known-truth store, CDNOW, charts, CLI."""

import datetime as dt
import importlib.util
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.backtest import backtest, choose_best, classic_baseline, naive_baseline, rfm_baseline, rfm_score
from clv.backtest.baselines import learn_rfm_rates, quintile_score
from clv.backtest.run import data_warnings
from clv.backtest.split import resolve_calibration_end, split_orders
from clv.cli.main import app
from clv.data.synthetic import simulate
from clv.errors import DataError

from conftest import DATA

# ----- baselines by hand ----------------------------------------------------------
SUMMARY = pd.DataFrame({
    "frequency": [0, 2, 4], "recency": [0.0, 5.0, 10.0], "T": [10.0, 10.0, 20.0],
    "gross_revenue": [10.0, 30.0, 50.0], "revenue": [10.0, 24.0, 50.0],  # customer 2 refunded 6
    "average_spend": [10.0, 10.0, 10.0],
})


def test_classic_baseline_gives_everyone_the_population_rate():
    # rate = (0 + 2 + 4) / (10 + 10 + 20) = 0.15 per unit; AOV = gross 90 / (1 + 3 + 5) = 10
    # (refunds are not subtracted: the holdout value they are scored on is gross too)
    prediction = classic_baseline(SUMMARY, horizon=5.0, margin=0.5)
    assert prediction.purchases == pytest.approx([0.75] * 3)
    assert prediction.value == pytest.approx([0.75 * 10 * 0.5] * 3)


def test_naive_baseline_keeps_each_customers_rate_and_spend():
    prediction = naive_baseline(SUMMARY, horizon=5.0)
    assert prediction.purchases == pytest.approx([0.0, 1.0, 1.0])  # 2/10 * 5 and 4/20 * 5
    assert prediction.value == pytest.approx([0.0, 10.0, 10.0])
    zero_age = naive_baseline(SUMMARY.assign(T=[0.0, 10.0, 20.0]), horizon=5.0)
    assert zero_age.purchases[0] == 0.0


def test_quintile_scores_share_ties():
    assert quintile_score(np.array([1.0, 2, 3, 4, 5])).tolist() == [1, 2, 3, 4, 5]
    assert quintile_score(np.array([0.0, 0, 0, 0, 1])).tolist() == [3, 3, 3, 3, 5]  # mean rank 2.5 of 5


def test_rfm_score_rewards_recent_frequent_big_spenders():
    # R on minus the time since the last purchase (-10, -5, -10): mean ranks (1.5, 3, 1.5) of 3 -> (3, 5, 3);
    # F on (0, 2, 4): ranks 1, 2, 3 -> ceil(5/3, 10/3, 5) = (2, 4, 5); M all tied at rank 2 -> 4 each
    assert rfm_score(SUMMARY).tolist() == [3 + 2 + 4, 5 + 4 + 4, 3 + 5 + 4]


def test_rfm_rates_are_learnt_per_score_inside_calibration():
    inner = SUMMARY.assign(frequency_holdout=[0, 2, 6], value_holdout=[0.0, 20.0, 60.0], duration_holdout=4.0)
    rates = learn_rfm_rates(inner)
    assert rates.purchases[9] == 0.0 and rates.purchases[13] == pytest.approx(2 / 4) and rates.purchases[12] == pytest.approx(6 / 4)
    assert rates.value[13] == pytest.approx(20 / 4) and rates.customers[[9, 12, 13]].tolist() == [1, 1, 1]
    assert rates.purchases[3] == pytest.approx(8 / 3 / 4)  # unseen score: the inner window's overall rate
    prediction = rfm_baseline(SUMMARY, inner, horizon=8.0)
    assert prediction.purchases == pytest.approx([0.0, 4.0, 12.0])
    assert prediction.value == pytest.approx([0.0, 40.0, 120.0])


def test_choose_best_is_the_champion_rule():
    """The vote over checks (tests/test_backtest_champion.py): a 4% lower value error alone does not win."""
    metrics = pd.DataFrame({
        "predictor": ["a", "b", "c"], "kind": ["model", "model", "baseline"], "purchases_rmse": [1.0, 1.2, 1.1],
        "value_rmse": [10.0, 10.05, 9.6], "value_spearman": [0.3, 0.4, 0.2],
        "value_total_error_pct": [1.0, -2.0, 60.0], "value_top10_capture": [0.5, 0.6, 0.3],
    })
    best, reason = choose_best(metrics)
    assert best == "b" and "next: a" in reason  # b: ranking and top 10% too; c wins only value error, not clearly


# ----- the split ---------------------------------------------------------------------
def test_calibration_end_from_a_fraction_of_the_span():
    first, end = dt.date(2024, 1, 1), dt.date(2024, 1, 31)
    assert resolve_calibration_end(first, end, None, 0.5) == dt.date(2024, 1, 16)
    assert resolve_calibration_end(first, end, "2024-01-10", None) == dt.date(2024, 1, 10)
    with pytest.raises(DataError, match="exactly one"):
        resolve_calibration_end(first, end, "2024-01-10", 0.5)
    with pytest.raises(DataError, match="strictly between"):
        resolve_calibration_end(first, end, None, 1.5)


def test_split_adds_holdout_value_and_average_spend(cdnow_lines):
    split = split_orders(cdnow_lines, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="week")
    one = split.frame.set_index("customer_id").loc["0001"]
    assert one.value_holdout == pytest.approx(26.48)  # one holdout purchase of 26.48
    assert one.average_spend == pytest.approx(one.revenue / 3)
    assert split.holdout_length == pytest.approx(39.0)
    assert split.calibration_length == pytest.approx(272 / 7)
    with pytest.raises(DataError, match="must lie in"):
        split_orders(cdnow_lines, calibration_end="1999-01-01", observation_end="1998-06-30")


def test_warnings_for_short_or_sparse_data():
    # one repeat buyer every 10 days; calibration 20 days (< 3 x 10), holdout 2 days (< 20 / 4)
    days = pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-21", "2024-01-23", "2024-01-05"])
    orders = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b"], "order_ts": days, "amount": 10.0})
    split = split_orders(orders, calibration_end="2024-01-21", time_unit="day")
    notes = data_warnings(split)
    assert len(notes) == 3
    assert "shorter than 3 mean inter-purchase times (3 x 10.0 days)" in notes[0]
    assert "only 1 repeat buyers" in notes[1]
    assert "holdout (2.0 days) is shorter than a quarter of calibration (20.0 days)" in notes[2]


def test_unknown_names_and_bad_margin_are_refused(cdnow_lines):
    with pytest.raises(DataError, match="unknown models"):
        backtest(cdnow_lines, calibration_end="1997-09-30", models=("bgnbd", "lstm"))
    with pytest.raises(DataError, match="unknown baselines"):
        backtest(cdnow_lines, calibration_end="1997-09-30", baselines=("oracle",))
    with pytest.raises(DataError, match="margin"):
        backtest(cdnow_lines, calibration_end="1997-09-30", margin=0)


# ----- known truth: simulated BG/NBD customers ------------------------------------------
@pytest.fixture(scope="module")
def simulated():
    sim = simulate(3000, seed=3, start="2023-01-01", end="2024-12-31", process="bgnbd")
    return backtest(sim.orders, calibration_end="2023-12-31", time_unit="week", models=("bgnbd",), intervals=(0.8,))


def test_bgnbd_beats_the_naive_and_rfm_baselines_when_it_is_the_truth(simulated):
    metrics = simulated.metrics.set_index("predictor")
    for quantity in ("purchases", "value"):
        for baseline in ("naive", "rfm", "classic"):
            assert metrics.loc["bgnbd", f"{quantity}_mae"] < metrics.loc[baseline, f"{quantity}_mae"]
    assert abs(metrics.loc["bgnbd", "purchases_total_error_pct"]) < 15
    assert simulated.best == "bgnbd"
    assert 0.7 < metrics.loc["bgnbd", "purchases_coverage_0.8"] <= 1.0


# ----- CDNOW --------------------------------------------------------------------------
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def cdnow_result(cdnow_lines):
    models = ("bgnbd", "pareto") if _installed("clv.models.paretonbd") else ("bgnbd",)
    return backtest(cdnow_lines, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="week",
                    models=models)


def test_cdnow_holdout_figures(cdnow_result):
    metrics = cdnow_result.metrics.set_index("predictor")
    assert metrics["purchases_actual_total"].unique().tolist() == [1882.0]
    assert metrics.loc["bgnbd", "purchases_predicted_total"] == pytest.approx(1653.4, rel=0.01)
    assert metrics.loc["bgnbd", "purchases_mae"] == pytest.approx(0.785, rel=0.02)
    assert metrics.loc["bgnbd", "value_actual_total"] == pytest.approx(70976.39)
    assert metrics.loc["bgnbd", "value_predicted_total"] == pytest.approx(59932, rel=0.02)
    assert metrics.loc["bgnbd", "value_rmse"] == pytest.approx(72.30, rel=0.02)
    assert metrics.loc["naive", "purchases_predicted_total"] == pytest.approx(2930.1, rel=0.001)
    assert metrics.loc["classic", "purchases_predicted_total"] == pytest.approx(2928.9, rel=0.001)
    # intervals recalibrated inside the calibration period (clv.scores.calibration): coverage in the band
    # 75-85% / 92-98% (the model's own intervals held 0.93 / 0.97 of purchase counts)
    assert 0.75 <= metrics.loc["bgnbd", "purchases_coverage_0.8"] <= 0.85
    assert 0.75 <= metrics.loc["bgnbd", "value_coverage_0.8"] <= 0.85
    assert 0.92 <= metrics.loc["bgnbd", "value_coverage_0.95"] <= 0.98
    for baseline in ("classic", "naive", "rfm"):
        assert metrics.loc["bgnbd", "purchases_mae"] < metrics.loc[baseline, "purchases_mae"]
        assert metrics.loc["bgnbd", "value_rmse"] < metrics.loc[baseline, "value_rmse"]
    assert cdnow_result.best in ("bgnbd", "pareto")
    assert cdnow_result.warnings == []


@pytest.mark.skipif(not _installed("clv.models.paretonbd"), reason="Pareto/NBD model not in this checkout")
def test_cdnow_pareto_figures(cdnow_result):
    metrics = cdnow_result.metrics.set_index("predictor")
    assert metrics.loc["pareto", "purchases_predicted_total"] == pytest.approx(1665.5, rel=0.01)
    assert metrics.loc["pareto", "value_rmse"] == pytest.approx(72.18, rel=0.02)
    assert 0.75 <= metrics.loc["pareto", "purchases_coverage_0.8"] <= 0.85
    assert 0.92 <= metrics.loc["pareto", "value_coverage_0.95"] <= 0.98
    assert cdnow_result.best == "pareto"  # as many checks as BG/NBD, the smaller value error per customer
    assert cdnow_result.champion.tied == ("bgnbd",)


def test_cdnow_charts(cdnow_result, tmp_path):
    tracking = cdnow_result.charts["tracking"]
    assert len(tracking) == 78 and tracking["t"].iloc[-1] == pytest.approx(545 / 7)
    assert tracking["actual_cumulative"].iloc[-1] == 2457 + 1882  # every repeat purchase, both windows
    cumulative = tracking.set_index("period")["actual_cumulative"]
    assert cumulative[38] <= 2457 <= cumulative[39]  # calibration ends in week 39 (272 days = 38.9 weeks)
    assert (tracking["phase"] == "calibration").sum() == 38
    assert tracking["bgnbd_cumulative"].iloc[-1] == pytest.approx(4160.6, rel=0.01)
    histogram = cdnow_result.charts["frequency_histogram"]
    assert histogram["actual"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert histogram["bgnbd"].sum() == pytest.approx(2357)
    assert histogram["bgnbd"].iloc[0] == pytest.approx(1407.7, rel=0.01)
    conditional = cdnow_result.charts["conditional_expectations"]
    assert conditional["customers"].sum() == 2357
    assert conditional["actual"].iloc[0] == pytest.approx(0.2367, abs=1e-4)
    assert conditional["naive"].iloc[0] == 0.0
    paths = cdnow_result.write_charts(tmp_path)
    assert sorted(p.name for p in paths) == ["conditional_expectations.html", "frequency_histogram.html", "tracking.html"]
    assert all("plotly" in p.read_text()[:200000].lower() for p in paths)
    json.dumps(cdnow_result.to_dict())  # every value JSON-ready


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("google-chrome") is None,
                    reason="PNG export renders in Chrome/Chromium, which is not installed here")
def test_charts_as_png(cdnow_result, tmp_path):
    pytest.importorskip("kaleido", reason="kaleido (pip install 'clv[png]') is not installed")
    paths = [p for p in cdnow_result.write_charts(tmp_path, png=True) if p.suffix == ".png"]
    assert sorted(p.name for p in paths) == ["conditional_expectations.png", "frequency_histogram.png", "tracking.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real image, not an empty file


def test_deciles_and_predictions_line_up(cdnow_result):
    deciles = cdnow_result.deciles
    one = deciles[(deciles["predictor"] == "bgnbd") & (deciles["quantity"] == "purchases")]
    assert one["customers"].sum() == 2357
    assert (one["customers"] * one["mean_actual"]).sum() == pytest.approx(1882)
    predictions = cdnow_result.predictions
    assert predictions["bgnbd_purchases"].sum() == pytest.approx(1653.4, rel=0.01)


# ----- CLI ----------------------------------------------------------------------------
CLI_INPUT = [str(DATA / "CDNOW_sample.txt"), "--names", "master,customer_id,date,cds,amount", "--col", "date=date",
             "--date-format", "%Y%m%d", "--delimiter", "whitespace", "--policy", "duplicates=keep",
             "--observation-end", "1998-06-30"]


def test_cli_json_and_charts(tmp_path):
    result = CliRunner().invoke(app, ["backtest", *CLI_INPUT, "--calibration-end", "1997-09-30", "--models", "bgnbd",
                                      "--intervals", "none", "--format", "json", "--charts", str(tmp_path)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["settings"]["calibration_end"] == "1997-09-30"
    rows = {row["predictor"]: row for row in payload["metrics"]}
    assert set(rows) == {"bgnbd", "classic", "naive", "rfm"}
    assert rows["bgnbd"]["purchases_actual_total"] == 1882
    assert payload["best"] in rows and payload["best_reason"]
    assert (tmp_path / "tracking.html").exists()


def test_cli_table_and_errors():
    result = CliRunner().invoke(app, ["backtest", *CLI_INPUT, "--calibration-fraction", "0.5", "--models", "bgnbd",
                                      "--baselines", "naive", "--intervals", "0.8"])
    assert result.exit_code == 0, result.output
    assert "value RMSE" in result.stdout and "best:" in result.stdout and "inside 80% interval" in result.stdout
    bad = CliRunner().invoke(app, ["backtest", *CLI_INPUT, "--calibration-end", "1997-09-30", "--models", "xgboost"])
    assert bad.exit_code == 2 and "unknown models" in bad.output


def test_baselines_only_and_own_average_spend(cdnow_lines):
    only_baselines = backtest(cdnow_lines, calibration_end="1997-09-30", observation_end="1998-06-30", models=(),
                              intervals=())
    assert only_baselines.metrics["predictor"].tolist() == ["classic", "naive", "rfm"]
    assert list(only_baselines.charts) == ["conditional_expectations"]  # the other charts need a model
    assert only_baselines.best == "rfm"  # value RMSE 79.1 vs classic 87.9 and naive 199.2
    own_spend = backtest(cdnow_lines, calibration_end="1997-09-30", observation_end="1998-06-30", models=("bgnbd",),
                         spend_model=None, baselines=(), intervals=(), margin=0.5)
    split = split_orders(cdnow_lines, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="week")
    predictions = own_spend.predictions
    expected = 0.5 * predictions["bgnbd_purchases"] * split.frame["average_spend"].to_numpy()
    assert predictions["bgnbd_value"].to_numpy() == pytest.approx(expected.to_numpy())
    assert predictions["actual_value"].sum() == pytest.approx(0.5 * 70976.39)
