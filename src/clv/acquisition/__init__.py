"""Acquisition economics: CAC, CLV, CLV:CAC and payback per channel and acquisition month."""

from clv.acquisition.payback import AcquisitionReport, acquisition_payback

__all__ = ["AcquisitionReport", "acquisition_payback"]
