"""Whole-process A/B of clv's load + summary between two checkouts, runs interleaved.

    python bench/compare_versions.py --before /tmp/before --after . --rounds 5

Each checkout needs its own virtual environment at ``<checkout>/.venv`` with
clv installed from that checkout (``pip install -e``). Every run is a fresh
process of ``bench/steps/summary_clv.py`` from the *after* checkout (the same
driver for both, so only the installed clv differs), on the bench files of
``bench/make_data.py`` (default the issues' shape, 10M-sparse, Parquet and the
CSV written by ``bench_summary.py``). Runs alternate before/after in every
round, so a busy spell on the machine hits both versions alike; the table gives
the median wall seconds and peak resident memory of each, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
STEP = BENCH / "steps" / "summary_clv.py"


def run_once(python: Path, data: Path, mode: str, observation_end: str, workdir: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one fresh process."""
    output = workdir / f"out-{os.getpid()}.parquet"
    command = [str(python), str(STEP), "--data", str(data), "--observation-end", observation_end,
               "--mode", mode, "--output", str(output), "--result", str(workdir / "phases.json")]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=STEP.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{python} failed on {data}: {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=BENCH.parent)
    parser.add_argument("--size", default="10M-sparse")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--modes", default="load-rfm,load")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--observation-end", default="2025-12-31")
    args = parser.parse_args()
    data_dir = BENCH / "out" / "data" / args.size
    workdir = BENCH / "out" / "work" / "compare"
    workdir.mkdir(parents=True, exist_ok=True)
    versions = {"before": args.before.resolve() / ".venv/bin/python", "after": args.after.resolve() / ".venv/bin/python"}
    rows = []
    for fmt in args.formats.split(","):
        data = data_dir / f"orders.{fmt}"
        for mode in args.modes.split(","):
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
            for _ in range(args.rounds):
                for name, python in versions.items():
                    runs[name].append(run_once(python, data, mode, args.observation_end, workdir))
            med = {name: (statistics.median(s for s, _ in r), statistics.median(m for _, m in r)) for name, r in runs.items()}
            rows.append((fmt, mode, med["before"], med["after"], runs))
            print(f"{fmt:8s} {mode:9s} before {med['before'][0]:6.2f} s {med['before'][1]:6.0f} MB | "
                  f"after {med['after'][0]:6.2f} s {med['after'][1]:6.0f} MB | ratio {med['after'][0] / med['before'][0]:.3f}",
                  flush=True)
    print("\n| file | step | before s | after s | after / before | before MB | after MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for fmt, mode, before, after, _ in rows:
        print(f"| {fmt} | {mode} | {before[0]:.2f} | {after[0]:.2f} | {after[0] / before[0]:.3f} | "
              f"{before[1]:,.0f} | {after[1]:,.0f} |")
    print(f"\nmedians of {args.rounds} interleaved runs; {os.cpu_count()} cores; load average now "
          f"{os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
