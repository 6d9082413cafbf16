"""drivers_over_time against a month-by-month hand calculation (with an empty month)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from clv.errors import DataError
from clv.formula import drivers_over_time


@pytest.fixture
def orders() -> pd.DataFrame:
    """Jan: A twice, B once; Feb: nobody; Mar: A, new C, and a refund of B; Apr 1-10: A."""
    rows = [
        ("A", "2021-01-01", 100.0, 60.0),
        ("A", "2021-01-20", 50.0, 20.0),
        ("B", "2021-01-25", 30.0, 10.0),
        ("A", "2021-03-03", 40.0, 20.0),
        ("C", "2021-03-09", 60.0, 30.0),
        ("B", "2021-03-10", -10.0, -4.0),  # refund, dated in March
        ("A", "2021-04-10", 20.0, 10.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "cost"])
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return frame


def test_monthly_drivers_by_hand(orders: pd.DataFrame) -> None:
    drivers = drivers_over_time(orders, time_unit="month", margin=0.3)
    assert drivers["period"].tolist() == ["2021-01", "2021-02", "2021-03", "2021-04"]
    # data end Apr 10: April is incomplete; January starts on the 1st: complete
    assert drivers["complete"].tolist() == [True, True, True, False]
    jan, feb, mar, apr = (drivers.iloc[i] for i in range(4))

    # Jan: 2 buyers, 3 orders (no order_id: customer-days), revenue 180
    assert (jan["customers_active"], jan["new_customers"], jan["orders"]) == (2, 2, 3)
    assert jan["aov"] == pytest.approx(60.0)  # 180 / 3
    assert jan["purchase_frequency"] == pytest.approx(1.5)  # 3 / 2
    assert jan["customer_value"] == pytest.approx(90.0)  # 180 / 2
    assert math.isnan(jan["churn"]) and math.isnan(jan["clv"])  # no previous month

    # Feb: empty; all of January's 2 buyers are gone: churn 1
    assert (feb["customers_active"], feb["orders"], feb["revenue"]) == (0, 0, 0.0)
    assert math.isnan(feb["aov"]) and math.isnan(feb["purchase_frequency"])
    assert feb["churn"] == pytest.approx(1.0)
    assert math.isnan(feb["clv"])

    # Mar: A and new C buy; B's refund lowers revenue: 40 + 60 - 10 = 90
    assert (mar["customers_active"], mar["new_customers"], mar["orders"]) == (2, 1, 2)
    assert mar["revenue"] == pytest.approx(90.0)
    assert mar["aov"] == pytest.approx(45.0)
    assert math.isnan(mar["churn"])  # February had no buyers

    # Apr: A bought in Mar and Apr, C did not: churn 1 - 1/2; lifespan 2 months
    assert apr["churn"] == pytest.approx(0.5)
    assert apr["lifespan"] == pytest.approx(2.0)
    # CLV = revenue per active customer x margin x lifespan = 20 x 0.3 x 2
    assert apr["clv"] == pytest.approx(12.0)


def test_margin_from_cost_per_period(orders: pd.DataFrame) -> None:
    drivers = drivers_over_time(orders, time_unit="month")
    # Jan: (180 - 90) / 180; Mar: (90 - 46) / 90; Feb: no revenue -> NaN
    assert drivers["margin"].iloc[0] == pytest.approx(0.5)
    assert math.isnan(drivers["margin"].iloc[1])
    assert drivers["margin"].iloc[2] == pytest.approx(44 / 90)
    assert drivers["clv"].iloc[3] == pytest.approx(20 * 0.5 * 2)


def test_quarterly_and_window(orders: pd.DataFrame) -> None:
    drivers = drivers_over_time(orders, time_unit="quarter", margin=0.3, start="2021-01-01", end="2021-06-30")
    assert drivers["period"].tolist() == ["2021Q1", "2021Q2"]
    assert drivers["complete"].tolist() == [True, True]
    q1, q2 = drivers.iloc[0], drivers.iloc[1]
    # Q1: A, B, C active; orders 3 + 2 = 5; revenue 180 + 90 = 270
    assert (q1["customers_active"], q1["orders"], q1["revenue"]) == (3, 5, 270.0)
    # Q2: only A, out of Q1's 3 buyers: churn 2/3
    assert q2["churn"] == pytest.approx(2 / 3)
    assert q2["clv"] == pytest.approx(20.0 * 0.3 * 1.5)


def test_window_start_excludes_earlier_customers_from_new(orders: pd.DataFrame) -> None:
    drivers = drivers_over_time(orders, time_unit="month", margin=0.3, start="2021-03-01")
    assert drivers["period"].iloc[0] == "2021-03"
    assert drivers["new_customers"].tolist() == [1, 0]  # A was acquired in January


def test_missing_cost_without_margin(orders: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="margin.*Fix"):
        drivers_over_time(orders.drop(columns="cost"))


def test_bad_freq(orders: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="time_unit='week'"):
        drivers_over_time(orders, time_unit="week", margin=0.3)
