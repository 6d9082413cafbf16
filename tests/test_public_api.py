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
from pathlib import Path

import pytest

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
