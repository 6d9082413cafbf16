"""Lazy re-exports for package ``__init__`` files (PEP 562), so that importing a package costs nothing until used.

A package lists what it re-exports and where each name lives; the defining
module is imported the first time the name is used, then the value is cached
on the package. ``import clv.segments`` therefore does not load Ibis, and
``from clv.data.policy import LoadPolicy`` does not run the reading stack.

Usage in a package's ``__init__.py``::

    from clv.lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {
        "load_orders": "clv.data.load",
        "Columns": "clv.data.columns",
    })

A name that is also the name of a submodule (``clv.segments.playbook`` the
function and ``clv.segments.playbook`` the module) keeps meaning the exported
value, as with eager ``from .playbook import playbook`` imports: the binding
the import system makes for the submodule is not kept on the package.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping

__all__ = ["LazyModule", "lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str],
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """The ``__getattr__``, ``__dir__`` and ``__all__`` of a package that re-exports names lazily (PEP 562).

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : Mapping[str, str]
        Public name -> absolute name of the module defining it (``"clv.data.load"``),
        or ``"module:attribute"`` when the package exports it under another name.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__, __all__)`` to assign in the package namespace;
        ``__all__`` lists the exported names in the given order.

    Raises
    ------
    AttributeError
        From ``__getattr__``, for a name the package does not export (the
        message lists none: Python's own wording), as a normal module does.
    """
    targets = {name: _split_target(name, target) for name, target in exports.items()}
    names = list(targets)
    module = sys.modules[package]

    def __getattr__(name: str) -> object:
        if name not in targets:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attribute = targets[name]
        value = getattr(importlib.import_module(module_name), attribute)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(names))

    shadowed = frozenset(name for name, (_, attribute) in targets.items() if f"{package}.{name}" in _modules_of(targets)
                         and attribute == name)
    if shadowed:
        module.__class__ = _exports_first(shadowed)
    return __getattr__, __dir__, names


def _split_target(name: str, target: str) -> tuple[str, str]:
    """``"pkg.mod"`` -> ``("pkg.mod", name)``; ``"pkg.mod:other"`` -> ``("pkg.mod", "other")``."""
    module_name, _, attribute = target.partition(":")
    return module_name, attribute or name


def _modules_of(targets: Mapping[str, tuple[str, str]]) -> set[str]:
    return {module_name for module_name, _ in targets.values()}


def _exports_first(shadowed: frozenset[str]) -> type[types.ModuleType]:
    """A module class on which the submodules named in ``shadowed`` never replace the exported value of that name."""

    class ExportsFirst(types.ModuleType):
        def __setattr__(self, name: str, value: object) -> None:
            if name in shadowed and isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}":
                return
            super().__setattr__(name, value)

    return ExportsFirst


class LazyModule(types.ModuleType):
    """A module imported on first attribute use: ``special = LazyModule("scipy.special")``.

    ``special.gammaln(x)`` imports :mod:`scipy.special` the first time and
    keeps each attribute on the proxy, so later uses cost a plain attribute
    lookup. Used for libraries the import of ``clv`` does not need but its
    first fit or score does (``scipy.special`` pulls NumPy's f2py and testing
    modules: about 0.14 s). The import goes through :func:`importlib.import_module`,
    whose per-module locks make a first use from two threads at once safe
    (scoring runs its intervals on a second thread); Python 3.11's
    ``importlib.util.LazyLoader`` is not safe there.

    Parameters
    ----------
    name : str
        Absolute name of the module to import on first use.
    """

    def __init__(self, name: str):
        super().__init__(name)
        self._lazy_target = name

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        value = getattr(importlib.import_module(self._lazy_target), attribute)
        setattr(self, attribute, value)
        return value
