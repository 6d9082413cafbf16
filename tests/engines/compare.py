"""Compare an engine's result with DuckDB's: whole frames, sorted by a key.

Counts, ids, dates and flags must be equal exactly; floats to 1e-12 relative
(sums may be added up in another order). Shared by the engine tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RTOL = 1e-12


def sorted_frame(frame: pd.DataFrame, key) -> pd.DataFrame:
    """``frame`` sorted by ``key`` (a column or list of columns), index reset."""
    keys = [key] if isinstance(key, str) else list(key)
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame, key, rtol: float = RTOL, *, what: str = "") -> None:
    """Same columns, same rows after sorting by ``key``; floats to ``rtol``, everything else exact.

    ``what`` names the result in the failure message.
    """
    assert list(got.columns) == list(expected.columns), (what, list(got.columns), list(expected.columns))
    assert len(got) == len(expected), (what, len(got), len(expected))
    got, expected = sorted_frame(got, key), sorted_frame(expected, key)
    for name in expected.columns:
        a, b = got[name], expected[name]
        if pd.api.types.is_float_dtype(b) or pd.api.types.is_float_dtype(a):
            x, y = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
            same = np.isclose(x, y, rtol=rtol, atol=0.0, equal_nan=True) | (x == y)
            assert same.all(), f"{what} {name}: {list(zip(x[~same][:5], y[~same][:5]))}"
        else:
            a, b = _plain(a), _plain(b)
            differ = ~((a == b) | (a.isna() & b.isna()))
            assert not differ.any(), f"{what} {name}: {list(zip(a[differ][:5], b[differ][:5]))}"


def _plain(column: pd.Series) -> pd.Series:
    """Dates and timestamps as naive pandas timestamps (aware ones in UTC), integers as int64, others as objects."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        column = column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(column).astype("datetime64[us]").astype(object)
    if column.dtype == object and column.map(lambda v: hasattr(v, "year")).any():
        return pd.to_datetime(column).astype("datetime64[us]").astype(object)
    if pd.api.types.is_integer_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.astype(object)
    return column.astype(object)


def assert_same_scores(engine: pd.DataFrame, local: pd.DataFrame) -> None:
    """Per customer: equal columns; purchase quantiles and flags exactly, the rest to 1e-12 relative."""
    engine = engine.sort_values("customer_id").reset_index(drop=True)
    local = local.sort_values("customer_id").reset_index(drop=True)
    assert list(engine.columns) == list(local.columns)
    assert engine["customer_id"].tolist() == local["customer_id"].tolist()
    for column in local.columns[1:]:
        if column.startswith("purchases_q") or local[column].dtype == bool:
            np.testing.assert_array_equal(engine[column].to_numpy(), local[column].to_numpy(), err_msg=column)
        else:
            np.testing.assert_allclose(engine[column].to_numpy(float), local[column].to_numpy(float), rtol=RTOL,
                                       atol=0, err_msg=column)
