"""Benchmark: model fits, scoring and the end-to-end pipeline, clv vs lifetimes and pymc-marketing.

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

pymc-marketing (``bench/steps/models_pymc.py``, its own venv) runs the same
fits with its default priors, ``fit(method="map")``, and the same scoring with
clv's parameters; ``BG/NBD fit (NUTS)`` is its default MCMC fit, a short run,
at 100k only by default (``--mcmc-sizes``). It has no end-to-end step.

Checks: fitted parameters (max relative difference), per-customer P(alive),
expected purchases and CLV (max / median relative difference); for
pymc-marketing's MAP also the log-likelihood given up and the log-prior gained
relative to clv's MLE (a MAP differs from the MLE by the prior's pull).

``--tools`` runs a subset of the tools and ``--merge`` puts the new rows into
the saved run (``bench/out/<name>.json``), replacing rows of the same step,
size and tool, so adding a tool or a size does not re-run the others.
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
TASKS = {"bgnbd": "BG/NBD fit", "bgnbd_mcmc": "BG/NBD fit (NUTS)", "paretonbd": "Pareto/NBD fit",
         "gammagamma": "Gamma-Gamma fit", "score": "score (P(alive), E[purchases], CLV)",
         "end_to_end": "end to end (orders -> CLV)"}
CLV_TASKS = [task for task in TASKS if task != "bgnbd_mcmc"]
PYMC = "pymc-marketing"
PYMC_TASKS = ["bgnbd", "bgnbd_mcmc", "paretonbd", "gammagamma", "score"]
TOOLS = [CLV, "lifetimes", PYMC]
PRIOR_SLACK = 0.01  # nats: find_MAP's and clv's optimiser tolerances
ORDER = ["100k", "1M", "10M", BIG, "100M"]


def size_rank(size: str) -> tuple[int, bool]:
    """Sort key of a size; ``<size>-sparse`` (make_data.py --shape sparse) right after ``<size>``."""
    return ORDER.index(size.removesuffix("-sparse")), size.endswith("-sparse")


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


def plan_size(size: str, tasks: list[str], orders: Path, summary: Path, peers: dict[str, tuple[Path, str]],
              args: argparse.Namespace) -> list[Step]:
    out = WORK / size
    tools = args.tools.split(",")
    steps = []
    for task in tasks:
        if task == "end_to_end" and size not in args.end_to_end_sizes.split(","):
            continue
        source = ["--orders", str(orders)] if task == "end_to_end" else ["--summary", str(summary)]
        suffix = "parquet" if task == "score" else "json"
        ours = out / f"clv_{task}.{suffix}"
        repeat = 1 if task in ("paretonbd", "end_to_end") else args.repeat
        if CLV in tools and task in CLV_TASKS:
            steps.append(Step(TASKS[task], size, CLV, OUR_PYTHON, "models_clv.py",
                              ["--task", task, *source, "--output", str(ours)], repeat, args.timeout))
        extra = ["--params", str(ours) + ".params.json"] if task == "score" else []
        if "lifetimes" in peers and task in CLV_TASKS and peer_allowed(task, size, args):
            python, version = peers["lifetimes"]
            steps.append(Step(TASKS[task], size, f"lifetimes {version}", python, "models_lifetimes.py",
                              ["--task", task, *source, *extra, "--output", str(out / f"lifetimes_{task}.{suffix}")],
                              1, args.timeout))
        if PYMC in peers and pymc_allowed(task, size, args):
            python, version = peers[PYMC]
            mle = out / f"clv_{task.removesuffix('_mcmc')}.json"
            extra += ["--mle", str(mle)] if task != "score" else []  # read if clv's fit wrote it
            extra += ["--draws", str(args.mcmc_draws), "--tune", str(args.mcmc_draws)] if task == "bgnbd_mcmc" else []
            steps.append(Step(TASKS[task], size, f"{PYMC} {version}", python, "models_pymc.py",
                              ["--task", task, *source, *extra, "--output", str(out / f"pymc_{task}.{suffix}")],
                              1, args.timeout))
    return steps


def pymc_allowed(task: str, size: str, args: argparse.Namespace) -> bool:
    if task == "bgnbd_mcmc":
        return size in args.mcmc_sizes.split(",")
    return task in PYMC_TASKS and size_rank(size)[0] <= size_rank(args.pymc_max_size)[0]


def peer_allowed(task: str, size: str, args: argparse.Namespace) -> bool:
    limit = args.pareto_peer_max_size if task == "paretonbd" else args.peer_max_size
    return size_rank(size)[0] <= size_rank(limit)[0]


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


def compare_map(ours: Path, theirs: Path, m: Measurement) -> str:
    """Parameters of pymc-marketing's MAP (or posterior mean) against clv's MLE, and the prior's share."""
    text = compare_params(ours, theirs)
    if m.info.get("method") == "mcmc":
        sampler = m.info.get("sampler", {})
        return (f"posterior mean vs clv's MLE: {text} ({sampler.get('chains')} chains x {sampler.get('draws')} draws "
                f"after {sampler.get('tune')} tuning)")
    d = m.info.get("densities")
    if not d:
        return f"MAP vs clv's MLE: {text}"
    lost = d["loglik_mle"] - d["loglik_fit"]
    gained = d["logprior_fit"] - d["logprior_mle"]
    if d["logprior_fit"] == 0 and d["logprior_mle"] == 0:
        verdict = "flat priors, so MAP = MLE"
    elif lost <= gained + PRIOR_SLACK:
        verdict = "within the prior's effect"
    else:
        verdict = "more than the prior explains"
    return (f"MAP vs clv's MLE: {text}; MAP log-lik {lost:.2g} below clv's, log-prior {gained:+.2g}: {verdict}")


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
        peer = "pymc" if m.tool.startswith(PYMC) else "lifetimes"
        if task == "score":
            m.check = compare_scores(out / "clv_score.parquet", out / f"{peer}_score.parquet")
        elif peer == "pymc":
            m.check = compare_map(out / f"pymc_{task}.json", out / f"clv_{task.removesuffix('_mcmc')}.json", m)
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
    for size in ("1M-sparse", "1M"):  # the shape (about 400k customers) first
        ours = find(measurements, TASKS["end_to_end"], size, CLV)
        peer = find(measurements, TASKS["end_to_end"], size, "lifetimes")
        if not (ours and peer and ours.seconds):
            continue
        label = f"end to end at {size} >= 20x faster than lifetimes"
        if peer.seconds:
            speedup = peer.seconds / ours.seconds
            rows.append(_target(label, f"{speedup:.1f}x ({ours.seconds:.2f} s vs {peer.seconds:.1f} s)", speedup >= 20))
        else:
            rows.append(_target(label, f"clv {ours.seconds:.1f} s, lifetimes {peer.status}", False))
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
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    parser.add_argument("--pymc-venv", default=PYMC)
    parser.add_argument("--pymc-max-size", default="10M", help="pymc-marketing's MAP fits and scoring up to this size")
    parser.add_argument("--mcmc-sizes", default="100k", help="sizes of pymc-marketing's NUTS fit")
    parser.add_argument("--mcmc-draws", type=int, default=200, help="NUTS draws (and as many tuning steps) a chain")
    parser.add_argument("--merge", action="store_true",
                        help="put the new rows into bench/out/<name>.json, replacing rows of the same step/size/tool")
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
        return report(args.name, measurements, saved["sizes"], saved["machine"], saved.get("first_run"))
    peers = {} if args.no_peers else find_peers(args)
    measurements: list[Measurement] = []
    for size in args.sizes.split(","):
        orders = orders_file(size, args.data_root.resolve())
        summary = summary_file(size, orders)
        customers = len(pd.read_parquet(summary, columns=["frequency"]))
        print(f"{size}: {orders} ({customers:,} customers)", flush=True)
        for step in plan_size(size, args.tasks.split(","), orders, summary, peers, args):
            measurements.append(measure(step, WORK / size))
        add_checks(measurements, size)
    if args.merge:
        return merge(args.name, measurements, args.sizes.split(","))
    return report(args.name, measurements, args.sizes.split(","))


def find_peers(args: argparse.Namespace) -> dict[str, tuple[Path, str]]:
    """{tool: (venv python, version)} of the peers asked for by ``--tools`` and built by bench/peers.py."""
    peers = {}
    for tool, venv, module in (("lifetimes", args.lifetimes_venv, "lifetimes"),
                               (PYMC, args.pymc_venv, "pymc_marketing")):
        if tool not in args.tools.split(","):
            continue
        python = peer_python(venv)
        if python is None:
            print(f"no {venv} venv (run bench/peers.py{' --pymc' if tool == PYMC else ''}); {tool} skipped")
            continue
        peers[tool] = (python, peer_version(venv, module))
    return peers


def merge(name: str, new: list[Measurement], sizes: list[str]) -> int:
    """The saved run's rows with ``new`` in place of rows of the same step, size and tool."""
    saved = json.loads((OUT_DIR / f"{name}.json").read_text())
    keys = {(m.step, m.size, m.tool) for m in new}
    old = [Measurement(**m) for m in saved["measurements"] if (m["step"], m["size"], m["tool"]) not in keys]
    all_sizes = sorted(set(saved["sizes"]) | set(sizes), key=size_rank)
    steps = list(TASKS.values())
    rank = {size: i for i, size in enumerate(all_sizes)}
    measurements = sorted(old + new, key=lambda m: (rank[m.size], steps.index(m.step),
                                                    next(i for i, t in enumerate(TOOLS) if m.tool.startswith(t))))
    for size in all_sizes:
        add_checks(measurements, size)
    return report(name, measurements, all_sizes, merged_from=saved.get("first_run", saved["machine"]))


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


def report(name: str, measurements: list[Measurement], sizes: list[str], box: dict | None = None,
           merged_from: dict | None = None) -> int:
    fill_ratios(measurements, CLV)
    merged = [f"Rows added by later runs (--merge) to a run measured {merged_from['date']} (1-minute load average "
              f"{merged_from['load_average_1m']} at its end); the header is the last of them."] if merged_from else []
    notes = merged + phase_notes(measurements) + [
        f"{BIG}: a synthetic store of 4M customers generated by this script; other sizes are order lines "
        "from bench/make_data.py. Fits and scores read the same per-customer summary (days).",
        "seconds: the step's own timing without reading the input file (median of the runs for clv, one run "
        "for lifetimes); peak MB: the step process's peak resident memory (VmHWM); ratio: seconds / clv's.",
        "score: horizon 360 days; clv with 80% and 95% intervals (Monte Carlo), lifetimes without (it has none), "
        "using clv's fitted parameters. CLV: lifetimes' conventions on both sides (12 steps of 30 days, 1% "
        "discount a step; clv given discount_step=30 days and the equivalent annual rate).",
        "pymc-marketing: default priors; fits by fit(method=\"map\") (pymc.find_MAP), seconds = building the PyMC "
        "model + compiling and optimising (PyTensor's compiled-code cache warm; the first run on a machine adds 5 to 20 s "
        "of C compilation a model). BG/NBD's and Pareto/NBD's default priors are proper, so their MAP is not clv's MLE: "
        "the check gives how much log-likelihood the MAP gives up against clv's MLE and how much log-prior it "
        f"gains (MAP optimum consistent when the loss <= the gain + {PRIOR_SLACK} nats); Gamma-Gamma's priors are "
        "flat. BG/NBD fit (NUTS): its default fit, pymc.sample, a short run (chains one after the other in the "
        "step's process), posterior means compared. Scoring with clv's parameters as a one-draw posterior.",
    ]
    intro = ("Model fits, scoring and the end-to-end pipeline. Generated by `bench/bench_models.py`; "
             "see docs/benchmarks.md.")
    extra = {"sizes": sizes, **({"first_run": merged_from} if merged_from else {})}
    path = write_results(name, "Model benchmark", measurements, intro=intro, targets=targets(measurements),
                         notes=notes, extra=extra, box=box)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
