"""The pandas face shared by ``clv``'s typed results (customer data, scores).

A result is a frozen object holding one :class:`pandas.DataFrame` (``table``)
and the context that must travel with it (time unit, observation end,
horizon...). The context lives in typed fields, never in ``DataFrame.attrs``
(which pandas drops or merges silently). For reading, a result looks like its
table: ``result["column"]``, ``result.columns``, ``len(result)``,
``result.head()``, ``result.loc[...]`` all act on the table. Anything that
returns a new frame returns a plain DataFrame, without the context: to keep the
context, build a new result with :meth:`ResultTable.with_table`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from collections.abc import Iterator
from typing import Any

import pandas as pd

from clv.errors import DataError


@dataclasses.dataclass(frozen=True, eq=False)
class ResultTable:
    """A DataFrame with typed context; subclasses add the context fields.

    Parameters
    ----------
    table : pandas.DataFrame
        The rows (one per customer for every result of ``clv``).
    """

    table: pd.DataFrame

    def __post_init__(self) -> None:
        if not isinstance(self.table, pd.DataFrame):
            raise DataError(f"{type(self).__name__}.table must be a pandas DataFrame, got {type(self.table).__name__}.")

    # ----- the pandas face -------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        return self.table[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.table[key] = value  # a new or changed column, as on a DataFrame

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields or methods of the result.
        if name.startswith("_") or name == "table":
            raise AttributeError(name)
        if name == "attrs":  # the table's attrs are empty: reading them would silently lose the context
            fields = ", ".join(self.context()) or "none"
            raise AttributeError(f"{type(self).__name__} keeps its context in typed fields ({fields}), not in "
                                 "DataFrame.attrs; read the field (see its docstring), or .table for the rows.")
        return getattr(self.table, name)

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __contains__(self, column: object) -> bool:
        return column in self.table.columns

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(name for name in dir(self.table) if not name.startswith("_"))})

    def to_pandas(self) -> pd.DataFrame:
        """A copy of the table as a plain DataFrame (the context is in :meth:`context`)."""
        return self.table.copy()

    def with_table(self, table: pd.DataFrame):
        """The same context around another table (e.g. a filtered or sorted one)."""
        return dataclasses.replace(self, table=table)

    def context(self) -> dict[str, Any]:
        """The context fields (everything but the table) as a dict."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "table"}

    def _context_words(self) -> str:
        """The context for people: plain values as they are, anything bigger by its kind."""
        return ", ".join(f"{name}={_short(value)}" for name, value in self.context().items() if value is not None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.table)} rows; {self._context_words()})\n{self.table!r}"

    def _repr_html_(self) -> str:
        words = html.escape(self._context_words())
        return f"<p><b>{type(self).__name__}</b> ({len(self.table)} rows; {words})</p>" + self.table._repr_html_()


def _short(value: Any) -> str:
    if isinstance(value, (str, int, float, bool, dt.date)):
        return str(value) if isinstance(value, dt.date) else repr(value)
    rows = value.get("input_rows") if isinstance(value, dict) else getattr(value, "input_rows", None)
    return f"<load report: {rows:,} input lines>" if isinstance(rows, int) else f"<{type(value).__name__}>"


def as_frame(value: Any) -> Any:
    """The table of a result (:class:`ResultTable`), anything else unchanged.

    For code that works on DataFrames and accepts ``clv`` results too.
    """
    return value.table if isinstance(value, ResultTable) else value
