"""Every command fits its purchase model through the model ladder: CLI note and exit codes, saved JSON, backtest,
what-if, report context (Online Retail, where the data show no churn, and CDNOW, where they do)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from clv.cli.main import app
from clv.models import NBDModel, load_model
from clv.models.ladder import fit_purchase_model

from conftest import DATA

CDNOW = DATA / "cdnow_customers_summary.csv"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def retail_summary(online_retail_summaries, tmp_path_factory):
    path = tmp_path_factory.mktemp("ladder") / "summary.parquet"
    online_retail_summaries["2011-09-08", True].to_parquet(path)
    return path


def test_clv_fit_notes_the_fallback_and_saves_choice_and_verdict(retail_summary, tmp_path):
    saved = tmp_path / "model.json"
    result = run("fit", retail_summary, "--model", "bgnbd", "--save", saved)
    assert result.exit_code == 0, result.output
    assert "model NBD (no dropout) used instead of BG/NBD" in result.stderr
    assert "data sufficient for nbd" in result.stderr
    payload = json.loads(saved.read_text())
    assert payload["model"] == "nbd" and payload["model_choice"]["requested"] == "bgnbd"
    assert payload["sufficiency"]["verdict"] == "sufficient"
    model = load_model(saved)
    assert isinstance(model, NBDModel) and model.model_choice_.fell_back
    scored = run("score", retail_summary, "--model", saved, "--horizon", "13", "--intervals", "none", "--format", "json")
    assert scored.exit_code == 0, scored.output


def test_clv_fit_no_fallback_refusal_exits_2_in_one_line(retail_summary):
    result = run("fit", retail_summary, "--model", "bgnbd", "--no-fallback")
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "do not identify" in result.stderr
    assert "model nbd" in result.stderr  # the refusal names the simpler model


def test_clv_fit_json_on_cdnow_keeps_bgnbd_and_says_why():
    result = run("fit", CDNOW, "--model", "bgnbd", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "bgnbd" and report["model_choice"]["used"] == "bgnbd"
    assert report["model_choice"]["p_value"] < 1e-50
    assert "model BG/NBD: the data show churn" in result.stderr


def test_backtest_lists_a_fallen_back_request_once_as_nbd(online_retail_summaries):
    from clv.backtest.run import _fit_transaction_model

    notes: list[str] = []
    data = online_retail_summaries["2011-06-30", True]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _fit_transaction_model("mbgnbd", data, "week", notes)
    assert model.model_name == "nbd"
    assert notes and notes[0].startswith("model mbgnbd fell back to nbd:")


def test_what_if_runs_on_the_nbd(online_retail_summaries):
    from clv.whatif import ScenarioModel

    data = online_retail_summaries["2011-06-30", True]
    nbd = fit_purchase_model(data, "bgnbd")
    x, t_x, T = data.rfm()
    faster = ScenarioModel(nbd, frequency=0.1)
    np.testing.assert_allclose(faster.expected_purchases(13.0, x, t_x, T), 1.1 * nbd.expected_purchases(13.0, x, t_x, T))
    churn = ScenarioModel(nbd, churn=0.1)  # no churn to change: no effect
    np.testing.assert_allclose(churn.expected_purchases(13.0, x, t_x, T), nbd.expected_purchases(13.0, x, t_x, T))
    draws = faster.sample_future_purchases(13.0, x, t_x, T, rng=0)
    assert np.all(np.isfinite(draws)) and draws.mean() == pytest.approx(faster.expected_purchases(13.0, x, t_x, T).mean(), rel=0.1)
