"""The jobs that run process steps send the e-mails the steps queued themselves, once each."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from rathaus.applications.services import application_change_status, application_submit
from rathaus.processes.models import OutboxMessage
from rathaus.processes.outbox import message_id, outbox_add, outbox_delivered_here

pytestmark = pytest.mark.django_db(transaction=True)

def _jobs():
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.order_by("enqueued_at"))


def _run(job) -> None:
    """Run a queued job as the worker does."""
    result = job.task_result
    result.task.call(*result.args, **result.kwargs)


def _key(sent: EmailMessage) -> str:
    """The idempotency key of the outbox message an e-mail was sent for (found by its Message-ID)."""
    by_message_id = {message_id(key): key for key in OutboxMessage.objects.values_list("idempotency_key", flat=True)}
    return by_message_id[sent.extra_headers["Message-ID"]]


def _keys() -> list[str]:
    return sorted(_key(sent).split(":")[0] for sent in mail.outbox)


@pytest.fixture
def caseworker(town, make_staff):
    return make_staff(town)


def test_the_submission_job_sends_every_email_of_the_automatic_decision_without_further_jobs(
        db_queue, town, demo_processes, dog_data):
    application = application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data).application
    [job] = _jobs()
    _run(job)
    application.refresh_from_db()
    assert application.status == "approved"
    # The receipt and the decision notice, each sent once by that job; the model's status step
    # (email=nein) adds no third e-mail saying the same as the notice.
    assert _keys() == sorted([application.reference, "receipt"])
    assert [m.to for m in mail.outbox] == [[dog_data["owner"]["email"]]] * 2
    notice = next(m for m in mail.outbox if m.subject.startswith("Ihr Hundesteuerbescheid"))
    assert application.reference in notice.subject and "Die Hundesteuer beträgt 90 € im Jahr, ab dem 01.12.2026." in notice.body
    assert "Bewilligt" not in " ".join(m.subject for m in mail.outbox)
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert [j.task_path for j in _jobs()] == ["rathaus.applications.tasks.application_received"]  # no job per e-mail
    _run(job)  # the job once more (as after a crash): nothing is sent twice
    assert len(mail.outbox) == 2


def test_a_status_change_by_staff_is_sent_by_a_job_of_its_own_exactly_once(db_queue, town, demo_services, dog_data,
                                                                            caseworker):
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    before = {job.pk for job in _jobs()}
    application_change_status(application=application, status="in_review", public_text="Wir prüfen Ihre Angaben.",
                              actor=caseworker)
    [job] = [job for job in _jobs() if job.pk not in before]
    assert job.task_path == "rathaus.processes.tasks.deliver_outbox"
    assert mail.outbox == []  # sent by the worker, not by the staff member's request
    _run(job)
    _run(job)
    [sent] = mail.outbox
    assert sent.subject == f"Neuer Stand zu {application.reference}"
    assert "Wir prüfen Ihre Angaben." in sent.body and _key(sent).startswith("status:")
    assert sent.body.endswith(f"Mit freundlichen Grüßen\n{town.name}")  # a letter's closing, like every other e-mail


def test_a_status_email_is_not_sent_once_the_application_was_anonymised(db_queue, town, demo_services, dog_data,
                                                                         caseworker):
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    before = {job.pk for job in _jobs()}
    application_change_status(application=application, status="in_review", actor=caseworker)
    type(application).objects.filter(pk=application.pk).update(anonymised_at=application.submitted_at)
    [job] = [job for job in _jobs() if job.pk not in before]
    _run(job)
    assert mail.outbox == []
    assert not OutboxMessage.objects.filter(idempotency_key__startswith="status:", sent_at__isnull=True).exists()


def _email(key: str) -> dict:
    return {"subject": key.title(), "body": "Text", "to": ["a@example.org"]}


def test_committed_messages_are_delivered_together_when_the_block_ends_and_only_those(db_queue, town):
    class Abort(Exception):
        pass

    def add_then_fail(key):
        with transaction.atomic():
            outbox_add(municipality=town, key=key, kind="email", payload=_email(key))
            raise Abort

    @outbox_delivered_here()
    def job():
        with transaction.atomic():
            outbox_add(municipality=town, key="first", kind="email", payload=_email("first"))
            with pytest.raises(Abort):
                add_then_fail("undone")  # a savepoint rolled back inside a transaction that commits
            outbox_add(municipality=town, key="second", kind="email", payload=_email("second"))
        outbox_add(municipality=town, key="third", kind="email", payload=_email("third"))  # its own commit
        assert mail.outbox == []  # committed, but sent together when the block ends
        add_then_fail("dropped")  # the job fails after the commits: what they committed still goes out

    with mock.patch("rathaus.processes.outbox.get_connection", wraps=get_connection) as connections, \
            pytest.raises(Abort):
        job()
    assert [m.subject for m in mail.outbox] == ["First", "Second", "Third"]
    assert connections.call_count == 1  # one connection to the mail server for all three
    assert sorted(OutboxMessage.objects.values_list("idempotency_key", flat=True)) == ["first", "second", "third"]
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert OutboxMessage.objects.filter(attempts=1).count() == 3
    assert _jobs() == []


def test_a_mail_server_that_cannot_be_reached_fails_each_email_once_and_the_sweep_sends_them(db_queue, town,
                                                                                          monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    from rathaus.processes.outbox import outbox_deliver_pending

    opened = []

    def refuse(backend):
        opened.append(backend)
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(EmailBackend, "open", refuse)
    with outbox_delivered_here():
        for key in ("one", "two"):
            outbox_add(municipality=town, key=key, kind="email", payload=_email(key))
    assert mail.outbox == [] and len(opened) == 1  # tried once, not once per e-mail
    assert sorted(OutboxMessage.objects.values_list("attempts", "last_error")) == [(1, "mail server down")] * 2
    monkeypatch.undo()
    assert outbox_deliver_pending(now=timezone.now() + timedelta(minutes=2)) == 2
    assert [m.subject for m in mail.outbox] == ["One", "Two"]


def test_a_failed_delivery_is_left_to_the_sweep_and_the_job_goes_on(db_queue, town, monkeypatch):
    from rathaus.processes.outbox import outbox_deliver_pending

    real_send = EmailMessage.send

    def send(message, *args, **kwargs):
        if message.subject == "Broken":
            raise ConnectionRefusedError("mail server down")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send)
    with outbox_delivered_here():
        with transaction.atomic():
            outbox_add(municipality=town, key="broken", kind="email", payload=_email("broken"))
            outbox_add(municipality=town, key="fine", kind="email", payload=_email("fine"))
        after = "reached"
    assert after == "reached" and [m.subject for m in mail.outbox] == ["Fine"]
    broken = OutboxMessage.objects.get(idempotency_key="broken")
    assert broken.sent_at is None and broken.attempts == 1 and "mail server down" in broken.last_error
    monkeypatch.setattr(EmailMessage, "send", real_send)
    assert outbox_deliver_pending() == 0  # its retry is not due yet
    assert outbox_deliver_pending(now=timezone.now() + timedelta(minutes=2)) == 1
    assert [m.subject for m in mail.outbox] == ["Fine", "Broken"]


def test_a_status_email_job_queued_before_the_outbox_sends_once_through_it(db_queue, town, demo_services, dog_data,
                                                                           caseworker):
    from rathaus.applications.tasks import send_status_email

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    application_change_status(application=application, status="in_review", public_text="Wir prüfen.", actor=caseworker)
    change = application.history.last()
    send_status_email.call(change.pk)
    send_status_email.call(change.pk)
    send_status_email.call(change.pk + 1000)  # a status change deleted meanwhile: nothing to send
    [sent] = mail.outbox
    assert "Wir prüfen." in sent.body
    assert sent.extra_headers["Message-ID"] == message_id(f"status:{change.pk}")


def test_inside_a_transaction_the_block_leaves_delivery_to_a_job(db_queue, town):
    with transaction.atomic(), outbox_delivered_here():
        outbox_add(municipality=town, key="later", kind="email",
                   payload={"subject": "Later", "body": "Text", "to": ["a@example.org"]})
    assert mail.outbox == []
    [job] = _jobs()
    assert job.task_path == "rathaus.processes.tasks.deliver_outbox"
    _run(job)
    assert [m.subject for m in mail.outbox] == ["Later"]


def test_an_application_from_before_the_receipt_was_stored_with_it_gets_its_receipt_once(db_queue, town,
                                                                                          demo_processes, dog_data):
    application = application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data).application
    OutboxMessage.objects.filter(idempotency_key__startswith="receipt:").delete()  # as submitted by an older version
    [job] = _jobs()
    _run(job)
    _run(job)
    receipts = [m for m in mail.outbox if m.subject.startswith("Eingangsbestätigung")]
    assert len(receipts) == 1 and application.reference in receipts[0].body
    assert mail.outbox[0] is receipts[0]  # the receipt before the e-mails about the decision
    assert OutboxMessage.objects.filter(idempotency_key=f"receipt:{application.pk}", sent_at__isnull=False).exists()


def test_the_citizens_emails_do_not_wait_for_subscribers_webhooks(db_queue, town, demo_processes, dog_data,
                                                                   monkeypatch):
    from rathaus.integration import services as integration

    seen = []
    monkeypatch.setattr(integration, "deliveries_run_if_subscribed",
                        lambda municipality_id: seen.append(len(mail.outbox)))
    application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data)
    [job] = _jobs()
    _run(job)
    assert seen == [2]  # the receipt and the decision notice were out before the webhooks were called


def test_a_composer_that_breaks_the_transaction_holds_up_no_other_email(db_queue, town):
    from django.db import connection

    from rathaus.processes.outbox import composed, composer, outbox_deliver_many

    @composer("test.broken")
    def broken():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")  # aborts the transaction on PostgreSQL

    ids = [outbox_add(municipality=town, key=key, kind="email", enqueue=False, payload=payload).pk
           for key, payload in [("a", _email("a")), ("broken", composed("test.broken")), ("b", _email("b"))]]
    assert outbox_deliver_many(ids) == 2
    assert [m.subject for m in mail.outbox] == ["A", "B"]
    failed = OutboxMessage.objects.get(idempotency_key="broken")
    assert failed.sent_at is None and failed.attempts == 1 and "no_such_table" in failed.last_error


def test_a_database_failure_after_sending_began_sends_nothing_twice(db_queue, town, monkeypatch):
    from django.db import OperationalError

    from rathaus.processes import outbox
    from rathaus.processes.outbox import outbox_deliver_many, outbox_deliver_pending

    ids = [outbox_add(municipality=town, key=key, kind="email", enqueue=False, payload=_email(key)).pk
           for key in ("sent", "refused")]
    real_send = EmailMessage.send

    def send(message, *args, **kwargs):
        if message.subject == "Refused":
            raise ConnectionRefusedError("mailbox full")
        return real_send(message, *args, **kwargs)

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(EmailMessage, "send", send)
    monkeypatch.setattr(outbox, "_failed", database_gone)
    assert outbox_deliver_many(ids) == 0
    assert [m.subject for m in mail.outbox] == ["Sent"]  # not sent again at once by a one-by-one retry
    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 2  # rolled back: left to the sweep
    monkeypatch.undo()
    assert outbox_deliver_pending(now=timezone.now() + timedelta(minutes=2)) == 2


def test_a_connection_the_server_drops_is_opened_again_for_the_next_email(db_queue, town, monkeypatch):
    import smtplib

    from rathaus.processes.outbox import outbox_deliver_many

    real_send = EmailMessage.send

    def send(message, *args, **kwargs):
        if message.subject == "Second":
            raise smtplib.SMTPServerDisconnected("too many messages on this connection")
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMessage, "send", send)
    ids = [outbox_add(municipality=town, key=key, kind="email", enqueue=False, payload=_email(key)).pk
           for key in ("first", "second", "third")]
    with mock.patch("rathaus.processes.outbox.get_connection", wraps=get_connection) as connections:
        assert outbox_deliver_many(ids) == 2
    assert [m.subject for m in mail.outbox] == ["First", "Third"] and connections.call_count == 2
    assert OutboxMessage.objects.get(idempotency_key="second").attempts == 1


def test_the_sweep_sends_in_batches_each_over_one_connection(db_queue, town):
    from rathaus.processes.outbox import _BATCH, outbox_deliver_pending

    for n in range(_BATCH + 5):
        outbox_add(municipality=town, key=f"m{n}", kind="email", enqueue=False, payload=_email(f"m{n}"))
    with mock.patch("rathaus.processes.outbox.get_connection", wraps=get_connection) as connections:
        assert outbox_deliver_pending() == _BATCH + 5
    assert connections.call_count == 2 and len(mail.outbox) == _BATCH + 5


def test_the_receipt_in_the_submission_job_is_written_from_the_application_the_job_read(town, demo_services, dog_data):
    # The job reads the application once at its start; its receipt e-mail is written from that
    # (nothing the receipt shows changes during the job). The outbox sweep reads it afresh.
    import copy

    from rathaus.applications import tasks

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    in_job = copy.copy(tasks.application_for_job(application.pk))
    in_job.applicant_email = "read-by-the-job@example.org"
    token = tasks._job_application.set(in_job)
    try:
        assert tasks.receipt_email(application.pk).to == ["read-by-the-job@example.org"]
    finally:
        tasks._job_application.reset(token)
    assert tasks.receipt_email(application.pk).to == [dog_data["owner"]["email"]]


def test_the_submission_job_fans_out_the_process_events_itself_in_the_order_they_happened(
        db_queue, town, demo_processes, dog_data):
    # A subscriber gets every event of the automatic decision from the submission's one job: the
    # process's events queue no fan-out job of their own, they are stored in the order they
    # happened, and the job's last step hands all of them to the subscriber.
    from rathaus.integration.models import Delivery, DomainEvent, SubscriptionKind
    from rathaus.integration.services import subscription_create

    subscription, _secret = subscription_create(municipality=town, kind=SubscriptionKind.EMAIL, name="Steueramt",
                                                email="steuer@musterstadt.example")
    application = application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data).application
    [job] = _jobs()
    _run(job)
    assert [j.task_path for j in _jobs()] == ["rathaus.applications.tasks.application_received"]
    kinds = list(DomainEvent.objects.filter(application=application).order_by("id").values_list("kind", flat=True))
    assert kinds == ["application.submitted", "document.added", "decision.issued", "application.status_changed"]
    delivered = Delivery.objects.filter(subscription=subscription).values_list("event__kind", flat=True)
    assert sorted(delivered) == sorted(kinds)


def test_the_receipt_e_mail_dates_the_application_by_the_day_in_germany(town, demo_services, dog_data):
    # Sent at 00:30 in Berlin on 10 March (23:30 UTC on 9 March): the e-mail says 10.03.2026, as
    # the receipt PDF and the status page do.
    from datetime import UTC, datetime

    from rathaus.applications import tasks
    from rathaus.applications.models import Application

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    Application.objects.filter(pk=application.pk).update(submitted_at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    assert "ist am 10.03.2026 bei Musterstadt eingegangen" in tasks.receipt_email(application.pk).body
