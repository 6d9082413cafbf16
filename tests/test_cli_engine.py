"""One way to say where the data is: clv.engine.connect_engine and the CLI's --engine / --table.

DuckDB only (files and the in-process engine); PostgreSQL and Spark runs of the
same commands are in tests/engines/test_cli_engines.py.
"""

import json

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clv.cli.main import app
from clv.engine import connect_engine, default_connection, dialect
from clv.engine.connections import engine_label
from clv.errors import ClvError

runner = CliRunner()

ORDERS_CSV = """InvoiceNo,When,Client,Total
1,2024-01-01 10:00,a,10.0
1,2024-01-01 10:00,a,10.0
2,2024-01-08 10:00,a,20.0
3,2024-01-15 10:00,a,40.0
C4,2024-01-16 10:00,a,-15.0
5,2024-01-10 12:00,b,7.0
6,not a date,b,7.0
7,2024-01-11 12:00,,9.0
8,2024-02-11 12:00,c,5.0
9,2024-03-01 09:00,b,12.5
"""
COLS = ["--col", "order_id=InvoiceNo", "--col", "timestamp=When", "--col", "customer_id=Client", "--col", "amount=Total"]


@pytest.fixture()
def shop(tmp_path):
    """The same order lines as a CSV file and as table sales.orders of a DuckDB file (text columns, as the CSV)."""
    csv = tmp_path / "orders.csv"
    csv.write_text(ORDERS_CSV)
    database = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA sales")
    con.execute(f"CREATE TABLE sales.orders AS SELECT * FROM read_csv('{csv}', all_varchar = true)")
    con.close()
    return csv, database


# --------------------------------------------------------------------------- connect_engine


def test_default_names_give_clvs_duckdb():
    assert connect_engine() is default_connection()
    assert connect_engine("duckdb") is default_connection()
    assert connect_engine("DuckDB ") is default_connection()


def test_a_duckdb_file_by_path_or_url(shop):
    _, database = shop
    for spec in (str(database), database, f"duckdb://{database}"):
        con = connect_engine(spec)
        assert con.name == "duckdb" and con is not default_connection()
        assert con.table("orders", database="sales").count().execute() == 10


def test_a_connection_is_returned_as_it_is():
    con = default_connection()
    assert connect_engine(con) is con


@pytest.mark.parametrize(("spec", "words"), [
    ("nosuch", "is not an engine clv knows; fix: give 'duckdb'"),
    ("foo://host/db", "no Ibis backend reads foo:// URLs"),
    ("spark://host:7077", "fix: pass engine='spark' with spark_master='spark://host:7077'"),
    ("missing.duckdb", "the DuckDB file 'missing.duckdb' does not exist"),
])
def test_unknown_engines_are_refused_with_the_fix(spec, words):
    with pytest.raises(ClvError, match="fix") as caught:
        connect_engine(spec)
    assert words in str(caught.value)


def test_spark_settings_without_spark_are_refused():
    with pytest.raises(ClvError, match="spark_master= and spark_conf= configure Spark"):
        connect_engine("duckdb", spark_master="local[1]")


def test_a_file_that_is_not_duckdb_is_refused(tmp_path):
    path = tmp_path / "orders.db"
    path.write_text("not a database")
    with pytest.raises(ClvError, match="is not a DuckDB database file"):
        connect_engine(str(path))


def test_a_missing_backend_names_its_extra_and_hides_the_password():
    with pytest.raises(ClvError) as caught:
        connect_engine("snowflake://user:s3cret@account/db/schema")
    message = str(caught.value)
    assert "s3cret" not in message and "user:***@account" in message
    assert "pip install 'ibis-framework[snowflake]'" in message


def test_a_refused_connection_says_so_without_the_password():
    with pytest.raises(ClvError) as caught:
        connect_engine("postgres://clv:s3cret@127.0.0.1:1/shop")  # port 1: nothing listens
    message = str(caught.value)
    assert "could not connect" in message and "s3cret" not in message and "fix: check the host" in message


def test_engine_label_masks_only_the_password():
    assert engine_label("postgres://u:pw@h:5432/db") == "postgres://u:***@h:5432/db"
    assert engine_label("postgres://u@h/db") == "postgres://u@h/db"
    assert engine_label(None) == "duckdb"


# --------------------------------------------------------------------------- results as Arrow batches


def test_arrow_batches_stream_the_rows_in_chunks():
    import pyarrow as pa

    table = dialect.register_arrow(pa.table({"n": list(range(2500))}), default_connection())
    reader = dialect.arrow_batches(table, chunk_size=1000)
    sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 2500 and max(sizes) <= 1000


# --------------------------------------------------------------------------- the CLI


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_load_reads_a_table_of_a_duckdb_file_as_it_reads_the_file(shop, tmp_path):
    csv, database = shop
    from_file = _json(runner.invoke(app, ["load", str(csv), *COLS, "--format", "json"]))
    for engine in (str(database), f"duckdb://{database}"):
        from_table = _json(runner.invoke(app, ["load", "--engine", engine, "--table", "sales.orders", *COLS,
                                               "--format", "json"]))
        assert from_table == from_file
    assert from_file["rejected"]["duplicate"] == 1 and from_file["accepted_purchase_lines"] == 6


def test_load_writes_orders_and_rejects_from_an_engine_table(shop, tmp_path):
    csv, database = shop
    orders, rejects = tmp_path / "clean.parquet", tmp_path / "rejects.csv"
    result = runner.invoke(app, ["load", "--engine", str(database), "--table", "sales.orders", *COLS,
                                 "--orders", str(orders), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(orders).num_rows == 7  # 6 purchases + 1 netted refund
    record = json.loads(pq.read_schema(orders).metadata[b"clv.load_report"])
    assert record["source"] == f"sales.orders on {database}"
    assert len(pd.read_csv(rejects)) == 3


def test_summarize_on_an_engine_table_equals_the_file(shop, tmp_path):
    csv, database = shop
    frames = []
    for source in ([str(csv)], ["--engine", f"duckdb://{database}", "--table", "sales.orders"]):
        out = tmp_path / f"summary{len(frames)}.csv"
        result = runner.invoke(app, ["summarize", *source, *COLS, "--time-unit", "day", "-o", str(out)])
        assert result.exit_code == 0, result.output
        frames.append(pd.read_csv(out).sort_values("customer_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert list(frames[0]["customer_id"]) == ["a", "b", "c"]


def test_fit_from_orders_on_an_engine_table(shop, tmp_path):
    csv, database = shop
    options = ["--from-orders", "--customer-col", "Client", "--date-col", "When", "--amount-col", "Total",
               "--order-id-col", "InvoiceNo", "-m", "nbd", "--no-fallback", "--format", "json"]
    from_file = _json(runner.invoke(app, ["fit", str(csv), *options]))
    from_table = _json(runner.invoke(app, ["fit", "--engine", str(database), "--table", "sales.orders", *options]))
    assert from_table["params"] == from_file["params"]
    assert from_table["input"] == f"sales.orders on {database}"


@pytest.mark.parametrize(("arguments", "words"), [
    (["load"], "give the orders: INPUT"),
    (["load", "--engine", "{db}"], "reads a table: name it with --table"),
    (["load", "{csv}", "--engine", "{db}", "--table", "sales.orders"], "leave INPUT out to read the table"),
    (["load", "--engine", "{db}", "--table", "sales.nothing"], "--table sales.nothing was not found on duckdb"),
    (["summarize", "--engine", "nosuch", "--table", "t"], "--engine nosuch is not an engine clv knows"),
    (["kpis", "--engine", "spark://h:7077", "--table", "t"], "pass --engine spark with --spark-master spark://h:7077"),
    (["load", "{csv}", "--spark-master", "local[1]"], "add --engine spark"),
    (["load", "--engine", "postgres://u:s3cret@127.0.0.1:1/db", "--table", "t"], "--engine 'postgres://u:***@127.0.0.1:1/db' could not connect"),
    (["fit", "-m", "nbd"], "give INPUT"),
    (["fit", "--engine", "{db}", "--table", "sales.orders", "-m", "nbd"], "add --from-orders"),
])
def test_engine_errors_are_one_line_in_cli_words(shop, arguments, words):
    csv, database = shop
    arguments = [a.format(db=database, csv=csv) for a in arguments]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0 or result.output.startswith("error:")
