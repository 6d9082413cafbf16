"""The report states its numbers honestly: periods named, one CLV definition, plain words, no empty table or chart,
chart axes and colours that read right, product names in cross-sell, a margin that cannot rise above 100%."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from clv.backtest.charts import tracking_figure
from clv.data import load_orders
from clv.report.build import render
from clv.report.content import TECHNICAL_TERMS, TableBlock, plain_words, predictor_label
from clv.report.context import ReportContext
from clv.report.figures import cohort_labels, retention_heatmap
from clv.report.sections import (
    _coverage,
    _whatif_changes,
    cross_sell,
    data_check,
    kpis,
    what_if_grid,
)


def _orders(n: int = 400, customers: int = 40, days: int = 400) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [str(i % customers) for i in range(n)],
        "order_ts": pd.Timestamp("2024-01-01") + pd.to_timedelta([(i * 7) % days for i in range(n)], unit="D"),
        "amount": [10.0 + i % 7 for i in range(n)],
    })


def _context(source, **kwargs) -> ReportContext:
    options = {"spend": None, "survey": None, "unit": "week", "horizon": 52, "calibration_end": None, "margin": 0.3,
               "observation_end": None, **kwargs}
    return ReportContext(source=source, **options)


# the classic formula names its period ------------------------------------------------------------------

def test_every_sentence_of_the_key_numbers_names_its_period():
    section = kpis(_context(_orders()))
    period = section.intro.split("churn per ")[1].split(".")[0]
    for sentence in section.findings:
        assert re.search(rf"(per|a) {period}\b", sentence), sentence
    by_period = section.tables[0]
    assert by_period.key == "classic_by_period"
    assert [row[0] for row in by_period.rows] == ["year", "quarter", "month"]
    assert sum(row[-1] == "used" for row in by_period.rows) == 1
    assert next(row for row in by_period.rows if row[-1] == "used")[0] == period
    dependence = next(f for f in section.findings if f.startswith("The same orders give a classic CLV"))
    assert all(f" per {unit}" in dependence for unit in ("year", "quarter", "month"))
    metric = next(m for m in section.metrics if m.key == "classic_clv")
    assert metric.label == f"classic CLV per customer (computed per {period})"


# section 1: no empty table -------------------------------------------------------------------------------------

def test_a_file_with_no_line_set_aside_shows_no_empty_table(tmp_path):
    path = tmp_path / "orders.csv"
    _orders(60).to_csv(path, index=False)
    section = data_check(_context(load_orders(str(path))))
    assert section.tables == []
    assert any("No line was set aside." in f for f in section.findings)
    assert section.metrics[-1].value == "0"


# section 3: cohort axis ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cohorts", [["1997-01"], ["1997-01", "1997-02", "1997-03"]])
def test_monthly_cohorts_are_month_names_on_a_category_axis(cohorts):
    wide = pd.DataFrame({"cohort": cohorts, "customers": [10] * len(cohorts), "m0": [1.0] * len(cohorts),
                         "m1": [0.2] * len(cohorts), "m2": [0.1] * len(cohorts)})
    figure = retention_heatmap(wide)
    assert figure.layout.yaxis.type == "category"
    assert list(figure.data[0].y) == [pd.Timestamp(c).strftime("%b %Y") for c in cohorts]
    assert figure.layout.xaxis.tickformat == "d"
    html = figure.to_json()
    assert "23:59" not in html and "1996" not in html
    assert cohort_labels(pd.Series(["2011-12", "odd"])) == ["Dec 2011", "odd"]


# section 4: interval chart, tracking colours, plain words -------------------------------------------------------

def test_no_interval_chart_without_intervals():
    metrics = pd.DataFrame({"predictor": ["bgnbd", "naive"], "kind": ["model", "baseline"],
                            "value_coverage_0.8": [np.nan, np.nan], "value_coverage_0.95": [np.nan, np.nan]})
    assert _coverage(metrics) is None
    assert _coverage(metrics.drop(columns=["value_coverage_0.8", "value_coverage_0.95"])) is None
    metrics.loc[0, ["value_coverage_0.8", "value_coverage_0.95"]] = [0.81, 0.94]
    figure, reading = _coverage(metrics)
    assert [list(bar.x) for bar in figure.data] == [["BG/NBD"], ["BG/NBD"]]
    assert reading.startswith("BG/NBD's 80% intervals held 81.0%")


def test_tracking_lines_have_their_legend_colour_in_both_panels():
    t = np.arange(1.0, 11.0)
    data = pd.DataFrame({"t": t, "actual": t, "actual_cumulative": t.cumsum()})
    for model in ("bgnbd", "pareto", "mbgnbd"):
        data[model], data[f"{model}_cumulative"] = t, t.cumsum()
    figure = tracking_figure(data, "week", 5.0)
    colours = {}
    for trace in figure.data:
        name = trace.name.removesuffix(" (cumulative)")
        assert trace.line.color is not None, trace.name
        colours.setdefault(name, set()).add(trace.line.color)
    assert all(len(found) == 1 for found in colours.values()), colours
    assert len({next(iter(found)) for found in colours.values()}) == len(colours)  # one colour per line


def test_plain_words_replace_model_names_and_metric_jargon():
    text = plain_words("mbgnbd is within 1% of the lowest holdout-value RMSE (tied with bgnbd, pareto) and ranks "
                       "customers best (value Spearman 0.650); next: rfm (91.33); the classic formula; classic")
    assert "MBG/NBD is within" in text and "tied with BG/NBD, Pareto/NBD" in text
    assert "RMSE" not in text and "Spearman" not in text and "ranking agreement 0.650" in text
    assert "next: RFM scores" in text and "the classic formula;" in text and text.endswith("classic formula")
    assert predictor_label("naive") == "naive guess" and predictor_label("gammagamma") == "Gamma-Gamma"
    block = TableBlock("t", ["predictor", "typical error per customer", "ranking agreement"], [])
    assert block.titles["typical error per customer"].startswith("RMSE: ")
    assert block.titles["ranking agreement"].startswith("Spearman rank correlation: ")


# section 7: a margin cannot rise above 100% -----------------------------------------------------------------------

def test_a_margin_at_100_percent_is_not_shown_rising():
    notes: list[str] = []
    changes = _whatif_changes(1.0, notes)
    assert ("margin", "gross margin", 0.10) not in changes and ("margin", "gross margin", -0.10) in changes
    assert "cannot rise by 10% (a margin cannot exceed 100% of revenue), so only its fall is shown" in notes[0]
    notes.clear()
    near = {(d, round(c, 4)) for d, _, c in _whatif_changes(0.95, notes)}
    assert ("margin", round(1 / 0.95 - 1, 4)) in near and "up to 100% (+5.3%)" in notes[0]
    assert ("margin", 0.1) in {(d, round(c, 4)) for d, _, c in _whatif_changes(0.3, [])}


@pytest.fixture(scope="module")
def store_orders(tmp_path_factory):
    """A small synthetic store (300 customers) the purchase model fits without an edge."""
    from clv.data import Columns
    from clv.data.synthetic import generate_store

    store = generate_store(tmp_path_factory.mktemp("store") / "store", n_customers=300, seed=7, defects=False,
                           end="2025-12-31")
    return load_orders(str(store.orders_path), Columns(order_id="order_id"), observation_end="2025-12-31")


def test_the_what_if_grid_at_100_percent_margin_has_no_zero_margin_row(store_orders):
    section = what_if_grid(_context(store_orders, margin=1.0, observation_end="2025-12-31"))  # values are revenue
    rows = section.tables[0].rows
    assert not any(row[0] == "gross margin" and row[1] == "+10%" for row in rows)
    assert any(row[0] == "gross margin" and row[1] == "-10%" for row in rows)
    assert any("only its fall is shown" in note for note in section.notes)


# cross-sell: product names ----------------------------------------------------------------------------------

def _baskets() -> pd.DataFrame:
    rows = []
    for c in range(60):
        products = ["P1", "P2"] if c % 2 else ["P3", "P4"]
        rows += [(f"c{c}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=c), 10.0, p, f"name of {p}")
                 for p in products]
    return pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount", "product_id", "Description"])


def _loaded_baskets(tmp_path, label: bool = True):
    from clv.data import Columns

    path = tmp_path / "baskets.csv"
    _baskets().to_csv(path, index=False)
    return load_orders(str(path), Columns(product_id="product_id", extra=("Description",) if label else ()))


def test_cross_sell_shows_product_names_with_a_label_column(tmp_path):
    named = cross_sell(_context(_loaded_baskets(tmp_path), label="Description"))
    table = named.tables[0]
    assert table.columns[:2] == ["product A", "product B"] and table.columns[-1] == "product ids"
    assert {row[0] for row in table.rows} <= {"name of P1", "name of P3"}
    assert all(re.fullmatch(r"P\d \+ P\d", row[-1]) for row in table.rows)
    assert "name of P" in named.figures[0].reading
    plain = cross_sell(_context(_loaded_baskets(tmp_path, label=False)))
    assert {row[0] for row in plain.tables[0].rows} <= {"P1", "P3"}
    assert any("--label Description" in note for note in plain.notes)
    missing = cross_sell(_context(_loaded_baskets(tmp_path), label="Name"))
    assert any("'Name' is not in the orders" in note for note in missing.notes)


def test_cli_report_takes_a_label(tmp_path):
    from typer.testing import CliRunner

    from clv.cli.main import app

    path = tmp_path / "orders.csv"
    _baskets().to_csv(path, index=False)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(path), "--col", "product_id=product_id", "--label", "Description",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "name of P1" in html


# one CLV definition, technical terms in tooltips and an appendix ----------------------------------------------------

def test_the_page_defines_clv_once_and_explains_its_terms(store_orders):
    ctx = _context(store_orders, margin=0.3, observation_end="2025-12-31")
    page = render([kpis(ctx)], ctx, "t")
    assert page.count('id="clv-definition"') == 1
    definition = re.search(r'id="clv-definition"[^>]*>(.*?)</p>', page, re.DOTALL).group(1)
    for part in ("next 52 weeks", "discounted at 10% a year", "30% margin", "BG/NBD", "Gamma-Gamma"):
        assert part in definition
    appendix = page[page.index('data-appendix="terms"'):]
    for words, (term, _) in TECHNICAL_TERMS.items():
        assert words in appendix and term in appendix


def test_the_definition_says_when_the_purchase_model_has_no_dropout(store_orders):
    from clv.models import model_class

    ctx = _context(store_orders, margin=0.3, observation_end="2025-12-31")
    summary = ctx.summary
    nbd = model_class("nbd")().fit(summary["frequency"], summary["recency"], summary["T"], time_unit="week")
    ctx.__dict__["models"] = (nbd, ctx.models[1])  # as the model ladder's fallback would give
    assert "the NBD (no dropout) model (how often each customer buys; it assumes no customer leaves" in ctx.clv_definition


def test_the_what_if_reading_says_churn_changes_nothing_without_dropout(store_orders):
    """With the NBD (the ladder's fallback) the churn rows are 0%: the reading says why instead of 'churn less'."""
    from clv.models import model_class
    from clv.report.sections import _whatif_reading

    with_dropout = _context(store_orders, margin=0.3, observation_end="2025-12-31")
    assert with_dropout.purchase_model_has_dropout and "churn less" in _whatif_reading(with_dropout)
    ctx = _context(store_orders, margin=0.3, observation_end="2025-12-31")
    summary = ctx.summary
    nbd = model_class("nbd")().fit(summary["frequency"], summary["recency"], summary["T"], time_unit="week")
    ctx.__dict__["models"] = (nbd, ctx.models[1])
    reading = _whatif_reading(ctx)
    assert not ctx.purchase_model_has_dropout
    assert "churn changes nothing here" in reading and "NBD (no dropout) assumes no customer leaves" in reading
