"""The models of ``clv`` and their one registry.

Every model is one file in this package and one :func:`register_model` line
below: its name (also the ``"model"`` key of its saved JSON), where its class
is (``"module:Class"``, imported only when first used: ``import clv.models``
loads no numerical library), a label for people and its family
(``"purchase"``, ``"spend"`` or ``"contractual"``, see
:mod:`clv.models.contract`). The CLI, the backtest, the report and the what-if
take their model choices from here.

>>> model_names("purchase")
('bgnbd', 'mbgnbd', 'pareto', 'bgbb', 'nbd', 'bgcnbd', 'mbgcnbd', 'ggomnbd')
>>> model_label("pareto")
'Pareto/NBD'

The classes are importable from here too (lazily): ``from clv.models import
BetaGeoModel``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clv.errors import DataError

_FAMILIES = ("purchase", "spend", "contractual")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered model: name, where its class is, a label for people, its family.

    Parameters
    ----------
    name : str
        Registry name, also the ``"model"`` key of the saved JSON.
    target : str or type
        ``"module:Class"`` (imported on first use) or the class itself.
    label : str
        Name for people, e.g. ``"BG/NBD"``.
    family : {"purchase", "spend", "contractual"}
        The contract the class implements (:mod:`clv.models.contract`).
    """

    name: str
    target: Any  # "module:Class", or the class itself
    label: str
    family: str

    def load(self) -> type:
        """The model class (imports its module on first use)."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, class_name = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise DataError(f"model {self.name!r} is not available in this installation ({exc}).") from None


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, target: Any, *, label: str, family: str, replace: bool = False) -> ModelEntry:
    """Add a model to the registry.

    Parameters
    ----------
    name : str
        Registry name; the class's ``model_name`` must equal it.
    target : str or type
        ``"module:Class"`` (imported lazily) or the class; it implements the
        family's contract (:mod:`clv.models.contract`).
    label : str
        Name for people, e.g. ``"BG/NBD"``.
    family : {"purchase", "spend", "contractual"}
        The model's family.
    replace : bool, default False
        Override an existing entry of that name (else a DataError).

    Returns
    -------
    ModelEntry
        The new entry.
    """
    if family not in _FAMILIES:
        raise DataError(f"family must be one of {list(_FAMILIES)}, got {family!r}.")
    if name in _REGISTRY and not replace:
        raise DataError(f"model {name!r} is already registered; pass replace=True to override it.")
    if isinstance(target, str) and ":" not in target:
        raise DataError(f"target must be 'module:Class' (e.g. 'clv.models.bgnbd:BetaGeoModel'), got {target!r}.")
    entry = ModelEntry(name, target, label, family)
    _REGISTRY[name] = entry
    return entry


def unregister_model(name: str) -> None:
    """Remove a model from the registry (tests register toy models and take them out again).

    Parameters
    ----------
    name : str
        A registered name.
    """
    _entry(name)
    del _REGISTRY[name]


register_model("bgnbd", "clv.models.bgnbd:BetaGeoModel", label="BG/NBD", family="purchase")
register_model("mbgnbd", "clv.models.mbgnbd:ModifiedBetaGeoModel", label="MBG/NBD", family="purchase")
register_model("pareto", "clv.models.paretonbd:ParetoNBDModel", label="Pareto/NBD", family="purchase")
register_model("bgbb", "clv.models.bgbb:BetaGeoBetaBinomModel", label="BG/BB", family="purchase")
register_model("nbd", "clv.models.nbd:NBDModel", label="NBD (no dropout)", family="purchase")
register_model("bgcnbd", "clv.models.bgcnbd:BetaGeoCNBDModel", label="BG/CNBD-k", family="purchase")
register_model("mbgcnbd", "clv.models.mbgcnbd:ModifiedBetaGeoCNBDModel", label="MBG/CNBD-k", family="purchase")
register_model("ggomnbd", "clv.models.ggomnbd:GammaGompertzNBDModel", label="Gamma-Gompertz/NBD", family="purchase")
register_model("gammagamma", "clv.models.gammagamma:GammaGammaModel", label="Gamma-Gamma", family="spend")
register_model("sbg", "clv.models.sbg:ShiftedBetaGeometricModel", label="sBG", family="contractual")


def model_names(family: str | None = None) -> tuple[str, ...]:
    """Registered model names, in registration order.

    Parameters
    ----------
    family : {"purchase", "spend", "contractual"}, optional
        Only the models of this family.

    Returns
    -------
    tuple of str
    """
    if family is not None and family not in _FAMILIES:
        raise DataError(f"family must be one of {list(_FAMILIES)} or None, got {family!r}.")
    return tuple(name for name, entry in _REGISTRY.items() if family is None or entry.family == family)


def model_label(name: str) -> str:
    """The label of a model for people ("BG/NBD").

    Parameters
    ----------
    name : str
        A registered name.
    """
    return _entry(name).label


def model_family(name: str) -> str:
    """The family of a registered model: "purchase", "spend" or "contractual".

    Parameters
    ----------
    name : str
        A registered name.
    """
    return _entry(name).family


def model_class(name: str) -> type:
    """The class of a registered model (its module imported on first use).

    Parameters
    ----------
    name : str
        A registered name; an unknown one is a DataError listing the names.
    """
    return _entry(name).load()


def load_model(source: str | Path | Mapping[str, Any]):
    """A fitted model from its saved form.

    The ``"model"`` key picks the class from the registry; its ``from_dict``
    restores the parameters and the time unit (``time_unit_``).

    Parameters
    ----------
    source : str, pathlib.Path or mapping
        A path to a JSON file, the JSON text, or the dict of ``to_dict``.
    """
    payload = _payload(source)
    name = payload.get("model")
    if name not in _REGISTRY:
        raise DataError(f"unknown model {name!r} in the saved model; expected one of {list(_REGISTRY)}.")
    return model_class(name).from_dict(payload)


def _payload(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    text = str(source)
    if not text.lstrip().startswith("{"):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"model file {text!r} does not exist. Fix: check the path, or save the model with to_json(path).")
        text = path.read_text(encoding="utf-8")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not a saved model (JSON expected: {exc}). Fix: give what to_json or clv fit --save wrote.") from None
    if not isinstance(payload, Mapping):
        raise DataError("not a saved model (a JSON object expected). Fix: give what to_json or clv fit --save wrote.")
    return payload


def _entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown model {name!r}; expected one of {list(_REGISTRY)}.") from None


# Public classes, imported on first access (PEP 562): the registry's and the contract's.
_CLASS_TARGETS = {
    "BetaGeoModel": "bgnbd",
    "BetaGeoCNBDModel": "bgcnbd",
    "GammaGompertzNBDModel": "ggomnbd",
    "ModifiedBetaGeoCNBDModel": "mbgcnbd",
    "ModifiedBetaGeoModel": "mbgnbd",
    "NBDModel": "nbd",
    "ParetoNBDModel": "pareto",
    "BetaGeoBetaBinomModel": "bgbb",
    "GammaGammaModel": "gammagamma",
    "ShiftedBetaGeometricModel": "sbg",
}
_CONTRACT_NAMES = (
    "check_model_unit",
    "ContractualCapabilities",
    "ContractualModel",
    "Model",
    "PurchaseCapabilities",
    "PurchaseModel",
    "SpendCapabilities",
    "SpendModel",
)

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoCNBDModel",
    "BetaGeoModel",
    "ContractualCapabilities",
    "ContractualModel",
    "FitSummary",
    "GammaGammaModel",
    "GammaGompertzNBDModel",
    "Model",
    "ModelEntry",
    "ModifiedBetaGeoCNBDModel",
    "ModifiedBetaGeoModel",
    "NBDModel",
    "ParetoNBDModel",
    "PurchaseCapabilities",
    "PurchaseModel",
    "ShiftedBetaGeometricModel",
    "SpendCapabilities",
    "SpendModel",
    "check_model_unit",
    "load_model",
    "model_class",
    "model_family",
    "model_label",
    "model_names",
    "register_model",
    "unregister_model",
]


def __getattr__(name: str):
    if name in _CLASS_TARGETS:
        value = model_class(_CLASS_TARGETS[name])
    elif name in _CONTRACT_NAMES:
        value = getattr(importlib.import_module("clv.models.contract"), name)
    elif name == "FitSummary":
        value = importlib.import_module("clv.models.fit_summary").FitSummary
    else:
        raise AttributeError(f"module 'clv.models' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
