"""Refunds netted against the purchases they cancel (clv.summary.refunds): net spend, flags, reconciliation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clv.cli.main import app
from clv.data import Columns, load_orders
from clv.models.bgnbd import BetaGeoModel
from clv.models.gammagamma import GammaGammaModel
from clv.scores import score_customers
from clv.summary import calibration_holdout, summarize
from clv.summary.refunds import LARGELY_REFUNDED_SHARE, largely_refunded_sentence

DATA = Path(__file__).parent / "data"
RETAIL = DATA / "online_retail.csv.gz"
README_COLUMNS = Columns(customer_id="CustomerID", timestamp="InvoiceDate", quantity="Quantity",
                         unit_price="UnitPrice", order_id="InvoiceNo", extra=("Country",))


def lines(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    frame["order_ts"] = pd.to_datetime(frame["order_ts"], format="ISO8601")
    return frame


def test_a_same_day_cancellation_is_no_purchase_and_no_spend():
    """Customer 16446's pattern: a small first order, then a huge order cancelled the same day."""
    orders = lines([("x", "2024-01-01 10:00", 2.90), ("x", "2024-03-01 09:00", 168_469.60),
                    ("x", "2024-03-01 09:15", -168_469.60), ("y", "2024-01-05", 10.0), ("y", "2024-02-05", 12.0)])
    row = summarize(orders, time_unit="day").set_index("customer_id").loc["x"]
    assert (row.frequency, row.recency, row.monetary_value) == (0, 0.0, 0.0)
    assert row.last_purchase == pd.Timestamp("2024-01-01")
    assert (row.gross_revenue, row.refunded, row.revenue) == (pytest.approx(168_472.5), 168_469.6, pytest.approx(2.9))
    assert row.refund_share == pytest.approx(168_469.6 / 168_472.5) and row.largely_refunded


def test_a_later_refund_nets_against_the_latest_earlier_purchase():
    orders = lines([("a", "2024-01-01", 10.0), ("a", "2024-01-08", 20.0), ("a", "2024-01-15", 40.0),
                    ("a", "2024-01-20", -15.0), ("a", "2024-01-22", -5.0)])
    row = summarize(orders, time_unit="day").iloc[0]
    assert row.frequency == 2 and row.recency == 14.0
    assert row.monetary_value == pytest.approx((20 + 40 - 15 - 5) / 2)  # both refunds net against 01-15
    assert row.refunded == 20.0 and not row.largely_refunded


def test_a_partly_refunded_period_keeps_its_net_value_and_an_excess_is_not_carried_back():
    orders = lines([("a", "2024-01-01", 10.0), ("a", "2024-01-08", 30.0), ("a", "2024-01-15", 40.0),
                    ("a", "2024-01-15", -50.0)])
    row = summarize(orders, time_unit="day").iloc[0]
    assert row.frequency == 1  # 01-15 is cancelled (40 - 50 <= 0); 01-08 stays whole
    assert row.monetary_value == 30.0 and row.recency == 7.0
    assert row.revenue == pytest.approx(row.gross_revenue - row.refunded) == 30.0


def test_a_cancelled_first_purchase_still_marks_the_start():
    orders = lines([("a", "2024-01-01", 50.0), ("a", "2024-01-01", -50.0), ("a", "2024-01-10", 20.0)])
    row = summarize(orders, observation_end="2024-01-31", time_unit="day").iloc[0]
    assert row.first_purchase == pd.Timestamp("2024-01-01") and row["T"] == 30.0
    assert (row.frequency, row.recency, row.monetary_value) == (1, 9.0, 20.0)


def test_a_refund_before_any_purchase_in_the_window_is_unmatched():
    orders = lines([("a", "2024-01-02", -30.0), ("a", "2024-01-05", 10.0), ("a", "2024-01-09", 12.0)])
    row = summarize(orders, time_unit="day").iloc[0]
    assert (row.frequency, row.monetary_value) == (1, 12.0)  # no purchase period reduced
    assert row.refunded == 30.0 and row.revenue == -8.0 and row.largely_refunded  # still counted per customer


def test_merge_per_unit_nets_within_the_period():
    orders = lines([("a", "2024-01-01", 10.0), ("a", "2024-02-03", 30.0), ("a", "2024-02-20", -30.0),
                    ("a", "2024-03-04", 25.0)])
    row = summarize(orders, time_unit="month", merge="unit").iloc[0]
    assert (row.frequency, row.recency, row.monetary_value) == (1, 2.0, 25.0)  # February cancelled


def test_a_calibration_summary_never_uses_a_later_refund():
    orders = lines([("a", "2024-01-01", 10.0), ("a", "2024-01-08", 30.0), ("a", "2024-01-20", -30.0),
                    ("a", "2024-01-25", 5.0)])
    split = calibration_holdout(orders, calibration_end="2024-01-10", observation_end="2024-01-31", time_unit="day")
    row = split.iloc[0]
    assert (row.frequency, row.monetary_value, row.refunded) == (1, 30.0, 0.0)  # the refund comes later
    assert (row.frequency_holdout, row.monetary_value_holdout, row.revenue_holdout) == (1, 5.0, -25.0)


def test_without_refunds_the_summary_is_the_gross_one():
    orders = lines([("a", "2024-01-01", 10.0), ("a", "2024-01-08", 30.0), ("b", "2024-01-03", 0.0),
                    ("b", "2024-01-04", 7.0)])
    summary = summarize(orders, time_unit="day").set_index("customer_id")
    assert summary["monetary_value"].tolist() == [30.0, 7.0]
    assert summary["refunded"].tolist() == [0.0, 0.0] and not summary["largely_refunded"].any()


def test_largely_refunded_is_a_share_of_gross_spend_at_the_documented_threshold():
    orders = lines([("a", "2024-01-01", 100.0), ("a", "2024-01-03", -50.0), ("b", "2024-01-01", 100.0),
                    ("b", "2024-01-03", -49.0)])
    data = summarize(orders, time_unit="day")
    assert LARGELY_REFUNDED_SHARE == 0.5
    assert data.set_index("customer_id")["largely_refunded"].to_dict() == {"a": True, "b": False}
    flagged = data.largely_refunded()
    assert flagged["customer_id"].tolist() == ["a"]
    assert largely_refunded_sentence(flagged) == (
        "1 customer had at least 50% of their purchases refunded (netted before their value is modelled): "
        "a (50.00 of 100.00 refunded).")
    assert largely_refunded_sentence(data.largely_refunded().iloc[:0]) is None


def test_a_purchase_log_has_no_refund_columns():
    log = pd.DataFrame({"customer_id": ["a", "a"], "order_ts": pd.to_datetime(["2024-01-01", "2024-01-05"])})
    data = summarize(log, time_unit="day")
    assert not {"refunded", "refund_share", "largely_refunded"} & set(data.columns)
    assert data.largely_refunded().empty


ROWS = st.lists(
    st.tuples(st.sampled_from("abcd"), st.integers(0, 40), st.sampled_from([-50.0, -7.5, -2.0, 0.0, 2.0, 7.5, 50.0])),
    min_size=1, max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(ROWS, st.sampled_from([("day", "day"), ("week", "unit")]))
def test_netting_properties(rows, unit_merge):
    """Never a negative monetary value; gross - refunded = revenue; totals reconcile with the lines."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    frame["order_ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["day"], unit="D")
    orders = frame[["customer_id", "order_ts", "amount"]]
    if not (frame["amount"] >= 0).any():
        return  # refunds only: refused (tests/test_summary.py)
    unit, merge = unit_merge
    data = summarize(orders, observation_end="2024-03-01", time_unit=unit, merge=merge)
    table = data.table
    assert (table["monetary_value"] >= 0).all()
    np.testing.assert_allclose(table["gross_revenue"] - table["refunded"], table["revenue"], atol=1e-9)
    buyers = frame[frame["customer_id"].isin(table["customer_id"])]
    assert table["gross_revenue"].sum() == pytest.approx(buyers.loc[buyers["amount"] >= 0, "amount"].sum())
    assert table["refunded"].sum() == pytest.approx(-buyers.loc[buyers["amount"] < 0, "amount"].sum())
    assert ((table["refund_share"] >= LARGELY_REFUNDED_SHARE) == table["largely_refunded"]).all()
    gross = summarize(orders[orders["amount"] >= 0], observation_end="2024-03-01", time_unit=unit, merge=merge)
    assert (table["frequency"].to_numpy() <= gross["frequency"].to_numpy()).all()  # netting only removes purchases
    spent = table["monetary_value"] * table["frequency"]
    assert (spent <= gross["monetary_value"] * gross["frequency"] + 1e-9).all()  # and only lowers repeat spend


# UCI Online Retail (tests/data copy), loaded as the README does ---------------------------------------

@pytest.fixture(scope="module")
def retail():
    return load_orders(RETAIL, README_COLUMNS).cache()


@pytest.fixture(scope="module")
def retail_summary(retail):
    return summarize(retail, time_unit="week")


def test_online_retail_customer_16446_is_valued_net(retail_summary):
    row = retail_summary.set_index("customer_id").loc["16446"]
    assert row.gross_revenue == pytest.approx(168_472.5) and row.refunded == pytest.approx(168_469.6)
    assert row.revenue == pytest.approx(2.9)
    assert (row.frequency, row.monetary_value) == (0, 0.0)  # before: 1 and 168,469.6 (the cancelled order)
    assert row.largely_refunded
    flagged = retail_summary.largely_refunded()
    assert flagged["customer_id"].iloc[0] == "16446" and len(flagged) == retail_summary["largely_refunded"].sum()


def test_online_retail_refunds_reconcile_with_the_load_report(retail, retail_summary):
    report = retail.report
    refunds = retail.orders.filter(retail.orders.is_refund)
    totals = refunds.aggregate(lines=refunds.count(), value=(-refunds.amount).sum()).execute().iloc[0]
    assert totals["lines"] == report.netted_refund_lines == 8_872
    without_purchase = refunds.filter(~refunds.customer_id.isin(retail_summary["customer_id"].tolist()))
    unowned = float(-without_purchase.amount.sum().execute() or 0.0)
    assert retail_summary["refunded"].sum() + unowned == pytest.approx(totals["value"])
    assert len(retail_summary) == 4_339  # every buyer keeps a row; refund-only customers are counted apart
    assert (retail_summary["monetary_value"] >= 0).all()
    np.testing.assert_allclose(retail_summary["gross_revenue"] - retail_summary["refunded"],
                               retail_summary["revenue"], rtol=1e-9, atol=1e-6)


def test_online_retail_customer_16446_no_longer_carries_a_top_spend(retail_summary):
    """Gamma-Gamma on net spend: 16446 (frequency 0 now) gets the population mean, far from the top."""
    gg = GammaGammaModel().fit(retail_summary["frequency"], retail_summary["monetary_value"])
    spend = gg.expected_spend(retail_summary["frequency"], retail_summary["monetary_value"])
    at = int(np.flatnonzero(retail_summary["customer_id"].to_numpy() == "16446")[0])
    assert spend[at] == pytest.approx(gg.population_mean_spend)  # before: 78,435 per purchase, the highest
    assert spend[at] < np.quantile(spend, 0.9)


def test_scores_carry_the_largely_refunded_flag(cdnow_lines, tmp_path):
    refund = pd.DataFrame({"customer_id": ["00001", "00001"], "order_ts": pd.to_datetime(["1997-03-01"] * 2),
                           "amount": [5_000.0, -5_000.0]})
    orders = pd.concat([cdnow_lines, refund], ignore_index=True)
    data = summarize(orders, observation_end="1998-06-30", time_unit="week")
    assert data.largely_refunded()["customer_id"].tolist() == ["00001"]
    bgnbd = BetaGeoModel().fit(data)
    spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
    scores = score_customers(data, bgnbd, spend, horizon=52, intervals=None)
    assert scores["largely_refunded"].tolist() == data["largely_refunded"].tolist()
    assert scores.table.columns[-1] == "largely_refunded"
    # the CLI carries it too
    data.to_parquet(tmp_path / "summary.parquet")
    bgnbd.to_json(tmp_path / "bgnbd.json")
    spend.to_json(tmp_path / "gg.json")
    result = CliRunner().invoke(app, ["score", str(tmp_path / "summary.parquet"), "--model", str(tmp_path / "bgnbd.json"),
                                      "--spend-model", str(tmp_path / "gg.json"), "--horizon", "52", "--intervals",
                                      "none", "--output", str(tmp_path / "scores.csv")])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "scores.csv", dtype={"customer_id": str})
    assert written.loc[written["largely_refunded"], "customer_id"].tolist() == ["00001"]
    orders.to_csv(tmp_path / "orders.csv", index=False)
    summarized = CliRunner().invoke(app, ["summarize", str(tmp_path / "orders.csv"), "--time-unit", "week",
                                          "--output", str(tmp_path / "again.csv")])
    assert summarized.exit_code == 0, summarized.output
    assert "1 customer had at least 50% of their purchases refunded" in summarized.output
    assert "00001 (5,000.00 of 5," in summarized.output


def test_online_retail_customer_16446_is_not_a_top_clv(retail_summary):
    """The README flow (purchase model through the ladder, Gamma-Gamma, 52 weeks): 16446 was the third-highest
    CLV (180,884) when its cancelled order counted as spend; netted it is far down the list."""
    from clv.models.ladder import fit_purchase_model

    purchases = fit_purchase_model(retail_summary, "bgnbd")
    spend = GammaGammaModel().fit(retail_summary["frequency"], retail_summary["monetary_value"])
    scores = score_customers(retail_summary, purchases, spend, horizon=52, intervals=None).table
    rank = scores["clv"].rank(ascending=False, method="min")
    at = scores["customer_id"] == "16446"
    assert rank[at].iloc[0] > 1_000 and scores.loc[at, "largely_refunded"].iloc[0]
    top = scores.loc[rank <= 100]
    assert not top["largely_refunded"].any()
