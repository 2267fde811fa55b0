"""Staff request missing documents; the citizen hands them in on her status page; the process goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rathaus.applications.models import Application
from rathaus.applications.services import access_token_for
from rathaus.cases.models import Document, DocumentRequest
from rathaus.processes.models import OutboxMessage, ProcessInstance, TaskState, UserTask
from rathaus.processes.services import task_complete

from .conftest import PDF, PNG

pytestmark = pytest.mark.django_db


def _status(application):
    return reverse("applications:status", kwargs={"municipality": application.municipality.slug,
                                                  "reference": application.reference, "token": access_token_for(application)})


def _upload(application):
    return reverse("processes:citizen_upload", kwargs={"municipality": application.municipality.slug,
                                                       "reference": application.reference,
                                                       "token": access_token_for(application)})


def _requests_url(application):
    return reverse("cases:document_requests", kwargs={"municipality": application.municipality.slug,
                                                      "reference": application.reference})


@pytest.fixture
def waiting_case(submit, exemption_data, worker):
    """The case worker found the proof insufficient: the process waits for `document_uploaded`."""
    application = submit("hund-anmelden", exemption_data)
    task_complete(task=UserTask.objects.get(application=application, element_id="review"), user=worker,
                  data={"decision": {"outcome": "request_documents", "note": "Bitte Vorder- und Rückseite."}})
    application.refresh_from_db()
    assert ProcessInstance.objects.get(application=application).waiting_messages == ["document_uploaded"]
    return application


@pytest.fixture
def staff(client, login_verified, worker):
    return login_verified(client, worker)


def _request(staff, application, items="Ausweis Vorderseite\nAusweis Rückseite", days=14):
    deadline = (timezone.localdate() + timedelta(days=days)).isoformat()
    return staff.post(_requests_url(application), {"items": items, "message": "Der Ausweis ist nur halb zu sehen.",
                                                   "deadline": deadline})


def test_request_upload_and_the_process_continues_by_itself(staff, waiting_case, worker):
    page = staff.get(reverse("applications:staff_detail", kwargs={"municipality": waiting_case.municipality.slug,
                                                                  "reference": waiting_case.reference})).content.decode()
    assert "Unterlagen nachfordern" in page and _requests_url(waiting_case) in page
    assert _request(staff, waiting_case).status_code == 302
    request = DocumentRequest.objects.get(application=waiting_case)
    assert (request.items, request.requested_by, request.is_open) == (["Ausweis Vorderseite", "Ausweis Rückseite"], worker,
                                                                       True)
    mail = OutboxMessage.objects.get(idempotency_key=f"{waiting_case.reference}:request:{request.pk}")
    assert mail.payload["to"] == ["erika@example.org"]
    assert "- Ausweis Vorderseite\n- Ausweis Rückseite" in mail.payload["body"] and "Der Ausweis ist nur halb" in mail.payload["body"]

    citizen = Client()
    status = citizen.get(_status(waiting_case)).content.decode()
    assert "Bitte reichen Sie Unterlagen nach" in status and "Ausweis Rückseite" in status and 'name="item"' in status

    first = citizen.post(_upload(waiting_case), {"document": SimpleUploadedFile("vorne.png", PNG, content_type="image/png"),
                                                 "request": request.pk, "item": 0}, follow=True)
    assert "Vielen Dank" in first.content.decode()
    request.refresh_from_db()
    # One of two is in: the request stays open and the process keeps waiting for the rest.
    assert request.is_open
    assert ProcessInstance.objects.get(application=waiting_case).waiting_messages == ["document_uploaded"]

    citizen.post(_upload(waiting_case), {"document": SimpleUploadedFile("hinten.pdf", PDF), "request": request.pk,
                                         "item": 1})
    request.refresh_from_db()
    assert request.fulfilled_at is not None
    documents = Document.objects.filter(request=request).order_by("request_item")
    assert [(d.title, d.source, d.confidentiality, d.latest_version.filename) for d in documents] == [
        ("Ausweis Vorderseite", "citizen_later", "public", "vorne.png"),
        ("Ausweis Rückseite", "citizen_later", "public", "hinten.pdf")]
    # The waiting process got its message: the wait task is gone, the proof is back with the case worker.
    assert ProcessInstance.objects.get(application=waiting_case).waiting_messages == []
    assert UserTask.objects.get(application=waiting_case, element_id="await_proof").state == TaskState.CANCELLED
    assert UserTask.objects.filter(application=waiting_case, element_id="review", state=TaskState.OPEN).count() == 1
    after = citizen.get(_status(waiting_case)).content.decode()
    assert "Bitte reichen Sie Unterlagen nach" not in after and "Ausweis Rückseite" in after  # now under her documents


def test_a_request_also_works_when_no_process_waits(staff, submit, exemption_data):
    application = submit("hund-anmelden", exemption_data)  # the review task is open; nothing waits for documents
    citizen = Client()
    nothing = citizen.post(_upload(application), {"document": SimpleUploadedFile("x.pdf", PDF)}, follow=True)
    assert "keine Unterlagen erwartet" in nothing.content.decode()
    _request(staff, application, items="Meldebescheinigung")
    request = DocumentRequest.objects.get(application=application)
    # With one item the citizen need not choose.
    citizen.post(_upload(application), {"document": SimpleUploadedFile("melde.pdf", PDF), "request": request.pk})
    request.refresh_from_db()
    assert request.fulfilled_at is not None
    assert Document.objects.get(request=request).title == "Meldebescheinigung"
    assert UserTask.objects.get(application=application, element_id="review").state == TaskState.OPEN


def test_a_refused_upload_for_a_request_stores_nothing_and_keeps_it_open(staff, waiting_case):
    _request(staff, waiting_case, items="Ausweis")
    request = DocumentRequest.objects.get(application=waiting_case)
    before = Document.objects.count()
    response = Client().post(_upload(waiting_case), {"document": SimpleUploadedFile("ausweis.pdf.exe", PDF),
                                                     "request": request.pk, "item": 0}, follow=True)
    assert "wie ein Programm" in response.content.decode()
    request.refresh_from_db()
    assert request.is_open and Document.objects.count() == before
    assert ProcessInstance.objects.get(application=waiting_case).waiting_messages == ["document_uploaded"]


def test_an_item_cannot_be_handed_in_twice_or_for_someone_elses_request(staff, waiting_case, submit, exemption_data):
    _request(staff, waiting_case)
    request = DocumentRequest.objects.get(application=waiting_case)
    citizen = Client()
    citizen.post(_upload(waiting_case), {"document": SimpleUploadedFile("a.pdf", PDF), "request": request.pk, "item": 0})
    again = citizen.post(_upload(waiting_case), {"document": SimpleUploadedFile("a.pdf", PDF), "request": request.pk,
                                                 "item": 0}, follow=True)
    assert "schon eingegangen" in again.content.decode()
    other = submit("hund-anmelden", exemption_data)
    foreign = citizen.post(_upload(other), {"document": SimpleUploadedFile("a.pdf", PDF), "request": request.pk,
                                            "item": 1}, follow=True)
    assert "nicht mehr offen" in foreign.content.decode()
    assert Document.objects.filter(request=request).count() == 1


def test_a_signed_in_citizen_sees_the_request_under_my_applications_and_uploads_there(client, staff, waiting_case,
                                                                                      make_user):
    owner = make_user("erika@example.org")
    Application.objects.filter(pk=waiting_case.pk).update(applicant=owner)
    _request(staff, waiting_case, items="Ausweis")
    citizen = Client()
    citizen.force_login(owner)
    own = reverse("applications:my_status", kwargs={"municipality": waiting_case.municipality.slug,
                                                    "reference": waiting_case.reference})
    page = citizen.get(own).content.decode()
    upload = reverse("processes:my_upload", kwargs={"municipality": waiting_case.municipality.slug,
                                                    "reference": waiting_case.reference})
    assert "Bitte reichen Sie Unterlagen nach" in page and upload in page
    citizen.post(upload, {"document": SimpleUploadedFile("a.pdf", PDF),
                          "request": DocumentRequest.objects.get(application=waiting_case).pk})
    assert DocumentRequest.objects.get(application=waiting_case).fulfilled_at is not None
    assert ProcessInstance.objects.get(application=waiting_case).waiting_messages == []


@pytest.mark.parametrize(("items", "days", "message"), [
    ("", 14, "zwingend erforderlich"),
    ("Ausweis", -1, "nicht in der Vergangenheit"),
    ("x" * 201, 14, "höchstens 200 Zeichen"),
], ids=["no-items", "past-deadline", "too-long"])
def test_a_bad_request_is_refused_with_a_message_and_nothing_is_sent(staff, waiting_case, items, days, message):
    response = _request(staff, waiting_case, items=items, days=days)
    assert response.status_code == 422
    content = response.content.decode()
    assert message in content and "Bitte korrigieren Sie" in content
    assert not DocumentRequest.objects.exists()
    assert not OutboxMessage.objects.filter(idempotency_key__contains=":request:").exists()


def test_staff_withdraw_an_open_request(staff, waiting_case):
    _request(staff, waiting_case, items="Ausweis")
    request = DocumentRequest.objects.get(application=waiting_case)
    assert staff.get(_requests_url(waiting_case)).status_code == 200
    assert staff.post(_requests_url(waiting_case), {"action": "cancel", "request": request.pk}).status_code == 302
    request.refresh_from_db()
    assert request.cancelled_at is not None and not request.is_open
    assert "Bitte reichen Sie Unterlagen nach" not in Client().get(_status(waiting_case)).content.decode()


def test_a_decided_case_withdraws_its_requests_and_takes_no_more_uploads(staff, waiting_case):
    from rathaus.core.models import AuditEntry

    _request(staff, waiting_case, items="Ausweis")
    request = DocumentRequest.objects.get(application=waiting_case)
    detail = reverse("applications:staff_detail", kwargs={"municipality": waiting_case.municipality.slug,
                                                          "reference": waiting_case.reference})
    assert staff.post(detail, {"status": "rejected", "public_text": "Abgelehnt."}).status_code == 302
    request.refresh_from_db()
    assert request.cancelled_at is not None and not request.is_open
    assert AuditEntry.objects.filter(action="case.request_cancelled", object_id=str(request.pk)).count() == 1

    citizen = Client()
    status = citizen.get(_status(waiting_case)).content.decode()
    assert "Bitte reichen Sie Unterlagen nach" not in status and "Nachweis nachreichen" not in status
    assert 'type="file"' not in status
    before = Document.objects.count()
    refused = citizen.post(_upload(waiting_case), {"document": SimpleUploadedFile("ausweis.pdf", PDF),
                                                   "request": request.pk, "item": 0}, follow=True)
    assert "Dieser Antrag ist abgeschlossen" in refused.content.decode()
    assert Document.objects.count() == before
