"""Benchmark: model fits, scoring and the end-to-end pipeline, clv vs lifetimes.

    /tmp/venv/bin/python bench/bench_models.py                     # 1M, 10M and the 4M-customer store
    /tmp/venv/bin/python bench/bench_models.py --sizes 1M --tasks end_to_end

Data: ``bench/out/data/<size>/orders.parquet`` from ``bench/make_data.py``, and
``4Mc``: a store of 4 million customers (about 26M order lines) that this
script generates once with ``clv.data.synthetic.generate_store`` (the model
targets are stated for 4M customers; make_data's 10M-line store has 1.5M).
Each size's per-customer summary (days, observation end = last order date) is
computed once by clv's engine and saved; every fit and score step of both
tools reads that same summary file, so the model steps are measured apart
from the summary (which bench_summary.py measures).

Steps (each in its own process, time limit per step, see bench/harness.py):

* ``BG/NBD fit``, ``Pareto/NBD fit``, ``Gamma-Gamma fit``;
* ``score``: every customer's P(alive), expected purchases and CLV over 360
  days (clv adds 80%/95% intervals; lifetimes has none). lifetimes scores with
  clv's fitted parameters so the per-customer check compares formulas;
* ``end to end`` (order file -> summary -> BG/NBD + Gamma-Gamma -> every
  customer's 12-month CLV), at 1M only by default.

Checks: fitted parameters (max relative difference), per-customer P(alive),
expected purchases and CLV (max / median relative difference).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from harness import (OUR_PYTHON, OUT_DIR, Measurement, Step, fill_ratios, find, measure, peer_python,
                     peer_version, write_results)

DATA_ROOT = OUT_DIR / "data"
WORK = OUT_DIR / "work" / "models"
CLV = "clv"
BIG = "4Mc"  # 4 million customers
BIG_CUSTOMERS = 4_000_000
TASKS = {"bgnbd": "BG/NBD fit", "paretonbd": "Pareto/NBD fit", "gammagamma": "Gamma-Gamma fit",
         "score": "score (P(alive), E[purchases], CLV)", "end_to_end": "end to end (orders -> CLV)"}
ORDER = ["100k", "1M", "10M", BIG, "100M"]


def orders_file(size: str, data_root: Path) -> Path:
    """The size's order file; the 4M-customer store is generated on first use."""
    if size != BIG:
        path = data_root / size / "orders.parquet"
        if not path.exists():
            sys.exit(f"{path} is missing; fix: run `python bench/make_data.py`.")
        return path
    root = data_root / "customers-4M"
    path = root / "orders.parquet"
    if not path.exists():
        print(f"generating {root} (4M customers, a few minutes) ...", flush=True)
        code = ("from clv.data.synthetic import generate_store; "
                f"generate_store({str(root)!r}, n_customers={BIG_CUSTOMERS}, seed=0)")
        subprocess.run([str(OUR_PYTHON), "-c", code], check=True)
    return path


def summary_file(size: str, orders: Path) -> Path:
    """The per-customer summary of ``orders`` (clv engine, days), computed once."""
    path = WORK / size / "summary.parquet"
    if path.exists() and path.stat().st_mtime > orders.stat().st_mtime:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"summarising {orders} -> {path} ...", flush=True)
    code = f"""
import pyarrow.parquet as pq
from clv.engine import default_connection
try:
    from clv.summary import summary_expression
except ImportError:
    from clv.summary.customers import summary_expression
raw = default_connection().read_parquet({str(orders)!r}).select("customer_id", "order_ts", "amount")
table = summary_expression(raw, unit="day").select("customer_id", "frequency", "recency", "T", "monetary_value")
table = table.order_by("customer_id").to_pyarrow()
pq.write_table(table.set_column(0, "customer_id", table.column(0).cast("string")), {str(path)!r})
"""
    subprocess.run([str(OUR_PYTHON), "-c", code], check=True)
    return path


def plan_size(size: str, tasks: list[str], orders: Path, summary: Path, peer: tuple[Path, str] | None,
              args: argparse.Namespace) -> list[Step]:
    out = WORK / size
    steps = []
    for task in tasks:
        if task == "end_to_end" and size not in args.end_to_end_sizes.split(","):
            continue
        source = ["--orders", str(orders)] if task == "end_to_end" else ["--summary", str(summary)]
        suffix = "parquet" if task == "score" else "json"
        ours = out / f"clv_{task}.{suffix}"
        repeat = 1 if task in ("paretonbd", "end_to_end") else args.repeat
        steps.append(Step(TASKS[task], size, CLV, OUR_PYTHON, "models_clv.py",
                          ["--task", task, *source, "--output", str(ours)], repeat, args.timeout))
        if peer is None or not peer_allowed(task, size, args):
            continue
        python, version = peer
        extra = ["--params", str(ours) + ".params.json"] if task == "score" else []
        steps.append(Step(TASKS[task], size, f"lifetimes {version}", python, "models_lifetimes.py",
                          ["--task", task, *source, *extra, "--output", str(out / f"lifetimes_{task}.{suffix}")],
                          1, args.timeout))
    return steps


def peer_allowed(task: str, size: str, args: argparse.Namespace) -> bool:
    limit = args.pareto_peer_max_size if task == "paretonbd" else args.peer_max_size
    return ORDER.index(size) <= ORDER.index(limit)


def compare_params(ours: Path, theirs: Path) -> str:
    if not ours.exists() or not theirs.exists():
        return "no output"
    a, b = json.loads(ours.read_text()), json.loads(theirs.read_text())
    if "gamma" in a:  # clv's Gamma-Gamma scale parameter is the papers' (and lifetimes') v
        a["v"] = a.pop("gamma")
    rel = {k: abs(a[k] - b[k]) / abs(b[k]) for k in b if k in a}
    worst = max(rel, key=rel.get)
    verdict = "same parameters" if rel[worst] < 1e-3 else "parameters differ"
    return f"{verdict} (max rel. diff {rel[worst]:.1e} in {worst})"


def compare_scores(ours: Path, theirs: Path) -> str:
    if not ours.exists() or not theirs.exists():
        return "no output"
    a = pd.read_parquet(ours, columns=["customer_id", "p_alive", "expected_purchases", "clv"])
    b = pd.read_parquet(theirs)
    m = a.merge(b, on="customer_id", suffixes=("", "_peer"))
    parts = [f"{len(m):,} customers"]
    for column in ("p_alive", "expected_purchases", "clv"):
        x, y = m[column].to_numpy(float), m[f"{column}_peer"].to_numpy(float)
        rel = np.abs(x - y) / np.maximum(np.abs(y), 1e-12)
        parts.append(f"{column} rel. diff max {np.nanmax(rel):.1e} / median {np.nanmedian(rel):.1e}")
    return "; ".join(parts)


def add_checks(measurements: list[Measurement], size: str) -> None:
    out = WORK / size
    for m in measurements:
        if m.size != size or m.tool == CLV or m.status != "ok":
            continue
        task = next(k for k, v in TASKS.items() if v == m.step)
        if task == "score":
            m.check = compare_scores(out / "clv_score.parquet", out / "lifetimes_score.parquet")
        else:
            m.check = compare_params(out / f"clv_{task}.json", out / f"lifetimes_{task}.json")
            if task == "end_to_end":
                ours = find(measurements, m.step, size, CLV)
                if ours and ours.info.get("total_clv"):
                    diff = abs(ours.info["total_clv"] - m.info["total_clv"]) / abs(m.info["total_clv"])
                    m.check += f"; total CLV rel. diff {diff:.1e}"


def targets(measurements: list[Measurement]) -> list[dict[str, str]]:
    rows = []
    for task, label, limit in (("bgnbd", "BG/NBD fit on 4M customers <= 3 s", 3.0),
                               ("paretonbd", "Pareto/NBD fit on 4M customers <= 15 s", 15.0),
                               ("score", "scoring all 4M customers (with intervals) <= 5 s", 5.0)):
        m = next((x for x in measurements if x.step == TASKS[task] and x.size == BIG and x.tool == CLV), None)
        if m is None:
            continue
        measured = f"{m.seconds:.2f} s, {m.peak_mb:,.0f} MB" if m.seconds is not None else m.status
        rows.append(_target(label, measured, m.seconds is not None and m.seconds <= limit))
    ours = find(measurements, TASKS["end_to_end"], "1M", CLV)
    peer = find(measurements, TASKS["end_to_end"], "1M", "lifetimes")
    if ours and peer and ours.seconds:
        if peer.seconds:
            speedup = peer.seconds / ours.seconds
            rows.append(_target("end to end at 1M >= 20x faster than lifetimes",
                                f"{speedup:.1f}x ({ours.seconds:.1f} s vs {peer.seconds:.1f} s)", speedup >= 20))
        else:
            rows.append(_target("end to end at 1M >= 20x faster than lifetimes",
                                f"clv {ours.seconds:.1f} s, lifetimes {peer.status}", False))
    return rows


def _target(target: str, measured: str, met: bool) -> dict[str, str]:
    return {"target": target, "measured": measured, "met": "yes" if met else "**no**"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"1M,10M,{BIG}")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--end-to-end-sizes", default="1M")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--lifetimes-venv", default="lifetimes")
    parser.add_argument("--peer-max-size", default="10M", help="lifetimes runs up to this size")
    parser.add_argument("--pareto-peer-max-size", default="1M", help="lifetimes' Pareto/NBD up to this size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--name", default="models")
    parser.add_argument("--recheck", action="store_true",
                        help="run nothing: redo the checks and tables from bench/out/<name>.json and the saved outputs")
    args = parser.parse_args(argv)
    if args.recheck:
        saved = json.loads((OUT_DIR / f"{args.name}.json").read_text())
        measurements = [Measurement(**m) for m in saved["measurements"]]
        for size in saved["sizes"]:
            add_checks(measurements, size)
        return report(args.name, measurements, saved["sizes"], saved["machine"])
    peer = None
    if not args.no_peers:
        python = peer_python(args.lifetimes_venv)
        peer = (python, peer_version(args.lifetimes_venv, "lifetimes")) if python else None
        if peer is None:
            print("no lifetimes venv (run bench/peers.py); peers skipped")
    measurements: list[Measurement] = []
    for size in args.sizes.split(","):
        orders = orders_file(size, args.data_root.resolve())
        summary = summary_file(size, orders)
        customers = len(pd.read_parquet(summary, columns=["frequency"]))
        print(f"{size}: {orders} ({customers:,} customers)", flush=True)
        for step in plan_size(size, args.tasks.split(","), orders, summary, peer, args):
            measurements.append(measure(step, WORK / size))
        add_checks(measurements, size)
    return report(args.name, measurements, args.sizes.split(","))


def phase_notes(measurements: list[Measurement]) -> list[str]:
    notes = []
    for m in measurements:
        if len(m.phases) > 1 and m.status == "ok":
            parts = " + ".join(f"{k} {v:.2f} s" for k, v in m.phases.items())
            notes.append(f"{m.step}, {m.size}, {m.tool}: {parts}.")
        if m.info.get("distinct_rows") and m.step == TASKS["bgnbd"]:
            notes.append(f"{m.size}: {m.info['customers']:,} customers, {m.info['distinct_rows']:,} distinct "
                         "(frequency, recency, T) rows fitted by clv.")
    return notes


def report(name: str, measurements: list[Measurement], sizes: list[str], box: dict | None = None) -> int:
    fill_ratios(measurements, CLV)
    notes = phase_notes(measurements) + [
        f"{BIG}: a synthetic store of 4M customers generated by this script; other sizes are order lines "
        "from bench/make_data.py. Fits and scores read the same per-customer summary (days).",
        "seconds: the step's own timing without reading the input file (median of the runs for clv, one run "
        "for lifetimes); peak MB: the step process's peak resident memory (VmHWM); ratio: seconds / clv's.",
        "score: horizon 360 days; clv with 80% and 95% intervals (Monte Carlo), lifetimes without (it has none), "
        "using clv's fitted parameters. CLV: lifetimes' conventions on both sides (12 steps of 30 days, 1% "
        "discount a step; clv given discount_step=30 days and the equivalent annual rate).",
    ]
    intro = ("Model fits, scoring and the end-to-end pipeline. Generated by `bench/bench_models.py`; "
             "see docs/benchmarks.md.")
    path = write_results(name, "Model benchmark", measurements, intro=intro, targets=targets(measurements),
                         notes=notes, extra={"sizes": sizes}, box=box)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
