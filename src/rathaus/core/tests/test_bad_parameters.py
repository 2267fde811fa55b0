"""Malformed parameters (a NUL byte, digits that are not ASCII, list entries a form does not have)
get a plain answer or are ignored; none of them causes a server error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rathaus.accounts.models import Role
from rathaus.core.params import parse_int
from rathaus.exchanges.models import Directory

pytestmark = pytest.mark.django_db

NOT_PLAIN_DIGITS = ["²", "١٢", "9" * 5000, "-1", "3.5", " "]


def test_parse_int_takes_short_ascii_digits_only():
    assert parse_int("42") == 42 and parse_int(" 7 ") == 7
    assert [parse_int(value) for value in NOT_PLAIN_DIGITS] == [None] * len(NOT_PLAIN_DIGITS)
    assert parse_int(None, 0) == 0 and parse_int(5, 0) == 0  # only text is read


def test_a_nul_byte_in_the_address_is_refused_plainly(client, town):
    page = client.get(f"/m/{town.slug}/", {"q": "Hund\x00"})
    assert page.status_code == 400 and "Nullzeichen" in page.content.decode()
    api = client.get("/api/v1/m/%00/services")
    assert api.status_code == 400 and api["Content-Type"] == "application/problem+json"
    assert client.get(f"/m/{town.slug}/", {"q": "Hund"}).status_code == 200


@pytest.mark.parametrize("value", NOT_PLAIN_DIGITS)
def test_a_filter_that_is_not_a_number_is_ignored(client, town, value):
    url = reverse("exchanges:directory", kwargs={"municipality": town.slug, "directory": Directory.SPORT})
    assert client.get(url, {"alter": value}).status_code == 200


def test_staff_pages_ignore_ids_that_are_not_numbers(client, town, make_staff, login_verified):
    admin = login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))
    for url in (f"/m/{town.slug}/verwaltung/api-zugaenge/?widerrufen=²",
                f"/m/{town.slug}/verwaltung/posteingang/?leistung=²"):
        assert admin.get(url).status_code == 200, url


def test_a_citizen_form_ignores_list_entries_it_does_not_have(client, town, demo_services):
    # Adding or removing an entry of a list (the vehicles of a parking ban) with a made-up number.
    base = client.post(f"/m/{town.slug}/leistungen/halteverbot-umzug/antrag/")["Location"].rsplit("/schritt/", 1)[0]
    for index in range(1, 5):
        for data in ({"_remove": "vehicles.items.²"}, {"_remove": "vehicles.items.99999"},
                     {"vehicles.items.².kind": "van"}):
            response = client.post(f"{base}/schritt/{index}/", data)
            assert response.status_code in (200, 302, 422), (index, data, response.status_code)


def test_a_nul_byte_in_a_posted_form_is_refused_plainly(client, town):
    from urllib.parse import urlencode

    # As a browser posts a form without files.
    response = client.post(f"/m/{town.slug}/status/", urlencode({"reference": "MUS-2026-000001\x00", "token": "x"}),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "Nullzeichen" in response.content.decode()


def test_staff_task_lists_ignore_a_service_that_is_not_a_number(staff_client, town):
    assert staff_client.get(f"/m/{town.slug}/verwaltung/aufgaben/team/", {"leistung": "²"}).status_code == 200


def test_a_message_to_a_process_with_a_nul_character_is_refused_with_a_problem(staff_client, town, demo_services,
                                                                                dog_data):
    from rathaus.applications.services import application_submit

    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    response = staff_client.post(f"/api/v1/m/{town.slug}/applications/{application.reference}/messages",
                                 {"name": "payment_received", "payload": {"note": "bezahlt\x00"}},
                                 content_type="application/json")
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/payload/note"
