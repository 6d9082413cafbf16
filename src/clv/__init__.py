"""clv: customer lifetime value from order data to decisions.

The public face: the names below are importable from ``clv`` directly, and each
is loaded the first time it is used (PEP 562), so ``import clv`` is instant and
a command or script pays only for what it uses::

    from clv import load_orders, summarize, BetaGeoModel, GammaGammaModel, score_customers

    orders = load_orders("orders.csv")
    summary = summarize(orders, time_unit="week")
    ...

The data flow, lowest layer first: :mod:`clv.data` (load) -> :mod:`clv.summary`
(customer data) -> :mod:`clv.models` -> :mod:`clv.scores` -> decisions
(:mod:`clv.backtest`, :mod:`clv.segments`, :mod:`clv.cohorts`, :mod:`clv.formula`,
:mod:`clv.acquisition`, :mod:`clv.whatif`, :mod:`clv.crosssell`,
:mod:`clv.feedback`) -> :mod:`clv.report`; the ``clv`` command line on top.
"""

from clv.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, _EXPORTED = lazy_exports(__name__, {
    # errors and units
    "ClvError": "clv.errors",
    "DataError": "clv.errors",
    "FitError": "clv.errors",
    "NotFittedError": "clv.errors",
    "TIME_UNITS": "clv.units",
    "DEFAULT_TIME_UNIT": "clv.units",
    # data: reading order lines
    "Columns": "clv.data",
    "LoadPolicy": "clv.data",
    "Csv": "clv.data",
    "Parquet": "clv.data",
    "Excel": "clv.data",
    "DatabaseTable": "clv.data",
    "LoadResult": "clv.data",
    "LoadReport": "clv.data",
    "LoadRejectedError": "clv.data",
    "load_orders": "clv.data",
    # settings: clv.toml (column mapping, load policy, time unit, horizon, margin, discount rate, CAC)
    "Settings": "clv.settings",
    "read_settings": "clv.settings",
    # customer data: the per-customer table with its time unit, dates and split
    "CustomerData": "clv.summary",
    "summarize": "clv.summary",
    "calibration_holdout": "clv.summary",
    "attach_covariates": "clv.summary",
    # models (the registry's public face)
    "BetaGeoModel": "clv.models",
    "ModifiedBetaGeoModel": "clv.models",
    "ParetoNBDModel": "clv.models",
    "BetaGeoBetaBinomModel": "clv.models",
    "ShiftedBetaGeometricModel": "clv.models",
    "GammaGammaModel": "clv.models",
    "NBDModel": "clv.models",
    "fit_purchase_model": "clv.models.ladder",
    "load_model": "clv.models",
    "model_names": "clv.models",
    # scores
    "Scores": "clv.scores",
    "score_customers": "clv.scores",
    "score_subscribers": "clv.scores",
    "customer_lifetime_value": "clv.scores",
    # decisions (the backtest: clv.backtest.backtest; ``clv.backtest`` is its package)
    "classic_clv": "clv.formula",
    "assign_segments": "clv.segments",
    "playbook": "clv.segments",
    "clv_over_time": "clv.cohorts",
    "retention_matrix": "clv.cohorts",
    "acquisition_payback": "clv.acquisition",
    "what_if": "clv.whatif",
    "Scenario": "clv.whatif",
    "product_pairs": "clv.crosssell",
    "recommend": "clv.crosssell",
    "nps_summary": "clv.feedback",
    "read_survey": "clv.feedback",
    # report
    "build_report": "clv.report",
})

__all__ = ["__version__", *_EXPORTED]
