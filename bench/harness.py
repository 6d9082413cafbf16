"""Run benchmark steps in their own processes and write the results.

Each measured step is a script under ``bench/steps/`` run by some Python (ours:
the interpreter running the benchmark; a peer's: its venv under
``bench/.peers/``). The step times its own work with ``time.perf_counter`` and
writes ``{"seconds": ..., "phases": {...}, ...}`` to a JSON file; the harness
adds nothing to it but a time limit: a step running past it is killed and
reported as "over N s". Peak memory is the child's own high-water mark of
resident memory since exec (Linux ``VmHWM``): the step reports it at its end,
and the harness polls ``/proc/<pid>/status`` meanwhile (for a step that is
killed). ``ru_maxrss`` from ``wait4`` is not used because it also counts the
parent's memory inherited between fork and exec.

Results go to ``bench/out/<name>.json`` (everything) and
``bench/results/<name>.md`` (the Markdown tables the README quotes).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
STEPS_DIR = BENCH_DIR / "steps"
OUT_DIR = BENCH_DIR / "out"
RESULTS_DIR = BENCH_DIR / "results"
PEERS_DIR = BENCH_DIR / ".peers"
OUR_PYTHON = Path(sys.executable)


def peer_python(name: str) -> Path | None:
    """A peer venv's interpreter, or None when ``bench/peers.py`` has not built it."""
    python = PEERS_DIR / name / "bin" / "python"
    return python if python.exists() else None


def peer_version(name: str, module: str) -> str:
    python = peer_python(name)
    if python is None:
        return "not installed"
    code = f"import {module}; print({module}.__version__)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


@dataclass
class Step:
    """One measured command: ``python steps/<script> <args>``."""

    step: str  # what is measured, e.g. "summary (parquet)"
    size: str  # data size label, e.g. "10M"
    tool: str  # who does it, e.g. "clv", "lifetimes 0.11.3"
    python: Path
    script: str
    args: list[str] = field(default_factory=list)
    repeat: int = 1
    timeout: float = 300.0


@dataclass
class Measurement:
    step: str
    size: str
    tool: str
    status: str  # "ok", "over N s", "failed"
    seconds: float | None = None  # median over repeats of the step's own timing
    runs: list[float] = field(default_factory=list)
    peak_mb: float | None = None  # max over repeats of the child's peak RSS
    wall_seconds: float | None = None  # median process wall time incl. start-up/imports
    phases: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    ratio: str = ""
    check: str = ""


def _high_water_mb(pid: int) -> float | None:
    """VmHWM of a running process in MB (None when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def _highest(*values: float | None) -> float | None:
    """The largest known value; None when none is known (never a made-up 0)."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _wait_with_limit(process: subprocess.Popen, limit: float) -> tuple[int | None, float | None]:
    """Wait for ``process``; kill its process group past ``limit`` seconds.

    Returns (exit status or None when killed, highest VmHWM seen while polling, MB).
    """
    deadline = time.monotonic() + limit
    peak = None
    while True:
        if process.poll() is not None:
            return process.returncode, peak
        peak = _highest(peak, _high_water_mb(process.pid))
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None, peak
        time.sleep(0.05)


def run_once(step: Step, result_path: Path, log_path: Path) -> tuple[str, dict, float, float, str]:
    """One run of ``step``: (status, result JSON, peak MB, wall seconds, error text)."""
    result_path.unlink(missing_ok=True)
    command = [str(step.python), str(STEPS_DIR / step.script), "--result", str(result_path), *step.args]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    start = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        code, peak_mb = _wait_with_limit(process, step.timeout)
    wall = time.perf_counter() - start
    if code is None:
        return f"over {step.timeout:.0f} s", {}, peak_mb, wall, ""
    if code != 0 or not result_path.exists():
        tail = log_path.read_text()[-1500:]
        return "failed", {}, peak_mb, wall, tail
    result = json.loads(result_path.read_text())
    return "ok", result, _highest(peak_mb, result.get("peak_rss_mb")), wall, ""


def measure(step: Step, work_dir: Path) -> Measurement:
    """Run ``step`` ``repeat`` times (each in a fresh process) and summarise."""
    work_dir.mkdir(parents=True, exist_ok=True)
    slug = "_".join(part.replace(" ", "-").replace("/", "-") for part in (step.step, step.size, step.tool))
    found = Measurement(step.step, step.size, step.tool, status="ok")
    walls, peaks, results = [], [], []
    for attempt in range(step.repeat):
        print(f"  {step.step} | {step.size} | {step.tool} | run {attempt + 1}/{step.repeat} ...", end=" ", flush=True)
        status, result, peak, wall, error = run_once(step, work_dir / f"{slug}.result.json", work_dir / f"{slug}.log")
        peaks.append(peak)
        if status != "ok":
            found.status, found.error = status, error
            print(status, flush=True)
            break
        results.append(result)
        walls.append(wall)
        print(f"{result['seconds']:.2f} s, {'?' if peak is None else f'{peak:.0f}'} MB", flush=True)
    found.peak_mb = _highest(*peaks)
    if results:
        found.runs = [r["seconds"] for r in results]
        found.seconds = statistics.median(found.runs)
        found.wall_seconds = statistics.median(walls)
        best = min(results, key=lambda r: abs(r["seconds"] - found.seconds))
        found.phases = best.get("phases", {})
        found.info = {k: v for k, v in best.items() if k not in ("seconds", "phases", "peak_rss_mb")}
    return found


def machine() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def format_seconds(m: Measurement) -> str:
    if m.status != "ok":
        return m.status
    return f"{m.seconds:.2f}" if m.seconds < 100 else f"{m.seconds:.0f}"


def markdown_table(measurements: list[Measurement]) -> str:
    rows = ["| step | size | tool | seconds | peak MB | ratio | check |", "|---|---|---|---:|---:|---|---|"]
    for m in measurements:
        peak = f"{m.peak_mb:,.0f}" if m.peak_mb is not None else ""
        rows.append(f"| {m.step} | {m.size} | {m.tool} | {format_seconds(m)} | {peak} | {m.ratio} | {m.check} |")
    return "\n".join(rows)


def write_results(name: str, title: str, measurements: list[Measurement], *, intro: str,
                  targets: list[dict[str, str]], notes: list[str], extra: dict[str, Any],
                  box: dict[str, Any] | None = None) -> Path:
    """Write bench/out/<name>.json and bench/results/<name>.md; return the .md path.

    ``box``: the machine record of the run (default: now, this machine).
    """
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    box = box or machine()
    payload = {"name": name, "machine": box, "measurements": [asdict(m) for m in measurements],
               "targets": targets, **extra}
    (OUT_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    lines = [f"# {title}", "", intro, "",
             f"Measured {box['date']} on {box['cpu']}, {box['cores']} cores, {box['memory_gb']} GB RAM, "
             f"Python {box['python']}; 1-minute load average {box['load_average_1m']} when the run ended "
             "(other work on the machine slows every tool).", "", markdown_table(measurements), ""]
    if targets:
        lines += ["| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {t['met']} |" for t in targets]
        lines.append("")
    lines += [f"- {note}" for note in notes]
    path = RESULTS_DIR / f"{name}.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def find(measurements: list[Measurement], step: str, size: str, tool_prefix: str) -> Measurement | None:
    for m in measurements:
        if m.step == step and m.size == size and m.tool.startswith(tool_prefix):
            return m
    return None


def fill_ratios(measurements: list[Measurement], reference_tool: str = "clv") -> None:
    """ratio = seconds / the reference tool's seconds for the same step and size."""
    for m in measurements:
        ref = next((r for r in measurements if r.step == m.step and r.size == m.size and r.tool == reference_tool), None)
        if ref is None or ref.seconds is None or not ref.seconds:
            continue
        if m.seconds is not None:
            m.ratio = f"{m.seconds / ref.seconds:.2f}x {reference_tool}"
        elif m.status.startswith("over"):
            m.ratio = f"> {float(m.status.split()[1]) / ref.seconds:.0f}x {reference_tool}"
