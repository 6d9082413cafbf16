"""Property: whatever the defects, every input line lands exactly once."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.data import Columns, LoadPolicy, load_orders
from clv.engine import connect

CUSTOMERS = st.sampled_from(["a", "b", "c", " ", "", None])
TIMES = st.sampled_from(["2021-01-01", "2021-03-05 10:00:00", "2022-07-01", "01/02/2021",
                         "2021-02-30", "", None, "2021-05-01T10:00:00+02:00"])
AMOUNTS = st.sampled_from(["10", "0", "-5", "2.5", "abc", "", None, "NaN", "inf", "1e3"])
ORDER_IDS = st.sampled_from(["1", "2", "C3", None])
CURRENCIES = st.sampled_from(["EUR", "USD", "GBP", None])

LINE = st.tuples(CUSTOMERS, TIMES, AMOUNTS, ORDER_IDS, CURRENCIES)
POLICY = st.builds(
    LoadPolicy,
    refunds=st.sampled_from(["net", "reject"]),
    duplicates=st.sampled_from(["auto", "drop", "keep"]),
    zero_amounts=st.sampled_from(["keep", "reject"]),
    exchange_rates=st.just({"EUR": 1.0, "USD": 0.9}),
    max_rejected_share=st.just(1.0),  # this property looks at every outcome, a load of rejects included
)


@pytest.fixture(scope="module")
def con():
    return connect()


@st.composite
def frames(draw):
    lines = draw(st.lists(LINE, min_size=0, max_size=12))
    repeats = draw(st.lists(st.integers(0, 11), max_size=4))
    lines += [lines[i] for i in repeats if i < len(lines)]  # exact duplicates
    return pd.DataFrame(lines, columns=["cust", "ts", "amt", "oid", "cur"], dtype=object)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames(), policy=POLICY, end=st.sampled_from([None, "2021-12-31"]))
def test_every_line_lands_exactly_once(con, frame, policy, end):
    columns = Columns(customer_id="cust", timestamp="ts", amount="amt", order_id="oid",
                      currency="cur")
    result = load_orders(frame, columns, policy, observation_end=end, con=con)
    report = result.report  # .check() ran: accepted + netted + rejected == input
    assert report.input_rows == len(frame)
    rows = list(result.orders.execute()["source_row"]) + list(result.rejects.execute()["source_row"])
    assert sorted(rows) == list(range(1, len(frame) + 1))
    assert len(result.rejects.execute()) == report.rejected_lines
