"""lifetimes 0.11.3's model steps on a per-customer summary file (run in the lifetimes venv).

Same tasks as models_clv.py, each timed without the file read:

* ``bgnbd`` / ``paretonbd``: BetaGeoFitter / ParetoNBDFitter fit (days);
* ``gammagamma``: GammaGammaFitter on the repeat customers;
* ``score``: with clv's fitted parameters (``--params``, so both sides score
  the same model), every customer's conditional_probability_alive,
  conditional_expected_number_of_purchases_up_to_time and
  customer_lifetime_value over the horizon (lifetimes has no intervals);
* ``end_to_end``: order file -> summary_data_from_transaction_data -> BG/NBD
  and Gamma-Gamma fits -> customer_lifetime_value of every customer.

CLV: ``time`` months of 30 days, ``discount_rate`` per month (lifetimes'
conventions; clv is given 30-day discount steps and the equivalent annual rate,
so both compute the same number).
"""

from __future__ import annotations

import json

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

from _common import Phases, parser, write_result

FITTERS = {"bgnbd": BetaGeoFitter, "paretonbd": ParetoNBDFitter}


def fit_spend(s: pd.DataFrame) -> GammaGammaFitter:
    repeat = s[s["frequency"] > 0]
    return GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])


def lifetime_value(bg, gg, s: pd.DataFrame, months: int, monthly_discount: float) -> pd.Series:
    return gg.customer_lifetime_value(
        bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
        time=months, discount_rate=monthly_discount, freq="D",
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=["bgnbd", "paretonbd", "gammagamma", "score", "end_to_end"], required=True)
    p.add_argument("--summary")
    p.add_argument("--orders")
    p.add_argument("--params", help="JSON of r, alpha, a, b, p, q, v (score task)")
    p.add_argument("--horizon", type=float, default=360.0, help="days, for expected purchases")
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--monthly-discount", type=float, default=0.01)
    p.add_argument("--output")
    args = p.parse_args()
    phases = Phases()
    info: dict = {}
    if args.task == "end_to_end":
        with phases("summary"):
            orders = pd.read_parquet(args.orders, columns=["customer_id", "order_ts", "amount"])
            s = summary_data_from_transaction_data(orders, "customer_id", "order_ts", monetary_value_col="amount",
                                                   freq="D")
        with phases("fit"):
            bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
            gg = fit_spend(s)
        with phases("clv"):
            value = lifetime_value(bg, gg, s, args.months, args.monthly_discount)
        info = {"customers": len(s), "total_clv": float(value.sum()),
                "params": {**bg.params_.to_dict(), **gg.params_.to_dict()}}
    else:
        s = pd.read_parquet(args.summary)
        if args.task in FITTERS:
            with phases("fit"):
                model = FITTERS[args.task]().fit(s["frequency"], s["recency"], s["T"])
            info = {"params": model.params_.to_dict(), "customers": len(s)}
        elif args.task == "gammagamma":
            with phases("fit"):
                model = fit_spend(s)
            info = {"params": model.params_.to_dict(), "customers": int((s["frequency"] > 0).sum())}
        else:
            with open(args.params) as handle:
                params = json.load(handle)
            bg, gg = BetaGeoFitter(), GammaGammaFitter()
            bg.params_ = pd.Series({k: params[k] for k in ("r", "alpha", "a", "b")})
            bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # what fit() would alias
            params.setdefault("v", params.get("gamma"))  # clv calls the papers' v "gamma"
            gg.params_ = pd.Series({k: params[k] for k in ("p", "q", "v")})
            with phases("score"):
                p_alive = bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
                expected = bg.conditional_expected_number_of_purchases_up_to_time(
                    args.horizon, s["frequency"], s["recency"], s["T"])
                value = lifetime_value(bg, gg, s, args.months, args.monthly_discount)
            info = {"customers": len(s)}
            if args.output:
                pd.DataFrame({"customer_id": s["customer_id"].astype(str), "p_alive": p_alive,
                              "expected_purchases": expected, "clv": value.to_numpy()}).to_parquet(args.output, index=False)
    if args.output and args.task != "score":
        with open(args.output, "w") as handle:
            json.dump(info["params"], handle)
    write_result(args.result, phases, **info)


if __name__ == "__main__":
    main()
