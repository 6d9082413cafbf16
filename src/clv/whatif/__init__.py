"""What-if on the four CLV drivers (AOV, frequency, margin, churn) through BG/NBD + Gamma-Gamma."""

from clv.whatif.drivers import TRADE_OFF_NOTE, Scenario, ScenarioModel, WhatIfResult, what_if

__all__ = ["TRADE_OFF_NOTE", "Scenario", "ScenarioModel", "WhatIfResult", "what_if"]
