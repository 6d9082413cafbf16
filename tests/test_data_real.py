"""load_orders on real messy data (UCI Online Retail, CDNOW) and across input formats."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from clv.data import REASON_PRECEDENCE, Columns, LoadPolicy, load_orders
from clv.engine import connect

DATA = Path(__file__).parent / "data"
RETAIL = DATA / "online_retail.csv.gz"
CDNOW = DATA / "CDNOW_sample.txt"
RETAIL_COLUMNS = Columns(
    customer_id="CustomerID", timestamp="InvoiceDate", quantity="Quantity",
    unit_price="UnitPrice", order_id="InvoiceNo", product_id="StockCode",
    extra=("Country",),
)
CDNOW_COLUMNS = Columns(customer_id="column0", date="column2", quantity="column3",
                        amount="column4")
COMPARED = ["source_row", "customer_id", "order_ts", "amount", "order_id", "product_id",
            "quantity", "is_refund", "Country"]


@pytest.fixture(scope="module")
def con():
    return connect()


@pytest.fixture(scope="module")
def retail(con):
    return load_orders(RETAIL, RETAIL_COLUMNS, con=con).cache()


def test_online_retail_report_accounts_for_every_line(retail):
    report = retail.report
    assert report.input_rows == 541_909
    assert report.accepted_purchase_lines == 392_732
    assert report.netted_refund_lines == 8_872
    assert {reason: n for reason, n in report.rejected.items() if n} == {
        "missing_customer_id": 135_080,
        "duplicate": 5_225,
    }
    assert set(report.rejected) == set(REASON_PRECEDENCE)
    assert report.repeated_lines_kept == 0  # invoice numbers make every copy certain
    assert (report.accepted_purchase_lines + report.netted_refund_lines
            + report.rejected_lines) == 541_909


def test_online_retail_source_rows_cover_the_input_once(retail, con):
    orders = retail.orders.select("source_row")
    rejects = retail.rejects.select("source_row")
    both = orders.union(rejects, distinct=False)
    stats = con.execute(both.aggregate(n=both.count(), distinct=both.source_row.nunique(),
                                       lo=both.source_row.min(), hi=both.source_row.max()))
    assert stats.iloc[0].tolist() == [541_909, 541_909, 2, 541_910]  # physical lines, header = 1


def test_online_retail_lines_keep_their_file_position(retail, con):
    wanted = {3, 299_984, 541_910}  # physical lines (header = line 1)
    with gzip.open(RETAIL, "rt", encoding="utf-8") as handle:
        lines = {i: line for i, line in enumerate(handle, start=1) if i in wanted}
    orders = con.execute(retail.orders.filter(retail.orders.source_row.isin(wanted)))
    rejects = con.execute(retail.rejects.filter(retail.rejects.source_row.isin(wanted)))
    found = {r.source_row: (r.order_id, r.product_id) for r in orders.itertuples()}
    found |= {r.source_row: (r.InvoiceNo, r.StockCode) for r in rejects.itertuples()}
    assert set(found) == wanted
    for row, (invoice, stock) in found.items():
        assert lines[row].startswith(f"{invoice},{stock},"), row
    assert orders.set_index("source_row").amount[3] == pytest.approx(6 * 3.39)


def test_online_retail_bad_debt_and_cancellations(retail, con):
    rejects = con.execute(retail.rejects.filter(retail.rejects.InvoiceNo.startswith("A")))
    assert len(rejects) == 3 and set(rejects.reason) == {"missing_customer_id"}
    assert sorted(rejects.UnitPrice) == ["-11062.06", "-11062.06", "11062.06"]
    c = retail.orders.filter(retail.orders.order_id.startswith("C"))
    cancelled = con.execute(c.aggregate(n=c.count(), refunds=c.is_refund.sum(),
                                        top=c.amount.max()))
    assert cancelled.n[0] == cancelled.refunds[0] == 8_872
    assert cancelled.top[0] < 0


def test_online_retail_rejects_keep_original_text(retail, con):
    dup = con.execute(retail.rejects.filter(retail.rejects.reason == "duplicate").limit(1))
    assert dup.columns.tolist() == ["source_row", "reason", "InvoiceNo", "StockCode",
                                    "Description", "Quantity", "InvoiceDate", "UnitPrice",
                                    "CustomerID", "Country"]
    assert isinstance(dup.Quantity[0], str)


@pytest.fixture(scope="module")
def retail_slice(tmp_path_factory):
    """The first 30,000 lines (cancellations, anonymous lines, duplicates included)."""
    folder = tmp_path_factory.mktemp("retail")
    with gzip.open(RETAIL, "rt", encoding="utf-8") as src:
        text = "".join(next(src) for _ in range(30_001))
    path = folder / "slice.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _typed_frame(path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    return frame


def _sorted_orders(result):
    """Orders in input order; customer ids as text (integer id columns stay integers)."""
    frame = result.orders.execute().sort_values("source_row").reset_index(drop=True)
    return frame[COMPARED].assign(customer_id=frame["customer_id"].astype(str))


def test_same_orders_from_csv_parquet_pandas_polars_arrow(retail_slice, con, tmp_path):
    typed = _typed_frame(retail_slice)
    parquet = tmp_path / "slice.parquet"
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), parquet)
    sources = {
        "csv": retail_slice,
        "parquet": parquet,
        "pandas": typed,
        "polars": pl.from_pandas(typed),
        "arrow": pacsv.read_csv(retail_slice),
    }
    results = {name: load_orders(src, RETAIL_COLUMNS, con=con) for name, src in sources.items()}
    expected = _sorted_orders(results["csv"])
    expected["source_row"] -= 1  # CSV: physical line (header = 1); the others: row number
    reports = {name: r.report.as_dict() for name, r in results.items()}
    assert expected["is_refund"].any() and len(expected) > 15_000
    assert reports["csv"]["rejected"]["duplicate"] > 0
    for name, result in results.items():
        assert reports[name] == reports["csv"], name
        orders = _sorted_orders(result)
        orders["source_row"] -= name == "csv"
        pd.testing.assert_frame_equal(orders, expected, check_dtype=False, obj=name)


def test_cdnow_whitespace_file_loads_every_line(con):
    keep = load_orders(CDNOW, CDNOW_COLUMNS, LoadPolicy(date_format="%Y%m%d", duplicates="keep"),
                       delimiter="whitespace", header=False, con=con)
    report = keep.report
    assert report.input_rows == 6_919 and report.accepted_purchase_lines == 6_919
    assert report.rejected_lines == 0 and report.netted_refund_lines == 0
    stats = con.execute(keep.orders.aggregate(
        customers=keep.orders.customer_id.nunique(), zero=(keep.orders.amount == 0).sum(),
        first=keep.orders.order_ts.min(), last=keep.orders.order_ts.max()))
    assert stats.customers[0] == 2_357
    assert stats.zero[0] == 8
    assert str(stats["first"][0].date()) == "1997-01-01" and str(stats["last"][0].date()) == "1998-06-30"


def test_cdnow_same_day_repeat_lines_are_kept_by_default(con):
    """CDNOW has no order id and dates only: 21 identical same-day lines may be real
    repeat purchases, so the default keeps and counts them; duplicates="drop" drops them."""
    default = load_orders(CDNOW, CDNOW_COLUMNS, LoadPolicy(date_format="%Y%m%d"),
                          delimiter="whitespace", header=False, con=con)
    assert default.report.rejected["duplicate"] == 0
    assert default.report.repeated_lines_kept == 21
    assert default.report.accepted_purchase_lines == 6_919
    dropped = load_orders(CDNOW, CDNOW_COLUMNS, LoadPolicy(date_format="%Y%m%d", duplicates="drop"),
                          delimiter="whitespace", header=False, con=con)
    assert dropped.report.rejected["duplicate"] == 21
    assert dropped.report.repeated_lines_kept == 0
    assert dropped.report.accepted_purchase_lines == 6_898
