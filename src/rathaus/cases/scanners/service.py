"""The facade upload checks call: run every configured scanner over the bytes."""

from __future__ import annotations

from .base import ScanResult
from .registry import active_scanners


def scan_bytes(raw: bytes) -> ScanResult:
    """The first infected verdict of the configured scanners, or clean.

    Raises ScannerUnavailable when a configured scanner cannot answer: the caller refuses the file.
    """
    for scanner in active_scanners():
        result = scanner.scan(raw)
        if result.infected:
            return result
    return ScanResult(infected=False)
