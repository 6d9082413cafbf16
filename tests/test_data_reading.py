"""Reading files so that no line vanishes: dialect, paths, line numbers, encodings, broken files.

Each defect of issue 12 that belongs to reading has a test here that failed
before the reader was rewritten (sniffed dialect, globbed paths, data-row
numbers, tracebacks on real files).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clv.data import Columns, Csv, Excel, Parquet, load_orders
from clv.data.sources import (
    BLANK_COL,
    RAGGED_COL,
    SOURCE_ROW_COL,
    RawSource,
    raw_table,
    resolve_source,
)
from clv.data.text_scan import scan_records
from clv.engine import connect
from clv.errors import ClvError, DataError

DATA = Path(__file__).parent / "data"
HEADER = "customer_id,order_ts,amount\n"


@pytest.fixture(scope="module")
def con():
    return connect()


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def raw(source, con, **options) -> tuple[pd.DataFrame, RawSource]:
    """The raw rows of a source (sorted by source row) and the RawSource."""
    spec = resolve_source(source, **options)
    read = raw_table(spec, con)
    frame = con.execute(read.table).sort_values(SOURCE_ROW_COL).reset_index(drop=True)
    return frame, read


def rows(frame: pd.DataFrame) -> list[int]:
    return frame[SOURCE_ROW_COL].tolist()


# ---------------------------------------------------------------- defect 1: lines vanish


def test_lines_starting_with_hash_are_read_not_dropped_as_comments(tmp_path, con):
    path = write(tmp_path / "hash.csv", "customer_id,order_ts,amount,note\na,2021-01-01,5,\n#x,2021-01-01,5,00\n")
    frame, read = raw(path, con)
    assert frame["customer_id"].tolist() == ["a", "#x"]
    assert read.expected_rows == 2
    result = load_orders(path, Columns(extra=("note",)), con=con)
    assert result.report.input_rows == 2 and result.report.accepted_purchase_lines == 2


def test_the_dialect_is_pinned_not_sniffed(tmp_path, con):
    """Semicolons inside a comma file, quotes and a '#' first column are data, not dialect hints."""
    text = HEADER + '"a;1",2021-01-01,5\n#b;2,2021-01-02,6\n"c ""x""",2021-01-03,7\n'
    frame, _ = raw(write(tmp_path / "d.csv", text), con)
    assert frame["customer_id"].tolist() == ["a;1", "#b;2", 'c "x"']
    assert rows(frame) == [2, 3, 4]


def test_independent_count_is_exposed_and_a_disagreement_raises(tmp_path, con):
    _, read = raw(write(tmp_path / "n.csv", HEADER + "a,2021-01-01,1\n\nb,2021-01-02,2\n"), con)
    assert read.expected_rows == 3  # two orders and the blank line
    read.check_rows(3)
    with pytest.raises(ClvError, match=r"n.csv'? holds 3 records but 2 were read"):
        read.check_rows(2)


def test_the_load_report_stops_when_the_engine_and_the_scan_disagree(tmp_path, con, monkeypatch):
    from clv.data import text_source

    def one_record_too_many(*args, **kwargs):
        scan = scan_records(*args, **kwargs)
        return dataclasses.replace(scan, data_records=scan.data_records + 1)

    monkeypatch.setattr(text_source, "scan_records", one_record_too_many)
    result = load_orders(write(tmp_path / "o.csv", HEADER + "a,2021-01-01,1\n"), con=con)
    with pytest.raises(ClvError, match="2 records but 1 were read"):
        _ = result.report


def test_encoding_and_pattern_through_load_orders(tmp_path, con):
    write(tmp_path / "p1.csv", (HEADER + "müller,2021-01-01,1\n").encode("cp1252"))
    write(tmp_path / "p2.csv", (HEADER + "£1,2021-01-02,2\n").encode("cp1252"))
    result = load_orders(None, con=con, pattern=str(tmp_path / "p*.csv"), encoding="cp1252")
    assert sorted(result.orders.execute()["customer_id"]) == ["müller", "£1"]
    assert result.report.expected_rows == 2


def test_table_and_con_still_unpack(tmp_path, con):
    table, connection = raw_table(resolve_source(write(tmp_path / "u.csv", HEADER + "a,2021-01-01,1\n")), con)
    assert connection is con and SOURCE_ROW_COL in table.columns


# ---------------------------------------------------------------- defect 2: paths are not globbed


def test_a_path_names_exactly_one_file(tmp_path, con):
    write(tmp_path / "orders1.csv", HEADER + "from_orders1,2021-01-01,1\n")
    write(tmp_path / "orders[1].csv", HEADER + "bracket,2021-01-01,1\n")
    write(tmp_path / "ab.csv", HEADER + "ab,2021-01-01,1\n")
    write(tmp_path / "ac.csv", HEADER + "ac,2021-01-01,1\n")
    write(tmp_path / "a*.csv", HEADER + "star,2021-01-01,1\n")
    write(tmp_path / "q?.csv", HEADER + "question,2021-01-01,1\n")
    for name, expected in (("orders[1].csv", ["bracket"]), ("a*.csv", ["star"]), ("q?.csv", ["question"])):
        frame, _ = raw(str(tmp_path / name), con)
        assert frame["customer_id"].tolist() == expected, name
    result = load_orders(str(tmp_path / "orders[1].csv"), con=con)
    assert result.orders.execute()["customer_id"].tolist() == ["bracket"]


def test_a_missing_path_that_looks_like_a_pattern_names_the_option(tmp_path, con):
    write(tmp_path / "orders2.csv", HEADER + "a,2021-01-01,1\n")
    with pytest.raises(DataError, match=r"not found.*pattern="):
        load_orders(str(tmp_path / "orders[2].csv"), con=con)
    with pytest.raises(DataError, match="not found"):
        load_orders(str(tmp_path / "orders*.csv"), con=con)


def test_several_text_files_from_a_list_a_folder_or_a_pattern(tmp_path, con):
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder / "a.csv", HEADER + "a1,2021-01-01,1\na2,2021-01-02,2\n")
    write(folder / "b.csv", HEADER + "\nb1,2021-01-03,3\n")
    # lines of `cat a.csv b.csv`: a's header is 1, b's header 4, its blank line 5
    for source in ([folder / "a.csv", folder / "b.csv"], folder, Csv(pattern=str(folder / "*.csv"))):
        frame, read = raw(source, con)
        assert rows(frame) == [2, 3, 5, 6], source
        assert read.expected_rows == 4
    result = load_orders([str(folder / "a.csv"), str(folder / "b.csv")], con=con)
    assert result.orders.execute().sort_values("source_row")["customer_id"].tolist() == ["a1", "a2", "b1"]
    assert result.rejects.execute()[["source_row", "reason"]].values.tolist() == [[5, "blank_line"]]


def test_text_files_with_other_headers_are_not_merged(tmp_path, con):
    a = write(tmp_path / "a.csv", HEADER + "a,2021-01-01,1\n")
    b = write(tmp_path / "b.csv", "customer,order_ts,amount\nb,2021-01-01,1\n")
    with pytest.raises(DataError, match="same columns"):
        raw([a, b], con)


def test_parquet_from_a_list_and_a_pattern_never_a_glob_path(tmp_path, con):
    for i in range(2):
        pq.write_table(pa.table({"customer_id": [f"c{i}"], "order_ts": ["2021-01-01"], "amount": [1.0]}),
                       tmp_path / f"p{i}.parquet")
    pq.write_table(pa.table({"customer_id": ["star"], "order_ts": ["2021-01-01"], "amount": [1.0]}),
                   tmp_path / "p*.parquet")
    frame, read = raw(str(tmp_path / "p*.parquet"), con)
    assert frame["customer_id"].tolist() == ["star"] and read.expected_rows == 1
    listed, read = raw(Parquet([tmp_path / "p0.parquet", tmp_path / "p1.parquet"]), con)
    assert listed["customer_id"].tolist() == ["c0", "c1"] and rows(listed) == [1, 2]
    matched, _ = raw(Parquet(pattern=str(tmp_path / "p[0-9].parquet")), con)
    assert matched["customer_id"].tolist() == ["c0", "c1"]
    with pytest.raises(DataError, match="pattern"):
        raw(Parquet(pattern=str(tmp_path / "none*.parquet")), con)


# ---------------------------------------------------------------- defect 3: physical line numbers


def test_blank_lines_are_rows_and_later_lines_keep_their_number(tmp_path, con):
    text = HEADER + "a,2021-01-01,1\n\n\nb,2021-01-02,2\n\nc,x,3\n"
    frame, read = raw(write(tmp_path / "blank.csv", text), con)
    assert rows(frame) == [2, 3, 4, 5, 6, 7]
    assert frame[BLANK_COL].tolist() == [False, True, True, False, True, False]
    assert frame.loc[frame[BLANK_COL], "customer_id"].isna().all()
    assert read.expected_rows == 6
    result = load_orders(tmp_path / "blank.csv", con=con)
    rejects = result.rejects.execute().sort_values("source_row")
    assert rejects[["source_row", "reason"]].values.tolist() == [
        [3, "blank_line"], [4, "blank_line"], [6, "blank_line"], [7, "unparsable_timestamp"]]


def test_a_regular_file_has_no_marker_columns(tmp_path, con):
    frame, read = raw(write(tmp_path / "plain.csv", HEADER + "a,2021-01-01,1\nb,2021-01-02,2"), con)
    assert list(frame.columns) == [SOURCE_ROW_COL, "customer_id", "order_ts", "amount"]
    assert rows(frame) == [2, 3] and read.expected_rows == 2


def test_a_record_with_quoted_line_breaks_is_numbered_by_its_first_line(tmp_path, con):
    text = HEADER + 'a,2021-01-01,1\n"b\nsecond line\nthird",2021-01-02,2\nc,2021-01-03,3\n'
    frame, read = raw(write(tmp_path / "multi.csv", text), con)
    assert rows(frame) == [2, 3, 6]
    assert frame["customer_id"].tolist() == ["a", "b\nsecond line\nthird", "c"]
    assert read.expected_rows == 3


def test_headerless_file_numbers_from_line_one(tmp_path, con):
    path = write(tmp_path / "nohead.csv", "a,2021-01-01,1\n\nb,2021-01-02,2\n")
    frame, _ = raw(path, con, header=False, names=("customer_id", "order_ts", "amount"))
    assert rows(frame) == [1, 2, 3] and frame[BLANK_COL].tolist() == [False, True, False]
    frame, _ = raw(path, con, header=False)
    assert list(frame.columns)[:4] == [SOURCE_ROW_COL, "column0", "column1", "column2"]


def test_whitespace_files_keep_blank_lines_and_mark_extra_words(tmp_path, con):
    path = write(tmp_path / "ws.txt", "c d v\n  a 20210101 1.0\n\n   \nb 20210102 2.0 extra\n")
    frame, read = raw(path, con, delimiter="whitespace")
    assert rows(frame) == [2, 3, 4, 5] and read.expected_rows == 4
    assert frame[BLANK_COL].tolist() == [False, True, True, False]
    assert frame[RAGGED_COL].tolist() == [False, False, False, True]


# ---------------------------------------------------------------- defect 5: files people have


def test_mixed_line_endings_load_without_stray_carriage_returns(tmp_path, con):
    text = b"customer_id,order_ts,amount\r\na,2021-01-01,1\nb,2021-01-02,2\r\n\r\nc,2021-01-03,3\n"
    frame, read = raw(write(tmp_path / "mixed.csv", text), con)
    assert frame["amount"].tolist()[:2] == ["1", "2"] and frame["amount"].tolist()[-1] == "3"
    assert rows(frame) == [2, 3, 4, 5] and read.expected_rows == 4
    assert not frame["amount"].dropna().str.contains("\r").any()


def test_crlf_file_with_a_quoted_line_break(tmp_path, con):
    text = b'customer_id,order_ts,amount\r\n"a\r\nb",2021-01-01,1\r\nc,2021-01-02,2\r\n'
    frame, _ = raw(write(tmp_path / "crlf.csv", text), con)
    assert frame["customer_id"].tolist() == ["a\r\nb", "c"] and rows(frame) == [2, 4]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-8-sig"])
def test_encodings_are_read_with_the_option(tmp_path, con, encoding):
    text = "customer_id,order_ts,amount,city\nmüller,2021-01-01,1,Zürich\n£é,2021-01-02,2,Köln\n"
    path = write(tmp_path / f"{encoding}.csv", text.encode(encoding))
    frame, read = raw(Csv(path, encoding=encoding), con)
    assert frame["customer_id"].tolist() == ["müller", "£é"]
    assert frame["city"].tolist() == ["Zürich", "Köln"] and read.expected_rows == 2


def test_the_euro_sign_of_cp1252(tmp_path, con):
    path = write(tmp_path / "euro.csv", "customer_id,order_ts,amount\n€1,2021-01-01,1\n".encode("cp1252"))
    frame, _ = raw(Csv(path, encoding="cp1252"), con)
    assert frame["customer_id"].tolist() == ["€1"]


def test_bytes_that_are_not_utf8_name_the_byte_the_line_and_the_option(tmp_path, con):
    lines = [f"c{i},2021-01-01,1" for i in range(20)]
    lines[15] = "£5,2021-01-01,1"
    path = write(tmp_path / "latin.csv", (HEADER + "\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv.*line 17.*not UTF-8 \(byte 0xa3\).*encoding='cp1252'") as err:
        load_orders(path, con=con)
    assert "\n" not in str(err.value)


def test_utf16_without_the_option_names_it(tmp_path, con):
    path = write(tmp_path / "u16.csv", (HEADER + "a,2021-01-01,1\n").encode("utf-16"))
    with pytest.raises(DataError, match="encoding='utf-16'"):
        load_orders(path, con=con)


def test_unknown_encoding_is_refused(tmp_path, con):
    path = write(tmp_path / "x.csv", HEADER)
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        raw(Csv(path, encoding="klingon"), con)


def test_utf8_bom_is_not_part_of_the_first_name(tmp_path, con):
    frame, _ = raw(write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + HEADER.encode() + b"a,2021-01-01,1\n"), con)
    assert list(frame.columns)[1] == "customer_id" and rows(frame) == [2]


def _gz(path: Path, data: bytes) -> Path:
    with gzip.open(path, "wb") as handle:
        handle.write(data)
    return path


def test_gzip_files_are_scanned_in_a_stream(tmp_path, con):
    path = _gz(tmp_path / "o.csv.gz", (HEADER + "a,2021-01-01,1\n\nb,2021-01-02,2\n").encode())
    frame, read = raw(path, con)
    assert rows(frame) == [2, 3, 4] and read.expected_rows == 3


@pytest.mark.parametrize("kind", ["empty_csv", "empty_gz", "truncated_gz", "corrupt_gz", "empty_parquet",
                                  "corrupt_parquet", "nul_bytes", "bare_cr", "unclosed_quote",
                                  "text_after_quote", "only_blank_lines"])
def test_broken_files_give_one_line_errors_naming_the_file(tmp_path, con, kind):
    good = _gz(tmp_path / "good.csv.gz", (HEADER + "a,2021-01-01,1\n" * 1000).encode()).read_bytes()
    files = {
        "empty_csv": ("e.csv", b""),
        "empty_gz": ("e.csv.gz", b""),
        "truncated_gz": ("t.csv.gz", good[: len(good) // 2]),
        "corrupt_gz": ("c.csv.gz", b"this is not gzip at all"),
        "empty_parquet": ("e.parquet", b""),
        "corrupt_parquet": ("c.parquet", b"PAR1 not really PAR1"),
        "nul_bytes": ("n.csv", HEADER.encode() + b"a\x00,2021-01-01,1\n"),
        "bare_cr": ("r.csv", HEADER.encode() + b"a,2021\r-01-01,1\n"),
        "unclosed_quote": ("q.csv", HEADER.encode() + b'a,"2021-01-01,1\nb,2021-01-01,1\n'),
        "text_after_quote": ("t.csv", HEADER.encode() + b'a,"2021-01-01"x,1\n'),
        "only_blank_lines": ("b.csv", b"\n\n\n"),
    }
    name, data = files[kind]
    path = write(tmp_path / name, data)
    with pytest.raises(DataError) as err:
        _ = load_orders(path, con=con).report
    message = str(err.value)
    assert name in message and "\n" not in message and "fix" in message


def test_a_quote_inside_an_unquoted_field_is_literal(tmp_path, con):
    """'5" screen' breaks quote parity: those files are counted with Python's csv module."""
    text = HEADER + 'a,2021-01-01,1\n5" screen,2021-01-02,2\n\n"q,1",2021-01-03,3\n'
    frame, read = raw(write(tmp_path / "inch.csv", text), con)
    assert frame["customer_id"].fillna("<blank>").tolist() == ["a", '5" screen', "<blank>", "q,1"]
    assert rows(frame) == [2, 3, 4, 5] and read.expected_rows == 4


# ---------------------------------------------------------------- defect 6: formats


def test_excel_rows_are_spreadsheet_rows(con):
    result = load_orders(Excel(DATA / "orders_sheet.xlsx", sheet="Orders"), Columns(extra=("note",)), con=con)
    orders = result.orders.execute().sort_values("source_row")
    assert orders["source_row"].tolist() == [2, 3]
    assert orders["customer_id"].tolist() == ["17850", "A-1"]  # a whole number, not 17850.0
    assert orders["order_ts"].tolist() == [pd.Timestamp("2021-01-05 10:00"), pd.Timestamp("2021-01-06")]
    rejects = result.rejects.execute().sort_values("source_row")
    assert rejects[["source_row", "reason"]].values.tolist() == [
        [4, "blank_line"], [5, "unparsable_amount"], [6, "missing_customer_id"]]


def test_excel_sheet_by_index_and_a_missing_sheet(con):
    frame, read = raw(str(DATA / "orders_sheet.xlsx"), con, sheet=1)
    assert rows(frame) == [2, 3, 4, 5, 6] and read.expected_rows == 5
    with pytest.raises(DataError, match=r"no sheet 'Sales'.*'Notes', 'Orders'"):
        raw(Excel(DATA / "orders_sheet.xlsx", sheet="Sales"), con)


def test_a_file_that_is_not_a_spreadsheet(tmp_path, con):
    with pytest.raises(DataError, match="not a readable spreadsheet"):
        raw(write(tmp_path / "fake.xlsx", b"not a zip"), con)


@pytest.mark.parametrize("header", ["a,b,a", "Amount,amount,c"])
def test_duplicate_header_names_are_refused_not_renamed(tmp_path, con, header):
    path = write(tmp_path / "dup.csv", header + "\n1,2,3\n")
    with pytest.raises(DataError, match=r"more than once.*rename"):
        raw(path, con)
    frame, _ = raw(path, con, names=("x", "y", "z"))
    assert list(frame.columns)[1:] == ["x", "y", "z"]


def test_duplicate_frame_columns_are_refused(con):
    frame = pd.DataFrame([[1, 2, 3]], columns=["amount", "customer_id", "amount"])
    with pytest.raises(DataError, match="'amount' = 'amount'"):
        load_orders(frame, con=con)
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(DataError, match="more than once"):
        raw(table, con)


def test_short_rows_are_padded_and_long_rows_kept_and_marked(tmp_path, con):
    text = HEADER + "a,2021-01-01\nb,2021-01-02,2,EXTRA,MORE\nc,2021-01-03,3\n"
    frame, read = raw(write(tmp_path / "ragged.csv", text), con)
    assert rows(frame) == [2, 3, 4] and read.expected_rows == 3
    assert pd.isna(frame["amount"][0])
    assert frame[["column3", "column4"]].values.tolist()[1] == ["EXTRA", "MORE"]
    assert frame[RAGGED_COL].tolist() == [False, True, False]
    reasons = load_orders(tmp_path / "ragged.csv", con=con).rejects.execute()
    assert sorted(zip(reasons["source_row"], reasons["reason"])) == [(2, "unparsable_amount"), (3, "malformed_line")]


# ---------------------------------------------------------------- the scan itself


def _lines_of(scan) -> list[int]:
    duck = np.arange(1, scan.duckdb_rows + 1)
    at = np.searchsorted(scan.break_rows, duck, side="right") - 1
    return sorted((duck + scan.break_offsets[at]).tolist() + scan.blank_lines.tolist())


@pytest.mark.parametrize("chunk", [4, 9, 64, 1 << 20])
def test_chunked_scan_gives_the_same_lines(chunk):
    data = (HEADER + "a,1,2\n\n" + '"x\ny",1,2\r\n' * 3 + "b,1\nc,1,2,3\n" + "d,1,2\n" * 50).encode()
    whole = scan_records(lambda: io.BytesIO(data), ",", header=True, width=3)
    chunked = scan_records(lambda: io.BytesIO(data), ",", header=True, width=3, chunk_bytes=chunk)
    assert _lines_of(chunked) == _lines_of(whole)
    assert chunked.long_rows.tolist() == whole.long_rows.tolist() == [6]
    assert chunked.data_records == whole.data_records == 57


def test_plain_chunks_with_a_wrong_delimiter_count_are_checked_record_by_record():
    """Past the first chunk, plain chunks are counted in bulk; a long record there is still found."""
    data = (HEADER + "a,1,2\n" * 200 + "b,1,2,3,4\n" + "c,1,2\n" * 10).encode()
    scan = scan_records(lambda: io.BytesIO(data), ",", header=True, width=3, chunk_bytes=64)
    assert scan.long_rows.tolist() == [201] and scan.max_fields == 5


def test_blank_lines_before_the_header_are_not_rows(tmp_path, con):
    frame, read = raw(write(tmp_path / "lead.csv", "\n\n" + HEADER + "a,2021-01-01,1\n\nb,2021-01-02,2\n"), con)
    assert rows(frame) == [4, 5, 6] and read.expected_rows == 3
    assert frame["customer_id"].fillna("").tolist() == ["a", "", "b"]


def test_a_header_with_a_quoted_line_break(tmp_path, con):
    frame, _ = raw(write(tmp_path / "h.csv", '"customer\nid",order_ts,amount\na,2021-01-01,1\n'), con)
    assert list(frame.columns)[1] == "customer\nid" and rows(frame) == [3]


def test_parquet_parts_with_glob_characters_in_their_names(tmp_path, con):
    names = ["part[1].parquet", "part*2.parquet"]
    for i, name in enumerate(names):
        pq.write_table(pa.table({"customer_id": [f"c{i}", f"d{i}"], "amount": [1.0, 2.0]}), tmp_path / name)
    frame, read = raw(Parquet([tmp_path / n for n in names]), con)
    assert frame["customer_id"].tolist() == ["c0", "d0", "c1", "d1"] and rows(frame) == [1, 2, 3, 4]
    assert read.expected_rows == 4


def test_a_spec_needs_a_path_or_a_pattern(tmp_path, con):
    with pytest.raises(DataError, match="either a path or pattern="):
        raw(Csv(tmp_path / "x.csv", pattern="*.csv"), con)
    with pytest.raises(DataError, match="either a path or pattern="):
        raw(Parquet(), con)


def test_a_delimiter_must_be_one_ascii_character(tmp_path, con):
    path = write(tmp_path / "d.csv", HEADER)
    with pytest.raises(DataError, match="one ASCII character"):
        raw(Csv(path, delimiter="::"), con)


def test_one_column_files_count_blank_lines_either_way(tmp_path, con):
    """DuckDB returns blank lines as rows when it reads one column and skips them with several."""
    frame, read = raw(write(tmp_path / "one.csv", "customer_id\na\n\nb\n"), con)
    assert rows(frame) == [2, 3, 4] and read.expected_rows == 3
    frame, read = raw(write(tmp_path / "one_long.csv", "customer_id\na\n\nb,extra\n"), con)
    assert rows(frame) == [2, 3, 4] and read.expected_rows == 3
    assert frame[RAGGED_COL].tolist() == [False, False, True] and frame[BLANK_COL].tolist() == [False, True, False]


def test_a_short_and_a_long_line_that_balance_in_one_chunk_are_found():
    """Past the first chunk the delimiter count is checked per 256 KB block, not per chunk."""
    lines = ["a,1,2"] * 400_000
    lines[190_000] = "short,1"  # about 1.1 MB into the file: the second 1 MB chunk
    lines[290_000] = "long,1,2,3"  # about 1.7 MB: the same chunk, another block
    data = (HEADER + "\n".join(lines) + "\n").encode()
    scan = scan_records(lambda: io.BytesIO(data), ",", header=True, width=3, chunk_bytes=1 << 20)
    assert scan.long_rows.tolist() == [290_001] and scan.max_fields == 4
    assert scan.data_records == 400_000


def test_header_names_are_trimmed_and_empty_ones_numbered(tmp_path, con):
    frame, _ = raw(write(tmp_path / "names.csv", "customer_id, order_ts ,amount,\na,2021-01-01,1,x\n"), con)
    assert list(frame.columns)[1:] == ["customer_id", "order_ts", "amount", "column3"]


@pytest.mark.parametrize("data", [
    HEADER.encode() + b"a,2021-01-01,1\nx\xc2",  # a character cut by the end of the file
    HEADER.encode() + b'x5" screen,2021-01-01,1\n' + b"a,2021-01-01,1\n" * 10 + b"\xa3,2021-01-01,1\n",  # after a stray quote
])
def test_bytes_that_are_not_utf8_anywhere_give_the_line(tmp_path, con, data):
    path = write(tmp_path / "bad.csv", data)
    with pytest.raises(DataError, match=r"line \d+: the file is not UTF-8"):
        _ = load_orders(path, con=con).report


def test_records_longer_than_duckdbs_default_line_size(tmp_path, con):
    text = HEADER + 'a,2021-01-01,1\n"' + "x" * 3_000_000 + '",2021-01-02,2\nc,2021-01-03,3\n'
    frame, read = raw(write(tmp_path / "long.csv", text), con)
    assert rows(frame) == [2, 3, 4] and len(frame["customer_id"][1]) == 3_000_000
    assert read.expected_rows == 3
