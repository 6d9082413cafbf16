"""Benchmark: per data set, the backtest's champion next to the best of lifetimes and of pymc-marketing.

    python bench/bench_accuracy.py --data cdnow,cdnow_master,apparel,retail,retail_sep,store   # the peers' side
    python bench/bench_datasets.py                                                             # these tables

For each data set of ``bench_accuracy.DATASETS`` (same files, same loading,
same calibration and holdout dates) this runs ``clv.backtest.backtest`` with
its default options, as ``clv backtest`` does (every registered purchase model
competes), and records:

* the champion (``BacktestResult.best``) and the rule's reason;
* the side-by-side table: the champion's per-customer holdout error (RMSE) of
  purchases and of value next to the best of lifetimes' models and the best of
  pymc-marketing's models. The champion's predictions are scored here against
  ``holdout.parquet`` by ``bench_accuracy.scored``, the code that scored the
  peers' predictions (``bench/out/accuracy.json``, written by
  ``bench_accuracy.py``, which runs each peer in its own venv on
  ``calibration.parquet``); the backtest's calibration data are checked equal
  to that file, customer by customer. A peer's "best" is its model with the
  lowest holdout RMSE, chosen per quantity after the fact (the most favourable
  choice for the peer); a peer not run or whose every fit failed is shown as
  such, never left out;
* the champion's holdout errors: total purchases and total value off by (%),
  per-customer error of value (RMSE) and ranking (Spearman of value);
* the holdout coverage of the 80% and 95% intervals for purchases and value of
  the best fitted model (the champion when it is a model; baselines give no
  interval);
* the fitted models' ladder choice and data-sufficiency verdict.

Results: ``bench/out/datasets.json`` and ``bench/results/datasets.md``; the
README's "Accuracy on real data" table is copied from the latter.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import pandas as pd

from bench_accuracy import DATA_DIR, DATASETS, WORK, load, prepare, scored
from harness import OUT_DIR, RESULTS_DIR, machine

LEVELS = (0.8, 0.95)
QUANTITIES = ("purchases", "value")
PEERS = ("lifetimes", "pymc-marketing")
CLEARLY_LOWER = 0.95  # the "at least 5% lower"
TIE = 1 + 1e-6  # a ratio up to this is "at most the peer's" (the same estimate, rounding apart)


def peer_rows(path=OUT_DIR / "accuracy.json") -> dict[str, dict[str, dict[str, dict]]]:
    """The peers' rows of accuracy.json: data label -> peer -> quantity -> its best row, or a row with ``error``.

    A peer's best row for a quantity is its model with the lowest holdout RMSE (chosen after the fact, the most
    favourable choice for the peer). When none of its models fitted, the row carries the failures in ``error``.
    A data set or peer absent from the file is absent here (the table then says "not run").
    """
    if not path.exists():
        return {}
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for row in json.loads(path.read_text())["rows"]:
        peer = next((p for p in PEERS if row["tool"].startswith(p)), None)
        if peer is None:
            continue
        slot = out.setdefault(row["data"], {}).setdefault(peer, {})
        current = slot.get(row["quantity"])
        if current is None or _better(row, current):
            slot[row["quantity"]] = dict(row)
        elif "error" in row and "error" in current:
            current["error"] = f"{current['error']}; {row['model']}: {row['error']}"
    return out


def _better(row: dict, current: dict) -> bool:
    """Whether ``row`` beats ``current`` as the peer's best: it fitted and the other did not, or a lower RMSE."""
    if "error" in row:
        return False
    return "error" in current or row["rmse"] < current["rmse"]


def champion_scores(key: str, result, calibration_data) -> dict[str, dict]:
    """The champion's holdout predictions scored against bench_accuracy's holdout.parquet by ``scored``.

    Checks first that the backtest's calibration data (``calibration_data``: ``split_orders`` with the
    backtest's arguments; frequency, recency, T per customer) equal bench_accuracy's calibration.parquet,
    the file the peers fitted: the same data for every tool.
    """
    folder = WORK / key
    calibration = pd.read_parquet(folder / "calibration.parquet")
    ours = calibration_data.table[["customer_id", "frequency", "recency", "T"]].copy()
    ours["customer_id"] = ours["customer_id"].astype(str)
    both = ours.merge(calibration, on="customer_id", how="outer", indicator=True, suffixes=("_backtest", ""))
    if not (both["_merge"] == "both").all():
        raise RuntimeError(f"{key}: the backtest's customers differ from calibration.parquet's "
                           f"({int((both['_merge'] != 'both').sum())} not in both)")
    for column in ("frequency", "recency", "T"):
        if not np.allclose(both[f"{column}_backtest"], both[column], rtol=1e-12, atol=1e-9):
            raise RuntimeError(f"{key}: the backtest's {column} differs from calibration.parquet's")
    frame = result.predictions.assign(customer_id=result.predictions["customer_id"].astype(str))
    actual = pd.read_parquet(folder / "holdout.parquet")
    joined = actual.merge(frame, on="customer_id", how="left", validate="one_to_one")
    out = {}
    for quantity in QUANTITIES:
        column = f"{result.best}_{quantity}"
        if column in joined.columns:
            out[quantity] = scored(joined[quantity].to_numpy(float), joined[column].to_numpy(float))
    return out


def coverage(metrics: pd.DataFrame, name: str) -> dict[str, float]:
    row = metrics.set_index("predictor").loc[name]
    return {f"{q}_{level}": float(row.get(f"{q}_coverage_{level}", math.nan)) for q in QUANTITIES for level in LEVELS}


def best_model(metrics: pd.DataFrame, champion: str) -> str | None:
    """The champion if it is a fitted model, else the model the rule ranked first among the models."""
    models = metrics[metrics["kind"] == "model"]
    if models.empty:
        return None
    if champion in set(models["predictor"]):
        return champion
    return str(models.sort_values("value_rmse")["predictor"].iloc[0])


def verdicts(result) -> dict[str, dict]:
    """Per fitted purchase model: the ladder's choice and the data-sufficiency verdict."""
    out = {}
    for name, model in result.models.items():
        choice = getattr(model, "model_choice_", None)
        sufficiency = getattr(model, "sufficiency_", None)
        if choice is None and sufficiency is None:
            continue
        out[name] = {
            "used": getattr(choice, "used", name),
            "choice": getattr(choice, "reason", ""),
            "verdict": getattr(sufficiency, "verdict", None),
            "reasons": list(getattr(sufficiency, "reasons", ())),
        }
    return out


def run(key: str) -> dict:
    from clv.backtest import backtest, split_orders

    data = DATASETS[key]
    if not (WORK / key / "holdout.parquet").exists():  # bench_accuracy.py not run for it: the peers show "not run"
        prepare(data)
    orders = load(key)
    options, covariates = covariate_options(data)
    start = time.perf_counter()
    result = backtest(orders, calibration_end=data.calibration_end, observation_end=data.observation_end,
                      time_unit="week", **options)
    seconds = time.perf_counter() - start
    split = split_orders(orders, calibration_end=data.calibration_end, observation_end=data.observation_end,
                         time_unit="week", merge="day")  # the backtest's own split, to check the peers' file
    metrics = result.metrics
    champion = result.best
    row = metrics.set_index("predictor").loc[champion]
    model = best_model(metrics, champion)
    return {
        "key": key, "data": data.label, "calibration_end": data.calibration_end,
        "observation_end": data.observation_end, "customers": int(len(result.predictions)),
        "champion": champion, "kind": str(row["kind"]), "reason": result.best_reason,
        "purchases_error_pct": float(row["purchases_total_error_pct"]),
        "value_error_pct": float(row["value_total_error_pct"]), "value_rmse": float(row["value_rmse"]),
        "value_spearman": float(row["value_spearman"]),
        "coverage_model": model, "coverage": coverage(metrics, model) if model else {},
        "models": verdicts(result), "warnings": list(result.warnings), "seconds": seconds,
        "scores": champion_scores(key, result, split.data),
        "candidates": {r["predictor"]: {"kind": r["kind"], "purchases_rmse": float(r["purchases_rmse"]),
                                        "value_rmse": float(r.get("value_rmse", math.nan))}
                       for r in metrics.to_dict(orient="records")},
        "models_compared": dict(result.settings["models_compared"]), "covariates": covariates,
        "failed": [] if result.failed is None else result.failed.to_dict(orient="records"),
    }


def covariate_options(data) -> tuple[dict, str | None]:
    """The backtest's covariate options for a data set with static covariates, and what was done, in words.

    Given when this clv has static covariates (``clv.summary.covariates``) and a registered purchase model
    that takes them; otherwise the data set is backtested without them and the words say why.
    """
    import importlib.util

    if data.covariates is None:
        return {}, None
    name, id_column, columns = data.covariates
    from clv.models import model_class, model_names
    takers = [m for m in model_names("purchase")
              if getattr(model_class(m).capabilities, "static_covariates", False)]
    if importlib.util.find_spec("clv.summary.covariates") is None or not takers:
        return {}, f"{', '.join(columns)} not used: no registered purchase model of this clv takes static covariates"
    options = dict(covariates=DATA_DIR / name, covariate_columns=list(columns), covariate_id=id_column)
    return options, f"{', '.join(columns)} ({name}), for {', '.join(takers)}"


def pct(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:+.1f}%"


def share(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def num(value: float, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def peer_cell(peer: dict | None, quantity: str) -> tuple[str, float]:
    """(cell text, RMSE or NaN) of a peer's best row for ``quantity``: "not run", "failed: ..." or "RMSE (model)"."""
    row = (peer or {}).get(quantity)
    if row is None:
        return "not run", math.nan
    if "error" in row:
        return f"failed: {' '.join(row['error'].split())[:80]}", math.nan
    model = row["model"].replace(" x Gamma-Gamma", "")
    return f"{num(row['rmse'], 3)} ({model})", float(row["rmse"])


def ratio_cell(ours: float, peers: list[float]) -> tuple[str, float]:
    """clv / best peer (the lowest RMSE among the peers that ran), or "-" when no peer ran."""
    known = [p for p in peers if not math.isnan(p)]
    if not known or math.isnan(ours):
        return "- (no peer)", math.nan
    ratio = ours / min(known)
    return f"{ratio:.3f}", ratio


def comparison(rows: list[dict], peers: dict[str, dict]) -> tuple[str, list[str]]:
    """The side-by-side table (Markdown) and the target's verdict lines.

    Per data set and quantity: the champion's RMSE, each peer's best, and clv / best peer. Target of issue 15:
    at most 1 on every data set, at most 0.95 (5% lower) on at least two; a ratio without any peer counts as not
    shown, never as met.
    """
    head = ["data", "clv champion"]
    for quantity in QUANTITIES:
        head += [f"{quantity} RMSE: clv", *(f"{quantity}: best {p}" for p in PEERS), f"{quantity}: clv / best peer"]
    lines = ["| " + " | ".join(head) + " | target |", "|---|---|" + "---:|---|---|---:|" * len(QUANTITIES) + "---|"]
    verdicts = {}
    for r in rows:
        cells, ratios = [r["data"], r["champion"] + ("" if r["kind"] == "model" else " (baseline)")], []
        for quantity in QUANTITIES:
            ours = r["scores"].get(quantity, {}).get("rmse", math.nan)
            texts, values = zip(*(peer_cell(peers.get(r["data"], {}).get(p), quantity) for p in PEERS))
            ratio_text, ratio = ratio_cell(ours, list(values))
            cells += [num(ours, 3), *texts, ratio_text]
            ratios.append(ratio)
        verdicts[r["data"]] = ratios
        cells.append(target_cell(ratios))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), target_lines(verdicts)


def target_cell(ratios: list[float]) -> str:
    if any(math.isnan(x) for x in ratios):
        return "no peer to compare"
    if all(x <= CLEARLY_LOWER for x in ratios):
        return "met, >= 5% lower on both"
    if all(x <= TIE for x in ratios):
        lower = [q for q, x in zip(QUANTITIES, ratios) if x <= CLEARLY_LOWER]
        return "met" + (f", >= 5% lower on {lower[0]}" if lower else " (within 5%)")
    worse = [f"{q} {100 * (x - 1):+.2g}%" for q, x in zip(QUANTITIES, ratios) if x > TIE]
    return f"NOT met: higher error on {', '.join(worse)}"


def target_lines(verdicts: dict[str, list[float]]) -> list[str]:
    """The issue's target, checked: champion <= best peer everywhere; >= 5% lower on at least two data sets."""
    compared = {d: v for d, v in verdicts.items() if not any(math.isnan(x) for x in v)}
    at_most = [d for d, v in compared.items() if all(x <= TIE for x in v)]
    clearly = [d for d, v in compared.items() if all(x <= CLEARLY_LOWER for x in v)]
    somewhat = [d for d, v in compared.items() if any(x <= CLEARLY_LOWER for x in v)]
    missing = [d for d in verdicts if d not in compared]
    lines = [f"Champion's error at most the best peer's, purchases and value: {len(at_most)} of {len(compared)} "
             f"data sets compared ({', '.join(at_most) or 'none'}); target: all. "
             + ("MET." if compared and len(at_most) == len(compared) else "NOT MET."),
             f"At least 5% lower on both purchases and value: {len(clearly)} data set(s) ({', '.join(clearly) or 'none'}); "
             f"on at least one of the two: {len(somewhat)} ({', '.join(somewhat) or 'none'}); target: 2. "
             + ("MET." if len(clearly) >= 2 else "NOT MET.")]
    if missing:
        lines.append(f"Not compared (no peer result): {', '.join(missing)}.")
    return lines


def in_band(cov: dict[str, float]) -> str:
    bands = {0.8: (0.75, 0.85), 0.95: (0.92, 0.98)}
    ok = [bands[level][0] <= cov.get(f"{q}_{level}", math.nan) <= bands[level][1]
          for q in QUANTITIES for level in LEVELS]
    return "yes" if all(ok) else f"{sum(ok)} of 4"


def markdown(rows: list[dict]) -> str:
    """The detail table: the champion's totals, ranking, interval coverage and the models' verdicts."""
    lines = ["| data (calibration end / holdout end) | champion | purchases total off | value total off | "
             "value error per customer (RMSE) | ranking (Spearman) | coverage 80% purchases / value | "
             "coverage 95% purchases / value | in band | verdict |",
             "|---|---|---:|---:|---:|---:|---|---|---|---|"]
    for r in rows:
        cov = r["coverage"]
        c80 = f"{share(cov.get('purchases_0.8'))} / {share(cov.get('value_0.8'))}" if cov else "-"
        c95 = f"{share(cov.get('purchases_0.95'))} / {share(cov.get('value_0.95'))}" if cov else "-"
        verdict = "; ".join(f"{name}: {v['verdict']}" + (f" (used {v['used']})" if v["used"] != name else "")
                            for name, v in r["models"].items() if v["verdict"]) or "-"
        champion = r["champion"] + ("" if r["kind"] == "model" else " (baseline)")
        lines.append(f"| {r['data']} ({r['calibration_end']} / {r['observation_end']}) | {champion} | "
                     f"{pct(r['purchases_error_pct'])} | {pct(r['value_error_pct'])} | {num(r['value_rmse'])} | "
                     f"{num(r['value_spearman'], 3)} | {c80} | {c95} | "
                     f"{in_band(cov) if cov else '-'} ({r['coverage_model'] or 'no model'}) | {verdict} |")
    return "\n".join(lines)


def candidates_line(r: dict) -> str:
    """Every predictor the backtest compared with its per-customer errors, and the models that failed."""
    shown = ", ".join(f"{name} {num(c['purchases_rmse'], 3)} / {num(c['value_rmse'], 2)}"
                      for name, c in sorted(r["candidates"].items(), key=lambda item: item[1]["value_rmse"]))
    text = f"{r['data']}: purchases / value RMSE of every predictor compared: {shown}."
    if r.get("covariates"):
        text += f" Static covariates: {r['covariates']}."
    fell = {k: v for k, v in r["models_compared"].items() if k != v}
    if fell:
        text += " Fell back to the NBD by the model ladder: " + ", ".join(fell) + "."
    if r["failed"]:
        text += " Failed: " + "; ".join(f"{f['predictor']} ({f['stage']}): {f['reason']}" for f in r["failed"]) + "."
    return text


def report(rows: list[dict], peers: dict[str, dict], box: dict, peer_box: dict | None) -> str:
    table, target = comparison(rows, peers)
    peer_when = (f" The peers' run: {peer_box['date']}, load average {peer_box['load_average_1m']} at its end."
                 if peer_box else " No peer run found (bench/out/accuracy.json).")
    lines = ["# Accuracy on real data: clv's champion, the best of lifetimes and of pymc-marketing", "",
             "Generated by `bench/bench_datasets.py` (clv's backtest with its defaults: every registered purchase "
             "model competes) from `bench/bench_accuracy.py`'s peer runs (lifetimes, pymc-marketing MAP; same "
             "calibration file, checked equal to the backtest's, same metric code).", "",
             f"Measured {box['date']} on {box['cpu']}, {box['cores']} cores, {box['memory_gb']} GB RAM, Python "
             f"{box['python']}.{peer_when}", "",
             "## Per-customer holdout error, side by side", "", table, ""]
    lines += [f"- {line}" for line in target]
    lines += ["", "## The champion: totals, ranking, intervals, verdicts", "", markdown(rows), "",
              "## Why each champion", ""]
    lines += [f"- {r['data']}: {r['reason']}" for r in rows]
    lines += ["", "## Every predictor the backtest compared", ""]
    lines += [f"- {candidates_line(r)}" for r in rows]
    lines += ["", "## Verdicts and the model ladder", ""]
    for r in rows:
        for name, v in r["models"].items():
            reasons = " ".join(v["reasons"])
            lines.append(f"- {r['data']}, {name}: {v['choice'].rstrip('.')}. Verdict: {v['verdict']}. {reasons}".rstrip())
    lines += ["", "## Warnings of the backtest", ""]
    lines += [f"- {r['data']}: {w}" for r in rows for w in r["warnings"]]
    lines += ["", "## Notes", "",
              "- RMSE: root mean squared error over the calibration customers of the holdout purchases (purchase "
              "days) and the holdout value (gross purchase value; predicted = expected purchases x Gamma-Gamma "
              "expected spend, no discounting), `bench_accuracy.scored` (clv.backtest.metrics) for every tool.",
              "- clv's champion is the backtest's own choice (a vote over six checks on the holdout, "
              "docs/backtest.md), not the lowest RMSE; a peer's best is its lowest-RMSE model per quantity, "
              "picked after the fact, which favours the peer.",
              "- Coverage: share of calibration customers whose holdout purchases (value) fell inside the model's "
              "80% and 95% intervals; the band asked for is 75-85% and 92-98%. Baselines give no interval, so the "
              "coverage shown is that of the best fitted model (named in the 'in band' column).",
              "- lifetimes 0.11.3 with its defaults (no penalizer); pymc-marketing with its default priors, "
              "`fit(method=\"map\")`. Their every model, with its fit time, in bench/results/accuracy.md."]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cdnow,cdnow_master,apparel,retail,retail_sep,store",
                        help="comma-separated: " + ", ".join(DATASETS))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite datasets.md from bench/out/datasets.json (no backtest is run)")
    args = parser.parse_args(argv)
    if args.report_only:
        saved = json.loads((OUT_DIR / "datasets.json").read_text())
        accuracy = OUT_DIR / "accuracy.json"
        peer_box = json.loads(accuracy.read_text())["machine"] if accuracy.exists() else None
        (RESULTS_DIR / "datasets.md").write_text(report(saved["rows"], peer_rows(), saved["machine"], peer_box))
        return 0
    rows = []
    for key in args.data.split(","):
        print(f"{DATASETS[key].label}: backtest ...", flush=True)
        rows.append(run(key))
    peers = peer_rows()
    accuracy = OUT_DIR / "accuracy.json"
    peer_box = json.loads(accuracy.read_text())["machine"] if accuracy.exists() else None
    box = machine()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "datasets.json").write_text(json.dumps({"machine": box, "rows": rows}, indent=2, default=str))
    text = report(rows, peers, box, peer_box)
    (RESULTS_DIR / "datasets.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
