"""Reading the files named on the command line, with errors a process designer understands."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError


def read_file(name: str) -> bytes:
    """The bytes of a file named on the command line; CommandError (exit 1) if it cannot be read."""
    path = Path(name)
    if not path.is_file():
        raise CommandError(f"Datei nicht gefunden / file not found: {name}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Datei nicht lesbar / cannot read file: {name} ({exc.strerror or exc})") from None
