"""Scoring where the customers are: on Spark's executors, or streamed through Python and written back.

:func:`score_on_engine` scores a per-customer table that lives on an engine
(e.g. :func:`clv.summary.summary_expression` of the orders on Spark or in a
warehouse) without bringing it to the driver in one piece:

* **Spark**: ``DataFrame.mapInArrow``. The fitted models travel pickled in the
  function's closure (Spark ships it to every task: a broadcast of the
  parameters); each executor turns its Arrow record batches into pandas and
  scores them with :func:`clv.scores.score_customers`, the same vectorised code
  as a local run. The scores stay on Spark: a temporary view of the persisted
  result, or a table saved under ``into``.
* **DuckDB, PostgreSQL (and other SQL backends)**: the documented warehouse
  route. The customer rows are streamed as Arrow record batches
  (:func:`clv.engine.dialect.arrow_batches`; PostgreSQL: a server-side cursor),
  each batch is scored in Python and appended to a table on the same database
  (:func:`clv.engine.dialect.arrow_table_writer`). At most one batch of
  customers and its scores is in memory.

Each customer's scores equal :func:`clv.scores.score_customers` on the whole
table: points are per customer, and the interval draws are keyed by the
customer's history and the run seed (:mod:`clv.scores.keyed_random`), so batch
boundaries and partitioning do not matter (purchase quantiles exactly; value
columns to floating-point rounding, 1e-12 relative).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from clv.engine import dialect
from clv.errors import DataError

#: Columns of a customer table that scoring reads (others, e.g. first_purchase, stay on the engine).
SCORED_INPUTS = ("customer_id", "frequency", "recency", "T", "n_periods", "monetary_value", "largely_refunded")
PROBE_ROWS = 64


class BatchScorer:
    """Scores one Arrow batch of customers: :func:`clv.scores.score_customers` with fixed models and options.

    Picklable (the models and options are its state), so Spark can ship it to its executors.

    Parameters
    ----------
    transaction_model, spend_model : fitted models
    time_unit : str
        Unit of the table's recency and T.
    options : dict
        The other keyword arguments of :func:`clv.scores.score_customers` (``horizon``, ``seed``, ...).
    """

    def __init__(self, transaction_model, spend_model, time_unit: str, options: dict[str, Any]):
        self.transaction_model = transaction_model
        self.spend_model = spend_model
        self.time_unit = time_unit
        self.options = options

    def __call__(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        """The scores of the batch's customers as an Arrow table (columns of :func:`clv.scores.score_customers`)."""
        from clv.scores.score import score_customers

        frame = _plain_frame(batch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scores = score_customers(frame, self.transaction_model, self.spend_model, time_unit=self.time_unit,
                                     **self.options)
        return pa.Table.from_pandas(scores.table, preserve_index=False)


def score_on_engine(
    transaction_model,
    customers,
    *,
    spend_model=None,
    horizon: float | None,
    time_unit: str | None = None,
    seed: int | None = 0,
    into: str | None = None,
    overwrite: bool = False,
    batch_rows: int = 100_000,
    **options: Any,
):
    """Score a customer table on its own engine and keep the scores there.

    Parameters
    ----------
    transaction_model : fitted purchase model
        E.g. :class:`clv.models.BetaGeoModel`, fitted on the same customers' histories
        (possibly from the engine-side compressed summary, :func:`clv.summary.compressed_summary`).
    customers : ibis.expr.types.Table
        One row per customer on an Ibis connection (Spark, DuckDB, PostgreSQL...), with the
        columns of :func:`clv.summary.summary_expression`: ``customer_id``, ``frequency``,
        ``recency``, ``T`` (``n_periods`` for BG/BB), and ``monetary_value`` for money;
        ``largely_refunded`` and the models' covariate columns are carried when present.
    spend_model : fitted spend model, optional
        E.g. :class:`clv.models.GammaGammaModel`.
    horizon : float or None
        Forecast window in ``time_unit`` (None: the whole lifetime, no intervals).
    time_unit : str, optional
        Unit of the table's recency and T (an Ibis table does not carry it). Default: the
        unit the purchase model was fitted in (``time_unit_``).
    seed : int or None, default 0
        Run seed of the intervals. None draws one seed here, shared by every batch.
    into : str, optional
        Name of the table the scores are written to, on the customers' connection. Default:
        a new name (``clv_scores_...``); on Spark, without ``into``, a temporary view of the
        persisted scores.
    overwrite : bool, default False
        Replace an existing table ``into``.
    batch_rows : int, default 100_000
        Customers per streamed batch on DuckDB / PostgreSQL (Spark uses its own Arrow batch
        size, ``spark.sql.execution.arrow.maxRecordsPerBatch``).
    **options
        Other arguments of :func:`clv.scores.score_customers` (``intervals``, ``n_draws``,
        ``margin``, ``discount_rate``, ``interval_method``, ``interval_calibration``...).

    Returns
    -------
    ibis.expr.types.Table
        The scores, one row per customer, on the customers' connection: the columns of
        :func:`clv.scores.score_customers` (unordered, like any engine table).

    Raises
    ------
    clv.errors.DataError
        ``customers`` is not an engine table, lacks a column, has no row, or no time unit is known;
        the scoring errors of :func:`clv.scores.score_customers` (found on the first batch).

    Examples
    --------
    >>> import ibis, pyarrow as pa
    >>> from clv.data.synthetic import simulate_orders
    >>> from clv.engine.dialect import register_arrow
    >>> from clv.models import BetaGeoModel
    >>> from clv.summary import summarize, summary_expression
    >>> orders = simulate_orders(300, seed=2, start="2023-01-01", end="2023-12-31")
    >>> model = BetaGeoModel().fit(summarize(orders))
    >>> con = ibis.duckdb.connect()
    >>> table = register_arrow(pa.Table.from_pandas(orders), con)  # or a table already on the engine
    >>> scores = score_on_engine(model, summary_expression(table), horizon=13, into="scores")
    >>> int(scores.count().execute()) == len(summarize(orders))
    True
    """
    con = _engine(customers)
    unit = time_unit or getattr(transaction_model, "time_unit_", None)
    if unit is None:
        raise DataError("time_unit is missing: an engine table does not say in which unit recency and T are, and the "
                        "model was fitted without one. Fix: pass time_unit= (e.g. 'week').")
    if seed is None:
        seed = int(np.random.default_rng().integers(2**63))
    batch_rows = int(batch_rows)
    if batch_rows < 1:
        raise DataError(f"batch_rows must be a whole number >= 1, got {batch_rows}.")
    scorer = BatchScorer(transaction_model, spend_model, unit, dict(options, horizon=horizon, seed=seed))
    inputs = customers.select(*_input_columns(customers, transaction_model, spend_model))
    if dialect.engine_name(con) == dialect.SPARK:
        return _score_on_spark(con, inputs, scorer, into, overwrite)
    return _score_streamed(con, inputs, scorer, into or dialect.temp_name("scores"), overwrite, batch_rows)


def _engine(customers):
    con = dialect.engine_of(customers) if hasattr(customers, "op") else None
    if con is None:
        raise DataError(
            f"customers must be a table on an engine connection (an Ibis table, e.g. clv.summary.summary_expression "
            f"of the orders table), got {type(customers).__name__}. Fix: score a local summary with "
            "clv.scores.score_customers."
        )
    return con


def _input_columns(customers, transaction_model, spend_model) -> list[str]:
    """The columns scoring reads, in the table's order; a missing required one is named."""
    covariates = [*(getattr(transaction_model, "covariate_names_", ()) or ()),
                  *(getattr(spend_model, "covariate_names_", ()) or ())]
    wanted = set(SCORED_INPUTS) | set(covariates)
    missing = [c for c in ("customer_id", "frequency", "recency") if c not in customers.columns]
    if "T" not in customers.columns and "n_periods" not in customers.columns:
        missing.append("T")
    if missing:
        raise DataError(f"the customer table lacks column(s) {missing}; columns found: {', '.join(customers.columns)}. "
                        "Fix: score clv.summary.summary_expression(orders) or rename the columns.")
    return [c for c in customers.columns if c in wanted]


def _plain_frame(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    """An Arrow batch of customers as the pandas frame :func:`clv.scores.score_customers` reads."""
    frame = batch.to_pandas()
    if "largely_refunded" in frame.columns:
        frame["largely_refunded"] = frame["largely_refunded"].fillna(False).astype(bool)
    return frame


def _output_schema(scorer: BatchScorer, inputs) -> pa.Schema:
    """The scores' Arrow schema, from scoring the first few customers on the driver."""
    probe = inputs.limit(PROBE_ROWS).to_pyarrow()
    if probe.num_rows == 0:
        raise DataError("the customer table has no row: nothing to score. Fix: check the orders and the "
                        "observation end of the summary.")
    return _nullable(scorer(probe).schema)


def _nullable(schema: pa.Schema) -> pa.Schema:
    """Every field nullable, large strings as plain strings (what every engine reads)."""
    return pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type, nullable=True)
                      for f in schema])


def _score_on_spark(con, inputs, scorer: BatchScorer, into: str | None, overwrite: bool):
    """``mapInArrow`` over the customers' partitions; the scores saved as ``into`` or a temporary view."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = _output_schema(scorer, inputs)
    scored = dialect.spark_dataframe(inputs).mapInArrow(_SparkBatches(scorer, schema), from_arrow_schema(schema))
    return dialect.save_spark_dataframe(con, scored, into, overwrite=overwrite)


class _SparkBatches:
    """The ``mapInArrow`` function: every record batch of a partition scored, cast to the declared schema."""

    def __init__(self, scorer: BatchScorer, schema: pa.Schema):
        self.scorer, self.schema = scorer, schema

    def __call__(self, batches):
        for batch in batches:
            if batch.num_rows:
                yield from self.scorer(batch).cast(self.schema).to_batches()


def _score_streamed(con, inputs, scorer: BatchScorer, name: str, overwrite: bool, batch_rows: int):
    """Arrow batches from the engine, scored one by one and appended to table ``name`` on the same connection."""
    writer = dialect.arrow_table_writer(con, name, overwrite=overwrite)
    schema = None
    for batch in dialect.arrow_batches(inputs, batch_rows):
        if batch.num_rows == 0:
            continue
        scores = scorer(batch)
        schema = schema or _nullable(scores.schema)
        writer.write(scores.cast(schema))
    if writer.rows == 0:
        raise DataError("the customer table has no row: nothing to score. Fix: check the orders and the "
                        "observation end of the summary.")
    return writer.close()
