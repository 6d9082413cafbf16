"""``backtest``: split the orders in time, fit on the past, score every predictor on the future.

Per predictor (each BTYD model with its spend model, and each baseline of
:mod:`clv.backtest.baselines`) the holdout purchases and holdout value of every
calibration customer are predicted and compared with what happened (metrics of
:mod:`clv.backtest.metrics`). Holdout value is the gross purchase value of the
holdout window (``frequency_holdout * monetary_value_holdout``) times
``margin``; a model's predicted value is ``margin * E[spend per order] *
E[holdout purchases]`` (:func:`clv.scores.score_customers` with no
discounting), with 80%/95% prediction intervals from the same call.

The champion: by the vote over several checks of :mod:`clv.backtest.champion`
(errors per customer of purchases and value, total, ranking, top 10% and
interval coverage); a baseline wins only when clearly better than the best model
on most checks.

A backtest always finishes: a model whose fit, prediction or intervals fail (or
that predicts a number that is not finite) is listed in
:attr:`BacktestResult.failed` with its reason, and the other models, the
baselines and the charts still run.

A purchase log (customer and date only, no amounts) has no value to predict:
the models are fitted and scored on purchases, the baselines predict purchases,
the value metrics are not computed (no ``value_*`` columns; a warning and
``settings["value_metrics"]`` say why), the spend model is not fitted, and the
champion is chosen by the same rule on holdout purchases.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clv.backtest import baselines as base
from clv.backtest import charts
from clv.backtest.champion import Champion, choose_champion
from clv.backtest.metrics import accuracy, decile_calibration, interval_coverage
from clv.backtest.split import Split, inner_split, split_orders
from clv.errors import ClvError, DataError
from clv.models import model_class, model_label, model_names
from clv.scores import quantile_levels, quantile_name, score_customers
from clv.summary import CustomerData
from clv.summary.amounts import AMOUNTS_FIX, NO_AMOUNTS
from clv.units import DEFAULT_TIME_UNIT

SPEND_MODELS = ("gammagamma", None)
MIN_REPEAT_BUYERS = 200
MIN_CALIBRATION_PURCHASE_CYCLES = 3.0
MIN_HOLDOUT_SHARE = 0.25
QUANTITIES = ("purchases", "value")


@dataclass
class BacktestResult:
    """What :func:`backtest` found.

    Parameters
    ----------
    metrics : pandas.DataFrame
        One row per predictor (``kind`` model or baseline), columns ``purchases_<metric>`` and
        ``value_<metric>`` (see :func:`clv.backtest.metrics.accuracy`) and, for models,
        ``purchases_coverage_<c>`` / ``value_coverage_<c>``; no ``value_*`` column for a
        purchase log (no amounts).
    deciles : pandas.DataFrame
        Per predictor and quantity: mean predicted vs actual by decile of the prediction.
    predictions : pandas.DataFrame
        Per customer: the actual holdout purchases and value and each predictor's predictions.
    charts : dict of str to pandas.DataFrame
        Chart data frames (``tracking``, ``conditional_expectations``, ``frequency_histogram``).
    best : str
        The name of the champion (:func:`clv.backtest.champion.choose_champion`).
    best_reason : str
        Why it is the champion, in plain words.
    warnings : list of str
        Reasons not to trust the comparison (short or sparse data, a spend model that failed).
    settings : dict
        The resolved split (dates, time unit, merge rule, calibration and holdout lengths) and
        options.
    models : dict, default {}
        The fitted transaction models (and the ``spend`` model) by name.
    failed : pandas.DataFrame or None, default None
        One row per predictor that failed: ``predictor``, ``kind`` (model or baseline),
        ``stage`` (fit, predict, intervals) and ``reason``. A model whose intervals failed is
        still compared on its point predictions (no coverage).
    champion : Champion or None, default None
        The champion with its ties, runner-up and the per-check votes.
    """

    metrics: pd.DataFrame
    deciles: pd.DataFrame
    predictions: pd.DataFrame
    charts: dict[str, pd.DataFrame]
    best: str
    best_reason: str
    warnings: list[str]
    settings: dict[str, Any]
    models: dict[str, Any] = field(default_factory=dict)
    failed: pd.DataFrame | None = None
    champion: Champion | None = None

    def figures(self) -> dict[str, Any]:
        """The charts as Plotly figures (tracking, conditional_expectations, frequency_histogram)."""
        out = {"conditional_expectations": charts.conditional_expectations_figure(self.charts["conditional_expectations"])}
        if "tracking" in self.charts:
            out["tracking"] = charts.tracking_figure(self.charts["tracking"], self.settings["time_unit"],
                                                     self.settings["calibration_length"])
        if "frequency_histogram" in self.charts:
            out["frequency_histogram"] = charts.frequency_histogram_figure(self.charts["frequency_histogram"])
        return out

    def write_charts(self, directory, *, png: bool = False) -> list:
        """Write the charts as self-contained HTML files (and PNGs with ``png=True``) into ``directory``."""
        return charts.write_charts(self.figures(), directory, png=png)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN -> None): settings, best, champion and votes, failed, warnings, metrics, deciles, charts."""
        return _plain({
            "settings": self.settings,
            "best": self.best,
            "best_reason": self.best_reason,
            "champion": self.champion.as_dict() if self.champion is not None else None,
            "failed": self.failed.to_dict(orient="records") if self.failed is not None else [],
            "warnings": self.warnings,
            "metrics": self.metrics.to_dict(orient="records"),
            "deciles": self.deciles.to_dict(orient="records"),
            "charts": {name: frame.to_dict(orient="records") for name, frame in self.charts.items()},
        })


def backtest(
    orders: Any,
    *,
    calibration_end: Any = None,
    calibration_fraction: float | None = None,
    observation_end: Any = None,
    time_unit: str = DEFAULT_TIME_UNIT,
    merge: str = "day",
    models: Sequence[str] | None = None,
    spend_model: str | None = "gammagamma",
    baselines: Sequence[str] = ("classic", "naive", "rfm"),
    margin: float = 1.0,
    intervals: Sequence[float] = (0.8, 0.95),
    n_draws: int = 200,
    seed: int = 0,
    calibrate_intervals: bool = True,
    covariates: Any = None,
    covariate_columns: Sequence[str] | None = None,
    covariate_id: str = "customer_id",
) -> BacktestResult:
    """Fit on ``(first order, calibration_end]``, predict ``(calibration_end, observation_end]``, compare.

    Parameters
    ----------
    orders : ibis.expr.types.Table or pandas.DataFrame or LoadResult
        Canonical order lines (Ibis table, pandas/Polars/Arrow frame, or ``load_orders`` result).
    calibration_end : date-like or None, default None
        Last calibration day; or give ``calibration_fraction`` (exactly one of the two).
    calibration_fraction : float or None, default None
        The calibration end as a fraction, strictly between 0 and 1, of the span from the first
        order to ``observation_end`` (0.5: the first half; whole days, rounded down).
    observation_end : date-like or None, default None
        Last holdout day (default: the last order date).
    time_unit : str, default "week"
        The time unit of the summary and the models; one of :data:`clv.units.TIME_UNITS` (see
        :func:`clv.summary.summarize`).
    merge : {"day", "unit"}, default "day"
        Purchases merged per day or per period of ``time_unit`` (see
        :func:`clv.summary.summarize`).
    models : sequence of str or None, default None
        Transaction models to fit, by registry name (:func:`clv.models.model_names`, purchase
        models of continuous time). None: every registered one (:func:`transaction_models`), so
        a newly registered model enters the comparison without a change here.
    spend_model : {"gammagamma", None}, default "gammagamma"
        "gammagamma" (Gamma-Gamma on repeat buyers' mean spend) or None (each customer's own
        average spend; the population's for none).
    baselines : sequence of str, default ("classic", "naive", "rfm")
        Any of classic, naive, rfm (see :mod:`clv.backtest.baselines`).
    margin : float, default 1.0
        Fraction of the purchase value counted as value (both sides), > 0; 1.0 compares revenue.
    intervals : sequence of float, default (0.8, 0.95)
        Central prediction-interval coverages checked on the holdout.
    n_draws : int, default 200
        Monte Carlo draws of the prediction intervals.
    seed : int, default 0
        Seed of the prediction intervals' draws.
    calibrate_intervals : bool, default True
        Recalibrate each model's intervals on a backtest inside the calibration period
        (:mod:`clv.scores.calibration`; only orders up to the calibration end are used): the
        coverage columns are then those of the recalibrated intervals, and
        ``settings["interval_calibration"]`` says per model how (or why not). False: the
        model's intervals at their nominal levels.
    covariates : pandas.DataFrame or path, optional
        Static covariates per customer (:func:`clv.summary.attach_covariates`), joined to the
        calibration customers. Each model that takes static covariates
        (``capabilities.static_covariates``) then competes twice: as ``<name>`` without them and
        as ``<name>+covariates`` with them (intervals at nominal levels: the recalibration's
        inner backtest has no covariates); the other models are fitted without them.
    covariate_columns : sequence of str, optional
        The covariate columns to use (default: every column but ``covariate_id``).
    covariate_id : str, default "customer_id"
        The customer id column of ``covariates``.

    Returns
    -------
    BacktestResult
        Metrics, deciles, per-customer predictions, chart data, the champion and why (with the
        per-check votes), the predictors that failed and why, warnings, settings and the fitted
        models.

    Raises
    ------
    clv.errors.DataError
        For an unknown model, spend model or baseline name, a margin that is not finite and > 0,
        both or neither of ``calibration_end`` and ``calibration_fraction``, a calibration end
        outside the data, no customer by the calibration end, or when no predictor could be
        evaluated (every model fit failed and no baseline was asked for).
    """
    models = transaction_models() if models is None else models
    _check_names(models, transaction_models(), "models")
    _check_names(baselines, base.BASELINES, "baselines")
    if spend_model not in SPEND_MODELS:
        raise DataError(f"spend_model must be 'gammagamma' or None, got {spend_model!r}.")
    margin = _checked_margin(margin)
    split = split_orders(orders, calibration_end=calibration_end, calibration_fraction=calibration_fraction,
                         observation_end=observation_end, time_unit=time_unit, merge=merge,
                         litt=any(reads_litt(name) for name in models))
    if covariates is not None:
        split = _with_covariates(split, covariates, covariate_columns, covariate_id)
    summary = split.data
    horizon = split.holdout_length
    notes = data_warnings(split)
    quantities = QUANTITIES if split.has_amounts else ("purchases",)
    ranked_on = quantities[-1]  # what the best predictor is chosen on: value, or purchases for a log
    if not split.has_amounts:
        notes.append(_value_not_available(spend_model))
        spend_model = None

    predictions: dict[str, base.Prediction] = {}
    bounds: dict[str, dict[str, np.ndarray]] = {}
    fitted: dict[str, Any] = {}
    failures: list[dict[str, str]] = []
    calibrations: dict[str, Any] = {}
    inner: list = []  # the inner split of the interval calibration, computed once
    spend = _fit_spend(summary, spend_model, notes) if models else None
    used_for: dict[str, str] = {}  # requested model -> the model compared (nbd after a fallback)
    calibrate = None
    if calibrate_intervals and intervals:
        def calibrate(model):
            return _interval_calibration(orders, split, model, spend, intervals, n_draws, seed, notes, inner,
                                         calibrations)
    for name, with_covariates in _candidates(models, summary, notes):
        outcome = _evaluate_model(name, spend, split, margin, intervals, n_draws, seed, notes, failures, fitted,
                                  None if with_covariates else calibrate, with_covariates)
        name = f"{name}{WITH_COVARIATES}" if with_covariates else name
        if outcome is not None:  # several requests that fell back to the NBD: one row, "nbd"
            used_for[name], model, prediction, bound = outcome
            if model is not None:
                fitted[used_for[name]], predictions[used_for[name]], bounds[used_for[name]] = model, prediction, bound
    predictions.update(_baseline_predictions(orders, split, baselines, margin, failures))
    if not predictions:
        reasons = " ".join(f"{f['predictor']}: {f['reason']}" for f in failures)
        raise DataError("no predictor could be evaluated: every model failed and no baseline was asked for "
                        f"(add baselines, e.g. baselines=('naive',)). Reasons: {reasons}")

    metrics = _metrics_table(summary, predictions, bounds, intervals, fitted, margin, quantities)
    champion = choose_champion(metrics, labels=_labels(fitted))
    if not split.has_amounts:
        champion = champion.with_reason(f"{champion.reason} Chosen on holdout purchases: {NO_AMOUNTS}, "
                                        "so value cannot be compared.")
    if champion.kind == "baseline" and fitted:
        notes.append(f"the {champion.name} baseline beat the fitted models on most checks of holdout {ranked_on}: "
                     f"do not trust the models' {'CLV' if split.has_amounts else 'purchase forecasts'} for this data.")
    chart_data = _chart_data(orders, split, fitted, predictions, notes)
    if spend is not None:
        fitted["spend"] = spend
    settings = {
        "calibration_end": str(split.calibration_end), "observation_end": str(split.observation_end),
        "first_order": str(split.first_order), "time_unit": split.time_unit, "merge": split.merge,
        "calibration_length": split.calibration_length, "holdout_length": horizon,
        "customers": len(summary), "repeat_buyers": int((summary["frequency"] > 0).sum()),
        "new_customers_in_holdout": summary.new_customers_in_holdout,
        "models": list(models), "models_compared": used_for, "spend_model": spend_model, "baselines": list(baselines),
        "margin": margin, "intervals": list(intervals), "n_draws": n_draws, "seed": seed,
        "interval_calibration": calibrations if calibrate_intervals else "not recalibrated (calibrate_intervals=False)",
        "selection": (f"champion by votes over {len(champion.votes)} checks on holdout {ranked_on} (clv.backtest.champion); "
                      f"a baseline must be clearly better than the best model on {champion.needed} of them"),
        "has_amounts": split.has_amounts,
        "value_metrics": "computed" if split.has_amounts else f"not available: {NO_AMOUNTS}",
    }
    return BacktestResult(
        metrics=metrics, deciles=_deciles(summary, predictions, margin, quantities),
        predictions=_prediction_frame(summary, predictions, margin),
        charts=chart_data, best=champion.name, best_reason=champion.reason, warnings=notes, settings=settings,
        models=fitted, failed=pd.DataFrame(failures, columns=list(FAILURE_COLUMNS)), champion=champion,
    )


# ----- fitting and predicting ---------------------------------------------------
def _check_names(names: Sequence[str], known, what: str) -> None:
    if isinstance(names, str):
        raise DataError(f"{what} must be a sequence of names such as ('bgnbd', 'pareto'), not the string {names!r}.")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DataError(f"unknown {what} {unknown}; choose from {list(known)}.")


def _value_not_available(spend_model: str | None) -> str:
    """The warning of a backtest on a purchase log: what is skipped and how to get it."""
    skipped = "the spend model (Gamma-Gamma) was not fitted and " if spend_model else ""
    return (f"{NO_AMOUNTS}: {skipped}value metrics are not available (value needs amounts); models and baselines "
            f"are compared on holdout purchases only; {AMOUNTS_FIX}.")


def _checked_margin(margin: float) -> float:
    value = float(margin)
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"margin must be a positive fraction of purchase value (0.3 = 30%), got {margin!r}.")
    return value


def transaction_models() -> tuple[str, ...]:
    """The registered purchase models (:mod:`clv.models`) a backtest can fit: those in continuous time.

    The split's summary has recency and T as durations; a model that counts
    whole periods (``capabilities.discrete_time``, BG/BB) needs other inputs.
    """
    return tuple(name for name in model_names("purchase") if not model_class(name).capabilities.discrete_time)


def _fit_transaction_model(name: str, summary: CustomerData, unit: str, notes: list[str]):
    """The fitted model (in the split's time unit) by the model ladder; raises when its fit fails (see :func:`_evaluate_model`).

    The model gets the split's customer data itself, so the columns a model reads besides
    frequency, recency and T (e.g. ``litt`` of the CNBD-k models) reach it.

    A request that fell back to the NBD (:func:`clv.models.ladder.fit_purchase_model`) is listed as ``nbd``,
    with a note saying why.
    """
    from clv.models.ladder import fit_purchase_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = fit_purchase_model(data_for_model(summary.in_time_unit(unit), name), name)
    if model.model_choice_.fell_back:
        notes.append(f"model {name} fell back to nbd: {model.model_choice_.reason}.")
    return model


WITH_COVARIATES = "+covariates"
"""Suffix of a candidate fitted with the static covariates (``bgnbd+covariates``)."""


def _with_covariates(split: Split, covariates: Any, columns: Sequence[str] | None, id_column: str) -> Split:
    """The split with the covariates attached to its customer data (:func:`clv.summary.attach_covariates`)."""
    from clv.summary.covariates import attach_covariates

    data = attach_covariates(split.data, covariates, None if columns is None else list(columns), id_column=id_column)
    return dataclasses.replace(split, data=data)


def _candidates(models: Sequence[str], summary: CustomerData, notes: list[str]) -> list[tuple[str, bool]]:
    """(model, with covariates?) pairs to compare: every model without covariates, and with them for the
    models that take static covariates when the data has covariates."""
    out = [(name, False) for name in models]
    if getattr(summary, "covariates", None) is None:
        return out
    takers = [name for name in models if getattr(model_class(name).capabilities, "static_covariates", False)]
    if not takers:
        notes.append("covariates were given but none of the models compared takes static covariates.")
    return out + [(name, True) for name in takers]


def _failure_reason(exc: BaseException) -> str:
    """The reason a predictor failed, on one line: the message of a ClvError, else the error's type and message."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ClvError) else f"{type(exc).__name__}: {text or 'no message'}"


def _evaluate_model(name, spend, split: Split, margin, intervals, n_draws, seed, notes: list[str],
                    failures: list[dict[str, str]], done: dict[str, Any], calibrate=None, with_covariates=False):
    """(name used, model, prediction, bounds) of one model, or None with a row in ``failures``; never raises.

    The name used is the requested one, or ``nbd`` when the ladder fell back; model,
    prediction and bounds are None when that model is in ``done`` already (two
    requests that fell back).

    A model that cannot be fitted, predicted, or that predicts a number that is not
    finite fails; when only its intervals fail it is kept without intervals (a
    failure row at stage "intervals"). Any exception counts: a registered model may
    come from anywhere, and one model must not stop the others. ``calibrate``: model -> its
    :class:`clv.scores.calibration.IntervalCalibration` or None (intervals at nominal levels).
    ``with_covariates``: fitted on the data with its covariates, named ``<model>+covariates``
    (the plain name when the ladder fell back to the NBD, which takes none).
    """
    summary, horizon = split.data, split.holdout_length
    if not with_covariates and getattr(summary, "covariates", None) is not None:
        summary = summary.without_covariates()
    label = f"{name}{WITH_COVARIATES}" if with_covariates else name
    try:
        model = _fit_transaction_model(name, summary, split.time_unit, notes)
    except Exception as exc:  # noqa: BLE001 - listed with its reason, the backtest goes on
        failures.append(_failure(label, "model", "fit", _failure_reason(exc)))
        return None
    used = model.model_choice_.used
    if with_covariates and used == name:
        used = label
    if used in done:
        return used, None, None, None
    summary = data_for_model(summary, model.model_choice_.used)
    calibration = calibrate(model) if calibrate is not None else None
    try:
        prediction, bounds = _model_prediction(model, spend, summary, horizon, margin, intervals, n_draws, seed,
                                               calibration)
        _check_finite(prediction)
    except Exception as exc:  # noqa: BLE001
        if not intervals:
            failures.append(_failure(used, "model", "predict", _failure_reason(exc)))
            return None
        try:
            prediction, bounds = _model_prediction(model, spend, summary, horizon, margin, (), n_draws, seed)
            _check_finite(prediction)
        except Exception as point_exc:  # noqa: BLE001
            failures.append(_failure(used, "model", "predict", _failure_reason(point_exc)))
            return None
        failures.append(_failure(used, "model", "intervals",
                                 f"{_failure_reason(exc)} (compared without intervals)"))
    return used, model, prediction, bounds


FAILURE_COLUMNS = ("predictor", "kind", "stage", "reason")


def _failure(predictor: str, kind: str, stage: str, reason: str) -> dict[str, str]:
    return dict(zip(FAILURE_COLUMNS, (predictor, kind, stage, reason)))


def _check_finite(prediction: base.Prediction) -> None:
    """Raise when a prediction holds NaN or inf (the metrics need finite numbers)."""
    for quantity in QUANTITIES:
        values = getattr(prediction, quantity)
        if values is None:
            continue
        bad = ~np.isfinite(np.asarray(values, float))
        if bad.any():
            raise DataError(f"predicted {quantity} that is not a finite number for {int(bad.sum())} of "
                            f"{bad.size} customers (first row {int(np.flatnonzero(bad)[0])}).")


def _labels(fitted: dict[str, Any]) -> dict[str, str]:
    """Names for people of the fitted models ("BG/NBD", "BG/NBD with covariates") for the champion's reason."""
    out = {}
    for name in fitted:
        base, covariates, _ = name.partition(WITH_COVARIATES)
        out[name] = model_label(base) + (" with covariates" if covariates else "")
    return out


def _fit_spend(summary: pd.DataFrame, spend_model: str | None, notes: list[str]):
    """Gamma-Gamma on repeat buyers with a positive mean spend, or None (observed average spend)."""
    if spend_model is None:
        return None
    usable = (summary["frequency"] > 0) & (summary["monetary_value"] > 0)
    try:
        return model_class("gammagamma")().fit(summary.loc[usable, "frequency"], summary.loc[usable, "monetary_value"])
    except ClvError as exc:
        notes.append(f"Gamma-Gamma could not be fitted ({exc}); each customer's average spend is used instead.")
        return None


def data_for_model(summary: CustomerData, name: str) -> CustomerData:
    """The customer data model ``name`` is fitted and scored on: with its covariates when the model takes
    static covariates (``capabilities.static_covariates``), else without them.

    Parameters
    ----------
    summary : CustomerData
        The split's customer data (covariates attached or not).
    name : str
        A registered purchase model.

    Returns
    -------
    CustomerData
    """
    if getattr(summary, "covariates", None) is None:
        return summary
    takes = getattr(model_class(name).capabilities, "static_covariates", False)
    return summary if takes else summary.without_covariates()


def reads_litt(name: str) -> bool:
    """Whether model ``name``'s fit takes ``litt`` (the sum of log inter-purchase times: the CNBD-k models).

    Parameters
    ----------
    name : str
        A registered model.

    Returns
    -------
    bool
    """
    import inspect

    return "litt" in inspect.signature(model_class(name).fit).parameters


MODEL_EXTRA_COLUMNS = ("litt",)
"""Summary columns some purchase models read besides frequency, recency and T (passed on when present)."""


def _model_inputs(summary: CustomerData, spend) -> CustomerData:
    """frequency, recency, T, the extra columns some models read (:data:`MODEL_EXTRA_COLUMNS`, the covariate
    columns) and (with amounts) the money column the spend model or the average spend gives; same context."""
    frame = pd.DataFrame({"frequency": summary["frequency"], "recency": summary["recency"], "T": summary["T"]})
    covariates = tuple(getattr(summary, "covariate_names", None) or ())
    for column in (*MODEL_EXTRA_COLUMNS, *covariates):
        if column in summary.table.columns:
            frame[column] = summary[column].to_numpy()
    if summary.has_amounts:
        money = summary["monetary_value"] if spend is not None else summary["average_spend"]
        frame["monetary_value"] = money.to_numpy(float)
    if covariates:  # the covariate design travels in the context
        return dataclasses.replace(summary, table=frame)
    return CustomerData(frame, time_unit=summary.time_unit, has_amounts=summary.has_amounts)


def _interval_calibration(orders, split: Split, model, spend, intervals, n_draws, seed, notes, inner, calibrations):
    """The model's interval calibration learnt before the calibration end, or None; its JSON form (or why not)
    goes to ``calibrations`` under the model's name.

    ``inner``: a one-item cache of the inner split's customer data, shared by the models.
    """
    name = getattr(model, "model_name", type(model).__name__)
    from clv.scores.calibration import calibrate_intervals, inner_backtest_data

    try:
        if not inner:
            inner.append(inner_backtest_data(orders, calibration_end=split.calibration_end,
                                             horizon=split.holdout_length, time_unit=split.time_unit, merge=split.merge,
                                             first_order=split.first_order))
        calibration = calibrate_intervals(orders, model, spend, calibration_end=split.calibration_end,
                                          horizon=split.holdout_length, time_unit=split.time_unit, merge=split.merge,
                                          intervals=intervals, n_draws=n_draws, seed=seed,
                                          inner=inner[0])
    except Exception as exc:  # noqa: BLE001 - the model is still compared, with its nominal intervals
        notes.append(f"model {name}: intervals not recalibrated ({_failure_reason(exc)}).")
        calibrations[name] = f"not recalibrated: {_failure_reason(exc)}"
        return None
    calibrations[name] = calibration.as_dict()
    return calibration


def _model_prediction(model, spend, summary, horizon, margin, intervals, n_draws, seed, calibration=None):
    """Expected holdout purchases and value, and the interval bounds, from :func:`clv.scores.score_customers`.

    A purchase log gives purchases only (value None, no value bounds). ``calibration``: the
    :class:`clv.scores.calibration.IntervalCalibration` of the model, or None (nominal levels).
    """
    frame = _model_inputs(summary, spend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = score_customers(frame, model, spend, horizon=horizon, discount_rate=0.0,
                                 margin=margin, intervals=tuple(intervals) or None, n_draws=n_draws, seed=seed,
                                 interval_calibration=calibration)
    has_value = "clv" in scores.columns
    score_prefix = {"purchases": "purchases", "value": "clv"} if has_value else {"purchases": "purchases"}
    bounds = {}
    for coverage in intervals:
        low, high = quantile_levels([coverage])
        for quantity, prefix in score_prefix.items():
            bounds[f"{quantity}_{coverage:g}"] = (scores[quantile_name(prefix, low)].to_numpy(float),
                                                  scores[quantile_name(prefix, high)].to_numpy(float))
    value = scores["clv"].to_numpy(float) if has_value else None
    return base.Prediction(scores["expected_purchases"].to_numpy(float), value), bounds


def _baseline_predictions(orders, split: Split, names, margin: float, failures: list[dict[str, str]]) -> dict[str, base.Prediction]:
    """Each asked-for baseline's prediction; one that fails (rfm without room for its inner window) is listed in ``failures``."""
    horizon = split.holdout_length
    makers = {
        "classic": lambda: base.classic_baseline(split.frame, horizon, margin),
        "naive": lambda: base.naive_baseline(split.frame, horizon, margin),
        "rfm": lambda: base.rfm_baseline(split.frame, inner_split(orders, split).frame, horizon, margin),
    }
    out = {}
    for name in (n for n in makers if n in names):
        try:
            out[name] = makers[name]()
            _check_finite(out[name])
        except Exception as exc:  # noqa: BLE001 - listed with its reason, the backtest goes on
            out.pop(name, None)
            failures.append(_failure(name, "baseline", "predict", _failure_reason(exc)))
    return out


# ----- scoring ------------------------------------------------------------------
def _actuals(summary: pd.DataFrame, margin: float) -> dict[str, np.ndarray]:
    """Holdout purchases and (with amounts) holdout value times margin, per customer."""
    actual = {"purchases": summary["frequency_holdout"].to_numpy(float)}
    if "value_holdout" in summary.columns:
        actual["value"] = summary["value_holdout"].to_numpy(float) * margin
    return actual


def _metrics_table(summary, predictions, bounds, intervals, fitted, margin, quantities=QUANTITIES) -> pd.DataFrame:
    actual = _actuals(summary, margin)
    rows = []
    for name, prediction in predictions.items():
        row: dict[str, Any] = {"predictor": name, "kind": "model" if name in fitted else "baseline"}
        for quantity in quantities:
            for metric, value in accuracy(actual[quantity], getattr(prediction, quantity)).items():
                row[f"{quantity}_{metric}"] = value
        for coverage in intervals:
            for quantity in quantities:
                low, high = bounds.get(name, {}).get(f"{quantity}_{coverage:g}", (None, None))
                row[f"{quantity}_coverage_{coverage:g}"] = (
                    interval_coverage(actual[quantity], low, high) if low is not None else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def choose_best(metrics: pd.DataFrame) -> tuple[str, str]:
    """The champion and its reason by the rule of :func:`clv.backtest.champion.choose_champion`.

    Parameters
    ----------
    metrics : pandas.DataFrame
        One row per predictor (:attr:`BacktestResult.metrics`): ``predictor``, ``kind`` and the
        metric columns the checks use (``purchases_rmse``, ``value_rmse``,
        ``<q>_total_error_pct``, ``<q>_spearman``, ``<q>_top10_capture``, coverages).

    Returns
    -------
    tuple of (str, str)
        The champion's name and the reason in plain words (the checks it won, its ties, the
        closest baseline, the next predictor).
    """
    champion = choose_champion(metrics)
    return champion.name, champion.reason


def _deciles(summary, predictions, margin, quantities=QUANTITIES) -> pd.DataFrame:
    actual = _actuals(summary, margin)
    parts = []
    for name, prediction in predictions.items():
        for quantity in quantities:
            table = decile_calibration(actual[quantity], getattr(prediction, quantity))
            parts.append(table.assign(predictor=name, quantity=quantity))
    frame = pd.concat(parts, ignore_index=True)
    return frame[["predictor", "quantity", "decile", "customers", "mean_predicted", "mean_actual"]]


def _prediction_frame(summary, predictions, margin) -> pd.DataFrame:
    """Per customer: actual purchases and value, and each predictor's (no value columns for a log)."""
    actual = _actuals(summary, margin)
    frame = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(),
                          **{f"actual_{quantity}": values for quantity, values in actual.items()}})
    for name, prediction in predictions.items():
        frame[f"{name}_purchases"] = prediction.purchases
        if prediction.value is not None:
            frame[f"{name}_value"] = prediction.value
    return frame


def _chart_data(orders, split: Split, fitted: dict, predictions: dict, notes: list[str]) -> dict[str, pd.DataFrame]:
    """The chart data; a model chart that fails is left out with a note (the backtest still finishes)."""
    summary = split.frame
    out = {"conditional_expectations": charts.conditional_expectations_data(
        summary, {name: p.purchases for name, p in predictions.items()})}
    if not fitted:
        return out
    try:
        actual = charts.actual_repeat_purchases(orders, calibration_end=split.calibration_end,
                                                observation_end=split.observation_end, unit=split.time_unit,
                                                merge=split.merge)
    except Exception as exc:  # noqa: BLE001 - the metrics stand without the chart
        notes.append(f"the tracking chart was left out: {_failure_reason(exc)}")
        actual = None
    makers = {"frequency_histogram": lambda models: charts.frequency_histogram_data(summary, models)}
    if actual is not None:
        makers = {"tracking": lambda models: charts.tracking_data(actual, summary, models, split.holdout_length),
                  **makers}
    for chart, make in makers.items():
        try:
            out[chart] = make(fitted)
        except Exception as exc:  # noqa: BLE001 - retried without the model(s) that fail
            usable = {name: model for name, model in fitted.items() if _chart_works(make, name, model)}
            notes.append(f"the {chart.replace('_', ' ')} chart leaves out "
                         f"{', '.join(sorted(set(fitted) - set(usable))) or 'no model'}: {_failure_reason(exc)}")
            if usable:
                out[chart] = make(usable)
    return out


def _chart_works(make, name: str, model) -> bool:
    try:
        make({name: model})
    except Exception:  # noqa: BLE001
        return False
    return True


# ----- warnings -----------------------------------------------------------------
def data_warnings(split: Split) -> list[str]:
    """Reasons the holdout comparison may not be trustworthy.

    * the calibration period is shorter than 3 mean inter-purchase times
      (``sum t_x / sum x`` over repeat buyers): too few purchase cycles to see
      rates and dropout;
    * fewer than 200 repeat buyers: parameter estimates are noisy;
    * a holdout shorter than a quarter of the calibration period: too little
      future to compare.
    """
    summary = split.frame
    notes = []
    repeat = summary["frequency"] > 0
    n_repeat = int(repeat.sum())
    if n_repeat:
        cycle = summary.loc[repeat, "recency"].sum() / summary.loc[repeat, "frequency"].sum()
        if split.calibration_length < MIN_CALIBRATION_PURCHASE_CYCLES * cycle:
            notes.append(
                f"calibration ({split.calibration_length:.1f} {split.time_unit}s) is shorter than 3 mean inter-purchase times "
                f"(3 x {cycle:.1f} {split.time_unit}s): choose an earlier first date or a later calibration end."
            )
    if n_repeat < MIN_REPEAT_BUYERS:
        notes.append(f"only {n_repeat} repeat buyers in calibration (fewer than {MIN_REPEAT_BUYERS}): "
                     "model estimates and the comparison are noisy.")
    if split.holdout_length < MIN_HOLDOUT_SHARE * split.calibration_length:
        notes.append(f"holdout ({split.holdout_length:.1f} {split.time_unit}s) is shorter than a quarter of calibration "
                     f"({split.calibration_length:.1f} {split.time_unit}s): too little future to judge the models.")
    new = split.data.new_customers_in_holdout or 0
    if new:
        notes.append(f"{new} customers first bought in the holdout window; they are not part of the backtest.")
    return notes


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
