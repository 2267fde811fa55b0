"""Events from outside reach the waiting process: a citizen's late upload, staff recording a
payment, a back-office system's API call; plus the reminder and deadline of a document request."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rathaus.applications.services import access_token_for
from rathaus.cases.models import Document
from rathaus.processes.models import CaseEvent, InstanceStatus, OutboxMessage, ProcessInstance, TaskState, UserTask
from rathaus.processes.services import message_deliver, task_complete, timer_fire_due

from .conftest import PDF

pytestmark = pytest.mark.django_db

PDF_BYTES = base64.b64decode(PDF)


@pytest.fixture
def worker(town, make_staff):
    return make_staff(town)


@pytest.fixture
def proof_requested(request_proof, worker):
    """A dog registration with an exemption whose proof the case worker found insufficient."""
    return request_proof(worker)


def _status_url(application):
    return reverse("applications:status", kwargs={"municipality": application.municipality.slug,
                                                  "reference": application.reference, "token": access_token_for(application)})


def _upload_url(application):
    return reverse("processes:citizen_upload", kwargs={"municipality": application.municipality.slug,
                                                       "reference": application.reference,
                                                       "token": access_token_for(application)})


def test_a_requested_proof_puts_the_case_on_hold_and_asks_the_citizen(client, proof_requested):
    instance = ProcessInstance.objects.get(application=proof_requested)
    assert proof_requested.status == "waiting"
    assert "Der Ausweis ist abgelaufen." in proof_requested.history.last().public_text
    assert instance.waiting_messages == ["document_uploaded"]
    waiting = UserTask.objects.get(application=proof_requested, state=TaskState.OPEN)
    assert waiting.element_id == "await_proof"
    assert timedelta(days=27) < waiting.due_at - timezone.now() < timedelta(days=29)
    page = client.get(_status_url(proof_requested)).content.decode()
    assert "Nachweis nachreichen" in page and 'type="file"' in page and 'enctype="multipart/form-data"' in page


def test_the_citizens_upload_continues_the_process_by_itself(client, proof_requested):
    response = client.post(_upload_url(proof_requested), {"document": SimpleUploadedFile("neu.pdf", PDF_BYTES)})
    assert response.status_code == 302
    stored = Document.objects.get(application=proof_requested, form_field="nachgereicht/1")
    version = stored.versions.get()
    assert version.content_type == "application/pdf" and version.filename == "neu.pdf"
    assert (stored.source, stored.document_type, stored.confidentiality) == ("citizen_later", "proof", "public")
    # The wait is over: the waiting task is gone and the proof goes back to the case worker.
    assert UserTask.objects.get(application=proof_requested, element_id="await_proof").state == TaskState.CANCELLED
    assert UserTask.objects.filter(application=proof_requested, element_id="review", state=TaskState.OPEN).count() == 1
    instance = ProcessInstance.objects.get(application=proof_requested)
    assert instance.waiting_messages == []
    assert CaseEvent.objects.filter(application=proof_requested, kind="message_received").count() == 1
    assert "Vielen Dank" in client.get(_status_url(proof_requested)).content.decode()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("nachweis.pdf", b"MZ\x90\x00 not a pdf", "kein erlaubtes Format"),
    ("nachweis.pdf.exe", b"MZ\x90\x00", "kein erlaubtes Format"),
    ("leer.pdf", b"", "leer"),
    ("riesig.pdf", PDF_BYTES + b"\x00" * (10 * 1024 * 1024), "zu groß"),
], ids=["wrong-magic-bytes", "double-extension", "empty", "oversize"])
def test_a_refused_upload_stores_nothing_and_the_case_keeps_waiting(client, proof_requested, name, content, message):
    response = client.post(_upload_url(proof_requested), {"document": SimpleUploadedFile(name, content)}, follow=True)
    assert message in response.content.decode()
    assert not Document.objects.filter(application=proof_requested, form_field__startswith="nachgereicht/").exists()
    assert ProcessInstance.objects.get(application=proof_requested).waiting_messages == ["document_uploaded"]


def test_a_disguised_file_is_stored_under_the_extension_of_what_it_is(client, proof_requested):
    client.post(_upload_url(proof_requested), {"document": SimpleUploadedFile("../../etc/scan.exe.png", PDF_BYTES)})
    assert Document.objects.get(application=proof_requested, form_field="nachgereicht/1").versions.get().filename == "scan.pdf"


def test_nobody_can_upload_to_a_case_that_waits_for_nothing_or_with_a_wrong_token(client, submit, dog_data, proof_requested):
    done = submit("hund-anmelden", dog_data)
    assert done.status == "approved"
    response = client.post(_upload_url(done), {"document": SimpleUploadedFile("x.pdf", PDF_BYTES)}, follow=True)
    assert "Dieser Antrag ist abgeschlossen" in response.content.decode()
    wrong = reverse("processes:citizen_upload", kwargs={"municipality": proof_requested.municipality.slug,
                                                        "reference": proof_requested.reference, "token": "falsch"})
    assert client.post(wrong, {"document": SimpleUploadedFile("x.pdf", PDF_BYTES)}).status_code == 404
    assert not Document.objects.filter(form_field__startswith="nachgereicht/").exists()


def test_reminder_after_14_days_and_normal_rate_after_28_days(proof_requested):
    emails_before = OutboxMessage.objects.filter(kind="email").count()
    assert timer_fire_due(now=timezone.now() + timedelta(days=13)) == 0
    assert timer_fire_due(now=timezone.now() + timedelta(days=15)) == 1
    reminder = OutboxMessage.objects.filter(kind="email").order_by("-id").first()
    assert OutboxMessage.objects.filter(kind="email").count() == emails_before + 1
    assert reminder.payload["subject"] == f"Erinnerung: Nachweis für Ihren Antrag {proof_requested.reference}"
    # The reminder does not end the wait.
    assert UserTask.objects.get(application=proof_requested, element_id="await_proof").state == TaskState.OPEN
    assert timer_fire_due(now=timezone.now() + timedelta(days=29)) == 1
    proof_requested.refresh_from_db()
    instance = ProcessInstance.objects.get(application=proof_requested)
    assert instance.status == InstanceStatus.COMPLETED
    assert UserTask.objects.get(application=proof_requested, element_id="await_proof").state == TaskState.CANCELLED
    assert proof_requested.status == "approved"
    assert "Hundesteuer: 90 € im Jahr" in proof_requested.history.last().public_text
    assert timer_fire_due(now=timezone.now() + timedelta(days=60)) == 0


def test_a_proof_sent_by_post_is_recorded_by_completing_the_waiting_task(proof_requested, worker):
    waiting = UserTask.objects.get(application=proof_requested, element_id="await_proof")
    task_complete(task=waiting, user=worker, data={"decision": {"outcome": "approve"}})
    assert UserTask.objects.filter(application=proof_requested, element_id="review", state=TaskState.OPEN).count() == 1
    assert ProcessInstance.objects.get(application=proof_requested).waiting_messages == []


def test_staff_record_a_payment_and_the_permit_is_issued(client, login_verified, town, submit, street_data, worker):
    staff_client = login_verified(client, worker)
    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=worker,
                  data={"decision": {"outcome": "approve"}})
    detail = reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": application.reference})
    page = staff_client.get(detail).content.decode()
    assert "Erfassen: Zahlung eingegangen" in page
    url = reverse("processes:case_message", kwargs={"municipality": town.slug, "reference": application.reference})
    confirm = staff_client.get(url + "?message=payment_received").content.decode()
    assert 'value="payment_received" checked' in confirm
    application.refresh_from_db()
    assert application.status == "payment_due"  # looking is not recording
    assert staff_client.post(url, {"message": "payment_received"}).status_code == 302
    application.refresh_from_db()
    assert application.status == "approved"
    event = CaseEvent.objects.get(application=application, kind="message_received")
    assert event.actor is not None
    # A second click finds nothing to wait for and changes nothing.
    response = staff_client.post(url, {"message": "payment_received"}, follow=True)
    assert "wartet nicht" in response.content.decode()
    assert CaseEvent.objects.filter(application=application, kind="message_received").count() == 1


class TestMessageApi:
    @pytest.fixture
    def waiting_payment(self, submit, street_data, worker):
        application = submit("halteverbot-umzug", street_data)
        task_complete(task=UserTask.objects.get(application=application), user=worker,
                      data={"decision": {"outcome": "approve"}})
        return application

    @staticmethod
    def _client(worker, login_verified):
        client = login_verified(Client(enforce_csrf_checks=True), worker)
        client.get("/")  # sets the CSRF cookie
        return client

    @staticmethod
    def _post(client, town, reference, body, csrf=True, key=None):
        headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value} if csrf and "csrftoken" in client.cookies else {}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        return client.post(f"/api/v1/m/{town.slug}/applications/{reference}/messages", json.dumps(body),
                           content_type="application/json", **headers)

    def test_a_message_sent_again_with_its_idempotency_key_changes_nothing_and_succeeds(
            self, town, worker, login_verified, waiting_payment):
        # A back-office system that got no answer (a timeout) sends the same message again.
        client = self._client(worker, login_verified)
        payment = {"name": "payment_received", "payload": {"amount": 45}}
        first = self._post(client, town, waiting_payment.reference, payment, key="buchung-4711")
        again = self._post(client, town, waiting_payment.reference, payment, key="buchung-4711")
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json() == first.json() == {"reference": waiting_payment.reference, "status": "approved",
                                                "process_status": "completed", "waiting_for": []}
        assert CaseEvent.objects.filter(application=waiting_payment, kind="message_received").count() == 1
        # Without the key a repetition is refused as before: the process waits for nothing.
        assert self._post(client, town, waiting_payment.reference, payment).status_code == 409

    def test_an_idempotency_key_used_for_another_message_is_a_conflict(self, town, worker, login_verified,
                                                                       waiting_payment, submit, street_data):
        client = self._client(worker, login_verified)
        self._post(client, town, waiting_payment.reference, {"name": "payment_received", "payload": {"amount": 45}},
                   key="buchung-4711")
        other_payload = self._post(client, town, waiting_payment.reference,
                                   {"name": "payment_received", "payload": {"amount": 46}}, key="buchung-4711")
        assert other_payload.status_code == 409 and other_payload.json()["type"].endswith("idempotency-conflict")
        other = submit("halteverbot-umzug", street_data)
        task_complete(task=UserTask.objects.get(application=other), user=worker, data={"decision": {"outcome": "approve"}})
        other_case = self._post(client, town, other.reference, {"name": "payment_received", "payload": {"amount": 45}},
                                key="buchung-4711")
        assert other_case.status_code == 409 and "andere Nachricht" in other_case.json()["detail"]
        assert ProcessInstance.objects.get(application=other).waiting_messages == ["payment_received"]

    def test_a_refused_message_keeps_no_key_and_a_bad_key_is_refused(self, town, worker, login_verified,
                                                                      waiting_payment):
        from rathaus.processes.models import ReceivedMessage

        client = self._client(worker, login_verified)
        early = self._post(client, town, waiting_payment.reference, {"name": "document_uploaded"}, key="k-1")
        assert early.status_code == 409 and early.json()["type"].endswith("message-not-expected")
        assert early.json()["detail"] == "Das Verfahren wartet nicht auf «document_uploaded»."
        english = client.post(f"/api/v1/m/{town.slug}/applications/{waiting_payment.reference}/messages",
                              json.dumps({"name": "document_uploaded"}), content_type="application/json",
                              HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, HTTP_ACCEPT_LANGUAGE="en")
        assert english.json()["detail"] == "The process is not waiting for «document_uploaded»."
        assert not ReceivedMessage.objects.exists()
        too_long = self._post(client, town, waiting_payment.reference, {"name": "payment_received"}, key="x" * 201)
        assert too_long.status_code == 400 and too_long.json()["type"].endswith("invalid-idempotency-key")
        assert ProcessInstance.objects.get(application=waiting_payment).waiting_messages == ["payment_received"]
        assert self._post(client, town, waiting_payment.reference, {"name": "payment_received"},
                          key="k-1").status_code == 202

    def test_a_payment_reported_by_api_moves_the_process_on(self, town, worker, login_verified, waiting_payment):
        client = self._client(worker, login_verified)
        response = self._post(client, town, waiting_payment.reference,
                              {"name": "payment_received", "payload": {"amount": 45, "booking": "2026-12-06"}})
        assert response.status_code == 202, response.content
        assert response.json() == {"reference": waiting_payment.reference, "status": "approved",
                                   "process_status": "completed", "waiting_for": []}
        again = self._post(client, town, waiting_payment.reference, {"name": "payment_received"})
        assert again.status_code == 409
        assert again["Content-Type"] == "application/problem+json"

    def test_without_csrf_token_nothing_happens(self, town, worker, login_verified, waiting_payment):
        client = self._client(worker, login_verified)
        response = self._post(client, town, waiting_payment.reference, {"name": "payment_received"}, csrf=False)
        assert response.status_code == 403
        assert ProcessInstance.objects.get(application=waiting_payment).waiting_messages == ["payment_received"]

    def test_payload_with_bad_field_names_is_refused(self, town, worker, login_verified, waiting_payment):
        client = self._client(worker, login_verified)
        response = self._post(client, town, waiting_payment.reference,
                              {"name": "payment_received", "payload": {"__class__": 1}})
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/payload/__class__"
        assert ProcessInstance.objects.get(application=waiting_payment).status == InstanceStatus.WAITING

    @pytest.mark.parametrize("payload", [{"typename": "Zahlung"}, {"booking": {"typename": "Zahlung"}},
                                         {"items": [{"amount": 45, "typename": "Zahlung"}]}])
    def test_a_reserved_field_name_is_refused_and_the_process_keeps_waiting(self, town, worker, login_verified,
                                                                              waiting_payment, payload):
        client = self._client(worker, login_verified)
        response = self._post(client, town, waiting_payment.reference, {"name": "payment_received", "payload": payload})
        assert response.status_code == 422, response.content
        problem = response.json()
        assert problem["type"].endswith("/invalid-message-payload")
        assert "typename" in problem["detail"]
        assert problem["errors"][0]["pointer"].endswith("/typename")
        instance = ProcessInstance.objects.get(application=waiting_payment)
        assert (instance.status, instance.error, instance.waiting_messages) == (
            InstanceStatus.WAITING, "", ["payment_received"])
        # The corrected message is taken afterwards.
        again = self._post(client, town, waiting_payment.reference, {"name": "payment_received", "payload": {"amount": 45}})
        assert again.json()["process_status"] == "completed"

    def test_a_message_named_like_the_reserved_field_is_refused_with_its_data(self, town, worker, login_verified,
                                                                                waiting_payment):
        client = self._client(worker, login_verified)
        response = self._post(client, town, waiting_payment.reference, {"name": "typename", "payload": {"amount": 45}})
        assert response.status_code == 422, response.content
        assert response.json()["detail"].startswith("Die Nachricht kann so nicht verarbeitet werden: ")
        assert "typename" in response.json()["detail"]
        english = client.post(f"/api/v1/m/{town.slug}/applications/{waiting_payment.reference}/messages",
                              json.dumps({"name": "typename", "payload": {"amount": 45}}), content_type="application/json",
                              HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, HTTP_ACCEPT_LANGUAGE="en")
        assert english.json()["detail"].startswith("The message cannot be processed as sent: message «typename»")
        assert ProcessInstance.objects.get(application=waiting_payment).status == InstanceStatus.WAITING

    @pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "9" * 400])
    def test_a_number_the_process_cannot_compute_with_is_refused_and_the_process_keeps_waiting(
            self, town, worker, login_verified, waiting_payment, number):
        client = self._client(worker, login_verified)
        response = client.post(f"/api/v1/m/{town.slug}/applications/{waiting_payment.reference}/messages",
                               '{"name": "payment_received", "payload": {"booking": {"amount": ' + number + "}}}",
                               content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
        assert response.status_code == 422, response.content
        problem = response.json()
        assert problem["type"].endswith("/invalid-message-payload")
        assert problem["detail"].startswith("Die Nutzdaten enthalten Zahlen, die das Verfahren nicht verarbeiten kann")
        assert problem["errors"] == [{"pointer": "/payload/booking/amount",
                                      "detail": "keine endliche Zahl oder größer als 1024 Bit"}]
        instance = ProcessInstance.objects.get(application=waiting_payment)
        assert (instance.status, instance.waiting_messages) == (InstanceStatus.WAITING, ["payment_received"])
        assert not CaseEvent.objects.filter(application=waiting_payment, kind="message_received").exists()

    def test_other_municipality_and_citizens_get_nothing(self, town, other_town, make_staff, login_verified, waiting_payment,
                                                         client):
        stranger = self._client(make_staff(other_town, "x@beispielhausen.example"), login_verified)
        assert self._post(stranger, other_town, waiting_payment.reference, {"name": "payment_received"}).status_code == 404
        assert self._post(stranger, town, waiting_payment.reference, {"name": "payment_received"}).status_code == 404
        anonymous = client.post(f"/api/v1/m/{town.slug}/applications/{waiting_payment.reference}/messages",
                                json.dumps({"name": "payment_received"}), content_type="application/json")
        assert anonymous.status_code == 401
        assert ProcessInstance.objects.get(application=waiting_payment).waiting_messages == ["payment_received"]


def test_task_api_refuses_a_post_without_csrf_token(town, worker, login_verified, submit, street_data):
    application = submit("halteverbot-umzug", street_data)
    task = UserTask.objects.get(application=application)
    client = login_verified(Client(enforce_csrf_checks=True), worker)
    response = client.post(f"/api/v1/m/{town.slug}/tasks/{task.pk}/complete",
                           json.dumps({"data": {"decision": {"outcome": "approve"}}}), content_type="application/json")
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.state == TaskState.OPEN


def test_message_deliver_for_the_wrong_message_changes_nothing(proof_requested):
    from rathaus_domain.processes.engine import MessageNotExpected

    with pytest.raises(MessageNotExpected):
        message_deliver(application=proof_requested, name="payment_received")
    assert ProcessInstance.objects.get(application=proof_requested).waiting_messages == ["document_uploaded"]


class TestLoneSurrogates:
    """An escaped lone surrogate (`\\ud800`) is valid JSON but no text: refused before anything is stored."""

    def test_task_data_with_a_lone_surrogate_is_refused_and_the_task_stays_open(self, town, worker, login_verified,
                                                                                  submit, street_data):
        application = submit("halteverbot-umzug", street_data)
        task = UserTask.objects.get(application=application)
        client = login_verified(Client(), worker)
        response = client.post(f"/api/v1/m/{town.slug}/tasks/{task.pk}/complete",
                               '{"data": {"decision": {"outcome": "approve", "note": "a\\ud800b"}}}',
                               content_type="application/json")
        assert response.status_code == 400, response.content
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-encoding")
        task.refresh_from_db()
        assert task.state == TaskState.OPEN
        assert not CaseEvent.objects.filter(application=application, kind="task_result").exists()

    def test_a_message_payload_with_a_lone_surrogate_is_refused_and_the_process_keeps_waiting(
            self, town, worker, login_verified, submit, street_data):
        application = submit("halteverbot-umzug", street_data)
        task_complete(task=UserTask.objects.get(application=application), user=worker,
                      data={"decision": {"outcome": "approve"}})
        client = login_verified(Client(), worker)
        response = client.post(f"/api/v1/m/{town.slug}/applications/{application.reference}/messages",
                               '{"name": "payment_received", "payload": {"booking": "a\\udfffb"}}',
                               content_type="application/json")
        assert response.status_code == 400, response.content
        assert response.json()["type"].endswith("/invalid-encoding")
        instance = ProcessInstance.objects.get(application=application)
        assert (instance.status, instance.waiting_messages) == (InstanceStatus.WAITING, ["payment_received"])


def test_a_message_whose_data_the_process_cannot_store_is_refused_and_fails_nothing(submit, street_data, worker):
    from rathaus_domain.processes.engine import MessageInvalid

    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=worker, data={"decision": {"outcome": "approve"}})
    before = ProcessInstance.objects.get(application=application)
    with pytest.raises(MessageInvalid, match="typename"):
        message_deliver(application=application, name="payment_received", payload={"payment_received": {"typename": 1}})
    after = ProcessInstance.objects.get(application=application)
    assert (after.status, after.error, after.state) == (InstanceStatus.WAITING, "", before.state)
    assert not CaseEvent.objects.filter(application=application, kind="error").exists()


@pytest.mark.django_db(transaction=True)
def test_a_message_repeated_with_its_key_at_the_same_moment_is_delivered_once(submit, street_data, worker, held_open):
    import threading

    from django.db import connection, connections

    from rathaus.processes.services import message_deliver_once

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=worker, data={"decision": {"outcome": "approve"}})
    results = {}

    def deliver():
        return message_deliver_once(application=application, name="payment_received", payload={}, idempotency_key="b-1")

    def repetition():
        try:
            results["again"] = deliver().replayed
        finally:
            connections.close_all()

    with held_open(lambda: deliver().replayed) as first_replayed:
        thread = threading.Thread(target=repetition)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waits for the first delivery's lock on the case
    thread.join(10)
    assert (first_replayed, results["again"]) == (False, True)
    assert CaseEvent.objects.filter(application=application, kind="message_received").count() == 1
