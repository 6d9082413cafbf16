"""Is there enough data for this model? A verdict in plain words and in JSON.

:func:`assess_sufficiency` reads the histories a purchase model was fitted on
and the fitted model's uncertainty, and returns a :class:`DataSufficiency`:
customers, repeat buyers, the calibration length against the typical time
between purchases, how well each parameter is identified, and a verdict:

* ``"insufficient"``: the data cannot support the model: fewer than
  ``MIN_CUSTOMERS_ANY`` customers or ``MIN_REPEAT_BUYERS_ANY`` repeat buyers,
  or a parameter not identified (its 95% interval spans more than
  ``MAX_CI_RATIO_IDENTIFIED`` times, or is infinite);
* ``"thin"``: usable, with wide uncertainty: fewer than ``MIN_CUSTOMERS``
  customers or ``MIN_REPEAT_BUYERS`` repeat buyers, a calibration shorter than
  ``MIN_CALIBRATION_DAYS`` days or ``MIN_TYPICAL_GAPS`` typical inter-purchase
  times, or a parameter with a relative standard error above ``MAX_RELATIVE_SE``;
* ``"sufficient"`` otherwise.

The thresholds, and why:

* ``MIN_CUSTOMERS = 500`` and ``MIN_CALIBRATION_DAYS = 180``: the gates the
  commercial tools publish for their predictive CLV ("at least 500 customers
  who purchased, over at least 180 days"); below them the population
  parameters of a four-parameter model have relative errors of tens of percent.
* ``MIN_REPEAT_BUYERS = 100``: the purchase-rate and dropout parameters are
  learnt from repeat buyers only (one-time buyers tell only that they did not
  return); with a hundred, the rate shape r has a standard error of roughly 15%
  (CDNOW's 1/10 sample: 2,357 customers, 1,050 repeat buyers, 5-8%).
  ``MIN_REPEAT_BUYERS_ANY = 20``: below it a fit is mostly noise.
* ``MIN_TYPICAL_GAPS = 3``: the calibration should cover at least three
  typical (median) times between a repeat buyer's purchases, or silence after
  the last purchase cannot be told from dropout. (It cannot be below 1: a
  repeat buyer's mean gap t_x / x is at most the calibration length.)
* ``MAX_RELATIVE_SE = 0.5``: a standard error above half the estimate means a
  95% interval wider than a factor of about 7 (``exp(2 x 1.96 x 0.5)``).
  ``MAX_CI_RATIO_IDENTIFIED = 1e6``: an interval spanning six orders of
  magnitude (or infinite) means the data do not identify the parameter.

The model ladder (:func:`clv.models.ladder.fit_purchase_model`) sets the
verdict on every model it fits as ``sufficiency_`` (saved in the model's JSON
as ``"sufficiency"``); the fit methods themselves are left untouched, so a fit
stays all or nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from clv.errors import DataError

MIN_CUSTOMERS = 500
MIN_CUSTOMERS_ANY = 50
MIN_REPEAT_BUYERS = 100
MIN_REPEAT_BUYERS_ANY = 20
MIN_CALIBRATION_DAYS = 180.0
MIN_TYPICAL_GAPS = 3.0
MAX_RELATIVE_SE = 0.5
MAX_CI_RATIO_IDENTIFIED = 1e6

VERDICTS = ("sufficient", "thin", "insufficient")


@dataclasses.dataclass(frozen=True)
class ParameterIdentification:
    """How well the data pin down one parameter.

    Parameters
    ----------
    name : str
        The parameter (e.g. ``"r"``).
    estimate : float
        Its maximum-likelihood estimate.
    relative_se : float
        Standard error / estimate (the standard error of log(parameter)); inf when unknown.
    ci_ratio : float
        Upper / lower end of the 95% interval (inf when the interval is unbounded).
    status : {"well identified", "weakly identified", "not identified"}
        ``relative_se <= MAX_RELATIVE_SE``; above it; ``ci_ratio > MAX_CI_RATIO_IDENTIFIED``.
    """

    name: str
    estimate: float
    relative_se: float
    ci_ratio: float
    status: str


@dataclasses.dataclass(frozen=True)
class DataSufficiency:
    """The data-sufficiency verdict of a fitted purchase model.

    Parameters
    ----------
    model : str
        Registry name of the model assessed.
    customers : float
        Customers fitted (sum of the weights).
    repeat_buyers : float
        Customers with at least one repeat purchase.
    time_unit : str or None
        The unit of the durations below (None: unitless arrays).
    calibration_length : float
        The longest customer age T: the calibration window, in ``time_unit``.
    typical_gap : float or None
        Median over repeat buyers of recency / frequency (their mean time
        between purchases), in ``time_unit``; None without repeat buyers.
    calibration_in_gaps : float or None
        ``calibration_length / typical_gap``.
    parameters : tuple of ParameterIdentification
        Per parameter (empty for a model without standard errors).
    verdict : {"sufficient", "thin", "insufficient"}
        See the module docstring for the rule and thresholds.
    reasons : tuple of str
        Why, in plain words (empty when sufficient).
    """

    model: str
    customers: float
    repeat_buyers: float
    time_unit: str | None
    calibration_length: float
    typical_gap: float | None
    calibration_in_gaps: float | None
    parameters: tuple[ParameterIdentification, ...]
    verdict: str
    reasons: tuple[str, ...]

    @property
    def calibration_days(self) -> float | None:
        """The calibration length in days (None for unitless data)."""
        if self.time_unit is None:
            return None
        from clv.units import days_per_unit

        return self.calibration_length * days_per_unit(self.time_unit)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``math.inf`` written as None), the inverse of :meth:`from_dict`."""
        payload = dataclasses.asdict(self)
        payload["parameters"] = [{k: _finite_or_none(v) for k, v in p.items()} for p in payload["parameters"]]
        payload["reasons"] = list(self.reasons)
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> DataSufficiency:
        """The verdict saved by :meth:`as_dict`.

        Parameters
        ----------
        payload : mapping
            What :meth:`as_dict` returned (after a JSON round trip).
        """
        fields = dict(payload)
        fields["parameters"] = tuple(
            ParameterIdentification(**{k: (math.inf if v is None and k in ("relative_se", "ci_ratio") else v)
                                       for k, v in p.items()})
            for p in payload.get("parameters", ())
        )
        fields["reasons"] = tuple(payload.get("reasons", ()))
        return cls(**fields)

    def __str__(self) -> str:
        unit = f" {self.time_unit}s" if self.time_unit else ""
        days = f" ({self.calibration_days:,.0f} days)" if self.calibration_days is not None else ""
        gaps = (f", {self.calibration_in_gaps:.1f} times the typical {self.typical_gap:.3g}{unit} between purchases"
                if self.calibration_in_gaps is not None else "")
        facts = (f"{self.customers:,.0f} customers, {self.repeat_buyers:,.0f} repeat buyers, "
                 f"calibration {self.calibration_length:.3g}{unit}{days}{gaps}")
        why = "; ".join(self.reasons) if self.reasons else "every threshold met"
        return f"data {self.verdict} for {self.model}: {why} ({facts})."


def assess_sufficiency(data: Any, model: Any, *, weights: Any = None) -> DataSufficiency:
    """The data-sufficiency verdict of ``model`` fitted on ``data``.

    Parameters
    ----------
    data : CustomerData or tuple of array-like
        The histories the model was fitted on: a :class:`clv.summary.CustomerData`
        or ``(frequency, recency, T)``.
    model : fitted purchase model
        Its ``standard_errors_`` and ``confidence_intervals_`` (where it has
        them) give the parameters' identification; its ``time_unit_`` the unit.
    weights : array-like, optional
        Customers per row (compressed histories).

    Returns
    -------
    DataSufficiency
        Verdict ``"sufficient"``, ``"thin"`` or ``"insufficient"`` with the
        reasons; thresholds in the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from clv.models import NBDModel
    >>> x, t_x, T = np.array([0, 2, 5, 1] * 50.0), np.array([0, 10, 30, 4] * 50.0), np.full(200, 40.0)
    >>> model = NBDModel().fit(x, t_x, T, time_unit="week")
    >>> assess_sufficiency((x, t_x, T), model).verdict
    'thin'
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (data.rfm() if hasattr(data, "rfm") else data))
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if not (x.shape == t_x.shape == T.shape == w.shape):
        raise DataError("frequency, recency, T and weights must have one length each.")
    repeat = (x > 0) & (w > 0)
    customers, repeat_buyers = float(w.sum()), float(w[repeat].sum())
    length = float(T[w > 0].max()) if customers > 0 else 0.0
    gap = _weighted_median(t_x[repeat] / x[repeat], w[repeat]) if repeat.any() else None
    in_gaps = length / gap if gap else None
    parameters = _identification(model)
    unit = getattr(model, "time_unit_", None)
    verdict, reasons = _verdict(customers, repeat_buyers, length, unit, in_gaps, parameters)
    return DataSufficiency(
        model=getattr(model, "model_name", type(model).__name__), customers=customers, repeat_buyers=repeat_buyers,
        time_unit=unit, calibration_length=length, typical_gap=gap, calibration_in_gaps=in_gaps,
        parameters=parameters, verdict=verdict, reasons=tuple(reasons),
    )


def _identification(model: Any) -> tuple[ParameterIdentification, ...]:
    errors, intervals = getattr(model, "standard_errors_", None), getattr(model, "confidence_intervals_", None)
    if not errors or not intervals:
        return ()
    rows = []
    for name, estimate in model.params_.items():
        if "[" in name:  # a covariate coefficient ("trans[x]"): any sign, an interval around 0 is no sign of trouble
            continue
        se, (low, high) = errors.get(name, math.nan), intervals.get(name, (0.0, math.inf))
        relative = se / estimate if estimate > 0 and math.isfinite(se) else math.inf
        ratio = high / low if low > 0 and math.isfinite(high) else math.inf
        status = ("not identified" if not ratio <= MAX_CI_RATIO_IDENTIFIED else
                  "weakly identified" if relative > MAX_RELATIVE_SE else "well identified")
        rows.append(ParameterIdentification(name, float(estimate), float(relative), float(ratio), status))
    return tuple(rows)


def _verdict(customers, repeat_buyers, length, unit, in_gaps, parameters) -> tuple[str, list[str]]:
    """(verdict, reasons): each failed gate adds a reason; the worst level reached is the verdict."""
    insufficient, thin = [], []
    if customers < MIN_CUSTOMERS_ANY:
        insufficient.append(f"only {customers:,.0f} customers (at least {MIN_CUSTOMERS_ANY} needed)")
    elif customers < MIN_CUSTOMERS:
        thin.append(f"{customers:,.0f} customers (fewer than {MIN_CUSTOMERS})")
    if repeat_buyers < MIN_REPEAT_BUYERS_ANY:
        insufficient.append(f"only {repeat_buyers:,.0f} repeat buyers (at least {MIN_REPEAT_BUYERS_ANY} needed)")
    elif repeat_buyers < MIN_REPEAT_BUYERS:
        thin.append(f"{repeat_buyers:,.0f} repeat buyers (fewer than {MIN_REPEAT_BUYERS})")
    if unit is not None:
        from clv.units import days_per_unit

        days = length * days_per_unit(unit)
        if days < MIN_CALIBRATION_DAYS:
            thin.append(f"a calibration of {days:,.0f} days (shorter than {MIN_CALIBRATION_DAYS:.0f})")
    if in_gaps is not None and in_gaps < MIN_TYPICAL_GAPS:
        thin.append(f"a calibration of only {in_gaps:.1f} typical times between purchases "
                    f"(at least {MIN_TYPICAL_GAPS:g} wanted)")
    for p in parameters:
        if p.status == "not identified":
            insufficient.append(f"{p.name} is not identified by the data (its 95% interval is unbounded or spans "
                                f"more than {MAX_CI_RATIO_IDENTIFIED:.0e} times)")
        elif p.status == "weakly identified":
            thin.append(f"{p.name} is weakly identified (standard error {p.relative_se:.0%} of the estimate)")
    if insufficient:
        return "insufficient", insufficient + thin
    return ("thin", thin) if thin else ("sufficient", [])


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
