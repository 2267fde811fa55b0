"""Plugin loading shared by the registries (automation steps, upload scanners)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_loaded: set[str] = set()


def import_submodules(package: ModuleType) -> None:
    """Import every module of `package` once; plugins register themselves when imported."""
    if package.__name__ in _loaded:
        return
    _loaded.add(package.__name__)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
