"""Writes of the integration layer: domain events into the outbox, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import DomainEvent


def event_emit(*, municipality, kind: str, application=None, data: dict[str, Any] | None = None) -> DomainEvent:
    """Record a domain event; call inside the transaction of the change it reports.

    Raises when called outside a transaction: an event committed without its change (or the change
    without its event) is exactly what the outbox exists to prevent.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change")
    return DomainEvent.objects.create(
        municipality=municipality, kind=kind, application=application,
        reference=getattr(application, "reference", "") or "", data=data or {})
