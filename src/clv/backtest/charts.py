"""The Buy-Till-You-Die diagnostic charts, as data frames and as Plotly figures.

Three charts, as in Fader, Hardie & Lee (2005), "Counting your customers the
easy way", Figures 2-4 (BG/NBD on CDNOW):

* tracking: the cohort's repeat purchases per time unit (and cumulated) over
  calibration and holdout, actual vs each model's expectation. A customer first
  seen at ``o`` units after the cohort's first purchase is expected to have made
  ``E[X(t - o)]`` repeat purchases by time ``t`` (``expected_purchases_new``),
  and the cohort's expectation is the sum over customers (computed per distinct
  ``o``). ``o = max(T) - T_i``: the customer with the largest age opened the
  cohort.
* conditional expectations: mean holdout purchases by calibration frequency
  (0..6, 7+), actual vs predicted.
* frequency histogram: customers by calibration frequency (0..6, 7+), actual vs
  the model's ``sum_i P(X(T_i) = x)`` (the last bar is the remainder).

Times are in the backtest's unit; a repeat purchase ``d`` units after the
cohort's start counts in period ``ceil(d)`` (period k covers (k-1, k]).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd

from clv.data import schema
from clv.data.orders_table import as_orders_table
from clv.errors import DataError
from clv.summary.compress import compress
from clv.summary.customers import order_date, period_table
from clv.units import DAYS_PER_UNIT

# the models' colours in the tracking chart, set on every trace (a layout colorway would colour the per-period and
# the cumulative trace of one model differently, so the lower panel would not match the legend)
TRACKING_COLOURS = ("#e07b39", "#3a9a5b", "#7a5195", "#b23a48", "#2f9fa3", "#c9a227", "#1f5f8b", "#8c8c8c")

TOP_FREQUENCY = 7  # the last bin of the conditional-expectation and histogram charts is "7+"
CHART_FILES = {
    "tracking": "tracking.html",
    "conditional_expectations": "conditional_expectations.html",
    "frequency_histogram": "frequency_histogram.html",
}


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def actual_repeat_purchases(orders: Any, *, calibration_end: dt.date, observation_end: dt.date,
                            unit: str, merge: str) -> pd.Series:
    """Repeat purchase periods of the calibration cohort per period since the cohort's first purchase.

    Cohort: customers whose first purchase is on or before ``calibration_end``
    (those of the calibration summary). Counted inside the engine; returns a
    Series indexed by period number 1, 2, ... (only periods with purchases).
    """
    table = as_orders_table(orders)
    table = table.filter(order_date(table) <= ibis.date(observation_end))
    buys = table.filter(schema.is_purchase(table))
    first_day = buys.group_by(schema.CUSTOMER_ID).aggregate(_first_day=order_date(buys).epoch_days().min())
    cohort = first_day.filter(first_day._first_day <= _epoch_day(calibration_end)).select(schema.CUSTOMER_ID)
    periods = period_table(table.semi_join(cohort, schema.CUSTOMER_ID), unit=unit, merge=merge)
    bought = periods.filter(periods.purchase_lines > 0)
    first = bought.group_by(schema.CUSTOMER_ID).aggregate(_first=bought._period.min())
    joined = periods.filter(periods.bought).join(first, schema.CUSTOMER_ID)  # repeats: not cancelled by refunds
    repeats = joined.filter(joined._period > joined._first)
    origin = first._first.min().to_pyarrow().as_py()
    if origin is None:
        return pd.Series(dtype=float, name="purchases")
    step = 1.0 if (merge == "unit" or unit == "day") else 1.0 / DAYS_PER_UNIT[unit]
    elapsed = (repeats._period - origin).cast("float64") * step
    bucket = (elapsed - 1e-9).ceil().cast("int64")
    bucketed = repeats.mutate(period=bucket)
    counts = bucketed.group_by("period").aggregate(purchases=bucketed.count())
    frame = counts.to_pandas()
    return frame.set_index("period")["purchases"].sort_index()


def tracking_data(actual: pd.Series, summary: pd.DataFrame, models: Mapping[str, Any], holdout_length: float) -> pd.DataFrame:
    """Per period: actual and expected repeat purchases of the cohort, incremental and cumulative.

    Columns: period, t (period end, in units), phase (calibration / holdout),
    actual, actual_cumulative, and per model ``<name>``, ``<name>_cumulative``.
    """
    T = summary["T"].to_numpy(float)
    calibration_length = float(T.max())
    total = calibration_length + holdout_length
    n_periods = max(1, math.ceil(total - 1e-9))
    t = np.minimum(np.arange(1, n_periods + 1, dtype=float), total)
    observed = actual.reindex(np.arange(1, n_periods + 1), fill_value=0).to_numpy(float)
    frame = pd.DataFrame({
        "period": np.arange(1, n_periods + 1),
        "t": t,
        "phase": np.where(t <= calibration_length + 1e-9, "calibration", "holdout"),
        "actual": observed,
        "actual_cumulative": np.cumsum(observed),
    })
    offsets = compress({"o": calibration_length - T})
    for name, model in models.items():
        cumulative = cohort_expected_purchases(model, offsets.columns["o"], offsets.weights, t)
        frame[name] = np.diff(cumulative, prepend=0.0)
        frame[f"{name}_cumulative"] = cumulative
    return frame


def cohort_expected_purchases(model, offsets: np.ndarray, counts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``sum_o counts[o] * E[X(max(t - o, 0))]`` at each ``t``: the cohort's expected cumulative repeats."""
    out = np.zeros(t.shape[0])
    chunk = max(1, 2_000_000 // max(t.shape[0], 1))
    for start in range(0, offsets.shape[0], chunk):
        o = offsets[start:start + chunk, None]
        ages = np.maximum(t[None, :] - o, 0.0)
        expected = np.asarray(model.expected_purchases_new(ages.ravel()), dtype=float).reshape(ages.shape)
        out += counts[start:start + chunk] @ expected
    return out


def frequency_bin(frequency: np.ndarray) -> np.ndarray:
    """Calibration frequency capped at ``TOP_FREQUENCY`` (the "7+" bin)."""
    return np.minimum(np.asarray(frequency, dtype=int), TOP_FREQUENCY)


def _bin_labels() -> list[str]:
    return [str(k) for k in range(TOP_FREQUENCY)] + [f"{TOP_FREQUENCY}+"]


def conditional_expectations_data(summary: pd.DataFrame, predicted: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency bin: customers, actual, and each predictor."""
    bins = frequency_bin(summary["frequency"].to_numpy())
    counts = np.bincount(bins, minlength=TOP_FREQUENCY + 1).astype(float)
    safe = np.maximum(counts, 1.0)
    frame = pd.DataFrame({
        "frequency": _bin_labels(),
        "customers": counts.astype(int),
        "actual": np.bincount(bins, weights=summary["frequency_holdout"].to_numpy(float), minlength=TOP_FREQUENCY + 1) / safe,
    })
    for name, values in predicted.items():
        frame[name] = np.bincount(bins, weights=np.asarray(values, float), minlength=TOP_FREQUENCY + 1) / safe
    return frame[frame["customers"] > 0].reset_index(drop=True)


def frequency_histogram_data(summary: pd.DataFrame, models: Mapping[str, Any]) -> pd.DataFrame:
    """Customers by calibration frequency bin: actual count and each model's expected count."""
    bins = frequency_bin(summary["frequency"].to_numpy())
    n = len(summary)
    frame = pd.DataFrame({"frequency": _bin_labels(), "actual": np.bincount(bins, minlength=TOP_FREQUENCY + 1)})
    ages = compress({"T": summary["T"].to_numpy(float)})
    x = np.arange(TOP_FREQUENCY, dtype=float)
    for name, model in models.items():
        if not callable(getattr(model, "probability_purchases", None)):
            raise DataError(f"{name} gives no probability of each number of purchases, which this chart draws.")
        probabilities = np.asarray(model.probability_purchases(x[None, :], ages.columns["T"][:, None]), dtype=float)
        expected = ages.weights @ probabilities
        frame[name] = np.append(expected, n - expected.sum())
    return frame


# ----- figures ----------------------------------------------------------------
def tracking_figure(data: pd.DataFrame, unit: str, calibration_length: float):
    """Weekly (top) and cumulative (bottom) repeat purchases, actual vs models; a line at the calibration end."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    models = [c for c in data.columns if c.endswith("_cumulative") and c != "actual_cumulative"]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=(f"repeat purchases per {unit}", "cumulative repeat purchases"))
    figure.add_trace(go.Scatter(x=data["t"], y=data["actual"], name="actual", line={"color": "black"}), row=1, col=1)
    figure.add_trace(go.Scatter(x=data["t"], y=data["actual_cumulative"], name="actual (cumulative)",
                                line={"color": "black"}, showlegend=False), row=2, col=1)
    for colour, column in zip(itertools.cycle(TRACKING_COLOURS), models):
        name = column.removesuffix("_cumulative")
        line = {"dash": "dash", "color": colour}  # one colour per model in both panels, as in the legend
        figure.add_trace(go.Scatter(x=data["t"], y=data[name], name=name, line=line, legendgroup=name),
                         row=1, col=1)
        figure.add_trace(go.Scatter(x=data["t"], y=data[column], name=f"{name} (cumulative)", line=line,
                                    legendgroup=name, showlegend=False), row=2, col=1)
    for row in (1, 2):
        figure.add_vline(x=calibration_length, line={"dash": "dot", "color": "grey"}, row=row, col=1)
    figure.update_xaxes(title_text=f"{unit}s since the cohort's first purchase", row=2, col=1)
    figure.update_layout(title="Tracking: actual vs expected repeat purchases (dotted line: calibration end)")
    return figure


def conditional_expectations_figure(data: pd.DataFrame):
    """Mean holdout purchases by calibration frequency, actual vs each predictor."""
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.add_trace(go.Scatter(x=data["frequency"], y=data["actual"], name="actual", mode="lines+markers",
                                line={"color": "black"}))
    for column in data.columns[3:]:
        figure.add_trace(go.Scatter(x=data["frequency"], y=data[column], name=column, mode="lines+markers",
                                    line={"dash": "dash"}))
    figure.update_layout(title="Conditional expectations: mean holdout purchases by calibration frequency",
                         xaxis_title="repeat purchases in calibration", yaxis_title="mean holdout purchases")
    return figure


def frequency_histogram_figure(data: pd.DataFrame):
    """Customers by calibration frequency, actual vs each model's expectation."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for column in data.columns[1:]:
        figure.add_trace(go.Bar(x=data["frequency"], y=data[column], name=column))
    figure.update_layout(barmode="group", title="Calibration frequency: actual vs model",
                         xaxis_title="repeat purchases in calibration", yaxis_title="customers")
    return figure


def write_charts(figures: Mapping[str, Any], directory: str | Path, *, png: bool = False) -> list[Path]:
    """Write each figure as a self-contained HTML file (plotly.js inlined) into ``directory``.

    ``png=True`` also writes a PNG of each (for slides and e-mail), through
    Plotly's image export: it needs the ``kaleido`` package (``pip install
    clv[png]``) and a Chrome or Chromium browser on the machine.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures.items():
        path = directory / CHART_FILES.get(name, f"{name}.html")
        path.write_text(figure.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
        written.append(path)
        if png:
            written.append(_write_png(figure, path.with_suffix(".png")))
    return written


def _write_png(figure: Any, path: Path) -> Path:
    if importlib.util.find_spec("kaleido") is None:  # Plotly's image export engine
        raise DataError("PNG charts need the kaleido package: pip install 'clv[png]' (and a Chrome or Chromium browser).")
    try:
        figure.write_image(str(path), width=1100, height=600, scale=1)
    except Exception as exc:  # kaleido reports a missing browser in its own exception types
        raise DataError(f"could not render {path.name}: {exc}. PNG export needs Chrome or Chromium installed.") from exc
    return path
