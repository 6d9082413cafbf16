"""Per-customer scores for subscriptions under the shifted-beta-geometric (sBG) model.

Setting and conventions are those of :mod:`clv.models.sbg` (Fader & Hardie 2007):
time counts whole contract periods; an active customer's ``tenure`` is the
number of renewal points survived so far, ``r``; a churned customer's
``tenure`` is the period of cancellation (>= 1). We stand at the end of an
active customer's current period, just before the next renewal decision.

Given ``r`` renewals, the posterior of the churn probability theta is
Beta(alpha, beta + r), so the number ``N`` of further payments (renewals) has
the tail

    P(N >= k | r) = B(alpha, beta + r + k) / B(alpha, beta + r),   k = 0, 1, ...

(Fader & Hardie 2007, eq. 4 with beta replaced by beta + r; Fader & Hardie
2010, eq. 6). Every score below is a functional of this tail:

* ``p_renew_next = P(N >= 1 | r) = (beta + r) / (alpha + beta + r)``;
* ``expected_renewals = E[min(N, h)] = sum_{k=1..h} P(N >= k | r)``
  (``model.expected_renewals(h, r)``); with ``h = None`` it is
  ``E[N] = (beta + r) / (alpha - 1)``, infinite when alpha <= 1;
* ``derl = sum_{k=1..h} z^(k-1) P(N >= k | r)`` with ``z = 1 / (1 + d)``: the
  discounted expected number of payments, the imminent one undiscounted
  (Fader & Hardie 2010, eq. 6, truncated at h; ``h = None`` gives their DERL
  in closed form, ``model.discounted_expected_residual_lifetime``);
* ``residual_value = value_per_period * derl``.

Prediction intervals of ``N_h = min(N, h)`` combine process noise (the exact
tail above) with parameter uncertainty: the tail is averaged over
``n_draws`` parameter draws from ``model.sample_params`` and inverted exactly
(bisection on k; the tail is decreasing), so the only Monte Carlo error is the
one of the parameter draws. Residual value quantiles follow because the
discounted value of n payments, ``value (1 - z^n) / (1 - z)``, is monotone in n.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.lazy import LazyModule
from clv.result_table import ResultTable
from clv.scores.intervals import quantile_levels, quantile_name
from clv.units import check_annual_rate, check_time_unit, years_per_unit

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

# In whole-lifetime mode (horizon None) a quantile of N above this many periods
# is reported as inf: the bisection searches k in [0, MAX_QUANTILE_PERIODS].
MAX_QUANTILE_PERIODS = 10_000
_CELLS_PER_BLOCK = 4_000_000  # rows x draws (or rows x periods) held at once
PAYMENT_TIMING = "the next payment (at the imminent renewal) undiscounted, the k-th by (1 + d)^-(k-1)"
INTERVAL_METHOD = "exact predictive tail averaged over parameter draws"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SubscriberScores(ResultTable):
    """Per-subscriber sBG scores and the settings that produced them.

    Returned by :func:`score_subscribers`. Reads like its table
    (``scores["derl"]``, ``scores.sort_values("residual_value")``); the
    settings are typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer, in input order (columns: see
        :func:`score_subscribers`).
    alpha, beta : float
        The sBG parameters the scores were computed with.
    horizon : int or None
        Future renewal points counted; None for the whole remaining lifetime.
    discount_rate : float
        The annual discount rate (0.10 = 10% a year).
    time_unit : str or None
        The contract period.
    discount_rate_per_contract_period : float
        ``discount_rate`` converted to one contract period, ``(1 + d) ** (years per period) - 1``.
    payment_timing : str
        How payments are discounted (:data:`PAYMENT_TIMING`).
    model : str
        Registry name of the model (``"sbg"``).
    interval_method : str or None
        How the quantile columns were computed; None without intervals.
    n_draws : int or None
        Parameter draws behind the quantiles; None without intervals.
    seed : int, str or None
        Seed of the draws ("generator" when a NumPy Generator was passed).
    quantile_cap_periods : int or None
        The largest number of renewals a quantile can report (the horizon, or
        :data:`MAX_QUANTILE_PERIODS` over the whole lifetime, beyond which it
        is inf); None without intervals.
    """

    alpha: float = float("nan")
    beta: float = float("nan")
    horizon: int | None = dataclasses.field(kw_only=True)  # recorded, no default (a glossary term: tests/test_vocabulary.py)
    discount_rate: float = 0.10
    time_unit: str | None = dataclasses.field(kw_only=True)
    discount_rate_per_contract_period: float = float("nan")
    payment_timing: str = PAYMENT_TIMING
    model: str = "sbg"
    interval_method: str | None = None
    n_draws: int | None = None
    seed: int | str | None = None
    quantile_cap_periods: int | None = None

    def settings(self) -> dict[str, Any]:
        """The settings as JSON-ready values (for reports and saved outputs)."""
        return self.context()


def score_subscribers(
    customers: pd.DataFrame,
    model,
    *,
    horizon: int | None,
    discount_rate: float = 0.10,
    time_unit: str | None = None,
    value_per_period: float | str | None = None,
    intervals: Sequence[float] | None = (0.8, 0.95),
    n_draws: int = 200,
    seed: int | np.random.Generator | None = 0,
    tenure_col: str = "tenure",
    churned_col: str = "churned",
    id_col: str = "customer_id",
) -> SubscriberScores:
    """Score subscribers with a fitted sBG model: renewal probability, expected renewals, DERL, value.

    The formulas are those of the module (Fader & Hardie 2007, eq. 4; 2010,
    eq. 6): with ``r`` renewals so far, ``p_renew_next = (beta + r) / (alpha +
    beta + r)``, ``expected_renewals = E[min(N, h)]``, ``derl = sum_{k=1..h}
    z^(k-1) P(N >= k | r)`` with ``z = 1 / (1 + d_period)``, and
    ``residual_value = value_per_period * derl``. Churned customers get 0 in
    every numeric column. Work is done once per distinct tenure among active
    customers, then mapped back.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer with ``tenure_col`` and ``churned_col`` in the
        model's convention (see the module doc): an active customer's tenure is
        the number of renewals so far, a churned customer's the period of
        cancellation (>= 1).
    model : ShiftedBetaGeometricModel
        A fitted sBG model (:class:`clv.models.ShiftedBetaGeometricModel`);
        intervals also need its parameter covariance (set by ``fit`` and
        ``from_json``).
    horizon : int or None
        Whole number of future renewal points counted (contract periods of
        ``time_unit``), or None for the whole remaining lifetime. Required (no
        default).
    discount_rate : float, default 0.10
        The ANNUAL discount rate (0.10 = 10% a year, as everywhere in clv),
        converted to the contract period ``time_unit``: d_period = (1 + d) **
        (years per period) - 1 (monthly contracts at 10% a year: 1.1 ** (1/12)
        - 1 = 0.00797).
    time_unit : {"day", "week", "month", "quarter", "year"} or None, default None
        The contract period; None: the model's ``time_unit_`` (an error when
        the model has none).
    value_per_period : float, str or None, default None
        The fee or margin per contract period (currency): a number for
        everyone, the name of a column of ``customers`` with per-customer
        values, or None (no value columns).
    intervals : sequence of float or None, default (0.8, 0.95)
        Central prediction interval masses (each in (0, 1)); None or empty for
        no quantile columns.
    n_draws : int, default 200
        Parameter draws (``model.sample_params``) the predictive tail is
        averaged over for the quantiles (>= 10).
    seed : int, numpy.random.Generator or None, default 0
        Seed (or generator) of the parameter draws; the default makes the
        quantiles reproducible.
    tenure_col : str, default "tenure"
        Column of ``customers`` holding the tenure (whole contract periods).
    churned_col : str, default "churned"
        Column of ``customers`` holding the churn flag (bool or 0/1).
    id_col : str, default "customer_id"
        Column of ``customers`` copied to the result when present.

    Returns
    -------
    SubscriberScores
        In input order and with the input's index: ``id_col`` (when present),
        ``active``, ``p_renew_next``, ``expected_renewals`` (renewals),
        ``derl`` (discounted payments), ``residual_value`` (currency, with a
        value), then ``renewals_q{u}`` and ``residual_value_q{u}`` for the
        levels of the central ``intervals``. The settings (``horizon``, rates,
        draws, seed) are its fields.

    Raises
    ------
    DataError
        When ``model`` is not a fitted sBG model (or has no covariance while
        intervals are asked), ``horizon``, ``discount_rate``, ``n_draws`` or
        ``value_per_period`` is invalid, the contract period is unknown, or a
        column is missing or holds a bad value (the error names the column and
        the first offending row).

    Examples
    --------
    >>> import pandas as pd
    >>> from clv.models import ShiftedBetaGeometricModel
    >>> model = ShiftedBetaGeometricModel().fit_survival(
    ...     [1000, 869, 743, 653, 593, 551, 517, 491], time_unit="year"
    ... )
    >>> customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "tenure": [1, 4, 2],
    ...                           "churned": [False, False, True]})
    >>> scores = score_subscribers(customers, model, horizon=None, intervals=None, value_per_period=100.0)
    >>> scores[["customer_id", "p_renew_next", "residual_value"]].round(3)
      customer_id  p_renew_next  residual_value
    0           a         0.878         590.138
    1           b         0.921         689.671
    2           c         0.000           0.000
    """
    horizon = _checked_horizon(horizon)
    rate = _rate_per_period(discount_rate, time_unit, model)
    alpha, beta = _checked_params(model)
    tenure, active = _tenure_and_status(customers, tenure_col, churned_col)
    value = _value_per_period(customers, value_per_period, active)
    levels = quantile_levels(intervals) if intervals else np.array([])
    if levels.size:
        _check_draws(model, n_draws)

    renewals, inverse = np.unique(tenure[active], return_inverse=True)
    point = _point_scores(model, alpha, beta, renewals, horizon, rate)
    out: dict[str, Any] = {}
    if id_col in customers.columns:
        out[id_col] = customers[id_col].to_numpy()
    out["active"] = active
    for name, per_tenure in point.items():
        out[name] = _expand(per_tenure, inverse, active)
    if value is not None:
        out["residual_value"] = _times(value, out["derl"])
    if levels.size:
        draws = model.sample_params(n_draws, np.random.default_rng(seed))
        counts = renewal_quantiles(draws, renewals, horizon, levels)
        per_customer = [_expand(counts[:, j], inverse, active) for j in range(levels.size)]
        out.update({quantile_name("renewals", u): per_customer[j] for j, u in enumerate(levels)})
        if value is not None:
            out.update(_value_quantiles(per_customer, levels, value, rate))
    frame = pd.DataFrame(out, index=customers.index, copy=False)
    draws_settings = {} if not levels.size else dict(
        interval_method=INTERVAL_METHOD, n_draws=int(n_draws),
        seed=seed if not isinstance(seed, np.random.Generator) else "generator",
        quantile_cap_periods=MAX_QUANTILE_PERIODS if horizon is None else horizon,
    )
    return SubscriberScores(
        frame, alpha=alpha, beta=beta, horizon=horizon, discount_rate=float(discount_rate),
        time_unit=time_unit or getattr(model, "time_unit_", None), discount_rate_per_contract_period=rate,
        **draws_settings,
    )


# ----- formulas ---------------------------------------------------------------
def renewal_tail(alpha: Any, beta: Any, renewals_so_far: Any, k: Any) -> np.ndarray:
    """P(N >= k | r) = B(alpha, beta + r + k) / B(alpha, beta + r), broadcast over the arguments.

    N is the number of further renewals of a customer who has renewed r times
    (Fader & Hardie 2007, eq. 4, with the posterior Beta(alpha, beta + r)).
    """
    shifted = np.asarray(beta, dtype=float) + np.asarray(renewals_so_far, dtype=float)
    return np.exp(special.betaln(alpha, shifted + k) - special.betaln(alpha, shifted))


def discounted_renewals(alpha: float, beta: float, renewals_so_far: Any, horizon: int, discount_rate: float) -> np.ndarray:
    """Finite-horizon DERL: sum_{k=1..h} (1 + d)^-(k-1) P(N >= k | r), per r.

    Fader & Hardie (2010), eq. (6), truncated after h renewal points. Summed
    in blocks of k (memory bounded) with the tail from :func:`renewal_tail`.
    """
    r = np.asarray(renewals_so_far, dtype=float)
    total = np.zeros(r.shape)
    log_z = -math.log1p(discount_rate)
    block = max(1, _CELLS_PER_BLOCK // max(r.size, 1))
    for start in range(1, horizon + 1, block):
        k = np.arange(start, min(start + block, horizon + 1), dtype=float)
        total += (renewal_tail(alpha, beta, r[:, None], k) * np.exp((k - 1.0) * log_z)).sum(axis=1)
    return total


def renewal_quantiles(draws: np.ndarray, renewals_so_far: Any, horizon: int | None, levels: Any) -> np.ndarray:
    """Quantiles of N_h = min(N, h) under the tail averaged over parameter draws.

    ``draws``: (n_draws, 2) array of (alpha, beta) (``model.sample_params``).
    The predictive tail is ``Tbar(k) = mean_s P(N >= k | r, alpha_s, beta_s)``;
    the level-u quantile is ``min{n : P(N_h <= n) >= u}`` = the largest k with
    ``Tbar(k) > 1 - u`` (0 if none), found by bisection on k in [0, h]
    (``P(N_h >= h + 1) = 0``). With ``horizon=None`` the search runs up to
    :data:`MAX_QUANTILE_PERIODS`; a quantile beyond it is returned as inf.
    Returns an array (n_r, n_levels) of whole numbers (or inf).
    """
    r = np.asarray(renewals_so_far, dtype=float).ravel()
    levels = np.asarray(levels, dtype=float).ravel()
    threshold = np.broadcast_to(1.0 - levels, (r.size, levels.size)).ravel()
    rows = np.repeat(r, levels.size)
    cap = MAX_QUANTILE_PERIODS if horizon is None else int(horizon)
    low = np.zeros(rows.size)  # invariant: Tbar(low) > threshold (Tbar(0) = 1)
    high = np.full(rows.size, cap + 1.0)  # invariant: Tbar(high) <= threshold, or high = cap + 1
    beyond = np.zeros(rows.size, dtype=bool)
    if horizon is None and rows.size:
        beyond = _mixed_tail(draws, rows, np.full(rows.size, float(cap))) > threshold
    while np.any(high - low > 1):
        open_ = np.flatnonzero(high - low > 1)
        middle = np.floor((low[open_] + high[open_]) / 2.0)
        above = _mixed_tail(draws, rows[open_], middle) > threshold[open_]
        low[open_] = np.where(above, middle, low[open_])
        high[open_] = np.where(above, high[open_], middle)
    return np.where(beyond, np.inf, low).reshape(r.size, levels.size)


def _mixed_tail(draws: np.ndarray, renewals: np.ndarray, k: np.ndarray) -> np.ndarray:
    """mean over draws s of P(N >= k_i | r_i, alpha_s, beta_s), per entry i (blocks of entries)."""
    alpha, beta = draws[:, 0], draws[:, 1]
    out = np.empty(renewals.size)
    block = max(1, _CELLS_PER_BLOCK // max(alpha.size, 1))
    for start in range(0, renewals.size, block):
        part = slice(start, start + block)
        out[part] = renewal_tail(alpha, beta, renewals[part, None], k[part, None]).mean(axis=1)
    return out


def _point_scores(model, alpha: float, beta: float, r: np.ndarray, horizon: int | None, rate: float) -> dict[str, np.ndarray]:
    """p_renew_next, expected_renewals and derl per distinct number of renewals r."""
    p_next = (beta + r) / (alpha + beta + r)
    if horizon is None:
        expected = model.expected_remaining_lifetime(r) if r.size else np.zeros(0)
        derl = model.discounted_expected_residual_lifetime(r, rate) if r.size else np.zeros(0)
    else:
        expected = model.expected_renewals(horizon, r) if r.size else np.zeros(0)
        derl = discounted_renewals(alpha, beta, r, horizon, rate)
    return {"p_renew_next": p_next, "expected_renewals": np.asarray(expected, dtype=float),
            "derl": np.asarray(derl, dtype=float)}


def _value_quantiles(counts: list[np.ndarray], levels: np.ndarray, value: np.ndarray, rate: float) -> dict[str, np.ndarray]:
    """residual_value_q{u} = value * (1 - z^n)/(1 - z) at the renewal quantile n.

    The map n -> value * annuity(n) is increasing for value >= 0 and decreasing
    for value < 0, so a negative value takes the quantile of the mirrored level
    (levels of central intervals come in pairs u, 1 - u).
    """
    annuity = [_annuity(n, rate) for n in counts]
    columns = {}
    for j, u in enumerate(levels):
        other = int(np.argmin(np.abs(levels - (1.0 - u))))
        columns[quantile_name("residual_value", u)] = _times(value, np.where(value >= 0, annuity[j], annuity[other]))
    return columns


def _times(value: np.ndarray, payments: np.ndarray) -> np.ndarray:
    """value * payments, 0 where value is 0 (even when the payments are infinite)."""
    with np.errstate(invalid="ignore"):
        return np.where(value == 0, 0.0, value * payments)


def _annuity(n: np.ndarray, rate: float) -> np.ndarray:
    """sum_{k=1..n} z^(k-1) = (1 - z^n)/(1 - z), z = 1/(1 + d); n when d = 0 (n may be inf)."""
    if rate == 0.0:
        return n.astype(float)
    with np.errstate(invalid="ignore"):
        return -np.expm1(-n * math.log1p(rate)) * (1.0 + rate) / rate


def _expand(per_tenure: np.ndarray, inverse: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Per-customer column from per-distinct-tenure values: 0 for churned customers."""
    out = np.zeros(active.size)
    out[active] = per_tenure[inverse]
    return out


# ----- validation -------------------------------------------------------------
def _checked_horizon(horizon: Any) -> int | None:
    if horizon is None:
        return None
    bad = isinstance(horizon, bool) or not isinstance(horizon, Real) or not math.isfinite(horizon)
    if bad or horizon < 0 or horizon != round(horizon):
        raise DataError(f"horizon must be a whole number of contract periods >= 0 (e.g. 12), "
                        f"or None for the whole remaining lifetime; got {horizon!r}.")
    return int(horizon)


def _rate_per_period(discount_rate: Any, time_unit: str | None, model: Any) -> float:
    """The annual ``discount_rate`` per contract period: (1 + d) ** (years per period) - 1."""
    bad = isinstance(discount_rate, bool) or not isinstance(discount_rate, Real)
    annual = check_annual_rate(math.nan if bad else discount_rate)
    unit = time_unit or getattr(model, "time_unit_", None)
    if unit is None:
        raise DataError("time_unit: the contract period is not known, so the annual discount_rate cannot be converted "
                        "to a rate per period. Fix: pass time_unit='month' (or the unit of your contract periods).")
    return math.expm1(math.log1p(annual) * years_per_unit(check_time_unit(unit)))


def _checked_params(model) -> tuple[float, float]:
    if getattr(model, "model_name", None) != "sbg":
        raise DataError(f"model must be a fitted sBG model (ShiftedBetaGeometricModel); "
                        f"got {getattr(model, 'model_name', type(model).__name__)!r}.")
    params = getattr(model, "params_", None)
    if params is None:
        raise DataError("the sBG model is not fitted: call fit(...) or load it with from_json first.")
    alpha, beta = float(params["alpha"]), float(params["beta"])
    if not (math.isfinite(alpha) and math.isfinite(beta) and alpha > 0 and beta > 0):
        raise DataError(f"the sBG model's parameters must be finite and > 0; got alpha={alpha}, beta={beta}.")
    return alpha, beta


def _check_draws(model, n_draws: Any) -> None:
    if isinstance(n_draws, bool) or not isinstance(n_draws, Integral) or n_draws < 10:
        raise DataError(f"n_draws must be a whole number >= 10 for quantiles to mean anything; got {n_draws!r}.")
    if getattr(model, "covariance_theta_", None) is None:
        raise DataError("intervals need the model's parameter covariance (set by fit or from_json); "
                        "this model has none: fit it, or pass intervals=None.")


def _column(frame: pd.DataFrame, column: str, kind: str, option: str) -> pd.Series:
    if column not in frame.columns:
        message = missing_column_message(kind, column, map(str, frame.columns)).split(" Fix:")[0]
        raise DataError(f"{message} Fix: pass {option}= with the {kind} column's name.")
    return frame[column]


def _first_bad(frame: pd.DataFrame, column: str, bad: np.ndarray, values: np.ndarray, problem: str, fix: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"column {column!r}: {problem}; first offending row {frame.index[i]!r} "
                        f"(position {i}): {values[i]!r} ({int(bad.sum())} rows in all). Fix: {fix}")


def _numeric(frame: pd.DataFrame, column: str, kind: str, option: str) -> np.ndarray:
    series = _column(frame, column, kind, option)
    if series.dtype == bool:
        return series.to_numpy(dtype=float)
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    raw = series.to_numpy()
    _first_bad(frame, column, np.isnan(numbers) & ~pd.isna(raw), raw, f"{kind} must be numeric",
               f"give {kind} as numbers.")
    return numbers


def _tenure_and_status(frame: Any, tenure_col: str, churned_col: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked tenure (whole periods) and the active flag, with errors naming column and row."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"customers must be a pandas DataFrame with one row per customer, got {type(frame).__name__}.")
    tenure = _numeric(frame, tenure_col, "tenure", "tenure_col")
    churned = _numeric(frame, churned_col, "churned", "churned_col")
    _first_bad(frame, tenure_col, ~np.isfinite(tenure) | (tenure < 0) | (tenure != np.round(tenure)), tenure,
               "tenure must be a finite whole number of periods >= 0",
               "count tenure in whole contract periods (renewals so far for active customers).")
    _first_bad(frame, churned_col, ~np.isin(churned, (0.0, 1.0)), churned,
               "churned must be True/False or 1/0 (no missing values)", "mark cancelled customers 1, active ones 0.")
    _first_bad(frame, tenure_col, (churned == 1.0) & (tenure < 1), tenure,
               "a churned customer's tenure is the period of cancellation, so it must be >= 1",
               "a customer who paid for one period and left has tenure 1.")
    return tenure, churned == 0.0


def _value_per_period(frame: pd.DataFrame, value: Any, active: np.ndarray) -> np.ndarray | None:
    """Per-customer value per period (only active customers' values are checked and used)."""
    if value is None:
        return None
    if isinstance(value, str):
        values = _numeric(frame, value, "value per period", "value_per_period")
        _first_bad(frame, value, active & ~np.isfinite(values), values,
                   "an active customer's value per period must be finite",
                   "fill in the fee or margin per period of every active customer.")
        return np.where(active, values, 0.0)
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise DataError(f"value_per_period must be a finite number, a column name or None; got {value!r}.")
    return np.where(active, float(value), 0.0)
