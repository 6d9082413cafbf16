"""DuckDB alone over the order file, fetched to Arrow: the engine's own floor.

``--query bare``: the least any per-customer summary of the file must cost,

    SELECT customer_id, count(*), min(order_ts), max(order_ts), sum(amount)
    FROM read_parquet(...) GROUP BY 1

(no day merging, no repeat-purchase logic).

``--query same``: the same summary as clv's engine step (frequency, recency, T,
monetary_value in days, purchases of a day merged, refunds = negative amounts
never purchases), written by hand as the shortest DuckDB SQL we know: one
grouping by (customer, day), one by customer. What the engine costs for this
computation without clv's Ibis layer.
"""

from __future__ import annotations

import os

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from _common import Phases, parser, write_result

BARE = """
SELECT customer_id, count(*) AS n, min(order_ts) AS first_ts, max(order_ts) AS last_ts, sum(amount) AS total
FROM {reader}
GROUP BY 1
"""

SAME = """
WITH days AS (
    SELECT customer_id, CAST(order_ts AS DATE) AS day,
           sum(CASE WHEN amount >= 0 THEN amount END) AS gross,
           count(CASE WHEN amount >= 0 THEN 1 END) AS purchases
    FROM {reader}
    WHERE CAST(order_ts AS DATE) <= DATE '{end}'
    GROUP BY 1, 2
)
SELECT customer_id,
       count(*) - 1 AS frequency,
       CAST(max(day) - min(day) AS DOUBLE) AS recency,
       CAST(DATE '{end}' - min(day) AS DOUBLE) AS T,
       CASE WHEN count(*) > 1 THEN (sum(gross) - arg_min(gross, day)) / (count(*) - 1) ELSE 0.0 END AS monetary_value
FROM days
WHERE purchases > 0
GROUP BY 1
"""


def reader(path: str) -> str:
    if path.endswith((".csv", ".csv.gz")):
        return f"read_csv('{path}')"
    return f"read_parquet('{path}')"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--query", choices=["bare", "same"], default="bare")
    p.add_argument("--observation-end", help="needed by --query same")
    p.add_argument("--output")
    p.add_argument("--frame", action="store_true", help="query a pandas DataFrame of the Parquet file")
    args = p.parse_args()
    frame = pd.read_parquet(args.data) if args.frame else None
    phases = Phases()
    with phases("aggregate"):
        con = duckdb.connect()
        con.execute(f"SET threads = {os.cpu_count()}")
        if frame is not None:
            con.register("orders_frame", frame)
        query = BARE if args.query == "bare" else SAME
        source = "orders_frame" if frame is not None else reader(args.data)
        table = con.sql(query.format(reader=source, end=args.observation_end)).fetch_arrow_table()
    info = {"customers": table.num_rows}
    if args.query == "bare":
        info["lines"] = int(table.column("n").to_numpy().sum())
    if args.output:
        table = table.set_column(0, "customer_id", table.column(0).cast(pa.string()))
        pq.write_table(table, args.output)
    write_result(args.result, phases, **info)


if __name__ == "__main__":
    main()
