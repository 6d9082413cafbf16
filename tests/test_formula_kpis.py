"""classic_clv against hand calculations on small order tables."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from clv.errors import DataError
from clv.formula import ClassicCLV, classic_clv

WINDOW = {"start": "2020-01-01", "end": "2021-12-31"}


def _orders(rows: list[tuple], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["order_ts"] = pd.to_datetime(frame["order_ts"])
    return frame


@pytest.fixture
def three_customers() -> pd.DataFrame:
    """A (web) buys 3 times and returns goods once, B (shop) buys once, C (web) twice.

    D only has a refund in the window (a return of an earlier purchase): D is not
    a customer of the window and their refund is reported, not counted.
    """
    columns = ("customer_id", "order_ts", "amount", "order_id", "channel", "cost")
    rows = [
        ("A", "2020-02-10 09:00", 100.0, "o1", "web", 60.0),
        ("A", "2020-02-10 09:00", 50.0, "o1", "web", 30.0),
        ("A", "2020-09-01 12:00", 80.0, "o2", "web", 50.0),
        ("A", "2020-09-15 12:00", -30.0, "r1", "web", -18.0),  # refund: not an order
        ("A", "2021-03-01 08:00", 70.0, "o3", "web", 40.0),
        ("B", "2020-05-05 10:00", 40.0, "o4", "shop", 20.0),
        ("C", "2021-07-07 10:00", 90.0, "o5", "web", 45.0),
        ("C", "2021-07-07 16:00", 10.0, "o6", "web", 5.0),  # same day, own order id
        ("D", "2021-02-02 10:00", -25.0, "r2", "web", -10.0),
    ]
    return _orders(rows, columns)


def test_three_customers_by_hand(three_customers: pd.DataFrame) -> None:
    result = classic_clv(ibis.memtable(three_customers), time_unit="year", **WINDOW)
    row = result.overall.iloc[0]
    # revenue = 100 + 50 + 80 - 30 + 70 + 40 + 90 + 10 = 410 (D's -25 excluded)
    assert row["revenue"] == pytest.approx(410.0)
    assert row["refunds_excluded"] == pytest.approx(-25.0)
    # orders: o1..o6 = 6 (r1 is a refund); customers A, B, C = 3
    assert (row["orders"], row["customers"]) == (6, 3)
    # window 2020-01-01..2021-12-31 = exactly 2 years
    assert row["n_periods"] == pytest.approx(2.0)
    assert row["aov"] == pytest.approx(410 / 6)  # 68.33
    assert row["purchase_frequency"] == pytest.approx(6 / 3 / 2)  # 1 order / customer / year
    assert row["customer_value"] == pytest.approx(410 / 6 * 1.0)
    assert row["repeat_rate"] == pytest.approx(2 / 3)  # A (3 orders), C (2 orders)
    # cost = 60 + 30 + 50 - 18 + 40 + 20 + 45 + 5 = 232; margin = (410 - 232) / 410
    assert row["margin"] == pytest.approx(178 / 410)
    assert row["margin_source"] == "from cost"
    # 2020 buyers {A, B}; of them only A buys in 2021: churn = 1 - 1/2
    assert row["churn_rate"] == pytest.approx(0.5)
    assert row["lifespan"] == pytest.approx(2.0)
    assert row["lifespan_source"] == "1/churn"
    # churned = no purchase in the last 365.25 days: only B, with span 0
    assert row["lifespan_observed"] == pytest.approx(0.0)
    # CLV = 410/6 x 1 x 2 x 178/410 = 2 x 178 / 6 = 59.33
    assert row["clv"] == pytest.approx(2 * 178 / 6)
    assert result.clv == pytest.approx(2 * 178 / 6)
    assert pd.isna(row["cac"]) and pd.isna(row["net_clv"])
    pairs = result.churn_pairs
    assert pairs[["period", "next_period", "active", "retained"]].values.tolist() == [
        ["2020", "2021", 2, 1]
    ]


def test_orders_without_order_id_are_customer_days(three_customers: pd.DataFrame) -> None:
    result = classic_clv(three_customers.drop(columns="order_id"), time_unit="year", margin=0.5, **WINDOW)
    # C's two orders fall on the same day: 5 orders; the refund day is still no order
    assert result.overall["orders"].iloc[0] == 5


def test_margin_given_overrides_cost(three_customers: pd.DataFrame) -> None:
    result = classic_clv(three_customers, time_unit="year", margin=0.25, **WINDOW)
    row = result.overall.iloc[0]
    assert row["margin_source"] == "given"
    # CLV = 410/6 x 1 x 2 x 0.25
    assert row["clv"] == pytest.approx(410 / 6 * 2 * 0.25)


def test_lifespan_and_churn_given(three_customers: pd.DataFrame) -> None:
    by_churn = classic_clv(three_customers, time_unit="year", margin=0.25, churn_rate=0.2, **WINDOW)
    assert by_churn.overall["lifespan"].iloc[0] == pytest.approx(5.0)
    by_life = classic_clv(
        three_customers, time_unit="year", margin=0.25, churn_rate=0.2, lifespan=3.0, **WINDOW
    )
    row = by_life.overall.iloc[0]
    assert (row["lifespan"], row["lifespan_source"]) == (3.0, "given")
    assert row["churn_rate"] == pytest.approx(1 / 3)
    assert row["clv"] == pytest.approx(410 / 6 * 3.0 * 0.25)


def test_segments_by_channel_by_hand(three_customers: pd.DataFrame) -> None:
    result = classic_clv(three_customers, time_unit="year", segment_by="channel", **WINDOW)
    seg = result.by_segment.set_index("segment")
    web, shop = seg.loc["web"], seg.loc["shop"]
    # web = A + C: revenue 270 + 100, 5 orders, 2 customers, cost 162 + 50 = 212
    assert (web["customers"], web["orders"], web["revenue"]) == (2, 5, 370.0)
    assert web["purchase_frequency"] == pytest.approx(5 / 2 / 2)
    assert web["margin"] == pytest.approx(158 / 370)
    # web churn: 2020 buyer A bought again -> churn 0 -> lifespan infinite: the
    # overall churn 0.5 is used instead
    assert web["churn_rate"] == pytest.approx(0.5)
    assert web["churn_source"].startswith("overall")
    assert web["clv"] == pytest.approx(370 / 5 * 1.25 * 2 * 158 / 370)  # 79.0
    # shop = B: 40 revenue, 1 order, cost 20, churn 1 (B gone in 2021) -> lifespan 1
    assert shop["churn_rate"] == pytest.approx(1.0)
    assert shop["clv"] == pytest.approx(40 * 0.5 * 1.0 * 0.5)  # 10.0
    assert seg["share"].sum() == pytest.approx(1.0)
    # own churn and margin per segment: weighted average (2 x 79 + 10) / 3 = 56 != 59.33
    average = result.segment_average.iloc[0]
    assert average["clv"] == pytest.approx((2 * 79.0 + 10.0) / 3)
    assert not average["equals_overall"]


def test_pooled_rates_make_weighted_average_equal_overall(three_customers: pd.DataFrame) -> None:
    result = classic_clv(
        three_customers, time_unit="year", segment_by="channel", pool_rates=True, **WINDOW
    )
    weights = result.by_segment["customers"] / 3
    weighted = float((weights * result.by_segment["clv"]).sum())
    assert weighted == pytest.approx(result.clv)
    assert result.segment_average["equals_overall"].iloc[0]
    assert (result.by_segment["margin"] == result.overall["margin"].iloc[0]).all()


def test_given_rates_make_weighted_average_equal_overall(three_customers: pd.DataFrame) -> None:
    result = classic_clv(
        three_customers, time_unit="year", margin=0.3, churn_rate=0.4, segment_by="channel", **WINDOW
    )
    assert result.segment_average["clv"].iloc[0] == pytest.approx(result.clv)


def test_cac_per_channel(three_customers: pd.DataFrame) -> None:
    result = classic_clv(
        three_customers, time_unit="year", segment_by="channel", cac={"web": 20.0, "shop": 8.0}, **WINDOW
    )
    # overall CAC = average over customers of their acquisition channel's CAC = (2 x 20 + 8) / 3
    assert result.overall["cac"].iloc[0] == pytest.approx(16.0)
    assert result.overall["net_clv"].iloc[0] == pytest.approx(2 * 178 / 6 - 16.0)
    seg = result.by_segment.set_index("segment")
    assert seg.loc["web", "net_clv"] == pytest.approx(79.0 - 20.0)
    assert seg.loc["shop", "net_clv"] == pytest.approx(10.0 - 8.0)
    assert result.segment_average["net_clv"].iloc[0] == pytest.approx((2 * 59.0 + 2.0) / 3)


def test_cac_per_channel_needs_every_channel(three_customers: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no CAC for acquisition channel.*'shop'"):
        classic_clv(three_customers, time_unit="year", cac={"web": 20.0}, **WINDOW)


def test_cac_from_spend_table(three_customers: pd.DataFrame) -> None:
    spend = pd.DataFrame(
        {
            "channel": ["web", "web", "shop", "shop"],
            "month": ["2020-02", "2021-07", "2020-05", "2020-06"],
            "spend": [300.0, 100.0, 30.0, 20.0],
        }
    )
    result = classic_clv(three_customers, time_unit="year", cac=spend, **WINDOW)
    by_channel = result.cac_by_channel.set_index("channel")
    # web acquired A (2020-02) and C (2021-07): 400 / 2; shop acquired B (2020-05): 50 / 1
    assert by_channel.loc["web", "cac"] == pytest.approx(200.0)
    assert by_channel.loc["shop", "cac"] == pytest.approx(50.0)
    assert result.overall["cac"].iloc[0] == pytest.approx((2 * 200.0 + 50.0) / 3)


def test_constant_cac(three_customers: pd.DataFrame) -> None:
    result = classic_clv(three_customers, time_unit="year", cac=12.5, **WINDOW)
    assert result.overall["net_clv"].iloc[0] == pytest.approx(2 * 178 / 6 - 12.5)


@pytest.fixture
def monthly_activity() -> pd.DataFrame:
    """Buyers per month 2021: Jan {A,B,C,D}, Feb {A,B}, Mar {A,E}, Apr {F} (Apr 1-20 only)."""
    buyers = {"01": "ABCD", "02": "AB", "03": "AE", "04": "F"}
    rows = [
        (c, f"2021-{m}-{'15' if m != '04' else '10'}", 10.0)
        for m, cs in buyers.items()
        for c in cs
    ]
    return _orders(rows, ("customer_id", "order_ts", "amount"))


def test_churn_is_unweighted_mean_over_complete_period_pairs(monthly_activity: pd.DataFrame) -> None:
    # pairs: Jan->Feb 1 - 2/4 = 0.5; Feb->Mar 1 - 1/2 = 0.5; Mar->Apr 1 - 0/2 = 1.0
    full = classic_clv(monthly_activity, time_unit="month", margin=0.5, start="2021-01-01", end="2021-04-30")
    assert full.overall["churn_rate"].iloc[0] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert full.churn_pairs["churn"].tolist() == pytest.approx([0.5, 0.5, 1.0])
    # April incomplete (window ends Apr 20): the Mar->Apr pair is dropped
    cut = classic_clv(monthly_activity, time_unit="month", margin=0.5, start="2021-01-01", end="2021-04-20")
    assert cut.overall["churn_rate"].iloc[0] == pytest.approx(0.5)
    assert cut.churn_pairs["next_period"].tolist() == ["2021-02", "2021-03"]


def test_window_filters_orders(three_customers: pd.DataFrame) -> None:
    result = classic_clv(three_customers, time_unit="month", margin=0.5, churn_rate=0.1,
                         start="2021-01-01", end="2021-06-30")
    row = result.overall.iloc[0]
    # only A's o3 (70): D's refund is a refund-only customer's
    assert (row["customers"], row["orders"], row["revenue"]) == (1, 1, 70.0)
    assert row["n_periods"] == pytest.approx(6.0)


def test_acquisition_month_segments(three_customers: pd.DataFrame) -> None:
    result = classic_clv(
        three_customers, time_unit="year", margin=0.5, segment_by="acquisition_month", **WINDOW
    )
    assert result.by_segment["segment"].tolist() == ["2020-02", "2020-05", "2021-07"]
    quarters = classic_clv(
        three_customers, time_unit="year", margin=0.5, segment_by="acquisition_quarter", **WINDOW
    )
    assert quarters.by_segment["segment"].tolist() == ["2020Q1", "2020Q2", "2021Q3"]


def test_segment_from_first_order_and_mapping(three_customers: pd.DataFrame) -> None:
    orders = three_customers.copy()
    orders.loc[orders["order_id"] == "o3", "channel"] = "shop"  # A's later order elsewhere
    by_channel = classic_clv(orders, time_unit="year", margin=0.5, segment_by="channel", **WINDOW)
    assert by_channel.by_segment.set_index("segment")["customers"].to_dict() == {"shop": 1, "web": 2}
    mapping = pd.Series({"A": "gold", "B": "basic"})
    mapped = classic_clv(orders, time_unit="year", margin=0.5, segment_by=mapping, **WINDOW)
    assert mapped.by_segment.set_index("segment")["customers"].to_dict() == {
        "(unmapped)": 1,
        "basic": 1,
        "gold": 1,
    }


def test_missing_cost_without_margin_names_the_fix(three_customers: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"no 'cost' column.*Fix: pass .*margin=0\.3"):
        classic_clv(three_customers.drop(columns="cost"), time_unit="year", **WINDOW)


def test_bad_segment_column_lists_columns(three_customers: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"segment_by='Chanel'.*did you mean 'channel'.*Columns found: customer_id, order_ts, amount, order_id, channel, cost"):
        classic_clv(three_customers, time_unit="year", margin=0.5, segment_by="Chanel", **WINDOW)


def test_churn_not_estimable_explains(three_customers: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="churn_rate: cannot be estimated.*Fix"):
        classic_clv(three_customers, time_unit="year", margin=0.5, start="2020-01-01", end="2020-01-20")


def test_churn_not_measurable_per_year_is_converted(three_customers: pd.DataFrame) -> None:
    """One year holds no two consecutive years: the yearly churn comes from the quarterly one, with a note."""
    result = classic_clv(three_customers, time_unit="year", margin=0.5, start="2020-01-01", end="2020-12-31")
    assert result.overall["churn_source"].iloc[0].startswith("converted from")
    assert any("Churn per year cannot be measured" in note for note in result.notes)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"margin": 35}, r"percentage\? pass margin=0.35"),
        ({"margin": 0.3, "churn_rate": 0.0}, "churn_rate=0.0"),
        ({"margin": 0.3, "lifespan": -1}, "lifespan=-1"),
        ({"margin": 0.3, "time_unit": "week"}, "time_unit='week'"),
        ({"margin": 0.3, "start": "2021-01-01", "end": "2020-01-01"}, "after end"),
    ],
)
def test_bad_arguments(three_customers: pd.DataFrame, kwargs: dict, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        classic_clv(three_customers, **kwargs)


def test_missing_required_column(three_customers: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="'amount'.*Columns found"):
        classic_clv(three_customers.drop(columns="amount"), margin=0.3)


def test_to_dict_is_plain(three_customers: pd.DataFrame) -> None:
    import json

    result = classic_clv(three_customers, time_unit="year", segment_by="channel", cac=5.0, **WINDOW)
    assert isinstance(result, ClassicCLV)
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert as_dict["overall"]["clv"] == pytest.approx(result.clv)
    assert as_dict["overall"]["window_start"] == "2020-01-01T00:00:00"
    assert {row["segment"] for row in as_dict["by_segment"]} == {"web", "shop"}
    assert as_dict["settings"]["segment_by"] == "channel"


def test_cac_per_channel_without_segment_by_gives_net_clv_per_channel(three_customers) -> None:
    result = classic_clv(three_customers, time_unit="year", cac={"web": 20.0, "shop": 8.0}, **WINDOW)
    assert result.settings["segment_by"] == "channel"
    net = result.by_segment.set_index("segment")["net_clv"]
    assert net.to_dict() == pytest.approx({"shop": 10.0 - 8.0, "web": 79.0 - 20.0})


def test_table_bound_to_a_backend(three_customers, tmp_path) -> None:
    from clv.engine import connect

    path = tmp_path / "orders.parquet"
    three_customers.to_parquet(path)
    table = connect().read_parquet(path)
    mapping = pd.Series({"A": "gold", "B": "basic", "C": "gold"})
    result = classic_clv(table, time_unit="year", segment_by=mapping, cac={"web": 20.0, "shop": 8.0}, **WINDOW)
    assert result.clv == pytest.approx(2 * 178 / 6)
    assert result.by_segment.set_index("segment")["cac"].to_dict() == pytest.approx(
        {"basic": 8.0, "gold": 20.0}
    )
