"""Score every customer: P(alive), expected purchases, expected spend, CLV, intervals."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.models.base import validate_rfm
from clv.scores.intervals import (
    IntervalInputs,
    choose_method,
    closed_form_quantiles,
    closed_form_reference,
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
    _frequency_groups,
    _linear_in_m,
    _step_ends,
    clean_monetary_value,
    forecast_from_rows,
    forecast_rows_in_groups,
    reference_groups,
)
from clv.summary.compress import compress
from clv.units import check_annual_rate
from clv.summary.amounts import no_amounts_error, summary_is_log


def score_customers(
    summary: pd.DataFrame,
    transaction_model,
    spend_model=None,
    *,
    horizon: float | None,
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

    ``horizon=None`` (or ``inf``) scores the whole remaining lifetime: ``clv``
    is then the discounted value of all future purchases (closed-form DERT for
    Pareto/NBD and BG/BB, exact quadrature for BG/NBD and MBG/NBD, see
    :func:`clv.scores.customer_lifetime_value`), ``expected_purchases`` is
    replaced by ``discounted_purchases`` (DERT; undiscounted the lifetime
    purchases can be infinite) and intervals are not available (pass
    ``intervals=None``).

    ``summary`` has columns frequency, recency, T (``n_periods`` accepted for
    BG/BB), optional customer_id, and monetary_value (needed for spend and CLV).
    Returns customer_id, p_alive, expected_purchases (in ``(T, T + horizon]``),
    expected_spend (per order), clv (``margin * expected_spend * DET``, each
    step's purchases discounted at ``(1 + annual_discount_rate) ** -years``) and,
    when ``intervals`` is given, ``purchases_q{u}`` and ``clv_q{u}`` for the
    levels of those central intervals (see :mod:`clv.scores.intervals`).
    Without ``monetary_value`` and without a spend model, expected_spend and clv
    are left out: so it is for the summary of a purchase log (no amounts,
    ``attrs["has_amounts"]`` False), whose scores carry ``has_amounts`` False
    too; a spend model on a log is refused (:func:`clv.summary.no_amounts_error`).

    Work is done on distinct histories (and distinct (x, T)) and is vectorised;
    the frame's ``attrs`` record the units, rate, method and Monte Carlo error.
    """
    horizon = _lifetime_or_checked_horizon(horizon, intervals)
    margin = _checked_margin(margin)
    x, t_x, T, m, customer_id = _summary_columns(summary, transaction_model, spend_model)
    check_annual_rate(annual_discount_rate)
    if horizon is not None:
        _step_ends(transaction_model, horizon, time_unit, discount_step)  # checks the units before work starts
    plan = _IntervalPlan.checked(transaction_model, intervals, n_draws, seed, interval_method) if intervals else None
    money = clean_monetary_value(x, m, has_spend_model=spend_model is not None) if m is not None else None
    histories = compress({"x": x, "t_x": t_x, "T": T})
    hx, ht, hT = (histories.columns[k] for k in ("x", "t_x", "T"))
    groups = reference_groups(transaction_model, hx, hT)
    attrs = dict(model=transaction_model.model_name, time_unit=time_unit, horizon=horizon,
                 annual_discount_rate=annual_discount_rate, margin=margin, discount_step=discount_step,
                 has_amounts=not summary_is_log(summary))
    # Intervals and point columns are independent: the interval draws run on a second thread (NumPy
    # releases the GIL in its loops), from as soon as the distinct (x, T) are known (closed form) or the
    # forecast rows (factorised); tasks run in submission order. The intervals use their own random
    # generator, so the result does not depend on scheduling.
    with ThreadPoolExecutor(max_workers=1) as pool:
        rng = np.random.default_rng(plan.seed) if plan is not None else None
        reference = quantiles = purchases_q = None
        if plan is not None and plan.method == "closed":
            reference = pool.submit(closed_form_reference, transaction_model, spend_model, groups.columns["x"],
                                    groups.columns["T"], horizon=horizon, n_draws=plan.n_draws, rng=rng)
        rows = forecast_rows_in_groups(transaction_model, hx, ht, hT, groups)
        if plan is not None and plan.method != "simulate":
            quantiles = pool.submit(plan.history_quantiles, transaction_model, spend_model, rows, horizon, rng, reference)
            purchases_q = pool.submit(_expanded_columns, quantiles, "purchases", histories)
        forecast = forecast_from_rows(transaction_model, rows, horizon=horizon, time_unit=time_unit,
                                      annual_discount_rate=annual_discount_rate, discount_step=discount_step)
        simulated = None
        if plan is not None and plan.method == "simulate":
            simulated = pool.submit(_simulated, transaction_model, spend_model, x, t_x, T, money, histories, forecast,
                                    margin, horizon=horizon, plan=plan, rng=rng)
        out = {"customer_id": customer_id, **_point_columns(spend_model, x, money, histories, forecast, margin)}
        if plan is not None:
            if simulated is not None:
                purchases_columns, clv_columns = simulated.result()
            else:
                clv_columns = None if money is None else _expanded_columns(
                    quantiles, "money", histories, _clv_scale(spend_model, x, money, histories, forecast, margin))
                purchases_columns = purchases_q.result()
            out.update(plan.columns(purchases_columns, clv_columns))
            attrs.update(plan.attrs)
    if horizon is None:  # undiscounted lifetime purchases can be infinite: their discounted sum instead
        del out["expected_purchases"]
        out = {"customer_id": out.pop("customer_id"), "p_alive": out.pop("p_alive"),
               "discounted_purchases": histories.expand(forecast.discounted), **out}
    frame = pd.DataFrame(out, copy=False)
    frame.attrs.update(attrs)
    return frame


def _lifetime_or_checked_horizon(horizon: float | None, intervals) -> float | None:
    """None for the whole lifetime (None or inf), else the checked finite horizon."""
    if horizon is not None and float(horizon) != float("inf"):
        return _checked_horizon(horizon)
    if intervals:
        raise DataError(
            "prediction intervals need a finite horizon for the purchase models: pass intervals=None "
            "(CLI: --intervals none) to score the whole remaining lifetime, or give a finite horizon."
        )
    return None


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
    elif spend_model is not None and summary_is_log(summary):
        raise no_amounts_error(f"the spend model ({type(spend_model).__name__}) and CLV")
    elif spend_model is not None:
        raise DataError(missing_column_message("monetary value", "monetary_value", map(str, summary.columns)))
    else:
        m = None
    if "customer_id" in summary.columns:
        ids = summary["customer_id"]
        # A column of the default string dtype (what the output would infer anyway) is passed on as it is:
        # converting millions of strings to Python objects and back is slow.
        customer_id = ids.array if ids.dtype == "str" else ids.to_numpy()
    else:
        customer_id = np.asarray(summary.index)
    return x, t_x, T, m, customer_id


def _point_columns(spend_model, x, money, histories, forecast, margin) -> dict[str, np.ndarray]:
    """p_alive, expected_purchases and, with money, expected_spend and clv per customer."""
    out = {"p_alive": histories.expand(forecast.p_alive), "expected_purchases": histories.expand(forecast.expected)}
    if money is not None:
        spend = money if spend_model is None else _linear_in_m(spend_model, x, money, _frequency_groups(histories))
        clv = margin * spend
        clv *= histories.expand(forecast.discounted)
        out.update(expected_spend=spend, clv=clv)
    return out


def _clv_scale(spend_model, x, money, histories, forecast, margin) -> np.ndarray:
    """CLV per unit of standardised money: ``spend scale * margin * mean discount`` per customer."""
    scale = spend_scale(spend_model, x, money)
    mean_discount = histories.expand(forecast.mean_discount)
    mean_discount *= margin
    scale *= mean_discount
    return scale


def _expanded_columns(quantiles, name: str, histories, scale: np.ndarray | None = None) -> list[np.ndarray]:
    """Per-customer columns of the per-history quantiles ``name`` ("purchases" or "money"), times ``scale``."""
    result = quantiles.result()
    per_history = getattr(result, name)
    columns = [histories.expand(per_history[:, j]) for j in range(per_history.shape[1])]
    if scale is not None:
        for column in columns:
            column *= scale
    return columns


@dataclass(frozen=True)
class _IntervalPlan:
    """The checked interval options: levels, method, draws, seed."""

    levels: np.ndarray
    method: str
    n_draws: int
    seed: int | None

    @classmethod
    def checked(cls, model, intervals, n_draws, seed, method) -> "_IntervalPlan":
        n_draws = int(n_draws)
        if n_draws < 10:
            raise DataError(f"n_draws must be at least 10 for quantiles to mean anything, got {n_draws}.")
        levels = quantile_levels(intervals)
        return cls(levels, choose_method(model, method), n_draws, seed)

    def history_quantiles(self, model, spend_model, rows, horizon: float, rng, reference=None):
        """Per distinct history: purchase and standardised money quantiles ("closed" or "factorised").

        ``reference``: the future of the closed form's :func:`closed_form_reference` drawn with ``rng``.
        """
        if self.method == "closed":
            return closed_form_quantiles(model, spend_model, rows, horizon=horizon, levels=self.levels,
                                         n_draws=self.n_draws, rng=rng,
                                         reference=reference.result() if reference is not None else None)
        return factorised_quantiles(model, spend_model, rows, horizon=horizon, levels=self.levels,
                                    n_draws=self.n_draws, rng=rng)

    def columns(self, purchases_q: list[np.ndarray], clv_q: list[np.ndarray] | None) -> dict[str, np.ndarray]:
        columns = {quantile_name("purchases", u): purchases_q[j] for j, u in enumerate(self.levels)}
        if clv_q is not None:
            columns.update({quantile_name("clv", u): clv_q[j] for j, u in enumerate(self.levels)})
        return columns

    @property
    def attrs(self) -> dict:
        return dict(interval_method=self.method, n_draws=self.n_draws, seed=self.seed,
                    quantile_level_mc_sd={f"{u:g}": monte_carlo_level_sd(u, self.n_draws) for u in self.levels})


def _simulated(model, spend_model, x, t_x, T, money, histories, forecast, margin, *, horizon, plan, rng):
    """Full simulation per distinct (history, monetary value): money enters the draws.

    Returns the per-customer purchase and CLV quantile columns (CLV None without money).
    """
    money_or_zero = money if money is not None else np.zeros_like(x)
    rows = compress({"x": x, "t_x": t_x, "T": T, "m": money_or_zero})
    clv_scale = margin * forecast.mean_discount[histories.inverse][_first_rows(rows)]
    inputs = IntervalInputs(rows.columns["x"], rows.columns["t_x"], rows.columns["T"], rows.columns["m"], clv_scale)
    result = simulate_quantiles(model, spend_model, inputs, horizon=horizon, levels=plan.levels, n_draws=plan.n_draws,
                                rng=rng)
    purchases_q = [rows.expand(result.purchases[:, j]) for j in range(plan.levels.size)]
    clv_q = [rows.expand(result.clv[:, j]) for j in range(plan.levels.size)] if money is not None else None
    return purchases_q, clv_q


def _first_rows(packed) -> np.ndarray:
    """Index of the first original row of each distinct row."""
    first = np.full(packed.n_distinct, -1, dtype=np.intp)
    rows = np.arange(packed.inverse.shape[0])[::-1]
    first[packed.inverse[::-1]] = rows
    return first
