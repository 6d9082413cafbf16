"""Assign every customer to exactly one segment.

A segment comes from the customer's FIRST purchase line ever (an acquisition
attribute), from the first purchase's month or quarter, or from a user mapping
customer_id -> segment.
"""

from __future__ import annotations

import difflib

import ibis
import pandas as pd
from ibis.expr.types import Table

from clv.data.schema import CUSTOMER_ID
from clv.errors import DataError

from .periods import first_purchase_lines

__all__ = [
    "ACQUISITION_SEGMENTS",
    "ALL_CUSTOMERS",
    "MISSING_VALUE",
    "SEGMENT",
    "UNMAPPED",
    "customer_segments",
    "unknown_segment_message",
]

SEGMENT = "segment"
MISSING_VALUE = "(missing)"
UNMAPPED = "(unmapped)"
ALL_CUSTOMERS = "(all)"
ACQUISITION_SEGMENTS = ("acquisition_month", "acquisition_quarter")


def customer_segments(table: Table, segment_by: object) -> Table:
    """Table of (customer_id, segment) for every customer with a purchase.

    ``segment_by`` is a column name of ``table``, 'acquisition_month',
    'acquisition_quarter', or a pandas Series / DataFrame mapping customer_id to
    a segment. Segment labels are strings; a null value becomes '(missing)'.
    """
    if isinstance(segment_by, (pd.Series, pd.DataFrame)):
        return _mapped_segments(table, _mapping_frame(segment_by))
    if not isinstance(segment_by, str):
        raise DataError(
            f"segment_by: expected a column name or a pandas Series, got {type(segment_by).__name__}. "
            "Fix: pass e.g. segment_by='channel'."
        )
    if segment_by in ACQUISITION_SEGMENTS:
        return _acquisition_segments(table, segment_by)
    if segment_by not in table.columns:
        raise DataError(unknown_segment_message(segment_by, table.columns))
    first = first_purchase_lines(table, (segment_by,))
    label = first[segment_by].cast("string").fill_null(MISSING_VALUE)
    return first.select(CUSTOMER_ID, **{SEGMENT: label})


def unknown_segment_message(name: str, columns: tuple[str, ...]) -> str:
    """Explain a segment_by that is not a column, listing the columns found."""
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return (
        f"segment_by={name!r} is not a column of the orders{hint} "
        f"Columns found: {', '.join(columns)}. Fix: pass one of these columns, "
        "'acquisition_month', 'acquisition_quarter', or a pandas Series mapping "
        "customer_id -> segment."
    )


def _acquisition_segments(table: Table, which: str) -> Table:
    first = first_purchase_lines(table)
    ts = first.first_ts
    if which == "acquisition_month":
        label = ts.strftime("%Y-%m")
    else:
        label = ts.year().cast("string") + ibis.literal("Q") + ts.quarter().cast("string")
    return first.select(CUSTOMER_ID, **{SEGMENT: label})


def _mapping_frame(mapping: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """Normalise a user mapping to a two-column frame (customer_id, segment)."""
    if isinstance(mapping, pd.Series):
        frame = pd.DataFrame({CUSTOMER_ID: mapping.index, SEGMENT: mapping.to_numpy()})
    elif CUSTOMER_ID in mapping.columns and len(mapping.columns) == 2:
        other = next(c for c in mapping.columns if c != CUSTOMER_ID)
        frame = mapping.rename(columns={other: SEGMENT})[[CUSTOMER_ID, SEGMENT]]
    elif len(mapping.columns) == 1:
        frame = pd.DataFrame({CUSTOMER_ID: mapping.index, SEGMENT: mapping.iloc[:, 0].to_numpy()})
    else:
        raise DataError(
            "segment_by: a DataFrame mapping must have a 'customer_id' column and one segment "
            f"column (or a customer_id index and one column); columns found: "
            f"{', '.join(map(str, mapping.columns))}. Fix: pass df[['customer_id', 'my_segment']]."
        )
    frame = frame.astype({CUSTOMER_ID: "string", SEGMENT: "string"})
    duplicated = frame[CUSTOMER_ID].duplicated()
    if duplicated.any():
        first_dup = frame.loc[duplicated, CUSTOMER_ID].iloc[0]
        raise DataError(
            f"segment_by: customer_id {first_dup!r} appears more than once in the mapping; "
            "each customer must be in exactly one segment. Fix: drop the duplicates."
        )
    return frame.fillna({SEGMENT: MISSING_VALUE})


def _mapped_segments(table: Table, frame: pd.DataFrame) -> Table:
    customers = first_purchase_lines(table).select(CUSTOMER_ID)
    mapping = ibis.memtable(frame).rename(_map_id=CUSTOMER_ID)
    joined = customers.left_join(mapping, customers[CUSTOMER_ID] == mapping._map_id)
    return joined.select(CUSTOMER_ID, **{SEGMENT: joined[SEGMENT].fill_null(UNMAPPED)})
