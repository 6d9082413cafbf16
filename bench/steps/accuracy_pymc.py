"""pymc-marketing's holdout-accuracy steps on a calibration summary file (run in the pymc-marketing venv).

Same tasks and inputs as accuracy_clv.py / accuracy_lifetimes.py, each model
with its default priors and ``fit(method="map")`` (``pymc.find_MAP``: the
maximum a posteriori point, cheap; the per-customer predictions are then the
MAP's, a one-draw posterior):

* ``bgnbd`` / ``paretonbd`` / ``mbgnbd``: ``BetaGeoModel`` / ``ParetoNBDModel``
  / ``ModifiedBetaGeoModel`` on customer_id, frequency, recency, T (weeks),
  then every customer's ``expected_purchases(future_t=--horizon)``;
* ``gammagamma``: ``GammaGammaModel`` on the repeat buyers with a positive
  mean spend, then every customer's ``expected_customer_spend`` (customers
  with x = 0 or m <= 0 passed as x = 0, m = 0: the population mean, as for the
  other tools).

Phases: ``fit`` = building the PyMC model + compilation + optimisation (the
whole cost a user pays for a MAP fit), ``predict``. A fit that raises is
recorded as ``fit_error`` with its message.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel

from _common import Phases, parser, write_result

MODELS = {"bgnbd": BetaGeoModel, "paretonbd": ParetoNBDModel, "mbgnbd": ModifiedBetaGeoModel}
PARAMS = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"),
          "paretonbd": ("r", "alpha", "s", "beta"), "gammagamma": ("p", "q", "v")}


def spend_inputs(s: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    usable = (s["frequency"] > 0) & (s["monetary_value"] > 0)
    return s["frequency"].where(usable, 0), s["monetary_value"].where(usable, 0.0)


def point(values) -> np.ndarray:
    """The one-draw posterior's per-customer values as a flat array (customers in the input's order)."""
    array = values.transpose(..., "customer_id") if "customer_id" in values.dims else values
    return np.asarray(array.values, float).reshape(-1)


def params_of(task: str, model) -> dict[str, float]:
    posterior = model.idata.posterior
    return {k: float(posterior[k].mean()) for k in PARAMS[task] if k in posterior}


def run(task: str, s: pd.DataFrame, horizon: float, phases: Phases) -> tuple[np.ndarray, dict]:
    if task in MODELS:
        data = s[["customer_id", "frequency", "recency", "T"]]
        with phases("fit"):
            model = MODELS[task](data=data)
            model.fit(method="map", progressbar=False)
        with phases("predict"):
            predicted = point(model.expected_purchases(data=data, future_t=horizon))
        return predicted, params_of(task, model)
    x, m = spend_inputs(s)
    repeat = pd.DataFrame({"customer_id": s["customer_id"], "frequency": x, "monetary_value": m})[x > 0]
    with phases("fit"):
        model = GammaGammaModel(data=repeat)
        model.fit(method="map", progressbar=False)
    with phases("predict"):
        everyone = pd.DataFrame({"customer_id": s["customer_id"], "frequency": x, "monetary_value": m})
        predicted = point(model.expected_customer_spend(data=everyone))
    return predicted, params_of(task, model)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=[*MODELS, "gammagamma"], required=True)
    p.add_argument("--calibration", required=True)
    p.add_argument("--horizon", type=float, required=True)
    p.add_argument("--output", required=True)
    args = p.parse_args()
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    s = pd.read_parquet(args.calibration)
    phases = Phases()
    start = time.perf_counter()
    try:
        predicted, params = run(args.task, s, args.horizon, phases)
    except Exception as exc:  # noqa: BLE001 - any failed fit is a result to report, with its message
        phases.seconds.setdefault("fit", time.perf_counter() - start)
        write_result(args.result, phases, fit_error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
                     customers=len(s))
        return
    pd.DataFrame({"customer_id": s["customer_id"], "prediction": predicted}).to_parquet(args.output, index=False)
    write_result(args.result, phases, params=params, customers=len(s), method="map")


if __name__ == "__main__":
    main()
