"""Acting on a task while the process moves (a citizen's upload cuts off the task staff are about to
take, or the deadline run reminds of it): one waits for the other, neither fails on a deadlock.

A move holds its instance from the start and cancels the tasks it cut off at the end; a task action
that locked the task first and then wrote a row referring to the instance (its timeline line, the
reminder's e-mail) waited for the move while the move waited for the task.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from rathaus.processes.models import CaseEvent, InstanceStatus, OutboxMessage, ProcessInstance, TaskState, UserTask
from rathaus.processes.services import TaskNotAllowed, message_deliver, task_claim, task_deadlines

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_check(monkeypatch):
    """``entered, go = slow_check()``: from now on the first step after an upload (checking the
    documents) waits until `go` is set; the move then holds its instance, as a slow step (a PDF, a
    call) holds it."""
    from rathaus.processes.steps.registry import steps
    from rathaus_domain.processes.engine import _Step

    def arm():
        real = steps._steps["check_documents"]
        entered, go = threading.Event(), threading.Event()

        def check_documents(ctx):
            entered.set()
            go.wait(10)
            return real.function(ctx)

        monkeypatch.setitem(steps._steps, "check_documents", _Step("check_documents", check_documents, ""))
        return entered, go

    return arm


def _in_thread(work, results, name):
    def run():
        try:
            results[name] = work()
        except Exception as exc:  # noqa: BLE001 - asserted by the test
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("action", ["claim", "reminder"])
def test_a_task_acted_on_while_an_upload_cuts_it_off_waits_for_the_upload(
        request_proof, town, make_staff, slow_check, action):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    worker = make_staff(town)
    application = request_proof(worker)
    waiting = UserTask.objects.get(application=application, element_id="await_proof", state=TaskState.OPEN)
    if action == "reminder":
        task_claim(task=waiting, user=worker)
    entered, go = slow_check()
    results: dict = {}
    upload = _in_thread(lambda: message_deliver(application=application, name="document_uploaded", payload={}),
                        results, "upload")
    assert entered.wait(10)  # the upload's move holds the instance now
    if action == "claim":
        colleague = make_staff(town, "b@musterstadt.example")
        act = _in_thread(lambda: task_claim(task=waiting, user=colleague), results, action)
    else:
        act = _in_thread(lambda: task_deadlines(now=waiting.due_at - timedelta(hours=1)), results, action)
    act.join(0.5)
    go.set()
    upload.join(15)
    act.join(15)
    assert not upload.is_alive() and not act.is_alive()

    assert isinstance(results["upload"], ProcessInstance), results
    assert ProcessInstance.objects.get(application=application).status != InstanceStatus.FAILED
    waiting.refresh_from_db()
    assert waiting.state == TaskState.CANCELLED  # the upload cut it off
    if action == "claim":
        # She is told plainly that the task is gone, and nothing is recorded for her.
        assert isinstance(results["claim"], TaskNotAllowed), results
        assert results["claim"].message == "Die Aufgabe ist bereits erledigt oder beendet."
        assert waiting.assignee is None
        assert not CaseEvent.objects.filter(application=application, kind="task_claimed").exists()
    else:
        # The run came after the upload: nobody is reminded of a task that is no longer there (the
        # review task the upload opened is overdue at the run's time, four weeks on, and escalated).
        assert results["reminder"] == {"reminded": 0, "escalated": 1}, results
        assert CaseEvent.objects.get(application=application, kind="task_escalated").element_id == "review"
        assert not OutboxMessage.objects.filter(idempotency_key=f"remind:{waiting.pk}").exists()
