"""A case that staff decide by hand (a final status on the case page) ends its process: nothing the
process still waited for (a timer, a payment, a task) moves the case on afterwards."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.processes.models import CaseEvent, InstanceStatus, OutboxMessage, ProcessInstance, TaskState, Timer, UserTask
from rathaus.processes.services import message_deliver, task_complete, task_deadlines, timer_fire_due
from rathaus_domain.processes.engine import MessageNotExpected

from .conftest import PDF

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town)


@pytest.fixture
def waiting_for_payment(submit, street_data, worker):
    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=worker, data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    assert application.status == "payment_due"
    return application


def _set_status(client, login_verified, worker, application, status):
    staff = login_verified(client, worker)
    url = reverse("applications:staff_detail", kwargs={"municipality": application.municipality.slug,
                                                       "reference": application.reference})
    assert staff.post(url, {"status": status, "public_text": "Sie haben den Antrag zurückgezogen."}).status_code == 302
    application.refresh_from_db()


def test_a_withdrawn_application_is_not_closed_by_its_payment_deadline(client, login_verified, worker, waiting_for_payment):
    _set_status(client, login_verified, worker, waiting_for_payment, "withdrawn")
    emails = OutboxMessage.objects.filter(kind="email").count()

    assert not Timer.objects.filter(instance__application=waiting_for_payment).exists()
    assert timer_fire_due(now=timezone.now() + timedelta(days=15)) == 0
    with pytest.raises(MessageNotExpected):
        message_deliver(application=waiting_for_payment, name="payment_received")

    waiting_for_payment.refresh_from_db()
    assert waiting_for_payment.status == "withdrawn"
    assert [c.status for c in waiting_for_payment.history.all()][-1] == "withdrawn"
    assert OutboxMessage.objects.filter(kind="email").count() == emails  # no "closed" e-mail after the withdrawal
    instance = ProcessInstance.objects.get(application=waiting_for_payment)
    assert (instance.status, instance.waiting_messages, instance.current_elements) == (InstanceStatus.COMPLETED, [], [])
    line = CaseEvent.objects.get(application=waiting_for_payment, kind="process_ended")
    # The payment request's delivery job did not run here (no commit): it was still unsent, and is not sent now.
    assert line.text == ("Das Verfahren wurde beendet, weil der Antrag von Hand den Status „Zurückgezogen“ erhielt. "
                         "Deshalb wurde 1 noch nicht versandte E-Mail zu diesem Antrag zurückgehalten.")
    assert line.actor == worker


def test_a_case_rejected_by_hand_leaves_no_task_in_the_inbox_and_nothing_to_escalate(
        client, login_verified, town, make_staff, submit, dog_data, worker):
    make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    dog_data = copy.deepcopy(dog_data)
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    review = UserTask.objects.get(application=application, state=TaskState.OPEN)

    _set_status(client, login_verified, worker, application, "rejected")

    review.refresh_from_db()
    assert review.state == TaskState.CANCELLED
    assert task_deadlines(now=review.due_at + timedelta(hours=1)) == {"reminded": 0, "escalated": 0}
    assert application.status == "rejected"


def test_a_status_that_decides_nothing_leaves_the_process_waiting(client, login_verified, worker, waiting_for_payment):
    _set_status(client, login_verified, worker, waiting_for_payment, "in_review")
    instance = ProcessInstance.objects.get(application=waiting_for_payment)
    assert (instance.status, instance.waiting_messages) == (InstanceStatus.WAITING, ["payment_received"])
    assert timer_fire_due(now=timezone.now() + timedelta(days=15)) == 1
    waiting_for_payment.refresh_from_db()
    assert waiting_for_payment.status == "closed"


@pytest.mark.django_db(transaction=True)
def test_a_status_set_by_hand_while_the_process_moves_ends_it_without_a_deadlock_or_a_task_left(
        request_proof, worker, held_open):
    # The citizen's proof arrives (the process cancels "await proof" and opens a new review task)
    # while a case worker rejects the case on the case page: both go through, one after the other.
    import threading

    from django.db import connection, connections

    from rathaus.applications.services import application_change_status

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    application = request_proof(worker)
    results = {}

    def reject_by_hand():
        try:
            application_change_status(application=application, status="rejected", actor=worker,
                                      public_text="Abgelehnt.")
            results["done"] = True
        except Exception as exc:  # noqa: BLE001 - asserted below
            results["error"] = exc
        finally:
            connections.close_all()

    with held_open(lambda: message_deliver(application=application, name="document_uploaded", payload={})):
        thread = threading.Thread(target=reject_by_hand)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waits for the process's move
    thread.join(10)
    assert results == {"done": True}
    application.refresh_from_db()
    assert application.status == "rejected"
    assert ProcessInstance.objects.get(application=application).status == InstanceStatus.COMPLETED
    assert not UserTask.objects.filter(application=application, state=TaskState.OPEN).exists()


def test_the_status_form_says_that_a_final_status_ends_the_process(client, login_verified, worker, waiting_for_payment):
    staff = login_verified(client, worker)
    url = reverse("applications:staff_detail", kwargs={"municipality": waiting_for_payment.municipality.slug,
                                                       "reference": waiting_for_payment.reference})
    html = staff.get(url).content.decode()
    assert "beenden das Verfahren des Antrags" in html and "nicht rückgängig machen" in html
