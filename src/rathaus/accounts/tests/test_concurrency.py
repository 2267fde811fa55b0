"""Two requests of one person at once (a double click): the second gets the normal answer, never a 500."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from rathaus.accounts.forms import RegisterForm
from rathaus.accounts.models import DataSubjectRequest, User
from rathaus.accounts.services import erasure_request, user_register
from rathaus.applications.services import application_submit

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Sehr-sicheres-Passwort-1"  # noqa: S105

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)")


def _in_thread(work, results: dict) -> threading.Thread:
    def run():
        try:
            results["value"] = work()
        except Exception as exc:  # noqa: BLE001 - the test asserts on what was raised
            results["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_until_blocked(thread: threading.Thread) -> None:
    """Wait until another connection waits for a lock (the second request met the first's transaction)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while thread.is_alive() and time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)


@postgres_only
def test_a_double_clicked_erasure_request_files_one_request_per_town(town, other_town, demo_services, dog_data, make_user,
                                                                      held_open):
    erika = make_user("erika@example.org", first_name="Erika", last_name="Mustermann")
    application_submit(municipality=town, service=demo_services["hund-anmelden"], applicant=erika, data=dog_data)

    def second_click():
        client = Client()
        client.force_login(erika)
        response = client.post("/konto/meine-daten/loeschen/", {"confirm": "on", "reason": ""})
        page = client.get(response["Location"]).content.decode() if response.status_code == 302 else ""
        return response.status_code, page

    results: dict = {}
    with held_open(lambda: len(erasure_request(user=erika, reason=""))) as filed:
        second = _in_thread(second_click, results)
        _wait_until_blocked(second)
    second.join(10)
    assert filed == 1
    assert "error" not in results, results.get("error")
    status, page = results["value"]
    assert status == 302
    assert "Ihr Antrag liegt dort schon" in page
    assert DataSubjectRequest.objects.filter(user=erika).count() == 1


@postgres_only
def test_two_registrations_of_one_address_at_once_give_one_account_and_the_same_answer(held_open):
    results: dict = {}

    def second_registration():
        response = Client().post("/konto/registrieren/", {"first_name": "Erika", "last_name": "Mustermann",
                                                          "email": "erika@example.org", "password": PASSWORD})
        return response.status_code, response.content.decode()

    with held_open(lambda: user_register(first_name="Erika", last_name="Mustermann", email="erika@example.org",
                                         password=PASSWORD, site_url="http://testserver/").pk):
        second = _in_thread(second_registration, results)
        _wait_until_blocked(second)
    second.join(10)
    assert "error" not in results, results.get("error")
    status, page = results["value"]
    assert status == 200
    assert "Wir haben eine E-Mail an erika@example.org geschickt." in page and "schon ein Konto" not in page
    assert User.objects.count() == 1


def test_a_registration_that_loses_the_race_for_its_address_gets_the_same_answer(client, make_user, monkeypatch):
    # The form's check passed; the other registration stored the address before this one did.
    monkeypatch.setattr(RegisterForm, "clean_email", lambda form: form.cleaned_data["email"].lower())
    make_user("erika@example.org", verified=False)
    response = client.post("/konto/registrieren/", {"first_name": "Erika", "last_name": "Mustermann",
                                                    "email": "Erika@example.org", "password": PASSWORD})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Wir haben eine E-Mail an erika@example.org geschickt." in page and "schon ein Konto" not in page
    assert User.objects.count() == 1
