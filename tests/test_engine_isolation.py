"""Engine differences live in clv.engine alone (issue 16, point 1), checked on the source.

Outside ``src/clv/engine/`` no module sends raw SQL (``.raw_sql(...)`` or
``.sql(...)``) or asks which engine it runs on by name (``.name == "duckdb"``),
except the DuckDB file readers listed below: they are DuckDB's own way of
reading a CSV or Parquet file and run only on a DuckDB connection (a Spark or
PostgreSQL user points clv at a table instead).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "clv"
ENGINE = SRC / "engine"
DUCKDB_READERS = {  # file -> why it may send SQL
    "data/text_source.py": "DuckDB's CSV reader (read_csv with the sniffed dialect), DuckDB connections only",
    "data/sources.py": "DuckDB's Parquet reader and ATTACH of a DuckDB file, DuckDB connections only",
}
ENGINE_NAMES = {"duckdb", "pyspark", "postgres"}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        if ENGINE not in path.parents and "service" not in path.relative_to(SRC).parts:
            yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(), filename=str(path))


def _raw_sql_calls(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("raw_sql", "sql")]


def _engine_name_tests(tree: ast.AST) -> list[int]:
    """Comparisons of anything with an engine's name as a string literal."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            and any(isinstance(c, ast.Constant) and c.value in ENGINE_NAMES for c in [node.left, *node.comparators])]


def test_no_raw_sql_outside_the_engine_package_but_the_duckdb_readers():
    found = {name: lines for name, tree in _modules() if (lines := _raw_sql_calls(tree))}
    assert set(found) <= set(DUCKDB_READERS), {k: v for k, v in found.items() if k not in DUCKDB_READERS}


def test_no_engine_is_recognised_by_name_outside_the_engine_package():
    found = {name: lines for name, tree in _modules() if (lines := _engine_name_tests(tree))}
    assert not found, found


def test_the_checks_catch_what_they_look_for():
    sample = ast.parse('con.raw_sql("SET x = 1")\nif con.name == "duckdb":\n    pass\nt.sql("SELECT 1")')
    assert _raw_sql_calls(sample) == [1, 4]
    assert _engine_name_tests(sample) == [2]
