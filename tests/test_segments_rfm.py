"""RFM scores (quintile edges, ties, direction) and the named-segment rules table."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.errors import DataError
from clv.segments import DEFAULT_SEGMENT_RULES, SEGMENT_NAMES, rfm_scores, rfm_segments, validate_rules


def summary_frame(frequency, since_last, revenue, T=100.0):
    frequency = np.asarray(frequency, dtype=float)
    since_last = np.asarray(since_last, dtype=float)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(frequency.size)],
        "frequency": frequency,
        "recency": T - since_last,
        "T": T,
        "revenue": np.asarray(revenue, dtype=float),
    })


def test_distinct_values_fall_into_five_equal_quintiles():
    values = np.arange(100)
    scores = rfm_scores(summary_frame(values, values * 0.5, values * 10.0))
    thresholds = scores.thresholds
    for column in ("r_score", "f_score", "m_score"):
        assert np.bincount(scores[column], minlength=6)[1:].tolist() == [20] * 5
    # the largest frequency and revenue score 5, the most recent buyers (smallest time since) score 5
    assert scores["f_score"].iloc[-1] == 5 and scores["m_score"].iloc[-1] == 5
    assert scores["r_score"].iloc[0] == 5 and scores["r_score"].iloc[-1] == 1
    monetary = thresholds[thresholds.metric == "monetary"]
    # cut points are observed values: the 20th, 40th, 60th, 80th smallest revenues
    assert monetary["upper"].iloc[:4].tolist() == [190.0, 390.0, 590.0, 790.0]
    assert monetary["customers"].tolist() == [20] * 5


def test_value_on_a_cut_point_takes_the_lower_score_and_ties_share_a_score():
    revenue = [10, 20, 20, 20, 30, 40, 50, 60, 70, 80]
    scores = rfm_scores(summary_frame(np.zeros(10), np.arange(10), revenue))
    thresholds = scores.thresholds
    m = scores["m_score"].to_numpy()
    assert m[1] == m[2] == m[3]  # ties share one score
    edges = thresholds[thresholds.metric == "monetary"]["upper"].iloc[:4].to_numpy()
    assert 20.0 in edges
    assert m[1] == 1 + np.sum(edges < 20.0)  # a value equal to a cut point takes the lower score
    # every customer bought once: F is tied everywhere, so all get F = 1
    assert set(scores["f_score"]) == {1}
    assert thresholds[thresholds.metric == "frequency"]["customers"].tolist() == [10, 0, 0, 0, 0]


def test_scores_do_not_depend_on_row_order():
    rng = np.random.default_rng(3)
    frame = summary_frame(rng.integers(0, 5, 200), rng.integers(0, 50, 200), rng.integers(1, 30, 200) * 10.0)
    shuffled = frame.sample(frac=1.0, random_state=1)
    a = rfm_scores(frame).table
    b = rfm_scores(shuffled).table
    pd.testing.assert_frame_equal(a, b.loc[a.index])


def test_fm_is_the_rounded_up_mean_of_f_and_m():
    values = np.arange(50)
    scores = rfm_scores(summary_frame(values, values, values[::-1]))
    expected = np.ceil((scores["f_score"] + scores["m_score"]) / 2).astype(int)
    assert (scores["fm_score"] == expected).all()


@pytest.mark.parametrize(("r", "f", "m", "segment"), [
    (5, 5, 5, "champions"),
    (4, 3, 5, "champions"),
    (5, 1, 1, "new"),
    (4, 1, 5, "new"),
    (3, 4, 4, "loyal"),
    (5, 3, 3, "loyal"),
    (3, 1, 2, "potential_loyalists"),
    (5, 2, 1, "potential_loyalists"),
    (1, 5, 5, "cannot_lose"),
    (1, 3, 4, "cannot_lose"),
    (2, 5, 5, "at_risk"),
    (1, 3, 2, "at_risk"),
    (2, 1, 2, "hibernating"),
    (1, 1, 1, "lost"),
    (1, 2, 2, "lost"),
])
def test_default_rules_on_hand_made_scores(r, f, m, segment):
    scores = pd.DataFrame({"r_score": [r], "f_score": [f], "m_score": [m]})
    assert rfm_segments(scores).iloc[0] == segment


def test_default_rules_name_the_eight_segments_and_cover_every_combination():
    assert set(SEGMENT_NAMES) == {"champions", "loyal", "potential_loyalists", "new", "at_risk",
                                  "cannot_lose", "hibernating", "lost"}
    grid = np.array(np.meshgrid(*[np.arange(1, 6)] * 3)).reshape(3, -1).T
    scores = pd.DataFrame(grid, columns=["r_score", "f_score", "m_score"])
    segments = rfm_segments(scores)
    assert segments.notna().all() and set(segments) == set(SEGMENT_NAMES)


def test_custom_rules_table_first_match_wins():
    rules = pd.DataFrame([("recent", 4, 5, 1, 5, 1, 5), ("everyone else", 1, 5, 1, 5, 1, 5)],
                         columns=DEFAULT_SEGMENT_RULES.columns)
    scores = pd.DataFrame({"r_score": [5, 3], "f_score": [1, 5], "m_score": [1, 5]})
    assert rfm_segments(scores, rules).tolist() == ["recent", "everyone else"]


def test_rules_leaving_a_combination_uncovered_are_refused():
    rules = DEFAULT_SEGMENT_RULES[DEFAULT_SEGMENT_RULES.segment != "lost"]
    with pytest.raises(DataError, match="without a segment.*R=1"):
        validate_rules(rules)
    with pytest.raises(DataError, match="between 1 and 5"):
        validate_rules(DEFAULT_SEGMENT_RULES.assign(r_max=6))
    with pytest.raises(DataError, match="lack column"):
        validate_rules(DEFAULT_SEGMENT_RULES.drop(columns="fm_min"))


def test_missing_summary_column_is_named():
    with pytest.raises(DataError, match="revenue"):
        rfm_scores(summary_frame([1], [1], [1]).drop(columns="revenue"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 200), st.integers(1, 5000)), min_size=1, max_size=80))
def test_every_customer_gets_scores_1_to_5_and_exactly_one_segment(rows):
    frequency, since_last, revenue = map(np.array, zip(*rows))
    scores = rfm_scores(summary_frame(frequency, since_last, revenue, T=300.0))
    thresholds = scores.thresholds
    for column in ("r_score", "f_score", "m_score", "fm_score"):
        assert scores[column].between(1, 5).all()
    segments = rfm_segments(scores)
    assert len(segments) == len(rows) and segments.isin(SEGMENT_NAMES).all()
    for metric in ("recency", "frequency", "monetary"):
        assert thresholds[thresholds.metric == metric]["customers"].sum() == len(rows)
    # monotone: more revenue never means a lower M score
    order = np.argsort(revenue, kind="stable")
    assert np.all(np.diff(scores["m_score"].to_numpy()[order]) >= 0)
