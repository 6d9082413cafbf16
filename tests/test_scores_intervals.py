"""Prediction intervals: ordering, reproducibility, calibration on simulated customers, extreme histories."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.models.bgnbd import BetaGeoModel
from clv.models.mbgnbd import ModifiedBetaGeoModel
from clv.models.gammagamma import GammaGammaModel
from clv.models.paretonbd import ParetoNBDModel
from clv.scores import expected_spend_per_order, quantile_levels, score_customers
from clv.scores.closed_form import TAIL_EPSILON, alive_at_reference, dropout_shift, reference_tails
from clv.scores.intervals import _shifted_ranks

TRUE = dict(r=0.5, alpha=8.0, a=0.6, b=2.5)  # weeks: mean rate 1 purchase / 16 weeks


def simulate_bgnbd(n, horizon, seed):
    """Calibration summaries and the true holdout counts of BG/NBD customers (FHL 2005 story).

    Rates lambda ~ Gamma(r, alpha), dropout p ~ Beta(a, b); repeat purchases
    are a Poisson process from the first purchase at 0, the customer drops out
    after each repeat purchase with probability p. T ~ U{20..52} weeks.
    """
    rng = np.random.default_rng(seed)
    T = rng.integers(20, 53, n).astype(float)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    p = rng.beta(TRUE["a"], TRUE["b"], n)
    end = T + horizon
    n_events = rng.poisson(lam * end)
    lifetime = rng.geometric(p)  # number of repeat purchases before dropping out (the last one included)
    kept = np.minimum(n_events, lifetime)
    width = int(max(kept.max(), 1))
    times = _first_order_statistics(rng, n_events, width) * end[:, None]
    valid = np.arange(width)[None, :] < kept[:, None]
    in_calibration = valid & (times <= T[:, None])
    x = in_calibration.sum(axis=1)
    t_x = np.where(x > 0, np.max(np.where(in_calibration, times, 0.0), axis=1), 0.0)
    holdout = (valid & (times > T[:, None])).sum(axis=1)
    return pd.DataFrame({"customer_id": np.arange(n), "frequency": x, "recency": t_x, "T": T}), holdout


def _first_order_statistics(rng, n_events, width):
    """The first ``width`` order statistics of ``n_events`` U(0,1) per row (inf beyond n_events)."""
    gaps = rng.exponential(size=(n_events.shape[0], width + 1))
    cumulative = np.cumsum(gaps, axis=1)
    # Uniform order statistics U_(k) = S_k / S_(n+1); S_(n+1) = S_width + Gamma(n + 1 - width) when n >= width.
    extra = rng.gamma(np.maximum(n_events + 1 - width, 1e-300), 1.0)
    total = np.where(n_events >= width, cumulative[:, width - 1] + extra, cumulative[np.arange(n_events.shape[0]), np.minimum(n_events, width)])
    stats = cumulative[:, :width] / total[:, None]
    return np.where(np.arange(width)[None, :] < n_events[:, None], stats, np.inf)


@pytest.fixture(scope="module")
def simulated():
    summary, holdout = simulate_bgnbd(6000, 26.0, seed=3)
    model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    return summary, holdout, model


def test_simulator_matches_the_model_mean(simulated):
    summary, holdout, model = simulated
    predicted = model.expected_purchases(26.0, summary["frequency"], summary["recency"], summary["T"])
    assert holdout.mean() == pytest.approx(predicted.mean(), rel=0.08)
    for name, value in TRUE.items():
        low, high = model.confidence_intervals_[name]
        assert low * 0.8 < value < high * 1.25


@pytest.mark.parametrize("method", ["closed", "factorised", "simulate"])
def test_holdout_purchases_fall_in_their_intervals(simulated, method):
    summary, holdout, model = simulated
    scores = score_customers(summary, model, horizon=26.0, time_unit="week", intervals=(0.8, 0.95),
                             n_draws=400, seed=1, interval_method=method)
    n = len(summary)
    for level in quantile_levels((0.8, 0.95)):
        q = scores[f"purchases_q{level:g}"].to_numpy()
        # For a discrete Y the quantile satisfies P(Y < q_u) < u <= P(Y <= q_u). Band: 3 binomial
        # standard errors over n customers plus 0.01 for the Monte Carlo error of the quantiles.
        band = 3 * np.sqrt(level * (1 - level) / n) + 0.01
        assert np.mean(holdout < q) <= level + band, level
        assert np.mean(holdout <= q) >= level - band, level
    inside_80 = np.mean((holdout >= scores["purchases_q0.1"]) & (holdout <= scores["purchases_q0.9"]))
    inside_95 = np.mean((holdout >= scores["purchases_q0.025"]) & (holdout <= scores["purchases_q0.975"]))
    assert inside_80 >= 0.8 - 3 * np.sqrt(0.16 / n) - 0.02
    assert inside_95 >= 0.95 - 3 * np.sqrt(0.0475 / n) - 0.01


def spend_data(summary, seed=0):
    rng = np.random.default_rng(seed)
    x = summary["frequency"].to_numpy()
    nu = rng.gamma(4.0, 1 / 30.0, len(x))
    m = np.where(x > 0, rng.gamma(2.5 * np.maximum(x, 1), 1.0) / nu / np.maximum(x, 1), np.nan)
    return summary.assign(monetary_value=m)


@pytest.mark.parametrize("method", ["closed", "factorised", "simulate"])
def test_quantiles_are_ordered_and_bracket_the_mean(simulated, method):
    summary, _, model = simulated
    summary = spend_data(summary)
    spend = GammaGammaModel().fit(summary["frequency"][summary["frequency"] > 0],
                                  summary["monetary_value"][summary["frequency"] > 0])
    scores = score_customers(summary, model, spend, horizon=26.0, time_unit="week", margin=0.3,
                             intervals=(0.8, 0.95), n_draws=200, seed=0, interval_method=method)
    for prefix in ("purchases", "clv"):
        q = scores[[f"{prefix}_q{u:g}" for u in (0.025, 0.1, 0.9, 0.975)]].to_numpy()
        assert np.all(np.diff(q, axis=1) >= 0)
        assert np.all(np.isfinite(q)) and np.all(q >= 0)
    mean = scores["expected_purchases"].to_numpy()
    assert np.all(scores["purchases_q0.025"] <= mean) and np.mean(scores["purchases_q0.975"] >= mean) > 0.99
    assert np.mean(scores["clv_q0.975"] >= scores["clv"]) > 0.99


def test_methods_agree_on_average(simulated):
    summary, _, model = simulated
    kwargs = dict(horizon=26.0, time_unit="week", intervals=(0.8,), n_draws=600, seed=2)
    fast = score_customers(summary, model, interval_method="factorised", **kwargs)
    full = score_customers(summary, model, interval_method="simulate", **kwargs)
    for column in ("purchases_q0.1", "purchases_q0.9"):
        assert np.mean(fast[column] != full[column]) < 0.1
        assert abs(fast[column].mean() - full[column].mean()) < 0.05 * max(full[column].mean(), 1)


@pytest.mark.parametrize("method", ["closed", "factorised", "simulate"])
def test_reproducible_with_the_seed(simulated, method):
    summary, _, model = simulated
    summary = summary.head(500)
    kwargs = dict(horizon=26.0, time_unit="week", intervals=(0.8, 0.95), n_draws=50, interval_method=method)
    first = score_customers(summary, model, seed=11, **kwargs)
    again = score_customers(summary, model, seed=11, **kwargs)
    other = score_customers(summary, model, seed=12, **kwargs)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert not first["purchases_q0.975"].equals(other["purchases_q0.975"])


def test_shifted_ranks_are_the_inverse_empirical_cdf():
    draws = np.sort(np.random.default_rng(0).poisson(3.0, 200).astype(float))
    levels = np.array([0.025, 0.1, 0.5, 0.9, 0.975])
    ranks = _shifted_ranks(np.array([1.0]), levels, draws.size)[0]
    np.testing.assert_array_equal(draws[ranks], np.quantile(draws, levels, method="inverted_cdf"))
    # rho = 0.5 halves every tail probability: level u maps to 1 - 2 (1 - u); levels below 0.5 give 0 purchases.
    half = _shifted_ranks(np.array([0.5]), levels, draws.size)[0]
    assert list(half[:3]) == [-1, -1, -1]
    np.testing.assert_array_equal(draws[half[3:]], np.quantile(draws, [0.8, 0.95], method="inverted_cdf"))


@settings(max_examples=12, deadline=None)
@given(
    x=st.integers(0, 3000), T=st.floats(1e-3, 5000), share=st.floats(0, 1),
    method=st.sampled_from(["auto", "factorised", "simulate"]), kind=st.sampled_from(["bgnbd", "mbgnbd", "pareto"]),
)
def test_no_nan_for_extreme_histories(x, T, share, method, kind):
    pareto = kind == "pareto"
    model = {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel, "pareto": ParetoNBDModel}[kind]()
    model.params_ = dict(r=0.55, alpha=10.6, s=0.61, beta=11.7) if pareto else dict(r=0.24, alpha=4.4, a=0.79, b=2.4)
    model.covariance_theta_ = np.eye(4) * 1e-3
    recency = 0.0 if x == 0 else share * T
    summary = pd.DataFrame({"frequency": [x, 0, 1], "recency": [recency, 0.0, T], "T": [T, T, T],
                            "monetary_value": [25.0, 10.0, 1e6]})
    scores = score_customers(summary, model, horizon=52.0, time_unit="week", intervals=(0.8, 0.95), n_draws=20,
                             interval_method=method)
    values = scores.drop(columns="customer_id").to_numpy()
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert np.all(scores["p_alive"] <= 1)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_closed_form_tail_matches_the_models_own_sampler(model_class):
    model = model_class()
    model.params_ = dict(r=0.24, alpha=4.4, a=0.79, b=2.4)
    x, T = np.array([0.0, 1.0, 5.0, 30.0]), np.array([38.0, 38.0, 20.0, 38.0])
    reference = np.where(x > 0, T, 0.0)
    np.testing.assert_allclose(alive_at_reference(model.params[None, :], x, T, dropout_shift(model))[0],
                               model.probability_alive(x, reference, T))
    table = reference_tails(model.params[None, :], x, T, 39.0, dropout_shift(model))
    rng = np.random.default_rng(5)
    n_sim = 100_000
    for g in range(x.size):
        tail = 1.0 - 2.0 * (table.keys[table.starts[g]:table.starts[g + 1]] - g)
        draws = model.sample_future_purchases(39.0, np.full(n_sim, x[g]), np.full(n_sim, reference[g]), np.full(n_sim, T[g]), rng=rng)
        for n in range(min(8, tail.size)):
            empirical = np.mean(draws > n)
            assert abs(empirical - tail[n]) < 4 * np.sqrt(tail[n] * (1 - tail[n]) / n_sim) + 1e-4, (g, n)
        assert tail[-1] <= TAIL_EPSILON  # the table runs into the far tail


def test_batched_counts_equal_the_plain_search():
    model = BetaGeoModel()
    model.params_ = dict(r=0.24, alpha=4.4, a=0.79, b=2.4)
    x, T = np.array([0.0, 1.0, 5.0, 30.0, 1.0]), np.array([38.0, 38.0, 20.0, 38.0, 2.0])
    table = reference_tails(model.params[None, :], x, T, 39.0, dropout_shift(model))
    rng = np.random.default_rng(2)
    uniforms = rng.random((x.size, 60))
    uniforms[:, :3] = [0.0, 1.0, 0.5]
    for g in range(x.size):  # ties: uniforms equal to table tail values
        tail = 1.0 - 2.0 * (table.keys[table.starts[g]:table.starts[g + 1]] - g)
        uniforms[g, 3:3 + min(5, tail.size)] = tail[:5]
    uniforms = -np.sort(-uniforms, axis=1)
    groups = np.repeat(np.arange(x.size), uniforms.shape[1])
    expected = table.count_above(groups, uniforms.ravel()).reshape(uniforms.shape)
    np.testing.assert_array_equal(table.count_above_sorted_draws(uniforms), expected)
    assert expected.max() > 0 and expected.min() == 0
    row_groups = np.array([4, 0, 0, 3, 1])  # any groups, any order
    thresholds = uniforms[row_groups]
    per_row = table.count_above_per_row(row_groups, thresholds.copy())
    plain = table.count_above(np.repeat(row_groups, thresholds.shape[1]), thresholds.ravel()).reshape(thresholds.shape)
    np.testing.assert_array_equal(per_row, plain)


def test_shifted_ranks_of_a_dead_or_undefined_ratio_mean_zero_purchases():
    levels = np.array([0.025, 0.975])
    ranks = _shifted_ranks(np.array([0.0, np.nan, 1e-300, 1.0]), levels, 200)
    np.testing.assert_array_equal(ranks, [[-1, -1], [-1, -1], [-1, -1], [4, 194]])


@pytest.mark.parametrize("with_ids", [True, False])
def test_scores_of_repeated_histories_equal_the_plain_computation(simulated, with_ids):
    summary, _, model = simulated
    summary = summary.head(1500).assign(
        customer_id=lambda s: s["customer_id"].astype(str),
        monetary_value=lambda s: np.where(s["frequency"] > 0, 10.0 + s["T"] % 7, 0.0))
    if not with_ids:
        summary = summary.drop(columns="customer_id")
    spend = GammaGammaModel()
    spend.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    spend.covariance_theta_ = np.eye(3) * 1e-4
    kwargs = dict(horizon=26.0, time_unit="week", intervals=(0.8, 0.95), n_draws=50, seed=4)
    once = score_customers(summary, model, spend, **kwargs)
    twice = score_customers(pd.concat([summary, summary], ignore_index=True), model, spend, **kwargs)
    # Histories are numbered by first appearance, so the second copy repeats the first one's draws exactly.
    half = len(summary)
    for frame in (twice.iloc[:half], twice.iloc[half:]):
        pd.testing.assert_frame_equal(frame.drop(columns="customer_id").reset_index(drop=True),
                                      once.drop(columns="customer_id"))
    if with_ids:
        assert once["customer_id"].dtype == "str" and once["customer_id"].tolist() == summary["customer_id"].tolist()
    else:
        assert once["customer_id"].tolist() == list(range(half))
    x, m = summary["frequency"].to_numpy(), summary["monetary_value"].to_numpy()
    np.testing.assert_array_equal(once["expected_spend"], expected_spend_per_order(spend, x, m))
    np.testing.assert_array_equal(once["p_alive"], model.probability_alive(x, summary["recency"], summary["T"]))


def test_tail_tables_do_not_depend_on_blocks_or_threads(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from clv.scores import closed_form

    draws = np.array([[0.24, 4.4, 0.79, 2.4], [0.3, 5.0, 0.7, 2.0], [0.2, 4.0, 0.9, 3.0]])
    x = np.array([0.0, 1.0, 5.0, 30.0, 1.0, 2.0, 0.0, 12.0, 3.0, 200.0])
    T = np.array([38.0, 38.0, 20.0, 38.0, 2.0, 10.0, 1.0, 30.0, 38.0, 39.0])
    whole = reference_tails(draws, x, T, 39.0, 0)
    monkeypatch.setattr(closed_form, "TAIL_BLOCK", 3)
    blocked = reference_tails(draws, x, T, 39.0, 0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        threaded = reference_tails(draws, x, T, 39.0, 0, executor=pool)
    for table in (blocked, threaded):
        np.testing.assert_array_equal(table.keys, whole.keys)
        np.testing.assert_array_equal(table.starts, whole.starts)
    assert np.all(np.diff(whole.keys) > 0) and whole.starts[-1] == whole.keys.size


def test_score_intervals_equal_the_plain_closed_form_path(simulated):
    from clv.summary.compress import compress
    from clv.scores.intervals import closed_form_quantiles, spend_scale
    from clv.scores.lifetime_value import forecast_purchases, forecast_rows

    summary, _, model = simulated
    summary = pd.concat([summary.head(800), summary.head(300)], ignore_index=True)  # repeated histories
    summary["monetary_value"] = np.where(summary["frequency"] > 0, 12.0 + summary["T"] % 5, 0.0)
    spend = GammaGammaModel()
    spend.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    spend.covariance_theta_ = np.eye(3) * 1e-4
    scores = score_customers(summary, model, spend, horizon=26.0, time_unit="week", margin=0.5, intervals=(0.8,),
                             n_draws=40, seed=9)
    x, t_x, T, m = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value"))
    histories = compress({"x": x, "t_x": t_x, "T": T})
    hx, ht, hT = (histories.columns[k] for k in ("x", "t_x", "T"))
    plain = closed_form_quantiles(model, spend, forecast_rows(model, hx, ht, hT), horizon=26.0,
                                  levels=np.array([0.1, 0.9]), n_draws=40, rng=np.random.default_rng(9), seed=9)
    mean_discount = forecast_purchases(model, hx, ht, hT, horizon=26.0, time_unit="week").mean_discount
    scale = spend_scale(spend, x, m) * (0.5 * histories.expand(mean_discount))
    for j, level in enumerate((0.1, 0.9)):
        np.testing.assert_array_equal(scores[f"purchases_q{level:g}"], histories.expand(plain.purchases[:, j]))
        np.testing.assert_allclose(scores[f"clv_q{level:g}"], scale * histories.expand(plain.money[:, j]), rtol=1e-12)
    assert scores["purchases_q0.9"].max() > 0 and scores["clv_q0.9"].max() > 0
