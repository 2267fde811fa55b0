"""Reading the files named on the command line, with errors a process designer understands."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from rathaus_domain.processes.xmlutil import MAX_XML_BYTES


def read_file(name: str) -> bytes:
    """The bytes of a file named on the command line; CommandError (exit 1) if it cannot be read."""
    path = Path(name)
    if path.is_dir():
        raise CommandError(f"Das ist ein Verzeichnis, keine Datei / is a directory, not a file: {name}")
    if not path.is_file():
        raise CommandError(f"Datei nicht gefunden / file not found: {name}")
    try:
        size = path.stat().st_size
        if size > MAX_XML_BYTES:
            # Refused before it is read: a video or disk image named by mistake must not fill the memory.
            limit = MAX_XML_BYTES // 2**20
            raise CommandError(f"Datei größer als {limit} MB / file larger than {limit} MB: {name}")
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Datei nicht lesbar / cannot read file: {name} ({exc.strerror or exc})") from None
