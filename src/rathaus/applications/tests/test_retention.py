"""Retention: a due application loses its personal data everywhere it was copied to, and nothing else."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.core import serializers
from django.core.files.storage import default_storage
from django.utils import timezone

from rathaus.applications.models import Application, Draft, Note, StatusChange
from rathaus.applications.services import (
    application_change_status,
    application_submit,
    applications_apply_retention,
    note_add,
)
from rathaus.cases.models import Document, DocumentVersion
from rathaus.cases.services import receipt_document_ensure
from rathaus.core.audit import audit_verify
from rathaus.core.models import AuditEntry
from rathaus.processes.models import (
    CaseEvent,
    InstanceStatus,
    OutboxMessage,
    ProcessInstance,
    TaskState,
    Timer,
    UserTask,
)
from rathaus.processes.services import task_complete

pytestmark = pytest.mark.django_db

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()
# What the test data says about the applicant; none of it may survive retention in a derived row.
PERSONAL = ("Erika", "Mustermann", "erika@example.org", "Hauptstra", "1980-01-31", "276098106123456", "Bello")
DERIVED_MODELS = (Application, StatusChange, Note, Document, DocumentVersion, ProcessInstance, UserTask, Timer, OutboxMessage,
                  CaseEvent)


@pytest.fixture
def processes(town, demo_services):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)
    for service in demo_services.values():
        service.retention_days = 30
        service.save(update_fields=["retention_days"])
    return demo_services


@pytest.fixture
def submit(town, processes, django_capture_on_commit_callbacks):
    def run(slug, data):
        with django_capture_on_commit_callbacks(execute=True):
            application = application_submit(municipality=town, service=processes[slug], data=data).application
        application.refresh_from_db()
        return application

    return run


@pytest.fixture
def street_data(dog_data):
    return {
        "applicant": {key: dog_data["owner"][key] for key in ("given_name", "family_name", "address", "email")},
        # At least 14 days ahead, as the form asks (x-date-min-days-ahead).
        "place": {"street": "Hauptstraße", "house_number": "12", "length_m": 15, "side": "house",
                  "date": (timezone.localdate() + timedelta(days=30)).isoformat(), "from_time": "07:00", "to_time": "18:00"},
        "vehicles": {"items": [{"kind": "van"}]},
        "declaration": {"truthful": True, "privacy": True},
    }


def _age(application, days: int = 31) -> None:
    Application.objects.filter(pk=application.pk).update(closed_at=timezone.now() - timedelta(days=days))


def _dump() -> str:
    """Every row of the application and of everything derived from it, as one text."""
    return "\n".join(serializers.serialize("json", model.objects.all()) for model in DERIVED_MODELS)


def _retention(django_capture_on_commit_callbacks) -> dict[str, int]:
    with django_capture_on_commit_callbacks(execute=True):
        return applications_apply_retention()


def test_retention_removes_personal_data_from_every_derived_row_and_keeps_the_statistics(
        submit, dog_data, town, make_staff, django_capture_on_commit_callbacks):
    worker = make_staff(town)
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "Ausweis-Erika-Mustermann.pdf", "content_type": "application/pdf",
                                       "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    task = UserTask.objects.get(application=application)
    with django_capture_on_commit_callbacks(execute=True):
        task_complete(task=task, user=worker,
                      data={"decision": {"outcome": "approve", "note": "Frau Mustermann hat den Ausweis gezeigt."}})
        note_add(application=application, author=worker, text="Erika Mustermann rief an, Bello ist gechipt.")
    # Later, once the tax notice has gone out (an unsent one the status set by hand would hold back).
    with django_capture_on_commit_callbacks(execute=True):
        application_change_status(application=application, status="closed", actor=worker,
                                  public_text="Liebe Frau Mustermann, Ihr Vorgang ist abgeschlossen.")
    application.refresh_from_db()
    receipt_document_ensure(application=application)  # as the citizen's first download of the receipt does
    # The proof from the form, the receipt and the decision letter.
    files = [v.file.name for v in DocumentVersion.objects.filter(document__application=application)]
    assert sorted(Document.objects.filter(application=application).values_list("document_type", flat=True)) == [
        "application_form", "decision", "proof"]
    assert len(files) == 3 and all(default_storage.exists(name) for name in files)
    before = _dump()
    assert all(word in before for word in PERSONAL)
    assert OutboxMessage.objects.filter(idempotency_key__startswith=f"{application.reference}:").exists()
    history = list(application.history.values_list("status", "created_at"))
    events = CaseEvent.objects.filter(application=application).count()
    _age(application)

    assert _retention(django_capture_on_commit_callbacks) == {"anonymised": 1, "failed": 0, "drafts_deleted": 0}

    after = _dump()
    assert [word for word in PERSONAL if word in after] == []
    assert not any(default_storage.exists(name) for name in files)
    application.refresh_from_db()
    instance = ProcessInstance.objects.get(application=application)
    assert instance.state == "" and instance.status == InstanceStatus.COMPLETED
    assert UserTask.objects.get(pk=task.pk).result == {}
    assert not Document.objects.filter(application=application).exists()
    assert not DocumentVersion.objects.filter(document__application=application).exists()
    assert not Note.objects.filter(application=application).exists()
    assert all(m.payload == {} for m in OutboxMessage.objects.filter(idempotency_key__startswith=f"{application.reference}:"))
    # What statistics need stays: reference, service, status, channel, dates, the history and timeline rows.
    assert application.reference.startswith("MUS-") and application.status == "closed"
    assert application.submitted_at is not None and application.closed_at is not None
    assert list(application.history.values_list("status", "created_at")) == history
    assert CaseEvent.objects.filter(application=application).count() == events
    entry = AuditEntry.objects.get(action="application.anonymised", object_id=str(application.pk))
    assert entry.data["removed"] == {"document_versions": 3, "documents": 3, "document_requests": 0, "notes": 1, "status_texts": len(history),
                                     "events": events, "representations": 0, "tasks": 1, "processes": 1, "timers": 0,
                                     "outbox_cancelled": 0, "outbox_cleared": entry.data["removed"]["outbox_cleared"],
                                     "audit_redacted": AuditEntry.objects.filter(
                                         object_id=str(application.pk), action__startswith="process.",
                                         object_type="applications.application").count()}
    assert entry.data["removed"]["audit_redacted"] >= 10  # the process's steps and decisions
    assert entry.data["removed"]["outbox_cleared"] >= 1
    assert [word for word in PERSONAL if word in json.dumps([entry.summary, entry.data])] == []
    assert audit_verify() == []


def test_retention_ends_a_waiting_process_and_cancels_its_unsent_mail(submit, street_data, town, make_staff,
                                                                      django_capture_on_commit_callbacks):
    from rathaus.processes.services import message_deliver
    from rathaus_domain.processes.engine import MessageNotExpected

    worker = make_staff(town)
    application = submit("halteverbot-umzug", street_data)
    with django_capture_on_commit_callbacks(execute=True):
        task_complete(task=UserTask.objects.get(application=application), user=worker,
                      data={"decision": {"outcome": "approve"}})
    instance = ProcessInstance.objects.get(application=application)
    assert instance.waiting_messages == ["payment_received"] and Timer.objects.filter(instance=instance).exists()
    unsent = OutboxMessage.objects.create(municipality=town, idempotency_key=f"{application.reference}:later", kind="email",
                                          payload={"subject": "Erinnerung", "body": "Guten Tag Frau Mustermann",
                                                   "to": ["erika@example.org"]})
    other = OutboxMessage.objects.create(municipality=town, idempotency_key="MUS-2020-999999:x", kind="email",
                                         payload={"to": ["jemand@example.org"]})
    # Set as the process's own step would (a model may wait on after a final status); set by hand, it
    # would end the process before retention comes to it.
    application_change_status(application=application, status="withdrawn", actor=None, by_process=True)
    _age(application)

    assert _retention(django_capture_on_commit_callbacks)["anonymised"] == 1

    instance.refresh_from_db()
    assert (instance.status, instance.state, instance.waiting_messages) == (InstanceStatus.COMPLETED, "", [])
    assert not Timer.objects.filter(instance=instance).exists()
    assert not OutboxMessage.objects.filter(pk=unsent.pk).exists()
    assert OutboxMessage.objects.get(pk=other.pk).payload == {"to": ["jemand@example.org"]}
    with pytest.raises(MessageNotExpected):
        message_deliver(application=application, name="payment_received", payload={"amount": 45})
    assert [word for word in PERSONAL if word in _dump()] == []


def test_open_tasks_of_an_anonymised_case_are_cancelled(submit, dog_data, town, make_staff,
                                                        django_capture_on_commit_callbacks):
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    # Closed with its task still open (a status set by hand would end the process and its task itself).
    application_change_status(application=application, status="withdrawn", actor=make_staff(town), by_process=True)
    assert UserTask.objects.get(application=application).state == TaskState.OPEN
    _age(application)

    assert _retention(django_capture_on_commit_callbacks)["anonymised"] == 1

    task = UserTask.objects.get(application=application)
    assert (task.state, task.result) == (TaskState.CANCELLED, {})
    assert ProcessInstance.objects.get(application=application).status == InstanceStatus.COMPLETED


def test_a_failing_case_changes_nothing_and_does_not_stop_the_others(submit, dog_data, town, make_staff, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    from rathaus.applications import services

    worker = make_staff(town)
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    broken, healthy = (submit("hund-anmelden", dog_data) for _ in range(2))
    for application in (broken, healthy):
        # The process still waits (its task open): retention ends it, or, when it fails, leaves it so.
        application_change_status(application=application, status="withdrawn", actor=worker, by_process=True)
        _age(application)
    proof = DocumentVersion.objects.get(document__application=broken, document__document_type="proof")
    real_audit = services.audit_record

    def audit_failing_for_broken(**kwargs):
        if kwargs.get("obj") is not None and kwargs["obj"].pk == broken.pk:
            raise RuntimeError("audit store unavailable")
        return real_audit(**kwargs)

    monkeypatch.setattr(services, "audit_record", audit_failing_for_broken)

    assert _retention(django_capture_on_commit_callbacks) == {"anonymised": 1, "failed": 1, "drafts_deleted": 0}

    broken.refresh_from_db()
    assert broken.anonymised_at is None and broken.data["owner"]["family_name"] == "Mustermann"
    assert broken.applicant_name == "Erika Mustermann"
    assert DocumentVersion.objects.filter(pk=proof.pk).exists() and default_storage.exists(proof.file.name)
    # Nothing of the failed case's retention stays: its process still waits with its state and task.
    instance = ProcessInstance.objects.get(application=broken)
    assert instance.status == InstanceStatus.WAITING and instance.state
    assert UserTask.objects.get(application=broken).state == TaskState.OPEN
    assert Application.objects.get(pk=healthy.pk).anonymised_at is not None
    assert ProcessInstance.objects.get(application=healthy).status == InstanceStatus.COMPLETED


def test_expired_drafts_are_deleted_and_fresh_ones_kept(town, demo_services):
    from rathaus.applications.services import draft_create, draft_save

    stale, fresh = (draft_create(municipality=town, service=demo_services["hund-anmelden"]) for _ in range(2))
    draft_save(draft=stale, data={"owner": {"given_name": "Erika"}})
    Draft.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert applications_apply_retention()["drafts_deleted"] == 1

    assert list(Draft.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_the_worker_scheduler_runs_retention_from_the_configured_periodic_tasks(
        town, demo_services, dog_data, make_staff, monkeypatch, django_capture_on_commit_callbacks):
    from django.conf import settings

    from rathaus.core import scheduling
    from rathaus.core.models import PeriodicRun

    assert settings.RATHAUS_PERIODIC_TASKS["applications.retention"][0] == "rathaus.applications.tasks.apply_retention"
    service = demo_services["hund-anmelden"]
    service.retention_days = 30
    service.save(update_fields=["retention_days"])
    application = application_submit(municipality=town, service=service, data=dog_data).application
    application_change_status(application=application, status="closed", actor=make_staff(town))
    _age(application)

    # One tick of the worker's scheduler thread, run here (the test database is not shared with other threads).
    # Closing "old" connections would close the test's transaction.
    monkeypatch.setattr(scheduling, "close_old_connections", lambda: None)
    scheduler = scheduling.Scheduler(tick_seconds=3600)
    monkeypatch.setattr(scheduler.stopped, "wait", lambda timeout=None: scheduler.stopped.set())
    with django_capture_on_commit_callbacks(execute=True):
        scheduler.run()

    application.refresh_from_db()
    assert application.anonymised_at is not None and application.data == {}
    assert PeriodicRun.objects.get(name="applications.retention").last_run_at is not None
    assert AuditEntry.objects.filter(action="application.anonymised", object_id=str(application.pk)).count() == 1


def test_retention_clears_the_announcement_of_a_letter_staff_added(town, processes, dog_data, make_user, make_staff,
                                                                    django_capture_on_commit_callbacks):
    """The e-mail telling her a letter is provided is keyed by the letter, not the case: it has her
    address and must lose it, too (an unsent one must not go out at all)."""
    from rathaus.cases.models import DocumentType
    from rathaus.cases.services import document_upload_staff
    from rathaus.processes.outbox import outbox_deliver_pending

    applicant = make_user("erika@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        application = application_submit(municipality=town, service=processes["hund-anmelden"], data=dog_data,
                                         applicant=applicant, retrieval_consent=True).application
    staff = make_staff(town)
    sent, unsent = (document_upload_staff(application=application, filename=f"{title}.pdf", raw=base64.b64decode(PDF),
                                          title=title, document_type=DocumentType.DECISION, confidentiality="public",
                                          actor=staff) for title in ("Änderungsbescheid", "Zweiter Bescheid"))
    announced = OutboxMessage.objects.get(idempotency_key=f"decision-notice:{sent.pk}")
    outbox_deliver_pending(limit=500)
    waiting = OutboxMessage.objects.get(idempotency_key=f"decision-notice:{unsent.pk}")
    OutboxMessage.objects.filter(pk=waiting.pk).update(sent_at=None)  # as if the mail server had been down
    announced.refresh_from_db()
    assert announced.sent_at is not None and announced.payload["to"] == ["erika@example.org"]
    application_change_status(application=application, status="closed", actor=staff, by_process=True)
    _age(application)

    assert _retention(django_capture_on_commit_callbacks)["anonymised"] == 1

    announced.refresh_from_db()
    assert announced.payload == {} and announced.sent_at is not None
    assert not OutboxMessage.objects.filter(pk=waiting.pk).exists()
    entry = AuditEntry.objects.get(action="application.anonymised", object_id=str(application.pk))
    assert entry.data["removed"]["outbox_cancelled"] == 1
    assert [word for word in PERSONAL if word in _dump()] == []
