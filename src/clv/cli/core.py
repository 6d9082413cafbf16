"""The Click classes behind the ``clv`` app: the one place where every command fails politely.

* :class:`ClvGroup` (the app) turns usage errors (unknown option, bad number,
  missing argument) into one line, ``error: ... (see 'clv load --help')``, exit 2.
* :class:`ClvCommand` (every command) checks the output paths before any work
  (:func:`clv.cli.outputs.check_outputs`) and turns any exception into one line:
  exit 2 for what the user can fix, exit 1 and a crash log for a bug
  (:func:`clv.cli.failures.report_failure`).
* :class:`ClvTyper` gives every command these classes and the global options
  (``--raw-csv``, ``--config``, ``--no-config``), so a new command gets them without writing anything.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from clv.cli.configuration import CONFIG_OPTION, NO_CONFIG_OPTION, CommandDefaults
from clv.cli.failures import USER_ERROR, print_error, report_failure, warning_printer
from clv.cli.outputs import RAW_CSV_HELP, check_outputs, csv_escaping, split_paths

try:  # Typer >= 0.20 carries its own copy of Click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older Typer on the Click package
    from click import exceptions as click_exceptions

_CLICK_EXITS = (typer.Exit, typer.Abort, click_exceptions.ClickException)

RAW_CSV_OPTION = typer.Option(False, "--raw-csv", help=RAW_CSV_HELP)
_GLOBAL_PARAMETERS = (
    ("raw_csv", bool, RAW_CSV_OPTION),
    ("config", Path, CONFIG_OPTION),
    ("no_config", bool, NO_CONFIG_OPTION),
)


class _QuickHelpOption:
    """Commands whose ``--help`` flag is read without Typer's Pydantic coercion.

    Typer (0.29) coerces an option's value through a Pydantic ``TypeAdapter``
    unless it is already a bool, and the help flag's value is ``None`` when
    ``--help`` is not given: every run, ``clv --version`` included, would import
    Pydantic (~0.2 s) for it. An absent flag is ``False``, so it is passed as such.
    """

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and not getattr(option, "_clv_quick", False):
            option.process_value = _absent_flag_as_false(option.process_value)
            option._clv_quick = True
        return option


def _absent_flag_as_false(process_value: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def process(ctx: Any, value: Any) -> Any:
        return process_value(ctx, False if value is None else value)

    return process


class ClvCommand(_QuickHelpOption, TyperCommand):
    """A command whose outputs are checked before it runs and whose failures print one line.

    Its defaults come from the settings file (``clv.toml``, ``--config``) through the
    context's ``default_map`` (:class:`clv.cli.configuration.CommandDefaults`); flags win.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        defaults = CommandDefaults(self, ctx, ctx.default_map)
        ctx.default_map = defaults
        try:
            return super().parse_args(ctx, args)
        except click_exceptions.BadParameter as exc:
            from_file = defaults.value_error(ctx, exc)
            if from_file is None:
                raise
            raise from_file from None

    def invoke(self, ctx: Any) -> Any:
        _, inputs = split_paths(self.name, ctx.params)
        try:
            if isinstance(ctx.default_map, CommandDefaults):
                _announce_settings(ctx.default_map, ctx)
            check_outputs(self.name, ctx.params, self.flags())
            with warnings.catch_warnings():
                warnings.showwarning = warning_printer(self.name)
                return super().invoke(ctx)
        except _CLICK_EXITS:
            raise
        except Exception as exc:  # noqa: BLE001 - every other failure: one line, never a traceback
            options = frozenset(self.flags().values())
            if isinstance(ctx.default_map, CommandDefaults):  # a flag the message names may come from clv.toml
                exc = ctx.default_map.explained(ctx, exc)
            raise typer.Exit(report_failure(exc, self.name, tuple(str(p) for p in inputs), options)) from None

    def flags(self) -> dict[str, str]:
        """Parameter name -> its long option as typed (``orders_out`` -> ``--orders``)."""
        found = {}
        for param in self.params:
            opts = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
            found[param.name] = opts[0] if opts else (param.name or "").upper()
        return found


def _announce_settings(defaults: CommandDefaults, ctx: Any) -> None:
    """Merge the file's repeatable options with the flags, and say on stderr which settings the command took."""
    used = defaults.apply(ctx)
    if used:
        from clv.cli.common import note

        note(f"settings from {defaults.path} ({', '.join(used)})", label="note: ")


class ClvGroup(_QuickHelpOption, TyperGroup):
    """The app: usage errors and failures outside a command also end in one line."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            outcome = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exceptions.NoArgsIsHelpError as exc:  # `clv` alone: the help (Rich prints it when it is made)
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            sys.exit(_report_usage_error(exc))
        except typer.Abort as exc:
            sys.exit(_report_abort(exc))
        except Exception as exc:  # noqa: BLE001 - a failure outside a command: one line too
            sys.exit(report_failure(exc))
        sys.exit(outcome if isinstance(outcome, int) else 0)


def _report_usage_error(exc: Any) -> int:
    """One line for an option Click could not accept, with where to find the right form."""
    context = getattr(exc, "ctx", None)
    command = context.command.name if context is not None and context.parent is not None else None
    where = f" (see '{context.command_path} --help')" if context is not None else ""
    print_error(f"{exc.format_message()}{where}", command)
    return exc.exit_code if exc.exit_code not in (0, 1) else USER_ERROR


def _report_abort(exc: BaseException) -> int:
    """Click turns an EOFError into Abort: a truncated input file, or Ctrl-D at a prompt."""
    if isinstance(exc.__cause__, EOFError):
        return report_failure(exc.__cause__)
    print_error("aborted.")
    return 1


class ClvTyper(typer.Typer):
    """A Typer app whose commands are :class:`ClvCommand` and take the global options."""

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Callable:
        register = super().command(name, cls=cls or ClvCommand, **kwargs)

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            register(with_global_options(function))
            return function

        return decorator


def with_global_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with the options every command takes (``--raw-csv``, ``--config``, ``--no-config``) added last."""
    signature = inspect.signature(command)

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> Any:
        raw_csv = kwargs.pop("raw_csv")
        kwargs.pop("config")  # read before the command runs: the defaults of its options (clv.cli.configuration)
        kwargs.pop("no_config")
        with csv_escaping(not raw_csv):
            return command(**kwargs)

    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for name, annotation, default in _GLOBAL_PARAMETERS]
    with_options.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
    with_options.__annotations__ = {**getattr(command, "__annotations__", {}),
                                    **{name: annotation for name, annotation, _ in _GLOBAL_PARAMETERS}}
    return with_options

