"""When will each customer buy next? Chances of a purchase soon, the next order's date, P(alive) later.

Everything here comes from one curve per customer, the chance of *no*
purchase in the window ``(T, T + t]`` after the observation end given the
history (``x, t_x, T``),

    S(t) = P(Y(t) = 0 | x, t_x, T) = 1 - P(alive) + P(alive) P(Y(t) = 0 | alive),

a survival curve of the time to the next purchase. It does not fall to 0: a
customer who has left never buys again, so ``1 - S(t)`` rises towards the
chance of ever buying again.

* P(at least one purchase in the next N days) = ``1 - S(N days)``.
* The next order: the ``u``-quantile of the time to the next purchase is the
  first ``t`` with ``1 - S(t) >= u``. When ``1 - S`` stays below ``u`` over the
  whole search window (``search_years``, default 3 years), that quantile is
  not a date: the next order is "not expected within 3 years" (the customer
  may have left, or buys rarely). The median with an 80% range is the 10%,
  50% and 90% quantiles; an open upper end is said in words, never replaced by
  a made-up date.
* P(alive) at a future date: ``P(alive at T + t | x, t_x, T)``.

Closed forms (``PurchaseCapabilities.closed_form_timing``; the formulas and
sources are in each model's :meth:`~clv.models.PurchaseModel.probability_no_purchase`
and :meth:`~clv.models.PurchaseModel.probability_alive_at`): BG/NBD and
MBG/NBD (Fader, Hardie & Lee 2005), Pareto/NBD (Fader & Hardie, notes/028),
NBD, BG/BB (Fader, Hardie & Shang 2010).

Simulation route (models without them): ``S(t)`` is the share of zero draws
among ``n_draws`` draws of :meth:`~clv.models.PurchaseModel.sample_future_purchases`
per distinct history, at :data:`SIMULATION_GRID_POINTS` times spread evenly
over the search window (the same random numbers at every time), made
non-increasing in ``t`` by a running minimum; quantiles are read from the grid
by linear interpolation, so they are as precise as the grid step (about 16 days
over 3 years) and the Monte Carlo error of a share (``sqrt(S (1 - S) /
n_draws)``, 0.022 at S = 0.5 and 500 draws). P(alive) at a future date has no
simulation route (the contract draws purchases, not lifetimes): those columns
are then left out and the result's ``notes`` say so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError
from clv.models.contract import purchase_capabilities
from clv.result_table import ResultTable
from clv.summary import CustomerData, as_customer_data
from clv.summary.compress import compress
from clv.units import convert_duration, days_per_unit

SIMULATION_GRID_POINTS = 72
SIMULATION_DRAWS_PER_CALL = 500_000
BISECTION_STEPS = 36  # halvings of the search window: 3 years / 2**36 is far below a second


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PurchaseTiming(ResultTable):
    """Per-customer next-purchase timing: chances of a purchase soon, the next order's date, P(alive) later.

    Returned by :func:`purchase_timing`. Columns: ``customer_id``;
    ``p_purchase_{N}d`` (at least one purchase in the next N days) per
    ``within_days`` and ``p_purchase_{Y}y`` over the search window;
    ``next_order_days_q{u}`` (days after the observation end, ``inf`` when not
    within the search window) per quantile level and, when the observation end
    is known, ``next_order_q{u}`` as calendar dates (NaT when not within the
    window); ``next_order`` in words; ``p_alive_{N}d`` (P(alive) N days after
    the observation end) per ``alive_in_days`` when the model has closed forms.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer, in the order of the customer data.
    model : str
        Registry name of the purchase model.
    time_unit : str
        Unit of the customer data.
    quantiles : tuple of float
        The quantile levels of the next order's time.
    search_years : float
        The search window of the next order, in years after the observation end.
    method : str
        ``"closed form"`` or ``"simulation"`` (see :mod:`clv.scores.timing`).
    n_draws : int or None
        Draws per distinct history of the simulation route (None for closed forms).
    observation_end : datetime.date or None
        The last day observed: day 0 of every date here.
    notes : tuple of str
        What was left out and why.
    """

    model: str
    time_unit: str
    quantiles: tuple[float, ...]
    search_years: float
    method: str
    n_draws: int | None = None
    observation_end: dt.date | None = None
    notes: tuple[str, ...] = ()


def purchase_timing(
    summary: CustomerData | pd.DataFrame,
    transaction_model,
    *,
    time_unit: str | None = None,
    within_days: Sequence[float] = (30, 90),
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    alive_in_days: Sequence[float] = (365,),
    search_years: float = 3.0,
    n_draws: int = 500,
    seed: int | None = 0,
) -> PurchaseTiming:
    """Per customer: P(a purchase in the next N days), the next order's date with a range, P(alive) later.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        Customer data (:func:`clv.summary.summarize`: it carries its time unit
        and observation end, which turns times into calendar dates), or a plain
        table with frequency, recency, T (``n_periods`` for BG/BB) and optional
        customer_id.
    transaction_model : fitted purchase model
        Any registered purchase model; one fitted in another time unit gets the
        data converted to its unit (as :func:`clv.scores.score_customers` does).
    time_unit : str, optional
        Unit of a plain table's durations (customer data carries its own).
    within_days : sequence of float
        Windows N (days after the observation end) of the columns
        ``p_purchase_{N}d``: the chance of at least one purchase,
        ``1 - P(Y(N days) = 0 | history)``.
    quantiles : sequence of float
        Levels u in (0, 1) of the time to the next order (default: 10%, 50%,
        90%: the median and an 80% range).
    alive_in_days : sequence of float
        Days N after the observation end of the columns ``p_alive_{N}d``
        (closed-form models only).
    search_years : float
        How far ahead the next order is looked for (default 3 years): a quantile
        not reached by then is "not within 3 years".
    n_draws : int
        Draws per distinct history of the simulation route (models without
        closed forms); not used otherwise.
    seed : int, optional
        Seed of the simulation route.

    Returns
    -------
    PurchaseTiming
        The columns above and the settings (:class:`PurchaseTiming`).

    Raises
    ------
    DataError
        Bad options (named), a plain table without ``time_unit``, invalid histories.

    Notes
    -----
    See :mod:`clv.scores.timing` for the definitions. Work is done once per
    distinct history (x, t_x, T) and vectorised: the quantiles are found by
    bisection on all distinct histories and levels at once (closed forms).

    Examples
    --------
    >>> import pandas as pd
    >>> from clv.models import BetaGeoModel
    >>> model = BetaGeoModel()
    >>> model.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> customers = pd.DataFrame({"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86]})
    >>> timing = purchase_timing(customers, model, time_unit="week")
    >>> timing["p_purchase_30d"].round(3).tolist()
    [0.139, 0.023]
    >>> timing["next_order"].tolist()
    ['in 207 days (not before 21 days with 90% chance; maybe not within 3 years)',
     'no purchase expected within 3 years (chance of one: 31%)']
    """
    from clv.scores.score import _in_model_unit, _summary_columns

    data = as_customer_data(summary, time_unit)
    require_no_covariates(data, "purchase_timing")
    levels = _checked_levels(quantiles)
    within = _checked_days(within_days, "within_days")
    alive_days = _checked_days(alive_in_days, "alive_in_days")
    search_years = _checked_positive(search_years, "search_years")
    in_model_unit, _, unit = _in_model_unit(data, transaction_model, None)
    x, t_x, T, _, customer_id = _summary_columns(in_model_unit, transaction_model, None)
    histories = compress({"x": x, "t_x": t_x, "T": T})
    hx, ht, hT = (histories.columns[k] for k in ("x", "t_x", "T"))
    curve = _no_purchase_curve(transaction_model, hx, ht, hT, unit, search_years, n_draws, seed)
    window = curve.window
    out: dict[str, Any] = {"customer_id": customer_id}
    for days in within:
        out[f"p_purchase_{days:g}d"] = histories.expand(1.0 - curve.at(_days_in(days, unit, curve.discrete))[:, 0])
    p_window = 1.0 - curve.at(np.array([window]))[:, 0]
    out[f"p_purchase_{search_years:g}y"] = histories.expand(p_window)
    in_days = curve.quantiles(levels) * days_per_unit(unit)
    for j, u in enumerate(levels):
        out[f"next_order_days_{_level_name(u)}"] = histories.expand(in_days[:, j])
    if data.observation_end is not None:
        for j, u in enumerate(levels):
            out[f"next_order_{_level_name(u)}"] = _dates(data.observation_end, histories.expand(in_days[:, j]))
    out["next_order"] = histories.expand(_in_words(in_days, levels, data.observation_end, search_years, p_window))
    notes = []
    if purchase_capabilities(transaction_model).closed_form_timing:
        for days in alive_days:
            t = _days_in(days, unit, curve.discrete)
            out[f"p_alive_{days:g}d"] = histories.expand(
                np.asarray(transaction_model.probability_alive_at(t[0], hx, ht, hT), dtype=float))
    elif alive_days:
        notes.append(f"P(alive) at a future date is not available for {_name(transaction_model)}: it has no closed "
                     "form (capabilities.closed_form_timing) and its simulation draws purchases, not lifetimes.")
    if curve.discrete:
        notes.append(f"{_name(transaction_model)} counts whole {unit}s: windows and dates are rounded up to whole "
                     f"{unit}s.")
    return PurchaseTiming(
        pd.DataFrame(out, copy=False), model=_name(transaction_model), time_unit=data.time_unit,
        quantiles=tuple(float(u) for u in levels), search_years=search_years, method=curve.method,
        n_draws=None if curve.method == "closed form" else int(n_draws), observation_end=data.observation_end,
        notes=tuple(notes),
    )


@dataclasses.dataclass(frozen=True)
class _NoPurchaseCurve:
    """``S(t) = P(Y(t) = 0 | history)`` per distinct history: exact, or a simulated grid."""

    model: Any
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    window: float  # the search window, in the model's unit
    discrete: bool
    grid: np.ndarray | None = None  # simulation route: times (m,) and S on them (n, m)
    values: np.ndarray | None = None

    @property
    def method(self) -> str:
        return "closed form" if self.grid is None else "simulation"

    def at(self, times: np.ndarray) -> np.ndarray:
        """S at ``times`` (m,) for every history: (n, m)."""
        times = np.asarray(times, dtype=float)
        if self.grid is None:
            return np.asarray(self.model.probability_no_purchase(
                times[None, :], self.x[:, None], self.t_x[:, None], self.T[:, None]), dtype=float)
        grid = np.concatenate(([0.0], self.grid))
        values = np.concatenate((np.ones((self.x.shape[0], 1)), self.values), axis=1)
        return _interp_rows(times, grid, values)

    def quantiles(self, levels: np.ndarray) -> np.ndarray:
        """(n, k): the first time with ``1 - S >= u`` per level u; inf when not within the window."""
        if self.grid is not None:
            return _grid_quantiles(self.grid, self.values, levels)
        n, k = self.x.shape[0], levels.shape[0]
        history = (np.repeat(column, k) for column in (self.x, self.t_x, self.T))
        x, t_x, T = history
        target = np.tile(levels, n)
        low, high = np.zeros(n * k), np.full(n * k, self.window)
        reached = 1.0 - np.asarray(self.model.probability_no_purchase(high, x, t_x, T), dtype=float) >= target
        steps = math.ceil(math.log2(max(self.window, 1.0))) + 1 if self.discrete else BISECTION_STEPS
        for _ in range(steps):
            middle = np.floor((low + high) / 2.0) if self.discrete else (low + high) / 2.0
            bought = 1.0 - np.asarray(self.model.probability_no_purchase(middle, x, t_x, T), dtype=float) >= target
            high = np.where(bought, middle, high)
            low = np.where(bought, low, middle)
        result = np.where(reached, high, np.inf)
        return result.reshape(n, k)


def _no_purchase_curve(model, x, t_x, T, unit: str, search_years: float, n_draws: int, seed) -> _NoPurchaseCurve:
    capabilities = purchase_capabilities(model)
    window = convert_duration(search_years, "year", unit)
    if capabilities.discrete_time:
        window = float(math.ceil(window - 1e-9))
    if capabilities.closed_form_timing:
        return _NoPurchaseCurve(model, x, t_x, T, window, capabilities.discrete_time)
    n_draws = int(n_draws)
    if n_draws < 50:
        raise DataError(f"n_draws must be at least 50 for the simulated chance of no purchase, got {n_draws}.")
    grid = window * np.arange(1, SIMULATION_GRID_POINTS + 1) / SIMULATION_GRID_POINTS
    if capabilities.discrete_time:
        grid = np.unique(np.ceil(grid))
    values = _simulated_no_purchase(model, x, t_x, T, grid, n_draws, seed)
    return _NoPurchaseCurve(model, x, t_x, T, window, capabilities.discrete_time, grid, values)


def _simulated_no_purchase(model, x, t_x, T, grid, n_draws: int, seed) -> np.ndarray:
    """Share of zero draws of ``sample_future_purchases`` per history and grid time, non-increasing in time.

    The same seed at every time (common random numbers) keeps the curve
    nearly monotone before the running minimum.
    """
    values = np.empty((x.shape[0], grid.shape[0]))
    block = max(1, SIMULATION_DRAWS_PER_CALL // n_draws)  # histories per call: the draws stay a few MB
    for start in range(0, x.shape[0], block):
        rows = slice(start, start + block)
        rx, rt, rT = (np.repeat(column[rows], n_draws) for column in (x, t_x, T))
        for j, t in enumerate(grid):  # one vectorised draw of every (history, draw) of the block per grid time
            rng = np.random.default_rng(None if seed is None else [seed, start])
            draws = np.asarray(model.sample_future_purchases(t, rx, rt, rT, rng=rng), dtype=float)
            values[rows, j] = (draws.reshape(-1, n_draws) == 0).mean(axis=1)
    return np.minimum.accumulate(values, axis=1)


def _interp_rows(times: np.ndarray, grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation of every row of ``values`` (on ``grid``) at ``times``, vectorised."""
    place = np.clip(np.searchsorted(grid, times, side="right") - 1, 0, grid.shape[0] - 2)
    left, right = grid[place], grid[place + 1]
    weight = np.clip((times - left) / (right - left), 0.0, 1.0)
    return values[:, place] * (1.0 - weight) + values[:, place + 1] * weight


def _grid_quantiles(grid: np.ndarray, values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """First time with ``1 - S >= u`` by linear interpolation on the grid (S non-increasing); inf if never."""
    times = np.concatenate(([0.0], grid))
    bought = 1.0 - np.concatenate((np.ones((values.shape[0], 1)), values), axis=1)  # non-decreasing
    out = np.full((values.shape[0], levels.shape[0]), np.inf)
    for j, u in enumerate(levels):
        above = bought >= u
        reached = above[:, -1]
        first = np.argmax(above, axis=1)
        rows = np.flatnonzero(reached & (first > 0))
        lo, hi = first[rows] - 1, first[rows]
        b_lo, b_hi = bought[rows, lo], bought[rows, hi]
        share = np.divide(u - b_lo, b_hi - b_lo, out=np.ones_like(b_lo), where=b_hi > b_lo)
        out[rows, j] = times[lo] + share * (times[hi] - times[lo])
        out[reached & (first == 0), j] = 0.0
    return out


def _days_in(days: np.ndarray | float, unit: str, discrete: bool) -> np.ndarray:
    """Days as durations in the model's unit (whole periods, rounded up, for discrete-time models)."""
    t = np.atleast_1d(np.asarray(days, dtype=float)) / days_per_unit(unit)
    return np.ceil(t - 1e-9) if discrete else t


def _dates(start: dt.date, days: np.ndarray) -> pd.Series:
    """``start`` plus whole days (rounded up: the day the chance is reached), NaT where ``days`` is inf."""
    finite = np.isfinite(days)
    offsets = pd.to_timedelta(np.where(finite, np.ceil(days), 0.0), unit="D")
    dates = pd.Series(pd.Timestamp(start) + offsets)
    return dates.where(finite, pd.NaT).to_numpy()


def _in_words(days: np.ndarray, levels: np.ndarray, observation_end: dt.date | None, search_years: float,
              p_window: np.ndarray) -> np.ndarray:
    """The next order in plain words per distinct history: the median and the range, or 'not expected'.

    Vectorised (pandas string operations): "around 2011-02-03 (80% chance
    between 2011-01-10 and 2011-05-01)", "around 2011-02-03 (not before
    2011-01-10 with 90% chance; maybe not within 3 years)", "no purchase expected within 3 years
    (chance of one: 31%)"; days instead of dates when the observation end is
    unknown. ``p_window``: the chance of a purchase within the search window.
    """
    window = f"within {search_years:g} year{'s' if search_years != 1 else ''}"
    middle = int(np.argmin(np.abs(levels - 0.5)))
    has_range = levels.shape[0] > 1 and levels[0] < levels[middle] < levels[-1]

    def when(column: np.ndarray) -> pd.Series:
        finite = np.isfinite(column)
        whole = np.where(finite, np.ceil(np.where(finite, column, 0.0)), 0.0)
        if observation_end is None:
            return pd.Series(whole.astype(np.int64)).astype(str) + " days"
        dates = pd.Timestamp(observation_end) + pd.to_timedelta(whole, unit="D")
        return pd.Series(dates.strftime("%Y-%m-%d"))

    centre = days[:, middle]
    text = ("in " if observation_end is None else "around ") + when(centre)
    if has_range:
        low, high = when(days[:, 0]), when(days[:, -1])
        inside, after = f"{100 * (levels[-1] - levels[0]):.0f}%", f"{100 * (1 - levels[0]):.0f}%"
        closed = f" ({inside} chance between " + low.str.removesuffix(" days") + " and " + high + ")"
        open_ended = " (not before " + low + f" with {after} chance; maybe not " + window + ")"
        text = text + pd.Series(np.where(np.isfinite(days[:, -1]), closed, open_ended))
    chance = pd.Series(np.round(100 * p_window).astype(np.int64)).astype(str)
    never = f"no purchase expected {window} (chance of one: " + chance + "%)"
    return np.where(np.isfinite(centre), text.to_numpy(dtype=object), never.to_numpy(dtype=object)).astype(object)


def _level_name(level: float) -> str:
    return f"q{100 * level:g}"


def _name(model) -> str:
    return getattr(model, "model_name", "") or type(model).__name__


def _checked_levels(quantiles: Sequence[float]) -> np.ndarray:
    try:
        levels = np.sort(np.asarray(list(quantiles), dtype=float))
    except (TypeError, ValueError):
        raise DataError(f"quantiles must be numbers in (0, 1), e.g. (0.1, 0.5, 0.9); got {quantiles!r}.") from None
    if levels.size == 0 or not np.all((levels > 0) & (levels < 1)) or np.unique(levels).size != levels.size:
        raise DataError(f"quantiles must be distinct numbers in (0, 1), e.g. (0.1, 0.5, 0.9); got {quantiles!r}.")
    return levels


def _checked_days(days: Sequence[float], argument: str) -> np.ndarray:
    try:
        values = np.asarray(list(days), dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{argument} must be numbers of days > 0, e.g. (30, 90); got {days!r}.") from None
    if not np.all(np.isfinite(values) & (values > 0)):
        raise DataError(f"{argument} must be finite numbers of days > 0, e.g. (30, 90); got {days!r}.")
    return values


def _checked_positive(value: float, argument: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{argument} must be a number > 0, got {value!r}.") from None
    if not (math.isfinite(number) and number > 0):
        raise DataError(f"{argument} must be a finite number > 0, got {value!r}.")
    return number



def require_no_covariates(data: CustomerData, function: str) -> None:
    """Refuse customer data with covariates: ``function`` does not pass them to the model yet.

    Parameters
    ----------
    data : CustomerData
        What is about to be scored.
    function : str
        The public function's name, for the message.

    Raises
    ------
    clv.errors.DataError
        When ``data`` carries covariates (a model fitted with them would be read without them).
    """
    if getattr(data, "covariates", None) is not None:
        raise DataError(
            f"{function} does not use covariates yet, and a model fitted with them would be read without them. Fix: "
            "fit and score with data.without_covariates()."
        )


__all__ = ["PurchaseTiming", "purchase_timing"]
