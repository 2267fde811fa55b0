"""What a scanner is: it looks at the bytes of one upload and says clean or infected."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class ScanResult:
    infected: bool
    signature: str = ""


class ScannerUnavailable(Exception):
    """The scanner could not give an answer (down, misconfigured, timed out, refused the data).

    Uploads are then refused: a file nobody could scan is not stored (fail closed).
    """


class Scanner(ABC):
    """A malware scanner. Implementations register with `registry.register("<name>")`."""

    name: str = ""
    label: str = ""

    @abstractmethod
    def scan(self, raw: bytes) -> ScanResult:
        """Scan `raw`; raise ScannerUnavailable when no verdict can be given."""
