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


def write_result(path: Path, phases: Phases, **info) -> None:
    """The step's measured time (sum of its phases), the phases and any facts."""
    payload = {"seconds": phases.total, "phases": phases.seconds, **info}
    Path(path).write_text(json.dumps(payload, default=str))
