"""Benchmark: order file -> per-customer summary (frequency, recency, T, monetary value).

    /tmp/venv/bin/python bench/bench_summary.py                  # 100k, 1M, 10M; Parquet and CSV
    /tmp/venv/bin/python bench/bench_summary.py --sizes 1M --formats parquet
    /tmp/venv/bin/python bench/bench_summary.py --sizes 100M --no-peers --formats parquet \
        --tools engine,duckdb --repeat 1 --name summary-100M                              # on request only

Data: ``bench/out/data/<size>/orders.parquet`` from ``bench/make_data.py``. The
CSV is written once next to it from the Parquet (same rows and columns, by
DuckDB), so every tool reads identical files.

Tools, each step in its own process (see bench/harness.py):

* ``clv``: ``load_orders(path)`` + ``summarize(...)`` to a pandas DataFrame,
  what a user runs (validation and reject classification included), every
  column (order counts, net revenue, margin);
* ``clv RFM``: the same with ``summarize(..., totals=False)``: the model inputs
  only, the columns lifetimes computes (tool name ``clv-rfm``);
* ``clv engine``: ``summary_expression`` over the raw file, fetched to Arrow;
* ``duckdb GROUP BY``: the bare aggregate, the floor for this engine;
* ``duckdb same SQL``: clv engine's summary written by hand in DuckDB SQL (two
  groupings), what the computation costs on this engine without clv (tool name
  ``duckdb-same``);
* ``lifetimes`` / ``pymc-marketing``: pandas read + their summary function.

Every tool's seconds cover file -> summary in memory (for the peers: pandas
read + summary function; both phases are in the JSON and in the notes).
Observation end: the last order date in the file, the same for every tool.
The check compares each peer's frequency, recency, T and monetary_value with
clv engine's, customer by customer (the summary code ``summarize`` runs, on the
raw lines); ``clv``'s own output is compared with clv engine's, where the only
allowed difference is customers with exact-duplicate lines, which
``load_orders`` drops by default and the peers keep.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from harness import (OUR_PYTHON, OUT_DIR, Measurement, Step, fill_ratios, find, measure, peer_python,
                     peer_version, write_results)

DATA_ROOT = OUT_DIR / "data"
WORK = OUT_DIR / "work" / "summary"
STEP = "summary"
CLV, CLV_RFM, ENGINE, BARE, SAME = "clv", "clv RFM", "clv engine", "duckdb GROUP BY", "duckdb same SQL"
TOOL_NAMES = {CLV: "clv", CLV_RFM: "clv-rfm", ENGINE: "engine", BARE: "duckdb", SAME: "duckdb-same"}
SIZES = ["100k", "1M", "10M"]
# The reference shape (10M lines, about 4M customers: make_data.py --shape sparse), else 10M.
TARGET_SIZES = ("10M-sparse", "10M")


def prepare(size: str, formats: list[str], data_root: Path) -> tuple[dict[str, Path], str]:
    """The size's data files by format, and its observation end (last order date)."""
    parquet = data_root / size / "orders.parquet"
    if not parquet.exists():
        sys.exit(f"{parquet} is missing; fix: run `python bench/make_data.py` (or pass --data-root).")
    con = duckdb.connect()
    end = con.execute(f"SELECT max(order_ts)::DATE FROM read_parquet('{parquet}')").fetchone()[0]
    files = {"parquet": parquet}
    if "csv" in formats:
        csv = parquet.with_suffix(".csv")
        if not csv.exists() or csv.stat().st_mtime < parquet.stat().st_mtime:
            print(f"writing {csv} from the Parquet file ...", flush=True)
            con.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{csv}' (HEADER, DELIMITER ',')")
        files["csv"] = csv
    for path in files.values():  # warm the page cache so the first tool is not penalised
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
    files["frame"] = parquet  # read into a pandas DataFrame by each step, before its timing
    return {f: files[f] for f in formats}, end.isoformat()


def steps_for(size: str, fmt: str, path: Path, end: str, peers: dict[str, tuple[Path, str]],
              repeat: int, timeout: float, tools: list[str]) -> list[Step]:
    out = WORK / size / fmt
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.parquet"):  # a failed step must not leave an old answer to check
        stale.unlink()
    step = f"{STEP} ({fmt})"
    frame = ["--frame"] if fmt == "frame" else []
    common = ["--data", str(path), "--observation-end", end, *frame]
    plan = [
        Step(step, size, CLV, OUR_PYTHON, "summary_clv.py", [*common, "--mode", "load", "--output", str(out / "clv.parquet")], repeat, timeout),
        Step(step, size, CLV_RFM, OUR_PYTHON, "summary_clv.py", [*common, "--mode", "load-rfm", "--output", str(out / "clv-rfm.parquet")], repeat, timeout),
        Step(step, size, ENGINE, OUR_PYTHON, "summary_clv.py", [*common, "--mode", "expression", "--output", str(out / "engine.parquet")], repeat, timeout),
        Step(step, size, BARE, OUR_PYTHON, "summary_duckdb.py", ["--data", str(path), *frame], repeat, timeout),
        Step(step, size, SAME, OUR_PYTHON, "summary_duckdb.py", [*common, "--query", "same", "--output", str(out / "duckdb-same.parquet")], repeat, timeout),
    ]  # fmt: skip
    plan = [s for s in plan if TOOL_NAMES[s.tool] in tools]
    for library, (python, version) in peers.items():
        plan.append(Step(step, size, f"{library} {version}", python, "summary_peer.py",
                         ["--library", library, *common, "--output", str(out / f"{library}.parquet")], 1, timeout))
    return plan


def differing_customers(ours: Path, theirs: Path) -> tuple[int, list[str], set[str]]:
    """Customers compared, the problems found, and the ids of customers that differ.

    Frequency must match exactly; recency, T and monetary_value to 1e-9.
    """
    a, b = pd.read_parquet(ours), pd.read_parquet(theirs)
    merged = a.merge(b, on="customer_id", how="outer", suffixes=("", "_peer"), indicator=True)
    one_side = merged["_merge"] != "both"
    both = merged[~one_side]
    problems = [f"{int(one_side.sum())} customers in one only"] if one_side.any() else []
    differ = set(merged.loc[one_side, "customer_id"])
    for column, tolerance in (("frequency", 0.0), ("recency", 1e-9), ("T", 1e-9), ("monetary_value", 1e-9)):
        x, y = both[column].to_numpy(float), both[f"{column}_peer"].to_numpy(float)
        bad = ~np.isclose(x, y, rtol=tolerance, atol=tolerance)
        if bad.any():
            problems.append(f"{column}: {int(bad.sum())} differ (max {float(np.nanmax(np.abs(x - y))):.3g})")
            differ |= set(both.loc[bad, "customer_id"])
    return len(both), problems, differ


def compare(ours: Path, theirs: Path) -> str:
    """Customer-by-customer comparison of the four summary columns."""
    if not ours.exists() or not theirs.exists():
        return "no output"
    n, problems, _ = differing_customers(ours, theirs)
    return f"identical ({n:,} customers)" if not problems else "DIFFERS: " + "; ".join(problems)


def customers_with_duplicate_lines(data: Path) -> set[str]:
    """Customers having exact duplicate lines (every column equal), which load_orders drops by default."""
    reader = f"read_csv('{data}')" if data.suffix == ".csv" else f"read_parquet('{data}')"
    query = f"SELECT DISTINCT customer_id::VARCHAR FROM {reader} GROUP BY ALL HAVING count(*) > 1"
    con = duckdb.connect()
    con.execute(f"CREATE VIEW lines AS SELECT * FROM {reader}")
    return {row[0] for row in con.execute(query.replace(reader, "lines")).fetchall()}


def compare_loader(engine: Path, loaded: Path, data: Path) -> str:
    """clv (load_orders + summarize) against the bare summary: equal except where duplicates were dropped."""
    if not engine.exists() or not loaded.exists():
        return "no output"
    n, problems, differ = differing_customers(engine, loaded)
    if not problems:
        return f"same as clv engine ({n:,} customers)"
    explained = differ <= customers_with_duplicate_lines(data)
    if explained:
        return (f"same as clv engine except {len(differ)} customers with exact-duplicate lines, "
                "which load_orders drops by default (duplicates='drop')")
    return "DIFFERS from clv engine: " + "; ".join(problems)


def add_checks(measurements: list[Measurement], size: str, fmt: str, data: Path) -> None:
    """Peers against clv engine (the same summary code as ``summarize``, without the loader's cleaning)."""
    out = WORK / size / fmt
    engine = out / "engine.parquet"
    for m in measurements:
        if m.size != size or m.step != f"{STEP} ({fmt})" or m.status != "ok":
            continue
        m.check = ""
        if m.tool == ENGINE:
            m.check = "reference of the checks"
        elif m.tool in (CLV, CLV_RFM):
            m.check = compare_loader(engine, out / f"{TOOL_NAMES[m.tool]}.parquet", data)
        elif m.tool == SAME:
            m.check = compare(engine, out / "duckdb-same.parquet")
        elif m.tool == BARE:
            ours = find(measurements, m.step, size, ENGINE)
            customers = ours.info.get("customers") if ours else None
            m.check = f"{m.info['customers']:,} customers (clv engine {customers:,})" if customers else ""
        elif m.tool != ENGINE:
            m.check = compare(engine, out / f"{m.tool.split()[0]}.parquet")


def peer_note(m: Measurement) -> str:
    read, summary = m.phases.get("read"), m.phases.get("summary")
    return f"{m.tool} at {m.size} ({m.step}): read {read:.2f} s + summary function {summary:.2f} s."


def targets(measurements: list[Measurement]) -> list[dict[str, str]]:
    """The project's summary targets at 10M transactions (Parquet; the issue's shape when measured) and 100M."""
    rows = []
    size = next((z for z in TARGET_SIZES if find(measurements, f"{STEP} (parquet)", z, ENGINE)
                 or find(measurements, f"{STEP} (parquet)", z, CLV)), TARGET_SIZES[-1])
    step = f"{STEP} (parquet)"
    floors = [(f, find(measurements, step, size, f)) for f in (BARE, SAME)]
    peer = find(measurements, step, size, "lifetimes")
    for tool in (CLV, CLV_RFM, ENGINE):
        ours = next((m for m in measurements if m.step == step and m.size == size and m.tool == tool), None)
        if ours is None or not ours.seconds:
            continue
        rows.append(_target(f"{tool}: {size} transactions (Parquet) in <= 5 s", f"{ours.seconds:.2f} s", ours.seconds <= 5))
        rows.append(_target(f"{tool}: peak memory <= 2 GB", f"{ours.peak_mb:,.0f} MB", ours.peak_mb <= 2048))
        for name, floor in floors:
            if floor and floor.seconds:
                ratio = ours.seconds / floor.seconds
                rows.append(_target(f"{tool}: within 1.5x of {name}", f"{ratio:.2f}x ({floor.seconds:.2f} s)", ratio <= 1.5))
        if peer and peer.seconds:
            speedup = peer.seconds / ours.seconds
            rows.append(_target(f"{tool}: >= 3x faster than lifetimes", f"{speedup:.1f}x ({peer.seconds:.1f} s)",
                                speedup >= 3))
        elif peer:
            rows.append(_target(f"{tool}: >= 3x faster than lifetimes", f"lifetimes {peer.status}",
                                peer.status.startswith("over")))
    if peer and peer.seconds:
        rows.append(_target("clv engine identical to lifetimes (frequency, recency, T, monetary_value)",
                            peer.check, peer.check.startswith("identical")))
    for tool in (CLV, CLV_RFM, ENGINE):
        big = next((m for m in measurements if m.step == step and m.size == "100M" and m.tool == tool), None)
        if big and big.seconds:
            ok = big.seconds <= 120 and big.peak_mb <= 24 * 1024
            rows.append(_target(f"{tool}: 100M transactions (Parquet) in <= 120 s within 24 GB",
                                f"{big.seconds:.1f} s, {big.peak_mb:,.0f} MB", ok))
        elif big:
            rows.append(_target(f"{tool}: 100M transactions (Parquet) in <= 120 s within 24 GB", big.status, False))
    return rows


def _target(target: str, measured: str, met: bool) -> dict[str, str]:
    return {"target": target, "measured": measured, "met": "yes" if met else "**no**"}


def available_peers(names: list[str], lifetimes_venv: str) -> dict[str, tuple[Path, str]]:
    peers = {}
    for name in names:
        venv = lifetimes_venv if name == "lifetimes" else name
        python = peer_python(venv)
        if python is None:
            print(f"peer {name}: no venv at bench/.peers/{venv} (run bench/peers.py); skipped")
            continue
        peers[name] = (python, peer_version(venv, name.replace("-", "_")))
    return peers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated, e.g. 100k,1M,10M (100M on request)")
    parser.add_argument("--formats", default="parquet,csv", help="parquet, csv, frame (a pandas DataFrame of the Parquet file, read before the timing)")
    parser.add_argument("--tools", default=",".join(TOOL_NAMES.values()),
                        help="our side: clv (load_orders + summarize), clv-rfm (the same, totals=False), "
                        "engine (summary_expression), duckdb (bare GROUP BY), duckdb-same (the summary in DuckDB SQL)")
    parser.add_argument("--peers", default="lifetimes,pymc-marketing")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer-max-size", default="10M", help="skip peers above this size")
    parser.add_argument("--lifetimes-venv", default="lifetimes", help="or lifetimes-2020 (see bench/peers.py)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each clv/duckdb step (median reported)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per step before it is stopped")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--name", default="summary", help="results file name")
    parser.add_argument("--recheck", action="store_true",
                        help="run nothing: redo the checks and tables from bench/out/<name>.json and the saved outputs")
    args = parser.parse_args(argv)
    if args.recheck:
        return recheck(args)
    sizes, formats, tools = args.sizes.split(","), args.formats.split(","), args.tools.split(",")
    peers = {} if args.no_peers else available_peers(args.peers.split(","), args.lifetimes_venv)
    order = {s: i for i, s in enumerate(["100k", "1M", "10M", "100M"])}
    order.update({f"{s}-sparse": i for s, i in order.items()})
    measurements: list[Measurement] = []
    for size in sizes:
        files, end = prepare(size, formats, args.data_root.resolve())
        size_peers = peers if order.get(size, 0) <= order.get(args.peer_max_size, 2) else {}
        for fmt, path in files.items():
            print(f"{size} {fmt}: {path} (observation end {end})", flush=True)
            for step in steps_for(size, fmt, path, end, size_peers, args.repeat, args.timeout, tools):
                measurements.append(measure(step, WORK / size / fmt))
            add_checks(measurements, size, fmt, path)
    return report(args.name, measurements, sizes, formats)


def recheck(args: argparse.Namespace) -> int:
    saved = json.loads((OUT_DIR / f"{args.name}.json").read_text())
    measurements = [Measurement(**m) for m in saved["measurements"]]
    for size in saved["sizes"]:
        for fmt in saved["formats"]:
            data = args.data_root.resolve() / size / f"orders.{'csv' if fmt == 'csv' else 'parquet'}"
            add_checks(measurements, size, fmt, data)
    return report(args.name, measurements, saved["sizes"], saved["formats"], saved["machine"])


def report(name: str, measurements: list[Measurement], sizes: list[str], formats: list[str],
           box: dict | None = None) -> int:
    fill_ratios(measurements, ENGINE)
    notes = [peer_note(m) for m in measurements if m.phases.get("read") is not None and m.status == "ok"]
    notes += [
        "seconds: median of the runs for clv / clv engine / duckdb (each run a fresh process), one run for peers; "
        "peak MB: the step process's peak resident memory since exec (VmHWM; interpreter and imports included); "
        "ratio: seconds / clv engine's seconds for the same step and size.",
        "Conventions (both sides): days; purchases on the same calendar day merged into one; observation end = "
        "last order date in the file; monetary_value = mean of the repeat purchase days' totals (first day "
        "excluded), 0 without repeats.",
    ]
    intro = ("Order file -> per-customer frequency / recency / T / monetary value. "
             "Generated by `bench/bench_summary.py`; see docs/benchmarks.md.")
    path = write_results(name, "Summary benchmark", measurements, intro=intro, targets=targets(measurements),
                         notes=notes, extra={"sizes": sizes, "formats": formats}, box=box)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
