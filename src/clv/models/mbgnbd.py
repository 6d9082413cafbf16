"""MBG/NBD: the modified BG/NBD model.

Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison
of models for customer base analysis", International Journal of Research in
Marketing 24(3), 201-209.

The BG/NBD (Fader, Hardie & Lee 2005) lets a customer drop out only after a
*repeat* purchase, so a one-time buyer is certainly alive. The MBG/NBD adds a
dropout opportunity right after the first purchase (time 0): with
``p ~ Beta(a, b)`` the customer is gone at once with probability p. A customer
with x repeat purchases has therefore had x + 1 chances to drop out, and the
likelihood, P(alive) and predictions are those of the BG/NBD with the count of
dropout opportunities shifted by one (see :mod:`clv.models.bgnbd`):

L = Gamma(r+x) alpha^r / Gamma(r) * [B(a, b+x+1)/B(a,b) (alpha+T)^-(r+x)
                                     + B(a+1, b+x)/B(a,b) (alpha+t_x)^-(r+x)],

P(alive | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)) (< 1 even for x = 0),

E[Y(t) | x, t_x, T] = P(alive) (a+b+x)/(a-1)
                      [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))],

E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))].
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from clv.models.bgnbd import BetaGeoModel
from clv.models.contract import PurchaseCapabilities


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007), parameters ``r, alpha, a, b``.

    Same parameters, methods and time-unit conventions as
    :class:`~clv.models.bgnbd.BetaGeoModel`; ``a, b`` now describe the
    dropout probability after *every* purchase, the first one included.

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
    BetaGeoModel : Dropout only after a repeat purchase (a one-time buyer is surely alive).

    Notes
    -----
    Fits are all or nothing: a fit that raises leaves the model as it was. Before a successful
    fit, a method that needs one raises :class:`clv.errors.NotFittedError`.

    References
    ----------
    Batislam, E. P., Denizel, M. and Filiztekin, A. (2007). "Empirical Validation and Comparison
    of Models for Customer Base Analysis". *International Journal of Research in Marketing*
    24(3), 201-209.

    Examples
    --------
    >>> import numpy as np
    >>> truth = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> history = ModifiedBetaGeoModel().simulate(T=np.full(5000, 38.86), params=truth, rng=1)
    >>> model = ModifiedBetaGeoModel().fit(history["frequency"], history["recency"], history["T"])
    >>> {name: round(value, 2) for name, value in model.params_.items()}
    {'r': 0.25, 'alpha': 4.28, 'a': 0.78, 'b': 2.13}
    """

    model_name: ClassVar[str] = "mbgnbd"
    capabilities: ClassVar[PurchaseCapabilities] = dataclasses.replace(
        BetaGeoModel.capabilities, dropout_at_first_purchase=1
    )
