"""Start-up time: what a user waits for before ``clv`` does any work (issue 13, point 7).

    python bench/startup.py                  # this checkout, 15 runs per case
    python bench/startup.py --runs 30
    python bench/startup.py --before /tmp/before/src   # also another checkout's sources, interleaved ("clv before")

Every run is a whole fresh process, timed from outside as a user waits for it
(``time.perf_counter`` around the process; its CPU time from ``os.wait4``):

* ``clv --version``, ``clv --help``, ``clv fit --help`` (the installed ``clv``
  script next to this interpreter, run on the sources of ``--src``);
* ``python -c "import clv"``;
* ``python -c`` with the imports a script needs to load, summarise, fit and
  score (``load_orders``, ``summarize``, ``BetaGeoModel``, ``GammaGammaModel``,
  ``score_customers``): imports only, no work;
* ``python -c pass``: the interpreter's own start, the floor of every case;
* the peers' imports where their environment exists (``bench/peers.py``):
  ``import lifetimes`` and its fitters, ``from pymc_marketing import clv``.

One warm-up run per case comes first and is not counted: it writes the
bytecode caches (``__pycache__``) as any installed package has them, and warms
the file cache. ``PYTHONDONTWRITEBYTECODE`` is removed from the children's
environment for that reason (with it, every run would compile every module).
Then each case runs ``--runs`` times, cases interleaved round by round, so a
busy spell on the machine hits all cases alike. The table gives the median wall
time, its spread (min-max), and the median CPU time (user + system): on a busy
machine the wall time grows with the load, the CPU time much less.

A second pass runs each case three times under ``python -X importtime`` and sums
the modules' own import times by top-level package (median of the three), to
show where the time goes.

Results: ``bench/results/startup.md`` (the table the README quotes) and
``bench/out/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import OUT_DIR, RESULTS_DIR, machine, peer_python, peer_version

CHECKOUT_SRC = Path(__file__).resolve().parents[1] / "src"
API_IMPORTS = ("from clv.data import load_orders; from clv.summary import summarize; "
               "from clv.models.bgnbd import BetaGeoModel; from clv.models.gammagamma import GammaGammaModel; "
               "from clv.scores import score_customers")  # the modules behind ``from clv import ...``; older versions have them too
LIFETIMES_IMPORTS = "import lifetimes; from lifetimes import BetaGeoFitter, GammaGammaFitter"
TARGETS = {  # case -> seconds (issue 13: on this 2-core machine)
    "clv --version": 0.3,
    "clv --help": 0.3,
    "clv fit --help": 0.3,
    "load + summarise + fit + score API imports": 1.0,
}
CLI_SCRIPT = "import sys\nfrom clv.cli.main import app\nsys.argv[0] = 'clv'\nsys.exit(app())"


@dataclass
class Case:
    """One measured command: a fresh process of ``argv``."""

    name: str
    tool: str
    argv: list[str]
    profile_argv: list[str]  # the same under ``python -X importtime``
    env: dict[str, str] = field(default_factory=dict, repr=False)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    imports_ms: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        return {"median_wall": statistics.median(self.walls), "min_wall": min(self.walls),
                "max_wall": max(self.walls), "median_cpu": statistics.median(self.cpus)}


def clv_script(python: Path) -> list[str]:
    """How to run ``clv``: the installed script next to ``python``, else the same entry point through ``-c``."""
    script = python.parent / "clv"
    return [str(script)] if script.exists() else [str(python), "-c", CLI_SCRIPT]


def python_case(name: str, tool: str, python: Path, code: str) -> Case:
    return Case(name, tool, [str(python), "-c", code], [str(python), "-X", "importtime", "-c", code])


def cli_case(python: Path, *args: str) -> Case:
    profile = [str(python), "-X", "importtime", "-c", CLI_SCRIPT, *args]
    return Case(" ".join(["clv", *args]), "clv", [*clv_script(python), *args], profile)


def clv_cases(python: Path, tool: str, src: Path) -> list[Case]:
    found = [
        cli_case(python, "--version"),
        cli_case(python, "--help"),
        cli_case(python, "fit", "--help"),
        python_case("import clv", "clv", python, "import clv"),
        python_case("load + summarise + fit + score API imports", "clv", python, API_IMPORTS),
    ]
    for case in found:
        case.tool, case.env = tool, child_environment(src)
    return found


def cases(python: Path, src: Path, before: Path | None) -> list[Case]:
    found = [python_case("python -c pass", "python", python, "pass"), *clv_cases(python, "clv", src)]
    if before is not None:
        found += clv_cases(python, "clv before", before)
    lifetimes = peer_python("lifetimes")
    if lifetimes is not None:
        tool = f"lifetimes {peer_version('lifetimes', 'lifetimes')}"
        found.append(python_case("import lifetimes", tool, lifetimes, "import lifetimes"))
        found.append(python_case("load + summarise + fit + score API imports", tool, lifetimes, LIFETIMES_IMPORTS))
    pymc = peer_python("pymc-marketing")
    if pymc is not None:
        tool = f"pymc-marketing {peer_version('pymc-marketing', 'pymc_marketing')}"
        found.append(python_case("load + summarise + fit + score API imports", tool, pymc,
                                 "from pymc_marketing import clv"))
    return found


def child_environment(src: Path) -> dict[str, str]:
    """This environment with ``src`` first on the path and bytecode caching on (as for an installed package)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    env["COLUMNS"] = "100"
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process; a failure stops the benchmark."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {os.waitstatus_to_exitcode(status)}):\n{error[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def import_times(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Milliseconds of import time by top-level package in one run (the modules' own times summed)."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)", line)
        if match:
            totals[match.group(3).split(".")[0]] += int(match.group(1)) / 1000
    totals["(all)"] = sum(totals.values())
    return totals


def import_breakdown(argv: list[str], env: dict[str, str], top: int, repeats: int = 3) -> dict[str, float]:
    """Median over ``repeats`` runs of each package's import milliseconds: the ``top`` largest, and "(all)"."""
    runs = [import_times(argv, env) for _ in range(repeats)]
    medians = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in set().union(*runs)}
    ranked = sorted(((n, ms) for n, ms in medians.items() if n != "(all)"), key=lambda item: -item[1])
    return {name: round(ms, 1) for name, ms in ranked[:top]} | {"(all)": round(medians["(all)"], 1)}


def measure(found: list[Case], runs: int, top: int) -> None:
    for case in found:
        case.env = case.env or child_environment(CHECKOUT_SRC)
        run_once(case.argv, case.env)  # warm-up: bytecode caches and the file cache
    for _ in range(runs):
        for case in found:
            wall, cpu = run_once(case.argv, case.env)
            case.walls.append(wall)
            case.cpus.append(cpu)
    for case in found:
        if case.tool != "python":
            case.imports_ms = import_breakdown(case.profile_argv, case.env, top)


def table(found: list[Case]) -> list[str]:
    rows = ["| case | tool | median wall s | spread (min-max) s | median CPU s | target | met |",
            "|---|---|---:|---|---:|---:|---|"]
    for case in found:
        s = case.summary()
        target = TARGETS.get(case.name) if case.tool.startswith("clv") else None
        met = "" if target is None else ("yes" if s["median_wall"] <= target else "no")
        rows.append(f"| {case.name} | {case.tool} | {s['median_wall']:.3f} | {s['min_wall']:.3f}-{s['max_wall']:.3f} "
                    f"| {s['median_cpu']:.3f} | {'' if target is None else f'{target:.1f}'} | {met} |")
    return rows


def breakdown(found: list[Case]) -> list[str]:
    rows = ["| case | tool | import time by package (ms: the modules' own times summed, median of 3 runs of -X importtime) |",
            "|---|---|---|"]
    for case in found:
        if case.imports_ms and case.tool != "clv before":
            parts = ", ".join(f"{name} {ms:.0f}" for name, ms in case.imports_ms.items() if name != "(all)")
            rows.append(f"| {case.name} | {case.tool} | all {case.imports_ms['(all)']:.0f}: {parts} |")
    return rows


def write(found: list[Case], box: dict, src: Path, before: Path | None, before_label: str, runs: int) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"name": "startup", "src": str(src), "before": str(before) if before else None,
               "before_label": before_label, "runs": runs, "machine": box,
               "cases": [{**{k: v for k, v in asdict(c).items() if k != 'env'}, **c.summary()} for c in found]}
    (OUT_DIR / "startup.json").write_text(json.dumps(payload, indent=2))
    lines = ["# Start-up benchmark", "",
             "What a user waits for before `clv` does any work: whole fresh processes, timed from outside. "
             "Generated by `bench/startup.py`; see docs/benchmarks.md.", "",
             f"Measured {box['date']} on {box['cpu']}, {box['cores']} cores, {box['memory_gb']} GB RAM, "
             f"Python {box['python']}; {runs} runs per case after one warm-up run (bytecode cached), cases "
             f"interleaved; 1-minute load average {box['load_average_1m']} when the run ended (other work on the "
             "machine slows every case; the CPU time much less than the wall time).", "",
             *table(found), "", *breakdown(found), ""]
    if before is not None:
        lines += [f"`clv before`: {before_label or before}, measured in the same rounds.", ""]
    path = RESULTS_DIR / "startup.md"
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per case (after one warm-up run)")
    parser.add_argument("--src", type=Path, default=CHECKOUT_SRC, help="the clv sources to measure (default: this checkout's)")
    parser.add_argument("--before", type=Path, help="also measure these clv sources (e.g. an older checkout's src)")
    parser.add_argument("--before-label", default="", help="what --before is, for the results file (e.g. a commit)")
    parser.add_argument("--top", type=int, default=6, help="packages shown in the import-time breakdown")
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    args = parser.parse_args()
    python = Path(sys.executable)
    found = cases(python, args.src.resolve(), args.before.resolve() if args.before else None)
    measure(found, args.runs, args.top)
    box = machine()
    print("\n".join([*table(found), "", *breakdown(found)]))
    print(f"\n{box['cpu']}, {box['cores']} cores; load average {box['load_average_1m']}; sources {args.src}")
    if not args.no_write:
        print(f"wrote {write(found, box, args.src.resolve(), args.before, args.before_label, args.runs)}")


if __name__ == "__main__":
    main()
