"""One self-contained HTML report for a marketer: every analysis of ``clv`` computed once, in plain words.

>>> from clv.report import build_report
>>> build_report(load_orders("orders.csv"), spend="spend.csv", survey="survey.csv", path="report.html")  # doctest: +SKIP

See docs/report.md for what each section shows and how to read it.
"""

from clv.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "STEP_NAMES": "clv.report.build",
    "build_report": "clv.report.build",
})
