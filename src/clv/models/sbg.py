"""Shifted-beta-geometric (sBG) model of contract renewal (Fader & Hardie 2007).

Setting: customers sign up at time 0 and at the end of each period either renew
or cancel (a contractual, discrete-time setting: subscriptions, memberships,
annual policies). Each customer cancels at each renewal point with a constant
probability ``theta``; ``theta`` varies across customers as Beta(alpha, beta).

Source: P. S. Fader and B. G. S. Hardie (2007), "How to Project Customer
Retention", Journal of Interactive Marketing 21(1), 76-90, eqs. (1)-(7); the
discounted residual lifetime is from P. S. Fader and B. G. S. Hardie (2010),
"Customer-Base Valuation in a Contractual Setting: The Perils of Ignoring
Heterogeneity", Marketing Science 29(1), 85-93, eq. (6).

Time is counted in whole contract periods (months, years ... whatever the
renewal cycle is). ``T`` is the period in which a customer cancels, T = 1, 2, ...:
a customer with T = 1 paid for the first period and did not renew.

* ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``
* ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)``
* ``r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)``
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from clv.errors import DataError, FitError
from clv.lazy import LazyModule
from clv.models.base import (
    MaximumLikelihoodModel,
    as_float_array,
    require_customers,
    validate_weights,
)
from clv.models.contract import ContractualCapabilities, ContractualModel

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

# log G(a+b)G(1+b+h)/(G(1+b)G(a+b+h)) is analytic in a - 1 with radius 1 + b; inside
# a fraction of it a Taylor series avoids the cancellation of the betaln form.
_TAYLOR_RADIUS = 0.02
_TAYLOR_TERMS = 8


class ShiftedBetaGeometricModel(MaximumLikelihoodModel, ContractualModel):
    """sBG model: per-period churn probability theta ~ Beta(alpha, beta).

    Parameters (paper's names): ``alpha``, ``beta`` of the beta mixing
    distribution; the mean churn probability of a new customer is
    alpha / (alpha + beta). Periods are contract periods (whatever unit the
    data use: months, years...); every ``t`` argument is a count of them.

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search, one positive value per parameter
        (``"alpha", "beta"``). The search starts there and, if it does
        not converge from it, goes on from data-based guesses and a few fixed points, keeping the
        best optimum; None starts from those. A start missing a parameter makes the fit raise
        :class:`clv.errors.DataError`.
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.

    Attributes
    ----------
    params_ : dict of str to float
        The maximum-likelihood estimates, by parameter name (set by a successful fit only).
    standard_errors_ : dict of str to float
        Their standard errors (delta method from the observed information).
    confidence_intervals_ : dict of str to tuple of float
        95% Wald intervals, computed on the log scale (always positive).
    log_likelihood_ : float
        The maximised (weighted) log-likelihood.
    n_ : float
        The customers fitted (the sum of the weights).
    n_distinct_ : int
        The distinct rows the likelihood was evaluated on.
    time_unit_ : str or None
        The unit of the durations fitted (``fit(..., time_unit=...)``, or the customer data's);
        None for unitless arrays. Saved by ``to_dict`` / ``to_json``.

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was. Before a successful
    fit, a method that needs one raises :class:`clv.errors.NotFittedError`.

    References
    ----------
    Fader, P. S. and Hardie, B. G. S. (2007). "How to Project Customer Retention". *Journal of
    Interactive Marketing* 21(1), 76-90.

    Fader, P. S. and Hardie, B. G. S. (2010). "Customer-Base Valuation in a Contractual Setting:
    The Perils of Ignoring Heterogeneity". *Marketing Science* 29(1), 85-93 (discounted residual
    lifetime).

    Examples
    --------
    The "high end" cohort of Fader & Hardie (2007), survivors over 7 annual renewals; the paper's
    estimates are alpha = 0.668, beta = 3.806:

    >>> model = ShiftedBetaGeometricModel().fit_survival(
    ...     [1000, 869, 743, 653, 593, 551, 517, 491], time_unit="year"
    ... )
    >>> {name: round(value, 3) for name, value in model.params_.items()}
    {'alpha': 0.668, 'beta': 3.806}
    """

    param_names = ("alpha", "beta")
    model_name = "sbg"
    capabilities: ClassVar[ContractualCapabilities] = ContractualCapabilities(
        discrete_time=True, closed_form_residual_lifetime=True
    )
    _fit_methods: ClassVar[tuple[str, ...]] = ("fit", "fit_survival")

    # ----- fitting --------------------------------------------------------
    def fit(self, tenure: Any, churned: Any, weights: Any = None) -> "ShiftedBetaGeometricModel":
        """Fit on per-customer tenures with right-censoring.

        ``tenure``: whole periods. For a customer who cancelled (``churned``
        true) it is the period of cancellation T >= 1 (= the number of periods
        paid for); for an active customer (``churned`` false) it is the number
        of renewal points survived so far (>= 0), i.e. we know T > tenure.
        ``weights``: optional count of customers sharing the row.

        Likelihood (Fader & Hardie 2007, eq. 7 generalised to per-customer
        data): churned rows contribute P(T = tenure), active rows S(tenure).
        """
        tenure, churned = validate_tenure(tenure, churned)
        weights = validate_weights(weights, tenure.shape[0])
        return self._fit_checked(tenure, churned, weights)

    def fit_survival(self, survivors: Any) -> "ShiftedBetaGeometricModel":
        """Fit on a cohort's survivor counts ``survivors[t]`` alive at t = 0, 1, ..., n.

        The ``survivors[t-1] - survivors[t]`` customers lost in period t each
        contribute P(T = t); the ``survivors[n]`` still active contribute S(n)
        (Fader & Hardie 2007, eq. 7). Counts need not be whole numbers (a
        percentage series of a cohort of 100 works) but must not increase.
        """
        tenure, churned, weights = survival_to_rows(survivors)
        return self._fit_checked(tenure, churned, weights)

    def _fit_checked(self, tenure: np.ndarray, churned: np.ndarray, weights: np.ndarray | None):
        require_customers(self, tenure.shape[0], weights)
        counted = np.ones(tenure.shape, dtype=bool) if weights is None else weights > 0
        if not np.any(counted & (churned == 1.0)):
            raise FitError(
                "no customer cancelled: the churn probability cannot be estimated (its maximum-likelihood "
                "value is 0). Check the churned column, or wait for cancellations to be observed."
            )
        past_first = counted & (((churned == 0.0) & (tenure >= 1)) | ((churned == 1.0) & (tenure >= 2)))
        if not np.any(past_first):
            raise FitError(
                "no customer was observed past the first renewal point, so the spread of churn "
                "probabilities (alpha and beta separately) is not identified; data over at least two periods is needed."
            )
        self._fit({"tenure": tenure, "churned": churned}, weights)
        require_identified(self, (("alpha", "beta"),))
        return self

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        alpha, beta = params
        t, churned = data["tenure"], data["churned"] > 0
        base = special.betaln(alpha, beta)
        lost = special.betaln(alpha + 1.0, beta + np.maximum(t - 1.0, 0.0)) - base
        alive = special.betaln(alpha, beta + t) - base
        # Both are log-probabilities; for huge beta the difference of two betaln
        # values (each ~ beta log beta) can round a hair above 0 (1e-9 at beta = 1e6).
        return np.minimum(np.where(churned, lost, alive), 0.0)

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        alpha, beta = params
        t, churned = data["tenure"], data["churned"] > 0
        common = special.digamma(alpha + beta)
        d_alpha_lost = special.digamma(alpha + 1.0) - special.digamma(alpha) - special.digamma(alpha + beta + t) + common
        d_beta_lost = special.digamma(beta + np.maximum(t - 1.0, 0.0)) - special.digamma(beta) - special.digamma(alpha + beta + t) + common
        d_alpha_alive = common - special.digamma(alpha + beta + t)
        d_beta_alive = special.digamma(beta + t) - special.digamma(beta) - special.digamma(alpha + beta + t) + common
        return np.column_stack([
            np.where(churned, d_alpha_lost, d_alpha_alive),
            np.where(churned, d_beta_lost, d_beta_alive),
        ])

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        # Geometric MLE of the mean churn rate, spread as Beta(m, 1 - m) * 2.
        churns = float(weights @ (data["churned"] > 0))
        exposure = float(weights @ data["tenure"])
        mean = np.clip(churns / max(exposure, 1e-12), 0.01, 0.99)
        return np.array([2 * mean, 2 * (1 - mean)])

    # ----- predictions ----------------------------------------------------
    def churn_probability(self, t: Any) -> np.ndarray:
        """P(T = t): probability a new customer cancels in period t (t = 1, 2, ...).

        ``B(alpha + 1, beta + t - 1) / B(alpha, beta)`` (Fader & Hardie 2007, eq. 3).
        """
        alpha, beta = self.params
        t = _periods(t, "t", minimum=1)
        return np.exp(special.betaln(alpha + 1.0, beta + t - 1.0) - special.betaln(alpha, beta))

    def survival(self, t: Any) -> np.ndarray:
        """S(t) = P(T > t): share of a new cohort still active after t periods.

        ``B(alpha, beta + t) / B(alpha, beta)`` (Fader & Hardie 2007, eq. 4); S(0) = 1.
        """
        alpha, beta = self.params
        t = _periods(t, "t", minimum=0)
        return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))

    def retention_rate(self, t: Any) -> np.ndarray:
        """r(t) = S(t) / S(t-1) = (beta + t - 1) / (alpha + beta + t - 1), t >= 1.

        The cohort-level retention rate rises with t as the customers most
        likely to churn leave (Fader & Hardie 2007, eq. 6).
        """
        alpha, beta = self.params
        t = _periods(t, "t", minimum=1)
        return (beta + t - 1.0) / (alpha + beta + t - 1.0)

    def expected_lifetime(self) -> float:
        """E[T] in periods for a new customer: (alpha + beta - 1) / (alpha - 1).

        Infinite when alpha <= 1: E[1/theta] diverges because enough customers
        have churn probabilities near 0. ``inf`` is returned then (not NaN);
        use :meth:`expected_renewals` over a finite horizon or
        :meth:`discounted_expected_residual_lifetime` with a positive discount
        rate instead.
        """
        alpha, beta = self.params
        return float((alpha + beta - 1.0) / (alpha - 1.0)) if alpha > 1.0 else float("inf")

    def expected_renewals(self, n_periods: Any, renewals_so_far: Any = 0) -> np.ndarray:
        """Expected number of renewals over the next ``n_periods`` renewal points.

        For a new customer (``renewals_so_far = 0``) it is
        ``sum_{t=1..n} S(t) = beta/(alpha-1) * [1 - G(alpha+beta) G(1+beta+n) / (G(1+beta) G(alpha+beta+n))]``
        (G = gamma function; limit beta * [psi(1+beta+n) - psi(1+beta)] at alpha = 1).
        For a customer who has renewed r times the posterior of theta is
        Beta(alpha, beta + r), so beta is replaced by beta + r.
        """
        alpha, beta = self.params
        n = _periods(n_periods, "n_periods", minimum=0)
        r = _periods(renewals_so_far, "renewals_so_far", minimum=0)
        return expected_survived_periods(alpha, beta + r, n)

    def expected_remaining_lifetime(self, renewals_so_far: Any) -> np.ndarray:
        """Expected number of further renewals of a customer who has renewed r times.

        ``(beta + r) / (alpha - 1)``: the undiscounted limit of
        :meth:`discounted_expected_residual_lifetime`; ``inf`` when alpha <= 1.
        """
        alpha, beta = self.params
        r = _periods(renewals_so_far, "renewals_so_far", minimum=0)
        if alpha <= 1.0:
            return np.full(r.shape, np.inf)
        return (beta + r) / (alpha - 1.0)

    def discounted_expected_residual_lifetime(self, renewals_so_far: Any, discount_rate: float) -> np.ndarray:
        """DERL: discounted expected number of future payments of an active customer.

        Fader & Hardie (2010), eq. (6): the customer has made n - 1 = r
        renewals and we stand at the end of period n, just before the next
        renewal decision. Each future renewal brings one payment at the start
        of its period: the imminent one undiscounted, the one after by
        1/(1+d), and so on, each weighted by its survival probability
        S(t) / S(n - 1) = B(alpha, beta + t) / B(alpha, beta + n - 1):

            DERL(d | r) = (beta + r) / (alpha + beta + r)
                          * 2F1(1, beta + r + 1; alpha + beta + r + 1; 1/(1+d))

        ``discount_rate`` d is per period (a yearly rate for yearly contracts);
        d = 0 gives :meth:`expected_remaining_lifetime` (inf when alpha <= 1).
        Multiply by the margin per period to get the residual lifetime value.
        """
        alpha, beta = self.params
        r = _periods(renewals_so_far, "renewals_so_far", minimum=0)
        d = _discount_rate(discount_rate)
        z = 1.0 / (1.0 + d)
        first = (beta + r) / (alpha + beta + r)
        return first * hyp2f1_unit_a(beta + r + 1.0, alpha, z)

    def discounted_expected_lifetime(self, discount_rate: float) -> np.ndarray:
        """DEL: discounted expected number of payments of a customer about to sign up.

        Fader & Hardie (2010), eq. (5): the first payment now, undiscounted,
        then one per renewal: ``DEL(d) = 2F1(1, beta; alpha + beta; 1/(1+d))``.
        ``discount_rate`` d is per period; d = 0 gives E[T] (inf when alpha <= 1).
        """
        alpha, beta = self.params
        d = _discount_rate(discount_rate)
        return hyp2f1_unit_a(np.full(d.shape, beta), alpha, 1.0 / (1.0 + d))


# ----- shared helpers (also used by the BG/BB model) ------------------------
def expected_survived_periods(shape_churn: Any, shape_stay: Any, horizon: Any) -> np.ndarray:
    """sum_{t=1..h} B(a, b + t) / B(a, b): expected periods survived out of the next h.

    a = ``shape_churn``, b = ``shape_stay`` (the Beta(a, b) churn-probability
    distribution). Closed form b/(a-1) * [1 - G(a+b) G(1+b+h) / (G(1+b) G(a+b+h))]
    (Fader, Hardie & Shang 2010, eq. 8 without the purchase-probability factor).
    log R is a difference of ``betaln`` terms, except when |a - 1| is small
    relative to 1 + b (a near 1, or b large: both make log R tiny and the
    betaln difference cancel): there its Taylor series in (a - 1), with
    coefficients psi^(k-1)(1+b) - psi^(k-1)(1+b+h), is used; a = 1 exactly
    gives the limit b [psi(1+b+h) - psi(1+b)].
    ``horizon`` may be ``inf`` (expected lifetime minus 1; infinite when a <= 1).
    """
    a, b, h = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (shape_churn, shape_stay, horizon)))
    eps = a - 1.0
    near = np.abs(eps) < _TAYLOR_RADIUS * (1.0 + b)
    with np.errstate(all="ignore"):
        above = special.betaln(eps, 1.0 + b + h) - special.betaln(eps, 1.0 + b)
        below = special.betaln(-eps, a + b) - special.betaln(-eps, a + b + h)
        taylor = sum(
            eps**k / math.factorial(k) * (special.polygamma(k - 1, 1.0 + b) - special.polygamma(k - 1, 1.0 + b + h))
            for k in range(1, _TAYLOR_TERMS + 1)
        )
        log_ratio = np.where(near, taylor, np.where(eps > 0, above, below))
        value = b * -np.expm1(log_ratio) / eps
        at_one = b * (special.digamma(1.0 + b + h) - special.digamma(1.0 + b))
        value = np.where(eps == 0, at_one, value)
        value = np.where(np.isinf(h), np.where(a > 1.0, b / eps, np.inf), value)
    return np.where(h == 0, 0.0, value)


def hyp2f1_unit_a(b: Any, gap: Any, z: Any) -> np.ndarray:
    """Gauss hypergeometric 2F1(1, b; b + gap; z) for b > 0, gap > 0, 0 <= z <= 1.

    This is sum_k (b)_k / (b+gap)_k z^k = E[1 / (1 - z (1 - theta))] with
    theta ~ Beta(gap, b): the discounted sum of survival probabilities in DERT
    and DERL. ``scipy.special.hyp2f1`` returns NaN for large b (b >~ 1000 near
    z = 1, i.e. long histories with a small discount rate); those entries are
    evaluated with Gauss's continued fraction (Lentz's method) instead, which
    converges for every z < 1. At z = 1 the series sums to
    (b + gap - 1) / (gap - 1) when gap > 1 and diverges otherwise.
    """
    b, gap, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (b, gap, z)))
    out = np.empty(b.shape)
    at_one = z >= 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out[at_one] = np.where(gap[at_one] > 1.0, (b[at_one] + gap[at_one] - 1.0) / (gap[at_one] - 1.0), np.inf)
    rest = ~at_one
    out[rest] = special.hyp2f1(1.0, b[rest], b[rest] + gap[rest], z[rest])
    bad = rest & ~(np.isfinite(out) & (out > 0))
    if bad.any():
        out[bad] = _hyp2f1_unit_a_continued_fraction(b[bad], gap[bad], z[bad])
    return out


def _hyp2f1_unit_a_continued_fraction(b, gap, z, max_terms: int = 200_000, tol: float = 1e-15):
    """2F1(1, b; c + 1; z) with c = b + gap - 1 by Gauss's continued fraction.

    F(1, b; c+1; z) / F(0, b; c; z) = 1 / (1 + k1 z / (1 + k2 z / (1 + ...))),
    k_{2n} = (b - c - n) n / ((c+2n-1)(c+2n)), k_{2n+1} = -(c + n)(b + n) / ((c+2n)(c+2n+1)),
    evaluated by the modified Lentz algorithm, vectorised over entries.
    """
    c = b + gap - 1.0
    tiny = 1e-300
    value = np.ones_like(b)
    lentz_c = value.copy()
    lentz_d = np.zeros_like(b)
    active = np.ones(b.shape, dtype=bool)
    for j in range(1, max_terms):
        n = j // 2
        if j % 2:
            k = -(c + n) * (b + n) / ((c + 2 * n) * (c + 2 * n + 1))
        else:
            k = (b - c - n) * n / ((c + 2 * n - 1) * (c + 2 * n))
        a = k * z
        lentz_d = 1.0 + a * lentz_d
        lentz_d = np.where(np.abs(lentz_d) < tiny, tiny, lentz_d)
        lentz_c = 1.0 + a / lentz_c
        lentz_c = np.where(np.abs(lentz_c) < tiny, tiny, lentz_c)
        lentz_d = 1.0 / lentz_d
        delta = lentz_c * lentz_d
        value = np.where(active, value * delta, value)
        active &= np.abs(delta - 1.0) >= tol
        if not active.any():
            break
    return 1.0 / value


# ----- validation -----------------------------------------------------------
_EDGE = 1e-7  # a beta mean or concentration closer to its limit than this is a degenerate fit


def require_identified(model: MaximumLikelihoodModel, beta_pairs: tuple[tuple[str, str], ...]) -> None:
    """Raise FitError (leaving the model unfitted) when a fitted beta distribution is degenerate.

    For each (a, b) pair the mean a/(a+b) must stay inside (1e-7, 1 - 1e-7) and
    the concentration a+b above 1e-7. Degenerate data (nobody ever missing an
    opportunity, two customers with opposite histories, ...) push the
    likelihood's supremum there and the optimiser stops at arbitrary extreme
    values. A huge concentration with a moderate mean is allowed: it is the
    homogeneous limit (everyone shares one probability), a legitimate answer.
    """
    problems = []
    for a_name, b_name in beta_pairs:
        a, b = model.params_[a_name], model.params_[b_name]
        mean = a / (a + b)
        if not _EDGE < mean < 1 - _EDGE or a + b < _EDGE:
            problems.append(f"{a_name}={a:.3g}, {b_name}={b:.3g}")
    if problems:
        for attribute in ("params_", "log_likelihood_", "n_", "n_distinct_", "covariance_theta_",
                          "standard_errors_", "confidence_intervals_"):
            model.__dict__.pop(attribute, None)
        raise FitError(
            f"{type(model).__name__}: the fit is degenerate ({'; '.join(problems)}: a probability's "
            "distribution collapsed to 0 or 1), so the data do not identify the model. Typical causes: "
            "very few customers, or histories without variation. Fit on more customers or a longer window."
        )


def validate_tenure(tenure: Any, churned: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check per-customer (tenure, churned) and return float arrays.

    Rules: tenure a finite whole number, >= 1 for churned customers (the
    period of cancellation) and >= 0 for active ones; churned boolean/0-1.
    """
    t = as_float_array(tenure, "tenure")
    c = as_float_array(churned, "churned")
    if t.shape != c.shape:
        raise DataError(f"tenure and churned must have the same length (got {t.shape[0]} and {c.shape[0]}).")
    checks = (
        (~np.isfinite(t), "tenure must be finite (no NaN or inf)"),
        (~np.isin(c, (0.0, 1.0)), "churned must be True/False (or 1/0)"),
        ((t < 0) | (t != np.round(t)), "tenure must be a non-negative whole number of periods"),
        ((c == 1.0) & (t < 1), "a churned customer's tenure is the period of cancellation, so it must be >= 1"),
    )
    for bad, message in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{message}; first offending row {row}: tenure={t[row]}, churned={c[row]} ({int(bad.sum())} rows in all)."
            )
    return t, c


def survival_to_rows(survivors: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn survivor counts alive at t = 0..n into (tenure, churned, weights) rows."""
    s = as_float_array(survivors, "survivors")
    if s.shape[0] < 2:
        raise DataError("survivors needs at least two counts: the cohort size at t = 0 and the survivors at t = 1.")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        row = int(np.flatnonzero(~np.isfinite(s) | (s < 0))[0])
        raise DataError(f"survivors must be finite and >= 0; first offending period t = {row}: {s[row]}.")
    lost = -np.diff(s)
    if np.any(lost < 0):
        t = int(np.flatnonzero(lost < 0)[0]) + 1
        raise DataError(
            f"survivors must not increase over time (a cohort only loses customers); "
            f"survivors[{t}] = {s[t]} > survivors[{t - 1}] = {s[t - 1]}."
        )
    n = s.shape[0] - 1
    tenure = np.concatenate([np.arange(1, n + 1, dtype=float), [float(n)]])
    churned = np.concatenate([np.ones(n), [0.0]])
    return tenure, churned, np.concatenate([lost, [s[-1]]])


def _periods(values: Any, name: str, minimum: int) -> np.ndarray:
    """Whole numbers of periods >= minimum (inf allowed nowhere), as floats."""
    array = np.asarray(values, dtype=float)
    bad = ~np.isfinite(array) | (array < minimum) | (array != np.round(array))
    if bad.any():
        first = array[bad].ravel()[0]
        raise DataError(f"{name} must be a whole number of periods >= {minimum}; got {first}.")
    return array


def _discount_rate(rate: Any) -> np.ndarray:
    d = np.asarray(rate, dtype=float)
    if np.any(~np.isfinite(d) | (d < 0)):
        raise DataError(f"discount_rate must be a finite rate per period >= 0 (e.g. 0.1 for 10%); got {rate}.")
    return d
