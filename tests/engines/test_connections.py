"""The engine fixtures reach a working engine (a smoke test the matrix tests build on)."""

import pandas as pd


def test_every_engine_runs_a_query(engine_con):
    from clv.engine import dialect

    table = dialect.register_arrow(__import__("pyarrow").table({"a": [1, 2, 3]}), engine_con) \
        if engine_con.name == "duckdb" else engine_con.create_table(dialect.temp_name("smoke"),
                                                                     pd.DataFrame({"a": [1, 2, 3]}),
                                                                     **({"temp": True} if engine_con.name == "postgres" else {}))
    assert int(table.a.sum().to_pyarrow().as_py()) == 6
