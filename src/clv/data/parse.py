"""Parse one column of user values into a canonical type, as Ibis expressions.

Shared by the order loader (:mod:`clv.data.load`) and the survey loader
(:mod:`clv.feedback.nps`). Every parser returns null for a value it cannot read,
never raises on data: the loaders turn nulls into rejects with a reason.

Where engines differ, the form each needs comes from :mod:`clv.engine.dialect`.
"""

from __future__ import annotations

import re
import ibis
import ibis.expr.datatypes as dt

from clv.data.policy import EPOCH_FORMATS, LoadPolicy
from clv.engine import dialect
from clv.errors import DataError

_TZ_SUFFIX = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|z|[+-]\d\d(:?\d\d)?)$"
_EPOCH_SECONDS_LIMIT = 1e11  # year 5138: beyond it DuckDB's to_timestamp overflows
_BLANKS = " \t\r\n"


def trim_blanks(text: ibis.Value) -> ibis.Value:
    """Leading and trailing spaces, tabs and line breaks removed (:func:`clv.engine.dialect.trim_blanks`)."""
    return dialect.trim_blanks(text, _BLANKS)


def identifier(value: ibis.Value, policy: LoadPolicy | None = None) -> ibis.Value:
    """Identifier text: trimmed of blanks, empty -> null.

    Integral floats lose their '.0'. With ``policy.ids == "normalize"`` (the
    policy's default; no policy keeps text as written) text written as an integral number with a zero fraction
    ("17850.0", "17850.00") is the same id as "17850". Built so that the
    column is referenced, not a trimmed copy of it (cheap on DuckDB: only
    values containing a '.' meet the regular expression).
    """
    vtype = value.type()
    if vtype.is_integer():
        return value.cast(dt.string)
    if vtype.is_floating():
        integral = (value.abs() < 2.0**53) & (value % 1 == 0)
        return ibis.cases(
            (integral, value.cast(dt.int64).cast(dt.string)), else_=value.cast(dt.string)
        )
    text = value if vtype.is_string() else value.cast(dt.string)
    trimmed = trim_blanks(text)
    if policy is None or not policy.normalizes_ids:
        return trimmed.nullif("")
    whole = dialect.trim_blank_set(text, _BLANKS)
    normalized = ibis.cases((text.contains("."), whole.re_replace(r"^(-?[0-9]+)\.0+$", r"\1")), else_=trimmed)
    return normalized.nullif("")


def customer_key(value: ibis.Value, policy: LoadPolicy | None = None) -> ibis.Value:
    """Customer ids: integer columns stay integers (cheaper to group by), others become text."""
    if value.type().is_integer():
        return value.cast(dt.int64)
    return identifier(value, policy)


def identifier_missing(value: ibis.Value) -> ibis.Value:
    """True where the identifier is null or blank (cheap for typed columns)."""
    vtype = value.type()
    if vtype.is_integer():
        return value.isnull()
    if vtype.is_floating():
        return not_finite(value)
    return identifier(value, LoadPolicy(ids="as_written")).isnull()


def number(value: ibis.Value, policy: LoadPolicy | None = None) -> ibis.Value:
    """Float64, null when missing or unparsable.

    Text is read with the policy's decimal mark, thousands separator and
    currency symbol (:class:`LoadPolicy`). Plain text numbers are cast as they
    are: DuckDB's cast ignores surrounding blanks and gives null for a blank
    text, like trimming first, at a fraction of the cost.
    """
    if value.type().is_numeric() or value.type().is_boolean():
        return value.cast(dt.float64)
    text = value if value.type().is_string() else value.cast(dt.string)
    plain = dialect.text_to_float(text)
    if policy is None or policy.parses_plain_numbers_only:
        return plain
    cleaned = _formatted_number(text, policy)
    if policy.decimal == "." and policy.thousands is None:
        return plain.coalesce(cleaned)  # only the currency symbol to strip: plain numbers first
    return cleaned


def _formatted_number(text: ibis.Value, policy: LoadPolicy) -> ibis.Value:
    """A number written with the policy's decimal mark, thousands separator and symbol.

    The grouping is checked ("1.234,56" with thousands "." is 1234.56, but
    "1.23,4" is not a number), so a wrong option rejects lines instead of
    inventing values.
    """
    body = trim_blanks(text)
    if policy.currency_symbol is not None:
        body = trim_blanks(body.replace(policy.currency_symbol, ""))
    digits = r"[0-9]+"
    if policy.thousands is not None:
        digits = r"[0-9]{1,3}(" + re.escape(policy.thousands) + r"[0-9]{3})*|[0-9]+"
    pattern = r"^[+-]?(" + digits + r")(" + re.escape(policy.decimal) + r"[0-9]*)?$"
    plain = body
    if policy.thousands is not None:
        plain = plain.replace(policy.thousands, "")
    if policy.decimal != ".":
        plain = plain.replace(policy.decimal, ".")
    return ibis.cases((body.re_search(pattern), dialect.text_to_float(plain)), else_=ibis.null(dt.float64))


def not_finite(value: ibis.Value) -> ibis.Value:
    """True where a float value is null, NaN or infinite (:func:`clv.engine.dialect.not_finite`)."""
    return dialect.not_finite(value)


def timestamp(value: ibis.Value, policy: LoadPolicy) -> ibis.Value:
    """Naive timestamp in ``policy.timezone``, null when missing or unparsable."""
    vtype = value.type()
    if vtype.is_timestamp():
        if dialect.is_aware_timestamp(value):
            return dialect.to_local_time(value, policy.timezone)
        return value.cast(dt.Timestamp())
    if vtype.is_date():
        return value.cast(dt.Timestamp())
    if policy.date_format in EPOCH_FORMATS:
        return _from_epoch(value, policy)
    if not vtype.is_string() and not vtype.is_integer():
        raise DataError(
            f"the time column has type {vtype}; fix: map a date, timestamp or text column."
        )
    text = _spaces_trimmed(value if vtype.is_string() else value.cast(dt.string)).nullif("")
    if policy.date_format is not None:
        return dialect.try_parse_timestamp(text, policy.date_format)
    if vtype.is_integer():
        raise DataError(
            "the time column holds integers; fix: give their format, e.g. "
            "LoadPolicy(date_format='%Y%m%d') for 20110131, 'epoch_s' for seconds or "
            "'epoch_ms' for milliseconds since 1970."
        )
    aware = text.re_search(_TZ_SUFFIX)
    return ibis.cases(
        (aware, dialect.to_local_time(dialect.text_to_timestamp(text, aware=True), policy.timezone)),
        else_=dialect.text_to_timestamp(text),
    )


def _spaces_trimmed(text: ibis.Value) -> ibis.Value:
    """Leading and trailing spaces removed (DuckDB's cheap one-argument TRIM).

    Dates are referenced three times in their parse, so they get the cheap trim;
    ids get :func:`trim_blanks` (tabs and line breaks too).
    """
    return dialect.trim_spaces(text)


def _from_epoch(value: ibis.Value, policy: LoadPolicy) -> ibis.Value:
    """Seconds or milliseconds since 1970-01-01 UTC, as a naive time in the policy's zone."""
    seconds = number(value)
    if policy.date_format == "epoch_ms":
        seconds = seconds / 1000.0
    in_range = seconds.abs() < _EPOCH_SECONDS_LIMIT
    return dialect.epoch_to_local_time(seconds, policy.timezone, in_range)
