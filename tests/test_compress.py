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


def _hash_only_compress(columns, weights=None):
    """compress with every column hash-factorised (object dtype), the reference for the offset coding."""
    return compress({k: np.asarray(v).astype(object) for k, v in columns.items()}, weights)


whole_floats = st.one_of(
    st.lists(st.integers(-3, 6).map(float), min_size=1, max_size=50),  # narrow range: coded as value - min
    st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.0, 1e15, -7.0]), min_size=1, max_size=50),  # wide range, signed zeros
    st.lists(st.sampled_from([1.0, 2.0, 2.5, np.nan, np.inf]), min_size=1, max_size=50),  # not whole: hashed
)


@settings(max_examples=80, deadline=None)
@given(whole_floats, st.data())
def test_offset_coded_columns_group_exactly_like_hashing(first_column, data):
    n = len(first_column)
    integers = np.array(data.draw(st.lists(st.integers(-2**62, 2**62), min_size=n, max_size=n)), dtype=np.int64)
    small = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.uint8)
    columns = {"a": np.array(first_column), "b": small, "c": integers % 5 if data.draw(st.booleans()) else integers}
    weights = np.arange(1.0, n + 1)
    packed, reference = compress(columns, weights), _hash_only_compress(columns, weights)
    np.testing.assert_array_equal(packed.inverse, reference.inverse)
    np.testing.assert_array_equal(packed.weights, reference.weights)
    for name, column in columns.items():
        assert packed.columns[name].dtype == column.dtype
        np.testing.assert_array_equal(packed.columns[name], reference.columns[name].astype(column.dtype))
        # the distinct rows are the first rows of their group, sign of zero included
        np.testing.assert_array_equal(np.signbit(packed.columns[name]), np.signbit(column[np.unique(packed.inverse, return_index=True)[1]]))


def test_offset_coding_applies_to_whole_numbers_in_a_narrow_range_only():
    from clv.summary.compress import offset_codes

    codes, n_codes = offset_codes(np.array([7.0, 3.0, 7.0, 4.0]))
    np.testing.assert_array_equal(codes, [4, 0, 4, 1])
    assert n_codes == 5
    assert offset_codes(np.array([1.0, 2.5])) is None  # a fraction
    assert offset_codes(np.array([1.0, np.nan])) is None
    assert offset_codes(np.array([0, 10**12])) is None  # wider than the number of rows
    assert offset_codes(np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max])) is None  # no wrap-around
    assert offset_codes(np.array(["a", "b"])) is None


def test_offset_codes_of_narrow_integer_types_do_not_wrap_around():
    from clv.summary.compress import offset_codes

    values = np.tile(np.arange(-100, 101, dtype=np.int8), 2)  # max - min = 200 > 127: int8 arithmetic would wrap
    codes, n_codes = offset_codes(values)
    assert n_codes == 201 and codes.dtype == np.int64
    np.testing.assert_array_equal(codes, values.astype(np.int64) + 100)
    other = np.repeat(np.array([0, 1], dtype=np.uint8), 201)
    packed, reference = compress({"a": values, "b": other}), _hash_only_compress({"a": values, "b": other})
    np.testing.assert_array_equal(packed.inverse, reference.inverse)
    np.testing.assert_array_equal(packed.columns["a"], values[: packed.n_distinct])


def test_key_span_beyond_int32_groups_like_hashing():
    rng = np.random.default_rng(0)
    columns = {name: rng.integers(0, 2_000, 3_000) for name in ("a", "b", "c")}  # span 8e9 > 2^31, offset-coded
    packed, reference = compress(columns), _hash_only_compress(columns)
    np.testing.assert_array_equal(packed.inverse, reference.inverse)
    np.testing.assert_array_equal(packed.weights, reference.weights)


# ----- the unordered path (a count per possible key, as scoring uses it) ----------
HISTORY_ROWS = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from([0.0, 0.5, 2.0, 7.25, np.nan]), st.integers(-3, 3),
              st.sampled_from([0.0, 1.0 / 7.0, 3.0, 52.0])),
    min_size=1, max_size=60,
)


def history_columns(rows) -> dict:
    x, money, shift, weeks = (np.array(column) for column in zip(*rows))
    return {"x": x.astype(float), "m": money, "shift": shift, "T": weeks}


@settings(max_examples=80, deadline=None)
@given(HISTORY_ROWS, st.sampled_from([("x",), ("x", "shift"), ("x", "T"), ("x", "m"), ("x", "m", "shift", "T")]))
def test_unordered_compression_groups_the_same_rows_as_the_ordered_one(rows, names):
    """Whole-number columns are decoded from the keys, others read from a row: the same groups either way."""
    columns = {name: history_columns(rows)[name] for name in names}
    ordered, fast = compress(columns), compress(columns, ordered=False)
    assert fast.n_distinct == ordered.n_distinct
    for name, column in columns.items():
        np.testing.assert_array_equal(fast.expand(fast.columns[name]), column)  # NaN == NaN here
        assert fast.columns[name].dtype == column.dtype
    np.testing.assert_array_equal(fast.expand(fast.weights), ordered.expand(ordered.weights))


def test_unordered_compression_of_wide_keys_falls_back_to_hashing():
    """A key too large for a count table (here 2 x 10^6 possible keys for 4 rows) is hash-factorised."""
    x = np.array([0.0, 1e6, 0.0, 1e6])
    T = np.array([0.5, 0.5, 0.5, 2.5])
    fast = compress({"x": x, "T": T}, ordered=False)
    np.testing.assert_array_equal(fast.weights, [2.0, 1.0, 1.0])  # first-appearance order: the hashing path
    np.testing.assert_array_equal(fast.expand(fast.columns["x"]), x)
