"""The outbox: side effects are rows written in the step's transaction and delivered after commit."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from rathaus.applications.models import StatusChange
from rathaus.cases.models import Document, DocumentType
from rathaus.core.batching import collected
from rathaus.core.jobs import enqueue_on_commit
from rathaus.core.sql import insert_values, instance_from_row, prepared_cursor, select_columns
from rathaus.integration.transport import open_request

from .models import OutboxCancelReason, OutboxKind, OutboxMessage, OutboxState, ProcessInstance, UserTask
from .steps.registry import running_case

logger = logging.getLogger(__name__)


# Within `outbox_delivered_here`: the ids of the messages committed so far, delivered when it ends.
_DELIVER_HERE: ContextVar[list[int] | None] = ContextVar("outbox_deliver_here", default=None)
# Messages sent in one transaction (and e-mails over one connection), by jobs and by the sweep.
_BATCH = 20


def outbox_add(*, municipality, key: str, kind: str, payload: dict, enqueue: bool = True,
               instance_id: int | None = None, letter_id: int | None = None) -> OutboxMessage:
    """Queue a side effect once per idempotency key (a second call with the same key is a no-op).

    With `enqueue` a delivery job runs after commit, unless the caller delivers what it queues
    (`outbox_delivered_here`); without, the caller delivers it itself (`outbox_deliver`). The
    periodic sweep retries what failed either way.

    `instance_id`: the process instance the message belongs to (see `outbox_cancel_for_case`);
    while a process moves (its steps, a status its set_status step sets) it is that process,
    taken from the running case without a query.
    `letter_id`: the decision letter an e-mail tells her about (`OutboxMessage.letter`). An e-mail
    the process queues in the move that wrote a letter, after it, is about that letter: models
    write the letter and then tell her of it (a notify_citizen step, the e-mail of a set_status
    step, a payment request), and a later move's e-mail (a reminder) is not linked.
    """
    if (case := running_case()) is not None:
        instance_id = case.instance.pk if instance_id is None else instance_id
        if letter_id is None and kind == OutboxKind.EMAIL:
            letter_id = case.letter_id
    message, created = _stored_once(OutboxMessage(municipality=municipality, idempotency_key=key[:200], kind=kind,
                                                  payload=payload, instance_id=instance_id, letter_id=letter_id))
    if created and enqueue:
        pending = _DELIVER_HERE.get()
        if pending is not None:
            # Once it is committed (a rolled-back savepoint drops the callback with the row).
            transaction.on_commit(functools.partial(pending.append, message.pk), robust=True)
        else:
            from .tasks import deliver_outbox

            enqueue_on_commit(deliver_outbox, message.pk)
    return message


def _stored_once(message: OutboxMessage) -> tuple[OutboxMessage, bool]:
    """Insert the message unless one with its key exists; (the stored message, whether it is new).

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` instead of ``get_or_create``'s look-up,
    savepoint, insert and release: a new message (the usual case) costs one statement. If the
    key exists, or a concurrent transaction inserts it first, the stored message is returned.
    """
    if not connection.features.can_return_columns_from_insert:
        return OutboxMessage.objects.get_or_create(idempotency_key=message.idempotency_key, defaults={
            "municipality_id": message.municipality_id, "kind": message.kind, "payload": message.payload,
            "instance_id": message.instance_id, "letter_id": message.letter_id})
    sql, params = insert_values(connection, [message])
    with prepared_cursor(connection) as cursor:
        cursor.execute(f"{sql} ON CONFLICT ({connection.ops.quote_name('idempotency_key')}) DO NOTHING RETURNING "
                       f"{connection.ops.quote_name('id')}", params)
        row = cursor.fetchone()
    if row is None:
        return OutboxMessage.objects.get(idempotency_key=message.idempotency_key), False
    message.pk, message._state.adding, message._state.db = row[0], False, connection.alias
    return message, True


def _batches(message_ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(message_ids), _BATCH):
        yield message_ids[start:start + _BATCH]


def _deliver_logged(message_ids: list[int]) -> None:
    for batch in _batches(message_ids):
        try:
            outbox_deliver_many(batch)
        except Exception:  # the job goes on; the sweep retries these messages
            logger.exception("outbox messages %s: delivery after their commit failed", batch)


@contextlib.contextmanager
def outbox_delivered_here() -> Iterator[None]:
    """Messages queued and committed in the block are delivered by this worker when it ends.

    For jobs that run process steps: the e-mails of a case (receipt, status, decision) go out
    from the worker that committed them, together (one transaction, one connection to the mail
    server), without a job row, a claim and a result per message. They are delivered even if
    the block raises after their commit; a message whose transaction rolled back is never sent.
    If the worker dies before the end of the block, the periodic sweep (`outbox_deliver_pending`)
    sends them. Entered inside a transaction the block changes nothing: its messages would commit
    only after it ended, so they get their jobs as usual.
    """
    if connection.in_atomic_block:
        yield
        return
    with collected(_DELIVER_HERE, _deliver_collected, even_if_raised=True):
        yield


def outbox_deliver_collected() -> None:
    """Deliver what `outbox_delivered_here` has collected so far now, not when the block ends.

    For a job that goes on with slow work of another kind (e.g. calling subscribers' webhooks):
    the citizen's e-mails need not wait for it.
    """
    _deliver_collected(_DELIVER_HERE.get() or [])


def _deliver_collected(pending: list[int]) -> None:
    if pending:
        message_ids = list(dict.fromkeys(pending))
        pending.clear()
        _deliver_logged(message_ids)


def outbox_deliver_soon(message_id_: int) -> None:
    """Deliver a committed message: with the others at the end of `outbox_delivered_here`, else now."""
    pending = _DELIVER_HERE.get()
    if pending is None or connection.in_atomic_block:
        outbox_deliver(message_id_=message_id_)
    else:
        pending.append(message_id_)


def message_id(key: str) -> str:
    """Message-ID derived from the idempotency key, so receivers can drop a duplicate too.

    Keyed with the instance's secret: the keys hold ids counted across all municipalities
    (``receipt:4711``), and an unkeyed hash of them could be guessed back by anyone who gets an
    e-mail, telling a citizen of one town how many applications the whole instance handles.
    """
    digest = salted_hmac("rathaus.outbox.message-id", key, algorithm="sha256").hexdigest()[:32]
    return f"<{digest}@rathaus.outbox>"


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


def _prepare(message: OutboxMessage) -> EmailMessage | urllib.request.Request | None:
    """What sending the message means: an e-mail, an HTTP request, or None when there is nothing to send."""
    payload = message.payload
    if message.kind == OutboxKind.EMAIL:
        if "compose" in payload:
            if payload["compose"] not in _COMPOSERS:
                raise LookupError(f"no outbox composer {payload['compose']!r} is registered")
            email = _COMPOSERS[payload["compose"]](*payload["args"])
            if email is None:
                return None  # nobody to write to any more (e.g. anonymised): nothing to retry
        else:
            email = EmailMessage(payload["subject"], payload["body"], to=payload["to"])
        # A subject is one line: a task name from a modeller's two-line label ("Antrag&#10;prüfen") or
        # a citizen's text in it would make the mail library refuse the message, and retry it in vain.
        email.subject = " ".join(str(email.subject).split())
        email.extra_headers["Message-ID"] = message_id(message.idempotency_key)
        return email
    if message.kind == OutboxKind.HTTP:
        url = payload.get("url") or settings.RATHAUS_BACKOFFICE_URL
        if not url:
            return None  # no back-office system configured: nothing to call
        return urllib.request.Request(  # noqa: S310 - open_request sends http(s) only
            url, data=json.dumps(payload.get("body", {})).encode(), method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key})
    return None


def _transmit(item: EmailMessage | urllib.request.Request, mail: _MailConnection) -> None:
    if isinstance(item, EmailMessage):
        item.connection = mail.opened()
        try:
            item.send()
        except smtplib.SMTPServerDisconnected:
            mail.dropped()  # e.g. the server's limit of messages per connection: the next e-mail reconnects
            raise
    else:
        # The operator's own address may lie in the town's network; one from a process model (which a
        # town's admin uploads) may not: it could reach the server's own or internal services.
        configured = settings.RATHAUS_BACKOFFICE_URL
        open_request(item, timeout=10, internal_allowed=bool(configured) and item.full_url == configured)


class _MailConnection:
    """One connection to the mail server for the e-mails of a delivery, opened with the first of them.

    If it cannot be opened, every e-mail of the delivery fails with that error (without trying
    again for each, which would wait for the server's timeout each time).
    """

    def __init__(self) -> None:
        self.connection: BaseEmailBackend | None = None
        self.error: Exception | None = None

    def opened(self) -> BaseEmailBackend:
        if self.error is not None:
            raise self.error
        if self.connection is None:
            connection = get_connection()
            try:
                connection.open()
            except Exception as exc:
                self.error = exc
                raise
            self.connection = connection
        return self.connection

    def dropped(self) -> None:
        """The server closed the connection: the next e-mail opens a new one."""
        self.close()
        self.connection = None

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # the e-mails are sent; a failing QUIT changes nothing
                self.connection.close()


def outbox_deliver(*, message_id_: int, now: datetime | None = None) -> bool:
    """Send one message if still unsent; returns whether it was sent now (see `outbox_deliver_many`)."""
    return outbox_deliver_many([message_id_], now=now) == 1


def outbox_deliver_many(message_ids: list[int], *, now: datetime | None = None) -> int:
    """Send those of the messages that are still unsent, in the given order; returns how many were sent.

    The rows stay locked while sending (a row another worker is sending is skipped) and are
    marked sent in the same transaction, so two workers never send a message both; a crash before
    the commit leaves them unsent for the sweep. E-mails share one connection to the mail server.
    A failed attempt is counted and the message's next one is due `retry_delay` after `now`; the
    others are sent all the same. If the database fails before anything was sent (e.g. while
    composing), each message is delivered on its own, so that one message cannot hold up the
    others; if it fails after sending began, the messages are left to the sweep (sending them
    again at once would repeat what went out).
    """
    progress = _Progress()
    try:
        return _deliver_together(message_ids, now, progress)
    except DatabaseError as exc:
        if progress.sending:
            logger.exception("outbox messages %s: the database failed after sending began; left to the sweep",
                             message_ids)
            return 0
        if len(message_ids) == 1:
            if not connection.in_atomic_block:
                with contextlib.suppress(DatabaseError):  # recorded if the database lets us; raised either way
                    _failed_by_id(message_ids[0], exc, now)
            raise
        logger.warning("outbox messages %s: delivered one by one after a database error: %s", message_ids, exc)
    sent = 0
    for pk in message_ids:
        try:
            sent += outbox_deliver_many([pk], now=now)
        except DatabaseError:
            logger.exception("outbox message %s: delivery failed, left to the sweep", pk)
    return sent


class _Progress:
    sending = False


def _deliver_together(message_ids: list[int], now: datetime | None, progress: _Progress) -> int:
    with transaction.atomic():
        order = {pk: index for index, pk in enumerate(message_ids)}
        messages = sorted(_unsent_locked(message_ids), key=lambda m: order[m.pk])
        if not messages:
            return 0
        # Everything is composed before the first message goes out: between the first sending and
        # the commit that marks them sent (where a crash means sending again) nothing else happens.
        prepared, sent = [], []
        for message in messages:
            try:
                prepared.append((message, _prepare(message)))
            except DatabaseError:
                raise  # the transaction is broken: see outbox_deliver_many
            except Exception as exc:  # noqa: BLE001 - recorded and retried by the sweep
                _failed(message, exc, now)
        mail = _MailConnection()
        progress.sending = True
        try:
            for message, item in prepared:
                try:
                    if item is not None:
                        _transmit(item, mail)
                except Exception as exc:  # noqa: BLE001 - recorded and retried by the sweep
                    _failed(message, exc, now)
                else:
                    sent.append(message.pk)
        finally:
            mail.close()
        if sent:
            _mark_sent(sent)
    return len(sent)


@functools.lru_cache(maxsize=8)
def _delivery_sql(alias: str) -> tuple[str, str, tuple]:
    from django.db import connections

    quote = connections[alias].ops.quote_name
    table = quote(OutboxMessage._meta.db_table)
    columns, fields = select_columns(OutboxMessage, "o", connections[alias])
    select = (f"SELECT {columns} FROM {table} o WHERE o.{quote('id')} = ANY(%s::bigint[]) "  # noqa: S608 - names from the model
              f"AND o.{quote('sent_at')} IS NULL AND o.{quote('cancelled_at')} IS NULL "
              f"ORDER BY o.{quote('id')} FOR UPDATE SKIP LOCKED")
    mark = (f"UPDATE {table} SET {quote('sent_at')} = %s, {quote('attempts')} = {quote('attempts')} + 1, "  # noqa: S608 - names from the model
            f"{quote('next_attempt_at')} = NULL WHERE {quote('id')} = ANY(%s::bigint[])")
    return select, mark, fields


def _unsent_locked(message_ids: list[int]) -> list[OutboxMessage]:
    """The messages among `message_ids` still unsent and not cancelled, locked until commit; rows another
    worker holds are skipped.

    On PostgreSQL one prepared statement for any number of ids (every job delivers this way). The
    lock re-reads the row: a message cancelled while this waited for it is not sent.
    """
    if connection.vendor != "postgresql":
        qs = OutboxMessage.objects.filter(pk__in=message_ids, sent_at__isnull=True,
                                          cancelled_at__isnull=True).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        return list(qs)
    sql, _mark, fields = _delivery_sql(connection.alias)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [list(message_ids)])
        rows = cursor.fetchall()
    return [instance_from_row(OutboxMessage, fields, row, connection) for row in rows]


def _mark_sent(message_ids: list[int]) -> None:
    if connection.vendor != "postgresql":
        OutboxMessage.objects.filter(pk__in=message_ids).update(sent_at=timezone.now(), attempts=F("attempts") + 1,
                                                                next_attempt_at=None)
        return
    with prepared_cursor(connection) as cursor:
        cursor.execute(_delivery_sql(connection.alias)[1], [timezone.now(), list(message_ids)])


def outbox_message_id(key: str) -> int | None:
    """The id of the message stored under idempotency key `key`, if any (one prepared statement)."""
    quote = connection.ops.quote_name
    with prepared_cursor(connection) as cursor:
        cursor.execute(f"SELECT {quote('id')} FROM {quote(OutboxMessage._meta.db_table)} "  # noqa: S608 - names from the model
                       f"WHERE {quote('idempotency_key')} = %s", [key])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _failed_by_id(message_id_: int, exc: Exception, now: datetime | None) -> None:
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().filter(pk=message_id_, sent_at__isnull=True,
                                                                   cancelled_at__isnull=True).first()
        if message is not None:
            _failed(message, exc, now)


def _failed(message: OutboxMessage, exc: Exception, now: datetime | None) -> None:
    attempts = message.attempts + 1
    wait = None if attempts >= max_attempts() else retry_delay(attempts)
    OutboxMessage.objects.filter(pk=message.pk).update(
        attempts=attempts, last_error=str(exc)[:2000], next_attempt_at=wait and (now or timezone.now()) + wait)
    if wait is None:
        logger.error("outbox %s failed for good after %s attempts: %s", message.idempotency_key, attempts, exc)
    else:
        logger.warning("outbox %s failed (attempt %s, retried in %s): %s", message.idempotency_key, attempts, wait, exc)


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
    ids = list(OutboxMessage.objects.filter(sent_at__isnull=True, cancelled_at__isnull=True, attempts__lt=max_attempts())
               .filter(Q(attempts=0) | Q(next_attempt_at__lte=now))
               .order_by("attempts", "id").values_list("pk", flat=True)[:limit])
    return sum(outbox_deliver_many(batch, now=now) for batch in _batches(ids))


def outbox_state(message: OutboxMessage) -> OutboxState:
    """Where `message` stands for staff: sent, cancelled, waiting for its first or next attempt, or given up."""
    if message.sent_at is not None:
        return OutboxState.SENT
    if message.cancelled_at is not None:
        return OutboxState.CANCELLED
    if message.attempts == 0:
        return OutboxState.PENDING
    if message.next_attempt_at is None or message.attempts >= max_attempts():
        return OutboxState.FAILED
    return OutboxState.RETRYING


def outbox_state_filter(state: str) -> Q:
    """The messages in `state` (an `OutboxState` value), as `outbox_state` tells it."""
    unsent = Q(sent_at__isnull=True, cancelled_at__isnull=True)
    given_up = Q(next_attempt_at__isnull=True) | Q(attempts__gte=max_attempts())
    return {
        OutboxState.SENT: Q(sent_at__isnull=False),
        OutboxState.CANCELLED: Q(sent_at__isnull=True, cancelled_at__isnull=False),
        OutboxState.PENDING: unsent & Q(attempts=0),
        OutboxState.FAILED: unsent & Q(attempts__gt=0) & given_up,
        OutboxState.RETRYING: unsent & Q(attempts__gt=0) & ~given_up,
    }[OutboxState(state)]


def case_messages(reference: str, task_ids: Iterable[int], keys: Iterable[str] = ()) -> Q:
    """The outbox messages of a case by their keys: a process step's and a request for documents'
    ("<reference>:…"), the reminders and escalations of its tasks ("remind:<task>",
    "escalate:<task>", and "remind:<task>:<user>" for a later holder's), and the further `keys`
    the caller knows."""
    task_ids = list(task_ids)
    tasks = [f"{kind}:{pk}" for pk in task_ids for kind in ("remind", "escalate")]
    found = Q(idempotency_key__startswith=f"{reference}:") | Q(idempotency_key__in=[*tasks, *keys])
    for pk in task_ids:
        found |= Q(idempotency_key__startswith=f"remind:{pk}:")
    return found


def outbox_cancel_for_case(*, application, letters_stand: bool, instance_id: int | None,
                           now: datetime) -> list[OutboxMessage]:
    """Cancel the e-mails about case `application` that have not gone out, but its receipt; returns them.

    For a case that staff have just given a final status by hand (`services.case_decide_by_hand`):
    what was written before the decision no longer holds and must reach no one, neither after the
    decision's e-mail (the mail server was down and a retry is due) nor before it (the retry came
    first). The rule, message by message:

    * E-mails to the citizen about the case, whoever queued them, are cancelled: the process's (a
      decision notice of an approval it reached by itself, a payment request, the e-mail of a
      set_status step) and staff's (the e-mail about an earlier status set by hand, a request for
      documents, which the final status withdraws anyway). Each tells of a state of the case that
      the final status has replaced; she would read it after the decision as its contradiction.
      One that agrees with the new status is held back too: whether a status confirms what was
      written or overrules it cannot be told of the e-mail ("closed" also ends a case for want of
      payment), the e-mail about the new status carries staff's own text, and the timeline tells
      them how many were held back.
    * But an e-mail about a decision letter (`OutboxMessage.letter`) shares the letter's fate. With
      `letters_stand` (staff confirm the approval, `cases.services.LETTER_STANDS`) it goes: the
      letter stays provided for retrieval and its ten days run, and this e-mail (the model's tax
      notice, our announcement of a letter staff added) is how she learns of it; held back, she
      would not know, and the letter would go to post unread. Otherwise the letter is withdrawn
      (`cases.services.decision_notices_withdraw`) and its e-mail is held back with the others.
    * The receipt never is: that the application arrived stays true, and it carries the link to the
      status page, where she reads the decision.
    * Reminders and escalations to staff about the case's tasks are cancelled too: a decided case
      has no open task (the process's were cancelled with it, or it had ended), and a reminder would
      send someone to work that is no longer there.
    * Calls to back-office systems (`notify_backoffice`) still go, retried as usual: they carry no
      decision, only the reference and an event, and the back-office system keeps its own record of
      the case, which needs every event (the decision by hand reaches it as the status_changed
      event); a dropped call would leave a hole in it that no one notices. Webhooks to subscribers
      are not in this outbox.
    * The e-mail about the new status itself is queued after this call, so it goes.

    A case's messages are told by their keys, as the anonymisation tells them: a process step's and
    a document request's start with "<reference>:", a status e-mail's is "status:<status change>",
    a reminder's "remind:<task>" or "escalate:<task>"; by the process instance they name (since
    0009; also a later step whose key might say nothing of the case); and by the case's letter they
    name (the announcement of a letter staff added, "decision-notice:<document>", names neither
    case nor process). So a submission and a process's move write nothing more for it: the ids are
    read here, and the outbox is searched by its indexes only (key, LIKE prefix, instance, letter).

    `instance_id`: the case's running process, which the caller holds locked; when there is none
    (or it has completed) its id, if any, is read here.

    Call it in the transaction that sets the status: cancelled with it or not at all. A message a
    worker is sending right now is waited for (its row is locked while it is sent): it went out and
    is not cancelled, so what is returned is exactly what was held back.
    """
    from rathaus.applications.services import receipt_message_key

    # The ids first, as values: an IN (subquery) under OR would have the database read the whole outbox.
    about_the_case = case_messages(
        application.reference, UserTask.objects.filter(application_id=application.pk).values_list("pk", flat=True),
        [f"status:{pk}" for pk in StatusChange.objects.filter(application_id=application.pk).values_list("pk", flat=True)])
    if instance_id is None:
        instance_id = ProcessInstance.objects.filter(application_id=application.pk).values_list("pk", flat=True).first()
    if instance_id is not None:  # a case has one process at most
        about_the_case |= Q(instance_id=instance_id)
    if not letters_stand:
        # The e-mails about its letters go with them (read only then: when the letters stand, they stay).
        letters = list(Document.objects.filter(application_id=application.pk, document_type=DocumentType.DECISION)
                       .values_list("pk", flat=True))
        if letters:
            about_the_case |= Q(letter_id__in=letters)
    which = Q(about_the_case, municipality_id=application.municipality_id) & ~Q(
        idempotency_key=receipt_message_key(application.pk))
    if letters_stand:
        # Every letter of the case stands then: none is withdrawn, and an e-mail of a letter withdrawn
        # by an earlier status was cancelled with it (it is queued when its letter is written).
        which &= Q(letter__isnull=True)
    return outbox_cancel(which, reason=OutboxCancelReason.FINAL_STATUS, now=now)


def outbox_cancel(which: Q, *, reason: str, now: datetime | None = None) -> list[OutboxMessage]:
    """Cancel the unsent e-mails `which` selects, in the caller's transaction; returns them.

    Locked first: a delivery holds its rows while it sends, so one going out right now is waited
    for and then, sent, not cancelled (the lock re-reads each row).
    """
    now = now or timezone.now()
    messages = list(OutboxMessage.objects.select_for_update().filter(
        which, kind=OutboxKind.EMAIL, sent_at__isnull=True, cancelled_at__isnull=True).order_by("pk"))
    if messages:
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
            cancelled_at=now, cancel_reason=reason, next_attempt_at=None)
        for message in messages:
            message.cancelled_at, message.cancel_reason, message.next_attempt_at = now, reason, None
    return messages
