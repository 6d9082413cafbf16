"""Property: on messy CSV bytes, loading loses no line, invents none and numbers each by its line.

Hypothesis writes files with ids holding '#', quotes, delimiters and line breaks
inside quoted fields, quotes inside unquoted fields (``5" screen``), blank lines,
mixed LF/CRLF endings, an optional UTF-8 byte order mark, short and long rows,
in UTF-8, latin-1, cp1252 or UTF-16 (passed with the encoding option). For every
example:

* only clv errors are raised;
* accepted + netted + rejected lines == the records Python's csv module finds
  (blank records included, header excluded), and so does the reader's own count;
* every order's and reject's ``source_row`` is the line where the csv module
  started that record, and the raw reader puts that record's first field there.

200 examples by default; ``CLV_HYPOTHESIS_PROFILE=long`` runs 5,000 (see
docs/data-loading.md, "Reading text files").
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clv.data import Columns, Csv, LoadPolicy, load_orders
from clv.data.sources import SOURCE_ROW_COL, raw_table
from clv.engine import connect
from clv.errors import ClvError

EXAMPLES = 5_000 if os.environ.get("CLV_HYPOTHESIS_PROFILE") == "long" else 200
ENCODINGS = ["utf-8", "latin-1", "cp1252", "utf-16"]
DELIMITERS = [",", ";", "\t", "|"]
NAMES = ["customer_id", "order_ts", "amount"]
POLICY = LoadPolicy(max_rejected_share=1.0)  # a random file may reject every line: still count them

CON = connect()


def _text(encoding: str, delimiter: str, line_breaks: bool) -> st.SearchStrategy[str]:
    """Field text: plain characters plus the troublemakers, encodable in ``encoding``."""
    specials = ["#", '"', ",", ";", "|", " ", "é", "£"] + (["€"] if encoding != "latin-1" else [])
    pieces = st.sampled_from(specials) | st.text("ab12-.:", min_size=1, max_size=4)
    if line_breaks:
        pieces = pieces | st.sampled_from(["\n", "\r\n", delimiter, "\t"])
    return st.lists(pieces, max_size=5).map("".join)


@st.composite
def _field(draw, encoding: str, delimiter: str) -> str:
    """One written field: a date, a number, quoted text, or unquoted text with a stray quote."""
    kind = draw(st.sampled_from(["date", "number", "quoted", "plain", "stray_quote", "empty"]))
    if kind == "date":
        return f"2021-{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}"
    if kind == "number":
        return str(draw(st.integers(-5, 500)))
    if kind == "empty":
        return ""
    if kind == "quoted":
        value = draw(_text(encoding, delimiter, line_breaks=True))
        return '"' + value.replace('"', '""') + '"'
    plain = draw(_text(encoding, delimiter, line_breaks=False))
    plain = "".join(ch for ch in plain if ch not in (delimiter, '"', "\r", "\n"))
    if kind == "stray_quote":
        return "x" + plain + '"' + draw(st.text("ab1 ", max_size=3)).replace(delimiter, "")
    return plain.lstrip('"')


@st.composite
def messy_files(draw):
    """(bytes, encoding, delimiter) of a messy delimited file with a header."""
    encoding = draw(st.sampled_from(ENCODINGS))
    delimiter = draw(st.sampled_from(DELIMITERS))
    ending = st.sampled_from(["\n", "\r\n"])
    lines = [delimiter.join(NAMES) + draw(ending)]
    for _ in range(draw(st.integers(0, 12))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(ending))  # a blank line
            continue
        width = draw(st.sampled_from([3, 3, 3, 2, 4, 1]))  # mostly right, some short or long
        fields = [draw(_field(encoding, delimiter)) for _ in range(width)]
        lines.append(delimiter.join(fields) + draw(ending))
    text = "".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no newline at the end
    bom = encoding == "utf-8" and draw(st.booleans())
    return text.encode("utf-8-sig" if bom else encoding), encoding, delimiter


def csv_records(data: bytes, encoding: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """(start line, fields) of each data record, by Python's csv module (header excluded)."""
    text = data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        records.append((before + 1, row))
    return records[1:]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_files())
def test_messy_files_lose_no_line_and_number_each_by_its_line(example):
    data, encoding, delimiter = example
    expected = csv_records(data, encoding, delimiter)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "messy.csv"
        path.write_bytes(data)
        try:
            result = load_orders(path, Columns(), POLICY, con=CON, delimiter=delimiter, encoding=encoding)
            report = result.report
            read = raw_table(Csv(path, delimiter=delimiter, encoding=encoding), CON)
        except ClvError:
            pytest.fail("a file the csv module reads was refused")  # the generator writes readable files
        # orders and rejects are the accepted and the other lines of one classified table
        found = CON.execute(result.classified.select(source_row=SOURCE_ROW_COL))
        raw = CON.execute(read.table.select(SOURCE_ROW_COL, "customer_id"))
    assert report.accepted_purchase_lines + report.netted_refund_lines + report.rejected_lines == len(expected)
    assert report.input_rows == report.expected_rows == read.expected_rows == len(expected)
    assert sorted(found["source_row"]) == [line for line, _ in expected]
    first_fields = {line: (row[0] if row else "") for line, row in expected}
    read_fields = dict(zip(raw[SOURCE_ROW_COL], raw["customer_id"].fillna("")))
    assert read_fields == first_fields


@settings(max_examples=EXAMPLES // 8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_files())
@example((b'customer_id,order_ts,amount\n2021-01-01,2021-01-01,0\nx\xc2\xa31111",2021-01-01,2021-01-01\n'
          b"100,2021-01-01,2021-01-01\n", "utf-8", ","))  # cut inside a character, after a stray quote
def test_any_bytes_change_raise_only_clv_errors(example):
    """Bytes cut at a random place or flipped still give a result or a clv error, never a crash."""
    data, encoding, delimiter = example
    for damaged in (data[: len(data) // 2], data.replace(b'"', b"\r", 1), b"\x00" + data[1:]):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "damaged.csv"
            path.write_bytes(damaged)
            try:
                result = load_orders(path, Columns(), POLICY, con=CON, delimiter=delimiter, encoding=encoding)
                _ = result.report
            except ClvError:
                pass
