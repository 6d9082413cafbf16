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
    """

    model_name: ClassVar[str] = "mbgnbd"
    capabilities: ClassVar[PurchaseCapabilities] = dataclasses.replace(
        BetaGeoModel.capabilities, dropout_at_first_purchase=1
    )
