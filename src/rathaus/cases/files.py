"""Stored files and transactions: no file without its row, no row without its file.

A file is written to storage inside the service's transaction (the row needs its name). Should
the transaction fail afterwards, `discard_files_on_error` removes what was written; files of
deleted rows leave storage only after the deletion committed (`files_delete_after_commit`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

_written: contextvars.ContextVar[list[tuple[Any, str]] | None] = contextvars.ContextVar("rathaus_files_written",
                                                                                       default=None)


def file_written(storage, name: str) -> None:
    """Note a file the current service wrote (removed again if the service fails)."""
    written = _written.get()
    if written is not None:
        written.append((storage, name))


@contextlib.contextmanager
def discard_files_on_error() -> Iterator[None]:
    """Delete the files written inside the block when it raises; the outermost block decides."""
    if _written.get() is not None:
        yield
        return
    token = _written.set([])
    try:
        yield
    except BaseException:
        files_delete(_written.get() or [])
        raise
    finally:
        _written.reset(token)


def files_delete(files: list[tuple[Any, str]]) -> None:
    """Delete stored files; a missing one is no error, and one failure does not stop the others."""
    for storage, name in files:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - logged; the rest must still go
            logger.exception("could not delete stored file %s", name)


def files_delete_after_commit(files: list[tuple[Any, str]]) -> None:
    if files:
        transaction.on_commit(lambda: files_delete(files))


def read_bytes(field_file) -> bytes:
    """The whole content of a stored file (documents are small: at most the upload limit)."""
    with field_file.open("rb") as handle:
        return handle.read()
