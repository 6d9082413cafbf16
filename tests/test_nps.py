"""NPS: hand cases, answers set aside with reasons, over time, latest answer, join with scores, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clv.cli.main import app
from clv.errors import DataError
from clv.feedback import (
    REJECT_REASONS, SurveyColumns, latest_answers, nps_by_value, nps_over_time, nps_summary, read_survey,
)

SAMPLE = Path(__file__).parent / "data" / "nps_sample.csv"
runner = CliRunner()


def _survey(scores, dates=None, customers=None) -> pd.DataFrame:
    n = len(scores)
    return pd.DataFrame({
        "customer_id": customers or [f"c{i}" for i in range(n)],
        "date": dates or ["2024-03-01"] * n,
        "score": scores,
    })


@pytest.fixture
def scores() -> pd.DataFrame:
    ids = [str(i) for i in range(101, 111)] + ["999"]
    n = np.array([*range(1, 11), 100])
    return pd.DataFrame({"customer_id": ids, "clv": n.astype(float), "p_alive": np.r_[n[:10] / 10, 0.5],
                         "expected_purchases": 1.0})


def test_five_promoters_three_passives_two_detractors_is_30():
    summary = nps_summary(read_survey(_survey([9, 10, 9, 10, 9, 7, 8, 7, 0, 6])))
    assert (summary["promoters"], summary["passives"], summary["detractors"]) == (5, 3, 2)
    assert summary["nps"] == pytest.approx(30.0)
    assert summary["pct_promoters"] == pytest.approx(50.0)


@pytest.mark.parametrize(("scores", "nps"), [
    ([10, 10], 100.0), ([0, 6], -100.0), ([7, 8], 0.0), ([9, 6, 7], 0.0), ([6, 9, 9, 9], 50.0),
])
def test_group_boundaries(scores, nps):
    assert nps_summary(read_survey(_survey(scores)))["nps"] == pytest.approx(nps)


def test_invalid_answers_are_set_aside_with_row_and_reason():
    checked = read_survey(str(SAMPLE))
    counts = checked.counts()
    assert counts["input_rows"] == 23
    assert counts["valid_answers"] == 16
    assert counts["rejected"] == {
        "missing_customer_id": 1, "unparsable_date": 1, "missing_score": 1, "unparsable_score": 1,
        "score_out_of_range": 2, "score_not_integer": 1,
    }
    rejects = checked.rejects.order_by("source_row").execute()
    assert list(rejects.source_row) == [12, 13, 14, 15, 16, 17, 18]  # physical lines, header = 1
    assert list(rejects.reason) == ["missing_customer_id", "unparsable_date", "score_out_of_range",
                                    "score_out_of_range", "score_not_integer", "unparsable_score", "missing_score"]
    assert list(rejects.score[2:6]) == ["11", "-1", "7.5", "ten"]  # original text kept


def test_typed_frame_nan_and_fractional_scores():
    frame = pd.DataFrame({"who": [1, 2, 3, 4], "when": pd.to_datetime(["2024-01-01"] * 3 + [None]),
                          "nps": [9.0, np.nan, 8.5, 4.0]})
    checked = read_survey(frame, SurveyColumns(customer_id="who", date="when", score="nps"))
    rejects = checked.rejects.order_by("source_row").execute()
    assert list(zip(rejects.source_row, rejects.reason)) == [
        (2, "missing_score"), (3, "score_not_integer"), (4, "unparsable_date")]
    answers = checked.answers.execute()
    assert list(answers.customer_id) == ["1"] and list(answers.score) == [9]


def test_missing_column_names_the_columns_found():
    with pytest.raises(DataError, match="did you mean 'score'"):
        read_survey(_survey([9]), SurveyColumns(score="scor"))


def test_nps_over_time_by_month_and_quarter():
    checked = read_survey(str(SAMPLE))
    monthly = nps_over_time(checked, "month")
    assert [str(p) for p in monthly.period] == ["2024-01-01", "2024-02-01"]
    assert monthly[["promoters", "passives", "detractors"]].values.tolist() == [[5, 3, 2], [2, 1, 3]]
    assert monthly.nps.tolist() == pytest.approx([30.0, 100 * (2 - 3) / 6])
    quarterly = nps_over_time(checked, "quarter")
    assert len(quarterly) == 1 and quarterly.answers.iloc[0] == 16
    assert quarterly.nps.iloc[0] == pytest.approx(nps_summary(checked)["nps"]) == pytest.approx(12.5)
    with pytest.raises(DataError, match="time_unit"):
        nps_over_time(checked, "fortnight")


def test_latest_answer_per_customer():
    checked = read_survey(str(SAMPLE))
    latest = latest_answers(checked).execute().set_index("customer_id")
    assert len(latest) == 15
    assert latest.loc["101", "score"] == 3  # the February answer replaces January's 9
    same_day = read_survey(_survey([9, 2], customers=["a", "a"]))
    assert latest_answers(same_day).execute().score.tolist() == [2]  # same date: the later row


def test_value_and_churn_risk_by_nps_group(scores):
    result = nps_by_value(read_survey(str(SAMPLE)), scores)
    table = result.set_index("nps_group")
    assert list(table.index) == ["promoter", "passive", "detractor", "all"]
    assert table.customers.tolist() == [6, 4, 5, 15]
    assert table.with_scores.tolist() == [4, 3, 3, 10]
    assert table.without_scores.tolist() == [2, 1, 2, 5]  # 117-121 answered but are not scored
    assert table.loc["promoter", "mean_clv"] == pytest.approx(3.5)  # 102-105
    assert table.loc["detractor", "mean_clv"] == pytest.approx((1 + 9 + 10) / 3)  # 101 (latest), 109, 110
    assert table.loc["passive", "total_clv"] == pytest.approx(6 + 7 + 8)
    assert table.loc["all", "mean_p_alive"] == pytest.approx(0.55)
    assert table.share.tolist() == pytest.approx([6 / 15, 4 / 15, 5 / 15, 1.0])
    assert result.scored_without_answer == 1 and result.customers_answered == 15


def test_scores_need_clv_and_p_alive(scores):
    with pytest.raises(DataError, match="p_alive"):
        nps_by_value(read_survey(str(SAMPLE)), scores.drop(columns="p_alive"))


@settings(max_examples=12, deadline=None)
@given(st.lists(st.one_of(st.integers(-3, 13), st.sampled_from(["", "x", "7.5", "9.0"])), min_size=1, max_size=30))
def test_every_line_is_an_answer_or_a_reject(values):
    checked = read_survey(_survey([str(v) for v in values]))
    counts = checked.counts()
    assert counts["input_rows"] == len(values)
    valid = [int(float(v)) for v in map(str, values) if v not in ("", "x", "7.5") and 0 <= float(v) <= 10]
    assert counts["valid_answers"] == len(valid)
    summary = nps_summary(checked)
    if valid:
        expected = 100 * (sum(v >= 9 for v in valid) - sum(v <= 6 for v in valid)) / len(valid)
        assert summary["nps"] == pytest.approx(expected)
    else:
        assert np.isnan(summary["nps"])
    assert set(counts["rejected"]) == set(REJECT_REASONS)


def test_cli_nps_json_with_scores(scores, tmp_path):
    scores_csv = tmp_path / "scores.csv"
    scores.to_csv(scores_csv, index=False)
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["nps", str(SAMPLE), "--scores", str(scores_csv), "--time-unit", "month",
                                 "--rejects", str(rejects), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["overall"]["nps"] == pytest.approx(12.5)
    assert [row["nps"] for row in payload["over_time"]][0] == pytest.approx(30.0)
    assert payload["by_group"][0]["nps_group"] == "promoter" and payload["by_group"][0]["without_scores"] == 2
    assert payload["counts"]["rejected"]["score_out_of_range"] == 2
    assert len(pd.read_csv(rejects)) == 7


def test_cli_nps_table_and_errors(tmp_path):
    result = runner.invoke(app, ["nps", str(SAMPLE), "--time-unit", "quarter"])
    assert result.exit_code == 0, result.output
    assert "12.5" in result.stdout
    missing = runner.invoke(app, ["nps", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2
    wrong = runner.invoke(app, ["nps", str(SAMPLE), "--col", "score=Score"])
    assert wrong.exit_code == 2 and "Score" in wrong.output


def test_float_customer_ids_in_scores_match_text_ids(scores):
    as_float = scores.assign(customer_id=scores.customer_id.astype(float))
    table = nps_by_value(read_survey(str(SAMPLE)), as_float).set_index("nps_group")
    assert table.loc["all", "with_scores"] == 10
