"""Public directory: search filters, exports (CSV, JSON, iCal), map assets; the provider area."""

import csv
import io
import json
from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from rathaus.exchanges.models import Directory, ModerationStatus, Offer

pytestmark = pytest.mark.django_db


def search(client, municipality, **params):
    url = reverse("exchanges:directory", kwargs={"municipality": municipality.slug, "directory": Directory.SPORT})
    return client.get(url, params)


def titles(response):
    return sorted(o.title for o in response.context["page"])


def test_search_lists_only_published_offers(client, municipality, published_offers):
    response = search(client, municipality)
    assert response.status_code == 200
    assert titles(response) == ["Fußball für Kinder", "Schwimmkurs Seepferdchen", "Volleyball 60 plus"]
    assert "Geheimes Training" not in response.content.decode()


@pytest.mark.parametrize(("params", "expected"), [
    ({"q": "seepferdchen"}, ["Schwimmkurs Seepferdchen"]),
    ({"q": "ball kinder"}, ["Fußball für Kinder"]),
    ({"kategorie": "ballsport"}, ["Fußball für Kinder", "Volleyball 60 plus"]),
    ({"alter": "7"}, ["Fußball für Kinder", "Schwimmkurs Seepferdchen"]),
    ({"alter": "70"}, ["Volleyball 60 plus"]),
    ({"tag": "1"}, ["Fußball für Kinder", "Volleyball 60 plus"]),
    ({"tag": "3"}, ["Schwimmkurs Seepferdchen"]),
    ({"kosten": "frei"}, ["Fußball für Kinder"]),
    ({"max_kosten": "10,00"}, ["Fußball für Kinder", "Volleyball 60 plus"]),
    ({"barrierefrei": ["step_free"]}, ["Fußball für Kinder"]),
    ({"barrierefrei": ["step_free", "accessible_toilet"]}, []),
    ({"alter": "abc", "tag": "9"}, ["Fußball für Kinder", "Schwimmkurs Seepferdchen", "Volleyball 60 plus"]),
])
def test_search_filters(client, municipality, published_offers, params, expected):
    assert titles(search(client, municipality, **params)) == expected


def test_weekday_filter_also_finds_upcoming_single_dates(client, municipality, provider, make_offer):
    day = timezone.localdate() + timedelta(days=10)
    starts = timezone.make_aware(datetime.combine(day, time(14, 0)))
    make_offer(provider, "Turnier", dates=[starts])
    assert titles(search(client, municipality, tag=str(day.weekday()))) == ["Turnier"]


def test_search_works_without_javascript_and_loads_the_map_only_with_located_offers(client, municipality, published_offers, settings):
    settings.RATHAUS_MAP_TILE_URL = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    response = search(client, municipality)
    html = response.content.decode()
    assert 'id="offer-list"' in html
    assert "Fußball für Kinder" in html
    assert "vendor/leaflet/leaflet.js" in html
    assert "rathaus/map.js" in html
    assert 'data-lat="50.258400"' in html
    assert 'data-lon="10.964000"' in html
    assert "https://*.tiles.example.org" in response["Content-Security-Policy"]
    assert "<script>" not in html  # strict CSP: no inline script
    only_unlocated = search(client, municipality, alter="70")
    assert "leaflet.js" not in only_unlocated.content.decode()


def test_without_a_tile_server_there_is_no_map(client, municipality, published_offers, settings):
    settings.RATHAUS_MAP_TILE_URL = ""
    html = search(client, municipality).content.decode()
    assert "leaflet.js" not in html
    assert "offer-map" not in html


def export(client, municipality, fmt, **params):
    url = reverse("exchanges:directory_export", kwargs={"municipality": municipality.slug,
                                                         "directory": Directory.SPORT, "fmt": fmt})
    return client.get(url, params)


def test_csv_dataset_contains_published_offers_with_coordinates(client, municipality, published_offers):
    response = export(client, municipality, "csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(r["title"] for r in rows) == ["Fußball für Kinder", "Schwimmkurs Seepferdchen", "Volleyball 60 plus"]
    football = next(r for r in rows if r["title"] == "Fußball für Kinder")
    assert (football["latitude"], football["step_free"], football["weekly"]) == ("50.2584", "True", "TU 17:00-18:30")


def test_json_dataset_honours_the_filters(client, municipality, published_offers):
    document = json.loads(export(client, municipality, "json", kosten="frei").content)
    assert document["count"] == 1
    assert document["offers"][0]["title"] == "Fußball für Kinder"
    assert document["offers"][0]["fee_eur"] == "0.00"
    assert document["offers"][0]["url"].endswith(f"/boersen/sportkompass/{published_offers['football'].pk}/")


def test_ical_export_of_a_search_result_is_valid_rfc5545(client, municipality, published_offers):
    response = export(client, municipality, "ics", kategorie="ballsport")
    body = response.content.decode()
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 2
    assert "RRULE:FREQ=WEEKLY;BYDAY=TU" in body
    assert "BEGIN:VTIMEZONE" in body
    assert "DTSTART;TZID=Europe/Berlin:" in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


def test_ical_of_one_offer_lists_its_single_dates(client, municipality, provider, make_offer):
    starts = timezone.make_aware(datetime(2030, 5, 4, 10, 0))
    offer = make_offer(provider, "Tag der offenen Tür; mit Grillen, Spielen", dates=[starts])
    url = reverse("exchanges:offer_ical", kwargs={"municipality": municipality.slug, "directory": offer.directory, "pk": offer.pk})
    body = client.get(url).content.decode()
    assert "DTSTART;TZID=Europe/Berlin:20300504T100000" in body
    assert "SUMMARY:Tag der offenen Tür\\; mit Grillen\\, Spielen" in body


def test_unpublished_offer_detail_is_not_found(client, municipality, published_offers):
    draft = published_offers["draft"]
    url = reverse("exchanges:offer_detail", kwargs={"municipality": municipality.slug, "directory": draft.directory, "pk": draft.pk})
    assert client.get(url).status_code == 404


def test_offer_of_another_municipality_is_not_found(client, other_municipality, published_offers):
    offer = published_offers["football"]
    url = reverse("exchanges:offer_detail", kwargs={"municipality": other_municipality.slug, "directory": offer.directory, "pk": offer.pk})
    assert client.get(url).status_code == 404


def offer_post(**extra):
    data = {"directory": Directory.SPORT, "title": "Badminton", "description": "Spaß am Federball", "place_name": "Halle 2",
            "fee": "0", "slots-TOTAL_FORMS": "2", "slots-INITIAL_FORMS": "0", "slots-MIN_NUM_FORMS": "0",
            "slots-MAX_NUM_FORMS": "14", "slots-0-weekday": "4", "slots-0-start_time": "18:00",
            "slots-0-end_time": "20:00", "dates-TOTAL_FORMS": "1", "dates-INITIAL_FORMS": "0",
            "dates-MIN_NUM_FORMS": "0", "dates-MAX_NUM_FORMS": "60"}
    data.update(extra)
    return data


def test_provider_creates_and_submits_an_offer_without_javascript(client, municipality, provider, provider_user):
    client.force_login(provider_user)
    url = reverse("exchanges:provider_offer_create", kwargs={"municipality": municipality.slug, "provider": provider.pk})
    assert client.get(url).status_code == 200
    response = client.post(url, offer_post(_submit="1"))
    assert response.status_code == 302
    offer = Offer.objects.get(title="Badminton")
    assert offer.status == ModerationStatus.SUBMITTED
    assert [(s.weekday, s.start_time) for s in offer.slots.all()] == [(4, time(18, 0))]


def test_offer_form_shows_an_error_summary(client, municipality, provider, provider_user):
    client.force_login(provider_user)
    url = reverse("exchanges:provider_offer_create", kwargs={"municipality": municipality.slug, "provider": provider.pk})
    response = client.post(url, offer_post(title="", **{"slots-0-end_time": ""}))
    html = response.content.decode()
    assert response.status_code == 422
    assert 'class="error-summary"' in html
    assert 'href="#id_title"' in html
    assert 'aria-invalid="true"' in html
    assert not Offer.objects.exists()


def test_provider_area_hides_other_providers(client, municipality, make_provider, make_user, provider, make_offer):
    stranger = make_user("fremd@example.org")
    make_provider(municipality, "Anderer Verein", stranger)
    offer = make_offer(provider, "Judo")
    client.force_login(stranger)
    edit = reverse("exchanges:provider_offer_edit", kwargs={"municipality": municipality.slug, "provider": provider.pk, "pk": offer.pk})
    assert client.get(edit).status_code == 404
    action = reverse("exchanges:provider_offer_action", kwargs={"municipality": municipality.slug, "provider": provider.pk, "pk": offer.pk})
    assert client.post(action, {"action": "delete"}).status_code == 404
    assert Offer.objects.filter(pk=offer.pk).exists()


def test_provider_area_needs_a_login(client, municipality):
    url = reverse("exchanges:provider_home", kwargs={"municipality": municipality.slug})
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_provider_request_form(client, municipality, citizen):
    client.force_login(citizen)
    url = reverse("exchanges:provider_request", kwargs={"municipality": municipality.slug})
    response = client.post(url, {"name": "Lauftreff", "email": "lauf@example.org", "website": "lauftreff.example"})
    assert response.status_code == 302
    assert citizen.exchange_providers.get().website == "https://lauftreff.example"


def test_dataset_downloads_are_capped_and_the_cap_is_stated(client, municipality, published_offers, monkeypatch):
    from rathaus.exchanges import views

    monkeypatch.setattr(views, "EXPORT_LIMIT", 2)
    html = search(client, municipality).content.decode()
    assert "höchstens 2 Angebote je Download" in html
    assert "Ein Download enthält höchstens 2 Angebote." in html
    document = json.loads(export(client, municipality, "json").content)
    assert (document["count"], document["limit"], document["truncated"]) == (2, 2, True)
    rows = list(csv.DictReader(io.StringIO(export(client, municipality, "csv").content.decode("utf-8-sig"))))
    assert len(rows) == 2
    narrowed = json.loads(export(client, municipality, "json", kosten="frei").content)
    assert (narrowed["count"], narrowed["truncated"]) == (1, False)


@pytest.mark.parametrize("taken", ["Schachclub Musterstadt", "schachclub MUSTERSTADT"])
def test_renaming_a_provider_to_another_providers_name_shows_a_field_error(client, municipality, provider,
                                                                          provider_user, make_provider, taken):
    make_provider(municipality, "Schachclub Musterstadt")
    client.force_login(provider_user)
    url = reverse("exchanges:provider_edit", kwargs={"municipality": municipality.slug, "provider": provider.pk})
    response = client.post(url, {"name": taken, "email": provider.email})
    assert response.status_code == 422
    assert "Diesen Anbieter gibt es schon." in response.content.decode()
    provider.refresh_from_db()
    assert provider.name == "TSV Musterstadt"
    # Its own name in other letters is no clash.
    assert client.post(url, {"name": "TSV MUSTERSTADT", "email": provider.email}).status_code == 302
    provider.refresh_from_db()
    assert provider.name == "TSV MUSTERSTADT"
