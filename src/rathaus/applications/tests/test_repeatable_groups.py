"""Adding and removing entries of lists in a form without JavaScript (the submit buttons)."""

import re

import pytest

from rathaus.applications.models import Draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def household_service(town):
    """A form with a list inside a list (the pets of each household member) and a list of phone numbers."""
    from rathaus.catalog import demo_forms as f
    from rathaus.catalog.services import form_definition_create, service_upsert
    from rathaus_domain.forms.validation import PHONE_PATTERN

    pets = {"type": "array", "title": "Haustiere", "maxItems": 5,
            "items": f.obj("Haustier", {"n": f.text("Name des Tiers")}, ["n"])}
    members = {"type": "array", "title": "Person", "maxItems": 5,
               "items": f.obj("Person", {"name": f.text("Name"), "pets": pets}, ["name"])}
    phones = {"type": "array", "title": "Telefonnummern", "maxItems": 3,
              "items": f.text("Telefon", max_length=30, pattern=PHONE_PATTERN)}
    address = f.obj("Anschrift", {"street": f.text("Straße")}, [])
    schema = f.form("Haushalt", "Wer wohnt bei Ihnen?",
                    {"s": f.obj("Haushalt", {"addr": address, "hh": members, "phones": phones}, [])})
    form = form_definition_create(municipality=town, key="haushalt", title="Haushalt", schema=schema)
    return service_upsert(municipality=town, slug="haushalt", form=form, leika_key="99000000000000", name="Haushalt",
                          summary="", office="Bürgerbüro", processing_days=5)


def _start(client, town) -> str:
    return client.post(f"/m/{town.slug}/leistungen/haushalt/antrag/")["Location"].rsplit("/schritt/", 1)[0]


def _inputs(page) -> dict[str, str]:
    """The text inputs of a rendered step: name → value shown."""
    html = page.content.decode()
    return dict(re.findall(r'<input [^>]*name="(s\.[^"]+)" value="([^"]*)"', html))


def test_a_pet_is_added_to_a_household_member(client, town, household_service):
    base = _start(client, town)
    added = client.post(f"{base}/schritt/1/", {"s.hh.0.name": "Anna", "s.hh.0.pets.0.n": "Bello",
                                               "_add": "s.hh.0.pets"})
    assert added.status_code == 302
    inputs = _inputs(client.get(f"{base}/schritt/1/"))
    assert inputs["s.hh.0.pets.0.n"] == "Bello"
    assert inputs["s.hh.0.pets.1.n"] == ""
    assert "s.hh.0.pets.2.n" not in inputs


def test_a_pet_is_added_to_a_household_member_not_yet_filled_in(client, town, household_service):
    base = _start(client, town)
    assert client.post(f"{base}/schritt/1/", {"_add": "s.hh.0.pets"}).status_code == 302
    inputs = _inputs(client.get(f"{base}/schritt/1/"))
    assert {"s.hh.0.name", "s.hh.0.pets.0.n", "s.hh.0.pets.1.n"} <= set(inputs)


def test_a_pet_of_a_household_member_is_removed(client, town, household_service):
    base = _start(client, town)
    removed = client.post(f"{base}/schritt/1/", {"s.hh.0.name": "Anna", "s.hh.0.pets.0.n": "Bello",
                                                 "s.hh.0.pets.1.n": "Minka", "_remove": "s.hh.0.pets.0"})
    assert removed.status_code == 302
    inputs = _inputs(client.get(f"{base}/schritt/1/"))
    assert inputs["s.hh.0.pets.0.n"] == "Minka"
    assert "s.hh.0.pets.1.n" not in inputs
    assert Draft.objects.get().data["s"]["hh"] == [{"name": "Anna", "pets": [{"n": "Minka"}]}]


def test_a_button_naming_a_group_that_is_not_a_list_changes_nothing(client, town, household_service):
    base = _start(client, town)
    # Only a crafted request sends this (a plain group has no such button); the address must stay.
    assert client.post(f"{base}/schritt/1/", {"s.addr.street": "Hauptstraße", "_add": "s.addr"}).status_code == 302
    assert Draft.objects.get().data["s"] == {"addr": {"street": "Hauptstraße"}}


def test_an_added_phone_number_starts_empty_and_nothing_else_is_stored(client, town, household_service):
    base = _start(client, town)
    assert client.post(f"{base}/schritt/1/", {"_add": "s.phones"}).status_code == 302
    inputs = _inputs(client.get(f"{base}/schritt/1/"))
    assert (inputs["s.phones.0"], inputs["s.phones.1"]) == ("", "")
    # She fills in the second input and sends the page as it is shown.
    sent = client.post(f"{base}/schritt/1/", {"s.phones.0": inputs["s.phones.0"], "s.phones.1": "0171 1234567"})
    assert sent.status_code == 302
    assert Draft.objects.get().data["s"] == {"phones": ["0171 1234567"]}
