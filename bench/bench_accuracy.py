"""Benchmark: holdout accuracy of clv, lifetimes and pymc-marketing on identical calibration data.

    /tmp/venv/bin/python bench/bench_accuracy.py            # CDNOW and Online Retail, every tool
    /tmp/venv/bin/python bench/bench_accuracy.py --data cdnow --no-peers --repeat 1
    /tmp/venv/bin/python bench/bench_accuracy.py --data cdnow --no-pymc

For each data set the per-customer calibration summary (frequency, recency, T,
monetary_value; weeks; all purchases of a customer on one day are one purchase)
is computed once by clv (``clv.summary.calibration_holdout``) and written to
``calibration.parquet``; the holdout actuals go to a separate ``holdout.parquet``
that only this script reads. Every fit step of both tools reads the same
calibration file, each in its own process (bench/harness.py: time limit, peak
memory). The tools: clv (through its model ladder), lifetimes (defaults, no
penalizer) and pymc-marketing (default priors, ``fit(method="map")``: the MAP
point's predictions; its venv is optional, ``bench/peers.py --pymc``):

* BG/NBD, Pareto/NBD and MBG/NBD: fit, then every customer's expected purchases in the
  holdout window E[Y(H) | x, t_x, T], H = the holdout length in weeks;
* Gamma-Gamma: fit on the repeat buyers with a positive mean spend, then every
  customer's expected spend per purchase (population mean for the others).

Predicted holdout value = expected purchases x expected spend (no discounting,
margin 1). Both tools' saved predictions are scored here, in clv's process, by
the same code (``clv.backtest.metrics``) against the actuals: holdout purchase
periods, and gross purchase value in the holdout window (as clv's backtest).
A fit that fails is reported with its message, not left out.

Results: ``bench/out/accuracy.json`` and ``bench/results/accuracy.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness import (OUR_PYTHON, OUT_DIR, RESULTS_DIR, Measurement, Step, machine, measure, peer_python,
                     peer_version)

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "tests" / "data"
WORK = OUT_DIR / "work" / "accuracy"
CLV = "clv"
TRANSACTION_MODELS = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "mbgnbd": "MBG/NBD",
                      "bgnbd_cov": "BG/NBD with covariates", "paretonbd_cov": "Pareto/NBD with covariates"}
COVARIATE_TASKS = ("bgnbd_cov", "paretonbd_cov")  # only on data with covariates, only for tools that have them
SPEND = "gammagamma"
UNIT = "week"
PYMC = "pymc-marketing"
STORE_SEED, STORE_CUSTOMERS = 42, 5_000
GROCERY = {"customers": 5_000, "seed": 7, "k": 4, "r": 2.0, "alpha": 40.0, "a": 1.0, "b": 20.0,
           "start": "2023-01-01", "acquisition_days": 365, "end": "2024-12-31"}
"""The synthetic grocery panel (:func:`grocery_orders`): Erlang-k gaps with k = 4, rates per day Gamma(r, alpha)."""


@dataclass(frozen=True)
class DataSet:
    key: str
    label: str
    calibration_end: str
    observation_end: str
    description: str
    covariates: tuple[str, str, tuple[str, ...]] | None = None  # (file in tests/data, id column, numeric columns)


DATASETS = {
    "cdnow": DataSet(
        "cdnow", "CDNOW", "1997-09-30", "1998-06-30",
        "CDNOW: tests/data/CDNOW_sample.txt (the 1/10 sample, 6,919 lines, 2,357 customers), every line kept "
        "(duplicates='keep'), amount = the dollars column; calibration 1997-01-01 .. 1997-09-30, holdout to "
        "1998-06-30.",
    ),
    "cdnow_master": DataSet(
        "cdnow_master", "CDNOW master", "1997-09-30", "1998-06-30",
        "CDNOW master: tests/data/CDNOW_master.txt (the whole cohort, 69,659 lines, 23,570 customers), every "
        "line kept (duplicates='keep'), amount = the dollars column; calibration 1997-01-01 .. 1997-09-30, "
        "holdout to 1998-06-30.",
    ),
    "apparel": DataSet(
        "apparel", "Apparel", "2007-12-31", "2010-12-20",
        "Apparel: tests/data/apparelTrans.csv (CLVTools' simulated apparel retailer, 3,187 lines, 600 customers "
        "all acquired on 2005-01-02), amount = Price; calibration 2005-01-02 .. 2007-12-31 (half the span), "
        "holdout to 2010-12-20 (the last purchase day). Static covariates: tests/data/apparelStaticCov.csv "
        "(Gender, Channel; 0/1).",
        ("apparelStaticCov.csv", "Id", ("Gender", "Channel")),
    ),
    "retail": DataSet(
        "retail", "Online Retail", "2011-06-30", "2011-12-09",
        "Online Retail: tests/data/online_retail.csv.gz (UCI, 541,909 lines) through load_orders' defaults: "
        "lines without CustomerID rejected, exact-duplicate lines dropped, cancellations (InvoiceNo 'C...', "
        "negative quantity) netted into revenue and never purchases, amount = Quantity x UnitPrice; "
        "calibration 2010-12-01 .. 2011-06-30, holdout to 2011-12-09 (the last invoice day).",
    ),
    "store": DataSet(
        "store", "Synthetic store", "2024-06-30", "2025-12-31",
        f"Synthetic store: clv.data.synthetic.simulate_orders({STORE_CUSTOMERS:,}, seed={STORE_SEED}, "
        "defects=False) (BG/NBD purchases with the generator's default parameters, Gamma spend; customers "
        "acquired uniformly 2023-01-01 .. 2025-12-31); calibration to 2024-06-30, holdout to 2025-12-31.",
    ),
    "grocery": DataSet(
        "grocery", "Synthetic grocery (k = 4)", "2024-06-30", GROCERY["end"],
        f"Synthetic grocery panel: bench_accuracy.grocery_orders() ({GROCERY['customers']:,} customers, seed "
        f"{GROCERY['seed']}): regular buyers, gaps between orders Erlang-{GROCERY['k']} (coefficient of variation "
        f"1/sqrt({GROCERY['k']}) = {GROCERY['k'] ** -0.5:.2f}) with mean 1/lambda, lambda ~ Gamma(r = {GROCERY['r']:g}, "
        f"rate {GROCERY['alpha']:g} days) per customer, dropout after each order with p ~ Beta({GROCERY['a']:g}, "
        f"{GROCERY['b']:g}) (the BG/CNBD-k process of Platzer & Reutterer 2016), first orders uniform over the first "
        f"{GROCERY['acquisition_days']} days from {GROCERY['start']}, amounts Gamma(6) around a log-normal customer "
        "mean of about 40; calibration to 2024-06-30, holdout to 2024-12-31.",
    ),
    "retail_sep": DataSet(
        "retail_sep", "Online Retail (Sep)", "2011-09-08", "2011-12-09",
        "Online Retail (Sep): the same lines as Online Retail; calibration 2010-12-01 .. 2011-09-08, holdout to "
        "2011-12-09.",
    ),
}


def load(key: str):
    """The data set's order lines, loaded by clv (the calls of tests/test_data_real.py)."""
    from clv.data import Columns, LoadPolicy, load_orders
    if key == "cdnow":
        columns = Columns(customer_id="column0", date="column2", quantity="column3", amount="column4")
        return load_orders(DATA_DIR / "CDNOW_sample.txt", columns,
                           LoadPolicy(date_format="%Y%m%d", duplicates="keep"),
                           delimiter="whitespace", header=False)
    if key == "cdnow_master":
        columns = Columns(customer_id="customer_id", date="date", quantity="number_of_cds", amount="dollar_value")
        return load_orders(DATA_DIR / "CDNOW_master.txt", columns,
                           LoadPolicy(date_format="%Y%m%d", duplicates="keep"), delimiter="whitespace")
    if key == "apparel":
        return load_orders(DATA_DIR / "apparelTrans.csv", Columns(customer_id="Id", date="Date", amount="Price"))
    if key == "grocery":
        return grocery_orders()
    if key == "store":
        from clv.data.synthetic import simulate_orders
        return simulate_orders(STORE_CUSTOMERS, seed=STORE_SEED, defects=False)
    columns = Columns(customer_id="CustomerID", timestamp="InvoiceDate", quantity="Quantity",
                      unit_price="UnitPrice", order_id="InvoiceNo", product_id="StockCode")
    return load_orders(DATA_DIR / "online_retail.csv.gz", columns)


def grocery_orders(customers: int = GROCERY["customers"], seed: int = GROCERY["seed"], k: int = GROCERY["k"],
                   r: float = GROCERY["r"], alpha: float = GROCERY["alpha"], a: float = GROCERY["a"],
                   b: float = GROCERY["b"], start: str = GROCERY["start"],
                   acquisition_days: int = GROCERY["acquisition_days"], end: str = GROCERY["end"]) -> pd.DataFrame:
    """Order lines of a grocery-like panel of regular buyers with a known regularity k (one line per order).

    Per customer: purchase rate lambda ~ Gamma(r, rate alpha) per day; gaps between orders Erlang-k with mean
    1/lambda (Gamma(k, scale 1 / (k lambda))); after each order the customer drops out with probability
    p ~ Beta(a, b) (so the number of repeat orders before dropout is geometric); first order uniform over
    ``acquisition_days`` days from ``start``; orders after ``end`` are not observed. Amount per order:
    Gamma(shape 6) around the customer's mean, log-normal(log 40, 0.4). Vectorised over a
    customers x orders matrix (no loop per customer).
    """
    rng = np.random.default_rng(seed)
    horizon = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
    rate = rng.gamma(r, 1.0 / alpha, customers)
    width = int(np.ceil(horizon * np.quantile(rate, 0.999) * 2)) + 10
    gaps = rng.gamma(k, 1.0 / (k * rate[:, None]), (customers, width))
    first = rng.uniform(0, acquisition_days, customers)
    times = first[:, None] + np.concatenate([np.zeros((customers, 1)), np.cumsum(gaps, axis=1)], axis=1)
    repeats = rng.geometric(rng.beta(a, b, customers)) - 1  # repeat orders before dropping out (>= 0)
    alive = np.arange(times.shape[1])[None, :] <= repeats[:, None]
    seen = alive & (times < horizon)
    who, which = np.nonzero(seen)
    mean_spend = np.exp(rng.normal(np.log(40.0), 0.4, customers))
    amount = rng.gamma(6.0, mean_spend[who] / 6.0)
    when = pd.Timestamp(start) + pd.to_timedelta(times[who, which], unit="D")
    return pd.DataFrame({"order_id": np.arange(who.size).astype(str), "customer_id": who + 1,
                         "order_ts": when.floor("s"), "amount": np.round(amount, 2)})


def covariates(data: DataSet) -> pd.DataFrame:
    """The data set's static covariates: customer_id (str, as in calibration.parquet) and its numeric columns."""
    name, id_column, columns = data.covariates
    table = pd.read_csv(DATA_DIR / name)
    return pd.DataFrame({"customer_id": table[id_column].astype(str), **{c: table[c].astype(float) for c in columns}})


def prepare(data: DataSet) -> dict:
    """Write calibration.parquet (what both tools fit on) and holdout.parquet (the actuals); return the facts."""
    from clv.summary import calibration_holdout
    frame = calibration_holdout(load(data.key), calibration_end=data.calibration_end,
                                observation_end=data.observation_end, time_unit=UNIT, merge="day")
    out = WORK / data.key
    out.mkdir(parents=True, exist_ok=True)
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame[["customer_id", "frequency", "recency", "T", "monetary_value"]].to_parquet(
        out / "calibration.parquet", index=False)
    holdout = pd.DataFrame({
        "customer_id": frame["customer_id"],
        "purchases": frame["frequency_holdout"].astype(float),
        "value": frame["frequency_holdout"] * frame["monetary_value_holdout"],
    })
    holdout.to_parquet(out / "holdout.parquet", index=False)
    if data.covariates is not None:
        covariates(data).to_parquet(out / "covariates.parquet", index=False)
    return {
        "customers": len(frame),
        "repeat_buyers": int((frame["frequency"] > 0).sum()),
        "spend_fit_customers": int(((frame["frequency"] > 0) & (frame["monetary_value"] > 0)).sum()),
        "calibration_purchases": int(frame["frequency"].sum()),
        "horizon_weeks": float(frame["duration_holdout"].iloc[0]),
        "new_customers_in_holdout": int(frame.new_customers_in_holdout or 0),
    }


def plan(data: DataSet, horizon: float, tools: list[tuple[str, Path, str, int]], timeout: float) -> list[Step]:
    """Every (tool, task) step on the data set's calibration file; a tool's runs per step are its own repeat."""
    out = WORK / data.key
    steps = []
    for tool, python, script, repeat in tools:
        for task in (*TRANSACTION_MODELS, SPEND):
            extra = []
            if task in COVARIATE_TASKS:
                if data.covariates is None or not tool.startswith(PYMC):
                    continue  # lifetimes has no covariates; clv's covariate fits compete in its backtest
                extra = ["--covariates", str(out / "covariates.parquet")]
            slug = tool.split()[0]
            steps.append(Step(task, data.label, tool, python, script,
                              ["--task", task, "--calibration", str(out / "calibration.parquet"),
                               "--horizon", repr(horizon), "--output", str(out / f"{slug}_{task}.parquet"), *extra],
                              repeat, timeout))
    return steps


def prediction(data: DataSet, m: Measurement, task: str) -> np.ndarray | None:
    """The step's per-customer predictions aligned on the holdout's customers (None if it failed)."""
    if m.status != "ok" or "fit_error" in m.info:
        return None
    path = WORK / data.key / f"{m.tool.split()[0]}_{task}.parquet"
    holdout = pd.read_parquet(WORK / data.key / "holdout.parquet", columns=["customer_id"])
    joined = holdout.merge(pd.read_parquet(path), on="customer_id", how="left", validate="one_to_one")
    return joined["prediction"].to_numpy(float)


def failure(m: Measurement) -> str:
    if m.status != "ok":
        return f"{m.status}: {m.error.strip().splitlines()[-1] if m.error.strip() else ''}"
    return f"fit failed: {m.info['fit_error']}"


def score_rows(data: DataSet, steps: dict[tuple[str, str], Measurement]) -> list[dict]:
    """One row per (model, quantity, tool): the metrics of clv.backtest.metrics on the saved predictions."""
    actual = pd.read_parquet(WORK / data.key / "holdout.parquet")
    rows = []
    for task, name in TRANSACTION_MODELS.items():
        for quantity in ("purchases", "value"):
            for tool in dict.fromkeys(t for (_, t) in steps):
                if (task, tool) not in steps:
                    continue
                parts = [steps[(task, tool)]] + ([steps[(SPEND, tool)]] if quantity == "value" else [])
                model = name if quantity == "purchases" else f"{name} x Gamma-Gamma"
                row = {"data": data.label, "model": model, "quantity": quantity, "tool": tool,
                       "fit_seconds": sum(p.phases.get("fit", math.nan) for p in parts),
                       "peak_mb": max((p.peak_mb or 0.0) for p in parts)}
                predicted = [prediction(data, p, p_task) for p, p_task in zip(parts, (task, SPEND))]
                broken = [p for p, pred in zip(parts, predicted) if pred is None]
                if broken:
                    rows.append({**row, "error": "; ".join(failure(p) for p in broken)})
                    continue
                p = predicted[0] * (predicted[1] if quantity == "value" else 1.0)
                rows.append({**row, **scored(actual[quantity].to_numpy(float), p)})
    return rows


def scored(y: np.ndarray, p: np.ndarray) -> dict:
    """The metrics of clv.backtest.metrics of predictions ``p`` against actuals ``y`` (every tool, the same code);
    ``{"error": ...}`` when a prediction is not a finite number."""
    from clv.backtest.metrics import mae, normalized_gini, percent_error, rmse, spearman, top_share_captured
    if not np.isfinite(p).all():
        return {"error": f"{int((~np.isfinite(p)).sum())} non-finite predictions"}
    return {"predicted_total": float(p.sum()), "actual_total": float(y.sum()),
            "error_pct": percent_error(float(y.sum()), float(p.sum())), "mae": mae(y, p), "rmse": rmse(y, p),
            "spearman": spearman(y, p), "top20_capture": top_share_captured(y, p, 0.2),
            "normalized_gini": normalized_gini(y, p)}


def agreement(data: DataSet, steps: dict[tuple[str, str], Measurement]) -> list[str]:
    """Per task and peer: max relative difference between clv's and the peer's per-customer predictions."""
    tools = list(dict.fromkeys(t for (_, t) in steps))
    notes = []
    for peer in tools[1:]:
        for task in (*TRANSACTION_MODELS, SPEND):
            if (task, tools[0]) not in steps or (task, peer) not in steps:
                continue
            ours, theirs = (prediction(data, steps[(task, t)], task) for t in (tools[0], peer))
            if ours is None or theirs is None:
                continue
            rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
            label = TRANSACTION_MODELS.get(task, "Gamma-Gamma")
            notes.append(f"{data.label}, {label}: per-customer predictions of clv and {peer} differ by at most "
                         f"{rel.max():.1e} (relative; median {np.median(rel):.1e}).")
    return notes


def number(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    lines = ["| data | model | tool | predicted total | actual total | % error | MAE | RMSE | Spearman | "
             "top-20% capture | normalized Gini | fit seconds | peak MB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        digits = 0 if r["quantity"] == "value" else 1
        fit, peak = number(r["fit_seconds"], 3), number(r["peak_mb"], 0)
        if "error" in r:
            cells = [f"**{r['error'].split(':')[0]}**: {r['error'].split(':')[1].strip()} (message in the notes)"] + ["-"] * 7
        else:
            cells = [number(r["predicted_total"], digits), number(r["actual_total"], digits),
                     f"{r['error_pct']:+.1f}%", number(r["mae"], 3), number(r["rmse"], 3), number(r["spearman"], 3),
                     f"{100 * r['top20_capture']:.1f}%", number(r["normalized_gini"], 3)]
        lines.append(f"| {r['data']} | {r['model']} ({r['quantity']}) | {r['tool']} | " + " | ".join(cells)
                     + f" | {fit} | {peak} |")
    return "\n".join(lines)


METRICS = ("predicted_total", "mae", "rmse", "spearman", "top20_capture", "normalized_gini")


def span(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)} to {fmt.format(high)}"


DROPOUT = {"bgnbd": "a", "paretonbd": "s", "mbgnbd": "a"}  # the parameter whose estimate -> 0 means no dropout


def warned_in_log(label: str, task: str, tool: str) -> bool:
    """Whether the step's output (stdout and stderr, saved by the harness) holds a warning."""
    key = next(k for k, d in DATASETS.items() if d.label == label)
    slug = "_".join(part.replace(" ", "-") for part in (task, label, tool))
    log = WORK / key / f"{slug}.log"
    return log.exists() and "warning" in log.read_text().lower()


def findings(label: str, rows: list[dict], steps: dict[tuple[str, str], Measurement]) -> list[str]:
    """What the table shows for one data set, in a few sentences computed from the results."""
    rows = [r for r in rows if r["data"] == label]
    ok = [r for r in rows if "error" not in r]
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    lines = []
    if ok:
        purchases = [r["error_pct"] for r in ok if r["quantity"] == "purchases"]
        value = [r for r in ok if r["quantity"] == "value"]
        lines.append(
            f"{label}: the models that fitted miss total holdout purchases by {span(purchases, '{:+.1f}%')} and "
            f"value by {span([r['error_pct'] for r in value], '{:+.1f}%')}; the top 20% of customers by "
            f"predicted value hold {span([100 * r['top20_capture'] for r in value], '{:.0f}%')} of the "
            f"holdout value (normalized Gini {span([r['normalized_gini'] for r in value], '{:.2f}')}).")
    pairs = {}
    for r in ok:
        pairs.setdefault((r["model"], r["quantity"]), {})[r["tool"]] = r
    for peer in tools[1:]:
        both = [p for p in pairs.values() if tools[0] in p and peer in p]
        if not both:
            continue
        worst = max(abs(p[tools[0]][k] - p[peer][k]) / max(abs(p[peer][k]), 1e-12) for p in both for k in METRICS)
        fits = [(steps[(t, tools[0])], steps[(t, peer)]) for t in (*TRANSACTION_MODELS, SPEND)
                if (t, tools[0]) in steps and (t, peer) in steps and all(m.status == "ok" and "fit_error" not in m.info for m in (steps[(t, tools[0])], steps[(t, peer)]))]
        speed = span([theirs.phases["fit"] / ours.phases["fit"] for ours, theirs in fits], "{:.2g}x")
        same = ("same estimates, same predictions" if worst < 1e-3 else
                "the MAP under its default priors, not the maximum likelihood estimate" if peer.startswith(PYMC)
                else "different estimates")
        lines.append(f"{label}: where clv and {peer} both fit, their metrics agree to {worst:.1e} (largest "
                     f"relative difference: {same}); {peer.split()[0]}'s fits took {speed} clv's time.")
    for task, name in TRANSACTION_MODELS.items():
        if task in COVARIATE_TASKS:
            continue
        refused = [t for t in tools if "fit_error" in steps[(task, t)].info or steps[(task, t)].status != "ok"]
        fitted = [t for t in tools if t not in refused]
        if refused and fitted:
            found = steps[(task, fitted[0])].info["params"]
            params = ", ".join(f"{k} = {v:.3g}" for k, v in found.items())
            dropout = DROPOUT[task]
            used = steps[(task, fitted[0])].info.get("model_used")
            if used and used != task.replace("paretonbd", "pareto"):
                edge = f" (the model ladder used {used}: {steps[(task, fitted[0])].info.get('model_choice', '')})"
            elif found.get(dropout, 1.0) < 1e-3:
                edge = f": {dropout} at its lower edge, i.e. no customer ever drops out (the NBD model without dropout)"
            else:
                edge = ""
            warned = "with a warning in its log" if warned_in_log(label, task, fitted[0]) else "without a warning"
            lines.append(f"{label}, {name}: {', '.join(refused)} refused the fit "
                         f"({failure(steps[(task, refused[0])]).split('(')[0].strip()}); {', '.join(fitted)} "
                         f"returned {params}{edge}, {warned}; its predictions are the ones shown.")
        elif refused:
            lines.append(f"{label}, {name}: no tool fitted it.")
    return lines


def parameter_notes(label: str, steps: dict[tuple[str, str], Measurement]) -> list[str]:
    notes = []
    for (task, tool), m in steps.items():
        what = TRANSACTION_MODELS.get(task, "Gamma-Gamma")
        if m.info.get("params"):
            values = ", ".join(f"{k} = {v:.4g}" for k, v in m.info["params"].items())
            used = m.info.get("model_used")
            ladder = f" (the model ladder used {used}: {m.info.get('model_choice', '')})" if used else ""
            notes.append(f"{label}, {what}, {tool}: {values}{ladder}.")
        elif m.status != "ok" or "fit_error" in m.info:
            notes.append(f"{label}, {what}, {tool}: {failure(m)}")
    return notes


def report(rows: list[dict], facts: dict[str, dict], shows: list[str], notes: list[str], box: dict) -> Path:
    tools = ", ".join(dict.fromkeys(r["tool"] for r in rows))
    lines = ["# Holdout accuracy benchmark", "",
             f"The tools ({tools}) fitted on the same calibration file, their predictions of each customer's "
             "holdout purchases and value scored by the same code (`clv.backtest.metrics`). Generated by "
             "`bench/bench_accuracy.py`; see docs/benchmarks.md.", "",
             f"Measured {box['date']} on {box['cpu']}, {box['cores']} cores, {box['memory_gb']} GB RAM, Python "
             f"{box['python']}; 1-minute load average {box['load_average_1m']} when the run ended.", "",
             markdown_table(rows), "", "## What it shows", ""] + [f"- {line}" for line in shows] + ["", "## Data", ""]
    for key, f in facts.items():
        data = DATASETS[key]
        lines.append(f"- {data.description} {f['customers']:,} calibration customers ({f['repeat_buyers']:,} repeat "
                     f"buyers, {f['spend_fit_customers']:,} with a positive mean spend: the Gamma-Gamma fit), "
                     f"holdout {f['horizon_weeks']:.2f} weeks; {f['new_customers_in_holdout']:,} customers first "
                     "seen in the holdout are left out.")
    lines += ["", "## Notes", ""]
    lines += [
        "- Purchases: predicted = E[Y(H) | x, t_x, T] over the holdout length H in weeks; actual = the customer's "
        "purchase days in the holdout. Value: predicted = expected purchases x Gamma-Gamma expected spend per "
        "purchase (no discounting, margin 1); actual = gross purchase value in the holdout (refunds not "
        "subtracted, as in clv's backtest).",
        "- fit seconds: the fit only (value rows: the transaction model's fit + Gamma-Gamma's), timed inside the "
        "step's process, without the file read and the prediction; median of the runs (each in a fresh process). peak MB: the step process's peak "
        "resident memory over the runs (value rows: the larger of the two steps), interpreter and libraries included.",
        "- lifetimes with its defaults (no penalizer); pymc-marketing with its default priors and "
        "`fit(method=\"map\")` (pymc.find_MAP: the maximum a posteriori point, whose predictions are shown; its "
        "fit seconds include building and compiling the PyMC model, which is what a user waits for). A fit that "
        "raises is shown with its message in place of the metrics.",
    ]
    lines += [f"- {n}" for n in notes]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / "accuracy.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cdnow,retail", help="comma-separated: " + ", ".join(DATASETS))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-pymc", action="store_true", help="leave pymc-marketing out (slow: ~30 s per fit)")
    parser.add_argument("--lifetimes-venv", default="lifetimes")
    parser.add_argument("--pymc-venv", default=PYMC)
    parser.add_argument("--pymc-repeat", type=int, default=1, help="runs of pymc-marketing's steps (median)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of every step (both tools); median reported")
    args = parser.parse_args(argv)
    tools = [(CLV, OUR_PYTHON, "accuracy_clv.py", args.repeat)]
    python = None if args.no_peers else peer_python(args.lifetimes_venv)
    if python is not None:
        tools.append((f"lifetimes {peer_version(args.lifetimes_venv, 'lifetimes')}", python, "accuracy_lifetimes.py",
                      args.repeat))
    elif not args.no_peers:
        print("no lifetimes venv (run bench/peers.py); lifetimes skipped")
    python = None if args.no_peers or args.no_pymc else peer_python(args.pymc_venv)
    if python is not None:
        tools.append((f"{PYMC} {peer_version(args.pymc_venv, 'pymc_marketing')}", python, "accuracy_pymc.py",
                      args.pymc_repeat))
    elif not (args.no_peers or args.no_pymc):
        print("no pymc-marketing venv (run bench/peers.py --pymc); pymc-marketing skipped")
    rows, facts, shows, notes, measurements = [], {}, [], [], []
    for key in args.data.split(","):
        data = DATASETS[key]
        print(f"{data.label}: computing the calibration summary ...", flush=True)
        facts[key] = prepare(data)
        steps = {}
        for step in plan(data, facts[key]["horizon_weeks"], tools, args.timeout):
            steps[(step.step, step.tool)] = measure(step, WORK / key)
        measurements += steps.values()
        rows += score_rows(data, steps)
        shows += findings(data.label, rows, steps)
        notes += agreement(data, steps) + parameter_notes(data.label, steps)
    box = machine()
    (OUT_DIR / "accuracy.json").write_text(json.dumps(
        {"machine": box, "facts": facts, "rows": rows, "measurements": [asdict(m) for m in measurements]},
        indent=2, default=str))
    path = report(rows, facts, shows, notes, box)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
