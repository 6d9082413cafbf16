"""The synthetic store: reproducible, consistent with its truth, and faithful to the models.

Statistical checks compare a sample mean with its model expectation and allow
Z_TOL standard errors (estimated from the sample itself): with Z_TOL = 4.5 a
correct generator fails a given check with probability about 7e-6, and a fixed
seed makes every run identical anyway.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clv.data.synthetic import (
    DEFAULT_DEFECT_RATES,
    DEFAULT_PARAMS,
    DEFAULT_SPEND,
    expected_order_value,
    expected_repeat_purchases,
    generate_store,
    simulate,
    simulate_orders,
)
from clv.errors import DataError

Z_TOL = 4.5
FILES = ("orders.parquet", "customers.parquet", "acquisition_spend.parquet", "products.parquet", "truth.json")


def assert_mean_close(sample: np.ndarray, expected: float, what: str) -> None:
    sample = np.asarray(sample, dtype=float)
    se = sample.std(ddof=1) / math.sqrt(sample.size)
    assert abs(sample.mean() - expected) <= Z_TOL * se, f"{what}: mean {sample.mean():.4f} vs {expected:.4f} (se {se:.4f})"


def binomial_ok(count: int, n: int, rate: float) -> bool:
    return abs(count - n * rate) <= Z_TOL * math.sqrt(n * rate * (1 - rate)) + 1


@pytest.fixture(scope="module")
def dirty_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("dirty")
    return generate_store(root, n_customers=20_000, seed=7, defects=True, write_csv=True, block_customers=4_096)


@pytest.fixture(scope="module")
def dirty_orders(dirty_store):
    return dirty_store.orders_frame()


def clean_mask(orders: pd.DataFrame, truth: dict) -> np.ndarray:
    """Rows that are neither refunds, anonymous nor broken (duplicates are handled apart)."""
    end = pd.Timestamp(truth["observation_end"])
    return (
        ~orders["order_id"].str.startswith("C")
        & orders["customer_id"].notna()
        & orders["order_ts"].notna()
        & orders["amount"].notna()
        & (orders["order_ts"] < end)
    ).to_numpy()


# ----------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_files(tmp_path):
    first = generate_store(tmp_path / "a", n_customers=3_000, seed=3, defects=True, write_csv=True)
    second = generate_store(tmp_path / "b", n_customers=3_000, seed=3, defects=True, write_csv=True)
    for name in FILES:
        assert (first.root / name).read_bytes() == (second.root / name).read_bytes(), name
    assert pd.read_csv(first.csv_path, dtype=str).equals(pd.read_csv(second.csv_path, dtype=str))


def test_other_seed_gives_other_data(tmp_path):
    a = simulate_orders(2_000, seed=1)
    b = simulate_orders(2_000, seed=2)
    assert len(a) != len(b) or not a["amount"].equals(b["amount"])


def test_chunking_does_not_change_the_data(tmp_path):
    kwargs = dict(n_customers=5_000, seed=11, defects=True, block_customers=1_000)
    small = generate_store(tmp_path / "small", chunk_customers=1_000, **kwargs)
    whole = generate_store(tmp_path / "whole", chunk_customers=5_000, **kwargs)
    assert pq.ParquetFile(small.orders_path).metadata.num_row_groups == 5
    assert pq.ParquetFile(whole.orders_path).metadata.num_row_groups == 1
    pd.testing.assert_frame_equal(small.orders_frame(), whole.orders_frame())  # NaN amounts compare equal here
    pd.testing.assert_frame_equal(small.customers_frame(), whole.customers_frame())
    in_memory = simulate(5_000, seed=11, defects=True, block_customers=1_000)
    pd.testing.assert_frame_equal(in_memory.orders, small.orders_frame())


def test_defects_only_add_rows(tmp_path):
    clean = simulate_orders(3_000, seed=5)
    dirty = simulate_orders(3_000, seed=5, defects=True)
    keep = clean_mask(dirty, simulate(10, seed=5).truth)
    no_dups = dirty[keep].drop_duplicates()
    key = ["order_id", "product_id", "amount", "order_ts"]
    merged = clean.merge(no_dups, on=key, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert len(no_dups) == len(clean)


# ------------------------------------------------------------- counts vs truth.json


def test_truth_json_matches_files(dirty_store, dirty_orders):
    truth = json.loads(dirty_store.truth_path.read_text())
    assert truth == dirty_store.truth
    counts = truth["counts"]
    customers = dirty_store.customers_frame()
    assert len(dirty_orders) == counts["rows"]
    assert len(customers) == counts["customers"] == 20_000
    assert customers["n_orders"].sum() == counts["orders"]
    assert customers["n_repeat"].sum() == counts["repeat_orders"]
    defect_rows = sum(counts["defects"][k] for k in DEFAULT_DEFECT_RATES)
    assert counts["clean_lines"] == counts["rows"] - defect_rows
    clean = dirty_orders[clean_mask(dirty_orders, truth)].drop_duplicates()
    assert len(clean) == counts["clean_lines"]
    assert clean["order_id"].nunique() == counts["orders"]


def test_orders_agree_with_customer_truth(dirty_store, dirty_orders):
    truth = dirty_store.truth
    customers = dirty_store.customers_frame().set_index("customer_id")
    clean = dirty_orders[clean_mask(dirty_orders, truth)]
    per_customer = clean.drop_duplicates("order_id")["customer_id"].value_counts()
    assert per_customer.reindex(customers.index, fill_value=0).to_numpy().tolist() == customers["n_orders"].tolist()
    first_ts = clean.groupby("customer_id")["order_ts"].min()
    acquired = customers["acquired_at"].reindex(first_ts.index)
    assert (first_ts == acquired).all()
    last_day = (clean.groupby("customer_id")["order_ts"].max() - acquired) / pd.Timedelta(days=1)
    one_second = 1 / 86_400  # timestamps are floored to whole seconds
    assert (last_day <= customers["dropout_days"].reindex(last_day.index) + one_second).all()
    channel = customers["channel"].reindex(clean["customer_id"]).to_numpy()
    assert (channel == clean["channel"].to_numpy()).all()


def test_acquisition_spend_matches_customers(dirty_store):
    spend = dirty_store.acquisition_spend_frame()
    customers = dirty_store.customers_frame()
    assert spend["customers"].sum() == len(customers)
    np.testing.assert_allclose(spend["spend"], spend["customers"] * spend["cac"])
    by_channel = spend.groupby("channel")["customers"].sum()
    assert by_channel.to_dict() == customers["channel"].value_counts().to_dict()
    assert len(spend["month"].unique()) == 36
    share = by_channel / by_channel.sum()
    for name, spec in dirty_store.truth["channels"].items():
        assert binomial_ok(int(by_channel[name]), len(customers), spec["share"]), name
    assert abs(share.sum() - 1) < 1e-12


# ----------------------------------------------------------------------- defects


def test_defect_rates_within_binomial_tolerance(dirty_store, dirty_orders):
    truth = dirty_store.truth
    n = truth["counts"]["clean_lines"]
    end = pd.Timestamp(truth["observation_end"])
    observed = {
        "refund": int(dirty_orders["order_id"].str.startswith("C").sum()),
        "anonymous": int(dirty_orders["customer_id"].isna().sum()),
        "broken": int(
            (dirty_orders["order_ts"].isna() | dirty_orders["amount"].isna() | (dirty_orders["order_ts"] >= end)).sum()
        ),
        "duplicate": int(dirty_orders.duplicated().sum()),
    }
    for kind, rate in DEFAULT_DEFECT_RATES.items():
        assert observed[kind] == truth["counts"]["defects"][kind], kind
        assert binomial_ok(observed[kind], n, rate), (kind, observed[kind], n * rate)


def test_refunds_reference_real_orders(dirty_store, dirty_orders):
    refunds = dirty_orders[dirty_orders["order_id"].str.startswith("C")]
    originals = dirty_orders[~dirty_orders["order_id"].str.startswith("C")]
    assert len(refunds) > 0
    assert (refunds["amount"] < 0).all() and (refunds["quantity"] < 0).all() and (refunds["cost"] <= 0).all()
    key = ["order_id", "product_id", "amount", "customer_id"]
    matched = refunds.assign(order_id=refunds["order_id"].str[1:], amount=-refunds["amount"]).merge(
        originals.drop_duplicates(key), on=key, suffixes=("_refund", "")
    )
    assert len(matched) == len(refunds)
    assert (matched["order_ts_refund"] >= matched["order_ts"]).all()
    assert (matched["order_ts_refund"] < pd.Timestamp(dirty_store.truth["observation_end"])).all()


def test_no_purchase_outside_window_except_broken(dirty_store, dirty_orders):
    truth = dirty_store.truth
    ts = dirty_orders["order_ts"].dropna()
    assert (ts >= pd.Timestamp(truth["start"])).all()
    late = int((ts >= pd.Timestamp(truth["observation_end"])).sum())
    assert late == truth["counts"]["defects"]["broken_future_ts"] > 0
    assert dirty_orders["order_ts"].isna().sum() == truth["counts"]["defects"]["broken_null_ts"]
    assert dirty_orders["amount"].isna().sum() == truth["counts"]["defects"]["broken_nan_amount"]
    clean = simulate_orders(3_000, seed=1)
    assert clean["order_ts"].max() < pd.Timestamp("2026-01-01") and clean["order_ts"].notna().all()


def test_csv_has_unparsable_strings_for_broken_lines(dirty_store, dirty_orders):
    text = pd.read_csv(dirty_store.csv_path, dtype=str, keep_default_na=False)
    assert len(text) == len(dirty_orders)
    assert (text["order_id"] == dirty_orders["order_id"]).all()
    ts = pd.to_datetime(text["order_ts"], errors="coerce", format="%Y-%m-%d %H:%M:%S")
    amount = pd.to_numeric(text["amount"], errors="coerce")
    defects = dirty_store.truth["counts"]["defects"]
    assert ts.isna().sum() == defects["broken_null_ts"]
    assert amount.isna().sum() == defects["broken_nan_amount"]
    assert text.loc[ts.isna(), "order_ts"].str.len().gt(0).all()
    good = amount.notna().to_numpy()
    np.testing.assert_allclose(amount[good], dirty_orders["amount"].to_numpy()[good])


# --------------------------------------------------------------- model fidelity


@pytest.mark.parametrize("process", ["bgnbd", "paretonbd"])
def test_repeat_purchases_match_closed_form(process):
    """Each customer's repeat count X(T_i) has expectation E[X(T_i)] (BG/NBD eq. 9 /
    Pareto/NBD); the mean over customers of X - E[X(T_i)] must be 0 within Z_TOL SE."""
    data = simulate(100_000, seed=21, process=process)
    customers = data.customers
    expected = expected_repeat_purchases(process, DEFAULT_PARAMS[process], customers["observed_days"].to_numpy())
    residual = customers["n_repeat"].to_numpy(float) - expected
    assert_mean_close(residual, 0.0, f"{process} repeat purchases")
    assert customers["n_repeat"].mean() > 0.5


def test_repeat_purchases_at_fixed_horizon_with_custom_params():
    """Customers all observed about the same t: compare with E[X(t)] itself."""
    params = {"r": 0.6, "alpha": 40.0, "a": 1.8, "b": 4.0}
    data = simulate(80_000, seed=4, params=params, start="2025-12-01", end="2025-12-31")
    customers = data.customers
    expected = expected_repeat_purchases("bgnbd", params, customers["observed_days"].to_numpy())
    assert_mean_close(customers["n_repeat"].to_numpy(float) - expected, 0.0, "short-window repeats")
    t = 15.0
    assert abs(expected.mean() - expected_repeat_purchases("bgnbd", params, t)) < 0.02


@pytest.mark.parametrize(("r", "alpha", "a", "b", "t"), [(0.9, 10.0, 2.0, 3.0, 30.0), (0.25, 20.0, 0.8, 2.5, 500.0)])
def test_bgnbd_expectation_matches_numerical_integral(r, alpha, a, b, t):
    """E[X(t)] closed form vs the mixture computed directly: X = min(N, J) with
    N ~ Poisson(lambda t), J ~ Geom(p), so E[X | lambda] = sum_k P(N >= k) E[(1-p)^(k-1)],
    P(N >= k) = P(k, lambda t) (regularised incomplete gamma) and
    E[(1-p)^(k-1)] = B(a, b+k-1) / B(a, b); then integrate over lambda ~ Gamma(r, alpha)."""
    from scipy import integrate, special

    k = np.arange(1, 3000)
    survive = np.exp(special.betaln(a, b + k - 1) - special.betaln(a, b))

    def integrand(lam):
        log_density = r * np.log(alpha) + (r - 1) * np.log(lam) - alpha * lam - special.gammaln(r)
        return np.sum(special.gammainc(k, lam * t) * survive) * np.exp(log_density)

    value, _ = integrate.quad(integrand, 0, 5, limit=400, points=[0.01, 0.1])
    closed = expected_repeat_purchases("bgnbd", {"r": r, "alpha": alpha, "a": a, "b": b}, t)
    assert abs(value - float(closed)) < 1e-6


def test_order_values_follow_gamma_gamma():
    """First orders are iid Gamma-Gamma draws (mean p v/(q-1)); every order value divided
    by its customer's true mean p/nu has mean 1."""
    data = simulate(40_000, seed=9)
    orders, customers = data.orders, data.customers.set_index("customer_id")
    order_ids, order_index = np.unique(orders["order_id"].to_numpy(), return_inverse=True)
    value = np.bincount(order_index, orders["amount"].to_numpy())
    owner = np.zeros(order_ids.size, dtype=np.int64)
    owner[order_index] = orders["customer_id"].to_numpy(np.int64)
    order_ts = np.zeros(order_ids.size, dtype="datetime64[us]")
    order_ts[order_index] = orders["order_ts"].to_numpy()
    first = order_ts == customers["acquired_at"].reindex(owner).to_numpy()
    assert first.sum() == len(customers)
    assert_mean_close(value[first], expected_order_value(DEFAULT_SPEND), "first-order value")
    spend_mean = customers["spend_mean"].reindex(owner).to_numpy()
    assert_mean_close(value / spend_mean, 1.0, "order value / customer mean")
    assert_mean_close(customers["spend_mean"], expected_order_value(DEFAULT_SPEND), "spend_mean")


def test_n_transactions_target_is_met(tmp_path):
    store = generate_store(tmp_path, n_transactions=60_000, seed=2)
    assert abs(store.truth["counts"]["clean_lines"] / 60_000 - 1) < 0.1
    assert store.truth["counts"]["rows"] == store.truth["counts"]["clean_lines"]


def test_growth_skews_acquisitions_to_later_years():
    customers = simulate(30_000, seed=3, growth=1.0).customers
    year = customers["acquired_at"].dt.year.value_counts()
    assert 3.0 < year[2025] / year[2023] < 5.2  # expected (1 + 1.0)^2 = 4


# ------------------------------------------------------------------- invariants


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 400),
    seed=st.integers(0, 2**32),
    process=st.sampled_from(["bgnbd", "paretonbd"]),
    r=st.floats(0.05, 3.0),
    alpha=st.floats(0.5, 200.0),
    lines=st.integers(1, 5),
)
def test_clean_lines_are_well_formed(n, seed, process, r, alpha, lines):
    orders = simulate_orders(n, seed=seed, process=process, params={"r": r, "alpha": alpha}, max_lines_per_order=lines)
    assert orders["customer_id"].nunique() == n
    assert (orders["amount"] > 0).all() and (orders["quantity"] >= 1).all()
    assert (orders["cost"] < orders["amount"] + 1e-9).all() and (orders["cost"] >= 0).all()
    np.testing.assert_allclose(orders["unit_price"] * orders["quantity"], orders["amount"])
    assert orders["order_ts"].between(pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31 23:59:59")).all()
    assert orders.groupby("order_id").size().max() <= lines
    assert (orders["currency"] == "USD").all()


# -------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"process": "pareto"}, "process"),
        ({"params": {"gamma": 1.0}}, "gamma"),
        ({"params": {"r": -1.0}}, "params['r']"),
        ({"params": {"q": 0.5}}, "params['q']"),
        ({"defects": {"refunds": 0.1}}, "refunds"),
        ({"defects": {"refund": 1.5}}, "defects['refund']"),
        ({"channels": {"web": 0.5}}, "channels['web']"),
        ({"start": "yesterday-ish"}, "start"),
        ({"end": "2022-01-01"}, "end"),
        ({"seed": -1}, "seed"),
        ({"growth": -2.0}, "growth"),
    ],
)
def test_invalid_options_name_the_parameter(kwargs, needle):
    with pytest.raises(DataError, match=None) as info:
        simulate(10, **kwargs)
    assert needle in str(info.value) and "Fix" in str(info.value)


def test_orders_frame_refuses_large_store(tmp_path):
    store = generate_store(tmp_path, n_customers=200, seed=0)
    with pytest.raises(DataError, match="max_rows"):
        store.orders_frame(max_rows=10)
    with pytest.raises(DataError, match="not both"):
        generate_store(tmp_path, n_customers=10, n_transactions=10)


def test_custom_channels_and_catalogue_are_used(tmp_path):
    catalogue = pd.DataFrame(
        {"product_id": ["A", "B"], "list_price": [10.0, 100.0], "margin_rate": [0.5, 0.1], "popularity": [3, 1]}
    )
    channels = {"web": {"share": 3, "cac": 20.0}, "shop": {"share": 1, "cac": 0.0}}
    store = generate_store(tmp_path, n_customers=4_000, seed=1, channels=channels, products=catalogue)
    orders = store.orders_frame()
    assert set(orders["product_id"]) == {"A", "B"}
    assert binomial_ok(int((orders["product_id"] == "A").sum()), len(orders), 0.75)
    margin = orders["product_id"].map({"A": 0.5, "B": 0.1})
    np.testing.assert_allclose(orders["cost"], np.round(orders["amount"] * (1 - margin), 2), atol=0.011)
    spend = store.acquisition_spend_frame().groupby("channel")["spend"].sum()
    customers = store.customers_frame()["channel"].value_counts()
    assert spend["web"] == customers["web"] * 20.0 and spend["shop"] == 0.0
    assert binomial_ok(int(customers["web"]), 4_000, 0.75)
    pd.testing.assert_frame_equal(store.products_frame().drop(columns="popularity"), catalogue.drop(columns="popularity"))


def test_bgnbd_expectation_is_continuous_at_a_equal_one():
    params = {"r": 0.25, "alpha": 20.0, "b": 2.5}
    t = np.array([30.0, 500.0])
    at_one = expected_repeat_purchases("bgnbd", {**params, "a": 1.0}, t)
    below = expected_repeat_purchases("bgnbd", {**params, "a": 1 - 1e-3}, t)
    above = expected_repeat_purchases("bgnbd", {**params, "a": 1 + 1e-3}, t)
    assert np.all(np.isfinite(at_one))
    np.testing.assert_allclose(at_one, (below + above) / 2, rtol=1e-6)
