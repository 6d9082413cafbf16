"""Fast start: what ``import clv`` and the command line's help load (issue 13, point 7).

Not timed (timings are flaky on a shared machine; bench/startup.py measures them):
the tests check *which modules* a fresh interpreter has loaded, which is what
the time depends on. ``clv --help``, ``clv --version`` and ``clv <command> --help``
must not import the scientific stack; ``import clv`` and any package import nothing
heavy until a name is used; every lazily exported name resolves.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import clv

HEAVY = ("pandas", "numpy", "scipy", "ibis", "duckdb", "plotly", "jinja2", "pyarrow", "pydantic",
         "fastapi", "starlette", "uvicorn", "sqlalchemy", "apscheduler", "httpx")

PACKAGES = (
    "clv", "clv.data", "clv.summary", "clv.models", "clv.scores", "clv.backtest", "clv.segments", "clv.cohorts",
    "clv.formula", "clv.acquisition", "clv.whatif", "clv.crosssell", "clv.feedback", "clv.report", "clv.service",
)

_LOADED_AFTER = """
import json, sys
steps = {}
def heavy():
    return sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
"""


def _run(script: str) -> dict[str, list[str]]:
    """Run ``script`` in a fresh interpreter (this checkout's sources first); it prints one JSON object."""
    code = f"HEAVY = {HEAVY!r}\n{_LOADED_AFTER}\n{script}\nprint(json.dumps(steps))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    import os
    from pathlib import Path

    source = str(Path(clv.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


def _cli_steps(arguments: list[list[str]]) -> dict[str, list[str]]:
    """The heavy modules loaded after each ``clv ARGS`` in one interpreter (stdout of the help silenced)."""
    script = f"""
import contextlib, io
from clv.cli.main import app
for args in {arguments!r}:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            app(args)
        except SystemExit as exit:
            assert exit.code in (0, None), (args, exit.code)
    steps[' '.join(args)] = heavy()
"""
    return _run(script)


def _command_names() -> list[str]:
    import typer.main

    from clv.cli.main import app

    return sorted(typer.main.get_command(app).commands)


def test_import_clv_loads_nothing_heavy():
    steps = _run("import clv\nsteps['import clv'] = heavy()\n"
                 "import clv.cli.main\nsteps['import clv.cli.main'] = heavy()")
    assert steps == {"import clv": [], "import clv.cli.main": []}


def test_help_and_version_load_nothing_heavy():
    arguments = [["--version"], ["--help"], *([name, "--help"] for name in _command_names())]
    steps = _cli_steps(arguments)
    assert steps == {" ".join(args): [] for args in arguments}


def test_help_lists_every_command():
    from typer.testing import CliRunner

    from clv.cli.main import app

    shown = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    assert all(name in shown for name in _command_names())
    assert len(_command_names()) >= 15  # every command module registered (15 commands today)


def test_version_prints_the_package_version():
    from importlib.metadata import version

    from typer.testing import CliRunner

    from clv.cli.main import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == clv.__version__ == version("clv")


def test_a_failing_command_still_fails_politely():
    """The error handling of cli/core.py still turns a user's mistake into one line and exit 2."""
    script = "from clv.cli.main import app\nimport sys\nsys.argv = ['clv', 'load', 'no-such-file.csv']\napp()"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "no-such-file.csv" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_loads_nothing_heavy(package):
    steps = _run(f"import {package}\nsteps['import'] = heavy()")
    assert steps == {"import": []}


def _exported() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        found += [(package, name) for name in getattr(module, "__all__", ())]
    return found


@pytest.mark.parametrize(("package", "name"), _exported())
def test_every_exported_name_resolves(package, name):
    module = importlib.import_module(package)
    value = getattr(module, name)
    assert value is not None
    assert name in dir(module)
    assert getattr(module, name) is value  # cached: the second access does not import again


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        clv.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        exec("from clv.segments import no_such_name", {})


def test_an_exported_name_wins_over_its_submodule():
    """``clv.segments.playbook`` is the function even after the module ``clv.segments.playbook`` was imported first."""
    steps = _run("import clv.segments.playbook, clv.summary.compress\n"
                 "import clv.segments, clv.summary\n"
                 "steps['kinds'] = [type(clv.segments.playbook).__name__, type(clv.summary.compress).__name__]")
    assert steps == {"kinds": ["function", "function"]}


def test_top_level_names_are_the_package_names():
    from clv.data import load_orders
    from clv.scores import score_customers
    from clv.summary import summarize

    assert clv.load_orders is load_orders
    assert clv.summarize is summarize
    assert clv.score_customers is score_customers
    assert "load_orders" in clv.__all__ and "load_orders" in dir(clv)
    assert json.dumps(sorted(clv.__all__)) == json.dumps(sorted(set(clv.__all__)))


def test_lazy_module_loads_on_first_use_from_two_threads_at_once():
    """A LazyModule imports its target on first attribute use; two threads racing to it get the same function."""
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "from clv.lazy import LazyModule\n"
        "special = LazyModule('scipy.special')\n"
        "assert 'scipy.special' not in sys.modules\n"
        "found, start = [], threading.Barrier(4)\n"
        "def use():\n"
        "    start.wait()\n"
        "    found.append(special.gammaln)\n"
        "threads = [threading.Thread(target=use) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "from scipy.special import gammaln\n"
        "assert len(found) == 4 and all(f is gammaln for f in found), found\n"
        "assert float(special.gammaln(5.0)) == float(gammaln(5.0))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
