"""Issue 12: values users really have are read, or refused with the option that reads them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.data import Columns, LoadPolicy, load_orders
from clv.data.hints import suggest_date_format, suggest_number_format
from clv.data.load import LoadRejectedError
from clv.engine import connect
from clv.errors import DataError
from clv.summary import summarize


@pytest.fixture(scope="module")
def con():
    return connect()


def orders(result) -> pd.DataFrame:
    return result.orders.execute().sort_values("source_row").reset_index(drop=True)


def reasons(result) -> dict[int, str]:
    rejects = result.rejects.execute()
    return dict(zip(rejects["source_row"], rejects["reason"]))


def lines(customers, times, amounts) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": customers, "order_ts": times, "amount": amounts}, dtype=object)


# --------------------------------------------------------------------------- amounts


def test_amounts_that_overflow_are_rejected_and_sums_stay_finite(con):
    df = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_ts": ["2021-01-01", "2021-02-01", "2021-01-05"],
                       "quantity": [1e200, 2.0, 1.0], "unit_price": [1e200, 3.0, 4.0]})
    result = load_orders(df, Columns(quantity="quantity", unit_price="unit_price"), con=con)
    assert reasons(result) == {1: "amount_out_of_range"}
    summary = summarize(result, time_unit="day")
    values = summary.drop(columns="margin")  # no cost given: margin is not available (NaN) by design
    assert np.isfinite(values.select_dtypes("number").to_numpy(dtype=float)).all()
    assert summary.set_index("customer_id").loc["a", "revenue"] == pytest.approx(6.0)


def test_amounts_beyond_the_bound_are_rejected_and_the_bound_is_an_option(con):
    df = lines(["a", "b"], ["2021-01-01"] * 2, ["2e12", "5"])
    assert reasons(load_orders(df, con=con)) == {1: "amount_out_of_range"}
    assert reasons(load_orders(df, Columns(), LoadPolicy(max_amount=1e13), con=con)) == {}


@pytest.mark.parametrize(
    ("written", "policy", "value"),
    [
        ("12,50", {"decimal": ","}, 12.5),
        ("1.234,56", {"decimal": ",", "thousands": "."}, 1234.56),
        ("1,234.56", {"thousands": ","}, 1234.56),
        ("$5", {"currency_symbol": "$"}, 5.0),
        ("£2.55", {"currency_symbol": "£"}, 2.55),
        ("-£2.55", {"currency_symbol": "£"}, -2.55),
        ("1.234,56 €", {"currency_symbol": "€", "decimal": ",", "thousands": "."}, 1234.56),
        ("EUR 7", {"currency_symbol": "EUR"}, 7.0),
        ("3", {"currency_symbol": "£"}, 3.0),
    ],
)
def test_formatted_amounts_load_with_their_option(con, written, policy, value):
    df = lines(["a"], ["2021-01-01"], [written])
    loaded = orders(load_orders(df, Columns(), LoadPolicy(**policy), con=con))
    assert loaded["amount"].tolist() == [pytest.approx(value)]


@pytest.mark.parametrize(
    ("written", "policy"),
    [
        ("1.23,4", {"decimal": ",", "thousands": "."}),  # bad grouping: not a number
        ("$5", {"currency_symbol": "£"}),  # another currency is never added up
        ("1,234.56", {}),
        ("£2.55", {}),
    ],
)
def test_amounts_the_options_do_not_read_are_rejected(con, written, policy):
    df = lines(["a", "b"], ["2021-01-01"] * 2, [written, "1"])
    assert reasons(load_orders(df, Columns(), LoadPolicy(**policy), con=con)) == {1: "unparsable_amount"}


def test_semicolon_file_with_decimal_commas_loads(con, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id;order_ts;amount\na;2021-01-01;12,50\nb;2021-01-02;1.234,56\n", encoding="utf-8")
    loaded = orders(load_orders(str(path), Columns(), LoadPolicy(decimal=",", thousands="."),
                                delimiter=";", con=con))
    assert loaded["amount"].tolist() == [pytest.approx(12.5), pytest.approx(1234.56)]


def test_amounts_with_symbols_are_refused_naming_the_option(con):
    df = lines(["a", "b", "c"], ["2021-01-01"] * 3, ["£2.55", "£10.00", "£3"])
    with pytest.raises(LoadRejectedError, match=r"currency_symbol='£'"):
        load_orders(df, con=con).report


def test_decimal_commas_are_refused_naming_the_option(con):
    df = lines(["a", "b", "c"], ["2021-01-01"] * 3, ["2,55", "10,5", "3,25"])
    with pytest.raises(LoadRejectedError, match=r"decimal=','"):
        load_orders(df, con=con).report


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["£2.55", "£10.00"], {"currency_symbol": "£"}),
        (["1.234,56 €", "12,50 €"], {"currency_symbol": "€", "decimal": ",", "thousands": "."}),
        (["1,234.50", "2,000"], {"thousands": ","}),
        (["2,000"], {"thousands": ","}),
        (["12,5", "2,000"], {"decimal": ","}),
        (["abc", "n/a"], {}),
    ],
)
def test_number_format_suggestions(values, expected):
    assert suggest_number_format(values) == expected


# --------------------------------------------------------------------------- dates


def test_us_dates_are_refused_naming_the_format_then_load_with_it(con):
    df = lines(["a", "b", "c"], ["12/13/2010 08:26", "12/01/2010 09:00", "1/5/2011 17:01"], ["1", "2", "3"])
    with pytest.raises(LoadRejectedError, match=r"date_format='%m/%d/%Y %H:%M'") as error:
        load_orders(df, con=con).report
    assert error.value.report.rejected["unparsable_timestamp"] == 3
    loaded = orders(load_orders(df, Columns(), LoadPolicy(date_format="%m/%d/%Y %H:%M"), con=con))
    assert loaded["order_ts"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2010-12-13 08:26", "2010-12-01 09:00", "2011-01-05 17:01"]


def test_european_dates_are_detected(con):
    df = lines(["a", "b"], ["13/12/2010 08:26", "01/12/2010 09:00"], ["1", "2"])
    with pytest.raises(LoadRejectedError, match=r"date_format='%d/%m/%Y %H:%M'"):
        load_orders(df, con=con).report


def test_ambiguous_day_month_order_names_both_formats():
    assert suggest_date_format(["01/02/2010", "03/04/2010"]) == ["%d/%m/%Y", "%m/%d/%Y"]


@pytest.mark.parametrize(("fmt", "values"), [("epoch_s", [1291191960, 1291192000]),
                                              ("epoch_ms", [1291191960000, 1291192000000])])
def test_epoch_timestamps_in_integer_and_text_columns(con, fmt, values):
    for column in (pd.Series(values, dtype="int64"), pd.Series([str(v) for v in values], dtype=object)):
        df = pd.DataFrame({"customer_id": ["a", "b"], "order_ts": column, "amount": [1.0, 2.0]})
        loaded = orders(load_orders(df, Columns(), LoadPolicy(date_format=fmt), con=con))
        assert loaded["order_ts"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [
            "2010-12-01 08:26:00", "2010-12-01 08:26:40"]


def test_epoch_in_a_time_zone_is_local_wall_clock(con):
    df = pd.DataFrame({"customer_id": ["a"], "order_ts": [1291191960], "amount": [1.0]})
    loaded = orders(load_orders(df, Columns(), LoadPolicy(date_format="epoch_s", timezone="Asia/Tokyo"), con=con))
    assert str(loaded["order_ts"][0]) == "2010-12-01 17:26:00"


def test_epoch_values_out_of_range_are_rejected_not_raised(con):
    df = pd.DataFrame({"customer_id": ["a", "b"], "order_ts": ["1e20", "1291191960"], "amount": [1.0, 2.0]})
    assert reasons(load_orders(df, Columns(), LoadPolicy(date_format="epoch_s"), con=con)) == {
        1: "unparsable_timestamp"}


def test_integer_dates_suggest_their_formats(con):
    df = pd.DataFrame({"customer_id": ["a"], "order_ts": [20110131], "amount": [1.0]})
    with pytest.raises(DataError, match="epoch_s"):
        load_orders(df, con=con)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "UTC+25"])
def test_unknown_time_zones_are_refused_when_the_policy_is_built(zone):
    with pytest.raises(DataError, match="IANA"):
        LoadPolicy(timezone=zone)


@pytest.mark.parametrize("fmt", ["%s", "%Q", "Y-m-d", ""])
def test_unsupported_date_formats_are_refused_when_the_policy_is_built(fmt):
    with pytest.raises(DataError, match="date_format"):
        LoadPolicy(date_format=fmt)


def test_percent_s_points_to_epoch():
    with pytest.raises(DataError, match="epoch_s"):
        LoadPolicy(date_format="%s")


def test_sentinel_and_placeholder_dates_are_rejected(con):
    df = lines(["a", "a", "b", "c"], ["2021-01-01", "9999-12-31", "1900-01-01", "2021-03-01"], ["1"] * 4)
    result = load_orders(df, con=con)
    assert reasons(result) == {2: "date_in_future", 3: "date_before_min"}
    summary = summarize(result, time_unit="week")
    assert summary["T"].max() < 10  # the observation end did not follow 9999-12-31
    no_future_rule = load_orders(df, Columns(), LoadPolicy(future_dates="keep", min_date=None), con=con)
    assert reasons(no_future_rule) == {2: "date_outlier"}  # 9999-12-31 is still far outside the bulk
    kept = load_orders(df, Columns(), LoadPolicy(future_dates="keep", min_date=None, outlier_dates="keep"), con=con)
    assert reasons(kept) == {}


def test_future_means_after_the_moment_of_loading(con):
    tomorrow = (pd.Timestamp.now() + pd.Timedelta(days=2)).strftime("%Y-%m-%d")
    df = lines(["a", "b"], ["2021-01-01", tomorrow], ["1", "1"])
    assert reasons(load_orders(df, con=con)) == {2: "date_in_future"}


def test_min_date_is_validated():
    with pytest.raises(DataError, match="min_date"):
        LoadPolicy(min_date="someday")


# --------------------------------------------------------------------------- ids


def test_numeric_ids_written_with_a_zero_fraction_are_one_customer(con):
    df = lines(["17850", "17850.0", " 17850.00\t", "\t17851 "], ["2021-01-01", "2021-02-01", "2021-03-01", "2021-01-01"],
               ["1", "2", "3", "4"])
    loaded = orders(load_orders(df, con=con))
    assert loaded["customer_id"].tolist() == ["17850", "17850", "17850", "17851"]
    as_written = orders(load_orders(df, Columns(), LoadPolicy(ids="as_written"), con=con))
    assert as_written["customer_id"].tolist() == ["17850", "17850.0", "17850.00", "17851"]


def test_ids_that_only_look_numeric_are_kept(con):
    df = lines(["1.5", "A.0", "1.", "0.0"], ["2021-01-01"] * 4, ["1"] * 4)
    assert orders(load_orders(df, con=con))["customer_id"].tolist() == ["1.5", "A.0", "1.", "0"]


def test_order_ids_are_normalised_too(con):
    df = pd.DataFrame({"customer_id": ["a", "a"], "order_ts": ["2021-01-01 10:00"] * 2, "amount": ["1", "2"],
                       "order_id": ["536365", "536365.0"]})
    assert orders(load_orders(df, con=con))["order_id"].tolist() == ["536365", "536365"]


@given(st.integers(-10**15, 10**15), st.integers(0, 3), st.sampled_from(["", " ", "\t", "\r\n"]))
@settings(max_examples=60, deadline=None)
def test_an_integer_id_is_the_same_customer_however_it_is_written(number, zeros, blank):
    written = f"{blank}{number}" + ("." + "0" * zeros if zeros else "") + blank
    df = lines([str(number), written], ["2021-01-01", "2021-01-02"], ["1", "1"])
    loaded = orders(load_orders(df, con=connect()))
    assert loaded["customer_id"].tolist() == [str(number)] * 2


# --------------------------------------------------------------------------- duplicates


def test_copies_with_a_time_of_day_are_dropped_date_only_copies_are_kept(con):
    df = lines(["a", "a", "b", "b"], ["2021-01-01 10:15:00", "2021-01-01 10:15:00", "2021-01-01", "2021-01-01"],
               ["5", "5", "5", "5"])
    result = load_orders(df, con=con)
    assert reasons(result) == {2: "duplicate"}
    assert result.report.repeated_lines_kept == 1
    assert reasons(load_orders(df, Columns(), LoadPolicy(duplicates="drop"), con=con)) == {2: "duplicate",
                                                                                         4: "duplicate"}
    assert reasons(load_orders(df, Columns(), LoadPolicy(duplicates="keep"), con=con)) == {}


def test_copies_with_an_order_id_are_certain_copies(con):
    df = pd.DataFrame({"customer_id": ["a", "a"], "order_ts": ["2021-01-01"] * 2, "amount": ["5", "5"],
                       "order_id": ["7", "7"]})
    result = load_orders(df, con=con)
    assert reasons(result) == {2: "duplicate"}
    assert result.report.repeated_lines_kept == 0


# --------------------------------------------------------------------------- logs, empty loads


def test_a_purchase_log_without_amounts_loads(con):
    df = pd.DataFrame({"customer_id": ["a", "a", "b"], "order_ts": ["2021-01-01", "2021-02-01", "2021-01-05"]})
    result = load_orders(df, con=con)
    assert result.report.has_amounts is False
    assert result.report.accepted_purchase_lines == 3
    loaded = orders(result)
    assert loaded["amount"].isna().all()


def test_a_misspelt_amount_mapping_is_still_an_error(con):
    df = pd.DataFrame({"customer_id": ["a"], "order_ts": ["2021-01-01"], "Amount": [1.0]})
    with pytest.raises(DataError, match="Amount"):
        load_orders(df, Columns(amount="Amnt"), con=con)


def test_a_load_that_keeps_nothing_is_an_error_naming_the_reasons(con):
    df = lines([None, None, "c"], ["2021-01-01", "2021-01-02", "garbage"], ["1", "2", "3"])
    with pytest.raises(LoadRejectedError, match=r"no line was kept \(3 of 3: missing_customer_id 2, "
                                                r"unparsable_timestamp 1\)") as error:
        load_orders(df, con=con).report
    assert "customer_id=" in str(error.value)
    assert error.value.report.rejected_lines == 3


def test_a_load_that_rejects_nearly_everything_is_an_error(con):
    df = lines(["a"] + [None] * 19, ["2021-01-01"] * 20, ["1"] * 20)
    with pytest.raises(LoadRejectedError, match="95% of lines were rejected"):
        load_orders(df, con=con).report
    relaxed = load_orders(df, Columns(), LoadPolicy(max_rejected_share=0.99), con=con)
    assert relaxed.report.accepted_purchase_lines == 1


def test_columns_and_policy_in_the_wrong_places_are_a_clear_error(con):
    df = lines(["a"], ["2021-01-01"], ["1"])
    with pytest.raises(DataError, match="in that order"):
        load_orders(df, LoadPolicy(), con=con)


def test_a_date_far_outside_the_bulk_is_an_outlier_and_does_not_move_the_end(con):
    days = pd.date_range("2011-01-01", "2011-12-09", freq="D").strftime("%Y-%m-%d").tolist()
    df = lines([f"c{i % 40}" for i in range(len(days))] + ["c1"], days + ["2019-12-09"], ["1"] * (len(days) + 1))
    result = load_orders(df, con=con)
    assert reasons(result) == {len(days) + 1: "date_outlier"}
    assert str(summarize(result, time_unit="day").observation_end) == "2011-12-09"
    kept = load_orders(df, Columns(), LoadPolicy(outlier_dates="keep"), con=con)
    assert reasons(kept) == {}


def test_a_long_history_has_no_outliers(con):
    days = pd.date_range("1995-01-01", "2025-12-31", freq="7D").strftime("%Y-%m-%d").tolist()
    df = lines(["a"] * len(days), days, ["1"] * len(days))
    assert reasons(load_orders(df, con=con)) == {}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_outliers_in_large_text_files_are_found_from_a_sample(con, tmp_path, suffix):
    import gzip

    days = pd.date_range("2011-01-01", "2011-12-31", freq="h")[:8000].strftime("%Y-%m-%d %H:%M").tolist()
    days[4321] = "2019-06-01 10:00"
    text = "customer_id,order_ts,amount\n" + "".join(f"c{i % 500},{d},1\n" for i, d in enumerate(days))
    path = tmp_path / f"orders{suffix}"
    path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    result = load_orders(str(path), con=con)
    assert reasons(result) == {4323: "date_outlier"}  # header is line 1, the 4322nd data line is line 4323
