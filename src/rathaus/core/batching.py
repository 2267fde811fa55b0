"""Writes collected inside a block and made together at its end (the audit chain, domain events)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def collected(pending: contextvars.ContextVar[list | None], write: Callable[[list[Any]], None], *,
              even_if_raised: bool = False) -> Iterator[None]:
    """Inside the block `pending` holds a list the writers append to; `write(list)` runs at its end.

    Nested blocks join the outer one (it writes). If the block raises, nothing is written, unless
    `even_if_raised` (what was collected is already committed, e.g. outbox messages to deliver).
    """
    if pending.get() is not None:
        yield
        return
    items: list[Any] = []
    token = pending.set(items)
    completed = False
    try:
        yield
        completed = True
    finally:
        pending.reset(token)
        if completed or even_if_raised:
            write(items)
