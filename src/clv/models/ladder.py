"""The model ladder: THE one way every command fits a purchase model.

:func:`fit_purchase_model` fits the requested model and falls back to the
nested NBD without dropout (:class:`clv.models.nbd.NBDModel`, the BG/NBD
a -> 0 and Pareto/NBD s -> 0 limit) when the data show no detectable churn,
by one documented rule, the same for the CLI (fit, score, segments, what-if,
report), the backtest, cohorts, acquisition and the demo.

The rule (requested model BG/NBD, MBG/NBD or Pareto/NBD; ``fallback=True``)
----------------------------------------------------------------------------
1. The requested fit is refused (:class:`clv.errors.FitError`: parameters not
   identified, a parameter at the edge of the parameter space, no finite
   likelihood) -> NBD.
2. A dropout parameter (a or b for BG/NBD and MBG/NBD, s or beta for
   Pareto/NBD) is at the edge of its range: below ``EDGE_LOW`` or above
   ``EDGE_HIGH``, or its 95% interval spans more than ``EDGE_CI_RATIO`` times
   (or is unbounded) -> NBD. Such a fit sits somewhere on a flat ridge of the
   likelihood: its dropout figures are arbitrary.
3. The likelihood-ratio test of the requested model against the NBD does not
   show dropout at the 5% level (``SIGNIFICANCE``) -> NBD.
4. Otherwise the requested model.

The test. LR = 2 (LL_requested - LL_nbd) (the three likelihoods share the
NBD's base measure, so they are comparable; LR is set to 0 when rounding
makes it negative). The NBD sits on the boundary of the requested model's
space (a = 0 or s = 0, a value the parameter can only approach from above),
so LR is not chi-square with 2 degrees of freedom: by Self & Liang (1987) a
null on the boundary gives a 50:50 mixture, and we take
``0.5 chi2_0 + 0.5 chi2_2`` (p = 0.5 P(chi2_2 >= LR) for LR > 0, 1 for
LR = 0; 5% critical value 4.61). The second dropout parameter is not
identified under the null (Davies' problem), so any chi-square reference is an
approximation; this one is the simple, standard choice (Stram & Lee 1994 use
it for variance components) and it is stable: the decision depends on the
log-likelihoods only, so two optima of equal likelihood (the optimiser's
a -> 0 edge or an interior point on the same ridge) give the same answer.

``fallback=False`` returns the requested model whenever it fits (a refused
fit raises its FitError, as before); when the rule would have fallen back, it
warns (:class:`FallbackWarning`) and says so in ``model_choice_``: never a
silent edge fit. Models without a nested NBD (NBD itself, BG/BB in discrete
time, models registered by users) are fitted as asked.

Every fitted model gets ``model_choice_`` (:class:`ModelChoice`) and
``sufficiency_`` (:class:`clv.models.sufficiency.DataSufficiency`), both
saved in its JSON (``"model_choice"``, ``"sufficiency"``) and shown by
``model.summary()``. They are set here, after a successful fit, so the fit
methods stay all or nothing.

References: Self, S. G. and Liang, K.-Y. (1987), JASA 82(398), 605-610;
Stram, D. O. and Lee, J. W. (1994), Biometrics 50(4), 1171-1177.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from typing import Any

from clv.errors import DataError, FitError
from clv.models import model_class, model_family, model_label

NESTED_MODEL = "nbd"
SIGNIFICANCE = 0.05
EDGE_LOW, EDGE_HIGH = 1e-4, 1e6  # as clv.models.base.require_identified: beyond these a parameter "went to 0 or inf"
EDGE_CI_RATIO = 1e6  # a 95% interval spanning six orders of magnitude identifies nothing


class FallbackWarning(UserWarning):
    """A model kept with ``fallback=False`` although the ladder's rule would have used the NBD instead."""


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """Which purchase model was used, and why (see :mod:`clv.models.ladder` for the rule).

    Parameters
    ----------
    requested : str
        The model asked for (registry name).
    used : str
        The model fitted and returned.
    reason : str
        Why, in plain words.
    log_likelihood_requested : float or None
        The requested model's maximised log-likelihood (None when its fit was refused or not compared).
    log_likelihood_nbd : float or None
        The NBD's (None when not compared).
    lr_statistic : float or None
        ``2 (LL_requested - LL_nbd)``, at least 0.
    p_value : float or None
        Under the boundary null ``0.5 chi2_0 + 0.5 chi2_2``.
    fallback : bool
        Whether falling back was allowed.
    """

    requested: str
    used: str
    reason: str
    log_likelihood_requested: float | None = None
    log_likelihood_nbd: float | None = None
    lr_statistic: float | None = None
    p_value: float | None = None
    fallback: bool = True

    @property
    def fell_back(self) -> bool:
        """True when the model used is not the one requested."""
        return self.used != self.requested

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, the inverse of :meth:`from_dict`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ModelChoice:
        """The choice saved by :meth:`as_dict`.

        Parameters
        ----------
        payload : mapping
            What :meth:`as_dict` returned (after a JSON round trip).
        """
        return cls(**dict(payload))

    def __str__(self) -> str:
        used, requested = _label(self.used), _label(self.requested)
        if self.fell_back:
            return f"model {used} used instead of {requested}: {self.reason}"
        return f"model {used}: {self.reason}"


def fit_purchase_model(data: Any, model: str = "bgnbd", *, fallback: bool = True, time_unit: str | None = None,
                       weights: Any = None):
    """Fit a purchase model by the ladder's rule: the requested model, or the NBD when the data show no churn.

    Rule (module docstring of :mod:`clv.models.ladder`): fall back to the NBD
    without dropout when the requested fit is refused, when a dropout parameter
    (a, b of BG/NBD and MBG/NBD; s, beta of Pareto/NBD) is at the edge of its
    range, or when the likelihood-ratio test against the NBD (boundary null
    ``0.5 chi2_0 + 0.5 chi2_2``) is not significant at 5%.

    Parameters
    ----------
    data : CustomerData or tuple of array-like
        A :class:`clv.summary.CustomerData` (its columns and unit) or ``(frequency, recency, T)``.
    model : str, default "bgnbd"
        A registered purchase model (``"bgnbd"``, ``"mbgnbd"``, ``"pareto"``,
        ``"nbd"``, ``"bgbb"``...).
    fallback : bool, default True
        False: return the requested model whenever it fits (its FitError
        otherwise) and warn (:class:`FallbackWarning`) where the rule would have fallen back.
    time_unit : str, optional
        The unit of arrays (a CustomerData gives its own).
    weights : array-like, optional
        Customers per row.

    Returns
    -------
    PurchaseModel
        Fitted, with ``model_choice_`` (:class:`ModelChoice`) and
        ``sufficiency_`` (:class:`clv.models.sufficiency.DataSufficiency`).

    Raises
    ------
    FitError
        When the requested model is refused and the NBD is refused too (or ``fallback=False``).
    DataError
        For an unknown or non-purchase model name, or invalid histories.

    Examples
    --------
    >>> import numpy as np
    >>> from clv.models import NBDModel
    >>> history = NBDModel().simulate(T=np.full(3000, 52.0), params={"r": 0.8, "alpha": 9.0}, rng=3)
    >>> fitted = fit_purchase_model(tuple(history[c] for c in ("frequency", "recency", "T")), "bgnbd", time_unit="week")
    >>> fitted.model_name, fitted.model_choice_.requested
    ('nbd', 'bgnbd')
    """
    if model_family(model) != "purchase":
        raise DataError(f"model {model!r} is not a purchase model; expected one of the purchase models, e.g. 'bgnbd'.")
    fit_args = _fit_arguments(data, time_unit, weights)
    if getattr(data, "covariate_names", ()) and _dropout_parameters(model):
        return _fit_with_covariates(model, data, fallback, fit_args)
    if not _dropout_parameters(model):
        fitted = model_class(model)().fit(*fit_args[0], **fit_args[1])
        reason = "as asked (the NBD without dropout)" if model == NESTED_MODEL else "as asked (no nested model to compare)"
        return _finish(fitted, ModelChoice(model, model, reason, fallback=fallback), data, weights)
    try:
        requested = model_class(model)().fit(*fit_args[0], **fit_args[1])
    except FitError as refused:
        if not fallback:
            raise
        return _fall_back_after_refusal(model, refused, fit_args, data, weights)
    try:
        nested = model_class(NESTED_MODEL)().fit(*fit_args[0], **fit_args[1])
    except FitError:
        choice = ModelChoice(model, model, "as asked (the NBD could not be fitted to compare)",
                             log_likelihood_requested=requested.log_likelihood_, fallback=fallback)
        return _finish(requested, choice, data, weights)
    return _decide(model, requested, nested, fallback, data, weights)


def likelihood_ratio_test(log_likelihood_full: float, log_likelihood_nested: float, extra_parameters: int = 2):
    """(LR statistic, p-value) of a nested model on the boundary: null distribution 0.5 chi2_0 + 0.5 chi2_k.

    Parameters
    ----------
    log_likelihood_full, log_likelihood_nested : float
        Maximised log-likelihoods of the larger model and of its boundary limit.
    extra_parameters : int, default 2
        k, the parameters the larger model adds.

    Returns
    -------
    tuple of float
        ``LR = max(0, 2 (LL_full - LL_nested))`` and ``p = 0.5 P(chi2_k >= LR)``
        (1 when LR = 0), Self & Liang (1987).
    """
    from scipy.special import chdtrc  # chi-square survival function; scipy.stats would add ~1 s of import to a fit

    statistic = max(0.0, 2.0 * (float(log_likelihood_full) - float(log_likelihood_nested)))
    p_value = 1.0 if statistic <= 0.0 else 0.5 * float(chdtrc(extra_parameters, statistic))
    return statistic, p_value


def edge_parameters(model: Any) -> list[str]:
    """The dropout parameters of a fitted BG/NBD, MBG/NBD or Pareto/NBD at the edge of their range.

    A parameter is at the edge below ``EDGE_LOW``, above ``EDGE_HIGH``, or
    when its 95% interval spans more than ``EDGE_CI_RATIO`` times (or is unbounded).

    Parameters
    ----------
    model : fitted purchase model

    Returns
    -------
    list of str
        Their names (empty when none, or for a model without dropout parameters).
    """
    edge = []
    intervals = getattr(model, "confidence_intervals_", {})
    for name in getattr(type(model), "dropout_parameters", ()):
        value = model.params_[name]
        low, high = intervals.get(name, (0.0, math.inf))
        ratio = high / low if low > 0 and math.isfinite(high) else math.inf
        if not (EDGE_LOW <= value <= EDGE_HIGH) or not ratio <= EDGE_CI_RATIO:
            edge.append(name)
    return edge


# ----- the steps ---------------------------------------------------------------------------
def _dropout_parameters(model: str) -> tuple[str, ...]:
    """The registered model's dropout parameters (its class's ``dropout_parameters``)."""
    return tuple(getattr(model_class(model), "dropout_parameters", ()))


def _fit_arguments(data: Any, time_unit: str | None, weights: Any) -> tuple[tuple, dict]:
    keywords: dict[str, Any] = {}
    if weights is not None:
        keywords["weights"] = weights
    if time_unit is not None:
        keywords["time_unit"] = time_unit
    if hasattr(data, "rfm") and hasattr(data, "time_unit"):
        return (data,), keywords
    if isinstance(data, (tuple, list)) and len(data) == 3:
        return tuple(data), keywords
    raise DataError("data must be customer data (clv.summary.CustomerData) or a (frequency, recency, T) tuple. "
                    "Fix: pass the summary returned by clv.summarize.")


def _fit_with_covariates(model: str, data: Any, fallback: bool, fit_args):
    """The ladder on customer data with covariates: the churn question is decided without them.

    The rule above runs on ``data.without_covariates()`` (the NBD takes no
    covariates, and the likelihood-ratio test is about dropout). When it keeps
    the requested model, that model is fitted with the covariates (a model that
    does not support them refuses, naming the fix); when it falls back to the
    NBD, the reason says the covariates were dropped.
    """
    from clv.models.contract import refuse_covariates, supports_covariates

    names = list(data.covariate_names)
    if not supports_covariates(model_class(model)):
        refuse_covariates(model_class(model), names)
    keywords = {k: v for k, v in fit_args[1].items() if k in ("weights", "time_unit")}
    plain = fit_purchase_model(data.without_covariates(), model, fallback=fallback, **keywords)
    choice = plain.model_choice_
    if choice.used != model:
        dropped = f"{choice.reason}; the covariates {names} were dropped (the NBD takes none)"
        plain.model_choice_ = dataclasses.replace(choice, reason=dropped)
        return plain
    fitted = model_class(model)().fit(*fit_args[0], **fit_args[1])
    with_covariates = dataclasses.replace(choice, reason=f"{choice.reason}; fitted with the covariates {names}")
    return _finish(fitted, with_covariates, data, keywords.get("weights"))


def _fall_back_after_refusal(model: str, refused: FitError, fit_args, data, weights):
    try:
        nested = model_class(NESTED_MODEL)().fit(*fit_args[0], **fit_args[1])
    except FitError:
        raise refused from None
    reason = (f"the {_label(model)} fit was refused ({_first_sentence(refused)}); the data show no churn the "
              f"model can estimate, so every customer is treated as active (NBD)")
    choice = ModelChoice(model, NESTED_MODEL, reason, log_likelihood_nbd=nested.log_likelihood_)
    return _finish(nested, choice, data, weights)


def _decide(model: str, requested, nested, fallback: bool, data, weights):
    statistic, p_value = likelihood_ratio_test(requested.log_likelihood_, nested.log_likelihood_,
                                               len(requested.params_) - len(nested.params_))
    figures = dict(log_likelihood_requested=requested.log_likelihood_, log_likelihood_nbd=nested.log_likelihood_,
                   lr_statistic=statistic, p_value=p_value, fallback=fallback)
    test = f"likelihood-ratio test against the NBD: LR = {statistic:.2f}, p = {p_value:.3g}"
    edge = edge_parameters(requested)
    if edge:
        why = (f"the dropout parameter{'s' if len(edge) > 1 else ''} {', '.join(edge)} of {_label(model)} went to the "
               f"edge of {'their' if len(edge) > 1 else 'its'} range (no detectable churn in this window; {test})")
    elif p_value >= SIGNIFICANCE:
        why = f"the data show no significant churn ({test}, not below {SIGNIFICANCE:g})"
    else:
        return _finish(requested, ModelChoice(model, model, f"the data show churn ({test})", **figures), data, weights)
    if fallback:
        reason = f"{why}; every customer is treated as active (NBD)"
        return _finish(nested, ModelChoice(model, NESTED_MODEL, reason, **figures), data, weights)
    reason = f"kept as asked (no fallback) although {why}: its dropout figures are not supported by the data"
    warnings.warn(f"{_label(model)} {reason}. Fix: allow the fallback to the NBD.", FallbackWarning, stacklevel=3)
    return _finish(requested, ModelChoice(model, model, reason, **figures), data, weights)


def _finish(fitted, choice: ModelChoice, data, weights):
    from clv.models.sufficiency import assess_sufficiency

    sufficiency = assess_sufficiency(data, fitted, weights=weights)
    fitted.model_choice_ = choice
    fitted.sufficiency_ = sufficiency
    return fitted


def _label(name: str) -> str:
    try:
        return model_label(name)
    except DataError:
        return name


def _first_sentence(error: Exception) -> str:
    text = str(error)
    head = text.split(": ", 1)[1] if ": " in text.split(".")[0] else text
    return head.split(" (")[0].split(". ")[0].rstrip(".")
