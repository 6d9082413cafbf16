"""clv's per-customer summary of an order file (run in the project's venv).

``--mode load`` (what a user runs): ``clv.data.load_orders(path)`` (column
mapping, validation, rejects) then ``clv.summary.summarize(...)`` to a pandas
DataFrame, every column (order counts, net revenue and margin included).
``--mode load-rfm``: the same with ``summarize(..., totals=False)``, the model
inputs only (the columns lifetimes computes, plus first/last purchase and gross
revenue). ``--mode expression``: the engine cost alone, the summary expression
over the raw file (``con.read_parquet`` / ``read_csv``) fetched to Arrow.
``--frame``: the Parquet file is read into a pandas DataFrame before the timing
and every mode starts from that frame. Writes customer_id, frequency, recency, T,
monetary_value to ``--output``.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from _common import Phases, parser, write_result
from clv.data import load_orders
from clv.engine import default_connection

try:
    from clv.summary import summarize, summary_expression
except ImportError:  # before the package re-exports them
    from clv.summary.customers import summarize, summary_expression

CHECK_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]


def summary_via_load(path, observation_end: str, totals: bool = True) -> pa.Table:
    loaded = load_orders(path, observation_end=observation_end)
    frame = summarize(loaded, observation_end=observation_end, time_unit="day", totals=totals)
    return pa.Table.from_pandas(frame[CHECK_COLUMNS], preserve_index=False)


def summary_via_load_rfm(path, observation_end: str) -> pa.Table:
    return summary_via_load(path, observation_end, totals=False)


def summary_via_expression(path, observation_end: str) -> pa.Table:
    con = default_connection()
    if isinstance(path, pd.DataFrame):
        raw = ibis.memtable(path)
    else:
        raw = con.read_csv(path) if path.endswith((".csv", ".csv.gz")) else con.read_parquet(path)
    raw = raw.select("customer_id", "order_ts", "amount")
    return summary_expression(raw, observation_end=observation_end, time_unit="day").select(CHECK_COLUMNS).to_pyarrow()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--observation-end", required=True)
    p.add_argument("--mode", choices=["load", "load-rfm", "expression"], default="load")
    p.add_argument("--output")
    p.add_argument("--frame", action="store_true", help="start from a pandas DataFrame of the Parquet file")
    args = p.parse_args()
    source = pd.read_parquet(args.data) if args.frame else args.data
    phases = Phases()
    build = {"load": summary_via_load, "load-rfm": summary_via_load_rfm, "expression": summary_via_expression}[args.mode]
    with phases("summary"):
        table = build(source, args.observation_end)
    if args.output:
        table = table.set_column(0, "customer_id", table.column(0).cast(pa.string()))
        pq.write_table(table, args.output)
    write_result(args.result, phases, customers=table.num_rows)


if __name__ == "__main__":
    main()
