"""The case file: documents from every writer, versions, downloads, confidentiality, the receipt."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse

from rathaus.applications.models import Application
from rathaus.applications.services import access_token_for, application_submit
from rathaus.cases.files import discard_files_on_error, read_bytes
from rathaus.cases.models import Document, DocumentVersion
from rathaus.cases.services import Generated, document_add_generated
from rathaus.core.models import AuditEntry
from rathaus.integration.models import DomainEvent

from .conftest import EICAR, PDF, PNG, stored_files

pytestmark = pytest.mark.django_db


def _url(name, application, **kwargs):
    return reverse(f"cases:{name}", kwargs={"municipality": application.municipality.slug,
                                           "reference": application.reference, **kwargs})


def _detail(application):
    return reverse("applications:staff_detail", kwargs={"municipality": application.municipality.slug,
                                                        "reference": application.reference})


@pytest.fixture
def case(town, demo_services, exemption_data):
    return application_submit(municipality=town, service=demo_services["hund-anmelden"], data=exemption_data).application


def test_a_submitted_file_becomes_version_1_of_a_document_with_event_and_audit(case):
    document = Document.objects.get(application=case)
    version = document.versions.get()
    assert (document.document_type, document.source, document.confidentiality, document.form_field) == (
        "proof", "citizen_online", "public", "reduction/proof")
    assert document.title  # the form field's label, not the citizen's file name
    assert (version.number, version.filename, version.original_filename, version.content_type, version.size) == (
        1, "Ausweis.pdf", "Ausweis.pdf", "application/pdf", len(PDF))
    assert version.sha512 == hashlib.sha512(PDF).hexdigest() and read_bytes(version.file) == PDF
    assert "Ausweis" not in version.file.name  # stored under ids, never under the citizen's name
    assert case.data["reduction"]["proof"] == {"filename": "Ausweis.pdf", "content_type": "application/pdf",
                                               "size": len(PDF), "sha512": version.sha512, "document_id": document.pk}
    event = DomainEvent.objects.get(kind="document.added")
    assert (event.application_id, event.data["document"], event.data["version"]) == (case.pk, document.pk, 1)
    # Like every event about a case: reference, service and status for the subscriber's routing.
    assert (event.data["reference"], event.data["service"]["slug"]) == (case.reference, case.service.slug)
    assert event.data["status"] == case.status
    assert AuditEntry.objects.filter(action="case.document_added", object_id=str(document.pk)).count() == 1


def test_eicar_in_an_api_submission_is_refused_and_nothing_is_stored(client, town, demo_services, exemption_data,
                                                                     fake_clamd):
    exemption_data["reduction"]["proof"]["content"] = base64.b64encode(PDF + EICAR).decode()
    before = sorted(stored_files(default_storage))  # the storage is shared by the tests of this process
    service = demo_services["hund-anmelden"]
    response = client.post(f"/api/v1/m/{town.slug}/applications", {"service": service.pk, "data": exemption_data},
                           content_type="application/json")
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["pointer"] == "/data/reduction/proof" and "Schadsoftware" in error["detail"]
    assert (Application.objects.count(), Document.objects.count(), DocumentVersion.objects.count()) == (0, 0, 0)
    assert sorted(stored_files(default_storage)) == before


def test_the_form_refuses_eicar_at_the_field(client, town, demo_services, fake_clamd):
    from rathaus.applications.tests.test_uploads_and_accounts import _to_step

    base = _to_step(client, town, 3)
    response = client.post(f"{base}/schritt/3/", {"reduction.exemption": "blindenfuehrhund",
                                                  "reduction.proof": SimpleUploadedFile("a.pdf", PDF + EICAR)})
    assert response.status_code == 422 and "Schadsoftware" in response.content.decode()
    assert Document.objects.count() == 0


def test_a_scanner_down_at_submission_refuses_with_a_clear_message_and_stores_nothing(client, town, demo_services,
                                                                                       settings, clamd_down):
    from rathaus.applications.tests.test_uploads_and_accounts import _to_step
    from rathaus.applications.tests.test_web_flow import STEP_VALUES

    settings.RATHAUS_UPLOAD_SCANNERS = []  # the file was checked while the scanner still answered …
    base = _to_step(client, town, 3)
    assert client.post(f"{base}/schritt/3/", {"reduction.exemption": "blindenfuehrhund",
                                              "reduction.proof": SimpleUploadedFile("a.pdf", PDF)}).status_code == 302
    assert client.post(f"{base}/schritt/4/", STEP_VALUES[4]).status_code == 302
    settings.RATHAUS_UPLOAD_SCANNERS = ["clamav"]  # … and clamd is down when the citizen submits
    before = sorted(stored_files(default_storage))
    response = client.post(f"{base}/pruefen/")
    assert response.status_code == 422
    page = response.content.decode()
    assert "nicht abgesendet" in page and "nicht auf Schadsoftware geprüft" in page
    assert (Application.objects.count(), Document.objects.count()) == (0, 0)
    assert sorted(stored_files(default_storage)) == before


class TestStaffUploads:
    def test_staff_add_a_document_with_type_and_confidentiality(self, client, login_verified, worker, case):
        staff = login_verified(client, worker)
        assert "Dokument zur E-Akte hinzufügen" in staff.get(_detail(case)).content.decode()
        response = staff.post(_url("document_upload", case), {
            "file": SimpleUploadedFile("Telefonnotiz.png", PNG, content_type="image/png"), "title": "Anruf Tierarzt",
            "document_type": "correspondence", "confidentiality": "confidential"})
        assert response.status_code == 302
        document = Document.objects.get(application=case, source="staff")
        assert (document.title, document.document_type, document.confidentiality, document.created_by) == (
            "Anruf Tierarzt", "correspondence", "confidential", worker)
        assert document.versions.get().added_by == worker
        assert DomainEvent.objects.filter(kind="document.added", data__document=document.pk).count() == 1
        page = staff.get(_detail(case)).content.decode()
        assert "Anruf Tierarzt" in page and "Telefonnotiz.png" in page and "vertraulich" in page
        # The document list exports, one row per version, with the hash that proves the file.
        rows = staff.get(_url("export_json", case)).json()
        row = next(r for r in rows if r["document"] == document.pk)
        assert (row["title"], row["version"], row["confidentiality"]) == ("Anruf Tierarzt", 1, "confidential")
        assert row["sha512"] == document.versions.get().sha512
        csv = staff.get(_url("export_csv", case)).content.decode("utf-8-sig")
        assert csv.splitlines()[0].startswith("document,title,type") and "Anruf Tierarzt" in csv

    @pytest.mark.parametrize(("name", "content", "message"), [
        ("brief.pdf", b"MZ\x90\x00", "kein erlaubtes Format"),
        ("brief.pdf.exe", PDF, "wie ein Programm"),
        ("gross.pdf", PDF + b"\x00" * (10 * 1024 * 1024), "zu groß"),
    ], ids=["wrong-magic-bytes", "double-extension", "oversize"])
    def test_a_refused_staff_upload_stores_nothing(self, client, login_verified, worker, case, name, content, message):
        before = (Document.objects.count(), DocumentVersion.objects.count(), sorted(stored_files(default_storage)))
        response = login_verified(client, worker).post(_url("document_upload", case), {
            "file": SimpleUploadedFile(name, content), "title": "", "document_type": "other",
            "confidentiality": "internal"})
        assert response.status_code == 422 and message in response.content.decode()
        assert (Document.objects.count(), DocumentVersion.objects.count(), sorted(stored_files(default_storage))) == before

    def test_eicar_by_staff_is_refused_too(self, client, login_verified, worker, case, fake_clamd):
        before = sorted(stored_files(default_storage))
        response = login_verified(client, worker).post(_url("document_upload", case), {
            "file": SimpleUploadedFile("post.pdf", PDF + EICAR), "document_type": "other", "confidentiality": "internal"})
        assert response.status_code == 422 and "Schadsoftware" in response.content.decode()
        assert Document.objects.filter(source="staff").count() == 0 and sorted(stored_files(default_storage)) == before

    def test_a_new_version_keeps_the_old_one_and_downloads_are_attachments(self, client, login_verified, worker, case):
        staff = login_verified(client, worker)
        document = Document.objects.get(application=case)
        newer = PDF.replace(b"1.4", b"1.7")
        assert staff.get(_url("version_upload", case, document_id=document.pk)).status_code == 200
        response = staff.post(_url("version_upload", case, document_id=document.pk),
                              {"file": SimpleUploadedFile("Ausweis neu.pdf", newer)})
        assert response.status_code == 302
        assert list(document.versions.order_by("number").values_list("number", "filename")) == [
            (1, "Ausweis.pdf"), (2, "Ausweis neu.pdf")]
        first = staff.get(_url("staff_version_download", case, document_id=document.pk, number=1))
        latest = staff.get(_url("staff_download", case, document_id=document.pk))
        assert b"".join(first.streaming_content) == PDF and b"".join(latest.streaming_content) == newer
        assert first["Content-Disposition"].startswith("attachment;") and 'filename="Ausweis.pdf"' in first["Content-Disposition"]
        assert first["X-Content-Type-Options"] == "nosniff" and first["Content-Type"] == "application/pdf"
        assert "no-store" in first["Cache-Control"]
        assert AuditEntry.objects.filter(action="case.version_added", object_id=str(document.pk)).count() == 1
        assert DomainEvent.objects.filter(kind="document.added", data__version=2).count() == 1
        assert staff.get(_url("staff_version_download", case, document_id=document.pk, number=3)).status_code == 404


class TestConfidentiality:
    @pytest.fixture
    def documents(self, case, worker, lead):
        from rathaus.cases.services import document_upload_staff

        made = {}
        for level, user in (("public", lead), ("internal", lead), ("confidential", lead)):
            made[level] = document_upload_staff(application=case, filename=f"{level}.pdf", raw=PDF, title=f"Dok-{level}",
                                                document_type="correspondence", confidentiality=level, actor=user)
        return made

    def test_the_citizen_sees_and_downloads_only_what_is_marked_for_her(self, client, case, documents):
        token = access_token_for(case)
        status = client.get(reverse("applications:status", kwargs={"municipality": case.municipality.slug,
                                                                   "reference": case.reference, "token": token}))
        page = status.content.decode()
        assert "Dok-public" in page and "Dok-internal" not in page and "Dok-confidential" not in page
        for level, expected in (("public", 200), ("internal", 404), ("confidential", 404)):
            url = _url("citizen_download", case, token=token, document_id=documents[level].pk)
            assert client.get(url).status_code == expected, level
            assert client.get(url.replace(token, "x" * len(token))).status_code == 404

    def test_a_citizen_with_an_account_downloads_her_public_documents(self, client, make_user, case, documents):
        owner = make_user("erika@example.org")
        Application.objects.filter(pk=case.pk).update(applicant=owner)
        client.force_login(owner)
        page = client.get(reverse("applications:my_status", kwargs={"municipality": case.municipality.slug,
                                                                    "reference": case.reference})).content.decode()
        url = _url("my_download", case, document_id=documents["public"].pk)
        assert url in page and "Dok-internal" not in page
        assert client.get(url).status_code == 200
        assert client.get(_url("my_download", case, document_id=documents["internal"].pk)).status_code == 404
        client.force_login(make_user("fremd@example.org"))
        assert client.get(url).status_code == 404

    def test_confidential_documents_open_for_team_leads_and_their_author_only(self, client, login_verified, case,
                                                                             documents, worker, lead, make_staff):
        confidential = _url("staff_download", case, document_id=documents["confidential"].pk)
        internal = _url("staff_download", case, document_id=documents["internal"].pk)
        as_worker = login_verified(Client(), worker)
        assert as_worker.get(internal).status_code == 200
        assert as_worker.get(confidential).status_code == 404
        assert confidential not in as_worker.get(_detail(case)).content.decode()
        assert login_verified(Client(), lead).get(confidential).status_code == 200
        from rathaus.cases.services import document_upload_staff

        own = document_upload_staff(application=case, filename="mine.pdf", raw=PDF, title="Meins",
                                    document_type="other", confidentiality="confidential", actor=worker)
        assert as_worker.get(_url("staff_download", case, document_id=own.pk)).status_code == 200

    def test_the_case_file_export_hides_confidential_files_from_those_who_may_not_open_them(
            self, client, login_verified, case, documents, worker, lead):
        from rathaus.cases.services import document_upload_staff

        secret = PDF + b"%Vermerk Amtsarzt\n"
        note = document_upload_staff(application=case, filename="amtsarzt-vermerk.pdf", raw=secret, title="Vermerk",
                                     document_type="correspondence", confidentiality="confidential", actor=lead)
        digest = hashlib.sha512(secret).hexdigest()
        as_worker = login_verified(Client(), worker)
        for fmt in ("export_csv", "export_json"):
            text = as_worker.get(_url(fmt, case)).content.decode("utf-8-sig")
            assert "amtsarzt-vermerk.pdf" not in text and digest not in text, fmt
            assert "internal.pdf" in text  # what she may open is listed in full
        row = next(r for r in as_worker.get(_url("export_json", case)).json() if r["document"] == note.pk)
        # Listed as the case file panel shows it: that it exists, not what the file is.
        assert (row["title"], row["confidentiality"], row["version"]) == ("Vermerk", "confidential", 1)
        assert (row["filename"], row["size"], row["sha512"]) == (None, None, None)
        as_lead = login_verified(Client(), lead)
        row = next(r for r in as_lead.get(_url("export_json", case)).json() if r["document"] == note.pk)
        assert (row["filename"], row["sha512"]) == ("amtsarzt-vermerk.pdf", digest)

    def test_staff_of_another_municipality_get_404(self, client, login_verified, case, documents, other_town, make_staff):
        stranger = login_verified(client, make_staff(other_town, "x@beispielhausen.example"))
        for document in documents.values():
            assert stranger.get(_url("staff_download", case, document_id=document.pk)).status_code == 404
            foreign_slug = reverse("cases:staff_download", kwargs={"municipality": other_town.slug,
                                                                   "reference": case.reference, "document_id": document.pk})
            assert stranger.get(foreign_slug).status_code == 404


def test_the_receipt_is_stored_once_as_version_1_and_served_from_the_case_file(client, case):
    url = reverse("applications:receipt_pdf", kwargs={"municipality": case.municipality.slug,
                                                      "reference": case.reference, "token": access_token_for(case)})
    first, second = client.get(url), client.get(url)
    assert first.status_code == 200 and first.content.startswith(b"%PDF") and second.content == first.content
    receipt = Document.objects.get(application=case, document_type="application_form")
    version = receipt.versions.get()
    assert (receipt.source, receipt.confidentiality, version.number) == ("generated", "public", 1)
    assert read_bytes(version.file) == first.content
    assert DomainEvent.objects.filter(kind="document.added", data__document=receipt.pk).count() == 1


def test_the_receipt_mail_copies_no_data_and_the_receipt_is_made_when_first_fetched(
        client, town, demo_services, dog_data, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    [mail] = [m for m in mailoutbox if "Eingangsbestätigung" in m.subject]
    assert mail.attachments == [] and application.reference in mail.body
    assert dog_data["dog"]["name"] not in mail.body and "31.01.1980" not in mail.body  # no submitted data
    assert not Document.objects.filter(application=application, document_type="application_form").exists()

    status = client.get(urlsplit(re.search(r"https?://\S+", mail.body).group(0)).path)
    pdf_url = re.search(r'href="([^"]+eingangsbestaetigung\.pdf)"', status.content.decode()).group(1)
    pdf = client.get(pdf_url)
    receipt = Document.objects.get(application=application, document_type="application_form")
    assert pdf.status_code == 200 and read_bytes(receipt.versions.get().file) == pdf.content


def test_generated_documents_are_stored_once_per_key(case):
    first = document_add_generated(application=case, generated=Generated(raw=PDF, filename="Bescheid.pdf"), title="Bescheid",
                                   document_type="decision", idempotency_key="x:1")
    again = document_add_generated(application=case, generated=Generated(raw=PDF, filename="Bescheid.pdf"), title="Bescheid",
                                   document_type="decision", idempotency_key="x:1")
    assert first.pk == again.pk and DocumentVersion.objects.filter(document=first).count() == 1


def test_a_receipt_stored_by_a_concurrent_download_is_returned_inside_a_transaction(case, monkeypatch):
    # Two first downloads at once: the other one stores the receipt between this one's look-up and
    # its insert. The key's unique constraint refuses the second copy and the stored one is
    # returned, also when the caller has a transaction open (the refused insert rolls back to its
    # own savepoint, so the look-up after it can still run).
    from rathaus.applications import pdf
    from rathaus.cases.services import RECEIPT_KEY, _generated_add, receipt_document_ensure

    def stored_meanwhile(application):
        _generated_add(application=application, generated=Generated(raw=PDF, filename="Eingangsbestaetigung.pdf"),
                       title="Eingangsbestätigung", document_type="application_form",
                       idempotency_key=RECEIPT_KEY.format(pk=application.pk))
        return PDF + b"% the second rendering"

    monkeypatch.setattr(pdf, "receipt_pdf", stored_meanwhile)
    with transaction.atomic():
        version = receipt_document_ensure(application=case)
        assert Document.objects.filter(idempotency_key=RECEIPT_KEY.format(pk=case.pk)).count() == 1
    assert version.document.idempotency_key == RECEIPT_KEY.format(pk=case.pk) and read_bytes(version.file) == PDF


def test_a_failing_transaction_leaves_no_file_behind(case):
    before = sorted(stored_files(default_storage))
    written = []

    def store_then_fail():
        with discard_files_on_error(), transaction.atomic():
            document_add_generated(application=case, generated=Generated(raw=PDF, filename="x.pdf"), title="x",
                                   document_type="other", idempotency_key="x:2")
            written.extend(set(stored_files(default_storage)) - set(before))
            raise RuntimeError("later step failed")

    with pytest.raises(RuntimeError):
        store_then_fail()
    assert len(written) == 1
    assert sorted(stored_files(default_storage)) == before and not Document.objects.filter(idempotency_key="x:2").exists()


def test_adding_a_document_locks_the_case_before_the_audit_chain(case):
    # Every write takes the audit chain's lock last (a status change locks the application, then
    # the chain). Taking them the other way round here deadlocked against process steps on PostgreSQL.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        document_add_generated(application=case, generated=Generated(raw=PDF, filename="vermerk.pdf"), title="Vermerk",
                               document_type="other", idempotency_key="test:lock-order")
    sql = [q["sql"] for q in ctx.captured_queries]
    case_update = next(i for i, q in enumerate(sql) if q.startswith('UPDATE "applications_application"'))
    chain = next(i for i, q in enumerate(sql) if "core_auditchainhead" in q)
    assert case_update < chain


def test_the_case_file_export_gives_german_times_and_starts_with_a_bom(client, login_verified, worker, case):
    import codecs
    import csv
    import io
    from datetime import UTC, datetime

    DocumentVersion.objects.filter(document__application=case).update(created_at=datetime(2026, 7, 1, 22, 15, tzinfo=UTC))
    staff = login_verified(client, worker)
    response = staff.get(_url("export_csv", case))
    assert response.content.startswith(codecs.BOM_UTF8)
    (row,) = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert row["added_at"] == "2026-07-02T00:15:00+02:00"  # summer time
    assert staff.get(_url("export_json", case)).json()[0]["added_at"] == "2026-07-02T00:15:00+02:00"
