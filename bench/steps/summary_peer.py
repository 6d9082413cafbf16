"""A peer's transaction-to-summary function on an order file (run in the peer's venv).

``--library lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data``;
``--library pymc-marketing``: ``pymc_marketing.clv.utils.rfm_summary`` (its port
of the same function). Reads the file with pandas (Parquet via pyarrow, or
CSV), summarises in days with the given observation end, and writes
customer_id, frequency, recency, T, monetary_value to ``--output`` for the
correctness check.
"""

from __future__ import annotations

import pandas as pd

from _common import Phases, parser, write_result

COLUMNS = ["customer_id", "order_ts", "amount"]


def read_orders(path: str) -> pd.DataFrame:
    if path.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, usecols=COLUMNS, parse_dates=["order_ts"])
    return pd.read_parquet(path, columns=COLUMNS)


def summarise(library: str, orders: pd.DataFrame, observation_end: str) -> pd.DataFrame:
    if library == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data

        summary = summary_data_from_transaction_data(
            orders, "customer_id", "order_ts", monetary_value_col="amount",
            observation_period_end=observation_end, freq="D",
        )
        return summary.reset_index()
    from pymc_marketing.clv.utils import rfm_summary

    return rfm_summary(
        orders, "customer_id", "order_ts", monetary_value_col="amount",
        observation_period_end=observation_end, time_unit="D",
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--library", choices=["lifetimes", "pymc-marketing"], required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--observation-end", required=True)
    p.add_argument("--output")
    p.add_argument("--frame", action="store_true", help="read the file into a DataFrame before the timing")
    args = p.parse_args()
    if args.library == "pymc-marketing":
        import pymc_marketing.clv.utils  # noqa: F401  (slow PyMC import kept out of the timing)
    else:
        import lifetimes.utils  # noqa: F401
    phases = Phases()
    if args.frame:
        orders = read_orders(args.data)
    else:
        with phases("read"):
            orders = read_orders(args.data)
    with phases("summary"):
        summary = summarise(args.library, orders, args.observation_end)
    if args.output:
        summary = summary[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
        summary["customer_id"] = summary["customer_id"].astype(str)
        summary.to_parquet(args.output, index=False)
    write_result(args.result, phases, customers=len(summary), lines=len(orders))


if __name__ == "__main__":
    main()
