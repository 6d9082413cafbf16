"""pymc-marketing's model steps on a per-customer summary file (run in the pymc-marketing venv).

Same summary file and tasks as models_clv.py / models_lifetimes.py, each timed
without the file read:

* ``bgnbd`` / ``paretonbd`` / ``gammagamma``: ``BetaGeoModel`` /
  ``ParetoNBDModel`` / ``GammaGammaModel`` (Gamma-Gamma on the repeat
  customers) with their default priors, ``fit(method="map")``: the maximum a
  posteriori point found by ``pymc.find_MAP`` (phases: ``build`` = the PyMC
  model, ``fit`` = PyTensor compilation + optimisation). BG/NBD's and
  Pareto/NBD's default priors are proper (Weibull, Pareto, Uniform), so their
  MAP is not the maximum likelihood estimate; Gamma-Gamma's are HalfFlat, so its
  MAP is the MLE;
* ``bgnbd_mcmc``: the default fit, NUTS (``pymc.sample``), with a short run
  given by ``--draws``, ``--tune``, ``--chains`` (chains run one after the
  other in this process, so its peak memory is the whole fit's); parameters
  reported are the posterior means;
* ``score``: the models are built (untimed) and given clv's fitted parameters
  (``--params``) as a one-draw posterior, so the per-customer check compares
  formulas, as for lifetimes; timed: every customer's
  ``expected_probability_alive``, ``expected_purchases`` over ``--horizon``
  days and ``GammaGammaModel.expected_customer_lifetime_value`` (lifetimes'
  conventions: ``--months`` steps of 30 days, ``--monthly-discount``).

Fit checks need more than a parameter difference, because a MAP is expected to
differ from the MLE by the prior's pull. With ``--mle`` (clv's fitted
parameters) the step also evaluates, untimed, the model's log-likelihood and
log-prior (``jacobian=False``: densities of the parameters themselves, as
find_MAP optimises) at both points. Since the MAP maximises likelihood + prior,
``loglik(MLE) - loglik(MAP) <= logprior(MAP) - logprior(MLE)`` holds whenever
both optimisers found their optimum; the driver reports both sides.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ParetoNBDModel

from _common import Phases, parser, write_result

MODELS = {"bgnbd": BetaGeoModel, "bgnbd_mcmc": BetaGeoModel, "paretonbd": ParetoNBDModel,
          "gammagamma": GammaGammaModel}
PARAMS = {"bgnbd": ("r", "alpha", "a", "b"), "paretonbd": ("r", "alpha", "s", "beta"),
          "gammagamma": ("p", "q", "v")}
PARAMS["bgnbd_mcmc"] = PARAMS["bgnbd"]


def fit_data(task: str, s: pd.DataFrame) -> pd.DataFrame:
    """The columns a model takes; Gamma-Gamma only on repeat customers (monetary_value > 0)."""
    if task == "gammagamma":
        return s.loc[s["frequency"] > 0, ["customer_id", "frequency", "monetary_value"]]
    return s[["customer_id", "frequency", "recency", "T"]]


def fitted_params(task: str, model) -> dict[str, float]:
    """Posterior mean of each parameter (the MAP point itself for a MAP fit: one draw)."""
    return {k: float(model.fit_result[k].mean()) for k in PARAMS[task]}


def free_variable_values(task: str, params: dict[str, float]) -> dict[str, float]:
    """The model's free variables for given papers' parameters.

    The default BG/NBD samples phi_dropout = a / (a + b) and kappa_dropout = a + b.
    """
    if task.startswith("bgnbd"):
        a, b = params["a"], params["b"]
        return {"r": params["r"], "alpha": params["alpha"], "phi_dropout": a / (a + b), "kappa_dropout": a + b}
    return {k: params[k] for k in PARAMS[task]}


def log_densities(model, task: str, params: dict[str, float]) -> tuple[float, float]:
    """(log-likelihood, log-prior) of the PyMC model at ``params`` (no Jacobian, as find_MAP)."""
    pm_model = model.model
    values = free_variable_values(task, params)
    point = {}
    for rv in pm_model.free_RVs:
        value_var = pm_model.rvs_to_values[rv]
        transform = pm_model.rvs_to_transforms[rv]
        x = np.asarray(values[rv.name], dtype=float)
        point[value_var.name] = transform.forward(x, *rv.owner.inputs).eval() if transform is not None else x
    total = float(pm_model.compile_logp(jacobian=False)(point))
    prior = float(pm_model.compile_logp(vars=pm_model.free_RVs, jacobian=False)(point))
    return total - prior, prior


def one_draw_posterior(params: dict[str, float]):
    """An InferenceData whose posterior is one chain and one draw holding ``params``."""
    import arviz as az

    return az.from_dict(posterior={k: np.array([[v]]) for k, v in params.items()})


def fit(task: str, s: pd.DataFrame, args, phases: Phases) -> dict:
    data = fit_data(task, s)
    model = MODELS[task]()
    with phases("build"):
        model.build_model(data)
    with phases("fit"):
        if task == "bgnbd_mcmc":
            model.fit(method="mcmc", draws=args.draws, tune=args.tune, chains=args.chains, cores=1,
                      random_seed=0, progressbar=False, compute_convergence_checks=False)
        else:
            model.fit(method="map", progressbar=False)
    params = fitted_params(task, model)
    info = {"params": params, "customers": len(data), "method": "mcmc" if task == "bgnbd_mcmc" else "map"}
    if task == "bgnbd_mcmc":
        info["sampler"] = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    if args.mle and Path(args.mle).exists():
        with open(args.mle) as handle:
            mle = json.load(handle)
        mle.setdefault("v", mle.get("gamma"))  # clv calls the papers' v "gamma"
        loglik_fit, logprior_fit = log_densities(model, task, params)
        loglik_mle, logprior_mle = log_densities(model, task, mle)
        info["densities"] = {"loglik_fit": loglik_fit, "logprior_fit": logprior_fit,
                             "loglik_mle": loglik_mle, "logprior_mle": logprior_mle}
    return info


def score(s: pd.DataFrame, args, phases: Phases) -> tuple[dict, pd.DataFrame]:
    with open(args.params) as handle:
        params = json.load(handle)
    params.setdefault("v", params.get("gamma"))
    data = s[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    bg, gg = BetaGeoModel(), GammaGammaModel()
    bg.build_model(data[["customer_id", "frequency", "recency", "T"]])
    gg.build_model(fit_data("gammagamma", s))
    bg.idata = one_draw_posterior({k: params[k] for k in PARAMS["bgnbd"]})
    gg.idata = one_draw_posterior({k: params[k] for k in PARAMS["gammagamma"]})
    with phases("score"):
        p_alive = bg.expected_probability_alive(data=data)
        expected = bg.expected_purchases(data=data, future_t=args.horizon)
        value = gg.expected_customer_lifetime_value(bg, data, future_t=args.months,
                                                    discount_rate=args.monthly_discount, time_unit="D")
    scores = pd.DataFrame({"customer_id": data["customer_id"].astype(str).to_numpy(),
                           "p_alive": p_alive.values.reshape(-1), "expected_purchases": expected.values.reshape(-1),
                           "clv": value.values.reshape(-1)})
    return {"customers": len(scores)}, scores


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=[*MODELS, "score"], required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--params", help="clv's fitted BG/NBD + Gamma-Gamma parameters, JSON (score task)")
    p.add_argument("--mle", help="clv's fitted parameters, JSON (skipped if missing): log-likelihood and "
                   "log-prior at both points")
    p.add_argument("--horizon", type=float, default=360.0, help="days, for expected purchases")
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--monthly-discount", type=float, default=0.01)
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--tune", type=int, default=200)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--output")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    phases = Phases()
    s = pd.read_parquet(args.summary)
    if args.task == "score":
        info, scores = score(s, args, phases)
        if args.output:
            scores.to_parquet(args.output, index=False)
    else:
        info = fit(args.task, s, args, phases)
        if args.output:
            with open(args.output, "w") as handle:
                json.dump(info["params"], handle)
    write_result(args.result, phases, **info)


if __name__ == "__main__":
    main()
