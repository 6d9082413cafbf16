"""Every entry point that takes order lines reads them through the one adapter
(:func:`clv.data.orders_table.as_orders_table`): a pandas, a Polars and a PyArrow
frame of the same lines give the same result, and the same errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from clv.acquisition import acquisition_payback
from clv.backtest import backtest
from clv.cohorts import clv_over_time, repeat_share, retention_matrix
from clv.data import as_orders_table
from clv.errors import DataError
from clv.formula import classic_clv, drivers_over_time
from clv.segments import early_warning
from clv.summary import calibration_holdout, summarize
from clv.whatif import Scenario, what_if


def _lines() -> pd.DataFrame:
    """300 customers over two years (BG/NBD-like: purchases, then a dropout), channel, cost and a refund."""
    rng = np.random.default_rng(13)
    rows = []
    for customer in range(300):
        day = float(rng.integers(0, 300))
        rate = rng.gamma(2.0, 1 / 40)  # purchases per day
        channel = ("email", "search", "social")[customer % 3]
        while day < 700:
            amount = float(np.round(rng.gamma(3, 15), 2))
            stamp = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(day))
            rows.append((f"c{customer:03d}", stamp, amount, round(amount * 0.6, 2), channel))
            if rng.random() < 0.25:
                break
            day += rng.exponential(1 / rate)
    rows.append(("c001", pd.Timestamp("2024-02-01"), -10.0, -6.0, "email"))
    return pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "cost", "channel"])


def _cdnow() -> pd.DataFrame:
    """The CDNOW 1/10 sample (as the cdnow_lines fixture): real purchases, on which the models fit."""
    raw = pd.read_csv(Path(__file__).parent / "data" / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "customer_id", "date", "cds", "amount"], dtype={"customer_id": str})
    raw["order_ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw[["customer_id", "order_ts", "amount"]]


LINES = _lines()
CDNOW = _cdnow()
SPEND = pd.DataFrame({"channel": ["email", "search", "social"] * 2,
                      "month": ["2023-03"] * 3 + ["2023-06"] * 3, "spend": [100.0, 250.0, 80.0] * 2})
FORMS = {
    "pandas": lambda frame: frame,
    "polars": pl.from_pandas,
    "arrow": lambda frame: pa.Table.from_pandas(frame, preserve_index=False),
}
ENTRY_POINTS = {
    "summarize": lambda orders: summarize(orders),
    "calibration_holdout": lambda orders: calibration_holdout(orders, calibration_end="2024-03-31"),
    "classic_clv": lambda orders: classic_clv(orders, margin=0.3, time_unit="quarter"),
    "drivers_over_time": lambda orders: drivers_over_time(orders, margin=0.3),
    "retention_matrix": lambda orders: retention_matrix(orders),
    "repeat_share": lambda orders: repeat_share(orders),
    "clv_over_time": lambda orders: clv_over_time(orders, transaction_model=None, margin=0.3),
    "acquisition_payback": lambda orders: acquisition_payback(orders, SPEND, transaction_model=None, margin=0.3),
    "what_if": lambda orders: what_if(orders, Scenario(aov=0.05), margin=0.3),
    "backtest": lambda orders: backtest(orders, calibration_end=_split(orders), models=("bgnbd",),
                                        baselines=("naive",), intervals=()),
    "early_warning": lambda orders: early_warning(orders),
}
FITTING = ("what_if", "backtest")  # fit models: run on the CDNOW sample
VALUING = ("classic_clv", "drivers_over_time", "clv_over_time", "acquisition_payback", "what_if")


def _split(orders) -> str:
    """The calibration end: CDNOW's usual one, or the middle of the made-up lines."""
    return "2024-03-31" if "channel" in (getattr(orders, "column_names", None) or list(orders.columns)) else "1997-09-30"


def _comparable(result: object) -> list:
    """The frames and numbers of a result, for comparing results of different input forms."""
    if isinstance(result, pd.DataFrame):
        return [result.reset_index(drop=True)]
    if isinstance(result, (int, float, str, bool, type(None))):
        return [result]
    if isinstance(result, dict):
        return [item for key in sorted(result) for item in _comparable(result[key])]
    if dataclasses.is_dataclass(result):
        values = [getattr(result, field.name) for field in dataclasses.fields(result)]
        return [item for value in values if isinstance(value, (pd.DataFrame, int, float, dict)) for item in _comparable(value)]
    return []


def _assert_same(left: list, right: list) -> None:
    assert len(left) == len(right) and left, "no comparable output"
    for a, b in zip(left, right):
        if isinstance(a, pd.DataFrame):
            # DuckDB sums in parallel, so sums agree to ~1e-15 only; a rank metric (Spearman) can then swap two
            # near-equal customers and move by ~1e-6: same result, not the same last digits.
            pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-5)
        elif isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-9, nan_ok=True)
        else:
            assert a == b


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_reads_pandas_polars_and_arrow_the_same_way(entry):
    run = ENTRY_POINTS[entry]
    lines = CDNOW if entry in FITTING else LINES
    reference = _comparable(run(lines))
    for form in ("polars", "arrow"):
        _assert_same(_comparable(run(FORMS[form](lines))), reference)


def _error(run, orders) -> str:
    with pytest.raises(DataError) as raised:
        run(orders)
    return str(raised.value)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_every_entry_point_refuses_a_missing_column_with_the_same_error(entry):
    run = ENTRY_POINTS[entry]
    without_date = LINES.rename(columns={"order_ts": "date"})
    messages = {form: _error(run, to_form(without_date)) for form, to_form in FORMS.items()}
    assert len(set(messages.values())) == 1, messages
    assert re.search(r"column 'order_ts' \(order ts\) not found.*Columns found: customer_id, date", messages["pandas"])
    assert "load_orders" in messages["pandas"]


@pytest.mark.parametrize("entry", VALUING)
def test_entry_points_that_value_orders_refuse_a_log_the_same_way(entry):
    run = ENTRY_POINTS[entry]
    log = LINES.drop(columns=["amount", "cost"])
    messages = {form: _error(run, to_form(log)) for form, to_form in FORMS.items()}
    assert len(set(messages.values())) == 1, messages
    assert messages["pandas"].startswith("this history has no amounts")
    assert "no column 'amount'. Columns found: customer_id, order_ts, channel" in messages["pandas"]


def test_a_log_is_summarised_the_same_from_every_form():
    log = LINES[LINES["amount"] > 0].drop(columns=["amount", "cost"])
    results = {form: summarize(to_form(log)) for form, to_form in FORMS.items()}
    for form in ("polars", "arrow"):
        pd.testing.assert_frame_equal(results[form].table, results["pandas"].table)
    assert results["pandas"].has_amounts is False and "monetary_value" not in results["pandas"]


def test_the_adapter_types_only_what_is_not_typed_and_refuses_what_is_not_a_table():
    typed = as_orders_table(LINES)
    assert as_orders_table(typed) is typed  # a typed table passes through unchanged
    text = LINES.assign(order_ts=LINES["order_ts"].dt.strftime("%Y-%m-%d"), amount=LINES["amount"].astype(str))
    schema = as_orders_table(text).schema()
    assert schema["order_ts"].is_timestamp() and schema["amount"].is_float64()
    numbered = LINES.assign(customer_id=np.arange(len(LINES)))
    assert as_orders_table(numbered).schema()["customer_id"].is_integer()  # integer ids stay integers
    assert as_orders_table(numbered, string_ids=True).schema()["customer_id"].is_string()
    with pytest.raises(DataError, match=r"orders: expected an Ibis table, a pandas/Polars/Arrow frame .* got list"):
        as_orders_table([1, 2, 3])
