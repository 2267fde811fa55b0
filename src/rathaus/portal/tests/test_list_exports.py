"""Downloads of lists outside the exchanges: a citizen's own applications, a town's process models."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from rathaus.accounts.models import Role

pytestmark = pytest.mark.django_db


def test_my_applications_download_holds_only_the_citizens_own_applications(town, demo_services, dog_data, make_user):
    from rathaus.applications.services import application_submit

    erika, someone = make_user("erika@example.org"), make_user("someone@example.org")
    own = application_submit(municipality=town, service=demo_services["hund-anmelden"], applicant=erika, data=dog_data)
    application_submit(municipality=town, service=demo_services["hund-anmelden"], applicant=someone, data=dog_data)
    client = Client()
    client.force_login(erika)

    assert b"?export=csv" in client.get("/meine-antraege/").content
    rows = json.loads(client.get("/meine-antraege/", {"export": "json"}).content)
    assert [(r["reference"], r["municipality"], r["status"]) for r in rows] == [
        (own.application.reference, "Musterstadt", own.application.status)]
    table = list(csv.DictReader(io.StringIO(client.get("/meine-antraege/", {"export": "csv"}).content.decode("utf-8-sig"))))
    assert [r["reference"] for r in table] == [own.application.reference]
    # Without an account there is no list to download.
    assert Client().get("/meine-antraege/", {"export": "json"}).status_code == 302


def test_process_models_download_for_the_towns_admin_only(town, other_town, demo_services, make_staff, login_verified,
                                                         make_user):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town)
    url = f"/m/{town.slug}/verwaltung/prozesse/"
    admin = login_verified(Client(), make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN))
    assert b"?export=json" in admin.get(url).content

    rows = json.loads(admin.get(url, {"export": "json"}).content)
    assert sorted(r["service"] for r in rows) == sorted(s.name for s in demo_services.values())
    assert {r["state"] for r in rows} == {"published"}
    csv_rows = list(csv.DictReader(io.StringIO(admin.get(url, {"export": "csv"}).content.decode("utf-8-sig"))))
    assert len(csv_rows) == len(rows)

    other_admin = login_verified(Client(), make_staff(other_town, "admin@beispielhausen.example", role=Role.TENANT_ADMIN))
    case_worker = login_verified(Client(), make_staff(town, "sb@musterstadt.example"))
    citizen = Client()
    citizen.force_login(make_user("buergerin@example.org"))
    for client in (other_admin, case_worker, citizen):
        response = client.get(url, {"export": "json"})
        assert response.status_code == 404
        assert b"process_id" not in response.content
