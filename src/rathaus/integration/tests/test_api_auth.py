"""Token authentication of the staff API: scopes, isolation between municipalities, the answers to bad tokens."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from rathaus.accounts.models import Membership
from rathaus.accounts.rules import Perm
from rathaus.integration.models import ApiToken
from rathaus.processes.models import TaskState, UserTask

from .staff_api import *  # noqa: F403 - fixtures
from .staff_api import PROBLEM, bearer

pytestmark = pytest.mark.django_db

CASES = "/api/v1/m/musterstadt/cases"


def get(path, raw=None):
    return Client().get(path, headers=bearer(raw) if raw else {})


@pytest.mark.parametrize("header", ["Bearer rth_" + "x" * 43, "Bearer rth_", "Bearer " + "rth_" + "ä" * 10,
                                    "Basic YWRtaW46YWRtaW4=", ""])
def test_no_or_wrong_token_is_401_problem(town, header):
    response = Client().get(CASES, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 401


def test_expired_token_and_token_of_a_deactivated_creator_are_401(town, admin, make_token):
    raw = make_token()
    assert get(CASES, raw).status_code == 200
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert get(CASES, raw).status_code == 401
    ApiToken.objects.update(expires_at=timezone.now() + timedelta(days=1))
    admin.is_active = False
    admin.save()
    assert get(CASES, raw).status_code == 401


def test_a_token_of_another_municipality_learns_nothing_here(town, other_town, make_staff, make_token, submit_dog):
    ours = submit_dog()
    theirs_admin = make_staff(other_town, "admin@beispielhausen.example", role="tenant_admin")
    theirs = make_token(actor=theirs_admin)
    assert get("/api/v1/m/beispielhausen/cases", theirs).status_code == 200
    for path in (CASES, f"{CASES}/{ours.reference}", f"{CASES}/{ours.reference}/documents", "/api/v1/m/musterstadt/events",
                 "/api/v1/m/musterstadt/tasks"):
        response = get(path, theirs)
        assert response.status_code == 404, path
        assert response["Content-Type"] == PROBLEM
        assert ours.reference not in response.content.decode()
    # Their token does not open our application's status either (it is simply not found).
    assert get(f"/api/v1/m/musterstadt/applications/{ours.reference}", theirs).status_code == 404


def test_a_token_can_do_only_what_it_carries(town, make_token, submit_dog):
    application = submit_dog()
    tasks_only = make_token([Perm.WORK_TASKS])
    assert get("/api/v1/m/musterstadt/tasks", tasks_only).status_code == 200
    # Missing permission: 404, like staff of another municipality (as the session API answers).
    for path in (CASES, f"{CASES}/{application.reference}", "/api/v1/m/musterstadt/events",
                 f"{CASES}/{application.reference}/fit-connect"):
        assert get(path, tasks_only).status_code == 404, path
    reader = make_token([Perm.VIEW_INBOX])
    assert get(f"{CASES}/{application.reference}", reader).status_code == 200
    assert get(f"{CASES}/{application.reference}/fit-connect", reader).status_code == 404
    assert get("/api/v1/m/musterstadt/tasks", reader).status_code == 404


def test_a_token_never_outlives_its_creators_rights(town, admin, make_token):
    raw = make_token([Perm.VIEW_INBOX])
    assert get(CASES, raw).status_code == 200
    Membership.objects.filter(user=admin).delete()
    assert get(CASES, raw).status_code == 404


def test_a_token_completes_a_task_without_csrf_and_acts_as_its_creator(town, admin, make_token, exempt_dog):
    task = UserTask.objects.get(application=exempt_dog, state=TaskState.OPEN)
    raw = make_token([Perm.WORK_TASKS])
    client = Client(enforce_csrf_checks=True)
    listed = client.get("/api/v1/m/musterstadt/tasks?view=team", headers=bearer(raw)).json()
    assert [t["id"] for t in listed] == [task.pk]
    response = client.post(f"/api/v1/m/musterstadt/tasks/{task.pk}/complete", content_type="application/json",
                           data=json.dumps({"data": {"decision": {"outcome": "request_documents"}}}), headers=bearer(raw))
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED and task.completed_by == admin


def test_the_session_api_still_needs_the_second_factor_and_csrf(town, admin, login_verified, exempt_dog):
    task = UserTask.objects.get(application=exempt_dog, state=TaskState.OPEN)
    unverified = Client()
    unverified.force_login(admin)
    assert unverified.get("/api/v1/m/musterstadt/tasks").status_code == 401
    session = login_verified(Client(enforce_csrf_checks=True), admin)
    assert session.get("/api/v1/m/musterstadt/tasks").status_code == 200
    refused = session.post(f"/api/v1/m/musterstadt/tasks/{task.pk}/complete", content_type="application/json",
                           data=json.dumps({"data": {"decision": {"outcome": "request_documents"}}}))
    assert refused.status_code == 403
    task.refresh_from_db()
    assert task.state == TaskState.OPEN


def test_a_superuser_without_membership_gets_no_town_rights_in_the_api_or_the_pages(town, make_user, login_verified,
                                                                                    exempt_dog):
    # The platform's operators run the Django admin; a town's cases and tasks are its staff's (as the pages say).
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=operator, name="test", confirmed=True)
    session = login_verified(Client(), operator)
    task = UserTask.objects.get(application=exempt_dog, state=TaskState.OPEN)
    for path in ("/api/v1/m/musterstadt/tasks", CASES, f"{CASES}/{exempt_dog.reference}"):
        response = session.get(path)
        assert response.status_code == 404, path
        assert exempt_dog.reference not in response.content.decode()
    assert session.get(f"/m/musterstadt/verwaltung/aufgaben/{task.pk}/").status_code == 404
    assert session.get("/verwaltung/").status_code == 200  # the admin stays theirs
    Membership.objects.create(user=operator, municipality=town, role="team_lead")
    assert session.get(f"{CASES}/{exempt_dog.reference}").status_code == 200


def test_staff_token_reads_an_application_status_and_the_citizen_code_still_works(town, make_token, demo_services, dog_data,
                                                                                  django_capture_on_commit_callbacks):
    from rathaus.applications.services import application_submit

    with django_capture_on_commit_callbacks(execute=True):
        result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
    path = f"/api/v1/m/musterstadt/applications/{result.application.reference}"
    assert get(path, result.access_token).status_code == 200
    assert get(path, make_token([Perm.VIEW_INBOX])).status_code == 200
    assert get(path, make_token([Perm.WORK_TASKS])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_token_over_real_http(live_server, town, make_token, submit_dog):
    application = submit_dog()
    raw = make_token([Perm.VIEW_INBOX])
    request = urllib.request.Request(f"{live_server.url}{CASES}/{application.reference}", headers=bearer(raw))
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["reference"] == application.reference
    wrong = urllib.request.Request(f"{live_server.url}{CASES}", headers=bearer("rth_" + "0" * 43))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=10)
    assert refused.value.code == 401
    assert refused.value.headers["Content-Type"] == PROBLEM


@pytest.mark.parametrize(("language", "unauthorized", "invalid", "not_found"), [
    ("de", "Zugangsdaten fehlen oder sind ungültig.", "Die Anfrage ist unvollständig oder falsch aufgebaut.", "Nicht gefunden."),
    ("en", "Credentials are missing or invalid.", "The request is incomplete or malformed.", "Not found."),
])
def test_api_problems_speak_the_language_the_client_asks_for(town, make_token, language, unauthorized, invalid, not_found):
    headers = {"Accept-Language": language}
    missing = Client().get(CASES, headers=headers)
    assert (missing.status_code, missing.json()["detail"]) == (401, unauthorized)
    raw = make_token()
    bad = Client().get(CASES, {"status": "lost"}, headers={**headers, **bearer(raw)})
    assert (bad.status_code, bad.json()["detail"]) == (422, invalid)
    unknown = Client().get("/api/v1/m/gibt-es-nicht/services", headers=headers)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, not_found)
