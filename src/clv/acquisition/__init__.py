"""Acquisition economics: CAC, CLV, CLV:CAC and payback per channel and acquisition month."""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "AcquisitionReport": "clv.acquisition.payback",
    "acquisition_payback": "clv.acquisition.payback",
})
