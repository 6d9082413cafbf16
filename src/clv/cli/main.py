"""The ``clv`` command line: one Typer app, commands registered from modules.

The app's classes (:mod:`clv.cli.core`) make every command fail politely: one
line and exit 2 for bad input, a crash log and exit 1 for a bug.
"""

from __future__ import annotations

import typer

from clv import __version__
from clv.cli.core import ClvGroup, ClvTyper

app = ClvTyper(
    name="clv",
    cls=ClvGroup,
    help="Customer lifetime value: load orders, summarise customers, compute CLV, fit models, score customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _version(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def _register_commands() -> None:
    from clv.cli import (
        backtest_commands, crosssell_commands, data_commands, demo, insight_commands, model_commands, report_commands,
        segment_commands, serve_commands,
    )

    for module in (demo, data_commands, model_commands, backtest_commands, segment_commands, insight_commands,
                   crosssell_commands, report_commands, serve_commands):
        module.register(app)


_register_commands()
