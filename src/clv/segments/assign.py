"""One row per customer with every label a marketer acts on, and segment exports.

:func:`assign_segments` joins the customer summary with the model scores and
adds RFM scores and segment, value tier, early-warning flag, churn-risk tier
and the playbook action. :func:`export_segment` writes one segment's customers
(ids, labels and scores) to CSV or Parquet for an e-mail or ads tool.

A purchase log (no amounts: the summary's ``attrs["has_amounts"]`` is False)
is segmented on purchases: scores need only ``p_alive`` and
``expected_purchases``; RFM uses R and F (FM = F); value tiers rank by expected
purchases; the early warning watches the order rate alone; the playbook's
rules that need spend are skipped (see :mod:`clv.segments.playbook`).
``attrs["value_measure"]`` says which measure ranked the customers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.result_table import as_frame
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


def _warnings(orders: Any, customers: pd.Series, observation_end: Any, settings: EarlyWarningSettings) -> pd.DataFrame:
    if orders is None:
        return pd.DataFrame({"warning_eligible": False, "early_warning": False,
                             "order_rate_ratio": np.nan, "spend_ratio": np.nan}, index=customers.index)
    table = early_warning(orders, observation_end=observation_end, settings=settings)
    table = table.set_index("customer_id")[list(WARNING_COLUMNS)]
    aligned = table.reindex(customers.to_numpy())
    if aligned["early_warning"].isna().any():
        missing = customers[aligned["early_warning"].isna().to_numpy()].iloc[0]
        raise DataError(f"orders hold no purchase of customer {missing!r} from the summary. Fix: pass the same "
                        "orders (and observation end) the summary was built from.")
    aligned.index = customers.index
    return aligned.astype({"warning_eligible": bool, "early_warning": bool})


def average_order_value(frame: pd.DataFrame) -> np.ndarray:
    """Net revenue per order; per purchase period (frequency + 1) when order ids were not given.

    The summary's ``n_orders`` counts distinct order ids, which is 0 when the
    orders have no ``order_id`` column mapped.
    """
    n_orders = frame["n_orders"].to_numpy(float)
    periods = frame["frequency"].to_numpy(float) + 1.0
    return frame["revenue"].to_numpy(float) / np.where(n_orders > 0, n_orders, periods)


def assign_segments(
    summary: pd.DataFrame,
    scores: pd.DataFrame,
    orders: Any = None,
    *,
    rules: pd.DataFrame = DEFAULT_SEGMENT_RULES,
    value_cuts: tuple[float, ...] = DEFAULT_VALUE_CUTS,
    low_alive: float = 0.3,
    high_alive: float = 0.7,
    warning: EarlyWarningSettings = EarlyWarningSettings(),
    playbook: PlaybookSettings = PlaybookSettings(),
    observation_end: Any = None,
) -> pd.DataFrame:
    """One row per customer: ids, scores, RFM, value tier, risk tier, early-warning flag, action.

    Columns: customer_id, the summary's frequency, recency, T, monetary_value,
    n_orders, revenue, aov (:func:`average_order_value`), the scores p_alive,
    expected_purchases, expected_spend, clv; r_score, f_score, m_score,
    fm_score, rfm_segment; value_tier, value_tier_rank (1 = top);
    warning_eligible, early_warning, order_rate_ratio, spend_ratio; risk_tier;
    action. ``attrs``: RFM cut points, value cut points, settings, the
    ``value_measure`` that ranked the value tiers, and ``not_available``
    (what a purchase log cannot give, and why).

    A purchase log's summary (``has_amounts`` False) needs scores
    without a spend model: its frame has no monetary_value, revenue, aov,
    expected_spend, clv or m_score, and value tiers rank by expected purchases.

    Parameters
    ----------
    summary : pandas.DataFrame
        The output of :func:`clv.summary.summarize`.
    scores : pandas.DataFrame
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
    pandas.DataFrame
        One row per customer, with the columns below.

    Raises
    ------
    DataError
        When the summary and the scores do not hold the same customers, or a
        needed column is missing.
    """
    log = summary_is_log(summary)
    time_unit = getattr(summary, "time_unit", None)
    summary_end = getattr(summary, "observation_end", None)
    score_settings = scores.settings() if isinstance(scores, Scores) else {}
    summary, scores = as_frame(summary), as_frame(scores)
    for table, what in ((summary, "summary"), (scores, "scores")):
        if not isinstance(table, pd.DataFrame):
            raise DataError(f"{what} must be clv customer data or scores, or a pandas DataFrame, "
                            f"got {type(table).__name__}.")
    frame = _joined(summary, scores, log)
    rfm, thresholds = rfm_scores(frame, time_unit=time_unit, has_amounts=not log)
    frame = pd.concat([frame, rfm], axis=1)
    if not log:
        frame["aov"] = average_order_value(frame)
    frame["rfm_segment"] = rfm_segments(rfm, rules).to_numpy()
    measure = "expected_purchases" if log else "clv"
    tiers, cut_table = value_tiers(frame[measure].to_numpy(), value_cuts, measure=measure)
    frame["value_tier"] = tiers
    frame["value_tier_rank"] = pd.Categorical(tiers, categories=value_tier_names(value_cuts)).codes + 1
    end = observation_end if observation_end is not None else summary_end
    warnings = _warnings(orders, frame["customer_id"], end, warning)
    frame = pd.concat([frame, warnings], axis=1)
    frame["risk_tier"] = risk_tiers(frame["p_alive"].to_numpy(), frame["early_warning"].to_numpy(),
                                    low_alive=low_alive, high_alive=high_alive,
                                    frequency=frame["frequency"].to_numpy(), r_score=frame["r_score"].to_numpy())
    frame["action"] = assign_actions(frame, playbook, without_amounts=log)
    frame.attrs = {
        "rfm_thresholds": thresholds.to_dict(orient="records"),
        "value_cuts": cut_table.to_dict(orient="records"),
        "risk_cuts": {"low_alive": low_alive, "high_alive": high_alive},
        "early_warning": {"computed": orders is not None, **warning.__dict__},
        "observation_end": None if end is None else str(end),
        **{k: score_settings[k] for k in ("model", "time_unit", "horizon", "discount_rate", "margin")
           if k in score_settings},
        "value_measure": measure,
        "not_available": LOG_NOT_AVAILABLE if log else {},
    }
    return frame


LOG_NOT_AVAILABLE = {
    "clv, expected_spend, revenue, aov": f"{NO_AMOUNTS}: value tiers rank customers by expected purchases",
    "m_score": f"{NO_AMOUNTS}: RFM uses R and F, FM = F",
    "spend_ratio": f"{NO_AMOUNTS}: the early warning watches the order rate alone",
    "playbook rules on spend": f"{NO_AMOUNTS}: cross_sell (needs order value) and the big-spender win-back "
                               "(needs M) are skipped",
}
"""What the segments of a purchase log leave out, and why (``attrs["not_available"]``)."""


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
