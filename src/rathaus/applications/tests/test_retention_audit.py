"""The audit log keeps who decided what about a case, not the words that retention removes everywhere else."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from rathaus.applications.models import Application
from rathaus.applications.services import application_change_status, application_submit, applications_apply_retention
from rathaus.core.audit import audit_verify
from rathaus.core.models import AuditEntry
from rathaus.processes.models import UserTask
from rathaus.processes.services import task_complete

pytestmark = pytest.mark.django_db

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()


@pytest.fixture
def submit(town, demo_services, django_capture_on_commit_callbacks):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)
    for service in demo_services.values():
        service.retention_days = 30
        service.save(update_fields=["retention_days"])

    def run(slug, data):
        with django_capture_on_commit_callbacks(execute=True):
            application = application_submit(municipality=town, service=demo_services[slug], data=data).application
        application.refresh_from_db()
        return application

    return run


def _close_and_age(application, actor, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        application_change_status(application=application, status="closed", actor=actor)
    Application.objects.filter(pk=application.pk).update(closed_at=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert applications_apply_retention()["anonymised"] == 1


def _audit_text(town) -> str:
    return json.dumps([[e.action, e.summary, e.data] for e in AuditEntry.objects.filter(municipality=town)],
                      ensure_ascii=False)


def test_the_audit_trail_keeps_a_tasks_outcome_but_not_the_words_of_its_note(
        submit, dog_data, town, make_staff, django_capture_on_commit_callbacks):
    worker = make_staff(town)
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    with django_capture_on_commit_callbacks(execute=True):
        task_complete(task=UserTask.objects.get(application=application), user=worker,
                      data={"decision": {"outcome": "approve", "note": "Frau Mustermann hat den Ausweis gezeigt."}})
    task = UserTask.objects.get(application=application)
    assert task.result["decision"]["note"] == "Frau Mustermann hat den Ausweis gezeigt."  # in the case while it lives
    entry = AuditEntry.objects.get(action="process.task_completed", object_id=str(task.pk))
    # The trail keeps the outcome (a choice of the form) and that a note of 40 characters was given.
    assert entry.data == {"result": {"decision": {"outcome": "approve", "note": "<Freitext, 40 Zeichen>"}}}
    assert entry.actor_id == worker.pk and "Mustermann" not in _audit_text(town)

    _close_and_age(application, worker, django_capture_on_commit_callbacks)

    assert UserTask.objects.get(application=application).result == {}
    assert "Mustermann" not in _audit_text(town)
    assert AuditEntry.objects.get(pk=entry.pk).data == entry.data


def test_the_audit_trail_keeps_choices_yes_no_and_numbers_and_free_text_only_by_length():
    from rathaus.processes.services import audited_result

    schema = {"type": "object", "properties": {
        "outcome": {"type": "string", "enum": ["approve", "reject"]}, "checked": {"type": "boolean"},
        "dogs": {"type": "integer"}, "kind": {"const": "dog"}, "note": {"type": "string"},
        "names": {"type": "array", "items": {"type": "string"}},
        "codes": {"type": "array", "items": {"type": "string", "enum": ["A", "B"]}}}}
    result = {"outcome": "reject", "checked": True, "dogs": 2, "kind": "dog", "note": "Bello beißt",
              "names": ["Erika", "Max"], "codes": ["B"], "extra": "nicht im Formular"}
    assert audited_result(schema, result) == {
        "outcome": "reject", "checked": True, "dogs": 2, "kind": "dog", "note": "<Freitext, 11 Zeichen>",
        "names": ["<Freitext, 5 Zeichen>", "<Freitext, 3 Zeichen>"], "codes": ["B"],
        "extra": "<Freitext, 17 Zeichen>"}


def test_the_applicants_street_read_by_a_decision_table_is_gone_from_the_audit_log_after_retention(
        submit, dog_data, town, make_staff, django_capture_on_commit_callbacks):
    person = {key: dog_data["owner"][key] for key in ("given_name", "family_name", "email")}
    parking = {"applicant": {**person, "address": {"street": "Lindenallee", "house_number": "7", "postal_code": "99999",
                                                   "city": "Musterstadt"}},
               "vehicle": {"plate": "MU-AB 123", "holder": "self",
                           "registration": {"filename": "schein.pdf", "content_type": "application/pdf",
                                            "content": PDF}},
               "zone": {"zone": "A", "start": (timezone.localdate() + timedelta(days=5)).isoformat()},
               "declaration": {"truthful": True, "privacy": True}}
    application = submit("bewohnerparkausweis", parking)
    # While the case lives, the trail shows what the decision read (the issue's transparency).
    [decision] = [entry for entry in AuditEntry.objects.filter(action="process.decision", object_id=str(application.pk))
                  if "Lindenallee" in json.dumps(entry.data, ensure_ascii=False)]
    kept = AuditEntry.objects.filter(object_id=str(application.pk), object_type="applications.application")
    before = {entry.pk: (entry.action, entry.actor_id, entry.created_at, entry.hash) for entry in kept}

    _close_and_age(application, make_staff(town), django_capture_on_commit_callbacks)

    assert "Lindenallee" not in _audit_text(town)
    decision.refresh_from_db()
    assert (decision.summary, decision.data) == ("(gelöscht nach Ablauf der Aufbewahrungsfrist)", {})
    assert decision.redacted_at is not None
    # Who did what and when stays, every entry's hash too, and the chain verifies.
    assert {entry.pk: (entry.action, entry.actor_id, entry.created_at, entry.hash)
            for entry in AuditEntry.objects.filter(pk__in=before)} == before
    record = AuditEntry.objects.get(action="audit.redacted")
    assert decision.pk in record.data["entries"] and record.summary.endswith(
        f"{application.reference}, Aufbewahrungsfrist abgelaufen")
    # The submission's own entry (no personal data, written in one statement) is not redacted.
    submitted = AuditEntry.objects.get(action="application.submitted", object_id=str(application.pk))
    assert submitted.redacted_at is None and submitted.summary.startswith(application.reference)
    assert audit_verify() == []


def test_retention_redacts_the_entries_of_the_cases_process_as_well(submit, dog_data, town, make_staff,
                                                                    django_capture_on_commit_callbacks):
    from rathaus.core.audit import audit_record
    from rathaus.processes.models import ProcessInstance

    application = submit("hund-anmelden", dog_data)
    instance = ProcessInstance.objects.get(application=application)
    # As _fail records an engine error, whose message may quote the case's data.
    failed = audit_record(action="process.failed", municipality=town, obj=instance, actor_label="process-engine",
                          summary="Schritt fehlgeschlagen: the months to pay must be between 1 and 12, not Mustermann")
    other = submit("hund-anmelden", dog_data)  # another case of the town keeps its entries

    _close_and_age(application, make_staff(town), django_capture_on_commit_callbacks)

    failed.refresh_from_db()
    assert (failed.summary, failed.redacted_at is not None) == ("(gelöscht nach Ablauf der Aufbewahrungsfrist)", True)
    assert not AuditEntry.objects.filter(object_id=str(other.pk), redacted_at__isnull=False).exists()
    assert audit_verify() == []
