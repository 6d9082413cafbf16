"""Shared by the step scripts (standard library only: peers' venvs import it too)."""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--result`` option every step takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--result", required=True, type=Path, help="where to write the timing JSON")
    return p


class Phases:
    """Named wall-clock phases of one step, timed with ``perf_counter``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def peak_rss_mb() -> float | None:
    """This process's peak resident memory since its exec (Linux VmHWM), in MB.

    Unlike ``ru_maxrss`` seen by the parent, VmHWM does not include the parent's
    memory that the child inherited between fork and exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def write_result(path: Path, phases: Phases, **info) -> None:
    """The step's measured time (sum of its phases), the phases, its peak memory and any facts."""
    payload = {"seconds": phases.total, "phases": phases.seconds, "peak_rss_mb": peak_rss_mb(), **info}
    Path(path).write_text(json.dumps(payload, default=str))
