"""The inputs of a report, resolved once, and the pieces several sections share (summary, models, scores)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from clv.data import LoadResult
from clv.errors import ClvError, DataError

DISCOUNT_RATE = 0.10
CLV_OVER_TIME_MONTHS = 36


def read_table_file(value: Any, what: str) -> pd.DataFrame | None:
    """A DataFrame as is; a .csv / .parquet path read with pandas; None stays None."""
    if value is None or isinstance(value, pd.DataFrame):
        return value
    path = Path(value)
    if not path.exists():
        raise DataError(f"{what} file {str(path)!r} does not exist; fix: give an existing .csv or .parquet file.")
    return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)


@dataclass
class ReportContext:
    """Everything the sections read. Heavy shared pieces are computed on first use and kept."""

    source: Any
    spend: pd.DataFrame | None
    survey: Any
    unit: str
    horizon: float
    calibration_end: Any
    margin: float | None
    observation_end: Any
    source_note: str | None = None  # where the orders came from, e.g. a file cleaned by `clv load` (section 1)
    label: str | None = None  # a column naming products (e.g. Description), shown in place of product ids
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # results a caller may want back (e.g. the backtest)
    _has_values: dict[str, bool] = field(default_factory=dict, repr=False)

    @cached_property
    def load_result(self) -> LoadResult | None:
        return self.source.cache() if isinstance(self.source, LoadResult) else None

    @cached_property
    def orders(self) -> ibis.Table:
        if self.load_result is not None:
            return self.load_result.orders
        if isinstance(self.source, ibis.Table):
            return self.source
        return ibis.memtable(pd.DataFrame(self.source))

    @cached_property
    def columns(self) -> set[str]:
        return set(self.orders.columns)

    @cached_property
    def observation_day(self) -> pd.Timestamp:
        """The last observed day: given, else the last order line's day."""
        if self.observation_end is not None:
            return pd.Timestamp(self.observation_end).normalize()
        return pd.Timestamp(self.orders.order_ts.max().execute()).normalize()

    @cached_property
    def summary(self) -> pd.DataFrame:
        from clv.summary import summarize

        return summarize(self.orders, observation_end=self.observation_day, time_unit=self.unit)

    def has_values(self, column: str) -> bool:
        """Whether any order line has a value in ``column`` (canonical columns are null when not mapped)."""
        if column not in self.columns:
            return False
        if column not in self._has_values:
            self._has_values[column] = bool(self.orders[column].notnull().any().execute())
        return self._has_values[column]

    @cached_property
    def has_cost(self) -> bool:
        return self.has_values("cost")

    @cached_property
    def margin_rate(self) -> float:
        """The margin given, else (revenue - cost) / revenue from the summary, else 1 (values are revenue)."""
        if self.margin is not None:
            return float(self.margin)
        if self.has_cost and "margin" in self.summary and self.summary["revenue"].sum() > 0:
            return float(self.summary["margin"].sum() / self.summary["revenue"].sum())
        self.notes.append("The orders have no cost and no margin rate was given (--margin): every value in this "
                          "report is revenue, not gross margin.")
        return 1.0

    @cached_property
    def margin_argument(self) -> float | None:
        """What to pass as ``margin=`` to the order-level functions: the rate, or None to let them use cost."""
        if self.margin is not None:
            return self.margin
        return None if self.has_cost else 1.0

    @cached_property
    def models(self) -> tuple[Any, Any]:
        """BG/NBD (purchases and drop-out; the NBD without dropout when the data show no churn, by the model
        ladder :func:`clv.models.ladder.fit_purchase_model`) and Gamma-Gamma (spend per order), fitted on all customers.

        A purchase log (no amounts) is refused with the fix: every section that
        reads these models reports value.
        """
        from clv.models import model_class
        from clv.models.ladder import fit_purchase_model
        from clv.summary import require_amounts

        summary = self.summary
        require_amounts(summary, "the report's CLV (Gamma-Gamma spend per order)")
        transactions = fit_purchase_model(tuple(summary[c] for c in ("frequency", "recency", "T")), "bgnbd",
                                          time_unit=self.unit)
        spend = model_class("gammagamma")().fit(summary["frequency"], summary["monetary_value"], time_unit=self.unit)
        return transactions, spend

    @property
    def model_choice(self):
        """Which purchase model the ladder used and why (:class:`clv.models.ladder.ModelChoice`)."""
        return self.models[0].model_choice_

    @property
    def sufficiency(self):
        """The data-sufficiency verdict of the purchase model (:class:`clv.models.sufficiency.DataSufficiency`)."""
        return self.models[0].sufficiency_

    @cached_property
    def scores(self) -> pd.DataFrame:
        from clv.scores import score_customers

        transactions, spend = self.models
        return score_customers(
            self.summary, transactions, spend, horizon=self.horizon, time_unit=self.unit,
            discount_rate=DISCOUNT_RATE, margin=self.margin_rate, intervals=None,
        )

    @cached_property
    def purchase_model_label(self) -> str:
        """The people's name of the purchase model the scores use (clv.models.model_label), e.g. 'BG/NBD'."""
        from clv.models import model_label

        return model_label(type(self.models[0]).model_name)

    @cached_property
    def purchase_model_has_dropout(self) -> bool:
        """Whether the purchase model lets customers leave (False for the NBD: P(alive) = 1 for everyone)."""
        from clv.models.contract import purchase_capabilities

        return purchase_capabilities(self.models[0]).dropout

    @cached_property
    def purchase_model_role(self) -> str:
        """What the purchase model predicts, in plain words (the NBD has no dropout: every customer stays)."""
        if not self.purchase_model_has_dropout:
            return "how often each customer buys; it assumes no customer leaves, as the data show no detectable churn"
        return "how often each customer buys and whether they are still a customer"

    @cached_property
    def clv_definition(self) -> str:
        """The one definition of the report's CLV (horizon, discounting, margin, models), stated once at the top.

        Every other mention refers to it; figures on another basis (the classic formula, value over
        36 months per channel) say so where they appear.
        """
        try:
            models = f"the {self.purchase_model_label} model ({self.purchase_model_role})"
        except ClvError:  # the models cannot be fitted (e.g. a purchase log): said in the sections that need them
            models = "the purchase model (how often each customer buys)"
        return (f"the gross margin (revenue x {self.margin_rate:.0%} margin) a customer is predicted to bring in the next "
                f"{self.horizon_words} after {self.observation_day.date().isoformat()}, discounted at "
                f"{DISCOUNT_RATE:.0%} a year; predicted by {models} and the Gamma-Gamma model (spend per order), "
                "fitted on all orders. 'CLV' and 'customer equity' (the sum over customers) below mean this; a figure "
                "on another basis (the classic formula in section 2, the 36-month value per channel in section 6) "
                "says so where it appears.")

    @property
    def horizon_words(self) -> str:
        return f"{self.horizon:g} {self.unit}{'s' if self.horizon != 1 else ''}"
