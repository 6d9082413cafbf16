"""The CLI on PostgreSQL and Spark: ``--engine URL|spark --table T`` gives what the same lines give on DuckDB.

PostgreSQL: the server of ``CLV_TEST_POSTGRES_URL`` (a table with a unique
name, dropped after). Spark: a table made in the test session is not visible to
a new process, so the CLI runs in this process (typer's CliRunner) with
``--engine spark``, which gets this session back (``getOrCreate``) and reads
its temporary view.

Outputs written by the CLI (``--orders`` Parquet, ``--rejects`` CSV) come back
from those engines in Arrow batches (:func:`clv.engine.dialect.arrow_batches`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clv.cli.main import app
from clv.engine import dialect

runner = CliRunner()
DATA = Path(__file__).parents[1] / "data"
COLS = ["--col", "customer_id=customer_id", "--col", "timestamp=order_ts", "--col", "amount=amount",
        "--col", "order_id=order_id"]


def _orders() -> pd.DataFrame:
    """Apparel orders (3,187 lines) with typed columns, plus lines every engine must reject or net the same way."""
    frame = pd.read_csv(DATA / "apparelTrans.csv").rename(columns={"Id": "customer_id", "Date": "order_ts",
                                                                    "Price": "amount"})
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["order_ts"] = pd.to_datetime(frame["order_ts"]).astype("datetime64[us]")
    frame["order_id"] = [f"o{i}" for i in range(len(frame))]
    defects = pd.DataFrame({
        "customer_id": ["1", None, "3", "1"],
        "order_ts": pd.to_datetime(["2005-03-01", "2005-03-02", None, "2005-03-03"]).astype("datetime64[us]"),
        "amount": [float("nan"), 10.0, 12.0, -20.0],
        "order_id": ["bad1", "bad2", "bad3", "C9"],
    })
    return pd.concat([frame, defects], ignore_index=True)


def _run(arguments: list[str]) -> dict | None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--format" in arguments else None


def _summary(tmp_path: Path, source: list[str], name: str) -> pd.DataFrame:
    out = tmp_path / f"{name}.csv"
    _run(["summarize", *source, *COLS, "--time-unit", "day", "-o", str(out)])
    return pd.read_csv(out).sort_values("customer_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def orders_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("orders") / "orders.parquet"
    _orders().to_parquet(path, index=False)
    return path


def _same_as_duckdb(tmp_path: Path, orders_file: Path, engine_source: list[str]) -> None:
    """Load report, accepted lines, rejects and summary from the engine equal DuckDB's from the file."""
    report = {}
    for name, source in (("duckdb", [str(orders_file)]), ("engine", engine_source)):
        report[name] = _run(["load", *source, *COLS, "--format", "json", "--orders", str(tmp_path / f"{name}.parquet"),
                             "--rejects", str(tmp_path / f"{name}_rejects.csv")])
    assert report["engine"] == report["duckdb"]
    assert sum(report["duckdb"]["rejected"].values()) == 3 and report["duckdb"]["netted_refund_lines"] == 1

    def accepted(name):
        frame = pq.read_table(tmp_path / f"{name}.parquet").to_pandas().drop(columns=["source_row"], errors="ignore")
        return frame.sort_values(["customer_id", "order_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(accepted("engine"), accepted("duckdb"), check_dtype=False)
    rejects = {n: pd.read_csv(tmp_path / f"{n}_rejects.csv").sort_values("order_id")["reason"].tolist()
               for n in ("duckdb", "engine")}
    assert rejects["engine"] == rejects["duckdb"]
    pd.testing.assert_frame_equal(_summary(tmp_path, engine_source, "engine_summary"),
                                  _summary(tmp_path, [str(orders_file)], "duckdb_summary"), rtol=1e-12)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture()
def postgres_table(postgres_con):
    name = dialect.temp_name("cli_orders")
    postgres_con.create_table(name, _orders())
    yield name
    dialect.release(postgres_con.table(name))


def test_cli_on_a_postgres_table_equals_duckdb(postgres_table, orders_file, tmp_path):
    url = os.environ["CLV_TEST_POSTGRES_URL"]
    _same_as_duckdb(tmp_path, orders_file, ["--engine", url, "--table", postgres_table])


def test_fit_from_orders_on_postgres(postgres_table, orders_file):
    url = os.environ["CLV_TEST_POSTGRES_URL"]
    options = ["--from-orders", "--date-col", "order_ts", "--amount-col", "amount", "--order-id-col", "order_id",
               "-m", "bgnbd", "--format", "json"]
    on_postgres = _run(["fit", "--engine", url, "--table", postgres_table, *options])
    on_duckdb = _run(["fit", str(orders_file), *options])
    assert on_postgres["params"] == pytest.approx(on_duckdb["params"], rel=1e-9)


def test_a_missing_postgres_table_is_one_line(postgres_con):
    url = os.environ["CLV_TEST_POSTGRES_URL"]
    result = runner.invoke(app, ["load", "--engine", url, "--table", "public.no_such_orders", *COLS])
    assert result.exit_code == 2
    assert "--table public.no_such_orders was not found on postgres" in result.output


# --------------------------------------------------------------------------- Spark


@pytest.fixture()
def spark_table(spark_session):
    name = dialect.temp_name("cli_orders")
    spark_session.createDataFrame(_orders()).repartition(3).createOrReplaceTempView(name)
    yield name
    spark_session.catalog.dropTempView(name)


def test_cli_on_a_spark_table_equals_duckdb(spark_table, orders_file, tmp_path):
    _same_as_duckdb(tmp_path, orders_file, ["--engine", "spark", "--table", spark_table])


def test_spark_results_stream_in_arrow_batches_per_partition(spark_con, spark_table):
    table = spark_con.table(spark_table)
    reader = dialect.arrow_batches(table)
    batches = list(reader)
    assert len(batches) >= 3  # one partition at a time, not one collected table
    streamed = pd.concat([b.to_pandas() for b in batches]).sort_values("order_id").reset_index(drop=True)
    expected = _orders().sort_values("order_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(streamed, expected, check_dtype=False)


# --------------------------------------------------------------------------- files written from the engines


@pytest.mark.parametrize("engine", ["postgres", "spark"])
def test_parquet_and_csv_outputs_stream_from_the_engine(engine, request, tmp_path):
    """dialect.write_local_parquet / write_local_csv (what --orders and --rejects use) on a PostgreSQL table and a Spark view."""
    con = request.getfixturevalue({"postgres": "postgres_con", "spark": "spark_con"}[engine])
    table = con.table(request.getfixturevalue(f"{engine}_table"))
    expected = _orders().sort_values("order_id").reset_index(drop=True)
    dialect.write_local_parquet(table, str(tmp_path / "out.parquet"), {"clv.test": "kept"})
    assert pq.read_schema(tmp_path / "out.parquet").metadata[b"clv.test"] == b"kept"
    written = pq.read_table(tmp_path / "out.parquet").to_pandas().sort_values("order_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    dialect.write_local_csv(table, str(tmp_path / "out.csv.gz"))
    text = pd.read_csv(tmp_path / "out.csv.gz", dtype={"customer_id": str}, parse_dates=["order_ts"])
    pd.testing.assert_frame_equal(text.sort_values("order_id").reset_index(drop=True), expected, check_dtype=False)


# --------------------------------------------------------------------------- spark-submit (examples/spark_submit_clv.py)


def test_the_spark_submit_example_runs_a_command_on_a_parquet_view(orders_file, tmp_path):
    """The documented route for Databricks/EMR, on local[1]: spark-submit starts the driver, the script runs clv."""
    import shutil
    import subprocess
    import sys

    submit = Path(sys.executable).parent / "spark-submit"
    if not submit.exists():
        submit = Path(shutil.which("spark-submit") or "spark-submit")
    script = Path(__file__).parents[2] / "examples" / "spark_submit_clv.py"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).parents[2] / "src"),
                                                      os.environ.get("PYTHONPATH")) if p)}
    run = subprocess.run(
        [str(submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false", str(script),
         "--view", f"orders={orders_file}", "--", "load", "--engine", "spark", "--table", "orders", *COLS,
         "--format", "json"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    on_spark, _ = json.JSONDecoder().raw_decode(run.stdout[run.stdout.index("{"):])  # Spark may print after it
    assert on_spark == _run(["load", str(orders_file), *COLS, "--format", "json"])
