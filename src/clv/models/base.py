"""Maximum-likelihood machinery shared by every model.

A model subclass declares its parameter names and supplies, for a batch of
distinct rows of sufficient statistics, the per-row log-likelihood and (where
practical) its analytic gradient. This module does the rest, the same way for
every model:

* compress the input to distinct rows with weights (cost grows with distinct
  histories, not customers; a model whose rows are almost all distinct may opt out);
* maximise the weighted log-likelihood over ``theta = log(params)`` (all model
  parameters are positive) with L-BFGS-B, using the analytic gradient through
  the chain rule ``dLL/dtheta = params * dLL/dparams``; restart from other
  points when a start fails. On many distinct rows, models with an analytic
  Hessian may opt in to start from the fit on a subsample refined by Newton
  steps on all rows (the same optimum, in a few passes over the rows instead of
  a few dozen; see ``MaximumLikelihoodModel._pilot_start``);
* standard errors from the observed information matrix (the negative Hessian of
  the log-likelihood at the optimum: the model's analytic one where it gives
  one, else central differences of the gradient in ``theta``), delta-method standard errors ``se(p) = p * se(log p)`` and 95%
  Wald intervals built on the log scale, ``exp(theta +- 1.96 se(theta))``, so
  they stay positive;
* AIC = 2k - 2LL, BIC = k ln(n) - 2LL with n the number of customers;
* JSON save/load (no pickle), a readable ``summary()``, draws of the
  parameters from their estimated sampling distribution for intervals.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from clv.errors import DataError, FitError
from clv.models.contract import Model
from clv.models.fit_summary import FitSummary
from clv.summary.compress import compress
from clv.summary.histories import (  # noqa: F401 - part of the models' public helpers
    as_float_array,
    broadcast_history,
    non_negative,
    validate_rfm,
    validate_weights,
)

_Z95 = 1.959963984540054
_THETA_BOUND = 30.0  # |log param| beyond this is numerically meaningless
_FTOL, _GTOL = 1e-14, 1e-9  # L-BFGS-B stopping rules on the mean negative log-likelihood in theta
# Pilot fits (MaximumLikelihoodModel._pilot_start) on inputs with at least this many
# distinct rows, on a subsample of about _PILOT_ROWS of them.
_PILOT_MIN_ROWS = 20_000
_PILOT_ROWS = 6_000
_NEWTON_STEPS = 8


class MaximumLikelihoodModel(Model):
    """Base class: subclasses set ``param_names`` and implement the likelihood.

    Subclass contract
    -----------------
    ``_log_likelihood_terms(params, data) -> ndarray (n_rows,)``
        log-likelihood of each row given the parameter vector ``params``
        (natural scale, in ``param_names`` order); ``data`` maps names to
        arrays of distinct rows.
    ``_log_likelihood_gradient(params, data) -> ndarray (n_rows, k)`` (optional)
        d(log-likelihood)/d(params) per row; return ``None`` to fall back to
        numerical differentiation.
    ``_initial_params(data, weights) -> ndarray (k,)``
        a sensible starting point.
    ``_weighted_log_likelihood_and_gradient(params, data, weights)`` (optional)
        (sum of weight x log-likelihood, its gradient in params) in one call,
        for models whose value and gradient share per-row work.
    ``_weighted_hessian(params, data, weights) -> ndarray (k, k)`` (optional)
        analytic second derivatives of the weighted log-likelihood in params.
    ``_weighted_log_likelihood_gradient_and_hessian(params, data, weights)`` (optional)
        (value, gradient, Hessian) in one call, for models whose Hessian pass
        computes the value and gradient anyway (the Newton steps of a pilot-started fit).
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    model_name: ClassVar[str] = ""
    # Start large fits from a subsample fit refined by Newton steps (see _pilot_start).
    _pilot_fit: ClassVar[bool] = False
    # Those Newton steps keep the subsample's Hessian (chord method: one likelihood pass per step) instead of
    # computing the Hessian on all rows at every step; for models whose Hessian costs several passes.
    _pilot_keeps_hessian: ClassVar[bool] = False
    # Fit on distinct rows with weights (n_distinct_ counts them); False for models whose rows are
    # almost all distinct (continuous statistics), where grouping costs more than it saves:
    # then the rows are fitted as given and n_distinct_ is their number.
    _compress_rows: ClassVar[bool] = True

    def __init__(self, *, initial_params: Mapping[str, float] | None = None, max_iter: int = 2000):
        self.initial_params = initial_params
        self.max_iter = max_iter

    # ----- subclass hooks -------------------------------------------------
    @abstractmethod
    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-row log-likelihood at ``params`` (natural scale)."""

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray | None:
        return None

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        return np.ones(len(self.param_names))

    def _weighted_gradient(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> np.ndarray | None:
        """Sum over rows of weight x gradient; models may override to skip the per-row matrix."""
        grad = self._log_likelihood_gradient(params, data)
        return None if grad is None else weights @ grad

    def _weighted_log_likelihood_and_gradient(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray | None]:
        """The weighted log-likelihood and its gradient in ``params`` (None: numerical), in one call.

        The default calls the two hooks above separately. A model whose value
        and gradient share per-row work overrides this to do that work once per
        optimiser step (L-BFGS-B always asks for both at the same point).
        """
        value = float(weights @ self._log_likelihood_terms(params, data))
        if not np.isfinite(value):
            return value, None
        return value, self._weighted_gradient(params, data, weights)

    def _weighted_hessian(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> np.ndarray | None:
        """Second derivatives of the weighted log-likelihood in ``params`` (k, k), or None for central
        differences of the gradient. The default takes them from the fused hook below when the model has it."""
        fused = self._weighted_log_likelihood_gradient_and_hessian(params, data, weights)
        return None if fused is None else fused[2]

    def _weighted_log_likelihood_gradient_and_hessian(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """(value, gradient, Hessian) of the weighted log-likelihood in ``params`` in one call, or None
        (the default) for the separate hooks above."""
        return None

    # ----- fitting --------------------------------------------------------
    def _fit(self, data: Mapping[str, np.ndarray], weights: np.ndarray | None = None) -> "MaximumLikelihoodModel":
        """Fit on raw rows: compress (unless the model opts out), maximise, then derive the fitted attributes."""
        if self._compress_rows:
            packed = compress(data, weights)
            data, weights = packed.columns, packed.weights
        else:
            data = {name: np.asarray(column) for name, column in data.items()}
            n_rows = next(iter(data.values())).shape[0]
            weights = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape[0] == 0 or weights.sum() <= 0:
            raise DataError(f"{type(self).__name__}.fit: no customers to fit on (empty input or all weights zero).")
        self._fit_compressed(data, weights)
        return self

    def _fit_compressed(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> None:
        # L-BFGS-B does tiny BLAS calls; a multi-threaded BLAS makes them many times
        # slower on small machines, so the optimisation runs with one BLAS thread.
        with _blas_threads().limit(limits=1, user_api="blas"):
            self._maximise(data, weights)

    def _maximise(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> None:
        total = float(weights.sum())
        objective = _Objective(self, data, weights, total)
        starts = self._starting_points(data, weights)
        pilot = self._pilot_start(data, weights, objective)
        if pilot is not None:
            starts = itertools.chain([pilot], starts)
        best = _best_fit(objective, starts, self.max_iter)
        if best is None:
            raise FitError(
                f"{type(self).__name__}: the likelihood was not finite at any starting point. "
                "Check the data (frequency, recency and T in one time unit, recency <= T) "
                "or pass initial_params= close to plausible values."
            )
        theta = best.x
        if np.any(np.abs(theta) >= _THETA_BOUND - 1e-6):
            edge = [n for n, t in zip(self.param_names, theta) if abs(t) >= _THETA_BOUND - 1e-6]
            raise FitError(
                f"{type(self).__name__}: the maximum lies at the edge of the parameter space for {edge} "
                "(a parameter went to 0 or infinity). The data may not identify this model: "
                "try the simpler NBD without dropout (model nbd), a longer calibration period, or check the time unit."
            )
        self._set_fitted(theta, -best.fun * total, weights, data, objective)

    def _pilot_start(self, data: Mapping[str, np.ndarray], weights: np.ndarray, objective: "_Objective"):
        """A start next to the full-data optimum, or None: worth it on many distinct rows only.

        The maximum-likelihood estimate on a weighted subsample of the distinct
        rows (:func:`_subsample`, a few thousand rows, same starting points),
        then Newton steps on all rows with the analytic Hessian
        (:meth:`_Objective.newton`), the first with the subsample's Hessian.
        L-BFGS-B from a point 5% off the optimum still needs about as many
        steps as from a default start; Newton from there converges
        quadratically, in 3-4 steps. The caller then runs the
        usual L-BFGS-B on all rows from this point (with the usual stopping
        rules), which stops at once when Newton has converged, so the estimate
        is the full-data one either way; should that run fail, the usual
        starting points follow. Models opt in with ``_pilot_fit`` (every
        column of their data must be per row, and they must supply the fused
        ``_weighted_log_likelihood_gradient_and_hessian`` or at least
        ``_weighted_hessian``).
        """
        if not self._pilot_fit or weights.shape[0] < _PILOT_MIN_ROWS:
            return None
        sample, sample_weights = self._pilot_sample(data, weights, _PILOT_ROWS)
        if not sample_weights.sum() > 0:
            return None
        pilot_objective = _Objective(self, sample, sample_weights, float(sample_weights.sum()))
        pilot = _best_fit(pilot_objective, self._starting_points(sample, sample_weights), self.max_iter)
        if pilot is None:
            return None
        hessian = pilot_objective.value_gradient_and_hessian(pilot.x)[2]
        if self._pilot_keeps_hessian:
            return objective.chord_newton(pilot.x, hessian)
        return objective.newton(pilot.x, first_hessian=hessian)

    def _pilot_sample(self, data: Mapping[str, np.ndarray], weights: np.ndarray, size: int):
        """The pilot fit's weighted subsample (:func:`_subsample`); models whose data hold more than
        per-row columns (an index built on the rows) override this to rebuild it."""
        return _subsample(data, weights, size)

    def _starting_points(self, data: Mapping[str, np.ndarray], weights: np.ndarray):
        if self.initial_params is not None:
            missing = set(self.param_names) - set(self.initial_params)
            if missing:
                raise DataError(f"initial_params is missing {sorted(missing)}; give all of {list(self.param_names)}.")
            yield np.log([float(self.initial_params[n]) for n in self.param_names])
        yield np.log(np.clip(self._initial_params(data, weights), 1e-8, 1e8))
        k = len(self.param_names)
        for scale in (0.0, -1.0, 1.0, 2.0, -2.0):
            yield np.full(k, scale)

    def _set_fitted(self, theta, log_likelihood, weights, data, objective) -> None:
        params = np.exp(theta)
        self.params_ = dict(zip(self.param_names, params.tolist()))
        self.log_likelihood_ = float(log_likelihood)
        self.n_ = float(weights.sum())
        self.n_distinct_ = int(weights.shape[0])
        hessian = objective.hessian_theta(theta)
        self.covariance_theta_ = _invert_information(-hessian, self.param_names)
        se_theta = np.sqrt(np.clip(np.diag(self.covariance_theta_), 0.0, None))
        self.standard_errors_ = dict(zip(self.param_names, (params * se_theta).tolist()))
        with np.errstate(over="ignore"):  # an unbounded direction gives an infinite upper bound
            lower, upper = np.exp(theta - _Z95 * se_theta), np.exp(theta + _Z95 * se_theta)
        self.confidence_intervals_ = {n: (lo, hi) for n, lo, hi in zip(self.param_names, lower.tolist(), upper.tolist())}

    def _params_array(self, params: Any = None) -> np.ndarray:
        """The fitted parameters, or ``params`` given as a mapping or a sequence in ``param_names`` order."""
        if params is None:
            return self.params
        if isinstance(params, Mapping):
            missing = [n for n in self.param_names if n not in params]
            if missing:
                raise DataError(f"params is missing {missing}; give all of {list(self.param_names)}.")
            params = [params[n] for n in self.param_names]
        values = as_float_array(params, "params")
        if values.shape != (len(self.param_names),) or not np.all(np.isfinite(values) & (values > 0)):
            raise DataError(f"params must be {len(self.param_names)} positive numbers {list(self.param_names)}; got {params!r}.")
        return values

    # ----- fitted summaries -----------------------------------------------
    @property
    def params(self) -> np.ndarray:
        """Fitted parameters as an array in ``param_names`` order."""
        self._check_fitted()
        return np.array([self.params_[n] for n in self.param_names])

    @property
    def aic_(self) -> float:
        self._check_fitted()
        return 2 * len(self.param_names) - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        self._check_fitted()
        return len(self.param_names) * math.log(self.n_) - 2 * self.log_likelihood_

    def summary(self) -> FitSummary:
        """Estimates, standard errors and 95% intervals, one row per parameter.

        Returns
        -------
        FitSummary
            The table, with the model name, log-likelihood, AIC, BIC, n and
            time unit as typed fields.
        """
        self._check_fitted()
        frame = pd.DataFrame(
            {
                "estimate": [self.params_[n] for n in self.param_names],
                "std_error": [self.standard_errors_[n] for n in self.param_names],
                "ci95_lower": [self.confidence_intervals_[n][0] for n in self.param_names],
                "ci95_upper": [self.confidence_intervals_[n][1] for n in self.param_names],
            },
            index=pd.Index(self.param_names, name="parameter"),
        )
        return FitSummary(frame, model=self.model_name, log_likelihood=self.log_likelihood_, aic=self.aic_,
                          bic=self.bic_, n=self.n_, time_unit=getattr(self, "time_unit_", None),
                          model_choice=getattr(self, "model_choice_", None),
                          sufficiency=getattr(self, "sufficiency_", None))

    def sample_params(self, n_draws: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draws of the parameters from their estimated sampling distribution.

        Multivariate normal on ``log(params)`` with the inverse observed
        information as covariance, mapped back with ``exp``. Shape (n_draws, k).
        """
        self._check_fitted()
        rng = np.random.default_rng(seed)
        theta = np.log(self.params)
        return np.exp(rng.multivariate_normal(theta, self.covariance_theta_, size=n_draws, method="eigh"))

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}() (not fitted)"
        values = ", ".join(f"{n}={v:.4g}" for n, v in self.params_.items())
        return f"{type(self).__name__}({values}; log-likelihood={self.log_likelihood_:.2f}, n={self.n_:g})"

    # ----- persistence ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "model": self.model_name,
            "time_unit": getattr(self, "time_unit_", None),
            "params": self.params_,
            "log_likelihood": self.log_likelihood_,
            "n": self.n_,
            "n_distinct": self.n_distinct_,
            "covariance_log_params": self.covariance_theta_.tolist(),
            "standard_errors": self.standard_errors_,
            "confidence_intervals_95": {k: list(v) for k, v in self.confidence_intervals_.items()},
            "aic": self.aic_,
            "bic": self.bic_,
            **_ladder_payload(self),
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise the fitted model to JSON (written to ``path`` when given)."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> "MaximumLikelihoodModel":
        if payload.get("model") != cls.model_name:
            raise DataError(f"this JSON holds a {payload.get('model')!r} model, not {cls.model_name!r}.")
        model = cls()
        model.params_ = {n: float(payload["params"][n]) for n in cls.param_names}
        model.log_likelihood_ = float(payload["log_likelihood"])
        model.n_ = float(payload["n"])
        model.n_distinct_ = int(payload["n_distinct"])
        model.covariance_theta_ = np.asarray(payload["covariance_log_params"], dtype=float)
        model.standard_errors_ = {k: float(v) for k, v in payload["standard_errors"].items()}
        model.confidence_intervals_ = {k: tuple(v) for k, v in payload["confidence_intervals_95"].items()}
        model._restore_time_unit(payload)
        _restore_ladder(model, payload)
        return model

    @classmethod
    def from_json(cls, source: str | Path) -> "MaximumLikelihoodModel":
        """Load a model saved by :meth:`to_json` (a path or the JSON text)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text()
        return cls.from_dict(json.loads(text))


class _Objective:
    """Mean negative log-likelihood in theta = log(params), with its gradient."""

    def __init__(self, model: MaximumLikelihoodModel, data, weights: np.ndarray, total: float):
        self.model, self.data, self.weights, self.total = model, data, weights, total
        self._last: tuple[bytes, float, np.ndarray] | None = None
        self._last_hessian: tuple[bytes, np.ndarray] | None = None

    def log_likelihood(self, theta: np.ndarray) -> float:
        terms = self.model._log_likelihood_terms(np.exp(theta), self.data)
        return float(self.weights @ terms)

    def gradient_theta(self, theta: np.ndarray) -> np.ndarray:
        params = np.exp(theta)
        grad = self.model._weighted_gradient(params, self.data, self.weights)
        if grad is None:
            return _numerical_gradient(self.log_likelihood, theta)
        return grad * params

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective and gradient; the last point is remembered (the start is asked for twice)."""
        key = np.asarray(theta, dtype=float).tobytes()
        if self._last is None or self._last[0] != key:
            self._last = (key, *self._evaluate(theta))
        return self._last[1], self._last[2].copy()

    def _evaluate(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            value, grad = self.model._weighted_log_likelihood_and_gradient(params, self.data, self.weights)
            if not np.isfinite(value):
                return np.inf, np.zeros_like(theta)
            grad = _numerical_gradient(self.log_likelihood, theta) if grad is None else grad * params
        if not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(theta)
        return -value / self.total, -grad / self.total

    def minimise(self, theta0: np.ndarray, max_iter: int):
        if not np.isfinite(self.value_and_gradient(theta0)[0]):
            return None
        from scipy import optimize  # here, not at the top: importing it costs ~0.3 s, only a fit needs it

        bounds = [(-_THETA_BOUND, _THETA_BOUND)] * theta0.shape[0]
        result = optimize.minimize(
            self.value_and_gradient, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
            options={"maxiter": max_iter, "ftol": _FTOL, "gtol": _GTOL},
        )
        return result if np.isfinite(result.fun) else None

    def newton(self, theta: np.ndarray, first_hessian: np.ndarray | None = None,
               max_steps: int = _NEWTON_STEPS) -> np.ndarray:
        """Newton steps theta <- theta - H^-1 g on the objective, from ``theta``; returns the last good point.

        Stops when the gradient is well inside the L-BFGS-B tolerance
        (|g| <= gtol/10), and early, keeping the point reached, when the
        Hessian is not positive definite (not near a maximum of the
        likelihood), the objective is not finite, or a step does not lower the
        objective. Steps are capped at 1 in theta (a factor e in a parameter).
        ``first_hessian``: an estimate of the objective's Hessian at ``theta``
        for the first step (a pilot fit's), which saves one Hessian pass over
        all rows; the exact one is used when the estimate is not positive
        definite. The Hessian at the returned point is kept for the standard errors.
        """
        theta = np.asarray(theta, dtype=float)
        if first_hessian is not None and _positive_definite(first_hessian):
            (value, grad), hessian = self.value_and_gradient(theta), first_hessian
        else:
            value, grad, hessian = self.value_gradient_and_hessian(theta)
        for _ in range(max_steps):
            if not np.isfinite(value) or np.max(np.abs(grad)) <= _GTOL / 10 or not _positive_definite(hessian):
                break
            try:
                step = -np.linalg.solve(hessian, grad)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)):
                break
            step /= max(1.0, float(np.max(np.abs(step))))
            trial = np.clip(theta + step, -_THETA_BOUND, _THETA_BOUND)
            trial_value, trial_grad, trial_hessian = self.value_gradient_and_hessian(trial)
            if not trial_value <= value + 1e-13 * max(1.0, abs(value)):
                break
            theta, value, grad, hessian = trial, trial_value, trial_grad, trial_hessian
        return theta

    def chord_newton(self, theta: np.ndarray, hessian: np.ndarray | None, max_steps: int = 4 * _NEWTON_STEPS) -> np.ndarray:
        """Newton steps from ``theta`` with a Hessian that is not recomputed; returns the last good point.

        theta <- theta - H^-1 g(theta), starting from ``hessian`` (a pilot
        fit's, on a subsample) and refining H after each step by the BFGS
        update from the change of the gradient (Nocedal & Wright 2006,
        "Numerical Optimization", eq. 6.19): one value-and-gradient pass over
        all rows per step and no Hessian pass. With the fixed H alone (the
        chord method) the error would contract by about H's relative error per
        step; the updates make the steps superlinear. Stops as :meth:`newton`
        does: when the gradient is well inside the L-BFGS-B tolerance, when H
        is not positive definite, or when a step does not lower the
        objective; steps are capped at 1 in theta.
        """
        theta = np.asarray(theta, dtype=float)
        if not _positive_definite(hessian):
            return theta
        value, grad = self.value_and_gradient(theta)
        for _ in range(max_steps):
            if not np.isfinite(value) or np.max(np.abs(grad)) <= _GTOL / 10:
                break
            step = -np.linalg.solve(hessian, grad)
            if not np.all(np.isfinite(step)):
                break
            step /= max(1.0, float(np.max(np.abs(step))))
            trial = np.clip(theta + step, -_THETA_BOUND, _THETA_BOUND)
            trial_value, trial_grad = self.value_and_gradient(trial)
            if not trial_value <= value + 1e-13 * max(1.0, abs(value)):
                break
            hessian = _bfgs_update(hessian, trial - theta, trial_grad - grad)
            theta, value, grad = trial, trial_value, trial_grad
        return theta

    def value_gradient_and_hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Objective, gradient and Hessian (None where the objective is not finite), all remembered.

        By the model's fused hook where it has one (one pass over the rows), else the separate ones.
        """
        key = np.asarray(theta, dtype=float).tobytes()
        remembered = self._last is not None and self._last[0] == key
        if not (remembered and self._last_hessian is not None and self._last_hessian[0] == key):
            params = np.exp(theta)
            with np.errstate(all="ignore"):
                fused = self.model._weighted_log_likelihood_gradient_and_hessian(params, self.data, self.weights)
            if fused is not None:
                value, grad, hessian = fused
                grad_theta = grad * params
                if np.isfinite(value) and np.all(np.isfinite(grad_theta)):
                    self._last = (key, -value / self.total, -grad_theta / self.total)
                    self._last_hessian = (key, np.outer(params, params) * hessian + np.diag(grad_theta))
                else:
                    self._last = (key, np.inf, np.zeros_like(theta))
        value, grad = self.value_and_gradient(theta)
        if not np.isfinite(value):
            return value, grad, None
        return value, grad, -self.hessian_theta(theta) / self.total

    def hessian_theta(self, theta: np.ndarray) -> np.ndarray:
        """The model's analytic Hessian taken to theta = log(params), else central differences of the gradient.

        Chain rule: d2LL/dtheta_j dtheta_k = p_j p_k d2LL/dp_j dp_k + [j = k] p_j dLL/dp_j.
        The last point's Hessian is remembered (Newton steps end where the
        standard errors are taken).
        """
        key = np.asarray(theta, dtype=float).tobytes()
        if self._last_hessian is None or self._last_hessian[0] != key:
            self._last_hessian = (key, self._hessian_theta(theta))
        return self._last_hessian[1].copy()

    def _hessian_theta(self, theta: np.ndarray) -> np.ndarray:
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            analytic = self.model._weighted_hessian(params, self.data, self.weights)
            if analytic is not None:
                value, grad = self.value_and_gradient(theta)  # the fused hook's, usually remembered
                gradient = -self.total * grad if np.isfinite(value) else self.gradient_theta(theta)
                return np.outer(params, params) * analytic + np.diag(gradient)
        k = theta.shape[0]
        hessian = np.empty((k, k))
        for j in range(k):
            step = 1e-5 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += step
            down[j] -= step
            with np.errstate(all="ignore"):
                hessian[:, j] = (self.gradient_theta(up) - self.gradient_theta(down)) / (2 * step)
        return 0.5 * (hessian + hessian.T)


def _ladder_payload(model: MaximumLikelihoodModel) -> dict[str, Any]:
    """``"model_choice"`` and ``"sufficiency"`` of a model fitted by the ladder (clv.models.ladder), as JSON data."""
    payload = {}
    if getattr(model, "model_choice_", None) is not None:
        payload["model_choice"] = model.model_choice_.as_dict()
    if getattr(model, "sufficiency_", None) is not None:
        payload["sufficiency"] = model.sufficiency_.as_dict()
    return payload


def _restore_ladder(model: MaximumLikelihoodModel, payload: Mapping[str, Any]) -> None:
    """Set ``model_choice_`` and ``sufficiency_`` from a saved model that has them."""
    if payload.get("model_choice") is not None:
        from clv.models.ladder import ModelChoice

        model.model_choice_ = ModelChoice.from_dict(payload["model_choice"])
    if payload.get("sufficiency") is not None:
        from clv.models.sufficiency import DataSufficiency

        model.sufficiency_ = DataSufficiency.from_dict(payload["sufficiency"])


def _bfgs_update(hessian: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """BFGS update of a Hessian approximation from a step and the gradient change along it.

    H + y y'/(y's) - H s s' H/(s'H s); kept unchanged when y's <= 0 (the
    update would lose positive definiteness).
    """
    curvature = float(change @ step)
    h_step = hessian @ step
    step_curvature = float(step @ h_step)
    if not (curvature > 0 and step_curvature > 0):
        return hessian
    return hessian + np.outer(change, change) / curvature - np.outer(h_step, h_step) / step_curvature


def _positive_definite(matrix: np.ndarray | None) -> bool:
    if matrix is None or not np.all(np.isfinite(matrix)):
        return False
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


def _best_fit(objective: _Objective, starts, max_iter: int):
    """L-BFGS-B from each start in turn until one succeeds; the best result, or None when none was finite."""
    best = None
    for theta0 in starts:
        result = objective.minimise(theta0, max_iter)
        if result is not None and (best is None or result.fun < best.fun):
            best = result
        if best is not None and best.success:
            break
    return best


def _subsample(data: Mapping[str, np.ndarray], weights: np.ndarray, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A weighted subsample of about ``size`` rows whose weighted sums estimate those of all rows.

    Poisson sampling with inclusion probability pi = min(1, size w / sum w),
    kept rows weighted w / pi (Horvitz-Thompson): rows shared by many
    customers are always kept, with their own weight. Fixed seed: a fit is
    reproducible.
    """
    inclusion = np.minimum(1.0, weights * (size / float(weights.sum())))
    keep = np.random.default_rng(0).random(weights.shape[0]) < inclusion
    return {name: np.asarray(column)[keep] for name, column in data.items()}, weights[keep] / inclusion[keep]


@functools.cache
def _blas_threads() -> ThreadpoolController:
    """The process's thread pools (BLAS...), found once: a new controller per fit costs about a millisecond."""
    return ThreadpoolController()


def _numerical_gradient(function, theta: np.ndarray) -> np.ndarray:
    grad = np.empty_like(theta)
    for j in range(theta.shape[0]):
        step = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        grad[j] = (function(up) - function(down)) / (2 * step)
    return grad


def _invert_information(information: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Covariance of log-params; NaN where the information is singular."""
    if not np.all(np.isfinite(information)):
        return np.full(information.shape, np.nan)
    try:
        eigenvalues = np.linalg.eigvalsh(information)
        if eigenvalues.min() <= 0:
            return np.full(information.shape, np.nan)
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return np.full(information.shape, np.nan)


def require_identified(model: MaximumLikelihoodModel) -> None:
    """Raise FitError when the observed information at the optimum is singular.

    Then the likelihood is flat in some direction (typically too few or too
    uninformative customers, e.g. a single customer) and the estimates mean
    nothing, even though the optimiser stopped inside the bounds.
    """
    if not np.all(np.isfinite(model.covariance_theta_)):
        values = ", ".join(f"{k}={v:.4g}" for k, v in model.params_.items())
        edge = [k for k, v in model.params_.items() if v < 1e-4 or v > 1e6]
        why = (
            f" {', '.join(edge)} went to the edge of its range (near 0 or infinity): for a dropout "
            "parameter (a, s) that means the data show no detectable churn in this window, a pure "
            "NBD purchase process."
            if edge else ""
        )
        raise FitError(
            f"{getattr(model, 'reported_name', type(model).__name__)}: the data do not identify the parameters (the information matrix is "
            f"singular at the optimum {values}; n={model.n_:g} customers).{why} Fit on more customers or a "
            "longer calibration period, or use the simpler NBD without dropout (model nbd; the default fallback of clv fit)."
        )


def require_customers(model: MaximumLikelihoodModel, n_rows: int, weights: np.ndarray | None) -> None:
    """DataError when there is nobody to fit on (no rows, or all weights zero): the same in every model."""
    if n_rows == 0 or (weights is not None and not weights.sum() > 0):
        raise DataError(
            f"{type(model).__name__}.fit: no customers to fit on (empty input or all weights zero). "
            "Fix: pass at least a few hundred customers' histories."
        )
