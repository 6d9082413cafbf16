"""MBG/CNBD-k: the MBG/NBD with Erlang-k inter-purchase times (Platzer & Reutterer 2016; BTYDplus ``mbgcnbd.*``).

The BG/CNBD-k (:mod:`clv.models.bgcnbd`) with a dropout opportunity right
after the first purchase too (as the MBG/NBD of Batislam, Denizel &
Filiztekin 2007 adds to the BG/NBD): ``s = 1`` in every formula, so a
one-time buyer may be gone. At k = 1 it is the MBG/NBD.
"""

from __future__ import annotations

from typing import ClassVar

from clv.models.bgcnbd import BetaGeoCNBDModel
from clv.models.contract import PurchaseCapabilities


class ModifiedBetaGeoCNBDModel(BetaGeoCNBDModel):
    """MBG/CNBD-k model (Platzer & Reutterer 2016), parameters ``r, alpha, a, b`` and the regularity ``k_``.

    Same parameters, methods and conventions as
    :class:`~clv.models.bgcnbd.BetaGeoCNBDModel`; ``a, b`` describe the dropout
    probability after *every* purchase, the first one included.

    Parameters
    ----------
    k : int or None, default None
        The regularity; None chooses it by likelihood over 1..``max_k``.
    max_k : int, default 12
        The largest k tried.
    initial_params : Mapping[str, float] or None, default None
        A starting point for the maximum-likelihood search (``"r", "alpha", "a", "b"``).
    max_iter : int, default 2000
        The most iterations of the L-BFGS-B optimiser per starting point.

    Attributes
    ----------
    params_, k_, k_log_likelihoods_, k_basis_, standard_errors_, confidence_intervals_, log_likelihood_, n_, n_distinct_, time_unit_
        As in :class:`~clv.models.bgcnbd.BetaGeoCNBDModel`.

    References
    ----------
    Platzer, M. and Reutterer, T. (2016). "Ticking Away the Moments: Timing Regularity Helps to
    Better Predict Customer Activity". *Marketing Science* 35(5), 779-799.

    Examples
    --------
    >>> import numpy as np
    >>> truth = {"r": 1.5, "alpha": 3.0, "a": 0.6, "b": 3.0}
    >>> panel = ModifiedBetaGeoCNBDModel().simulate(T=np.full(3000, 52.0), params=truth, k=3, rng=1)
    >>> ModifiedBetaGeoCNBDModel().fit(panel["frequency"], panel["recency"], panel["T"], litt=panel["litt"]).k_
    3
    """

    model_name: ClassVar[str] = "mbgcnbd"
    capabilities: ClassVar[PurchaseCapabilities] = PurchaseCapabilities(dropout_at_first_purchase=1)
    _k1_model: ClassVar[str] = "mbgnbd"
