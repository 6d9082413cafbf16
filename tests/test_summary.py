"""Per-customer summaries: hand-computed cases, the published CDNOW summary, engines and formats."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.engine import connect
from clv.errors import DataError
from clv.summary.customers import calibration_holdout, compressed_summary, summarize


def lines(rows, columns=("customer_id", "order_ts", "amount")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return frame


HAND = lines(
    [
        ("a", "2024-01-01 09:00", 10.0),
        ("a", "2024-01-01 17:00", 5.0),   # same day: merged into the first purchase
        ("a", "2024-01-08 10:00", 20.0),
        ("a", "2024-01-15 10:00", 40.0),
        ("a", "2024-01-16 10:00", -15.0),  # refund: netted against 01-15 (the latest earlier purchase), never a purchase
        ("b", "2024-01-10 12:00", 7.0),
        ("c", "2024-01-20 12:00", -3.0),  # refund only: no purchase, not a summary row
    ]
)


def test_hand_computed_days():
    summary = summarize(HAND, observation_end="2024-01-31", time_unit="day").set_index("customer_id")
    a = summary.loc["a"]
    assert a.frequency == 2                      # purchase days 01-01, 01-08, 01-15
    assert a.recency == 14.0                     # 01-15 minus 01-01
    assert a["T"] == 30.0                           # 01-31 minus 01-01
    assert a.monetary_value == pytest.approx(22.5)  # (20 + (40 - 15)) / 2: net spend, first purchase excluded
    assert a.revenue == pytest.approx(60.0)      # 10 + 5 + 20 + 40 - 15
    assert (a.gross_revenue, a.refunded) == (75.0, 15.0)
    assert a.refund_share == pytest.approx(0.2) and not a.largely_refunded
    assert a.n_orders == 3
    assert a.first_purchase == pd.Timestamp("2024-01-01")
    b = summary.loc["b"]
    assert (b.frequency, b.recency, b["T"], b.monetary_value) == (0, 0.0, 21.0, 0.0)
    assert "c" not in summary.index
    assert summarize(HAND, observation_end="2024-01-31", time_unit="day").customers_without_purchase == 1  # c


def test_weeks_are_days_over_seven():
    summary = summarize(HAND, observation_end="2024-01-31", time_unit="week").set_index("customer_id")
    assert summary.loc["a", "recency"] == pytest.approx(2.0)
    assert summary.loc["a", "T"] == pytest.approx(30 / 7)


def test_month_is_a_stated_length_not_thirty_days():
    summary = summarize(HAND, observation_end="2024-01-31", time_unit="month").set_index("customer_id")
    assert summary.loc["a", "T"] == pytest.approx(30 / 30.4375)


def test_merge_by_week_counts_iso_weeks():
    # 2024-01-01 is a Monday: days 01-01 and 01-07 share a week, 01-08 starts the next.
    frame = lines([("x", "2024-01-01", 1.0), ("x", "2024-01-07", 1.0), ("x", "2024-01-08", 1.0), ("x", "2024-01-29", 1.0)])
    summary = summarize(frame, observation_end="2024-02-05", time_unit="week", merge="unit").iloc[0]
    assert summary.frequency == 2           # weeks 0, 1 and 4 (0-based from 01-01)
    assert summary.recency == 4.0
    assert summary["T"] == 5.0                  # 2024-02-05 is in week 5
    assert summary.monetary_value == pytest.approx(1.0)


def test_merge_by_calendar_month():
    frame = lines([("x", "2024-01-31", 2.0), ("x", "2024-02-01", 3.0), ("x", "2024-02-20", 4.0)])
    summary = summarize(frame, observation_end="2024-04-15", time_unit="month", merge="unit").iloc[0]
    assert (summary.frequency, summary.recency, summary["T"]) == (1, 1.0, 3.0)
    assert summary.monetary_value == pytest.approx(7.0)
    assert summary.last_purchase == pd.Timestamp("2024-02-01")


def test_lines_after_observation_end_are_ignored():
    summary = summarize(HAND, observation_end="2024-01-09", time_unit="day").set_index("customer_id")
    assert summary.loc["a", "frequency"] == 1
    assert summary.loc["a", "T"] == 8.0
    assert summary.loc["a", "revenue"] == pytest.approx(35.0)


def test_margin_from_costs():
    frame = HAND.assign(cost=HAND["amount"].abs() * 0.5)
    summary = summarize(frame, observation_end="2024-01-31", time_unit="day").set_index("customer_id")
    assert summary.loc["a", "margin"] == pytest.approx(60.0 - 45.0)


def test_margin_counts_only_lines_with_a_cost():
    costs = [4.0, None, 10.0, 20.0, None, None, None]  # b has no cost at all
    summary = summarize(HAND.assign(cost=costs), observation_end="2024-01-31", time_unit="day").set_index("customer_id")
    assert summary.loc["a", "margin"] == pytest.approx((10 - 4) + (20 - 10) + (40 - 20))
    assert pd.isna(summary.loc["b", "margin"])


def test_cdnow_matches_the_published_summary(cdnow_lines, cdnow_summary_reference):
    summary = summarize(cdnow_lines, observation_end="1997-09-30", time_unit="week")
    summary["ID"] = summary["customer_id"].astype(int)
    merged = summary.merge(cdnow_summary_reference, on="ID", suffixes=("", "_ref"))
    assert len(merged) == len(cdnow_summary_reference) == 2357
    assert (merged["frequency"] == merged["frequency_ref"]).all()
    np.testing.assert_allclose(merged["recency"].round(2), merged["recency_ref"], atol=1e-9)
    np.testing.assert_allclose(merged["T"].round(2), merged["T_ref"], atol=1e-9)
    assert merged["frequency"].sum() == 2457
    # Fader, Hardie & Lee (2005), "RFM and CLV": 946 repeat buyers, mean of average spend $35.08
    repeat = summary[summary["frequency"] > 0]
    assert len(repeat) == 946
    assert repeat["monetary_value"].mean() == pytest.approx(35.08, abs=0.005)


def test_same_summary_from_csv_parquet_and_frame(tmp_path, cdnow_lines):
    csv, parquet = tmp_path / "orders.csv", tmp_path / "orders.parquet"
    cdnow_lines.to_csv(csv, index=False)
    cdnow_lines.to_parquet(parquet, index=False)
    con = connect()
    sources = {
        "frame": cdnow_lines,
        "csv": con.read_csv(csv, types={"customer_id": "VARCHAR"}),
        "parquet": con.read_parquet(parquet),
    }
    results = {name: summarize(src, observation_end="1997-09-30", time_unit="week") for name, src in sources.items()}
    for name in ("csv", "parquet"):
        pd.testing.assert_frame_equal(results[name].table, results["frame"].table, check_dtype=False)


def test_calibration_holdout_cdnow(cdnow_lines):
    split = calibration_holdout(cdnow_lines, calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="week")
    assert len(split) == 2357
    assert split["frequency"].sum() == 2457
    assert split["duration_holdout"].iloc[0] == pytest.approx(273 / 7)
    raw = cdnow_lines[cdnow_lines["order_ts"] > "1997-09-30"]
    assert split["frequency_holdout"].sum() == raw.drop_duplicates(["customer_id", "order_ts"]).shape[0]
    assert split["revenue_holdout"].sum() == pytest.approx(raw["amount"].sum())
    one = split.set_index("customer_id").loc["0001"]
    assert (one.frequency_holdout, one.monetary_value_holdout) == (1, pytest.approx(26.48))


def test_calibration_holdout_counts_new_customers():
    split = calibration_holdout(HAND, calibration_end="2024-01-09", observation_end="2024-01-31", time_unit="day")
    assert set(split["customer_id"]) == {"a"}
    assert split.new_customers_in_holdout == 2  # b buys later; c only refunds later
    row = split.iloc[0]
    assert (row.frequency_holdout, row.monetary_value_holdout, row.revenue_holdout) == (1, 25.0, 25.0)  # 40 - 15 net
    with pytest.raises(DataError, match="must be after"):
        calibration_holdout(HAND, calibration_end="2024-01-31", observation_end="2024-01-09", time_unit="day")


def test_compressed_summary_counts_distinct_rows(cdnow_lines):
    summary = summarize(cdnow_lines, observation_end="1997-09-30", time_unit="week")
    packed = compressed_summary(summary)
    assert packed["count"].sum() == len(summary)
    assert len(packed) == len(summary[["frequency", "recency", "T"]].drop_duplicates())


def test_bad_options_and_inputs_name_the_fix():
    with pytest.raises(DataError, match="time_unit='fortnight' is not a known time unit"):
        summarize(HAND, time_unit="fortnight")
    with pytest.raises(DataError, match="load_orders"):
        summarize(HAND.rename(columns={"customer_id": "Client"}), time_unit="day")  # without amount it is a log: tests/test_purchase_logs.py
    with pytest.raises(DataError, match="not a date"):
        summarize(HAND, observation_end="yesterday-ish", time_unit="day")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.integers(0, 60), st.floats(0, 500, allow_nan=False)),
        min_size=1, max_size=40,
    )
)
def test_properties_hold_for_any_history(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    frame["order_ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["day"], unit="D")
    summary = summarize(frame[["customer_id", "order_ts", "amount"]], observation_end="2024-03-15", time_unit="day")
    days = frame.groupby("customer_id")["day"]
    expected = days.nunique() - 1
    assert summary.set_index("customer_id")["frequency"].sort_index().tolist() == expected.sort_index().tolist()
    assert (summary["recency"] <= summary["T"]).all()
    assert ((summary["frequency"] == 0) == (summary["recency"] == 0)).all()
    assert summary["revenue"].sum() == pytest.approx(frame["amount"].sum())
    assert (summary["monetary_value"] >= 0).all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(0, 30), st.sampled_from([-20.0, 0.0, 3.5, 10.0]),
                  st.sampled_from(["o1", "o2", None])),
        min_size=1, max_size=30,
    )
)
def test_summary_without_totals_has_the_same_model_inputs(rows):
    """totals=False skips the order-id level and the net sums; every column it keeps is unchanged."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount", "order_id"])
    frame["order_ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["day"], unit="D")
    lines = frame[["customer_id", "order_ts", "amount", "order_id"]]
    if not (frame["amount"] >= 0).any():  # refunds only: no customer to summarise, said, not an empty table
        for totals in (True, False):
            with pytest.raises(DataError, match="no customer has a purchase"):
                summarize(lines, observation_end="2024-02-15", totals=totals, time_unit="day")
        return
    full = summarize(lines, observation_end="2024-02-15", time_unit="day")
    lean = summarize(lines, observation_end="2024-02-15", totals=False, time_unit="day")
    assert list(lean.columns) == [c for c in full.columns if c not in ("n_orders", "revenue", "margin")]
    pd.testing.assert_frame_equal(lean.table, full[lean.columns])
    assert lean.customers_without_purchase == full.customers_without_purchase


def test_cancelled_zero_value_line_is_not_a_purchase():
    from clv.data import Columns, load_orders

    frame = pd.DataFrame({
        "customer_id": ["a", "a", "a"],
        "order_ts": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09"]),
        "amount": [10.0, 0.0, 12.0],
        "order_id": ["1", "C2", "3"],
    })
    orders = load_orders(frame, Columns(order_id="order_id"))
    assert orders.report.netted_refund_lines == 1
    row = summarize(orders, observation_end="2024-01-31", time_unit="day").iloc[0]
    assert (row.frequency, row.recency, row.n_orders) == (1, 8.0, 2)


def test_order_counts_with_and_without_order_ids():
    from clv.data import Columns, load_orders

    frame = pd.DataFrame({
        "customer_id": [7, 7, 7, 7],
        "order_ts": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:00", "2024-01-01 18:00", "2024-01-03 12:00"]),
        "amount": [5.0, 6.0, 7.0, 8.0],
        "order_id": ["A", "A", "B", None],
    })
    with_ids = summarize(load_orders(frame, Columns(order_id="order_id")), observation_end="2024-01-10", time_unit="day").iloc[0]
    assert with_ids.customer_id == 7  # integer ids stay integers
    assert (with_ids.frequency, with_ids.n_orders) == (1, 3)  # A and B on day 1; an unnamed order on day 3
    assert with_ids.monetary_value == pytest.approx(8.0)
    without_ids = summarize(load_orders(frame.drop(columns="order_id")), observation_end="2024-01-10", time_unit="day").iloc[0]
    assert (without_ids.frequency, without_ids.n_orders) == (1, 2)  # one order per purchase day


def test_unit_merge_split_must_fall_between_periods():
    frame = lines([("x", "2024-01-01", 1.0), ("x", "2024-01-08", 1.0), ("x", "2024-01-12", 1.0)])
    with pytest.raises(DataError, match="Sunday"):
        calibration_holdout(frame, calibration_end="2024-01-10", observation_end="2024-01-31", time_unit="week", merge="unit")
    split = calibration_holdout(frame, calibration_end="2024-01-07", observation_end="2024-01-28", time_unit="week", merge="unit")
    row = split.iloc[0]
    assert (row.frequency, row.frequency_holdout, row.duration_holdout) == (0, 1, 3.0)  # days 8 and 12 share a week


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(0, 90), st.sampled_from([-20.0, 0.0, 3.5, 10.0]),
                  st.sampled_from(["o1", "o2", None])),
        min_size=1, max_size=30,
    ),
    st.sampled_from([("day", "day"), ("week", "day"), ("week", "unit"), ("month", "unit"), ("year", "day")]),
    st.booleans(),
)
def test_default_observation_end_found_in_the_summary_query_equals_the_last_order_date(rows, unit_merge, totals):
    """Without observation_end the summary ends on the last line's date (refunds included), as if given."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount", "order_id"])
    frame["order_ts"] = pd.Timestamp("2024-01-01 10:00") + pd.to_timedelta(frame["day"], unit="D")
    data = frame[["customer_id", "order_ts", "amount", "order_id"]]
    unit, merge = unit_merge
    last = data["order_ts"].max().date()
    if not (frame["amount"] >= 0).any():  # refunds only: refused the same way on both paths
        for end in (None, str(last)):
            with pytest.raises(DataError, match="no customer has a purchase"):
                summarize(data, observation_end=end, time_unit=unit, merge=merge, totals=totals)
        return
    found = summarize(data, time_unit=unit, merge=merge, totals=totals)
    given_end = summarize(data, observation_end=str(last), time_unit=unit, merge=merge, totals=totals)
    pd.testing.assert_frame_equal(found.table, given_end.table)
    assert found.context() == given_end.context()
    assert str(found.observation_end) == str(last)


def test_default_observation_end_of_a_load_result_ignores_rejected_lines():
    from clv.data import load_orders

    frame = lines([("a", "2024-01-01 09:00", 10.0), ("a", "2024-01-05 09:00", 4.0), ("b", "2024-01-09 09:00", -2.0),
                   ("", "2024-02-01 09:00", 8.0), ("c", "2024-01-07 09:00", float("nan"))])
    summary = summarize(load_orders(frame), time_unit="day")
    assert str(summary.observation_end) == "2024-01-09"  # b's refund is the last accepted line
    assert summary.set_index("customer_id").loc["a", "T"] == 8.0
    assert summary.customers_without_purchase == 1


def test_a_load_that_kept_nothing_is_refused_by_the_summary_with_the_load_reason(tmp_path):
    """Not an empty summary: the load report's refusal (every date unparsable here) names the reason and the fix."""
    from clv.data import Columns, LoadPolicy, LoadRejectedError, load_orders

    path = tmp_path / "orders.csv"
    path.write_text("customer,date,amount\na,1,3.0\nb,2,4.0\n")
    loaded = load_orders(str(path), Columns(customer_id="customer", timestamp="date", amount="amount"),
                         LoadPolicy(date_format="%Y%m%d"))
    with pytest.raises(LoadRejectedError, match="unparsable_timestamp"):
        summarize(loaded, observation_end="1997-09-30")
