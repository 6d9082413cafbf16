"""The engines bench's table says what failed or ran out of time, computes each ratio to DuckDB from the
same step and size, and counts what crosses to Python once per result (bench/bench_engines.py; no Spark,
no PostgreSQL: made-up runs and an in-memory DuckDB)."""

from __future__ import annotations

import sys
from pathlib import Path

import ibis
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
bench_engines = pytest.importorskip("bench_engines")


def _step(seconds: float, rows: int = 10, nbytes: int = 2_000, **extra) -> dict:
    return {"status": "ok", "seconds": seconds, "crossed": {"rows": rows, "bytes": nbytes, "results": 1}, **extra}


def _run(label: str, spark_load: dict, postgres_summary: dict) -> dict:
    duck = {key: _step(1.0) for key in bench_engines.STEPS}
    duck["load"] = _step(2.0)
    spark = {key: _step(3.0) for key in bench_engines.STEPS}
    spark["load"] = spark_load
    postgres = {key: _step(1.5) for key in bench_engines.STEPS}
    postgres["summary"] = postgres_summary
    return {"label": label, "commit": "abc1234 19:00", "machine": {"date": "today"},
            "runs": [{"engine": "duckdb", "size": "2M", "lines": 2_000_000, "steps": duck, "upload_seconds": 0.5},
                     {"engine": "spark", "size": "2M", "lines": 2_000_000, "steps": spark, "source_partitions": 2},
                     {"engine": "postgres", "size": "2M", "lines": 2_000_000, "steps": postgres}]}


def test_ratios_are_per_step_against_duckdb_and_failures_are_shown(tmp_path):
    spread = {"jobs": 3, "stages": 4, "tasks": 17, "max_tasks": 8, "single_task_stages": 1,
              "single_task_max_bytes": 312_000_000, "single_partition_exchange": True}
    before = _run("before", _step(36.0, spark=spread),
                  {"status": "fails", "error": "CannotCoerce: cannot cast type boolean to bigint"})
    after = _run("after", {"status": "over", "error": "over the 1800 s limit of the run"}, _step(0.25))
    text = bench_engines.write_markdown([after, before], tmp_path / "engines.md")
    assert (tmp_path / "engines.md").read_text() == text
    assert text.index("### before") < text.index("### after")  # before first, whatever the order given
    summary = text.split("### before")[0]
    assert "| before | 2M | spark | 36.00 | 2.00 | 18.0x |" in summary
    assert "| after | 2M | spark | over: over the 1800 s limit of the run | 2.00 | - |" in summary
    before_part = text.split("### before")[1].split("### after")[0]
    load_row = next(line for line in before_part.splitlines() if line.startswith("| load_orders + report | 2.00"))
    assert load_row.endswith("| 18.0x | 0.8x |")  # spark 36/2, postgres 1.5/2
    assert "fails: CannotCoerce: cannot cast type boolean to bigint" in before_part
    summary_row = next(line for line in before_part.splitlines() if line.startswith("| summarize"))
    assert summary_row.endswith("| 3.0x | - |")  # no ratio for a failed step
    assert ("3 jobs, 4 stages, 17 tasks (max 8/stage), 1 single-task (largest reads 312.0 MB), "
            "plan has SinglePartition") in before_part
    after_part = text.split("### after")[1]
    assert "| summarize (per customer) | 1.00 | 3.00 | 0.25 | 3.0x | 0.2x |" in after_part


def test_a_pipe_in_an_error_cannot_break_the_table():
    assert bench_engines.cell_seconds({"status": "fails", "error": "a | b"}) == "fails: a / b"
    assert bench_engines.cell_seconds(None) == "not run"


def test_what_crosses_is_counted_once_per_result_and_the_backend_is_restored():
    con = ibis.duckdb.connect()
    table = con.create_table("t", ibis.memtable({"x": list(range(1000)), "y": [1.5] * 1000}))
    original = type(con).execute
    crossings = bench_engines.Crossings()
    crossings.install(type(con))
    try:
        con.execute(table.filter(table.x < 10))
        table.filter(table.x < 100).to_pyarrow()
        seen = crossings.reset()
    finally:
        crossings.restore()
    assert type(con).execute is original
    assert seen["rows"] == 110 and seen["results"] == 2
    assert 110 * 16 <= seen["bytes"] <= 110 * 16 + 2 * 16  # two 8-byte columns (+ validity bitmaps) as Arrow
    assert crossings.reset()["rows"] == 0
