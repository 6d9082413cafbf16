"""The HTML report: every section present with its numbers, self-contained, plotly.js once; the synthetic survey; the CLI."""

from __future__ import annotations

from html.parser import HTMLParser

import ibis
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clv.data import Columns, load_orders
from clv.data.survey import simulate_survey, store_survey
from clv.data.synthetic import generate_store
from clv.report import STEP_NAMES, build_report
from clv.report.build import render
from clv.report.content import predictor_label
from clv.report.context import ReportContext
from clv.report.sections import channels, nps
from clv.summary import summarize

END = "2025-12-31"
COLUMNS = Columns(order_id="order_id", product_id="product_id", quantity="quantity", channel="channel", cost="cost")
SECTION_KEYS = ["data", "refunds", "kpis", "cohorts", "models", "segments", "curves", "channels", "whatif", "crosssell",
                "nps"]


class ReportParser(HTMLParser):
    """Collects what the tests read: sections, key numbers, tables, figures, readings, external references."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.missing: dict[str, str] = {}
        self.metrics: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.figures: list[str] = []
        self.readings: list[str] = []
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value) of src/href
        self.scripts: list[str] = []
        self._capture: tuple[str, str] | None = None
        self._text: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs and tag in ("script", "link", "img", "iframe", "source", "embed"):
                self.references.append((tag, name, attrs[name] or ""))
        if tag == "script":
            self._in_script, self._text = True, []
        if "data-section" in attrs:
            self.sections.append(attrs["data-section"])
        if "data-missing" in attrs:
            self._start(("missing", attrs["data-missing"]))
        if "data-key" in attrs:
            self._start(("metric", attrs["data-key"]))
        if "data-figure" in attrs:
            self.figures.append(attrs["data-figure"])
        if attrs.get("class") == "reading":
            self._start(("reading", ""))
        if "data-table" in attrs:
            self._table = attrs["data-table"] + f"#{sum(k.startswith(attrs['data-table']) for k in self.tables)}"
            self.tables[self._table] = []
        if tag == "tr" and self._table:
            self._row = []
        if tag == "td" and self._row is not None:
            self._start(("cell", ""))

    def _start(self, what):
        self._capture, self._text = what, []

    def handle_data(self, data):
        if self._capture or self._in_script:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script:
            self.scripts.append("".join(self._text))
            self._in_script = False
        if self._capture and tag in ("p", "dd", "span", "td"):
            kind, key = self._capture
            text = "".join(self._text).strip()
            if kind == "missing":
                self.missing[key] = text
            elif kind == "metric":
                self.metrics[key] = text
            elif kind == "reading":
                self.readings.append(text)
            elif kind == "cell" and self._row is not None:
                self._row.append(text)
            self._capture = None
        if tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None


def as_number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%x"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    store = generate_store(root / "store", n_customers=1_500, seed=7, defects=True, end=END)
    result = load_orders(str(store.orders_path), COLUMNS, observation_end=END)
    steps: list[str] = []
    path = build_report(result, spend=store.acquisition_spend_frame(), survey=store_survey(store, seed=3),
                        observation_end=END, path=root / "report.html", on_step=steps.append, strict=True)
    html = path.read_text(encoding="utf-8")
    parser = ReportParser()
    parser.feed(html)
    return {"store": store, "result": result, "path": path, "html": html, "page": parser, "steps": steps}


def test_every_section_present_in_order_and_none_missing(built):
    page = built["page"]
    assert page.sections == SECTION_KEYS
    assert page.missing == {}
    assert built["steps"] == list(STEP_NAMES)


def test_load_report_totals_equal_the_input_rows(built):
    metrics = built["page"].metrics
    rows = pq.ParquetFile(built["store"].orders_path).metadata.num_rows
    assert as_number(metrics["input_rows"]) == rows
    kept = as_number(metrics["accepted_purchase_lines"]) + as_number(metrics["netted_refund_lines"])
    assert kept + as_number(metrics["rejected_lines"]) == rows
    by_reason = sum(as_number(row[1]) for row in built["page"].tables["rejected#0"])
    assert by_reason == as_number(metrics["rejected_lines"]) > 0


def test_kpi_customers_equal_the_summary(built):
    summary = summarize(built["result"], observation_end=END, time_unit="week")
    assert as_number(built["page"].metrics["customers"]) == len(summary)


def test_best_model_is_the_backtest_result(built):
    from clv.backtest import backtest

    summary = summarize(built["result"], observation_end=END, time_unit="week")
    margin = summary["margin"].sum() / summary["revenue"].sum()
    expected = backtest(built["result"], calibration_fraction=2 / 3, observation_end=END, time_unit="week",
                        margin=margin, n_draws=100)
    page = built["page"]
    assert page.metrics["best_model"] == predictor_label(expected.best)  # the name for people: 'BG/NBD'
    predictors = [row[0] for row in page.tables["accuracy#0"]]
    assert sorted(predictors) == sorted(map(predictor_label, expected.metrics["predictor"]))


def test_sections_agree_with_each_other(built):
    metrics = built["page"].metrics
    assert metrics["equity_before"] == metrics["customer_equity"]  # what-if baseline = sum of the scores' CLV
    playbook = built["page"].tables["playbook#0"]
    assert sum(as_number(row[1]) for row in playbook) == as_number(metrics["customers"])
    spend = built["store"].acquisition_spend_frame()
    assert as_number(metrics["total_spend"]) == pytest.approx(spend["spend"].sum(), abs=1)
    assert as_number(metrics["channels"]) == spend["channel"].nunique()


def test_what_if_grid_equals_clv_whatif(built):
    from clv.models.bgnbd import BetaGeoModel
    from clv.models.gammagamma import GammaGammaModel
    from clv.whatif import Scenario, what_if

    summary = summarize(built["result"], observation_end=END, time_unit="week")
    bgnbd = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    spend = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    expected = what_if(built["result"].orders, Scenario(churn=-0.10), transaction_model=bgnbd, spend_model=spend,
                       time_unit="week", horizon=52, observation_end=END).totals.iloc[0]
    rows = {(row[0], row[1]): row for row in built["page"].tables["whatif#0"]}
    assert as_number(rows[("churn", "-10%")][2]) == pytest.approx(expected["equity_before"], abs=0.51)
    assert as_number(rows[("churn", "-10%")][3]) == pytest.approx(expected["equity_after"], abs=0.51)
    assert as_number(rows[("average order value", "+10%")][5]) == pytest.approx(10.0)


def test_value_curves_by_tier_equal_the_value_curve_of_the_scored_customers(built):
    """Section 5b: per value tier (ranked by the scores' CLV), the customers, and the 12-month against the
    lifetime margin per customer, as clv.scores.value_curve gives them (the margin rate cancels in the ratio)."""
    from clv.models.gammagamma import GammaGammaModel
    from clv.models.ladder import fit_purchase_model
    from clv.scores import score_customers, value_curve
    from clv.segments.tiers import value_tiers

    page = built["page"]
    assert "value_curves" in page.figures
    summary = summarize(built["result"], observation_end=END, time_unit="week")
    purchases = fit_purchase_model(tuple(summary[c] for c in ("frequency", "recency", "T")), "bgnbd", time_unit="week")
    spend = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"], time_unit="week")
    scores = score_customers(summary, purchases, spend, horizon=52, intervals=None)
    curve = value_curve(summary, purchases, spend)
    tiers, _ = value_tiers(scores["clv"].to_numpy())
    rows = {row[0]: row for row in page.tables["value_curves#0"]}
    assert sum(as_number(row[1]) for row in rows.values()) == len(summary)
    for tier, row in rows.items():
        inside = tiers == tier
        assert as_number(row[1]) == inside.sum()
        expected = curve["value_12m"][inside].mean() / curve["value_lifetime"][inside].mean()
        assert as_number(row[3]) / as_number(row[5]) == pytest.approx(expected, rel=3e-3)
        assert as_number(row[2]) <= as_number(row[3]) <= as_number(row[4]) <= as_number(row[5])


def test_channel_table_finds_the_true_cac(built):
    truth = built["store"].truth["channels"]
    rows = {row[0]: row for row in built["page"].tables["channels#0"]}
    for name, channel in truth.items():
        assert as_number(rows[name][3]) == pytest.approx(channel["cac"], abs=0.01)


def test_every_chart_has_a_reading_and_plotly_is_embedded_once(built):
    page, html = built["page"], built["html"]
    assert len(page.figures) >= 12
    assert len(page.readings) == len(page.figures)
    assert all(len(text) > 20 for text in page.readings)
    assert html.count("* plotly.js v") == 1
    assert sum("Plotly.newPlot" in script for script in page.scripts) == len(page.figures)


def test_report_is_self_contained(built):
    page, html = built["page"], built["html"]
    assert page.references == []  # no script src, link href or img src at all
    from clv.report.figures import plotly_js

    ours = html.replace(plotly_js(), "")  # plotly.js itself names its CDN (geo maps' topojson, unused here)
    assert len(ours) < len(html) - 1_000_000
    assert "@import" not in ours and "url(" not in ours
    assert "http://" not in ours and "https://" not in ours.replace('xmlns="http', "")


def test_missing_inputs_are_said_plainly(tmp_path):
    frame = pd.DataFrame({"customer_id": ["a", "b"], "order_ts": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                          "amount": [10.0, 20.0]})
    ctx = ReportContext(source=frame, spend=None, survey=None, unit="week", horizon=52, calibration_end=None,
                        margin=None, observation_end="2024-03-31")
    sections = [channels(ctx), nps(ctx)]
    assert "No acquisition spend" in sections[0].missing
    assert "No survey" in sections[1].missing
    parser = ReportParser()
    parser.feed(render(sections, ctx, "t"))
    assert set(parser.missing) == {"channels", "nps"}
    assert "--spend" in parser.missing["channels"] and "--survey" in parser.missing["nps"]


def test_unmapped_columns_are_said_plainly(built):
    """Canonical columns exist but are null when not mapped: no cost -> revenue note, no channel -> section says so."""
    orders = built["result"].orders.mutate(cost=ibis.null("float64"), channel=ibis.null("string"))
    ctx = ReportContext(source=orders, spend=built["store"].acquisition_spend_frame(), survey=None, unit="week",
                        horizon=52, calibration_end=None, margin=None, observation_end=END)
    assert "no channel column" in channels(ctx).missing
    assert ctx.margin_rate == 1.0 and ctx.margin_argument == 1.0
    assert "revenue, not gross margin" in ctx.notes[0]


def test_a_failing_section_says_why_instead_of_breaking_the_report(tmp_path):
    frame = pd.DataFrame({"customer_id": ["a"], "order_ts": pd.to_datetime(["2024-01-01"]), "amount": [10.0]})
    path = build_report(frame, path=tmp_path / "r.html", observation_end="2024-01-31")
    parser = ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    assert parser.sections == SECTION_KEYS
    assert "load report" in parser.missing["data"]
    assert "no product column" in parser.missing["crosssell"]
    assert any("could not be computed" in text for text in parser.missing.values())


def test_bad_arguments_are_refused():
    from clv.errors import DataError

    with pytest.raises(DataError, match="time_unit"):
        build_report(pd.DataFrame(), time_unit="fortnight")
    with pytest.raises(DataError, match="margin"):
        build_report(pd.DataFrame(), margin=1.5)


# the synthetic survey --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def truth(built):
    return built["store"].customers_frame()


def test_survey_is_seedable_and_valid(truth):
    first = simulate_survey(truth, end=END, seed=5)
    assert first.equals(simulate_survey(truth, end=END, seed=5))
    assert not first.equals(simulate_survey(truth, end=END, seed=6))
    assert list(first.columns) == ["customer_id", "date", "score"]
    assert first["score"].between(0, 10).all() and first["score"].dtype == np.int64
    acquired = first.merge(truth[["customer_id", "acquired_at"]], on="customer_id")["acquired_at"]
    assert (first["date"].to_numpy() >= acquired.dt.normalize().to_numpy()).all()
    assert first["date"].max() <= pd.Timestamp(END)


def test_survey_answers_follow_the_true_purchase_rate(truth):
    answers = simulate_survey(truth, end=END, seed=1, response_rate=1.0).merge(truth, on="customer_id")
    promoters = answers.loc[answers["score"] >= 9, "lambda"]
    detractors = answers.loc[answers["score"] <= 6, "lambda"]
    assert np.log(promoters).mean() > np.log(detractors).mean() + 0.5


def test_survey_refuses_a_frame_without_truth():
    from clv.errors import DataError

    with pytest.raises(DataError, match="customers has no column"):
        simulate_survey(pd.DataFrame({"customer_id": [1]}), end=END)


# the command line -------------------------------------------------------------------------------

def test_cli_report_writes_the_file(built, tmp_path):
    from clv.cli.main import app

    store = built["store"]
    spend = tmp_path / "spend.csv"
    store.acquisition_spend_frame().to_csv(spend, index=False)
    output = tmp_path / "out" / "report.html"
    args = ["report", str(store.orders_path), "--col", "order_id=order_id", "--col", "channel=channel",
            "--col", "cost=cost", "--spend", str(spend), "--observation-end", END, "--time-unit", "week",
            "--horizon", "26", "--output", str(output)]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    parser = ReportParser()
    parser.feed(output.read_text(encoding="utf-8"))
    assert parser.sections == SECTION_KEYS
    # product_id is read by its canonical name without mapping; no survey was given
    assert set(parser.missing) == {"nps"}
    assert "26 weeks" in output.read_text(encoding="utf-8")


def test_cli_report_names_a_missing_spend_file(built, tmp_path):
    from clv.cli.main import app

    outcome = CliRunner().invoke(app, ["report", str(built["store"].orders_path), "--spend", str(tmp_path / "no.csv")])
    assert outcome.exit_code == 2
    assert "--spend" in outcome.output


def test_demo_writes_the_report(tmp_path):
    from clv.cli.main import app

    outcome = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path), "--customers", "600", "--seed", "4"])
    assert outcome.exit_code == 0, outcome.output
    report = tmp_path / "report.html"
    assert report.exists() and "report.html" in outcome.output
    assert {"spend.csv", "survey.csv", "scores.csv"} <= {p.name for p in tmp_path.iterdir()}
    parser = ReportParser()
    parser.feed(report.read_text(encoding="utf-8"))
    assert parser.sections == SECTION_KEYS and parser.missing == {}


def test_the_classic_formula_reading_names_the_period_it_was_computed_per():
    """A history too short for a yearly churn (13 months here) is read per shorter period, and the sentence says
    which (it said "a year" whatever the period)."""
    from clv.report.context import ReportContext
    from clv.report.sections import kpis

    orders = pd.DataFrame({
        "customer_id": [str(i % 40) for i in range(400)],
        "order_ts": pd.Timestamp("2024-01-01") + pd.to_timedelta([(i * 7) % 400 for i in range(400)], unit="D"),
        "amount": [10.0 + i % 7 for i in range(400)],
    })
    ctx = ReportContext(source=orders, spend=None, survey=None, unit="week", horizon=52, calibration_end=None,
                        margin=0.3, observation_end=None)
    section = kpis(ctx)
    period = section.intro.split("churn per ")[1].split(".")[0]
    sentence = next(f for f in section.findings if f.startswith("An average customer orders"))
    assert period in ("quarter", "month")
    assert f" times a {period} at " in sentence and f"of a {period}'s buyers do not buy the next {period}" in sentence


def test_large_refunds_are_named_with_their_clv_after_netting(built):
    """Section 1b names the largely refunded customers, largest refund first, with their CLV after netting."""
    summary = summarize(built["result"], observation_end=END, time_unit="week")
    flagged = summary.largely_refunded()
    rows = built["page"].tables["large_refunds#0"]
    assert len(flagged) > 0 and len(rows) == min(5, len(flagged))
    assert [row[0] for row in rows] == flagged["customer_id"].astype(str).head(5).tolist()
    assert all(row[-1] and row[-2] for row in rows)  # predicted CLV and its rank are stated


def test_demo_top_ten_table_leaves_out_a_refund_flag_nobody_in_it_has(tmp_path):
    """The flag column is printed only when a top customer is flagged; else it took a page of 'False' of its own."""
    from clv.cli.main import app

    outcome = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path), "--customers", "600", "--seed", "4"])
    assert outcome.exit_code == 0, outcome.output
    top = outcome.output[outcome.output.index("5. top 10 customers"):]
    top = top[:top.index("customers scored")]
    flagged = pd.read_csv(tmp_path / "scores.csv").nlargest(10, "clv")["largely_refunded"].any()
    assert ("largely_refunded" in top) == bool(flagged)
