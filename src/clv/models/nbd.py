"""NBD: repeat purchases without dropout (every customer stays active).

Ehrenberg (1959), "The pattern of consumer purchases", Journal of the Royal
Statistical Society C 8(1), 26-41; the limit of the BG/NBD (Fader, Hardie &
Lee 2005) as a -> 0 and of the Pareto/NBD (Schmittlein, Morrison & Colombo
1987) as s -> 0: the nested model the model ladder (:mod:`clv.models.ladder`)
falls back to when the data show no detectable churn.

Story: a customer buys as a Poisson process with rate ``lambda`` for ever;
across customers ``lambda ~ Gamma(r, alpha)`` (shape r, rate alpha). With x
repeat purchases in (0, T] the likelihood is the negative binomial

    L(r, alpha | x, T) = Gamma(r+x) / Gamma(r) * alpha^r / (alpha+T)^(r+x)

(up to the factor T^x / x!, free of the parameters, which the BG/NBD and
Pareto/NBD likelihoods leave out too, so the log-likelihoods of the three are
comparable and a likelihood-ratio test between them is meaningful). The
recency t_x does not enter: without dropout, when the last purchase happened
says nothing about the future. Given the history, lambda ~ Gamma(r+x, alpha+T), so

    P(alive | x, t_x, T) = 1,
    E[Y(t) | x, t_x, T] = t (r+x) / (alpha+T),
    E[X(t)] = r t / alpha,
    P(X(t) = n) = NB(n; r, alpha/(alpha+t)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
from clv.models.contract import PurchaseCapabilities, PurchaseModel
from clv.units import check_annual_rate, years_per_unit

special = LazyModule("scipy.special")  # imported by the first fit or score, not by import clv


class NBDModel(MaximumLikelihoodModel, PurchaseModel):
    """NBD model without dropout (Ehrenberg 1959), parameters ``r, alpha``.

    ``r, alpha``: shape and rate of the Gamma distribution of purchase rates
    (mean rate r/alpha purchases per time unit). Nobody drops out: P(alive) is
    1 for every customer. It is the BG/NBD with a -> 0 and the Pareto/NBD with
    s -> 0, and the model :func:`clv.models.ladder.fit_purchase_model` falls
    back to when the data show no churn.

    Time is in the unit of the data (days, weeks...): every ``t``, ``recency``
    and ``T`` passed to the methods must use that same unit.

    Parameters
    ----------
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search (``"r", "alpha"``);
        None starts from data-based guesses and a few fixed points.
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
        The maximised (weighted) log-likelihood, comparable with the BG/NBD's and Pareto/NBD's.
    n_ : float
        The customers fitted (the sum of the weights).
    n_distinct_ : int
        The distinct (x, T) rows the likelihood was evaluated on.
    time_unit_ : str or None
        The unit of the durations fitted; None for unitless arrays.

    See Also
    --------
    BetaGeoModel : Adds dropout after each repeat purchase (NBD is its a -> 0 limit).
    ParetoNBDModel : Adds dropout at any time (NBD is its s -> 0 limit).

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was.

    References
    ----------
    Ehrenberg, A. S. C. (1959). "The Pattern of Consumer Purchases". *Journal of the Royal
    Statistical Society, Series C* 8(1), 26-41.
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting Your Customers the Easy Way:
    An Alternative to the Pareto/NBD Model". *Marketing Science* 24(2), 275-284 (the a -> 0 limit).

    Examples
    --------
    >>> import numpy as np
    >>> history = NBDModel().simulate(T=np.full(5000, 39.0), params={"r": 0.75, "alpha": 9.0}, rng=1)
    >>> model = NBDModel().fit(history["frequency"], history["recency"], history["T"], time_unit="week")
    >>> {name: round(value, 1) for name, value in model.params_.items()}
    {'r': 0.7, 'alpha': 8.6}
    >>> model.probability_alive([0, 5], [0.0, 30.0], [39.0, 39.0])
    array([1., 1.])
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha")
    model_name: ClassVar[str] = "nbd"
    # P(alive) = 1, so E[Y | x, t_x, T] depends on (x, T) only (factorisable); expected purchases broadcast
    # as a grid; the whole-lifetime value is a geometric sum (closed form). No BG/NBD tail tables.
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities(
        factorisable=True, grid_scoring=True, closed_form_lifetime=True, dropout=False, closed_form_timing=True,
    )

    # ----- fitting --------------------------------------------------------
    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> NBDModel:
        """Maximum-likelihood fit on per-customer (or compressed, weighted) histories.

        ``frequency``: repeat purchases x; ``recency``: time of the last purchase t_x
        (checked, not used: without dropout it carries no information); ``T``: the
        customer's age at the end of calibration. ``weights``: customers sharing each row.

        Raises FitError when nobody made a repeat purchase (the maximum is then
        at r = 0), when a parameter runs to the edge of its range (no spread of
        purchase rates across customers: r -> infinity) or when the information
        matrix is singular.
        """
        x, _, T = validate_rfm(frequency, recency, T)
        weights = validate_weights(weights, x.shape[0])
        require_customers(self, x.shape[0], weights)
        repeat_buyers = x > 0 if weights is None else (x > 0) & (weights > 0)
        if not repeat_buyers.any():
            raise FitError(
                "NBDModel: no customer made a repeat purchase (all frequency 0), so purchase rates cannot be "
                "estimated. Use a longer calibration period or more customers."
            )
        self._fit({"x": x, "T": T}, weights)
        require_identified(self)
        return self

    def _initial_params(self, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        total = weights.sum()
        mean_x = float(weights @ data["x"]) / total
        mean_T = float(weights @ data["T"]) / total
        return np.array([1.0, mean_T / max(mean_x, 0.1)])

    def _log_likelihood_terms(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """log L = log Gamma(r+x) - log Gamma(r) + r log alpha - (r+x) log(alpha+T) per row."""
        r, alpha = params
        x, T = data["x"], data["T"]
        return special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)

    def _log_likelihood_gradient(self, params: np.ndarray, data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Analytic d(log L)/d(r, alpha) per row, shape (n_rows, 2).

        d/dr = psi(r+x) - psi(r) + log alpha - log(alpha+T);
        d/dalpha = r/alpha - (r+x)/(alpha+T).
        """
        r, alpha = params
        x, T = data["x"], data["T"]
        d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - np.log(alpha + T)
        d_alpha = r / alpha - (r + x) / (alpha + T)
        return np.column_stack([d_r, d_alpha])

    def _weighted_hessian(self, params: np.ndarray, data: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """Analytic second derivatives of sum_i w_i log L_i in (r, alpha).

        d2/dr2 = psi'(r+x) - psi'(r); d2/(dr dalpha) = 1/alpha - 1/(alpha+T);
        d2/dalpha2 = -r/alpha^2 + (r+x)/(alpha+T)^2.
        """
        r, alpha = params
        x, T = data["x"], data["T"]
        total = float(weights.sum())
        h_rr = weights @ (special.polygamma(1, r + x) - special.polygamma(1, r))
        h_ra = total / alpha - weights @ (1.0 / (alpha + T))
        h_aa = -r * total / alpha**2 + weights @ ((r + x) / (alpha + T) ** 2)
        return np.array([[h_rr, h_ra], [h_ra, h_aa]])

    # ----- predictions ----------------------------------------------------
    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T | x, t_x, T) = 1 for every history (no dropout)."""
        x, t_x, T = broadcast_history(frequency, recency, T)
        return self.probability_alive_validated(x, t_x, T)

    def probability_alive_validated(self, x, t_x, T, params=None) -> np.ndarray:
        """:meth:`probability_alive` on already-validated float arrays: ones of their broadcast shape."""
        self._params_array(params)  # checks params (and that the model is fitted)
        return np.ones(np.broadcast_shapes(np.shape(x), np.shape(t_x), np.shape(T)))

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T] = t (r+x) / (alpha+T): the posterior mean rate times t.

        Arguments broadcast (histories (n, 1) with ``t`` (1, m) give the (n, m)
        grid). ``t`` in the time unit of the data.
        """
        t = non_negative(t, "t")
        x, _, T = broadcast_history(frequency, recency, T)
        r, alpha = self.params
        return t * (r + x) / (alpha + T)

    def probability_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T) = ((alpha+T)/(alpha+T+t))^(r+x): no purchase in (T, T+t].

        ``E[exp(-lambda t)]`` for the posterior ``lambda ~ Gamma(r+x, alpha+T)``
        (Ehrenberg 1959; Morrison & Schmittlein 1988): the zero of the negative
        binomial predictive distribution. ``t`` in the time unit of the data.
        """
        t = non_negative(t, "t")
        x, _, T = broadcast_history(frequency, recency, T)
        r, alpha = self.params
        return np.exp(-(r + x) * np.log1p(t / (alpha + T)))

    def probability_alive_at(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive at T+t | x, t_x, T) = 1: the NBD has no dropout."""
        t = non_negative(t, "t")
        x, t_x, T = broadcast_history(frequency, recency, T)
        return np.ones(np.broadcast_shapes(t.shape, x.shape))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)] = r t / alpha: expected repeat purchases in (0, t] of a new customer."""
        t = non_negative(t, "t")
        r, alpha = self.params
        return r * t / alpha

    def discounted_residual_purchases(
        self, frequency: Any, recency: Any, T: Any, *, discount_rate: float, time_unit: str, step: float = 1.0
    ) -> np.ndarray:
        """Whole-lifetime discounted expected purchases, each ``step`` discounted at its end.

        Every step of length s brings s (r+x)/(alpha+T) expected purchases
        (nobody drops out), discounted by q^k at the end of step k, with
        q = (1 + discount_rate)^(-s years_per_unit): the geometric sum
        s (r+x)/(alpha+T) q/(1-q). ``discount_rate`` annual; ``step``, recency
        and T in ``time_unit``.
        """
        rate = check_annual_rate(discount_rate)
        if not (math.isfinite(step) and step > 0):
            raise DataError(f"step must be a positive number of {time_unit}s, got {step!r}.")
        log_q = -math.log1p(rate) * step * years_per_unit(time_unit)
        if log_q >= 0:
            raise DataError("discount_rate must be > 0 for a whole-lifetime value without dropout (the sum is infinite).")
        geometric = math.exp(log_q) / -math.expm1(log_q)
        return self.expected_purchases(step, frequency, recency, T) * geometric

    def probability_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n) = NB(n; r, alpha/(alpha+t)): n repeat purchases in (0, t] for a new customer."""
        n = non_negative(n, "n")
        if np.any(n != np.round(n)):
            raise DataError("n must be a whole number of purchases (0, 1, 2, ...).")
        n, t = np.broadcast_arrays(n, non_negative(t, "t"))
        from scipy import stats  # here, not at the top: scipy.stats costs ~0.4 s to import

        r, alpha = self.params
        return stats.nbinom.pmf(n, r, alpha / (alpha + t))

    def sample_future_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any,
        params: Any = None, rng: np.random.Generator | int | None = None,
    ) -> np.ndarray:
        """One draw per customer of the purchases in (T, T+t]: Poisson(lambda t), lambda ~ Gamma(r+x, alpha+T).

        ``params`` (mapping or sequence ``(r, alpha)``; default the fitted ones)
        lets callers add parameter uncertainty. Returns floats (whole numbers).
        """
        rng = np.random.default_rng(rng)
        t = non_negative(t, "t")
        t, x, _, T = np.broadcast_arrays(t, *broadcast_history(frequency, recency, T))
        r, alpha = self._params_array(params)
        rate = rng.gamma(r + x, 1.0 / (alpha + T))
        return rng.poisson(rate * t).astype(float)

    def simulate(self, T: Any, params: Any = None, rng: np.random.Generator | int | None = None) -> pd.DataFrame:
        """Simulate calibration histories (frequency, recency, T) for customers of ages ``T``.

        lambda ~ Gamma(r, alpha), x ~ Poisson(lambda T), and t_x the largest of
        x uniform times on (0, T): T times a Beta(x, 1) draw.
        """
        rng = np.random.default_rng(rng)
        T = as_float_array(T, "T")
        r, alpha = self._params_array(params)
        x = rng.poisson(rng.gamma(r, 1.0 / alpha, T.shape) * T).astype(float)
        bought = x > 0
        t_x = np.where(bought, T * rng.beta(np.where(bought, x, 1.0), 1.0), 0.0)
        return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
