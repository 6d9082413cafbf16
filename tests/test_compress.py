"""Compressed sufficient statistics: distinct rows, weights and the map back."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clv.summary.compress import apply_on_distinct, compress

values = st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0.0, 0.5, 1.5, np.nan]), st.floats(0, 3)), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(values)
def test_compress_round_trips_and_counts(rows):
    x, t_x, T = (np.array(col, dtype=float) for col in zip(*rows))
    packed = compress({"x": x, "t_x": t_x, "T": T})
    np.testing.assert_array_equal(packed.expand(packed.columns["x"]), x)
    np.testing.assert_array_equal(packed.expand(packed.columns["t_x"]), t_x)  # NaN == NaN here
    np.testing.assert_array_equal(packed.expand(packed.columns["T"]), T)
    assert packed.weights.sum() == len(rows)
    distinct = {(a, "nan" if np.isnan(b) else b, c) for a, b, c in zip(x, t_x, T)}
    assert packed.n_distinct == len(distinct)
    assert np.all(np.diff(packed.inverse[np.sort(np.unique(packed.inverse, return_index=True)[1])]) == 1)


def test_weights_add_up_and_apply_on_distinct_maps_back():
    x = np.array([1, 1, 2, 1, 2])
    T = np.array([3.0, 3.0, 4.0, 3.0, 5.0])
    packed = compress({"x": x, "T": T}, weights=np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert packed.n_distinct == 3
    np.testing.assert_array_equal(packed.weights, [7.0, 3.0, 5.0])
    calls = []

    def product(x, T):
        calls.append(len(x))
        return x * T

    many = np.tile(x, 10), np.tile(T, 10)
    np.testing.assert_array_equal(apply_on_distinct(product, x=many[0], T=many[1]), many[0] * many[1])
    assert calls == [3]
