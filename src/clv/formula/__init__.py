"""The classic formula CLV (AOV x frequency x lifespan x margin), per segment and over time."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ClassicCLV": "clv.formula.kpis",
    "classic_clv": "clv.formula.kpis",
    "drivers_over_time": "clv.formula.drivers",
})
