"""One vocabulary: every CLI option and every public signature follows the glossary (clv.glossary)."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import math
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

import clv
from clv.glossary import MODEL_NOTATION, NO_DEFAULT, TERMS, glossary_markdown, term_for

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {synonym: term.name for term in TERMS for synonym in term.synonyms}

PENDING: set[str] = set()
"""Renames in files others are rewriting now: the lead's CustomerData work (summary/, backtest/split.py,
scores/score.py and its callees) and the model contract (clv.models methods). Listed so the suite passes until
they land; test_pending_renames_are_still_pending fails as soon as one is renamed, so the list only shrinks."""


# --- the checker --------------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """An option default as data: an enum's value, a number as float."""
    value = getattr(value, "value", value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _same(found: Any, expected: Any) -> bool:
    found, expected = _plain(found), _plain(expected)
    if isinstance(found, float) and isinstance(expected, float):
        return math.isclose(found, expected)
    return found == expected


def name_violations(where: str, names: list[str]) -> list[str]:
    """Forbidden synonyms among ``names`` (Python keywords or CLI option names without dashes)."""
    found = []
    for name in names:
        keyword = name.lstrip("-").replace("-", "_")
        if keyword in FORBIDDEN:
            found.append(f"{where}: {name!r} is a synonym of {FORBIDDEN[keyword]!r}; use {FORBIDDEN[keyword]!r}")
    return found


def default_violation(where: str, name: str, default: Any, required: bool) -> str | None:
    """A glossary term whose default differs from the glossary's (and from a declared exception)."""
    term = term_for(name)
    if term is None or required or term.default is NO_DEFAULT:
        return None
    expected = term.expected_default(where)
    if _same(default, expected):
        return None
    return f"{where}: {name} defaults to {_plain(default)!r}, the glossary says {expected!r}"


def command_violations(command: Any, path: str = "clv") -> list[str]:
    """Every glossary violation of a Click command or group and its subcommands."""
    found = []
    for param in command.params:
        long_opts = [o for o in param.opts if o.startswith("--")]
        found += name_violations(path, [param.name or "", *long_opts])
        for option in long_opts:
            problem = default_violation(path, option, param.default, bool(param.required))
            if problem:
                found.append(problem)
        if param.name and term_for(param.name) and long_opts and term_for(param.name).cli:
            expected = term_for(param.name).option
            if expected not in long_opts:
                found.append(f"{path}: keyword {param.name!r} is the glossary's {expected}, not {long_opts[0]}")
    for name, sub in getattr(command, "commands", {}).items():
        found += command_violations(sub, f"{path} {name}")
    return found


def signature_violations(where: str, function: Any, method: bool = False) -> list[str]:
    """Every glossary violation of one public function's (or class's, or method's) signature."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    found = name_violations(where, [p.name for p in parameters if not (method and p.name in MODEL_NOTATION)])
    for p in parameters:
        if p.default is not inspect.Parameter.empty:
            problem = default_violation(where, p.name, p.default, False)
            if problem:
                found.append(problem)
    return found


def public_modules() -> Iterator[Any]:
    """Every module or package directly under clv (but the CLI, walked through its commands), then clv itself."""
    for info in pkgutil.iter_modules(clv.__path__):
        if info.name.startswith("_") or info.name == "cli":
            continue
        yield importlib.import_module(f"clv.{info.name}")
    yield clv


def public_names(module: Any) -> list[str]:
    """``__all__``, or (a module without one) the public functions and classes it defines."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items() if not name.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__]


def public_members(include_methods: bool = False) -> Iterator[tuple[str, Any, bool]]:
    """(qualified name, callable, is a method) for every name in an ``__all__`` and the public methods of its
    classes; an object re-exported by clv is checked once, under its package's name."""
    seen: set[int] = set()
    for module in public_modules():
        for name in public_names(module):
            obj = getattr(module, name)
            if id(obj) in seen or not callable(obj):
                continue
            seen.add(id(obj))
            where = f"{module.__name__}.{name}"
            yield where, obj, False
            if inspect.isclass(obj):
                for attribute, member in vars(obj).items():
                    if not attribute.startswith("_") and inspect.isfunction(member):
                        yield f"{where}.{attribute}", member, True


def public_callables() -> Iterator[tuple[str, Any]]:
    """(qualified name, callable) for every public function, class and method."""
    for where, obj, _ in public_members():
        yield where, obj


# --- the checks on clv --------------------------------------------------------------------------------------------

def test_every_cli_option_follows_the_glossary() -> None:
    from clv.cli.main import app

    assert command_violations(typer.main.get_command(app)) == []


def _signature_problems() -> list[str]:
    return [problem for where, function, method in public_members()
            for problem in signature_violations(where, function, method=method)]


def test_every_public_signature_follows_the_glossary() -> None:
    found = [p for p in _signature_problems() if not any(p.startswith(pending) for pending in PENDING)]
    assert found == []


def test_pending_renames_are_still_pending() -> None:
    found = _signature_problems()
    landed = [pending for pending in PENDING if not any(p.startswith(pending) for p in found)]
    assert landed == [], f"renamed: remove {landed} from PENDING"


def test_the_walk_reaches_the_commands_and_functions() -> None:
    from clv.cli.main import app

    command = typer.main.get_command(app)
    assert {"summarize", "score", "segments", "whatif", "report", "nps", "kpis"} <= set(command.commands)
    names = {where for where, _ in public_callables()}
    assert {"clv.scores.score_customers", "clv.summary.summarize", "clv.whatif.what_if",
            "clv.formula.classic_clv", "clv.units.discount_factor"} <= names


def test_the_glossary_page_is_generated_from_the_glossary() -> None:
    page = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert page == glossary_markdown(), "docs/glossary.md is stale: write clv.glossary.glossary_markdown() to it"


def test_every_exception_names_a_real_command_or_function() -> None:
    from clv.cli.main import app

    command = typer.main.get_command(app)
    functions = {where for where, _ in public_callables()}
    for term in TERMS:
        for where in term.exceptions:
            if where.startswith("clv "):
                assert where.split(" ", 1)[1] in command.commands, where
            elif "*" in where:
                assert any(fnmatch.fnmatchcase(name, where) for name in functions), where
            else:
                assert where in functions, where


# --- the checker fails on violations --------------------------------------------------------------------------------

def _fake_app() -> typer.Typer:
    fake = typer.Typer()

    @fake.command("good")
    def good(time_unit: str = typer.Option("week", "--time-unit"), horizon: float = typer.Option(52, "--horizon")) -> None:
        """Follows the glossary."""

    @fake.command("bad")
    def bad(
        unit: str = typer.Option("week", "--unit"),
        horizon_months: int = typer.Option(36, "--horizon-months"),
        discount_rate: float = typer.Option(0.05, "--discount-rate"),
        margin_change: str = typer.Option(None, "--margin"),
    ) -> None:
        """Breaks it four ways."""

    return fake


def test_the_cli_checker_fails_on_a_fake_command() -> None:
    found = command_violations(typer.main.get_command(_fake_app()), "fake")
    assert any("'unit'" in p and "time_unit" in p for p in found)
    assert any("horizon_months" in p for p in found)
    assert any("--discount-rate defaults to 0.05" in p for p in found)
    assert any("'margin_change' is the glossary's --margin-change" in p for p in found)
    assert not any(p.startswith("fake good") for p in found)


def test_the_signature_checker_fails_on_a_fake_function() -> None:
    def forecast(model: Any, t: float, annual_discount_rate: float = 0.1, time_unit: str = "day") -> None:
        """Breaks it three ways."""

    found = signature_violations("fake.forecast", forecast)
    assert len(found) == 3
    assert signature_violations("fake.ok", lambda horizon, time_unit="week", discount_rate=0.10: None) == []


@pytest.mark.parametrize("name", ["--time-unit", "time_unit", "--discount-rate"])
def test_term_lookup_takes_keywords_and_options(name: str) -> None:
    assert term_for(name) is not None
