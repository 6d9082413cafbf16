"""Purchase logs without amounts (customer and date only) work end to end (issue 12, defect 9).

A log loads; its summary has the purchase columns of the same history with
amounts and no value columns; the purchase models, scoring, the backtest and the
segments run on purchases; every value computation refuses with the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clv.backtest import backtest
from clv.cohorts import retention_matrix
from clv.cli.main import app
from clv.data import Columns, LoadPolicy, load_orders
from clv.data.synthetic import simulate_orders
from clv.errors import DataError
from clv.formula import classic_clv, drivers_over_time
from clv.models.bgnbd import BetaGeoModel
from clv.models.gammagamma import GammaGammaModel
from clv.models.mbgnbd import ModifiedBetaGeoModel
from clv.models.paretonbd import ParetoNBDModel
from clv.scores import score_customers
from clv.segments import assign_segments, early_warning, export_segment, playbook
from clv.summary import (
    HOLDOUT_VALUE_COLUMNS,
    VALUE_COLUMNS,
    calibration_holdout,
    require_amounts,
    summarize,
)

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "CDNOW_sample.txt"
CDNOW_READ = {"delimiter": "whitespace", "header": False}
CDNOW_POLICY = LoadPolicy(date_format="%Y%m%d")
PURCHASE_COLUMNS = ["customer_id", "frequency", "recency", "T", "first_purchase", "last_purchase", "n_orders"]
NO_AMOUNTS = r"this history has no amounts: .* needs amounts; fix: map an amount column \(Columns\(amount=\.\.\.\)\)"
BGNBD_CDNOW_PUBLISHED = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}  # Fader, Hardie & Lee (2005)

runner = CliRunner()


# ----- fixtures -----------------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_pair():
    """CDNOW loaded twice: as a log (customer and date only) and with its amounts (ids: the sample's, column 1)."""
    log = load_orders(CDNOW, Columns(customer_id="column1", date="column2"), CDNOW_POLICY, **CDNOW_READ)
    full = load_orders(CDNOW, Columns(customer_id="column1", date="column2", quantity="column3", amount="column4"),
                       CDNOW_POLICY, **CDNOW_READ)
    return log, full


@pytest.fixture(scope="module")
def cdnow_summaries(cdnow_pair):
    log, full = cdnow_pair
    options = {"observation_end": "1997-09-30", "time_unit": "week"}
    return summarize(log, **options), summarize(full, **options)


@pytest.fixture(scope="module")
def shop():
    """A simulated shop's lines with amounts, and the same lines as a log."""
    lines = simulate_orders(800, seed=5)
    return lines, lines[["customer_id", "order_ts"]]


@pytest.fixture(scope="module")
def shop_scored(shop):
    """Summary, BG/NBD scores over 52 weeks and the loaded orders, for the log and with amounts."""
    out = {}
    for name, lines in zip(("full", "log"), shop):
        loaded = load_orders(lines)
        summary = summarize(loaded, time_unit="week")
        model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
        spend = None
        if name == "full":
            repeat = summary["frequency"] > 0
            spend = GammaGammaModel().fit(summary.loc[repeat, "frequency"], summary.loc[repeat, "monetary_value"])
        scores = score_customers(summary, model, spend, horizon=52, time_unit="week", intervals=None)
        out[name] = (loaded, summary, scores)
    return out


# ----- loading and summaries ----------------------------------------------------
def test_a_log_frame_loads_and_summarises_without_value_columns():
    lines = pd.DataFrame({"customer_id": ["a", "a", "b", "a"],
                          "order_ts": ["2021-01-01", "2021-02-01", "2021-01-05", "2021-03-01"]})
    loaded = load_orders(lines)
    assert loaded.report.has_amounts is False and loaded.report.accepted_purchase_lines == 4
    summary = summarize(loaded, time_unit="day")
    assert list(summary.columns) == PURCHASE_COLUMNS
    assert summary.has_amounts is False
    a, b = summary.set_index("customer_id").loc[["a", "b"]].itertuples(index=False)
    assert (a.frequency, a.recency, a.T, a.n_orders) == (2, 59.0, 59.0, 3)
    assert (b.frequency, b.recency, b.T, b.n_orders) == (0, 0.0, 55.0, 1)


def test_a_csv_without_amount_column_loads_as_a_log(tmp_path, shop):
    lines, log_lines = shop
    path = tmp_path / "log.csv"
    log_lines.to_csv(path, index=False)
    loaded = load_orders(str(path))
    assert loaded.report.has_amounts is False and loaded.report.input_rows == len(lines)
    log_summary = summarize(loaded, time_unit="week")
    full_summary = summarize(lines, time_unit="week")
    assert not set(VALUE_COLUMNS) & set(log_summary.columns)
    assert full_summary.has_amounts is True and log_summary.has_amounts is False
    purchases = ["frequency", "recency", "T"]  # n_orders differs: the full lines have order ids
    by_id = [frame.set_index(frame["customer_id"].astype(str))[purchases].sort_index()
             for frame in (log_summary, full_summary)]
    pd.testing.assert_frame_equal(*by_id)


def test_every_form_of_a_log_is_recognised(shop):
    """A load result, its orders table (amounts null: found from the data) and a frame without amount."""
    _, log_lines = shop
    loaded = load_orders(log_lines)
    forms = {"load result": loaded, "orders table": loaded.orders, "frame": log_lines,
             "ibis table": ibis.memtable(log_lines), "arrow table": pa.Table.from_pandas(log_lines),
             "polars frame": pl.from_pandas(log_lines)}
    summaries = {name: summarize(form, time_unit="week") for name, form in forms.items()}
    reference = summaries["load result"]
    for name, summary in summaries.items():
        assert summary.has_amounts is False, name
        assert list(summary.columns) == PURCHASE_COLUMNS, name
        pd.testing.assert_frame_equal(summary.drop(columns="customer_id"), reference.drop(columns="customer_id"),
                                      check_dtype=False, obj=name)


@pytest.mark.parametrize("form", ["frame", "ibis table", "arrow table", "polars frame"])
def test_every_form_of_a_history_with_amounts_keeps_its_values(shop, form):
    lines, _ = shop
    table = {"frame": lines, "ibis table": ibis.memtable(lines), "arrow table": pa.Table.from_pandas(lines),
             "polars frame": pl.from_pandas(lines)}[form]
    summary = summarize(table, time_unit="week")
    assert summary.has_amounts is True and set(VALUE_COLUMNS) - {"margin"} <= set(summary.columns)
    assert summary["revenue"].sum() == pytest.approx(lines["amount"].sum())


def test_calibration_holdout_of_a_log_counts_purchases_only(shop):
    lines, log_lines = shop
    options = {"calibration_end": "2024-06-30", "time_unit": "week"}
    log_split = calibration_holdout(load_orders(log_lines), **options)
    full_split = calibration_holdout(lines, **options)
    assert log_split.has_amounts is False and full_split.has_amounts is True
    assert not set(VALUE_COLUMNS + HOLDOUT_VALUE_COLUMNS) & set(log_split.columns)
    shared = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]
    pd.testing.assert_frame_equal(log_split[shared], full_split[shared])
    assert log_split.new_customers_in_holdout == full_split.new_customers_in_holdout


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 90), st.floats(0, 300, allow_nan=False)),
                min_size=1, max_size=40))
def test_log_summary_equals_the_purchase_columns_of_the_summary_with_amounts(rows):
    """Amounts never change when or how often a customer bought (non-negative amounts: no refunds)."""
    lines = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    lines["order_ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(lines["day"], unit="D")
    with_amounts = summarize(lines[["customer_id", "order_ts", "amount"]], time_unit="week")
    log = summarize(lines[["customer_id", "order_ts"]], time_unit="week")
    assert list(log.columns) == PURCHASE_COLUMNS and log.has_amounts is False
    pd.testing.assert_frame_equal(log.table, with_amounts[PURCHASE_COLUMNS])


def test_cdnow_as_a_log_has_the_summary_of_cdnow_with_amounts(cdnow_summaries, cdnow_summary_reference):
    log, full = cdnow_summaries
    assert len(log) == len(full) == 2357
    pd.testing.assert_frame_equal(log.table, full[PURCHASE_COLUMNS])
    published = cdnow_summary_reference.set_index("ID").sort_index()
    mine = log.set_index(log["customer_id"].astype(int)).sort_index()
    assert (mine.index == published.index).all()
    assert (mine["frequency"] == published["frequency"]).all()
    np.testing.assert_allclose(mine[["recency", "T"]].round(2), published[["recency", "T"]], atol=1e-9)


# ----- models and scores --------------------------------------------------------
@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_purchase_models_fit_a_log_as_they_fit_the_history_with_amounts(cdnow_summaries, model_class):
    log, full = cdnow_summaries
    on_log = model_class().fit(log["frequency"], log["recency"], log["T"])
    on_full = model_class().fit(full["frequency"], full["recency"], full["T"])
    assert on_log.params_ == pytest.approx(on_full.params_, rel=1e-12)
    if model_class is BetaGeoModel:
        assert on_log.params_ == pytest.approx(BGNBD_CDNOW_PUBLISHED, rel=2e-3)


def test_scores_of_a_log_have_p_alive_and_purchases_and_no_value(shop_scored):
    _, log_summary, log_scores = shop_scored["log"]
    _, _, full_scores = shop_scored["full"]
    assert list(log_scores.columns) == ["customer_id", "p_alive", "expected_purchases"]
    assert log_scores.has_amounts is False and full_scores.has_amounts is True
    np.testing.assert_allclose(log_scores["p_alive"], full_scores["p_alive"], rtol=1e-9)
    np.testing.assert_allclose(log_scores["expected_purchases"], full_scores["expected_purchases"], rtol=1e-9)
    assert log_scores["expected_purchases"].gt(0).all() and log_scores["p_alive"].between(0, 1).all()


def test_spend_model_and_gamma_gamma_are_refused_on_a_log(shop_scored):
    _, log_summary, _ = shop_scored["log"]
    _, full_summary, _ = shop_scored["full"]
    model = BetaGeoModel().fit(log_summary["frequency"], log_summary["recency"], log_summary["T"])
    repeat = full_summary["frequency"] > 0
    spend = GammaGammaModel().fit(full_summary.loc[repeat, "frequency"], full_summary.loc[repeat, "monetary_value"])
    with pytest.raises(DataError, match=NO_AMOUNTS) as refused:
        score_customers(log_summary, model, spend, horizon=52, time_unit="week", intervals=None)
    assert "GammaGammaModel" in str(refused.value)
    with pytest.raises(DataError, match=NO_AMOUNTS):
        require_amounts(log_summary, "Gamma-Gamma")
    require_amounts(full_summary, "Gamma-Gamma")  # a history with amounts passes


def test_the_classic_formula_refuses_a_log_in_every_form(shop):
    lines, log_lines = shop
    loaded = load_orders(log_lines)
    for orders in (loaded, loaded.orders):  # declared a log; a table whose amounts are all null
        with pytest.raises(DataError, match=NO_AMOUNTS) as refused:
            classic_clv(orders, margin=0.3)
        assert "the classic formula CLV" in str(refused.value)
        with pytest.raises(DataError, match=NO_AMOUNTS):
            classic_clv(orders)  # no margin given: the amounts are what is missing first
        with pytest.raises(DataError, match=NO_AMOUNTS):
            drivers_over_time(orders, margin=0.3)
    with pytest.raises(DataError, match="column 'amount'"):  # a frame without amount: the column is named
        classic_clv(log_lines, margin=0.3)
    assert classic_clv(lines, margin=0.3).clv > 0  # the same lines with amounts are valued


def test_purchase_only_cohort_retention_still_reads_a_log(shop):
    """The refusal is the formula's own: retention counts purchases and needs no amounts."""
    lines, log_lines = shop
    pd.testing.assert_frame_equal(retention_matrix(load_orders(log_lines)), retention_matrix(load_orders(lines)))


# ----- backtest -----------------------------------------------------------------
def test_backtest_of_a_log_compares_purchases_and_skips_value(shop):
    lines, log_lines = shop
    options = {"calibration_end": "2024-10-19", "models": ("bgnbd", "pareto"), "intervals": (0.8,), "n_draws": 50}
    log_result = backtest(load_orders(log_lines), **options)
    full_result = backtest(lines, **options)
    metrics = log_result.metrics.set_index("predictor")
    assert not [c for c in metrics.columns if c.startswith("value_")]
    assert list(metrics.index) == ["bgnbd", "pareto", "classic", "naive", "rfm"]
    full = full_result.metrics.set_index("predictor")
    for name in ("bgnbd", "pareto", "classic", "naive"):  # purchases do not depend on amounts
        assert metrics.loc[name, "purchases_rmse"] == pytest.approx(full.loc[name, "purchases_rmse"], rel=1e-9)
    assert metrics["purchases_rmse"].notna().all()
    assert log_result.settings["has_amounts"] is False
    assert log_result.settings["value_metrics"].startswith("not available: this history has no amounts")
    assert log_result.settings["spend_model"] is None and "gammagamma" not in log_result.models
    assert any("value metrics are not available" in w and "Gamma-Gamma" in w for w in log_result.warnings)
    best = metrics["purchases_rmse"].idxmin()
    assert log_result.best == best and "holdout purchases" in log_result.best_reason
    assert set(log_result.deciles["quantity"]) == {"purchases"}
    assert not [c for c in log_result.predictions.columns if c.endswith("_value")]
    json.dumps(log_result.to_dict())  # the result is JSON-ready


# ----- segments -----------------------------------------------------------------
def test_segments_of_a_log_rank_by_purchases_and_state_what_is_missing(shop_scored):
    loaded, summary, scores = shop_scored["log"]
    _, full_summary, full_scores = shop_scored["full"]
    frame = assign_segments(summary, scores, loaded)
    full_frame = assign_segments(full_summary, full_scores, shop_scored["full"][0])
    assert not {"clv", "expected_spend", "revenue", "monetary_value", "aov", "m_score"} & set(frame.columns)
    assert frame.value_measure == "expected_purchases" and full_frame.value_measure == "clv"
    assert not frame.has_amounts and full_frame.has_amounts and not full_frame.not_available
    assert set(frame.not_available) >= {"m_score", "spend_ratio"}
    for column in ("r_score", "f_score"):  # R and F do not depend on amounts
        assert (frame[column].to_numpy() == full_frame[column].to_numpy()).all()
    assert (frame["fm_score"] == frame["f_score"]).all()
    top = frame[frame["value_tier_rank"] == 1]
    assert top["expected_purchases"].min() >= frame.loc[frame["value_tier_rank"] > 1, "expected_purchases"].max()
    assert "cross_sell" not in set(frame["action"])
    assert frame["spend_ratio"].isna().all()


def test_a_segment_of_a_log_is_exported_by_expected_purchases(shop_scored, tmp_path):
    loaded, summary, scores = shop_scored["log"]
    frame = assign_segments(summary, scores, loaded)
    written = export_segment(frame, "top 20%", tmp_path / "top.csv")
    read = pd.read_csv(tmp_path / "top.csv")
    assert len(read) == len(written) == int((frame["value_tier"] == "top 20%").sum()) > 0
    assert read["expected_purchases"].is_monotonic_decreasing and "clv" not in read.columns


def test_playbook_of_a_log_counts_purchases(shop_scored):
    loaded, summary, scores = shop_scored["log"]
    frame = assign_segments(summary, scores, loaded)
    result = playbook(frame)
    plays = result.set_index("action")
    assert not {"value_at_stake", "revenue_to_date", "expected_value_saved"} & set(plays.columns)
    assert plays["customers"].sum() == len(frame)
    assert plays["purchases_at_stake"].sum() == pytest.approx(scores["expected_purchases"].sum())
    assert plays["purchases_to_date"].sum() == summary["n_orders"].sum()
    assert plays.loc["cross_sell", "customers"] == 0 and "cross_sell" in result.skipped_rules and result.measure == "purchases"
    assert "purchases" in plays.loc["win_back", "assumption"]


def test_early_warning_on_a_log_watches_the_order_rate(shop):
    lines, log_lines = shop
    log_table = early_warning(load_orders(log_lines)).set_index("customer_id")
    full_table = early_warning(lines).set_index("customer_id")
    spend = ["spend_before", "spend_recent", "expected_recent_spend", "spend_ratio"]
    assert log_table[spend].isna().all().all()
    assert full_table["spend_before"].notna().all()
    pd.testing.assert_series_equal(log_table["order_rate_ratio"], full_table["order_rate_ratio"])
    rate_dropped = log_table["warning_eligible"] & (log_table["order_rate_ratio"] <= 0.6)
    assert (log_table["early_warning"] == rate_dropped).all() and log_table["early_warning"].any()


# ----- command line -------------------------------------------------------------
@pytest.fixture(scope="module")
def log_csv(tmp_path_factory, shop):
    path = tmp_path_factory.mktemp("purchase_log") / "log.csv"
    shop[1].to_csv(path, index=False)
    return path


def test_cli_summarize_a_log(log_csv):
    result = runner.invoke(app, ["summarize", str(log_csv), "--time-unit", "week", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = pd.DataFrame(json.loads(result.stdout))
    assert list(rows.columns) == PURCHASE_COLUMNS and len(rows) == 800


def test_cli_backtest_a_log(log_csv):
    result = runner.invoke(app, ["backtest", str(log_csv), "--calibration-end", "2024-10-19", "--models", "bgnbd",
                                 "--intervals", "none"])
    assert result.exit_code == 0, result.output
    assert "purchases RMSE" in result.stdout and "value RMSE" not in result.stdout
    assert "this history has no amounts" in result.stdout and "--col amount=COLUMN" in result.stdout


def test_cli_kpis_refuses_a_log_in_cli_words(log_csv):
    result = runner.invoke(app, ["kpis", str(log_csv), "--margin", "0.3"])
    assert result.exit_code == 2
    assert "this history has no amounts" in result.output and "--col amount=COLUMN" in result.output
    assert "Traceback" not in result.output


def test_cli_segments_a_log(log_csv, tmp_path):
    result = runner.invoke(app, ["segments", str(log_csv), "--format", "json"])
    assert result.exit_code == 0, result.output
    plays = json.loads(result.stdout)
    assert sum(row["customers"] for row in plays) == 800
    assert "purchases_at_stake" in plays[0] and "value_at_stake" not in plays[0]
    table = runner.invoke(app, ["segments", str(log_csv)])
    assert table.exit_code == 0, table.output
    assert "expected purchases" in table.output and "no amounts" in table.output
    out = tmp_path / "win_back.csv"
    exported = runner.invoke(app, ["segments", str(log_csv), "--export", "win_back", "--output", str(out)])
    assert exported.exit_code == 0, exported.output
    members = pd.read_csv(out)
    assert members["expected_purchases"].is_monotonic_decreasing


def test_cli_fit_gammagamma_on_a_log_names_the_fit_flag(log_csv):
    result = runner.invoke(app, ["fit", str(log_csv), "--model", "gammagamma", "--from-orders"])
    assert result.exit_code == 2
    assert "this history has no amounts" in result.output and "--amount-col COLUMN" in result.output
    assert "Traceback" not in result.output
