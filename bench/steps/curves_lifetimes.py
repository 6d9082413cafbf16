"""lifetimes 0.11.3: every customer's CLV at 10 horizons, one ``customer_lifetime_value`` call per horizon.

Run in the lifetimes venv, with clv's fitted BG/NBD and Gamma-Gamma parameters (``--params``), on the same
summary file (days): ``time`` months of 30 days, ``discount_rate`` per month, ``freq="D"``. lifetimes has no
value curve: a user who wants 3-, 12- and 36-month values calls it once per horizon, and each call sums
its months from the first again.
"""

from __future__ import annotations

import json

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

from _common import Phases, parser, write_result


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--summary", required=True)
    p.add_argument("--params", required=True)
    p.add_argument("--months", default="1,2,3,6,9,12,18,24,30,36")
    p.add_argument("--monthly-discount", type=float, default=0.01)
    p.add_argument("--output")
    args = p.parse_args()
    months = [int(m) for m in args.months.split(",")]
    s = pd.read_parquet(args.summary)
    with open(args.params) as handle:
        params = json.load(handle)
    bg, gg = BetaGeoFitter(), GammaGammaFitter()
    bg.params_ = pd.Series({k: params[k] for k in ("r", "alpha", "a", "b")})
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # what fit() would alias
    gg.params_ = pd.Series({k: params[k] for k in ("p", "q", "v")})
    phases = Phases()
    columns = {}
    with phases("loop"):
        for m in months:
            value = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
                                               time=m, discount_rate=args.monthly_discount, freq="D")
            columns[f"clv_{m}"] = value.to_numpy()
    if args.output:
        pd.DataFrame({"customer_id": s["customer_id"].astype(str), **columns}).to_parquet(args.output, index=False)
    write_result(args.result, phases, customers=len(s), horizons=len(months),
                 total_clv_12=float(columns.get("clv_12", pd.Series([0.0])).sum()))


if __name__ == "__main__":
    main()
