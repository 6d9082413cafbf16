"""The data commands of the CLI: exit codes, formats, files, one-line errors."""

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.cli.main import app

runner = CliRunner()

ORDERS_CSV = """InvoiceNo,When,Client,Total,Country
1,2024-01-01 10:00,a,10.0,UK
1,2024-01-01 10:00,a,10.0,UK
2,2024-01-08 10:00,a,20.0,UK
3,2024-01-15 10:00,a,40.0,UK
C4,2024-01-16 10:00,a,-15.0,UK
5,2024-01-10 12:00,b,7.0,FR
6,not a date,b,7.0,FR
7,2024-01-11 12:00,,9.0,FR
8,2024-02-11 12:00,c,5.0,FR
"""
COLS = ["--col", "order_id=InvoiceNo", "--col", "timestamp=When", "--col", "customer_id=Client", "--col", "amount=Total"]


@pytest.fixture()
def orders_csv(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    return path


def test_load_reports_every_line(orders_csv, tmp_path):
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["load", str(orders_csv), *COLS, "--format", "json", "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["input_rows"] == 9
    assert report["accepted_purchase_lines"] == 5
    assert report["netted_refund_lines"] == 1
    assert report["rejected"]["duplicate"] == 1
    assert report["rejected"]["unparsable_timestamp"] == 1
    assert report["rejected"]["missing_customer_id"] == 1
    set_aside = pd.read_csv(rejects)
    assert sorted(set_aside["source_row"]) == [3, 8, 9]  # physical lines: the header is line 1


def test_misspelt_column_exits_2_with_the_columns_found(orders_csv):
    result = runner.invoke(app, ["load", str(orders_csv), "--col", "customer_id=Clinet", "--col", "timestamp=When", "--col", "amount=Total"])
    assert result.exit_code == 2
    assert "Clinet" in result.output and "Client" in result.output
    assert "Traceback" not in result.output


def test_bad_option_and_missing_file_exit_2(orders_csv, tmp_path):
    assert runner.invoke(app, ["load", str(orders_csv), "--col", "customer=Client"]).exit_code == 2
    assert runner.invoke(app, ["load", str(orders_csv), *COLS, "--policy", "refunds=maybe"]).exit_code == 2
    missing = runner.invoke(app, ["summarize", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_summarize_json_and_file(orders_csv, tmp_path):
    result = runner.invoke(app, ["summarize", str(orders_csv), *COLS, "--observation-end", "2024-01-31", "--time-unit", "day",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["customer_id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"a", "b"}  # c bought after the observation end
    assert (rows["a"]["frequency"], rows["a"]["recency"], rows["a"]["T"]) == (2, 14.0, 30.0)
    assert rows["a"]["revenue"] == pytest.approx(55.0)  # duplicate dropped, refund netted
    out = tmp_path / "summary.parquet"
    written = runner.invoke(app, ["summarize", str(orders_csv), *COLS, "--time-unit", "week", "--output", str(out)])
    assert written.exit_code == 0, written.output
    assert pd.read_parquet(out).set_index("customer_id").loc["a", "recency"] == pytest.approx(2.0)


def test_summarize_no_totals_gives_the_same_model_inputs(orders_csv):
    args = ["summarize", str(orders_csv), *COLS, "--observation-end", "2024-01-31", "--format", "json"]
    full = pd.DataFrame(json.loads(runner.invoke(app, args).stdout))
    result = runner.invoke(app, [*args, "--no-totals"])
    assert result.exit_code == 0, result.output
    lean = pd.DataFrame(json.loads(result.stdout))
    assert {"n_orders", "revenue"} <= set(full.columns) and not {"n_orders", "revenue"} & set(lean.columns)
    pd.testing.assert_frame_equal(lean, full[lean.columns])


def test_summarize_calibration_split_csv(orders_csv):
    result = runner.invoke(
        app, ["summarize", str(orders_csv), *COLS, "--calibration-end", "2024-01-09", "--observation-end", "2024-01-31", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("customer_id,frequency,recency,T")
    assert "frequency_holdout" in lines[0] and len(lines) == 2


def test_kpis_json_with_segments(orders_csv):
    result = runner.invoke(
        app, ["kpis", str(orders_csv), *COLS, "--extra", "Country", "--segment-by", "Country",
              "--margin", "0.3", "--lifespan", "3", "--time-unit", "month", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    overall = payload["overall"][0] if isinstance(payload["overall"], list) else payload["overall"]
    assert overall["customers"] == 3
    assert overall["margin"] == pytest.approx(0.3)


def test_kpis_drivers_table(orders_csv):
    result = runner.invoke(app, ["kpis", str(orders_csv), *COLS, "--drivers", "month", "--margin", "0.3", "--format", "csv"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame["period"]) == ["2024-01", "2024-02"]
    assert list(frame["customers_active"]) == [2, 1]
    assert frame.loc[0, "revenue"] == pytest.approx(62.0)  # 10 + 20 + 40 - 15 + 7 (duplicate dropped)
    assert frame.loc[1, "churn"] == pytest.approx(1.0)     # neither January buyer came back


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "load", "summarize", "kpis", "fit", "score"):
        assert command in result.output


def test_clv_load_tells_kept_repeats_and_fixes(tmp_path):
    from typer.testing import CliRunner

    from clv.cli.main import app

    runner = CliRunner()
    repeats = tmp_path / "repeats.csv"
    repeats.write_text("customer_id,order_ts,amount\na,2021-01-01,5\na,2021-01-01,5\nb,2021-01-02,3\n")
    result = runner.invoke(app, ["load", str(repeats)])
    assert result.exit_code == 0, result.output
    assert "identical lines kept" in result.output and "--policy duplicates=drop" in result.output
    us = tmp_path / "us.csv"
    us.write_text("customer_id,order_ts,amount\na,12/13/2010 08:26,1\nb,12/01/2010 09:00,2\n")
    rejects = tmp_path / "rejects.csv"
    refused = runner.invoke(app, ["load", str(us), "--rejects", str(rejects)])
    assert refused.exit_code == 2
    assert "--date-format '%m/%d/%Y %H:%M'" in refused.output and "Traceback" not in refused.output
    assert pd.read_csv(rejects)["reason"].tolist() == ["unparsable_timestamp"] * 2
