"""Decision letters name the issuing town with its address and a complete remedy instruction (§ 58 (1) VwGO)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rathaus.accounts.models import Role
from rathaus.tenants.services import municipality_update

from .test_demo_processes import _letter_text

pytestmark = pytest.mark.django_db

ADDRESS = "Rathausplatz 1\n99999 Musterstadt"
OBJECTION = ("Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe "
             "Widerspruch erhoben werden. Der Widerspruch ist schriftlich, in elektronischer Form nach § 3a Abs. 2 des "
             "Verwaltungsverfahrensgesetzes oder zur Niederschrift bei der Behörde zu erheben, die den Bescheid "
             "erlassen hat: {sender}. Eine einfache E-Mail genügt dafür nicht.")
ACTION = ("Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe Klage "
          "erhoben werden. Die Klage ist schriftlich oder zu Protokoll des Urkundsbeamten der Geschäftsstelle bei "
          "diesem Gericht zu erheben: Verwaltungsgericht Würzburg, Burkarderstraße 26, 97082 Würzburg. Sie kann auch "
          "als elektronisches Dokument nach § 55a der Verwaltungsgerichtsordnung eingereicht werden; eine einfache "
          "E-Mail genügt dafür nicht.")


def test_a_letter_names_the_town_with_its_address_and_an_objection_lodged_there(submit, parking_data, town):
    municipality_update(municipality=town, address=ADDRESS, remedy="objection")
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    # The sender under the town's name, as typed (two lines), before the letter's title.
    assert letter.startswith("Musterstadt Rathausplatz 1 99999 Musterstadt Bewohnerparkausweis")
    assert OBJECTION.format(sender="Musterstadt, Rathausplatz 1, 99999 Musterstadt") in letter
    assert "Klage" not in letter


def test_where_the_objection_is_abolished_the_letter_names_the_court_its_address_and_the_form(submit, parking_data, town):
    municipality_update(municipality=town, address=ADDRESS, remedy="action", court_name="Verwaltungsgericht Würzburg",
                        court_address="Burkarderstraße 26\n97082 Würzburg",
                        remedy_note="Kraft Bundesrechts wird infolge der Klageerhebung eine Verfahrensgebühr fällig.")
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert letter.startswith("Musterstadt Rathausplatz 1 99999 Musterstadt Bewohnerparkausweis")
    # The town's own sentence follows the instruction; nothing speaks of an objection any more.
    assert (ACTION + " Kraft Bundesrechts wird infolge der Klageerhebung eine Verfahrensgebühr fällig.") in letter
    assert "Widerspruch" not in letter


CHOICE = ("Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe entweder "
          "Widerspruch oder unmittelbar Klage erhoben werden. Der Widerspruch ist schriftlich, in elektronischer Form "
          "nach § 3a Abs. 2 des Verwaltungsverfahrensgesetzes oder zur Niederschrift bei der Behörde zu erheben, die den "
          "Bescheid erlassen hat: Musterstadt, Rathausplatz 1, 99999 Musterstadt. Eine einfache E-Mail genügt dafür "
          "nicht. Die Klage ist schriftlich oder zu Protokoll des Urkundsbeamten der Geschäftsstelle bei diesem Gericht "
          "zu erheben: Verwaltungsgericht Würzburg, Burkarderstraße 26, 97082 Würzburg. Sie kann auch als "
          "elektronisches Dokument nach § 55a der Verwaltungsgerichtsordnung eingereicht werden; eine einfache E-Mail "
          "genügt dafür nicht.")


def test_a_letter_of_a_service_with_the_optional_objection_offers_both_with_the_towns_places(
        submit, parking_data, town, demo_processes):
    from rathaus.catalog.services import service_update

    municipality_update(municipality=town, address=ADDRESS, remedy="action", court_name="Verwaltungsgericht Würzburg",
                        court_address="Burkarderstraße 26\n97082 Würzburg")
    service_update(service=demo_processes["bewohnerparkausweis"], remedy="choice")
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert CHOICE in letter
    assert letter.count("Rechtsbehelfsbelehrung") == 1
    # Following the town again, the service's next letter names the town's action only.
    service_update(service=demo_processes["bewohnerparkausweis"], remedy="")
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert ACTION in letter and "Widerspruch" not in letter


def test_without_settings_the_letter_still_names_an_objection_at_the_town(submit, parking_data, town):
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert OBJECTION.format(sender="Musterstadt") in letter
    municipality_update(municipality=town, address="Rathausplatz 1, 99999 Musterstadt")
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert OBJECTION.format(sender="Musterstadt, Rathausplatz 1, 99999 Musterstadt") in letter


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))


def _warning(page: str) -> str:
    import lxml.html

    found = lxml.html.fromstring(page).xpath('//*[@id="keine-anschrift"]')
    return " ".join(found[0].text_content().split()) if found else ""


def test_the_definitions_page_warns_when_models_issue_letters_and_the_town_has_no_address(
        admin_client, town, demo_processes):
    url = reverse("processes:definitions", kwargs={"municipality": town.slug})
    page = admin_client.get(url).content.decode()
    warning = _warning(page)
    assert 'role="alert" aria-labelledby="no-address-title" id="keine-anschrift"' in page
    assert warning.startswith("Keine Anschrift für Bescheide hinterlegt Diese Prozessmodelle erstellen Bescheide")
    # Every demo model ends in a decision letter.
    assert all(service.name in warning for service in demo_processes.values() if service.slug in
               ("hund-anmelden", "bewohnerparkausweis", "halteverbot-umzug"))
    assert f'href="/m/{town.slug}/verwaltung/bescheide/">Angaben für Bescheide eintragen</a>' in page
    english = admin_client.get(url, headers={"accept-language": "en"}).content.decode()
    assert _warning(english).startswith("No address for decision letters These process models issue decision letters")
    municipality_update(municipality=town, address="Rathausplatz 1, 99999 Musterstadt")
    assert _warning(admin_client.get(url).content.decode()) == ""


def _court_warning(page: str) -> str:
    import lxml.html

    found = lxml.html.fromstring(page).xpath('//*[@id="kein-gericht"]')
    return " ".join(found[0].text_content().split()) if found else ""


def test_the_definitions_page_warns_when_a_services_own_remedy_names_a_court_the_town_has_not_given(
        admin_client, town, demo_processes):
    from rathaus.catalog.models import Service

    url = reverse("processes:definitions", kwargs={"municipality": town.slug})
    municipality_update(municipality=town, address="Rathausplatz 1, 99999 Musterstadt", remedy="objection")
    assert _court_warning(admin_client.get(url).content.decode()) == ""
    # Stored past the checks (as by an older version or by hand): the page still tells what is missing.
    Service.objects.filter(pk=demo_processes["hund-anmelden"].pk).update(remedy="choice")
    warning = _court_warning(admin_client.get(url).content.decode())
    assert warning == ("Kein Verwaltungsgericht für Bescheide hinterlegt Die Bescheide dieses Prozessmodells belehren "
                       "über eine Klage, aber die Kommune hat das Verwaltungsgericht nicht mit Name und Anschrift "
                       "angegeben. Eine unvollständige Belehrung verlängert die Frist für Rechtsbehelfe auf ein Jahr. "
                       "Hund-Anmelden Verwaltungsgericht eintragen")
    Service.objects.filter(pk=demo_processes["hund-anmelden"].pk).update(remedy="")
    assert _court_warning(admin_client.get(url).content.decode()) == ""
