"""Create the peers' virtual environments under ``bench/.peers/`` (gitignored).

    python3.11 bench/peers.py            # lifetimes (today's deps) and lifetimes-2020 (pinned)
    python3.11 bench/peers.py --pymc     # also try pymc-marketing
    python3.11 bench/peers.py --check    # only run the smoke tests
    python3.11 bench/peers.py --pymc --only pymc-marketing   # build one peer

Two lifetimes environments, both lifetimes 0.11.3 (its last release, 2020):

* ``lifetimes``: ``pip install lifetimes`` as a user gets it today (it resolved
  to numpy 2.4, pandas 3.1, scipy 1.17, autograd 1.9 on 2026-11-23). Against
  expectation it imports and passes the smoke test below (summary, BG/NBD,
  Gamma-Gamma + CLV, Pareto/NBD on CDNOW, same parameters as the pinned set).
  The benchmarks use this one by default.
* ``lifetimes-2020``: the stack lifetimes was written against (numpy 1.26,
  pandas 1.5, scipy 1.11, autograd 1.6), for the record and as a fallback
  (``--lifetimes-venv lifetimes-2020`` in the benchmark scripts).

The smoke test summarises a few transactions and fits every model the
benchmarks use, so a broken set fails here rather than in a benchmark.

pymc-marketing gets its own venv. It is optional: it pulls PyMC + PyTensor
(C compilation at first use) and takes minutes to install; the benchmark
scripts use it only where its venv exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import venv
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"

LIFETIMES_CURRENT = ["lifetimes==0.11.3", "pyarrow"]
LIFETIMES_2020_PINS = [
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "pandas==1.5.3",
    "scipy==1.11.4",
    "autograd==1.6.2",
    "dill==0.3.8",
    "pyarrow==14.0.2",  # to read the benchmark Parquet files
]
PYMC_MARKETING_PINS = ["pymc-marketing", "pyarrow"]

LIFETIMES_SMOKE = """
import pandas as pd, lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value
s = load_cdnow_summary_data_with_monetary_value()
bg = BetaGeoFitter().fit(s['frequency'], s['recency'], s['T'])
assert abs(bg.params_['r'] - 0.2426) < 1e-3, bg.params_
repeat = s[s['frequency'] > 0]
gg = GammaGammaFitter().fit(repeat['frequency'], repeat['monetary_value'])
assert abs(gg.params_['p'] - 6.2488) < 1e-3, gg.params_
clv = gg.customer_lifetime_value(bg, s['frequency'], s['recency'], s['T'], s['monetary_value'], time=12, freq='W')
assert clv.notna().all()
pareto = ParetoNBDFitter().fit(s['frequency'], s['recency'], s['T'])
assert abs(pareto.params_['r'] - 0.5533) < 1e-3, pareto.params_
tx = pd.DataFrame({'c': [1, 1, 2], 'd': pd.to_datetime(['2020-01-01', '2020-01-05', '2020-01-02']), 'm': [1.0, 3.0, 2.0]})
out = summary_data_from_transaction_data(tx, 'c', 'd', monetary_value_col='m', observation_period_end='2020-01-10')
assert out.loc[1, 'frequency'] == 1 and out.loc[1, 'T'] == 9 and out.loc[1, 'monetary_value'] == 3.0, out
print('lifetimes', lifetimes.__version__, 'ok')
"""

PYMC_MARKETING_SMOKE = """
import pymc_marketing
from pymc_marketing import clv
print('pymc-marketing', pymc_marketing.__version__, 'ok')
"""


def peer_python(name: str) -> Path:
    """The Python interpreter of peer venv ``name`` (it may not exist yet)."""
    return PEERS_DIR / name / "bin" / "python"


def run(cmd: list[str | Path]) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], text=True, capture_output=True)


def build(name: str, pins: list[str], smoke: str) -> dict:
    """Create venv ``name``, install ``pins``, run ``smoke``; report what happened."""
    target = PEERS_DIR / name
    if not peer_python(name).exists():
        venv.create(target, with_pip=True, clear=True)
    python = peer_python(name)
    install = run([python, "-m", "pip", "install", "--quiet", *pins])
    if install.returncode != 0:
        return {"peer": name, "ok": False, "stage": "install", "error": install.stderr[-3000:]}
    check = run([python, "-c", smoke])
    if check.returncode != 0:
        return {"peer": name, "ok": False, "stage": "smoke test", "error": check.stderr[-3000:]}
    freeze = run([python, "-m", "pip", "freeze"]).stdout.split()
    return {"peer": name, "ok": True, "smoke": check.stdout.strip(), "freeze": freeze}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pymc", action="store_true", help="also build the pymc-marketing venv")
    parser.add_argument("--check", action="store_true", help="only run the smoke tests")
    parser.add_argument("--only", default=None, help="build (or check) only this peer, e.g. pymc-marketing")
    args = parser.parse_args(argv)
    PEERS_DIR.mkdir(exist_ok=True)
    plans = [
        ("lifetimes", LIFETIMES_CURRENT, LIFETIMES_SMOKE),
        ("lifetimes-2020", LIFETIMES_2020_PINS, LIFETIMES_SMOKE),
    ]
    if args.pymc:
        plans.append(("pymc-marketing", PYMC_MARKETING_PINS, PYMC_MARKETING_SMOKE))
    if args.only:
        plans = [plan for plan in plans if plan[0] == args.only]
    results = []
    for name, pins, smoke in plans:
        if args.check:
            ok = peer_python(name).exists() and run([peer_python(name), "-c", smoke]).returncode == 0
            results.append({"peer": name, "ok": ok})
        else:
            results.append(build(name, pins, smoke))
    record = PEERS_DIR / "peers.json"
    known = {r["peer"]: r for r in json.loads(record.read_text())} if record.exists() else {}
    known.update({r["peer"]: r for r in results if not args.check})
    record.write_text(json.dumps(list(known.values()), indent=2))
    for r in results:
        status = "ok" if r["ok"] else f"FAILED at {r['stage']}:\n{r['error']}"
        print(f"{r['peer']}: {status}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
