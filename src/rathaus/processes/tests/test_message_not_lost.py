"""A message whose next step fails is refused as a whole: the process keeps waiting for it, and the
sender (a back-office system, staff) is told and can send it again. Otherwise the process would fail
on the state before the message, a retry by staff would make it wait for the message once more, and
the sender, told that it arrived, would never send it again (with its Idempotency-Key it could not)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from rathaus.processes.models import CaseEvent, InstanceStatus, ProcessInstance, ReceivedMessage, UserTask
from rathaus.processes.services import task_complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town)


@pytest.fixture
def waiting_payment(submit, street_data, worker):
    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=worker, data={"decision": {"outcome": "approve"}})
    return application


@pytest.fixture
def letters_down(monkeypatch):
    """The step after the payment (writing the permit) fails until the returned set is cleared."""
    from rathaus.processes.steps.registry import steps
    from rathaus_domain.processes.engine import StepFailed, _Step

    real = steps._steps["issue_decision"]
    state = {"down"}

    def issue_decision(ctx):
        if state:
            raise StepFailed("Der Dokumentendienst ist nicht erreichbar", "the document service is unreachable")
        return real.function(ctx)

    monkeypatch.setitem(steps._steps, "issue_decision", _Step("issue_decision", issue_decision, ""))
    return state


def _still_waiting(application):
    instance = ProcessInstance.objects.get(application=application)
    assert (instance.status, instance.error, instance.waiting_messages) == (
        InstanceStatus.WAITING, "", ["payment_received"])
    assert not CaseEvent.objects.filter(application=application, kind__in=("message_received", "error")).exists()


def test_a_payment_whose_next_step_fails_is_refused_and_taken_when_sent_again_with_its_key(
        town, worker, login_verified, waiting_payment, letters_down):
    client = login_verified(Client(), worker)

    def send():
        return client.post(f"/api/v1/m/{town.slug}/applications/{waiting_payment.reference}/messages",
                           json.dumps({"name": "payment_received", "payload": {"amount": 45}}),
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="buchung-4711")

    refused = send()
    assert refused.status_code == 409, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/process-not-continued")
    assert "Dokumentendienst ist nicht erreichbar" in refused.json()["detail"]
    _still_waiting(waiting_payment)
    assert not ReceivedMessage.objects.exists()  # the key is free: the same request may come again

    letters_down.clear()
    again = send()
    assert again.status_code == 202, again.content
    assert again.json() == {"reference": waiting_payment.reference, "status": "approved",
                            "process_status": "completed", "waiting_for": []}
    assert CaseEvent.objects.filter(application=waiting_payment, kind="message_received").count() == 1


def test_staff_recording_a_payment_whose_next_step_fails_are_told_and_the_process_keeps_waiting(
        town, worker, login_verified, waiting_payment, letters_down):
    client = login_verified(Client(), worker)
    url = reverse("processes:case_message", kwargs={"municipality": town.slug, "reference": waiting_payment.reference})
    response = client.post(url, {"message": "payment_received"}, follow=True)
    page = response.content.decode()
    assert "Das Verfahren konnte nicht fortgesetzt werden: Der Dokumentendienst ist nicht erreichbar" in page
    assert "Eingang erfasst" not in page
    _still_waiting(waiting_payment)

    letters_down.clear()
    response = client.post(url, {"message": "payment_received"}, follow=True)
    assert "Eingang erfasst: Zahlung eingegangen" in response.content.decode()
    waiting_payment.refresh_from_db()
    assert waiting_payment.status == "approved"
