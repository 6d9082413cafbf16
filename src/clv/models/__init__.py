"""The CLV models: Buy-Till-You-Die purchase models, the Gamma-Gamma spend model and the sBG contract model.

The classes load lazily (PEP 562): importing :mod:`clv.models` does not import SciPy or pandas.
"""

from __future__ import annotations

import importlib

_DEFINED_IN = {
    "BetaGeoBetaBinomModel": "clv.models.bgbb",
    "BetaGeoModel": "clv.models.bgnbd",
    "GammaGammaModel": "clv.models.gammagamma",
    "ModifiedBetaGeoModel": "clv.models.mbgnbd",
    "ParetoNBDModel": "clv.models.paretonbd",
    "ShiftedBetaGeometricModel": "clv.models.sbg",
}

__all__ = sorted(_DEFINED_IN)


def __getattr__(name: str):
    if name not in _DEFINED_IN:
        raise AttributeError(f"module 'clv.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_DEFINED_IN[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
