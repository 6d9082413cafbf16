"""Score every customer: P(alive), expected purchases, expected spend, CLV, intervals."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.models.base import validate_rfm
from clv.scores.intervals import (
    IntervalInputs,
    choose_method,
    closed_form_quantiles,
    factorised_quantiles,
    monte_carlo_level_sd,
    quantile_levels,
    quantile_name,
    simulate_quantiles,
    spend_scale,
)
from clv.scores.lifetime_value import (
    _checked_horizon,
    _checked_margin,
    clean_monetary_value,
    expected_spend_per_order,
    forecast_purchases,
)
from clv.scores.distinct import distinct_rows


def score_customers(
    summary: pd.DataFrame,
    transaction_model,
    spend_model=None,
    *,
    horizon: float,
    time_unit: str,
    annual_discount_rate: float = 0.10,
    margin: float = 1.0,
    discount_step: str | float = "month",
    intervals: Sequence[float] | None = (0.8, 0.95),
    n_draws: int = 200,
    seed: int | None = 0,
    interval_method: str = "auto",
) -> pd.DataFrame:
    """Per-customer predictions over ``horizon`` (in ``time_unit``, the model's unit).

    ``summary`` has columns frequency, recency, T (``n_periods`` accepted for
    BG/BB), optional customer_id, and monetary_value (needed for spend and CLV).
    Returns customer_id, p_alive, expected_purchases (in ``(T, T + horizon]``),
    expected_spend (per order), clv (``margin * expected_spend * DET``, each
    step's purchases discounted at ``(1 + annual_discount_rate) ** -years``) and,
    when ``intervals`` is given, ``purchases_q{u}`` and ``clv_q{u}`` for the
    levels of those central intervals (see :mod:`clv.scores.intervals`).
    Without ``monetary_value`` and without a spend model, expected_spend and clv
    are left out.

    Work is done on distinct histories (and distinct (x, T)) and is vectorised;
    the frame's ``attrs`` record the units, rate, method and Monte Carlo error.
    """
    horizon = _checked_horizon(horizon)
    margin = _checked_margin(margin)
    x, t_x, T, m, customer_id = _summary_columns(summary, transaction_model, spend_model)
    histories = distinct_rows({"x": x, "t_x": t_x, "T": T})
    hx, ht, hT = (histories.columns[k] for k in ("x", "t_x", "T"))
    forecast = forecast_purchases(
        transaction_model, hx, ht, hT, horizon=horizon, time_unit=time_unit,
        annual_discount_rate=annual_discount_rate, discount_step=discount_step,
    )
    attrs = dict(model=transaction_model.model_name, time_unit=time_unit, horizon=horizon,
                 annual_discount_rate=annual_discount_rate, margin=margin, discount_step=discount_step)
    # The intervals and the point columns are independent: compute them on two threads (NumPy
    # releases the GIL in its loops); the intervals use their own random generator, so the
    # result does not depend on scheduling.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            _interval_columns, transaction_model, spend_model, x, t_x, T, m, histories, forecast, margin,
            horizon=horizon, intervals=intervals, n_draws=n_draws, seed=seed, method=interval_method,
        ) if intervals else None
        out = {"customer_id": customer_id, "p_alive": histories.expand(forecast.p_alive),
               "expected_purchases": histories.expand(forecast.expected)}
        if m is not None:
            spend = expected_spend_per_order(spend_model, x, m)
            out["expected_spend"] = spend
            out["clv"] = margin * spend * histories.expand(forecast.discounted)
        if pending is not None:
            columns, interval_attrs = pending.result()
            out.update(columns)
            attrs.update(interval_attrs)
    frame = pd.DataFrame(out, copy=False)
    frame.attrs.update(attrs)
    return frame


def _summary_columns(summary: pd.DataFrame, model, spend_model):
    if not isinstance(summary, pd.DataFrame):
        raise DataError(f"summary must be a pandas DataFrame of per-customer rows, got {type(summary).__name__}.")
    t_column = "T" if "T" in summary.columns or "n_periods" not in summary.columns else "n_periods"
    for column in ("frequency", "recency", t_column):
        if column not in summary.columns:
            raise DataError(missing_column_message(column, column, map(str, summary.columns)))
    x, t_x, T = validate_rfm(summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary[t_column].to_numpy())
    if "monetary_value" in summary.columns:
        m = summary["monetary_value"].to_numpy(dtype=float)
    elif spend_model is not None:
        raise DataError(missing_column_message("monetary value", "monetary_value", map(str, summary.columns)))
    else:
        m = None
    if "customer_id" in summary.columns:
        customer_id = summary["customer_id"].to_numpy()
    else:
        customer_id = np.asarray(summary.index)
    return x, t_x, T, m, customer_id


def _interval_columns(model, spend_model, x, t_x, T, m, histories, forecast, margin, *,
                      horizon, intervals, n_draws, seed, method):
    """Quantile columns (name -> per-customer array) and the attrs describing them."""
    n_draws = int(n_draws)
    if n_draws < 10:
        raise DataError(f"n_draws must be at least 10 for quantiles to mean anything, got {n_draws}.")
    levels = quantile_levels(intervals)
    method = choose_method(model, method)
    rng = np.random.default_rng(seed)
    money = clean_monetary_value(x, m, has_spend_model=spend_model is not None) if m is not None else None
    if method == "simulate":
        purchases_q, clv_q = _simulated(model, spend_model, x, t_x, T, money, histories, forecast, margin,
                                        horizon=horizon, levels=levels, n_draws=n_draws, rng=rng)
    else:
        compute = closed_form_quantiles if method == "closed" else factorised_quantiles
        result = compute(model, spend_model, forecast.rows, horizon=horizon, levels=levels, n_draws=n_draws, rng=rng)
        purchases_q = [histories.expand(result.purchases[:, j]) for j in range(levels.size)]
        if money is not None:
            scale = spend_scale(spend_model, x, money)
            scale *= margin * histories.expand(forecast.mean_discount)
            clv_q = [scale * histories.expand(result.money[:, j]) for j in range(levels.size)]
    columns = {quantile_name("purchases", u): purchases_q[j] for j, u in enumerate(levels)}
    if money is not None:
        columns.update({quantile_name("clv", u): clv_q[j] for j, u in enumerate(levels)})
    attrs = dict(interval_method=method, n_draws=n_draws, seed=seed,
                 quantile_level_mc_sd={f"{u:g}": monte_carlo_level_sd(u, n_draws) for u in levels})
    return columns, attrs


def _simulated(model, spend_model, x, t_x, T, money, histories, forecast, margin, *, horizon, levels, n_draws, rng):
    """Full simulation per distinct (history, monetary value): money enters the draws."""
    money_or_zero = money if money is not None else np.zeros_like(x)
    rows = distinct_rows({"x": x, "t_x": t_x, "T": T, "m": money_or_zero})
    clv_scale = margin * forecast.mean_discount[histories.inverse][_first_rows(rows)]
    inputs = IntervalInputs(rows.columns["x"], rows.columns["t_x"], rows.columns["T"], rows.columns["m"], clv_scale)
    result = simulate_quantiles(model, spend_model, inputs, horizon=horizon, levels=levels, n_draws=n_draws, rng=rng)
    purchases_q = [rows.expand(result.purchases[:, j]) for j in range(levels.size)]
    clv_q = [rows.expand(result.clv[:, j]) for j in range(levels.size)]
    return purchases_q, clv_q


def _first_rows(packed) -> np.ndarray:
    """Index of the first original row of each distinct row."""
    first = np.full(packed.n_distinct, -1, dtype=np.intp)
    rows = np.arange(packed.inverse.shape[0])[::-1]
    first[packed.inverse[::-1]] = rows
    return first
