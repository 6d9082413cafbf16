"""Rolling origin: the same backtest at several calibration ends, to see whether the champion holds.

One backtest answers "which predictor was best on this holdout". A choice that
flips when the calibration ends a month earlier is not one to build on. The
rolling-origin backtest (Tashman 2000, "Out-of-sample tests of forecasting
accuracy") repeats :func:`clv.backtest.backtest` at several calibration ends
(origins) and reports, per origin, the champion and its key metrics, and
whether the choice is stable.

Every origin predicts the same length of future, ``H``: the time from the
latest calibration end to the observation end. Origin ``k`` fits on the orders
up to its calibration end ``e_k`` and is scored on ``(e_k, e_k + H]``, so the
origins' metrics compare. Origins are given as dates, or as a number ``N``
of ends spaced ``step`` days back from the latest one (default step:
``H / N`` in whole days, so the earliest holdout still overlaps the latest).

The choice is **stable** when the same predictor is the champion, or tied
with it, at every origin that could be evaluated.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clv.backtest.run import BacktestResult, _plain, backtest
from clv.backtest.split import resolve_calibration_end
from clv.data.orders_table import as_orders_table
from clv.errors import ClvError, DataError
from clv.summary.customers import order_date, resolve_observation_end

SUMMARY_COLUMNS = ("calibration_end", "holdout_end", "customers", "champion", "kind", "tied", "checks_won",
                   "checks", "purchases_total_error_pct", "value_total_error_pct", "value_spearman", "failed",
                   "error")


@dataclass
class RollingBacktest:
    """What :func:`rolling_backtest` found.

    Parameters
    ----------
    results : dict of str to BacktestResult
        The backtest of each origin that could be evaluated, by calibration end (ISO date).
    summary : pandas.DataFrame
        One row per origin, oldest first: ``calibration_end``, ``holdout_end``, ``customers``,
        ``champion``, ``kind``, ``tied`` (comma-separated), ``checks_won`` of ``checks``, the
        champion's ``purchases_total_error_pct``, ``value_total_error_pct`` and
        ``value_spearman`` (NaN for a purchase log), ``failed`` (the predictors that failed) and
        ``error`` (why the origin could not be evaluated, else empty).
    stable : bool
        Whether one predictor is the champion or tied with it at every evaluated origin.
    verdict : str
        The stability in plain words.
    settings : dict
        The origins, the holdout length in days, the step and the backtest options.
    """

    results: dict[str, BacktestResult]
    summary: pd.DataFrame
    stable: bool
    verdict: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: settings, stable, verdict, summary and each origin's backtest."""
        return _plain({
            "settings": self.settings, "stable": self.stable, "verdict": self.verdict,
            "summary": self.summary.to_dict(orient="records"),
            "origins": {end: result.to_dict() for end, result in self.results.items()},
        })


def rolling_backtest(
    orders: Any,
    calibration_ends: Sequence[Any] | None = None,
    *,
    origins: int | None = None,
    step_days: int | None = None,
    calibration_end: Any = None,
    calibration_fraction: float | None = None,
    observation_end: Any = None,
    **options: Any,
) -> RollingBacktest:
    """Backtest at several calibration ends with one holdout length; report the champion per origin and its stability.

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines (as for :func:`clv.backtest.backtest`).
    calibration_ends : sequence of date-like, optional
        The calibration ends (at least two distinct dates). Or give ``origins``.
    origins : int, optional
        Instead of ``calibration_ends``: this many ends (2 or more), the latest given by
        ``calibration_end`` or ``calibration_fraction``, the others ``step_days`` apart before it.
    step_days : int, optional
        Days between two origins (with ``origins``); default ``H / origins`` in whole days (at
        least 1), ``H`` the days from the latest calibration end to the observation end.
    calibration_end, calibration_fraction : optional
        The latest calibration end (with ``origins``), as in :func:`clv.backtest.backtest`.
    observation_end : date-like, optional
        The latest holdout day (default: the last order date). Every origin predicts ``H`` days.
    **options
        Passed to :func:`clv.backtest.backtest` (time_unit, merge, models, spend_model,
        baselines, margin, intervals, n_draws, seed).

    Returns
    -------
    RollingBacktest
        Each origin's backtest, the per-origin summary, whether the champion is stable and why.

    Raises
    ------
    clv.errors.DataError
        For both or neither of ``calibration_ends`` and ``origins``, fewer than two origins, a
        step under one day, an origin outside the data, an unknown option, or when no origin
        could be evaluated. An origin whose backtest fails for its data (e.g. no customer yet)
        is listed in the summary with its ``error``; the others still run.
    """
    table = as_orders_table(orders)
    first = pd.Timestamp(order_date(table).min().to_pyarrow().as_py()).date()
    end = resolve_observation_end(orders, observation_end)
    ends, step = _origins(first, end, calibration_ends, origins, step_days, calibration_end, calibration_fraction)
    holdout_days = (end - ends[-1]).days
    results: dict[str, BacktestResult] = {}
    rows = []
    for origin in ends:
        holdout_end = origin + dt.timedelta(days=holdout_days)
        try:
            result = backtest(orders, calibration_end=origin, observation_end=holdout_end, **options)
        except TypeError as exc:
            raise DataError(f"rolling_backtest got an option backtest does not take: {exc}.") from None
        except ClvError as exc:
            rows.append(_row(origin, holdout_end, None, error=" ".join(str(exc).split())))
            continue
        results[str(origin)] = result
        rows.append(_row(origin, holdout_end, result))
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    if not results:
        raise DataError(f"no origin could be evaluated: {'; '.join(summary['error'])}")
    stable, verdict = stability(summary)
    settings = {"calibration_ends": [str(e) for e in ends], "observation_end": str(end), "holdout_days": holdout_days,
                "step_days": step, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}}
    return RollingBacktest(results=results, summary=summary, stable=stable, verdict=verdict, settings=settings)


def _origins(first: dt.date, end: dt.date, calibration_ends, origins, step_days, calibration_end,
             calibration_fraction) -> tuple[list[dt.date], int | None]:
    """The calibration ends, oldest first, and the step in days (None when the ends were given)."""
    if (calibration_ends is None) == (origins is None):
        raise DataError("give calibration_ends (two or more dates) or origins (a number of calibration ends), "
                        "exactly one of the two.")
    if calibration_ends is not None:
        if isinstance(calibration_ends, (str, dt.date)):
            raise DataError("calibration_ends must be a sequence of dates such as ['2011-06-30', '2011-09-08'].")
        ends = sorted({resolve_calibration_end(first, end, e, None) for e in calibration_ends})
        if len(ends) < 2:
            raise DataError(f"calibration_ends must hold at least two different dates, got {list(calibration_ends)!r}.")
        step = None
    else:
        if int(origins) != origins or origins < 2:
            raise DataError(f"origins must be a whole number of at least 2 (e.g. 3), got {origins!r}.")
        latest = resolve_calibration_end(first, end, calibration_end, calibration_fraction)
        step = max(1, math.floor((end - latest).days / origins)) if step_days is None else int(step_days)
        if step < 1:
            raise DataError(f"step_days must be at least 1 day, got {step_days!r}.")
        ends = [latest - dt.timedelta(days=step * k) for k in range(int(origins) - 1, -1, -1)]
    for origin in ends:
        if not first <= origin < end:
            raise DataError(f"calibration end {origin} must lie in [{first}, {end}) (first order date, observation "
                            "end); pick later or fewer origins, or a shorter step.")
    return ends, step


def _row(origin: dt.date, holdout_end: dt.date, result: BacktestResult | None, error: str = "") -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, math.nan)
    row.update(calibration_end=str(origin), holdout_end=str(holdout_end), error=error, tied="", failed="",
               champion="", kind="")
    if result is None:
        return row
    champion = result.champion
    metrics = result.metrics.set_index("predictor").loc[champion.name]
    row.update(customers=result.settings["customers"], champion=champion.name, kind=champion.kind,
               tied=", ".join(champion.tied), checks_won=champion.tally[champion.name], checks=len(champion.votes),
               purchases_total_error_pct=metrics["purchases_total_error_pct"],
               value_total_error_pct=metrics.get("value_total_error_pct", math.nan),
               value_spearman=metrics.get("value_spearman", math.nan),
               failed=", ".join(sorted(set(result.failed["predictor"]))) if result.failed is not None else "")
    return row


def stability(summary: pd.DataFrame) -> tuple[bool, str]:
    """Whether one predictor is the champion or tied with it at every evaluated origin, and the verdict in words.

    Parameters
    ----------
    summary : pandas.DataFrame
        :attr:`RollingBacktest.summary` (``champion``, ``tied``, ``error`` per origin).

    Returns
    -------
    tuple of (bool, str)
        Stable or not, and a sentence naming the champion per origin (and, when it changes but
        is always a model, or always a baseline, saying so from the ``kind`` column).
    """
    done = summary[summary["error"] == ""]
    sets = [{row["champion"], *filter(None, (t.strip() for t in row["tied"].split(",")))} for _, row in done.iterrows()]
    common = set.intersection(*sets) if sets else set()
    champions = done["champion"].tolist()
    skipped = len(summary) - len(done)
    tail = f" ({skipped} origin(s) could not be evaluated)" if skipped else ""
    if len(set(champions)) == 1:
        return True, f"stable: {champions[0]} is the champion at all {len(done)} origins{tail}."
    if common:
        names = " or ".join(sorted(common))
        return True, (f"stable: {names} is the champion or tied with it at all {len(done)} origins "
                      f"(champions by origin: {', '.join(champions)}){tail}.")
    counts = pd.Series(champions).value_counts()
    kinds = set(done["kind"]) if "kind" in done.columns else set()
    family = {"model": "; a model wins at every origin, never a simple rule",
              "baseline": "; a simple rule wins at every origin: do not trust the models for this data"}
    return False, (f"not stable: the champion changes with the calibration end ({', '.join(champions)}); "
                   f"{counts.index[0]} wins {counts.iloc[0]} of {len(done)}{tail}"
                   f"{family.get(next(iter(kinds)), '') if len(kinds) == 1 else ''}. Compare the origins' metrics "
                   "before trusting one choice.")
