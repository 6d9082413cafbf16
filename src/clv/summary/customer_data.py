"""Customer data: the per-customer table with the context that gives its numbers a meaning.

Modelled on CLVTools' ``clvdata``: recency and T are durations, and a duration
without its unit is a trap (a weekly summary scored as days gives a wrong CLV
without any error). So the time unit, the observation end, the calibration
split, how purchases were merged into periods, the currency and the load report
travel with the table in one frozen object, :class:`CustomerData`, that
:func:`clv.summary.summarize` and :func:`clv.summary.calibration_holdout`
return and every model, scorer and report accepts. It saves to and reads from
Parquet with that context (:meth:`CustomerData.to_parquet`,
:meth:`CustomerData.read_parquet`), so CLI commands chain without stating the
unit again.

Plain DataFrames still work wherever customer data is taken; their unit must
then be given (:func:`as_customer_data`), or a clear error says it is missing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clv.errors import DataError, missing_column_message
from clv.result_table import ResultTable
from clv.summary.amounts import HOLDOUT_VALUE_COLUMNS, VALUE_COLUMNS
from clv.summary.histories import validate_rfm
from clv.units import DEFAULT_TIME_UNIT, TIME_UNITS, check_time_unit, unit_ratio

PARQUET_KEY = b"clv.customer_data"
"""The Parquet schema-metadata key under which :meth:`CustomerData.to_parquet` stores the context."""
DURATION_COLUMNS = ("recency", "T", "duration_holdout")
"""Columns that are durations in the time unit (converted by :meth:`CustomerData.in_time_unit`)."""
LOG_DURATION_SUM = "litt"
"""The column that sums logs of durations (``frequency`` of them), converted by adding frequency x log(ratio)."""
_DATE_FIELDS = ("observation_end", "calibration_end")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CustomerData(ResultTable):
    """One row per customer (frequency, recency, T, ...) and the context of those numbers.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per customer: ``customer_id``, ``frequency``, ``recency``, ``T``
        and, with amounts, ``monetary_value`` (see :func:`clv.summary.summarize`);
        after a split also the holdout columns (see
        :func:`clv.summary.calibration_holdout`).
    time_unit : {"day", "week", "month", "quarter", "year"}
        Unit of every duration in the table (recency, T, duration_holdout).
    observation_end : datetime.date, optional
        Last day observed (inclusive). After a split, the end of the holdout.
    calibration_end : datetime.date, optional
        Last day of the calibration period when the data is split, else None.
    holdout_length : float, optional
        Length of the holdout window in ``time_unit`` when split, else None.
    merged_per : {"day", "unit"}
        How purchases were merged into purchase periods (``summarize``'s
        ``merge``): per calendar day, or per period of the time unit.
    currency : str, optional
        Currency of the amounts (ISO code or symbol) when known.
    has_amounts : bool
        False for a purchase log (customer and date only): no value columns.
    customers_without_purchase : int
        Customers whose only lines were refunds (not rows: no purchase to
        measure from).
    new_customers_in_holdout : int, optional
        After a split, customers first seen in the holdout window (not rows).
    load_report : clv.data.LoadReport, optional
        The report of the load the data came from (rows read, kept, set aside).
    covariates : clv.summary.covariates.CovariateDesign, optional
        The static covariates attached by :func:`clv.summary.attach_covariates`:
        which table columns form the design matrix, how they were encoded and
        the reference level of each categorical one; None without covariates.

    Examples
    --------
    >>> data = CustomerData(pd.DataFrame({"frequency": [2], "recency": [3.0], "T": [5.0]}), time_unit="week")
    >>> data.time_unit, len(data), data["T"].tolist()
    ('week', 1, [5.0])
    >>> data.in_time_unit("day")["T"].tolist()
    [35.0]
    """

    time_unit: str = DEFAULT_TIME_UNIT
    observation_end: dt.date | None = None
    calibration_end: dt.date | None = None
    holdout_length: float | None = None
    merged_per: str = "day"
    currency: str | None = None
    has_amounts: bool = True
    customers_without_purchase: int = 0
    new_customers_in_holdout: int | None = None
    load_report: Any = None
    covariates: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_covariates()
        check_time_unit(self.time_unit)
        if self.merged_per not in ("day", "unit"):
            raise DataError(f"merged_per must be 'day' or 'unit', got {self.merged_per!r}.")
        for name in _DATE_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, dt.date):
                object.__setattr__(self, name, _as_date(value, name))
        if (self.calibration_end is None) != (self.holdout_length is None):
            raise DataError("calibration_end and holdout_length are given together (a split) or not at all.")
        if not self.has_amounts:
            present = [c for c in (*VALUE_COLUMNS, *HOLDOUT_VALUE_COLUMNS) if c in self.table.columns]
            if present:
                raise DataError(f"has_amounts=False (a purchase log) but the table has value columns {present}.")

    def _check_covariates(self) -> None:
        from clv.summary.covariates import CovariateDesign

        design = self.covariates
        if design is None:
            return
        if isinstance(design, Mapping):
            design = CovariateDesign.from_dict(design)
            object.__setattr__(self, "covariates", design)
        if not isinstance(design, CovariateDesign):
            raise DataError(f"covariates must be a CovariateDesign (clv.summary.attach_covariates), got "
                            f"{type(design).__name__}.")
        missing = [c for c in design.encoded_columns if c not in self.table.columns]
        if missing:
            raise DataError(f"the table lacks the covariate column(s) {missing} its covariate design names. Fix: "
                            "attach the covariates again (clv.summary.attach_covariates), or data.without_covariates().")

    # ----- covariates ---------------------------------------------------------
    @property
    def covariate_names(self) -> tuple[str, ...]:
        """The encoded covariate columns (design-matrix columns), in order; empty without covariates."""
        return () if self.covariates is None else self.covariates.encoded_columns

    def covariate_matrix(self) -> np.ndarray:
        """The design matrix: float array (customers, covariates), columns in :attr:`covariate_names` order.

        Shape (n, 0) without covariates. No intercept column: the models'
        base parameters play that part (see :mod:`clv.models.covariate_link`).
        """
        names = list(self.covariate_names)
        if not names:
            return np.zeros((len(self.table), 0))
        return np.ascontiguousarray(self.table[names].to_numpy(dtype=float))

    def without_covariates(self) -> "CustomerData":
        """The same data without covariates (design columns dropped, ``covariates`` None); self when it has none."""
        if self.covariates is None:
            return self
        table = self.table.drop(columns=list(self.covariates.encoded_columns))
        return dataclasses.replace(self, table=table, covariates=None)

    # ----- what the data is -------------------------------------------------
    @property
    def is_split(self) -> bool:
        """Whether the data is a calibration/holdout split."""
        return self.calibration_end is not None

    def rfm(self, t_column: str = "T") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(frequency, recency, T)`` as validated float arrays (see :func:`clv.summary.validate_rfm`).

        Parameters
        ----------
        t_column : str
            The column holding the customer's age: ``"T"``, or ``"n_periods"``
            for discrete-time data (BG/BB).
        """
        for column in ("frequency", "recency", t_column):
            if column not in self.table.columns:
                raise DataError(missing_column_message(column, column, map(str, self.table.columns)))
        return validate_rfm(self.table["frequency"].to_numpy(), self.table["recency"].to_numpy(),
                            self.table[t_column].to_numpy())

    def in_time_unit(self, time_unit: str) -> "CustomerData":
        """The same data with every duration expressed in ``time_unit``.

        recency, T, duration_holdout and the holdout length are multiplied by
        ``days_per_unit(self.time_unit) / days_per_unit(time_unit)``
        (:func:`clv.units.unit_ratio`); counts are unchanged. ``litt`` (the
        sum of the logs of the frequency inter-purchase times) gains
        ``frequency * log(ratio)``.
        """
        check_time_unit(time_unit)
        if time_unit == self.time_unit:
            return self
        ratio = unit_ratio(self.time_unit, time_unit)
        table = self.table.copy()
        for column in DURATION_COLUMNS:
            if column in table.columns:
                table[column] = table[column].to_numpy(dtype=float) * ratio
        if LOG_DURATION_SUM in table.columns:  # sum over the x gaps of log(gap): + x log(ratio)
            table[LOG_DURATION_SUM] = table[LOG_DURATION_SUM].to_numpy(dtype=float) \
                + table["frequency"].to_numpy(dtype=float) * math.log(ratio)
        holdout = None if self.holdout_length is None else self.holdout_length * ratio
        return dataclasses.replace(self, table=table, time_unit=time_unit, holdout_length=holdout)

    def largely_refunded(self) -> pd.DataFrame:
        """The customers flagged ``largely_refunded``, largest refunds first.

        A customer is largely refunded when refunds are at least
        :data:`clv.summary.refunds.LARGELY_REFUNDED_SHARE` (50%) of their gross
        spend; :func:`clv.summary.summarize` nets those refunds against the
        purchases they cancel (:mod:`clv.summary.refunds`).

        Returns
        -------
        pandas.DataFrame
            ``customer_id, gross_revenue, refunded, refund_share`` (and ``revenue``
            when present) of the flagged customers, sorted by ``refunded``
            descending; empty when no customer is flagged or the data has no
            refund columns (a purchase log, a table from elsewhere).

        Examples
        --------
        >>> table = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [0, 1], "recency": [0.0, 1.0],
        ...                       "T": [2.0, 2.0], "gross_revenue": [100.0, 40.0], "refunded": [99.0, 0.0],
        ...                       "refund_share": [0.99, 0.0], "largely_refunded": [True, False]})
        >>> CustomerData(table, time_unit="week").largely_refunded()["customer_id"].tolist()
        ['a']
        """
        columns = ["customer_id", "gross_revenue", "refunded", "refund_share", "revenue"]
        if "largely_refunded" not in self.table.columns:
            return pd.DataFrame(columns=columns[:-1])
        flagged = self.table[self.table["largely_refunded"].fillna(False).astype(bool)]
        present = [c for c in columns if c in flagged.columns]
        return flagged[present].sort_values("refunded", ascending=False, kind="stable").reset_index(drop=True)

    # ----- Parquet with its context ----------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The context as JSON-ready values (what :meth:`to_parquet` stores)."""
        context = self.context()
        context.pop("load_report")
        for name in _DATE_FIELDS:
            if context[name] is not None:
                context[name] = context[name].isoformat()
        report = self.load_report
        context["load"] = report.as_dict() if hasattr(report, "as_dict") else None
        if context["covariates"] is None:
            context.pop("covariates")  # files written without covariates stay exactly as before
        else:
            context["covariates"] = context["covariates"].as_dict()
        return context

    def to_parquet(self, path: str | Path) -> Path:
        """Write the table to Parquet with the context in the file's schema metadata.

        :meth:`read_parquet` gives the same object back (the load report as a
        plain dict of its figures).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.table, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), PARQUET_KEY: json.dumps(self.metadata()).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), str(path))
        return Path(path)

    @classmethod
    def read_parquet(cls, path: str | Path, time_unit: str | None = None) -> "CustomerData":
        """Customer data from a Parquet file written by :meth:`to_parquet` (or ``clv summarize``).

        A Parquet file written by other tools has no context: give
        ``time_unit`` for it (else a DataError says it is missing). For a file
        with context, a different ``time_unit`` is refused (see
        :func:`as_customer_data`).
        """
        import pyarrow.parquet as pq

        try:
            arrow = pq.read_table(str(path))
        except (OSError, ValueError) as exc:
            raise DataError(f"{str(path)!r} is not a readable Parquet file ({exc}).") from None
        stored = (arrow.schema.metadata or {}).get(PARQUET_KEY)
        frame = arrow.to_pandas()
        if stored is None:
            return as_customer_data(frame, time_unit, argument=f"{path} (a Parquet file without clv's context)")
        return as_customer_data(cls.from_metadata(frame, json.loads(stored)), time_unit)

    @classmethod
    def from_metadata(cls, table: pd.DataFrame, metadata: dict[str, Any]) -> "CustomerData":
        """Rebuild customer data from a table and :meth:`metadata`'s dict."""
        known = {field.name for field in dataclasses.fields(cls)} - {"table", "load_report"}
        context = {name: value for name, value in metadata.items() if name in known}
        return cls(table, load_report=metadata.get("load"), **context)


def as_customer_data(data: Any, time_unit: str | None = None, *, argument: str = "summary") -> CustomerData:
    """``data`` as :class:`CustomerData`, with its time unit made sure.

    Parameters
    ----------
    data : CustomerData or pandas.DataFrame
        Customer data (carries its unit), or a plain per-customer DataFrame.
    time_unit : str, optional
        For a DataFrame, the unit of its durations: required. For customer
        data, optional; a unit that differs from the data's is refused, never
        silently used: a duration in the wrong unit gives wrong numbers.
    argument : str
        How the data is named in error messages.

    Raises
    ------
    DataError
        A DataFrame without ``time_unit``; a ``time_unit`` that contradicts the data's.
    """
    if isinstance(data, CustomerData):
        if time_unit is not None and check_time_unit(time_unit) != data.time_unit:
            raise DataError(
                f"{argument} is in {data.time_unit}s (it carries its time unit) but time_unit={time_unit!r} was "
                f"given. Fix: leave time_unit out (the data's unit is used), or convert the data first with "
                f".in_time_unit({time_unit!r})."
            )
        return data
    if isinstance(data, pd.DataFrame):
        if time_unit is None:
            raise DataError(
                f"time_unit is missing: {argument} is a plain table, which does not say in which unit recency and T "
                f"are. Fix: pass time_unit= (one of {list(TIME_UNITS)}), or use the result of clv.summarize, "
                "which carries its unit."
            )
        return CustomerData(data, time_unit=check_time_unit(time_unit), has_amounts="monetary_value" in data.columns)
    raise DataError(f"{argument} must be clv customer data (clv.summarize(...)) or a pandas DataFrame, "
                    f"got {type(data).__name__}.")


def _as_date(value: Any, name: str) -> dt.date:
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a date (e.g. '2025-12-31'), got {value!r}.") from None
