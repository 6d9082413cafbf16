"""clv's Pareto/NBD fit on a summary file (days), timed to its answer: the fitted parameters or the refusal.

A refusal (``clv.errors.ClvError``, e.g. the maximum at the no-dropout edge) is an answer too: the
result records it (``outcome``) and its time, instead of failing the step.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

from _common import Phases, parser, write_result


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--summary", required=True)
    p.add_argument("--output")
    p.add_argument("--src", help="a clv source tree to measure instead of the installed one (e.g. a worktree's src)")
    args = p.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    from clv.errors import ClvError
    from clv.models.paretonbd import ParetoNBDModel

    s = pd.read_parquet(args.summary)
    phases = Phases()
    info: dict = {"customers": len(s)}
    cpu_start = time.process_time()
    with phases("fit"):
        try:
            model = ParetoNBDModel().fit(s["frequency"], s["recency"], s["T"])
        except ClvError as error:
            model, info["outcome"] = None, f"refused: {str(error)[:160]}"
    info["cpu_seconds"] = time.process_time() - cpu_start  # this process's CPU time: what other work cannot inflate
    if model is not None:
        info.update(outcome="fitted", params=model.params_, distinct_rows=model.n_distinct_)
        if args.output:
            with open(args.output, "w") as handle:
                json.dump(model.params_, handle)
    write_result(args.result, phases, **info)


if __name__ == "__main__":
    main()
