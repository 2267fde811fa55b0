"""A final status set by hand is the last word the citizen reads: no e-mail about her case that
was queued before it and could not go out (the mail server was down) reaches her afterwards,
whoever queued it (the process, also one that had ended by itself, or staff) – except the
receipt. The e-mail about the new status, webhooks and back-office calls still go."""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from rathaus.core.models import AuditEntry
from rathaus.integration.tests.receiver import receiver  # noqa: F401 - fixture
from rathaus.processes.models import (
    CaseEvent,
    InstanceStatus,
    OutboxMessage,
    OutboxState,
    ProcessInstance,
    UserTask,
)
from rathaus.processes.outbox import outbox_add, outbox_deliver, outbox_deliver_pending, outbox_state

pytestmark = pytest.mark.django_db

LATER = timedelta(days=2)  # every retry of a failed message is due by then
CITIZEN = ["erika@example.org"]


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town)


@pytest.fixture
def set_by_hand(client, login_verified, worker, django_capture_on_commit_callbacks):
    """``set_by_hand(application, status, text)``: the case worker sets a status on the case page; the
    delivery job of its e-mail runs after the commit, as a worker would run it."""
    def run(application, status, text="Text der Verwaltung."):
        staff = login_verified(client, worker)
        url = reverse("applications:staff_detail", kwargs={"municipality": application.municipality.slug,
                                                           "reference": application.reference})
        with django_capture_on_commit_callbacks(execute=True):
            assert staff.post(url, {"status": status, "public_text": text}).status_code == 302
        application.refresh_from_db()
        assert application.status == status
        return staff, url

    return run


def _received() -> list[str]:
    """What reached the citizen, in order: the subjects of the e-mails to her."""
    return [m.subject for m in mail.outbox if m.to == CITIZEN]


def _body(subject: str) -> str:
    return next(m.body for m in mail.outbox if m.subject == subject)


@pytest.fixture
def request_documents(worker, django_capture_on_commit_callbacks):
    """``request_documents(application)``: the case worker asks for a document; its delivery job runs."""
    from rathaus.cases.services import document_request_create

    def run(application):
        with django_capture_on_commit_callbacks(execute=True):
            return document_request_create(application=application, items=["Personalausweis"],
                                           message="Bitte hochladen.", actor=worker,
                                           deadline=timezone.localdate() + timedelta(days=14))

    return run


@pytest.mark.parametrize("mail_back_before_the_decision", [False, True])
def test_an_approval_the_process_reached_by_itself_and_could_not_send_never_reaches_her_after_staff_reject(
        mail_back_before_the_decision, town, submit, dog_data, mail_server_down, set_by_hand, worker):
    application = submit("hund-anmelden", dog_data)  # decided by the process at once, while the mail server is down
    instance = ProcessInstance.objects.get(application=application)
    assert (application.status, instance.status) == ("approved", InstanceStatus.COMPLETED)
    approval = list(OutboxMessage.objects.filter(instance=instance, kind="email"))  # the tax notice
    assert approval and all(m.sent_at is None and m.attempts == 1 for m in approval)
    if mail_back_before_the_decision:
        mail_server_down.clear()  # back, but the approval's retry is not due yet

    staff, url = set_by_hand(application, "rejected", "Nach Ihrem Hinweis ist der Hund nicht anzumelden.")

    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    ref = application.reference
    # The receipt and the rejection only; the e-mail sent as soon as the server took it comes first.
    assert _received() == ([f"Neuer Stand zu {ref}", f"Eingangsbestätigung {ref}"] if mail_back_before_the_decision
                           else [f"Eingangsbestätigung {ref}", f"Neuer Stand zu {ref}"])
    assert "Abgelehnt – Nach Ihrem Hinweis ist der Hund nicht anzumelden." in _body(f"Neuer Stand zu {ref}")
    for message in approval:
        message.refresh_from_db()
        assert (outbox_state(message), message.cancel_reason) == (OutboxState.CANCELLED, "final_status")
    assert outbox_deliver(message_id_=approval[0].pk) is False  # not by its own job either
    assert outbox_deliver_pending(now=timezone.now() + timedelta(days=30)) == 0

    # Staff read why on the case page, with who set the status; the audit trail says the same.
    text = ("Der Antrag erhielt von Hand den Status „Abgelehnt“. Deshalb wurde"
            + (" 1 noch nicht versandte E-Mail" if len(approval) == 1 else f"n {len(approval)} noch nicht versandte E-Mails")
            + " zu diesem Antrag zurückgehalten."
            # The tax letter the approval wrote was not notified yet: the rejection withdraws it.
            + " Nicht bekannt gegeben und zurückgezogen: Hundesteuerbescheid (nicht mehr abrufbar, nicht mehr per Post"
              " zu versenden).")
    line = CaseEvent.objects.get(application=application, kind="emails_held_back")
    assert (line.text, line.actor, line.automatic) == (text, worker, False)
    assert line.data["cancelled_outbox_ids"] == [m.pk for m in approval]
    entry = AuditEntry.objects.get(action="application.emails_held_back")
    assert (entry.summary, entry.data["cancelled_emails"], entry.object_id) == (text, len(approval), str(application.pk))
    assert text in html.unescape(staff.get(url).content.decode())


def test_staffs_own_unsent_emails_about_the_case_do_not_reach_her_after_the_case_is_withdrawn(
        town, submit, street_data, mail_server_down, set_by_hand, request_documents):
    mail_server_down.clear()
    application = submit("halteverbot-umzug", street_data)  # the process waits for the case worker's approval
    other = submit("halteverbot-umzug", street_data)
    ref = application.reference
    assert _received()[:2] == [f"Eingangsbestätigung {ref}", f"Neuer Stand zu {ref}"]  # "in review"
    mail.outbox.clear()
    mail_server_down.add("down")
    # Staff write to her while the mail server is down: a status by hand, a request for a document.
    set_by_hand(application, "waiting", "Bitte schicken Sie uns Ihren Ausweis.")
    request_documents(application)
    request_documents(other)  # another case's: it still goes
    staffs = list(OutboxMessage.objects.filter(kind="email", sent_at__isnull=True).exclude(
        idempotency_key__startswith=f"{other.reference}:").order_by("pk"))
    assert len(staffs) == 2 and all(m.instance_id is None for m in staffs)  # not the process's

    set_by_hand(application, "withdrawn", "Sie haben den Antrag zurückgezogen.")

    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    # The other case's request and the withdrawal; not "waiting", not the request for her ID card.
    assert _received() == [f"Bitte Unterlagen nachreichen: {other.reference}", f"Neuer Stand zu {ref}"]
    assert "Zurückgezogen – Sie haben den Antrag zurückgezogen." in _body(f"Neuer Stand zu {ref}")
    assert all(outbox_state(m) == OutboxState.CANCELLED for m in OutboxMessage.objects.filter(pk__in=[s.pk for s in staffs]))
    line = CaseEvent.objects.get(application=application, kind="process_ended")
    assert line.text == ("Das Verfahren wurde beendet, weil der Antrag von Hand den Status „Zurückgezogen“ erhielt. "
                         "Deshalb wurden 2 noch nicht versandte E-Mails zu diesem Antrag zurückgehalten.")
    assert line.data["cancelled_outbox_ids"] == [m.pk for m in staffs]


@pytest.fixture
def submit_without_process(town, demo_services, django_capture_on_commit_callbacks):
    """A street-space application of a town that has no process model for it: staff handle it alone."""
    from rathaus.applications.services import application_submit

    def run(data):
        with django_capture_on_commit_callbacks(execute=True):
            application = application_submit(municipality=town, service=demo_services["halteverbot-umzug"],
                                              data=data).application
        application.refresh_from_db()
        assert not ProcessInstance.objects.filter(application=application).exists()
        return application

    return run


def test_a_case_without_a_process_holds_back_its_unsent_emails_too_but_the_receipt(
        submit_without_process, street_data, mail_server_down, set_by_hand, request_documents):
    application = submit_without_process(street_data)  # receipt: not sent, the mail server is down
    set_by_hand(application, "in_review", "Wir prüfen Ihren Antrag.")
    request_documents(application)

    set_by_hand(application, "rejected", "Die Straße ist an dem Tag gesperrt.")

    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    ref = application.reference
    assert _received() == [f"Eingangsbestätigung {ref}", f"Neuer Stand zu {ref}"]  # not "in review", not the request
    assert "Abgelehnt – Die Straße ist an dem Tag gesperrt." in _body(f"Neuer Stand zu {ref}")
    line = CaseEvent.objects.get(application=application)
    assert (line.kind, line.instance, line.text) == (
        "emails_held_back", None, "Der Antrag erhielt von Hand den Status „Abgelehnt“. "
                                  "Deshalb wurden 2 noch nicht versandte E-Mails zu diesem Antrag zurückgehalten.")


def test_a_final_status_with_nothing_unsent_writes_no_line(submit_without_process, street_data, mail_server_down,
                                                            set_by_hand):
    mail_server_down.clear()
    application = submit_without_process(street_data)
    set_by_hand(application, "approved")
    assert _received() == [f"Eingangsbestätigung {application.reference}", f"Neuer Stand zu {application.reference}"]
    assert not CaseEvent.objects.filter(application=application).exists()
    assert not AuditEntry.objects.filter(action="application.emails_held_back").exists()


def test_a_status_by_hand_that_is_not_final_holds_nothing_back(town, submit, dog_data, mail_server_down, set_by_hand,
                                                               request_documents):
    application = submit("hund-anmelden", dog_data)  # approved; its notice waits for the mail server
    instance = ProcessInstance.objects.get(application=application)
    set_by_hand(application, "in_review", "Wir sehen uns Ihren Antrag noch einmal an.")  # reopened
    request_documents(application)

    set_by_hand(application, "waiting", "Bitte laden Sie Ihren Ausweis hoch.")

    assert not OutboxMessage.objects.filter(cancelled_at__isnull=False).exists()
    assert not CaseEvent.objects.filter(application=application, kind="emails_held_back").exists()
    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    notices = [m.payload["subject"] for m in OutboxMessage.objects.filter(instance=instance, kind="email")]
    ref = application.reference
    assert _received() == [f"Eingangsbestätigung {ref}", *notices, f"Neuer Stand zu {ref}",
                           f"Bitte Unterlagen nachreichen: {ref}", f"Neuer Stand zu {ref}"]


def test_emails_of_the_case_that_name_no_process_are_found_by_their_keys(town, submit, dog_data, mail_server_down,
                                                                           set_by_hand):
    # Queued before messages named their process (0009) by a process that has ended since (0010
    # tied only those of running ones): a step's e-mail, a reminder about one of its tasks.
    application = submit("hund-anmelden", dog_data)
    task = UserTask.objects.create(municipality=town, application=application,
                                   instance=ProcessInstance.objects.get(application=application), element_id="review",
                                   name="Nachweis prüfen", state="completed")
    old = [outbox_add(municipality=town, key=key, kind="email", enqueue=False,
                      payload={"subject": key, "body": "Alt", "to": to})
           for key, to in ((f"{application.reference}:legacy-step", CITIZEN), (f"remind:{task.pk}", ["sb@example.org"]))]
    assert [m.instance_id for m in old] == [None, None]

    set_by_hand(application, "withdrawn")

    assert [outbox_state(OutboxMessage.objects.get(pk=m.pk)) for m in old] == [OutboxState.CANCELLED] * 2
    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    assert not {m.subject for m in mail.outbox} & {m.idempotency_key for m in old}


def test_webhooks_and_back_office_calls_about_the_case_still_go(town, submit, dog_data, mail_server_down, set_by_hand,
                                                                 receiver, settings):  # noqa: F811
    from rathaus.integration.models import EventKind, SubscriptionKind
    from rathaus.integration.services import deliveries_run, subscription_create

    settings.RATHAUS_BACKOFFICE_URL = receiver.url
    subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="Fachverfahren", url=receiver.url,
                        event_kinds=[EventKind.STATUS_CHANGED], secret="test-secret-0123456789abcdef")
    application = submit("hund-anmelden", dog_data)
    # A back-office call of the case, under its reference like the notify_backoffice step's, not sent yet.
    call = outbox_add(municipality=town, key=f"{application.reference}:call", kind="http", enqueue=False,
                      instance_id=ProcessInstance.objects.get(application=application).pk,
                      payload={"url": "", "body": {"reference": application.reference, "event": "tax_set"}})
    receiver.requests.clear()

    set_by_hand(application, "rejected")
    deliveries_run(municipality_id=town.pk)
    outbox_deliver_pending(now=timezone.now() + LATER)

    bodies = [json.loads(r.body) for r in receiver.requests]
    assert {"reference": application.reference, "event": "tax_set"} in bodies
    changed = [b for b in bodies if b.get("type") == "application.status_changed"]
    assert [(b["data"]["previous_status"], b["data"]["status"]) for b in changed] == [("approved", "rejected")]
    call.refresh_from_db()
    assert outbox_state(call) == OutboxState.SENT


def _reject_while_held(held_open, hold, application, worker) -> bool:
    """Staff reject `application` by hand on another thread while `hold()` runs in a transaction kept
    open (PostgreSQL: concurrent writers); True if the rejection had to wait for it."""
    import threading

    from django.db import connections

    from rathaus.applications.services import application_change_status

    def reject_by_hand():
        try:
            application_change_status(application=application, status="rejected", actor=worker, public_text="Nein.")
        finally:
            connections.close_all()

    with held_open(hold):
        thread = threading.Thread(target=reject_by_hand)
        thread.start()
        thread.join(0.5)
        waited = thread.is_alive()
    thread.join(10)
    return waited


@pytest.mark.django_db(transaction=True)
def test_a_status_email_a_worker_is_sending_while_staff_reject_the_case_is_waited_for_and_not_counted(
        town, submit, dog_data, mail_server_down, worker, held_open):
    from django.db import connection

    from rathaus.applications.services import application_change_status

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    application = submit("hund-anmelden", dog_data)  # approved by the process; its notice and the receipt wait
    application_change_status(application=application, status="in_review", actor=worker, public_text="Wir prüfen.")
    in_review = OutboxMessage.objects.get(idempotency_key__startswith="status:", sent_at__isnull=True,
                                          instance__isnull=True)
    mail_server_down.clear()
    # The sweep's worker has sent the "in review" e-mail and not yet committed when staff reject the case.
    waited = _reject_while_held(held_open, lambda: outbox_deliver(message_id_=in_review.pk), application, worker)

    assert waited
    assert outbox_state(OutboxMessage.objects.get(pk=in_review.pk)) == OutboxState.SENT
    line = CaseEvent.objects.get(application=application, kind="emails_held_back")
    notice = OutboxMessage.objects.filter(instance__application=application, kind="email").values_list("pk", flat=True)
    assert line.data["cancelled_outbox_ids"] == list(notice)  # not the one that went out, nor the receipt


@pytest.mark.django_db(transaction=True)
def test_a_status_email_staff_queue_while_another_rejects_the_case_is_held_back_too(
        town, submit, dog_data, mail_server_down, worker, held_open):
    from django.db import connection

    from rathaus.applications.services import application_change_status

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    application = submit("hund-anmelden", dog_data)  # approved by the process; its notice and the receipt wait
    # One case worker asks a question ("in review", with an e-mail) and has not committed yet when
    # another rejects the case: the rejection waits for her, then holds her e-mail back too.
    waited = _reject_while_held(held_open, lambda: application_change_status(
        application=application, status="in_review", actor=worker, public_text="Wir prüfen."), application, worker)

    assert waited
    application.refresh_from_db()
    assert application.status == "rejected"
    from rathaus.applications.models import StatusChange

    asked = StatusChange.objects.get(application=application, status="in_review")
    in_review = OutboxMessage.objects.get(idempotency_key=f"status:{asked.pk}")
    assert outbox_state(in_review) == OutboxState.CANCELLED
    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    ref = application.reference
    assert _received() == [f"Eingangsbestätigung {ref}", f"Neuer Stand zu {ref}"]  # not "in review", not the notice
    assert "Nein." in _body(f"Neuer Stand zu {ref}")


# ---------------------------------------------------------------- the e-mail about a letter that stands

@pytest.fixture
def submit_signed_in(town, demo_processes, make_user, django_capture_on_commit_callbacks):
    """``submit_signed_in(slug, data)``: submitted by the citizen signed in to her account, agreeing that
    decision letters are provided to her for retrieval; the process runs on commit."""
    from rathaus.applications.services import application_submit

    def run(slug, data):
        with django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=town, service=demo_processes[slug], data=data,
                                        applicant=make_user(CITIZEN[0]), retrieval_consent=True)
        result.application.refresh_from_db()
        return result.application

    return run


def _tax_letter_and_its_email(application):
    from rathaus.cases.models import Document

    letter = Document.objects.get(application=application, document_type="decision")
    instance = ProcessInstance.objects.get(application=application)
    assert (application.status, instance.status) == ("approved", InstanceStatus.COMPLETED)
    notice = OutboxMessage.objects.get(instance=instance, kind="email")  # the model's notify step, after the letter
    assert (notice.letter_id, notice.payload["subject"], notice.sent_at) == (
        letter.pk, f"Ihr Hundesteuerbescheid ({application.reference})", None)
    return letter, notice


def test_closing_the_approved_case_lets_the_email_about_its_letter_go_and_the_letter_stays_retrievable(
        town, submit_signed_in, dog_data, mail_server_down, set_by_hand, worker):
    from django.test import Client

    from rathaus.cases.models import DecisionNotice

    application = submit_signed_in("hund-anmelden", dog_data)  # approved by the process while the mail server is down
    letter, notice_email = _tax_letter_and_its_email(application)
    # An e-mail of the process about no letter (queued before e-mails named their letter): held back.
    other = outbox_add(municipality=town, key=f"{application.reference}:legacy-step", kind="email", enqueue=False,
                       instance_id=notice_email.instance_id, payload={"subject": "Alt", "body": "Alt", "to": CITIZEN})

    set_by_hand(application, "closed", "Die Anmeldung ist abgeschlossen.")

    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    ref = application.reference
    assert _received() == [f"Eingangsbestätigung {ref}", f"Ihr Hundesteuerbescheid ({ref})", f"Neuer Stand zu {ref}"]
    notice_email.refresh_from_db()
    assert (outbox_state(notice_email), notice_email.cancel_reason) == (OutboxState.SENT, "")
    assert outbox_state(OutboxMessage.objects.get(pk=other.pk)) == OutboxState.CANCELLED
    # The timeline and the audit trail count what was held back: the other e-mail only.
    text = ("Der Antrag erhielt von Hand den Status „Abgeschlossen“. Deshalb wurde 1 noch nicht versandte E-Mail zu "
            "diesem Antrag zurückgehalten.")
    line = CaseEvent.objects.get(application=application, kind="emails_held_back")
    assert (line.text, line.data["cancelled_outbox_ids"], line.data["withdrawn_letters"]) == (text, [other.pk], [])
    assert AuditEntry.objects.get(action="application.emails_held_back").data["cancelled_emails"] == 1
    # The letter stands: still provided, and her download under her account is its retrieval.
    assert DecisionNotice.objects.get(document=letter).state == "provided"
    client = Client()
    client.force_login(application.applicant)
    assert client.get(reverse("cases:my_download", kwargs={"municipality": town.slug, "reference": ref,
                                                           "document_id": letter.pk})).status_code == 200
    assert DecisionNotice.objects.get(document=letter).state == "retrieved"


def test_rejecting_the_approved_case_holds_back_the_email_about_its_letter_with_the_letter(
        town, submit_signed_in, dog_data, mail_server_down, set_by_hand, worker):
    from rathaus.cases.models import DecisionNotice

    application = submit_signed_in("hund-anmelden", dog_data)
    letter, notice_email = _tax_letter_and_its_email(application)

    set_by_hand(application, "rejected", "Der Hund ist nicht anzumelden.")

    mail_server_down.clear()
    outbox_deliver_pending(now=timezone.now() + LATER)
    ref = application.reference
    assert _received() == [f"Eingangsbestätigung {ref}", f"Neuer Stand zu {ref}"]
    notice_email.refresh_from_db()
    assert (outbox_state(notice_email), notice_email.cancel_reason) == (OutboxState.CANCELLED, "final_status")
    assert DecisionNotice.objects.get(document=letter).state == "withdrawn"
    line = CaseEvent.objects.get(application=application, kind="emails_held_back")
    assert line.text.startswith("Der Antrag erhielt von Hand den Status „Abgelehnt“. Deshalb wurde 1 noch nicht "
                                "versandte E-Mail zu diesem Antrag zurückgehalten. Nicht bekannt gegeben und "
                                "zurückgezogen: Hundesteuerbescheid")
    assert line.data["cancelled_outbox_ids"] == [notice_email.pk]
