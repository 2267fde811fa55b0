"""Every domain event is in the outbox if, and only if, its change committed."""

from __future__ import annotations

import base64
import json

import pytest
from django.db import transaction

from rathaus.applications.models import Application, Status
from rathaus.applications.services import application_change_status, application_submit
from rathaus.integration.models import DomainEvent, EventKind

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Boom(Exception):
    pass


def _submit(town, service, data, capture):
    with capture(execute=True):
        return application_submit(municipality=town, service=service, data=data).application


def test_submission_writes_one_submitted_event_with_reference_service_and_status(
        town, demo_services, dog_data, django_capture_on_commit_callbacks):
    application = _submit(town, demo_services["hund-anmelden"], dog_data, django_capture_on_commit_callbacks)
    # (Documents added to the case file are the case-file's events; they are not counted here.)
    events = list(DomainEvent.objects.for_municipality(town).filter(application=application)
                  .exclude(kind=EventKind.DOCUMENT_ADDED))
    assert [e.kind for e in events] == [EventKind.APPLICATION_SUBMITTED]
    event = events[0]
    assert event.reference == application.reference
    assert event.data == {"reference": application.reference, "status": "received", "channel": "online",
                          "service": {"slug": "hund-anmelden", "leika_key": "99108002001000", "name": "Hund-Anmelden"}}


def _then_fail(write):
    """Run `write` in a transaction that a later error rolls back."""
    with transaction.atomic():
        write()
        raise Boom


def test_a_submission_that_rolls_back_leaves_no_event(town, demo_services, dog_data):
    with pytest.raises(Boom):
        _then_fail(lambda: application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data))
    assert not Application.objects.exists()
    assert not DomainEvent.objects.exists()


def test_status_change_writes_an_event_and_a_rolled_back_one_does_not(
        town, demo_services, dog_data, make_staff, django_capture_on_commit_callbacks):
    application = _submit(town, demo_services["hund-anmelden"], dog_data, django_capture_on_commit_callbacks)
    clerk = make_staff(town)
    with pytest.raises(Boom):
        _then_fail(lambda: application_change_status(application=application, status=Status.REJECTED, actor=clerk))
    application.refresh_from_db()
    assert application.status == Status.RECEIVED
    assert not DomainEvent.objects.filter(kind=EventKind.STATUS_CHANGED).exists()

    application_change_status(application=application, status=Status.IN_REVIEW, actor=clerk)
    event = DomainEvent.objects.get(kind=EventKind.STATUS_CHANGED)
    assert event.data["status"] == "in_review"
    assert event.data["previous_status"] == "received"
    assert event.data["service"]["leika_key"] == "99108002001000"
    # Only a new text, same status: nothing changed for a back-office system.
    application_change_status(application=application, status=Status.IN_REVIEW, public_text="Wir prüfen.", actor=clerk)
    assert DomainEvent.objects.filter(kind=EventKind.STATUS_CHANGED).count() == 1


def test_process_engine_emits_status_and_decision_events_in_order(
        town, demo_services, dog_data, django_capture_on_commit_callbacks):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)
    application = _submit(town, demo_services["hund-anmelden"], dog_data, django_capture_on_commit_callbacks)
    application.refresh_from_db()
    assert application.status == Status.APPROVED
    events = list(DomainEvent.objects.filter(application=application).exclude(kind=EventKind.DOCUMENT_ADDED)
                  .order_by("id"))
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.APPLICATION_SUBMITTED
    assert EventKind.DECISION_ISSUED in kinds
    assert kinds[-1] == EventKind.STATUS_CHANGED and events[-1].data["status"] == "approved"
    decision = next(e for e in events if e.kind == EventKind.DECISION_ISSUED)
    assert decision.data["reference"] == application.reference
    assert decision.data["decision"]["outcome"] == "approve"
    assert decision.data["decision"]["fee"] not in (None, "")
    assert decision.data["decision"]["document_id"]
    assert kinds.index(EventKind.DECISION_ISSUED) < kinds.index(EventKind.STATUS_CHANGED, kinds.index(EventKind.DECISION_ISSUED))


def test_events_never_carry_the_citizens_form_data_or_files(town, demo_services, django_capture_on_commit_callbacks):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)
    content = base64.b64encode(PDF).decode()
    data = {"applicant": {"given_name": "Erika", "family_name": "Mustermann",
                          "address": {"street": "Hauptstraße", "house_number": "12", "postal_code": "99999",
                                      "city": "Musterstadt"}, "email": "erika@example.org"},
            "vehicle": {"plate": "MU-AB 123", "holder": "self",
                        "registration": {"filename": "fahrzeugschein-geheim.pdf", "content_type": "application/pdf",
                                         "content": content}},
            "zone": {"zone": "A", "start": "2026-12-01"}, "declaration": {"truthful": True, "privacy": True}}
    application = _submit(town, demo_services["bewohnerparkausweis"], data, django_capture_on_commit_callbacks)
    events = DomainEvent.objects.filter(application=application)
    assert events.exists()
    dumped = json.dumps([e.data for e in events])
    for private in (content[:40], "fahrzeugschein-geheim", "MU-AB 123", "Mustermann", "erika@example.org"):
        assert private not in dumped


@pytest.mark.django_db(transaction=True)
def test_event_emit_outside_a_transaction_is_refused(town):
    from rathaus.integration.services import event_emit

    with pytest.raises(RuntimeError):
        event_emit(municipality=town, kind=EventKind.STATUS_CHANGED)
    assert not DomainEvent.objects.exists()
