"""Fitting and scoring on the engine (issue 16, point 3): models fit from the engine's distinct rows;
Spark scores through mapInArrow, PostgreSQL and DuckDB through Arrow batches.

Every engine's scores equal the local ``score_customers`` of the same customers
(purchase quantiles exactly, other columns to 1e-12 relative): the interval draws
are keyed per customer history and run seed, so batches and partitions do not matter.
"""

import warnings

import numpy as np
import pyarrow as pa
import pytest

from clv.data.synthetic import simulate_orders
from clv.engine import dialect
from clv.models import BetaGeoModel, GammaGammaModel, ParetoNBDModel
from clv.scores import score_customers, score_on_engine
from clv.summary import summarize, summary_expression

from .compare import assert_same_scores

END = "2023-12-31"
INPUTS = ["customer_id", "frequency", "recency", "T", "monetary_value", "largely_refunded"]


@pytest.fixture(scope="module")
def fitted():
    orders = simulate_orders(500, seed=6, start="2023-01-01", end=END)
    data = summarize(orders, observation_end=END)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return orders, data, BetaGeoModel().fit(data), GammaGammaModel().fit(data)


def assert_fits_from_distinct_rows(customers, model, spend) -> None:
    """Models fitted on the engine table (its distinct rows, weighted) equal the local fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = ((BetaGeoModel().fit(customers, time_unit="week"), model), (GammaGammaModel().fit(customers), spend))
    for engine_model, local_model in pairs:
        np.testing.assert_allclose(list(engine_model.params_.values()), list(local_model.params_.values()), rtol=1e-5)


def test_spark_scores_with_map_in_arrow_on_its_partitions(spark_con, fitted):
    orders, data, model, spend = fitted
    name = dialect.temp_name("orders")
    spark_con._session.createDataFrame(orders).repartition(3).createOrReplaceTempView(name)
    try:
        customers = summary_expression(spark_con.table(name), observation_end=END)
        scores = score_on_engine(model, customers, spend_model=spend, horizon=13)
        plan = dialect.spark_dataframe(scores)._jdf.queryExecution().toString()
        assert "MapInArrow" in plan
        assert_same_scores(scores.to_pandas(), score_customers(data, model, spend, horizon=13).table)
        assert_fits_from_distinct_rows(customers, model, spend)
    finally:
        spark_con._session.catalog.dropTempView(name)


def test_spark_factorised_intervals_equal_the_local_ones(spark_con, fitted):
    _, data, _, spend = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pareto = ParetoNBDModel().fit(data)
    name = dialect.temp_name("customers")
    spark_con._session.createDataFrame(data.table[INPUTS]).repartition(4).createOrReplaceTempView(name)
    try:
        scores = score_on_engine(pareto, spark_con.table(name), spend_model=spend, horizon=26, seed=7,
                                 intervals=(0.9,))
        assert_same_scores(scores.to_pandas(),
                           score_customers(data, pareto, spend, horizon=26, seed=7, intervals=(0.9,)).table)
    finally:
        spark_con._session.catalog.dropTempView(name)


def test_postgres_scores_are_streamed_and_written_back(postgres_con, fitted):
    _, data, model, spend = fitted
    customers = postgres_con.create_table(dialect.temp_name("customers"), data.table[INPUTS])
    into = dialect.temp_name("scores")
    try:
        scores = score_on_engine(model, customers, spend_model=spend, horizon=13, into=into, batch_rows=120)
        assert scores.get_name() == into
        assert_same_scores(scores.to_pandas(), score_customers(data, model, spend, horizon=13).table)
        assert_fits_from_distinct_rows(customers, model, spend)
        again = score_on_engine(model, customers, spend_model=spend, horizon=13, into=into, overwrite=True,
                                intervals=None)
        assert int(again.count().execute()) == len(data) and "clv_q0.9" not in again.columns
    finally:
        dialect.release(customers)
        dialect.release(postgres_con.table(into))


def test_duckdb_scores_from_the_summary_expression(duckdb_con, fitted):
    orders, data, model, spend = fitted
    table = dialect.register_arrow(pa.Table.from_pandas(orders, preserve_index=False), duckdb_con)
    into = dialect.temp_name("scores")
    scores = score_on_engine(model, summary_expression(table, observation_end=END), spend_model=spend, horizon=13,
                             into=into, batch_rows=100)
    try:
        assert_same_scores(scores.to_pandas(), score_customers(data, model, spend, horizon=13).table)
    finally:
        dialect.release(scores)
