"""Static covariates in a model: the exponential link, per-row parameters and the maximum-likelihood fit.

A model with static covariates is the model without them with *per-customer*
parameters. For customer i with covariate row x_i (no intercept: the base
parameters play that part), a covariate process ``p`` (``"trans"`` for the
purchase process, ``"life"`` for the dropout process; ``"spend"`` for spend
models) with coefficients g_p scales some base parameters:

    theta_ij = theta_j * exp(sign_j * g_p' x_i),

the exponential link of CLVTools (Meierer, Naef, Bachmann & Kuendig, CLVTools R
package, ``bgnbd_staticcov``, ``pnbd_staticcov``) and pymc-marketing. For the
BG/NBD family (:data:`BGNBD_LINK`): alpha_i = alpha exp(-g_trans' x_i) (a
positive g_trans raises the mean purchase rate r/alpha_i), a_i = a exp(g_life' x_i)
and b_i = b exp(g_life' x_i) (the mean dropout probability a/(a+b) is unchanged
by construction; the spread changes); r is shared.

What this module gives a model (it stays a model without covariates when none
are given, bit for bit):

* :class:`CovariateLink`: which base parameters each process scales and with
  which sign; the names of the coefficients in ``params_``
  (``"trans[<covariate>]"``, ``"life[<covariate>]"``); the per-row parameters
  (:meth:`CovariateLink.row_params`) and the chain rule from the gradient in the
  per-row parameters to the gradient in the base log-parameters and coefficients
  (:meth:`CovariateLink.chain_gradient`);
* :func:`fit_with_covariates`: maximum likelihood on the distinct rows of
  (history, covariate row) with weights, started from the model's fit without
  covariates and coefficients 0, optional L2 penalty, standard errors for every
  parameter from the observed information (forward differences of the
  analytic gradient);
* :func:`profile_params`: the base parameters of one covariate profile and the
  covariance of their logs (a linear map of the estimates' covariance: exact),
  used to score each distinct profile with the model without covariates.

The model supplies ``_row_log_likelihood_and_gradient(params, data)``: per-row
log-likelihood (n,) and its gradient (n, k_base) in the per-row parameters,
with ``params`` a list of per-row arrays (or scalars) in ``param_names`` order.
A model may instead supply ``_profile_log_likelihood_and_gradient(params, data,
weights)`` working per distinct covariate profile (see :func:`profile_sums`),
which lets it evaluate its special functions once per (profile, count) pair.

Work is per distinct covariate profile wherever it can be: the fit's rows are
the distinct (history, covariate row) pairs; the per-customer parameters are
computed per distinct profile and gathered; the chain rule sums per profile
first (``bincount``), then multiplies by the profiles' covariates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError, FitError

_Z95 = 1.959963984540054
_THETA_BOUND = 30.0  # |log base parameter| beyond this is numerically meaningless (as in clv.models.base)
_COEFFICIENT_BOUND = 50.0  # |coefficient x covariate| of that size means a separated or badly scaled covariate
# Fits on at least this many distinct rows start from a fit on a weighted subsample of about _PILOT_ROWS rows,
# refined by quasi-Newton steps on all rows (as clv.models.base does for the models without covariates).
_PILOT_MIN_ROWS = 30_000
_PILOT_ROWS = 8_000
_NEWTON_STEPS = 20


@dataclasses.dataclass(frozen=True)
class CovariateLink:
    """Which base parameters each covariate process scales, and with which sign.

    Parameters
    ----------
    processes : tuple of (str, tuple of (str, int))
        Per process, its name and the (base parameter, sign) pairs it scales:
        ``theta_ij = theta_j exp(sign * g_process' x_i)``.

    Examples
    --------
    >>> BGNBD_LINK.coefficient_names(("gender", "age"))
    ('trans[gender]', 'trans[age]', 'life[gender]', 'life[age]')
    """

    processes: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]

    def coefficient_names(self, covariate_names: Sequence[str]) -> tuple[str, ...]:
        """``"<process>[<covariate>]"`` for every process and covariate, processes first."""
        return tuple(f"{process}[{name}]" for process, _ in self.processes for name in covariate_names)

    def row_params(self, base_names: Sequence[str], base: np.ndarray, coefficients: np.ndarray,
                   X: np.ndarray) -> list[Any]:
        """Per-row parameters in ``base_names`` order: arrays (n,) for linked parameters, scalars for the others.

        ``coefficients`` are in :meth:`coefficient_names` order (k per process).
        """
        k = X.shape[1]
        out: list[Any] = [float(value) for value in base]
        for index, (_, scaled) in enumerate(self.processes):
            score = X @ coefficients[index * k:(index + 1) * k]
            for name, sign in scaled:
                j = list(base_names).index(name)
                out[j] = base[j] * np.exp(sign * score)
        return out

    def chain_gradient(self, base_names: Sequence[str], profile_params: list[Any], profile_gradient: np.ndarray,
                       X: np.ndarray) -> np.ndarray:
        """Gradient of sum_i w_i log L_i in (log base parameters, coefficients) from per-profile sums.

        With S_pj = sum over the customers i of profile p of w_i dlog L_i/dtheta_ij
        (``profile_gradient``, (P, k_base)) and theta_pj the profile's parameters:
        d/dlog theta_j = sum_p S_pj theta_pj;
        d/dg_q = sum over the parameters j of process q of sign_j X' (S_j theta_j),
        X the profiles' covariates (P, k).
        """
        n_profiles = profile_gradient.shape[0]
        scaled = profile_gradient * np.column_stack([np.broadcast_to(p, (n_profiles,)) for p in profile_params])
        parts = [scaled.sum(axis=0)]
        for _, pairs in self.processes:
            combined = sum(sign * scaled[:, list(base_names).index(name)] for name, sign in pairs)
            parts.append(X.T @ combined)
        return np.concatenate(parts)

    def theta_map(self, base_names: Sequence[str], x_row: np.ndarray) -> np.ndarray:
        """The matrix A with log theta(profile) = A @ (log base, coefficients): the link is linear in logs."""
        k_base, k = len(base_names), x_row.shape[0]
        A = np.zeros((k_base, k_base + k * len(self.processes)))
        A[:, :k_base] = np.eye(k_base)
        for index, (_, scaled) in enumerate(self.processes):
            for name, sign in scaled:
                A[list(base_names).index(name), k_base + index * k:k_base + (index + 1) * k] = sign * x_row
        return A


BGNBD_LINK = CovariateLink((("trans", (("alpha", -1),)), ("life", (("a", 1), ("b", 1)))))
"""BG/NBD and MBG/NBD (CLVTools ``bgnbd_staticcov``): alpha_i = alpha e^(-g_trans'x_i); a_i, b_i = a, b e^(g_life'x_i)."""


def covariate_table(covariates: Any, n_rows: int, names: Sequence[str] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """A covariate argument as a float matrix (n_rows, k) and its column names.

    A DataFrame gives its column names; an array gets ``names`` or ``x0, x1, ...``.
    Refuses a wrong number of rows and non-finite values.
    """
    if isinstance(covariates, pd.DataFrame):
        names = tuple(map(str, covariates.columns))
        matrix = covariates.to_numpy(dtype=float)
    else:
        try:
            matrix = np.asarray(covariates, dtype=float)
        except (TypeError, ValueError):
            raise DataError("covariates must be numbers: a DataFrame or a (customers, covariates) array.") from None
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(matrix.shape[1]))
    if matrix.ndim != 2 or matrix.shape[0] != n_rows:
        raise DataError(f"covariates must have one row per customer ({n_rows}), got shape {matrix.shape}.")
    if matrix.shape[1] != len(names):
        raise DataError(f"covariates have {matrix.shape[1]} columns but {len(names)} names were given.")
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(f"covariate {names[column]!r} is not a finite number in row {row} ({matrix[row, column]}). "
                        "Fix: fill or drop the missing values before fitting.")
    return np.ascontiguousarray(matrix), names


def fit_with_covariates(model: Any, columns: Mapping[str, np.ndarray], X: np.ndarray, names: Sequence[str],
                        weights: np.ndarray | None, link: CovariateLink, l2_penalty: float,
                        start: Mapping[str, float]) -> None:
    """Maximum-likelihood fit of ``model`` with static covariates; sets its fitted attributes.

    The (penalised) log-likelihood sum_i w_i log L_i(theta_i) - l2_penalty * sum(g^2)
    is maximised with L-BFGS-B over (log base parameters, coefficients), on the
    distinct rows of (history columns, covariate row) with their weights, from
    ``start`` (the fit without covariates) and coefficients 0. Standard errors
    come from the observed information of the penalised objective (the
    Hessian by forward differences of the analytic gradient, relative step 1e-6).

    Parameters
    ----------
    model : MaximumLikelihoodModel
        A model with ``_row_log_likelihood_and_gradient`` (see the module docstring).
    columns : mapping of str to numpy.ndarray
        The history columns the model's likelihood reads (e.g. x, t_x, T).
    X : numpy.ndarray
        Covariates, (n, k), float.
    names : sequence of str
        The covariate names (columns of X).
    weights : numpy.ndarray or None
        Customers per row (default 1).
    link : CovariateLink
        How the coefficients enter the parameters.
    l2_penalty : float
        Non-negative weight of the L2 penalty on the coefficients.
    start : mapping of str to float
        Starting base parameters.
    """
    base_names = tuple(type(model).param_names)
    k_base = len(base_names)
    packed = _compress_with_covariates(columns, X, weights)
    data, X_rows, w = packed
    coefficient_names = link.coefficient_names(names)
    theta0 = np.concatenate([np.log([start[n] for n in base_names]), np.zeros(len(coefficient_names))])
    objective = _CovariateObjective(model, data, X_rows, w, link, base_names, float(l2_penalty))
    from clv.models.base import _blas_threads

    bounds = [(-_THETA_BOUND, _THETA_BOUND)] * k_base + [(-_COEFFICIENT_BOUND, _COEFFICIENT_BOUND)] * len(coefficient_names)
    # L-BFGS-B does tiny BLAS calls, many times slower with a multi-threaded BLAS (as in clv.models.base).
    with _blas_threads().limit(limits=1, user_api="blas"):
        if w.shape[0] >= _PILOT_MIN_ROWS:
            theta0 = _pilot_start(objective, theta0, bounds, model.max_iter)
        result = _minimise(objective, theta0, bounds, model.max_iter)
    if not np.isfinite(result.fun):
        raise FitError(f"{type(model).__name__}: the likelihood with covariates was not finite at the optimum. "
                       "Check the covariates (scale large numeric columns, e.g. in thousands).")
    theta = result.x
    at_edge = [n for n, t, (lo, hi) in zip(base_names + coefficient_names, theta, bounds) if t <= lo + 1e-6 or t >= hi - 1e-6]
    if at_edge:
        raise FitError(f"{type(model).__name__}: the maximum lies at the edge of the parameter space for {at_edge}. "
                       "A covariate may separate the customers perfectly or be badly scaled. Fix: drop or rescale "
                       "it, or pass l2_penalty > 0.")
    hessian = objective.hessian(theta, central=False)
    covariance = _inverse_or_nan(-hessian)
    if not np.all(np.isfinite(covariance)):
        raise FitError(f"{type(model).__name__}: the data do not identify the covariate effects (the information "
                       f"matrix is singular at the optimum). Fix: drop covariates that are constant or collinear "
                       f"({list(names)}), or pass l2_penalty > 0.")
    log_likelihood = objective.log_likelihood(theta)
    _set_fitted(model, theta, covariance, base_names, coefficient_names, names, log_likelihood, w, link, l2_penalty)


PROFILE = "_profile"
"""Key of the per-row profile code in the data a covariate fit passes to the model."""


def _compress_with_covariates(columns, X, weights):
    """(history columns of the distinct rows + their profile codes, the distinct profiles' covariates, weights).

    Rows are the distinct (history, profile) pairs: the profiles are coded
    first (one code per distinct covariate row), then (history, code) compressed.
    """
    from clv.summary.compress import compress

    profiles = compress({f"c{j}": X[:, j] for j in range(X.shape[1])})
    X_profiles = np.column_stack([profiles.columns[f"c{j}"] for j in range(X.shape[1])])
    keyed = {**{name: np.asarray(c) for name, c in columns.items()}, PROFILE: profiles.inverse}
    packed = compress(keyed, weights)
    if packed.weights.shape[0] == 0 or not packed.weights.sum() > 0:
        raise DataError("no customers to fit on (empty input or all weights zero).")
    return dict(packed.columns), np.ascontiguousarray(X_profiles, dtype=float), packed.weights


def profile_sums(model: Any, params: list[Any], data: Mapping[str, np.ndarray],
                 weights: np.ndarray) -> tuple[float, np.ndarray]:
    """(sum_i w_i log L_i, per-profile sums of w_i dlog L_i/dtheta_ij (P, k_base)) from the model's per-row hook.

    The generic route: the profiles' parameters ``params`` (arrays (P,) or
    scalars) gathered per row by ``data[PROFILE]``, the model's
    ``_row_log_likelihood_and_gradient`` on the rows, the gradient summed per
    profile. Models override ``_profile_log_likelihood_and_gradient`` to do better.
    """
    codes = data[PROFILE]
    n_profiles = max((np.shape(p)[0] for p in params if np.ndim(p)), default=1)
    rows = [p[codes] if np.ndim(p) else p for p in params]
    terms, gradient = model._row_log_likelihood_and_gradient(rows, data)
    sums = np.column_stack([np.bincount(codes, weights * gradient[:, j], minlength=n_profiles)
                            for j in range(gradient.shape[1])])
    return float(weights @ terms), sums


def _minimise(objective: "_CovariateObjective", theta0: np.ndarray, bounds, max_iter: int):
    from scipy import optimize

    return optimize.minimize(objective.mean_value_and_gradient, theta0, jac=True, method="L-BFGS-B",
                             bounds=bounds, options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-9})


def _pilot_start(objective: "_CovariateObjective", theta0: np.ndarray, bounds, max_iter: int) -> np.ndarray:
    """A start next to the optimum: the fit on a weighted subsample, then quasi-Newton steps on all rows.

    The subsample is :func:`clv.models.base._subsample`'s (Horvitz-Thompson
    weights, fixed seed); its Hessian (differences of the gradient) starts the
    steps theta <- theta - H^-1 g on all rows, H refined by BFGS updates
    (:func:`clv.models.base._bfgs_update`): one pass over the rows per step
    instead of the few dozen of an L-BFGS-B run from afar. The L-BFGS-B run
    that follows (same stopping rules) then stops after a few passes: the
    estimate is the full-data one either way.
    """
    from clv.models.base import _bfgs_update, _positive_definite, _subsample

    rows = {name: column for name, column in objective.data.items() if isinstance(column, np.ndarray)}
    sample, sample_weights = _subsample(rows, objective.weights, _PILOT_ROWS)
    pilot = _CovariateObjective(objective.model, sample, objective.X, sample_weights, objective.link,
                                objective.base_names, objective.l2)
    fitted = _minimise(pilot, theta0, bounds, max_iter)
    if not np.isfinite(fitted.fun):
        return theta0
    theta = fitted.x
    hessian = -pilot.hessian(theta, central=False) / pilot.total
    if not _positive_definite(hessian):
        return theta
    value, grad = objective.mean_value_and_gradient(theta)
    for _ in range(_NEWTON_STEPS):
        if not np.isfinite(value) or np.max(np.abs(grad)) <= 1e-10:
            break
        step = -np.linalg.solve(hessian, grad)
        step /= max(1.0, float(np.max(np.abs(step))))
        trial = theta + step
        trial_value, trial_grad = objective.mean_value_and_gradient(trial)
        if not trial_value <= value + 1e-13 * max(1.0, abs(value)):
            break
        hessian = _bfgs_update(hessian, trial - theta, trial_grad - grad)
        theta, value, grad = trial, trial_value, trial_grad
    return theta


class _CovariateObjective:
    """The penalised log-likelihood in (log base, coefficients) and its gradient, on distinct rows."""

    def __init__(self, model, data, X, weights, link, base_names, l2_penalty):
        self.model, self.data, self.X, self.weights, self.link = model, data, X, weights, link
        self.base_names, self.l2 = base_names, l2_penalty
        self.k_base, self.total = len(base_names), float(weights.sum())

    def _sums(self, theta: np.ndarray):
        base, coefficients = np.exp(theta[:self.k_base]), theta[self.k_base:]
        params = self.link.row_params(self.base_names, base, coefficients, self.X)
        hook = getattr(self.model, "_profile_log_likelihood_and_gradient", None)
        with np.errstate(all="ignore"):
            if hook is not None:
                value, sums = hook(params, self.data, self.weights)
            else:
                value, sums = profile_sums(self.model, params, self.data, self.weights)
        return params, coefficients, value, sums

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        params, coefficients, value, sums = self._sums(theta)
        with np.errstate(all="ignore"):
            gradient = self.link.chain_gradient(self.base_names, params, sums, self.X)
        gradient[self.k_base:] -= 2.0 * self.l2 * coefficients
        return value - self.l2 * float(coefficients @ coefficients), gradient

    def mean_value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self.value_and_gradient(theta)
        if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
            return np.inf, np.zeros_like(theta)
        return -value / self.total, -gradient / self.total

    def log_likelihood(self, theta: np.ndarray) -> float:
        """The unpenalised log-likelihood."""
        return self._sums(theta)[2]

    def hessian(self, theta: np.ndarray, central: bool = True) -> np.ndarray:
        """Differences of the analytic gradient (central, or forward from theta), symmetrised."""
        n = theta.shape[0]
        hessian = np.empty((n, n))
        at_theta = None if central else self.value_and_gradient(theta)[1]
        for j in range(n):
            step = (1e-5 if central else 1e-6) * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += step
            down[j] -= step
            if central:
                hessian[:, j] = (self.value_and_gradient(up)[1] - self.value_and_gradient(down)[1]) / (2 * step)
            else:
                hessian[:, j] = (self.value_and_gradient(up)[1] - at_theta) / step
        return 0.5 * (hessian + hessian.T)


def _inverse_or_nan(information: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(information)):
        return np.full(information.shape, np.nan)
    try:
        if np.linalg.eigvalsh(information).min() <= 0:
            return np.full(information.shape, np.nan)
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return np.full(information.shape, np.nan)


def _set_fitted(model, theta, covariance, base_names, coefficient_names, names, log_likelihood, weights, link, l2):
    k_base = len(base_names)
    values = np.concatenate([np.exp(theta[:k_base]), theta[k_base:]])
    se_theta = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    se = np.concatenate([values[:k_base] * se_theta[:k_base], se_theta[k_base:]])
    lower = np.concatenate([np.exp(theta[:k_base] - _Z95 * se_theta[:k_base]), theta[k_base:] - _Z95 * se_theta[k_base:]])
    upper = np.concatenate([np.exp(theta[:k_base] + _Z95 * se_theta[:k_base]), theta[k_base:] + _Z95 * se_theta[k_base:]])
    all_names = base_names + coefficient_names
    model.param_names = all_names
    model.params_ = dict(zip(all_names, values.tolist()))
    model.standard_errors_ = dict(zip(all_names, se.tolist()))
    model.confidence_intervals_ = {n: (lo, hi) for n, lo, hi in zip(all_names, lower.tolist(), upper.tolist())}
    model.covariance_theta_ = covariance
    model.log_likelihood_ = float(log_likelihood)
    model.n_ = float(weights.sum())
    model.n_distinct_ = int(weights.shape[0])
    model.covariate_names_ = tuple(names)
    model.covariate_link_ = link
    model.l2_penalty_ = float(l2)


def split_theta(model: Any, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(base parameters, coefficients) of a model fitted with covariates, or of ``params`` (a mapping, or a
    sequence in ``model.param_names`` order: base parameters positive, coefficients any real)."""
    names = model.param_names
    k_base = len(type(model).param_names)
    if params is None:
        values = np.array([model.params_[n] for n in names], dtype=float)
    elif isinstance(params, Mapping):
        missing = [n for n in names if n not in params]
        if missing:
            raise DataError(f"params is missing {missing}; give all of {list(names)}.")
        values = np.array([params[n] for n in names], dtype=float)
    else:
        values = np.asarray(params, dtype=float).reshape(-1)
    if values.shape != (len(names),) or not np.all(np.isfinite(values)) or not np.all(values[:k_base] > 0):
        raise DataError(f"params must be {len(names)} numbers {list(names)} (the first {k_base} positive); got {params!r}.")
    return values[:k_base], values[k_base:]


def profile_params(model: Any, x_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The base parameters of the covariate profile ``x_row`` and the covariance of their logs.

    log theta(profile) = A (log base, coefficients) with A from
    :meth:`CovariateLink.theta_map`, so the covariance is A Sigma A' exactly
    (Sigma: the estimates' covariance, ``covariance_theta_``).
    """
    base, coefficients = split_theta(model)
    base_names = type(model).param_names
    A = model.covariate_link_.theta_map(base_names, np.asarray(x_row, dtype=float))
    theta = np.concatenate([np.log(base), coefficients])
    return np.exp(A @ theta), A @ model.covariance_theta_ @ A.T
