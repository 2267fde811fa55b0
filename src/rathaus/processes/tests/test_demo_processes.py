"""The demo processes end to end through the services (submission → process → decision)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.cases.models import Document
from rathaus.processes.models import CaseEvent, InstanceStatus, OutboxMessage, ProcessInstance, Timer, UserTask
from rathaus.processes.services import message_deliver, task_claim, task_complete, timer_fire_due
from rathaus_domain.processes.engine import MessageNotExpected

pytestmark = pytest.mark.django_db


def test_first_dog_is_decided_automatically_with_90_euros(submit, dog_data):
    application = submit("hund-anmelden", dog_data)
    instance = ProcessInstance.objects.get(application=application)
    assert instance.status == InstanceStatus.COMPLETED, instance.error
    assert application.status == "approved"
    assert "90 €" in application.history.last().public_text
    decision = CaseEvent.objects.get(application=application, kind="decision")
    assert decision.public and "Erster Hund" in decision.text
    assert decision.data["inputs"]["Bereits gehaltene Hunde"] == 0
    assert decision.data["matched_rules"][0]["annotation"] == "Erster Hund: Regelsteuersatz"
    assert Document.objects.filter(application=application, document_type="decision").count() == 1
    # The receipt and the decision notice; the status step does not e-mail the same news again
    # (email=nein in the model), though the status page shows the new status and its text.
    keys = OutboxMessage.objects.filter(kind="email").exclude(idempotency_key__startswith="receipt:").values_list(
        "idempotency_key", flat=True)
    assert [key.split(":")[0] for key in keys] == [application.reference]
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert [m.subject for m in mail.outbox] == [f"Eingangsbestätigung {application.reference}",
                                                f"Ihr Hundesteuerbescheid ({application.reference})"]
    # The status step writes under the start's lock: the row, its history and the subscribers' event agree.
    application.refresh_from_db()
    assert application.status == "approved" and application.closed_at is not None
    assert [c.status for c in application.history.order_by("id")] == ["received", "approved"]
    from rathaus.integration.models import DomainEvent

    [changed] = DomainEvent.objects.filter(application=application, kind="application.status_changed")
    assert (changed.data["previous_status"], changed.data["status"]) == ("received", "approved")


def test_a_completed_process_keeps_no_engine_state_and_takes_no_more_messages(submit, dog_data):
    # Nothing moves a completed process again, so it keeps no copy of the applicant's data in its
    # engine state; the diagram's elements and the timeline still say what happened.
    application = submit("hund-anmelden", dog_data)
    instance = ProcessInstance.objects.get(application=application)
    assert (instance.status, instance.state) == (InstanceStatus.COMPLETED, "")
    assert "Hundesteuer" in " ".join(CaseEvent.objects.filter(application=application).values_list("text", flat=True))
    assert instance.completed_elements and instance.current_elements == []
    events = CaseEvent.objects.count()
    with pytest.raises(MessageNotExpected):
        message_deliver(application=application, name="payment_received")
    # Whatever would move it (a message, a timer, a task, a retry) goes through _move, which refuses
    # instead of starting the process anew from the empty state.
    from rathaus.processes.services import _move

    with pytest.raises(MessageNotExpected, match="has ended"):
        _move(instance, application, lambda run: run.deliver_message("payment_received", {}))
    instance.refresh_from_db()
    assert (instance.status, instance.state, CaseEvent.objects.count()) == (InstanceStatus.COMPLETED, "", events)


def test_a_timer_left_over_by_an_ended_process_is_removed_and_a_retry_does_not_start_it_anew(submit, dog_data):
    from rathaus.processes.services import TaskNotAllowed, process_retry

    application = submit("hund-anmelden", dog_data)
    instance = ProcessInstance.objects.get(application=application)
    Timer.objects.create(municipality=instance.municipality, instance=instance, engine_task_id="stray",
                         element_id="reminder", due_at=timezone.now() - timedelta(minutes=1))
    letters = Document.objects.filter(application=application, document_type="decision").count()
    assert timer_fire_due() == 0
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED and not Timer.objects.filter(instance=instance).exists()
    # Had it been marked failed after its end, a retry would find no state: it refuses instead of
    # running the process again (a second decision letter, e-mails, status change).
    ProcessInstance.objects.filter(pk=instance.pk).update(status=InstanceStatus.FAILED, error="x")
    with pytest.raises(TaskNotAllowed):
        process_retry(instance=instance, actor=None)
    assert Document.objects.filter(application=application, document_type="decision").count() == letters


def test_a_waiting_process_keeps_its_engine_state(submit, dog_data, town):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    instance = ProcessInstance.objects.get(application=submit("hund-anmelden", dog_data))
    assert instance.status == InstanceStatus.WAITING and '"workflow"' in instance.state


@pytest.mark.parametrize(("breed", "others", "fee"), [("labrador", 1, 120), ("pitbull", 0, 600)])
def test_further_and_listed_dogs_get_their_rate(submit, dog_data, breed, others, fee):
    dog_data["dog"].update(breed=breed, other_dogs=others)
    application = submit("hund-anmelden", dog_data)
    assert application.status == "approved"
    assert f"{fee} €" in application.history.last().public_text


def test_exemption_goes_to_a_case_worker_who_grants_it(submit, dog_data, town, make_staff):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    instance = ProcessInstance.objects.get(application=application)
    assert instance.status == InstanceStatus.WAITING
    assert application.status == "in_review"
    task = UserTask.objects.get(application=application)
    assert task.state == "open" and task.role == Role.CASE_WORKER and task.due_at is not None
    worker = make_staff(town)
    task_claim(task=task, user=worker)
    task_complete(task=task, user=worker, data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert application.status == "approved"
    assert "0 €" in application.history.last().public_text


def test_a_proof_handed_in_later_is_checked_and_the_citizen_is_no_longer_asked_for_it(submit, dog_data, town,
                                                                                        make_staff):
    from rathaus.processes.services import document_upload_later

    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    worker = make_staff(town)
    task = UserTask.objects.get(application=application)
    task_complete(task=task, user=worker, data={"decision": {"outcome": "request_documents"}})
    application.refresh_from_db()
    assert application.status == "waiting"
    document_upload_later(application=application, filename="neu.pdf", raw=b"%PDF-1.4\n%%EOF\n")
    application.refresh_from_db()
    assert UserTask.objects.filter(application=application, state="open", element_id="review").exists()
    # The status page no longer says "Rückfrage an Sie" with the request to upload what she has uploaded.
    assert application.status == "in_review"
    assert application.history.last().public_text == "Ihr Nachweis für die Steuerbefreiung wird geprüft."


def _parking_payment(application, town) -> tuple[str, str]:
    """The permit fee's period to pay as the status text and e-mail say it (14 days from the letter's
    notice: no date, the notice comes when she downloads it or it is posted) and its payment reference."""
    import re

    [reference] = set(re.findall(re.escape(application.reference) + r"-[0-9A-F]{6}", _letter_text(application)))
    return "innerhalb von 14 Tagen nach Bekanntgabe des Bescheids", reference


# The letter spells € as EUR (its core PDF font covers Latin-1 only).
PARKING_FEE_LINE = ("Gebührenfestsetzung: Für diesen Bescheid wird eine Gebühr von 30,00 EUR festgesetzt "
                    "(Bewohnerparkausweis für ein Jahr nach der Gebührenordnung der Gemeinde). Bitte überweisen Sie den "
                    "Betrag innerhalb von 14 Tagen nach Bekanntgabe dieses Bescheids{account} mit dem Verwendungszweck "
                    "{reference}. Der Bescheid gilt als bekannt gegeben: online bereitgestellt am Tag nach dem Abruf, "
                    "mit der Post versandt am vierten Tag nach der Aufgabe zur Post.")


def test_parking_permit_is_auto_approved_when_zone_matches_and_its_letter_fixes_the_fee(submit, parking_data, town):
    application = submit("bewohnerparkausweis", parking_data)
    assert application.status == "approved", ProcessInstance.objects.get(application=application).error
    assert not UserTask.objects.filter(application=application).exists()
    # The permit says for which zone, which vehicle and from when (dates as Germans write them).
    letter = _letter_text(application)
    assert ("Ihr Bewohnerparkausweis für die Zone A ist ausgestellt: für das Fahrzeug mit dem Kennzeichen MU-AB 123, "
            "gültig ab 01.12.2026 für ein Jahr.") in letter
    # The permit letter fixes the fee, with the period to pay from its notice and the reference of the transfer.
    due, reference = _parking_payment(application, town)
    assert PARKING_FEE_LINE.format(account="", reference=reference) in letter
    assert "Steuer" not in letter  # a fee, worded as one (the dog registration's letter fixes a tax)
    to_pay = f"Bitte überweisen Sie die Gebühr von 30 € {due} mit dem Verwendungszweck {reference}."
    assert application.history.last().public_text.endswith(to_pay)
    [notice] = [m for m in mail.outbox if m.subject == f"Ihr Bewohnerparkausweis ({application.reference})"]
    assert f"Ihr Bewohnerparkausweis ist ausgestellt. Sie finden ihn auf Ihrer Statusseite. {to_pay}" in notice.body


def test_parking_permit_with_wrong_zone_needs_a_human_within_ten_working_days(submit, parking_data, town, make_staff):
    parking_data["zone"]["zone"] = "C"
    application = submit("bewohnerparkausweis", parking_data)
    assert application.status == "in_review"
    task = UserTask.objects.get(application=application)
    assert timedelta(days=12) < task.due_at - timezone.now() < timedelta(days=17)
    task_complete(task=task, user=make_staff(town), data={"decision": {"outcome": "reject", "note": "Falsche Zone."}})
    application.refresh_from_db()
    assert application.status == "rejected"
    assert "Falsche Zone. Den Bescheid finden Sie auf Ihrer Statusseite." in application.history.last().public_text
    # A refusal is a written decision with its reasons and the legal remedy, in her case file.
    letter = _letter_text(application)
    assert "Ihr Antrag auf einen Bewohnerparkausweis wird abgelehnt. Begründung: Falsche Zone." in letter
    assert "Widerspruch" in letter
    # It costs nothing: no fee is fixed, none is computed, none is asked for.
    assert "Gebühr" not in letter and "30" not in letter and "überweisen" not in letter
    assert not CaseEvent.objects.filter(application=application, text__contains="Gebühr").exists()
    assert "Gebühr" not in " ".join(application.history.values_list("public_text", flat=True))


def test_parking_permit_approved_by_a_case_worker_fixes_the_fee_in_its_letter(submit, parking_data, town, make_staff,
                                                                              django_capture_on_commit_callbacks):
    parking_data["zone"]["zone"] = "C"
    application = submit("bewohnerparkausweis", parking_data)
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail goes out after the commit
        task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                      data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    assert application.status == "approved"
    letter = _letter_text(application)
    assert "Ihr Bewohnerparkausweis für die Zone C ist nach Prüfung ausgestellt" in letter
    due, reference = _parking_payment(application, town)
    assert PARKING_FEE_LINE.format(account="", reference=reference) in letter
    status_text = (f"Ihr Bewohnerparkausweis ist ausgestellt. Bitte überweisen Sie die Gebühr von 30 € {due} "
                   f"mit dem Verwendungszweck {reference}. Den Bescheid finden Sie auf Ihrer Statusseite.")
    assert application.history.last().public_text == status_text
    assert status_text in mail.outbox[-1].body  # the status e-mail says it too
    from rathaus.integration.models import DomainEvent

    [issued] = DomainEvent.objects.filter(application=application, kind="decision.issued")
    assert (issued.data["decision"]["outcome"], issued.data["decision"]["fee"]) == ("approve", 30)


def test_a_refusal_needs_its_reason_and_its_letter_charges_nothing(submit, street_data, town, make_staff):
    from rathaus.processes.services import TaskInvalid

    application = submit("halteverbot-umzug", street_data)
    task = UserTask.objects.get(application=application)
    worker = make_staff(town)
    with pytest.raises(TaskInvalid) as refused:
        task_complete(task=task, user=worker, data={"decision": {"outcome": "reject"}})
    assert "Ablehnen" in refused.value.errors[0].message  # "… weil Sie bei „Ergebnis“ „Ablehnen“ angegeben haben"
    task_complete(task=task, user=worker,
                  data={"decision": {"outcome": "reject", "note": "Die Straße ist an dem Tag gesperrt."}})
    application.refresh_from_db()
    assert application.status == "rejected"
    letter = _letter_text(application)
    assert "Ihr Antrag auf eine Halteverbotszone wird abgelehnt. Begründung: Die Straße ist an dem Tag gesperrt." in letter
    assert "Betrag" not in letter and "45" not in letter  # the fee computed for a grant is not charged


def test_parking_permit_for_an_address_in_no_zone_tells_her_so_not_that_she_chose_the_wrong_zone(
        client, submit, parking_data, town):
    from django.urls import reverse

    from rathaus.applications.services import access_token_for

    parking_data["applicant"]["address"]["street"] = "Feldweg"  # in none of the zones A, B, C
    application = submit("bewohnerparkausweis", parking_data)
    assert application.status == "in_review"
    assert application.history.last().public_text == (
        "Ihr Antrag wird von der Straßenverkehrsbehörde geprüft, weil Ihre Anschrift in keiner Bewohnerparkzone liegt.")
    assert UserTask.objects.filter(application=application, state="open", element_id="review").exists()
    page = client.get(reverse("applications:status", kwargs={
        "municipality": town.slug, "reference": application.reference, "token": access_token_for(application)}))
    html = page.content.decode()
    assert "Automatische Entscheidung „Bewohnerparkzone der Anschrift“: Die Anschrift liegt in keiner Bewohnerparkzone." in html
    assert ("Automatische Entscheidung „Automatisch bewilligen“: Ohne Bewohnerparkzone keine automatische "
            "Bewilligung: eine Person prüft den Antrag.") in html
    assert "nicht zu Ihrer Anschrift passt" not in html and "Zone passt nicht" not in html


def test_parking_permit_with_a_zone_other_than_her_address_still_says_so(submit, parking_data):
    parking_data["zone"]["zone"] = "B"  # Hauptstraße lies in zone A
    application = submit("bewohnerparkausweis", parking_data)
    assert application.history.last().public_text == (
        "Ihr Antrag wird von der Straßenverkehrsbehörde geprüft, weil die gewählte Zone nicht zu Ihrer Anschrift passt.")


def test_seeding_publishes_a_changed_demo_model_as_a_new_version_once(town, demo_services):
    from rathaus.processes.demo import attach_demo_processes, demo_files
    from rathaus.processes.models import DefinitionState, ProcessDefinition
    from rathaus.processes.services import process_definition_create

    service = demo_services["bewohnerparkausweis"]
    # The version a town seeded before the no-zone rule: its wording differs from the current files.
    older = [(name, content.replace(b"keiner Bewohnerparkzone", b"keiner Zone")) for name, content in
             demo_files("bewohnerparkausweis")]
    process_definition_create(municipality=town, service=service, files=older, publish=True)
    created = attach_demo_processes(town, demo_services)
    assert [d.service.slug for d in created] == ["hund-anmelden", "bewohnerparkausweis", "halteverbot-umzug"]
    versions = ProcessDefinition.objects.filter(service=service).order_by("version")
    assert [(d.version, d.state) for d in versions] == [(1, DefinitionState.RETIRED), (2, DefinitionState.PUBLISHED)]
    assert [f["content"] for f in versions[1].files] == [c.decode() for _, c in demo_files("bewohnerparkausweis")]
    assert attach_demo_processes(town, demo_services) == []


def test_a_parking_case_under_review_when_the_demo_is_seeded_again_keeps_the_model_it_started_with(
        town, demo_services, parking_data, make_staff, django_capture_on_commit_callbacks):
    from rathaus.applications.services import application_submit
    from rathaus.processes.demo import attach_demo_processes, demo_files
    from rathaus.processes.models import ProcessDefinition
    from rathaus.processes.services import process_definition_create

    service = demo_services["bewohnerparkausweis"]
    # A town seeded before the permit letter fixed the fee: its model issues the letter without payment terms.
    older = [(name, content.replace(b'<camunda:inputParameter name="payment_days">14</camunda:inputParameter>', b""))
             for name, content in demo_files("bewohnerparkausweis")]
    first = process_definition_create(municipality=town, service=service, files=older, publish=True)
    parking_data["zone"]["zone"] = "C"
    with django_capture_on_commit_callbacks(execute=True):
        application = application_submit(municipality=town, service=service, data=parking_data).application
    [seeded] = [d for d in attach_demo_processes(town, demo_services) if d.service == service]
    assert seeded.version == 2
    # The running case finishes on its version; only new applications get the new model.
    task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                  data={"decision": {"outcome": "approve"}})
    assert ProcessInstance.objects.get(application=application).definition == first
    letter = _letter_text(application)
    assert "Betrag: 30 EUR." in letter and "Gebührenfestsetzung" not in letter
    assert ProcessDefinition.objects.get(service=service, state="published") == seeded


def test_street_space_waits_for_payment_then_issues_the_permit(submit, street_data, town, make_staff,
                                                               django_capture_on_commit_callbacks):
    application = submit("halteverbot-umzug", street_data)
    assert application.status == "in_review"
    assert "45 €" in application.history.last().public_text
    task = UserTask.objects.get(application=application)
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):  # the e-mails go out after the commit
        task_complete(task=task, user=make_staff(town), data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    assert application.status == "payment_due"
    assert "Verwendungszweck" in application.history.last().public_text  # on her status page
    # One e-mail asks her to pay; the status step after it (email=nein) does not say it again.
    [payment_request] = mail.outbox[before:]
    assert payment_request.subject == f"Zahlungsaufforderung {application.reference}"
    instance = ProcessInstance.objects.get(application=application)
    assert instance.waiting_messages == ["payment_received"]
    assert Timer.objects.filter(instance=instance).count() == 1
    message_deliver(application=application, name="payment_received", payload={"amount": 45})
    application.refresh_from_db()
    instance.refresh_from_db()
    assert application.status == "approved"
    assert instance.status == InstanceStatus.COMPLETED
    assert not Timer.objects.filter(instance=instance).exists()
    # The permit says where and when the signs stand.
    day = date.fromisoformat(street_data["place"]["date"])
    assert (f"Das Halteverbot ist genehmigt: Hauptstraße 12, am {day:%d.%m.%Y} von 07:00 bis 18:00 Uhr, auf 15 Metern."
            in _letter_text(application))


def test_the_status_step_checks_its_parameters_when_the_model_is_checked():
    from rathaus.processes.demo import DEMO_DIR
    from rathaus.processes.services import process_check

    bpmn = (DEMO_DIR / "street_space.bpmn").read_bytes()
    dmn = ("street_fee.dmn", (DEMO_DIR / "street_fee.dmn").read_bytes())
    assert not [p for p in process_check([("street.bpmn", bpmn), dmn]) if p["code"] == "invalid-step-parameter"]
    wrong = bpmn.replace(b'name="email">nein<', b'name="email">vielleicht<').replace(
        b'name="status">closed<', b'name="status">erledigt<')
    problems = {p["element_id"]: p for p in process_check([("street.bpmn", wrong), dmn])
                if p["code"] == "invalid-step-parameter"}
    assert set(problems) == {"set_waiting", "set_closed"}
    assert "«vielleicht» ist weder «ja» noch «nein»" in problems["set_waiting"]["message_de"]
    assert "«erledigt» ist kein Status" in problems["set_closed"]["message_de"]


def test_unpaid_street_space_closes_after_fourteen_days(submit, street_data, town, make_staff):
    application = submit("halteverbot-umzug", street_data)
    task = UserTask.objects.get(application=application)
    task_complete(task=task, user=make_staff(town), data={"decision": {"outcome": "approve"}})
    [timer] = Timer.objects.filter(instance__application=application)
    last_day = timezone.localdate(timer.due_at)
    assert last_day >= timezone.localdate() + timedelta(days=14)
    # She may pay all through the last day the request names; the case closes after it.
    evening = timezone.make_aware(datetime.combine(last_day, time(22, 0)))
    assert timer_fire_due(now=evening) == 0
    assert timer_fire_due(now=evening + timedelta(hours=2)) == 1
    application.refresh_from_db()
    assert application.status == "closed"


def test_a_payment_deadline_on_a_weekend_or_holiday_runs_to_the_next_working_day(submit, street_data, town, make_staff):
    application = submit("halteverbot-umzug", street_data)
    # Approved on Friday 11 December 2026: 14 days later is Christmas Day, then Saturday and Sunday.
    approved_at = timezone.make_aware(datetime(2026, 12, 11, 10, 0))
    task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                  data={"decision": {"outcome": "approve"}}, now=approved_at)
    application.refresh_from_db()
    assert "bis zum 28.12.2026" in application.history.last().public_text
    [timer] = Timer.objects.filter(instance__application=application)
    assert timezone.localtime(timer.due_at) == timezone.make_aware(datetime(2026, 12, 28, 23, 59, 59))


def _approved_days_before_the_move(submit, street_data, town, make_staff, days: int):
    move = date.fromisoformat(street_data["place"]["date"])
    application = submit("halteverbot-umzug", street_data)
    approved_at = timezone.make_aware(datetime.combine(move - timedelta(days=days), time(10, 0)))
    task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                  data={"decision": {"outcome": "approve"}}, now=approved_at)
    application.refresh_from_db()
    return application, move, approved_at


def test_the_payment_deadline_ends_before_the_signs_must_stand_not_after_the_move(submit, street_data, town,
                                                                                   make_staff):
    from rathaus_domain.shared.workdays import is_working_day

    # Approved ten days before the move: 14 days to pay would end after it. The signs must stand
    # 72 hours before the move, so the money must be in before the third day before it.
    application, move, _approved = _approved_days_before_the_move(submit, street_data, town, make_staff, 10)
    last_day = move - timedelta(days=4)
    while not is_working_day(last_day, town.ags[:2]):
        last_day -= timedelta(days=1)
    assert f"bis zum {last_day:%d.%m.%Y}" in application.history.last().public_text
    [timer] = Timer.objects.filter(instance__application=application)
    assert timezone.localtime(timer.due_at) == timezone.make_aware(datetime.combine(last_day, time(23, 59, 59)))
    assert timer.due_at < timezone.make_aware(datetime.combine(move, time(0, 0)))


def test_a_payment_asked_for_too_late_for_the_signs_is_due_the_same_day(submit, street_data, town, make_staff):
    # Approved two days before the move (the case worker's call): there is no earlier day to name.
    application, _move, approved_at = _approved_days_before_the_move(submit, street_data, town, make_staff, 2)
    assert f"bis zum {approved_at:%d.%m.%Y}" in application.history.last().public_text


def test_a_broken_case_neither_blocks_other_timers_nor_repeats_its_error(submit, street_data, town, make_staff):
    from rathaus.processes.services import process_retry

    worker = make_staff(town)
    broken, healthy = (submit("halteverbot-umzug", street_data) for _ in range(2))
    for application in (broken, healthy):
        task_complete(task=UserTask.objects.get(application=application), user=worker,
                      data={"decision": {"outcome": "approve"}})
    instance = ProcessInstance.objects.get(application=broken)
    saved_state = instance.state
    ProcessInstance.objects.filter(pk=instance.pk).update(state="{kaputt")
    later = timezone.now() + timedelta(days=20)  # after the payment deadline, also if it moved past a holiday

    # The broken case's timer is due first; with one timer per tick it must not starve the other.
    assert timer_fire_due(now=later, limit=1) == 0
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.FAILED
    assert timer_fire_due(now=later, limit=1) == 1
    healthy.refresh_from_db()
    assert healthy.status == "closed"
    assert timer_fire_due(now=later, limit=1) == 0
    assert CaseEvent.objects.filter(application=broken, kind="error").count() == 1

    # Once the state is repaired, staff retry the case and its timer fires on the next tick.
    ProcessInstance.objects.filter(pk=instance.pk).update(state=saved_state)
    process_retry(instance=instance, actor=worker)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.WAITING
    assert timer_fire_due(now=later) == 1
    broken.refresh_from_db()
    assert broken.status == "closed"
    assert CaseEvent.objects.filter(application=broken, kind="retried").count() == 1


def test_street_space_payment_wait_asks_her_to_pay_by_a_date_not_a_query(client, submit, street_data, town,
                                                                          make_staff,
                                                                          django_capture_on_commit_callbacks):
    from django.urls import reverse
    from django.utils.formats import date_format

    from rathaus.applications.services import access_token_for

    application = submit("halteverbot-umzug", street_data)
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                      data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    [timer] = Timer.objects.filter(instance__application=application)
    last_day = date_format(timezone.localdate(timer.due_at), "d.m.Y")
    page = client.get(reverse("applications:status", kwargs={
        "municipality": town.slug, "reference": application.reference, "token": access_token_for(application)}))
    html = page.content.decode()
    # Her status is a payment awaited, not a question to her; the amount, how and by when to pay are on the page.
    assert application.get_status_display() == "Zahlung offen"
    assert "Rückfrage an Sie" not in html and "Zahlung offen" in html
    text = application.history.last().public_text
    assert text.startswith("Ihr Antrag ist genehmigt. Bitte überweisen Sie 45 € bis zum " + last_day)
    assert "mit dem Verwendungszweck MUS-" in text
    [payment_request] = mail.outbox[before:]
    assert f"bitte überweisen Sie 45 € bis zum {last_day} mit dem Verwendungszweck" in payment_request.body


def test_the_dog_exemption_review_is_due_in_five_working_days_not_five_calendar_days(submit, dog_data, town):

    from rathaus_domain.shared.workdays import add_working_days

    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    task = UserTask.objects.get(application=application, element_id="review")
    # The service's processing norm (5 working days) with the same calendar as the parking review:
    # weekends and the public holidays of the town's state skipped, due at the end of the last day.
    last_day = add_working_days(timezone.localdate(), 5, town.ags[:2])
    assert timezone.localtime(task.due_at) == timezone.make_aware(datetime.combine(last_day, time(23, 59)))
    assert task.due_at - timezone.now() > timedelta(days=6)  # five working days always span a weekend


def test_working_day_deadlines_skip_public_holidays(town):
    from datetime import date

    from rathaus.applications.services import add_working_days

    # Wednesday 23 December: Thursday 24th counts; Christmas Day, Boxing Day and the Sunday do not.
    assert add_working_days(date(2026, 12, 23), 2, municipality=town) == date(2026, 12, 28)
    assert add_working_days(date(2026, 4, 2), 1, municipality=town) == date(2026, 4, 7)  # Good Friday, Easter Monday


def _letter_text(application) -> str:
    import io

    import pypdf

    from rathaus.cases.files import read_bytes

    document = Document.objects.get(application=application, document_type="decision")
    raw = read_bytes(document.versions.order_by("number").last().file)
    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(raw)).pages).split())


@pytest.mark.parametrize(("breed", "others", "fee", "rate"), [("labrador", 0, 90, "erster Hund"),
                                                               ("labrador", 2, 120, "weiterer Hund"),
                                                               ("pitbull", 0, 600, "Listenhund")])
def test_a_refused_exemption_is_named_in_the_letter_and_on_the_status_page(submit, dog_data, town, make_staff,
                                                                           breed, others, fee, rate):
    from .conftest import PDF

    dog_data["dog"].update(breed=breed, other_dogs=others)
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                  data={"decision": {"outcome": "reject", "note": "Kein gültiger Ausweis."}})
    application.refresh_from_db()
    # She applied for an exemption: the tax she must pay comes with the reason she gets no exemption.
    # The case worker's "reject" refused the exemption, not the registration: the tax letter charges
    # the tax, and the back office hears of a grant with its fee.
    from rathaus.integration.models import DomainEvent

    issued = DomainEvent.objects.get(application=application, kind="decision.issued").data["decision"]
    assert (issued["outcome"], issued["fee"]) == ("approve", fee)
    # The tax assessment in the letter (the core font spells out the euro sign).
    assert f"Steuerfestsetzung: Die Hundesteuer wird ab dem 01.12.2026 auf {fee},00 EUR jährlich festgesetzt." in \
        _letter_text(application)
    refused = "Befreiung nicht gewährt, weil kein anerkannter Nachweis vorliegt"
    assert application.status == "approved"
    assert f"Hundesteuer: {fee} € im Jahr ({refused}; {rate}" in application.history.last().public_text
    assert f"{refused}; {rate}" in _letter_text(application)
    # And why the case worker refused it, in her words, in both (a written decision gives its reasons).
    assert "Hinweis der Sachbearbeitung: Kein gültiger Ausweis." in application.history.last().public_text
    assert "Hinweis der Sachbearbeitung: Kein gültiger Ausweis." in _letter_text(application)


def test_a_granted_exemption_or_an_automatic_decision_carries_no_empty_note(submit, dog_data, town, make_staff):
    from .conftest import PDF

    automatic = submit("hund-anmelden", dog_data)
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    granted = submit("hund-anmelden", dog_data)
    task_complete(task=UserTask.objects.get(application=granted), user=make_staff(town),
                  data={"decision": {"outcome": "approve", "note": "Ausweis liegt vor."}})
    for application in (automatic, granted):
        application.refresh_from_db()
        text = application.history.last().public_text
        assert application.status == "approved"
        assert "Hinweis" not in text and "{" not in text and "  " not in text


def test_an_exemption_refused_for_want_of_proof_after_28_days_says_so(request_proof, town, make_staff):
    application = request_proof(make_staff(town))
    timer_fire_due(now=timezone.now() + timedelta(days=29))
    application.refresh_from_db()
    assert application.status == "approved"
    assert "90 € im Jahr (Befreiung nicht gewährt, weil kein anerkannter Nachweis vorliegt; erster Hund)" in \
        application.history.last().public_text
    assert "Befreiung nicht gewährt" in _letter_text(application)


# ---------------------------------------------------------------- the dog tax: what to pay, by when, where

ACCOUNT = "an Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX),"


@pytest.fixture
def town_with_account(town):
    from rathaus.tenants.services import municipality_update

    return municipality_update(municipality=town, payee_name="Stadtkasse Musterstadt",
                               iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX")


def _on(day: datetime):
    """The clock of the submission, the process and its letter at `day`."""
    return mock.patch("django.utils.timezone.now", return_value=day)


def _tax_notice(application):
    [notice] = [m for m in mail.outbox if m.subject == f"Ihr Hundesteuerbescheid ({application.reference})"]
    return notice.body


def test_a_dog_taken_in_during_the_year_pays_the_months_left_within_a_month_of_the_notice(
        submit, dog_data, town_with_account):
    # Taken in on 10 January: taxed from 1 February, 11 of 12 months of 90 € this year, 82,50 €, due
    # one month after the letter is notified (no date: she downloads it, or it is posted, later).
    dog_data["dog"]["kept_since"] = "2027-01-10"
    with _on(datetime(2027, 1, 31, 9, 0, tzinfo=UTC)):
        application = submit("hund-anmelden", dog_data)
    assert application.status == "approved", ProcessInstance.objects.get(application=application).error
    letter = _letter_text(application)
    [reference] = set(re.findall(re.escape(application.reference) + r"-[0-9A-F]{6}", letter))
    assert (f"Steuerfestsetzung: Die Hundesteuer wird ab dem 01.02.2027 auf 90,00 EUR jährlich festgesetzt. Für 2027 "
            f"(11 Monate) sind 82,50 EUR innerhalb eines Monats nach Bekanntgabe dieses Bescheids {ACCOUNT} mit dem "
            f"Verwendungszweck {reference} zu zahlen. Ab 2028 ist die Steuer jeweils zum 1. Juli fällig. Der Bescheid "
            f"gilt als bekannt gegeben: online bereitgestellt am Tag nach dem Abruf, mit der Post versandt am vierten "
            f"Tag nach der Aufgabe zur Post.") in letter
    assert "Gebühr" not in letter
    to_pay = (f"82,50 € innerhalb eines Monats nach Bekanntgabe des Bescheids {ACCOUNT} mit dem Verwendungszweck "
              f"{reference}.")
    assert application.history.last().public_text == (
        f"Ihr Hund ist angemeldet. Hundesteuer: 90 € im Jahr (Erster Hund) ab dem 01.02.2027. Bitte überweisen Sie "
        f"{to_pay} Der Bescheid liegt bei.")
    assert f"Die Hundesteuer beträgt 90 € im Jahr, ab dem 01.02.2027. Bitte überweisen Sie {to_pay}" in \
        _tax_notice(application)


def test_a_dog_taken_in_in_december_is_taxed_from_next_year_and_nothing_is_due_now(submit, dog_data,
                                                                                   town_with_account):
    dog_data["dog"].update(kept_since="2026-12-03", other_dogs=1)
    with _on(datetime(2026, 12, 7, 9, 0, tzinfo=UTC)):
        application = submit("hund-anmelden", dog_data)
    assert application.status == "approved", ProcessInstance.objects.get(application=application).error
    letter = _letter_text(application)
    assert ("Steuerfestsetzung: Die Hundesteuer wird ab dem 01.01.2027 auf 120,00 EUR jährlich festgesetzt. "
            "Für 2026 ist nichts zu zahlen. Ab 2027 ist die Steuer jeweils zum 1. Juli fällig.") in letter
    status = application.history.last().public_text
    assert status == ("Ihr Hund ist angemeldet. Hundesteuer: 120 € im Jahr (Weiterer Hund) ab dem 01.01.2027. "
                      "Jetzt ist nichts zu zahlen. Der Bescheid liegt bei.")
    notice = _tax_notice(application)
    assert "Die Hundesteuer beträgt 120 € im Jahr, ab dem 01.01.2027. Jetzt ist nichts zu zahlen." in notice
    for text in (letter, status, notice):
        assert "Verwendungszweck" not in text and "IBAN" not in text and "bis zum" not in text


def test_an_exempt_dog_is_assessed_at_nothing_and_no_payment_is_asked_for(submit, dog_data, town_with_account,
                                                                          make_staff, django_capture_on_commit_callbacks):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    with _on(datetime(2026, 11, 20, 9, 0, tzinfo=UTC)):
        application = submit("hund-anmelden", dog_data)
    with _on(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)), django_capture_on_commit_callbacks(execute=True):
        task_complete(task=UserTask.objects.get(application=application), user=make_staff(town_with_account),
                      data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    assert application.status == "approved"
    letter = _letter_text(application)
    assert "Steuerbefreiung nach § 4 Hundesteuersatzung" in letter
    assert "Steuerfestsetzung: Die Hundesteuer wird ab dem 01.12.2026 auf 0,00 EUR festgesetzt; es ist nichts zu zahlen." \
        in letter
    status = application.history.last().public_text
    assert status == ("Ihr Hund ist angemeldet. Hundesteuer: 0 € im Jahr (Steuerbefreiung nach § 4 Hundesteuersatzung) "
                      "ab dem 01.12.2026. Jetzt ist nichts zu zahlen. Der Bescheid liegt bei.")
    notice = _tax_notice(application)
    for text in (letter, status, notice):
        assert "Verwendungszweck" not in text and "IBAN" not in text and "jährlich" not in text


def test_a_dog_case_keeps_the_model_it_started_with_and_seeding_publishes_the_tax_letter_once(
        town, demo_services, dog_data, django_capture_on_commit_callbacks):
    from rathaus.applications.services import application_submit
    from rathaus.processes.demo import attach_demo_processes, demo_files
    from rathaus.processes.models import DefinitionState, ProcessDefinition
    from rathaus.processes.services import process_definition_create

    service = demo_services["hund-anmelden"]
    # A town seeded before the tax letter: its letter step fixes no tax and names only the amount.
    terms = re.compile(rb'\s*<camunda:inputParameter name="(tax|tax_from|tax_due_now|tax_due|payment_months)">[^<]*'
                       rb"</camunda:inputParameter>")
    older = [(name, terms.sub(b"", content)) for name, content in demo_files("hund-anmelden")]
    first = process_definition_create(municipality=town, service=service, files=older, publish=True)

    def submit():
        with django_capture_on_commit_callbacks(execute=True):
            return application_submit(municipality=town, service=service, data=dog_data).application

    before = submit()
    assert "Betrag: 90 EUR." in _letter_text(before) and "Steuerfestsetzung" not in _letter_text(before)
    [seeded] = [d for d in attach_demo_processes(town, demo_services) if d.service == service]
    assert seeded.version == 2 and attach_demo_processes(town, demo_services) == []
    assert [(d.version, d.state) for d in ProcessDefinition.objects.filter(service=service).order_by("version")] == [
        (1, DefinitionState.RETIRED), (2, DefinitionState.PUBLISHED)]
    after = submit()
    assert ProcessInstance.objects.get(application=before).definition == first
    assert ProcessInstance.objects.get(application=after).definition == seeded
    assert "Steuerfestsetzung: Die Hundesteuer wird ab dem 01.12.2026" in _letter_text(after)
