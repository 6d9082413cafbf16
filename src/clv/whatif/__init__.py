"""What-if on the four CLV drivers (AOV, frequency, margin, churn) through BG/NBD + Gamma-Gamma."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "TRADE_OFF_NOTE": "clv.whatif.drivers",
    "Scenario": "clv.whatif.drivers",
    "ScenarioModel": "clv.whatif.drivers",
    "WhatIfResult": "clv.whatif.drivers",
    "what_if": "clv.whatif.drivers",
})
