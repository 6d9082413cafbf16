"""Scoring on the engine, DuckDB route (default suite): Arrow batches streamed, scored, written back.

The Spark (mapInArrow) and PostgreSQL routes are in tests/engines/test_engine_scoring.py.
"""

import warnings

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from clv.data.synthetic import simulate_orders
from clv.engine.dialect import register_arrow
from clv.errors import DataError
from clv.models import BetaGeoModel, GammaGammaModel
from clv.scores import score_customers, score_on_engine
from clv.summary import summarize, summary_expression
from engines.compare import assert_same_scores  # tests/engines/compare.py, shared with the engine tests

END = "2023-12-31"


@pytest.fixture(scope="module")
def fitted():
    orders = simulate_orders(800, seed=4, start="2023-01-01", end=END)
    data = summarize(orders, observation_end=END)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return orders, data, BetaGeoModel().fit(data), GammaGammaModel().fit(data)


@pytest.fixture
def con():
    return ibis.duckdb.connect()


def test_duckdb_scores_in_batches_equal_the_local_scores(fitted, con):
    orders, data, model, spend = fitted
    table = register_arrow(pa.Table.from_pandas(orders, preserve_index=False), con)
    customers = summary_expression(table, observation_end=END)
    scores = score_on_engine(model, customers, spend_model=spend, horizon=13, into="scores", batch_rows=150)
    assert scores.get_name() == "scores" and int(con.table("scores").count().execute()) == len(data)
    local = score_customers(data, model, spend, horizon=13).table
    assert_same_scores(scores.to_pandas(), local)
    assert local["clv_q0.9"].gt(0).any()


def test_overwrite_replaces_and_otherwise_an_existing_table_is_refused(fitted, con):
    _, data, model, spend = fitted
    customers = register_arrow(pa.Table.from_pandas(data.table, preserve_index=False), con)
    score_on_engine(model, customers, spend_model=spend, horizon=13, into="scores", intervals=None)
    with pytest.raises(Exception, match="already exists"):
        score_on_engine(model, customers, spend_model=spend, horizon=13, into="scores", intervals=None)
    again = score_on_engine(model, customers, spend_model=spend, horizon=26, into="scores", overwrite=True,
                            intervals=(0.9,), batch_rows=500)
    assert int(again.count().execute()) == len(data) and "clv_q0.95" in again.columns


def test_without_a_seed_every_batch_shares_one_drawn_seed(fitted, con):
    _, data, model, spend = fitted
    frame = data.table[["customer_id", "frequency", "recency", "T", "monetary_value"]]
    twice = pd.concat([frame, frame.assign(customer_id=frame["customer_id"] + 10**6)], ignore_index=True)
    customers = register_arrow(pa.Table.from_pandas(twice, preserve_index=False), con)
    scores = score_on_engine(model, customers, spend_model=spend, horizon=13, seed=None, batch_rows=100).to_pandas()
    scores = scores.set_index("customer_id")
    copies = scores.loc[frame["customer_id"] + 10**6].reset_index(drop=True)
    originals = scores.loc[frame["customer_id"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(copies, originals, check_exact=False, rtol=1e-12)


def test_what_cannot_be_scored_is_refused_with_the_fix(fitted, con):
    _, data, model, spend = fitted
    with pytest.raises(DataError, match="score_customers"):
        score_on_engine(model, data.table, horizon=13)
    customers = register_arrow(pa.Table.from_pandas(data.table.drop(columns="recency"), preserve_index=False), con)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['recency'\]"):
        score_on_engine(model, customers, horizon=13)
    empty = register_arrow(pa.Table.from_pandas(data.table.head(0), preserve_index=False), con)
    with pytest.raises(DataError, match="no row"):
        score_on_engine(model, empty, horizon=13)
    unitless = BetaGeoModel()
    unitless.params_ = dict(model.params_)
    with pytest.raises(DataError, match="time_unit"):
        score_on_engine(unitless, register_arrow(pa.Table.from_pandas(data.table, preserve_index=False), con),
                        horizon=13)


# ---- fitting from the engine-side compressed summary -------------------------------------------------------


def test_models_fit_an_engine_table_from_its_distinct_rows(fitted, con, monkeypatch):
    from clv.summary import customers as summary_customers

    orders, data, model, spend = fitted
    table = register_arrow(pa.Table.from_pandas(orders, preserve_index=False), con)
    customers = summary_expression(table, observation_end=END)
    crossed = []
    compress = summary_customers.compressed_summary
    monkeypatch.setattr(summary_customers, "compressed_summary",
                        lambda *args, **kwargs: crossed.append(compress(*args, **kwargs)) or crossed[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_engine = BetaGeoModel().fit(customers, time_unit="week")
        spend_from_engine = GammaGammaModel().fit(customers)
    assert from_engine.time_unit_ == "week"
    for engine_model, local_model in ((from_engine, model), (spend_from_engine, spend)):
        np.testing.assert_allclose(list(engine_model.params_.values()), list(local_model.params_.values()), rtol=1e-5)
    rfm, values = crossed
    assert list(rfm.columns) == ["frequency", "recency", "T", "count"] and rfm["count"].sum() == len(data)
    assert len(rfm) == len(data[["frequency", "recency", "T"]].drop_duplicates()) < len(data)
    assert list(values.columns) == ["frequency", "monetary_value", "count"]


def test_an_engine_table_brings_its_own_weights(fitted, con):
    _, data, _, _ = fitted
    customers = register_arrow(pa.Table.from_pandas(data.table, preserve_index=False), con)
    with pytest.raises(DataError, match="weights were given twice"):
        BetaGeoModel().fit(customers, weights=np.ones(3), time_unit="week")
    with pytest.raises(DataError, match="customer table alone"):
        BetaGeoModel().fit(customers, data["recency"], data["T"], time_unit="week")
