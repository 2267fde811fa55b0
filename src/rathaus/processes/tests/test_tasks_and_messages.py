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
    line = CaseEvent.objects.filter(application=street_task.application, text__startswith="Ergebnis").get()
    # The option's label, not its stored value; the note under its field title.
    assert "Ergebnis: Ablehnen" in line.text and "reject" not in line.text
    assert "Begründung / Hinweis: Die Straße ist an dem Tag gesperrt." in line.text


def test_task_api_lists_and_completes(staff_client, street_task, town):
    listed = staff_client.get(f"/api/v1/m/{town.slug}/tasks?view=team").json()
    assert [t["id"] for t in listed] == [street_task.pk]
    bad = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{street_task.pk}/complete", {"data": {"decision": {}}},
                            content_type="application/json")
    assert bad.status_code == 422
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
