"""The floor: a bare DuckDB GROUP BY customer aggregate over the order file, fetched to Arrow.

    SELECT customer_id, count(*), min(order_ts), max(order_ts), sum(amount)
    FROM read_parquet(...) GROUP BY 1

No day merging, no repeat-purchase logic: the least any per-customer summary
of the same file must cost on this engine.
"""

from __future__ import annotations

import os

import duckdb

from _common import Phases, parser, write_result

QUERY = """
SELECT customer_id, count(*) AS n, min(order_ts) AS first_ts, max(order_ts) AS last_ts, sum(amount) AS total
FROM {reader}
GROUP BY 1
"""


def reader(path: str) -> str:
    if path.endswith((".csv", ".csv.gz")):
        return f"read_csv('{path}')"
    return f"read_parquet('{path}')"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    args = p.parse_args()
    phases = Phases()
    with phases("aggregate"):
        con = duckdb.connect()
        con.execute(f"SET threads = {os.cpu_count()}")
        table = con.sql(QUERY.format(reader=reader(args.data))).fetch_arrow_table()
    write_result(args.result, phases, customers=table.num_rows, lines=int(table.column("n").to_numpy().sum()))


if __name__ == "__main__":
    main()
