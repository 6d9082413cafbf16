"""Write reproducible synthetic stores for the benchmarks.

    python bench/make_data.py                      # 100k, 1M, 10M clean stores
    python bench/make_data.py --sizes 100M         # the 100M store (about 1.5 GB on disk)
    python bench/make_data.py --sizes 1M --defects --csv
    python bench/make_data.py --sizes 1M 10M --shape sparse   # the issues' reference shape

Each store goes to bench/out/data/<size>/ (gitignored; <size> gets a "-sparse"
suffix with --shape sparse and a "-defects" suffix with --defects).

Shapes:

* ``baskets`` (default): orders of 1 to 3 lines, BG/NBD with the generator's
  default parameters: about 6.6 lines and 3.3 orders per customer (10M lines,
  1.5M customers).
* ``sparse``: one line per order and a slower purchase rate (alpha = 40 days):
  about 2.5 lines per customer, the shape of the reference measurements in the
  issues (1M lines, about 400k customers; 10M lines, about 4M customers). Every size runs in its own child process so the printed
peak memory (ru_maxrss of that child) belongs to that store alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"100k": 100_000, "1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
SHAPES = {
    "baskets": {"max_lines_per_order": 3, "params": None},
    "sparse": {"max_lines_per_order": 1, "params": {"alpha": 40.0}},
}
OUT = Path(__file__).resolve().parent / "out" / "data"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["100k", "1M", "10M"], choices=sorted(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--process", choices=["bgnbd", "paretonbd"], default="bgnbd")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="baskets", help="see the module docstring")
    parser.add_argument("--defects", action="store_true", help="add refunds, duplicates, anonymous and broken lines")
    parser.add_argument("--csv", action="store_true", help="also write orders.csv.gz (slow: gzip)")
    parser.add_argument("--chunk-customers", type=int, default=262_144)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: build a single size
    return parser.parse_args()


def _build_one(args: argparse.Namespace) -> None:
    from clv.data.synthetic import generate_store

    target = SIZES[args.one]
    suffix = ("-sparse" if args.shape == "sparse" else "") + ("-defects" if args.defects else "")
    root = args.out / (args.one + suffix)
    began = time.perf_counter()
    store = generate_store(
        root,
        n_transactions=target,
        seed=args.seed,
        process=args.process,
        defects=args.defects,
        write_csv=args.csv,
        chunk_customers=args.chunk_customers,
        **SHAPES[args.shape],
    )
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    disk_mb = sum(p.stat().st_size for p in root.iterdir()) / 2**20
    counts = store.truth["counts"]
    print(
        json.dumps(
            {
                "size": args.one,
                "rows": counts["rows"],
                "customers": counts["customers"],
                "seconds": round(seconds, 2),
                "rows_per_second": round(counts["rows"] / seconds),
                "peak_rss_mb": round(peak_mb, 1),
                "disk_mb": round(disk_mb, 1),
                "path": str(root),
            }
        ),
        flush=True,
    )


def main() -> int:
    args = _parse()
    if args.one:
        _build_one(args)
        return 0
    for size in args.sizes:
        command = [sys.executable, __file__, "--one", size, "--seed", str(args.seed), "--process", args.process, "--shape", args.shape,
                   "--chunk-customers", str(args.chunk_customers), "--out", str(args.out)]  # fmt: skip
        command += ["--defects"] * args.defects + ["--csv"] * args.csv
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
