"""BG/NBD: the beta-geometric / negative binomial distribution model.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an
alternative to the Pareto/NBD model", Marketing Science 24(2), 275-284.

Story: while alive, a customer buys as a Poisson process with rate ``lambda``;
after every *repeat* purchase the customer drops out with probability ``p``.
Across customers ``lambda ~ Gamma(r, alpha)`` (shape r, rate alpha) and
``p ~ Beta(a, b)``. A customer's history is summarised by ``frequency`` x
(repeat purchases), ``recency`` t_x (time of the last purchase, measured from
the first) and ``T`` (time from the first purchase to the end of the
calibration period), all in the same time unit (days, weeks...).

The modified model (MBG/NBD, :mod:`clv.models.mbgnbd`) differs only in letting
the customer drop out right after the first purchase too. The code below is
written once for both, with ``s = capabilities.dropout_at_first_purchase`` (0 for BG/NBD,
1 for MBG/NBD) counting the extra dropout opportunity: a customer alive at T
has survived ``x + s`` dropout opportunities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clv.errors import DataError, FitError
from clv.lazy import LazyModule
from clv.models.base import (
    MaximumLikelihoodModel,
    as_float_array,
    broadcast_history,
    non_negative,
    require_customers,
    require_identified,
    validate_rfm,
    validate_weights,
)
from clv.models.bgnbd_lifetime import checked_lifetime_step, lifetime_given_alive
from clv.models.contract import PurchaseCapabilities, PurchaseModel
from clv.models.special import beta_expectation, softplus
from clv.summary.compress import apply_on_distinct, compress, offset_codes
from clv.units import check_annual_rate, years_per_unit

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv

# Half-width of the window around a = 1 where the (a+beta-1)/(a-1) * [...]
# form of the expectation is 0/0; inside it the value is interpolated linearly
# in a between the window's edges (error O(width^2): the function is smooth in a).
_A_NEAR_ONE = 1e-4
# Same for c = a+beta-1 near 0, where 2F1(.; c; z) has a pole and c/(a-1) a zero.
_C_NEAR_ZERO = 1e-4
# Above this denominator parameter the 2F1 power series converges in a few dozen terms.
_SERIES_MIN_C = 20.0
# Power-series terms between convergence tests (the test costs about as much as two terms).
_SERIES_CHECK_EVERY = 8
# Below this log of (1-z)^(a-1) the expectation given alive is taken by quadrature in logit p
# (_given_alive_by_quadrature): the 2F1 factor is then above e^100, out of reach of its series and scipy.
_POWER_FLOOR = -100.0
# Rows per block in the fit's row passes: a block's temporaries (a few hundred KB) stay in the CPU cache.
_BLOCK_ROWS = 32_768


class BetaGeoModel(MaximumLikelihoodModel, PurchaseModel):
    """BG/NBD model (Fader, Hardie & Lee 2005), parameters ``r, alpha, a, b``.

    ``r, alpha``: shape and rate of the Gamma distribution of purchase rates
    (mean rate r/alpha purchases per time unit). ``a, b``: Beta distribution of
    the dropout probability after each repeat purchase (mean a/(a+b)).

    Time is in the unit of the data (days, weeks...): every ``t``, ``recency``
    and ``T`` passed to the methods must use that same unit.

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search, one positive value per parameter
        (``"r", "alpha", "a", "b"``). The search starts there and, if it does
        not converge from it, goes on from data-based guesses and a few fixed points, keeping the
        best optimum; None starts from those. A start missing a parameter makes the fit raise
        :class:`clv.errors.DataError`.
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.
    l2_penalty : float, default 0.0
        With static covariates (``fit(..., covariates=...)``, or customer data
        carrying them): the fit maximises the log-likelihood minus
        ``l2_penalty`` times the sum of the squared covariate coefficients
        (0: plain maximum likelihood). No effect without covariates.

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
    covariate_names_ : tuple of str
        After a fit with covariates only: their names; ``params_`` then also
        holds the coefficients ``trans[<name>]`` (purchase rate: alpha_i =
        alpha e^(-g'x_i)) and ``life[<name>]`` (dropout: a_i, b_i = a, b
        e^(g'x_i)), see :mod:`clv.models.covariate_link` and docs/models/covariates.md.

    See Also
    --------
    ModifiedBetaGeoModel : The variant that allows dropout right after the first purchase.
    ParetoNBDModel : Dropout at any time instead of after a purchase.

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was. Before a successful
    fit, a method that needs one raises :class:`clv.errors.NotFittedError`.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284.

    Examples
    --------
    Histories simulated from the CDNOW estimates of the paper (r = 0.243, alpha = 4.414,
    a = 0.793, b = 2.426, in weeks), then fitted:

    >>> import numpy as np
    >>> cdnow = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> history = BetaGeoModel().simulate(T=np.full(5000, 38.86), params=cdnow, rng=1)
    >>> model = BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], time_unit="week")
    >>> {name: round(value, 2) for name, value in model.params_.items()}
    {'r': 0.24, 'alpha': 4.12, 'a': 0.82, 'b': 2.38}
    >>> model.time_unit_
    'week'
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    dropout_parameters: ClassVar[tuple[str, ...]] = ("a", "b")
    model_name: ClassVar[str] = "bgnbd"
    # expected_purchases evaluates (n, 1) histories by (1, m) times as a grid, and probability_alive_validated
    # takes already-validated histories row by row (cheap: no distinct rows); the whole-lifetime value by
    # quadrature (discounted_lifetime_purchases); exact predictive tails (clv.scores.closed_form).
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities(
        factorisable=True, grid_scoring=True, closed_form_lifetime=True, closed_form_tails=True,
        dropout_at_first_purchase=0, static_covariates=True, closed_form_timing=True,
    )
    _fit_caches: ClassVar[tuple[str, ...]] = ("_coded_rows",)
    _pilot_fit: ClassVar[bool] = True  # large fits start from a subsample fit (MaximumLikelihoodModel._pilot_start)

    def __init__(self, *, initial_params: Mapping[str, float] | None = None, max_iter: int = 2000,
                 l2_penalty: float = 0.0):
        super().__init__(initial_params=initial_params, max_iter=max_iter)
        self.l2_penalty = l2_penalty

    # ----- fitting --------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None, *, covariates: Any = None) -> BetaGeoModel:
        """Maximum-likelihood fit on per-customer (or compressed, weighted) histories.

        ``frequency``: number of repeat purchases x; ``recency``: time of the
        last purchase t_x (0 when x = 0); ``T``: age of the customer at the end
        of calibration; all measured from the first purchase in one time unit.
        ``weights``: optional count of customers sharing each row.
        ``covariates``: optional static covariates, one row per customer (a
        DataFrame, or an array with columns named x0, x1, ...); customer data
        with covariates (:func:`clv.summary.attach_covariates`) gives them.
        They enter through the exponential link of
        :data:`clv.models.covariate_link.BGNBD_LINK` (alpha_i = alpha
        e^(-g_trans'x_i), a_i = a e^(g_life'x_i), b_i = b e^(g_life'x_i)) and
        their coefficients are in ``params_`` as ``trans[<name>]``,
        ``life[<name>]``; ``l2_penalty`` (constructor) penalises them.
        Without covariates the fit is exactly the model without them.
        """
        x, t_x, T = validate_rfm(frequency, recency, T)
        weights = validate_weights(weights, x.shape[0])
        require_customers(self, x.shape[0], weights)
        repeat_buyers = x > 0 if weights is None else (x > 0) & (weights > 0)
        if not repeat_buyers.any():
            raise FitError(
                f"{type(self).__name__}: no customer made a repeat purchase (all frequency 0), so purchase "
                "rates and dropout cannot be estimated. Use a longer calibration period or more customers."
            )
        for name in _COVARIATE_ATTRIBUTES:  # a new fit describes itself only
            self.__dict__.pop(name, None)
        if covariates is not None:
            return self._fit_covariates(x, t_x, T, weights, covariates)
        self._fit({"x": x, "t_x": t_x, "T": T}, weights)
        require_identified(self)
        return self

    def _fit_covariates(self, x, t_x, T, weights, covariates) -> BetaGeoModel:
        """The fit with static covariates (:func:`clv.models.covariate_link.fit_with_covariates`)."""
        from clv.models.covariate_link import BGNBD_LINK, covariate_table, fit_with_covariates

        X, names = covariate_table(covariates, x.shape[0])
        penalty = float(self.l2_penalty)
        if not (np.isfinite(penalty) and penalty >= 0):
            raise DataError(f"l2_penalty must be a number >= 0, got {self.l2_penalty!r}.")
        plain = type(self)(initial_params=self.initial_params, max_iter=self.max_iter)
        plain.fit(x, t_x, T, weights)
        fit_with_covariates(self, {"x": x, "t_x": t_x, "T": T}, X, names, weights, BGNBD_LINK, penalty, plain.params_)
        return self

    def _row_log_likelihood_and_gradient(self, params, data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per-row log L and its gradient in per-row (r, alpha, a, b) (arrays or scalars), for covariate fits.

        The formulas of :meth:`_log_likelihood_terms` and :meth:`_log_likelihood_gradient`, which hold
        element by element.
        """
        return self._log_likelihood_terms(params, data), self._log_likelihood_gradient(params, data)

    def _profile_log_likelihood_and_gradient(self, params, data: Mapping[str, np.ndarray],
                                             weights: np.ndarray) -> tuple[float, np.ndarray]:
        """sum_i w_i log L_i and the per-profile sums of w_i dlog L_i/d(r, alpha_i, a_i, b_i), for covariate fits.

        ``params``: (r, alpha, a, b) per distinct covariate profile (arrays (P,)
        or scalars); ``data["_profile"]`` the profile of each row. The formulas
        of :meth:`_log_likelihood_gradient`, with the special functions of
        :meth:`_x_terms` evaluated once per distinct (profile, x) pair (a few
        thousand for categorical covariates) and gathered per row.
        """
        from clv.models.covariate_link import PROFILE

        r = params[0]
        profile = data[PROFILE]
        n_profiles = max((np.shape(p)[0] for p in params if np.ndim(p)), default=1)
        alpha, a, b = (np.broadcast_to(np.asarray(p, dtype=float), (n_profiles,)) for p in params[1:])
        pair_codes, pair_profile, pair_x, weight_by_pair = self._profile_pairs(data, weights)
        per_pair = self._x_terms([r, alpha[pair_profile], a[pair_profile], b[pair_profile]], pair_x)
        x, t_x, T = data["x"], data["t_x"], data["T"]
        row_alpha = alpha[profile]
        log_at_T, log_at_t_x = np.log(row_alpha + T), np.log(row_alpha + t_x)
        shape = r + x
        log_ratio = log_at_T - log_at_t_x
        log_odds = per_pair.log_odds[pair_codes] + shape * log_ratio
        soft = softplus(log_odds)
        q = np.exp(log_odds - soft)
        value = float(weights @ (per_pair.log_alive[pair_codes] - shape * log_at_T + soft))
        q_by_pair = np.bincount(pair_codes, weights * q, minlength=pair_x.shape[0])

        def by_profile(values_by_pair):
            return np.bincount(pair_profile, values_by_pair, minlength=n_profiles)

        d_r = (per_pair.d_r @ weight_by_pair) - weights @ log_at_T + (weights * q) @ log_ratio
        d_alpha_rows = r / row_alpha - shape / (row_alpha + T) - q * shape * (1.0 / (row_alpha + t_x) - 1.0 / (row_alpha + T))
        d_alpha = np.bincount(profile, weights * d_alpha_rows, minlength=n_profiles)
        d_a = by_profile(per_pair.d_a * weight_by_pair + q_by_pair / a[pair_profile])
        d_b = by_profile(per_pair.d_b * weight_by_pair + q_by_pair * per_pair.d_log_odds_b)
        d_r_by_profile = np.zeros(n_profiles)
        d_r_by_profile[0] = d_r  # r is shared: only its total matters (chain_gradient sums over profiles)
        return value, np.column_stack([d_r_by_profile, d_alpha, d_a, d_b])

    def _profile_pairs(self, data: Mapping[str, np.ndarray], weights: np.ndarray):
        """(pair code per row, profile per pair, x per pair, weight per pair) of the distinct (profile, x) pairs,
        cached in ``data`` (the same rows and weights come back at every step of a fit)."""
        from clv.models.covariate_link import PROFILE

        cached = data.get("_pairs") if isinstance(data, dict) else None
        if cached is None or cached[0] is not weights:
            packed = compress({"p": data[PROFILE], "x": data["x"]}, ordered=False)
            weight_by_pair = np.bincount(packed.inverse, weights, minlength=packed.n_distinct)
            cached = (weights, (packed.inverse, packed.columns["p"], packed.columns["x"], weight_by_pair))
            if isinstance(data, dict):
                data["_pairs"] = cached
        return cached[1]

    # ----- covariates -------------------------------------------------------
    def _has_covariates(self) -> bool:
        return bool(self.__dict__.get("covariate_names_"))

    def _covariate_params(self, covariates: Any, shape: tuple, params: Any = None) -> Any:
        """Per-row parameters for histories of ``shape`` (one covariate row per first-axis entry), or
        ``params`` unchanged for a model without covariates."""
        if not self._has_covariates():
            if covariates is not None:
                raise DataError(f"{type(self).__name__} was fitted without covariates, but covariates= were given. "
                                "Fix: fit it with covariates (customer data with attach_covariates), or leave them out.")
            return params
        from clv.models.covariate_link import covariate_table, split_theta

        if covariates is None:
            raise DataError(f"{type(self).__name__} was fitted with covariates {list(self.covariate_names_)}: pass "
                            "covariates= (one row per customer, same columns), or score customer data that carries "
                            "them (clv.score_customers).")
        n = shape[0] if shape else 1
        X, names = covariate_table(covariates, n, self.covariate_names_)
        if isinstance(covariates, pd.DataFrame) and names != self.covariate_names_:
            raise DataError(f"covariates have columns {list(names)}, but the model was fitted with "
                            f"{list(self.covariate_names_)}. Fix: give the same columns in the same order.")
        base, coefficients = split_theta(self, params)
        rows = self.covariate_link_.row_params(type(self).param_names, base, coefficients, X)
        per_row = (n,) + (1,) * max(len(shape) - 1, 0)
        return _RowParams(np.reshape(p, per_row) if np.ndim(p) else p for p in rows)

    def _params_array(self, params: Any = None) -> Any:
        if isinstance(params, _RowParams):
            return params
        if self._has_covariates():
            raise DataError(f"{type(self).__name__} was fitted with covariates {list(self.covariate_names_)}: pass "
                            "covariates= (one row per customer) to its predictions.")
        return super()._params_array(params)

    def sample_params(self, n_draws: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draws of the parameters from their estimated sampling distribution.

        Multivariate normal on (log base parameters, covariate coefficients)
        with the inverse observed information as covariance; the base
        parameters mapped back with ``exp``. Shape (n_draws, k).
        """
        if not self._has_covariates():
            return super().sample_params(n_draws, seed)
        from clv.models.covariate_link import split_theta

        base, coefficients = split_theta(self)
        theta = np.concatenate([np.log(base), coefficients])
        draws = np.random.default_rng(seed).multivariate_normal(theta, self.covariance_theta_, size=n_draws, method="eigh")
        draws[:, :base.shape[0]] = np.exp(draws[:, :base.shape[0]])
        return draws

    def profile_model(self, covariate_row: Any) -> BetaGeoModel:
        """The model without covariates of one covariate profile (its parameters and their uncertainty).

        The per-profile parameters of the link and the covariance of their
        logs, A Sigma A' (:func:`clv.models.covariate_link.profile_params`: exact,
        the link is linear in the logs), in a fitted model of this class without
        covariates: every prediction, value and interval method of the model
        applies to the customers of that profile.
        """
        from clv.models.covariate_link import profile_params

        self._check_fitted()
        if not self._has_covariates():
            raise DataError(f"{type(self).__name__} was fitted without covariates: it has no profiles.")
        row = np.asarray(covariate_row, dtype=float).reshape(-1)
        if row.shape[0] != len(self.covariate_names_):
            raise DataError(f"a covariate profile has {len(self.covariate_names_)} values {list(self.covariate_names_)}, "
                            f"got {row.shape[0]}.")
        values, covariance = profile_params(self, row)
        model = type(self)()
        names = type(self).param_names
        model.params_ = dict(zip(names, values.tolist()))
        model.covariance_theta_ = covariance
        se = values * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        model.standard_errors_ = dict(zip(names, se.tolist()))
        model.confidence_intervals_ = {n: (v * math.exp(-1.959963984540054 * e / v), v * math.exp(1.959963984540054 * e / v))
                                       for n, v, e in zip(names, values.tolist(), se.tolist())}
        model.log_likelihood_, model.n_, model.n_distinct_ = self.log_likelihood_, self.n_, self.n_distinct_
        model.time_unit_ = getattr(self, "time_unit_", None)
        return model

    def to_dict(self) -> dict[str, Any]:
        payload = super().to_dict()
        if self._has_covariates():
            payload["covariates"] = {"names": list(self.covariate_names_), "l2_penalty": self.l2_penalty_}
            design = getattr(self, "covariate_design_", None)
            if design is not None:
                payload["covariates"]["design"] = design.as_dict()
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> BetaGeoModel:
        model = super().from_dict(payload)
        covariates = payload.get("covariates")
        if covariates:
            from clv.models.covariate_link import BGNBD_LINK

            names = tuple(covariates["names"])
            model.param_names = cls.param_names + BGNBD_LINK.coefficient_names(names)
            model.params_ = {n: float(payload["params"][n]) for n in model.param_names}
            model.covariate_names_, model.covariate_link_ = names, BGNBD_LINK
            model.l2_penalty_ = model.l2_penalty = float(covariates.get("l2_penalty", 0.0))
            if covariates.get("design") is not None:
                from clv.summary.covariates import CovariateDesign

                model.covariate_design_ = CovariateDesign.from_dict(covariates["design"])
        return model

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        total = weights.sum()
        mean_x = float(weights @ data["x"]) / total
        mean_T = float(weights @ data["T"]) / total
        return np.array([1.0, mean_T / max(mean_x, 0.1), 1.0, 3.0])

    def _x_terms(self, params: np.ndarray, x: np.ndarray) -> _XTerms:
        """The parts of log L and of its gradient that depend on x alone.

        Evaluated per distinct x during a fit (millions of rows share a few
        hundred purchase counts), per row elsewhere. See :meth:`_log_likelihood_terms`.
        """
        r, alpha, a, b = params
        s = self.capabilities.dropout_at_first_purchase
        has_dropout_term = (x + s) >= 1
        tail = np.where(has_dropout_term, b + x + s - 1, 1.0)
        psi_ab, psi_abx = special.digamma(a + b), special.digamma(a + b + x + s)
        return _XTerms(
            log_alive=special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + special.betaln(a, b + x + s) - special.betaln(a, b),
            log_odds=np.where(has_dropout_term, np.log(a) - np.log(tail), -np.inf),
            d_r=special.digamma(r + x) - special.digamma(r) + np.log(alpha),
            d_a=psi_ab - psi_abx,
            d_b=psi_ab - special.digamma(b) + special.digamma(b + x + s) - psi_abx,
            d_log_odds_b=np.where(has_dropout_term, -1.0 / tail, 0.0),
        )

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """log L per row.

        L = A1 * (B(a, b+x+s)/B(a,b) (alpha+T)^-(r+x)
                  + [x+s >= 1] B(a+1, b+x+s-1)/B(a,b) (alpha+t_x)^-(r+x)),
        A1 = Gamma(r+x) alpha^r / Gamma(r): the first term is "alive at T", the
        second "dropped out right after the last purchase" (FHL 2005 eq. 6 for
        s = 0; Batislam et al. 2007 for s = 1). Since B(a+1, c-1)/B(a, c) = a/(c-1),
        log L = log_alive - (r+x) log(alpha+T) + softplus(d) with
        log_alive = log A1 + log B(a, b+x+s) - log B(a, b), softplus(d) = log(1 + e^d) and
        d = log(dropped term / alive term) = log(a/(b+x+s-1)) + (r+x) log((alpha+T)/(alpha+t_x))
        (-inf when x+s = 0: no dropout term).
        """
        r, alpha, _, _ = params
        x = data["x"]
        terms = self._x_terms(params, x)
        log_at_T = np.log(alpha + data["T"])
        log_odds = terms.log_odds + (r + x) * (log_at_T - np.log(alpha + data["t_x"]))
        return terms.log_alive - (r + x) * log_at_T + softplus(log_odds)

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Analytic d(log L)/d(r, alpha, a, b) per row, shape (n_rows, 4).

        With q = e^(d - softplus(d)) the share of the "dropped" term in L and
        R = log((alpha+T)/(alpha+t_x)) (notation of :meth:`_log_likelihood_terms`):
        d/dr     = psi(r+x) - psi(r) + log alpha - log(alpha+T) + q R,
        d/dalpha = r/alpha - (r+x)/(alpha+T) - q (r+x) (1/(alpha+t_x) - 1/(alpha+T)),
        d/da     = psi(a+b) - psi(a+b+x+s) + q/a,
        d/db     = psi(a+b) - psi(b) + psi(b+x+s) - psi(a+b+x+s) - q/(b+x+s-1).
        """
        r, alpha, a, _ = params
        x, t_x, T = data["x"], data["t_x"], data["T"]
        terms = self._x_terms(params, x)
        log_ratio = np.log(alpha + T) - np.log(alpha + t_x)
        log_odds = terms.log_odds + (r + x) * log_ratio
        q = np.exp(log_odds - softplus(log_odds))
        d_r = terms.d_r - np.log(alpha + T) + q * log_ratio
        d_alpha = r / alpha - (r + x) / (alpha + T) - q * (r + x) * (1.0 / (alpha + t_x) - 1.0 / (alpha + T))
        return np.column_stack([d_r, d_alpha, terms.d_a + q / a, terms.d_b + q * terms.d_log_odds_b])

    def _weighted_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """The weighted sum of the per-row gradients (by the fused evaluation)."""
        return self._weighted_log_likelihood_and_gradient(params, data, weights)[1]

    def _weighted_log_likelihood_and_gradient(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """sum_i w_i log L_i and its gradient, with the least work per row.

        The formulas of :meth:`_log_likelihood_gradient` summed with weights w.
        Terms in x alone are summed per distinct x with W_x (the weight of each
        x); terms in x and T with W_T and sum(w x) by T; only the log odds d,
        softplus(d) and q need a pass over the rows, and sums
        sum_i w_i q_i g(x_i) are taken as g(x values) @ bincount(x code, w q).
        The special functions and logs are evaluated once per distinct x, t_x
        and T and gathered by code. The row passes run block by block
        (:meth:`_CodedRows.blocks`) so that their temporaries stay in the CPU
        cache: about a third faster than whole-array passes on millions of rows.
        """
        rows = self._rows_for(data, weights)
        r, alpha, a, _ = params
        per_x = self._x_terms(params, rows.x_values)
        log_at_T, log_at_t_x = np.log(alpha + rows.T_values), np.log(alpha + rows.t_x_values)
        inv_at_T, inv_at_t_x = 1.0 / (alpha + rows.T_values), 1.0 / (alpha + rows.t_x_values)
        shape_by_T = r * rows.weight_by_T + rows.weighted_x_by_T  # sum of w (r+x) by T

        soft_sum = q_log_ratio = q_alpha = 0.0  # sums over rows of w softplus(d), w q R, w q (r+x) D
        q_by_x = np.zeros(rows.x_values.shape[0])
        for x, w, x_codes, t_x_codes, T_codes in rows.blocks():
            shape = r + x
            log_ratio = log_at_T[T_codes] - log_at_t_x[t_x_codes]
            log_odds = per_x.log_odds[x_codes] + shape * log_ratio
            soft = softplus(log_odds)
            weighted_q = w * np.exp(log_odds - soft)
            soft_sum += w @ soft
            q_log_ratio += weighted_q @ log_ratio
            q_alpha += weighted_q @ (shape * (inv_at_t_x[t_x_codes] - inv_at_T[T_codes]))
            q_by_x += np.bincount(x_codes, weighted_q, minlength=q_by_x.shape[0])

        value = per_x.log_alive @ rows.weight_by_x - shape_by_T @ log_at_T + soft_sum
        d_r = per_x.d_r @ rows.weight_by_x - rows.weight_by_T @ log_at_T + q_log_ratio
        d_alpha = r * rows.total / alpha - shape_by_T @ inv_at_T - q_alpha
        d_a = per_x.d_a @ rows.weight_by_x + q_by_x.sum() / a
        d_b = per_x.d_b @ rows.weight_by_x + q_by_x @ per_x.d_log_odds_b
        return float(value), np.array([d_r, d_alpha, d_a, d_b])

    def _weighted_log_likelihood_gradient_and_hessian(
        self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """sum_i w_i log L_i, its gradient and its Hessian in (r, alpha, a, b), in one pass over the rows.

        With log L = log_alive - (r+x) log(alpha+T) + softplus(d) (see
        :meth:`_log_likelihood_terms`) and q = softplus'(d),
        H = d2[log_alive - (r+x) log(alpha+T)] + sum_i w_i [q(1-q) grad(d) grad(d)' + q d2(d)],
        grad(d) = (R, (r+x) D, 1/a, -u) with R = log((alpha+T)/(alpha+t_x)),
        D = 1/(alpha+T) - 1/(alpha+t_x), u = 1/(b+x+s-1) (0 without a dropout
        term); the non-zero second derivatives of d are d2/(dr dalpha) = D,
        d2/dalpha2 = (r+x) (1/(alpha+t_x)^2 - 1/(alpha+T)^2), d2/da2 = -1/a^2,
        d2/db2 = u^2; those of log_alive are trigamma (psi') terms. q(1-q) is
        computed as e^(d - 2 softplus(d)) (exact also where q rounds to 1).
        Value and gradient as in :meth:`_weighted_log_likelihood_and_gradient`
        (the row pass needs the same q); Newton steps ask for all three at each point.
        Summed the same way: per distinct x, t_x and T, rows block by block.
        """
        rows = self._rows_for(data, weights)
        r, alpha, a, b = params
        s = self.capabilities.dropout_at_first_purchase
        x_values, weight_by_x = rows.x_values, rows.weight_by_x
        per_x = self._x_terms(params, x_values)
        inv_tail = -per_x.d_log_odds_b  # u(x)
        log_at_T, log_at_t_x = np.log(alpha + rows.T_values), np.log(alpha + rows.t_x_values)
        inv_at_T, inv_at_t_x = 1.0 / (alpha + rows.T_values), 1.0 / (alpha + rows.t_x_values)
        shape_by_T = r * rows.weight_by_T + rows.weighted_x_by_T  # sum of w (r+x) by T

        # Row sums: sum w softplus(d); sum w q grad(d) (4,); sum w q(1-q) grad(d) grad(d)' (4, 4);
        # and those of w q d2(d): w q D, w q (r+x) (1/(alpha+t_x)^2 - 1/(alpha+T)^2), w q, w q u^2.
        soft_sum = q_diff = q_curvature = q_sum = q_tail2 = 0.0
        q_grad, qq_outer = np.zeros(4), np.zeros((4, 4))
        for x, w, x_codes, t_x_codes, T_codes in rows.blocks():
            shape = r + x
            at_T, at_t_x = inv_at_T[T_codes], inv_at_t_x[t_x_codes]
            tail = inv_tail[x_codes]
            log_odds = per_x.log_odds[x_codes]
            grad_d = np.empty((4, x.shape[0]))  # rows: d(d)/d(r, alpha, a, b) = R, (r+x) D, 1/a, -u
            np.subtract(log_at_T[T_codes], log_at_t_x[t_x_codes], out=grad_d[0])
            inv_diff = at_T - at_t_x  # D
            np.multiply(shape, inv_diff, out=grad_d[1])
            grad_d[2] = 1.0 / a
            np.negative(tail, out=grad_d[3])
            log_odds += shape * grad_d[0]
            soft = softplus(log_odds)
            weighted_q = w * np.exp(log_odds - soft)
            weighted_qq = w * np.exp(log_odds - 2.0 * soft)  # w q (1-q)
            soft_sum += w @ soft
            q_grad += grad_d @ weighted_q
            qq_outer += (grad_d * weighted_qq) @ grad_d.T
            q_diff += weighted_q @ inv_diff
            q_curvature += weighted_q @ (shape * (at_t_x * at_t_x - at_T * at_T))
            q_sum += weighted_q.sum()
            q_tail2 += weighted_q @ (tail * tail)

        value = per_x.log_alive @ weight_by_x - shape_by_T @ log_at_T + soft_sum
        gradient = q_grad + np.array([
            per_x.d_r @ weight_by_x - rows.weight_by_T @ log_at_T,
            r * rows.total / alpha - shape_by_T @ inv_at_T,
            per_x.d_a @ weight_by_x,
            per_x.d_b @ weight_by_x,
        ])

        trigamma_ab, trigamma_abx = special.polygamma(1, a + b), special.polygamma(1, a + b + x_values + s)
        beta_ab = weight_by_x @ (trigamma_ab - trigamma_abx)  # d2 log B(a, b+x+s) - log B(a, b) / da db
        hessian = qq_outer  # plus the second derivatives of log_alive - (r+x) log(alpha+T) and w q d2(d):
        hessian[0, 0] += weight_by_x @ (special.polygamma(1, r + x_values) - special.polygamma(1, r))
        hessian[0, 1] += rows.total / alpha - rows.weight_by_T @ inv_at_T + q_diff
        hessian[1, 1] += -r * rows.total / alpha**2 + shape_by_T @ inv_at_T**2 + q_curvature
        hessian[2, 2] += beta_ab - q_sum / a**2
        hessian[2, 3] += beta_ab
        hessian[3, 3] += (weight_by_x @ (special.polygamma(1, b + x_values + s) - trigamma_abx - special.polygamma(1, b) + trigamma_ab)
                          + q_tail2)
        upper = np.triu(hessian)
        return float(value), gradient, upper + np.triu(upper, 1).T

    def _rows_for(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> _CodedRows:
        """The coded rows of ``data`` (built once per fit and kept while the same arrays come back)."""
        columns = (data["x"], data["t_x"], data["T"], weights)
        cached = self.__dict__.get("_coded_rows")
        if cached is None or not all(a is b for a, b in zip(cached[0], columns)):
            cached = (columns, _CodedRows.build(*columns))
            self._coded_rows = cached
        return cached[1]

    # ----- predictions ----------------------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, T: Any, *, covariates: Any = None) -> np.ndarray:
        """P(customer still alive at T | x, t_x, T).

        BG/NBD (FHL 2005 eq. 11): 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x));
        MBG/NBD: 1 / (1 + a/(b+x) (...)^(r+x)) for every x. Computed as a
        logistic of the log odds. Time unit: that of the data.
        Evaluated on every row, not on the distinct rows: these few logarithms
        per row cost less than finding the distinct rows.
        ``covariates``: one row per customer for a model fitted with covariates (per-row parameters).
        """
        x, t_x, T = broadcast_history(frequency, recency, T)
        return self.probability_alive_validated(x, t_x, T, self._covariate_params(covariates, x.shape))

    def probability_alive_validated(self, x, t_x, T, params=None):
        """:meth:`probability_alive` on float arrays already checked by ``validate_rfm`` (no checks, no copies).

        ``params``: a parameter vector (mapping or sequence in ``param_names`` order) instead of the fitted one.
        """
        r, alpha, a, b = self._params_array(params)
        s = self.capabilities.dropout_at_first_purchase
        has_dropout_term = (x + s) >= 1
        # Built in place (the formula's operations in its order, fewer full-size temporaries).
        log_odds_dropped = np.log(alpha + T, out=np.empty(np.broadcast_shapes(np.shape(x), np.shape(t_x), np.shape(T))))
        log_odds_dropped -= np.log(alpha + t_x)
        log_odds_dropped *= r + x
        log_tail = np.where(has_dropout_term, b + x + s - 1, 1.0)
        np.log(log_tail, out=log_tail)
        np.subtract(np.log(a), log_tail, out=log_tail)
        log_odds_dropped += log_tail
        np.negative(log_odds_dropped, out=log_odds_dropped)
        return np.where(has_dropout_term, special.expit(log_odds_dropped, out=log_odds_dropped), 1.0)

    def expected_purchases_new(self, t: Any, *, covariates: Any = None) -> np.ndarray:
        """E[X(t)]: expected repeat purchases in (0, t] of a newly acquired customer.

        BG/NBD (FHL 2005 eq. 9):
        (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
        MBG/NBD (Batislam et al. 2007): b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))].
        ``t`` in the time unit of the data. ``covariates``: for a model fitted
        with covariates, one row per new customer (``t`` broadcast with the rows).
        """
        t = non_negative(t, "t")
        r, alpha, a, b = self._params_array(self._covariate_params(covariates, (len(covariates),) if covariates is not None else ()))
        s = self.capabilities.dropout_at_first_purchase
        survive_first = np.exp(special.betaln(a, b + s) - special.betaln(a, b))
        return survive_first * expected_purchases_given_alive(t, r, alpha, a, b + s)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any, *, covariates: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] given the history.

        FHL 2005 eq. 10: P(alive) * (a+b+x-1)/(a-1)
        * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        (MBG/NBD: b+x -> b+x+1). See :func:`expected_purchases_given_alive`
        for the stable evaluation. ``t`` in the time unit of the data.
        Arguments broadcast as NumPy arrays. Histories of shape (n, 1) with
        ``t`` of shape (1, m) give the (n, m) grid of every history at every
        time, evaluated as a grid (the per-history parts once per row; no
        search for distinct rows); other inputs are evaluated once per
        distinct (t, x, t_x, T). ``covariates``: one row per customer (the
        first axis of the histories) for a model fitted with covariates.
        """
        t = non_negative(t, "t")
        x, t_x, T = broadcast_history(frequency, recency, T)
        if self._has_covariates() or covariates is not None:
            shape = np.broadcast_shapes(t.shape, x.shape)
            params = self._covariate_params(covariates, x.shape if x.shape == shape else shape)
            return self._expected_purchases(*np.broadcast_arrays(t, x, t_x, T), params=params)
        if t.ndim == 2 and t.shape[0] == 1 and x.ndim == 2 and x.shape[1] == 1:
            return self._expected_purchases(t, x, t_x, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        flat = {name: np.ascontiguousarray(v).reshape(-1) for name, v in (("t", t), ("x", x), ("t_x", t_x), ("T", T))}
        return apply_on_distinct(self._expected_purchases, **flat).reshape(t.shape)

    def _expected_purchases(self, t, x, t_x, T, params=None):
        r, alpha, a, b = self._params_array(params)
        s = self.capabilities.dropout_at_first_purchase
        given_alive = expected_purchases_given_alive(t, r + x, alpha + T, a, b + x + s)
        return self.probability_alive_validated(x, t_x, T, params) * given_alive

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T): no purchase in (T, T+t] given the history.

        A customer alive at T cannot drop out before the next purchase (dropout
        happens only right after a purchase), so given alive the chance of no
        purchase is that of no Poisson event, ``E[exp(-lambda t)]`` with
        ``lambda ~ Gamma(r+x, alpha+T)``:

            P(Y(t) = 0 | x, t_x, T) = 1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x)

        (the n = 0 term of the conditional distribution of future purchases,
        :mod:`clv.scores.closed_form`: Fader, Hardie & Lee 2005, "Counting your
        customers the easy way", eq. 8 with the posterior given the history,
        r -> r+x, alpha -> alpha+T, times P(alive), eq. 11; MBG/NBD: the same
        with its P(alive), Batislam et al. 2007). As t grows it tends to 1 - P(alive):
        an alive customer buys again for sure. Arguments broadcast; ``t`` in the
        time unit of the data.
        """
        t = non_negative(t, "t")
        x, t_x, T = broadcast_history(frequency, recency, T)
        r, alpha, _, _ = self._params_array()  # a DataError for a model fitted with covariates
        alive = self.probability_alive_validated(x, t_x, T)
        some_purchase_given_alive = -np.expm1(-(r + x) * np.log1p(t / (alpha + T)))
        return np.clip(1.0 - alive * some_purchase_given_alive, 0.0, 1.0)

    def probability_alive_at(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T+t | x, t_x, T): still a customer t time units after the observation end.

        Alive at T with lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x+s)
        (FHL 2005; s = 1 for MBG/NBD), the customer survives each of the
        Poisson(lambda t) purchases in (T, T+t] with probability 1-p, so stays
        alive with probability ``E[(1-p)^K] = E[exp(-lambda p t)]``:

            P(alive at T+t) = P(alive at T) E_p[(1 + p t/(alpha+T))^-(r+x)]
                            = P(alive at T) ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+s; a+b+x+s; t/(alpha+T+t)).

        The Beta expectation is taken by the trapezoid rule in logit p
        (:func:`clv.models.special.beta_expectation`, ~1e-12), once per distinct
        (x, T, t). Arguments broadcast; ``t`` in the time unit of the data.
        """
        t = non_negative(t, "t")
        x, t_x, T = broadcast_history(frequency, recency, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        r, alpha, a, b = self._params_array()
        s = self.capabilities.dropout_at_first_purchase

        def stays_alive(t, x, T):
            shape, relative = r + x, t / (alpha + T)

            def given_p(p, _, row):
                return np.exp(-shape[row] * np.log1p(p * relative[row]))

            return beta_expectation(given_p, np.full(x.shape, a), b + x + s)

        flat = {name: np.ascontiguousarray(v, dtype=float).reshape(-1) for name, v in (("t", t), ("x", x), ("T", T))}
        survive = apply_on_distinct(stays_alive, **flat).reshape(x.shape)
        alive = self.probability_alive_validated(x, t_x, T)
        return np.clip(alive * survive, 0.0, 1.0)

    def discounted_lifetime_purchases(
        self, frequency: Any, recency: Any, T: Any, step: float, step_factor: float
    ) -> np.ndarray:
        """Discounted expected purchases over the whole remaining lifetime, in steps.

        ``sum_{k>=1} q^k (E[Y(k s) | x, t_x, T] - E[Y((k-1) s) | x, t_x, T])``:
        the purchases of each step of length ``s = step`` discounted by
        ``q^k`` at the step's end, ``q = step_factor`` in (0, 1) the
        value of 1 paid one step later. ``step``, ``recency`` and ``T`` are in
        the time unit of the data (e.g. step = 365.25/12 with days for monthly
        steps, q = 1.1 ** (-1/12) for 10% a year). Finite for every q < 1,
        although the undiscounted lifetime purchases are infinite when a <= 1.

        Derivation. Given alive at T with purchase rate lambda and dropout
        probability p after each purchase, the customer is still alive at
        T+t with probability exp(-lambda p t), so the expected purchases in
        (T, T+t] are (1 - e^(-lambda p t)) / p (FHL 2005, derivation of eq. 9);
        each step's increment is e^(-c(k-1)) (1 - e^-c)/p with c = lambda p s and
        the geometric sum is ``f(lambda, p) = q (1 - e^-c) / (p (1 - q e^-c))``.
        Given the history and alive at T, lambda ~ Gamma(r+x, alpha+T) and
        p ~ Beta(a, b+x+s') independently (s' = 1 for MBG/NBD, else 0), so

            DET = P(alive | x, t_x, T) * E[f(lambda, p)].

        The expectation is a 2-D integral, done per distinct (x, T) (P(alive)
        per row) by trapezoid rules in log lambda and logit p: f has a sharp
        step at c ~ -log q (the pole of 1/(1 - q e^-c) sits that close to 0),
        which Gauss-Laguerre/Jacobi rules need thousands of nodes to resolve
        but a log-scale grid resolves at any scale. See
        :func:`clv.models.bgnbd_lifetime.lifetime_given_alive`; accuracy ~1e-10 relative.
        """
        x, t_x, T = broadcast_history(frequency, recency, T)
        step, log_discount = checked_lifetime_step(step, step_factor)
        if self._has_covariates():
            raise DataError(f"{type(self).__name__} fitted with covariates: its whole-lifetime value is computed per "
                            "covariate profile by clv.score_customers (horizon=None). Fix: score the customer data.")
        r, alpha, a, b = self.params
        groups = compress({"x": x.reshape(-1), "T": T.reshape(-1)})
        given_alive = lifetime_given_alive(
            groups.columns["x"], groups.columns["T"], r, alpha, a, b + self.capabilities.dropout_at_first_purchase,
            step, log_discount,
        )
        return self.probability_alive_validated(x, t_x, T) * groups.expand(given_alive).reshape(x.shape)

    def discounted_residual_purchases(
        self, frequency: Any, recency: Any, T: Any, *, discount_rate: float, time_unit: str, step: float = 1.0
    ) -> np.ndarray:
        """Whole-lifetime discounted expected purchases, each ``step`` discounted at its end (the contract method).

        :meth:`discounted_lifetime_purchases` with the step discount factor
        ``q = (1 + discount_rate) ** (-step * years_per_unit(time_unit))``;
        ``discount_rate`` annual, ``step``, recency and T in ``time_unit``.
        """
        rate = check_annual_rate(discount_rate)
        step_factor = math.exp(-math.log1p(rate) * step * years_per_unit(time_unit))
        return self.discounted_lifetime_purchases(frequency, recency, T, step, step_factor)

    def probability_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes n repeat purchases in (0, t].

        With K ~ NBD(r, alpha, t) the purchases a never-dropping customer would
        make: P = E[(1-p)^(n+s)] P(K = n) + [n+s >= 1] E[p (1-p)^(n+s-1)] P(K >= n)
        (FHL 2005 eq. 8 for s = 0), in log space with the negative binomial
        pmf / survival function. ``t`` in the time unit of the data.
        """
        n = non_negative(n, "n")
        if np.any(n != np.round(n)):
            raise DataError("n must be a whole number of purchases (0, 1, 2, ...).")
        n, t = np.broadcast_arrays(n, non_negative(t, "t"))
        from scipy import (
            stats,  # here, not at the top: scipy.stats costs ~0.4 s to import, only this needs it
        )

        if self._has_covariates():
            raise DataError(f"{type(self).__name__} fitted with covariates: probability_purchases is for the model "
                            "without covariates. Fix: fit without covariates for it.")
        r, alpha, a, b = self.params
        s = self.capabilities.dropout_at_first_purchase
        success = alpha / (alpha + t)
        log_stay = special.betaln(a, b + n + s) - special.betaln(a, b) + stats.nbinom.logpmf(n, r, success)
        has_dropout_term = (n + s) >= 1
        beta_tail = np.where(has_dropout_term, b + n + s - 1, 1.0)
        log_drop = np.where(
            has_dropout_term,
            special.betaln(a + 1, beta_tail) - special.betaln(a, b) + stats.nbinom.logsf(n - 1, r, success),
            -np.inf,
        )
        return np.exp(np.logaddexp(log_stay, log_drop))

    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any,
        params: Any = None, rng: np.random.Generator | int | None = None, *, covariates: Any = None,
    ) -> np.ndarray:
        """One draw per customer of the number of purchases in (T, T+t].

        From the posterior of the latent traits given the history: alive with
        probability P(alive | x, t_x, T); if alive, lambda ~ Gamma(r+x, alpha+T)
        and p ~ Beta(a, b+x+s) (independent given alive), and the count is
        min(Poisson(lambda t), N) with N ~ Geometric(p) on {1, 2, ...} the
        purchase after which the customer drops out. Its mean is
        :meth:`expected_purchases`. ``params`` (mapping or sequence in
        ``param_names`` order; default: the fitted ones) lets callers add
        parameter uncertainty, e.g. with rows of :meth:`sample_params`.
        ``t`` in the time unit of the data. Returns floats (whole numbers).
        ``covariates``: one row per customer for a model fitted with covariates
        (``params`` then in its ``param_names`` order, coefficients included).
        """
        rng = np.random.default_rng(rng)
        t = non_negative(t, "t")
        t, x, t_x, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        params = self._covariate_params(covariates, x.shape, params)
        r, alpha, a, b = self._params_array(params)
        s = self.capabilities.dropout_at_first_purchase
        alive = rng.random(x.shape) < self.probability_alive_validated(x, t_x, T, params)
        return np.where(alive, sample_purchases_given_alive(t, r + x, alpha + T, a, b + x + s, rng), 0.0)

    def simulate(
        self, T: Any, params: Any = None, rng: np.random.Generator | int | None = None, *, covariates: Any = None
    ) -> pd.DataFrame:
        """Simulate calibration histories (frequency, recency, T) for customers of ages ``T``.

        Each customer draws lambda ~ Gamma(r, alpha), p ~ Beta(a, b); K ~
        Poisson(lambda T) purchases would happen without dropout; the customer
        drops out at dropout opportunity D ~ Geometric(p) (the first purchase
        is opportunity 1 for MBG/NBD, the first repeat purchase for BG/NBD), so
        x = min(K, D - s); t_x is the x-th of K uniform times on (0, T).
        ``covariates``: one row per customer (a DataFrame); ``params`` then a
        mapping with the base parameters and the coefficients
        ``trans[<column>]``, ``life[<column>]`` (the link of
        :data:`clv.models.covariate_link.BGNBD_LINK`), per-customer parameters.
        """
        rng = np.random.default_rng(rng)
        T = as_float_array(T, "T")
        if covariates is not None:
            params = _simulation_row_params(type(self).param_names, params, covariates, T.shape[0])
        r, alpha, a, b = self._params_array(params)
        s = self.capabilities.dropout_at_first_purchase
        rate = rng.gamma(r, 1.0 / alpha, T.shape)
        p = rng.beta(a, b, T.shape)
        possible = rng.poisson(rate * T).astype(float)
        x = np.minimum(possible, _geometric_trials(p, rng) - s)
        bought = x > 0
        order_stat = rng.beta(np.where(bought, x, 1.0), np.where(bought, possible - x + 1, 1.0))
        t_x = np.where(bought, T * order_stat, 0.0)
        return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def _simulation_row_params(base_names, params: Any, covariates: Any, n: int) -> _RowParams:
    """Per-customer (r, alpha, a, b) of a simulation with covariates, from a mapping of base parameters and coefficients."""
    from clv.models.covariate_link import BGNBD_LINK, covariate_table

    X, names = covariate_table(covariates, n)
    wanted = (*base_names, *BGNBD_LINK.coefficient_names(names))
    if not isinstance(params, Mapping) or any(name not in params for name in wanted):
        raise DataError(f"simulating with covariates needs params as a mapping with {list(wanted)}.")
    base = np.array([float(params[name]) for name in base_names])
    coefficients = np.array([float(params[name]) for name in wanted[len(base_names):]])
    return _RowParams(BGNBD_LINK.row_params(base_names, base, coefficients, X))


class _RowParams(tuple):
    """Per-row parameters (r, alpha, a, b) of a model with covariates: arrays or scalars that broadcast."""


_COVARIATE_ATTRIBUTES = ("param_names", "covariate_names_", "covariate_link_", "l2_penalty_")


@dataclass(frozen=True)
class _XTerms:
    """Per-x parts of the BG/NBD log-likelihood and gradient (see BetaGeoModel._x_terms)."""

    log_alive: np.ndarray  # log A1 + log B(a, b+x+s) - log B(a, b)
    log_odds: np.ndarray  # log(a / (b+x+s-1)), -inf without a dropout term
    d_r: np.ndarray  # psi(r+x) - psi(r) + log alpha
    d_a: np.ndarray  # psi(a+b) - psi(a+b+x+s)
    d_b: np.ndarray  # psi(a+b) - psi(b) + psi(b+x+s) - psi(a+b+x+s)
    d_log_odds_b: np.ndarray  # d log_odds / db = -1/(b+x+s-1), 0 without a dropout term


@dataclass(frozen=True)
class _CodedRows:
    """A fit's distinct rows as codes into each column's distinct values, with weighted counts.

    Built once per fit: ``x_values[x_codes]`` reproduces x (same for t_x, T);
    ``weight_by_x`` = W_x, the total weight of each x value; ``weight_by_T``
    and ``weighted_x_by_T`` = sum of w and of w x for each T value.
    """

    x: np.ndarray
    weights: np.ndarray
    total: float
    x_values: np.ndarray
    x_codes: np.ndarray
    t_x_values: np.ndarray
    t_x_codes: np.ndarray
    T_values: np.ndarray
    T_codes: np.ndarray
    weight_by_x: np.ndarray
    weight_by_T: np.ndarray
    weighted_x_by_T: np.ndarray

    def blocks(self):
        """(x, weights, x_codes, t_x_codes, T_codes) for consecutive blocks of ``_BLOCK_ROWS`` rows."""
        size = _BLOCK_ROWS
        for start in range(0, self.x.shape[0], size):
            block = slice(start, start + size)
            yield self.x[block], self.weights[block], self.x_codes[block], self.t_x_codes[block], self.T_codes[block]

    @classmethod
    def build(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weights: np.ndarray) -> _CodedRows:
        (x_codes, x_values), (t_x_codes, t_x_values), (T_codes, T_values) = map(_value_codes, (x, t_x, T))
        n_T = T_values.shape[0]
        return cls(
            x=x, weights=weights, total=float(weights.sum()),
            x_values=x_values, x_codes=x_codes, t_x_values=t_x_values, t_x_codes=t_x_codes,
            T_values=T_values, T_codes=T_codes,
            weight_by_x=np.bincount(x_codes, weights, minlength=x_values.shape[0]),
            weight_by_T=np.bincount(T_codes, weights, minlength=n_T),
            weighted_x_by_T=np.bincount(T_codes, weights * x, minlength=n_T),
        )


def _value_codes(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, values) with ``values[codes] == column``.

    Whole numbers in a narrow range (counts, ages in whole days) are coded as
    value - min over all values of the range, some perhaps unused (zero
    weight): a few array passes instead of hashing. Otherwise hash-factorised.
    """
    offset = offset_codes(column)
    if offset is None:
        return pd.factorize(column)
    codes, n_codes = offset
    return codes, column.min() + np.arange(n_codes, dtype=column.dtype)


def expected_purchases_given_alive(t, shape, rate, a, beta) -> np.ndarray:
    """E[min(Poisson(lambda t), N)] with lambda ~ Gamma(shape, rate), N ~ Geometric(p), p ~ Beta(a, beta).

    Given (lambda, p) the mean is (1 - exp(-lambda p t))/p (FHL 2005); over
    the two distributions it is, with z = t/(rate+t),
    (a+beta-1)/(a-1) [1 - (1-z)^shape 2F1(shape, beta; a+beta-1; z)].
    For a customer with history (x, T) shape = r+x, rate = alpha+T and beta =
    b+x (BG/NBD), so for large x both numerator parameters of 2F1 are large
    and the series converges slowly and loses accuracy (scipy returns inf or
    garbage for x in the thousands). We use Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), which gives
    (1-z)^shape 2F1(...) = (1-z)^(a-1) 2F1(a+beta-1-shape, a-1; a+beta-1; z):
    the new numerator parameters (a+b-1-r and a-1 for BG/NBD) do not grow
    with x and the denominator does, so the series converges fast. The
    bracket is evaluated as -expm1((a-1) log1p(-z)) - (1-z)^(a-1) (2F1 - 1)
    to avoid cancelling 1 - 1. Near a = 1 (a 0/0 form) see ``_A_NEAR_ONE``.
    """
    # Not broadcast here: per-customer arguments of shape (n, 1) with times of shape (1, m) keep the
    # per-customer work (and the series coefficients) once per row.
    t, shape, rate, beta = (np.asarray(v, dtype=float) for v in (t, shape, rate, beta))
    if np.ndim(a):  # per-row a (a model with covariates): the same interpolation, row by row
        a = np.asarray(a, dtype=float)
        near = np.abs(a - 1.0) < _A_NEAR_ONE
        if not near.any():
            return _given_alive_euler(t, shape, rate, a, beta)
        below = _given_alive_euler(t, shape, rate, np.where(near, 1.0 - _A_NEAR_ONE, a), beta)
        above = _given_alive_euler(t, shape, rate, np.where(near, 1.0 + _A_NEAR_ONE, a), beta)
        share = np.where(near, (a - (1.0 - _A_NEAR_ONE)) / (2 * _A_NEAR_ONE), 0.0)
        return (1.0 - share) * below + share * above
    if abs(a - 1.0) < _A_NEAR_ONE:
        below = _given_alive_euler(t, shape, rate, 1.0 - _A_NEAR_ONE, beta)
        above = _given_alive_euler(t, shape, rate, 1.0 + _A_NEAR_ONE, beta)
        share = (a - (1.0 - _A_NEAR_ONE)) / (2 * _A_NEAR_ONE)
        return (1.0 - share) * below + share * above
    return _given_alive_euler(t, shape, rate, a, beta)


def _given_alive_euler(t, shape, rate, a, beta):
    """Interpolate linearly in beta across the removable 0 * inf at c = a+beta-1 = 0 (BG/NBD, x=0, a+b=1)."""
    c = a + beta - 1.0
    near_pole = np.abs(c) < _C_NEAR_ZERO
    if not near_pole.any():
        return _given_alive_core(t, shape, rate, a, beta)
    below = _given_alive_core(t, shape, rate, a, np.where(near_pole, 1.0 - a - _C_NEAR_ZERO, beta))
    above = _given_alive_core(t, shape, rate, a, np.where(near_pole, 1.0 - a + _C_NEAR_ZERO, beta))
    share = (c + _C_NEAR_ZERO) / (2 * _C_NEAR_ZERO)
    return np.where(near_pole, (1.0 - share) * below + share * above, below)


def _given_alive_core(t, shape, rate, a, beta):
    rate_plus_t = rate + t
    z = t / rate_plus_t
    c = a + beta - 1.0
    power = (a - 1.0) * (np.log(rate) - np.log(rate_plus_t))  # (a-1) log(1-z)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow and 0 * inf: taken over by the quadrature below
        hyp_minus_one = _hyp2f1_minus_one(c - shape, a - 1.0, c, z)
        bracket = -np.expm1(power) - np.exp(power) * hyp_minus_one
        value = c / (a - 1.0) * bracket
    # Where (1-z)^(a-1) is below e^_POWER_FLOOR the 2F1 is at least as large (its series long, its sum beyond
    # what the bracket can cancel), or the series did not converge (NaN): the same expectation by quadrature.
    hard = ~np.isfinite(value) | (power < _POWER_FLOOR)
    if hard.any():
        value = np.array(np.broadcast_to(value, hard.shape))
        row_a = np.broadcast_to(a, hard.shape)[hard] if np.ndim(a) else a
        value[hard] = _given_alive_by_quadrature(*(np.broadcast_to(v, hard.shape)[hard] for v in (t, shape, rate, beta)), row_a)
    # 0 <= E[min(Poisson, N)] <= E[Poisson] = shape t / rate: a guard against rounding at the extremes.
    return np.clip(value, 0.0, shape * t / rate)


def _given_alive_by_quadrature(t, shape, rate, beta, a):
    """E over p ~ Beta(a, beta) of (1 - (rate / (rate + p t))^shape) / p, by :func:`clv.models.special.beta_expectation`.

    The mean of min(Poisson(lambda t), N) after integrating lambda ~ Gamma(shape, rate)
    out (FHL 2005, derivation of eq. 9); 1-D arrays. Used where the 2F1 form
    cannot be evaluated: dropout parameters a and b in the thousands or more
    (a fit near the no-dropout limit), where (1-z)^(a-1) underflows and the
    2F1 overflows. Smooth in logit p, so the trapezoid rule converges fast.
    """
    per_rate = t / rate

    def given_p(p, _, row):
        # (1 - (1 + p t/rate)^-shape) / p, -> shape t / rate as p -> 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -np.expm1(-shape[row] * np.log1p(p * per_rate[row])) / p
        return np.where(p > 0, value, shape[row] * per_rate[row])

    return beta_expectation(given_p, np.broadcast_to(np.asarray(a, dtype=float), beta.shape), beta)


def _hyp2f1_minus_one(A, B, C, z) -> np.ndarray:
    """2F1(A, B; C; z) - 1 for the Euler-transformed parameters (|A|, |B| moderate, 0 <= z < 1).

    By its power series sum_k (A)_k (B)_k / ((C)_k k!) z^k (k >= 1) where that
    converges fast (C >= 20 and C-A-B >= 10, or z <= 0.5), else scipy's hyp2f1
    (and the series, up to 5,000 terms, where scipy gives inf/NaN). The series is
    needed, not just faster: scipy 1.17 returns inf/NaN for large C when
    C-A-B is an integer and z > 0.9 (e.g. r == a, x >= 99), a region the
    series handles in a few dozen terms. Arguments broadcast; when z is 2-D
    (rows, columns) and A, B, C are constant along the columns (one customer
    at several horizons), the series shares its coefficients along each row
    (:func:`_series_minus_one`); any other shape is evaluated element by element.
    """
    A, B, C, z = (np.asarray(v, dtype=float) for v in (A, B, C, z))
    shape = np.broadcast_shapes(A.shape, B.shape, C.shape, z.shape)
    row_shape = np.broadcast_shapes(A.shape, B.shape, C.shape)
    if len(shape) == 2 and (len(row_shape) == 0 or row_shape[-1] == 1):
        grid = shape
    else:
        grid = (int(np.prod(shape)), 1)
    A, B, C = (np.broadcast_to(v, shape).reshape(grid)[:, :1] for v in (A, B, C))
    z = np.broadcast_to(z, shape).reshape(grid)
    result = np.empty(grid)
    by_series = ((C >= _SERIES_MIN_C) & (C - A - B >= _SERIES_MIN_C / 2)) | (z <= 0.5)
    by_scipy = ~by_series
    if by_scipy.any():
        full = (np.broadcast_to(v, grid)[by_scipy] for v in (A, B, C))
        result[by_scipy] = special.hyp2f1(*full, z[by_scipy]) - 1.0
        unresolved = by_series | ~np.isfinite(result)
    else:
        unresolved = by_series
    rows = np.flatnonzero(unresolved.any(axis=1))
    if rows.size == grid[0] and unresolved.all():
        result = _series_minus_one(A[:, 0], B[:, 0], C[:, 0], z)
    elif rows.size:
        # Elements left to scipy get z = 0 here: their series is 0 after one term and does not hold the row up.
        needed = unresolved[rows]
        series = _series_minus_one(A[rows, 0], B[rows, 0], C[rows, 0], np.where(needed, z[rows], 0.0))
        result[rows] = np.where(needed, series, result[rows])
    return result.reshape(shape)


def _series_minus_one(A, B, C, z, max_terms: int = 5_000) -> np.ndarray:
    """sum_{k>=1} (A)_k (B)_k / ((C)_k k!) z^k for each element of ``z`` (rows, columns); A, B, C per row.

    Term k+1 is term k times (A+k)(B+k) / ((C+k)(k+1)) z: that ratio is
    computed once per row and shared by the row's columns (for the
    Euler-transformed BG/NBD expectation of one customer at several horizons
    only z differs). A 1-D ``z`` is one column. The convergence test runs
    every ``_SERIES_CHECK_EVERY`` terms: a row stops when every element has
    |term| <= 1e-17 |sum| (zero terms, where the series terminates, pass;
    sums that turned inf/NaN pass and get no further terms), and finished
    rows leave the working set; a row still summing after ``max_terms`` terms gets NaN (no partial
    sums passed off as values). An element that passed the test earlier than
    its row may get a few more terms; beyond the test they are below 1e-17
    of the sum and shrink geometrically, so the sum moves by rounding only.
    """
    z = np.asarray(z, dtype=float)
    # Worked on transposed, (columns, rows): a row's ratio then multiplies a contiguous run (much faster
    # than broadcasting it along short rows).
    values = np.ascontiguousarray((z[:, None] if z.ndim == 1 else z).T)
    n_rows = values.shape[1]
    result = np.empty(values.shape)
    a_, b_, c_ = (np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (n_rows,)) for v in (A, B, C))
    rows = np.arange(n_rows)
    term, total, scratch = np.ones(values.shape), np.zeros(values.shape), np.empty(values.shape)
    k = 0
    while rows.size and k < max_terms:
        for k in range(k, min(k + _SERIES_CHECK_EVERY, max_terms)):
            ratio = (a_ + k) * (b_ + k) / ((c_ + k) * (k + 1.0))
            np.multiply(values, ratio, out=scratch)
            term *= scratch
            total += term
        k += 1
        np.abs(total, out=scratch)
        scratch *= 1e-17
        going = np.abs(term) > scratch  # False for NaN: a NaN sum stops like an inf one
        if not np.isfinite(total).all():
            term[~np.isfinite(total)] = 0.0
        finished = ~going.any(axis=0)
        if finished.any():
            result[:, rows[finished]] = total[:, finished]
            keep = ~finished
            rows, a_, b_, c_ = rows[keep], a_[keep], b_[keep], c_[keep]
            values, term, total = values[:, keep], term[:, keep], total[:, keep]
            scratch = np.empty(term.shape)
    result[:, rows] = np.nan  # rows still summing after max_terms: no value rather than a partial sum
    return np.ascontiguousarray(result.T).reshape(z.shape)


def sample_purchases_given_alive(t, shape, rate, a, beta, rng: np.random.Generator) -> np.ndarray:
    """One draw of min(Poisson(lambda t), N) per element, lambda ~ Gamma(shape, rate), N ~ Geometric(p), p ~ Beta(a, beta).

    The purchases in (T, T+t] of a customer alive at T in the BG/NBD family
    (FHL 2005): ``shape = r+x``, ``rate = alpha+T``, ``beta = b+x+s``; N is the
    purchase after which the customer drops out. Its mean is
    :func:`expected_purchases_given_alive`. Draws in this order: lambda, p,
    the Poisson count, N. Returns floats (whole numbers).
    """
    purchase_rate = rng.gamma(shape, 1.0 / rate)
    p = rng.beta(a, beta)
    purchases = rng.poisson(purchase_rate * t).astype(float)
    return np.minimum(purchases, _geometric_trials(p, rng))


def _geometric_trials(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Geometric(p) on {1, 2, ...} as floats, by inversion (no int64 overflow for tiny p)."""
    u = rng.random(np.shape(p))
    with np.errstate(divide="ignore"):
        trials = np.ceil(np.log(u) / np.log1p(-p))
    return np.maximum(trials, 1.0)

