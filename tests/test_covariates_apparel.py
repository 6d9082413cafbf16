"""The first real test of static covariates: CLVTools' apparel data (gender, channel), in Python and on the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clv.cli.main import app
from clv.models import BetaGeoModel, ModifiedBetaGeoModel
from clv.models.ladder import fit_purchase_model
from clv.models.ladder import likelihood_ratio_test
from clv.summary import attach_covariates, summarize

DATA = Path(__file__).parent / "data"
CALIBRATION_END = "2007-12-31"  # half the span (as tests/test_backtest_champion.py); 40 weeks show no churn


@pytest.fixture(scope="module")
def apparel():
    raw = pd.read_csv(DATA / "apparelTrans.csv")
    orders = pd.DataFrame({"customer_id": raw["Id"].astype(str), "order_ts": pd.to_datetime(raw["Date"]),
                           "amount": raw["Price"]})
    calibration = orders[orders["order_ts"] <= CALIBRATION_END]
    data = summarize(calibration, observation_end=CALIBRATION_END, time_unit="week")
    covariates = pd.read_csv(DATA / "apparelStaticCov.csv")
    return data, attach_covariates(data, covariates, ["Gender", "Channel"], id_column="Id")


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_apparel_gender_and_channel_have_finite_errors_and_improve_the_likelihood(apparel, model_class):
    plain_data, data = apparel
    assert len(data) == 600 and data.covariate_names == ("Gender", "Channel")
    with_covariates = model_class().fit(data)
    plain = model_class().fit(plain_data)
    assert all(math.isfinite(se) and se > 0 for se in with_covariates.standard_errors_.values())
    statistic = 2 * (with_covariates.log_likelihood_ - plain.log_likelihood_)
    p_value = float(__import__("scipy.special", fromlist=["chdtrc"]).chdtrc(4, statistic))
    assert statistic > 20 and p_value < 1e-3  # 4 coefficients, clearly better than without
    # Channel raises the purchase rate (alpha_i = alpha exp(-g x): g > 0), beyond two standard errors
    assert with_covariates.params_["trans[Channel]"] > 2 * with_covariates.standard_errors_["trans[Channel]"]
    assert likelihood_ratio_test(with_covariates.log_likelihood_, plain.log_likelihood_, 4)[0] == pytest.approx(statistic)


def test_the_ladder_keeps_the_covariates_when_the_data_show_churn(apparel):
    _, data = apparel
    fitted = fit_purchase_model(data, "bgnbd")
    assert fitted.model_name == "bgnbd" and fitted.covariate_names_ == ("Gender", "Channel")
    assert "fitted with the covariates ['Gender', 'Channel']" in fitted.model_choice_.reason
    assert not any("[" in p.name for p in fitted.sufficiency_.parameters)  # coefficients are read in the summary


def test_the_ladder_says_it_dropped_the_covariates_when_it_falls_back():
    from clv.models import NBDModel
    from clv.summary import CustomerData

    history = NBDModel().simulate(T=np.full(2000, 52.0), params={"r": 0.8, "alpha": 9.0}, rng=3)
    table = history.assign(customer_id=[f"c{i}" for i in range(2000)])
    data = CustomerData(table, time_unit="week", has_amounts=False)
    covariates = pd.DataFrame({"customer_id": table["customer_id"], "vip": np.arange(2000) % 2})
    fitted = fit_purchase_model(attach_covariates(data, covariates), "bgnbd")
    assert fitted.model_name == "nbd"
    assert "the covariates ['vip'] were dropped (the NBD takes none)" in fitted.model_choice_.reason


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_fit_and_score_with_covariates(apparel, tmp_path):
    plain_data, _ = apparel
    summary = plain_data.to_parquet(tmp_path / "apparel.parquet")
    covariates = DATA / "apparelStaticCov.csv"
    code, out, err = _cli("fit", summary, "--model", "bgnbd", "--covariates", covariates, "--covariate-cols",
                          "Gender,Channel", "--covariate-id", "Id", "--save", tmp_path / "m.json", "--format", "json")
    assert code == 0, err
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["covariates"]["names"] == ["Gender", "Channel"] and "trans[Channel]" in saved["params"]
    code, out, err = _cli("score", summary, "--model", tmp_path / "m.json", "--horizon", "52", "--covariates",
                          covariates, "--covariate-id", "Id", "--format", "csv", "--output", tmp_path / "s.csv")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "s.csv")
    assert len(scores) == 600 and scores["p_alive"].between(0, 1).all()
    code, _, err = _cli("score", summary, "--model", tmp_path / "m.json", "--horizon", "52")
    assert code == 2 and "give the same covariates file with --covariates FILE" in err and "Traceback" not in err
    code, _, err = _cli("fit", summary, "--model", "nbd", "--covariates", covariates, "--covariate-id", "Id")
    assert code == 2 and "model 'nbd' does not take covariates (models that do: bgnbd, mbgnbd" in err
    code, _, err = _cli("fit", summary, "--model", "bgnbd", "--covariates", covariates)
    assert code == 2 and "--covariate-id COL" in err
    code, _, err = _cli("fit", summary, "--model", "bgnbd", "--covariate-cols", "Gender")
    assert code == 2 and "--covariate-cols was given without --covariates" in err
