"""What the commands write and print: tables that fit 80 columns, literal text, safe CSV, files by extension."""

from __future__ import annotations

import io
import json
import os
import string

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from clv.cli.main import app
from clv.cli.outputs import csv_escaping, neutralise_formulas
from clv.cli.provenance import LOAD_REPORT_KEY, provenance_sentence
from clv.cli.tables import FittedTable

runner = CliRunner()
ORDERS = """customer_id,order_ts,amount,channel
=HYPERLINK("http://x"),2024-01-03,10.0,[bold]email[/bold]
=HYPERLINK("http://x"),2024-02-10,20.0,[bold]email[/bold]
[/],2024-01-20,7.0,search
[/],2024-03-11,9.0,search
-42,2024-02-02,30.0,search
@SUM(A1),2024-04-04,8.0,+store
"""


def render(renderable, width: int = 80) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


@pytest.fixture()
def orders(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    return path


# --------------------------------------------------------------------------- tables fit 80 columns


@pytest.fixture(scope="module")
def channel_kpis(tmp_path_factory):
    """The demo's per-channel classic formula table (the one that showed only '…' at 80 columns)."""
    from clv.data import Columns, load_orders
    from clv.data.synthetic import generate_store
    from clv.formula import classic_clv

    store = generate_store(tmp_path_factory.mktemp("store"), n_customers=600, seed=3, end="2025-12-31")
    loaded = load_orders(str(store.orders_path), Columns(order_id="order_id", product_id="product_id",
                                                          quantity="quantity", channel="channel", cost="cost"))
    return classic_clv(loaded.orders, time_unit="year", cac=store.acquisition_spend_frame(), segment_by="channel")


def test_demo_channel_table_fits_80_columns_without_ellipsis(channel_kpis):
    text = render(FittedTable(channel_kpis.by_segment, "by acquisition channel"))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for column in channel_kpis.by_segment.columns:  # every column is shown, none squeezed away
        assert column in text
    for channel in channel_kpis.by_segment["segment"]:
        assert channel in text


def test_one_wide_row_goes_long(channel_kpis):
    text = render(FittedTable(channel_kpis.overall, "classic CLV"))
    assert "…" not in text and "measure" in text
    assert all(column in text for column in channel_kpis.overall.columns)


def test_narrow_tables_stay_one_table():
    frame = pd.DataFrame({"customer_id": ["a", "b"], "clv": [1.5, 2.25]})
    text = render(FittedTable(frame, "scores"))
    assert text.count("customer_id") == 1 and "(1/" not in text


def test_ids_have_no_thousands_separators():
    text = render(FittedTable(pd.DataFrame({"customer_id": [17850, 1234567], "orders": [1234, 5]})))
    assert "17850" in text and "1234567" in text and "1,234" in text


column_names = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=24)
cells = st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64), st.integers(-10**12, 10**12),
                  st.text(alphabet=string.ascii_letters + " []/=-", max_size=30))


@settings(max_examples=60, deadline=None)
@given(st.lists(column_names, min_size=1, max_size=14, unique=True), st.integers(1, 4), st.data())
def test_any_frame_fits_80_columns_without_ellipsis(names, n_rows, data):
    frame = pd.DataFrame({name: data.draw(st.lists(cells, min_size=n_rows, max_size=n_rows)) for name in names})
    text = render(FittedTable(frame, "a title [/] that is long enough to wrap around the table"))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


# --------------------------------------------------------------------------- text is shown literally


def test_markup_in_cells_titles_and_headers_is_literal():
    frame = pd.DataFrame({"[red]id[/red]": ["[/]", "[link=http://x]a"], "n": [1, 2]})
    text = render(FittedTable(frame, "title [bold]x[/bold]"))
    for literal in ("[/]", "[link=http://x]a", "[red]id[/red]", "title [bold]x[/bold]"):
        assert literal in text


def test_summarize_shows_markup_ids_literally(orders):
    result = runner.invoke(app, ["summarize", str(orders)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "[/]" in result.stdout and '=HYPERLINK("http://x")' in result.stdout


def test_wrote_line_shows_the_path_literally(orders, tmp_path):
    folder = tmp_path / "[bold]out[red]"
    folder.mkdir()
    result = runner.invoke(app, ["summarize", str(orders), "--output", str(folder / "[link=x]s.csv")])
    assert result.exit_code == 0, result.output
    assert f"wrote {folder / '[link=x]s.csv'}" in result.stderr


# --------------------------------------------------------------------------- CSV formula injection


def test_neutralise_formulas_prefixes_risky_text_only():
    frame = pd.DataFrame({
        "text": ["=1+2", "+x", "-y", "@SUM(A1)", "\tx", "\rx", "ok", None, "-5.0", "+3", "1e5"],
        "number": [-5.0, 1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
    })
    out = neutralise_formulas(frame)
    assert list(out["text"][:7]) == ["'=1+2", "'+x", "'-y", "'@SUM(A1)", "'\tx", "'\rx", "ok"]
    assert out["text"][7] is None or pd.isna(out["text"][7])
    assert list(out["text"][8:]) == ["-5.0", "+3", "1e5"]  # plain numbers written as text are not formulas
    pd.testing.assert_series_equal(out["number"], frame["number"])


def test_raw_csv_turns_neutralising_off():
    frame = pd.DataFrame({"text": ["=1+2"]})
    with csv_escaping(False):
        assert neutralise_formulas(frame) is frame


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12), st.floats(allow_nan=False), st.integers()), max_size=20))
def test_neutralising_changes_only_risky_text_cells(values):
    frame = pd.DataFrame({"mixed": pd.Series(values, dtype=object)})
    out = neutralise_formulas(frame)["mixed"].tolist()
    for before, after in zip(values, out):
        risky = isinstance(before, str) and before[:1] in ("=", "+", "-", "@", "\t", "\r")
        plain_number = isinstance(before, str) and pd.Series([before]).str.fullmatch(
            r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?").iloc[0]
        if risky and not plain_number:
            assert after == "'" + before
        else:
            assert after is before or after == before or (pd.isna(after) and pd.isna(before))


def test_cli_csv_outputs_are_neutralised_and_raw_csv_keeps_them(orders, tmp_path):
    out = tmp_path / "summary.csv"
    assert runner.invoke(app, ["summarize", str(orders), "--output", str(out)]).exit_code == 0
    ids = set(pd.read_csv(out)["customer_id"].astype(str))
    assert "'=HYPERLINK(\"http://x\")" in ids and "'@SUM(A1)" in ids and "-42" in ids
    raw = tmp_path / "raw.csv"
    assert runner.invoke(app, ["summarize", str(orders), "--output", str(raw), "--raw-csv"]).exit_code == 0
    assert '=HYPERLINK("http://x")' in set(pd.read_csv(raw)["customer_id"].astype(str))
    printed = runner.invoke(app, ["summarize", str(orders), "--format", "csv"])
    assert "'@SUM(A1)" in printed.stdout


def test_engine_written_csv_is_neutralised(orders, tmp_path):
    accepted, rejects = tmp_path / "orders_out.csv", tmp_path / "rejects.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text(ORDERS + "=cmd,2024-05-01,=2+3,web\n")
    result = runner.invoke(app, ["load", str(bad), "--orders", str(accepted), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(accepted)
    assert "'=HYPERLINK(\"http://x\")" in set(written["customer_id"]) and "'+store" in set(written["channel"])
    assert (written["amount"] >= 0).all()  # numbers are not text cells
    assert "'=2+3" in set(pd.read_csv(rejects)["amount"].astype(str))


# --------------------------------------------------------------------------- outputs by extension, never over an input


def test_dict_results_are_written_in_the_format_named(orders, tmp_path):
    for name in ("report.json", "report.csv", "report.parquet"):
        assert runner.invoke(app, ["load", str(orders), "--output", str(tmp_path / name)]).exit_code == 0
    assert json.loads((tmp_path / "report.json").read_text())["input lines"] == 6
    assert pd.read_csv(tmp_path / "report.csv")["input lines"].iloc[0] == 6
    assert pd.read_parquet(tmp_path / "report.parquet")["input lines"].iloc[0] == 6


def test_an_output_through_a_link_to_the_input_is_refused(orders, tmp_path):
    link = tmp_path / "link.csv"
    os.symlink(orders, link)
    before = orders.read_bytes()
    result = runner.invoke(app, ["load", str(orders), "--rejects", str(link)])
    assert result.exit_code == 2 and "input file" in result.stderr
    assert orders.read_bytes() == before


def test_kpis_segments_reach_csv_and_files(orders, tmp_path):
    args = ["kpis", str(orders), "--segment-by", "channel", "--margin", "0.3", "--lifespan", "2"]
    printed = runner.invoke(app, [*args, "--format", "csv"])
    assert printed.exit_code == 0, printed.output
    table = pd.read_csv(io.StringIO(printed.stdout))
    assert table.columns[0] == "segment" and table["segment"].iloc[0] == "overall"
    assert {"[bold]email[/bold]", "search", "'+store"} <= set(table["segment"])
    assert table["customers"].iloc[0] == table["customers"].iloc[1:].sum()
    out = tmp_path / "kpis.parquet"
    assert runner.invoke(app, [*args, "--output", str(out)]).exit_code == 0
    written = pd.read_parquet(out)
    assert list(written["segment"][:1]) == ["overall"] and len(written) == 4


# --------------------------------------------------------------------------- a cleaned file states its origin


def test_load_records_and_states_the_original_reconciliation(orders, tmp_path):
    cleaned = tmp_path / "clean.parquet"
    first = runner.invoke(app, ["load", str(orders), "--orders", str(cleaned), "--format", "json"])
    assert first.exit_code == 0, first.output
    record = json.loads(pq.read_schema(cleaned).metadata[LOAD_REPORT_KEY.encode()])
    assert record["source"] == str(orders) and record["report"] == json.loads(first.stdout)
    again = runner.invoke(app, ["load", str(cleaned), "--format", "json"])
    assert again.exit_code == 0, again.output
    assert f"cleaned by clv load from {orders}" in again.stderr
    assert json.loads(again.stdout)["cleaned_from"] == record
    twice = tmp_path / "twice.parquet"
    assert runner.invoke(app, ["load", str(cleaned), "--orders", str(twice)]).exit_code == 0
    assert json.loads(pq.read_schema(twice).metadata[LOAD_REPORT_KEY.encode()])["source"] == str(orders)


def test_provenance_sentence_names_counts_and_reasons():
    record = {"source": "orders.csv.gz", "loaded_at": "2024-05-01T10:00:00+00:00",
              "report": {"input_rows": 10, "accepted_purchase_lines": 6, "netted_refund_lines": 1,
                         "rejected": {"missing_customer_id": 2, "duplicate": 1, "refund": 0}}}
    assert provenance_sentence(record) == (
        "this file was cleaned by clv load from orders.csv.gz on 2024-05-01: 10 input lines, 6 accepted purchase "
        "lines, 1 netted refund lines, 3 rejected (missing customer id 2; duplicate 1).")


def test_nps_and_segments_write_csv_through_the_same_writer(tmp_path):
    survey = tmp_path / "survey.csv"
    survey.write_text("customer_id,date,score\n=1+1,2024-01-03,9\n@x,2024-01-05,11\n")
    rejects, series = tmp_path / "rejects.csv", tmp_path / "series.csv"
    result = runner.invoke(app, ["nps", str(survey), "--rejects", str(rejects), "--series", str(series)])
    assert result.exit_code == 0, result.output
    assert "'@x" in set(pd.read_csv(rejects)["customer_id"].astype(str))
    assert np.isfinite(pd.read_csv(series)["nps"]).all()
