"""clv: every customer's CLV at 10 horizons, from a summary file in days (run with clv's Python).

* ``--task curve``: ONE call of ``clv.scores.value_curve`` (one pass over the customers x periods grid,
  36 periods of 30 days plus the whole lifetime); the 10 horizons are cumulative columns of it;
* ``--task loop``: ``clv.scores.score_customers`` once per horizon (what a user of the peers does).

Both with the fitted BG/NBD and Gamma-Gamma parameters of ``--params`` (so every tool scores the same
model), 30-day months and lifetimes' monthly discount rate as the equivalent annual rate, each month
discounted at its end (lifetimes' ``customer_lifetime_value`` convention).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from _common import Phases, parser, write_result

STEP_DAYS = 30.0  # lifetimes' CLV month
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))  # the clv of this checkout (the harness drops PYTHONPATH)


def annual_rate(monthly: float) -> float:
    """The annual rate (365.25-day years) that discounts a 30-day step by ``1 + monthly``, as lifetimes does."""
    return (1.0 + monthly) ** (365.25 / STEP_DAYS) - 1.0


def models(params: dict):
    from clv.models import BetaGeoModel, GammaGammaModel

    purchases, spend = BetaGeoModel(), GammaGammaModel()
    purchases.params_ = {k: params[k] for k in ("r", "alpha", "a", "b")}
    spend.params_ = {"p": params["p"], "q": params["q"], "gamma": params["v"]}
    purchases.time_unit_ = "day"
    return purchases, spend


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--task", choices=["curve", "loop"], required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--params", required=True)
    p.add_argument("--months", default="1,2,3,6,9,12,18,24,30,36")
    p.add_argument("--monthly-discount", type=float, default=0.01)
    p.add_argument("--output")
    args = p.parse_args()
    months = [int(m) for m in args.months.split(",")]
    import scipy.special  # noqa: F401  (the models' lazy import, paid before timing as lifetimes pays its own)

    from clv.scores.curves import value_curve
    from clv.scores.score import score_customers

    phases = Phases()
    summary = pd.read_parquet(args.summary)
    with open(args.params) as handle:
        purchases, spend = models(json.load(handle))
    rate = annual_rate(args.monthly_discount)
    columns = {}
    if args.task == "curve":
        with phases("curve"):
            curve = value_curve(summary, purchases, spend, time_unit="day", step=STEP_DAYS, periods=max(months),
                                discount_rate=rate)
            cumulative = curve.cumulative("value")
        columns = {f"clv_{m}": cumulative[:, m - 1] for m in months}
        columns["clv_lifetime"] = curve["value_lifetime"].to_numpy()
    else:
        with phases("loop"):
            for m in months:
                scores = score_customers(summary, purchases, spend, horizon=m * STEP_DAYS, time_unit="day",
                                         discount_rate=rate, discount_step=STEP_DAYS, intervals=None)
                columns[f"clv_{m}"] = scores["clv"].to_numpy()
    if args.output:
        pd.DataFrame({"customer_id": summary["customer_id"].astype(str), **columns}).to_parquet(args.output, index=False)
    write_result(args.result, phases, customers=len(summary), horizons=len(months),
                 total_clv_12=float(np.sum(columns.get("clv_12", 0.0))))


if __name__ == "__main__":
    main()
