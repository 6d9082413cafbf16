"""Customer data carries its time unit, dates and split; scorers convert or refuse, never guess."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.models.bgbb import BetaGeoBetaBinomModel
from clv.models.bgnbd import BetaGeoModel
from clv.models.gammagamma import GammaGammaModel
from clv.scores import Scores, score_customers
from clv.summary import CustomerData, as_customer_data, calibration_holdout, summarize
from clv.units import DEFAULT_TIME_UNIT, TIME_UNITS, unit_ratio

END = "1997-09-30"


@pytest.fixture(scope="module")
def weekly(cdnow_lines) -> CustomerData:
    return summarize(cdnow_lines, observation_end=END, time_unit="week")


@pytest.fixture(scope="module")
def fitted(weekly):
    repeat = weekly[weekly["frequency"] > 0]
    return (BetaGeoModel().fit(weekly["frequency"], weekly["recency"], weekly["T"]),
            GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"]))


def test_summary_carries_its_context(weekly):
    assert isinstance(weekly, CustomerData)
    assert weekly.time_unit == "week" and weekly.merged_per == "day" and weekly.has_amounts
    assert weekly.observation_end == dt.date(1997, 9, 30) and not weekly.is_split
    assert len(weekly) == 2357 and list(weekly.columns[:4]) == ["customer_id", "frequency", "recency", "T"]


def test_the_default_unit_is_the_week_everywhere(cdnow_lines):
    assert DEFAULT_TIME_UNIT == "week"
    assert summarize(cdnow_lines, observation_end=END).time_unit == "week"
    assert calibration_holdout(cdnow_lines, calibration_end="1997-06-30", observation_end=END).time_unit == "week"


def test_split_carries_the_calibration_end_and_holdout_length(cdnow_lines):
    split = calibration_holdout(cdnow_lines, calibration_end="1997-06-30", observation_end=END, time_unit="day")
    assert split.is_split and split.calibration_end == dt.date(1997, 6, 30)
    assert split.holdout_length == 92.0 and (split["duration_holdout"] == 92.0).all()
    weeks = split.in_time_unit("week")
    assert weeks.holdout_length == pytest.approx(92 / 7) and weeks["T"].to_numpy() == pytest.approx(split["T"] / 7)


def test_parquet_round_trip_keeps_table_and_context(weekly, tmp_path):
    path = weekly.to_parquet(tmp_path / "summary.parquet")
    back = CustomerData.read_parquet(path)
    pd.testing.assert_frame_equal(back.table, weekly.table, check_dtype=False)  # Parquet keeps dates in ms, not s
    assert back.context() == {**weekly.context(), "load_report": None}


def test_parquet_without_context_needs_a_unit(weekly, tmp_path):
    path = tmp_path / "plain.parquet"
    weekly.table.to_parquet(path)
    with pytest.raises(DataError, match="time_unit is missing"):
        CustomerData.read_parquet(path)
    assert CustomerData.read_parquet(path, time_unit="week").time_unit == "week"


def test_plain_frame_without_unit_is_refused_with_the_fix(weekly, fitted):
    with pytest.raises(DataError, match="time_unit is missing.*pass time_unit="):
        score_customers(weekly.table, *fitted, horizon=52, intervals=None)


def test_weekly_summary_scored_as_days_is_refused_not_silently_wrong(weekly, fitted):
    """The unit mix-up of issue 13: a weekly summary scored with time_unit="day".

    Before, the day was used for discounting only and the total CLV came out 3.8% too high
    (CDNOW sample, 52 weeks: 74,958 instead of 72,217; the issue's own run: 94,214 vs 90,707).
    """
    right = score_customers(weekly, *fitted, horizon=52, intervals=None)
    assert isinstance(right, Scores) and right.time_unit == "week" and right.horizon == 52
    assert right["clv"].sum() == pytest.approx(72_216.84, abs=0.01)
    with pytest.raises(DataError, match="summary is in weeks .* time_unit='day' was given"):
        score_customers(weekly, *fitted, horizon=52, time_unit="day", intervals=None)


def test_data_in_days_with_a_weekly_model_is_converted_exactly(cdnow_lines, weekly, fitted):
    model, spend = fitted
    model = BetaGeoModel.from_dict({**model.to_dict()})
    model.time_unit_ = "week"
    daily = summarize(cdnow_lines, observation_end=END, time_unit="day")
    in_weeks = score_customers(weekly, model, spend, horizon=52, intervals=(0.8,))
    in_days = score_customers(daily, model, spend, horizon=364, intervals=(0.8,))
    assert in_days.model_time_unit == "week" and in_days.time_unit == "day" and in_days.horizon == 364
    for column in ("p_alive", "expected_purchases", "clv", "clv_q0.1", "clv_q0.9"):
        np.testing.assert_allclose(in_days[column], in_weeks[column], rtol=1e-9, err_msg=column)


def test_discrete_time_model_refuses_another_unit():
    data = pd.DataFrame({"frequency": [0, 2, 5], "recency": [0, 3, 6], "n_periods": [6, 6, 6]})
    model = BetaGeoBetaBinomModel().fit(data["frequency"], data["recency"], data["n_periods"])
    model.time_unit_ = "year"
    with pytest.raises(DataError, match="counts whole periods"):
        score_customers(data, model, horizon=5, time_unit="month", intervals=None)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(TIME_UNITS), st.sampled_from(TIME_UNITS),
       st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=20))
def test_unit_conversion_round_trips(source, target, ages):
    table = pd.DataFrame({"frequency": np.ones(len(ages)), "recency": np.asarray(ages) / 2, "T": ages})
    data = CustomerData(table, time_unit=source)
    there = data.in_time_unit(target)
    assert there.time_unit == target
    np.testing.assert_allclose(there["T"], np.asarray(ages) * unit_ratio(source, target))
    np.testing.assert_allclose(there.in_time_unit(source)["T"], ages, rtol=1e-12, atol=1e-12)
    assert data["T"].tolist() == list(ages)  # the original is untouched


def test_as_customer_data_checks_what_it_is_given(weekly):
    assert as_customer_data(weekly) is weekly and as_customer_data(weekly, "week") is weekly
    with pytest.raises(DataError, match="must be clv customer data"):
        as_customer_data([1, 2, 3], "week")
    with pytest.raises(DataError, match="'fortnight' is not a known time unit"):
        as_customer_data(weekly.table, "fortnight")


def test_a_log_cannot_hold_value_columns():
    with pytest.raises(DataError, match="value columns"):
        CustomerData(pd.DataFrame({"frequency": [1], "monetary_value": [3.0]}), has_amounts=False)


def test_scores_carry_their_settings(weekly, fitted):
    scores = score_customers(weekly, *fitted, horizon=26, discount_rate=0.05, margin=0.3, intervals=(0.9,))
    settings = scores.settings()
    assert settings["model"] == "bgnbd" and settings["time_unit"] == "week" and settings["horizon"] == 26
    assert settings["discount_rate"] == 0.05 and settings["margin"] == 0.3 and settings["observation_end"] == END
    assert settings["interval_method"] in ("closed", "factorised", "simulate") and scores.n_draws == 200
    assert scores.table.attrs == {}  # no context hides in DataFrame.attrs


def test_cli_commands_chain_on_a_summary_parquet_without_restating_the_unit(cdnow_lines, tmp_path):
    from typer.testing import CliRunner

    from clv.cli.main import app

    orders = tmp_path / "orders.csv"
    cdnow_lines.to_csv(orders, index=False)
    summary, model = tmp_path / "summary.parquet", tmp_path / "model.json"
    runner = CliRunner()

    def clv(*args):
        return runner.invoke(app, [str(a) for a in args])

    made = clv("summarize", orders, "--col", "timestamp=order_ts", "--observation-end", END, "--time-unit", "week",
               "--policy", "duplicates=keep", "--output", summary)
    assert made.exit_code == 0, made.output
    assert CustomerData.read_parquet(summary).time_unit == "week"
    fitted = clv("fit", summary, "--model", "bgnbd", "--save", model)
    assert fitted.exit_code == 0, fitted.output
    assert '"time_unit": "week"' in model.read_text()
    scored = clv("score", summary, "--model", model, "--horizon", "52", "--intervals", "none", "--format", "csv")
    assert scored.exit_code == 0, scored.output
    refused = clv("score", summary, "--model", model, "--horizon", "52", "--time-unit", "day")
    assert refused.exit_code == 2 and "the summary is in weeks" in refused.output and "Traceback" not in refused.output
    assert "--time-unit" in refused.output and "time_unit=" not in refused.output


def test_models_fit_customer_data_and_record_its_unit(weekly):
    from clv.models import ModifiedBetaGeoModel, ParetoNBDModel

    for cls in (BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel):
        from_data = cls().fit(weekly)
        from_arrays = cls().fit(weekly["frequency"], weekly["recency"], weekly["T"])
        assert from_data.time_unit_ == "week" and from_arrays.time_unit_ is None
        assert from_data.params_ == pytest.approx(from_arrays.params_, rel=1e-12)
        assert cls.from_dict(from_data.to_dict()).time_unit_ == "week"
    with pytest.raises(DataError, match="differs from the customer data's unit"):
        BetaGeoModel().fit(weekly, time_unit="day")


def test_repr_states_the_context_in_one_short_line(weekly):
    first_line = repr(weekly).splitlines()[0]
    assert first_line.startswith("CustomerData(2357 rows; time_unit='week', observation_end=1997-09-30")
    assert len(first_line) < 200
    report = CustomerData(weekly.table, load_report={"input_rows": 6919, "rejected": {}})
    assert "load_report=<load report: 6,919 input lines>" in repr(report)


def test_cli_bgbb_in_another_unit_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from clv.cli.main import app

    data = tmp_path / "donations.csv"
    pd.DataFrame({"frequency": [0, 1, 3, 6, 2], "recency": [0, 1, 5, 6, 4], "n_periods": [6] * 5,
                  "weights": [3464, 1091, 600, 1203, 800]}).to_csv(data, index=False)
    model = tmp_path / "bgbb.json"
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(data), "--model", "bgbb", "--weights-col", "weights",
                                 "--time-unit", "year", "--save", str(model)])
    assert fitted.exit_code == 0, fitted.output
    refused = runner.invoke(app, ["score", str(data), "--model", str(model), "--horizon", "5", "--time-unit", "month"])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert "counts whole periods" in refused.output and "--time-unit year" in refused.output


def test_functions_taking_a_model_and_durations_refuse_another_unit(weekly, fitted):
    """The unit check reaches every function that takes a fitted model and durations, not only score_customers."""
    from clv.models import check_model_unit
    from clv.scores import customer_lifetime_value, forecast_purchases

    model, spend = fitted
    model = BetaGeoModel.from_dict(model.to_dict())
    model.time_unit_ = "week"
    x, t_x, T = weekly.rfm()
    assert check_model_unit(model, "week") == "week"
    with pytest.raises(DataError, match="fitted in weeks but time_unit='day'"):
        forecast_purchases(model, x, t_x, T, horizon=364, time_unit="day")
    with pytest.raises(DataError, match="fitted in weeks but time_unit='day'"):
        customer_lifetime_value(model, spend, x, t_x, T, weekly["monetary_value"], horizon=364, time_unit="day")
    unitless = BetaGeoModel.from_dict({**model.to_dict(), "time_unit": None})
    assert check_model_unit(unitless, "day") == "day"  # fitted on plain arrays: the caller's unit
