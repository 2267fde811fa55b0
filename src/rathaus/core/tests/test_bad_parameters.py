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
