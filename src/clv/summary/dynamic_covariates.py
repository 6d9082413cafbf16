"""Time-varying covariates: one value per customer per calendar period, as paths in customer time.

The data of the extended Pareto/NBD (:mod:`clv.models.paretonbd_dynamic`;
Bachmann, Meierer & Naef 2021): for every customer the calendar periods of the
covariate table seen from the customer's first purchase (start and length,
clipped to the calibration window [0, T]), the covariate values of each
period, and the sum of the covariates over the periods of the customer's
repeat purchases (the likelihood's e^(g_trans'S) factor). The periods after
the calibration end that the table also covers are the forecast window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clv.errors import DataError


@dataclasses.dataclass(frozen=True)
class PeriodPaths:
    """Per-customer covariate paths over the calibration window, in customer time.

    Parameters
    ----------
    start : numpy.ndarray
        (n, P) start of each period in customer time (time since the first purchase), clipped to [0, T].
    length : numpy.ndarray
        (n, P) the length of each period inside [0, T] (0 for periods before the first purchase or after T).
    values : numpy.ndarray
        (n, P, k) or (1, P, k) covariates of each period.
    purchase_sums : numpy.ndarray
        (n, k) the sum of the covariates of the periods of the customer's repeat purchases.
    names : tuple of str
        The covariate names (k).
    future_length : numpy.ndarray or None
        (Q,) lengths of the periods after the calibration end that the covariate table covers
        (the forecast window), in the time unit of T; None when it covers none.
    future_values : numpy.ndarray or None
        (n, Q, k) or (1, Q, k) their covariates.
    """

    start: np.ndarray
    length: np.ndarray
    values: np.ndarray
    purchase_sums: np.ndarray
    names: tuple[str, ...]
    future_length: np.ndarray | None = None
    future_values: np.ndarray | None = None

    def rows(self, index) -> PeriodPaths:
        """The paths of some customers (an index or a boolean mask)."""
        def pick(values):
            return values if values is None or values.shape[0] == 1 else values[index]

        return dataclasses.replace(self, start=self.start[index], length=self.length[index], values=pick(self.values),
                                   purchase_sums=self.purchase_sums[index], future_values=pick(self.future_values))


def paths_from_calendar(first: np.ndarray, T: np.ndarray, boundaries: np.ndarray, values: np.ndarray,
                        purchase_counts: np.ndarray, names, future_length=None, future_values=None) -> PeriodPaths:
    """:class:`PeriodPaths` from calendar periods.

    ``first``: (n,) each customer's first purchase and ``boundaries``: (P+1,)
    the periods' edges, on one calendar axis in the time unit of T (e.g. weeks
    since some date); ``values``: (n or 1, P, k); ``purchase_counts``: (n, P)
    repeat purchases of each customer in each period. The periods must cover
    every customer's [first, first + T]. Adjacent periods with the same values
    for every customer are merged into one segment (the likelihood is the same,
    the work smaller). ``future_length`` (Q,), ``future_values``
    (n or 1, Q, k): the periods after the calibration end (common to all
    customers, who share the calibration end), for forecasts.
    """
    first, T = np.asarray(first, dtype=float), np.asarray(T, dtype=float)
    boundaries = np.asarray(boundaries, dtype=float)
    if np.any(np.diff(boundaries) <= 0):
        raise DataError("period starts must be strictly increasing. Fix: one row per customer per period, distinct dates.")
    if boundaries[0] > first.min() + 1e-9 or boundaries[-1] < (first + T).max() - 1e-9:
        raise DataError("the covariate periods do not cover every customer's calibration window (first purchase to "
                        "the end of calibration). Fix: add periods from the first purchase date to the calibration end.")
    start = np.clip(boundaries[None, :-1] - first[:, None], 0.0, T[:, None])
    end = np.clip(boundaries[None, 1:] - first[:, None], 0.0, T[:, None])
    values = np.asarray(values, dtype=float)
    sums = np.einsum("np,npk->nk", np.asarray(purchase_counts, dtype=float), np.broadcast_to(values, (first.shape[0],) + values.shape[1:]))
    # adjacent periods whose values are the same for everyone are one segment (exact: A and C are linear there)
    changes = np.flatnonzero(np.concatenate([[True], np.any(values[:, 1:] != values[:, :-1], axis=(0, 2))]))
    start, length = start[:, changes], np.add.reduceat(end - start, changes, axis=1)
    values = values[:, changes]
    if future_length is not None:
        future_length = np.asarray(future_length, dtype=float)
        future_values = np.asarray(future_values, dtype=float)
    return PeriodPaths(start=start, length=length, values=values, purchase_sums=sums, names=tuple(names),
                       future_length=future_length, future_values=future_values)


def dynamic_covariate_paths(data: Any, orders: Any, table: Any, columns: Sequence[str] | None = None, *,
                            id_column: str | None = "customer_id", period_column: str = "period_start") -> PeriodPaths:
    """The time-varying covariates of the customers of ``data``, as paths for the extended Pareto/NBD.

    Parameters
    ----------
    data : clv.summary.CustomerData
        The customers (rows, in this order), their ``T`` and the calibration end (``calibration_end``
        after a split, else ``observation_end``), in ``data.time_unit``.
    orders : pandas.DataFrame
        The order lines the data was summarised from, with ``customer_id`` and ``order_ts``: the first
        purchase day of each customer and the periods of the repeat purchases (purchase days after the
        first, up to the calibration end; one per day, as ``summarize`` counts them).
    table : pandas.DataFrame or str or pathlib.Path
        One row per period (and per customer when ``id_column`` is given): ``period_column`` (the date
        the period starts) and numeric covariate columns (0/1 for categories). A period lasts until the
        next period start in the table; the last one as long as the one before it. Periods after the
        calibration end are the forecast window of ``expected_purchases``.
    columns : sequence of str, optional
        The covariate columns (default: every column but the id and period columns).
    id_column : str or None, default "customer_id"
        The customer id column; None for a calendar-wide table (the same values for every customer,
        e.g. seasons or company-wide campaigns).
    period_column : str, default "period_start"
        The column of period start dates.

    Returns
    -------
    PeriodPaths
        Per customer: periods in customer time clipped to [0, T], values, the covariate sums over
        the repeat purchases, and the forecast window.

    Raises
    ------
    clv.errors.DataError
        Naming the column, the customers or periods and the fix: a missing column, a non-numeric or
        missing value, periods that do not cover a customer's calibration window, a customer without a
        row for a period it needs, repeat purchases that do not match the data's frequency.
    """
    import pandas as pd

    from clv.units import days_per_unit

    frame = _read_table(table)
    end = data.calibration_end or data.observation_end
    if end is None:
        raise DataError("the customer data has no calibration or observation end. Fix: build it with "
                        "clv.summary.summarize or calibration_holdout.")
    wanted = [c for c in frame.columns if c not in (id_column, period_column)] if columns is None else list(columns)
    needed = [period_column, *([id_column] if id_column else []), *wanted]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"the covariate table has no column(s) {missing} (it has {list(frame.columns)}). Fix: name "
                        f"them with id_column=, period_column= and columns=.")
    if not wanted:
        raise DataError("the covariate table has no covariate column. Fix: add at least one, or pass columns=.")
    for column in wanted:
        values = pd.to_numeric(frame[column], errors="coerce") if frame[column].dtype != bool else frame[column].astype(float)
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            raise DataError(f"covariate column {column!r} is missing or not numeric in {int(bad.sum())} row(s), first "
                            f"table row {int(np.flatnonzero(bad.to_numpy())[0])} ({frame[column].iloc[int(np.flatnonzero(bad.to_numpy())[0])]!r}). "
                            "Fix: fill it, and encode categories as 0/1 columns.")
        frame[column] = values.astype(float)
    try:
        frame[period_column] = pd.to_datetime(frame[period_column]).dt.normalize()
    except (ValueError, TypeError):
        raise DataError(f"column {period_column!r} must hold dates (the start of each period). Fix: write them as "
                        "YYYY-MM-DD.") from None
    starts = np.sort(frame[period_column].unique())
    if starts.shape[0] < 2:
        raise DataError(f"the covariate table has a single period ({period_column}); a period lasts until the next "
                        "one. Fix: give at least two period starts.")
    day = np.timedelta64(1, "D")
    start_days = (starts - starts[0]) / day
    boundaries_days = np.append(start_days, 2 * start_days[-1] - start_days[-2])
    unit = days_per_unit(data.time_unit)

    ids = data.table["customer_id"].astype(str).to_numpy()
    lines = pd.DataFrame({"customer_id": orders["customer_id"].astype(str),
                          "day": pd.to_datetime(orders["order_ts"]).dt.normalize()})
    end_ts = pd.Timestamp(end)
    lines = lines[lines["day"] <= end_ts].drop_duplicates()
    first_day = lines.groupby("customer_id")["day"].min()
    absent = [i for i in ids if i not in first_day.index]
    if absent:
        raise DataError(f"{len(absent)} customer(s) of the data have no order line by the calibration end "
                        f"(first: {absent[:5]}). Fix: pass the order lines the data was summarised from.")
    first = ((first_day.loc[ids].to_numpy() - starts[0]) / day) / unit
    end_axis = ((end_ts.to_datetime64() - starts[0]) / day) / unit
    T = data.table["T"].to_numpy(dtype=float)
    boundaries = boundaries_days / unit
    if boundaries[-1] < end_axis - 1e-9:
        raise DataError(f"the covariate table ends before the calibration end {end}: its last period starts "
                        f"{pd.Timestamp(starts[-1]).date()}. Fix: add the periods up to the calibration end (and after "
                        "it for forecasts).")
    calibration = np.append(boundaries[boundaries < end_axis], end_axis)
    if calibration[0] > first.min() + 1e-9:
        early = ids[first < calibration[0] - 1e-9]
        raise DataError(f"the covariate table starts at {pd.Timestamp(starts[0]).date()}, after the first purchase of "
                        f"{early.shape[0]} customer(s) (first: {list(early[:5])}). Fix: add periods from their first "
                        "purchase on.")

    # repeat purchases per period (purchase days after the first, up to the end)
    repeat = lines.merge(first_day.rename("first"), left_on="customer_id", right_index=True)
    repeat = repeat[repeat["day"] > repeat["first"]]
    row_of = pd.Series(np.arange(ids.shape[0]), index=ids)
    repeat = repeat[repeat["customer_id"].isin(row_of.index)]
    repeat_axis = ((repeat["day"].to_numpy() - starts[0]) / day) / unit
    period_of = np.searchsorted(calibration, repeat_axis, side="right") - 1
    n_periods = calibration.shape[0] - 1
    counts = np.zeros((ids.shape[0], n_periods))
    np.add.at(counts, (row_of.loc[repeat["customer_id"]].to_numpy(), np.clip(period_of, 0, n_periods - 1)), 1.0)
    frequency = data.table["frequency"].to_numpy(dtype=float)
    off = np.flatnonzero(counts.sum(axis=1) != frequency)
    if off.shape[0]:
        raise DataError(f"the repeat purchase days of {off.shape[0]} customer(s) in the order lines do not match the "
                        f"data's frequency (first: {list(ids[off[:5]])}). Fix: pass the order lines the customer data "
                        "was summarised from (after the same refund netting), merged per day.")

    # covariate values per period: calibration periods, then the forecast window
    future_edges = boundaries[boundaries > end_axis]
    table_periods = np.concatenate([calibration[:-1], [end_axis] if future_edges.shape[0] else [], future_edges[:-1]])
    period_index = np.searchsorted(boundaries, table_periods, side="right") - 1  # the table period of each piece
    values = _values_by_period(frame, wanted, starts, period_index, ids, id_column, period_column,
                               first, T, calibration, n_periods)
    future_length = np.diff(np.concatenate([[end_axis], future_edges])) if future_edges.shape[0] else None
    paths = paths_from_calendar(first, T, calibration, values[:, :n_periods], counts, tuple(wanted),
                                future_length=future_length,
                                future_values=values[:, n_periods:] if future_length is not None else None)
    return paths


def _values_by_period(frame, wanted, starts, period_index, ids, id_column, period_column, first, T, calibration,
                      n_periods) -> np.ndarray:
    """(n or 1, pieces, k) covariate values of each piece's table period; refuses a customer without a needed row."""
    import pandas as pd

    code_of = {pd.Timestamp(s): j for j, s in enumerate(starts)}
    frame = frame.assign(_period=frame[period_column].map(lambda d: code_of[pd.Timestamp(d)]))
    k = len(wanted)
    if id_column is None:
        duplicated = frame["_period"].duplicated()
        if duplicated.any():
            raise DataError(f"the calendar-wide covariate table has {int(duplicated.sum())} repeated period(s) "
                            f"({period_column}). Fix: one row per period, or pass id_column= for per-customer rows.")
        grid = np.full((starts.shape[0], k), np.nan)
        grid[frame["_period"].to_numpy()] = frame[wanted].to_numpy(dtype=float)
        values = grid[period_index][None, :, :]
        needed = np.ones((1, period_index.shape[0]), dtype=bool)
        holes = needed & np.isnan(values).any(axis=2)
        if holes.any():
            piece = int(np.flatnonzero(holes[0])[0])
            raise DataError(f"the covariate table has no row for the period starting "
                            f"{pd.Timestamp(starts[period_index[piece]]).date()}. Fix: add it.")
        return values
    frame = frame.assign(_id=frame[id_column].astype(str))
    duplicated = frame.duplicated(["_id", "_period"])
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise DataError(f"customer {frame['_id'].iloc[row]!r} has more than one row for the period starting "
                        f"{frame[period_column].iloc[row].date()} ({int(duplicated.sum())} duplicate(s)). Fix: one "
                        "row per customer per period.")
    row_of = pd.Series(np.arange(ids.shape[0]), index=ids)
    known = frame[frame["_id"].isin(row_of.index)]
    grid = np.full((ids.shape[0], starts.shape[0], k), np.nan)
    grid[row_of.loc[known["_id"]].to_numpy(), known["_period"].to_numpy()] = known[wanted].to_numpy(dtype=float)
    values = grid[:, period_index]
    # a piece is needed when it overlaps the customer's calibration window, and always in the forecast window
    piece_start = np.concatenate([calibration[:-1], np.full(period_index.shape[0] - n_periods, calibration[-1])])
    piece_end = np.concatenate([calibration[1:], np.full(period_index.shape[0] - n_periods, np.inf)])
    needed = (piece_end[None, :] > first[:, None]) & (piece_start[None, :] < (first + T)[:, None] + 1e-12)
    needed[:, n_periods:] = True
    holes = needed & np.isnan(values).any(axis=2)
    if holes.any():
        customers = np.flatnonzero(holes.any(axis=1))
        piece = int(np.flatnonzero(holes[customers[0]])[0])
        raise DataError(f"{customers.shape[0]} customer(s) have no covariate row for a period they need (first: "
                        f"{list(ids[customers[:5]])}, period starting {pd.Timestamp(starts[period_index[piece]]).date()}). "
                        "Fix: add a row per customer for every period from their first purchase to the end of the "
                        "table (or use a calendar-wide table with id_column=None).")
    return np.where(np.isnan(values), 0.0, values)  # unneeded pieces have length 0


def _read_table(table: Any):
    """A DataFrame from a DataFrame (copied) or a CSV / Parquet path."""
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.copy()
    path = Path(table)
    if not path.exists():
        raise DataError(f"covariate table {str(path)!r} does not exist. Fix: check the path.")
    return pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
