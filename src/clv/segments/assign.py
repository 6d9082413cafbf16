"""One row per customer with every label a marketer acts on, and segment exports.

:func:`assign_segments` joins the customer summary with the model scores and
adds RFM scores and segment, value tier, early-warning flag, churn-risk tier
and the playbook action. :func:`export_segment` writes one segment's customers
(ids, labels and scores) to CSV or Parquet for an e-mail or ads tool.

A purchase log (no amounts: the customer data's ``has_amounts`` is False)
is segmented on purchases: scores need only ``p_alive`` and
``expected_purchases``; RFM uses R and F (FM = F); value tiers rank by expected
purchases; the early warning watches the order rate alone; the playbook's
rules that need spend are skipped (see :mod:`clv.segments.playbook`).
The result's ``value_measure`` (:class:`Segments`) says which measure ranked the customers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.result_table import ResultTable, as_frame
from clv.scores.result import Scores
from clv.summary.amounts import NO_AMOUNTS, summary_is_log
from clv.segments.early_warning import EarlyWarningSettings, early_warning
from clv.segments.playbook import PlaybookSettings, assign_actions
from clv.segments.rfm import DEFAULT_SEGMENT_RULES, rfm_scores, rfm_segments
from clv.segments.tiers import DEFAULT_VALUE_CUTS, risk_tiers, value_tier_names, value_tiers

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value", "n_orders", "revenue")
SCORE_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "clv")
LOG_SUMMARY_COLUMNS = ("frequency", "recency", "T", "n_orders")
LOG_SCORE_COLUMNS = ("p_alive", "expected_purchases")
WARNING_COLUMNS = ("warning_eligible", "early_warning", "order_rate_ratio", "spend_ratio")
LABEL_COLUMNS = ("action", "rfm_segment", "value_tier", "risk_tier")
EXPORT_COLUMNS = (
    "customer_id", "action", "rfm_segment", "value_tier", "risk_tier", "early_warning",
    "p_alive", "expected_purchases", "expected_spend", "clv", "r_score", "f_score", "m_score",
    "frequency", "n_orders", "revenue",
)


VALUE_MEASURES = ("clv", "expected_purchases")
"""What ranks customers into value tiers: predicted CLV, or expected purchases for a purchase log."""


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Segments(ResultTable):
    """One row per customer with every label a marketer acts on, and the cut points and settings behind them.

    Returned by :func:`assign_segments`. Reads like its table
    (``segments["action"]``, ``segments.sort_values("clv")``,
    ``segments.table.to_csv(...)``); the context is in typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer (columns: see :func:`assign_segments`).
    rfm_thresholds : pandas.DataFrame
        The RFM cut points: per metric and score the range of values that earns
        it and how many customers got it (:attr:`RFMScores.thresholds`).
    value_cuts : pandas.DataFrame
        Per value tier: the share bound, customers, the cut (value of the
        tier's last customer) and the tier's total (see :func:`value_tiers`).
    low_alive, high_alive : float
        P(alive) bounds of the high and low churn-risk tiers.
    warning : EarlyWarningSettings
        The early-warning window and thresholds.
    early_warning_computed : bool
        False when no orders were given: nobody is flagged.
    playbook : PlaybookSettings
        The rules that chose each customer's action.
    observation_end : datetime.date or None
        The last day observed (given, else the customer data's, else the last
        order's when orders were given).
    time_unit : str or None
        Unit of recency, T and the R thresholds (the customer data's).
    model : str or None
        Registry name of the purchase model of the scores (when known).
    horizon : float or None
        Forecast window of the scores in ``time_unit`` (None: whole lifetime
        or not known).
    discount_rate : float or None
        Annual discount rate of the scores (when known).
    margin : float or None
        Margin of the scores' CLV (when known).
    currency : str or None
        Currency of the value columns (when known).
    value_measure : {"clv", "expected_purchases"}
        The measure that ranked the value tiers (expected purchases for a
        purchase log).
    not_available : dict of str to str
        What a purchase log's segments leave out, and why
        (:data:`LOG_NOT_AVAILABLE`); empty with amounts.
    """

    rfm_thresholds: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    value_cuts: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    low_alive: float = 0.3
    high_alive: float = 0.7
    warning: EarlyWarningSettings = EarlyWarningSettings()
    early_warning_computed: bool = False
    playbook: PlaybookSettings = PlaybookSettings()
    observation_end: dt.date | None = None
    time_unit: str | None = dataclasses.field(kw_only=True)  # recorded, no default (a glossary term: tests/test_vocabulary.py)
    model: str | None = None
    horizon: float | None = dataclasses.field(kw_only=True)
    discount_rate: float | None = dataclasses.field(kw_only=True)
    margin: float | None = None
    currency: str | None = None
    value_measure: str = "clv"
    not_available: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.value_measure not in VALUE_MEASURES:
            raise DataError(f"value_measure must be one of {', '.join(VALUE_MEASURES)}, got {self.value_measure!r}.")

    @property
    def has_amounts(self) -> bool:
        """False for a purchase log's segments (value tiers ranked by expected purchases)."""
        return self.value_measure == "clv"

    def settings(self) -> dict[str, Any]:
        """Cut points and settings as JSON-ready values (tables as lists of records, dates as ISO text)."""
        return {
            "rfm_thresholds": self.rfm_thresholds.to_dict(orient="records"),
            "value_cuts": self.value_cuts.to_dict(orient="records"),
            "risk_cuts": {"low_alive": self.low_alive, "high_alive": self.high_alive},
            "early_warning": {"computed": self.early_warning_computed, **dataclasses.asdict(self.warning)},
            "playbook": self.playbook.to_dict(),
            "observation_end": None if self.observation_end is None else self.observation_end.isoformat(),
            "time_unit": self.time_unit, "model": self.model, "horizon": self.horizon,
            "discount_rate": self.discount_rate, "margin": self.margin, "currency": self.currency,
            "value_measure": self.value_measure, "not_available": dict(self.not_available),
        }


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str, fix: str) -> None:
    for column in columns:
        if column not in frame.columns:
            message = missing_column_message(column, column, map(str, frame.columns)).split(" Fix:")[0]
            raise DataError(f"{what}: {message} Fix: {fix}")


def _joined(summary: pd.DataFrame, scores: pd.DataFrame, log: bool) -> pd.DataFrame:
    """Summary and scores side by side, matched on customer_id (same customers required).

    ``log``: the summary is a purchase log's, so only the purchase columns are needed.
    """
    summary_columns, score_columns = (LOG_SUMMARY_COLUMNS, LOG_SCORE_COLUMNS) if log else (SUMMARY_COLUMNS, SCORE_COLUMNS)
    _require(summary, ("customer_id", *summary_columns), "summary", "pass clv.summary.summarize(orders).")
    _require(scores, ("customer_id", *score_columns), "scores",
             "pass clv.scores.score_customers(summary, model, spend_model, ...) (a spend model gives clv).")
    if summary["customer_id"].duplicated().any():
        raise DataError(f"summary has duplicate customer_id {summary['customer_id'][summary['customer_id'].duplicated()].iloc[0]!r}.")
    joined = summary[["customer_id", *summary_columns]].merge(
        scores[["customer_id", *score_columns]], on="customer_id", how="inner", validate="one_to_one")
    if len(joined) != len(summary) or len(joined) != len(scores):
        raise DataError(
            f"summary ({len(summary)} customers) and scores ({len(scores)}) do not hold the same customers "
            f"({len(joined)} in both). Fix: score the same summary you segment."
        )
    return joined


def _warnings(orders: Any, customers: pd.Series, observation_end: Any,
              settings: EarlyWarningSettings) -> tuple[pd.DataFrame, dt.date | None]:
    """The early-warning columns aligned to ``customers``, and the observation end they used."""
    if orders is None:
        return pd.DataFrame({"warning_eligible": False, "early_warning": False, "order_rate_ratio": np.nan,
                             "spend_ratio": np.nan}, index=customers.index), _as_date(observation_end)
    warnings = early_warning(orders, observation_end=observation_end, settings=settings)
    table = warnings.set_index("customer_id")[list(WARNING_COLUMNS)]
    aligned = table.reindex(customers.to_numpy())
    if aligned["early_warning"].isna().any():
        missing = customers[aligned["early_warning"].isna().to_numpy()].iloc[0]
        raise DataError(f"orders hold no purchase of customer {missing!r} from the summary. Fix: pass the same "
                        "orders (and observation end) the summary was built from.")
    aligned.index = customers.index
    return aligned.astype({"warning_eligible": bool, "early_warning": bool}), warnings.observation_end


def _as_date(value: Any) -> dt.date | None:
    """A date-like value (date, Timestamp, ISO text) as a date; None stays None."""
    return None if value is None else pd.Timestamp(value).date()


def average_order_value(frame: pd.DataFrame) -> np.ndarray:
    """Net revenue per order; per purchase period (frequency + 1) when order ids were not given.

    The summary's ``n_orders`` counts distinct order ids, which is 0 when the
    orders have no ``order_id`` column mapped.
    """
    n_orders = frame["n_orders"].to_numpy(float)
    periods = frame["frequency"].to_numpy(float) + 1.0
    return frame["revenue"].to_numpy(float) / np.where(n_orders > 0, n_orders, periods)


def assign_segments(
    summary: Any,
    scores: Any,
    orders: Any = None,
    *,
    rules: pd.DataFrame = DEFAULT_SEGMENT_RULES,
    value_cuts: tuple[float, ...] = DEFAULT_VALUE_CUTS,
    low_alive: float = 0.3,
    high_alive: float = 0.7,
    warning: EarlyWarningSettings = EarlyWarningSettings(),
    playbook: PlaybookSettings = PlaybookSettings(),
    observation_end: Any = None,
) -> Segments:
    """One row per customer: ids, scores, RFM, value tier, risk tier, early-warning flag, action.

    Columns: customer_id, the summary's frequency, recency, T, monetary_value,
    n_orders, revenue, aov (:func:`average_order_value`), the scores p_alive,
    expected_purchases, expected_spend, clv; r_score, f_score, m_score,
    fm_score, rfm_segment; value_tier, value_tier_rank (1 = top);
    warning_eligible, early_warning, order_rate_ratio, spend_ratio; risk_tier;
    action. The result (:class:`Segments`) also holds the RFM cut points,
    the value cut points, the settings, the ``value_measure`` that ranked the
    value tiers, and ``not_available`` (what a purchase log cannot give, and
    why).

    A purchase log's summary (``has_amounts`` False) needs scores
    without a spend model: its frame has no monetary_value, revenue, aov,
    expected_spend, clv or m_score, and value tiers rank by expected purchases.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        The output of :func:`clv.summary.summarize`.
    scores : Scores or pandas.DataFrame
        :func:`clv.scores.score_customers` on that summary (with a spend model, so
        ``clv`` exists).
    orders : ibis.Table, DataFrame, LoadResult or None
        The order lines, for the early-warning flag (without them no customer is
        flagged and ``warning_eligible`` is False).
    rules : pandas.DataFrame, default DEFAULT_SEGMENT_RULES
        The RFM segment rules (see :func:`validate_rules`).
    value_cuts : tuple of float, default (0.01, 0.05, 0.2)
        Cumulative shares of customers ranked by value that bound the value tiers.
    low_alive, high_alive : float, default 0.3 and 0.7
        P(alive) bounds of the high and low risk tiers.
    warning : EarlyWarningSettings, default EarlyWarningSettings()
        The early-warning thresholds.
    playbook : PlaybookSettings, default PlaybookSettings()
        The action rules.
    observation_end : date-like or None
        Default: the summary's, or the last order.

    Returns
    -------
    Segments
        One row per customer, with the columns above, and the cut points and
        settings.

    Raises
    ------
    DataError
        When the summary and the scores do not hold the same customers, or a
        needed column is missing.
    """
    log = summary_is_log(summary)
    time_unit = getattr(summary, "time_unit", None)
    summary_end = getattr(summary, "observation_end", None)
    currency = getattr(summary, "currency", None)
    score_settings = _score_settings(scores) if isinstance(scores, Scores) else {}
    summary, scores = as_frame(summary), as_frame(scores)
    for table, what in ((summary, "summary"), (scores, "scores")):
        if not isinstance(table, pd.DataFrame):
            raise DataError(f"{what} must be clv customer data or scores, or a pandas DataFrame, "
                            f"got {type(table).__name__}.")
    frame = _joined(summary, scores, log)
    rfm = rfm_scores(frame, time_unit=time_unit, has_amounts=not log)
    frame = pd.concat([frame, rfm.table], axis=1)
    if not log:
        frame["aov"] = average_order_value(frame)
    frame["rfm_segment"] = rfm_segments(rfm, rules).to_numpy()
    measure = "expected_purchases" if log else "clv"
    tiers, cut_table = value_tiers(frame[measure].to_numpy(), value_cuts, measure=measure)
    frame["value_tier"] = tiers
    frame["value_tier_rank"] = pd.Categorical(tiers, categories=value_tier_names(value_cuts)).codes + 1
    end = observation_end if observation_end is not None else summary_end
    warnings, end = _warnings(orders, frame["customer_id"], end, warning)
    frame = pd.concat([frame, warnings], axis=1)
    frame["risk_tier"] = risk_tiers(frame["p_alive"].to_numpy(), frame["early_warning"].to_numpy(),
                                    low_alive=low_alive, high_alive=high_alive,
                                    frequency=frame["frequency"].to_numpy(), r_score=frame["r_score"].to_numpy())
    frame["action"] = assign_actions(frame, playbook, without_amounts=log)
    return Segments(
        frame, rfm_thresholds=rfm.thresholds, value_cuts=cut_table, low_alive=float(low_alive),
        high_alive=float(high_alive), warning=warning, early_warning_computed=orders is not None, playbook=playbook,
        observation_end=end, time_unit=time_unit or score_settings.get("time_unit"),
        currency=currency or score_settings.get("currency"), value_measure=measure,
        not_available=dict(LOG_NOT_AVAILABLE) if log else {},
        **{k: score_settings.get(k) for k in ("model", "horizon", "discount_rate", "margin")},
    )


def _score_settings(scores: Scores) -> dict[str, Any]:
    """What the segments keep of the scores' settings (empty values as None)."""
    return {k: v if v != "" else None for k, v in scores.context().items()}


LOG_NOT_AVAILABLE = {
    "clv, expected_spend, revenue, aov": f"{NO_AMOUNTS}: value tiers rank customers by expected purchases",
    "m_score": f"{NO_AMOUNTS}: RFM uses R and F, FM = F",
    "spend_ratio": f"{NO_AMOUNTS}: the early warning watches the order rate alone",
    "playbook rules on spend": f"{NO_AMOUNTS}: cross_sell (needs order value) and the big-spender win-back "
                               "(needs M) are skipped",
}
"""What the segments of a purchase log leave out, and why (:attr:`Segments.not_available`)."""


def _normalised(name: Any) -> str:
    return " ".join(str(name).strip().lower().replace("_", " ").replace("-", " ").split())


def segment_names(frame: pd.DataFrame) -> dict[str, str]:
    """Every exportable name (normalised) -> the column it is found in.

    Parameters
    ----------
    frame : pandas.DataFrame
        The output of :func:`assign_segments`.

    Returns
    -------
    dict of str to str
        Normalised segment name to the column holding it.
    """
    names: dict[str, str] = {"early warning": "early_warning"}
    for column in reversed(LABEL_COLUMNS):
        if column in frame.columns:
            names.update({_normalised(v): column for v in pd.unique(frame[column])})
    return names


def select_segment(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The customers of one segment: an action, RFM segment, value tier, risk tier or 'early_warning'.

    Names are matched ignoring case, '_' and '-' (``win-back`` = ``win_back``).

    Parameters
    ----------
    frame : pandas.DataFrame
        The output of :func:`assign_segments`.
    name : str
        The segment's name.

    Returns
    -------
    pandas.DataFrame
        The rows of the segment's customers.

    Raises
    ------
    DataError
        When no segment has that name (the message lists the names).
    """
    names = segment_names(frame)
    key = _normalised(name)
    if key not in names:
        available = ", ".join(sorted(n.replace(" ", "_") for n in names))
        raise DataError(f"no segment named {name!r}; available: {available}.")
    column = names[key]
    if column == "early_warning":
        mask = frame["early_warning"].to_numpy(bool)
    else:
        mask = frame[column].map(_normalised).to_numpy() == key
    return frame.loc[mask]


def export_segment(frame: pd.DataFrame, name: str, path: str | Path) -> pd.DataFrame:
    """Write one segment's customers (ids, labels, scores) to ``path`` (.csv, .csv.gz or .parquet).

    Rows are sorted by predicted CLV, highest first (a purchase log's by
    expected purchases). Returns the written frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        The output of :func:`assign_segments`.
    name : str
        The segment's name (see :func:`select_segment`).
    path : str or pathlib.Path
        The file to write: .csv, .csv.gz or .parquet.

    Returns
    -------
    pandas.DataFrame
        The written rows.

    Raises
    ------
    DataError
        When the name is unknown or the file type is not supported.
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    if not suffix.endswith((".csv", ".csv.gz", ".parquet")):
        raise DataError(f"export path {str(path)!r} must end in .csv, .csv.gz or .parquet.")
    members = select_segment(frame, name)
    columns = [c for c in EXPORT_COLUMNS if c in members.columns]
    ranking = "clv" if "clv" in members.columns else "expected_purchases"
    out = members[columns].sort_values(ranking, ascending=False, kind="stable").reset_index(drop=True)
    if suffix.endswith(".parquet"):
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
    return out
