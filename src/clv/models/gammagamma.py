"""Gamma-Gamma model of the average value of a customer's transactions.

Colombo & Jiang (1999), "A stochastic RFM model", Journal of Interactive
Marketing 13(3); Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value
curves for customer base analysis", Journal of Marketing Research 42(4);
Fader & Hardie (2013), "The Gamma-Gamma model of monetary value" (note).

Story: the value of each transaction of a customer is Gamma(p, nu) (shape p,
rate nu, mean p/nu); across customers nu ~ Gamma(q, gamma). The papers call
the scale parameter of that second Gamma ``v``; here it is ``gamma`` as in
lifetimes. Spend is assumed independent of the purchase process, so the model
is fitted on repeat buyers only (x >= 1 transactions with average value m).

Fitting cost. Mean spends are continuous, so almost every repeat buyer is a
distinct (x, m) row, but x takes few values: the gamma functions are evaluated
once per distinct x, the terms in m alone are constants of the fit, and one
evaluation of the weighted log-likelihood and its gradient is one logarithm and
one reciprocal per row (see
:meth:`GammaGammaModel._weighted_log_likelihood_and_gradient`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clv.errors import DataError, FitError
from clv.lazy import LazyModule
from clv.models import gammagamma_covariates as _cov
from clv.models.base import (
    _GTOL,
    _NEWTON_STEPS,
    _PILOT_MIN_ROWS,
    _PILOT_ROWS,
    _THETA_BOUND,
    _Z95,
    MaximumLikelihoodModel,
    _best_fit,
    _invert_information,
    as_float_array,
    require_customers,
    require_identified,
    validate_weights,
)
from clv.models.contract import SpendCapabilities, SpendModel
from clv.summary.compress import apply_on_distinct, offset_codes

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv


class GammaGammaModel(MaximumLikelihoodModel, SpendModel):
    """Gamma-Gamma spend model, parameters ``p, q, gamma`` (the papers' p, q, v).

    ``p``: shape of the per-transaction value distribution; ``q, gamma``:
    shape and rate of the Gamma distribution of a customer's rate parameter
    nu. The population mean transaction value is p*gamma/(q-1), finite only
    when q > 1; a fit with q <= 1 is refused with :class:`FitError`.

    Fitted attribute ``n_excluded_``: customers (summed weights) set aside
    because their frequency is 0 (no repeat transaction to average).
    ``n_distinct_`` is the number of rows fitted: the rows are not grouped
    into distinct (x, m) rows first (mean spends are continuous).

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search, one positive value per parameter
        (``"p", "q", "gamma"``). The search starts there and, if it does
        not converge from it, goes on from data-based guesses and a few fixed points, keeping the
        best optimum; None starts from those. A start missing a parameter makes the fit raise
        :class:`clv.errors.DataError`.
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.
    l2_penalty : float, default 0.0
        Fits with covariates: ``l2_penalty * sum(g^2)`` over the spend coefficients g is
        subtracted from the log-likelihood (ridge shrinkage toward 0; p, q, gamma are not
        penalised). 0 is the plain maximum-likelihood fit.

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
    n_excluded_ : float
        The customers (summed weights) set aside: frequency 0, or a mean spend of 0.

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was. Before a successful
    fit, a method that needs one raises :class:`clv.errors.NotFittedError`.

    References
    ----------
    Colombo, R. and Jiang, W. (1999). "A Stochastic RFM Model". *Journal of Interactive Marketing*
    13(3), 2-12.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "RFM and CLV: Using Iso-Value Curves for
    Customer Base Analysis". *Journal of Marketing Research* 42(4), 415-430.

    Fader, P. S. and Hardie, B. G. S. (2013). "The Gamma-Gamma Model of Monetary Value" (note).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frequency = rng.integers(1, 6, 2000)
    >>> nu = rng.gamma(4.0, 1 / 30.0, 2000)  # q = 4, gamma = 30
    >>> monetary_value = rng.gamma(6.0 * frequency, 1.0 / nu) / frequency  # p = 6
    >>> model = GammaGammaModel().fit(frequency, monetary_value)
    >>> round(model.population_mean_spend, -1)  # p * gamma / (q - 1) = 60
    60.0
    """

    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "gamma")
    model_name: ClassVar[str] = "gammagamma"
    _pilot_fit: ClassVar[bool] = True  # large fits start from a subsample fit (MaximumLikelihoodModel._pilot_start)
    # Mean spends are continuous: grouping equal (x, m) rows (1.5 customers per row for the 177k
    # repeat buyers of the 1M-order bench) costs more than the few evaluations it would shorten.
    # The rows are fitted as given, and n_distinct_ is their number.
    _compress_rows: ClassVar[bool] = False
    # E[M | x, m] = A(x) + B(x) m; parameter draws (p, q, gamma) for the money part of intervals.
    capabilities: ClassVar[SpendCapabilities] = SpendCapabilities(
        linear_in_monetary_value=True, gamma_gamma_draws=True, covariates=True)
    # A fit with covariates: E[M | x, m, z] is linear in m with an intercept that depends on z, so the
    # scorer cannot evaluate it per distinct x only.
    _covariate_capabilities: ClassVar[SpendCapabilities] = SpendCapabilities(
        linear_in_monetary_value=False, gamma_gamma_draws=True, covariates=True)
    _fit_caches: ClassVar[tuple[str, ...]] = ("_spend_rows",)

    def __init__(self, *, initial_params: Mapping[str, float] | None = None, max_iter: int = 2000,
                 l2_penalty: float = 0.0):
        super().__init__(initial_params=initial_params, max_iter=max_iter)
        self.l2_penalty = l2_penalty

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None, *, covariates: Any = None,
            covariate_names: Any = None) -> GammaGammaModel:
        """Fit on customers with ``frequency`` > 0 and a positive mean spend.

        ``frequency``: number of repeat transactions x; ``monetary_value``: the
        mean value m of those x repeat transactions (>= 0). Customers with
        x = 0 carry no spend information, and those with m = 0 (only
        zero-value repeat purchases, which the Gamma density cannot produce)
        are set aside and counted in ``n_excluded_``; :meth:`expected_spend`
        still scores both. ``weights``: optional count of customers sharing
        each row. ``covariates``: optional (n, k) numbers per customer (array
        or DataFrame; categorical columns already encoded as dummies), giving
        each customer the scale gamma_i = gamma exp(g' z_i) (see
        :mod:`clv.models.gammagamma_covariates`); the coefficients are
        ``params_["spend[<name>]"]``, named by ``covariate_names`` (default:
        the DataFrame's columns, else x1..xk). Without covariates the fit is
        exactly the plain Gamma-Gamma's.
        """
        x, m = _validate_spend(frequency, monetary_value)
        weights = validate_weights(weights, x.shape[0])
        z = None if covariates is None else _validate_covariates(covariates, x.shape[0])
        used = (x > 0) & (m > 0)
        row_weights = np.ones_like(x) if weights is None else weights
        n_excluded = float(row_weights[~used].sum())
        require_customers(self, x.shape[0], weights)
        if not used.any():
            raise FitError(
                "GammaGammaModel.fit: no customer has frequency > 0 and a positive monetary_value; "
                "the model needs repeat buyers with spend."
            )
        _checked_penalty(self.l2_penalty)
        for name in ("param_names", "capabilities", "covariate_names_"):  # a previous covariate fit's
            self.__dict__.pop(name, None)
        if z is None:
            self._fit({"x": x[used], "m": m[used]}, None if weights is None else weights[used])
        else:
            names = _cov.covariate_names(covariates, covariate_names)
            if len(names) != z.shape[1] or len(set(names)) != len(names):
                raise DataError(f"covariate_names={list(names)!r} must name each of the {z.shape[1]} covariate "
                                "columns once. Fix: pass one distinct name per column.")
            self._fit_with_covariates(x[used], m[used], z[used], row_weights[used].astype(float), names)
        self.n_excluded_ = n_excluded
        self._refuse_infinite_mean()
        require_identified(self)
        return self

    # ----- covariates ---------------------------------------------------------------------------
    @property
    def has_covariates(self) -> bool:
        """True when the model was fitted with covariates (``covariate_names_`` then names them)."""
        return bool(self.__dict__.get("covariate_names_"))

    def _fit_with_covariates(self, x: np.ndarray, m: np.ndarray, z: np.ndarray, weights: np.ndarray,
                             names: tuple[str, ...]) -> None:
        """Maximise the covariate likelihood (:mod:`clv.models.gammagamma_covariates`) in theta.

        Starts: ``initial_params`` (coefficients 0 unless given), the plain
        Gamma-Gamma fit on the same rows with coefficients 0 (refined by Newton
        steps with the analytic Hessian), the data-based guess; L-BFGS-B then
        polishes (stopping at once where Newton converged).
        """
        if not weights.sum() > 0:
            raise DataError("GammaGammaModel.fit: no customers to fit on (empty input or all weights zero).")
        self.param_names = (*type(self).param_names, *(_cov.coefficient_name(n) for n in names))
        rows = _cov.CovariateRows.build(x, m, z, weights)
        objective = _cov.ThetaObjective(rows, float(self.l2_penalty))
        theta = self._maximise_covariates(rows, objective)
        edge = [n for n, t in zip(self.param_names, theta) if abs(t) >= _THETA_BOUND - 1e-6]
        if edge:
            raise FitError(f"GammaGammaModel: the maximum lies at the edge of the parameter space for {edge}: "
                           "the data do not identify them (a covariate constant among repeat buyers, or one that "
                           "separates them completely). Fix: drop that covariate or set l2_penalty > 0.")
        self._set_covariate_fit(theta, rows, objective, names)

    def _maximise_covariates(self, rows, objective) -> np.ndarray:
        """The maximiser in theta: Newton steps from the best start when they converge, else L-BFGS-B.

        On many rows the start is the fit on a weighted subsample
        (:func:`clv.models.base._subsample`), so the Newton steps on all rows
        begin next to the optimum (two or three passes).
        """
        starts = self._covariate_starts(rows, objective)
        if rows.weights.shape[0] >= _PILOT_MIN_ROWS:
            keep, sample_weights = _pilot_rows(rows.weights)
            sample = rows.subset(keep, sample_weights)
            pilot_objective = _cov.ThetaObjective(sample, float(self.l2_penalty))
            pilot = _best_fit(pilot_objective, self._covariate_starts(sample, pilot_objective), self.max_iter)
            if pilot is not None:
                starts = itertools.chain([objective.newton(pilot.x)], starts)
        first = next(starts)
        value, grad = objective.value_and_gradient(first)
        if np.isfinite(value) and np.max(np.abs(grad)) <= _GTOL:
            return first
        best = _best_fit(objective, itertools.chain([first], starts), self.max_iter)
        if best is None:
            raise FitError("GammaGammaModel: the likelihood with covariates was not finite at any starting point. "
                           "Check the covariates for huge values (scale them) or pass initial_params=.")
        return best.x

    def _covariate_starts(self, rows, objective):
        k = rows.z.shape[1]
        if self.initial_params is not None:
            missing = set(type(self).param_names) - set(self.initial_params)
            if missing:
                raise DataError(f"initial_params is missing {sorted(missing)}; give all of "
                                f"{list(type(self).param_names)} (coefficients default to 0).")
            base = np.log([float(self.initial_params[n]) for n in type(self).param_names])
            yield np.concatenate([base, [float(self.initial_params.get(n, 0.0)) for n in self.param_names[3:]]])
        plain = GammaGammaModel(max_iter=self.max_iter)
        try:
            with np.errstate(all="ignore"):
                plain._fit({"x": rows.x, "m": rows.m}, rows.weights)
            start = np.concatenate([np.log(plain.params), np.zeros(k)])
            yield objective.newton(start, max_steps=4 * _NEWTON_STEPS)
        except (FitError, DataError):
            pass
        guess = np.log(np.clip(self._initial_params({"m": rows.m}, rows.weights), 1e-8, 1e8))
        yield np.concatenate([guess, np.zeros(k)])
        for scale in (0.0, 1.0, -1.0):
            yield np.concatenate([np.full(3, scale), np.zeros(k)])

    def _set_covariate_fit(self, theta, rows, objective, names) -> None:
        """params_ (p, q, gamma on their scale, coefficients as they are), standard errors, 95% intervals."""
        self.covariate_names_ = tuple(names)
        self.capabilities = self._covariate_capabilities
        hessian = objective.hessian_theta(theta)
        self.covariance_theta_ = _invert_information(-hessian, self.param_names)
        se_theta = np.sqrt(np.clip(np.diag(self.covariance_theta_), 0.0, None))
        values = _theta_to_params(theta)
        with np.errstate(over="ignore"):
            lower = np.concatenate([np.exp(theta[:3] - _Z95 * se_theta[:3]), theta[3:] - _Z95 * se_theta[3:]])
            upper = np.concatenate([np.exp(theta[:3] + _Z95 * se_theta[:3]), theta[3:] + _Z95 * se_theta[3:]])
        se = np.concatenate([values[:3] * se_theta[:3], se_theta[3:]])
        self.params_ = dict(zip(self.param_names, values.tolist()))
        self.standard_errors_ = dict(zip(self.param_names, se.tolist()))
        self.confidence_intervals_ = {n: (lo, hi) for n, lo, hi in zip(self.param_names, lower.tolist(), upper.tolist())}
        with np.errstate(all="ignore"):
            self.log_likelihood_ = float(rows.weights @ _cov.log_likelihood_terms(theta, rows))  # without the penalty
        self.n_ = float(rows.weights.sum())
        self.n_distinct_ = int(rows.weights.shape[0])

    def _theta(self) -> np.ndarray:
        """The fitted point in the scale the covariance refers to: log p, log q, log gamma, coefficients."""
        values = self.params
        return np.concatenate([np.log(values[:3]), values[3:]])

    def sample_params(self, n_draws: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draws of the parameters from their estimated sampling distribution, shape (n_draws, k).

        Multivariate normal on (log p, log q, log gamma, coefficients) with the
        inverse observed information as covariance; p, q, gamma mapped back with
        ``exp``, the coefficients (``spend[...]``, fits with covariates) taken as drawn.
        """
        if not self.has_covariates:
            return super().sample_params(n_draws, seed)
        self._check_fitted()
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(self._theta(), self.covariance_theta_, size=n_draws, method="eigh")
        draws[:, :3] = np.exp(draws[:, :3])
        return draws

    def _covariate_rows(self, covariates: Any, n_rows: int | None) -> np.ndarray | None:
        """The covariates checked against the fit: an (n, k) array, or None for a fit without them."""
        if not self.has_covariates:
            if covariates is not None:
                raise DataError("covariates were given but this GammaGammaModel was fitted without them. Fix: "
                                "pass no covariates, or refit with fit(..., covariates=...).")
            return None
        names = self.covariate_names_
        if covariates is None:
            raise DataError(f"this GammaGammaModel was fitted with covariates {list(names)}: pass covariates= "
                            "with those columns (one row per customer or profile).")
        if isinstance(covariates, pd.DataFrame):
            missing = [n for n in names if n not in covariates.columns]
            if missing:
                raise DataError(f"covariates lack column(s) {missing} the model was fitted with. Fix: pass "
                                f"columns {list(names)}.")
            covariates = covariates[list(names)]
        z = _validate_covariates(covariates, n_rows)
        if z.shape[1] != len(names):
            raise DataError(f"covariates have {z.shape[1]} columns; the model was fitted with {len(names)} "
                            f"({list(names)}). Fix: pass those columns in that order.")
        return z

    def prior_scale(self, covariates: Any = None) -> np.ndarray:
        """The scale of each customer's Gamma prior of nu: gamma exp(g' z_i) (fits with covariates), else gamma.

        One value per row of ``covariates`` (a fit with covariates), or the single gamma.
        """
        self._check_fitted()
        z = self._covariate_rows(covariates, None)
        return np.array([self.params[2]]) if z is None else _cov.scale_of(self.params, z)

    def prior_mean_spend(self, covariates: Any = None, params: Any = None) -> np.ndarray:
        """Mean value per transaction of a customer not yet seen: p gamma_i / (q - 1) per profile.

        gamma_i = gamma exp(g' z_i) (fits with covariates; ``covariates``: one
        row per profile) or gamma (fits without: one value). ``params``: a
        parameter vector or an (n_draws, k) matrix (e.g. :meth:`sample_params`)
        in ``param_names`` order instead of the fitted ones; then one row per
        draw. A draw with q <= 1 has an infinite mean (``inf``).

        Returns
        -------
        numpy.ndarray
            Shape (profiles,) for the fitted parameters, (n_draws, profiles) for a matrix
            (profiles = 1 without covariates).
        """
        self._check_fitted()
        z = self._covariate_rows(covariates, None)
        values = self.params if params is None else np.asarray(params, dtype=float)
        z = np.zeros((1, 0)) if z is None else z
        scale = _cov.scale_of(values, z)
        p, q = values[..., 0], values[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = (p / (q - 1.0))[..., None] * scale
        return np.where((q > 1.0)[..., None], mean, np.inf)

    def _refuse_infinite_mean(self) -> None:
        q = self.params_["q"]
        if q <= 1.0:
            values = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            raise FitError(
                f"GammaGammaModel: estimated q={q:.4g} <= 1 ({values}), so the mean spend per transaction "
                "is infinite and expected spend cannot be computed. The spend distribution is too "
                "heavy-tailed for this model: check monetary values for outliers, refunds or unit "
                "errors (cap or remove extreme customers), or use a simpler spend estimate."
            )

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        mean_m = float(weights @ data["m"]) / float(weights.sum())
        p, q = 2.0, 3.0
        return np.array([p, q, mean_m * (q - 1.0) / p])

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Log density of the mean m of x transaction values (Fader & Hardie 2013, eq. 3).

        f(m | x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * gamma^q m^(px-1) x^(px) / (gamma + m x)^(px+q).
        """
        p, q, gamma = params
        x, m = data["x"], data["m"]
        return (
            special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(gamma)
            + (p * x - 1.0) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(gamma + m * x)
        )

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        p, q, gamma = params
        x, m = data["x"], data["m"]
        psi_total = special.digamma(p * x + q)
        log_pooled = np.log(gamma + m * x)
        d_p = x * (psi_total - special.digamma(p * x) + np.log(m) + np.log(x) - log_pooled)
        d_q = psi_total - special.digamma(q) + np.log(gamma) - log_pooled
        d_gamma = q / gamma - (p * x + q) / (gamma + m * x)
        return np.column_stack([d_p, d_q, d_gamma])

    def _weighted_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """The weighted sum of the per-row gradients (by the fused evaluation)."""
        return self._weighted_log_likelihood_and_gradient(params, data, weights)[1]

    def _weighted_log_likelihood_and_gradient(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """sum_i w_i log f(m_i | x_i) and its gradient in (p, q, gamma), one log1p and one division per row.

        The formulas of :meth:`_log_likelihood_terms` and
        :meth:`_log_likelihood_gradient` summed with weights w. Since
        px log(m x) - px log(gamma + m x) = -px l with l = log1p(gamma/(m x)),
        with W_x the weight of each distinct x and W the total weight,
        sum w log f = sum_x W_x [lnGamma(px+q) - lnGamma(px)] - W lnGamma(q) + W q log gamma
                      - sum(w log m) - q sum(w log(m x)) - p sum(w x l) - q sum(w l),
        d/dp     = sum_x W_x x [psi(px+q) - psi(px)] - sum(w x l),
        d/dq     = sum_x W_x psi(px+q) - W psi(q) + W log gamma - sum(w log(m x)) - sum(w l),
        d/dgamma = W q / gamma - p sum(w x / u) - q sum(w / u),  u = gamma + m x.
        The sums over m alone are fixed during a fit (:class:`_SpendRows`); only
        l and 1/u need a pass over the rows. Writing px log(m x / (gamma + m x))
        as -px l keeps the value accurate for large p (no cancellation of two
        terms of size px log(m x)).
        """
        rows = self._rows_for(data, weights)
        gamma = params[2]
        log_ratio = np.log1p(gamma * rows.inv_mx)
        inv_pooled = 1.0 / (gamma + rows.mx)
        return self._combine_sums(
            params, rows, rows.weights @ log_ratio, rows.wx @ log_ratio, rows.weights @ inv_pooled, rows.wx @ inv_pooled
        )

    @staticmethod
    def _combine_sums(params, rows: _SpendRows, log_w, log_wx, inv_w, inv_wx) -> tuple[float, np.ndarray]:
        """Value and gradient from the row sums of w l, w x l, w/u and w x/u (notation above)."""
        p, q, gamma = params
        px = p * rows.x_values
        psi_total = special.digamma(px + q)
        total, log_gamma = rows.total, np.log(gamma)
        value = (
            rows.weight_by_x @ (special.gammaln(px + q) - special.gammaln(px)) - total * special.gammaln(q) + total * q * log_gamma
            - rows.w_log_m - q * rows.w_log_mx - p * log_wx - q * log_w
        )
        d_p = rows.weighted_x_by_x @ (psi_total - special.digamma(px)) - log_wx
        d_q = rows.weight_by_x @ psi_total - total * special.digamma(q) + total * log_gamma - rows.w_log_mx - log_w
        d_gamma = total * q / gamma - p * inv_wx - q * inv_w
        return float(value), np.array([d_p, d_q, d_gamma])

    def _weighted_log_likelihood_gradient_and_hessian(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Value and gradient (as :meth:`_weighted_log_likelihood_and_gradient`) and the Hessian, sharing 1/u.

        Differentiating the gradient of :meth:`_weighted_log_likelihood_and_gradient`
        (psi' the trigamma function, u = gamma + m x):
        d2/dp2 = sum_x W_x x^2 [psi'(px+q) - psi'(px)],  d2/dp dq = sum_x W_x x psi'(px+q),
        d2/dq2 = sum_x W_x psi'(px+q) - W psi'(q),       d2/dp dgamma = -sum(w x / u),
        d2/dq dgamma = W / gamma - sum(w / u),
        d2/dgamma2 = -W q / gamma^2 + p sum(w x / u^2) + q sum(w / u^2).
        """
        rows = self._rows_for(data, weights)
        p, q, gamma = params
        inv_pooled = 1.0 / (gamma + rows.mx)
        inv_w, inv_wx = rows.weights @ inv_pooled, rows.wx @ inv_pooled
        log_ratio = np.log1p(gamma * rows.inv_mx)
        log_w, log_wx = rows.weights @ log_ratio, rows.wx @ log_ratio
        inv_pooled *= inv_pooled
        inv2_w, inv2_wx = rows.weights @ inv_pooled, rows.wx @ inv_pooled
        value, gradient = self._combine_sums(params, rows, log_w, log_wx, inv_w, inv_wx)
        px = p * rows.x_values
        trigamma_total = special.polygamma(1, px + q)
        x_values, weight_by_x, total = rows.x_values, rows.weight_by_x, rows.total
        h_pp = (weight_by_x * x_values**2) @ (trigamma_total - special.polygamma(1, px))
        h_pq = rows.weighted_x_by_x @ trigamma_total
        h_qq = weight_by_x @ trigamma_total - total * special.polygamma(1, q)
        h_p_gamma = -inv_wx
        h_q_gamma = total / gamma - inv_w
        h_gamma_gamma = -total * q / gamma**2 + p * inv2_wx + q * inv2_w
        hessian = np.array([
            [h_pp, h_pq, h_p_gamma],
            [h_pq, h_qq, h_q_gamma],
            [h_p_gamma, h_q_gamma, h_gamma_gamma],
        ])
        return value, gradient, hessian

    def _rows_for(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> _SpendRows:
        """The fit's fixed per-row quantities (built once per fit, kept while the same arrays come back)."""
        columns = (data["x"], data["m"], weights)
        cached = self.__dict__.get("_spend_rows")
        if cached is None or not all(a is b for a, b in zip(cached[0], columns)):
            cached = (columns, _SpendRows.build(*columns))
            self._spend_rows = cached
        return cached[1]

    def expected_spend(self, frequency: Any, monetary_value: Any, covariates: Any = None) -> np.ndarray:
        """Conditional expected average value per transaction, E[M | x, m].

        FHL 2005 "RFM and CLV" eq. 5: (p (gamma + x m)) / (p x + q - 1), a
        weighted average of the population mean p*gamma/(q-1) (weight
        (q-1)/(px+q-1)) and the customer's observed mean m (weight
        px/(px+q-1)). For frequency 0, m is ignored (may be 0 or NaN) and the
        result is the population mean. With covariates (a fit with them):
        gamma becomes each customer's gamma_i = gamma exp(g' z_i), one row of
        ``covariates`` per customer.
        """
        self._check_fitted()
        self._refuse_infinite_mean()
        x, m = np.broadcast_arrays(*_validate_spend(frequency, monetary_value))
        m = np.where(x > 0, m, 0.0)
        z = self._covariate_rows(covariates, x.shape[0])
        if z is not None:
            p, q = self.params[:2]
            return p * (_cov.scale_of(self.params, z) + x * m) / (p * x + q - 1.0)
        return apply_on_distinct(self._expected_spend, x=np.ascontiguousarray(x), m=np.ascontiguousarray(m))

    def _expected_spend(self, x, m):
        p, q, gamma = self.params
        return p * (gamma + x * m) / (p * x + q - 1.0)

    @property
    def population_mean_spend(self) -> float:
        """Mean transaction value in the population, p*gamma/(q-1) (with covariates: at all covariates 0)."""
        self._check_fitted()
        self._refuse_infinite_mean()
        p, q, gamma = self.params[:3]
        return float(p * gamma / (q - 1.0))

    def to_dict(self) -> dict[str, Any]:
        payload = super().to_dict()
        payload["n_excluded"] = getattr(self, "n_excluded_", 0.0)
        if self.has_covariates:
            payload["covariate_names"] = list(self.covariate_names_)
            payload["l2_penalty"] = float(self.l2_penalty)
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> GammaGammaModel:
        model = super().from_dict(payload)
        model.n_excluded_ = float(payload.get("n_excluded", 0.0))
        names = tuple(payload.get("covariate_names") or ())
        if names:
            model.covariate_names_ = names
            model.capabilities = cls._covariate_capabilities
            model.l2_penalty = float(payload.get("l2_penalty", 0.0))
            model.param_names = (*cls.param_names, *(_cov.coefficient_name(n) for n in names))
            model.params_ = {n: float(payload["params"][n]) for n in model.param_names}
        return model


@dataclass(frozen=True)
class _SpendRows:
    """What a fit's likelihood needs from its rows that does not depend on the parameters.

    Per row ``mx`` = m x, ``inv_mx`` = 1/(m x) and ``wx`` = w x; per distinct
    x value (``x_values``) its weight W_x (``weight_by_x``) and
    ``weighted_x_by_x`` = W_x x; the constant sums sum(w log m) and sum(w log(m x)).
    """

    weights: np.ndarray
    wx: np.ndarray
    mx: np.ndarray
    inv_mx: np.ndarray
    total: float
    x_values: np.ndarray
    weight_by_x: np.ndarray
    weighted_x_by_x: np.ndarray
    w_log_m: float
    w_log_mx: float

    @classmethod
    def build(cls, x: np.ndarray, m: np.ndarray, weights: np.ndarray) -> _SpendRows:
        offset = offset_codes(x)  # whole numbers: value - min, a few passes instead of hashing
        if offset is None:
            x_codes, x_values = pd.factorize(x)
        else:
            x_codes, x_values = offset[0], x.min() + np.arange(offset[1], dtype=x.dtype)
        weight_by_x = np.bincount(x_codes, weights, minlength=x_values.shape[0])
        mx = m * x
        return cls(
            weights=weights, wx=weights * x, mx=mx, inv_mx=1.0 / mx, total=float(weights.sum()),
            x_values=x_values, weight_by_x=weight_by_x, weighted_x_by_x=weight_by_x * x_values,
            w_log_m=float(weights @ np.log(m)), w_log_mx=float(weights @ np.log(mx)),
        )


def _validate_spend(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    """frequency: whole numbers >= 0; monetary_value: finite and >= 0 where frequency > 0."""
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if x.shape != m.shape and x.size != 1 and m.size != 1:
        raise DataError(f"frequency and monetary_value must have the same length (got {x.shape[0]} and {m.shape[0]}).")
    x, m = (np.ascontiguousarray(a) for a in np.broadcast_arrays(x, m))
    checks = (
        (~np.isfinite(x) | (x < 0) | (x != np.round(x)), "frequency must be a whole number >= 0"),
        ((x > 0) & ~(np.isfinite(m) & (m >= 0)),
         "monetary_value (mean value of the repeat transactions) must be finite and >= 0 for customers with "
         "frequency > 0; fix missing amounts and negative values (refunds belong in revenue, not spend)"),
    )
    for bad, message in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{message}; first offending row {row}: frequency={x[row]}, monetary_value={m[row]} "
                f"({int(bad.sum())} rows in all)."
            )
    return x, m


def _theta_to_params(theta: np.ndarray) -> np.ndarray:
    """(log p, log q, log gamma, g) -> (p, q, gamma, g)."""
    return np.concatenate([np.exp(theta[:3]), theta[3:]])


def _validate_covariates(covariates: Any, n_rows: int | None) -> np.ndarray:
    """Covariates as a finite float (n, k) array with ``n_rows`` rows (any number when None)."""
    frame = covariates if isinstance(covariates, pd.DataFrame) else None
    try:
        z = np.asarray(covariates.to_numpy(dtype=float) if frame is not None else covariates, dtype=float)
    except (TypeError, ValueError) as error:
        raise DataError(f"covariates must be numbers (encode categorical columns as dummies first, e.g. with "
                        f"clv.summary.attach_covariates): {error}.") from None
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or (n_rows is not None and z.shape[0] != n_rows):
        raise DataError(f"covariates must be a table with one row per customer ({n_rows} rows), got shape "
                        f"{z.shape}. Fix: align the covariates with frequency and monetary_value.")
    bad = ~np.isfinite(z)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        name = frame.columns[column] if frame is not None else f"column {column}"
        raise DataError(f"covariates: {name} is missing or not finite in row {row} ({int(bad.any(axis=1).sum())} "
                        "rows in all). Fix: fill or drop those customers.")
    return np.ascontiguousarray(z)


def _checked_penalty(l2_penalty: Any) -> float:
    value = float(l2_penalty)
    if not (np.isfinite(value) and value >= 0):
        raise DataError(f"l2_penalty={l2_penalty!r} must be a finite number >= 0 (0: no penalty).")
    return value


def _pilot_rows(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept in the pilot subsample and their Horvitz-Thompson weights (as :func:`clv.models.base._subsample`)."""
    inclusion = np.minimum(1.0, weights * (_PILOT_ROWS / float(weights.sum())))
    keep = np.random.default_rng(0).random(weights.shape[0]) < inclusion
    return keep, weights[keep] / inclusion[keep]
