"""Score every customer: P(alive), expected purchases, expected spend, CLV, intervals."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv.errors import DataError, FitError, missing_column_message
from clv.scores.intervals import (
    IntervalInputs,
    choose_method,
    closed_form_quantiles,
    closed_form_reference,
    factorised_quantiles,
    interval_uncertainty,
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
    is_discrete_time,
    reference_groups,
)
from clv.scores.result import Scores
from clv.summary import CustomerData, as_customer_data
from clv.summary.compress import compress
from clv.summary.amounts import no_amounts_error, summary_is_log
from clv.units import check_annual_rate, check_time_unit, convert_duration


def score_customers(
    summary: CustomerData | pd.DataFrame,
    transaction_model,
    spend_model=None,
    *,
    horizon: float | None,
    time_unit: str | None = None,
    discount_rate: float = 0.10,
    margin: float = 1.0,
    discount_step: str | float = "month",
    intervals: Sequence[float] | None = (0.8, 0.95),
    n_draws: int = 200,
    seed: int | None = 0,
    interval_method: str = "auto",
    interval_calibration=None,
) -> Scores:
    """Per-customer predictions over ``horizon``: P(alive), purchases, spend, CLV and intervals.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        Customer data (:func:`clv.summary.summarize`; it carries its time
        unit), or a plain table with columns frequency, recency, T
        (``n_periods`` accepted for BG/BB), optional customer_id, and
        monetary_value (needed for spend and CLV).
    transaction_model : fitted purchase model
        E.g. :class:`clv.models.BetaGeoModel`. When it was fitted in another
        time unit than the data's, the data's durations are converted to the
        model's unit first (continuous-time models); a discrete-time model
        (BG/BB) refuses a different unit.
    spend_model : fitted spend model, optional
        E.g. :class:`clv.models.GammaGammaModel`; without it each customer's
        own ``monetary_value`` is the expected spend.
    horizon : float or None
        Forecast window in ``time_unit``; None (or ``inf``) for the whole
        remaining lifetime: ``clv`` is then the discounted value of all future
        purchases (closed-form DERT for Pareto/NBD and BG/BB, exact quadrature
        for BG/NBD and MBG/NBD, see :func:`clv.scores.customer_lifetime_value`),
        ``expected_purchases`` is replaced by ``discounted_purchases`` and
        intervals are not available (pass ``intervals=None``).
    time_unit : str, optional
        Unit of the data's durations and of ``horizon``. Taken from customer
        data (a different one is refused); required for a plain table.
    discount_rate : float
        Annual discount rate (0.10 = 10% a year): each step's purchases are
        discounted by ``(1 + discount_rate) ** -years`` (see :mod:`clv.units`).
    margin : float
        Fraction of purchase value counted as value (1.0 = revenue).
    discount_step : str or float
        Length of a discounting step: a unit name or a number of ``time_unit``.
    intervals : sequence of float, optional
        Central prediction-interval coverages (``purchases_q{u}``, ``clv_q{u}``
        columns; see :mod:`clv.scores.intervals`); None for none.
    n_draws, seed : int
        Monte Carlo draws and seed of the intervals. The parameter draws come from
        the seed; each distinct history's process-noise draws are keyed by the
        history and the seed (:mod:`clv.scores.keyed_random`), so a customer's
        intervals do not depend on the other customers scored with them (order,
        chunks, an engine's partitions). ``seed=None``: a fresh random seed.
    interval_method : {"auto", "closed", "factorised", "simulate"}
        How the intervals are computed.
    interval_calibration : clv.scores.calibration.IntervalCalibration, optional
        Recalibrated nominal levels (:func:`clv.scores.calibration.calibrate_intervals`):
        each customer's ``c`` interval is the model interval at its stratum's calibrated
        nominal coverage, and the result's ``interval_calibration`` says how. None: model
        intervals at their nominal levels (``interval_calibration`` None in the result).

    Returns
    -------
    Scores
        customer_id, p_alive, expected_purchases (in ``(T, T + horizon]``),
        expected_spend (per order), clv (``margin * expected_spend * DET``)
        and the interval columns, with the settings as typed fields. Without
        amounts (a purchase log) and without a spend model, expected_spend and
        clv are left out (``has_amounts`` False); a spend model on a log is
        refused (:func:`clv.summary.no_amounts_error`). When the summary has
        ``largely_refunded`` (:func:`clv.summary.summarize` with amounts), the
        scores carry it last: customers whose purchases were largely refunded.

    Raises
    ------
    DataError
        A plain table without ``time_unit``; a ``time_unit`` that contradicts
        the data's; invalid histories (the row is named); bad options.

    Notes
    -----
    Work is done on distinct histories (and distinct (x, T)) and is vectorised.
    """
    data = as_customer_data(summary, time_unit)
    horizon = _lifetime_or_checked_horizon(horizon, intervals)
    in_model_unit, horizon_in_model, model_unit = _in_model_unit(data, transaction_model, horizon)
    calibrated = interval_calibration is not None and bool(intervals)
    frame, plan = _score_by_covariate_profile(
        in_model_unit, transaction_model, spend_model, horizon=horizon_in_model, time_unit=model_unit,
        discount_rate=discount_rate, margin=margin, discount_step=discount_step,
        intervals=interval_calibration.nominal_coverages(intervals) if calibrated else intervals,
        n_draws=n_draws, seed=seed, interval_method=interval_method)
    if calibrated:
        frame = _with_recalibrated_intervals(frame, interval_calibration, intervals)
    if "largely_refunded" in data.table.columns:  # customers whose purchases were largely refunded (clv.summary.refunds)
        frame["largely_refunded"] = data.table["largely_refunded"].to_numpy(dtype=bool)
    return Scores(
        frame, model=getattr(transaction_model, "model_name", type(transaction_model).__name__),
        time_unit=data.time_unit, horizon=horizon, discount_rate=float(discount_rate), margin=float(margin),
        discount_step=discount_step, has_amounts=not summary_is_log(data),
        model_time_unit=model_unit if model_unit != data.time_unit else None,
        observation_end=data.observation_end, currency=data.currency,
        **(plan.result_fields if plan is not None else {}),
        interval_calibration=interval_calibration.as_dict() if calibrated else None,
    )


def _with_recalibrated_intervals(frame: pd.DataFrame, calibration, intervals) -> pd.DataFrame:
    """The point columns and, for each coverage of ``intervals``, the recalibrated bounds (the other levels dropped)."""
    from clv.scores.calibration import recalibrated_columns

    columns = recalibrated_columns(frame, calibration, intervals, has_value="clv" in frame.columns)
    points = [c for c in frame.columns if not c.startswith(("purchases_q", "clv_q"))]
    ordered = sorted(columns, key=lambda name: (not name.startswith("purchases"), float(name.split("_q")[1])))
    return pd.concat([frame[points], pd.DataFrame({c: columns[c] for c in ordered}, index=frame.index)], axis=1)


def _in_model_unit(data: CustomerData, model, horizon: float | None) -> tuple[CustomerData, float | None, str]:
    """The data and the horizon expressed in the model's time unit, and that unit.

    A model fitted without a unit (on plain arrays) takes the data's. A
    discrete-time model (BG/BB) counts whole periods: another unit is refused.
    """
    model_unit = getattr(model, "time_unit_", None) or data.time_unit
    check_time_unit(model_unit, "the model's time_unit_")
    if model_unit == data.time_unit:
        return data, horizon, model_unit
    if is_discrete_time(model):
        raise DataError(
            f"the model was fitted in {model_unit}s but the data are in {data.time_unit}s, and "
            f"{getattr(model, 'model_name', 'this model')} counts whole periods: summarise the data in "
            f"{model_unit}s (time_unit={model_unit!r}) or refit the model on these data."
        )
    converted = None if horizon is None else convert_duration(horizon, data.time_unit, model_unit)
    return data.in_time_unit(model_unit), converted, model_unit


MAX_COVARIATE_PROFILES = 10_000
"""The most distinct covariate profiles :func:`score_customers` scores (one vectorised pass each)."""


def _score_by_covariate_profile(data: CustomerData, transaction_model, spend_model, **options):
    """:func:`_score_in_model_unit`, once per distinct covariate profile for a model fitted with covariates.

    A BG/NBD-family model with static covariates is, for the customers of one
    covariate profile, the model without covariates at that profile's
    parameters, with their uncertainty (``profile_model``,
    :func:`clv.models.covariate_link.profile_params`): each profile is scored
    by the usual vectorised route (every interval method applies) and the rows
    put back in order. A model without covariates scores the data as it is
    (covariates the model did not use are ignored).
    """
    names = tuple(getattr(transaction_model, "covariate_names_", ()) or ())
    if not names:
        return _score_in_model_unit(data, transaction_model, spend_model, **options)
    missing = [name for name in names if name not in data.table.columns]
    if missing:
        raise DataError(
            f"the model was fitted with covariates {list(names)}, but the customer data lacks {missing}. Fix: attach "
            "the same covariates (clv.summary.attach_covariates; on the command line --covariates FILE "
            "--covariate-cols ...)."
        )
    X = data.table[list(names)].to_numpy(dtype=float)
    profiles = compress({str(j): X[:, j] for j in range(X.shape[1])})
    if profiles.n_distinct > MAX_COVARIATE_PROFILES:
        raise DataError(
            f"the customers have {profiles.n_distinct:,} distinct covariate profiles ({', '.join(names)}): scores are "
            f"computed profile by profile, at most {MAX_COVARIATE_PROFILES:,}. Fix: group a continuous covariate into "
            "bands before attaching it (e.g. pandas.qcut into 10 groups), or compute P(alive) and expected purchases "
            "with the model's methods and covariates= (vectorised per customer)."
        )
    order = np.argsort(profiles.inverse, kind="stable")
    frames, plan = [], None
    for profile, rows in enumerate(np.split(order, np.cumsum(np.bincount(profiles.inverse))[:-1])):
        row = np.array([profiles.columns[str(j)][profile] for j in range(X.shape[1])])
        part = data.with_table(data.table.iloc[rows].reset_index(drop=True))
        frame, plan = _score_in_model_unit(part, transaction_model.profile_model(row), spend_model, **options)
        frames.append(frame)
    back = np.empty_like(order)
    back[order] = np.arange(order.shape[0])
    return pd.concat(frames, ignore_index=True).iloc[back].reset_index(drop=True), plan


def _score_in_model_unit(
    data: CustomerData, transaction_model, spend_model, *, horizon: float | None, time_unit: str,
    discount_rate: float, margin: float, discount_step: str | float, intervals, n_draws: int, seed: int | None,
    interval_method: str,
) -> tuple[pd.DataFrame, "_IntervalPlan | None"]:
    """The score columns and the interval plan, with data, horizon and model all in ``time_unit``."""
    margin = _checked_margin(margin)
    x, t_x, T, m, customer_id = _summary_columns(data, transaction_model, spend_model)
    check_annual_rate(discount_rate)
    if horizon is not None:
        _step_ends(transaction_model, horizon, time_unit, discount_step)  # checks the units before work starts
    plan = (_IntervalPlan.checked(transaction_model, spend_model, intervals, n_draws, seed, interval_method)
            if intervals else None)
    money = clean_monetary_value(x, m, has_spend_model=spend_model is not None) if m is not None else None
    spend_z = _spend_covariates(data, spend_model)
    histories = compress({"x": x, "t_x": t_x, "T": T})
    hx, ht, hT = (histories.columns[k] for k in ("x", "t_x", "T"))
    groups = reference_groups(transaction_model, hx, hT)
    # Intervals and point columns are independent: the interval draws run on a second thread (NumPy
    # releases the GIL in its loops), from as soon as the distinct (x, T) are known (closed form) or the
    # forecast rows (factorised); tasks run in submission order. The intervals use their own random
    # generator (parameters) and draws keyed per row (process noise), so the result depends neither on
    # scheduling nor on which other customers are scored with these.
    with ThreadPoolExecutor(max_workers=1) as pool:
        rng = np.random.default_rng(plan.seed) if plan is not None else None
        reference = quantiles = purchases_q = None
        if plan is not None and plan.method == "closed":
            reference = pool.submit(closed_form_reference, transaction_model, spend_model, groups.columns["x"],
                                    groups.columns["T"], horizon=horizon, n_draws=plan.n_draws, rng=rng,
                                    seed=plan.key_seed)
        rows = forecast_rows_in_groups(transaction_model, hx, ht, hT, groups)
        if plan is not None and plan.method != "simulate":
            quantiles = pool.submit(plan.history_quantiles, transaction_model, spend_model, rows, horizon, rng, reference)
            purchases_q = pool.submit(_expanded_columns, quantiles, "purchases", histories)
        forecast = forecast_from_rows(transaction_model, rows, horizon=horizon, time_unit=time_unit,
                                      discount_rate=discount_rate, discount_step=discount_step)
        simulated = None
        if plan is not None and plan.method == "simulate":
            simulated = pool.submit(_simulated, transaction_model, spend_model, x, t_x, T, money, histories, forecast,
                                    margin, horizon=horizon, plan=plan, rng=rng, spend_z=spend_z)
        out = {"customer_id": customer_id,
               **_point_columns(spend_model, x, money, histories, forecast, margin, spend_z)}
        if plan is not None:
            if simulated is not None:
                purchases_columns, clv_columns = simulated.result()
            else:
                clv_columns = None if money is None else _expanded_columns(
                    quantiles, "money", histories, _clv_scale(spend_model, x, money, histories, forecast, margin,
                                                              spend_z))
                purchases_columns = purchases_q.result()
            out.update(plan.columns(purchases_columns, clv_columns))
    if horizon is None:  # undiscounted lifetime purchases can be infinite: their discounted sum instead
        del out["expected_purchases"]
        out = {"customer_id": out.pop("customer_id"), "p_alive": out.pop("p_alive"),
               "discounted_purchases": histories.expand(forecast.discounted), **out}
    require_valid_scores(out, transaction_model, x, t_x, T)
    return pd.DataFrame(out, copy=False), plan


def require_valid_scores(columns: dict, model, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    """Raise :class:`clv.errors.FitError` unless every score is finite and in range.

    P(alive) in [0, 1]; counts, spend and CLV >= 0 (money may be negative only
    where the customer's own monetary value is); every interval column finite
    and each lower quantile <= the higher one. A score outside these is not
    written: the message names the first customer concerned, what was wrong
    and what to do.

    Parameters
    ----------
    columns : dict of str to numpy.ndarray
        The score columns by name (``customer_id`` is skipped).
    model : fitted purchase model
        Named in the message.
    x, t_x, T : numpy.ndarray
        The histories, quoted in the message.

    Raises
    ------
    FitError
        A score is NaN, infinite, negative or (P(alive)) above 1.
    """
    for name, values in columns.items():
        if name == "customer_id" or name in ("expected_spend", "clv") or name.startswith("clv_q"):
            continue  # money: a refund-only customer may have a negative mean order; checked for finiteness below
        values = np.asarray(values, dtype=float)
        high = 1.0 if name == "p_alive" else np.inf
        _require_in_range(name, values, 0.0, high, model, x, t_x, T)
    for name, values in columns.items():
        if name in ("expected_spend", "clv") or name.startswith("clv_q"):
            _require_in_range(name, np.asarray(values, dtype=float), -np.inf, np.inf, model, x, t_x, T)
    for prefix in ("purchases_q", "clv_q"):
        names = sorted((n for n in columns if n.startswith(prefix)), key=lambda n: float(n[len(prefix):]))
        for lower, upper in itertools.pairwise(names):
            crossed = np.asarray(columns[lower], dtype=float) > np.asarray(columns[upper], dtype=float)
            if crossed.any():
                row = int(np.flatnonzero(crossed)[0])
                raise FitError(f"{_model_label(model)}: the prediction quantile {lower} is above {upper} for "
                               f"{crossed.sum()} customers (first: row {row}, {_history(x, t_x, T, row)}). "
                               "Fix: raise n_draws or score without intervals (intervals=None).")


def _require_in_range(name, values, low, high, model, x, t_x, T) -> None:
    bad = ~np.isfinite(values) | (values < low) | (values > high)
    if not bad.any():
        return
    row = int(np.flatnonzero(bad)[0])
    raise FitError(
        f"{_model_label(model)} gives no valid {name} for {int(bad.sum())} of {values.size} customers (first: row "
        f"{row}, {_history(x, t_x, T, row)}: {name} = {values[row]!r}); nothing was written. The fitted parameters "
        f"({_parameters(model)}) are probably at the edge of what the data identify. Fix: {_simpler_model()}use a "
        "longer calibration period or more customers, or check the time unit."
    )


def _simpler_model() -> str:
    """The simpler model to suggest: the NBD (no dropout) where it is registered."""
    from clv.models import model_names

    return "refit with the NBD model, which has no dropout (--model nbd), " if "nbd" in model_names("purchase") else ""


def _model_label(model) -> str:
    return getattr(model, "model_name", "") or type(model).__name__


def _history(x, t_x, T, row: int) -> str:
    return f"frequency={x[row]:g}, recency={t_x[row]:g}, T={T[row]:g}"


def _parameters(model) -> str:
    params = getattr(model, "params_", None) or {}
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items()) or "unknown"


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


def _summary_columns(data: CustomerData, model, spend_model):
    summary = data.table
    t_column = "T" if "T" in summary.columns or "n_periods" not in summary.columns else "n_periods"
    x, t_x, T = data.rfm(t_column)  # names a missing column, then the first invalid row
    if "monetary_value" in summary.columns:
        m = summary["monetary_value"].to_numpy(dtype=float)
    elif spend_model is not None and summary_is_log(data):
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


def _spend_covariates(data: CustomerData, spend_model) -> np.ndarray | None:
    """The (n, k) covariates of a spend model fitted with them, from the customer data's columns; else None.

    Parameters
    ----------
    data : CustomerData
        The customers scored; with covariates attached (:func:`clv.summary.attach_covariates`)
        its table holds the encoded covariate columns.
    spend_model : SpendModel or None
        The spend model; only a Gamma-Gamma fitted with covariates (``has_covariates``) needs them.

    Returns
    -------
    numpy.ndarray or None

    Raises
    ------
    clv.errors.DataError
        When the data lack a covariate column the spend model was fitted with.
    """
    if spend_model is None or not getattr(spend_model, "has_covariates", False):
        return None
    names = list(spend_model.covariate_names_)
    missing = [n for n in names if n not in data.table.columns]
    if missing:
        raise DataError(f"the spend model was fitted with covariates {names} but the customer data lack "
                        f"{missing}. Fix: attach the same covariates to the data scored "
                        "(clv.summary.attach_covariates), or use a spend model fitted without covariates.")
    return data.table[names].to_numpy(dtype=float)


def _point_columns(spend_model, x, money, histories, forecast, margin, spend_z=None) -> dict[str, np.ndarray]:
    """p_alive, expected_purchases and, with money, expected_spend and clv per customer."""
    out = {"p_alive": histories.expand(forecast.p_alive), "expected_purchases": histories.expand(forecast.expected)}
    if money is not None and spend_z is not None:
        spend = np.asarray(spend_model.expected_spend(x, money, covariates=spend_z), dtype=float)
        out.update(expected_spend=spend, clv=margin * spend * histories.expand(forecast.discounted))
    elif money is not None:
        spend = money if spend_model is None else _linear_in_m(spend_model, x, money, _frequency_groups(histories))
        clv = margin * spend
        clv *= histories.expand(forecast.discounted)
        out.update(expected_spend=spend, clv=clv)
    return out


def _clv_scale(spend_model, x, money, histories, forecast, margin, spend_z=None) -> np.ndarray:
    """CLV per unit of standardised money: ``spend scale * margin * mean discount`` per customer."""
    scale = spend_scale(spend_model, x, money, spend_z)
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
    """The checked interval options: levels, method, draws, seed.

    ``key_seed`` keys the per-row process-noise draws (:mod:`clv.scores.keyed_random`):
    ``seed``, or for ``seed=None`` a fresh random one (unreproducible, as asked).
    """

    levels: np.ndarray
    method: str
    n_draws: int
    seed: int | None
    uncertainty: str
    key_seed: int

    @classmethod
    def checked(cls, model, spend_model, intervals, n_draws, seed, method) -> "_IntervalPlan":
        n_draws = int(n_draws)
        if n_draws < 10:
            raise DataError(f"n_draws must be at least 10 for quantiles to mean anything, got {n_draws}.")
        levels = quantile_levels(intervals)
        key_seed = int(seed) if seed is not None else int(np.random.default_rng().integers(2**63))
        return cls(levels, choose_method(model, method), n_draws, seed, interval_uncertainty(model, spend_model),
                   key_seed)

    def history_quantiles(self, model, spend_model, rows, horizon: float, rng, reference=None):
        """Per distinct history: purchase and standardised money quantiles ("closed" or "factorised").

        ``reference``: the future of the closed form's :func:`closed_form_reference` drawn with ``rng``.
        """
        if self.method == "closed":
            return closed_form_quantiles(model, spend_model, rows, horizon=horizon, levels=self.levels,
                                         n_draws=self.n_draws, rng=rng, seed=self.key_seed,
                                         reference=reference.result() if reference is not None else None)
        return factorised_quantiles(model, spend_model, rows, horizon=horizon, levels=self.levels,
                                    n_draws=self.n_draws, rng=rng, seed=self.key_seed)

    def columns(self, purchases_q: list[np.ndarray], clv_q: list[np.ndarray] | None) -> dict[str, np.ndarray]:
        columns = {quantile_name("purchases", u): purchases_q[j] for j, u in enumerate(self.levels)}
        if clv_q is not None:
            columns.update({quantile_name("clv", u): clv_q[j] for j, u in enumerate(self.levels)})
        return columns

    @property
    def result_fields(self) -> dict:
        """The interval settings as :class:`clv.scores.Scores` fields."""
        return dict(interval_method=self.method, n_draws=self.n_draws, seed=self.seed,
                    interval_uncertainty=self.uncertainty,
                    quantile_level_mc_sd={f"{u:g}": monte_carlo_level_sd(u, self.n_draws) for u in self.levels})


def _simulated(model, spend_model, x, t_x, T, money, histories, forecast, margin, *, horizon, plan, rng, spend_z=None):
    """Full simulation per distinct (history, monetary value[, spend covariates]): money enters the draws.

    Returns the per-customer purchase and CLV quantile columns (CLV None without money).
    """
    money_or_zero = money if money is not None else np.zeros_like(x)
    columns = {"x": x, "t_x": t_x, "T": T, "m": money_or_zero}
    if spend_z is not None:
        columns.update({f"spend_z{j}": spend_z[:, j] for j in range(spend_z.shape[1])})
    rows = compress(columns)
    clv_scale = margin * forecast.mean_discount[histories.inverse][_first_rows(rows)]
    z_rows = None if spend_z is None else np.column_stack([rows.columns[f"spend_z{j}"] for j in range(spend_z.shape[1])])
    inputs = IntervalInputs(rows.columns["x"], rows.columns["t_x"], rows.columns["T"], rows.columns["m"], clv_scale,
                            z_rows)
    result = simulate_quantiles(model, spend_model, inputs, horizon=horizon, levels=plan.levels, n_draws=plan.n_draws,
                                rng=rng, seed=plan.key_seed)
    purchases_q = [rows.expand(result.purchases[:, j]) for j in range(plan.levels.size)]
    clv_q = [rows.expand(result.clv[:, j]) for j in range(plan.levels.size)] if money is not None else None
    return purchases_q, clv_q


def _first_rows(packed) -> np.ndarray:
    """Index of the first original row of each distinct row."""
    first = np.full(packed.n_distinct, -1, dtype=np.intp)
    rows = np.arange(packed.inverse.shape[0])[::-1]
    first[packed.inverse[::-1]] = rows
    return first
