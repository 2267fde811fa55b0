"""Task permissions, deadlines (reminder, escalation), unexpected messages, the task API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.processes.models import CaseEvent, OutboxMessage, ProcessInstance, UserTask
from rathaus.processes.services import (
    TaskInvalid,
    TaskNotAllowed,
    message_deliver,
    task_assign,
    task_claim,
    task_complete,
    task_deadlines,
    task_delegate,
    task_return,
)
from rathaus_domain.processes.engine import MessageNotExpected

pytestmark = pytest.mark.django_db


@pytest.fixture
def street_task(submit, street_data):
    application = submit("halteverbot-umzug", street_data)
    return UserTask.objects.get(application=application)


def test_claim_assign_delegate_return_follow_the_roles(street_task, town, other_town, make_staff):
    worker = make_staff(town, "a@musterstadt.example")
    colleague = make_staff(town, "b@musterstadt.example")
    lead = make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    stranger = make_staff(other_town, "x@beispielhausen.example")
    with pytest.raises(TaskNotAllowed):
        task_claim(task=street_task, user=stranger)
    task_claim(task=street_task, user=worker)
    with pytest.raises(TaskNotAllowed):
        task_claim(task=street_task, user=colleague)
    with pytest.raises(TaskNotAllowed):
        task_assign(task=street_task, assignee=colleague, user=worker)
    task_delegate(task=street_task, assignee=colleague, user=worker)
    street_task.refresh_from_db()
    assert street_task.assignee == colleague
    with pytest.raises(TaskNotAllowed):
        task_complete(task=street_task, user=worker, data={"decision": {"outcome": "approve"}})
    task_return(task=street_task, user=colleague)
    task_assign(task=street_task, assignee=worker, user=lead)
    street_task.refresh_from_db()
    assert street_task.assignee == worker
    kinds = list(CaseEvent.objects.filter(application=street_task.application).values_list("kind", flat=True))
    assert kinds[-4:] == ["task_claimed", "task_delegated", "task_returned", "task_assigned"]


def test_invalid_task_data_is_refused_and_nothing_changes(street_task, town, make_staff):
    worker = make_staff(town)
    with pytest.raises(TaskInvalid):
        task_complete(task=street_task, user=worker, data={"decision": {"outcome": "maybe"}})
    street_task.refresh_from_db()
    assert street_task.state == "open"
    assert ProcessInstance.objects.get(pk=street_task.instance_id).status == "waiting"


def test_reminder_before_and_escalation_after_the_due_date(street_task, town, make_staff):
    worker = make_staff(town)
    make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    task_claim(task=street_task, user=worker)
    due = street_task.due_at
    assert task_deadlines(now=due - timedelta(hours=30)) == {"reminded": 0, "escalated": 0}
    assert task_deadlines(now=due - timedelta(hours=2)) == {"reminded": 1, "escalated": 0}
    assert task_deadlines(now=due + timedelta(hours=1)) == {"reminded": 0, "escalated": 1}
    assert task_deadlines(now=due + timedelta(hours=2)) == {"reminded": 0, "escalated": 0}
    keys = set(OutboxMessage.objects.values_list("idempotency_key", flat=True))
    assert {f"remind:{street_task.pk}", f"escalate:{street_task.pk}"} <= keys
    escalation = OutboxMessage.objects.get(idempotency_key=f"escalate:{street_task.pk}")
    assert escalation.payload["to"] == ["lead@musterstadt.example"]


def test_a_message_the_process_does_not_wait_for_changes_nothing(street_task):
    application = street_task.application
    before = ProcessInstance.objects.get(application=application).state
    with pytest.raises(MessageNotExpected):
        message_deliver(application=application, name="payment_received")
    assert ProcessInstance.objects.get(application=application).state == before


def test_a_message_for_a_case_without_process_says_so(town, demo_services, dog_data):
    from rathaus.applications.services import application_submit

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    with pytest.raises(MessageNotExpected, match="kein Verfahren"):
        message_deliver(application=application, name="payment_received")
    assert not ProcessInstance.objects.filter(application=application).exists()


def test_the_timeline_says_the_result_in_the_forms_words(street_task, town, make_staff):
    worker = make_staff(town, "a@musterstadt.example")
    task_complete(task=street_task, user=worker,
                  data={"decision": {"outcome": "reject", "note": "Die Straße ist an dem Tag gesperrt."}})
    line = CaseEvent.objects.filter(application=street_task.application, kind="task_result").get()
    # The option's label, not its stored value; the note under its field title.
    assert "Ergebnis: Ablehnen" in line.text and "reject" not in line.text
    assert "Begründung / Hinweis: Die Straße ist an dem Tag gesperrt." in line.text


def test_task_api_lists_and_completes(staff_client, street_task, town):
    listed = staff_client.get(f"/api/v1/m/{town.slug}/tasks?view=team").json()
    assert [t["id"] for t in listed] == [street_task.pk]
    bad = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete", {"data": {"decision": {}}},
                            content_type="application/json")
    assert bad.status_code == 422
    # A refusal gives its reasons: a note of only spaces is no reason, as on the task page.
    blank = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete",
                              {"data": {"decision": {"outcome": "reject", "note": "   "}}}, content_type="application/json")
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["pointer"] == "/data/decision/note"
    ok = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete",
                           {"data": {"decision": {"outcome": "reject", "note": "Zu kurzfristig."}}}, content_type="application/json")
    assert ok.status_code == 200
    street_task.application.refresh_from_db()
    assert street_task.application.status == "rejected"


def test_task_api_says_in_a_problem_document_when_the_process_cannot_go_on(staff_client, street_task, town, monkeypatch):
    # The step after the task fails (here: the payment service is down): the API answers 409 with
    # the reason instead of a server error, and the task stays open to be completed again.
    from rathaus.processes.steps.registry import steps
    from rathaus_domain.processes.engine import StepFailed, _Step

    def payment_down(ctx):
        raise StepFailed("Die Zahlungsplattform ist nicht erreichbar", "the payment platform is unreachable")

    monkeypatch.setitem(steps._steps, "wait_for_payment", _Step("wait_for_payment", payment_down, ""))
    response = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete",
                                 {"data": {"decision": {"outcome": "approve", "note": ""}}}, content_type="application/json")
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert "Zahlungsplattform ist nicht erreichbar" in response.json()["detail"]
    street_task.refresh_from_db()
    assert street_task.state == "open"


def test_task_api_needs_staff(client, street_task, town):
    assert client.get(f"/api/v1/m/{town.slug}/tasks").status_code == 401


@pytest.mark.parametrize("method", ["get", "put", "delete", "options"])
def test_a_method_the_task_and_message_endpoints_do_not_take_is_answered_with_a_problem(staff_client, street_task,
                                                                                        town, method):
    for url, allowed in ((f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete", "POST"),
                         (f"/api/v1/m/{town.slug}/applications/{street_task.application.reference}/messages", "POST"),
                         (f"/api/v1/m/{town.slug}/tasks", "GET")):
        if method == allowed.lower():
            continue
        response = getattr(staff_client, method)(url)
        assert response.status_code == 405, (url, response.content)
        assert response["Content-Type"] == "application/problem+json"
        assert response["Allow"] == allowed
        assert response.json() == {"type": "https://rathaus.example/problems/method-not-allowed",
                                   "title": "Method Not Allowed", "status": 405,
                                   "detail": f"Diese Adresse nimmt nur {allowed} an."}
    english = staff_client.put(f"/api/v1/m/{town.slug}/tasks", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "This address only accepts GET."
    street_task.refresh_from_db()
    assert street_task.state == "open"


@pytest.mark.parametrize(("language", "detail"), [("de", "Der Inhalt der Anfrage ist kein gültiges JSON."),
                                                  ("en", "The request body is not valid JSON.")])
def test_a_body_that_is_not_json_is_answered_with_a_problem_in_the_callers_language(staff_client, street_task, town,
                                                                                    language, detail):
    response = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete", data="{\"data\": {",
                                 content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {"type": "https://rathaus.example/problems/invalid-json", "title": "Bad Request",
                               "status": 400, "detail": detail}
    street_task.refresh_from_db()
    assert street_task.state == "open"


def test_process_audit_entries_form_an_intact_chain(submit, dog_data):
    from rathaus.core.audit import audit_verify
    from rathaus.core.models import AuditEntry

    submit("hund-anmelden", dog_data)
    decision = AuditEntry.objects.get(action="process.decision")
    assert decision.data["matched_rules"][0]["annotation"] == "Erster Hund: Regelsteuersatz"
    assert decision.data["inputs"]["Rasse"] == "labrador"
    assert decision.data["output"]["fee"] == 90
    assert audit_verify() == []
    _ = timezone.now()


def test_staff_of_another_municipality_get_404_from_the_task_api(client, street_task, town, other_town, make_staff,
                                                                login_verified):
    stranger = login_verified(client, make_staff(other_town, "x@beispielhausen.example"))
    assert stranger.get(f"/api/v1/m/{town.slug}/tasks").status_code == 404
    response = stranger.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete",
                             {"data": {"decision": {"outcome": "approve"}}}, content_type="application/json")
    assert response.status_code == 404
    street_task.refresh_from_db()
    assert street_task.state == "open"


def test_a_task_goes_only_to_someone_who_holds_its_role(street_task, town, make_staff):
    # Given to someone without the role, nobody could complete it: not she, and no one else.
    lead = make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    worker = make_staff(town, "a@musterstadt.example")
    UserTask.objects.filter(pk=street_task.pk).update(role=Role.TEAM_LEAD)
    street_task.refresh_from_db()
    with pytest.raises(TaskNotAllowed):
        task_assign(task=street_task, assignee=worker, user=lead)
    other_lead = make_staff(town, "lead2@musterstadt.example", role=Role.TEAM_LEAD)
    task_assign(task=street_task, assignee=other_lead, user=lead)
    with pytest.raises(TaskNotAllowed):
        task_delegate(task=street_task, assignee=worker, user=other_lead)
    other_lead.is_active = False
    other_lead.save()
    with pytest.raises(TaskNotAllowed):
        task_assign(task=street_task, assignee=other_lead, user=lead)
    street_task.refresh_from_db()
    assert street_task.assignee == other_lead


def test_escalation_reaches_the_towns_administration_and_says_when_nobody_can_be_told(street_task, town, make_staff):
    due = street_task.due_at
    assert task_deadlines(now=due + timedelta(hours=1)) == {"reminded": 0, "escalated": 1}
    [event] = CaseEvent.objects.filter(application=street_task.application, kind="task_escalated")
    assert "Niemand mit Teamleitung oder Administration" in event.text  # not "wurde eskaliert"
    assert not OutboxMessage.objects.filter(idempotency_key__startswith="escalate:").exists()

    second = UserTask.objects.get(pk=street_task.pk)
    UserTask.objects.filter(pk=second.pk).update(escalated_at=None)
    make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN)  # a small town: the admin leads
    make_staff(town, "sb@musterstadt.example")
    assert task_deadlines(now=due + timedelta(hours=2))["escalated"] == 1
    escalation = OutboxMessage.objects.get(idempotency_key=f"escalate:{street_task.pk}")
    assert escalation.payload["to"] == ["admin@musterstadt.example"]


def test_a_task_claimed_shortly_before_its_due_date_is_still_reminded(street_task, town, make_staff):
    due = street_task.due_at
    assert task_deadlines(now=due - timedelta(hours=20))["reminded"] == 0  # nobody has it yet
    worker = make_staff(town, "a@musterstadt.example")
    task_claim(task=street_task, user=worker)
    assert task_deadlines(now=due - timedelta(hours=10))["reminded"] == 1
    assert OutboxMessage.objects.get(idempotency_key=f"remind:{street_task.pk}").payload["to"] == [worker.email]


def test_a_task_name_on_two_lines_does_not_stop_its_reminder(street_task, town, make_staff):
    # Camunda Modeler writes a two-line label as name="Halteverbot&#10;genehmigen".
    from django.core import mail

    from rathaus.processes.outbox import outbox_deliver_many

    worker = make_staff(town, "a@musterstadt.example")
    task_claim(task=street_task, user=worker)
    UserTask.objects.filter(pk=street_task.pk).update(name="Halteverbot\ngenehmigen")
    task_deadlines(now=street_task.due_at - timedelta(hours=2))
    message = OutboxMessage.objects.get(idempotency_key=f"remind:{street_task.pk}")
    assert outbox_deliver_many([message.pk]) == 1
    [sent] = [m for m in mail.outbox if m.to == [worker.email]]
    assert sent.subject == f"Erinnerung: Halteverbot genehmigen ({street_task.application.reference})"


def test_a_due_date_beyond_the_calendar_fails_the_case_with_a_reason_and_stops_no_other(
        town, demo_services, dog_data, street_data, monkeypatch):
    from rathaus.applications.services import application_submit
    from rathaus.processes import services as process_services
    from rathaus.processes.demo import DEMO_DIR
    from rathaus.processes.services import process_definition_create, process_start, processes_sweep

    bpmn = (DEMO_DIR / "street_space.bpmn").read_bytes().replace(
        b'camunda:formKey="street-space-approval"', b'camunda:formKey="street-space-approval" camunda:dueDate="${duration(\'P9999999D\')}"')
    street = demo_services["halteverbot-umzug"]
    process_definition_create(municipality=town, service=street, publish=True, files=[
        ("street.bpmn", bpmn), ("street_fee.dmn", (DEMO_DIR / "street_fee.dmn").read_bytes())])
    application = application_submit(municipality=town, service=street, data=street_data).application
    instance = process_start(application=application)
    assert instance.status == "failed" and "außerhalb des Kalenders" in instance.error

    # Whatever else one case raises, the sweep starts the others and still sends the outbox.
    broken, healthy = (application_submit(municipality=town, service=street, data=street_data).application
                       for _ in range(2))
    real_start = process_services.process_start

    def start(*, application):
        if application.pk == broken.pk:
            raise RuntimeError("kaputt")
        return real_start(application=application)

    monkeypatch.setattr(process_services, "process_start", start)
    ProcessInstance.objects.filter(application=application).delete()
    later = timezone.now() + timedelta(minutes=1)
    result = processes_sweep(now=later)
    assert ProcessInstance.objects.filter(application=healthy).exists()
    assert not ProcessInstance.objects.filter(application=broken).exists()
    assert result["started"] == 2  # the first one (failed again, with its reason) and the healthy one
