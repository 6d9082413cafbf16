"""The loader on PySpark (local[2]) gives DuckDB's orders, rejects and report, with no single-partition stage.

Every policy rule is exercised on a small messy frame (every reject reason a
frame can have), text dates with formats, ISO text with offsets, aware
timestamps and epochs converted to a zone; the CDNOW sample as a Spark table
(line numbers without a global ordering) and as a frame.
"""

from __future__ import annotations


import pandas as pd
import pytest

from clv.data import Columns, LoadPolicy, load_orders
from clv.engine import dialect
from tests.engines.compare import assert_same_frame

CDNOW = "tests/data/CDNOW_sample.txt"
MESSY_COLUMNS = Columns(customer_id="customer", timestamp="ts", quantity="qty", unit_price="price",
                        order_id="order_id", product_id="product", currency="currency", extra=("country",))
RATES = {"EUR": 1.0, "USD": 0.9}


def messy_frame() -> pd.DataFrame:
    """Text columns with every reason a frame can be rejected for, refunds and cancellations.

    200 ordinary lines through 2021 give the dates a bulk, so a line of 2005 is an outlier.
    """
    rows = [(f"{2000 + i}", f"c{i % 37}", f"2021-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
             str(1 + i % 3), f"{1.25 * (1 + i % 17):.2f}", "EUR", f"p{i % 7}", "FR") for i in range(200)]
    rows += [
        ("1001", "c1", "2021-01-05 10:00:00", "2", "5.00", "EUR", "p1", "FR"),
        ("1001", "c1", "2021-01-05 10:00:00", "2", "5.00", "EUR", "p1", "FR"),      # duplicate (order id)
        ("1002", None, "2021-01-06 11:00:00", "1", "3.00", "EUR", "p2", "FR"),       # missing customer
        ("1010", "  ", "2021-02-01", "1", "1", "USD", "p2", "US"),                    # blank customer
        ("1003", "c2", "06/01/2021", "1", "3.00", "EUR", "p2", "DE"),                # unparsable date
        ("1004", "c2", "2021-01-07", "one", "3.00", "EUR", "p3", "DE"),              # unparsable quantity
        ("C1005", "c1", "2021-01-08 09:00:00", "1", "5.00", "EUR", "p1", "FR"),      # cancellation
        ("1006", "c3", "2021-01-09", "1", "0", "EUR", "p4", "UK"),                   # zero amount
        ("1007", "c3", "2021-01-10", "1", "2.50", "GBP", "p4", "UK"),                # no exchange rate
        ("1008", "c4", "2022-01-15 23:30:00", "1", "9.99", "USD", "p5", "US"),       # after observation end
        ("1009", "c4", "2021-02-01", "1", None, "USD", "p5", "US"),                  # missing price
        ("1011", "c5", "2021-02-02", "1", "NaN", "EUR", "p6", "FR"),                 # NaN price
        ("1012", "c5", "2021-02-03", "-2", "4.00", "EUR", "p6", "FR"),               # refund
        ("1013", "c6", "2099-01-01", "1", "4.00", "EUR", "p6", "FR"),                # future
        ("1014", "c6", "1985-06-01", "1", "4.00", "EUR", "p6", "FR"),                # before min_date
        ("1015", "c6", "2005-06-01", "1", "4.00", "EUR", "p6", "FR"),                # outlier
        ("1016", "c7", "2021-03-01", "1", "1e13", "EUR", "p6", "FR"),                # amount out of range
        ("1017", "c7", " 2021-03-02 ", " 1 ", " 7.5 ", "EUR", " p6 ", "FR"),         # blanks around values
        ("1018", "c8", "2021-03-03", "1", "7.5", "EUR", "p6", "FR"),
        ("1018", "c8", "2021-03-03", "1", "7.5", "EUR", "p6", "FR"),                 # duplicate
        (None, "c9", "2021-03-04", "1", "7.5", "EUR", "p6", "FR"),
        (None, "c9", "2021-03-04", "1", "7.5", "EUR", "p6", "FR"),                   # repeat kept (no id, no time)
    ]
    return pd.DataFrame(rows, columns=["order_id", "customer", "ts", "qty", "price", "currency", "product", "country"])


def cdnow_frame() -> pd.DataFrame:
    frame = pd.read_csv(CDNOW, sep=r"\s+", header=None, names=["customer_id", "id2", "date", "qty", "amount"],
                        dtype={"customer_id": str, "date": str})
    return frame[["customer_id", "date", "qty", "amount"]]


def assert_same_load(got, expected) -> None:
    """Orders, rejects and report of two loads are equal (rows matched by source_row)."""
    assert got.report.as_dict() == expected.report.as_dict()
    assert_same_frame(got.orders.to_pandas(), expected.orders.to_pandas(), "source_row", what="orders")
    assert_same_frame(got.rejects.to_pandas(), expected.rejects.to_pandas(), "source_row", what="rejects")


POLICIES = {
    "net": LoadPolicy(exchange_rates=RATES, timezone="Europe/Paris"),
    "reject": LoadPolicy(exchange_rates=RATES, refunds="reject", zero_amounts="reject", duplicates="drop"),
    "keep": LoadPolicy(exchange_rates=RATES, duplicates="keep", future_dates="keep", outlier_dates="keep",
                       min_date=None),
}


@pytest.mark.parametrize("name", POLICIES)
def test_messy_frame_loads_as_on_duckdb(name, spark_con, duckdb_con):
    frame, policy = messy_frame(), POLICIES[name]
    spark = load_orders(frame, MESSY_COLUMNS, policy, observation_end="2021-12-31", con=spark_con)
    duck = load_orders(frame, MESSY_COLUMNS, policy, observation_end="2021-12-31", con=duckdb_con)
    assert_same_load(spark, duck)
    if name != "keep":
        reasons = {r for r, n in duck.report.rejected.items() if n}
        assert {"duplicate", "missing_customer_id", "unparsable_timestamp", "unparsable_amount", "no_exchange_rate",
                "date_in_future", "date_before_min", "date_outlier", "amount_out_of_range",
                "after_observation_end"} <= reasons


def test_spark_table_numbers_lines_like_the_frame(spark_con, spark_session, duckdb_con):
    """A Spark table (several partitions) gets contiguous line numbers 1..N in its order, no global sort."""
    frame = cdnow_frame()
    view = dialect.temp_name("cdnow")
    spark_session.createDataFrame(frame).repartition(3).createOrReplaceTempView(view)
    numbered = spark_con.table(view)
    policy = LoadPolicy(date_format="%Y%m%d")
    columns = Columns(customer_id="customer_id", date="date", amount="amount", quantity="qty")
    spark = load_orders(numbered, columns, policy, con=spark_con).cache()
    rows = spark.orders.source_row.to_pandas().sort_values().to_numpy()
    assert (rows == range(1, len(frame) + 1)).all()
    # the numbers name the right lines: each line's values are those of the frame at that position
    got = spark.orders.select("source_row", "customer_id", "amount").to_pandas().sort_values("source_row")
    duck = load_orders(frame, columns, policy, con=duckdb_con)
    by_row = duck.orders.select("source_row", "customer_id", "amount").to_pandas().set_index("source_row")
    joined = got.join(by_row, on="source_row", rsuffix="_frame")
    assert len(joined) == len(frame)
    assert sorted(joined.customer_id) == sorted(frame.customer_id)
    assert spark.report.as_dict() == duck.report.as_dict()


def test_cdnow_frame_and_cache_as_on_duckdb(spark_con, duckdb_con):
    frame = cdnow_frame()
    columns = Columns(customer_id="customer_id", date="date", amount="amount", quantity="qty")
    policy = LoadPolicy(date_format="%Y%m%d")
    spark = load_orders(frame, columns, policy, con=spark_con)
    cached = spark.cache()
    assert_same_load(cached, load_orders(frame, columns, policy, con=duckdb_con))
    assert cached.last_order_ts() == pd.Timestamp("1998-06-30")


DATE_CASES = [
    ("%Y%m%d", ["19970101", "19971231", "1997013x", "", "19970230"]),
    ("%d/%m/%Y %H:%M", ["05/01/2021 09:05", "5/1/2021 9:05", "31/12/2021 23:59", "2021-01-05", "13/13/2021 10:00"]),
    ("%m/%d/%y", ["01/05/21", "12/31/69", "12/31/68", "1/5/99", "01/05/2021"]),
    ("%Y-%m-%dT%H:%M:%S.%f", ["2021-01-05T10:00:00.123456", "2021-01-05T10:00:00.5", "2021-01-05T10:00:00"]),
    ("%d %b %Y", ["05 Jan 2021", "5 jan 2021", "05 JAN 2021", "05 Janu 2021"]),
    ("%A, %d %B %Y %I:%M %p", ["Tuesday, 05 January 2021 07:05 PM", "Monday, 05 January 2021 12:00 AM",
                               "Tuesday, 05 January 2021 13:05 PM"]),
    ("%Y  %j", ["2021 032", "2021   001", "2020 366", "2021 366"]),
]


@pytest.mark.parametrize(("fmt", "values"), DATE_CASES, ids=[c[0] for c in DATE_CASES])
def test_text_dates_with_a_format_as_on_duckdb(fmt, values, spark_con, duckdb_con):
    """strptime formats translated for Spark: same parses, and NULL (a reject), never an error, in ANSI mode."""
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(values))], "ts": values,
                          "amount": [1.0] * len(values)})
    policy = LoadPolicy(date_format=fmt, max_rejected_share=1.0, outlier_dates="keep", min_date=None)
    columns = Columns(timestamp="ts")
    assert_same_load(load_orders(frame, columns, policy, con=spark_con),
                     load_orders(frame, columns, policy, con=duckdb_con))


def test_time_zones_as_on_duckdb(spark_con, duckdb_con):
    """ISO text with offsets, aware timestamps and epochs land on the policy zone's wall clock."""
    text = ["2021-03-28T01:30:00+02:00", "2021-03-28 00:30:00Z", "2021-10-31T02:30:00-05:00",
            "2021-06-01 12:00:00", "2021-06-01", "2021-06-01T12:00:00+0530", "not a date"]
    aware = pd.Series(pd.to_datetime(["2021-03-28 00:30:00", "2021-10-31 00:30:00", "2021-06-01 12:00:00",
                                      "2021-01-01", "2021-07-01 23:59:59.5", "2021-12-31 23:00:00",
                                      "2021-02-01"], utc=True, format="ISO8601"))
    epochs = [1609459200, 1616894999, 1635643800, 0, 1625097600, 1640995199, 1612137600]
    frame = pd.DataFrame({"customer_id": [f"c{i % 3}" for i in range(7)], "text": text, "aware": aware,
                          "epoch_s": epochs, "epoch_ms": [e * 1000 + 123 for e in epochs], "amount": 1.0})
    for zone, column, fmt in (("Europe/Paris", "text", None), ("America/New_York", "aware", None),
                              ("Europe/Paris", "epoch_s", "epoch_s"), ("America/New_York", "epoch_ms", "epoch_ms")):
        policy = LoadPolicy(timezone=zone, date_format=fmt, outlier_dates="keep", min_date=None,
                            max_rejected_share=1.0)
        part = frame[["customer_id", column, "amount"]]
        assert_same_load(load_orders(part, Columns(timestamp=column), policy, con=spark_con),
                         load_orders(part, Columns(timestamp=column), policy, con=duckdb_con))

def test_write_rejects_twice_to_one_path(spark_con, tmp_path):
    """A rerun writes the rejects again (Spark: a folder of Parquet parts, replaced)."""
    result = load_orders(messy_frame(), MESSY_COLUMNS, POLICIES["net"], observation_end="2021-12-31", con=spark_con)
    path = str(tmp_path / "rejects.parquet")
    assert result.write_rejects(path) == path
    assert result.write_rejects(path) == path
    written = pd.read_parquet(path)
    assert len(written) == result.report.rejected_lines
    csv = str(tmp_path / "rejects.csv")
    result.write_rejects(csv)
    result.write_rejects(csv)
    assert len(pd.read_csv(csv)) == result.report.rejected_lines


def test_datetime_pattern_translation():
    assert dialect.spark_datetime_pattern("%Y%m%d") == "yyyyMMdd"
    assert dialect.spark_datetime_pattern("%d/%m/%Y %H:%M") == "d'/'M'/'y' 'H':'m"
    assert dialect.spark_datetime_pattern("%H%M%S") == "HHmmss"
    assert dialect.spark_datetime_pattern("%Y'%m") == "y''''M"


def test_week_numbers_are_refused_with_the_fix(spark_con):
    from clv.errors import DataError

    frame = pd.DataFrame({"customer_id": ["a"], "ts": ["2021 01 1"], "amount": [1.0]})
    with pytest.raises(DataError, match="%W.*cannot be read on Spark.*fix"):
        load_orders(frame, Columns(timestamp="ts"), LoadPolicy(date_format="%Y %W %w"), con=spark_con).report


def test_parquet_files_read_by_spark_as_on_duckdb(spark_con, duckdb_con, tmp_path):
    """Parquet parts read by Spark itself: line numbers from each file's row index plus its offset."""
    frame = messy_frame()
    first, second = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    frame.iloc[:150].to_parquet(first, index=False, row_group_size=40)
    frame.iloc[150:].to_parquet(second, index=False)
    policy = POLICIES["net"]
    spark = load_orders([first, second], MESSY_COLUMNS, policy, observation_end="2021-12-31", con=spark_con)
    assert_same_load(spark, load_orders([first, second], MESSY_COLUMNS, policy, observation_end="2021-12-31",
                                        con=duckdb_con))


def test_text_files_on_spark_are_refused_with_the_fix(spark_con, tmp_path):
    from clv.errors import DataError

    path = tmp_path / "orders.csv"
    messy_frame().to_csv(path, index=False)
    with pytest.raises(DataError, match="needs a DuckDB connection.*fix: load it into your database first"):
        load_orders(str(path), MESSY_COLUMNS, con=spark_con)
