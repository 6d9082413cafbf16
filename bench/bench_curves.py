"""Benchmark: CLV at 10 horizons per customer, clv's value curve (one pass) vs looping horizons.

    /work/main/.venv/bin/python bench/bench_curves.py                 # 100k and 1M customers
    /work/main/.venv/bin/python bench/bench_curves.py --sizes 100k

The question (issue 15, part 3): a user wants every customer's value at 1, 2, 3, 6, 9, 12, 18, 24, 30
and 36 months. The peers compute one horizon per call (one user reported more than an hour for ten
horizons with lifetimes); ``clv.scores.value_curve`` computes expected purchases and value per month on
one (distinct histories x months) grid and reads the ten horizons (and the whole lifetime) as
cumulative columns.

Data: BG/NBD customers simulated with clv (``BetaGeoModel.simulate``, the CDNOW estimates converted to
days, ages uniform over 30-730 days) with Gamma-distributed mean order values, written once to
``bench/out/work/curves/<size>/summary.parquet``; clv fits BG/NBD and Gamma-Gamma on it once, and every
step scores with those parameters (so the per-customer check compares the same model).

Steps (each in its own process, see bench/harness.py), one row per tool for the same task:

* ``clv``: one ``value_curve`` call (36 months of 30 days, plus the lifetime value);
* ``clv, looped``: ``score_customers`` once per horizon (clv used the peers' way);
* ``lifetimes 0.11.3``: ``GammaGammaFitter.customer_lifetime_value`` once per horizon (its venv,
  ``bench/.peers/lifetimes``; left out with a note when that venv is missing).

Conventions are lifetimes': months of 30 days, 1% per month, each month discounted at its end (clv is
given ``step=30`` days and the equivalent annual rate). Check: per-customer CLV at every horizon,
maximum relative difference to clv's curve.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness import OUR_PYTHON, OUT_DIR, Step, fill_ratios, measure, peer_python, peer_version, write_results

WORK = OUT_DIR / "work" / "curves"
SIZES = {"100k": 100_000, "1M": 1_000_000}
MONTHS = "1,2,3,6,9,12,18,24,30,36"
CDNOW_DAYS = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}  # the paper's weeks in days
CURVE, LOOP = "CLV at 10 horizons (1-36 months)", "CLV at 10 horizons (1-36 months)"


def summary_file(size: str) -> tuple[Path, Path]:
    """The size's summary (simulated once) and clv's fitted parameters on it."""
    folder = WORK / size
    summary, params = folder / "summary.parquet", folder / "params.json"
    if summary.exists() and params.exists():
        return summary, params
    from clv.models import BetaGeoModel, GammaGammaModel

    folder.mkdir(parents=True, exist_ok=True)
    n = SIZES[size]
    rng = np.random.default_rng(15)
    table = BetaGeoModel().simulate(T=rng.uniform(30, 730, n), params=CDNOW_DAYS, rng=15)
    table["monetary_value"] = np.where(table["frequency"] > 0, rng.gamma(4.0, 12.0, n), 0.0)
    table.insert(0, "customer_id", np.arange(n).astype(str))
    table.to_parquet(summary, index=False)
    purchases = BetaGeoModel().fit(table["frequency"], table["recency"], table["T"], time_unit="day")
    repeat = table[table["frequency"] > 0]
    spend = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    fitted = {**purchases.params_, "p": spend.params_["p"], "q": spend.params_["q"], "v": spend.params_["gamma"]}
    params.write_text(json.dumps(fitted))
    return summary, params


def steps(size: str, summary: Path, params: Path, outputs: dict[str, Path]) -> list[Step]:
    common = ["--summary", str(summary), "--params", str(params), "--months", MONTHS]
    found = [
        Step(CURVE, size, "clv", OUR_PYTHON, "curves_clv.py", ["--task", "curve", *common, "--output", str(outputs["clv"])],
             repeat=3, timeout=900),
        Step(LOOP, size, "clv, looped", OUR_PYTHON, "curves_clv.py",
             ["--task", "loop", *common, "--output", str(outputs["clv, looped"])], repeat=3, timeout=900),
    ]
    python = peer_python("lifetimes")
    if python is not None:
        found.append(Step(LOOP, size, f"lifetimes {peer_version('lifetimes', 'lifetimes')}", python,
                          "curves_lifetimes.py", [*common, "--output", str(outputs["lifetimes"])], repeat=1,
                          timeout=3600))
    return found


def check(reference: Path, other: Path) -> str:
    """Max relative difference of per-customer CLV over the 10 horizons."""
    if not (reference.exists() and other.exists()):
        return ""
    a, b = pd.read_parquet(reference), pd.read_parquet(other)
    worst = 0.0
    for column in (c for c in a.columns if c.startswith("clv_") and c in b.columns):
        x, y = a[column].to_numpy(), b[column].to_numpy()
        worst = max(worst, float(np.max(np.abs(x - y) / np.maximum(np.abs(x), 1e-9))))
    return f"{len(a):,} customers x 10 horizons; CLV max rel. diff {worst:.1e} vs clv's curve"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M")
    args = parser.parse_args()
    measurements = []
    for size in args.sizes.split(","):
        summary, params = summary_file(size)
        outputs = {tool: WORK / size / f"clv_{tool.replace(', ', '_')}.parquet" for tool in ("clv", "clv, looped", "lifetimes")}
        for step in steps(size, summary, params, outputs):
            found = measure(step, WORK / size)
            key = "lifetimes" if step.tool.startswith("lifetimes") else step.tool
            if key != "clv" and found.status == "ok":
                found.check = check(outputs["clv"], outputs[key])
            measurements.append(found)
    fill_ratios(measurements, "clv")
    notes = [
        "clv = one value_curve call: expected purchases on the (distinct histories x 36 months) grid once, value "
        "per month, the 10 horizons read as cumulative columns (and the lifetime value, by the scorer's quadrature, "
        "in the same call).",
        "clv, looped = score_customers once per horizon; lifetimes = customer_lifetime_value once per horizon "
        "(each call sums its months again from the first).",
        "Same parameters for every tool (clv's fit), months of 30 days, 1% a month, each month discounted at its end.",
    ]
    if peer_python("lifetimes") is None:
        notes.append("lifetimes is missing (bench/.peers/lifetimes): run `python3.11 bench/peers.py` to add its row.")
    path = write_results("curves", "Value curves: CLV at 10 horizons", measurements,
                         intro="Every customer's CLV at 1, 2, 3, 6, 9, 12, 18, 24, 30 and 36 months. Generated by "
                               "`bench/bench_curves.py`; ratio = seconds / clv's value curve.",
                         targets=[], notes=notes, extra={"months": MONTHS})
    print(path.read_text())


if __name__ == "__main__":
    main()
