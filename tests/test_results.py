"""Typed results between stages: no context in ``DataFrame.attrs``, every result carries its fields.

pandas drops or merges ``DataFrame.attrs`` silently (a merge, a concat, a
``to_parquet``), so ``clv`` keeps context in typed fields of its results
(:class:`clv.result_table.ResultTable`). The first tests walk the source tree
(AST: an attribute named ``attrs`` on anything) and fail on any use; the others
build each stage's result and check its fields and the pandas-face operations
users do (``sort_values``, ``head``, ``to_csv`` through ``.table``).
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clv.cohorts import RepeatShare, repeat_share
from clv.crosssell import AssociationRules, Suggestions, product_pairs, recommend
from clv.data import Columns, load_orders
from clv.data.synthetic import simulate_orders
from clv.feedback import NPSByValue, nps_by_value, read_survey
from clv.models import BetaGeoModel, GammaGammaModel, ShiftedBetaGeometricModel
from clv.result_table import ResultTable
from clv.scores import SubscriberScores, score_customers, score_subscribers
from clv.segments import (
    EarlyWarning, EarlyWarningSettings, Playbook, PlaybookSettings, RFMScores, Segments, assign_segments,
    early_warning, playbook, rfm_scores,
)
from clv.summary import summarize

SOURCE = Path(__file__).resolve().parents[1] / "src" / "clv"
DATA = Path(__file__).parent / "data"

# (file relative to src/clv, enclosing function) allowed to touch ``attrs``: none (the models' summary() is a
# FitSummary now).
ALLOWED: set[tuple[str, str]] = set()


# ----- no DataFrame.attrs in the source tree ------------------------------------------------------
def attrs_uses(source: str, filename: str) -> list[tuple[str, int, str]]:
    """Every ``<anything>.attrs`` in ``source``: (file, line, enclosing function or '<module>')."""
    tree = ast.parse(source, filename=filename)
    uses: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Attribute) and child.attr == "attrs":
                uses.append((filename, child.lineno, function))
            visit(child, name)

    visit(tree, "<module>")
    return uses


def test_no_module_of_clv_reads_or_writes_dataframe_attrs():
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 50, f"found only {len(files)} modules under {SOURCE}"
    uses = [use for path in files
            for use in attrs_uses(path.read_text(encoding="utf-8"), path.relative_to(SOURCE).as_posix())]
    unexpected = [f"src/clv/{file}:{line} (in {function})" for file, line, function in uses
                  if (file, function) not in ALLOWED]
    assert not unexpected, ("context travels in typed result fields, not DataFrame.attrs (pandas drops it "
                            "silently):\n" + "\n".join(unexpected))


def test_the_attrs_scan_finds_reads_writes_and_calls():
    source = ("def f(frame):\n    frame.attrs['unit'] = 'week'\n    return frame.attrs.get('x')\n"
              "g = lambda t: t.table.attrs\n")
    assert attrs_uses(source, "x.py") == [("x.py", 2, "f"), ("x.py", 3, "f"), ("x.py", 4, "<module>")]
    assert attrs_uses("frame.attributes = 1\nattrs = {}\n", "y.py") == []  # another name, a plain variable


# ----- the results ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shop():
    orders = simulate_orders(400, seed=5)
    summary = summarize(orders, time_unit="week")
    model = BetaGeoModel().fit(summary)
    spend = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    scores = score_customers(summary, model, spend, horizon=52, intervals=None)
    return orders, summary, scores


@pytest.fixture(scope="module")
def segments(shop):
    orders, summary, scores = shop
    return assign_segments(summary, scores, orders, warning=EarlyWarningSettings(window_days=60),
                           playbook=PlaybookSettings(vip_tiers=1))


@pytest.fixture(scope="module")
def basket_orders():
    rows = [(c, f"2024-01-0{k + 1}", 10.0, f"{c}-{k}", p)
            for c, baskets in {"c1": ["AB", "C"], "c2": ["AB"], "c3": ["AC"], "c4": ["BD"], "c5": ["ABD"]}.items()
            for k, products in enumerate(baskets) for p in products]
    lines = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "order_id", "product_id"])
    return load_orders(lines, Columns(order_id="order_id", product_id="product_id")).orders


def check_pandas_face(result: ResultTable, sort_by: str) -> None:
    """What users do with a result: it acts as its table, and only ``with_table`` keeps the context."""
    table = result.table
    assert isinstance(table, pd.DataFrame) and table.attrs == {}
    assert len(result) == len(table) and list(result.columns) == list(table.columns)
    pd.testing.assert_series_equal(result[sort_by], table[sort_by])
    pd.testing.assert_frame_equal(result.sort_values(sort_by), table.sort_values(sort_by))
    pd.testing.assert_frame_equal(result.head(2), table.head(2))
    written = result.table.to_csv(index=False)
    assert written == table.to_csv(index=False)
    assert len(pd.read_csv(io.StringIO(written))) == len(table)
    kept = result.with_table(result.sort_values(sort_by).head(2))
    assert type(kept) is type(result) and len(kept) == min(2, len(table)) and kept.context() == result.context()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, dataclasses.fields(result)[1].name, None)
    json.dumps(result.settings())  # JSON-ready
    with pytest.raises(AttributeError, match="typed fields"):
        result.attrs  # noqa: B018 - the table's empty attrs would silently lose the context


def test_segments_carry_cut_points_settings_and_score_settings(shop, segments):
    orders, summary, scores = shop
    assert isinstance(segments, Segments)
    assert set(segments.rfm_thresholds["metric"]) == {"recency", "frequency", "monetary"}
    assert segments.value_cuts["customers"].sum() == len(summary)
    assert (segments.low_alive, segments.high_alive) == (0.3, 0.7)
    assert segments.warning.window_days == 60 and segments.early_warning_computed
    assert segments.playbook.vip_tiers == 1
    assert segments.observation_end == summary.observation_end
    assert (segments.time_unit, segments.model, segments.horizon) == ("week", "bgnbd", 52)
    assert segments.discount_rate == scores.discount_rate and segments.margin == scores.margin
    assert segments.value_measure == "clv" and segments.has_amounts and segments.not_available == {}
    settings = segments.settings()
    assert settings["observation_end"] == summary.observation_end.isoformat()
    assert settings["early_warning"] == {"computed": True, **dataclasses.asdict(segments.warning)}
    assert settings["playbook"]["vip_tiers"] == 1 and settings["discount_rate"] == scores.discount_rate
    check_pandas_face(segments, "clv")


def test_segments_from_plain_frames_say_what_they_do_not_know(shop):
    _, summary, scores = shop
    frame = assign_segments(summary.table, scores.table)
    assert isinstance(frame, Segments) and not frame.early_warning_computed
    assert frame.observation_end is None and frame.model is None and frame.time_unit is None


def test_playbook_carries_measure_rules_and_skipped_rules(segments):
    rules = PlaybookSettings(rates={"win_back": 0.2})
    plays = playbook(segments, rules)
    assert isinstance(plays, Playbook)
    assert plays.measure == "value" and plays.rules is rules and plays.skipped_rules == {}
    assert plays.settings()["rules"]["rates"]["win_back"] == 0.2
    assert plays["customers"].sum() == len(segments)
    check_pandas_face(plays, "value_at_stake")


def test_rfm_scores_are_a_result_with_thresholds_not_a_bare_tuple(shop):
    _, summary, _ = shop
    rfm = rfm_scores(summary)
    assert isinstance(rfm, RFMScores) and rfm.time_unit == "week" and rfm.has_amounts
    assert list(rfm.columns) == ["r_score", "f_score", "m_score", "fm_score"]
    assert rfm.thresholds.groupby("metric")["customers"].sum().eq(len(summary)).all()
    assert "weeks" in rfm.thresholds.loc[rfm.thresholds.metric == "recency", "measure"].iloc[0]
    with pytest.raises(ValueError):
        scores, thresholds = rfm  # the old tuple unpacking fails loudly
    check_pandas_face(rfm, "r_score")


def test_early_warning_carries_its_windows_and_thresholds(shop):
    orders, summary, _ = shop
    thresholds = EarlyWarningSettings(window_days=30, rate_drop=0.5)
    warnings = early_warning(orders, observation_end=summary.observation_end, settings=thresholds)
    assert isinstance(warnings, EarlyWarning) and warnings.thresholds is thresholds
    assert warnings.observation_end == summary.observation_end
    assert warnings.recent_window_start == summary.observation_end - dt.timedelta(days=29)
    assert warnings.settings()["window_days"] == 30 and warnings.settings()["rate_drop"] == 0.5
    check_pandas_face(warnings, "order_rate_ratio")


def test_association_rules_and_suggestions_carry_counts_and_options(basket_orders):
    rules = product_pairs(basket_orders, min_support=0.0, exclude_products="Z")
    assert isinstance(rules, AssociationRules)
    assert (rules.basket, rules.baskets, rules.products, rules.frequent_products) == ("customer", 5, 4, 4)
    assert (rules.min_basket_count, rules.min_count, rules.exclude_products) == (1, 1, ("Z",))
    assert rules.settings()["exclude_products"] == ["Z"]
    check_pandas_face(rules, "lift")
    suggestions = recommend(basket_orders, rules, k=2, weight="lift", min_lift=0.5)
    assert isinstance(suggestions, Suggestions)
    assert (suggestions.k, suggestions.weight, suggestions.min_lift) == (2, "lift", 0.5)
    assert suggestions.rules_used == int((rules["lift"] > 0.5).sum())
    check_pandas_face(suggestions, "score")


def test_repeat_share_counts_lines_without_purchase(basket_orders):
    shares = repeat_share(basket_orders)
    assert isinstance(shares, RepeatShare) and shares.lines_without_purchase == 0
    assert shares.overall.attrs == {} and shares.by_month.attrs == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        shares.lines_without_purchase = 3


def test_nps_by_value_counts_who_was_left_out():
    answers = read_survey(str(DATA / "nps_sample.csv"))
    scores = pd.DataFrame({"customer_id": [str(i) for i in range(101, 118)] + ["999"],
                           "clv": np.arange(18.0), "p_alive": np.full(18, 0.5)})
    groups = nps_by_value(answers, scores)
    assert isinstance(groups, NPSByValue)
    assert groups.customers_answered == groups.loc[groups.nps_group == "all", "customers"].iloc[0]
    with_scores = groups.loc[groups.nps_group == "all", "with_scores"].iloc[0]
    assert groups.scored_without_answer == len(scores) - with_scores >= 1  # "999" never answered
    check_pandas_face(groups, "mean_clv")


def test_subscriber_scores_carry_rates_draws_and_unit():
    model = ShiftedBetaGeometricModel()
    model.params_ = {"alpha": 0.7, "beta": 1.2}
    model.covariance_theta_ = np.eye(2) * 0.01
    customers = pd.DataFrame({"tenure": [0, 2, 5, 1], "churned": [0, 0, 1, 0], "fee": [10.0, 12.0, 9.0, 11.0]})
    scores = score_subscribers(customers, model, horizon=12, discount_rate=0.1, time_unit="month",
                               value_per_period="fee", n_draws=40, seed=3)
    assert isinstance(scores, SubscriberScores)
    assert (scores.alpha, scores.beta, scores.horizon, scores.time_unit) == (0.7, 1.2, 12, "month")
    assert scores.discount_rate == 0.1
    assert scores.discount_rate_per_contract_period == pytest.approx(1.1 ** (1 / 12) - 1)
    assert (scores.n_draws, scores.seed, scores.quantile_cap_periods) == (40, 3, 12)
    point = score_subscribers(customers, model, horizon=12, time_unit="month", intervals=None)
    assert point.interval_method is None and point.n_draws is None
    check_pandas_face(scores, "derl")
