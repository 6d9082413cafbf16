"""Summaries, the classic formula, cohorts and cross-sell on PySpark give DuckDB's results.

One load of the CDNOW sample per engine (Spark: cached, from a Spark table
numbered without a global ordering), then each step on both engines, compared
whole (sorted by key; counts and dates exact, sums to 1e-12). The Spark
physical plans of the load and the summary hold no single-partition exchange.
"""

from __future__ import annotations

import pytest

from clv.data import Columns, LoadPolicy, load_orders
from clv.engine import dialect
from clv.summary import calibration_holdout, compressed_summary, summarize, summary_expression
from tests.engines.compare import assert_same_frame
from tests.engines.test_spark_load import MESSY_COLUMNS, POLICIES, cdnow_frame, messy_frame

CDNOW_COLUMNS = Columns(customer_id="customer_id", date="date", amount="amount", quantity="qty")
CDNOW_POLICY = LoadPolicy(date_format="%Y%m%d")
END, CALIBRATION_END = "1998-06-30", "1997-09-30"


@pytest.fixture(scope="module")
def cdnow_loads(spark_session, spark_con, duckdb_con):
    """(Spark load from a 3-partition Spark table, cached; DuckDB load of the same lines as a frame)."""
    frame = cdnow_frame()
    view = dialect.temp_name("cdnow")
    spark_session.createDataFrame(frame).repartition(3).createOrReplaceTempView(view)
    spark = load_orders(spark_con.table(view), CDNOW_COLUMNS, CDNOW_POLICY).cache()
    return spark, load_orders(frame, CDNOW_COLUMNS, CDNOW_POLICY, con=duckdb_con)


def _physical_plan(spark_session, spark_con, expr) -> str:
    return spark_session.sql(spark_con.compile(expr))._jdf.queryExecution().executedPlan().toString()


def test_no_single_partition_stage_in_load_or_summary(spark_session, spark_con):
    """The line numbers need no global ordering: no ``Exchange SinglePartition`` in load or summary plans."""
    view = dialect.temp_name("cdnow")
    spark_session.createDataFrame(cdnow_frame()).repartition(3).createOrReplaceTempView(view)
    loaded = load_orders(spark_con.table(view), CDNOW_COLUMNS, CDNOW_POLICY)  # not cached: the whole load
    plans = {"classified": loaded.classified, "orders": loaded.orders, "rejects": loaded.rejects,
             "summary": summary_expression(loaded.orders, observation_end=END)}
    for what, expr in plans.items():
        plan = _physical_plan(spark_session, spark_con, expr)
        assert "Exchange" in plan, f"{what}: not a distributed plan?\n{plan}"
        assert "SinglePartition" not in plan, f"{what} has a single-partition stage:\n{plan}"
    # the old form of the line number is one, so the test can fail
    old = spark_con.table(view).mutate(n=__import__("ibis").row_number())
    assert "SinglePartition" in _physical_plan(spark_session, spark_con, old)


def test_summary_with_totals_as_on_duckdb(cdnow_loads):
    spark, duck = cdnow_loads
    got, expected = summarize(spark, observation_end=END), summarize(duck, observation_end=END)
    assert (got.observation_end, got.time_unit, len(got)) == (expected.observation_end, expected.time_unit, len(expected))
    assert_same_frame(got.table, expected.table, "customer_id", what="summary")


def test_calibration_holdout_and_compressed_as_on_duckdb(cdnow_loads):
    spark, duck = cdnow_loads
    got = calibration_holdout(spark, calibration_end=CALIBRATION_END, observation_end=END)
    expected = calibration_holdout(duck, calibration_end=CALIBRATION_END, observation_end=END)
    assert (got.calibration_end, got.holdout_length) == (expected.calibration_end, expected.holdout_length)
    assert_same_frame(got.table, expected.table, "customer_id", what="calibration/holdout")
    on_engine = compressed_summary(summary_expression(spark.orders, observation_end=END))
    assert_same_frame(on_engine, compressed_summary(summarize(duck, observation_end=END)),
                      ["frequency", "recency", "T"], what="compressed summary")


def test_classic_formula_as_on_duckdb(cdnow_loads):
    from clv.formula import classic_clv

    spark, duck = cdnow_loads
    window = {"start": "1997-01-01", "end": END, "time_unit": "year", "margin": 0.3}
    got, expected = classic_clv(spark.orders, **window), classic_clv(duck.orders, **window)
    assert_same_frame(got.overall, expected.overall, list(expected.overall.columns[:1]), what="classic CLV")
    assert_same_frame(got.churn_pairs, expected.churn_pairs, list(expected.churn_pairs.columns[:1]),
                      what="churn pairs")


def test_cohorts_as_on_duckdb(cdnow_loads):
    from clv.cohorts import repeat_share, retention_matrix

    spark, duck = cdnow_loads
    got, expected = retention_matrix(spark.orders), retention_matrix(duck.orders)
    assert_same_frame(got, expected, ["cohort", "k"] if "k" in expected else list(expected.columns[:2]),
                      what="retention matrix")
    got, expected = repeat_share(spark.orders), repeat_share(duck.orders)
    assert_same_frame(got.overall, expected.overall, "revenue", what="repeat share")
    assert_same_frame(got.by_month, expected.by_month, "month", what="repeat share by month")
    assert got.lines_without_purchase == expected.lines_without_purchase


def test_crosssell_pairs_as_on_duckdb(spark_con, duckdb_con):
    from clv.crosssell import product_pairs

    frame, policy = messy_frame(), POLICIES["net"]
    spark = load_orders(frame, MESSY_COLUMNS, policy, observation_end="2021-12-31", con=spark_con)
    duck = load_orders(frame, MESSY_COLUMNS, policy, observation_end="2021-12-31", con=duckdb_con)
    got, expected = product_pairs(spark.orders, min_support=0.05), product_pairs(duck.orders, min_support=0.05)
    assert (got.baskets, got.products, got.frequent_products) == (expected.baskets, expected.products,
                                                                   expected.frequent_products)
    assert len(expected.table) > 0
    assert_same_frame(got.table, expected.table, ["antecedent", "consequent"]
                      if "antecedent" in expected.table else list(expected.table.columns[:2]), what="pairs")
