"""The summary of a fitted model: estimates with their uncertainty, and the fit's figures."""

from __future__ import annotations

import dataclasses
from typing import Any

from clv.result_table import ResultTable


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class FitSummary(ResultTable):
    """Estimates, standard errors and 95% intervals, one row per parameter, with the fit's figures.

    Returned by ``model.summary()`` (in the spirit of statsmodels' results
    objects). Reads like its table (``summary["estimate"]``,
    ``summary.reset_index()``); the figures are typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        Index ``parameter``; columns ``estimate``, ``std_error``,
        ``ci95_lower``, ``ci95_upper`` (Wald intervals on the log scale).
    model : str
        Registry name of the model (e.g. ``"bgnbd"``).
    log_likelihood : float
        Maximised log-likelihood.
    aic, bic : float
        ``2k - 2LL`` and ``k ln(n) - 2LL``.
    n : float
        Customers fitted on (the sum of the weights).
    time_unit : str or None
        The unit the model was fitted in (None for unitless arrays).
    model_choice : clv.models.ladder.ModelChoice or None
        Which model the ladder used and why (None for a model fitted directly).
    sufficiency : clv.models.sufficiency.DataSufficiency or None
        The data-sufficiency verdict (None for a model fitted directly).
    """

    model: str
    log_likelihood: float
    aic: float
    bic: float
    n: float
    time_unit: str | None
    model_choice: Any = None
    sufficiency: Any = None

    def __repr__(self) -> str:
        lines = [super().__repr__()]
        lines += [f"{what}" for what in (self.model_choice, self.sufficiency) if what is not None]
        return "\n".join(lines)
