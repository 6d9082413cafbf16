"""Static covariates: one row of customer attributes, joined to the customer data by customer id.

A covariate (acquisition channel, gender, region, first-order value...) travels
WITH THE DATA: :func:`attach_covariates` returns a new
:class:`clv.summary.CustomerData` whose table gains the encoded design columns
and whose ``covariates`` field holds a :class:`CovariateDesign` saying what
those columns are. Models that support covariates (the capability
``PurchaseCapabilities.static_covariates``) read the design matrix from the data
(:meth:`CustomerData.covariate_matrix`); the others refuse the data with the fix
(``data.without_covariates()``).

Encoding (stated, never hidden):

* a numeric column is used as given (no centring or scaling, so its coefficient
  is per unit of the column as the user wrote it);
* a categorical column (strings, booleans, pandas categories) becomes treatment
  dummies, one 0/1 column ``"<column>=<level>"`` per level except the reference
  level, which is the most frequent level among the customers unless
  ``reference=`` names another (ties: the first level in sorted order). A
  coefficient of ``channel=online`` is then the effect of ``online`` relative to
  the reference level (``CovariateDesign.references``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clv.errors import DataError
from clv.result_table import as_frame

NUMERIC = "numeric"
"""Kind of a covariate column used as given."""
CATEGORICAL = "categorical"
"""Kind of a covariate column encoded as treatment dummies against a reference level."""
_SHOWN_IDS = 5  # customer ids quoted in an error message before "and N more"


@dataclasses.dataclass(frozen=True)
class CovariateDesign:
    """What the covariate columns of a customer table are: their sources, encoding and reference levels.

    Parameters
    ----------
    source_columns : tuple of str
        The columns of the user's covariate table, in the order given.
    kinds : tuple of str
        Per source column: ``"numeric"`` (used as given) or ``"categorical"``
        (treatment dummies).
    encoded_columns : tuple of str
        The design columns in the customer table, in order: a numeric column
        keeps its name; a categorical column gives ``"<column>=<level>"`` per
        non-reference level.
    references : dict of str to str
        The reference level of each categorical source column (its effect is
        the baseline, 0).
    levels : dict of str to tuple of str
        Every level of each categorical source column, the reference first.
    id_column : str
        The customer-id column of the covariate table the design came from.

    Examples
    --------
    >>> design = CovariateDesign(("channel", "age"), ("categorical", "numeric"), ("channel=web", "age"),
    ...                          {"channel": "shop"}, {"channel": ("shop", "web")})
    >>> design.describe()
    'channel: categorical, reference level shop (columns channel=web); age: numeric, as given'
    """

    source_columns: tuple[str, ...]
    kinds: tuple[str, ...]
    encoded_columns: tuple[str, ...]
    references: Mapping[str, str] = dataclasses.field(default_factory=dict)
    levels: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    id_column: str = "customer_id"

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_columns", tuple(self.source_columns))
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "encoded_columns", tuple(self.encoded_columns))
        object.__setattr__(self, "references", dict(self.references))
        object.__setattr__(self, "levels", {k: tuple(v) for k, v in self.levels.items()})
        if len(self.kinds) != len(self.source_columns):
            raise DataError("CovariateDesign: one kind per source column is needed.")
        bad = [k for k in self.kinds if k not in (NUMERIC, CATEGORICAL)]
        if bad:
            raise DataError(f"CovariateDesign: kinds must be 'numeric' or 'categorical', got {bad}.")

    def describe(self) -> str:
        """One line per source column, in words: its kind and, for a categorical one, its reference level."""
        parts = []
        for column, kind in zip(self.source_columns, self.kinds):
            if kind == NUMERIC:
                parts.append(f"{column}: numeric, as given")
            else:
                encoded = ", ".join(c for c in self.encoded_columns if c.startswith(f"{column}="))
                parts.append(f"{column}: categorical, reference level {self.references[column]} (columns {encoded})")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (what the Parquet metadata stores); :meth:`from_dict` reads them back."""
        return {
            "source_columns": list(self.source_columns), "kinds": list(self.kinds),
            "encoded_columns": list(self.encoded_columns), "references": dict(self.references),
            "levels": {k: list(v) for k, v in self.levels.items()}, "id_column": self.id_column,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "CovariateDesign":
        """The design saved by :meth:`as_dict`."""
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls) if field.name in values})


def attach_covariates(
    data: Any,
    table: pd.DataFrame | str | Path,
    columns: Sequence[str] | None = None,
    *,
    id_column: str = "customer_id",
    reference: Mapping[str, Any] | None = None,
    design: CovariateDesign | None = None,
) -> Any:
    """Customer data with static covariates joined by customer id (a new object; ``data`` is untouched).

    Parameters
    ----------
    data : clv.summary.CustomerData
        Customer data (``clv.summarize`` or ``clv.calibration_holdout``); its
        ``customer_id`` column is matched to ``id_column`` of ``table``.
    table : pandas.DataFrame or path
        One row per customer: ``id_column`` and the covariate columns. A path
        is read as CSV, or as Parquet when it ends in ``.parquet``/``.pq``.
        Rows of customers not in ``data`` are ignored.
    columns : sequence of str, optional
        The covariate columns to use; default every column but ``id_column``.
    id_column : str, default "customer_id"
        The customer-id column of ``table``.
    reference : mapping of str to level, optional
        The reference level of some categorical columns (default: each
        column's most frequent level among the customers of ``data``).
    design : CovariateDesign, optional
        Encode exactly as this design does (the one a model was fitted with,
        ``model.covariate_design_``): its source columns, levels and reference
        levels, so that the design columns mean what they meant in the fit. A
        level the design does not know is refused; a column may then hold one
        value only. ``columns`` and ``reference`` must be left out.

    Returns
    -------
    clv.summary.CustomerData
        ``data`` with the encoded design columns added to its table (in the
        order of :attr:`CovariateDesign.encoded_columns`) and ``covariates``
        set. Covariates attached before are replaced.

    Raises
    ------
    DataError
        A column not in ``table``; a customer id repeated in ``table``;
        customers of ``data`` without a covariate row or with a missing value
        (named, first few with the count); a column with one value only (its
        effect cannot be told from the baseline); an encoded name that is
        already a column of the customer table; an unknown reference level.

    Examples
    --------
    >>> from clv.summary import CustomerData
    >>> data = CustomerData(pd.DataFrame({"customer_id": ["a", "b", "c"], "frequency": [1, 0, 2],
    ...                                   "recency": [2.0, 0.0, 3.0], "T": [4.0, 4.0, 4.0]}), time_unit="week")
    >>> covariates = pd.DataFrame({"customer_id": ["c", "b", "a"], "channel": ["web", "shop", "web"],
    ...                            "age": [30, 41, 25]})
    >>> with_covariates = attach_covariates(data, covariates)
    >>> with_covariates.covariate_names
    ('channel=shop', 'age')
    >>> with_covariates.covariates.references
    {'channel': 'web'}
    >>> with_covariates.covariate_matrix().tolist()
    [[0.0, 25.0], [1.0, 41.0], [0.0, 30.0]]
    """
    from clv.summary.customer_data import CustomerData

    if not isinstance(data, CustomerData):
        raise DataError(f"attach_covariates needs clv customer data (clv.summarize(...)), got {type(data).__name__}.")
    base = data.without_covariates()
    if "customer_id" not in base.table.columns:
        raise DataError("the customer data has no customer_id column, so covariates cannot be joined to it. "
                        "Fix: use the result of clv.summarize or clv.calibration_holdout.")
    if design is not None and (columns is not None or reference):
        raise DataError("attach_covariates: give design= alone (it fixes the columns and reference levels), or "
                        "columns= and reference= without design=.")
    if design is not None:
        columns = design.source_columns
    frame = _read_table(table)
    if id_column not in frame.columns:
        raise DataError(f"the covariate table has no customer-id column {id_column!r}; columns found: "
                        f"{', '.join(map(str, frame.columns))}. Fix: name its customer-id column with id_column= "
                        "(on the command line --covariate-id COL).")
    chosen = [c for c in frame.columns if c != id_column] if columns is None else list(columns)
    if not chosen:
        raise DataError("the covariate table has no column besides the customer id. Fix: add covariate columns.")
    for column in chosen:
        if column not in frame.columns:
            close = [c for c in map(str, frame.columns) if c.lower() == str(column).lower()]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"covariate column {column!r} is not in the covariate table{hint}; columns found: "
                            f"{', '.join(map(str, frame.columns))}. Fix: pass the right names with columns= (on the "
                            "command line --covariate-cols a,b).")
    aligned = _align(base.table["customer_id"], frame, id_column, chosen)
    if design is not None:
        design, encoded = _encode_as(aligned, design, id_column)
    else:
        design, encoded = _encode(aligned, chosen, dict(reference or {}), id_column)
    clash = [c for c in design.encoded_columns if c in base.table.columns]
    if clash:
        raise DataError(f"covariate column(s) {clash} would overwrite columns of the customer table. "
                        "Fix: rename them in the covariate table.")
    table_out = pd.concat([base.table.reset_index(drop=True), encoded], axis=1)
    return dataclasses.replace(base, table=table_out, covariates=design)


def _read_table(table: Any) -> pd.DataFrame:
    if isinstance(table, (str, Path)):
        path = Path(table)
        if not path.exists():
            raise DataError(f"covariate file {str(path)!r} not found. Fix: give the path of a CSV or Parquet file.")
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                return pd.read_parquet(path)
            return pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"covariate file {str(path)!r} could not be read ({exc}).") from None
    frame = as_frame(table)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"covariates must be a pandas DataFrame or a file path, got {type(table).__name__}.")
    return frame


def _join_keys(ids: pd.Series, other: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both id columns as comparable keys: as they are when both are numbers, else as text."""
    if pd.api.types.is_numeric_dtype(ids) and pd.api.types.is_numeric_dtype(other):
        return ids, other
    return ids.astype(str), other.astype(str)


def _align(ids: pd.Series, frame: pd.DataFrame, id_column: str, columns: list[str]) -> pd.DataFrame:
    """The covariate rows in the order of ``ids``; refuses repeated ids, absent customers and missing values."""
    customer_keys, table_keys = _join_keys(ids.reset_index(drop=True), frame[id_column])
    repeated = table_keys[table_keys.duplicated(keep=False)]
    if len(repeated):
        raise DataError(f"the covariate table has several rows for customer id(s) {_some(repeated.unique())} "
                        f"(column {id_column!r}). Fix: keep one row per customer.")
    position = pd.Index(table_keys).get_indexer(customer_keys)
    absent = position < 0
    if absent.any():
        raise DataError(f"{int(absent.sum())} customer(s) have no row in the covariate table (column {id_column!r}): "
                        f"{_some(ids[absent])}. Fix: add their rows, or drop them from the customer data first.")
    aligned = frame[columns].iloc[position].reset_index(drop=True)
    for column in columns:
        missing = aligned[column].isna().to_numpy()
        if missing.any():
            raise DataError(f"covariate {column!r} is missing for {int(missing.sum())} customer(s): "
                            f"{_some(ids[missing])}. Fix: fill the value (e.g. a level 'unknown') or drop them.")
    return aligned


def _some(values: Any) -> str:
    values = list(values)
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values[:_SHOWN_IDS])
    return shown + (f" and {len(values) - _SHOWN_IDS} more" if len(values) > _SHOWN_IDS else "")


def _is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _encode(aligned: pd.DataFrame, columns: list[str], reference: dict[str, Any],
            id_column: str) -> tuple[CovariateDesign, pd.DataFrame]:
    unknown = [c for c in reference if c not in columns]
    if unknown:
        raise DataError(f"reference levels given for {unknown}, which are not covariate columns {columns}.")
    kinds, names, blocks, references, levels = [], [], [], {}, {}
    for column in columns:
        values = aligned[column]
        if values.nunique() < 2:
            raise DataError(f"covariate {column!r} has one value only among these customers, so its effect cannot "
                            "be estimated. Fix: leave it out of the covariate columns.")
        if not _is_categorical(values):
            kinds.append(NUMERIC)
            names.append(str(column))
            blocks.append(values.to_numpy(dtype=float))
            continue
        text = values.astype(str)
        counts = text.value_counts()
        order = sorted(counts.index, key=lambda level: (-counts[level], level))
        base = order[0] if column not in reference else str(reference[column])
        if base not in counts.index:
            raise DataError(f"reference level {base!r} of covariate {column!r} is not one of its levels "
                            f"{sorted(counts.index)}. Fix: give one of them.")
        others = sorted(level for level in counts.index if level != base)
        kinds.append(CATEGORICAL)
        references[str(column)] = base
        levels[str(column)] = (base, *others)
        for level in others:
            names.append(f"{column}={level}")
            blocks.append((text == level).to_numpy(dtype=float))
    encoded = pd.DataFrame(dict(zip(names, blocks)))
    design = CovariateDesign(tuple(map(str, columns)), tuple(kinds), tuple(names), references, levels, id_column)
    return design, encoded


def _encode_as(aligned: pd.DataFrame, design: CovariateDesign, id_column: str) -> tuple[CovariateDesign, pd.DataFrame]:
    """Encode the aligned covariates as ``design`` does (same columns, levels and reference levels)."""
    blocks = {}
    for column, kind in zip(design.source_columns, design.kinds):
        values = aligned[column]
        if kind == NUMERIC:
            if _is_categorical(values):
                raise DataError(f"covariate {column!r} was numeric when the model was fitted but holds text here. "
                                "Fix: give the same covariate file (or the same kind of values).")
            blocks[str(column)] = values.to_numpy(dtype=float)
            continue
        text = values.astype(str)
        known = design.levels[column]
        unknown = sorted(set(text.unique()) - set(known))
        if unknown:
            raise DataError(f"covariate {column!r} has level(s) {unknown} the model was not fitted with (levels "
                            f"{list(known)}). Fix: refit the model with these customers, or map them to a known level.")
        for level in known[1:]:
            blocks[f"{column}={level}"] = (text == level).to_numpy(dtype=float)
    encoded = pd.DataFrame(blocks)
    if tuple(encoded.columns) != design.encoded_columns:
        raise DataError(f"the design names columns {list(design.encoded_columns)} but encodes {list(encoded.columns)}.")
    return dataclasses.replace(design, id_column=id_column), encoded
