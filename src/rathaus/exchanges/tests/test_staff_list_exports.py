"""The exchanges' staff lists download as CSV and JSON: what the page lists, with its filters, of its town only."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from django.urls import reverse

from rathaus.accounts.models import Role
from rathaus.exchanges.models import ProviderStatus

from .conftest import birth_for

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
def registrations(municipality, register_child, make_user):
    return [register_child(make_user("anna@example.org"), "Anna", ["sonne", "wald"], single_parent=True),
            register_child(make_user("ben@example.org"), "Ben", ["regen"])]


def test_registrations_download_with_the_pages_filter(staff_client, municipality, registrations, daycare):
    url = f"/m/{municipality.slug}/boersen/verwaltung/kita/anmeldungen/"
    page = staff_client.get(url)
    assert b"?status=&amp;q=&amp;export=csv" in page.content or b"?export=csv" in page.content

    rows = _csv(staff_client.get(url, {"export": "csv"}))
    assert [(r["child_first_name"], r["wishes"], r["single_parent"], r["parent_email"]) for r in rows] == [
        ("Anna", "sonne; wald", "True", "anna@example.org"), ("Ben", "regen", "False", "ben@example.org")]
    assert rows[0]["birth_date"] == birth_for(1, registrations[0].desired_start).isoformat()

    filtered = json.loads(staff_client.get(url, {"q": "ben@", "export": "json"}).content)
    assert [r["child_first_name"] for r in filtered] == ["Ben"]
    assert filtered[0]["reference"] == registrations[1].reference


def test_provider_list_download_keeps_the_status_filter(staff_client, municipality, make_provider, other_municipality):
    make_provider(municipality, "Turnverein", status=ProviderStatus.APPROVED)
    make_provider(municipality, "Neuer Verein", status=ProviderStatus.REQUESTED)
    make_provider(other_municipality, "Fremder Verein", status=ProviderStatus.REQUESTED)
    url = f"/m/{municipality.slug}/boersen/verwaltung/anbieter/"
    assert b"?status=requested&amp;export=json" in staff_client.get(url).content

    requested = json.loads(staff_client.get(url, {"status": "requested", "export": "json"}).content)
    everyone = _csv(staff_client.get(url, {"status": "", "export": "csv"}))
    assert [p["name"] for p in requested] == ["Neuer Verein"]
    assert sorted(p["name"] for p in everyone) == ["Neuer Verein", "Turnverein"]


def test_facility_places_download_one_row_per_group_and_month(staff_client, municipality, daycare, start_month):
    rows = json.loads(staff_client.get(f"/m/{municipality.slug}/boersen/verwaltung/kita/", {"export": "json"}).content)
    assert sorted((r["facility"], r["group_kind"], r["start_month"], r["places"]) for r in rows) == [
        ("regen", "U3", start_month.isoformat(), 2), ("sonne", "U3", start_month.isoformat(), 1),
        ("wald", "U3", start_month.isoformat(), 2)]


def test_programme_activities_and_participants_download(staff_client, municipality, programme, activities):
    rows = json.loads(staff_client.get(f"/m/{municipality.slug}/boersen/verwaltung/ferien/{programme.pk}/",
                                       {"export": "json"}).content)
    assert sorted((r["title"], r["capacity"], r["taken"]) for r in rows) == [
        ("Kanutour", 1, 0), ("Waldtag", 5, 0), ("Zirkusworkshop", 2, 0)]
    participants = staff_client.get(
        f"/m/{municipality.slug}/boersen/verwaltung/ferien/aktivitaeten/{activities['kanu'].pk}/teilnehmende.json")
    assert participants["Content-Type"].startswith("application/json")
    assert json.loads(participants.content) == []


@pytest.mark.parametrize("path", ["kita/anmeldungen/", "anbieter/", "angebote/", "kategorien/", "kita/", "kita/runden/",
                                  "ferien/"])
def test_no_download_for_another_towns_staff_citizens_or_anonymous(
        path, municipality, other_municipality, registrations, make_staff, staff_login, citizen):
    url = f"/m/{municipality.slug}/boersen/verwaltung/{path}?export=csv"
    other_staff = staff_login(Client(), make_staff(other_municipality, Role.TENANT_ADMIN, "admin@andersdorf.example"))
    citizen_client = Client()
    citizen_client.force_login(citizen)
    response = other_staff.get(url)
    assert response.status_code == 404
    assert b"Anna" not in response.content
    assert citizen_client.get(url).status_code == 404
    assert Client().get(url).status_code == 302


def test_a_programmes_public_activities_download_without_what_is_not_published(municipality, programme, activities):
    from rathaus.exchanges.models import ModerationStatus

    activities["wald"].status = ModerationStatus.SUBMITTED  # not yet moderated: not on the page, not in the file
    activities["wald"].save()
    url = reverse("exchanges:holiday_programme", kwargs={"municipality": municipality.slug, "pk": programme.pk})
    page = Client().get(url)
    assert b"?export=csv" in page.content and b"?export=json" in page.content
    rows = json.loads(Client().get(url, {"export": "json"}).content)
    assert sorted((r["title"], r["places"], r["wishes"], r["start_time"], r["provider"]) for r in rows) == [
        ("Kanutour", 1, 0, "09:00", "TSV Musterstadt"), ("Zirkusworkshop", 2, 0, "09:00", "TSV Musterstadt")]
    assert [r["title"] for r in _csv(Client().get(url, {"export": "csv"}))] == [r["title"] for r in rows]


def test_a_provider_downloads_its_own_tables_and_nobody_else_gets_them(municipality, provider, provider_user, activities,
                                                                       citizen):
    url = reverse("exchanges:provider_home", kwargs={"municipality": municipality.slug})
    member = Client()
    member.force_login(provider_user)
    page = member.get(url).content.decode()
    assert f"?anbieter={provider.pk}&amp;liste=aktivitaeten&amp;export=json" in page
    rows = json.loads(member.get(url, {"anbieter": provider.pk, "liste": "aktivitaeten", "export": "json"}).content)
    assert sorted(r["title"] for r in rows) == ["Kanutour", "Waldtag", "Zirkusworkshop"]
    assert _csv(member.get(url, {"anbieter": provider.pk, "liste": "angebote", "export": "csv"})) == []
    assert member.get(url, {"anbieter": provider.pk, "liste": "etwas", "export": "csv"}).status_code == 404
    stranger = Client()
    stranger.force_login(citizen)  # no member of this provider
    assert stranger.get(url, {"anbieter": provider.pk, "liste": "aktivitaeten", "export": "json"}).status_code == 404
