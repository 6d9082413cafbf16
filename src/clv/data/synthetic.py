"""A seedable synthetic store whose behaviour is known exactly.

Customers are simulated from the Buy-Till-You-Die models the package fits, so
every estimate can be checked against the truth that generated the data:

* purchase rate ``lambda ~ Gamma(r, alpha)`` (shape ``r``, rate ``alpha``, per day);
* BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
  Marketing Science 24(2)): after each *repeat* purchase the customer drops out
  with probability ``p ~ Beta(a, b)``;
* Pareto/NBD (Schmittlein, Morrison & Colombo 1987, Management Science 33(1)):
  the customer drops out at ``tau ~ Exp(mu)``, ``mu ~ Gamma(s, beta)``;
* Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4);
  Colombo & Jiang 1999): ``nu ~ Gamma(q, v)`` per customer, each order value
  ``z ~ Gamma(p, nu)`` so ``E[z | nu] = p / nu`` and ``E[z] = p v / (q - 1)``.

The first purchase is at acquisition (the customer's time 0). All time
parameters are in DAYS. Everything is vectorised with NumPy over fixed blocks of
customers; each block draws from its own ``SeedSequence(seed, spawn_key=...)``
stream, so the data depend on ``(seed, n_customers, block_customers, settings)``
and not on ``chunk_customers`` (which only sets how much is held in memory and
written per Parquet row group). See docs/synthetic-store.md.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from scipy.special import hyp2f1

from clv.errors import DataError

SECONDS_PER_DAY = 86_400
ORDER_ID_BASE = 100_000_000
FORMAT_VERSION = 1

DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    # Heavy heterogeneity in purchase rates: mean lambda = r/alpha = 1/80 per day.
    "bgnbd": {"r": 0.25, "alpha": 20.0, "a": 0.8, "b": 2.5},
    # Mean dropout rate s/beta = 1/375 per day.
    "paretonbd": {"r": 0.25, "alpha": 20.0, "s": 0.8, "beta": 300.0},
}
DEFAULT_SPEND = {"p": 6.0, "q": 4.0, "v": 30.0}  # E[order value] = p v / (q - 1) = 60 USD

DEFAULT_CHANNELS: dict[str, dict[str, float]] = {
    "search": {"share": 0.35, "cac": 45.0},
    "social": {"share": 0.25, "cac": 60.0},
    "email": {"share": 0.15, "cac": 15.0},
    "referral": {"share": 0.10, "cac": 25.0},
    "store": {"share": 0.15, "cac": 30.0},
}

DEFAULT_DEFECT_RATES = {"refund": 0.02, "duplicate": 0.01, "anonymous": 0.02, "broken": 0.005}
DEFECT_KINDS = tuple(DEFAULT_DEFECT_RATES)
REFUND_DELAY_DAYS = 14.0
BROKEN_KINDS = ("null_ts", "nan_amount", "future_ts")
CSV_BAD_TIMESTAMPS = ("not a date", "2024-02-30 25:61:00", "??/??/????")
CSV_BAD_AMOUNTS = ("n/a", "12.34.56", "USD 9..9")

ORDERS_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("customer_id", pa.int64()),
        ("order_ts", pa.timestamp("us")),
        ("product_id", pa.string()),
        ("quantity", pa.int64()),
        ("unit_price", pa.float64()),
        ("amount", pa.float64()),
        ("cost", pa.float64()),
        ("channel", pa.string()),
        ("currency", pa.string()),
    ]
)


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class _Config:
    """Every resolved setting of one simulation (validated once)."""

    process: str
    params: dict[str, float]
    spend: dict[str, float]
    seed: int
    start_s: int  # observation start, epoch seconds
    end_s: int  # observation end (exclusive), epoch seconds
    growth: float
    channel_names: tuple[str, ...]
    channel_shares: np.ndarray
    channel_cac: np.ndarray
    products: pd.DataFrame
    max_lines_per_order: int
    defect_rates: dict[str, float]
    block_customers: int

    @property
    def window_days(self) -> float:
        return (self.end_s - self.start_s) / SECONDS_PER_DAY


def _positive(name: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name}={value!r} is not a number. Fix: pass a positive number.") from None
    if not math.isfinite(value) or value <= 0:
        raise DataError(f"{name}={value!r} must be a positive finite number. Fix: pass e.g. {name}=1.0.")
    return value


def _resolve_params(process: str, params: Mapping[str, float] | None) -> tuple[dict, dict]:
    if process not in DEFAULT_PARAMS:
        raise DataError(f"process={process!r} is not supported. Fix: pass process='bgnbd' or process='paretonbd'.")
    allowed = {**DEFAULT_PARAMS[process], **DEFAULT_SPEND}
    given = dict(params or {})
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise DataError(
            f"params has unknown key(s) {unknown} for process={process!r}. "
            f"Fix: use only {sorted(allowed)} (all rates/scales in days)."
        )
    merged = {k: _positive(f"params[{k!r}]", given.get(k, v)) for k, v in allowed.items()}
    model = {k: merged[k] for k in DEFAULT_PARAMS[process]}
    spend = {k: merged[k] for k in DEFAULT_SPEND}
    if spend["q"] <= 1:
        raise DataError(f"params['q']={spend['q']} must be > 1 so the mean order value p v/(q-1) exists. Fix: pass q>1.")
    return model, spend


def _resolve_channels(channels: Mapping[str, Mapping[str, float]] | None):
    channels = DEFAULT_CHANNELS if channels is None else channels
    if not channels:
        raise DataError("channels is empty. Fix: pass e.g. {'search': {'share': 1.0, 'cac': 40.0}}.")
    names, shares, cacs = [], [], []
    for name, spec in channels.items():
        if not isinstance(spec, Mapping) or set(spec) != {"share", "cac"}:
            raise DataError(
                f"channels[{name!r}]={spec!r} must be a mapping with keys 'share' and 'cac'. "
                f"Fix: channels={{{name!r}: {{'share': 0.5, 'cac': 40.0}}, ...}}."
            )
        names.append(str(name))
        shares.append(_positive(f"channels[{name!r}]['share']", spec["share"]))
        cac = float(spec["cac"])
        if not math.isfinite(cac) or cac < 0:
            raise DataError(f"channels[{name!r}]['cac']={cac!r} must be >= 0. Fix: pass the cost per acquired customer.")
        cacs.append(cac)
    shares_arr = np.asarray(shares) / np.sum(shares)
    return tuple(names), shares_arr, np.asarray(cacs)


def _resolve_defects(defects: bool | Mapping[str, float]) -> dict[str, float]:
    if defects is True:
        return dict(DEFAULT_DEFECT_RATES)
    if defects is False or defects is None:
        return dict.fromkeys(DEFECT_KINDS, 0.0)
    unknown = sorted(set(defects) - set(DEFECT_KINDS))
    if unknown:
        raise DataError(f"defects has unknown kind(s) {unknown}. Fix: use only {list(DEFECT_KINDS)}.")
    rates = {kind: float(defects.get(kind, 0.0)) for kind in DEFECT_KINDS}
    for kind, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            raise DataError(f"defects[{kind!r}]={rate!r} must be a rate in [0, 1]. Fix: e.g. defects={{{kind!r}: 0.01}}.")
    return rates


def make_products(n_products: int = 200, *, seed: int = 0) -> pd.DataFrame:
    """A product catalogue: ids ``SKU-00001``..., log-normal list prices
    (median about 20 USD), margin rates uniform in [0.25, 0.65] and Zipf(1)
    popularity weights (the probability a line is that product)."""
    if int(n_products) < 1:
        raise DataError(f"products={n_products!r} must be >= 1. Fix: pass the catalogue size, e.g. products=200.")
    n = int(n_products)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    popularity = 1.0 / np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "product_id": [f"SKU-{i:05d}" for i in range(1, n + 1)],
            "list_price": np.round(np.exp(rng.normal(3.0, 0.8, n)), 2).clip(0.5),
            "margin_rate": np.round(rng.uniform(0.25, 0.65, n), 3),
            "popularity": popularity / popularity.sum(),
        }
    )


def _resolve_products(products: int | pd.DataFrame, seed: int) -> pd.DataFrame:
    if isinstance(products, pd.DataFrame):
        needed = ["product_id", "list_price", "margin_rate", "popularity"]
        missing = [c for c in needed if c not in products.columns]
        if missing:
            raise DataError(f"products DataFrame lacks column(s) {missing}. Fix: provide columns {needed}.")
        catalogue = products[needed].reset_index(drop=True).copy()
        catalogue["product_id"] = catalogue["product_id"].astype(str)
        weights = catalogue["popularity"].to_numpy(float)
        if (weights < 0).any() or weights.sum() <= 0 or (catalogue["list_price"] <= 0).any():
            raise DataError("products: popularity must be >= 0 (not all 0) and list_price > 0. Fix the catalogue.")
        catalogue["popularity"] = weights / weights.sum()
        return catalogue
    return make_products(products, seed=seed)


def _epoch_seconds(value: str | pd.Timestamp, name: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(f"{name}={value!r} is not a date. Fix: pass e.g. {name}='2023-01-01'.") from None
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return int(ts.value // 1_000_000_000)


def _config(
    *, process, params, seed, start, end, growth, channels, products, max_lines_per_order, defects, block_customers
) -> _Config:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed={seed!r} must be a non-negative integer. Fix: pass e.g. seed=0.")
    model, spend = _resolve_params(process, params)
    start_s = _epoch_seconds(start, "start")
    end_s = _epoch_seconds(end, "end") + SECONDS_PER_DAY  # `end` is the last observed day
    if end_s - start_s < SECONDS_PER_DAY:
        raise DataError(f"end={end!r} must be on or after start={start!r}. Fix: pass a later end date.")
    if not math.isfinite(float(growth)) or growth <= -1:
        raise DataError(f"growth={growth!r} must be > -1 (annual growth of acquisitions). Fix: e.g. growth=0.3.")
    if int(max_lines_per_order) < 1:
        raise DataError(f"max_lines_per_order={max_lines_per_order!r} must be >= 1. Fix: e.g. 3.")
    if int(block_customers) < 1:
        raise DataError(f"block_customers={block_customers!r} must be >= 1. Fix: keep the default 65536.")
    names, shares, cacs = _resolve_channels(channels)
    return _Config(
        process=process,
        params=model,
        spend=spend,
        seed=int(seed),
        start_s=start_s,
        end_s=end_s,
        growth=float(growth),
        channel_names=names,
        channel_shares=shares,
        channel_cac=cacs,
        products=_resolve_products(products, int(seed)),
        max_lines_per_order=int(max_lines_per_order),
        defect_rates=_resolve_defects(defects),
        block_customers=int(block_customers),
    )


# ------------------------------------------------------------- closed-form expectations


def expected_repeat_purchases(process: str, params: Mapping[str, float], t: np.ndarray | float) -> np.ndarray:
    """E[X(t)], the expected number of repeat purchases of a new customer observed ``t`` days.

    BG/NBD (Fader, Hardie & Lee 2005, eq. 9):
        E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r * 2F1(r, b; a+b-1; t/(alpha+t))]
    Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note):
        E[X(t)] = r beta / (alpha (s-1)) * [1 - (beta/(beta+t))^(s-1)]
    """
    t = np.asarray(t, dtype=float)
    r, alpha = params["r"], params["alpha"]
    if process == "bgnbd":
        a, b = params["a"], params["b"]
        if abs(a - 1) < 1e-6:  # removable singularity at a = 1: mean of both sides, error O(1e-8)
            return (_bgnbd_expectation(r, alpha, 1 - 1e-4, b, t) + _bgnbd_expectation(r, alpha, 1 + 1e-4, b, t)) / 2
        return _bgnbd_expectation(r, alpha, a, b, t)
    s, beta = params["s"], params["beta"]
    if abs(s - 1) < 1e-9:  # limit s -> 1: r beta/alpha * log(1 + t/beta)
        return r * beta / alpha * np.log1p(t / beta)
    return r * beta / (alpha * (s - 1)) * (1 - np.exp((s - 1) * np.log(beta / (beta + t))))


def _bgnbd_expectation(r: float, alpha: float, a: float, b: float, t: np.ndarray) -> np.ndarray:
    head = np.exp(r * np.log(alpha / (alpha + t)))
    return (a + b - 1) / (a - 1) * (1 - head * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def expected_order_value(spend: Mapping[str, float]) -> float:
    """Gamma-Gamma mean order value E[z] = p v / (q - 1) (Fader, Hardie & Lee 2005, JMR)."""
    return spend["p"] * spend["v"] / (spend["q"] - 1)


def _acquisition_days(u: np.ndarray, window_days: float, growth: float) -> np.ndarray:
    """Inverse CDF of acquisition times on [0, T) with density proportional to (1+g)^(t/365.25)."""
    k = math.log1p(growth) / 365.25
    if abs(k * window_days) < 1e-12:
        return u * window_days
    return np.log1p(u * np.expm1(k * window_days)) / k


def _expected_orders_per_customer(cfg: _Config) -> float:
    """1 + E[X(T - acquisition)], averaged over the acquisition density (midpoint rule)."""
    grid = (np.arange(4096) + 0.5) / 4096
    observed = cfg.window_days - _acquisition_days(grid, cfg.window_days, cfg.growth)
    return float(1 + np.mean(expected_repeat_purchases(cfg.process, cfg.params, observed)))


def _customers_for_transactions(cfg: _Config, n_transactions: int) -> int:
    """Customers needed for about ``n_transactions`` clean order lines."""
    lines_per_order = (1 + cfg.max_lines_per_order) / 2
    per_customer = _expected_orders_per_customer(cfg) * lines_per_order
    return max(1, int(round(n_transactions / per_customer)))


# --------------------------------------------------------------------------- engine


@dataclass
class _Block:
    """One block of simulated customers and their order lines (NumPy arrays)."""

    customers: dict[str, np.ndarray]
    lines: dict[str, np.ndarray]
    n_orders: int  # order numbers 0..n_orders-1 are clean orders, above are anonymous ones
    n_order_numbers: int
    defect_counts: dict[str, int]
    acquisitions: np.ndarray  # customers acquired, shape (n_channels, n_months)


def _rng(cfg: _Config, stream: int, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(stream, block)))


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _first_order_statistics(rng, n_events, n_keep, horizon) -> np.ndarray:
    """The first ``n_keep[i]`` of ``n_events[i]`` uniform order statistics on [0, horizon[i]),
    flat in customer order. Uses U_(k) = S_k / S_(n+1) with S the partial sums of Exp(1)
    draws; S_(n+1) = S_K + Gamma(n+1-K) so only K draws per customer are made."""
    gaps = rng.exponential(size=int(n_keep.sum()))
    owner = np.repeat(np.arange(n_keep.size), n_keep)
    running = np.cumsum(gaps)
    before = np.concatenate(([0.0], running))[_segment_starts(n_keep)]
    partial = running - before[owner]
    last = np.zeros(n_keep.size)
    has = n_keep > 0
    last[has] = partial[_segment_starts(n_keep)[has] + n_keep[has] - 1]
    total = last + rng.gamma(n_events - n_keep + 1.0)
    return horizon[owner] * partial / total[owner]


def _simulate_customers(cfg: _Config, rng: np.random.Generator, n: int) -> tuple[dict, np.ndarray]:
    """Per-customer truth plus the flat array of repeat-purchase times (days since acquisition)."""
    T = cfg.window_days
    acquired = _acquisition_days(rng.random(n), T, cfg.growth)
    observed = T - acquired
    channel = rng.choice(len(cfg.channel_names), size=n, p=cfg.channel_shares)
    lam = rng.gamma(cfg.params["r"], 1.0 / cfg.params["alpha"], n)
    safe_lam = np.maximum(lam, 1e-300)
    out = {"acquired_days": acquired, "observed_days": observed, "channel": channel, "lambda": lam}
    with np.errstate(over="ignore", divide="ignore"):
        if cfg.process == "bgnbd":
            p = np.clip(rng.beta(cfg.params["a"], cfg.params["b"], n), 1e-12, 1.0)
            n_events = rng.poisson(lam * observed)
            drop_after = rng.geometric(p)  # repeat purchases until dropout, >= 1
            n_repeat = np.minimum(n_events, drop_after)
            times = _first_order_statistics(rng, n_events, n_repeat, observed)
            dropout = observed + rng.gamma(np.maximum(drop_after - n_events, 1).astype(float), 1.0 / safe_lam)
            dies_inside = drop_after <= n_events
            ends = _segment_starts(n_repeat) + n_repeat - 1
            dropout[dies_inside] = times[ends[dies_inside]]
            out["p"] = p
        else:
            mu = rng.gamma(cfg.params["s"], 1.0 / cfg.params["beta"], n)
            dropout = rng.exponential(1.0 / np.maximum(mu, 1e-300))
            horizon = np.minimum(dropout, observed)
            n_repeat = rng.poisson(lam * horizon)
            times = _first_order_statistics(rng, n_repeat, n_repeat, horizon)
            out["mu"] = mu
    out["dropout_days"] = dropout
    out["n_repeat"] = n_repeat
    out["nu"] = rng.gamma(cfg.spend["q"], 1.0 / cfg.spend["v"], n)
    return out, times


def _simulate_lines(cfg: _Config, rng: np.random.Generator, cust: dict, repeat_times: np.ndarray) -> tuple[dict, int]:
    """Orders (first at acquisition, then the repeat times) split into 1..k product lines whose
    amounts sum to the order's Gamma-Gamma value (up to rounding to cents)."""
    n_orders_each = cust["n_repeat"] + 1
    n_orders = int(n_orders_each.sum())
    order_cust = np.repeat(np.arange(n_orders_each.size), n_orders_each)
    order_day = np.zeros(n_orders)
    is_repeat = np.ones(n_orders, dtype=bool)
    is_repeat[_segment_starts(n_orders_each)] = False
    order_day[is_repeat] = repeat_times
    order_day += cust["acquired_days"][order_cust]
    value = rng.gamma(cfg.spend["p"], 1.0 / cust["nu"][order_cust])

    n_lines_each = rng.integers(1, cfg.max_lines_per_order + 1, n_orders)
    line_order = np.repeat(np.arange(n_orders), n_lines_each)
    weight = rng.exponential(size=line_order.size)  # flat Dirichlet split of the order value
    share = weight / np.bincount(line_order, weight, minlength=n_orders)[line_order]
    amount = np.maximum(np.round(value[line_order] * share, 2), 0.01)
    product = rng.choice(len(cfg.products), size=line_order.size, p=cfg.products["popularity"].to_numpy())
    list_price = cfg.products["list_price"].to_numpy(float)[product]
    quantity = np.maximum(np.rint(amount / list_price), 1).astype(np.int64)
    margin = cfg.products["margin_rate"].to_numpy(float)[product]
    seconds = cfg.start_s + np.floor(order_day[line_order] * SECONDS_PER_DAY).astype(np.int64)
    lines = {
        "order_no": line_order.astype(np.int64),
        "customer": order_cust[line_order].astype(np.int64),
        "channel": cust["channel"][order_cust[line_order]],
        "ts": np.minimum(seconds, cfg.end_s - 1),
        "product": product,
        "quantity": quantity,
        "amount": amount,
        "cost": np.round(amount * (1 - margin), 2),
        "refund": np.zeros(line_order.size, dtype=bool),
        "ts_null": np.zeros(line_order.size, dtype=bool),
    }
    return lines, n_orders


def _take(lines: dict, idx: np.ndarray) -> dict:
    return {k: v[idx] for k, v in lines.items()}


def _add_defects(cfg: _Config, rng: np.random.Generator, lines: dict, n_orders: int) -> tuple[dict, int, dict]:
    """Append defect rows (copies of clean lines, so dropping them recovers the clean data):
    refunds ('C' + original order id, negated quantity/amount/cost, up to ~2 weeks later),
    exact duplicates, anonymous lines (null customer, own order id, random time) and broken
    lines (null timestamp, NaN amount, or a timestamp after the observation end)."""
    m = lines["amount"].size
    rates = cfg.defect_rates
    picks = {kind: np.flatnonzero(rng.random(m) < rates[kind]) for kind in DEFECT_KINDS}
    parts = [lines]

    refund = _take(lines, picks["refund"])
    delay = np.floor(rng.exponential(REFUND_DELAY_DAYS, picks["refund"].size) * SECONDS_PER_DAY).astype(np.int64)
    refund["ts"] = np.minimum(refund["ts"] + delay, cfg.end_s - 1)
    for col in ("quantity", "amount", "cost"):
        refund[col] = -refund[col]
    refund["refund"][:] = True
    parts.append(refund)

    parts.append(_take(lines, picks["duplicate"]))

    anonymous = _take(lines, picks["anonymous"])
    k = picks["anonymous"].size
    anonymous["customer"][:] = -1
    anonymous["order_no"] = n_orders + np.arange(k, dtype=np.int64)
    anonymous["ts"] = rng.integers(cfg.start_s, cfg.end_s, k)
    parts.append(anonymous)

    broken = _take(lines, picks["broken"])
    kind = rng.integers(0, len(BROKEN_KINDS), picks["broken"].size)
    broken["ts_null"] = kind == 0
    broken["amount"] = np.where(kind == 1, np.nan, broken["amount"])
    future = rng.integers(30 * SECONDS_PER_DAY, 3650 * SECONDS_PER_DAY, kind.size)
    broken["ts"] = np.where(kind == 2, cfg.end_s + future, broken["ts"])
    parts.append(broken)

    merged = {key: np.concatenate([part[key] for part in parts]) for key in lines}
    counts = {kind: int(picks[kind].size) for kind in DEFECT_KINDS}
    counts.update({f"broken_{name}": int((kind == i).sum()) for i, name in enumerate(BROKEN_KINDS)})
    return merged, n_orders + k, counts


def _month_starts_seconds(cfg: _Config) -> np.ndarray:
    first = pd.Timestamp(cfg.start_s, unit="s").to_period("M").to_timestamp()
    months = pd.date_range(first, pd.Timestamp(cfg.end_s - 1, unit="s"), freq="MS")
    return months.values.astype("datetime64[s]").astype(np.int64)


def _simulate_block(cfg: _Config, block: int, n: int, months: np.ndarray) -> _Block:
    rng = _rng(cfg, 0, block)
    cust, repeat_times = _simulate_customers(cfg, rng, n)
    lines, n_orders = _simulate_lines(cfg, rng, cust, repeat_times)
    lines, n_numbers, counts = _add_defects(cfg, _rng(cfg, 1, block), lines, n_orders)
    order = np.lexsort((lines["order_no"], lines["ts"]))
    lines = _take(lines, order)
    acquired_s = cfg.start_s + np.floor(cust["acquired_days"] * SECONDS_PER_DAY).astype(np.int64)
    month = np.searchsorted(months, acquired_s, side="right") - 1
    acquisitions = np.bincount(cust["channel"] * months.size + month, minlength=len(cfg.channel_names) * months.size)
    return _Block(cust, lines, n_orders, n_numbers, counts, acquisitions.reshape(len(cfg.channel_names), months.size))


# --------------------------------------------------------------------------- tables


def _timestamps(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(seconds * 1_000_000, type=pa.timestamp("us"), mask=null)


def _orders_table(cfg: _Config, block: _Block, first_customer_id: int, order_offset: int) -> pa.Table:
    lines = block.lines
    n = lines["amount"].size
    order_ids = pc.cast(pa.array(ORDER_ID_BASE + order_offset + lines["order_no"]), pa.string())
    order_ids = pc.if_else(pa.array(lines["refund"]), pc.binary_join_element_wise("C", order_ids, ""), order_ids)
    anonymous = lines["customer"] < 0
    quantity = lines["quantity"]
    with np.errstate(invalid="ignore"):
        unit_price = lines["amount"] / quantity
    return pa.table(
        {
            "order_id": order_ids,
            "customer_id": pa.array(first_customer_id + lines["customer"], mask=anonymous),
            "order_ts": _timestamps(lines["ts"], lines["ts_null"]),
            "product_id": pc.take(pa.array(cfg.products["product_id"]), pa.array(lines["product"])),
            "quantity": pa.array(quantity),
            "unit_price": pa.array(unit_price),
            "amount": pa.array(lines["amount"]),
            "cost": pa.array(lines["cost"]),
            "channel": pc.take(pa.array(cfg.channel_names), pa.array(lines["channel"])),
            "currency": pa.repeat("USD", n),
        },
        schema=ORDERS_SCHEMA,
    )


DROPOUT_TIMESTAMP_LIMIT_DAYS = 365.25 * 150  # later dropouts are stored as null timestamps


def _customers_table(cfg: _Config, block: _Block, first_customer_id: int) -> pa.Table:
    c = block.customers
    n = c["lambda"].size
    acquired_s = cfg.start_s + np.floor(c["acquired_days"] * SECONDS_PER_DAY).astype(np.int64)
    far = ~(c["dropout_days"] < DROPOUT_TIMESTAMP_LIMIT_DAYS)
    dropout_s = acquired_s + np.floor(np.where(far, 0.0, c["dropout_days"]) * SECONDS_PER_DAY).astype(np.int64)
    columns = {
        "customer_id": pa.array(first_customer_id + np.arange(n, dtype=np.int64)),
        "acquired_at": _timestamps(acquired_s),
        "channel": pc.take(pa.array(cfg.channel_names), pa.array(c["channel"])),
        "lambda": pa.array(c["lambda"]),
    }
    dropout_param = "p" if cfg.process == "bgnbd" else "mu"
    columns[dropout_param] = pa.array(c[dropout_param])
    columns.update(
        {
            "dropout_at": _timestamps(dropout_s, far),
            "dropout_days": pa.array(c["dropout_days"]),
            "alive_at_end": pa.array(c["dropout_days"] >= c["observed_days"]),
            "observed_days": pa.array(c["observed_days"]),
            "n_orders": pa.array(c["n_repeat"] + 1),
            "n_repeat": pa.array(c["n_repeat"].astype(np.int64)),
            "nu": pa.array(c["nu"]),
            "spend_mean": pa.array(cfg.spend["p"] / c["nu"]),
        }
    )
    return pa.table(columns)


def _csv_table(orders: pa.Table, block: _Block, rng: np.random.Generator) -> pa.Table:
    """The same rows as text; broken timestamps/amounts become literally unparsable strings."""
    bad_ts = block.lines["ts_null"]
    bad_amount = np.isnan(block.lines["amount"])
    ts_text = pc.strftime(pc.cast(orders["order_ts"], pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
    garbage_ts = np.asarray(CSV_BAD_TIMESTAMPS, dtype=object)[rng.integers(0, len(CSV_BAD_TIMESTAMPS), bad_ts.size)]
    garbage_amount = np.asarray(CSV_BAD_AMOUNTS, dtype=object)[rng.integers(0, len(CSV_BAD_AMOUNTS), bad_ts.size)]
    ts_text = pc.if_else(pa.array(bad_ts), pa.array(garbage_ts, pa.string()), pc.fill_null(ts_text, ""))
    amount_text = pc.if_else(
        pa.array(bad_amount), pa.array(garbage_amount, pa.string()), pc.cast(orders["amount"], pa.string())
    )
    return orders.set_column(2, "order_ts", ts_text).set_column(6, "amount", amount_text)


# --------------------------------------------------------------------------- driver


@dataclass
class _Totals:
    customers: int = 0
    orders: int = 0
    order_numbers: int = 0
    repeat_orders: int = 0
    rows: int = 0
    defects: dict[str, int] = field(default_factory=dict)
    acquisitions: np.ndarray | None = None

    def add(self, block: _Block, rows: int) -> None:
        self.customers += block.customers["lambda"].size
        self.orders += block.n_orders
        self.order_numbers += block.n_order_numbers
        self.repeat_orders += int(block.customers["n_repeat"].sum())
        self.rows += rows
        for key, value in block.defect_counts.items():
            self.defects[key] = self.defects.get(key, 0) + value
        self.acquisitions = block.acquisitions if self.acquisitions is None else self.acquisitions + block.acquisitions


def _blocks(cfg: _Config, n_customers: int, totals: _Totals) -> Iterator[tuple[_Block, pa.Table, pa.Table]]:
    """Simulate block after block, yielding (block, orders table, customers table)."""
    months = _month_starts_seconds(cfg)
    for block_index, first in enumerate(range(0, n_customers, cfg.block_customers)):
        n = min(cfg.block_customers, n_customers - first)
        block = _simulate_block(cfg, block_index, n, months)
        orders = _orders_table(cfg, block, first + 1, totals.order_numbers)
        customers = _customers_table(cfg, block, first + 1)
        totals.add(block, orders.num_rows)
        yield block, orders, customers


def _acquisition_spend_table(cfg: _Config, totals: _Totals) -> pa.Table:
    months = _month_starts_seconds(cfg)
    counts = totals.acquisitions if totals.acquisitions is not None else np.zeros((len(cfg.channel_names), months.size))
    n_ch, n_m = counts.shape
    customers = counts.ravel().astype(np.int64)
    cac = np.repeat(cfg.channel_cac, n_m)
    return pa.table(
        {
            "channel": pa.array(np.repeat(np.asarray(cfg.channel_names, dtype=object), n_m), pa.string()),
            "month": pa.array(np.tile(months, n_ch).astype("datetime64[s]").astype("datetime64[D]")),
            "customers": pa.array(customers),
            "cac": pa.array(cac),
            "spend": pa.array(np.round(customers * cac, 2)),
        }
    )


def _truth(cfg: _Config, n_customers: int, totals: _Totals, chunk_customers: int | None) -> dict:
    clean_lines = totals.rows - sum(totals.defects.get(k, 0) for k in DEFECT_KINDS)
    return {
        "format_version": FORMAT_VERSION,
        "process": cfg.process,
        "params": cfg.params,
        "spend_params": cfg.spend,
        "time_unit": "days",
        "seed": cfg.seed,
        "start": str(pd.Timestamp(cfg.start_s, unit="s")),
        "observation_end": str(pd.Timestamp(cfg.end_s, unit="s")),
        "window_days": cfg.window_days,
        "growth": cfg.growth,
        "max_lines_per_order": cfg.max_lines_per_order,
        "block_customers": cfg.block_customers,
        "chunk_customers": chunk_customers,
        "channels": {
            name: {"share": float(share), "cac": float(cac)}
            for name, share, cac in zip(cfg.channel_names, cfg.channel_shares, cfg.channel_cac)
        },
        "n_products": len(cfg.products),
        "defect_rates": cfg.defect_rates,
        "counts": {
            "customers": n_customers,
            "orders": totals.orders,
            "repeat_orders": totals.repeat_orders,
            "clean_lines": clean_lines,
            "rows": totals.rows,
            "defects": totals.defects,
        },
        "expected": {
            "orders_per_customer": _expected_orders_per_customer(cfg),
            "order_value": expected_order_value(cfg.spend),
        },
    }


@dataclass
class SyntheticStore:
    """Paths of a generated store and its truth (the parsed ``truth.json``)."""

    root: Path
    orders_path: Path
    customers_path: Path
    acquisition_spend_path: Path
    products_path: Path
    truth_path: Path
    csv_path: Path | None
    truth: dict

    def orders_frame(self, max_rows: int | None = 5_000_000) -> pd.DataFrame:
        """All order lines as a pandas DataFrame (for small stores: refuses more than ``max_rows``)."""
        rows = self.truth["counts"]["rows"]
        if max_rows is not None and rows > max_rows:
            raise DataError(
                f"orders.parquet has {rows} rows, more than max_rows={max_rows}. "
                "Fix: query it with clv.engine (DuckDB) or pass max_rows=None."
            )
        return _to_pandas(pq.read_table(self.orders_path))

    def customers_frame(self) -> pd.DataFrame:
        return _to_pandas(pq.read_table(self.customers_path))

    def acquisition_spend_frame(self) -> pd.DataFrame:
        return pd.read_parquet(self.acquisition_spend_path)

    def products_frame(self) -> pd.DataFrame:
        return pd.read_parquet(self.products_path)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas keeping int64 columns integer (nullable ``Int64``: anonymous lines
    have a null customer_id)."""
    return table.to_pandas(types_mapper=lambda t: pd.Int64Dtype() if t == pa.int64() else None)


def _n_customers(cfg: _Config, n_customers: int | None, n_transactions: int | None) -> int:
    if n_customers is not None and n_transactions is not None:
        raise DataError("pass n_customers or n_transactions, not both. Fix: drop one of them.")
    if n_transactions is not None:
        if int(n_transactions) < 1:
            raise DataError(f"n_transactions={n_transactions!r} must be >= 1. Fix: e.g. n_transactions=100_000.")
        return _customers_for_transactions(cfg, int(n_transactions))
    n = 10_000 if n_customers is None else n_customers
    if int(n) < 1:
        raise DataError(f"n_customers={n!r} must be >= 1. Fix: e.g. n_customers=10_000.")
    return int(n)


class _ChunkWriter:
    """Groups block tables into Parquet row groups of ``chunk_blocks`` blocks, so memory
    holds at most one chunk. ``schema=None`` takes the first table's schema."""

    def __init__(self, path: Path, schema: pa.Schema | None, chunk_blocks: int):
        self.path, self.schema, self.chunk_blocks = path, schema, chunk_blocks
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[pa.Table] = []

    def add(self, table: pa.Table) -> None:
        self.pending.append(table)
        if len(self.pending) >= self.chunk_blocks:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        self.pending = []
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema or table.schema, compression="zstd")
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def __enter__(self) -> _ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()


def generate_store(
    path_or_dir: str | os.PathLike,
    *,
    n_customers: int | None = None,
    n_transactions: int | None = None,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2025-12-31",
    process: str = "bgnbd",
    params: Mapping[str, float] | None = None,
    growth: float = 0.0,
    channels: Mapping[str, Mapping[str, float]] | None = None,
    products: int | pd.DataFrame = 200,
    max_lines_per_order: int = 3,
    defects: bool | Mapping[str, float] = False,
    write_csv: bool = False,
    chunk_customers: int = 262_144,
    block_customers: int = 65_536,
) -> SyntheticStore:
    """Simulate a store and write it to ``path_or_dir`` (created if missing).

    ``n_transactions`` is an approximate target for the number of clean order lines
    (rows before defects); ``n_customers`` is then chosen from the closed-form
    expectation. ``end`` is the last observed day (the window is [start, end + 1 day)).
    ``growth`` is the annual growth rate of acquisitions (0: uniform over the window).
    ``params`` overrides the defaults in :data:`DEFAULT_PARAMS` and :data:`DEFAULT_SPEND`
    (days). ``defects``: False (clean), True (:data:`DEFAULT_DEFECT_RATES`) or a mapping
    kind -> rate per clean line (missing kinds are 0). Writes orders.parquet,
    customers.parquet, acquisition_spend.parquet, products.parquet, truth.json and with
    ``write_csv`` orders.csv.gz. Memory is bounded by ``chunk_customers`` (rounded up to
    whole blocks of ``block_customers``); the data do not depend on ``chunk_customers``.
    """
    cfg = _config(
        process=process, params=params, seed=seed, start=start, end=end, growth=growth, channels=channels,
        products=products, max_lines_per_order=max_lines_per_order, defects=defects,
        block_customers=block_customers,
    )  # fmt: skip
    n = _n_customers(cfg, n_customers, n_transactions)
    if int(chunk_customers) < 1:
        raise DataError(f"chunk_customers={chunk_customers!r} must be >= 1. Fix: e.g. chunk_customers=262_144.")
    root = Path(path_or_dir)
    root.mkdir(parents=True, exist_ok=True)
    store = _store_paths(root, write_csv)
    chunk_blocks = max(1, math.ceil(int(chunk_customers) / cfg.block_customers))
    totals = _Totals()
    with contextlib.ExitStack() as stack:
        orders_writer = stack.enter_context(_ChunkWriter(store["orders_path"], ORDERS_SCHEMA, chunk_blocks))
        customers_writer = stack.enter_context(_ChunkWriter(store["customers_path"], None, chunk_blocks))
        csv_writer = stack.enter_context(_CsvWriter(store["csv_path"], _rng(cfg, 3, 0))) if write_csv else None
        for block, orders, customers in _blocks(cfg, n, totals):
            orders_writer.add(orders)
            customers_writer.add(customers)
            if csv_writer is not None:
                csv_writer.add(orders, block)
    pq.write_table(_acquisition_spend_table(cfg, totals), store["acquisition_spend_path"])
    pq.write_table(pa.Table.from_pandas(cfg.products, preserve_index=False), store["products_path"])
    truth = _truth(cfg, n, totals, int(chunk_customers))
    store["truth_path"].write_text(json.dumps(truth, indent=2, sort_keys=True))
    return SyntheticStore(root=root, truth=truth, **store)


def _store_paths(root: Path, write_csv: bool) -> dict[str, Path | None]:
    return {
        "orders_path": root / "orders.parquet",
        "customers_path": root / "customers.parquet",
        "acquisition_spend_path": root / "acquisition_spend.parquet",
        "products_path": root / "products.parquet",
        "truth_path": root / "truth.json",
        "csv_path": root / "orders.csv.gz" if write_csv else None,
    }


class _CsvWriter:
    """Streams orders.csv.gz block by block (see :func:`_csv_table` for the broken values)."""

    def __init__(self, path: Path, rng: np.random.Generator):
        self.raw = open(path, "wb")
        # Python's gzip at level 1 is several times faster than Arrow's default gzip
        # level; mtime=0 and no file name keep the file byte-identical between runs.
        self.gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, compresslevel=1, mtime=0)
        schema = ORDERS_SCHEMA.set(2, pa.field("order_ts", pa.string())).set(6, pa.field("amount", pa.string()))
        self.writer = pa_csv.CSVWriter(self.gzip, schema)
        self.rng = rng

    def add(self, orders: pa.Table, block: _Block) -> None:
        self.writer.write_table(_csv_table(orders, block, self.rng))

    def __enter__(self) -> _CsvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.close()
        self.gzip.close()
        self.raw.close()


@dataclass
class SimulatedData:
    """In-memory result of :func:`simulate`: order lines, per-customer truth, summary truth."""

    orders: pd.DataFrame
    customers: pd.DataFrame
    truth: dict


def simulate(
    n_customers: int = 1_000,
    *,
    seed: int = 0,
    start: str = "2023-01-01",
    end: str = "2025-12-31",
    process: str = "bgnbd",
    params: Mapping[str, float] | None = None,
    growth: float = 0.0,
    channels: Mapping[str, Mapping[str, float]] | None = None,
    products: int | pd.DataFrame = 200,
    max_lines_per_order: int = 3,
    defects: bool | Mapping[str, float] = False,
    block_customers: int = 65_536,
) -> SimulatedData:
    """Same engine as :func:`generate_store`, in memory (for small tests): the
    orders equal those ``generate_store`` writes for the same arguments."""
    cfg = _config(
        process=process, params=params, seed=seed, start=start, end=end, growth=growth, channels=channels,
        products=products, max_lines_per_order=max_lines_per_order, defects=defects,
        block_customers=block_customers,
    )  # fmt: skip
    n = _n_customers(cfg, n_customers, None)
    totals = _Totals()
    orders, customers = [], []
    for _, block_orders, block_customers_table in _blocks(cfg, n, totals):
        orders.append(block_orders)
        customers.append(block_customers_table)
    return SimulatedData(
        orders=_to_pandas(pa.concat_tables(orders)),
        customers=_to_pandas(pa.concat_tables(customers)),
        truth=_truth(cfg, n, totals, None),
    )


def simulate_orders(n_customers: int = 1_000, *, seed: int = 0, **options: Any) -> pd.DataFrame:
    """The order lines of :func:`simulate` (same keyword options) as a pandas DataFrame."""
    return simulate(n_customers, seed=seed, **options).orders
