"""Data subject rights: a citizen downloads her data (Art. 15) and asks for erasure (Art. 17); staff answer."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from rathaus.accounts.models import DataSubjectRequest, Profile, RequestState, Role
from rathaus.applications.models import Application
from rathaus.applications.services import application_change_status, application_submit
from rathaus.cases.services import receipt_document_ensure
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _owner(data, given: str, family: str, email: str):
    return {**data, "owner": {**data["owner"], "given_name": given, "family_name": family, "email": email}}


@pytest.fixture
def people(town, other_town, demo_services, dog_data, make_user, make_staff, django_capture_on_commit_callbacks):
    """Erika has a closed and an open application in town and one in other_town; Max one in town."""
    from rathaus.catalog.services import service_upsert

    erika = make_user("erika@example.org", first_name="Erika", last_name="Mustermann")
    Profile.objects.create(user=erika, street="Hauptstraße", city="Musterstadt")
    max_ = make_user("max@example.org", first_name="Max", last_name="Beispiel")
    dog = demo_services["hund-anmelden"]
    their_dog = service_upsert(municipality=other_town, slug="hund-anmelden", form=dog.form, leika_key=dog.leika_key,
                               name="Hund anmelden", summary="", office="Bürgerbüro", processing_days=5)
    staff = make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    with django_capture_on_commit_callbacks(execute=True):
        closed = application_submit(municipality=town, service=dog, applicant=erika,
                                    data=_owner(dog_data, "Erika", "Mustermann", "erika@example.org")).application
        application_change_status(application=closed, status="approved", actor=staff)
        open_ = application_submit(municipality=town, service=dog, applicant=erika,
                                   data=_owner(dog_data, "Erika", "Mustermann", "erika@example.org")).application
        elsewhere = application_submit(municipality=other_town, service=their_dog, applicant=erika,
                                       data=_owner(dog_data, "Erika", "Mustermann", "erika@example.org")).application
        maxs = application_submit(municipality=town, service=dog, applicant=max_,
                                  data=_owner(dog_data, "Max", "Beispiel", "max@example.org")).application
    receipt_document_ensure(application=closed)  # she downloaded the receipt: it lies in her case file
    mail.outbox.clear()
    return {"erika": erika, "max": max_, "closed": closed, "open": open_, "elsewhere": elsewhere, "maxs": maxs,
            "lead": staff}


def test_json_export_holds_all_of_her_data_and_nothing_of_another_citizen(client, people):
    client.force_login(people["erika"])
    response = client.get("/konto/meine-daten/meine-daten.json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert document["account"]["email"] == "erika@example.org"
    assert document["profile"]["street"] == "Hauptstraße"
    references = {a["reference"] for a in document["applications"]}
    assert references == {people["closed"].reference, people["open"].reference, people["elsewhere"].reference}
    closed = next(a for a in document["applications"] if a["reference"] == people["closed"].reference)
    assert closed["data"]["dog"]["name"] == "Bello"
    assert [h["status"] for h in closed["status_history"]] == ["received", "approved"]
    # Her documents are listed with a link that hands her the very file (same hash).
    linked = [d for d in closed["documents"] if d["download"]]
    assert linked
    for entry in linked:
        file = client.get(entry["download"])
        assert file.status_code == 200
        content = b"".join(file.streaming_content) if file.streaming else file.content
        assert hashlib.sha512(content).hexdigest() == entry["versions"][-1]["sha512"]
    assert {e["action"] for e in document["audit"]} >= {"application.submitted"}
    text = response.content.decode()
    assert "Beispiel" not in text and "max@example.org" not in text and people["maxs"].reference not in text
    assert AuditEntry.objects.filter(action="account.data_exported", actor=people["erika"]).count() == 1


def test_pdf_export_is_a_readable_summary(client, people):
    client.force_login(people["erika"])
    response = client.get("/konto/meine-daten/meine-daten.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Erika Mustermann" in text and people["closed"].reference in text and "Bello" in text
    assert "Beispiel" not in text


def test_zip_export_bundles_pdf_json_and_her_documents_and_none_of_anothers(client, people):
    import zipfile

    from rathaus.cases.models import Confidentiality, Document
    from rathaus.cases.services import Generated, document_add_generated

    # An internal working paper of the office: in her case file, but not hers to read.
    document_add_generated(application=people["closed"], generated=Generated(raw=b"%PDF-1.4 intern", filename="v.pdf"),
                           title="Vermerk", document_type="other", idempotency_key="internal-note",
                           confidentiality=Confidentiality.INTERNAL)
    client.force_login(people["erika"])
    response = client.get("/konto/meine-daten/meine-daten.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"] and ".zip" in response["Content-Disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = bundle.namelist()
    assert {"LIESMICH.txt", "meine-daten.json", "meine-daten.pdf"} <= set(names)
    assert bundle.read("meine-daten.pdf").startswith(b"%PDF-")
    document = json.loads(bundle.read("meine-daten.json"))
    placed = [d for a in document["applications"] for d in a["documents"] if d["in_archive"]]
    # Every document marked for her lies in the archive, byte for byte (the hash the JSON names).
    assert placed and sorted(d["in_archive"] for d in placed) == sorted(n for n in names if n.startswith("dateien/"))
    for entry in placed:
        assert hashlib.sha512(bundle.read(entry["in_archive"])).hexdigest() == entry["versions"][-1]["sha512"]
    assert all(people["maxs"].reference not in name for name in names)
    internal = Document.objects.get(idempotency_key="internal-note")
    assert not any(name.startswith(f"dateien/{people['closed'].reference}/{internal.pk}-") for name in names)
    assert AuditEntry.objects.filter(action="account.data_exported", actor=people["erika"], data__format="zip").exists()


def test_export_needs_a_login(client, people):
    response = client.get("/konto/meine-daten/meine-daten.json")
    assert response.status_code == 302 and "/konto/anmelden/" in response["Location"]


def test_erasure_request_becomes_a_task_per_municipality_and_staff_complete_it(
        client, people, town, other_town, login_verified, make_staff, django_capture_on_commit_callbacks):
    client.force_login(people["erika"])
    assert "Musterstadt" in client.get("/konto/meine-daten/loeschen/").content.decode()
    refused_form = client.post("/konto/meine-daten/loeschen/", {"reason": "Umzug"})
    assert refused_form.status_code == 422 and not DataSubjectRequest.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/konto/meine-daten/loeschen/", {"reason": "Ich ziehe weg.", "confirm": "on"})
    assert response.status_code == 302
    requests = {r.municipality_id: r for r in DataSubjectRequest.objects.all()}
    assert set(requests) == {town.pk, other_town.pk}
    ours = requests[town.pk]
    assert ours.state == RequestState.OPEN and ours.reason == "Ich ziehe weg."
    # Due one month after the day of the request in the town's calendar (Europe/Berlin), which is
    # not the UTC date between midnight in Berlin and midnight in UTC.
    asked_on = timezone.localdate(ours.created_at)
    assert (ours.due_date - asked_on).days in (28, 29, 30, 31)
    assert ours.due_date.day == asked_on.day or ours.due_date.day >= 28  # the last day of a shorter month
    assert len(mail.outbox) == 1 and "Beispielhausen" in mail.outbox[0].body
    assert AuditEntry.objects.filter(action="data_request.created").count() == 2
    # Asking again while both are open creates nothing new.
    client.post("/konto/meine-daten/loeschen/", {"confirm": "on"})
    assert DataSubjectRequest.objects.count() == 2

    lead = login_verified(Client(), people["lead"])
    inbox = lead.get(f"/m/{town.slug}/verwaltung/posteingang/").content.decode()
    assert "1 offene Datenschutz-Anfrage" in inbox
    # It is a task of the team: listed with its due date beside the process tasks; overdue once late.
    detail_link = f"/m/{town.slug}/verwaltung/datenschutz/{ours.pk}/"
    assert detail_link in lead.get(f"/m/{town.slug}/verwaltung/aufgaben/team/").content.decode()
    assert detail_link not in lead.get(f"/m/{town.slug}/verwaltung/aufgaben/ueberfaellig/").content.decode()
    DataSubjectRequest.objects.filter(pk=ours.pk).update(due_date=asked_on - timedelta(days=1))
    overdue = lead.get(f"/m/{town.slug}/verwaltung/aufgaben/ueberfaellig/").content.decode()
    assert detail_link in overdue
    assert f"/m/{town.slug}/verwaltung/datenschutz/{requests[other_town.pk].pk}/" not in overdue  # other town's
    DataSubjectRequest.objects.filter(pk=ours.pk).update(due_date=ours.due_date)
    listing = lead.get(f"/m/{town.slug}/verwaltung/datenschutz/").content.decode()
    assert ours.reference in listing and requests[other_town.pk].reference not in listing
    detail_url = f"/m/{town.slug}/verwaltung/datenschutz/{ours.pk}/"
    detail = lead.get(detail_url).content.decode()
    assert people["closed"].reference in detail and people["open"].reference in detail
    assert people["maxs"].reference not in detail
    # The other town's staff see nothing of ours, and we nothing of theirs.
    theirs = login_verified(Client(), make_staff(other_town, "lead@beispielhausen.example", role=Role.TEAM_LEAD))
    assert theirs.get(detail_url).status_code == 404
    assert theirs.get(f"/m/{other_town.slug}/verwaltung/datenschutz/{ours.pk}/").status_code == 404
    assert lead.get(f"/m/{town.slug}/verwaltung/datenschutz/{requests[other_town.pk].pk}/").status_code == 404

    # First the confirmation page, then the erasure; the open case stays with its reason.
    confirm = lead.post(detail_url, {"_complete": "", "applications": [people["closed"].pk], "message": "Bitte beachten."})
    assert confirm.status_code == 200 and "Jetzt löschen" in confirm.content.decode()
    assert Application.objects.get(pk=people["closed"].pk).anonymised_at is None
    with django_capture_on_commit_callbacks(execute=True):
        done = lead.post(detail_url, {"_complete": "1", "_confirm": "1", "applications": [people["closed"].pk],
                                      "message": "Bitte beachten."})
    assert done.status_code == 302
    closed = Application.objects.get(pk=people["closed"].pk)
    assert closed.anonymised_at is not None and closed.data == {} and closed.applicant is None
    assert Application.objects.get(pk=people["open"].pk).data["owner"]["family_name"] == "Mustermann"
    assert Application.objects.get(pk=people["elsewhere"].pk).anonymised_at is None
    ours.refresh_from_db()
    assert ours.state == RequestState.DONE and ours.closed_by == people["lead"]
    assert ours.result["anonymised"] == [closed.reference]
    assert ours.result["kept"] == [{"reference": people["open"].reference, "reason": "open"}]
    answer = [m for m in mail.outbox if ours.reference in m.subject]
    assert len(answer) == 1 and answer[0].to == ["erika@example.org"]
    assert closed.reference in answer[0].body and people["open"].reference in answer[0].body
    assert AuditEntry.objects.filter(action="data_request.completed", municipality=town).count() == 1
    assert AuditEntry.objects.get(action="application.anonymised", object_id=str(closed.pk)).actor == people["lead"]
    # She sees the outcome on her account page.
    account = client.get("/konto/meine-daten/").content.decode()
    assert "Erledigt" in account and closed.reference in account and "Verfahren läuft noch" in account
    # Answered once: a second decision is refused and changes nothing.
    again = lead.post(detail_url, {"_refuse": "", "reason": "zu spät"})
    assert again.status_code == 404
    ours.refresh_from_db()
    assert ours.state == RequestState.DONE


def test_staff_refuse_with_a_reason_the_citizen_reads(client, people, town, login_verified, django_capture_on_commit_callbacks):
    from rathaus.accounts.services import erasure_request

    with django_capture_on_commit_callbacks(execute=True):
        erasure_request(user=people["erika"], reason="")
    mail.outbox.clear()
    request = DataSubjectRequest.objects.get(municipality=town)
    lead = login_verified(Client(), people["lead"])
    url = f"/m/{town.slug}/verwaltung/datenschutz/{request.pk}/"
    empty = lead.post(url, {"_refuse": "", "reason": ""})
    assert empty.status_code == 422 and "Bitte begründen Sie die Ablehnung." in empty.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        lead.post(url, {"_refuse": "", "reason": "Aufbewahrungspflicht nach § 147 AO bis 2036."})
    request.refresh_from_db()
    assert request.state == RequestState.REFUSED
    assert Application.objects.get(pk=people["closed"].pk).anonymised_at is None
    assert "§ 147 AO" in mail.outbox[0].body and mail.outbox[0].to == ["erika@example.org"]
    assert AuditEntry.objects.filter(action="data_request.refused").count() == 1
    client.force_login(people["erika"])
    assert "§ 147 AO" in client.get("/konto/meine-daten/").content.decode()


def test_a_case_worker_sees_requests_but_only_a_team_lead_decides(people, town, make_staff, login_verified):
    from rathaus.accounts.services import erasure_request

    erasure_request(user=people["erika"], reason="")
    request = DataSubjectRequest.objects.get(municipality=town)
    worker = login_verified(Client(), make_staff(town, "sb@musterstadt.example"))
    url = f"/m/{town.slug}/verwaltung/datenschutz/{request.pk}/"
    page = worker.get(url).content.decode()
    assert "Über die Anfrage entscheidet die Teamleitung." in page and "_confirm" not in page
    assert worker.post(url, {"_complete": "1", "_confirm": "1", "applications": [people["closed"].pk]}).status_code == 404
    assert Application.objects.get(pk=people["closed"].pk).anonymised_at is None


def test_staff_export_the_list_as_csv_and_json(people, town, login_verified):
    from rathaus.accounts.services import erasure_request

    erasure_request(user=people["erika"], reason="")
    lead = login_verified(Client(), people["lead"])
    listing = lead.get(f"/m/{town.slug}/verwaltung/datenschutz/").content.decode()
    csv_url = re.search(r'href="(\?[^"]*export=csv)"', listing).group(1).replace("&amp;", "&")
    csv = lead.get(f"/m/{town.slug}/verwaltung/datenschutz/{csv_url}")
    assert csv["Content-Type"].startswith("text/csv") and "DS-" in csv.content.decode()
    rows = json.loads(lead.get(f"/m/{town.slug}/verwaltung/datenschutz/?export=json").content)
    assert [r["state"] for r in rows] == ["open"] and rows[0]["requester_name"] == "Erika Mustermann"
