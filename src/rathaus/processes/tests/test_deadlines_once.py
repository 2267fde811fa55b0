"""Reminders and escalations go out once per task, also when two runs overlap or a task is
completed while a run is under way."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from rathaus.accounts.models import Role
from rathaus.processes import services
from rathaus.processes.models import CaseEvent, OutboxMessage, TaskState, UserTask
from rathaus.processes.services import task_complete, task_deadlines


@pytest.fixture
def two_street_tasks(submit, street_data, town, make_staff):
    make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    return [UserTask.objects.get(application=submit("halteverbot-umzug", street_data)) for _ in range(2)]


@pytest.mark.django_db
def test_a_task_completed_while_the_run_is_under_way_is_not_escalated(two_street_tasks, town, make_staff, monkeypatch):
    first, second = two_street_tasks
    worker = make_staff(town)
    team_leads = services._team_leads

    def meanwhile(municipality_id):
        # While the run escalates the first task, a case worker completes the second.
        if UserTask.objects.get(pk=second.pk).state == TaskState.OPEN:
            task_complete(task=second, user=worker, data={"decision": {"outcome": "approve"}})
        return team_leads(municipality_id)

    monkeypatch.setattr(services, "_team_leads", meanwhile)
    assert task_deadlines(now=max(first.due_at, second.due_at) + timedelta(hours=1)) == {"reminded": 0, "escalated": 1}
    assert OutboxMessage.objects.filter(idempotency_key__startswith="escalate:").count() == 1
    assert not CaseEvent.objects.filter(application=second.application, kind="task_escalated").exists()
    second.refresh_from_db()
    assert (second.state, second.escalated_at) == (TaskState.COMPLETED, None)


def one_task_due(two_street_tasks) -> UserTask:
    """The first of the two tasks; the second is due a month later, out of the way of the deadline runs."""
    task = two_street_tasks[0]
    UserTask.objects.filter(pk=two_street_tasks[1].pk).update(due_at=task.due_at + timedelta(days=30))
    return task


def two_workers_and_a_lead(town, make_staff):
    return (make_staff(town, "a@musterstadt.example"), make_staff(town, "b@musterstadt.example"),
            make_staff(town, "lead2@musterstadt.example", role=Role.TEAM_LEAD))


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_escalate_an_overdue_task_once(two_street_tasks, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    task = one_task_due(two_street_tasks)
    # Both runs meet here if both got as far as escalating; a run that finds the task taken never comes.
    meeting = threading.Barrier(2, timeout=3)
    team_leads = services._team_leads

    def meet(municipality_id):
        try:
            meeting.wait()
        except threading.BrokenBarrierError:
            pass
        return team_leads(municipality_id)

    monkeypatch.setattr(services, "_team_leads", meet)
    results = []

    def run():
        try:
            results.append(task_deadlines(now=task.due_at + timedelta(hours=1)))
        finally:
            connections.close_all()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(30)
    assert sorted(result["escalated"] for result in results) == [0, 1]
    assert CaseEvent.objects.filter(application=task.application, kind="task_escalated").count() == 1
    assert OutboxMessage.objects.filter(idempotency_key=f"escalate:{task.pk}").count() == 1


@pytest.mark.django_db
def test_a_task_cut_off_by_its_due_timer_is_not_escalated(request_proof, town, make_staff):
    # "Nachweis abwarten" is due when its 28-day timer closes the case: between the due time and
    # the timer's tick the task is not escalated to the team leads, and after the tick it is gone.
    from django.utils import timezone

    from rathaus.processes.services import timer_fire_due

    make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    application = request_proof(make_staff(town))
    waiting = UserTask.objects.get(application=application, state=TaskState.OPEN)
    after_due = waiting.due_at + timedelta(minutes=1)
    assert after_due > timezone.now() + timedelta(days=27)

    assert task_deadlines(now=after_due)["escalated"] == 0
    timer_fire_due(now=after_due)
    waiting.refresh_from_db()
    assert waiting.state == TaskState.CANCELLED
    assert task_deadlines(now=after_due + timedelta(hours=1))["escalated"] == 0
    assert not OutboxMessage.objects.filter(idempotency_key__startswith="escalate:").exists()


@pytest.mark.django_db
def test_a_task_handed_on_after_its_reminder_reminds_its_new_holder_and_nobody_after_the_due_date(
        two_street_tasks, town, make_staff):
    task = one_task_due(two_street_tasks)
    first, second, lead = two_workers_and_a_lead(town, make_staff)
    due = task.due_at
    services.task_claim(task=task, user=first)
    assert task_deadlines(now=due - timedelta(hours=10))["reminded"] == 1
    # She hands it on the evening before: her colleague, who must now finish it, is reminded too, once.
    services.task_delegate(task=task, assignee=second, user=first)
    assert task_deadlines(now=due - timedelta(hours=5))["reminded"] == 1
    assert task_deadlines(now=due - timedelta(hours=4))["reminded"] == 0
    reminders = OutboxMessage.objects.filter(idempotency_key__startswith=f"remind:{task.pk}").order_by("pk")
    assert [m.payload["to"] for m in reminders] == [[first.email], [second.email]]
    # Overdue, it is escalated once; handed on after that, nobody is reminded or escalated to again.
    assert task_deadlines(now=due + timedelta(hours=1)) == {"reminded": 0, "escalated": 1}
    services.task_assign(task=task, assignee=first, user=lead)
    assert task_deadlines(now=due + timedelta(hours=2)) == {"reminded": 0, "escalated": 0}
    assert reminders.count() == 2
    assert OutboxMessage.objects.filter(idempotency_key__startswith="escalate:").count() == 1


@pytest.mark.django_db
def test_nobody_is_reminded_twice_of_one_task_however_often_it_changes_hands(two_street_tasks, town, make_staff):
    task = one_task_due(two_street_tasks)
    first, second, lead = two_workers_and_a_lead(town, make_staff)
    due = task.due_at
    services.task_claim(task=task, user=first)
    assert task_deadlines(now=due - timedelta(hours=10))["reminded"] == 1
    # A → B → A → B: each of them is reminded once, and the timeline says only what was sent.
    for hours, holder in ((8, second), (7, first), (6, second)):
        services.task_assign(task=task, assignee=holder, user=lead)
        task_deadlines(now=due - timedelta(hours=hours))
    # Back to the team and taken again by the same person: no second reminder either.
    services.task_return(task=task, user=second)
    services.task_claim(task=task, user=second)
    task_deadlines(now=due - timedelta(hours=5))
    reminders = OutboxMessage.objects.filter(idempotency_key__startswith=f"remind:{task.pk}").order_by("pk")
    assert [m.payload["to"] for m in reminders] == [[first.email], [second.email]]
    lines = CaseEvent.objects.filter(application=task.application, kind="task_reminded").order_by("pk")
    assert [line.text.split(" gesendet")[0] for line in lines] == ["Erinnerung an a@musterstadt.example",
                                                                   "Erinnerung an b@musterstadt.example"]


@pytest.mark.django_db
def test_a_reminder_is_in_the_case_timeline_and_the_audit_trail(two_street_tasks, town, make_staff):
    from rathaus.core.audit import audit_verify
    from rathaus.core.models import AuditEntry

    task = one_task_due(two_street_tasks)
    worker = make_staff(town, "a@musterstadt.example")
    services.task_claim(task=task, user=worker)
    assert task_deadlines(now=task.due_at - timedelta(hours=10))["reminded"] == 1
    line = CaseEvent.objects.get(application=task.application, kind="task_reminded")
    assert line.text == f"Erinnerung an a@musterstadt.example gesendet: Aufgabe „{task.name}“ ist am " \
                        f"{services.timezone.localtime(task.due_at):%d.%m.%Y %H:%M} fällig."
    assert line.automatic and line.actor is None
    entry = AuditEntry.objects.get(action="process.task_reminded")
    assert entry.summary == line.text and entry.object_id == str(task.pk)
    assert audit_verify() == []
