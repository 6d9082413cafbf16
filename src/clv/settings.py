"""The settings file ``clv.toml``: column mapping, load policy, time unit, horizon, margin, discount rate, CAC once.

A ``clv.toml`` in the working folder holds what a user would otherwise repeat on
every command (``--col ... --time-unit ... --margin ...``). Every ``clv``
command reads it, and a flag given on the command line wins over it. The names
are the glossary's (:mod:`clv.glossary`)::

    time_unit = "week"          # day, week, month, quarter or year
    horizon = 52                # in time_unit
    discount_rate = 0.10        # annual: 0.10 = 10% a year
    margin = 0.3                # fraction of revenue kept as profit
    cac = 25.0                  # acquisition cost per customer (or a column / spend file)

    [columns]                   # as clv.data.Columns / --col FIELD=COLUMN
    customer_id = "CustomerID"
    timestamp = "InvoiceDate"
    extra = ["Country"]

    [load]                      # as clv.data.LoadPolicy / --policy KEY=VALUE; "none" clears an optional key
    duplicates = "keep"
    date_format = "%d/%m/%Y %H:%M"

    [load.exchange_rates]       # as --rate CODE=RATE
    EUR = 1.0

    [commands.score]            # option defaults of one command, by parameter name
    horizon = 104

:func:`read_settings` reads and checks the file; every value is checked when
:class:`Settings` is built, and an unknown key is refused with the closest known
one. A message names the file, the key, the value and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from clv.data.columns import Columns
from clv.data.policy import LoadPolicy
from clv.errors import DataError
from clv.glossary import term_for
from clv.units import TIME_UNITS

__all__ = [
    "COLUMN_KEYS", "DEFAULT_SETTINGS_FILE", "LOAD_KEYS", "OPTION_KEYS", "Settings", "read_settings", "unknown_key",
]

DEFAULT_SETTINGS_FILE = "clv.toml"
"""The settings file read from the working folder when no other is named."""

OPTION_KEYS: tuple[str, ...] = ("time_unit", "horizon", "discount_rate", "margin", "cac")
"""Top-level keys: glossary names that are the default of every command option of the same name."""

COLUMN_KEYS: tuple[str, ...] = (
    "customer_id", "timestamp", "date", "amount", "order_id", "quantity", "unit_price", "product_id", "channel",
    "cost", "margin_rate", "currency", "extra",
)
"""Keys of ``[columns]``: the fields of :class:`clv.data.Columns` (``extra``: a list of columns)."""

LOAD_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LoadPolicy))
"""Keys of ``[load]``: the fields of :class:`clv.data.LoadPolicy`."""

SECTIONS: tuple[str, ...] = ("columns", "load", "commands")
_NONE = "none"
_PYTHON_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _where(path: str | None) -> str:
    return f"settings file {path!r}" if path is not None else "Settings"


def _refuse(path: str | None, key: str, value: Any, problem: str, fix: str) -> DataError:
    """The one error of a bad setting: the file, the key, the value, what is wrong and the fix."""
    shown = "" if value is _MISSING else f" = {_toml_value(value) if _writable(value) else repr(value)}"
    return DataError(f"{_where(path)}: '{key}'{shown} {problem}. Fix: {fix}.")


_MISSING = object()


def _suggestion(key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_key(path: str | None, key: str, known: tuple[str, ...] | list[str], where: str = "") -> DataError:
    """The error of a key that is not a setting: the closest known key, else the list of them.

    Parameters
    ----------
    path : str or None
        The settings file (None: settings made in Python).
    key : str
        The unknown key, as written.
    known : sequence of str
        The keys allowed where it was written.
    where : str, default ""
        The section (``"columns"``, ``"commands.score"``); "" for the top level.

    Returns
    -------
    DataError
        To raise: it names the file, the key, the closest known key (difflib) and the fix.
    """
    shown = f"{where}.{key}" if where else key
    section = f"[{where}]" if where else "the top level"
    hint = _suggestion(key, known)
    listed = ", ".join(f"'{k}'" for k in known)  # quoted: the command line leaves them as written
    fix = "rename or remove it" + ("" if hint else f"; the keys of {section} are {listed}")
    if not where:
        for name, keys in (("columns", COLUMN_KEYS), ("load", LOAD_KEYS)):
            if key in keys:
                fix = f"move it into the [{name}] section"
    if where == "commands":
        problem = "is not a clv command"
    elif where.startswith("commands."):
        problem = f"is not an option of clv {where.split('.', 1)[1]}"
    else:
        problem = "is not a setting"
    return _refuse(path, shown, _MISSING, problem + hint, fix)


# --- the values ------------------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _time_unit(path: str | None, key: str, value: Any) -> str:
    if isinstance(value, str) and value in TIME_UNITS:
        return value
    hint = _suggestion(value, TIME_UNITS) if isinstance(value, str) else ""
    return _fail(_refuse(path, key, value, f"is not a time unit{hint}",
                         f"write one of {', '.join(TIME_UNITS)} in quotes, e.g. 'time_unit = \"week\"'"))


def _horizon(path: str | None, key: str, value: Any) -> float:
    if _is_number(value) and not math.isnan(value) and value > 0:
        return float(value)
    return _fail(_refuse(path, key, value, "is not a positive duration in time_unit",
                         "write a number of time units, e.g. 'horizon = 52' (a year in weeks), or inf"))


def _discount_rate(path: str | None, key: str, value: Any) -> float:
    if _is_number(value) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    return _fail(_refuse(path, key, value, "is not an annual rate between 0 and 1",
                         "write the rate as a fraction: 'discount_rate = 0.10' is 10% a year"))


def _margin(path: str | None, key: str, value: Any) -> float:
    if _is_number(value) and 0 < value <= 1:
        return float(value)
    return _fail(_refuse(path, key, value, "is not a fraction of revenue in (0, 1]",
                         "write e.g. 'margin = 0.3' for a 30% margin (1.0: the value is revenue)"))


def _cac(path: str | None, key: str, value: Any) -> float | str:
    if _is_number(value) and math.isfinite(value) and value >= 0:
        return float(value)
    if isinstance(value, str) and value.strip():
        return value
    return _fail(_refuse(path, key, value, "is not an acquisition cost",
                         "write a cost per customer, e.g. 'cac = 25.0', or the name of a spend file or column"))


_OPTION_CHECKS = {"time_unit": _time_unit, "horizon": _horizon, "discount_rate": _discount_rate, "margin": _margin,
                  "cac": _cac}


def _fail(error: DataError) -> typing.NoReturn:
    raise error


def _columns(path: str | None, columns: Mapping[str, Any]) -> Mapping[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in columns.items():
        name = f"columns.{key}"
        if key not in COLUMN_KEYS:
            raise unknown_key(path, key, COLUMN_KEYS, "columns")
        if key == "extra":
            if not (isinstance(value, list | tuple) and all(isinstance(v, str) and v.strip() for v in value)):
                raise _refuse(path, name, value, "is not a list of column names",
                              "write e.g. 'extra = [\"Country\"]'")
            checked[key] = tuple(value)
        elif key == "margin_rate" and _is_number(value):
            if not 0 <= value <= 1:
                raise _refuse(path, name, value, "is not a fraction between 0 and 1",
                              "write e.g. 'margin_rate = 0.3', or the name of a margin column")
            checked[key] = float(value)
        elif isinstance(value, str) and value.strip():
            checked[key] = value
        else:
            raise _refuse(path, name, value, "is not a column name",
                          f"write the name of your column in quotes, e.g. '{key} = \"{key}\"'")
    _check_column_pairs(path, checked)
    return MappingProxyType(checked)


def _check_column_pairs(path: str | None, columns: Mapping[str, Any]) -> None:
    """The combinations :class:`clv.data.Columns` refuses, named in the file's words."""
    for first, second, fix in (("timestamp", "date", "keep only one of them"),
                               ("cost", "margin_rate", "keep the absolute cost or the margin rate, not both")):
        if first in columns and second in columns:
            raise _refuse(path, f"columns.{second}", columns[second], f"is given with 'columns.{first}'", fix)
    if "unit_price" in columns and "quantity" not in columns and "amount" not in columns:
        raise _refuse(path, "columns.unit_price", columns["unit_price"], "is given without quantity or amount",
                      "add 'quantity = \"COLUMN\"' (amount = quantity x unit_price) or map amount instead")
    try:
        Columns(**{k: v for k, v in columns.items()})
    except DataError as exc:
        raise DataError(f"{_where(path)}: the [columns] section is refused: {exc}") from None


_POLICY_TYPES = typing.get_type_hints(LoadPolicy)


def _load(path: str | None, load: Mapping[str, Any]) -> Mapping[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in load.items():
        if key not in LOAD_KEYS:
            raise unknown_key(path, key, LOAD_KEYS, "load")
        checked[key] = _policy_value(path, key, value)
    try:
        LoadPolicy(**checked)
    except DataError as exc:
        raise _load_error(path, load, checked, exc) from None
    return MappingProxyType(checked)


def _load_error(path: str | None, load: Mapping[str, Any], checked: Mapping[str, Any], exc: DataError) -> DataError:
    """The key LoadPolicy refused, found by trying each alone (a pair such as decimal/thousands: the section)."""
    for key, value in checked.items():
        try:
            LoadPolicy(**{key: value})
        except DataError as alone:
            return _refuse(path, f"load.{key}", load[key], _policy_reason(str(alone)),
                           "correct it in the [load] section (docs/data-loading.md lists each key's values)")
    return DataError(f"{_where(path)}: the [load] section is refused: {exc}")


def _policy_reason(message: str) -> str:
    """LoadPolicy's reason without its Python call and fix: 'LoadPolicy(ids='x') is not one of (...); fix: ...'
    -> 'is not one of (...)'."""
    reason = re.sub(r"^LoadPolicy\(.*?\)[:\s]*", "", message)
    reason = re.split(r";\s*fix:", reason, maxsplit=1, flags=re.IGNORECASE)[0].strip().rstrip(".")
    return reason if reason.startswith(("is ", "has ", "uses ", "must ")) else f"is refused: {reason}"


def _policy_value(path: str | None, key: str, value: Any) -> Any:
    """A ``[load]`` value as the LoadPolicy field takes it: "none" clears an optional field."""
    kind = _POLICY_TYPES[key]
    optional = type(None) in typing.get_args(kind)
    if optional and (value is None or value == _NONE):
        return None
    if key == "exchange_rates":
        if isinstance(value, Mapping) and value and all(_is_number(r) and math.isfinite(r) and r > 0
                                                         for r in value.values()):
            return MappingProxyType({str(code): float(rate) for code, rate in value.items()})
        raise _refuse(path, "load.exchange_rates", value, "is not a table of positive rates",
                      "write '[load.exchange_rates]' and one line per currency, e.g. 'USD = 0.92'")
    if kind in (float, int):
        if _is_number(value):
            return float(value)
        raise _refuse(path, f"load.{key}", value, "is not a number",
                      f"write a number, e.g. '{key} = {getattr(LoadPolicy(), key)!r}'")
    if isinstance(value, str):
        return value
    raise _refuse(path, f"load.{key}", value, "is not text",
                  f"write it in quotes, e.g. '{key} = \"...\"'" + (" ('none' clears it)" if optional else ""))


def _commands(path: str | None, commands: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    checked: dict[str, Mapping[str, Any]] = {}
    for command, options in commands.items():
        if not isinstance(options, Mapping):
            raise _refuse(path, f"commands.{command}", options, "is not a section",
                          f"write '[commands.{command}]' and one option per line under it")
        checked[command] = MappingProxyType({key: _command_value(path, command, key, value)
                                             for key, value in options.items()})
    return MappingProxyType(checked)


def _command_value(path: str | None, command: str, key: str, value: Any) -> Any:
    name = f"commands.{command}.{key}"
    if not _PYTHON_NAME.match(key):
        better = key.lstrip("-").replace("-", "_").lower()
        raise _refuse(path, name, value, "is not a parameter name",
                      f"write the option's parameter name with '_' for '-', e.g. '{better}'")
    if key in _OPTION_CHECKS:
        return _OPTION_CHECKS[key](path, name, value)
    scalar = (str, int, float, bool)
    if isinstance(value, scalar) or (isinstance(value, list | tuple) and all(isinstance(v, scalar) for v in value)):
        return tuple(value) if isinstance(value, list | tuple) else value
    raise _refuse(path, name, value, "is not an option value",
                  "write a number, a text in quotes, true/false, or a list of them")


# --- the settings ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """What a ``clv.toml`` holds, checked: option defaults, column mapping, load policy, per-command options.

    Every value is checked when a Settings is built; a bad one raises
    :class:`~clv.errors.DataError` naming the file, the key, the value and the
    fix. None (or an empty section) means "not set": the command's own default
    applies. Read one with :func:`read_settings`.

    Parameters
    ----------
    path : str or None, default None
        The file the settings were read from (named in messages), None when made in Python.
    time_unit : str or None, default None
        One of ``day, week, month, quarter, year``: the default ``--time-unit`` (not of
        the calendar reports ``clv kpis`` and ``clv nps``, whose unit counts something else).
    horizon : float or None, default None
        The default ``--horizon``, in ``time_unit`` (``inf``: the whole remaining lifetime).
    discount_rate : float or None, default None
        The default ``--discount-rate``: ANNUAL, 0.10 = 10% a year, between 0 and 1.
    margin : float or None, default None
        The default ``--margin``: the fraction of revenue kept as profit, in (0, 1].
    cac : float, str or None, default None
        The default ``--cac``: a cost per customer, or a spend file or column.
    columns : Mapping[str, object], default {}
        ``[columns]``: :class:`clv.data.Columns` fields -> the user's columns (``extra``: a tuple of columns).
    load : Mapping[str, object], default {}
        ``[load]``: :class:`clv.data.LoadPolicy` fields -> values (None: cleared, written ``"none"``).
    commands : Mapping[str, Mapping[str, object]], default {}
        ``[commands.NAME]``: option defaults of one command by parameter name; they win over the
        top-level keys for that command. The command line checks that each names a real option.

    Examples
    --------
    >>> settings = Settings(time_unit="month", horizon=12, columns={"customer_id": "CustomerID"})
    >>> settings.for_command("score")
    {'time_unit': 'month', 'horizon': 12.0}
    >>> settings.column_mapping().customer_id
    'CustomerID'
    """

    path: str | None = None
    time_unit: str | None = None
    horizon: float | None = None
    discount_rate: float | None = None
    margin: float | None = None
    cac: float | str | None = None
    columns: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)
    load: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)
    commands: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        path = None if self.path is None else str(self.path)
        object.__setattr__(self, "path", path)
        for key, check in _OPTION_CHECKS.items():
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, check(path, key, value))
        for key, check in (("columns", _columns), ("load", _load), ("commands", _commands)):
            value = getattr(self, key)
            if not isinstance(value, Mapping):
                raise _refuse(path, key, value, "is not a section", f"write '[{key}]' and its keys under it")
            object.__setattr__(self, key, check(path, value))

    @property
    def given(self) -> tuple[str, ...]:
        """The keys that are set, in the file's order of sections: ``('time_unit', 'columns', ...)``."""
        found = [key for key in OPTION_KEYS if getattr(self, key) is not None]
        found += [key for key in ("columns", "load") if getattr(self, key)]
        return (*found, *(f"commands.{name}" for name in self.commands))

    def options(self) -> dict[str, Any]:
        """The top-level keys that are set: ``{'time_unit': 'week', 'margin': 0.3, ...}``."""
        return {key: getattr(self, key) for key in OPTION_KEYS if getattr(self, key) is not None}

    def for_command(self, name: str) -> dict[str, Any]:
        """The option defaults of the command ``name`` (``"score"``), by parameter name.

        The top-level keys, then the command's own ``[commands.NAME]`` section over
        them. ``time_unit`` is left out for the commands whose unit counts calendar
        periods (the glossary's exceptions: ``clv kpis``, ``clv nps``); their own
        section can still set it. The column mapping and the load policy are not
        here: see :meth:`column_mapping` and :meth:`load_policy`.

        Parameters
        ----------
        name : str
            The command, as typed after ``clv``.

        Returns
        -------
        dict
            Parameter name -> default.
        """
        found = self.options()
        if "time_unit" in found and _counts_calendar_periods(name):
            del found["time_unit"]
        found.update(self.commands.get(name, {}))
        return found

    def column_mapping(self) -> Columns:
        """The ``[columns]`` section as a :class:`clv.data.Columns` (the canonical names where it is empty)."""
        return Columns(**self.columns)

    def load_policy(self) -> LoadPolicy:
        """The ``[load]`` section as a :class:`clv.data.LoadPolicy` (the defaults where it is empty)."""
        return LoadPolicy(**self.load)

    @classmethod
    def from_toml(cls, text: str, path: str | None = None) -> Settings:
        """Settings from the text of a ``clv.toml``, checked like a file (unknown keys refused).

        Parameters
        ----------
        text : str
            The TOML text.
        path : str or None, default None
            The file it came from, named in messages (None: text made in Python).
        """
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            where = f"settings file {path!r}" if path is not None else "the settings text"
            raise DataError(f"{where} is not valid TOML: {exc}. Fix: correct that line "
                            "(text values in quotes, e.g. 'time_unit = \"week\"').") from None
        known = (*OPTION_KEYS, *SECTIONS)
        for key in document:
            if key not in known:
                raise unknown_key(path, key, known)
        return cls(path=path, **document)

    def to_toml(self) -> str:
        """These settings as the text of a ``clv.toml`` (:func:`read_settings` reads it back equal)."""
        lines = [f"{key} = {_toml_value(value)}" for key, value in self.options().items()]
        if self.columns:
            lines += ["", "[columns]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in self.columns.items())]
        plain = {k: v for k, v in self.load.items() if k != "exchange_rates"}
        rates = self.load.get("exchange_rates", _MISSING)
        if plain or rates is None:
            lines += ["", "[load]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items())]
            if rates is None:
                lines.append(f"exchange_rates = {_toml_value(None)}")
        if isinstance(rates, Mapping):
            lines += ["", "[load.exchange_rates]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in rates.items())]
        for command, options in self.commands.items():
            lines += ["", f"[commands.{_toml_key(command)}]",
                      *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in options.items())]
        return "\n".join(lines).lstrip("\n") + "\n"


def _counts_calendar_periods(command: str) -> bool:
    """Whether the glossary gives ``clv COMMAND`` its own time unit (a calendar report: kpis, nps)."""
    exception = term_for("time_unit").exceptions.get(f"clv {command}")
    return exception is not None and exception[0] is not None


def _writable(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, list | tuple):
        return all(_writable(v) for v in value)
    return False


def _toml_value(value: Any) -> str:
    """One value in TOML: text as a basic string, numbers (inf too), true/false, lists; None as "none"."""
    if value is None:
        return f'"{_NONE}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


# --- reading -----------------------------------------------------------------------------------------------------

def read_settings(path: str | Path | None = None) -> Settings:
    """Read and check a settings file.

    Parameters
    ----------
    path : str, Path or None, default None
        The file. None: ``clv.toml`` in the working folder when there is one, else
        no settings (an empty :class:`Settings`). A file named here must exist.

    Returns
    -------
    Settings
        The checked settings; ``Settings.path`` names the file read (None when none was).

    Raises
    ------
    DataError
        The file is missing (when named), is not valid TOML, has an unknown key or a bad value.
        The message names the file, the key, the value and the fix.
    """
    if path is None:
        path = Path(DEFAULT_SETTINGS_FILE)
        if not path.is_file():
            return Settings()
    shown = str(path)
    path = Path(path)
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"settings file {shown!r} {state}. Fix: check the path, or drop it to use ./{DEFAULT_SETTINGS_FILE}.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"settings file {shown!r} is not UTF-8 text (byte at position {exc.start}). "
                        "Fix: save it as UTF-8.") from None
    return Settings.from_toml(text, shown)
