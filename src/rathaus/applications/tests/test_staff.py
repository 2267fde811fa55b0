"""Staff inbox, detail, status changes, notes, assisted channel and retention."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rathaus.applications.models import Application, Channel, Status
from rathaus.applications.services import application_change_status, application_submit, applications_apply_retention
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _submit(town, service, data, **kwargs):
    return application_submit(municipality=town, service=service, data=data, **kwargs).application


def test_inbox_lists_filters_and_costs_the_same_queries_per_page(staff_client, town, demo_services, dog_data):
    dog = demo_services["hund-anmelden"]
    for _ in range(3):
        _submit(town, dog, dog_data)
    with CaptureQueriesContext(connection) as few:
        response = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/")
    assert response.status_code == 200
    assert response.content.decode().count("MUS-") >= 3
    for _ in range(40):
        _submit(town, dog, dog_data)
    with CaptureQueriesContext(connection) as many:
        page2 = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?seite=2")
    assert page2.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    assert "Seite 2 von 2" in page2.content.decode()


def test_inbox_filters_by_status_channel_and_overdue(staff_client, town, demo_services, dog_data, make_staff):
    dog = demo_services["hund-anmelden"]
    online = _submit(town, dog, dog_data)
    office = _submit(town, dog, dog_data, channel=Channel.OFFICE, entered_by=make_staff(town, "front@x.example"))
    Application.objects.filter(pk=online.pk).update(due_date=timezone.localdate() - timedelta(days=1))
    page = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?kanal=office").content.decode()
    assert office.reference in page and online.reference not in page
    page = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?ueberfaellig=1").content.decode()
    assert online.reference in page and office.reference not in page
    page = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?status=approved").content.decode()
    assert online.reference not in page and "Keine Anträge" in page


def test_inbox_exports_csv_and_json(staff_client, town, demo_services, dog_data):
    application = _submit(town, demo_services["hund-anmelden"], dog_data)
    csv_response = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?export=csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    lines = csv_response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("reference,service,status")
    assert lines[1].startswith(application.reference)
    rows = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?export=json").json()
    assert rows[0]["reference"] == application.reference and rows[0]["applicant_name"] == "Erika Mustermann"


def test_inbox_csv_opens_in_excel_with_umlauts_local_times_and_labels(staff_client, town, demo_services, dog_data):
    import codecs
    import csv
    import io
    from datetime import UTC, datetime

    dog_data["owner"]["family_name"] = "Müller"
    application = _submit(town, demo_services["hund-anmelden"], dog_data, channel=Channel.PHONE)
    # 23:30 UTC on 15 January is half past midnight on the 16th in Germany.
    Application.objects.filter(pk=application.pk).update(submitted_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC))
    response = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?export=csv")
    # Excel on Windows reads a CSV as UTF-8 (umlauts intact) only when it starts with the BOM.
    assert response.content.startswith(codecs.BOM_UTF8)
    (row,) = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert row["applicant_name"] == "Erika Müller"
    assert row["submitted_at"] == "2026-01-16T00:30:00+01:00"
    assert (row["status"], row["status_label"]) == ("received", "Eingegangen")
    assert (row["channel"], row["channel_label"]) == ("phone", "Telefonisch")
    (item,) = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?export=json").json()
    assert (item["submitted_at"], item["status_label"]) == ("2026-01-16T00:30:00+01:00", "Eingegangen")


def test_status_change_reaches_the_citizen(staff_client, client, town, demo_services, dog_data, django_capture_on_commit_callbacks):
    result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
    ref = result.application.reference
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/m/{town.slug}/verwaltung/antraege/{ref}/",
                                     {"status": "approved", "public_text": "Ihre Steuermarke kommt per Post."})
    assert response.status_code == 302
    application = Application.objects.get(reference=ref)
    assert application.status == Status.APPROVED and application.closed_at is not None
    assert [h.status for h in application.history.all()] == ["received", "approved"]
    assert "Ihre Steuermarke kommt per Post." in mail.outbox[-1].body
    status_page = client.get(f"/m/{town.slug}/status/{ref}/{result.access_token}/").content.decode()
    assert "Ihre Steuermarke kommt per Post." in status_page and "Bewilligt" in status_page
    assert AuditEntry.objects.filter(action="application.status_changed", object_id=str(application.pk)).count() == 1


def test_internal_notes_are_never_shown_to_the_citizen(staff_client, client, town, demo_services, dog_data):
    result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
    ref = result.application.reference
    staff_client.post(f"/m/{town.slug}/verwaltung/antraege/{ref}/", {"text": "Halter ist bekannt, Chip prüfen."})
    assert "Chip prüfen" in staff_client.get(f"/m/{town.slug}/verwaltung/antraege/{ref}/").content.decode()
    assert "Chip prüfen" not in client.get(f"/m/{town.slug}/status/{ref}/{result.access_token}/").content.decode()


def test_assisted_entry_is_marked_with_channel_and_clerk(staff_client, town, demo_services):
    from rathaus.applications.tests.test_web_flow import STEP_VALUES

    response = staff_client.post(f"/m/{town.slug}/verwaltung/erfassen/", {"service": "hund-anmelden", "channel": "paper"})
    base = response["Location"].rsplit("/schritt/", 1)[0]
    for index, values in STEP_VALUES.items():
        assert staff_client.post(f"{base}/schritt/{index}/", values).status_code == 302
    staff_client.post(f"{base}/pruefen/")
    application = Application.objects.get()
    assert application.channel == Channel.PAPER
    assert application.entered_by.memberships.get().municipality == town
    assert "Papierantrag" in staff_client.get(f"/m/{town.slug}/verwaltung/antraege/{application.reference}/").content.decode()


def test_retention_anonymises_only_what_is_due_and_logs_it(town, demo_services, dog_data, make_staff):
    clerk = make_staff(town)
    service = demo_services["hund-anmelden"]
    service.retention_days = 30
    service.save()
    due, recent, open_ = (_submit(town, service, dog_data) for _ in range(3))
    for application in (due, recent):
        application_change_status(application=application, status=Status.CLOSED, actor=clerk)
    Application.objects.filter(pk=due.pk).update(closed_at=timezone.now() - timedelta(days=31))
    Application.objects.filter(pk=recent.pk).update(closed_at=timezone.now() - timedelta(days=29))
    result = applications_apply_retention()
    assert result["anonymised"] == 1
    due.refresh_from_db()
    recent.refresh_from_db()
    open_.refresh_from_db()
    assert due.data == {} and due.applicant_name == "" and due.anonymised_at is not None
    assert recent.data["dog"]["name"] == "Bello" and open_.data["dog"]["name"] == "Bello"
    assert AuditEntry.objects.filter(action="application.anonymised", object_id=str(due.pk)).exists()
    assert applications_apply_retention()["anonymised"] == 0


def test_inbox_search_finds_a_whole_reference_and_parts_of_names(staff_client, town, demo_services, dog_data):
    dog = demo_services["hund-anmelden"]
    first, second = _submit(town, dog, dog_data), _submit(town, dog, dog_data)
    page = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/", {"q": f" {second.reference.lower()} "}).content.decode()
    assert second.reference in page and first.reference not in page
    page = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/", {"q": "mustermann"}).content.decode()
    assert first.reference in page and second.reference in page
    page = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/", {"q": first.reference[-6:]}).content.decode()
    assert first.reference in page and second.reference not in page
