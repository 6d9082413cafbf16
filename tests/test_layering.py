"""The package layering of ``clv``, checked on the source (issue 13, point 5).

A package may import only the PUBLIC names of another package (no ``clv.a._b``
module, no ``from clv.a.b import _c``, no ``module._c`` attribute), and only
from its own layer or a lower one. The layers, lowest first, follow the data
flow: lazy -> errors -> units -> engine -> data -> settings -> summary -> models -> scores ->
{backtest, segments, cohorts, formula, acquisition, whatif, crosssell, feedback}
-> report -> cli. Whatever two packages share is public at the lowest layer
that needs it.

The checker is an AST walk (no import of the modules); the tests at the end
show that it catches each kind of violation in a made-up module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "clv"
LAYERS = (
    ("lazy",),  # the packages' lazy re-exports (PEP 562); imports nothing of clv
    ("errors", "glossary"),
    ("units",),
    ("result_table",),  # the pandas face of typed results (customer data, scores)
    ("engine",),
    ("data",),
    ("settings",),  # clv.toml: reads the column mapping and load policy of clv.data, the glossary's names
    ("summary",),
    ("models",),
    ("scores",),
    ("backtest", "segments", "cohorts", "formula", "acquisition", "whatif", "crosssell", "feedback"),
    ("report",),
    ("service",),  # clv serve: the API, dashboard and run store on top of the decisions and the report
    ("cli",),
)
RANK = {package: rank for rank, group in enumerate(LAYERS) for package in group}
TOP = len(LAYERS)  # the root package ``clv`` (the public face) may import every layer


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def package_of(module: str) -> str:
    """The top-level package of a ``clv`` module: ``clv.summary.compress`` -> ``summary``, ``clv`` -> ``clv``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def rank_of(package: str) -> int:
    if package == ROOT:
        return TOP
    if package not in RANK:
        raise AssertionError(f"package clv.{package} is in no layer: add it to LAYERS in {__file__}")
    return RANK[package]


@dataclass(frozen=True)
class Module:
    """A module of the source tree: its dotted name, whether it is a package ``__init__``, its source."""

    name: str
    is_package: bool
    source: str


def modules(src: Path = SRC) -> list[Module]:
    found = []
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found.append(Module(".".join(parts), is_package, path.read_text(encoding="utf-8")))
    return found


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def violations(module: Module, known_modules: set[str]) -> list[str]:
    """Every private or upward import of another package in ``module``, as readable lines."""
    own = package_of(module.name)
    own_rank = rank_of(own)
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> clv module it is bound to

    def check_target(target: str, line: int, names: tuple[str, ...] = ()) -> None:
        package = package_of(target)
        if package == own:
            return
        where = f"{module.name}:{line}"
        private_parts = [p for p in target.split(".")[1:] if _is_private(p)]
        if private_parts:
            found.append(f"{where} imports the private module {target}")
        for name in names:
            if _is_private(name):
                found.append(f"{where} imports the private name {name} from {target}")
        public_names = [n for n in names if not (n.startswith("__") and n.endswith("__"))]
        if (public_names or not names) and rank_of(package) > own_rank:
            found.append(f"{where} imports {target} from a higher layer ({package} above {own})")

    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            if target != ROOT and not target.startswith(ROOT + "."):
                continue
            names = tuple(a.name for a in node.names)
            # ``from clv.a import b`` where b is a module imports that module
            submodules = [n for n in names if f"{target}.{n}" in known_modules]
            plain = tuple(n for n in names if n not in submodules)
            if plain or not submodules:
                check_target(target, node.lineno, plain)
            for name in submodules:
                check_target(f"{target}.{name}", node.lineno)
            for alias in node.names:
                if f"{target}.{alias.name}" in known_modules:
                    aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    check_target(alias.name, node.lineno)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[ROOT] = ROOT
    for node in ast.walk(ast.parse(module.source)):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain = _dotted(node.value)
            if chain is None or chain.split(".")[0] not in aliases:
                continue
            head, *rest = chain.split(".")
            target = ".".join([aliases[head], *rest])
            if target in known_modules and package_of(target) != own:
                found.append(f"{module.name}:{node.lineno} reads the private attribute {target}.{node.attr}")
    return found


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attribute accesses on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def all_violations(found_modules: list[Module]) -> list[str]:
    known = {m.name for m in found_modules}
    return [line for module in found_modules for line in violations(module, known)]


# ----- the source tree ----------------------------------------------------------
def test_the_layer_table_lists_every_package():
    packages = {package_of(m.name) for m in modules()} - {ROOT}
    assert packages <= set(RANK), f"packages in no layer: {sorted(packages - set(RANK))}"


def test_no_package_imports_a_private_module_or_name_of_another_or_a_higher_layer():
    found = all_violations(modules())
    assert not found, "layering violations:\n" + "\n".join(found)


# ----- the checker fails on made-up violations ---------------------------------------
KNOWN = {"clv", "clv.errors", "clv.units", "clv.engine", "clv.data", "clv.data.load", "clv.summary",
         "clv.summary.customers", "clv.formula", "clv.formula._table", "clv.formula.periods",
         "clv.cohorts", "clv.cohorts.cells", "clv.scores", "clv.report", "clv.cli"}


def _check(name: str, source: str, *, is_package: bool = False) -> list[str]:
    return violations(Module(name, is_package, source), KNOWN)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("clv.cohorts.cells", "from clv.formula._table import execute", "private module clv.formula._table"),
        ("clv.cohorts.cells", "import clv.formula._table as t", "private module clv.formula._table"),
        ("clv.cohorts.cells", "from clv.formula import _table", "private module clv.formula._table"),
        ("clv.cohorts.cells", "from clv.formula.periods import _as_day", "private name _as_day"),
        ("clv.formula.periods", "from clv.data.load import _number", "private name _number"),
        ("clv.cohorts.cells", "from clv.formula import periods\nperiods._as_day(1)",
         "private attribute clv.formula.periods._as_day"),
        ("clv.cohorts.cells", "import clv.formula.periods\nclv.formula.periods._PANDAS_FREQ",
         "private attribute clv.formula.periods._PANDAS_FREQ"),
        ("clv.summary.customers", "from clv.scores import score_customers", "higher layer (scores above summary)"),
        ("clv.data.load", "def f():\n    from clv.summary import summarize", "higher layer (summary above data)"),
        ("clv.errors", "import clv.units", "higher layer (units above errors)"),
        ("clv.scores", "from ..report import build", "higher layer (report above scores)"),
        ("clv.summary.customers", "from clv import summarize", "higher layer (clv above summary)"),
    ],
)
def test_the_checker_reports_a_made_up_violation(module, source, expected):
    found = _check(module, source, is_package=module in {"clv.scores"})
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("clv.cohorts.cells", "from clv.formula.periods import period_label"),  # public name, same layer
        ("clv.cohorts.cells", "from clv.summary.customers import summarize"),  # public, lower layer
        ("clv.formula.periods", "from ._table import _helper"),  # private, but inside its own package
        ("clv.formula.periods", "from clv.formula._table import _helper"),  # same, absolute
        ("clv.cli", "from clv import __version__"),  # a dunder of the root package
        ("clv.data.load", "from clv import __version__"),
        ("clv.cohorts.cells", "import clv.summary\nclv.summary.__doc__"),
        ("clv.cohorts.cells", "self._cache = 1\nx = table._find_backend()"),  # not a clv module
        ("clv", "from clv.cli import main"),  # the root (public face) may import every layer
    ],
)
def test_the_checker_accepts_public_and_internal_imports(module, source):
    assert _check(module, source, is_package=module in {"clv", "clv.cli"}) == []


def test_a_package_missing_from_the_layers_is_an_error():
    with pytest.raises(AssertionError, match="add it to LAYERS"):
        _check("clv.newpackage.thing", "from clv.errors import DataError")
