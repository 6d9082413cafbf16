"""Net Promoter Score from survey answers, over time, and next to customer value.

The survey question "How likely are you to recommend us to a friend?" is
answered 0-10 (Reichheld 2003, "The one number you need to grow", Harvard
Business Review 81(12)):

* promoters  answer 9 or 10
* passives   answer 7 or 8
* detractors answer 0 to 6

    NPS = 100 x (promoters - detractors) / answers        (from -100 to +100)

Every input line ends up in exactly one place: a valid answer or a reject with
one reason (first that applies, in :data:`REJECT_REASONS` order), so
``valid + rejected == input rows`` always.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd
from ibis.backends import BaseBackend

from clv.data.parse import identifier as _text, number as _number, timestamp as _timestamp
from clv.data.policy import LoadPolicy
from clv.data.sources import SOURCE_ROW_COL, raw_table, resolve_source
from clv.errors import DataError, missing_column_message
from clv.result_table import ResultTable

NPS_GROUPS = ("promoter", "passive", "detractor")
REJECT_REASONS = (
    "missing_customer_id",  # customer id null or blank
    "unparsable_date",  # date null, blank or not a date
    "missing_score",  # score null, blank or NaN
    "unparsable_score",  # score text that is not a number
    "score_out_of_range",  # a number outside 0-10
    "score_not_integer",  # a number in 0-10 with a fraction, e.g. 7.5
)
FREQUENCIES = {"week": "W", "month": "M", "quarter": "Q", "year": "Y"}
SCORE_COLUMNS = ("customer_id", "clv", "p_alive")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class NPSByValue(ResultTable):
    """Customer value and churn risk per NPS group, and who was left out of the join.

    Returned by :func:`nps_by_value`. Reads like its table
    (``groups["mean_clv"]``); the counts are typed fields.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per NPS group (promoter, passive, detractor) and an ``all`` row:
        nps_group, customers, share, with_scores, without_scores, mean_clv,
        total_clv, mean_p_alive.
    customers_answered : int
        Customers with at least one valid answer (the ``all`` row's customers).
    scored_without_answer : int
        Customers in the scores who never answered (not in the table).
    """

    customers_answered: int = 0
    scored_without_answer: int = 0

    def settings(self) -> dict[str, Any]:
        """The counts as JSON-ready values."""
        return self.context()


@dataclass(frozen=True)
class SurveyColumns:
    """Your survey's column names for the customer id, the answer date and the 0-10 score.

    Parameters
    ----------
    customer_id : str, default "customer_id"
        The column holding the customer id.
    date : str, default "date"
        The column holding the date of the answer.
    score : str, default "score"
        The column holding the 0-10 score.
    """

    customer_id: str = "customer_id"
    date: str = "date"
    score: str = "score"


@dataclass(frozen=True)
class SurveyAnswers:
    """Checked survey answers (lazy Ibis tables) and the lines set aside.

    Parameters
    ----------
    answers : ibis.Table
        The valid answers: source_row, customer_id, answered_at, score (int64), nps_group.
    rejects : ibis.Table
        The lines set aside: source_row, reason, then the three original values as given.
    """

    answers: ibis.Table
    rejects: ibis.Table

    def counts(self) -> dict[str, Any]:
        """input_rows, valid_answers and rejected lines per reason (every reason listed)."""
        valid = int(self.answers.count().execute())
        by_reason = self.rejects.group_by("reason").aggregate(lines=ibis._.count()).execute()
        rejected = {reason: 0 for reason in REJECT_REASONS}
        rejected.update({r: int(n) for r, n in zip(by_reason["reason"], by_reason["lines"])})
        return {"input_rows": valid + sum(rejected.values()), "valid_answers": valid, "rejected": rejected}


def read_survey(
    source: Any,
    columns: SurveyColumns = SurveyColumns(),
    *,
    date_format: str | None = None,
    delimiter: str | None = None,
    con: BaseBackend | None = None,
) -> SurveyAnswers:
    """Read survey answers (CSV, Parquet, a DataFrame or an Ibis table) and check each line.

    Text files are read every column as text, so a bad score is a reject, never
    a crash. ``date_format`` is a strptime format for text dates (default ISO
    8601). ``source_row`` is the 1-based data row, as in :func:`clv.data.load_orders`.

    Parameters
    ----------
    source : path, DataFrame or ibis.Table
        A CSV or Parquet file, a DataFrame or an Ibis table of answers.
    columns : SurveyColumns, default SurveyColumns()
        Which columns hold the customer id, the date and the score.
    date_format : str or None
        A strptime format for text dates (default ISO 8601).
    delimiter : str or None
        The delimiter of a text file (default ",").
    con : ibis BaseBackend or None
        The connection to read on (default :func:`clv.engine.default_connection`).

    Returns
    -------
    SurveyAnswers
        The checked answers and the rejected lines.

    Raises
    ------
    DataError
        When a mapped column is missing or the input cannot be read.
    """
    spec = resolve_source(source, table=None, delimiter=delimiter, header=True, names=None)
    raw, _ = raw_table(spec, con)
    for field, column in (("customer id", columns.customer_id), ("date", columns.date), ("score", columns.score)):
        if column not in raw.columns:
            raise DataError(missing_column_message(field, column, [c for c in raw.columns if c != SOURCE_ROW_COL]))
    checked = _checked(raw, columns, LoadPolicy(date_format=date_format))
    answers = checked.filter(checked.reason.isnull()).select(
        source_row="source_row", customer_id="customer_id", answered_at="answered_at",
        score=checked.number.cast("int64"), nps_group=_group(checked.number),
    )
    rejects = checked.filter(checked.reason.notnull()).select(
        "source_row", "reason",
        customer_id=_original(checked, columns.customer_id),
        date=_original(checked, columns.date),
        score=_original(checked, columns.score),
    )
    return SurveyAnswers(answers=answers, rejects=rejects)


def _original(checked: ibis.Table, column: str) -> ibis.Value:
    """An original value, as text so rejects of any source type stack into one table."""
    return checked[f"original_{column}"].cast("string")


def _checked(raw: ibis.Table, columns: SurveyColumns, policy: LoadPolicy) -> ibis.Table:
    customer = _text(raw[columns.customer_id], policy)  # the same ids as the orders' (17850.0 is 17850)
    when = _timestamp(raw[columns.date], policy)
    number = _number(raw[columns.score])
    score_text = _text(raw[columns.score])
    missing_score = score_text.isnull() | number.isnan().fill_null(False)
    reason = ibis.cases(
        (customer.isnull(), REJECT_REASONS[0]),
        (when.isnull(), REJECT_REASONS[1]),
        (missing_score, REJECT_REASONS[2]),
        (number.isnull(), REJECT_REASONS[3]),
        ((number < 0) | (number > 10) | number.isinf(), REJECT_REASONS[4]),
        (number.round() != number, REJECT_REASONS[5]),
        else_=ibis.null("string"),
    )
    originals = {f"original_{c}": raw[c] for c in dict.fromkeys((columns.customer_id, columns.date, columns.score))}
    return raw.select(
        source_row=raw[SOURCE_ROW_COL], customer_id=customer, answered_at=when, number=number,
        reason=reason, **originals,
    )


def _group(score: ibis.Value) -> ibis.Value:
    return ibis.cases((score >= 9, "promoter"), (score >= 7, "passive"), else_="detractor")


def _counts(table: ibis.Table) -> dict[str, ibis.Value]:
    group = table.nps_group
    promoters = (group == "promoter").cast("int64").sum()
    detractors = (group == "detractor").cast("int64").sum()
    answers = table.count()
    return {
        "answers": answers,
        "promoters": promoters,
        "passives": (group == "passive").cast("int64").sum(),
        "detractors": detractors,
        "nps": 100.0 * (promoters - detractors).cast("float64") / answers.cast("float64"),
    }


def nps_summary(answers: ibis.Table | SurveyAnswers) -> dict[str, Any]:
    """answers, promoters, passives, detractors, their shares (%) and NPS over all valid answers.

    NPS is NaN when there is no answer.

    Parameters
    ----------
    answers : ibis.Table or SurveyAnswers
        The checked answers of :func:`read_survey`.

    Returns
    -------
    dict of str to object
        ``answers``, ``promoters``, ``passives``, ``detractors``, their shares (%) and ``nps``.
    """
    table = _answers_table(answers)
    row = table.aggregate(**_counts(table)).execute().iloc[0]
    n = int(row["answers"])
    out: dict[str, Any] = {key: int(row[key]) if n else 0 for key in ("answers", "promoters", "passives", "detractors")}
    for key in ("promoters", "passives", "detractors"):
        out[f"pct_{key}"] = 100.0 * out[key] / n if n else float("nan")
    out["nps"] = float(row["nps"]) if n else float("nan")
    return out


def nps_over_time(answers: ibis.Table | SurveyAnswers, time_unit: str = "month") -> pd.DataFrame:
    """NPS per calendar period of the answer date: period (its first day), answers, groups, nps.

    NPS = 100 x (promoters - detractors) / answers in each period (Reichheld
    2003). Periods without any answer are absent (an NPS of no answers is
    undefined).

    Parameters
    ----------
    answers : ibis.Table or SurveyAnswers
        The checked answers of :func:`read_survey`.
    time_unit : {"week", "month", "quarter", "year"}, default "month"
        The calendar period answers are grouped by: weeks start on Monday;
        months, quarters and years are calendar ones. NPS is reported per
        month by default (not clv's usual week, see the glossary).

    Returns
    -------
    pandas.DataFrame
        One row per period with an answer, oldest first: ``period`` (its first
        day, a date), ``answers``, ``promoters``, ``passives``, ``detractors``
        (int) and ``nps`` (from -100 to +100).

    Raises
    ------
    DataError
        When ``time_unit`` is not one of the values above.

    Examples
    --------
    >>> import pandas as pd
    >>> survey = pd.DataFrame({"customer_id": ["a", "b", "c", "a"],
    ...                        "date": ["2024-01-05", "2024-01-20", "2024-02-03", "2024-02-10"],
    ...                        "score": [10, 6, 9, 8]})
    >>> nps_over_time(read_survey(survey))
           period  answers  promoters  passives  detractors   nps
    0  2024-01-01        2          1         0           1   0.0
    1  2024-02-01        2          1         1           0  50.0
    """
    if time_unit not in FREQUENCIES:
        raise DataError(f"time_unit={time_unit!r} is not one of {', '.join(FREQUENCIES)}; fix: e.g. time_unit='month'.")
    table = _answers_table(answers)
    table = table.mutate(period=table.answered_at.truncate(FREQUENCIES[time_unit]))
    series = table.group_by("period").aggregate(**_counts(table)).order_by("period").execute()
    series["period"] = pd.to_datetime(series["period"]).dt.date
    return series.astype({c: "int64" for c in ("answers", "promoters", "passives", "detractors")})


def latest_answers(answers: ibis.Table | SurveyAnswers) -> ibis.Table:
    """Each customer's latest answer (latest date; on a tie, the later input row).

    Parameters
    ----------
    answers : ibis.Table or SurveyAnswers
        The checked answers of :func:`read_survey`.

    Returns
    -------
    ibis.Table
        One answer per customer (lazy).
    """
    table = _answers_table(answers)
    order = [ibis.desc("answered_at"), ibis.desc("source_row")]
    ranked = table.mutate(_rank=ibis.row_number().over(group_by="customer_id", order_by=order))
    return ranked.filter(ranked._rank == 0).drop("_rank")


def nps_by_value(answers: ibis.Table | SurveyAnswers, scores: pd.DataFrame | str) -> NPSByValue:
    """Customer value and churn risk per NPS group, from each customer's latest answer.

    ``scores`` is the frame of :func:`clv.scores.score_customers` (or a CSV /
    Parquet file of it) with customer_id, clv and p_alive. One row per group and
    an ``all`` row: customers (who answered), with_scores, without_scores
    (answered but absent from the scores, counted, never dropped silently),
    share (of customers), mean_clv, total_clv and mean_p_alive over those with
    scores. The result's ``scored_without_answer`` counts scored customers who
    never answered.

    Parameters
    ----------
    answers : ibis.Table or SurveyAnswers
        The checked answers of :func:`read_survey`.
    scores : pandas.DataFrame or str
        The frame of :func:`clv.scores.score_customers`, or a CSV / Parquet file of
        it, with customer_id, clv and p_alive.

    Returns
    -------
    NPSByValue
        One row per NPS group and an ``all`` row, with ``customers_answered``
        and ``scored_without_answer``.

    Raises
    ------
    DataError
        When ``scores`` lacks a needed column.
    """
    latest = latest_answers(answers)
    frame = _scores_frame(scores)
    scored = ibis.memtable(frame)
    joined = latest.left_join(scored, latest.customer_id == scored.customer_id).select(
        latest.customer_id, latest.nps_group, has_scores=scored.customer_id.notnull(),
        clv=scored.clv, p_alive=scored.p_alive,
    )
    by_group = _value_rows(joined.group_by("nps_group"), joined).execute()
    overall = _value_rows(joined, joined).execute().assign(nps_group="all")
    table = pd.concat([by_group, overall], ignore_index=True)
    table["nps_group"] = pd.Categorical(table["nps_group"], categories=[*NPS_GROUPS, "all"])
    table = table.set_index("nps_group").reindex(list(NPS_GROUPS) + ["all"]).reset_index()
    table["nps_group"] = table["nps_group"].astype(str)
    for column in ("customers", "with_scores", "without_scores"):
        table[column] = table[column].fillna(0).astype("int64")
    total = table.loc[table.nps_group == "all", "customers"].iloc[0]
    table.insert(2, "share", table["customers"] / total if total else float("nan"))
    with_scores = int(table.loc[table.nps_group == "all", "with_scores"].iloc[0])
    return NPSByValue(table, customers_answered=int(total), scored_without_answer=len(frame) - with_scores)


def _value_rows(grouped, joined: ibis.Table) -> ibis.Table:
    has = joined.has_scores
    metrics = dict(
        customers=joined.count(),
        with_scores=has.cast("int64").sum(),
        without_scores=(~has).cast("int64").sum(),
        mean_clv=joined.clv.mean(),
        total_clv=joined.clv.sum(),
        mean_p_alive=joined.p_alive.mean(),
    )
    return grouped.aggregate(**metrics)


def _scores_frame(scores: pd.DataFrame | str) -> pd.DataFrame:
    if isinstance(scores, (str,)) or hasattr(scores, "__fspath__"):
        path = str(scores)
        frame = pd.read_parquet(path) if path.lower().endswith(".parquet") else pd.read_csv(path, dtype={"customer_id": str})
    else:
        frame = scores
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(missing_column_message("scores " + missing[0], missing[0], map(str, frame.columns))
                        + " The scores come from clv score / score_customers (customer_id, clv, p_alive).")
    out = frame[list(SCORE_COLUMNS)].copy()
    ids = out["customer_id"]
    if pd.api.types.is_float_dtype(ids) and (ids.dropna() % 1 == 0).all():
        ids = ids.astype("Int64")  # 17850.0 -> "17850", as the loader writes ids
    out["customer_id"] = ids.astype(str).str.strip()
    duplicated = out["customer_id"].duplicated()
    if duplicated.any():
        raise DataError(f"scores: customer_id {out.loc[duplicated, 'customer_id'].iloc[0]!r} appears more than once; "
                        "fix: pass one row per customer (the output of score_customers).")
    return out.astype({"clv": "float64", "p_alive": "float64"})


def _answers_table(answers: ibis.Table | SurveyAnswers) -> ibis.Table:
    return answers.answers if isinstance(answers, SurveyAnswers) else answers
