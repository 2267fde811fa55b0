"""The outbox: side effects are rows written in the step's transaction and delivered after commit."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import urllib.request
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from rathaus.core.jobs import enqueue_on_commit

from .models import OutboxKind, OutboxMessage

logger = logging.getLogger(__name__)


# True within `outbox_delivered_here`: messages are delivered as their transaction commits.
_DELIVER_HERE: ContextVar[bool] = ContextVar("outbox_deliver_here", default=False)


def outbox_add(*, municipality, key: str, kind: str, payload: dict, enqueue: bool = True) -> OutboxMessage:
    """Queue a side effect once per idempotency key (a second call with the same key is a no-op).

    With `enqueue` a delivery job runs after commit, unless the caller delivers what it queues
    (`outbox_delivered_here`); without, the caller delivers it itself (`outbox_deliver`). The
    periodic sweep retries what failed either way.
    """
    message, created = OutboxMessage.objects.get_or_create(
        idempotency_key=key[:200], defaults={"municipality": municipality, "kind": kind, "payload": payload})
    if created and enqueue:
        if _DELIVER_HERE.get():
            # Once it is committed (a rolled-back savepoint drops the callback with the row).
            transaction.on_commit(functools.partial(_deliver_logged, message.pk), robust=True)
        else:
            from .tasks import deliver_outbox

            enqueue_on_commit(deliver_outbox, message.pk)
    return message


def _deliver_logged(message_id_: int) -> None:
    try:
        outbox_deliver(message_id_=message_id_)
    except Exception:  # the job goes on; the sweep retries this message
        logger.exception("outbox message %s: delivery after its commit failed", message_id_)


@contextlib.contextmanager
def outbox_delivered_here() -> Iterator[None]:
    """Messages queued in the block are delivered by this worker as their transaction commits.

    For jobs that run process steps: the status and decision e-mails of a case go out from the
    worker that committed them, right after the commit, without a job row, a claim and a result
    per message. If the worker dies between the commit and the delivery, the periodic sweep
    (`outbox_deliver_pending`) sends them. Entered inside a transaction the block changes
    nothing: its messages would commit only after it ended, so they get their jobs as usual.
    """
    if connection.in_atomic_block:
        yield
        return
    token = _DELIVER_HERE.set(True)
    try:
        yield
    finally:
        _DELIVER_HERE.reset(token)


def message_id(key: str) -> str:
    """Message-ID derived from the idempotency key, so receivers can drop a duplicate too."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@rathaus.outbox>"


# E-mails composed only when sent (payload ``{"compose": name, "args": [...]}``), so that the row
# holds no secret, e.g. the access link of a status page: name -> function returning the message,
# or None when there is nobody to write to any more. Apps register theirs when they load.
_COMPOSERS: dict[str, Callable[..., EmailMessage | None]] = {}


def composer(name: str) -> Callable[[Callable[..., EmailMessage | None]], Callable[..., EmailMessage | None]]:
    """Register a function that composes an outbox e-mail when it is sent (see `composed`)."""
    def register(func: Callable[..., EmailMessage | None]) -> Callable[..., EmailMessage | None]:
        _COMPOSERS[name] = func
        return func
    return register


def composed(name: str, *args: Any) -> dict[str, Any]:
    """The payload of an e-mail that composer `name` writes from `args` (JSON values) when it is sent."""
    return {"compose": name, "args": list(args)}


def _send(message: OutboxMessage) -> None:
    payload = message.payload
    if message.kind == OutboxKind.EMAIL:
        if "compose" in payload:
            if payload["compose"] not in _COMPOSERS:
                raise LookupError(f"no outbox composer {payload['compose']!r} is registered")
            email = _COMPOSERS[payload["compose"]](*payload["args"])
            if email is None:
                return  # nobody to write to any more (e.g. anonymised): nothing to retry
        else:
            email = EmailMessage(payload["subject"], payload["body"], to=payload["to"])
        email.extra_headers.update({"Message-ID": message_id(message.idempotency_key),
                                    "X-Rathaus-Idempotency-Key": message.idempotency_key})
        email.send()
    elif message.kind == OutboxKind.HTTP:
        url = payload.get("url") or getattr(settings, "RATHAUS_BACKOFFICE_URL", "")
        if not url:
            return  # no back-office system configured: nothing to call
        request = urllib.request.Request(  # noqa: S310 - the URL is configured by the operator
            url, data=json.dumps(payload.get("body", {})).encode(), method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key})
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


def outbox_deliver(*, message_id_: int, now: datetime | None = None) -> bool:
    """Send one message if still unsent; returns whether it was sent now.

    The row stays locked while sending and is marked sent in the same transaction, so two
    workers never send it both; a crash before the commit leaves it unsent for the sweep. A
    failed attempt is counted and the next one is due `retry_delay` after `now`.
    """
    with transaction.atomic():
        qs = OutboxMessage.objects.filter(pk=message_id_, sent_at__isnull=True)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        message = qs.first()
        if message is None:
            return False
        attempts = message.attempts + 1
        try:
            _send(message)
        except Exception as exc:  # noqa: BLE001 - recorded and retried by the sweep
            wait = None if attempts >= max_attempts() else retry_delay(attempts)
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=attempts, last_error=str(exc)[:2000], next_attempt_at=wait and (now or timezone.now()) + wait)
            if wait is None:
                logger.error("outbox %s failed for good after %s attempts: %s", message.idempotency_key, attempts, exc)
            else:
                logger.warning("outbox %s failed (attempt %s, retried in %s): %s", message.idempotency_key, attempts,
                               wait, exc)
            return False
        OutboxMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now(), attempts=attempts, next_attempt_at=None)
    return True


def max_attempts() -> int:
    """Attempts before a message is given up (``RATHAUS_OUTBOX_MAX_ATTEMPTS``)."""
    return int(getattr(settings, "RATHAUS_OUTBOX_MAX_ATTEMPTS", 15))


def retry_delay(attempts: int) -> timedelta:
    """The wait after failed attempt number `attempts`: one minute, doubling, at most six hours.

    With the default 15 attempts a message outlasts a day and a half of a mail server's or a
    back-office system's outage, and a failing message is not tried on every sweep.
    """
    return timedelta(minutes=min(2 ** min(attempts - 1, 16), 360))


def outbox_deliver_pending(*, limit: int = 200, now: datetime | None = None) -> int:
    """Deliver unsent messages that are due; the sweep's safety net after a crash or a failure.

    Messages never tried come first (oldest first), then those whose retry is due, fewest
    attempts first: messages that keep failing cannot hold up the others.
    """
    now = now or timezone.now()
    # Failed and without a next attempt: given up (a lower RATHAUS_OUTBOX_MAX_ATTEMPTS also stops retries).
    ids = list(OutboxMessage.objects.filter(sent_at__isnull=True, attempts__lt=max_attempts())
               .filter(Q(attempts=0) | Q(next_attempt_at__lte=now))
               .order_by("attempts", "id").values_list("pk", flat=True)[:limit])
    return sum(outbox_deliver(message_id_=pk, now=now) for pk in ids)
