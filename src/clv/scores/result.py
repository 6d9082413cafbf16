"""The result of scoring: per-customer predictions with the settings that produced them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from clv.result_table import ResultTable


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Scores(ResultTable):
    """Per-customer scores (``p_alive``, ``expected_purchases``, ``clv``, interval columns) and their settings.

    Returned by :func:`clv.scores.score_customers`. Reads like its table
    (``scores["clv"]``, ``scores.sort_values("clv")``); the settings are typed
    fields, not ``DataFrame.attrs``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer, in the order of the customer data.
    model : str
        Registry name of the purchase model (e.g. ``"bgnbd"``).
    time_unit : str
        Unit of the customer data and of ``horizon``.
    horizon : float or None
        Length of the forecast window in ``time_unit``; None for the whole
        remaining lifetime.
    discount_rate : float
        Annual discount rate applied to future purchases (0.10 = 10% a year).
    margin : float
        Fraction of purchase value counted as value.
    discount_step : str or float
        Length of one discounting step (a unit name, or a number of ``time_unit``).
    has_amounts : bool
        False for a purchase log: no ``expected_spend`` or ``clv`` columns.
    model_time_unit : str or None
        The unit the model was fitted in, when it differs from ``time_unit``
        (the data were converted to it before scoring).
    interval_method : str or None
        How the interval columns were computed ("closed", "factorised",
        "simulate"), None without intervals.
    n_draws, seed : int or None
        Monte Carlo draws and seed of the intervals.
    quantile_level_mc_sd : dict or None
        Monte Carlo standard error of each quantile level.
    interval_uncertainty : str or None
        What the intervals include: ``"parameters and process noise"``, or
        ``"process noise only (...)"`` with the reason when a fit's parameter
        uncertainty is unusable (:func:`clv.scores.intervals.interval_uncertainty`);
        None without intervals.
    observation_end : datetime.date or None
        The observation end of the customer data (when known): the forecast
        window starts the day after.
    currency : str or None
        Currency of ``expected_spend`` and ``clv`` (when known).
    interval_calibration : dict or None
        How the intervals were recalibrated (:meth:`clv.scores.calibration.IntervalCalibration.as_dict`:
        method, inner split, nominal levels used, inner coverage before and after); None when
        the intervals are the model's at their nominal levels (not recalibrated).
    """

    model: str
    time_unit: str
    horizon: float | None
    discount_rate: float
    margin: float
    discount_step: str | float = "month"
    has_amounts: bool = True
    model_time_unit: str | None = None
    interval_method: str | None = None
    n_draws: int | None = None
    seed: int | None = None
    quantile_level_mc_sd: dict[str, float] | None = None
    interval_uncertainty: str | None = None
    observation_end: dt.date | None = None
    currency: str | None = None
    interval_calibration: dict[str, Any] | None = None

    def settings(self) -> dict[str, Any]:
        """The settings as JSON-ready values (for reports and saved outputs)."""
        settings = self.context()
        if settings["observation_end"] is not None:
            settings["observation_end"] = settings["observation_end"].isoformat()
        return settings
