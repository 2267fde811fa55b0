"""The registry of upload scanners (the plugin pattern of STYLE.md).

A scanner lives in ``scanners/contrib/<name>.py`` (or any installed module) and registers with::

    from rathaus.cases.scanners.registry import register

    @register("clamav")
    class ClamAVScanner(Scanner): ...

Which scanners run is configured in ``RATHAUS_UPLOAD_SCANNERS`` (read at call time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.conf import settings

from rathaus.core.plugins import import_submodules

from .base import Scanner, ScannerUnavailable


class ScannerRegistry:
    def __init__(self) -> None:
        self._scanners: dict[str, type[Scanner]] = {}

    def register(self, name: str) -> Callable[[type[Scanner]], type[Scanner]]:
        def decorate(cls: type[Scanner]) -> type[Scanner]:
            if name in self._scanners and self._scanners[name] is not cls:
                raise ValueError(f"scanner {name!r} is already registered")
            cls.name = name
            self._scanners[name] = cls
            return cls

        return decorate

    def __contains__(self, name: str) -> bool:
        return name in self._scanners

    def __getitem__(self, name: str) -> type[Scanner]:
        return self._scanners[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._scanners))


registry = ScannerRegistry()
register = registry.register
def load_contrib() -> None:
    """Import every module in ``scanners/contrib`` once, which registers its scanners."""
    from . import contrib

    import_submodules(contrib)


def active_scanners() -> list[Scanner]:
    """Instances of the configured scanners; an unknown name is a configuration error (fail closed)."""
    load_contrib()
    names = list(getattr(settings, "RATHAUS_UPLOAD_SCANNERS", []) or [])
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ScannerUnavailable(f"unknown scanner(s) configured: {', '.join(unknown)}")
    return [registry[name]() for name in names]
