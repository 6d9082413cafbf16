"""``clv.toml`` on the command line: the settings file becomes each command's defaults, flags win.

Every command takes ``--config PATH`` (default: ``./clv.toml`` when there is
one) and ``--no-config``. The file's values reach the options through Click's own
mechanism, the context's ``default_map``: :class:`CommandDefaults` is that map
for one command. A value comes from the command line first, then the file, then
the option's built-in default. Where the file applies:

* a top-level key (``time_unit``, ``horizon``, ``discount_rate``, ``margin``,
  ``cac``) is the default of the option of the same name in every command that
  has one (:meth:`clv.settings.Settings.for_command`: not ``time_unit`` of the
  calendar reports ``clv kpis`` and ``clv nps``);
* ``[columns]`` and ``[load]`` are ``--col``, ``--extra``, ``--policy``,
  ``--date-format`` and ``--rate`` of the commands that read order lines, and
  ``--customer-col``, ``--date-col``, ``--amount-col``, ``--order-id-col`` and
  ``--date-format`` of ``clv fit``/``clv score --from-orders``;
* ``[commands.NAME]`` sets any option of one command, by parameter or option
  name (``fmt`` or ``format``), over the rest.

The repeatable options ``--col``, ``--extra``, ``--policy`` and ``--rate`` merge:
the file's entries, then the flags' (a flag for the same key wins). ``[columns]``
and ``[load]`` describe the raw order file: a Parquet file written by ``clv load
--orders`` is canonical already, so they are not applied to it (``extra`` is).
The file is read only when a command runs, never for ``--help`` or ``--version``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import typer

try:  # Typer >= 0.20 carries its own copy of Click
    from typer._click.core import ParameterSource
except ImportError:  # pragma: no cover - older Typer on the Click package
    from click.core import ParameterSource

CONFIG_OPTION = typer.Option(
    None, "--config", is_eager=True,
    help="Settings file of defaults for this command (column mapping, load policy, --time-unit, --horizon, --margin, "
    "--discount-rate, --cac; see docs/cli.md). Default: ./clv.toml when there is one. Flags win over it.",
)
NO_CONFIG_OPTION = typer.Option(False, "--no-config", is_eager=True, help="Ignore ./clv.toml: flags and built-in defaults only.")

OWN_PARAMETERS = frozenset({"config", "no_config", "help"})
"""Parameters never taken from a settings file (they choose it, or stop before it is read)."""
MERGED_LISTS = ("cols", "extra", "policy", "rates")
"""Repeatable options whose flags are added to the file's entries instead of replacing them."""
_FROM_ORDERS_COLUMNS = (("customer_id", "customer_col"), ("timestamp", "date_col"), ("date", "date_col"),
                        ("amount", "amount_col"), ("order_id", "order_id_col"))
_FROM_ORDERS_PARAMETERS = frozenset({parameter for _, parameter in _FROM_ORDERS_COLUMNS} | {"date_format"})


def _options(command: Any) -> dict[str, str]:
    """A command's options, by parameter name and by long option name with '_' (``fmt`` and ``format``) -> parameter."""
    found: dict[str, str] = {}
    for param in command.params:
        if param.param_type_name != "option" or param.name in OWN_PARAMETERS:
            continue
        found[param.name] = param.name
        for option in param.opts:
            if option.startswith("--"):
                found.setdefault(option[2:].replace("-", "_"), param.name)
    return found


def _keyword(command: Any, parameter: str) -> str:
    """How a settings file names an option: its long option with '_' (``--format`` -> ``format``)."""
    param = next(p for p in command.params if p.name == parameter)
    return next((o[2:].replace("-", "_") for o in param.opts if o.startswith("--")), parameter)


def _text(value: Any) -> str:
    """A value as a --col/--policy/--rate word: None -> none (what clears an optional key)."""
    return "none" if value is None else str(value)


def _pairs(mapping: Mapping[str, Any]) -> list[str] | None:
    return [f"{key}={_text(value)}" for key, value in mapping.items()] or None


def command_defaults(name: str, command: Any, settings: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(parameter -> default, parameter -> the settings key it came from) of one command.

    Parameters
    ----------
    name : str
        The command (``"summarize"``).
    command : click.Command
        Its Click command (for the parameter names).
    settings : clv.settings.Settings
        The checked settings.
    """
    aliases = _options(command)
    repeatable = {param.name for param in command.params if getattr(param, "multiple", False)}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def put(parameter: str, value: Any, origin: str) -> None:
        if parameter in aliases.values() and value is not None:
            if parameter in repeatable and isinstance(value, str):  # one value of a repeatable option
                value = [value]
            values[parameter] = list(value) if isinstance(value, tuple) else value
            origins[parameter] = origin

    load = settings.load
    if "policy" in aliases:  # the shared order-file options (clv.cli.data_commands.takes_orders)
        put("cols", _pairs({k: v for k, v in settings.columns.items() if k != "extra"}), "columns")
        put("extra", settings.columns.get("extra") or None, "columns")
        put("policy", _pairs({k: v for k, v in load.items() if k not in ("date_format", "exchange_rates")}), "load")
        put("rates", _pairs(load.get("exchange_rates") or {}), "load")
        put("date_format", load.get("date_format"), "load")
    elif "customer_col" in aliases:  # fit/score --from-orders
        for field, parameter in _FROM_ORDERS_COLUMNS:
            put(parameter, settings.columns.get(field), "columns")
        put("date_format", load.get("date_format"), "load")
    own = settings.commands.get(name, {})
    for key, value in settings.for_command(name).items():
        if key in aliases:
            put(aliases[key], value, f"commands.{name}" if key in own else key)
    return values, origins


def check_command_sections(settings: Any, commands: Mapping[str, Any]) -> None:
    """Refuse a ``[commands.NAME]`` of no command, or a key that is no option of it (with the closest one)."""
    from clv.settings import unknown_key

    for name, options in settings.commands.items():
        if name not in commands:
            raise unknown_key(settings.path, name, sorted(commands), "commands")
        aliases = _options(commands[name])
        for key in options:
            if key not in aliases:
                known = sorted({_keyword(commands[name], parameter) for parameter in aliases.values()})
                raise unknown_key(settings.path, key, known, f"commands.{name}")


def _cleaned_input(ctx: Any) -> str | None:
    """The order file when ``clv load --orders`` wrote it (canonical columns, lines already checked), else None.

    ``[columns]`` and ``[load]`` describe the raw order file: a command reading the
    cleaned Parquet file does not apply them again (``--extra`` columns keep their names).
    """
    from pathlib import Path

    from clv.cli.provenance import read_provenance

    source = ctx.params.get("source")
    if source is None and ctx.params.get("from_orders"):
        source = ctx.params.get("input", ctx.params.get("summary"))
    return str(source) if isinstance(source, Path) and read_provenance(source) is not None else None


class CommandDefaults(Mapping):
    """The ``default_map`` of one command's context: its defaults from the settings file, read on first use.

    The file is read once the eager ``--config``/``--no-config`` are parsed (Click
    processes eager options first), so before any other option asks for its
    default; ``--help`` is answered before that and never reads it.
    """

    def __init__(self, command: Any, ctx: Any, inherited: Mapping[str, Any] | None) -> None:
        self._command = command
        self._ctx = ctx
        self._inherited = inherited or {}
        self._table: dict[str, Any] | None = None
        self.origins: dict[str, str] = {}
        self.path: str | None = None

    def _ready(self) -> bool:
        return "config" in self._ctx.params and "no_config" in self._ctx.params

    def _values(self) -> dict[str, Any]:
        if self._table is None:
            self._table = {**self._read(), **self._inherited}
        return self._table

    def _read(self) -> dict[str, Any]:
        from clv.errors import DataError
        from clv.settings import read_settings

        config, no_config = self._ctx.params["config"], self._ctx.params["no_config"]
        if no_config:
            if config is not None:
                raise DataError(f"--config {str(config)!r} and --no-config contradict each other. "
                                "Fix: drop one of them.")
            return {}
        settings = read_settings(config)
        if settings.path is None:
            return {}
        parent = self._ctx.parent
        check_command_sections(settings, getattr(parent.command, "commands", {}) if parent is not None
                               else {self._command.name: self._command})
        values, origins = command_defaults(self._command.name, self._command, settings)
        order = {key: rank for rank, key in enumerate(settings.given)}
        self.origins = dict(sorted(origins.items(), key=lambda item: order.get(item[1], len(order))))
        self.path = settings.path
        return values

    def get(self, name: str, default: Any = None) -> Any:
        if name in OWN_PARAMETERS or not self._ready():
            return self._inherited.get(name, default)
        return self._values().get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self._values()[name] if self._ready() else self._inherited[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values() if self._ready() else self._inherited)

    def __len__(self) -> int:
        return len(self._values() if self._ready() else self._inherited)

    def apply(self, ctx: Any) -> list[str]:
        """Merge the repeatable options (file entries, then flags) and return the settings keys used."""
        if self._table is None or self.path is None:
            return []
        used = []
        idle = _FROM_ORDERS_PARAMETERS if ctx.params.get("from_orders") is False else frozenset()
        cleaned = _cleaned_input(ctx)
        for parameter, origin in self.origins.items():
            if parameter in idle:  # fit/score without --from-orders read no order lines
                continue
            source = ctx.get_parameter_source(parameter)
            if cleaned is not None and origin in ("columns", "load") and parameter != "extra":
                self._set_aside(ctx, parameter, source)
                continue
            if source is ParameterSource.COMMANDLINE and parameter in MERGED_LISTS and ctx.params.get(parameter):
                ctx.params[parameter] = [*self._table[parameter], *ctx.params[parameter]]
            elif source is not ParameterSource.DEFAULT_MAP:
                continue
            used.append(origin)
        return list(dict.fromkeys(used))

    def _set_aside(self, ctx: Any, parameter: str, source: Any) -> None:
        """Drop the file's value of a column or load option (the flags' stay): the input is already canonical."""
        if source is ParameterSource.DEFAULT_MAP:
            ctx.params[parameter] = None

    def explained(self, ctx: Any, exc: BaseException) -> BaseException:
        """``exc``, or a DataError saying which of the flags its message names came from the settings file."""
        from clv.errors import ClvError, DataError

        if self.path is None or not isinstance(exc, ClvError):
            return exc
        message = str(exc)
        found = []
        for param in self._command.params:
            flag = next((o for o in getattr(param, "opts", ()) if o.startswith("--")), None)
            if (flag is None or param.name not in self.origins
                    or ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT_MAP
                    or not re.search(rf"{re.escape(flag)}(?![\w-])", message)):
                continue
            found.append(f"{flag} {_text(self._table.get(param.name))} is from {self.path} ('{self.origins[param.name]}')")
        if not found:
            return exc
        return DataError(f"{message.rstrip()} ({'; '.join(found)}: a flag or --no-config overrides it.)")

    def value_error(self, ctx: Any, exc: Any) -> Exception | None:
        """A DataError naming the file and key when Click refused a value that came from the file, else None."""
        from clv.errors import DataError

        param = getattr(exc, "param", None)
        if param is None or self.path is None or ctx.get_parameter_source(param.name) is not ParameterSource.DEFAULT_MAP:
            return None
        origin = self.origins.get(param.name, param.name)
        key = f"{origin}.{param.name}" if origin.startswith("commands.") else origin
        flag = next((o for o in param.opts if o.startswith("--")), param.name)
        return DataError(f"settings file {self.path!r}: '{key}' = {self._table.get(param.name)!r} is not a value of "
                         f"{flag}: {exc.message.rstrip('.')}. Fix: correct it in the file, or give {flag} on the "
                         "command line.")
