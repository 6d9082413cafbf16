"""The classic formula CLV (AOV x frequency x lifespan x margin), per segment and over time."""

from .drivers import drivers_over_time
from .kpis import ClassicCLV, classic_clv

__all__ = ["ClassicCLV", "classic_clv", "drivers_over_time"]
