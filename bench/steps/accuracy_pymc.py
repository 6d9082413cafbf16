"""pymc-marketing's holdout-accuracy steps on a calibration summary file (run in the pymc-marketing venv).

Same tasks and inputs as accuracy_clv.py / accuracy_lifetimes.py, each model
with its default priors and ``fit(method="map")`` (``pymc.find_MAP``: the
maximum a posteriori point, cheap; the per-customer predictions are then the
MAP's, a one-draw posterior):

* ``bgnbd`` / ``paretonbd`` / ``mbgnbd``: ``BetaGeoModel`` / ``ParetoNBDModel``
  / ``ModifiedBetaGeoModel`` on customer_id, frequency, recency, T (weeks),
  then every customer's ``expected_purchases(future_t=--horizon)``;
* ``bgnbd_cov`` / ``paretonbd_cov``: the same BG/NBD and Pareto/NBD with static
  covariates (``--covariates``: a Parquet file of customer_id and numeric
  columns) on both the purchase and the dropout process
  (``purchase_covariate_cols`` = ``dropout_covariate_cols`` = every covariate
  column; default priors of the coefficients);
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

MODELS = {"bgnbd": BetaGeoModel, "paretonbd": ParetoNBDModel, "mbgnbd": ModifiedBetaGeoModel,
          "bgnbd_cov": BetaGeoModel, "paretonbd_cov": ParetoNBDModel}
PARAMS = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"), "bgnbd_cov": ("r", "alpha", "a", "b"),
          "paretonbd_cov": ("r", "alpha", "s", "beta"),
          "paretonbd": ("r", "alpha", "s", "beta"), "gammagamma": ("p", "q", "v")}


def spend_inputs(s: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    usable = (s["frequency"] > 0) & (s["monetary_value"] > 0)
    return s["frequency"].where(usable, 0), s["monetary_value"].where(usable, 0.0)


def point(values) -> np.ndarray:
    """The one-draw posterior's per-customer values as a flat array (customers in the input's order)."""
    array = values.transpose(..., "customer_id") if "customer_id" in values.dims else values
    return np.asarray(array.values, float).reshape(-1)


def params_of(task: str, model) -> dict[str, float]:
    """The MAP's parameters: the papers' scalars, and each covariate coefficient as ``<name>[<covariate>]``."""
    out = {}
    for name, var in model.idata.posterior.data_vars.items():
        dims = [d for d in var.dims if d not in ("chain", "draw")]
        if name in PARAMS[task] and not dims:
            out[name] = float(var.mean())
        elif "coefficient" in name and len(dims) == 1:
            values = var.mean(("chain", "draw")).values
            out.update({f"{name}[{label}]": float(v) for label, v in zip(var[dims[0]].values, values)})
    return out


def run(task: str, s: pd.DataFrame, horizon: float, phases: Phases, covariates: pd.DataFrame | None = None
        ) -> tuple[np.ndarray, dict]:
    if task in MODELS:
        data = s[["customer_id", "frequency", "recency", "T"]]
        config = None
        if task.endswith("_cov"):
            if covariates is None:
                raise ValueError(f"task {task} needs --covariates")
            data = data.merge(covariates, on="customer_id", how="left", validate="one_to_one")
            columns = [c for c in covariates.columns if c != "customer_id"]
            if data[columns].isna().any().any():
                raise ValueError("a calibration customer has no covariate row")
            config = {"purchase_covariate_cols": columns, "dropout_covariate_cols": columns}
        with phases("fit"):
            model = MODELS[task](data=data, model_config=config)
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
    p.add_argument("--covariates", help="Parquet: customer_id and numeric covariate columns (the *_cov tasks)")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    s = pd.read_parquet(args.calibration)
    phases = Phases()
    start = time.perf_counter()
    try:
        covariates = None
        if args.covariates:
            covariates = pd.read_parquet(args.covariates)
            covariates["customer_id"] = covariates["customer_id"].astype(s["customer_id"].dtype)
        predicted, params = run(args.task, s, args.horizon, phases, covariates)
    except Exception as exc:  # noqa: BLE001 - any failed fit is a result to report, with its message
        phases.seconds.setdefault("fit", time.perf_counter() - start)
        write_result(args.result, phases, fit_error=f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
                     customers=len(s))
        return
    pd.DataFrame({"customer_id": s["customer_id"], "prediction": predicted}).to_parquet(args.output, index=False)
    write_result(args.result, phases, params=params, customers=len(s), method="map")


if __name__ == "__main__":
    main()
