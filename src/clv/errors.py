"""Errors raised by ``clv``: each names what is wrong, where, and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ClvError", "DataError", "FitError", "NotFittedError", "missing_column_message"]


class ClvError(Exception):
    """Base class of every error ``clv`` raises on purpose."""


class DataError(ClvError, ValueError):
    """The input data cannot be used as given (bad column, bad value, bad option)."""


class FitError(ClvError, RuntimeError):
    """A model could not be fitted; the message says why and what to try."""


class NotFittedError(FitError, ValueError, AttributeError):
    """A model was asked for a fitted result before a successful ``fit``.

    Derives from ``ValueError`` and ``AttributeError`` as scikit-learn's
    ``NotFittedError`` does, so code written for either convention catches it.
    """


def missing_column_message(kind: str, wanted: str, found: Iterable[str]) -> str:
    """Explain a column that is not in the input, listing what is there.

    Parameters
    ----------
    kind : str
        What the column stands for, in words (``"customer id"``); with spaces as
        ``_``, the ``Columns`` field named in the fix.
    wanted : str
        The column name that was asked for.
    found : iterable of str
        The input's column names.

    Returns
    -------
    str
        The message: the missing column, the closest name found, every column
        found and the fix.

    Examples
    --------
    >>> missing_column_message("customer id", "CustomerId", ["CustomerID", "Country"])
    "column 'CustomerId' (customer id) not found; did you mean 'CustomerID'? Columns found: CustomerID, Country. Fix: pass the right name, e.g. Columns(customer_id='CustomerID')."
    """
    found = list(found)
    close = difflib.get_close_matches(wanted, found, n=1, cutoff=0.6)
    if not close:
        close = [c for c in found if c.lower() == wanted.lower()]
    hint = f"; did you mean {close[0]!r}?" if close else "."
    fix_name = close[0] if close else (found[0] if found else "...")
    field = kind.replace(" ", "_")
    return (
        f"column {wanted!r} ({kind}) not found{hint} Columns found: {', '.join(found)}. "
        f"Fix: pass the right name, e.g. Columns({field}={fix_name!r})."
    )
