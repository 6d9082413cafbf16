"""The API reference pages of the documentation, generated from each public package's ``__all__``.

MkDocs loads this file as a hook (``hooks:`` in ``mkdocs.yml``): before the build it adds one
page per public package (``api/<package>.md``) and an "API reference" section to the nav. Each
page renders, with mkdocstrings' Python handler, every name its package lists in ``__all__``,
under the name's defining module (``clv.data.load.load_orders`` for ``clv.data.load_orders``):
the defining module is where the source and the docstring are, so the page does not depend on
how the package imports it (eagerly or lazily). A name exported by several packages is rendered
once, on the page of the package that defines it, and linked from the others.

``tests/test_public_api.py`` imports this file too: the packages it walks and the objects it
expects in the build's inventory are the ones listed here.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "src"

# The public packages and modules, in the order of the data flow (lowest layer first).
PUBLIC_PACKAGES: tuple[str, ...] = (
    "clv",
    "clv.errors",
    "clv.units",
    "clv.data",
    "clv.settings",
    "clv.summary",
    "clv.models",
    "clv.scores",
    "clv.backtest",
    "clv.segments",
    "clv.cohorts",
    "clv.formula",
    "clv.acquisition",
    "clv.whatif",
    "clv.crosssell",
    "clv.feedback",
    "clv.report",
)
API_FOLDER = "api"
NAV_TITLE = "API reference"


@dataclass(frozen=True)
class PublicName:
    """One name of a package's ``__all__`` and the object it stands for.

    Parameters
    ----------
    package : str
        The package that lists the name in its ``__all__`` (``"clv.data"``).
    name : str
        The name (``"load_orders"``).
    path : str
        The dotted path of the object where it is defined (``"clv.data.load.load_orders"``):
        the identifier mkdocstrings renders and writes to the inventory.
    """

    package: str
    name: str
    path: str


def _import_sources() -> None:
    """Put this checkout's ``src`` first on ``sys.path``, so the pages describe these sources."""
    if str(SOURCES) not in sys.path:
        sys.path.insert(0, str(SOURCES))


def public_names(package: str) -> list[str]:
    """The names a public package exports: its ``__all__``.

    Parameters
    ----------
    package : str
        Dotted name of the package (``"clv.data"``).

    Returns
    -------
    list of str
        The names in ``__all__``, in their order.

    Raises
    ------
    AttributeError
        When the package has no ``__all__``: every public package must state its public names.
    """
    _import_sources()
    module = importlib.import_module(package)
    return list(module.__all__)


def _defines(module_name: str, name: str) -> bool:
    """True when the source of ``module_name`` assigns ``name`` itself (not an import of it)."""
    module = sys.modules.get(module_name)
    if module is None or not getattr(module, "__file__", None):
        return False
    import ast

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return True
    return False


def defining_path(package: str, name: str) -> str:
    """The dotted path of the object ``package.name`` where it is defined.

    Classes and functions tell it (``__module__`` and ``__qualname__``); a constant is found in
    the loaded ``clv`` module whose source assigns it and holds the same object.

    Parameters
    ----------
    package : str
        Dotted name of the package that exports the name.
    name : str
        A name of the package's ``__all__``.

    Returns
    -------
    str
        The path (``"clv.data.load.load_orders"``).

    Raises
    ------
    LookupError
        When no loaded ``clv`` module defines the constant.
    """
    _import_sources()
    obj = getattr(importlib.import_module(package), name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    candidates = sorted(module for module in sys.modules if module == "clv" or module.startswith("clv."))
    for module_name in candidates:
        if sys.modules[module_name].__dict__.get(name) is obj and _defines(module_name, name):
            return f"{module_name}.{name}"
    raise LookupError(f"{package}.{name}: no clv module assigns it; define it in a module of clv")


def all_public_names() -> list[PublicName]:
    """Every name of every public package's ``__all__``, with where it is defined.

    Returns
    -------
    list of PublicName
        In the order of :data:`PUBLIC_PACKAGES`, then of each ``__all__``.
    """
    return [
        PublicName(package, name, defining_path(package, name))
        for package in PUBLIC_PACKAGES
        for name in public_names(package)
    ]


def _home(entry: PublicName, listed_by: dict[str, list[str]]) -> str:
    """The package whose page renders ``entry``: the deepest listing package that contains its module."""
    owners = [package for package in listed_by[entry.path] if entry.path.startswith(package + ".")]
    return max(owners, key=len) if owners else listed_by[entry.path][0]


def page_markdown(package: str, entries: list[PublicName], homes: dict[str, str]) -> str:
    """The Markdown of one package's API page (mkdocstrings ``:::`` blocks and links).

    Parameters
    ----------
    package : str
        The package the page describes.
    entries : list of PublicName
        The names of its ``__all__``.
    homes : dict of str to str
        For each defining path, the package whose page renders it.

    Returns
    -------
    str
        The page text.
    """
    lines = [f"# `{package}`", "", f"::: {package}", "    options:", "      members: false", "      show_root_heading: false", ""]
    for entry in entries:
        if homes[entry.path] == package:
            lines += [f"::: {entry.path}", "    options:", "      show_root_heading: true", "      heading_level: 2", ""]
        else:
            lines += [f"## `{entry.name}`", "", f"Documented in `{homes[entry.path]}`: [{entry.name}][{entry.path}].", ""]
    return "\n".join(lines)


def api_pages() -> dict[str, str]:
    """Every API page, by its path under the docs folder.

    Returns
    -------
    dict of str to str
        ``"api/clv.data.md"`` to its Markdown, in the order of :data:`PUBLIC_PACKAGES`.
    """
    entries = all_public_names()
    listed_by: dict[str, list[str]] = {}
    for entry in entries:
        listed_by.setdefault(entry.path, []).append(entry.package)
    homes = {entry.path: _home(entry, listed_by) for entry in entries}
    return {
        f"{API_FOLDER}/{package}.md": page_markdown(package, [e for e in entries if e.package == package], homes)
        for package in PUBLIC_PACKAGES
    }


# MkDocs hook events (https://www.mkdocs.org/user-guide/configuration/#hooks).


def on_config(config):
    """Add the API reference section to the nav."""
    section = [{package: f"{API_FOLDER}/{package}.md"} for package in PUBLIC_PACKAGES]
    config["nav"] = [*(config["nav"] or []), {NAV_TITLE: section}]
    return config


def on_files(files, config):
    """Add the generated API pages to the documentation's files."""
    from mkdocs.structure.files import File

    for path, text in api_pages().items():
        files.append(File.generated(config, path, content=text))
    return files
