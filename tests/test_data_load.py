"""load_orders on small hand-made inputs: every bad-input case, every policy option."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clv.data import Columns, Csv, DatabaseTable, LoadPolicy, LoadReport, Parquet, load_orders
from clv.engine import connect
from clv.errors import ClvError, DataError

DATA = Path(__file__).parent / "data"
DEFECTS = DATA / "orders_defects.csv"
DEFECT_COLUMNS = Columns(
    customer_id="customer", timestamp="ts", quantity="qty", unit_price="price",
    order_id="order_id", currency="currency", extra=("country",),
)
RATES = {"EUR": 1.0, "USD": 0.9}


@pytest.fixture(scope="module")
def con():
    return connect()


def frame(result, table="orders"):
    return getattr(result, table).execute().sort_values("source_row").reset_index(drop=True)


def reasons(result) -> dict[int, str]:
    rej = frame(result, "rejects")
    return dict(zip(rej["source_row"], rej["reason"]))


def load_defects(con, **policy):
    policy = LoadPolicy(**{"exchange_rates": RATES, **policy})
    return load_orders(DEFECTS, DEFECT_COLUMNS, policy, observation_end="2021-12-31", con=con)


def test_every_defect_gets_its_reason_and_totals_reconcile(con):
    result = load_defects(con)
    assert reasons(result) == {  # source_row: physical line (header = line 1)
        3: "duplicate", 4: "missing_customer_id", 5: "unparsable_timestamp",
        6: "unparsable_amount", 9: "no_exchange_rate", 10: "after_observation_end",
        11: "unparsable_amount", 12: "missing_customer_id", 13: "unparsable_amount",
    }
    report = result.report
    assert report.input_rows == 13
    assert report.accepted_purchase_lines == 2
    assert report.netted_refund_lines == 2
    assert report.rejected["unparsable_amount"] == 3
    assert report.rejected["refund"] == 0 and report.rejected["zero_amount"] == 0
    assert report.accepted_purchase_lines + report.netted_refund_lines + report.rejected_lines == 13


def test_orders_hold_canonical_values(con):
    orders = frame(load_defects(con))
    assert list(orders["source_row"]) == [2, 7, 8, 14]
    assert list(orders["customer_id"]) == ["c1", "c1", "c3", "c5"]
    assert list(orders["amount"]) == [10.0, -5.0, 0.0, -8.0]
    assert list(orders["is_refund"]) == [False, True, False, True]
    assert list(orders["order_id"]) == ["1001", "C1005", "1006", "1012"]
    assert list(orders["country"]) == ["FR", "FR", "UK", "FR"]
    assert orders["order_ts"][0] == pd.Timestamp("2021-01-05 10:00:00")
    assert orders["channel"].isna().all() and orders["cost"].isna().all()


def test_rejects_keep_the_original_values(con):
    rejects = frame(load_defects(con), "rejects")
    row = rejects[rejects["source_row"] == 6].iloc[0]
    assert (row["qty"], row["price"], row["ts"]) == ("one", "3.00", "2021-01-07")
    assert set(rejects.columns) == {
        "source_row", "reason", "order_id", "customer", "ts", "qty", "price", "currency",
        "country",
    }


def test_policy_alternatives(con):
    result = load_defects(con, refunds="reject", zero_amounts="reject", duplicates="keep")
    got = reasons(result)
    assert got[7] == "refund" and got[14] == "refund" and got[8] == "zero_amount"
    assert 3 not in got
    assert result.report.accepted_purchase_lines == 2  # rows 1 and 2
    assert result.report.netted_refund_lines == 0


def test_cancel_prefix_can_be_turned_off(con):
    df = pd.DataFrame({"customer_id": ["a", "a"], "order_ts": ["2021-01-01"] * 2,
                       "amount": [5.0, 6.0], "order_id": ["C1", "D1"]})
    cols = Columns(order_id="order_id")
    assert load_orders(df, cols, con=con).report.netted_refund_lines == 1
    off = load_orders(df, cols, LoadPolicy(cancel_prefix=None), con=con)
    assert off.report.netted_refund_lines == 0
    other = load_orders(df, cols, LoadPolicy(cancel_prefix="D"), con=con)
    assert frame(other)["is_refund"].tolist() == [False, True]


def test_cancel_prefix_after_leading_blanks_only(con):
    df = pd.DataFrame({"customer_id": ["a"] * 4, "order_ts": ["2021-01-01"] * 4,
                       "amount": [5.0, 6.0, 7.0, 8.0], "order_id": ["  C1", "C2 ", "1C", " 1"]})
    orders = frame(load_orders(df, Columns(order_id="order_id"), con=con))
    assert orders["is_refund"].tolist() == [True, True, False, False]
    assert orders["order_id"].tolist() == ["C1", "C2", "1C", "1"]


def test_mixed_currencies_without_rates_raise_listing_them(con):
    with pytest.raises(DataError, match=r"EUR, GBP, USD.*exchange_rates"):
        load_orders(DEFECTS, DEFECT_COLUMNS, con=con)


def test_exchange_rates_convert_amounts(con):
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_ts": ["2021-01-01"] * 3,
                       "amount": [10.0, 10.0, 10.0], "cur": ["eur", "USD ", "JPY"]})
    result = load_orders(df, Columns(currency="cur"), LoadPolicy(exchange_rates=RATES), con=con)
    assert frame(result)["amount"].tolist() == [10.0, 9.0]
    assert reasons(result) == {3: "no_exchange_rate"}
    with pytest.raises(DataError, match="JPY"):
        load_orders(df, Columns(currency="cur"),
                    LoadPolicy(exchange_rates=RATES, unknown_currency="error"), con=con)


def test_one_currency_needs_no_rates(con):
    df = pd.DataFrame({"customer_id": ["a", "b"], "order_ts": ["2021-01-01"] * 2,
                       "amount": [1.0, 2.0], "cur": ["EUR", "EUR"]})
    assert load_orders(df, Columns(currency="cur"), con=con).report.accepted_purchase_lines == 2


def test_cost_and_margin_rate(con):
    df = pd.DataFrame({"customer_id": ["a", "b"], "order_ts": ["2021-01-01"] * 2,
                       "amount": [100.0, 50.0], "c": [60.0, 20.0], "m": [0.25, 0.5]})
    assert frame(load_orders(df, Columns(cost="c"), con=con))["cost"].tolist() == [60.0, 20.0]
    by_col = frame(load_orders(df, Columns(margin_rate="m"), con=con))["cost"].tolist()
    assert by_col == [75.0, 25.0]
    by_const = frame(load_orders(df, Columns(margin_rate=0.4), con=con))["cost"].tolist()
    assert by_const == pytest.approx([60.0, 30.0])


def test_unparsable_cost_is_a_reject_but_missing_cost_is_not(con):
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_ts": ["2021-01-01"] * 3,
                       "amount": ["1", "2", "3"], "c": ["0.5", None, "n/a"]})
    result = load_orders(df, Columns(cost="c"), con=con)
    assert reasons(result) == {3: "unparsable_amount"}
    assert frame(result)["cost"].isna().tolist() == [False, True]


def test_time_zones_and_offsets(con):
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "amount": [1.0, 1.0, 1.0],
                       "order_ts": ["2021-06-01 10:00:00+02:00", "2021-06-01T08:00:00Z",
                                    "2021-06-01 10:00:00"]})
    utc = frame(load_orders(df, con=con))["order_ts"].tolist()
    assert utc == [pd.Timestamp("2021-06-01 08:00")] * 2 + [pd.Timestamp("2021-06-01 10:00")]
    paris = frame(load_orders(df, policy=LoadPolicy(timezone="Europe/Paris"), con=con))
    assert paris["order_ts"].tolist() == [pd.Timestamp("2021-06-01 10:00")] * 3


def test_tz_aware_column_is_converted_and_made_naive(con):
    stamps = pd.to_datetime(["2021-01-01 12:00"]).tz_localize("America/New_York")
    df = pd.DataFrame({"customer_id": ["a"], "order_ts": stamps, "amount": [1.0]})
    orders = frame(load_orders(df, policy=LoadPolicy(timezone="Europe/London"), con=con))
    assert orders["order_ts"].tolist() == [pd.Timestamp("2021-01-01 17:00")]
    assert orders["order_ts"].dt.tz is None


def test_date_format_and_date_column(con):
    df = pd.DataFrame({"customer_id": ["a", "b"], "d": ["19970101", "1997-01-02"],
                       "amount": [1.0, 2.0]})
    result = load_orders(df, Columns(date="d"), LoadPolicy(date_format="%Y%m%d"), con=con)
    assert reasons(result) == {2: "unparsable_timestamp"}
    dates = pd.DataFrame({"customer_id": ["a"], "d": [dt.date(2020, 5, 1)], "amount": [1.0]})
    assert frame(load_orders(dates, Columns(date="d"), con=con))["order_ts"][0] == pd.Timestamp(
        "2020-05-01"
    )
    ints = pd.DataFrame({"customer_id": ["a"], "d": [19970101], "amount": [1.0]})
    with pytest.raises(DataError, match="date_format"):
        load_orders(ints, Columns(date="d"), con=con)
    parsed = load_orders(ints, Columns(date="d"), LoadPolicy(date_format="%Y%m%d"), con=con)
    assert frame(parsed)["order_ts"][0] == pd.Timestamp("1997-01-01")


def test_observation_end_date_includes_the_whole_day(con):
    df = pd.DataFrame({"customer_id": ["a", "a", "a"], "amount": [1.0, 2.0, 3.0],
                       "order_ts": ["2021-12-31 23:59:00", "2022-01-01 00:00:00", "2021-12-31"]})
    assert set(reasons(load_orders(df, observation_end="2021-12-31", con=con))) == {2}
    assert set(reasons(load_orders(df, observation_end=dt.date(2021, 12, 31), con=con))) == {2}
    exact = load_orders(df, observation_end=pd.Timestamp("2021-12-31 12:00"), con=con)
    assert set(reasons(exact)) == {1, 2}


def test_precedence_first_reason_wins_for_every_copy(con):
    df = pd.DataFrame({"customer_id": [None, None, "a", "a"], "order_ts": ["bad"] * 2 + ["x"] * 2,
                       "amount": ["-1", "-1", "?", "?"]})
    assert reasons(load_orders(df, con=con)) == {
        1: "missing_customer_id", 2: "missing_customer_id",
        3: "unparsable_timestamp", 4: "unparsable_timestamp",
    }


def test_duplicates_compare_every_original_column_and_nulls_match(con):
    df = pd.DataFrame({"customer_id": ["a"] * 4, "order_ts": ["2021-01-01"] * 4,
                       "amount": [1.0] * 4, "note": [None, None, "x", "y"]})
    assert reasons(load_orders(df, Columns(), LoadPolicy(duplicates="drop"), con=con)) == {2: "duplicate"}


def test_derived_amount_needs_both_parts(con):
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_ts": ["2021-01-01"] * 3,
                       "q": [2.0, None, 3.0], "p": [1.5, 1.0, np.nan]})
    result = load_orders(df, Columns(quantity="q", unit_price="p"), con=con)
    assert frame(result)["amount"].tolist() == [3.0]
    assert reasons(result) == {2: "unparsable_amount", 3: "unparsable_amount"}


def test_infinite_and_nan_amounts_are_unparsable(con):
    df = pd.DataFrame({"customer_id": ["a", "b", "c"], "order_ts": ["2021-01-01"] * 3,
                       "amount": [np.inf, np.nan, 1.0]})
    assert reasons(load_orders(df, con=con)) == {1: "unparsable_amount", 2: "unparsable_amount"}


def test_float_customer_ids_lose_the_trailing_zero(con):
    df = pd.DataFrame({"customer_id": [17850.0, np.nan, 1.5], "order_ts": ["2021-01-01"] * 3,
                       "amount": [1.0, 2.0, 3.0]})
    result = load_orders(df, con=con)
    assert frame(result)["customer_id"].tolist() == ["17850", "1.5"]
    assert reasons(result) == {2: "missing_customer_id"}


def test_misspelt_column_names_the_close_match(con):
    with pytest.raises(DataError, match=r"'Customer'.*did you mean 'customer'.*Columns found"):
        load_orders(DEFECTS, Columns(customer_id="Customer", timestamp="ts", amount="price"),
                    con=con)
    with pytest.raises(DataError, match="Country"):
        load_orders(DEFECTS, Columns(customer_id="customer", timestamp="ts", amount="price",
                                     extra=("Country",)), con=con)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timestamp": "a", "date": "b"},
        {"cost": "a", "margin_rate": 0.2},
        {"unit_price": "p"},
        {"margin_rate": 1.5},
        {"extra": ("amount",)},
        {"extra": ("is_refund",)},
    ],
)
def test_contradictory_columns_raise(kwargs):
    with pytest.raises(DataError):
        Columns(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"refunds": "ignore"}, {"duplicates": "first"}, {"zero_amounts": "drop"},
     {"cancel_prefix": ""}, {"exchange_rates": {"USD": -1}}, {"unknown_currency": "x"}],
)
def test_bad_policy_options_raise_naming_the_option(kwargs):
    with pytest.raises(DataError, match=next(iter(kwargs))):
        LoadPolicy(**kwargs)


def test_report_check_and_exports():
    bad = LoadReport(input_rows=5, accepted_purchase_lines=2, netted_refund_lines=1,
                     rejected={"duplicate": 1})
    with pytest.raises(ClvError, match="does not add up"):
        bad.check()
    good = LoadReport(3, 1, 1, {"duplicate": 1})
    assert good.check() is good
    assert good.as_dict()["rejected"] == {"duplicate": 1}
    table = good.to_frame()
    assert table["lines"].sum() == 3 and set(table["outcome"]) == {"accepted", "rejected"}


def test_write_rejects(con, tmp_path):
    result = load_defects(con)
    csv_path = result.write_rejects(str(tmp_path / "rejects.csv"))
    written = pd.read_csv(csv_path)
    assert len(written) == 9 and "reason" in written.columns
    pq_path = result.write_rejects(str(tmp_path / "rejects.parquet"))
    assert pq.read_table(pq_path).num_rows == 9


def test_other_delimiters_and_headerless_files(con, tmp_path):
    path = tmp_path / "orders.tsv"
    path.write_text("a\t2021-01-01\t1.5\nb\t2021-01-02\t2\n")
    result = load_orders(path, Columns(customer_id="c", timestamp="t", amount="v"),
                         header=False, names=("c", "t", "v"), con=con)
    assert frame(result)["amount"].tolist() == [1.5, 2.0]
    semi = tmp_path / "orders.csv"
    semi.write_text("customer_id;order_ts;amount\na;2021-01-01;3\n")
    assert load_orders(Csv(semi, delimiter=";"), con=con).report.accepted_purchase_lines == 1


def test_whitespace_file_with_header_numbers_data_rows(con, tmp_path):
    path = tmp_path / "ws.txt"
    path.write_text("cust  day   value\r\n  a 20210101  1.0\r\n\r\nb   20210102 x\r\n")
    result = load_orders(path, Columns(customer_id="cust", date="day", amount="value"),
                         LoadPolicy(date_format="%Y%m%d"), delimiter="whitespace", con=con)
    assert reasons(result) == {3: "blank_line", 4: "unparsable_amount"}  # physical lines
    assert frame(result)["customer_id"].tolist() == ["a"]


def test_parquet_parts_number_rows_across_files(con, tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"customer_id": [f"c{i}"] * 2, "order_ts": ["2021-01-01", "x"],
                                 "amount": [1.0, 2.0]}), parts / f"part-{i}.parquet")
    for source in (parts, Parquet(pattern=str(parts / "*.parquet")), Parquet(parts),
                   sorted(parts.glob("*.parquet"))):
        result = load_orders(source, con=con)
        assert reasons(result) == {2: "unparsable_timestamp", 4: "unparsable_timestamp",
                                   6: "unparsable_timestamp"}
        assert frame(result)["customer_id"].tolist() == ["c0", "c1", "c2"]


def test_duckdb_file_table_and_ibis_backends(tmp_path):
    path = str(tmp_path / "shop.duckdb")
    shop = duckdb.connect(path)
    shop.execute("CREATE TABLE orders AS SELECT * FROM (VALUES ('a', 1.0, TIMESTAMP '2021-01-01'),"
                 " (NULL, 2.0, TIMESTAMP '2021-01-01')) AS t(customer_id, amount, order_ts)")
    shop.close()
    con = connect()
    result = load_orders(path, table="orders", con=con)
    assert result.report.as_dict()["rejected"]["missing_customer_id"] == 1
    again = load_orders(DatabaseTable(path, "main.orders"), con=con)
    assert frame(again)["customer_id"].tolist() == ["a"]
    with pytest.raises(DataError, match="table="):
        load_orders(path, con=con)
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(Path(path).read_bytes())  # one file cannot be open twice in a process
    by_url = load_orders(f"duckdb://{copy}", table="orders")
    assert by_url.con.name == "duckdb" and by_url.report.input_rows == 2


def test_ibis_table_source(con):
    table = ibis.memtable({"customer_id": ["a", "b"], "order_ts": ["2021-01-01", "2021-01-02"],
                           "amount": [1.0, 0.0]})
    result = load_orders(table, con=con)
    assert frame(result)["source_row"].tolist() == [1, 2]


def test_several_sources_keep_one_history_with_channel_labels(con, tmp_path):
    web = pd.DataFrame({"cust": ["a", "b"], "ts": ["2021-01-01", "2021-01-02"], "amt": [1.0, 2.0]})
    till = tmp_path / "till.csv"
    till.write_text("customer_id,order_ts,amount\na,2021-02-01,5\n,2021-02-02,1\n")
    columns = {"web": Columns(customer_id="cust", timestamp="ts", amount="amt"),
               "till": Columns()}
    result = load_orders({"web": web, "till": till}, columns, con=con)
    orders = result.orders.execute().sort_values(["source", "source_row"])
    assert orders[["source", "customer_id", "channel"]].values.tolist() == [
        ["till", "a", "till"], ["web", "a", "web"], ["web", "b", "web"]]
    rejects = result.rejects.execute()
    assert rejects[["source", "source_row", "reason"]].values.tolist() == [
        ["till", 3, "missing_customer_id"]]
    assert result.report.input_rows == 4


def test_several_sources_with_a_channel_column_keep_it(con):
    a = pd.DataFrame({"customer_id": ["a"], "order_ts": ["2021-01-01"], "amount": [1.0],
                      "ch": ["app"]})
    result = load_orders({"x": a, "y": a}, Columns(channel="ch"), con=con)
    assert result.orders.execute()["channel"].tolist() == ["app", "app"]


def test_unknown_source_type_and_missing_file(con):
    with pytest.raises(DataError, match="cannot load orders from a"):
        load_orders(42, con=con)
    with pytest.raises(DataError, match="not found"):
        load_orders("/nonexistent/orders.csv", con=con)
    with pytest.raises(DataError, match="not found"):
        load_orders("/nonexistent/orders.xlsx", con=con)
    with pytest.raises(DataError, match="format"):
        load_orders("/nonexistent/orders.unknown", con=con)


def test_any_ibis_backend_table_and_reloading_loaded_orders(tmp_path):
    other = connect()
    other.raw_sql("CREATE TABLE sales AS SELECT 'a' AS customer_id, 2.0 AS amount, "
                  "TIMESTAMP '2021-01-01' AS order_ts")
    result = load_orders(DatabaseTable(other, "sales"))
    assert result.con is other and result.report.accepted_purchase_lines == 1
    again = load_orders(result.orders.execute().assign(customer_id=[None]), con=other)
    rejects = again.rejects.execute()
    assert {"source_row", "reason", "original_source_row", "is_refund"} <= set(rejects.columns)
    assert rejects["original_source_row"].tolist() == [1]


def test_mixed_type_object_columns_are_read_as_text(con):
    df = pd.DataFrame({"customer_id": pd.Series([17850, "A-1", None], dtype=object),
                       "order_ts": ["2021-01-01"] * 3, "amount": [1.0, 2.0, 3.0]})
    result = load_orders(df, con=con)
    assert frame(result)["customer_id"].tolist() == ["17850", "A-1"]
    assert reasons(result) == {3: "missing_customer_id"}


def test_ragged_csv_lines_are_kept_not_lost(con, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("customer_id,order_ts,amount\na,2021-01-01,1\nb,2021-01-02\n"
                    "c,2021-01-03,3,EXTRA\n")
    result = load_orders(path, con=con)
    assert reasons(result) == {3: "unparsable_amount", 4: "malformed_line"}
    assert result.report.accepted_purchase_lines == 1
    assert "column3" in result.rejects.columns  # the extra field is kept with the rejected line


def test_record_batch_and_lazy_frame_sources(con):
    import polars as pl

    data = {"customer_id": ["a", None], "order_ts": ["2021-01-01", "2021-01-02"],
            "amount": [1.0, 2.0]}
    batch = pa.RecordBatch.from_pydict(data)
    lazy = pl.DataFrame(data).lazy()
    for source in (batch, lazy):
        assert reasons(load_orders(source, con=con)) == {2: "missing_customer_id"}


def test_nan_amounts_in_parquet_are_rejected(tmp_path):
    """DuckDB prunes Parquet row groups on NaN-blind statistics; NaN must still be caught."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 50_000
    amounts = np.linspace(1.0, 100.0, n)
    amounts[[10, 20_000, 49_999]] = np.nan
    table = pa.table({
        "customer_id": pa.array([f"c{i % 97}" for i in range(n)]),
        "order_ts": pa.array(np.datetime64("2024-01-01T00:00:00") + np.arange(n).astype("timedelta64[s]") * 60),
        "amount": amounts,
    })
    path = tmp_path / "nan.parquet"
    pq.write_table(table, path, row_group_size=5_000)
    result = load_orders(str(path), Columns(), LoadPolicy(duplicates="keep"))
    assert result.report.rejected["unparsable_amount"] == 3
    assert result.report.accepted_purchase_lines == n - 3
    rejected_rows = sorted(result.rejects.to_pandas()["source_row"])
    assert rejected_rows == [11, 20_001, 50_000]


def test_canonical_optional_columns_are_used_without_mapping():
    frame = pd.DataFrame({
        "customer_id": ["a", "a", "b"],
        "order_ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "amount": [10.0, 4.0, 8.0],
        "order_id": ["1", "C2", "3"],
        "channel": ["web", "web", "store"],
        "cost": [6.0, 2.0, 5.0],
    })
    result = load_orders(frame, Columns())
    assert result.report.netted_refund_lines == 1  # the 'C' order id was read without mapping it
    orders = result.orders.execute().sort_values("source_row")
    assert list(orders["channel"]) == ["web", "web", "store"]
    assert list(orders["cost"]) == [6.0, 2.0, 5.0]
    assert Columns(margin_rate=0.3).with_canonical_defaults(list(frame.columns)).cost is None


def test_last_order_ts_skips_rejected_lines_and_matches_the_orders(con):
    df = pd.DataFrame({
        "customer_id": ["a", "a", "b", None, "c"],
        "order_ts": ["2021-01-01", "2021-01-03", "2021-01-03", "2021-02-01", "not a date"],
        "amount": [5.0, 6.0, 6.0, 7.0, 8.0],
    })
    df = pd.concat([df, df.iloc[[1]]], ignore_index=True)  # a duplicate of a kept line
    result = load_orders(df, con=con)
    expected = frame(result)["order_ts"].max()
    assert result.last_order_ts() == expected == pd.Timestamp("2021-01-03")
    both = load_orders({"shop": df, "app": df.assign(order_ts="2021-01-09")}, con=con)
    assert both.last_order_ts() == pd.Timestamp("2021-01-09") == frame(both)["order_ts"].max()
    assert result.cache().last_order_ts() == expected


def test_a_small_database_table_in_time_order_has_no_date_outliers(tmp_path):
    """A DuckDB table of 20k lines written in time order over two years: no line is a date outlier.

    A block sample of an unsized table used to be one run of consecutive lines, so the
    'bulk' of dates was a few days and half the lines were rejected as date_outlier.
    """
    from clv import Columns, load_orders

    n = 20_000
    days = pd.Timestamp("2010-01-01") + pd.to_timedelta(np.linspace(0, 730, n), unit="D")
    frame = pd.DataFrame({"customer_id": [f"c{i % 3000}" for i in range(n)], "order_ts": days.floor("s"),
                          "amount": np.round(np.linspace(1, 100, n), 2)})
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE orders AS SELECT * FROM frame")
    report = load_orders(str(path), Columns(), table="orders").report
    assert report.rejected.get("date_outlier", 0) == 0
    assert report.accepted_purchase_lines == n
