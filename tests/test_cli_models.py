"""`clv fit` and `clv score` through Typer's CliRunner: exit codes, JSON keys, files written."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.cli.main import app

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow_customers_summary.csv"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def summary_with_money(workdir):
    frame = pd.read_csv(CDNOW).rename(columns={"ID": "cust"})
    rng = np.random.default_rng(0)
    x = frame["frequency"].to_numpy()
    frame["spend"] = np.where(x > 0, np.round(rng.gamma(4.0, 8.0, len(x)), 2), np.nan)
    path = workdir / "summary.parquet"
    frame.to_parquet(path)
    return path


def test_fit_json_reports_published_bgnbd_estimates():
    result = run("fit", CDNOW, "--model", "bgnbd", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"model", "params", "log_likelihood", "n", "standard_errors", "confidence_intervals_95", "aic", "bic"} <= set(report)
    assert report["model"] == "bgnbd" and report["n"] == 2357
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    assert report["params"]["r"] == pytest.approx(0.243, abs=5e-4)
    assert report["params"]["alpha"] == pytest.approx(4.414, abs=5e-3)
    assert report["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    low, high = report["confidence_intervals_95"]["b"]
    assert low < report["params"]["b"] < high


def test_fit_table_is_the_default():
    result = run("fit", CDNOW, "--model", "bgnbd")
    assert result.exit_code == 0
    assert "log-likelihood -9582.43" in result.stdout and "alpha" in result.stdout


def test_missing_column_exits_2_and_lists_columns():
    result = run("fit", CDNOW, "--model", "pareto", "--recency-col", "last_buy")
    assert result.exit_code == 2
    assert "last_buy" in result.output and "Columns found: ID, frequency, recency, T" in result.output
    assert "Traceback" not in result.output


def test_bad_values_and_files_exit_2(workdir):
    bad = workdir / "bad.csv"
    pd.DataFrame({"frequency": [1, 2], "recency": [5.0, 1.0], "T": [3.0, 4.0]}).to_csv(bad, index=False)
    result = run("fit", bad, "--model", "bgnbd")
    assert result.exit_code == 2 and "recency must not exceed T" in result.output
    assert run("fit", workdir / "absent.csv", "--model", "bgnbd").exit_code == 2
    text = workdir / "summary.xlsx"
    text.write_text("x")
    assert run("fit", text, "--model", "bgnbd").exit_code == 2


def test_fit_save_then_score_writes_parquet_and_csv(workdir, summary_with_money):
    bg, gg = workdir / "bg.json", workdir / "gg.json"
    assert run("fit", summary_with_money, "-m", "bgnbd", "--save", bg, "--time-unit", "week").exit_code == 0
    result = run("fit", summary_with_money, "-m", "gammagamma", "--monetary-col", "spend", "--save", gg, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "gammagamma"
    out = workdir / "scores.parquet"
    result = run("score", summary_with_money, "--model", bg, "--spend-model", gg, "--horizon", 52, "--discount-rate", 0.1,
                 "--margin", 0.3, "--intervals", "0.8,0.95", "--monetary-col", "spend", "--id-col", "cust",
                 "--draws", 50, "--output", out)
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    assert len(scores) == 2357 and scores["customer_id"].iloc[0] == 1
    for column in ("p_alive", "expected_purchases", "expected_spend", "clv", "purchases_q0.025", "clv_q0.975"):
        assert column in scores.columns
    assert np.all(np.isfinite(scores["clv"]))
    csv = workdir / "scores.csv"
    result = run("score", summary_with_money, "-m", bg, "--horizon", 52, "--intervals", "none", "--id-col", "cust", "-o", csv)
    assert result.exit_code == 0, result.output  # no monetary_value column: purchases only
    assert list(pd.read_csv(csv).columns) == ["customer_id", "p_alive", "expected_purchases"]
    result = run("score", summary_with_money, "-m", bg, "--horizon", 52, "--monetary-col", "no_such_column")
    assert result.exit_code == 2 and "no_such_column" in result.output


def test_score_needs_a_time_unit_and_a_transaction_model(workdir):
    bg = workdir / "bg_no_unit.json"
    assert run("fit", CDNOW, "-m", "bgnbd", "--save", bg).exit_code == 0
    result = run("score", CDNOW, "-m", bg, "--horizon", 10)
    assert result.exit_code == 2 and "--time-unit" in result.output
    assert run("score", CDNOW, "-m", bg, "--horizon", 10, "--time-unit", "week", "--intervals", "none").exit_code == 0
    result = run("score", CDNOW, "-m", bg, "--horizon", 10, "--time-unit", "week", "--intervals", "1.5")
    assert result.exit_code == 2 and "between 0 and 1" in result.output
    not_json = workdir / "model.json"
    not_json.write_text("not json")
    assert run("score", CDNOW, "-m", not_json, "--horizon", 10, "--time-unit", "week").exit_code == 2


def test_fit_bgbb_with_weights_and_sbg(workdir):
    result = run("fit", DATA / "donations.csv", "-m", "bgbb", "--n-periods-col", "periods", "--weights-col", "weights", "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 11104
    assert report["params"]["alpha"] == pytest.approx(1.204, rel=0.01)  # Fader, Hardie & Shang 2010
    subscriptions = workdir / "subs.csv"
    pd.DataFrame({"tenure": [1, 2, 3, 4, 5, 5, 5, 2, 1, 3], "churned": [1, 1, 1, 1, 0, 0, 0, 1, 1, 0]}).to_csv(subscriptions, index=False)
    result = run("fit", subscriptions, "-m", "sbg", "-f", "json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["params"]) == {"alpha", "beta"}


ORDERS_OPTIONS = ("--from-orders", "--names", "master_id,customer_id,date,cds,amount", "--delimiter", "whitespace",
                  "--date-col", "date", "--date-format", "%Y%m%d", "--amount-col", "amount",
                  "--observation-end", "1997-09-30")


def test_fit_and_score_straight_from_order_lines(workdir):
    model = workdir / "bg_orders.json"
    result = run("fit", DATA / "CDNOW_sample.txt", *ORDERS_OPTIONS, "--time-unit", "week", "-m", "bgnbd", "--save", model, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)  # same as the published summary
    out = workdir / "from_orders.csv"
    result = run("score", DATA / "CDNOW_sample.txt", *ORDERS_OPTIONS, "-m", model, "--horizon", 39, "--intervals", "0.9", "-o", out)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert len(scores) == 2357 and {"clv", "purchases_q0.05", "clv_q0.95"} <= set(scores.columns)
    result = run("fit", DATA / "CDNOW_sample.txt", "--from-orders", "--names", "a,b,c,d,e", "--delimiter", "whitespace",
                 "--date-col", "c", "--amount-col", "e", "-m", "bgnbd")
    assert result.exit_code == 2 and "Columns found: a, b, c, d, e" in result.output


def test_score_refuses_non_transaction_models_and_unknown_methods(workdir):
    subscriptions = workdir / "subs2.csv"
    pd.DataFrame({"tenure": [1, 2, 3, 4, 5, 5], "churned": [1, 1, 1, 0, 0, 0]}).to_csv(subscriptions, index=False)
    sbg = workdir / "sbg.json"
    assert run("fit", subscriptions, "-m", "sbg", "--save", sbg).exit_code == 0
    result = run("score", CDNOW, "-m", sbg, "--horizon", 10, "--time-unit", "week")
    assert result.exit_code == 2 and "transaction model" in result.output
    bg = workdir / "bg_methods.json"
    assert run("fit", CDNOW, "-m", "bgnbd", "--save", bg, "--time-unit", "week").exit_code == 0
    result = run("score", CDNOW, "-m", bg, "--horizon", 10, "--interval-method", "magic")
    assert result.exit_code == 2 and "--interval-method" in result.output
    result = run("score", CDNOW, "-m", bg, "--horizon", 10, "--interval-method", "simulate", "--draws", 20, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["purchases_q0.975"] >= 0


# ----- sBG subscription scoring -------------------------------------------------------
@pytest.fixture(scope="module")
def subscribers(workdir):
    """Simulated monthly subscribers: theta ~ Beta(0.7, 1.2), observed 1-30 months, a fee per month."""
    rng = np.random.default_rng(1)
    n = 3000
    cancel = rng.geometric(rng.beta(0.7, 1.2, n))
    observed = rng.integers(1, 31, n)
    gone = (cancel <= observed).astype(int)
    frame = pd.DataFrame({"sub": np.arange(n), "months": np.where(gone == 1, cancel, observed), "gone": gone,
                          "fee": np.round(rng.gamma(5.0, 4.0, n), 2)})
    path = workdir / "subscribers.csv"
    frame.to_csv(path, index=False)
    model = workdir / "sbg_monthly.json"
    result = run("fit", path, "-m", "sbg", "--tenure-col", "months", "--churned-col", "gone", "--time-unit", "month", "--save", model)
    assert result.exit_code == 0, result.output
    return path, model, frame


SBG_COLUMNS = ("--tenure-col", "months", "--churned-col", "gone", "--id-col", "sub")


def test_score_sbg_round_trip_matches_the_library(workdir, subscribers):
    from clv.models.sbg import ShiftedBetaGeometricModel
    from clv.scores.subscriptions import score_subscribers

    path, model_path, frame = subscribers
    out = workdir / "sbg_scores.parquet"
    result = run("score", path, "-m", model_path, "--horizon", 12, "--discount-rate", 0.1, "--value-col", "fee",
                 "--margin", 0.5, *SBG_COLUMNS, "-o", out)
    assert result.exit_code == 0, result.output
    assert "0.1 a year is 0.007974 per month" in result.output.replace("\n", " ")
    scores = pd.read_parquet(out)
    assert list(scores.columns[:6]) == ["customer_id", "active", "p_renew_next", "expected_renewals", "derl", "residual_value"]
    assert {"renewals_q0.025", "renewals_q0.975", "residual_value_q0.1"} <= set(scores.columns)
    assert scores["customer_id"].tolist() == frame["sub"].tolist()
    model = ShiftedBetaGeometricModel.from_json(model_path)
    expected = score_subscribers(frame.assign(fee=frame["fee"] * 0.5), model, horizon=12, discount_rate=0.1,
                                 time_unit="month", value_per_period="fee", tenure_col="months", churned_col="gone", id_col="sub")
    np.testing.assert_allclose(scores["residual_value"], expected["residual_value"])
    np.testing.assert_array_equal(scores["renewals_q0.9"], expected["renewals_q0.9"])
    assert (scores.loc[frame["gone"] == 1, "derl"] == 0).all()


def test_score_sbg_whole_lifetime_json_with_one_value(subscribers):
    path, model_path, frame = subscribers
    result = run("score", path, "-m", model_path, "--horizon", "inf", "--discount-rate", 0.01, "--value-per-period", 20,
                 "--intervals", "0.9", *SBG_COLUMNS, "-f", "json")
    assert result.exit_code == 0, result.output
    rows = pd.DataFrame(json.loads(result.stdout))
    active = rows[rows["active"]]
    np.testing.assert_allclose(active["residual_value"], 20 * active["derl"])
    assert (active["renewals_q0.05"] <= active["renewals_q0.95"]).all()
    assert "renewals_q0.1" not in rows.columns


def test_score_sbg_errors_name_the_option(subscribers):
    path, model_path, _ = subscribers
    base = ("score", path, "-m", model_path)
    cases = [
        ((*base, "--horizon", 12, "--discount-rate", 0.01), "--tenure-col"),
        ((*base, "--horizon", 12, "--discount-rate", -0.1, *SBG_COLUMNS), "--discount-rate"),
        ((*base, "--horizon", 2.5, "--discount-rate", 0.01, *SBG_COLUMNS), "whole number"),
        ((*base, "--horizon", 12, "--discount-rate", 0.01, *SBG_COLUMNS, "--value-col", "fees"), "'fees'"),
        ((*base, "--horizon", 12, "--discount-rate", 0.01, *SBG_COLUMNS, "--value-col", "fee", "--value-per-period", 3), "not both"),
        ((*base, "--horizon", 12, "--discount-rate", 0.01, *SBG_COLUMNS, "--interval-method", "simulate"), "--interval-method"),
        ((*base, "--horizon", 12, "--discount-rate", 0.01, *SBG_COLUMNS, "--time-unit", "year"), "month"),
        ((*base, "--horizon", 12, "--discount-rate", 0.01, "--tenure-col", "months", "--churned-col", "sub"), "'sub'.*churned"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert re.search(message, result.output.replace("\n", " ")), (message, result.output)


def test_score_purchase_model_over_the_whole_lifetime(workdir, summary_with_money):
    bg, gg = workdir / "bg-life.json", workdir / "gg-life.json"
    assert run("fit", summary_with_money, "-m", "bgnbd", "--save", bg, "--time-unit", "week").exit_code == 0
    assert run("fit", summary_with_money, "-m", "gammagamma", "--monetary-col", "spend", "--save", gg).exit_code == 0
    out = workdir / "lifetime.csv"
    common = ("score", summary_with_money, "--model", bg, "--spend-model", gg, "--horizon", "inf", "--monetary-col", "spend",
              "--id-col", "cust")
    result = run(*common, "--intervals", "none", "--output", out)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["customer_id", "p_alive", "discounted_purchases", "expected_spend", "clv"]
    assert len(scores) == 2357 and np.all(np.isfinite(scores["clv"])) and (scores["clv"] >= 0).all()
    one_year = workdir / "one-year.csv"
    assert run(*common[:6], "--horizon", 52, *common[8:], "--intervals", "none", "--output", one_year).exit_code == 0
    assert (scores["clv"] >= pd.read_csv(one_year)["clv"] - 1e-9).all()  # a lifetime is worth at least its first year
    refused = run(*common)  # the default intervals
    assert refused.exit_code == 2 and "--intervals none" in refused.output


def test_a_fit_report_written_with_output_scores_like_a_saved_model(tmp_path):
    from typer.testing import CliRunner

    from clv.cli.main import app

    summary = Path(__file__).parent / "data" / "cdnow_customers_summary.csv"
    runner = CliRunner()
    saved, report = tmp_path / "saved.json", tmp_path / "report.json"
    assert runner.invoke(app, ["fit", str(summary), "--model", "bgnbd", "--time-unit", "week", "--save", str(saved),
                               "--output", str(report)]).exit_code == 0
    scores = []
    for model in (saved, report):
        out = tmp_path / f"scores-{model.stem}.csv"
        result = runner.invoke(app, ["score", str(summary), "--model", str(model), "--horizon", "39",
                                     "--intervals", "none", "--output", str(out)])
        assert result.exit_code == 0, result.output
        scores.append(pd.read_csv(out))
    pd.testing.assert_frame_equal(scores[0], scores[1])
