"""Every engine-side step on PostgreSQL gives DuckDB's result (counts and dates exact, sums to 1e-12).

Small inputs: the CDNOW sample's first lines with defects added, and the
defects file of the loader tests. Each step runs on both engines from the same
frame and the whole outputs are compared, sorted by their key.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from clv import Columns, LoadPolicy, load_orders
from clv.data import DatabaseTable
from clv.engine import dialect

from .compare import assert_same_frame

DATA = Path(__file__).parent.parent / "data"
CDNOW_COLUMNS = Columns(customer_id="customer_id", timestamp="date", amount="amount", quantity="cds",
                        order_id="order_id", product_id="product")
DEFECT_COLUMNS = Columns(customer_id="customer", timestamp="ts", quantity="qty", unit_price="price",
                         order_id="order_id", currency="currency")


@pytest.fixture(scope="module")
def cdnow_text() -> pd.DataFrame:
    """2,000 CDNOW lines as text, with order and product ids and every kind of bad line."""
    raw = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, dtype=str,
                      names=["master", "customer_id", "date", "cds", "amount"]).head(2000)
    raw["order_id"] = [str(1000 + i // 2) for i in range(len(raw))]
    raw["product"] = ["p" + str(int(c) % 5 + int(a.split(".")[0]) % 3) for c, a in zip(raw["cds"], raw["amount"])]
    bad = pd.DataFrame({
        "master": "0", "customer_id": ["00004", "00004", "", "00007", "00007", "00009", "00009", "00010", "00010",
                                       "00011", " 00012 ", "00013", "00014", "00015"],
        "date": ["19971345", "x", "19970301", "20990101", "19800101", "20240101", "19970301", "19970302",
                 "19970302", "19970303", "19970304", "1997 0305", "19970306", "19970307"],
        "cds": ["1", "1", "1", "1", "1", "1", "-1", "1", "1", "1", "1", "1", "1", "2"],
        "amount": ["10", "10", "10", "10", "10", "10", "12.5", "0", "0", "abc", "1e400", "5", "-3.25", "1_000.5"],
        "order_id": ["9001", "9002", "9003", "9004", "9005", "9006", "C9007", "9008", "9008", "9010", "9011",
                     "9012", "9013", "9014"],
        "product": "p9",
    })
    copies = raw.iloc[[3, 3, 10, 25]]
    return pd.concat([raw, bad, copies], ignore_index=True)


@pytest.fixture(scope="module")
def defects_text() -> pd.DataFrame:
    return pd.read_csv(DATA / "orders_defects.csv", dtype=str, keep_default_na=False)


def _load_both(frame, columns, policy, duckdb_con, postgres_con, **options):
    return (load_orders(frame, columns, policy, con=duckdb_con, **options),
            load_orders(frame, columns, policy, con=postgres_con, **options))


def _assert_same_load(duck, pg) -> None:
    assert pg.report.as_dict() == duck.report.as_dict()
    assert_same_frame(pg.orders.to_pandas(), duck.orders.to_pandas(), "source_row")
    assert_same_frame(pg.rejects.to_pandas(), duck.rejects.to_pandas(), "source_row")


CDNOW_POLICIES = {
    "formatted dates": LoadPolicy(date_format="%Y%m%d", max_rejected_share=1.0),
    "rejecting": LoadPolicy(date_format="%Y%m%d", refunds="reject", zero_amounts="reject", duplicates="drop",
                            max_amount=500, max_rejected_share=1.0),
    "keeping": LoadPolicy(date_format="%Y%m%d", duplicates="keep", ids="as_written", future_dates="keep",
                          outlier_dates="keep", min_date=None, cancel_prefix=None, max_rejected_share=1.0),
    "zone": LoadPolicy(date_format="%Y%m%d", timezone="America/New_York", max_rejected_share=1.0),
}


@pytest.mark.parametrize("name", sorted(CDNOW_POLICIES))
def test_load_from_a_frame_like_duckdb(name, cdnow_text, duckdb_con, postgres_con):
    duck, pg = _load_both(cdnow_text, CDNOW_COLUMNS, CDNOW_POLICIES[name], duckdb_con, postgres_con)
    _assert_same_load(duck, pg)
    assert sum(pg.report.rejected.values()) > 0


def test_load_with_an_observation_end_like_duckdb(cdnow_text, duckdb_con, postgres_con):
    duck, pg = _load_both(cdnow_text, CDNOW_COLUMNS, LoadPolicy(date_format="%Y%m%d", max_rejected_share=1.0),
                          duckdb_con, postgres_con, observation_end="1997-06-30")
    _assert_same_load(duck, pg)
    assert pg.report.rejected["after_observation_end"] > 0


@pytest.mark.parametrize("policy", [
    LoadPolicy(max_rejected_share=1.0),
    LoadPolicy(max_rejected_share=1.0, timezone="Europe/Berlin", exchange_rates={"EUR": 1.0, "GBP": 1.15}),
    LoadPolicy(max_rejected_share=1.0, date_format="%d/%m/%Y", duplicates="drop", refunds="reject"),
], ids=["iso", "zone and rates", "day first"])
def test_load_of_iso_text_like_duckdb(policy, defects_text, duckdb_con, postgres_con):
    frame = defects_text.copy()
    frame.loc[0, "ts"] = "2021-01-05T10:00:00+02:00"
    frame.loc[6, "ts"] = "2021-01-09 23:30:00Z"
    if policy.exchange_rates is None:  # one currency per load, or rates
        frame = frame.drop(columns="currency")
    columns = DEFECT_COLUMNS if policy.exchange_rates else replace(DEFECT_COLUMNS, currency=None)
    duck, pg = _load_both(frame, columns, policy, duckdb_con, postgres_con)
    _assert_same_load(duck, pg)


def test_load_of_formatted_numbers_like_duckdb(duckdb_con, postgres_con):
    frame = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c"],
                          "order_ts": ["2021-01-05", "2021-02-05", "2021-01-07", "2021-03-01", "2021-01-09"],
                          "amount": ["1.234,50 €", "12,5€", "€ 7", "1.23,4 €", "3 $"]})
    policy = LoadPolicy(decimal=",", thousands=".", currency_symbol="€", max_rejected_share=1.0)
    duck, pg = _load_both(frame, Columns(), policy, duckdb_con, postgres_con)
    _assert_same_load(duck, pg)
    assert pg.report.rejected["unparsable_amount"] == 2


@pytest.fixture(scope="module")
def postgres_orders_table(cdnow_text, postgres_con):
    """The CDNOW lines as a table of PostgreSQL (dropped at the end)."""
    name = dialect.temp_name("orders")
    postgres_con.create_table(name, cdnow_text)
    yield name
    dialect.release(postgres_con.table(name))


def test_load_from_a_postgres_table_like_duckdb(postgres_orders_table, cdnow_text, duckdb_con, postgres_con):
    policy = CDNOW_POLICIES["formatted dates"]
    pg = load_orders(DatabaseTable(postgres_con, f"public.{postgres_orders_table}"), CDNOW_COLUMNS, policy)
    duck = load_orders(cdnow_text, CDNOW_COLUMNS, policy, con=duckdb_con)
    assert pg.con is postgres_con
    _assert_same_load(duck, pg)
    from_ibis = load_orders(postgres_con.table(postgres_orders_table), CDNOW_COLUMNS, policy)
    _assert_same_load(duck, from_ibis)


def test_cached_load_and_written_rejects_like_duckdb(cdnow_text, duckdb_con, postgres_con, tmp_path):
    duck, pg = _load_both(cdnow_text, CDNOW_COLUMNS, CDNOW_POLICIES["rejecting"], duckdb_con, postgres_con)
    cached = pg.cache()
    _assert_same_load(duck, cached)
    for suffix in (".parquet", ".csv"):
        written = {}
        for engine, result in (("duckdb", duck), ("postgres", cached)):
            path = tmp_path / f"{engine}{suffix}"
            result.write_rejects(str(path))
            written[engine] = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str)
        assert_same_frame(written["postgres"], written["duckdb"], "source_row")
    dialect.release(cached.classified)


@pytest.fixture(scope="module")
def loads(cdnow_text, duckdb_con, postgres_con):
    """The CDNOW lines loaded on both engines (DuckDB, PostgreSQL), cached."""
    policy = LoadPolicy(date_format="%Y%m%d", max_rejected_share=1.0)
    duck, pg = _load_both(cdnow_text, CDNOW_COLUMNS, policy, duckdb_con, postgres_con)
    return duck.cache(), pg.cache()


@pytest.mark.parametrize("options", [dict(), dict(time_unit="day", merge="unit", litt=True),
                                     dict(time_unit="month", totals=False)], ids=["weeks", "days", "months"])
def test_summary_like_duckdb(options, loads):
    from clv import summarize

    duck, pg = (summarize(result, **options) for result in loads)
    assert pg.observation_end == duck.observation_end
    assert_same_frame(pg.table, duck.table, "customer_id")


def test_calibration_holdout_and_compressed_summary_like_duckdb(loads):
    from clv.summary.customers import calibration_holdout, compressed_summary, summary_expression

    duck, pg = (calibration_holdout(result, calibration_end="1997-06-30") for result in loads)
    assert_same_frame(pg.table, duck.table, "customer_id")
    compressed = [compressed_summary(summary_expression(result.orders)) for result in loads]
    assert_same_frame(compressed[1], compressed[0], ["frequency", "recency", "T"])


def test_classic_formula_and_repeat_share_like_duckdb(loads):
    from clv.cohorts import repeat_share, retention_matrix
    from clv.formula import classic_clv

    duck, pg = (classic_clv(result.orders, time_unit="quarter", margin=0.3) for result in loads)
    assert_same_frame(pg.overall, duck.overall, "customers")
    assert_same_frame(pg.churn_pairs, duck.churn_pairs, list(duck.churn_pairs.columns[:2]))
    duck, pg = (repeat_share(result.orders) for result in loads)
    assert_same_frame(pg.by_month, duck.by_month, "month")
    assert_same_frame(pg.overall, duck.overall, "revenue")
    assert pg.lines_without_purchase == duck.lines_without_purchase
    duck, pg = (retention_matrix(result.orders) for result in loads)
    assert_same_frame(pg, duck, ["cohort", "months_since_acquisition"])


def test_cohort_value_and_cross_sell_pairs_like_duckdb(loads):
    from clv.cohorts import clv_over_time
    from clv.crosssell import product_pairs

    duck, pg = (clv_over_time(result.orders, transaction_model=None, spend_model=None, margin=0.3) for result in loads)
    assert_same_frame(pg.overall, duck.overall, "months_since_acquisition")
    assert_same_frame(pg.by_cohort, duck.by_cohort, ["cohort", "months_since_acquisition"])
    duck, pg = (clv_over_time(result.orders, margin=0.3) for result in loads)  # models fitted on each summary
    assert_same_frame(pg.overall, duck.overall, "months_since_acquisition")
    for basket in ("customer", "order"):
        duck, pg = (product_pairs(result.orders, basket=basket, min_support=0.001) for result in loads)
        assert len(duck.table) > 0
        assert_same_frame(pg.table, duck.table, ["product_a", "product_b"])
