"""The one vocabulary of ``clv``: each name, its meaning, unit and default, in Python and on the command line.

:data:`TERMS` is the source of truth. ``docs/glossary.md`` is generated from it
(:func:`glossary_markdown`; a test checks the page is current) and
``tests/test_vocabulary.py`` checks every public signature and every CLI option
against it: a forbidden synonym (``unit``, ``period``, ``freq``, ``t`` as a
horizon, ``horizon_months``, ``annual_discount_rate``, ...) fails, and so does
a CLI default that differs from the glossary's without a declared exception.

A Python keyword maps to its CLI option by ``_`` -> ``-``: ``time_unit`` is
``--time-unit``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["MODEL_NOTATION", "NO_DEFAULT", "TERMS", "Term", "glossary_markdown", "option_name", "term_for"]


class _NoDefault:
    """Marks a name that has no default (it is data, or required)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""The default of a term that has none (a column of the data, or a required argument)."""


def option_name(keyword: str) -> str:
    """The CLI option of a Python keyword: ``time_unit`` -> ``--time-unit``."""
    return "--" + keyword.replace("_", "-")


@dataclass(frozen=True)
class Term:
    """One name of the vocabulary.

    Parameters
    ----------
    name : str
        The Python keyword (and, with ``_`` -> ``-``, the CLI option).
    meaning : str
        What it is, in one or two sentences.
    measured_in : str
        Its unit (``"-"`` when it has none).
    default : object
        Its default wherever it is an argument or an option (:data:`NO_DEFAULT` if none).
    default_text : str
        The default as people read it (e.g. ``"1.0 (revenue), or from the cost column"``).
    synonyms : tuple of str
        Names that must not be used for this idea in any public signature or CLI option.
    exceptions : Mapping[str, tuple[object, str]]
        Commands (``"clv kpis"``) or functions (``"clv.formula.classic_clv"``) whose default
        differs on purpose: the default there and why.
    cli : bool
        Whether it is a CLI option (data columns such as ``frequency`` are not).
    """

    name: str
    meaning: str
    measured_in: str
    default: Any = NO_DEFAULT
    default_text: str = "-"
    synonyms: tuple[str, ...] = ()
    exceptions: Mapping[str, tuple[Any, str]] = field(default_factory=lambda: MappingProxyType({}))
    cli: bool = True

    @property
    def option(self) -> str:
        """The CLI option (``--time-unit``), or ``"-"`` for a name that is not one."""
        return option_name(self.name) if self.cli else "-"

    def expected_default(self, where: str) -> Any:
        """The default ``where`` (a command path or a function's qualified name) must have."""
        exception = self.exceptions.get(where)
        if exception is None:
            exception = next((v for k, v in self.exceptions.items() if "*" in k and fnmatch.fnmatchcase(where, k)), None)
        return self.default if exception is None else exception[0]


_NOT_SET = "None: not set in clv.toml (each command's own default applies)"
_HORIZON_3_YEARS = "acquisition, cohorts and what-if project long-run value: 3 years in --time-unit (36 months)"

TERMS: tuple[Term, ...] = (
    Term("time_unit", "The unit of recency, T, horizon and every duration of customer data and models: "
         "one of day, week, month, quarter, year. A fitted model records it (time_unit_).",
         "-", "week", "week", synonyms=("unit", "period", "freq", "frequency_unit", "period_unit", "classic_period"),
         exceptions=MappingProxyType({
             "clv kpis": ("auto", "auto: the classic formula's period is picked from the data (the median time "
                          "between orders) and stated, with the CLV at the other periods"),
             "clv nps": ("month", "NPS is reported per calendar month by default"),
             "clv.formula.classic_clv": (None, "None: the classic formula's period is picked from the data "
                                         "(clv.formula.period_choice.PERIOD_RULE) and stated"),
             "clv.formula.drivers_over_time": ("month", "drivers are tracked per calendar month by default"),
             "clv.feedback.nps_over_time": ("month", "NPS is reported per calendar month by default"),
             "clv acquisition": (None, "None: the saved model's unit, else week"),
             "clv cohorts": (None, "None: the saved model's unit, else week"),
             "clv whatif": (None, "None: the saved model's unit, else week"),
             "clv fit": (None, "None: unitless unless given (a summary file records its unit)"),
             "clv score": (None, "None: the unit saved with the model"),
             "clv.segments.rfm_scores": (None, "None: the summary's unit"),
             "*Model.fit": (None, "None: the unit of the CustomerData given, else unitless"),
             "*Model.fit_survival": (None, "None: unitless unless given"),
             "clv.scores.score_subscribers": (None, "None: the sBG model's contract period (time_unit_)"),
             "clv.settings.Settings": (None, _NOT_SET),
             "clv.scores.score_customers": (None, "the unit the customer data carries (required for a plain "
                                                  "table)"),
             "clv.scores.value_curve": (None, "the unit the customer data carries (required for a plain table)"),
             "clv.scores.purchase_timing": (None, "the unit the customer data carries (required for a plain table)"),
             "clv.summary.as_customer_data": (None, "the unit the customer data carries (required for a "
                                                    "plain table)"),
             "clv.fit_purchase_model": (None, "None: the unit of the CustomerData given, else unitless"),
             "clv.scores.new_customer_value": (None, "None: the unit the models were fitted in (their time_unit_)"),
             "clv.scores.score_on_engine": (None, "None: the unit the purchase model was fitted in (its time_unit_)"),
         })),
    Term("horizon", "How far ahead a forecast or a value reaches, counted from the observation end, in time_unit "
         "(inf: the whole remaining lifetime, where a model allows it).",
         "time_unit", 52, "52 (one year in weeks)", synonyms=("t", "horizon_months", "horizon_weeks", "horizon_days",
                                                              "months", "periods_ahead"),
         exceptions=MappingProxyType({
             "clv acquisition": (None, _HORIZON_3_YEARS),
             "clv cohorts": (None, _HORIZON_3_YEARS),
             "clv whatif": (None, _HORIZON_3_YEARS),
             "clv.acquisition.acquisition_payback": (None, _HORIZON_3_YEARS),
             "clv.cohorts.clv_over_time": (None, _HORIZON_3_YEARS),
             "clv.whatif.what_if": (None, _HORIZON_3_YEARS),
             "clv.scores.customer_lifetime_value": (None, "None: the whole remaining lifetime"),
             "clv.models.BetaGeoBetaBinomModel.probability_alive": (1, "P(alive) one purchase opportunity after the "
                                                                      "last observed one (the paper's m = 1)"),
             "clv.settings.Settings": (None, _NOT_SET),
         })),
    Term("discount_rate", "The ANNUAL discount rate: 0.10 = money a year from now is worth 1/1.10 today. One definition "
         "everywhere; a model with another period (sBG contract periods) converts it inside: "
         "(1 + discount_rate) ** (years per period) - 1.",
         "per year", 0.10, "0.10 (10% a year)",
         synonyms=("annual_discount_rate", "discount_rate_per_period", "step_discount_factor", "annual_rate",
                   "discount", "rate_per_period"),
         exceptions=MappingProxyType({"clv.settings.Settings": (None, _NOT_SET)})),
    Term("discount_step", "Purchases are discounted at the end of each such step (a time unit).", "-", "month", "month"),
    Term("margin", "The fraction of revenue kept as profit (0-1]. Given, it is used as is; not given, it is "
         "(revenue - cost) / revenue when the orders have a cost column, else 1.0 (the value is revenue).",
         "fraction", None, "from the cost column, else 1.0 (revenue)",
         synonyms=("gross_margin", "profit_margin", "margin_rate_change"),
         exceptions=MappingProxyType({
             "clv.scores.score_customers": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv.scores.customer_lifetime_value": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv.scores.new_customer_value": (1.0, "fitted models carry no costs: 1.0 (revenue)"),
             "clv.scores.value_curve": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv.backtest.classic_baseline": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv.backtest.naive_baseline": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv.backtest.rfm_baseline": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv.backtest.backtest": (1.0, "compared with holdout revenue: 1.0 (revenue)"),
             "clv backtest": (1.0, "compared with holdout revenue: 1.0 (revenue)"),
             "clv score": (1.0, "a customer summary has no costs: 1.0 (revenue)"),
             "clv segments": (1.0, "segments rank by revenue value: 1.0 (revenue)"),
         })),
    Term("margin_change", "clv whatif only: a relative change of the margin, e.g. +2% (40% -> 40.8%).", "relative change",
         NO_DEFAULT, "no change"),
    Term("cac", "Customer acquisition cost: a number per customer, or a column name of the orders (per channel).",
         "currency", None, "none (no net CLV)"),
    Term("observation_end", "The last moment of the data: orders after it are set aside; recency and T are measured to it.",
         "date", None, "the last order's day"),
    Term("calibration_end", "End of the calibration (fitting) window when the data is split; the holdout follows it.",
         "date", None, "no split"),
    Term("holdout", "The length of the holdout window after calibration_end (observation_end - calibration_end).",
         "time_unit", NO_DEFAULT, "-", cli=False),
    Term("merge", "How purchases close in time count: 'day' (one purchase per customer and day) or 'unit' (per time_unit).",
         "-", "day", "day"),
    Term("currency", "The currency of amounts; amounts in others are converted with the load policy's exchange rates.",
         "-", NO_DEFAULT, "-", cli=False),
    Term("frequency", "Repeat purchases: the number of purchase periods after the first (a column of customer data).",
         "count", NO_DEFAULT, "-", cli=False),
    Term("recency", "Age of the customer at the last purchase: last purchase - first purchase (a column).",
         "time_unit", NO_DEFAULT, "-", cli=False),
    Term("T", "Age of the customer: observation_end - first purchase (a column).", "time_unit", NO_DEFAULT, "-", cli=False),
    Term("monetary_value", "Mean net value of the repeat purchases: refunds netted against the purchases they "
         "cancel, a purchase refunded in full not counted (a column; 0 without repeats; docs/summary.md).", "currency",
         NO_DEFAULT, "-", cli=False),
    Term("gross_revenue", "Value of all the customer's purchase lines, refunds not subtracted (a column).", "currency",
         NO_DEFAULT, "-", cli=False),
    Term("refunded", "Value of all the customer's refund and cancellation lines, as a positive amount "
         "(a column; gross_revenue - refunded = revenue).", "currency", NO_DEFAULT, "-", cli=False),
    Term("refund_share", "refunded / gross_revenue: the share of the customer's purchases that was refunded "
         "(a column).", "share (0-1)", NO_DEFAULT, "-", cli=False),
    Term("largely_refunded", "Flag: refund_share >= 0.5 (clv.summary.refunds.LARGELY_REFUNDED_SHARE); a column of "
         "customer data and of the scores.", "yes/no", NO_DEFAULT, "-", cli=False),
    Term("fallback", "Whether a BG/NBD, MBG/NBD or Pareto/NBD fit falls back to the NBD without dropout when the data "
         "show no churn (the model ladder, clv.models.ladder: refused fit, dropout parameter at the edge, or a "
         "likelihood-ratio test against the NBD not significant at 5%). --no-fallback keeps the requested model, "
         "with a warning, or its refusal.", "-", True, "True (--fallback)"),
    Term("p_alive", "Probability that the customer is still active at observation_end (a score column).", "probability",
         NO_DEFAULT, "-", cli=False),
    Term("clv", "Customer lifetime value: discounted expected margin over the horizon (a score column).", "currency",
         NO_DEFAULT, "-", cli=False),
    Term("covariates", "Static covariates: one row of attributes per customer (channel, gender, ...) joined by "
         "customer id (clv.summary.attach_covariates; on the command line a CSV or Parquet file). Categorical "
         "columns become 0/1 columns against a stated reference level; numeric ones are used as given. In a "
         "model's fit and predictions: the design matrix, one row per customer.", "-", None, "none",
         exceptions=MappingProxyType({
             "*SpendCapabilities": (False, "a capability flag: whether the spend model takes covariates"),
         })),
    Term("covariate_cols", "The columns of the covariates file to use, comma-separated.", "-", None,
         "every column but the customer id"),
    Term("covariate_id", "The customer-id column of the covariates file.", "-", "customer_id", "customer_id"),
    Term("l2_penalty", "Weight of the L2 penalty on covariate coefficients: the fit maximises the log-likelihood "
         "minus l2_penalty times the sum of the squared coefficients (0: plain maximum likelihood).", "-", 0.0,
         "0 (no penalty)"),
)
"""Every name of the vocabulary, in the order of the glossary page."""

MODEL_NOTATION: frozenset[str] = frozenset({"t"})
"""Names a model's methods may keep from the papers' notation (``expected_purchases(t, ...)``: the
purchases expected in a window of length t, in the model's time unit). Functions and options say ``horizon``."""

_BY_NAME = {term.name: term for term in TERMS}


def term_for(name: str) -> Term | None:
    """The term named ``name`` (a Python keyword or a CLI option such as ``--time-unit``), or None."""
    keyword = name[2:].replace("-", "_") if name.startswith("--") else name
    return _BY_NAME.get(keyword)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def glossary_markdown() -> str:
    """The glossary page (``docs/glossary.md``), generated from :data:`TERMS`."""
    lines = [
        "# Glossary",
        "",
        "<!-- Generated from src/clv/glossary.py by clv.glossary.glossary_markdown(); "
        "tests/test_vocabulary.py checks it is current. -->",
        "",
        "One name per idea, the same in Python and on the command line: a Python keyword is the CLI option with",
        "`_` written `-` (`time_unit` is `--time-unit`). A test walks every public signature and every CLI option",
        "and fails on a name listed under *not* or on a default that differs from this page.",
        "",
        "The default time unit is **week** everywhere (the exceptions, listed below, are calendar reports).",
        "",
        "| Python | CLI | Meaning | Unit | Default | Not |",
        "|---|---|---|---|---|---|",
    ]
    for term in TERMS:
        option = f"`{term.option}`" if term.cli else "-"
        synonyms = ", ".join(f"`{s}`" for s in term.synonyms) or "-"
        lines.append(f"| `{term.name}` | {option} | {_cell(term.meaning)} | {_cell(term.measured_in)} | "
                     f"{_cell(term.default_text)} | {synonyms} |")
    lines += ["", "Model methods keep the papers' notation for " + ", ".join(f"`{n}`" for n in sorted(MODEL_NOTATION))
              + " (`model.expected_purchases(t, frequency, recency, T)`: the purchases expected in a window of",
              "length t in the model's time unit); functions and options say `horizon`."]
    lines += ["", "## In the settings file", "",
              "A `clv.toml` in the working folder (or `--config PATH`) holds `time_unit`, `horizon`, `discount_rate`,",
              "`margin` and `cac` once, at its top level under these same names, with the column mapping (`[columns]`)",
              "and the load policy (`[load]`); every command takes them as its defaults and a flag wins",
              "(`clv.settings`; see *Settings file (clv.toml)* in the command line page). The calendar reports",
              "(`clv kpis`, `clv nps`) keep their own `time_unit` unless their `[commands.NAME]` section sets it."]
    lines += ["", "## Defaults that differ on purpose", ""]
    for term in TERMS:
        for where, (default, why) in term.exceptions.items():
            lines.append(f"- `{term.name}` in `{where}`: {default!r}: {why}.")
    return "\n".join(lines) + "\n"
