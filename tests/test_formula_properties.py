"""Properties of the formula KPIs on random small order tables (hypothesis)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.formula import classic_clv, drivers_over_time

START, END = "2020-01-01", "2021-12-31"
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def order_tables(draw: st.DrawFn, refunds: bool = True) -> pd.DataFrame:
    """1-6 customers, 1-20 lines within 2020-2021; channel, cost; optional refund lines."""
    n_lines = draw(st.integers(1, 20))
    customers = st.sampled_from("ABCDEF")
    line = st.tuples(
        customers,
        st.integers(0, 730),  # day offset from 2020-01-01
        st.floats(1.0, 500.0, allow_nan=False).map(lambda x: round(x, 2)),
        st.floats(0.1, 0.9),
        st.sampled_from(["web", "shop", "ads"]),
        st.booleans() if refunds else st.just(False),
    )
    lines = draw(st.lists(line, min_size=n_lines, max_size=n_lines))
    frame = pd.DataFrame(lines, columns=["customer_id", "day", "amount", "cost_share", "channel", "refund"])
    frame["order_ts"] = pd.Timestamp(START) + pd.to_timedelta(frame["day"], unit="D")
    frame["amount"] = frame["amount"].where(~frame["refund"], -frame["amount"] / 4)
    frame["cost"] = frame["amount"] * frame["cost_share"]
    assume((frame["amount"] > 0).any())
    return frame[["customer_id", "order_ts", "amount", "channel", "cost"]]


@FAST
@given(orders=order_tables(), period=st.sampled_from(["year", "quarter", "month"]))
def test_aov_times_frequency_times_customers_is_revenue_per_period(orders, period) -> None:
    row = classic_clv(orders, time_unit=period, margin=0.4, churn_rate=0.3, start=START, end=END).overall.iloc[0]
    # AOV x frequency x customers = revenue per period of the window
    assert row["aov"] * row["purchase_frequency"] * row["customers"] == pytest.approx(
        row["revenue"] / row["n_periods"]
    )
    assert row["customer_value"] * row["customers"] * row["n_periods"] == pytest.approx(row["revenue"])


def _run_or_error(orders: pd.DataFrame) -> pd.Series | str:
    try:
        return classic_clv(orders, time_unit="quarter", start=START, end=END).overall.iloc[0]
    except DataError as error:
        return str(error)


@FAST
@given(orders=order_tables(), k=st.floats(0.01, 1000.0))
def test_scaling_amounts_scales_values_not_rates(orders, k) -> None:
    scaled = orders.assign(amount=orders["amount"] * k, cost=orders["cost"] * k)
    base, other = _run_or_error(orders), _run_or_error(scaled)
    if isinstance(base, str):
        assert other == base  # same failure (e.g. churn not estimable) either way
        return
    for column in ("aov", "customer_value", "clv", "revenue"):
        assert other[column] == pytest.approx(k * base[column], rel=1e-9)
    for column in ("purchase_frequency", "churn_rate", "margin", "lifespan", "repeat_rate"):
        assert other[column] == pytest.approx(base[column], rel=1e-9)


@FAST
@given(orders=order_tables(), pool=st.booleans())
def test_weighted_average_between_segment_extremes(orders, pool) -> None:
    try:
        result = classic_clv(
            orders, time_unit="quarter", segment_by="channel", pool_rates=pool, start=START, end=END
        )
    except DataError:
        assume(False)
    clvs = result.by_segment["clv"]
    average = result.segment_average["clv"].iloc[0]
    assert clvs.min() - 1e-9 * abs(clvs.min()) <= average <= clvs.max() + 1e-9 * abs(clvs.max())
    assert result.by_segment["customers"].sum() == result.overall["customers"].iloc[0]
    assert result.by_segment["revenue"].sum() == pytest.approx(result.overall["revenue"].iloc[0])
    if pool:
        assert average == pytest.approx(result.clv, rel=1e-9)


@FAST
@given(orders=order_tables())
def test_drivers_add_up_to_the_window(orders) -> None:
    drivers = drivers_over_time(orders, time_unit="quarter", margin=0.3, start=START, end=END)
    assert len(drivers) == 8 and drivers["complete"].all()
    assert drivers["revenue"].sum() == pytest.approx(orders["amount"].sum())
    assert drivers["new_customers"].sum() == orders.loc[orders["amount"] > 0, "customer_id"].nunique()
    active = drivers["customers_active"] > 0
    assert (drivers.loc[active, "aov"] * drivers.loc[active, "orders"]).sum() == pytest.approx(
        drivers.loc[active, "revenue"].sum()
    )
    churn = drivers["churn"].dropna()
    assert ((churn >= 0) & (churn <= 1)).all()
    assert not math.isnan(drivers["margin"].iloc[0]) or drivers["revenue"].iloc[0] == 0
