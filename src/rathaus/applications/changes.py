"""An application's "last changed" time (``updated_at``), which back-office systems sync by.

A change that is not a status change (a document added to the case file) touches the application.
Inside :func:`touches_collected` (a process move: its steps may add a decision letter, then set the
status) the touch is written once at the block's end, and not at all when the status changed
meanwhile, whose own update writes ``updated_at`` too: one update of the application's row less,
and each such update writes every index of the table, since ``updated_at`` is indexed.
"""

from __future__ import annotations

import contextlib
import contextvars

from django.utils import timezone

from rathaus.core.batching import collected
from rathaus.core.sql import update_one

from .models import Application

_touched: contextvars.ContextVar[list[Application] | None] = contextvars.ContextVar("rathaus_applications_touched",
                                                                                   default=None)


def application_touch(application: Application) -> None:
    """Set the application's ``updated_at`` to now, in the caller's transaction.

    The row's lock comes before the audit entry the caller writes next: the audit chain's lock is
    always the last one a transaction takes (a status change locks the application first, then the
    chain), else two transactions could each hold one and wait for the other. A collected touch is
    written before the collected audit entries for the same reason (see touches_collected).
    """
    application.updated_at = timezone.now()
    pending = _touched.get()
    if pending is not None:
        pending.append(application)
        return
    update_one(application, ["updated_at"])


def touch_written(application: Application) -> None:
    """The caller has just written the application's ``updated_at``: a collected touch is not needed."""
    pending = _touched.get()
    if pending:
        pending[:] = [touched for touched in pending if touched.pk != application.pk]


def touches_collected() -> contextlib.AbstractContextManager[None]:
    """Collect the touches inside the block and write them at its end, each application once.

    Enter it inside the audit batch (``with audit_batch(), …, touches_collected():``) so that the
    touches are written, and the rows locked, before the audit chain's lock is taken.
    """
    return collected(_touched, _write)


def _write(pending: list[Application]) -> None:
    latest: dict[int, Application] = {}
    for application in pending:
        latest[application.pk] = application
    for application in latest.values():
        update_one(application, ["updated_at"])
