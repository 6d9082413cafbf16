"""The accuracy bench's side-by-side table says what is missing or failed, never hides it (bench/bench_datasets.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
bench_datasets = pytest.importorskip("bench_datasets")


def _row(data: str, purchases: float, value: float, champion: str = "bgnbd") -> dict:
    return {"data": data, "champion": champion, "kind": "model",
            "scores": {"purchases": {"rmse": purchases}, "value": {"rmse": value}}}


def _peer(tool: str, data: str, model: str, quantity: str, rmse: float | None, error: str | None = None) -> dict:
    row = {"data": data, "tool": tool, "model": model if quantity == "purchases" else f"{model} x Gamma-Gamma",
           "quantity": quantity}
    return {**row, "error": error} if error else {**row, "rmse": rmse}


def _accuracy_file(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "accuracy.json"
    path.write_text(json.dumps({"machine": {}, "rows": rows}))
    return path


def test_a_peer_not_run_is_shown_and_never_counts_as_beaten(tmp_path):
    rows = [_peer("lifetimes 0.11.3", "A", "BG/NBD", q, r) for q, r in (("purchases", 2.0), ("value", 100.0))]
    rows += [_peer("lifetimes 0.11.3", "A", "Pareto/NBD", q, r) for q, r in (("purchases", 1.5), ("value", 120.0))]
    peers = bench_datasets.peer_rows(_accuracy_file(tmp_path, rows))
    assert peers["A"]["lifetimes"]["purchases"]["model"] == "Pareto/NBD"  # the peer's best, per quantity
    assert peers["A"]["lifetimes"]["value"]["model"] == "BG/NBD x Gamma-Gamma"
    table, verdict = bench_datasets.comparison([_row("A", 1.4, 90.0), _row("B", 1.0, 10.0)], peers)
    line_a = next(line for line in table.splitlines() if line.startswith("| A |"))
    line_b = next(line for line in table.splitlines() if line.startswith("| B |"))
    assert "not run" in line_a  # pymc-marketing absent: said so
    assert "0.933" in line_a and "0.900" in line_a  # 1.4 / 1.5 and 90 / 100
    assert line_b.count("not run") == 4 and "no peer to compare" in line_b
    assert "1 of 1 data sets compared" in verdict[0] and "MET." in verdict[0]
    assert "1 data set(s) (A)" in verdict[1] and "NOT MET." in verdict[1]  # two needed
    assert "Not compared (no peer result): B." in verdict[2]


def test_a_peer_whose_fits_all_failed_is_shown_with_its_errors_and_a_worse_champion_is_reported(tmp_path):
    rows = [_peer("pymc-marketing 0.19.2", "A", "BG/NBD", "value", None, error="fit failed: boom")]
    rows += [_peer("pymc-marketing 0.19.2", "A", "BG/NBD", "purchases", None, error="fit failed: boom")]
    rows += [_peer("lifetimes 0.11.3", "A", "BG/NBD", q, r) for q, r in (("purchases", 1.0), ("value", 50.0))]
    peers = bench_datasets.peer_rows(_accuracy_file(tmp_path, rows))
    table, verdict = bench_datasets.comparison([_row("A", 1.1, 50.0)], peers)
    line = next(line for line in table.splitlines() if line.startswith("| A |"))
    assert "failed: fit failed: boom" in line
    assert "NOT met: higher error on purchases +10%" in line
    assert "0 of 1" in verdict[0] and "NOT MET." in verdict[0]
    assert math.isnan(bench_datasets.ratio_cell(1.0, [math.nan])[1])
