"""The champion of a backtest: which predictor to trust, by a vote over several checks.

A predictor is judged on six checks of its holdout predictions (five for a
purchase log, without amounts; the quantity ``q`` is value, or purchases for a
purchase log):

===================================  ===============================  ======  =======================
check (plain words)                  measure (column of the metrics)  better  "clearly" means by
===================================  ===============================  ======  =======================
error on each customer's purchases   ``purchases_rmse``               lower   more than 5% (relative)
error on each customer's value       ``value_rmse``                   lower   more than 5% (relative)
total off by                         ``|q_total_error_pct|``          lower   more than 5 points
ranking of customers                 ``q_spearman``                   higher  more than 0.03
share of q in the top 10%            ``q_top10_capture``              higher  more than 0.03
ranges hold their stated share       mean ``|coverage - level|``      lower   more than 0.03
===================================  ===============================  ======  =======================

The last check is the mean distance of the interval coverages
(``purchases_coverage_<c>`` and ``value_coverage_<c>``) from their nominal
levels ``c``. A missing measure counts as the worst value: a baseline gives no
interval, and a constant prediction (the classic formula) has no ranking
(Spearman is NaN). A check nobody has a measure for is left out.

The rule, in three steps:

1. **Votes among the models.** On each check, every model that is not clearly
   worse than the best model on that check gets a vote (the best and those tied
   with it within the margin). The model with the most votes is the best model.
   Models with as many votes are tied and named; among them the lowest
   per-customer error of ``q`` (``q_rmse``), then the name, decides.
2. **A baseline must clearly win most checks.** Each baseline (classic, naive,
   rfm: :mod:`clv.backtest.baselines`) is set against the best model. It is the
   champion only when it is *clearly* better on more than half of the checks (4
   of 6; 3 of 5 for a purchase log). Margins as in the table. If several do, the
   one with the most clear wins (then the lower ``q_rmse``, then the name) is
   chosen.
3. Without a fitted model, the baselines vote among themselves as in step 1.

Why: every predictor outputs an expected value, so the per-customer error is
the root mean squared error (the expectation minimises it; the median, 0 for
most customers, minimises the absolute error). But a single error measure can
favour a predictor that is far off in total (apparel: RFM won value RMSE by 4%
while over-predicting the holdout by 61%) or ranks customers poorly. A
structural model extrapolates; a baseline only replays the past; a baseline
therefore has to beat the model clearly and on most checks, so that a near tie
on one error measure does not hand it the choice. The margins are a little
above the sampling noise of the measures on a few thousand customers (the
standard error of a Spearman correlation is about ``1/sqrt(n)``, 0.02 at
n = 2,500).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

COVERAGE_COLUMN = re.compile(r"(?:purchases|value)_coverage_(0?\.\d+|1(?:\.0*)?)")
"""An interval-coverage column of the metrics (``value_coverage_0.8``): its nominal level is the suffix."""
RELATIVE = "relative"
POINTS = "points"


@dataclass(frozen=True)
class Check:
    """One check of the champion rule.

    Parameters
    ----------
    key : str
        Short name (``purchases_error``, ``value_error``, ``total_off``, ``ranking``, ``top10``,
        ``intervals``).
    words : str
        The check in plain words (what the CLI summary and the report say).
    measure : str
        The technical measure (the metrics column or formula it is computed from).
    higher_is_better : bool
        Whether a higher value is better.
    margin : float
        How much better counts as *clearly* better: a fraction of the other's value for
        ``kind == "relative"``, an absolute difference for ``kind == "points"``.
    kind : {"relative", "points"}
        How ``margin`` is applied.
    """

    key: str
    words: str
    measure: str
    higher_is_better: bool
    margin: float
    kind: str

    def clearly_better(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether ``a`` is clearly better than ``b`` (elementwise; NaN counts as the worst value).

        Lower is better: ``a < b (1 - margin)`` (relative) or ``a < b - margin`` (points);
        higher is better: ``a > b + margin`` (points).

        Parameters
        ----------
        a, b : array-like of float
            The measures of two predictors (broadcast against each other).

        Returns
        -------
        numpy.ndarray of bool
        """
        worst = -np.inf if self.higher_is_better else np.inf
        x = np.where(np.isnan(np.asarray(a, float)), worst, np.asarray(a, float))
        y = np.where(np.isnan(np.asarray(b, float)), worst, np.asarray(b, float))
        with np.errstate(invalid="ignore"):
            if self.higher_is_better:
                return np.isfinite(x) & (x > y + self.margin)
            threshold = y * (1 - self.margin) if self.kind == RELATIVE else y - self.margin
            return np.isfinite(x) & (x < threshold)


def checks_for(quantity: str) -> tuple[Check, ...]:
    """The checks of the rule for a comparison on ``quantity`` ("value", or "purchases" for a purchase log).

    Parameters
    ----------
    quantity : {"value", "purchases"}
        The quantity the total, ranking and top-10% checks are computed on.

    Returns
    -------
    tuple of Check
        Six checks for value (purchase error, value error, total, ranking, top 10%, intervals),
        five for purchases (no value error).
    """
    errors = [Check("purchases_error", "error on each customer's purchases", "purchases RMSE", False, 0.05, RELATIVE)]
    if quantity == "value":
        errors.append(Check("value_error", "error on each customer's value", "value RMSE", False, 0.05, RELATIVE))
    return (*errors,
            Check("total_off", "total off by", f"|{quantity} total error %|", False, 5.0, POINTS),
            Check("ranking", "ranking of customers", f"{quantity} Spearman", True, 0.03, POINTS),
            Check("top10", f"share of {quantity} in the top 10%", f"{quantity} top-10% capture", True, 0.03,
                  POINTS),
            Check("intervals", "ranges hold their stated share", "mean |interval coverage - level|", False, 0.03,
                  POINTS))


def compared_quantity(metrics: pd.DataFrame) -> str:
    """"value" when the metrics have value columns, else "purchases" (a purchase log)."""
    return "value" if "value_rmse" in metrics.columns else "purchases"


def check_measures(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per predictor, one column per check: the measure the rule compares.

    Parameters
    ----------
    metrics : pandas.DataFrame
        :attr:`clv.backtest.BacktestResult.metrics`: ``predictor``, ``kind`` and the metric
        columns.

    Returns
    -------
    pandas.DataFrame
        Indexed by predictor; column ``kind`` and one column per check key (NaN where a
        predictor has no such measure, e.g. a baseline's interval coverage); checks nobody
        has a measure for are dropped.
    """
    quantity = compared_quantity(metrics)
    frame = metrics.set_index("predictor")
    out = pd.DataFrame({"kind": frame["kind"]}, index=frame.index)
    out["purchases_error"] = frame["purchases_rmse"].astype(float)
    if quantity == "value":
        out["value_error"] = frame["value_rmse"].astype(float)
    out["total_off"] = frame[f"{quantity}_total_error_pct"].astype(float).abs()
    out["ranking"] = frame[f"{quantity}_spearman"].astype(float)
    out["top10"] = frame[f"{quantity}_top10_capture"].astype(float)
    out["intervals"] = _coverage_gap(frame)
    keep = ["kind"] + [c for c in out.columns[1:] if out[c].notna().any()]
    return out[keep]


def _coverage_gap(frame: pd.DataFrame) -> pd.Series:
    """Mean ``|coverage - level|`` over the ``<quantity>_coverage_<level>`` columns (NaN without any)."""
    levels = {column: float(match.group(1)) for column in frame.columns
              if (match := COVERAGE_COLUMN.fullmatch(str(column)))}
    gaps = [(frame[column].astype(float) - level).abs() for column, level in levels.items()]
    if not gaps:
        return pd.Series(np.nan, index=frame.index)
    with np.errstate(all="ignore"):
        return pd.concat(gaps, axis=1).mean(axis=1, skipna=True)


@dataclass(frozen=True)
class Champion:
    """The champion of a backtest and why (:func:`choose_champion`).

    Parameters
    ----------
    name : str
        The champion predictor.
    kind : {"model", "baseline"}
        Whether it is a fitted model or a baseline.
    tied : tuple of str
        Predictors tied with it (as many votes; it won the tie-break).
    runner_up : str or None
        The next predictor after the champion and its ties.
    votes : pandas.DataFrame
        One row per check: ``check`` (plain words), ``measure`` (technical), and one boolean
        column per predictor: for a model, best or tied-best among the models on that check;
        for a baseline, clearly better than the best model (its head-to-head); without a model,
        best or tied-best among the baselines.
    tally : dict of str to int
        The number of ``True`` votes per predictor.
    needed : int
        The clear wins a baseline needs to beat the best model (more than half the checks).
    best_model : str or None
        The model with the most votes (None when no model was fitted).
    reason : str
        The choice in plain words.
    """

    name: str
    kind: str
    tied: tuple[str, ...]
    runner_up: str | None
    votes: pd.DataFrame
    tally: dict[str, int]
    needed: int
    best_model: str | None
    reason: str

    def with_reason(self, reason: str) -> Champion:
        """The same champion with another reason (e.g. a sentence added).

        Parameters
        ----------
        reason : str
            The new reason.

        Returns
        -------
        Champion
        """
        return Champion(**{**self.__dict__, "reason": reason})

    def as_dict(self) -> dict:
        """JSON-ready form: name, kind, tied, runner_up, tally, needed, best_model, reason and the votes."""
        return {"name": self.name, "kind": self.kind, "tied": list(self.tied), "runner_up": self.runner_up,
                "tally": dict(self.tally), "needed": self.needed, "best_model": self.best_model,
                "reason": self.reason, "votes": self.votes.to_dict(orient="records")}


def choose_champion(metrics: pd.DataFrame, labels: dict[str, str] | None = None) -> Champion:
    """The champion by the documented rule (module docstring): votes among models, baselines must clearly win most.

    Parameters
    ----------
    metrics : pandas.DataFrame
        One row per predictor (:attr:`clv.backtest.BacktestResult.metrics`): ``predictor``,
        ``kind`` ("model" or "baseline"), ``purchases_rmse``, ``<q>_total_error_pct``,
        ``<q>_spearman``, ``<q>_top10_capture``, optionally ``value_rmse`` and
        ``<quantity>_coverage_<level>``; ``q`` is value when ``value_rmse`` is present, else
        purchases.
    labels : dict of str to str, optional
        Names for people (``{"bgnbd": "BG/NBD"}``) used in the reason.

    Returns
    -------
    Champion
        The champion, its ties, the runner-up, the per-check votes and the reason.

    Raises
    ------
    ValueError
        When ``metrics`` has no row.
    """
    if metrics.empty:
        raise ValueError("metrics has no predictor to choose from.")
    quantity = compared_quantity(metrics)
    measures = check_measures(metrics)
    checks = [c for c in checks_for(quantity) if c.key in measures.columns]
    error = measures[f"{quantity}_error"] if f"{quantity}_error" in measures.columns else measures["purchases_error"]
    models = sorted(measures.index[measures["kind"] == "model"])
    baselines = sorted(measures.index[measures["kind"] != "model"])
    needed = len(checks) // 2 + 1
    votes = pd.DataFrame({"check": [c.words for c in checks], "measure": [c.measure for c in checks]})
    if models:
        model_votes = _group_votes(measures.loc[models], checks)
        order = _standing(model_votes.sum(axis=0), error)
        best_model = order[0]
        duels = _duels(measures, best_model, baselines, checks)
        for name in models:
            votes[name] = model_votes[name].to_numpy()
        for name in baselines:
            votes[name] = duels[name].to_numpy()
        winners = [b for b in baselines if int(duels[b].sum()) >= needed]
        challengers = _standing(duels.sum(axis=0), error) if baselines else []
        if winners:
            ranked = _standing(duels[winners].sum(axis=0), error)
            name, tied = ranked[0], ()
            rest = [best_model, *ranked[1:]]
        else:
            name = best_model
            tallies = model_votes.sum(axis=0)
            tied = tuple(m for m in order[1:] if tallies[m] == tallies[name])
            rest = [m for m in order[1:] if m not in tied] + challengers
    else:
        best_model, challengers = None, []
        base_votes = _group_votes(measures.loc[baselines], checks)
        for column in baselines:
            votes[column] = base_votes[column].to_numpy()
        order = _standing(base_votes.sum(axis=0), error)
        name = order[0]
        tied = tuple(b for b in order[1:] if base_votes[b].sum() == base_votes[name].sum())
        rest = [b for b in order[1:] if b not in tied]
    tally = {p: int(votes[p].sum()) for p in [*models, *baselines]}
    kind = "model" if name in models else "baseline"
    champion = Champion(name=name, kind=kind, tied=tied, runner_up=rest[0] if rest else None, votes=votes,
                        tally=tally, needed=needed, best_model=best_model, reason="")
    return _with_reason(champion, len(checks), challengers[0] if challengers else None, labels or {})


def _group_votes(measures: pd.DataFrame, checks: Sequence[Check]) -> pd.DataFrame:
    """Per check (rows) and predictor (columns): not clearly worse than the group's best on that check."""
    rows = {}
    for check in checks:
        values = measures[check.key].to_numpy(float)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            rows[check.key] = np.zeros(values.size, bool)
            continue
        best = finite.max() if check.higher_is_better else finite.min()
        rows[check.key] = ~check.clearly_better(np.full(values.size, best), values)
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(measures.index))


def _duels(measures: pd.DataFrame, model: str, baselines: Sequence[str], checks: Sequence[Check]) -> pd.DataFrame:
    """Per check (rows) and baseline (columns): clearly better than ``model`` on that check."""
    rows = {check.key: check.clearly_better(measures.loc[list(baselines), check.key].to_numpy(float),
                                            float(measures.loc[model, check.key]))
            for check in checks}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(baselines))


def _standing(tally: pd.Series, error: pd.Series) -> list[str]:
    """Names by most votes, then lowest per-customer error (NaN last), then name."""
    frame = pd.DataFrame({"votes": tally.astype(int), "error": error.reindex(tally.index).fillna(np.inf)})
    frame["name"] = frame.index
    return frame.sort_values(["votes", "error", "name"], ascending=[False, True, True]).index.tolist()


def _with_reason(champion: Champion, n_checks: int, closest: str | None, labels: dict[str, str]) -> Champion:
    """The champion with its reason in plain words: the checks it won, its ties, the closest simple rule, the next."""
    def who(name: str) -> str:
        label = labels.get(name)
        if not label or label == name:
            return name
        return label if "(" in label else f"{label} ({name})"  # "NBD (no dropout)", not "... (nbd)"

    name, tally = champion.name, champion.tally
    wins = [w for w, won in zip(champion.votes["check"], champion.votes[name]) if won]
    if champion.kind == "baseline" and champion.best_model is not None:
        text = (f"{who(name)}, a simple rule, is clearly better than the best model, {who(champion.best_model)}, "
                f"on {tally[name]} of {n_checks} checks ({', '.join(wins)}); a simple rule wins only with "
                f"{champion.needed} or more: do not trust the models' forecasts for this data")
    else:
        group = "models" if champion.kind == "model" else "simple rules (no model could be fitted)"
        count = f"all {n_checks}" if tally[name] == n_checks else f"{tally[name]} of {n_checks}"
        text = f"{who(name)}: best or close to the best among the {group} on {count} checks"
        text += f" ({', '.join(wins)})" if 0 < len(wins) < n_checks else ""
        if champion.tied:
            text += (f"; as many checks for {', '.join(who(t) for t in champion.tied)}, a tie that {name} "
                     "wins on the smaller error per customer")
        if champion.kind == "model" and closest is not None:
            text += (f"; no simple rule is clearly better on most checks (the closest, {who(closest)}, "
                     f"on {tally[closest]} of {n_checks}; {champion.needed} needed)")
    if champion.runner_up is not None:
        text += f"; next: {who(champion.runner_up)}"
    return champion.with_reason(text + ".")


def vote_table(champion: Champion, measures: bool = True) -> pd.DataFrame:
    """The votes as text for a terminal: one row per check, a mark where a predictor got the vote.

    Parameters
    ----------
    champion : Champion
        A :func:`choose_champion` result.
    measures : bool, default True
        Keep the ``measure`` column (the technical name of each check's measure).

    Returns
    -------
    pandas.DataFrame
        Columns ``check``, ``measure`` and one per predictor ("yes" or ""), and a last row with
        the number of votes.
    """
    names = list(champion.tally)
    table = champion.votes.copy()
    for name in names:
        table[name] = np.where(table[name].to_numpy(bool), "yes", "")
    total = {"check": "checks won", "measure": f"(a simple rule needs {champion.needed})"}
    total.update({name: str(champion.tally[name]) for name in names})
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    return table if measures else table.drop(columns="measure")

