"""lifetimes 0.11.3's holdout-accuracy steps on a calibration summary file (run in the lifetimes venv).

Same tasks and inputs as accuracy_clv.py:

* ``bgnbd`` / ``paretonbd`` / ``mbgnbd``: BetaGeoFitter / ParetoNBDFitter /
  ModifiedBetaGeoFitter fit on frequency, recency, T, then ``conditional_expected_number_of_purchases_up_to_time``
  over ``--horizon`` for every customer;
* ``gammagamma``: GammaGammaFitter on the repeat buyers with a positive mean
  spend, then ``conditional_expected_average_profit`` for every customer
  (customers with x = 0 or m <= 0 passed as x = 0: the population mean).

lifetimes' defaults are used (no penalizer). A fit that raises is recorded as
``fit_error`` with its message.
"""

from __future__ import annotations

import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

from _common import Phases, parser, write_result

FITTERS = {"bgnbd": BetaGeoFitter, "paretonbd": ParetoNBDFitter, "mbgnbd": ModifiedBetaGeoFitter}


def spend_inputs(s: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    usable = (s["frequency"] > 0) & (s["monetary_value"] > 0)
    return s["frequency"].where(usable, 0), s["monetary_value"].where(usable, 0.0)


def run(task: str, s: pd.DataFrame, horizon: float, phases: Phases) -> tuple[pd.Series, dict]:
    if task in FITTERS:
        with phases("fit"):
            model = FITTERS[task]().fit(s["frequency"], s["recency"], s["T"])
        with phases("predict"):
            predicted = model.conditional_expected_number_of_purchases_up_to_time(
                horizon, s["frequency"], s["recency"], s["T"])
        return pd.Series(predicted), model.params_.to_dict()
    x, m = spend_inputs(s)
    with phases("fit"):
        model = GammaGammaFitter().fit(x[x > 0], m[x > 0])
    with phases("predict"):
        predicted = model.conditional_expected_average_profit(x, m)
    return pd.Series(predicted), model.params_.to_dict()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=[*FITTERS, "gammagamma"], required=True)
    p.add_argument("--calibration", required=True)
    p.add_argument("--horizon", type=float, required=True)
    p.add_argument("--output", required=True)
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
    pd.DataFrame({"customer_id": s["customer_id"], "prediction": pd.Series(predicted).to_numpy(float)}).to_parquet(
        args.output, index=False)
    write_result(args.result, phases, params={k: float(v) for k, v in params.items()}, customers=len(s))


if __name__ == "__main__":
    main()
