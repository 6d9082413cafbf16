"""Recalibrated prediction intervals: split-conformal levels learnt on a backtest inside the calibration period.

Why the model's intervals miss their nominal coverage
-----------------------------------------------------
Measured on real data, the central 80% / 95% intervals of :mod:`clv.scores.intervals`
cover holdout purchases 92% / 97% of the time on CDNOW, 95% / 99% on the apparel data,
and even 94% / 98% on a synthetic store simulated from the BG/NBD itself. Three causes:

1. **Discrete counts.** A central interval of a count is ``[q_{(1-c)/2}, q_{(1+c)/2}]``
   with inverse-CDF quantiles; it holds at least ``c`` of the mass, and much more when a
   few values carry most of it. A customer with ``P(Y = 0) = 0.85`` gets the 80% interval
   ``[0, 1]`` or ``[0, 0]`` whatever the nominal level between 0 and 0.7: most customers
   of a holdout window buy 0 or 1 time, so aggregate coverage is far above nominal even
   when the model is true (the synthetic store). Value has the same atom at 0.
2. **Parameter uncertainty** is propagated (:func:`clv.scores.intervals.parameter_draws`),
   but only through the asymptotic normal approximation.
3. **Misspecification** (a real population is not a BG/NBD mixture; the spend model is
   fitted on repeat buyers only) makes intervals too wide for some customers and too
   narrow for others (e.g. Online Retail's growing, wholesale customer base).

Only 1. is known in closed form, and 3. can go either way, so the intervals are
recalibrated from the data itself.

The method: Mondrian split-conformal calibration of the nominal level
---------------------------------------------------------------------
The conformity score of a customer is the smallest nominal coverage ``c`` whose model
interval contains what the customer did; central quantile intervals are nested in ``c``,
so the interval at nominal ``c'`` covers a customer exactly when the score is ``<= c'``,
and choosing ``c'`` as the conformal quantile of the scores is split-conformal prediction
(Vovk, Gammerman & Shafer 2005, "Algorithmic Learning in a Random World", ch. 2 and 4.5;
Romano, Patterson & Candès 2019, "Conformalized quantile regression", NeurIPS, for
conformalising a model's quantiles). The scores are learnt on a backtest that sees only
data before the scoring origin (the calibration end):

* **inner split**: the calibration period ``[first order, calibration end]`` is cut at
  ``inner end = calibration end - min(horizon, half the calibration period)`` (whole days):
  the inner holdout has the scoring horizon when it fits, else half the calibration period
  (the rule of the RFM baseline's :func:`clv.backtest.split.inner_split`);
* the same purchase model (same class, default options; for a model the ladder chose, the
  model it used) and spend model are refitted on the inner calibration (when the purchase
  model's refit is refused, e.g. no dropout detectable in the shorter window, the fitted
  model's own parameters are used and a note says so), and every inner customer is scored over the inner holdout with the
  model intervals at every nominal coverage of :data:`COVERAGE_GRID`;
* **strata** (Mondrian conformal prediction, Vovk et al. 2005, section 4.5): customers are
  grouped by their expected purchases in the window (edges :data:`STRATUM_EDGES`). Two
  customers with the same expected purchases have predictive distributions of about the
  same shape (mass at 0, discreteness), whether the window is the inner one or the real
  horizon; a level learnt per stratum therefore carries over to a horizon of a different
  length much better than one pooled level (measured: CDNOW master 80% purchases 0.771
  pooled -> 0.809 per stratum). A stratum with fewer than :data:`MIN_STRATUM_CUSTOMERS`
  inner customers takes the pooled level;
* **level**: per quantity (purchases, value), target coverage ``c`` and stratum, the grid
  coverage ``c'`` whose inner holdout coverage is nearest to ``c`` (:func:`conformal_level`:
  the conformity-score quantile aimed at the target itself rather than the conformal lower
  bound ``ceil((n + 1) c) / n``, because the target is a band; a target beyond the top of
  the grid is stated in :attr:`IntervalCalibration.notes`);
* **scoring**: each customer's ``c``-interval is the model interval at its stratum's ``c'``
  (``purchases_q{(1-c)/2}`` etc. keep their names; :func:`clv.scores.score_customers` with
  ``interval_calibration=``).

Validity and limits: split conformal guarantees coverage ``>= c`` when inner and real
customers are exchangeable; here they are not (another window, a different mix of
customers), so the guarantee is approximate, and the levels are checked on real holdouts
(README "Interval coverage", ``bench/bench_coverage.py``). Coverage is a share of
customers: it says nothing of a single customer's interval. Recalibration needs the order
lines (to cut the calibration period again); scoring a per-customer summary alone leaves
the intervals at their nominal levels, and the result says so (``interval_calibration``
is None).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clv.errors import ClvError, DataError
from clv.scores.intervals import quantile_levels, quantile_name

METHOD = "split-conformal nominal levels per expected-purchases stratum (Mondrian), on a backtest inside the calibration period"
COVERAGE_GRID = tuple(round(float(c), 6) for c in np.r_[np.arange(0.02, 0.981, 0.02), 0.99, 0.995, 0.999])
STRATUM_EDGES = (0.1, 0.3, 1.0, 3.0)  # expected purchases in the window
MIN_STRATUM_CUSTOMERS = 100
PREFIX = {"purchases": "purchases", "value": "clv"}  # quantity -> interval column prefix of Scores


@dataclass(frozen=True)
class IntervalCalibration:
    """How the prediction intervals were recalibrated, and the nominal levels that do it.

    Built by :func:`calibrate_intervals`; travels with what is scored
    (:class:`clv.scores.Scores` ``interval_calibration``, the backtest's settings) as
    :meth:`as_dict`. Method and reasons: :mod:`clv.scores.calibration`.

    Parameters
    ----------
    method : str
        The method, in words (:data:`METHOD`).
    calibration_end : str
        The scoring origin (ISO date): nothing after it was used.
    inner_calibration_end : str
        The end of the inner calibration period (ISO date); the inner holdout is
        ``(inner_calibration_end, calibration_end]``.
    inner_holdout_length : float
        Length of the inner holdout in ``time_unit``.
    time_unit : str
        The time unit of the inner split.
    customers : int
        Customers of the inner calibration (those scored on the inner holdout).
    stratum_edges : tuple of float
        Edges of the strata on expected purchases in the window.
    stratum_customers : tuple of int
        Inner customers per stratum (``len(stratum_edges) + 1`` strata).
    levels : dict
        ``levels[quantity][f"{c:g}"]``: per stratum, the nominal coverage whose model interval
        is reported as the ``c`` interval; quantity ``"purchases"`` or ``"value"``.
    coverage_before : dict
        ``coverage_before[quantity][f"{c:g}"]``: inner holdout coverage of the model's
        nominal ``c`` interval.
    coverage_after : dict
        Same, of the recalibrated interval (in sample: on the customers it was learnt on).
    notes : tuple of str, default ()
        Targets the grid could not reach, strata pooled for too few customers.
    """

    method: str
    calibration_end: str
    inner_calibration_end: str
    inner_holdout_length: float
    time_unit: str
    customers: int
    stratum_edges: tuple[float, ...]
    stratum_customers: tuple[int, ...]
    levels: dict[str, dict[str, tuple[float, ...]]]
    coverage_before: dict[str, dict[str, float]]
    coverage_after: dict[str, dict[str, float]]
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists for tuples); :meth:`from_dict` reads it back.

        Returns
        -------
        dict
            Every field by name.
        """
        return {
            "method": self.method, "calibration_end": self.calibration_end,
            "inner_calibration_end": self.inner_calibration_end,
            "inner_holdout_length": self.inner_holdout_length, "time_unit": self.time_unit,
            "customers": self.customers, "stratum_edges": list(self.stratum_edges),
            "stratum_customers": list(self.stratum_customers),
            "levels": {q: {c: list(v) for c, v in per.items()} for q, per in self.levels.items()},
            "coverage_before": self.coverage_before, "coverage_after": self.coverage_after,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntervalCalibration:
        """The calibration from :meth:`as_dict`'s form (e.g. read from JSON).

        Parameters
        ----------
        data : dict
            As written by :meth:`as_dict`.

        Returns
        -------
        IntervalCalibration
        """
        return cls(
            method=data["method"], calibration_end=data["calibration_end"],
            inner_calibration_end=data["inner_calibration_end"],
            inner_holdout_length=float(data["inner_holdout_length"]), time_unit=data["time_unit"],
            customers=int(data["customers"]), stratum_edges=tuple(data["stratum_edges"]),
            stratum_customers=tuple(data["stratum_customers"]),
            levels={q: {c: tuple(v) for c, v in per.items()} for q, per in data["levels"].items()},
            coverage_before=data["coverage_before"], coverage_after=data["coverage_after"],
            notes=tuple(data.get("notes", ())),
        )

    def __str__(self) -> str:
        parts = []
        for quantity, per in self.coverage_before.items():
            for c, before in per.items():
                parts.append(f"{quantity} {float(c):.0%}: {before:.0%} -> {self.coverage_after[quantity][c]:.0%}")
        return (f"intervals recalibrated ({self.method}): inner backtest {self.inner_calibration_end} + "
                f"{self.inner_holdout_length:.1f} {self.time_unit}s to {self.calibration_end}, "
                f"{self.customers} customers; inner holdout coverage " + ", ".join(parts) + "."
                + ("" if not self.notes else " " + " ".join(self.notes)))

    def nominal_coverages(self, intervals) -> tuple[float, ...]:
        """Every nominal coverage needed to report the ``intervals`` coverages (sorted).

        Parameters
        ----------
        intervals : iterable of float
            The coverages to report, each one calibrated here.

        Returns
        -------
        tuple of float

        Raises
        ------
        clv.errors.DataError
            When a coverage was not calibrated.
        """
        needed = set()
        for coverage in intervals:
            for quantity in self.levels:
                needed.update(self._levels(quantity, coverage))
        return tuple(sorted(needed))

    def customer_levels(self, quantity: str, coverage: float, expected_purchases) -> np.ndarray:
        """Per customer, the nominal coverage of the model interval reported as the ``coverage`` interval.

        Parameters
        ----------
        quantity : {"purchases", "value"}
        coverage : float
            The reported coverage (calibrated here).
        expected_purchases : array-like of float
            Each customer's expected purchases in the window (their stratum).

        Returns
        -------
        numpy.ndarray of float
        """
        strata = np.digitize(np.asarray(expected_purchases, dtype=float), self.stratum_edges)
        return np.asarray(self._levels(quantity, coverage))[strata]

    def _levels(self, quantity: str, coverage: float) -> tuple[float, ...]:
        key = f"{float(coverage):g}"
        if key not in self.levels.get(quantity, {}):
            raise DataError(f"the interval calibration has no {coverage:g} interval for {quantity} (it has "
                            f"{sorted(self.levels.get(quantity, {}))}); calibrate with intervals including {coverage:g}.")
        return self.levels[quantity][key]


def inner_calibration_end(first_order: dt.date, calibration_end: dt.date, horizon_days: float) -> dt.date:
    """``calibration_end - min(horizon, half the calibration period)`` in whole days (at least 1 day).

    Parameters
    ----------
    first_order, calibration_end : datetime.date
        The calibration period.
    horizon_days : float
        The scoring horizon in days.

    Returns
    -------
    datetime.date

    Raises
    ------
    clv.errors.DataError
        When the calibration period is under 2 days.

    Examples
    --------
    >>> import datetime as dt
    >>> inner_calibration_end(dt.date(2020, 1, 1), dt.date(2020, 12, 31), 91.0)
    datetime.date(2020, 10, 1)
    """
    days = min(float(horizon_days), (calibration_end - first_order).days / 2)
    inner_end = calibration_end - dt.timedelta(days=max(1, math.floor(days)))
    if inner_end < first_order:
        raise DataError("the calibration period is under 2 days: too short to recalibrate the intervals; "
                        "pass calibrate_intervals=False (CLI: --no-calibrate-intervals) or use a longer history.")
    return inner_end


def inner_backtest_data(orders: Any, *, calibration_end: Any, horizon: float, time_unit: str, merge: str = "day",
                        first_order: Any = None):
    """The inner split of the calibration period: calibration to :func:`inner_calibration_end`, holdout to ``calibration_end``.

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines; lines after ``calibration_end`` are ignored.
    calibration_end : date-like
        The scoring origin.
    horizon : float
        The scoring horizon in ``time_unit``.
    time_unit : str
        Time unit of the split.
    merge : {"day", "unit"}, default "day"
        Purchases merged per day or per period.
    first_order : date-like, optional
        The day of the first order line, when known (else read from ``orders``).

    Returns
    -------
    CustomerData
        :func:`clv.summary.calibration_holdout` at the inner calibration end, observed to
        ``calibration_end``.

    Raises
    ------
    clv.errors.DataError
        When the calibration period is under 2 days or nobody bought by the inner end.
    """
    import pandas as pd

    from clv.data.orders_table import as_orders_table
    from clv.summary.customers import calibration_holdout, order_date
    from clv.units import DAYS_PER_UNIT

    end = pd.Timestamp(calibration_end).date()
    if first_order is None:
        first_order = order_date(as_orders_table(orders)).min().to_pyarrow().as_py()
    first = pd.Timestamp(first_order).date()
    inner_end = inner_calibration_end(first, end, float(horizon) * DAYS_PER_UNIT[time_unit])
    inner = calibration_holdout(orders, calibration_end=inner_end, observation_end=end, time_unit=time_unit, merge=merge)
    if inner.table.empty:
        raise DataError(f"no customer purchased by the inner calibration end {inner_end}: cannot recalibrate the intervals.")
    return inner


def calibrate_intervals(
    orders: Any, transaction_model, spend_model=None, *, calibration_end: Any, horizon: float,
    time_unit: str = "week", merge: str = "day", intervals=(0.8, 0.95), n_draws: int = 200,
    seed: int | None = 0, inner=None,
) -> IntervalCalibration:
    """Learn the nominal levels that give the ``intervals`` coverages, on a backtest before ``calibration_end``.

    Method, inner split, strata and the conformal level: :mod:`clv.scores.calibration`.
    Orders after ``calibration_end`` are never read.

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines (``load_orders``); later lines may be present, they are ignored.
    transaction_model : fitted purchase model
        Its class is refitted (default options) on the inner calibration period.
    spend_model : fitted Gamma-Gamma model, optional
        Refitted likewise on the inner repeat buyers; without it value uses each customer's
        average spend per purchase period.
    calibration_end : date-like
        The scoring origin: the last day of the data the models were fitted on.
    horizon : float
        The scoring horizon, in ``time_unit``.
    time_unit : str, default "week"
        Time unit of ``horizon`` and of the inner split (the model is refitted in it).
    merge : {"day", "unit"}, default "day"
        Purchases merged per day or per period, as in :func:`clv.summary.summarize`.
    intervals : sequence of float, default (0.8, 0.95)
        Coverages to calibrate.
    n_draws : int, default 200
        Monte Carlo draws of the inner intervals.
    seed : int or None, default 0
        Seed of those draws: the result is deterministic for a given seed.
    inner : CustomerData, optional
        :func:`inner_backtest_data` of the same arguments, when already computed (several
        models calibrated on one split).

    Returns
    -------
    IntervalCalibration

    Raises
    ------
    clv.errors.ClvError
        When the inner period is too short, has no customer, or a model cannot be refitted
        there (the message says which; score without recalibration then).

    Examples
    --------
    >>> from clv.data.synthetic import simulate_orders
    >>> from clv.models import BetaGeoModel
    >>> from clv.summary import summarize
    >>> orders = simulate_orders(500, seed=1, start="2023-01-01", end="2023-12-31")
    >>> model = BetaGeoModel().fit(summarize(orders))
    >>> calibration = calibrate_intervals(orders, model, calibration_end="2023-12-31", horizon=13, intervals=(0.8,))
    >>> sorted(calibration.levels)
    ['purchases', 'value']
    """
    if inner is None:
        inner = inner_backtest_data(orders, calibration_end=calibration_end, horizon=horizon, time_unit=time_unit,
                                    merge=merge)
    covered, expected, note = inner_coverage(inner, transaction_model, spend_model, n_draws=n_draws, seed=seed)
    calibration = _levels_from_coverage(covered, expected, intervals, calibration_end=inner.observation_end,
                                        inner_end=inner.calibration_end, inner_length=float(inner.holdout_length),
                                        time_unit=inner.time_unit)
    return calibration if note is None else dataclasses.replace(calibration, notes=(note, *calibration.notes))


def inner_coverage(inner, transaction_model, spend_model=None, *, n_draws: int = 200, seed: int | None = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Refit on the inner calibration; for each grid coverage, which inner customers the model interval covers.

    Parameters
    ----------
    inner : CustomerData
        :func:`clv.summary.calibration_holdout` of the inner split (with holdout columns).
    transaction_model, spend_model
        Fitted models whose classes are refitted on ``inner``.
    n_draws : int, default 200
        Monte Carlo draws.
    seed : int or None, default 0
        Seed of the draws.

    Returns
    -------
    covered : dict of str to numpy.ndarray of bool
        ``covered[quantity][i, k]``: customer i's inner holdout purchases (value) lies in the
        model interval at nominal ``COVERAGE_GRID[k]`` (value only with amounts).
    expected : numpy.ndarray
        Each inner customer's expected purchases in the inner holdout (their stratum).
    note : str or None
        Why the fitted model scored the inner holdout when its class could not be refitted there.

    Raises
    ------
    clv.errors.ClvError
        When a model cannot be refitted on the inner calibration.
    """
    import pandas as pd

    from clv.scores.score import score_customers
    from clv.summary import CustomerData

    table = inner.table
    x = table["frequency"].to_numpy(float)
    model, note = _refit_purchase_model(transaction_model, inner)
    frame = pd.DataFrame({"frequency": x, "recency": table["recency"].to_numpy(float), "T": table["T"].to_numpy(float)})
    spend = None
    if inner.has_amounts:
        spend = _refit_spend_model(spend_model, table) if spend_model is not None else None
        money = table["monetary_value"] if spend is not None else table["gross_revenue"] / (x + 1)
        frame["monetary_value"] = np.maximum(money.to_numpy(float), 0.0)
    data = CustomerData(frame, time_unit=inner.time_unit, has_amounts=inner.has_amounts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = score_customers(data, model, spend, horizon=float(inner.holdout_length), discount_rate=0.0,
                                 intervals=COVERAGE_GRID, n_draws=n_draws, seed=seed)
    actual = {"purchases": table["frequency_holdout"].to_numpy(float)}
    if inner.has_amounts:
        actual["value"] = (table["frequency_holdout"] * table["monetary_value_holdout"]).to_numpy(float)
    covered = {quantity: _covered(scores, PREFIX[quantity], y) for quantity, y in actual.items()}
    return covered, scores["expected_purchases"].to_numpy(float), note


def _covered(scores, prefix: str, actual: np.ndarray) -> np.ndarray:
    """(customers, grid) booleans: actual within the nominal-c interval (closed), c over the grid."""
    out = np.empty((actual.shape[0], len(COVERAGE_GRID)), dtype=bool)
    tolerance = 1e-9 * np.maximum(1.0, np.abs(actual))  # value bounds are products of floats
    for k, coverage in enumerate(COVERAGE_GRID):
        low, high = quantile_levels([coverage])
        lower = scores[quantile_name(prefix, low)].to_numpy(float)
        upper = scores[quantile_name(prefix, high)].to_numpy(float)
        out[:, k] = (lower - tolerance <= actual) & (actual <= upper + tolerance)
    return out


def _refit_purchase_model(model, inner):
    """A fresh model of the class that is scored, fitted on the inner calibration, and a note.

    The class, not the rule that chose it: a model the model ladder chose (``model_choice_``)
    is refitted as the model it used (e.g. the NBD), so the levels are learnt on the same
    kind of intervals they are applied to (a Pareto/NBD's levels learnt on an NBD's intervals
    were measured to under-cover: CDNOW value 95%, 0.90). When that fit is refused (e.g. no
    detectable dropout in the shorter inner window), the fitted model itself scores the inner
    holdout, and the note says so: its parameters were fitted on data that include the inner
    holdout (never data after the calibration end), so the inner intervals look a little
    better than they are and the levels may be too narrow.
    """
    table = inner.table
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return type(model)().fit(table["frequency"], table["recency"], table["T"], time_unit=inner.time_unit), None
    except ClvError as exc:
        reason = str(exc).split(". ")[0]
    return model, (f"{type(model).__name__} could not be refitted on the inner calibration period ({reason}); "
                   "the model's own parameters (fitted up to the calibration end) scored the inner holdout.")


def _refit_spend_model(spend_model, table):
    usable = (table["frequency"] > 0) & (table["monetary_value"] > 0)
    try:
        return type(spend_model)().fit(table.loc[usable, "frequency"], table.loc[usable, "monetary_value"])
    except ClvError as exc:
        raise type(exc)(f"the intervals cannot be recalibrated: {type(spend_model).__name__} could not be fitted "
                        f"on the inner calibration period: {exc}") from exc


def conformal_level(covered: np.ndarray, target: float) -> tuple[float, bool]:
    """The grid coverage whose share of covered customers is nearest to ``target`` (ties: the smallest, the narrowest).

    Parameters
    ----------
    covered : numpy.ndarray of bool, shape (n, len(COVERAGE_GRID))
        Per customer and grid coverage: covered or not (nested: a customer covered at one
        grid coverage is covered at every larger one).
    target : float
        The coverage wanted, in (0, 1).

    Returns
    -------
    level : float
        The grid coverage.
    reached : bool
        False when even the top of the grid covers less than ``target - 1/n`` of the customers.

    Notes
    -----
    Split-conformal prediction proper takes the smallest level covering at least
    ``ceil((n + 1) target)`` customers, a lower bound on coverage under exchangeability.
    The target here is a band around the nominal coverage (not a lower bound), and the
    inner and real windows are not exchangeable anyway, so the level aims at the target
    itself: measured on the data sets of ``bench/bench_coverage.py``, the lower-bound rule
    over-covered by 1-4 points (e.g. 0.854 for 80% on a synthetic BG/NBD store).
    """
    n = covered.shape[0]
    share = covered.mean(axis=0)
    distance = np.abs(share - target)
    k = int(np.flatnonzero(distance <= distance.min() + 1e-12)[0])
    return COVERAGE_GRID[k], bool(share[-1] >= target - 1.0 / n)


def _levels_from_coverage(covered, expected, intervals, *, calibration_end, inner_end, inner_length,
                          time_unit) -> IntervalCalibration:
    strata = np.digitize(expected, STRATUM_EDGES)
    n_strata = len(STRATUM_EDGES) + 1
    sizes = np.bincount(strata, minlength=n_strata)
    grid_index = {c: k for k, c in enumerate(COVERAGE_GRID)}
    levels, before, after, notes = {}, {}, {}, []
    small = [b for b in range(n_strata) if 0 < sizes[b] < MIN_STRATUM_CUSTOMERS]
    if small:
        notes.append(f"strata {small} have fewer than {MIN_STRATUM_CUSTOMERS} inner customers and take the pooled level.")
    for quantity, matrix in covered.items():
        levels[quantity], before[quantity], after[quantity] = {}, {}, {}
        for coverage in intervals:
            key = f"{float(coverage):g}"
            pooled, reached = conformal_level(matrix, float(coverage))
            if not reached:
                notes.append(f"{quantity} {float(coverage):.0%}: even the {COVERAGE_GRID[-1]:.1%} model interval covers "
                             f"only {matrix[:, -1].mean():.1%} of the inner holdout; its level is used.")
            per = [conformal_level(matrix[strata == b], float(coverage))[0] if sizes[b] >= MIN_STRATUM_CUSTOMERS
                   else pooled for b in range(n_strata)]
            levels[quantity][key] = tuple(per)
            columns = np.array([grid_index[c] for c in per])[strata]
            after[quantity][key] = float(matrix[np.arange(matrix.shape[0]), columns].mean())
            before[quantity][key] = _nominal_coverage(matrix, float(coverage))
    return IntervalCalibration(
        method=METHOD, calibration_end=calibration_end.isoformat(), inner_calibration_end=inner_end.isoformat(),
        inner_holdout_length=inner_length, time_unit=time_unit, customers=int(expected.shape[0]),
        stratum_edges=STRATUM_EDGES, stratum_customers=tuple(int(s) for s in sizes), levels=levels,
        coverage_before=before, coverage_after=after, notes=tuple(notes),
    )


def _nominal_coverage(matrix: np.ndarray, coverage: float) -> float:
    """Inner coverage of the model interval at nominal ``coverage`` (nearest grid coverage)."""
    k = int(np.argmin(np.abs(np.asarray(COVERAGE_GRID) - coverage)))
    return float(matrix[:, k].mean())


def recalibrated_columns(frame, calibration: IntervalCalibration, intervals, *, has_value: bool) -> dict[str, np.ndarray]:
    """The ``intervals`` quantile columns of recalibrated intervals, from a frame scored at every needed level.

    Parameters
    ----------
    frame : pandas.DataFrame
        Scores with ``expected_purchases`` and the quantile columns of every nominal
        coverage in ``calibration.nominal_coverages(intervals)``.
    calibration : IntervalCalibration
    intervals : iterable of float
        The coverages reported.
    has_value : bool
        Whether ``clv_q*`` columns are present.

    Returns
    -------
    dict of str to numpy.ndarray
        ``purchases_q{u}`` (and ``clv_q{u}``) for the levels of ``intervals``: per customer the
        bound of the model interval at its stratum's nominal coverage.
    """
    expected = frame["expected_purchases"].to_numpy(float)
    rows = np.arange(expected.shape[0])
    out = {}
    quantities = ("purchases", "value") if has_value else ("purchases",)
    for coverage in intervals:
        low, high = quantile_levels([coverage])
        for quantity in quantities:
            nominal = calibration.customer_levels(quantity, coverage, expected)
            choices = sorted(set(nominal.tolist()))
            pick = np.searchsorted(choices, nominal)
            for side, level in ((0, low), (1, high)):
                stacked = np.column_stack([
                    frame[quantile_name(PREFIX[quantity], quantile_levels([c])[side])].to_numpy(float) for c in choices])
                out[quantile_name(PREFIX[quantity], level)] = stacked[rows, pick]
    return out
