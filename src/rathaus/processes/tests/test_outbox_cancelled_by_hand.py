"""A process that staff end by hand (a final status on the case page) sends nothing it had queued:
an e-mail waiting for the mail server to come back (a payment request, a status e-mail) is
cancelled, never sent by the job, the sweep or a retry; everything else in the outbox goes."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from rathaus.core.models import AuditEntry
from rathaus.processes.models import CaseEvent, OutboxMessage, OutboxState, ProcessInstance, UserTask
from rathaus.processes.outbox import (
    outbox_add,
    outbox_deliver,
    outbox_deliver_many,
    outbox_deliver_pending,
    outbox_state,
)
from rathaus.processes.services import task_complete

pytestmark = pytest.mark.django_db

LATER = timedelta(days=2)  # every retry of a failed message is due by then


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town)


@pytest.fixture
def approve(worker, django_capture_on_commit_callbacks):
    """``approve(application)``: the case worker approves a parking ban; its delivery jobs run."""
    def run(application):
        with django_capture_on_commit_callbacks(execute=True):
            task_complete(task=UserTask.objects.get(application=application), user=worker,
                          data={"decision": {"outcome": "approve"}})

    return run


@pytest.fixture
def approved_while_mail_is_down(submit, street_data, approve, mail_server_down):
    """``approved()``: a parking ban approved by the case worker while the mail server is down.

    Its receipt, the process's "in review" e-mail and its payment request wait in the outbox."""
    def approved():
        application = submit("halteverbot-umzug", street_data)
        approve(application)
        application.refresh_from_db()
        assert application.status == "payment_due"
        return application

    return approved


def _mails(application) -> dict[str, OutboxMessage]:
    """The case's e-mails in the outbox by what they are: receipt, a status e-mail, the payment request."""
    found = {}
    for message in OutboxMessage.objects.filter(kind="email").order_by("pk"):
        if message.idempotency_key == f"receipt:{application.pk}":
            found["receipt"] = message
        elif message.payload.get("subject", "").startswith(f"Zahlungsaufforderung {application.reference}"):
            found["payment"] = message
        elif message.idempotency_key.startswith("status:") and message.instance_id is not None \
                and message.instance.application_id == application.pk:
            found["in_review"] = message
    return found


def _withdraw_by_hand(client, login_verified, worker, application):
    staff = login_verified(client, worker)
    url = reverse("applications:staff_detail", kwargs={"municipality": application.municipality.slug,
                                                       "reference": application.reference})
    assert staff.post(url, {"status": "withdrawn", "public_text": "Sie haben den Antrag zurückgezogen."}).status_code == 302
    application.refresh_from_db()
    assert application.status == "withdrawn"
    return staff, url


def test_a_payment_request_waiting_for_the_mail_server_is_not_sent_after_the_case_was_withdrawn(
        client, login_verified, worker, approved_while_mail_is_down, mail_server_down):
    application = approved_while_mail_is_down()
    waiting = _mails(application)
    assert set(waiting) == {"receipt", "in_review", "payment"}
    assert all(m.sent_at is None and m.attempts == 1 for m in waiting.values())  # tried once, failed

    _withdraw_by_hand(client, login_verified, worker, application)

    mail_server_down.clear()  # the mail server is back: the sweep sends what is due
    assert outbox_deliver_pending(now=timezone.now() + LATER) == 2
    # The receipt and the e-mail about the withdrawal; not the payment request, not "in review".
    assert sorted(m.subject for m in mail.outbox) == sorted([
        f"Eingangsbestätigung {application.reference}", f"Neuer Stand zu {application.reference}"])
    for name in ("payment", "in_review"):
        message = OutboxMessage.objects.get(pk=waiting[name].pk)
        assert (message.sent_at, message.cancel_reason, outbox_state(message)) == (
            None, "final_status", OutboxState.CANCELLED)
        assert message.cancelled_at is not None and message.next_attempt_at is None
    # Neither its own job, nor a later sweep, nor a retry of the whole batch sends it.
    assert outbox_deliver(message_id_=waiting["payment"].pk) is False
    assert outbox_deliver_many([waiting["payment"].pk, waiting["in_review"].pk]) == 0
    assert outbox_deliver_pending(now=timezone.now() + timedelta(days=30)) == 0
    assert len(mail.outbox) == 2


def test_the_timeline_and_the_audit_trail_say_how_many_emails_were_not_sent(
        client, login_verified, worker, approved_while_mail_is_down):
    application = approved_while_mail_is_down()
    staff, url = _withdraw_by_hand(client, login_verified, worker, application)

    text = ("Das Verfahren wurde beendet, weil der Antrag von Hand den Status „Zurückgezogen“ erhielt. "
            "Deshalb wurden 2 noch nicht versandte E-Mails zu diesem Antrag zurückgehalten.")
    line = CaseEvent.objects.get(application=application, kind="process_ended")
    assert (line.text, line.actor, line.data["cancelled_emails"]) == (text, worker, 2)
    entry = AuditEntry.objects.get(action="process.ended")
    assert (entry.summary, entry.data["cancelled_emails"]) == (text, 2)
    assert text in html.unescape(staff.get(url).content.decode())  # on the case page


def test_an_email_already_sent_stays_sent_and_is_not_counted(client, login_verified, worker, submit, street_data,
                                                              approve, mail_server_down):
    mail_server_down.clear()
    application = submit("halteverbot-umzug", street_data)
    approve(application)
    sent = _mails(application)
    assert all(m.sent_at is not None for m in sent.values())

    _withdraw_by_hand(client, login_verified, worker, application)

    for message in sent.values():
        after = OutboxMessage.objects.get(pk=message.pk)
        assert (after.sent_at, after.cancelled_at, outbox_state(after)) == (message.sent_at, None, OutboxState.SENT)
    line = CaseEvent.objects.get(application=application, kind="process_ended")
    assert line.text == "Das Verfahren wurde beendet, weil der Antrag von Hand den Status „Zurückgezogen“ erhielt."
    assert line.data["cancelled_emails"] == 0


def test_the_unsent_emails_of_another_case_and_another_town_still_go(
        client, login_verified, worker, approved_while_mail_is_down, mail_server_down, other_town):
    withdrawn, other_case = approved_while_mail_is_down(), approved_while_mail_is_down()
    elsewhere = outbox_add(municipality=other_town, key="elsewhere", kind="email", enqueue=False,
                           payload={"subject": "Beispielhausen", "body": "Text", "to": ["b@example.org"]})

    _withdraw_by_hand(client, login_verified, worker, withdrawn)

    others = _mails(other_case)
    assert not OutboxMessage.objects.filter(pk__in=[m.pk for m in others.values()] + [elsewhere.pk],
                                            cancelled_at__isnull=False).exists()
    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    subjects = {m.subject for m in mail.outbox}
    assert {f"Zahlungsaufforderung {other_case.reference}", "Beispielhausen"} <= subjects
    assert f"Zahlungsaufforderung {withdrawn.reference}" not in subjects


def test_a_call_to_the_backoffice_system_the_process_queued_still_goes(
        client, login_verified, worker, approved_while_mail_is_down):
    # A back-office system keeps its own record of the case and needs every event the process sent it.
    application = approved_while_mail_is_down()
    instance = ProcessInstance.objects.get(application=application)
    call = outbox_add(municipality=application.municipality, key=f"{application.reference}:call", kind="http",
                      enqueue=False, instance_id=instance.pk, payload={"url": "", "body": {"event": "signs_needed"}})

    _withdraw_by_hand(client, login_verified, worker, application)

    call.refresh_from_db()
    assert (call.cancelled_at, outbox_state(call)) == (None, OutboxState.PENDING)
    assert outbox_deliver(message_id_=call.pk) is True  # no back-office address configured: nothing to call


def test_a_reminder_about_a_task_of_the_ended_process_is_cancelled(
        client, login_verified, worker, submit, street_data, mail_server_down):
    from rathaus.processes.services import task_deadlines

    application = submit("halteverbot-umzug", street_data)
    task = UserTask.objects.get(application=application)
    UserTask.objects.filter(pk=task.pk).update(assignee=worker)
    assert task_deadlines(now=task.due_at - timedelta(hours=1))["reminded"] == 1
    reminder = OutboxMessage.objects.get(idempotency_key=f"remind:{task.pk}")
    assert outbox_deliver(message_id_=reminder.pk) is False  # the mail server is down

    _withdraw_by_hand(client, login_verified, worker, application)

    reminder.refresh_from_db()
    assert outbox_state(reminder) == OutboxState.CANCELLED
    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    assert not [m for m in mail.outbox if m.subject.startswith("Erinnerung")]


@pytest.fixture
def operator_client(make_user, login_verified):
    """The instance operator in the admin (a client of her own: the test's `client` is the case worker's)."""
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=operator, name="test", confirmed=True)
    return login_verified(Client(), operator)


def test_the_outbox_in_the_admin_shows_a_cancelled_email_as_cancelled_not_as_failed(
        client, login_verified, worker, approved_while_mail_is_down, operator_client):
    application = approved_while_mail_is_down()
    payment = _mails(application)["payment"]
    _withdraw_by_hand(client, login_verified, worker, application)

    cancelled = operator_client.get("/verwaltung/processes/outboxmessage/?zustand=cancelled").content.decode()
    assert cancelled.count('<td class="field-state">Storniert (nicht versandt)</td>') == 2
    assert payment.idempotency_key in cancelled
    retrying = operator_client.get("/verwaltung/processes/outboxmessage/?zustand=retrying").content.decode()
    assert payment.idempotency_key not in retrying and f"receipt:{application.pk}" in retrying
    page = operator_client.get(f"/verwaltung/processes/outboxmessage/{payment.pk}/change/").content.decode()
    assert "Storniert (nicht versandt)" in page and "Abschließender Status von Hand gesetzt" in page
    operator_client.cookies["django_language"] = "en"
    page = operator_client.get(f"/verwaltung/processes/outboxmessage/{payment.pk}/change/").content.decode()
    assert "Cancelled (not sent)" in page and "Final status set by hand" in page


@pytest.mark.django_db(transaction=True)  # the schema changes
def test_the_upgrade_ties_the_unsent_emails_of_running_processes_to_them(approved_while_mail_is_down, migrator,
                                                                          worker):
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    application = approved_while_mail_is_down()
    waiting = _mails(application)
    instance = ProcessInstance.objects.get(application=application)
    staff_request = outbox_add(municipality=application.municipality, key=f"{application.reference}:request:1",
                               kind="email", enqueue=False, payload={"subject": "Unterlagen", "body": "", "to": []})
    given_up = waiting["in_review"]
    OutboxMessage.objects.filter(pk=given_up.pk).update(attempts=5, next_attempt_at=None)  # never sent again
    # Before the upgrade no message named its process.
    migrator([("processes", "0008_received_message")])
    migrator(MigrationLoader(connection).graph.leaf_nodes("processes"))

    tied = dict(OutboxMessage.objects.values_list("pk", "instance_id"))
    assert tied[waiting["payment"].pk] == instance.pk
    assert tied[given_up.pk] is None  # given up for good: nothing left to cancel
    assert (tied[waiting["receipt"].pk], tied[staff_request.pk]) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_an_email_a_worker_is_sending_while_staff_end_the_process_is_waited_for_and_counted_as_sent(
        approved_while_mail_is_down, mail_server_down, worker, held_open):
    import threading

    from django.db import connection, connections

    from rathaus.applications.services import application_change_status

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    application = approved_while_mail_is_down()
    payment = _mails(application)["payment"]
    mail_server_down.clear()
    results = {}

    def withdraw_by_hand():
        try:
            application_change_status(application=application, status="withdrawn", actor=worker, public_text="Zurück.")
        finally:
            connections.close_all()

    # The sweep's worker has sent the payment request and not yet committed when staff withdraw the case.
    with held_open(lambda: outbox_deliver(message_id_=payment.pk)):
        thread = threading.Thread(target=withdraw_by_hand)
        thread.start()
        thread.join(0.5)
        results["waited"] = thread.is_alive()
    thread.join(10)

    assert results == {"waited": True}
    payment.refresh_from_db()
    assert outbox_state(payment) == OutboxState.SENT
    line = CaseEvent.objects.get(application=application, kind="process_ended")
    assert line.data["cancelled_outbox_ids"] == [_mails(application)["in_review"].pk]  # not the one that went out
