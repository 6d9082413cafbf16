"""RFM scores (1-5) and named RFM segments from a per-customer summary.

Scores follow the classic direct-marketing RFM practice (Hughes 1994,
"Strategic Database Marketing"; Fader, Hardie & Lee 2005, "RFM and CLV",
JMR 42(4)): each customer gets a 1-5 score on

* **R** (recency): time since the last purchase, ``T - recency`` in the
  summary's unit; the most recent fifth of customers scores 5;
* **F** (frequency): number of purchase periods, ``frequency + 1``;
* **M** (monetary): total net revenue of the customer (``revenue``).

A purchase log (no amounts: customer data with ``has_amounts`` False, as
:func:`clv.summary.summarize` marks it) has no M: its customers get R and F
scores only, no ``m_score``, and FM = F.

Cut points are the 20/40/60/80% quantiles of the metric (``inverted_cdf``, so
every cut is an observed value). A customer's score is ``1 +`` the number of cut
points strictly below their value (for R, the value is the negated time since
the last purchase, so "higher is better" for all three). Ties are therefore
handled deterministically: equal values always get equal scores, and a value
equal to a cut point takes the lower score. With many ties (e.g. most customers
bought once) some scores stay empty and the others hold more than a fifth.

Named segments come from a rules table on R, F and FM = ceil((F + M) / 2),
read top to bottom, first match wins (see :data:`DEFAULT_SEGMENT_RULES` and
docs/segments.md).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd

from clv.result_table import ResultTable, as_frame
from clv.summary import CustomerData
from clv.errors import DataError, missing_column_message
from clv.summary.amounts import summary_is_log

N_SCORES = 5
RULE_COLUMNS = ("segment", "r_min", "r_max", "f_min", "f_max", "fm_min", "fm_max")

# segment, R range, F range, FM range; first match wins. Adapted from the
# widely used R x FM segment grid (champions top right, lost bottom left).
DEFAULT_SEGMENT_RULES = pd.DataFrame(
    [
        ("champions", 4, 5, 1, 5, 4, 5),
        ("new", 4, 5, 1, 1, 1, 5),
        ("loyal", 3, 5, 2, 5, 3, 5),
        ("potential_loyalists", 3, 5, 1, 5, 1, 5),
        ("cannot_lose", 1, 1, 1, 5, 4, 5),
        ("at_risk", 1, 2, 1, 5, 3, 5),
        ("hibernating", 2, 2, 1, 5, 1, 2),
        ("lost", 1, 1, 1, 5, 1, 2),
    ],
    columns=list(RULE_COLUMNS),
)
SEGMENT_NAMES = tuple(DEFAULT_SEGMENT_RULES["segment"])
THRESHOLD_COLUMNS = ("metric", "measure", "score", "lower", "upper", "range", "customers")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class RFMScores(ResultTable):
    """Per-customer R, F, M and FM scores (1-5) and the cut points that gave them.

    Returned by :func:`rfm_scores`. Reads like its table (``rfm["r_score"]``,
    ``rfm.value_counts("r_score")``); the cut points are in ``thresholds``.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns r_score, f_score, m_score (not for a purchase log), fm_score, in
        the summary's row order and with its index.
    thresholds : pandas.DataFrame
        One row per metric and score (:data:`THRESHOLD_COLUMNS`): the range of
        values that earns it (``lower``, ``upper``, in words ``range``) and how
        many customers got it.
    time_unit : str or None
        Unit of R's "time since the last purchase" (the customer data's).
    has_amounts : bool
        False for a purchase log: no M score, FM = F.
    """

    thresholds: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=list(THRESHOLD_COLUMNS)))
    time_unit: str | None = dataclasses.field(kw_only=True)  # recorded, no default (a glossary term: tests/test_vocabulary.py)
    has_amounts: bool = True

    def settings(self) -> dict:
        """The thresholds as JSON-ready records, with the time unit and whether M was scored."""
        return {"thresholds": self.thresholds.to_dict(orient="records"), "time_unit": self.time_unit,
                "has_amounts": self.has_amounts}


def quintile_edges(values: np.ndarray, n_scores: int = N_SCORES) -> np.ndarray:
    """The ``n_scores - 1`` cut points: quantiles k/n_scores, each an observed value."""
    levels = np.arange(1, n_scores) / n_scores
    return np.quantile(values, levels, method="inverted_cdf")


def score_from_edges(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``1 + #(edges < value)``: equal values share a score; a value on a cut takes the lower one."""
    return (1 + np.searchsorted(edges, values, side="left")).astype(np.int8)


def _rfm_metrics(summary: pd.DataFrame, has_amounts: bool) -> dict[str, np.ndarray]:
    """R, F and (with amounts) M metrics, each higher = better."""
    log = not has_amounts
    for column in ("frequency", "recency", "T") if log else ("frequency", "recency", "T", "revenue"):
        if column not in summary.columns:
            raise DataError(
                missing_column_message(column, column, map(str, summary.columns)).split(" Fix:")[0]
                + " Fix: pass the output of clv.summary.summarize(orders)."
            )
    metrics = {
        "recency": -(summary["T"].to_numpy(float) - summary["recency"].to_numpy(float)),
        "frequency": summary["frequency"].to_numpy(float) + 1.0,
    }
    if not log:
        metrics["monetary"] = summary["revenue"].to_numpy(float)
    for name, values in metrics.items():
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"summary has a missing or infinite {name} value in row {row} ({int(bad.sum())} rows in all); "
                            "fix or drop those customers before scoring.")
    return metrics


def rfm_scores(
    summary: CustomerData | pd.DataFrame, time_unit: str | None = None, has_amounts: bool | None = None,
) -> RFMScores:
    """R, F, M scores (1-5) and FM = ceil((F + M) / 2) per customer, plus the cut points.

    Returns :class:`RFMScores`: its table has columns r_score, f_score,
    m_score, fm_score in the summary's row order; ``thresholds`` has one row per
    metric and score with the range of values that earns it (``lower``,
    ``upper`` and in words ``range``; R in time since the last purchase, in
    ``time_unit``, default the customer data's) and how many customers
    got it. A purchase log (``has_amounts`` False, default: the customer
    data's) gets no ``m_score`` (and no monetary rows): FM = F.

    Parameters
    ----------
    summary : CustomerData or pandas.DataFrame
        One row per customer with frequency, recency, T and (with amounts)
        revenue, as :func:`clv.summary.summarize` gives it.
    time_unit : str or None
        Unit of recency and T, for the R thresholds' wording; default the
        customer data's.
    has_amounts : bool or None
        False for a purchase log (no M score); default the customer data's
        (a plain DataFrame is taken as having amounts).

    Returns
    -------
    RFMScores
        The scores (r_score, f_score, m_score, fm_score) with the thresholds.

    Raises
    ------
    DataError
        When the summary is empty, lacks a column or holds a missing or
        infinite value.
    """
    if len(summary) == 0:
        raise DataError("summary has no customers: nothing to score.")
    unit = time_unit or getattr(summary, "time_unit", None)
    has_amounts = (not summary_is_log(summary)) if has_amounts is None else has_amounts
    summary = as_frame(summary)
    metrics = _rfm_metrics(summary, has_amounts)
    scores, tables = {}, []
    for metric, column in zip(metrics, ("r_score", "f_score", "m_score")):
        edges = quintile_edges(metrics[metric])
        scores[column] = score_from_edges(metrics[metric], edges)
        tables.append(_threshold_rows(metric, edges, scores[column], unit))
    monetary = scores.get("m_score", scores["f_score"])
    scores["fm_score"] = ((scores["f_score"].astype(np.int16) + monetary + 1) // 2).astype(np.int8)
    thresholds = pd.concat(tables, ignore_index=True)
    return RFMScores(pd.DataFrame(scores, index=summary.index), thresholds=thresholds, time_unit=unit,
                     has_amounts=bool(has_amounts))


def _threshold_rows(metric: str, edges: np.ndarray, scores: np.ndarray, unit: str | None) -> pd.DataFrame:
    """Per score: the value range that earns it, in words and numbers, and how many customers got it."""
    lower = np.concatenate([[-np.inf], edges])
    upper = np.concatenate([edges, [np.inf]])
    counts = np.bincount(scores, minlength=N_SCORES + 1)[1:]
    if metric == "recency":  # shown as time since the last purchase, where smaller is better
        lower, upper = -upper, -lower
        ranges = [_range_text(lo, hi, "<=", "<") for lo, hi in zip(lower, upper)]
        measure = f"time since last purchase ({unit}s)" if unit else "time since last purchase"
    else:
        ranges = [_range_text(lo, hi, "<", "<=") for lo, hi in zip(lower, upper)]
        measure = {"frequency": "purchase periods", "monetary": "net revenue"}[metric]
    return pd.DataFrame({"metric": metric, "measure": measure, "score": np.arange(1, N_SCORES + 1),
                         "lower": lower, "upper": upper, "range": ranges, "customers": counts})


def _range_text(lower: float, upper: float, low_op: str, high_op: str) -> str:
    if lower >= upper:
        return "(empty: tied values)"
    parts = [f"{lower:g} {low_op}" if np.isfinite(lower) else "", "value", f"{high_op} {upper:g}" if np.isfinite(upper) else ""]
    return " ".join(p for p in parts if p)


def validate_rules(rules: pd.DataFrame) -> pd.DataFrame:
    """Check a segment rules table and that every (R, F, FM) combination matches a rule.

    Parameters
    ----------
    rules : pandas.DataFrame
        Columns segment, r_min, r_max, f_min, f_max, fm_min, fm_max (scores 1-5);
        the first rule that holds names the segment.

    Returns
    -------
    pandas.DataFrame
        The rules, checked.

    Raises
    ------
    DataError
        When a column is missing, a bound is outside 1-5 or an (R, F, FM)
        combination matches no rule, naming it.
    """
    if not isinstance(rules, pd.DataFrame):
        raise DataError(f"rules must be a DataFrame with columns {list(RULE_COLUMNS)}, got {type(rules).__name__}.")
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise DataError(f"rules lack column(s) {missing}; expected {list(RULE_COLUMNS)} "
                        "(see clv.segments.DEFAULT_SEGMENT_RULES).")
    bounds = rules[list(RULE_COLUMNS[1:])]
    if bounds.isna().any().any() or ((bounds < 1) | (bounds > N_SCORES)).any().any():
        raise DataError(f"rules: every bound must be a whole score between 1 and {N_SCORES}.")
    combos = np.array(list(itertools.product(range(1, N_SCORES + 1), repeat=3)))
    uncovered = combos[_match(rules, combos[:, 0], combos[:, 1], combos[:, 2]) < 0]
    if len(uncovered):
        r, f, m = uncovered[0]
        raise DataError(
            f"rules leave {len(uncovered)} score combination(s) without a segment, e.g. R={r}, F={f}, M={m}. "
            "Fix: add a last catch-all row with ranges 1-5."
        )
    return rules.reset_index(drop=True)


def _match(rules: pd.DataFrame, r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Index of the first matching rule per customer (-1 when none matches)."""
    fm = (f.astype(np.int16) + m + 1) // 2
    first = np.full(r.shape, -1, dtype=np.int64)
    for i, rule in enumerate(rules.itertuples(index=False)):  # one pass per rule, vectorised over customers
        hit = ((r >= rule.r_min) & (r <= rule.r_max) & (f >= rule.f_min) & (f <= rule.f_max)
               & (fm >= rule.fm_min) & (fm <= rule.fm_max) & (first < 0))
        first[hit] = i
    return first


def rfm_segments(scores: pd.DataFrame, rules: pd.DataFrame = DEFAULT_SEGMENT_RULES) -> pd.Series:
    """The named segment of each customer: the first rule whose R, F and FM ranges hold.

    Scores without ``m_score`` (a purchase log's) are matched with FM = F.

    Parameters
    ----------
    scores : RFMScores or pandas.DataFrame
        The scores of :func:`rfm_scores` (r_score, f_score, fm_score).
    rules : pandas.DataFrame, default DEFAULT_SEGMENT_RULES
        The segment rules (see :func:`validate_rules`).

    Returns
    -------
    pandas.Series
        The segment name of each customer, in the scores' row order.
    """
    rules, scores = validate_rules(rules), as_frame(scores)
    for column in ("r_score", "f_score"):
        if column not in scores.columns:
            raise DataError(missing_column_message(column, column, map(str, scores.columns)).split(" Fix:")[0]
                            + " Fix: pass the scores from clv.segments.rfm_scores(summary).")
    monetary = scores["m_score"] if "m_score" in scores.columns else scores["f_score"]
    index = _match(rules, scores["r_score"].to_numpy(), scores["f_score"].to_numpy(), monetary.to_numpy())
    names = rules["segment"].astype(str).to_numpy()
    return pd.Series(names[index], index=scores.index, name="rfm_segment")
