"""clv's holdout-accuracy steps on a calibration summary file (run in the project's venv).

Tasks (``--task``), each fitted on the same calibration file the peer reads:

* ``bgnbd`` / ``paretonbd`` / ``mbgnbd``: fit on frequency, recency, T (weeks) through the
  model ladder (``clv.models.ladder.fit_purchase_model``, as every clv command
  fits: the NBD without dropout where the data show no churn; the model used
  and why are recorded), then every customer's expected holdout purchases
  E[Y(H) | x, t_x, T] over ``--horizon``;
* ``gammagamma``: fit on the repeat buyers with a positive mean spend
  (frequency > 0 and monetary_value > 0), then every customer's expected spend
  per purchase E[M | x, m]; customers without a usable mean (x = 0, or m <= 0)
  get the population mean.

Phases ``fit`` and ``predict`` are timed, not the file read. A fit that fails
(clv raises) is recorded as ``fit_error`` with its message instead of
predictions, so the benchmark reports it rather than hiding it.
"""

from __future__ import annotations

import time

import pandas as pd

from _common import Phases, parser, write_result
# Imported before the timed fit, as lifetimes' step imports lifetimes (and with it SciPy) at the top:
# clv loads SciPy lazily, on the first fit, which would otherwise count its import as fit time.
import scipy.optimize, scipy.special  # noqa: E401,F401
import clv.models.bgnbd, clv.models.mbgnbd, clv.models.nbd, clv.models.paretonbd, clv.models.sufficiency  # noqa: E401,F401
from clv.models.gammagamma import GammaGammaModel
from clv.models.ladder import fit_purchase_model

TRANSACTION_MODELS = {"bgnbd": "bgnbd", "paretonbd": "pareto", "mbgnbd": "mbgnbd"}  # the bench's task -> clv's registry name


def spend_inputs(s: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """frequency and monetary_value with unusable means (m <= 0) treated as 'no repeat purchase'."""
    usable = (s["frequency"] > 0) & (s["monetary_value"] > 0)
    return s["frequency"].where(usable, 0), s["monetary_value"].where(usable, 0.0)


def run(task: str, s: pd.DataFrame, horizon: float, phases: Phases) -> tuple[pd.Series, dict]:
    if task in TRANSACTION_MODELS:
        with phases("fit"):
            model = fit_purchase_model((s["frequency"], s["recency"], s["T"]), TRANSACTION_MODELS[task],
                                       time_unit="week")
        with phases("predict"):
            predicted = model.expected_purchases(horizon, s["frequency"], s["recency"], s["T"])
        choice = model.model_choice_
        return pd.Series(predicted), {**model.params_, "model_used": choice.used, "model_choice": choice.reason}
    x, m = spend_inputs(s)
    with phases("fit"):
        model = GammaGammaModel().fit(x[x > 0], m[x > 0])
    with phases("predict"):
        predicted = model.expected_spend(x, m)
    params = dict(model.params_)
    params["v"] = params.pop("gamma")  # the papers' (and lifetimes') name of the scale parameter
    return pd.Series(predicted), params


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=[*TRANSACTION_MODELS, "gammagamma"], required=True)
    p.add_argument("--calibration", required=True, help="Parquet: customer_id, frequency, recency, T, monetary_value")
    p.add_argument("--horizon", type=float, required=True, help="holdout length, in the calibration file's unit")
    p.add_argument("--output", required=True, help="Parquet of customer_id, prediction")
    args = p.parse_args()
    s = pd.read_parquet(args.calibration)
    phases = Phases()
    start = time.perf_counter()
    try:
        predicted, params = run(args.task, s, args.horizon, phases)
    except Exception as exc:  # noqa: BLE001 - any failed fit is a result to report, with its message
        phases.seconds.setdefault("fit", time.perf_counter() - start)  # time spent until the fit gave up
        write_result(args.result, phases, fit_error=f"{type(exc).__name__}: {exc}", customers=len(s))
        return
    pd.DataFrame({"customer_id": s["customer_id"], "prediction": predicted.to_numpy(float)}).to_parquet(
        args.output, index=False)
    choice = {k: params.pop(k) for k in ("model_used", "model_choice") if k in params}
    write_result(args.result, phases, params={k: float(v) for k, v in params.items()}, customers=len(s), **choice)


if __name__ == "__main__":
    main()
