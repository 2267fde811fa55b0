import pytest

from rathaus.catalog.services import service_upsert

pytestmark = pytest.mark.django_db


def test_catalogue_search_and_life_situation_filter(client, town, demo_services):
    service_upsert(municipality=town, slug="hund-anmelden", form=demo_services["hund-anmelden"].form,
                   life_situations=[("tiere", "Tiere", "Animals")], name="Hund anmelden", summary="Hundesteuer",
                   leika_key="99108002001000", office="Bürgerbüro")
    page = client.get(f"/m/{town.slug}/?q=hund").content.decode()
    assert "Hund anmelden" in page and "Halteverbot-Umzug" not in page and "1 Leistung gefunden" in page
    page = client.get(f"/m/{town.slug}/?lebenslage=tiere").content.decode()
    assert "Hund anmelden" in page and "Bewohnerparkausweis" not in page


def test_unpublished_services_are_not_offered(client, town, demo_services):
    service = demo_services["bewohnerparkausweis"]
    service.is_published = False
    service.save()
    assert "Bewohnerparkausweis" not in client.get(f"/m/{town.slug}/").content.decode()
    assert client.get(f"/m/{town.slug}/leistungen/bewohnerparkausweis/").status_code == 404


def test_services_of_another_municipality_are_not_reachable(client, town, other_town, demo_services):
    assert client.get(f"/m/{other_town.slug}/leistungen/hund-anmelden/").status_code == 404
    assert client.post(f"/m/{other_town.slug}/leistungen/hund-anmelden/antrag/").status_code == 404


def test_life_situation_filter_is_in_english_on_english_pages(client, town, demo_services):
    from django.conf import settings

    service_upsert(municipality=town, slug="hund-anmelden", form=demo_services["hund-anmelden"].form,
                   life_situations=[("tiere", "Tiere", "Animals"), ("mobilitaet", "Mobilität und Verkehr", "Mobility and transport"),
                                    ("umzug", "Umzug", "")],  # not translated yet: German stays
                   name="Hund anmelden", summary="Hundesteuer", leika_key="99108002001000", office="Bürgerbüro")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(f"/m/{town.slug}/").content.decode()
    assert '<option value="tiere">Animals</option>' in page
    assert '<option value="mobilitaet">Mobility and transport</option>' in page
    assert '<option value="umzug">Umzug</option>' in page
    assert page.index(">Animals<") < page.index(">Mobility and transport<") < page.index(">Umzug<")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    page = client.get(f"/m/{town.slug}/").content.decode()
    assert '<option value="tiere">Tiere</option>' in page and "Animals" not in page
