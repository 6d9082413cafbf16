"""`clv segments`: exit codes, formats, the export file."""

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.cli.main import app
from clv.data.synthetic import simulate_orders
from clv.segments import ACTIONS

runner = CliRunner()


@pytest.fixture(scope="module")
def orders_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("segments") / "orders.csv"
    simulate_orders(800, seed=5).to_csv(path, index=False)
    return path


def test_prints_the_playbook_as_json_and_exports_a_segment(orders_csv, tmp_path):
    export = tmp_path / "win_back.csv"
    everyone = tmp_path / "customers.parquet"
    result = runner.invoke(app, [
        "segments", str(orders_csv), "--col", "order_id=order_id", "--time-unit", "week", "--horizon", "52",
        "--export", "win_back", "--output", str(export), "--customers", str(everyone), "--format", "json",
    ])
    assert result.exit_code == 0, result.output
    plays = json.loads(result.stdout)
    assert [row["action"] for row in plays] == list(ACTIONS)
    customers = pd.read_parquet(everyone)
    assert sum(row["customers"] for row in plays) == len(customers) == customers["customer_id"].nunique()
    exported = pd.read_csv(export, dtype={"customer_id": str})
    expected = customers.loc[customers["action"] == "win_back", "customer_id"]
    assert sorted(exported["customer_id"]) == sorted(expected)
    win_back = next(row for row in plays if row["action"] == "win_back")
    assert win_back["value_at_stake"] == pytest.approx(customers.loc[customers["action"] == "win_back", "clv"].sum())


def test_csv_format_with_a_changed_assumption_and_table_default(orders_csv):
    result = runner.invoke(app, ["segments", str(orders_csv), "--format", "csv", "--assume", "win_back=0.2"])
    assert result.exit_code == 0, result.output
    plays = pd.read_csv(io.StringIO(result.stdout)).set_index("action")
    assert plays.loc["win_back", "assumed_rate"] == 0.2
    assert "20%" in plays.loc["win_back", "assumption"]
    table = runner.invoke(app, ["segments", str(orders_csv)])
    assert table.exit_code == 0 and "win_back" in table.stdout and "Assumption:" in table.stdout
    assert "RFM score thresholds" in table.stdout and "top 20%" in table.stdout


@pytest.mark.parametrize("arguments", [
    ["--export", "win_back"],  # no --output
    ["--export", "nobody", "--output", "x.csv"],
    ["--time-unit", "fortnight"],
    ["--assume", "winback=0.1"],
    ["--assume", "win_back=lots"],
    ["--value-cuts", "0.5,0.1"],
    ["--col", "customer_id=Client"],
])
def test_bad_options_exit_2_with_one_line(orders_csv, tmp_path, arguments):
    arguments = [a.replace("x.csv", str(tmp_path / "x.csv")) for a in arguments]
    result = runner.invoke(app, ["segments", str(orders_csv), *arguments])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_missing_input_exits_2(tmp_path):
    assert runner.invoke(app, ["segments", str(tmp_path / "none.csv")]).exit_code == 2
