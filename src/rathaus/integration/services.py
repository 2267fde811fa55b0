"""Writes of the integration layer: domain events into the outbox, subscribers, deliveries.

An event is written in the transaction of the change it reports (`event_emit`). After the commit
a job fans it out: one `Delivery` row per interested subscription (unique per event and
subscription), then sends the due deliveries. A periodic sweep does the same for whatever a job
missed and retries failed attempts once their backoff has passed. Each attempt first claims its
row with a conditional UPDATE (state and lease in the WHERE clause), so two workers never send
the same delivery at once, and a delivered one is never sent again.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, connections, router, transaction
from django.db.models import Exists, F, Max, Min, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from rathaus.accounts.rules import Perm
from rathaus.core.audit import audit_record
from rathaus.core.batching import collected
from rathaus.core.jobs import enqueue_on_commit
from rathaus.core.sql import insert_many, insert_one, prepared_cursor

from . import fitconnect, selectors
from .auth import grantable_permissions, token_display_prefix, token_generate, token_hash
from .models import (
    ApiToken,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    DomainEvent,
    EventKind,
    Subscription,
    SubscriptionKind,
    SubscriptionSecret,
)
from .signing import SIGNATURE_HEADER, secret_generate, signature_header
from .transport import Outcome, http_url_ok, post_json, send_email

logger = logging.getLogger(__name__)

#: Events younger than this may still belong to an open transaction (ids are handed out before
#: the commit), so the fan-out keeps looking at them; older ones are settled and leave the scan.
SETTLE = timedelta(minutes=15)
FAN_OUT_BATCH = 500
DELIVER_BATCH = 100
#: A run gives up on a subscription after this many failures in a row (a receiver that is down
#: would otherwise hold the worker for a timeout per pending event); the sweep comes back.
MAX_FAILURES_PER_RUN = 3
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 200


# ---------------------------------------------------------------------------------------- events

def application_event_data(application, **extra: Any) -> dict[str, Any]:
    """What every event about an application says: reference, service (slug, LeiKa key), status.

    Never the form data or the citizen's files: subscribers fetch what they may see through the API.
    """
    service = application.service
    return {"reference": application.reference,
            "service": {"slug": service.slug, "leika_key": service.leika_key, "name": service.name},
            "status": str(application.status), **extra}


_batch: contextvars.ContextVar[list[DomainEvent] | None] = contextvars.ContextVar("rathaus_event_batch", default=None)
_job_fans_out: contextvars.ContextVar[int | None] = contextvars.ContextVar("rathaus_job_fans_out", default=None)


def event_emit(*, municipality, kind: str, application=None, data: dict[str, Any] | None = None,
               fan_out: bool = True) -> DomainEvent:
    """Record a domain event; call inside the transaction of the change it reports.

    Raises when called outside a transaction: an event committed without its change (or the change
    without its event) is exactly what the outbox exists to prevent. The fan-out job is queued so
    that it runs if, and only if, the transaction commits; `fan_out=False` says the caller's own
    job fans out (see :func:`fan_out_by_caller`), as does a job that runs the fan-out of the
    municipality itself when it ends (see :func:`job_fans_out`). Inside :func:`event_batch` the
    event is returned unsaved and inserted at the end of the batch.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change")
    event = DomainEvent(municipality=municipality, kind=kind, application=application,
                        reference=getattr(application, "reference", "") or "", data=data or {})
    pending = _batch.get()
    if pending is not None:
        pending.append(event)
    else:
        insert_one(event)
    if fan_out and _job_fans_out.get() != municipality.pk:
        _enqueue_fan_out(municipality.pk)
    else:
        fan_out_by_caller(municipality.pk)
    return event


def event_batch() -> contextlib.AbstractContextManager[None]:
    """Collect the events emitted inside the block and insert them at its end, in order, in one statement.

    Use it inside the transaction, around everything that emits (a process step sequence emits
    several). Nested batches join the outer one. If the block raises, nothing is inserted.
    """
    return collected(_batch, insert_many)


@contextlib.contextmanager
def job_fans_out(municipality_id: int) -> Iterator[None]:
    """Inside the block, events of the municipality queue no fan-out job of their own: the calling
    job runs the municipality's fan-out when it ends (after their transactions committed)."""
    token = _job_fans_out.set(municipality_id)
    try:
        yield
    finally:
        _job_fans_out.reset(token)


def fan_out_by_caller(municipality_id: int) -> None:
    """Say that a job of the caller's, queued in this transaction, runs the municipality's fan-out.

    Later events of the transaction then neither look up subscribers nor queue a job of their own.
    """
    def handled() -> None:
        pass

    handled.fan_out_for = municipality_id  # type: ignore[attr-defined]
    transaction.on_commit(handled)


def deliveries_run_if_subscribed(*, municipality_id: int) -> dict[str, int] | None:
    """The fan-out of a job that took it over (`fan_out_by_caller`): nothing to do without subscribers."""
    if not _subscribed(municipality_id):
        return None
    return deliveries_run(municipality_id=municipality_id)


def _enqueue_fan_out(municipality_id: int) -> None:
    """Queue the fan-out job so that it runs if, and only if, the current transaction commits.

    The database queue writes its job row inside the transaction (see core/jobs.py), once per
    transaction and municipality: a process step that emits three events costs one look-up and
    at most one job row. A no-op on-commit callback marks the municipality as handled; Django
    drops it with a rolled-back savepoint, together with the job row.

    Most municipalities have no subscriber: one indexed look-up is cheaper than a job row and
    a worker run. A subscriber added meanwhile receives only later events anyway.
    """
    from .tasks import fan_out_events

    pending = transaction.get_connection().run_on_commit
    if any(getattr(func, "fan_out_for", None) == municipality_id for _, func, _ in pending):
        return
    if _subscribed(municipality_id):
        enqueue_on_commit(fan_out_events, municipality_id)
    fan_out_by_caller(municipality_id)


@functools.lru_cache(maxsize=8)
def _subscribed_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    return (f"SELECT 1 FROM {quote(Subscription._meta.db_table)} WHERE {quote('municipality_id')} = %s "  # noqa: S608 - names from the model
            f"AND {quote('active')} = %s LIMIT 1")


def _subscribed(municipality_id: int) -> bool:
    """Whether the municipality has an active subscriber (one prepared statement: asked after every submission)."""
    connection = connections[router.db_for_read(Subscription)]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_subscribed_sql(connection.alias), [municipality_id, True])
        return cursor.fetchone() is not None


# ----------------------------------------------------------------------------------- subscriptions

class SubscriptionInvalid(Exception):
    """Bad input for a subscription; `errors` maps field names to German messages. Nothing was stored."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotAllowed(Exception):
    """The action does not fit the object's state (e.g. resending a delivered event)."""


def _setting(name: str, default):
    return getattr(settings, name, default)


def _check_secret(secret: str) -> str | None:
    if len(secret) < MIN_SECRET_LENGTH:
        return _("Das Secret muss mindestens %(n)d Zeichen lang sein.") % {"n": MIN_SECRET_LENGTH}
    if len(secret) > MAX_SECRET_LENGTH:
        return _("Das Secret darf höchstens %(n)d Zeichen lang sein.") % {"n": MAX_SECRET_LENGTH}
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        return _("Das Secret darf nur sichtbare ASCII-Zeichen ohne Leerzeichen enthalten.")
    return None


def subscription_validate(*, kind: str, name: str, url: str = "", email: str = "", event_kinds: list[str] | None = None,
                          secret: str | None = None) -> dict[str, str]:
    """The German error message per field for this input (empty: valid)."""
    errors: dict[str, str] = {}
    if kind not in SubscriptionKind.values:
        errors["kind"] = _("Bitte wählen Sie Webhook oder E-Mail.")
    if not name.strip():
        errors["name"] = _("Bitte geben Sie eine Bezeichnung ein, z. B. den Namen des Fachverfahrens.")
    elif len(name.strip()) > 100:
        errors["name"] = _("Die Bezeichnung darf höchstens 100 Zeichen lang sein.")
    if kind == SubscriptionKind.WEBHOOK:
        if not url.strip():
            errors["url"] = _("Bitte geben Sie die Adresse ein, an die Rathaus die Ereignisse sendet.")
        elif len(url.strip()) > 500 or not http_url_ok(url.strip()):
            errors["url"] = _("Bitte geben Sie eine vollständige http- oder https-Adresse ohne Zugangsdaten ein, "
                              "z. B. https://fachverfahren.example.de/rathaus.")
        if secret:
            problem = _check_secret(secret)
            if problem:
                errors["secret"] = problem
    elif kind == SubscriptionKind.EMAIL:
        try:
            validate_email(email.strip())
        except ValidationError:
            errors["email"] = _("Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. gewerbeamt@musterstadt.de.")
    unknown = sorted(set(event_kinds or []) - set(EventKind.values))
    if unknown:
        errors["event_kinds"] = _("Unbekannte Ereignisse: %(k)s. Möglich sind: %(all)s.") % {
            "k": ", ".join(unknown), "all": ", ".join(EventKind.values)}
    elif event_kinds is not None and not event_kinds:
        errors["event_kinds"] = _("Bitte wählen Sie mindestens ein Ereignis.")
    return errors


def subscription_create(*, municipality, kind: str, name: str, url: str = "", email: str = "",
                        event_kinds: list[str] | None = None, secret: str | None = None, actor=None,
                        ip: str | None = None) -> tuple[Subscription, str | None]:
    """Add a subscriber; returns it and, for a webhook, its signing secret (to be shown once).

    `event_kinds` None means every event; an empty list is refused. Raises SubscriptionInvalid.
    """
    errors = subscription_validate(kind=kind, name=name, url=url, email=email, event_kinds=event_kinds, secret=secret)
    if errors:
        raise SubscriptionInvalid(errors)
    now = timezone.now()
    kinds = [k for k in EventKind.values if k in (event_kinds or [])] if event_kinds else []
    with transaction.atomic():
        subscription = Subscription.objects.create(
            municipality=municipality, kind=kind, name=name.strip(), url=url.strip() if kind == SubscriptionKind.WEBHOOK else "",
            email=email.strip() if kind == SubscriptionKind.EMAIL else "", event_kinds=kinds,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            fanout_floor=_settled_max_id(municipality.pk, now))
        plain = None
        if kind == SubscriptionKind.WEBHOOK:
            plain = secret or secret_generate()
            SubscriptionSecret.objects.create(municipality=municipality, subscription=subscription, secret=plain,
                                              created_at=now)
        audit_record(action="integration.subscription_created", municipality=municipality, actor=actor,
                     obj=subscription, summary=f"{subscription.name}: {kind}",
                     data={"kind": kind, "target": subscription.shown_target,
                           "events": kinds or "all", "secret_given": bool(secret)},
                     ip_address=ip)
    return subscription, plain


def subscription_rotate_secret(*, subscription: Subscription, actor=None, secret: str | None = None,
                               grace: timedelta | None = None, ip: str | None = None,
                               now: datetime | None = None) -> str:
    """Add a new signing secret; the current ones stay valid for `grace` (default from the settings).

    Returns the new secret (shown once). During the grace period every delivery carries one
    signature per valid secret.
    """
    if subscription.kind != SubscriptionKind.WEBHOOK or not subscription.active:
        raise NotAllowed("only active webhooks have secrets")
    if secret:
        problem = _check_secret(secret)
        if problem:
            raise SubscriptionInvalid({"secret": problem})
    now = now or timezone.now()
    grace = grace if grace is not None else timedelta(hours=_setting("RATHAUS_WEBHOOK_SECRET_GRACE_HOURS", 24.0))
    ends = now + grace
    plain = secret or secret_generate()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        # An earlier grace period that ends sooner is kept; nothing is extended by a rotation.
        SubscriptionSecret.objects.filter(subscription=locked).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=ends)).update(expires_at=ends)
        SubscriptionSecret.objects.filter(subscription=locked, expires_at__lte=now).delete()
        SubscriptionSecret.objects.create(municipality=locked.municipality, subscription=locked, secret=plain,
                                          created_at=now)
        audit_record(action="integration.secret_rotated", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"{locked.name}: neues Secret, altes gültig bis {timezone.localtime(ends):%d.%m.%Y %H:%M}",
                     data={"grace_hours": round(grace.total_seconds() / 3600, 2), "secret_given": bool(secret)},
                     ip_address=ip)
    return plain


def subscription_deactivate(*, subscription: Subscription, actor=None, ip: str | None = None) -> Subscription:
    """Stop a subscriber for good: open deliveries are cancelled, its secrets deleted, the log stays."""
    now = timezone.now()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if not locked.active:
            return locked
        locked.active, locked.deactivated_at = False, now
        locked.save(update_fields=["active", "deactivated_at"])
        cancelled = Delivery.objects.filter(subscription=locked, state__in=(DeliveryState.PENDING, DeliveryState.SENDING)
                                            ).update(state=DeliveryState.CANCELLED, next_attempt_at=None, lease_until=None,
                                                     last_error="Abonnement deaktiviert", updated_at=now)
        SubscriptionSecret.objects.filter(subscription=locked).delete()
        audit_record(action="integration.subscription_deactivated", municipality=locked.municipality, actor=actor,
                     obj=locked, summary=f"{locked.name}: deaktiviert ({cancelled} offene Zustellungen abgebrochen)",
                     data={"cancelled": cancelled}, ip_address=ip)
    subscription.active, subscription.deactivated_at = locked.active, locked.deactivated_at
    return locked


def delivery_resend(*, delivery: Delivery, actor, ip: str | None = None) -> Delivery:
    """Try a failed delivery again, with a fresh retry budget (attempts and age count from now)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
        if locked.state != DeliveryState.FAILED or not locked.subscription.active:
            raise NotAllowed("only failed deliveries of active subscriptions can be resent")
        locked.state, locked.attempts, locked.cycle_started_at = DeliveryState.PENDING, 0, now
        locked.next_attempt_at, locked.failed_at, locked.lease_until = now, None, None
        locked.save(update_fields=["state", "attempts", "cycle_started_at", "next_attempt_at", "failed_at", "lease_until",
                                   "updated_at"])
        from .tasks import deliver_subscription

        enqueue_on_commit(deliver_subscription, locked.subscription_id)
        audit_record(action="integration.delivery_resent", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"Zustellung {locked.pk} ({locked.subscription.name}) erneut gesendet",
                     data={"event": locked.event_id, "subscription": locked.subscription_id}, ip_address=ip)
    return locked


# ------------------------------------------------------------------------------------------ fan-out

def _settled_max_id(municipality_id: int, now: datetime, upper: int | None = None, floor: int = 0) -> int:
    qs = DomainEvent.objects.filter(municipality_id=municipality_id, created_at__lt=now - SETTLE, id__gt=floor)
    if upper is not None:
        qs = qs.filter(id__lte=upper)
    return qs.aggregate(m=Max("id"))["m"] or 0


def _fan_out_subscription(subscription_id: int, now: datetime) -> int:
    with transaction.atomic():
        qs = Subscription.objects.filter(pk=subscription_id, active=True)
        if connection.features.has_select_for_update_skip_locked:
            # Another worker is fanning out this subscription right now: it will find the same events.
            qs = qs.select_for_update(skip_locked=True)
        subscription = qs.first()
        if subscription is None:
            return 0
        events = DomainEvent.objects.filter(municipality_id=subscription.municipality_id, id__gt=subscription.fanout_floor,
                                            created_at__gte=subscription.created_at)
        if subscription.event_kinds:
            events = events.filter(kind__in=subscription.event_kinds)
        events = events.filter(~Exists(Delivery.objects.filter(event=OuterRef("pk"), subscription=subscription)))
        batch = list(events.order_by("id").values_list("id", "application_id")[:FAN_OUT_BATCH])
        Delivery.objects.bulk_create([
            Delivery(municipality_id=subscription.municipality_id, event_id=event_id, subscription=subscription,
                     application_id=application_id, next_attempt_at=now, cycle_started_at=now)
            for event_id, application_id in batch], ignore_conflicts=True)
        # Move the floor over settled events only: an event with a smaller id may still commit
        # later, and must not fall below the floor unseen (see SETTLE).
        floor = _settled_max_id(subscription.municipality_id, now, floor=subscription.fanout_floor,
                                upper=batch[-1][0] if len(batch) == FAN_OUT_BATCH else None)
        if floor > subscription.fanout_floor:
            Subscription.objects.filter(pk=subscription.pk, fanout_floor__lt=floor).update(fanout_floor=floor)
    return len(batch)


def deliveries_fan_out(*, municipality_id: int | None = None, now: datetime | None = None) -> int:
    """Create the missing deliveries of the active subscriptions (of one municipality, or all)."""
    now = now or timezone.now()
    qs = Subscription.objects.filter(active=True)
    if municipality_id is not None:
        qs = qs.filter(municipality_id=municipality_id)
    return sum(_fan_out_subscription(pk, now) for pk in qs.values_list("pk", flat=True))


# ----------------------------------------------------------------------------------------- delivery

def _claimable(now: datetime) -> Q:
    # Due and pending, or claimed by a worker whose lease ran out (it died while sending).
    return Q(state=DeliveryState.PENDING, next_attempt_at__lte=now) | Q(state=DeliveryState.SENDING, lease_until__lt=now)


def backoff_delay(attempt: int, *, base: float, cap: float, rng=random.random) -> float:
    """Seconds before the next try after `attempt` failed ones: exponential, capped, with jitter.

    "Equal jitter": half the exponential delay is fixed, half random, so many deliveries that
    failed together (a receiver was down) do not all come back in the same second.
    """
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return delay / 2 + rng() * delay / 2


def event_payload(event: DomainEvent, municipality) -> dict[str, Any]:
    """The JSON body every subscriber gets for an event (docs/integration.md, "Payload")."""
    return {"id": event.pk, "type": event.kind, "occurred_at": event.created_at.isoformat(),
            "municipality": {"slug": municipality.slug, "name": municipality.name, "ags": municipality.ags},
            "reference": event.reference or None, "data": event.data}


def _email_text(event: DomainEvent, municipality) -> tuple[str, str]:
    with translation.override("de"):
        label = str(EventKind(event.kind).label) if event.kind in EventKind.values else event.kind
        data = event.data or {}
        service = data.get("service") or {}
        lines = [f"{label} ({event.kind})", "",
                 f"Vorgangsnummer: {event.reference or '–'}",
                 f"Leistung: {service.get('name') or service.get('slug') or '–'}"
                 + (f" (LeiKa {service['leika_key']})" if service.get("leika_key") else ""),
                 f"Status: {data.get('status') or '–'}",
                 f"Zeitpunkt: {timezone.localtime(event.created_at):%d.%m.%Y, %H:%M} Uhr"]
        decision = data.get("decision") or {}
        if decision:
            lines.append(f"Bescheid: {decision.get('title') or '–'}, Ergebnis: {decision.get('outcome') or '–'}"
                         + (f", Gebühr: {decision['fee']} €" if decision.get("fee") not in (None, "") else ""))
        if event.reference:
            path = reverse("applications:staff_detail", kwargs={"municipality": municipality.slug,
                                                                 "reference": event.reference})
            lines += ["", f"Zum Vorgang (Anmeldung erforderlich): {settings.SITE_URL.rstrip('/')}{path}"]
        lines += ["", "Die Daten stehen maschinenlesbar im Anhang ereignis.json.",
                  f"Diese Nachricht hat das digitale Rathaus {municipality.name} automatisch gesendet."]
        subject = f"[{municipality.name}] {label}: {event.reference or event.pk}"
    return subject, "\n".join(lines)


def _send(delivery: Delivery, number: int) -> Outcome:
    subscription, event = delivery.subscription, delivery.event
    municipality = subscription.municipality
    body = json.dumps(event_payload(event, municipality), ensure_ascii=False, separators=(",", ":"),
                      default=str).encode()
    ids = {"X-Rathaus-Event": event.kind, "X-Rathaus-Event-Id": str(event.pk), "X-Rathaus-Delivery": str(delivery.pk),
           "X-Rathaus-Attempt": str(number), "Idempotency-Key": f"rathaus-delivery-{delivery.pk}"}
    if subscription.kind == SubscriptionKind.EMAIL:
        subject, text = _email_text(event, municipality)
        return send_email(to=subscription.email, subject=subject, body=text,
                          headers={**ids, "Message-ID": f"<delivery-{delivery.pk}.event-{event.pk}@rathaus.integration>"},
                          attachment=("ereignis.json", body, "application/json"))
    secrets_ = selectors.secrets_valid(subscription=subscription, now=timezone.now())
    if not secrets_:
        return Outcome(False, error="Kein gültiges Secret zum Signieren.")
    timestamp = int(timezone.now().timestamp())
    headers = {**ids, SIGNATURE_HEADER: signature_header(secrets_, body, timestamp), "User-Agent": "Rathaus-Webhooks/1"}
    return post_json(subscription.url, body, headers, timeout=float(_setting("RATHAUS_WEBHOOK_TIMEOUT_SECONDS", 10.0)))


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> bool | None:
    """Claim one due delivery and send it. True: delivered; False: failed attempt; None: not ours to send.

    The claim is one conditional UPDATE (state, due time and lease in its WHERE clause): of two
    workers only one matches, and a delivered row never matches again. The sending happens
    outside any transaction; if the worker dies meanwhile, the lease runs out and another worker
    sends again (the receiver recognises it by the Idempotency-Key).
    """
    now = now or timezone.now()
    timeout = float(_setting("RATHAUS_WEBHOOK_TIMEOUT_SECONDS", 10.0))
    lease_until = now + timedelta(seconds=3 * timeout + 60)
    claimed = Delivery.objects.filter(_claimable(now), pk=delivery_id).update(
        state=DeliveryState.SENDING, lease_until=lease_until, attempts=F("attempts") + 1, updated_at=now)
    if not claimed:
        return None
    delivery = (Delivery.objects.select_related("event", "subscription__municipality").get(pk=delivery_id))
    number = delivery.attempts
    if not delivery.subscription.active:
        Delivery.objects.filter(pk=delivery_id, state=DeliveryState.SENDING, attempts=number).update(
            state=DeliveryState.CANCELLED, lease_until=None, next_attempt_at=None, last_error="Abonnement deaktiviert")
        return None
    started = timezone.now()
    outcome = _send(delivery, number)
    _record(delivery, number, outcome, started=started, now=now)
    return outcome.ok


def _record(delivery: Delivery, number: int, outcome: Outcome, *, started: datetime, now: datetime) -> None:
    # `now` is the run's clock (tests move it); the attempt took real time on top of it.
    finished = now + max(timezone.now() - started, timedelta(0))
    update: dict[str, Any] = {"lease_until": None, "last_status_code": outcome.status_code,
                              "last_error": outcome.error, "updated_at": finished}
    if outcome.ok:
        update.update(state=DeliveryState.DELIVERED, delivered_at=finished, next_attempt_at=None)
    else:
        max_attempts = int(_setting("RATHAUS_WEBHOOK_MAX_ATTEMPTS", 15))
        deadline = delivery.cycle_started_at + timedelta(hours=float(_setting("RATHAUS_WEBHOOK_MAX_AGE_HOURS", 48.0)))
        if number >= max_attempts or finished >= deadline:
            update.update(state=DeliveryState.FAILED, failed_at=finished, next_attempt_at=None)
            logger.warning("delivery %s to subscription %s failed for good after %s attempts: %s",
                           delivery.pk, delivery.subscription_id, number, outcome.error)
        else:
            delay = backoff_delay(number, base=float(_setting("RATHAUS_WEBHOOK_BACKOFF_BASE_SECONDS", 30.0)),
                                  cap=float(_setting("RATHAUS_WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600.0)))
            # The last try falls on the cut-off rather than after it.
            update.update(state=DeliveryState.PENDING, next_attempt_at=min(finished + timedelta(seconds=delay), deadline))
    with transaction.atomic():
        # Only the claim that made this attempt may finish it (a takeover after a lost lease bumped `attempts`).
        done = Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, attempts=number).update(**update)
        DeliveryAttempt.objects.create(municipality_id=delivery.municipality_id, delivery_id=delivery.pk, number=number,
                                       started_at=started, duration_ms=outcome.duration_ms,
                                       status_code=outcome.status_code, error=outcome.error[:500],
                                       response_excerpt=outcome.excerpt[:500])
    if not done:
        logger.warning("delivery %s: attempt %s finished after its lease was taken over", delivery.pk, number)


@dataclass
class RunResult:
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    held_back: list[int] = field(default_factory=list)


def subscription_deliver_due(*, subscription_id: int, now: datetime | None = None, limit: int = DELIVER_BATCH) -> RunResult:
    """Send the subscription's due deliveries in event order.

    Order is kept per case: while an earlier event of the same case is still pending (waiting
    for its retry, or being sent), later events of that case wait too, so a receiver never sees
    "decision issued" before "submitted". Other cases are not held up by one failing case.
    """
    now = now or timezone.now()
    result = RunResult()
    if not Subscription.objects.filter(pk=subscription_id, active=True).exists():
        return result
    due = list(Delivery.objects.filter(_claimable(now), subscription_id=subscription_id)
               .order_by("event_id").values_list("pk", "event_id", "application_id")[:limit])
    cases = {application_id for _, _, application_id in due if application_id}
    # The first event per case that is open but not due now: later events of that case wait behind it.
    blocked: dict[int, int] = dict(
        Delivery.objects.filter(subscription_id=subscription_id, application_id__in=cases)
        .filter(Q(state=DeliveryState.PENDING, next_attempt_at__gt=now) | Q(state=DeliveryState.SENDING, lease_until__gte=now))
        .values("application_id").annotate(first=Min("event_id")).values_list("application_id", "first"))
    failures_in_a_row = 0
    for pk, event_id, application_id in due:
        if application_id and application_id in blocked and blocked[application_id] < event_id:
            result.held_back.append(pk)
            continue
        outcome = delivery_attempt(delivery_id=pk, now=now)
        if outcome:
            result.delivered += 1
            failures_in_a_row = 0
            continue
        if outcome is None:
            result.skipped += 1
        else:
            result.failed += 1
            failures_in_a_row += 1
        if application_id:
            blocked[application_id] = min(blocked.get(application_id, event_id), event_id)
        if failures_in_a_row >= MAX_FAILURES_PER_RUN:
            break
    return result


def deliveries_run(*, municipality_id: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Fan out new events, then send what is due, for one municipality's subscribers (or all)."""
    now = now or timezone.now()
    created = deliveries_fan_out(municipality_id=municipality_id, now=now)
    due = Delivery.objects.filter(_claimable(now), subscription__active=True)
    if municipality_id is not None:
        due = due.filter(municipality_id=municipality_id)
    totals = {"created": created, "delivered": 0, "failed": 0}
    for subscription_id in due.order_by("subscription_id").values_list("subscription_id", flat=True).distinct():
        result = subscription_deliver_due(subscription_id=subscription_id, now=now)
        totals["delivered"] += result.delivered
        totals["failed"] += result.failed
    return totals


def deliveries_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic safety net: events a job missed, retries whose time has come, expired leases."""
    return deliveries_run(now=now)

# ---------------------------------------------------------------------------- staff API tokens

# How long a new token may live, in days: a token never lives for ever.
TOKEN_VALIDITY_DAYS = (30, 90, 180, 365)


class TokenNotAllowed(Exception):
    """The actor may not manage API tokens of this municipality."""


class TokenInvalid(Exception):
    """The input for a new token is incomplete or asks for more than the creator has."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def api_token_create(*, municipality, actor, name: str, permissions: list[str], valid_days: int,
                     ip: str | None = None) -> tuple[ApiToken, str]:
    """Create a staff API token; returns it with its value, which is shown once and never stored.

    A token carries only permissions its creator holds in this municipality (token management
    itself is never delegated) and lives at most a year.
    """
    if not actor.has_perm(Perm.MANAGE_API_TOKENS, municipality):
        raise TokenNotAllowed
    name = (name or "").strip()
    wanted = list(dict.fromkeys(permissions))
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Bitte geben Sie eine Bezeichnung ein, z. B. den Namen des Fachverfahrens.")
    elif len(name) > 100 or not name.isprintable():
        errors["name"] = _("Die Bezeichnung darf höchstens 100 druckbare Zeichen haben.")
    grantable = grantable_permissions()
    if not wanted:
        errors["permissions"] = _("Bitte wählen Sie mindestens eine Berechtigung.")
    elif any(p not in grantable for p in wanted):
        errors["permissions"] = _("Diese Berechtigung gibt es nicht.")
    elif any(not actor.has_perm(p, municipality) for p in wanted):
        errors["permissions"] = _("Sie können nur Berechtigungen weitergeben, die Sie selbst haben.")
    if valid_days not in TOKEN_VALIDITY_DAYS:
        errors["valid_days"] = _("Bitte wählen Sie eine der angebotenen Laufzeiten.")
    if errors:
        raise TokenInvalid(errors)
    raw = token_generate()
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            municipality=municipality, name=name, prefix=token_display_prefix(raw), token_hash=token_hash(raw),
            permissions=wanted, created_by=actor, expires_at=now + timedelta(days=valid_days))
        audit_record(action="integration.token_created", municipality=municipality, actor=actor, obj=token,
                     summary=f"{name} ({token.prefix}…)", ip_address=ip,
                     data={"permissions": wanted, "expires_at": token.expires_at.isoformat()})
    return token, raw


def api_token_revoke(*, token: ApiToken, actor, ip: str | None = None) -> ApiToken:
    """Revoke a token at once; revoking twice changes nothing."""
    if not actor.has_perm(Perm.MANAGE_API_TOKENS, token.municipality):
        raise TokenNotAllowed
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(action="integration.token_revoked", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"{locked.name} ({locked.prefix}…)", ip_address=ip)
    return locked


def api_token_touch(*, token: ApiToken, now) -> None:
    """Note when a token was last used (shown to the administrators; not audited)."""
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


# ------------------------------------------------------------------- FIT-Connect-style export

def submission_export(*, application, actor=None, actor_label: str = "", encrypt_key=None,
                      channel: str = "api") -> dict[str, bytes]:
    """Build the FIT-Connect-style submission of an application (relative path → content) and
    record who exported it.

    Personal data leaves the system here, so every export is in the audit log (who, which
    case, which files, encrypted or not). Raises `fitconnect.ExportRefused` when the
    application cannot be exported (anonymised, or its data no longer fits its form).
    """
    submission = fitconnect.submission_build(application)
    files = fitconnect.submission_files(submission, encrypt_key=encrypt_key)
    with transaction.atomic():
        audit_record(action="integration.submission_exported", municipality=application.municipality, actor=actor,
                     actor_label=actor_label, obj=application, summary=f"{application.reference} (FIT-Connect, {channel})",
                     data={"channel": channel, "encrypted": encrypt_key is not None, "files": sorted(files),
                           "data_sha512": submission.metadata["contentStructure"]["data"]["hash"]["content"]})
    return files


# ------------------------------------------------------- retention of the delivery log

def deliveries_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete finished deliveries (with their attempts) and events older than the delivery log's period.

    Response excerpts in the attempts may hold whatever a receiver answered; the log is kept
    `RATHAUS_DELIVERY_LOG_DAYS` days (default 180) and then goes. Pending deliveries and their
    events stay whatever their age; an event is deleted only once no delivery refers to it.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RATHAUS_DELIVERY_LOG_DAYS)
    finished = Q(state=DeliveryState.DELIVERED, delivered_at__lt=cutoff) | Q(
        state__in=[DeliveryState.FAILED, DeliveryState.CANCELLED], updated_at__lt=cutoff)
    with transaction.atomic():
        deliveries, by_model = Delivery.objects.filter(finished).delete()
        attempts = by_model.get(DeliveryAttempt._meta.label, 0)
        events, _by_model = (DomainEvent.objects.filter(created_at__lt=cutoff)
                             .exclude(Exists(Delivery.objects.filter(event=OuterRef("pk")))).delete())
        result = {"deliveries": by_model.get(Delivery._meta.label, 0), "attempts": attempts, "events": events}
        if deliveries or events:
            audit_record(action="integration.log_pruned", summary=f"Zustellprotokoll älter als {timezone.localtime(cutoff):%d.%m.%Y} gelöscht",
                         data=result, actor_label="retention")
    return result
