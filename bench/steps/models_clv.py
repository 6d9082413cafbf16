"""clv's model steps on a per-customer summary file (run in the project's venv).

Tasks (``--task``), each timed without the file read:

* ``bgnbd`` / ``paretonbd``: fit on frequency, recency, T (days);
* ``gammagamma``: fit on the repeat customers' frequency, monetary_value;
* ``score``: BG/NBD and Gamma-Gamma fitted first (untimed), then every
  customer's P(alive), expected purchases and CLV over ``--horizon`` days with
  80% and 95% intervals (``score_customers``), discounted per 30-day step
  as lifetimes does (its ``discount_rate`` per month as an annual rate);
* ``end_to_end``: order file (``--orders``) -> load_orders + summarize ->
  BG/NBD and Gamma-Gamma fits -> every customer's CLV (no intervals).

``--output``: fitted parameters (JSON) or per-customer scores (Parquet).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from _common import Phases, parser, write_result
from clv.data import load_orders
from clv.models.bgnbd import BetaGeoModel
from clv.models.gammagamma import GammaGammaModel
from clv.models.paretonbd import ParetoNBDModel
from clv.scores import customer_lifetime_value, score_customers

try:
    from clv.summary import summarize
except ImportError:  # before the package re-exports it
    from clv.summary.customers import summarize

MODELS = {"bgnbd": BetaGeoModel, "paretonbd": ParetoNBDModel}


STEP_DAYS = 30.0  # lifetimes' CLV month


def annual_rate(monthly: float) -> float:
    """The annual rate (365.25-day years) that discounts a 30-day step by ``1 + monthly``, as lifetimes does."""
    return (1 + monthly) ** (365.25 / STEP_DAYS) - 1


def fit_transactions(task: str, s: pd.DataFrame):
    return MODELS[task]().fit(s["frequency"], s["recency"], s["T"])


def fit_spend(s: pd.DataFrame) -> GammaGammaModel:
    repeat = s[s["frequency"] > 0]
    return GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=["bgnbd", "paretonbd", "gammagamma", "score", "end_to_end"], required=True)
    p.add_argument("--summary")
    p.add_argument("--orders")
    p.add_argument("--horizon", type=float, default=360.0, help="days (12 lifetimes months)")
    p.add_argument("--monthly-discount", type=float, default=0.01)
    p.add_argument("--output")
    args = p.parse_args()
    phases = Phases()
    info: dict = {}
    if args.task == "end_to_end":
        with phases("summary"):
            s = summarize(load_orders(args.orders), time_unit="day", totals=False)  # the model inputs only
        with phases("fit"):
            bg, gg = fit_transactions("bgnbd", s), fit_spend(s)
        with phases("clv"):
            value = customer_lifetime_value(
                bg, gg, s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy(),
                s["monetary_value"].to_numpy(), horizon=args.horizon, time_unit="day",
                discount_rate=annual_rate(args.monthly_discount), discount_step=STEP_DAYS,
            )
        info = {"customers": len(s), "total_clv": float(np.sum(value)), "params": {**bg.params_, **gg.params_}}
    else:
        s = pd.read_parquet(args.summary)
        if args.task in MODELS:
            with phases("fit"):
                model = fit_transactions(args.task, s)
            info = {"params": model.params_, "customers": len(s), "distinct_rows": model.n_distinct_}
        elif args.task == "gammagamma":
            with phases("fit"):
                model = fit_spend(s)
            info = {"params": model.params_, "customers": int((s["frequency"] > 0).sum())}
        else:
            bg, gg = fit_transactions("bgnbd", s), fit_spend(s)
            with phases("score"):
                scores = score_customers(
                    s, bg, gg, horizon=args.horizon, time_unit="day",
                    discount_rate=annual_rate(args.monthly_discount), discount_step=STEP_DAYS,
                    intervals=(0.8, 0.95),
                )
            info = {"params": {**bg.params_, **gg.params_}, "customers": len(scores),
                    "interval_columns": [c for c in scores.columns if "_q" in c]}
            if args.output:
                scores.to_parquet(args.output, index=False)
    if args.output and "params" in info and args.task != "score":
        with open(args.output, "w") as handle:
            json.dump(info["params"], handle)
    elif args.output and args.task == "score":
        with open(args.output + ".params.json", "w") as handle:
            json.dump(info["params"], handle)
    write_result(args.result, phases, **info)


if __name__ == "__main__":
    main()
