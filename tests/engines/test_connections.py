"""The engine fixtures reach a working engine (a smoke test the matrix tests build on)."""

import pyarrow as pa

from clv.engine import dialect


def test_every_engine_runs_a_query(engine_con):
    """An Arrow table uploaded the way clv uploads frames (a temp view on Spark, a temp table elsewhere)."""
    table = dialect.register_arrow(pa.table({"a": [1, 2, 3]}), engine_con)
    assert int(table.a.sum().to_pyarrow().as_py()) == 6
