"""Duplicate detection: the DuckDB hash pre-filter flags exactly what the plain window flags."""

from __future__ import annotations

import math

import ibis
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.data import LoadPolicy, load, load_orders
from clv.data.sources import SOURCE_ROW_COL
from clv.engine import connect, dialect

TEXT = st.sampled_from(["a", "b", " a", "", None])
NUMBER = st.sampled_from([1.0, 2.5, 0.0, -0.0, math.nan, math.inf, None])
INTEGER = st.sampled_from([1, 2, None])
LINE = st.tuples(TEXT, NUMBER, INTEGER)


@pytest.fixture(scope="module")
def con():
    return connect()


def _raw(con, lines) -> ibis.Table:
    columns = list(zip(*lines)) if lines else [(), (), ()]
    arrow = pa.table({
        SOURCE_ROW_COL: pa.array(range(1, len(lines) + 1), pa.int64()),
        "t": pa.array(columns[0], pa.string()),
        "x": pa.array(columns[1], pa.float64(), from_pandas=False),
        "i": pa.array(columns[2], pa.int64()),
    })
    return dialect.register_arrow(arrow, con)


def _flagged(con, table: ibis.Table, keys: list[str] | None = None) -> set[int]:
    marked = load._mark_duplicates(table, ["t", "x", "i"], ["t", "x", "i"] if keys is None else keys)
    rows = con.execute(marked.filter(marked[load._DUPLICATE])[SOURCE_ROW_COL])
    return set(int(r) for r in rows)


def _by_window(con, table: ibis.Table) -> set[int]:
    numbered = table.mutate(n=load._copy_number(table, ["t", "x", "i"]))
    return set(int(r) for r in con.execute(numbered.filter(numbered.n > 0)[SOURCE_ROW_COL]))


@st.composite
def lines(draw):
    base = draw(st.lists(LINE, min_size=0, max_size=10))
    repeats = draw(st.lists(st.integers(0, 9), max_size=6))
    return base + [base[i] for i in repeats if i < len(base)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=lines(), keys=st.lists(st.sampled_from(["t", "x", "i"]), unique=True))
def test_hash_prefilter_flags_exactly_the_window_copies(con, data, keys):
    """Whatever subset of columns the pre-filter hashes (none: all), copies are exact."""
    table = _raw(con, data)
    assert _flagged(con, table, keys) == _by_window(con, table)


def test_lines_equal_on_the_key_columns_only_are_not_copies(con):
    data = [("a", 1.0, 1), ("b", 1.0, 1), ("a", 1.0, 2), ("a", 1.0, 1)]
    assert _flagged(con, _raw(con, data), ["x"]) == {4}


def test_first_copy_kept_nulls_and_nan_equal(con):
    data = [("a", 1.0, 1), (None, math.nan, None), ("a", 1.0, 1), (None, math.nan, None),
            ("a", 1.0, 2), ("a", -0.0, 1), ("a", 0.0, 1)]
    assert _flagged(con, _raw(con, data)) == {3, 4, 7}


def test_hash_collisions_never_make_false_duplicates(con, monkeypatch):
    """Every line colliding (a constant hash): only truly equal lines are flagged."""

    def constant_hash(columns):
        return ibis.literal(0, type="uint64")

    monkeypatch.setattr(dialect, "row_hash", constant_hash)
    data = [("a", 1.0, 1), ("b", 1.0, 1), ("a", 1.0, 1), ("a", 2.0, 1), ("b", 1.0, 1)]
    assert _flagged(con, _raw(con, data)) == {3, 5}


@pytest.mark.parametrize("end", [None, "2021-03-01", "2021-03-01 10:00:00", "2021-03-01T10:00:00+01:00"])
def test_accepted_flag_agrees_with_status_at_the_time_bound(con, end):
    """The orders filter (one reference to the parsed time) accepts exactly the lines whose status is not a reject."""
    frame = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "order_ts": ["2021-03-01 10:00:00", "2021-03-01 10:00:01", "2021-03-01", "2021-03-02",
                     "2021-03-01T09:00:00Z", "not a date", None, "2021-03-01 23:59:59"],
        "amount": ["1", "2", "nan", "3", "-4", "5", "6", "inf"],
    })
    result = load_orders(frame, observation_end=end, con=con)
    statuses = con.execute(result.classified.select(SOURCE_ROW_COL, load.STATUS))
    accepted = statuses[statuses[load.STATUS].isin(["purchase", "netted_refund"])][SOURCE_ROW_COL]
    orders = con.execute(result.orders)["source_row"]
    assert sorted(orders) == sorted(accepted)
    assert result.report.rejected_lines == len(frame) - len(orders)


def test_csv_row_numbers_are_line_numbers_on_every_read(con, tmp_path):
    """Plain CSV files are re-read by each query: source_row stays the physical line number."""
    path = tmp_path / "orders.csv"
    lines = [f"c{i % 97},2021-01-{1 + i % 28:02d},{i}" for i in range(60_000)]
    lines[10] = "c1,2021-01-01"  # ragged: short line, padded and rejected
    lines[20] = "c1,not a date,20"
    lines[40] = lines[30]  # a duplicate of line 30
    path.write_text("customer_id,order_ts,amount\n" + "\n".join(lines) + "\n")
    result = load_orders(str(path), policy=LoadPolicy(duplicates="drop"), con=con)
    orders = con.execute(result.orders.select("source_row", "amount"))
    assert (orders["amount"] == orders["source_row"] - 2).all()
    rejects = con.execute(result.rejects.order_by("source_row"))
    assert list(rejects["source_row"]) == [12, 22, 42]
    assert list(rejects["reason"]) == ["unparsable_amount", "unparsable_timestamp", "duplicate"]
    assert result.report.input_rows == 60_000
