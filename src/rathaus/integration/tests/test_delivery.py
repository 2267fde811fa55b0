"""Webhook and e-mail delivery against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from rathaus.applications.models import Status
from rathaus.applications.services import application_change_status, application_submit
from rathaus.core.models import AuditEntry
from rathaus.integration.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    DomainEvent,
    EventKind,
    SubscriptionKind,
    SubscriptionSecret,
)
from rathaus.integration.services import (
    SubscriptionInvalid,
    backoff_delay,
    deliveries_fan_out,
    deliveries_run,
    deliveries_sweep,
    delivery_attempt,
    subscription_create,
    subscription_deactivate,
    subscription_deliver_due,
    subscription_rotate_secret,
)
from rathaus.integration.transport import post_json

from .receiver import receiver  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

SECRET = "test-secret-0123456789abcdef"
NEW_SECRET = "new-secret-abcdefghijklmnop"
CORE_EVENTS = [EventKind.APPLICATION_SUBMITTED, EventKind.STATUS_CHANGED, EventKind.DECISION_ISSUED]


def verify(header: str, body: bytes, secret: str, tolerance: int = 300) -> bool:
    """The receiver snippet of docs/integration.md, written out independently of rathaus.integration.signing."""
    pairs = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(value for key, value in pairs if key == "t")
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in pairs if key == "v1")


@pytest.fixture
def webhook(town, receiver):  # noqa: F811
    subscription, _ = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="Fachverfahren",
                                          url=receiver.url, event_kinds=CORE_EVENTS, secret=SECRET)
    return subscription


@pytest.fixture
def submit(town, demo_services, dog_data, django_capture_on_commit_callbacks):
    """Submit a dog registration; the jobs after commit (fan-out and delivery) run at once."""

    def run(data=None):
        with django_capture_on_commit_callbacks(execute=True):
            return application_submit(municipality=town, service=demo_services["hund-anmelden"],
                                      data=data or dog_data).application

    return run


def test_webhook_gets_a_signed_payload_that_verifies_with_the_secret(webhook, submit, receiver, town):  # noqa: F811
    application = submit()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    body = request.body
    assert verify(request.headers["X-Rathaus-Signature"], body, SECRET)
    assert not verify(request.headers["X-Rathaus-Signature"], body, "another-secret-0123456789")
    assert not verify(request.headers["X-Rathaus-Signature"], body + b" ", SECRET)
    payload = json.loads(body)
    event = DomainEvent.objects.get(application=application, kind=EventKind.APPLICATION_SUBMITTED)
    delivery = Delivery.objects.get(event=event, subscription=webhook)
    assert payload == {"id": event.pk, "type": "application.submitted", "occurred_at": event.created_at.isoformat(),
                       "municipality": {"slug": "musterstadt", "name": "Musterstadt", "ags": "09999001"},
                       "reference": application.reference, "data": event.data}
    assert request.headers["Idempotency-Key"] == f"rathaus-delivery-{delivery.pk}"
    assert request.headers["X-Rathaus-Event-Id"] == str(event.pk)
    assert request.headers["X-Rathaus-Event"] == "application.submitted"
    assert request.headers["Content-Type"].startswith("application/json")
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 1
    assert delivery.last_status_code == 200


def test_the_receiver_snippet_in_the_docs_verifies_a_real_delivery(webhook, submit, receiver):  # noqa: F811
    from pathlib import Path

    from django.conf import settings

    docs = (Path(settings.BASE_DIR) / "docs" / "integration.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    check = namespace["rathaus_signature_ok"]
    submit()
    request = receiver.requests[0]
    assert check(request.headers["X-Rathaus-Signature"], request.body, SECRET)
    assert not check(request.headers["X-Rathaus-Signature"], request.body, NEW_SECRET)
    assert not check(request.headers["X-Rathaus-Signature"], request.body.replace(b"musterstadt", b"mallorca"), SECRET)
    assert not check("t=1000000000," + request.headers["X-Rathaus-Signature"].split(",", 1)[1], request.body, SECRET)


def test_a_500_is_retried_after_the_backoff_and_then_delivered(webhook, submit, receiver):  # noqa: F811
    receiver.statuses = [500]
    before = timezone.now()
    submit()
    delivery = Delivery.objects.get(subscription=webhook)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    # Base 30 s, equal jitter: the first retry is 15 to 30 seconds later.
    assert before + timedelta(seconds=15) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    deliveries_sweep()  # not due yet
    assert len(receiver.requests) == 1
    deliveries_sweep(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 2
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert second.headers["X-Rathaus-Attempt"] == "2"
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "status_code")) == [
        (1, 500), (2, 200)]


def test_backoff_grows_exponentially_is_capped_and_jittered():
    assert backoff_delay(1, base=30, cap=3600, rng=lambda: 0.0) == 15
    assert backoff_delay(1, base=30, cap=3600, rng=lambda: 1.0) == 30
    assert backoff_delay(4, base=30, cap=3600, rng=lambda: 1.0) == 240
    assert backoff_delay(30, base=30, cap=3600, rng=lambda: 1.0) == 3600
    assert backoff_delay(30, base=30, cap=3600, rng=lambda: 0.0) == 1800


def test_after_the_maximum_attempts_the_delivery_fails_and_is_not_sent_again(webhook, submit, receiver, settings):  # noqa: F811
    settings.RATHAUS_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.default_status = 503
    submit()
    delivery = Delivery.objects.get(subscription=webhook)
    while delivery.state == DeliveryState.PENDING:
        deliveries_sweep(now=delivery.next_attempt_at)
        delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts == 3 and delivery.failed_at is not None and delivery.last_status_code == 503
    assert len(receiver.requests) == 3
    deliveries_sweep(now=timezone.now() + timedelta(days=3))
    assert len(receiver.requests) == 3


def test_after_the_maximum_age_the_delivery_fails(webhook, submit, receiver, settings):  # noqa: F811
    settings.RATHAUS_WEBHOOK_MAX_AGE_HOURS = 1
    settings.RATHAUS_WEBHOOK_BACKOFF_BASE_SECONDS = 3 * 3600  # the next try would come after the cut-off
    receiver.default_status = 500
    submit()
    delivery = Delivery.objects.get(subscription=webhook)
    # The last try is made at the cut-off, not after it.
    assert delivery.next_attempt_at <= delivery.cycle_started_at + timedelta(hours=1)
    deliveries_sweep(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 2
    assert len(receiver.requests) == 2


def test_running_the_jobs_again_never_delivers_twice(webhook, submit, receiver, town):  # noqa: F811
    submit()
    delivery = Delivery.objects.get(subscription=webhook)
    assert delivery.state == DeliveryState.DELIVERED
    for _ in range(2):
        deliveries_run(municipality_id=town.pk)
        deliveries_sweep(now=timezone.now() + timedelta(days=1))
        assert delivery_attempt(delivery_id=delivery.pk, now=timezone.now() + timedelta(days=1)) is None
    assert Delivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_a_delivery_whose_worker_died_is_taken_over_when_its_lease_ran_out(webhook, submit, receiver):  # noqa: F811
    receiver.statuses = [500]
    submit()
    delivery = Delivery.objects.get(subscription=webhook)
    # A worker claimed it and died before recording the result.
    claim_time = delivery.next_attempt_at
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING, attempts=2,
                                                   lease_until=claim_time + timedelta(minutes=2))
    deliveries_sweep(now=claim_time + timedelta(minutes=1))
    assert len(receiver.requests) == 1  # still leased
    deliveries_sweep(now=claim_time + timedelta(minutes=3))
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 3
    assert len(receiver.requests) == 2


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_the_same_time_send_a_delivery_once(town, receiver):  # noqa: F811
    subscription, _ = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="FV", url=receiver.url,
                                          secret=SECRET)
    # Written directly (no job): the two workers below are the only ones to send it.
    event = DomainEvent.objects.create(municipality=town, kind=EventKind.STATUS_CHANGED, reference="MUS-1",
                                       data={"status": "approved"})
    assert deliveries_fan_out(municipality_id=town.pk) == 1
    receiver.gate = threading.Event()
    results = {}

    def worker():
        try:
            results["first"] = subscription_deliver_due(subscription_id=subscription.pk)
        finally:
            connection.close()

    first = threading.Thread(target=worker)
    first.start()
    for _ in range(200):
        if receiver.requests:
            break
        time.sleep(0.02)
    assert len(receiver.requests) == 1  # the first worker is sending and waits for the answer
    second = subscription_deliver_due(subscription_id=subscription.pk)
    again = deliveries_sweep()
    receiver.gate.set()
    first.join(10)
    assert results["first"].delivered == 1
    assert second.delivered == 0 and again["delivered"] == 0
    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get(event=event)
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 1


def test_events_of_one_case_arrive_in_order_while_other_cases_go_ahead(
        webhook, submit, receiver, make_staff, town, django_capture_on_commit_callbacks):  # noqa: F811
    receiver.statuses = [500]
    first_case = submit()
    clerk = make_staff(town)
    with django_capture_on_commit_callbacks(execute=True):
        application_change_status(application=first_case, status=Status.IN_REVIEW, actor=clerk)
    # The status change waits behind the failed submission of the same case.
    assert len(receiver.requests) == 1
    second_case = submit()
    assert len(receiver.requests) == 2
    assert json.loads(receiver.requests[1].body)["reference"] == second_case.reference
    retry_at = Delivery.objects.get(event__application=first_case, event__kind=EventKind.APPLICATION_SUBMITTED).next_attempt_at
    deliveries_sweep(now=retry_at)
    sent = [(json.loads(r.body)["reference"], json.loads(r.body)["type"]) for r in receiver.requests]
    assert sent == [(first_case.reference, "application.submitted"), (second_case.reference, "application.submitted"),
                    (first_case.reference, "application.submitted"), (first_case.reference, "application.status_changed")]
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}


def test_during_the_grace_period_both_secrets_verify_then_only_the_new_one(webhook, submit, receiver):  # noqa: F811
    subscription_rotate_secret(subscription=webhook, secret=NEW_SECRET, grace=timedelta(hours=24))
    submit()
    header = receiver.requests[0].headers["X-Rathaus-Signature"]
    assert header.count("v1=") == 2
    assert verify(header, receiver.requests[0].body, SECRET)
    assert verify(header, receiver.requests[0].body, NEW_SECRET)
    # The grace period is over.
    SubscriptionSecret.objects.filter(subscription=webhook, expires_at__isnull=False).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    submit()
    header = receiver.requests[1].headers["X-Rathaus-Signature"]
    assert header.count("v1=") == 1
    assert verify(header, receiver.requests[1].body, NEW_SECRET)
    assert not verify(header, receiver.requests[1].body, SECRET)


def test_a_generated_secret_signs_too(town, submit, receiver):  # noqa: F811
    _, secret = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="FV", url=receiver.url)
    assert secret.startswith("whsec_") and len(secret) > 40
    submit()
    assert verify(receiver.requests[0].headers["X-Rathaus-Signature"], receiver.requests[0].body, secret)


def test_an_office_subscribed_by_email_gets_an_email(town, submit):
    subscription_create(municipality=town, kind=SubscriptionKind.EMAIL, name="Steueramt",
                        email="steueramt@musterstadt.example", event_kinds=[EventKind.APPLICATION_SUBMITTED])
    application = submit()
    office = [m for m in mail.outbox if m.to == ["steueramt@musterstadt.example"]]
    assert len(office) == 1
    message = office[0]
    assert application.reference in message.subject
    assert "Antrag eingegangen" in message.subject
    assert f"/m/musterstadt/verwaltung/antraege/{application.reference}/" in message.body
    assert "99108002001000" in message.body
    assert "Mustermann" not in message.body  # no personal data of the citizen
    name, content, mimetype = message.attachments[0]
    assert name == "ereignis.json" and json.loads(content)["reference"] == application.reference
    assert message.extra_headers["X-Rathaus-Delivery"] == str(Delivery.objects.get().pk)
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


def test_only_the_chosen_events_are_delivered(town, submit, receiver):  # noqa: F811
    subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="Bescheide", url=receiver.url,
                        event_kinds=[EventKind.DECISION_ISSUED], secret=SECRET)
    submit()
    assert receiver.requests == []
    assert not Delivery.objects.exists()


def test_events_from_before_the_subscription_are_not_delivered(town, submit, receiver):  # noqa: F811
    submit()
    subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="FV", url=receiver.url, secret=SECRET,
                        event_kinds=CORE_EVENTS)
    deliveries_sweep()
    assert receiver.requests == []
    submit()
    assert len(receiver.requests) == 1


def test_a_deactivated_subscription_gets_nothing_more_and_its_open_deliveries_are_cancelled(webhook, submit, receiver):  # noqa: F811
    receiver.statuses = [500]
    submit()
    delivery = Delivery.objects.get()
    subscription_deactivate(subscription=webhook)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.CANCELLED
    assert not SubscriptionSecret.objects.filter(subscription=webhook).exists()
    submit()
    deliveries_sweep(now=timezone.now() + timedelta(days=1))
    assert len(receiver.requests) == 1
    assert Delivery.objects.count() == 1


def test_redirects_are_refused_not_followed(webhook, submit, receiver):  # noqa: F811
    receiver.statuses = [302]
    submit()
    assert len(receiver.requests) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert delivery.last_status_code == 302 and "Weiterleitung abgelehnt" in delivery.last_error


def test_internal_addresses_are_refused_unless_the_operator_allows_them(webhook, submit, receiver, settings):  # noqa: F811
    settings.RATHAUS_WEBHOOK_ALLOW_PRIVATE = False
    submit()
    assert receiver.requests == []  # not one byte of the signed body reached the internal address
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and "internen Netz" in delivery.last_error
    assert "127.0.0.1" in delivery.last_error


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(webhook, submit, receiver, settings):  # noqa: F811
    settings.RATHAUS_WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.delay = 1.5
    started = time.monotonic()
    submit()
    assert time.monotonic() - started < 1.4
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and "Zeitüberschreitung" in delivery.last_error


def test_only_http_and_https_urls_are_accepted(town):
    for url in ("ftp://example.org/x", "file:///etc/passwd", "javascript:alert(1)", "https://user:pw@example.org/",
                "example.org/hook", "http://:80/"):
        with pytest.raises(SubscriptionInvalid) as caught:
            subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="FV", url=url, secret=SECRET)
        assert "http" in caught.value.errors["url"]
    assert not post_json("file:///etc/passwd", b"{}", {}, timeout=1).ok


@pytest.mark.django_db(transaction=True)
def test_with_the_database_queue_one_fan_out_job_per_transaction_and_subscribed_town(town, other_town):
    from django.db import transaction
    from django.test import override_settings
    from django_tasks_db.models import DBTaskResult

    from rathaus.integration.services import event_emit

    def jobs():
        return sorted(r["args"][0] for r in DBTaskResult.objects.filter(
            task_path="rathaus.integration.tasks.fan_out_events").values_list("args_kwargs", flat=True))

    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        with transaction.atomic():
            event_emit(municipality=town, kind=EventKind.STATUS_CHANGED)
        assert jobs() == []  # nobody subscribed: no job to run
        for municipality in (town, other_town):
            subscription_create(municipality=municipality, kind=SubscriptionKind.EMAIL, name="Amt",
                                email=f"amt@{municipality.slug}.example")
        with transaction.atomic():
            for kind in CORE_EVENTS:
                event_emit(municipality=town, kind=kind)
            event_emit(municipality=other_town, kind=EventKind.STATUS_CHANGED)
        assert jobs() == sorted([town.pk, other_town.pk])
        DBTaskResult.objects.all().delete()
        with transaction.atomic():
            try:
                with transaction.atomic():
                    event_emit(municipality=town, kind=EventKind.STATUS_CHANGED)
                    raise RuntimeError
            except RuntimeError:
                pass
            assert jobs() == []  # rolled back with its savepoint
            event_emit(municipality=town, kind=EventKind.DECISION_ISSUED)
        assert jobs() == [town.pk]
    assert DomainEvent.objects.filter(municipality=town).count() == 5


def test_an_event_that_commits_after_a_later_one_is_still_fanned_out(town, other_town):
    from rathaus.integration.models import Subscription

    subscription, _ = subscription_create(municipality=town, kind=SubscriptionKind.EMAIL, name="Amt",
                                          email="amt@musterstadt.example")
    early = DomainEvent.objects.create(municipality=town, kind=EventKind.STATUS_CHANGED, reference="MUS-1")
    late = DomainEvent.objects.create(municipality=town, kind=EventKind.STATUS_CHANGED, reference="MUS-2")
    # `early` got the smaller id but its transaction has not committed yet: others cannot see it.
    DomainEvent.objects.filter(pk=early.pk).update(municipality=other_town)
    assert deliveries_fan_out(municipality_id=town.pk) == 1
    DomainEvent.objects.filter(pk=early.pk).update(municipality=town)  # now it commits
    assert deliveries_fan_out(municipality_id=town.pk) == 1
    assert set(Delivery.objects.values_list("event_id", flat=True)) == {early.pk, late.pk}
    assert deliveries_fan_out(municipality_id=town.pk) == 0
    # Settled events leave the scan: the floor moves past them once they are old enough.
    later = timezone.now() + timedelta(minutes=20)
    deliveries_fan_out(municipality_id=town.pk, now=later)
    assert Subscription.objects.get(pk=subscription.pk).fanout_floor == late.pk


def test_the_delivery_log_is_pruned_after_its_period_but_pending_deliveries_stay(webhook, submit, receiver, settings):  # noqa: F811
    from rathaus.integration.services import deliveries_prune

    settings.RATHAUS_DELIVERY_LOG_DAYS = 30
    submit()
    delivered = Delivery.objects.get()
    assert delivered.state == DeliveryState.DELIVERED and delivered.attempt_log.count() == 1
    receiver.statuses = [500] * 5
    submit()
    pending = Delivery.objects.exclude(pk=delivered.pk).get()
    assert pending.state == DeliveryState.PENDING

    assert deliveries_prune(now=timezone.now() + timedelta(days=29)) == {"deliveries": 0, "attempts": 0, "events": 0}
    later = timezone.now() + timedelta(days=31)
    events_before = DomainEvent.objects.count()
    result = deliveries_prune(now=later)
    assert (result["deliveries"], result["attempts"]) == (1, 1)
    assert list(Delivery.objects.values_list("pk", flat=True)) == [pending.pk]  # still to be delivered
    # Only the event a pending delivery still needs is left.
    assert list(DomainEvent.objects.values_list("pk", flat=True)) == [pending.event_id]
    assert result["events"] == events_before - 1
    assert AuditEntry.objects.filter(action="integration.log_pruned").count() == 1


def test_events_of_a_batch_are_stored_at_its_end_in_order_and_not_at_all_if_it_fails(town):
    from django.db import transaction

    from rathaus.integration.services import event_batch, event_emit

    with transaction.atomic():
        with event_batch():
            event_emit(municipality=town, kind=EventKind.DOCUMENT_ADDED)
            with event_batch():  # a nested batch joins the outer one
                event_emit(municipality=town, kind=EventKind.DECISION_ISSUED)
            event_emit(municipality=town, kind=EventKind.STATUS_CHANGED)
            assert not DomainEvent.objects.exists()  # not yet: one insert at the end
        assert list(DomainEvent.objects.order_by("id").values_list("kind", flat=True)) == [
            EventKind.DOCUMENT_ADDED, EventKind.DECISION_ISSUED, EventKind.STATUS_CHANGED]

    def emit_then_fail():
        with transaction.atomic(), event_batch():
            event_emit(municipality=town, kind=EventKind.DOCUMENT_ADDED)
            raise RuntimeError("a later step failed")

    with pytest.raises(RuntimeError):
        emit_then_fail()
    assert DomainEvent.objects.count() == 3
