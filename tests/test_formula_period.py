"""The classic formula's period: picked from the data, stated, and the CLV shown at every period."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from clv.cli.main import app
from clv.errors import DataError
from clv.formula import classic_clv
from clv.formula.period_choice import choose_period, convert_churn
from clv.units import PERIODS_PER_YEAR


def _regular_orders(every_days: int, customers: int = 30, start: str = "2020-01-01", end: str = "2022-12-31",
                    ) -> pd.DataFrame:
    """Each customer buys every ``every_days`` days from a staggered first day; customer c stops after c+1 thirtieths
    of the history (so some are lost in every period and the churn is neither 0 nor 1)."""
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    rows = []
    for c in range(customers):
        day = first + pd.Timedelta(days=c % every_days)
        stop = first + (last - first) * (c + 1) / customers
        while day <= stop:
            rows.append((f"c{c}", day, 20.0 + c % 5))
            day += pd.Timedelta(days=every_days)
    return pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])


@pytest.mark.parametrize(("every_days", "period"), [(12, "month"), (45, "quarter"), (200, "year")])
def test_the_period_is_picked_from_the_time_between_orders(every_days: int, period: str) -> None:
    result = classic_clv(_regular_orders(every_days), margin=0.3)
    assert result.settings["period"] == period
    assert result.settings["period_source"] == "picked from the data"
    assert result.settings["median_days_between_orders"] == pytest.approx(every_days)
    assert result.notes[0].startswith(f"The classic formula is computed per {period}, picked from the data")
    assert f"every {every_days} days (median)" in result.notes[0]


def test_the_figure_at_every_period_is_shown_and_the_used_one_is_the_result() -> None:
    result = classic_clv(_regular_orders(45), margin=0.3)
    table = result.by_period.set_index("period")
    assert list(table.index) == ["year", "quarter", "month"]
    assert table["used"].tolist() == [False, True, False]
    assert table.loc["quarter", "clv"] == pytest.approx(result.clv)
    # a customer buying every 45 days skips about every other month: a lower CLV per month
    assert table.loc["month", "clv"] < table.loc["quarter", "clv"]
    dependence = result.notes[1]
    for unit in ("year", "quarter", "month"):
        assert f"{table.loc[unit, 'clv']:,.2f} per {unit}" in dependence
    assert dependence.endswith("This result is per quarter.")
    assert json.loads(json.dumps(result.to_dict()))["by_period"][1]["used"] is True


def test_a_period_too_long_for_the_window_is_computed_with_converted_churn_not_refused() -> None:
    orders = _regular_orders(45, end="2020-12-31")  # one year: no two consecutive years
    per_quarter = classic_clv(orders, margin=0.3, time_unit="quarter", end="2020-12-31")
    per_year = classic_clv(orders, margin=0.3, time_unit="year", end="2020-12-31")
    row = per_year.overall.iloc[0]
    quarterly_churn = per_quarter.overall["churn_rate"].iloc[0]
    assert row["churn_source"] == "converted from quarter"
    assert row["churn_rate"] == pytest.approx(1 - (1 - quarterly_churn) ** 4)
    assert row["clv"] == pytest.approx(row["customer_value"] * 0.3 / row["churn_rate"])
    assert per_year.settings["period_source"] == "given"
    assert any("Churn per year cannot be measured in the window 2020-01-01..2020-12-31" in n and
               "converted from the churn per quarter" in n for n in per_year.notes)


def test_a_window_too_short_for_any_period_is_refused_with_the_fix() -> None:
    orders = _regular_orders(5, end="2020-01-25")
    with pytest.raises(DataError, match=r"churn_rate: cannot be estimated.*calendar periods.*Fix: pass churn_rate="):
        classic_clv(orders, margin=0.3)
    given = classic_clv(orders, margin=0.3, churn_rate=0.2)  # a churn given: nothing to measure
    assert given.by_period is None and given.settings["period"] == "month"


def test_auto_is_the_same_as_none() -> None:
    orders = _regular_orders(45)
    assert classic_clv(orders, margin=0.3, time_unit="auto").clv == classic_clv(orders, margin=0.3).clv


def test_a_given_period_is_kept_and_stated() -> None:
    result = classic_clv(_regular_orders(12), margin=0.3, time_unit="year")
    assert result.settings["period"] == "year" and result.settings["period_source"] == "given"
    assert result.notes[0].startswith("The classic formula is computed per year, as asked")


def test_the_rule_falls_back_to_the_longest_measurable_period_and_says_so() -> None:
    choice = choose_period(None, 200.0, {"year": False, "quarter": True, "month": True})
    assert choice.period == "quarter"
    assert "a year would fit, but this window cannot measure a churn per year" in choice.reason
    assert "pauses between orders longer than a quarter count as churn" in choice.reason
    assert choose_period(None, float("nan"), {"year": True, "quarter": True, "month": True}).period == "year"


@settings(max_examples=60, deadline=None)
@given(churn=st.floats(0.0, 1.0), pair=st.sampled_from([("month", "quarter"), ("quarter", "year"), ("month", "year")]))
def test_converted_churn_keeps_retention_over_the_same_time(churn: float, pair: tuple[str, str]) -> None:
    short, long = pair
    longer = convert_churn(churn, short, long)
    assert 0.0 <= longer <= 1.0 and longer >= churn - 1e-12
    k = PERIODS_PER_YEAR[short] // PERIODS_PER_YEAR[long]  # short periods in one long period
    assert 1.0 - longer == pytest.approx((1.0 - churn) ** k, rel=1e-9, abs=1e-12)
    assert convert_churn(churn, short, short) == pytest.approx(churn)


def test_cli_kpis_states_the_period_and_shows_the_others(tmp_path) -> None:
    path = tmp_path / "orders.csv"
    _regular_orders(45).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["kpis", str(path), "--margin", "0.3"])
    assert result.exit_code == 0, result.output
    assert "The classic formula is computed per quarter, picked from the data" in result.output
    assert "classic CLV per quarter" in result.output
    assert "the same orders per year, quarter and month" in result.output
    per_year = CliRunner().invoke(app, ["kpis", str(path), "--margin", "0.3", "--time-unit", "year", "--format", "json"])
    payload = json.loads(per_year.stdout)
    assert payload["settings"]["period"] == "year"
    assert np.isfinite(payload["overall"]["clv"])


def test_a_period_where_no_customer_is_lost_is_not_picked() -> None:
    """Everyone buys every 45 days to the end: no one is lost per quarter (churn 0, an infinite lifespan), so the
    rule takes the month, where pauses show, and says why; asked for explicitly, the quarter is refused."""
    rows = [(f"c{c}", pd.Timestamp("2020-01-01") + pd.Timedelta(days=c + 45 * k), 20.0)
            for c in range(20) for k in range(24)]
    orders = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    result = classic_clv(orders, margin=0.3, end="2022-12-31")
    assert result.settings["period"] == "month"
    assert "a quarter would fit, but this window cannot measure a churn per quarter" in result.notes[0]
    with pytest.raises(DataError, match="churn_rate: estimated as 0"):
        classic_clv(orders, margin=0.3, end="2022-12-31", time_unit="quarter")
