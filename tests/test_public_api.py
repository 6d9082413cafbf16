"""The public face: every public package states its names in ``__all__``, every name exists and is
documented, and the documentation build (MkDocs + mkdocstrings, strict) renders every one of them.

The packages walked and the objects expected in the build's inventory come from
``docs_tools/api_reference.py``, the hook that generates the API reference pages.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from numpydoc.docscrape import NumpyDocString

ROOT = Path(__file__).resolve().parent.parent


def _load_api_reference():
    spec = importlib.util.spec_from_file_location("clv_docs_api_reference", ROOT / "docs_tools" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


api_reference = _load_api_reference()
PACKAGES = api_reference.PUBLIC_PACKAGES


def _exports(package: str) -> list[tuple[str, object]]:
    module = importlib.import_module(package)
    return [(name, getattr(module, name)) for name in module.__all__]


def _documented_objects() -> list[tuple[str, object]]:
    """Every class and function of every public ``__all__``, as (``package.name``, object)."""
    return [
        (f"{package}.{name}", obj)
        for package in PACKAGES
        for name, obj in _exports(package)
        if inspect.isclass(obj) or inspect.isfunction(obj)
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_public_package_states_its_names(package):
    module = importlib.import_module(package)
    assert isinstance(getattr(module, "__all__", None), (list, tuple)), (
        f"{package} has no __all__: list its public names in {package}.__all__"
    )
    names = list(module.__all__)
    assert names, f"{package}.__all__ is empty"
    assert all(isinstance(name, str) for name in names), f"{package}.__all__ holds a non-string"
    duplicated = sorted({name for name in names if names.count(name) > 1})
    assert not duplicated, f"{package}.__all__ lists {duplicated} twice"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists {missing}, which {package} does not have"


@pytest.mark.parametrize("package", PACKAGES)
def test_public_package_is_documented(package):
    assert inspect.getdoc(importlib.import_module(package)), f"{package} has no module docstring"


def test_every_public_class_and_function_has_a_docstring():
    undocumented = [name for name, obj in _documented_objects() if not (obj.__doc__ or "").strip()]
    assert not undocumented, f"no docstring: {undocumented}"


def test_every_public_name_has_one_defining_path():
    paths = {f"{entry.package}.{entry.name}": entry.path for entry in api_reference.all_public_names()}
    for public, path in paths.items():
        assert path.startswith("clv."), f"{public} is defined outside clv ({path}): re-export clv's own objects only"


def _signature_parameters(obj) -> list[str]:
    """The parameters a caller passes: a function's, or a class's constructor's (none when it has no own one)."""
    if inspect.isclass(obj):
        own = any("__init__" in vars(klass) or "__new__" in vars(klass)
                  for klass in obj.__mro__ if klass.__module__.startswith("clv"))
        if not own:
            return []
    return [name for name in inspect.signature(obj).parameters if name not in ("self", "cls")]


def _documented_parameters(doc: NumpyDocString) -> list[str]:
    """The names of the Parameters section; ``a, b : float`` documents both, ``*args`` is ``args``."""
    return [name.strip().lstrip("*") for parameter in doc["Parameters"] for name in parameter.name.split(",")]


def numpydoc_problems(obj) -> list[str]:
    """What is wrong with a public object's docstring, numpydoc-wise (empty when nothing).

    A docstring is needed; when the object takes parameters, a Parameters section naming exactly
    the signature's parameters (the signature wins).
    """
    text = (inspect.getdoc(obj) or "") if inspect.isfunction(obj) else inspect.cleandoc(obj.__doc__ or "")
    if not text.strip():
        return ["no docstring"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns about an unknown section or a malformed header
        try:
            doc = NumpyDocString(text)
        except Exception as error:  # noqa: BLE001 - numpydoc raises ValueError or warns on a malformed section
            return [f"not numpydoc: {error}"]
    parameters = _signature_parameters(obj)
    if not parameters:
        return []
    if not doc["Parameters"]:
        return [f"no Parameters section (parameters: {', '.join(parameters)})"]
    documented = _documented_parameters(doc)
    problems = [f"parameter {name!r} not documented" for name in parameters if name not in documented]
    problems += [f"documents {name!r}, which is not in the signature" for name in documented if name not in parameters]
    return problems


def test_every_public_class_and_function_has_a_numpydoc_parameters_section():
    failing = {name: numpydoc_problems(obj) for name, obj in _documented_objects()}
    failing = {name: problems for name, problems in failing.items() if problems}
    assert not failing, "numpydoc docstring problems (fix the docstring; the signature wins):\n" + "\n".join(
        f"{name}: {'; '.join(problems)}" for name, problems in sorted(failing.items())
    )


def _undocumented_function(customer_id, horizon):
    """Something with a summary line but no Parameters section."""


def _misdocumented_function(customer_id, horizon):
    """Something.

    Parameters
    ----------
    customer_id : str
        The customer.
    t : float
        An old name.
    """


def _documented_class_without_parameters():
    class Plain(Exception):
        """An error with no constructor of its own."""

    Plain.__module__ = "clv.fake"
    return Plain


def test_numpydoc_check_finds_violations():
    assert numpydoc_problems(_undocumented_function) == ["no Parameters section (parameters: customer_id, horizon)"]
    assert numpydoc_problems(_misdocumented_function) == [
        "parameter 'horizon' not documented",
        "documents 't', which is not in the signature",
    ]
    assert numpydoc_problems(lambda: None) == ["no docstring"]
    assert numpydoc_problems(_documented_class_without_parameters()) == []


def _defining_modules() -> list[str]:
    """The modules that define a public class or function, and the public packages themselves."""
    defining = {inspect.getmodule(obj).__name__ for _, obj in _documented_objects()}
    return sorted(defining | set(PACKAGES))


@pytest.mark.parametrize("module_name", _defining_modules())
def test_docstring_examples_run(module_name):
    """Every ``>>>`` example in the docstrings of a module that defines public names gives the output shown."""
    import doctest

    importlib.import_module(module_name)
    module = sys.modules[module_name]  # not the attribute: a package may export a name equal to a submodule's
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples of {module_name} fail: "
        f"run python -m doctest -v on it, and fix the example (or the code)"
    )


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """The documentation built as CI builds it: strict (a warning fails), into a temporary folder."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site


def test_docs_build_inventory_covers_every_public_name(built_site):
    from mkdocstrings import Inventory

    with open(built_site / "objects.inv", "rb") as handle:
        inventory = Inventory.parse_sphinx(handle)
    absent = [
        f"{entry.package}.{entry.name} ({entry.path})"
        for entry in api_reference.all_public_names()
        if entry.path not in inventory
    ]
    assert not absent, f"the API reference does not render: {absent}"


@pytest.mark.parametrize("package", PACKAGES)
def test_docs_build_has_a_page_per_public_package(built_site, package):
    page = built_site / api_reference.API_FOLDER / package / "index.html"
    assert page.is_file(), f"no API page for {package}"
    text = page.read_text(encoding="utf-8")
    for name in importlib.import_module(package).__all__:
        assert name in text, f"the API page of {package} does not mention {name}"
