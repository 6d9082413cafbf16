"""Benchmark and recovery sweep: BG/NBD with static covariates (issue 15).

    PYTHONPATH=src python bench/bench_covariates.py                 # speed (1M x 5) + recovery sweep (200 seeds)
    PYTHONPATH=src python bench/bench_covariates.py --seeds 50 --customers 1000000

Speed. 1M customers simulated from the BG/NBD with five static covariates
(the exponential link of clv.models.covariate_link.BGNBD_LINK), T spread over
one to two years in whole weeks and recency in whole days (as summaries give
them), then ``BetaGeoModel().fit(..., covariates=X)``
timed (median of 3 fits in one warm process: the no-covariate start, the
covariate fit and the standard errors). Two designs:

* ``discrete``: 3 binary columns (gender, channel, newsletter), a 3-level
  region as 2 dummies: 24 distinct profiles (the usual case: categorical
  attributes);
* ``with age``: the same with the second dummy replaced by age in whole years
  (18-80): about 760 profiles;
* ``continuous``: 4 binary-ish columns and one standard-normal column: every
  customer its own profile (the worst case: the likelihood's special functions
  are evaluated per customer).

Recovery. Over ``--seeds`` seeds, 3,000 customers each (one binary and one
3-level covariate on both processes), the share of coefficients whose true
value lies within 2 standard errors of the estimate (expected about 95%).

Results go to bench/results/covariates.md (run once on a quiet machine). The
process CPU time is given next to the wall time: on a shared machine it is
the better measure of the work (the fit is single-threaded apart from NumPy).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clv.models import BetaGeoModel

BASE = {"r": 0.6, "alpha": 4.0, "a": 0.8, "b": 2.5}
RESULTS = Path(__file__).resolve().parent / "results" / "covariates.md"


def speed_design(kind: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    columns = {"gender": rng.integers(0, 2, n), "channel": rng.integers(0, 2, n), "newsletter": rng.integers(0, 2, n)}
    region = rng.integers(0, 3, n)
    columns["region=2"] = region == 1
    if kind == "discrete":
        columns["region=3"] = region == 2
    elif kind == "with age":
        columns["age"] = rng.integers(18, 81, n) / 10.0  # decades, so its coefficient is of the others' size
    else:
        columns["score"] = rng.normal(0.0, 1.0, n)
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in columns.items()})


def truth_for(names) -> dict[str, float]:
    truth = dict(BASE)
    for j, name in enumerate(names):
        truth[f"trans[{name}]"] = 0.3 - 0.15 * j
        truth[f"life[{name}]"] = -0.2 + 0.1 * j
    return truth


def time_fit(kind: str, n: int, repeats: int = 3) -> dict:
    rng = np.random.default_rng(7)
    X = speed_design(kind, n, rng)
    T = rng.integers(52, 105, n).astype(float)
    history = BetaGeoModel().simulate(T, truth_for(X.columns), rng=8, covariates=X)
    recency = np.floor(history["recency"].to_numpy() * 7.0) / 7.0  # whole days, in weeks: as a summary gives it
    args = (history["frequency"].to_numpy(), recency, history["T"].to_numpy())
    times, cpu, model = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        model = BetaGeoModel().fit(*args, covariates=X, time_unit="week")
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    start = time.perf_counter()
    BetaGeoModel().fit(*args, time_unit="week")
    plain = time.perf_counter() - start
    profiles = len(X.drop_duplicates())
    truth = truth_for(X.columns)
    worst = max(abs(model.params_[k] - v) / model.standard_errors_[k] for k, v in truth.items() if "[" in k)
    return {"design": kind, "customers": n, "profiles": profiles, "distinct rows": model.n_distinct_,
            "fit s (median of 3)": statistics.median(times), "fit CPU s (median)": statistics.median(cpu),
            "fit without covariates s": plain,
            "largest |error|/SE of a coefficient": worst}


def recovery(seeds: int, n: int = 3000) -> dict:
    truth = {"r": 0.8, "alpha": 5.0, "a": 0.8, "b": 2.5,
             "trans[g]": 0.5, "trans[h]": -0.3, "life[g]": 0.4, "life[h]": 0.2}
    within, total, start = 0, 0, time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        X = pd.DataFrame({"g": rng.integers(0, 2, n).astype(float), "h": rng.integers(0, 3, n).astype(float)})
        history = BetaGeoModel().simulate(np.full(n, 40.0), truth, rng=seed + 1000, covariates=X)
        model = BetaGeoModel().fit(history["frequency"], history["recency"], history["T"], covariates=X)
        for name in ("trans[g]", "trans[h]", "life[g]", "life[h]"):
            total += 1
            within += abs(model.params_[name] - truth[name]) <= 2 * model.standard_errors_[name]
    return {"seeds": seeds, "customers per seed": n, "coefficients": total, "within 2 SE": within,
            "share": within / total, "seconds": time.perf_counter() - start}


def markdown(rows: list[dict]) -> str:
    """A Markdown table of dicts with the same keys (numbers to 3 significant digits)."""
    def cell(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(row[k]) for k in header) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--designs", default="discrete,with age,continuous")
    options = parser.parse_args()
    speed = [time_fit(kind, options.customers) for kind in options.designs.split(",")]
    sweep = recovery(options.seeds)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    lines = ["# BG/NBD with static covariates: speed and recovery", "",
             f"Machine: {platform.machine()}, {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Load average at the end: {load}. Produced by `bench/bench_covariates.py` (its docstring describes the data).", "",
             "## Fit speed, 1M customers x 5 static covariates", "",
             markdown(speed), "",
             "## Recovery of known coefficients", "",
             markdown([sweep]), ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
