"""PostgreSQL's parsers give what DuckDB's TRY_CAST and try_strptime give: NULL on bad text, never an error.

Each battery runs on both engines as one column of a table and is compared
value by value (:mod:`clv.engine.dialect`, section PostgreSQL).
"""

from __future__ import annotations

import math

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.engine import dialect

FORMAT_CASES = {
    "%Y-%m-%d": ["2011-1-5", "2011-01-05", " 2011-01-05", "2011-01-05 ", "2011-01-05x", "2011-00-05", "2011-001-05",
                 "2011-01-005", "2011/01/05", "123-01-05", "12345-01-05", "+2011-01-05", "-5-01-05",
                 "2011-02-29", "2012-02-29", "1900-02-29", "2000-02-29", "2011-04-31", "2011-12-31", "", "  "],
    "%Y%m%d": ["20110105", "2011015", "201101050", "20110230", "20120229", "20110229", "99990101", "201101",
               "2011 01 05", "19970101", "1997011"],
    "%d/%m/%Y %H:%M": ["05/01/2011 10:30", "5/1/2011 9:05", "05/01/2011 24:00", "05/01/2011 10:60",
                       "05/01/2011  10:30", "05/01/201110:30", "31/12/2011 23:59", "32/12/2011 00:00"],
    "%Y-%m-%d %H:%M:%S": ["2011-01-05 10:30:60", "2011-01-05 7:5:3", "2011-01-05 23:59:59", "2011-01-05 10:30"],
    "%Y-%m-%d %H:%M:%S.%f": ["2011-01-05 10:30:59.5", "2011-01-05 10:30:59.123456", "2011-01-05 10:30:59.1234567",
                             "2011-01-05 10:30:59.123", "2011-01-05 10:30:59."],
    "%y-%m-%d": ["11-01-05", "70-01-05", "69-01-05", "68-01-05", "00-02-29", "1-1-1"],
    "%d %b %Y": ["05 Jan 2011", "05 jan 2011", "05 JAN 2011", "05 January 2011", "05 Janu 2011", "5 Dec 1999"],
    "%d %B %Y": ["05 January 2011", "05 Jan 2011", "5 september 2011"],
    "%m/%d/%Y %I:%M %p": ["1/5/2011 1:05 PM", "1/5/2011 12:05 am", "1/5/2011 12:05 PM", "1/5/2011 13:05 PM",
                          "1/5/2011 0:05 AM", "1/5/2011 11:59 pm"],
    "%a %Y-%m-%d": ["Wed 2011-01-05", "Mon 2011-01-05", "Xyz 2011-01-05"],
    "%Y%m%d%H%M%S": ["20110105103000", "2011010510300", "20110105103"],
    "%Y-%-m-%d": ["2011-1-05", "2011-11-05"],
    "%Y-%m-%dT%H:%M": ["2011-01-05T10:30", "2011-01-05t10:30", "2011-01-05 10:30"],
}

ISO_CASES = ["2011-12-09", "2011-12-09 12:50", "2011-12-09 12:50:00", "2011-12-09T12:50:00.123456",
             "2011-12-09 12:50:00.1234567", "2011-1-9", "2011-12-9 1:5:3", "11-12-09", "2011-02-30",
             "2011-12-09 24:00:00", "2011-12-09 24:00:01", "2011-12-09 12:60", "2011/12/09", "20111209",
             "2011-12-09 12", "2011-12-09 12:50:00Z", "2011-12-09 12:50:00+02:00", "2011-12-09T12:50:00+0200",
             "2011-12-09 12:50+02", "2011-12-09 12:50:00-0530", "2011-12-09 12:50:00.5+02", "2011-12-09x",
             "Dec 9 2011", "2011-12-09 12:50:00.", "2011-12-09 12:50:00,5", "2011-12-09 12:50:60",
             "2011-12-09 23:59:59.9999999", "2012-02-29 00:00", "", "today", "epoch", " EPOCH "]

FLOAT_CASES = ["1", "1.5", " 2 ", "+3", "-.5", "5.", "1e5", "1E+5", "1e400", "-1e400", "inf", "-Infinity", "nan",
               "+inf", "INF", "1_000", "_1", "1_", "1__0", "1_000.5_5", "1.5e1_0", "1e+", "0x10", "1,5", "", "  ",
               "abc", "1.2.3", "1e", ".", "1d", "\t7\t", "7\n", "1 000", "1e-400", "  -1.5e-3  ",
               "123456789012345678901234567890", "0.1", "3.141592653589793238", "-0", "1e0400", "infinit"]


def _pair(values: list[str], duckdb_con, postgres_con) -> tuple[ibis.Table, ibis.Table]:
    arrow = pa.table({"i": list(range(len(values))), "s": pa.array(values, pa.string())})
    duck = dialect.register_arrow(arrow, duckdb_con)
    pg = postgres_con.create_table(dialect.temp_name("parse"), arrow, temp=True)
    return duck, pg


def _both(values, build, duckdb_con, postgres_con) -> tuple[list, list]:
    duck, pg = _pair(values, duckdb_con, postgres_con)
    got = []
    for table in (duck, pg):
        frame = table.select("i", v=build(table.s)).order_by("i").to_pyarrow()
        got.append(frame.column("v").to_pylist())
    return got[0], got[1]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


@pytest.mark.parametrize("fmt", sorted(FORMAT_CASES))
def test_strptime_formats_parse_like_duckdb(fmt, duckdb_con, postgres_con):
    values = FORMAT_CASES[fmt]
    duck, pg = _both(values, lambda s: dialect.try_parse_timestamp(s, fmt), duckdb_con, postgres_con)
    assert [(v, d) for v, d, p in zip(values, duck, pg) if d != p] == []
    assert any(d is not None for d in duck)


@pytest.mark.parametrize("aware", [False, True])
def test_iso_text_parses_like_duckdb(aware, duckdb_con, postgres_con):
    duck, pg = _both(ISO_CASES, lambda s: dialect.to_local_time(dialect.text_to_timestamp(s, aware=True), "UTC")
                     if aware else dialect.text_to_timestamp(s), duckdb_con, postgres_con)
    assert [(v, d, p) for v, d, p in zip(ISO_CASES, duck, pg) if d != p] == []


def test_text_numbers_parse_like_duckdb(duckdb_con, postgres_con):
    duck, pg = _both(FLOAT_CASES, dialect.text_to_float, duckdb_con, postgres_con)
    assert [(v, d, p) for v, d, p in zip(FLOAT_CASES, duck, pg) if not _same(d, p)] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.text(alphabet="0123456789-/: .T", min_size=0, max_size=14), min_size=1, max_size=40),
       fmt=st.sampled_from(["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]))
def test_random_text_dates_parse_like_duckdb(values, fmt, duckdb_con, postgres_con):
    duck, pg = _both(values, lambda s: dialect.try_parse_timestamp(s, fmt), duckdb_con, postgres_con)
    assert [(v, d, p) for v, d, p in zip(values, duck, pg) if d != p] == []
    duck, pg = _both(values, dialect.text_to_timestamp, duckdb_con, postgres_con)
    assert [(v, d, p) for v, d, p in zip(values, duck, pg) if d != p] == []


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_epochs_and_zones_like_duckdb(zone, duckdb_con, postgres_con):
    seconds = [0.0, 1.5, 1_300_000_000.0, -86_400.0, 1e12, float("nan"), 1_700_000_000.123456]
    arrow = pa.table({"i": list(range(len(seconds))), "x": seconds})
    got = []
    for table in (dialect.register_arrow(arrow, duckdb_con),
                  postgres_con.create_table(dialect.temp_name("epoch"), arrow, temp=True)):
        value = dialect.epoch_to_local_time(table.x, zone, table.x.abs() < 1e11)
        got.append(table.select("i", v=value).order_by("i").to_pyarrow().column("v").to_pylist())
    assert got[0] == got[1]


def test_uploaded_arrow_tables_come_back_unchanged(postgres_con):
    import datetime as dt

    arrow = pa.table({
        "i": pa.array([1, None, -(2**62)], pa.int64()),
        "f": [1 / 3, float("nan"), -0.0],
        "g": [float("inf"), None, 1e-310],
        "s": ["", None, "tab\\there\nnew \"quoted\" ünï,code"],
        "b": [True, None, False],
        "d": pa.array([dt.date(1997, 1, 1), None, dt.date(2011, 12, 9)], pa.date32()),
        "t": pa.array([dt.datetime(2011, 12, 9, 12, 50, 0, 123456), None, dt.datetime(1970, 1, 1)], pa.timestamp("us")),
        "z": pa.array([dt.datetime(2011, 12, 9, 12, 50, tzinfo=dt.timezone.utc), None, None], pa.timestamp("us", "UTC")),
    })
    table = dialect.register_arrow(arrow, postgres_con)
    back = table.to_pyarrow()
    for name in arrow.column_names:
        sent, got = arrow.column(name).to_pylist(), back.column(name).to_pylist()
        assert all(_same(a, b) or (a == b) for a, b in zip(sent, got)), (name, sent, got)
        if name == "f":
            assert math.copysign(1.0, got[2]) == -1.0


def test_a_directive_postgres_cannot_read_is_refused_with_the_fix(postgres_con):
    from clv.errors import DataError

    table = postgres_con.create_table(dialect.temp_name("parse"), pa.table({"s": ["2011-01-05 +0100"]}), temp=True)
    with pytest.raises(DataError, match=r"%z.*fix: load the file or frame on DuckDB"):
        dialect.try_parse_timestamp(table.s, "%Y-%m-%d %z")
