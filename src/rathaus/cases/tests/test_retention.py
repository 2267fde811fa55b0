"""Retention classes per document type and case result, legal holds, and the admin page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.applications.models import Application
from rathaus.applications.services import application_change_status, applications_apply_retention
from rathaus.cases.models import Document, DocumentVersion, LegalHold, RetentionRule
from rathaus.cases.services import (
    Generated,
    document_add_generated,
    documents_apply_retention,
    legal_hold_release,
    legal_hold_set,
)
from rathaus.core.audit import audit_verify
from rathaus.core.models import AuditEntry

from .conftest import PDF

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_case(town, demo_services, exemption_data, worker):
    """An approved case with the citizen's proof and a decision letter, closed a year and a day ago."""
    from rathaus.applications.services import application_submit

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"],
                                     data=exemption_data).application
    document_add_generated(application=application, generated=Generated(raw=PDF, filename="Bescheid.pdf"),
                           title="Bescheid", document_type="decision", idempotency_key=f"{application.pk}:decision")
    application_change_status(application=application, status="approved", actor=worker)
    _closed(application, days=366)
    return application


def _closed(application, days: int) -> None:
    Application.objects.filter(pk=application.pk).update(closed_at=timezone.now() - timedelta(days=days))


def _run(django_capture_on_commit_callbacks, job=documents_apply_retention):
    with django_capture_on_commit_callbacks(execute=True):
        return job()


def _types(application) -> list[str]:
    return sorted(Document.objects.filter(application=application).values_list("document_type", flat=True))


def test_a_proof_goes_a_year_after_approval_the_decision_stays(closed_case, django_capture_on_commit_callbacks):
    proof = DocumentVersion.objects.get(document__application=closed_case, document__document_type="proof")
    assert default_storage.exists(proof.file.name)

    assert _run(django_capture_on_commit_callbacks) == {"deleted": 1, "failed": 0}

    assert _types(closed_case) == ["decision"]
    assert not default_storage.exists(proof.file.name)
    entry = AuditEntry.objects.get(action="case.document_deleted")
    assert (entry.object_id, entry.actor_label) == (str(closed_case.pk), "retention-job")
    assert entry.data == {"document": proof.document_id, "document_type": "proof", "outcome": "approved",
                          "retention_days": 365, "versions": 1}
    assert audit_verify() == []
    # Nothing more is due; a second run deletes nothing.
    assert _run(django_capture_on_commit_callbacks) == {"deleted": 0, "failed": 0}


def test_before_its_time_and_in_open_cases_nothing_goes(closed_case, submit, exemption_data,
                                                         django_capture_on_commit_callbacks):
    _closed(closed_case, days=364)
    open_case = submit("hund-anmelden", exemption_data)
    assert _run(django_capture_on_commit_callbacks)["deleted"] == 0
    assert _types(closed_case) == ["decision", "proof"] and "proof" in _types(open_case)


def test_a_withdrawn_case_loses_its_proof_after_90_days(closed_case, worker, django_capture_on_commit_callbacks):
    application_change_status(application=closed_case, status="withdrawn", actor=worker)
    _closed(closed_case, days=91)
    assert _run(django_capture_on_commit_callbacks)["deleted"] == 1
    assert _types(closed_case) == ["decision"]


class TestLegalHold:
    def test_a_hold_stops_document_deletion_and_anonymisation_until_released(
            self, closed_case, lead, django_capture_on_commit_callbacks):
        service = closed_case.service
        service.retention_days = 30
        service.save(update_fields=["retention_days"])
        hold = legal_hold_set(application=closed_case, reason="Widerspruch vom 3. März", actor=lead)

        assert _run(django_capture_on_commit_callbacks)["deleted"] == 0
        assert _run(django_capture_on_commit_callbacks, applications_apply_retention)["anonymised"] == 0
        closed_case.refresh_from_db()
        assert closed_case.anonymised_at is None and _types(closed_case) == ["decision", "proof"]

        legal_hold_release(application=closed_case, reason="Widerspruch zurückgenommen", actor=lead)
        hold.refresh_from_db()
        assert (hold.released_by, hold.release_reason) == (lead, "Widerspruch zurückgenommen")
        assert _run(django_capture_on_commit_callbacks)["deleted"] == 1
        assert _run(django_capture_on_commit_callbacks, applications_apply_retention)["anonymised"] == 1
        closed_case.refresh_from_db()
        assert closed_case.anonymised_at is not None and _types(closed_case) == []
        assert list(AuditEntry.objects.filter(action__startswith="case.legal_hold").order_by("id")
                    .values_list("action", flat=True)) == ["case.legal_hold_set", "case.legal_hold_released"]

    def test_staff_anonymisation_on_request_respects_the_hold_too(self, closed_case, lead, worker):
        from rathaus.applications.services import application_anonymise

        legal_hold_set(application=closed_case, reason="Gerichtsverfahren", actor=lead)
        assert application_anonymise(application=closed_case, actor=lead, reason="Löschantrag") is False
        closed_case.refresh_from_db()
        assert closed_case.anonymised_at is None

    def test_team_leads_set_and_release_it_on_the_case_page_with_a_reason(self, client, login_verified, closed_case,
                                                                          lead, worker):
        url = reverse("cases:legal_hold", kwargs={"municipality": closed_case.municipality.slug,
                                                  "reference": closed_case.reference})
        detail = reverse("applications:staff_detail", kwargs={"municipality": closed_case.municipality.slug,
                                                              "reference": closed_case.reference})
        as_worker = login_verified(Client(), worker)
        assert url not in as_worker.get(detail).content.decode()
        assert as_worker.get(url).status_code == 404 and as_worker.post(url, {"reason": "x"}).status_code == 404
        as_lead = login_verified(client, lead)
        assert url in as_lead.get(detail).content.decode()
        empty = as_lead.post(url, {"reason": "  "})
        assert empty.status_code == 422 and not LegalHold.objects.exists()
        assert as_lead.post(url, {"reason": "Widerspruch eingelegt"}).status_code == 302
        page = as_worker.get(detail).content.decode()
        assert "Aufbewahrungssperre aktiv" in page and "Widerspruch eingelegt" in page
        assert as_lead.post(url, {"reason": "Verfahren beendet"}).status_code == 302
        assert LegalHold.objects.get().released_at is not None
        assert "Aufbewahrungssperre aktiv" not in as_worker.get(detail).content.decode()


class TestRetentionSettings:
    @pytest.fixture
    def admin(self, client, login_verified, town, make_staff):
        return login_verified(client, make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN))

    def _url(self, town):
        return reverse("cases:retention", kwargs={"municipality": town.slug})

    def test_the_admin_sees_the_defaults_and_a_shorter_period_applies_at_the_next_run(
            self, admin, town, closed_case, django_capture_on_commit_callbacks):
        page = admin.get(self._url(town)).content.decode()
        assert "Standardwerte" in page and 'name="days_proof_approved"' in page and 'value="365"' in page
        _closed(closed_case, days=40)
        form = {f"days_{t}_{o}": "" for t in ("application_form", "proof", "decision", "correspondence", "other")
                for o in ("approved", "rejected", "withdrawn", "closed")}
        form.update({"days_proof_approved": "30", "days_decision_approved": "30"})
        assert admin.post(self._url(town), form).status_code == 302
        assert RetentionRule.objects.get(municipality=town, document_type="proof", outcome="approved").days == 30
        assert _run(django_capture_on_commit_callbacks)["deleted"] == 2
        assert _types(closed_case) == []
        assert AuditEntry.objects.filter(action="case.retention_rules_saved").count() == 1

    def test_bad_numbers_are_refused_and_reset_restores_the_defaults(self, admin, town):
        response = admin.post(self._url(town), {"days_proof_approved": "-5"})
        assert response.status_code == 422 and "Bitte korrigieren Sie" in response.content.decode()
        assert not RetentionRule.objects.exists()
        RetentionRule.objects.create(municipality=town, document_type="proof", outcome="approved", days=7)
        assert admin.post(self._url(town), {"action": "reset"}).status_code == 302
        assert not RetentionRule.objects.exists()

    def test_only_tenant_admins_configure_it(self, client, login_verified, town, lead, other_town, make_staff):
        assert login_verified(Client(), lead).get(self._url(town)).status_code == 404
        stranger = login_verified(Client(), make_staff(other_town, "admin@beispielhausen.example", role=Role.TENANT_ADMIN))
        assert stranger.get(self._url(town)).status_code == 404


def test_the_worker_runs_document_retention_daily():
    from django.conf import settings

    assert settings.RATHAUS_PERIODIC_TASKS["cases.retention"] == ("rathaus.cases.tasks.apply_document_retention", 86400)
