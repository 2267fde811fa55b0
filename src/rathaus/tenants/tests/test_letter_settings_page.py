"""The town's administration sets what its decision letters say: sender address and legal remedy."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from rathaus.core.models import AuditEntry
from rathaus.tenants.models import Municipality
from rathaus.tenants.services import municipality_update

pytestmark = pytest.mark.django_db

COURT = {"address": "Rathausplatz 1, 99999 Musterstadt", "remedy": "action", "court_name": "Verwaltungsgericht Würzburg",
         "court_address": "Burkarderstraße 26\r\n97082 Würzburg", "remedy_note": ""}
LETTER_FIELDS = ("address", "remedy", "court_name", "court_address", "remedy_note")


def _url(town) -> str:
    return reverse("tenants:letter_settings", kwargs={"municipality": town.slug})


def _stored(town) -> tuple:
    return tuple(Municipality.objects.filter(pk=town.pk).values_list(*LETTER_FIELDS).get())


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, "admin@musterstadt.example", role="tenant_admin"))


def test_the_instruction_names_remedy_place_with_address_time_limit_and_form():
    town = Municipality(name="Musterstadt", address="Rathausplatz 1\n99999 Musterstadt", remedy="objection")
    assert town.sender == "Musterstadt, Rathausplatz 1, 99999 Musterstadt"
    assert town.remedy_instruction() == (
        "Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe Widerspruch "
        "erhoben werden. Der Widerspruch ist schriftlich, in elektronischer Form nach § 3a Abs. 2 des "
        "Verwaltungsverfahrensgesetzes oder zur Niederschrift bei der Behörde zu erheben, die den Bescheid erlassen "
        "hat: Musterstadt, Rathausplatz 1, 99999 Musterstadt. Eine einfache E-Mail genügt dafür nicht.")
    court = Municipality(name="Musterstadt", remedy="action", court_name=" Verwaltungsgericht Würzburg ",
                         court_address="Burkarderstraße 26,\r\n97082 Würzburg", remedy_note="  Ein  Zusatz. ")
    assert court.remedy_instruction() == (
        "Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe Klage "
        "erhoben werden. Die Klage ist schriftlich oder zu Protokoll des Urkundsbeamten der Geschäftsstelle bei diesem "
        "Gericht zu erheben: Verwaltungsgericht Würzburg, Burkarderstraße 26, 97082 Würzburg. Sie kann auch als "
        "elektronisches Dokument nach § 55a der Verwaltungsgerichtsordnung eingereicht werden; eine einfache E-Mail "
        "genügt dafür nicht. Ein Zusatz.")
    # Nothing chosen yet: an objection at the town, named by its name when it has no address.
    assert Municipality(name="Musterstadt").remedy_instruction().endswith(
        "die den Bescheid erlassen hat: Musterstadt. Eine einfache E-Mail genügt dafür nicht.")


CHOICE = ("Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe entweder "
          "Widerspruch oder unmittelbar Klage erhoben werden. Der Widerspruch ist schriftlich, in elektronischer Form "
          "nach § 3a Abs. 2 des Verwaltungsverfahrensgesetzes oder zur Niederschrift bei der Behörde zu erheben, die den "
          "Bescheid erlassen hat: Musterstadt, Rathausplatz 1, 99999 Musterstadt. Eine einfache E-Mail genügt dafür "
          "nicht. Die Klage ist schriftlich oder zu Protokoll des Urkundsbeamten der Geschäftsstelle bei diesem Gericht "
          "zu erheben: Verwaltungsgericht Würzburg, Burkarderstraße 26, 97082 Würzburg. Sie kann auch als "
          "elektronisches Dokument nach § 55a der Verwaltungsgerichtsordnung eingereicht werden; eine einfache E-Mail "
          "genügt dafür nicht.")


def test_the_optional_objection_names_both_places_with_their_forms_and_one_time_limit():
    town = Municipality(name="Musterstadt", address="Rathausplatz 1\n99999 Musterstadt", remedy="choice",
                        court_name="Verwaltungsgericht Würzburg", court_address="Burkarderstraße 26\n97082 Würzburg",
                        remedy_note="Ein  Zusatz.")
    assert town.remedy_instruction() == CHOICE + " Ein Zusatz."
    # A service's own remedy is told with the town's places.
    objection_town = Municipality(name="Musterstadt", address="Rathausplatz 1, 99999 Musterstadt", remedy="objection",
                                  court_name="Verwaltungsgericht Würzburg",
                                  court_address="Burkarderstraße 26, 97082 Würzburg")
    assert objection_town.remedy_instruction("choice") == CHOICE
    assert objection_town.remedy_instruction("") == objection_town.remedy_instruction("objection")
    assert objection_town.remedy_instruction("action").startswith(
        "Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner Bekanntgabe Klage "
        "erhoben werden. Die Klage ist schriftlich")


def test_the_towns_note_is_printed_under_its_own_remedy_only():
    # "Kraft Bundesrechts wird infolge der Klageerhebung …" is about an action: a service whose letters
    # name an objection, or offer both, must not print it.
    town = Municipality(name="Musterstadt", address="Rathausplatz 1, 99999 Musterstadt", remedy="action",
                        court_name="Verwaltungsgericht Würzburg", court_address="Burkarderstraße 26, 97082 Würzburg",
                        remedy_note="Kraft Bundesrechts wird infolge der Klageerhebung eine Verfahrensgebühr fällig.")
    note = " Kraft Bundesrechts wird infolge der Klageerhebung eine Verfahrensgebühr fällig."
    assert town.remedy_instruction().endswith(note) and town.remedy_instruction("action").endswith(note)
    assert town.remedy_instruction("objection").endswith("Eine einfache E-Mail genügt dafür nicht.")
    assert town.remedy_instruction("choice") == CHOICE
    # A town that chose nothing names an objection: a service set to objection prints its note.
    unset = Municipality(name="Musterstadt", address="Rathausplatz 1, 99999 Musterstadt", remedy_note="Ein Zusatz.")
    assert unset.remedy_instruction("objection").endswith("nicht. Ein Zusatz.")


def test_the_towns_admin_chooses_the_court_and_the_change_is_audited_with_the_old_value(admin_client, town):
    page = admin_client.get(_url(town)).content.decode()
    assert "Angaben für Bescheide" in page and 'name="court_address"' in page
    # Before any choice the page shows what letters say meanwhile.
    assert "Noch nicht festgelegt" in page and "Widerspruch erhoben werden" in page
    response = admin_client.post(_url(town), {**COURT, "action": "save"})
    assert response.status_code == 302
    assert _stored(town) == ("Rathausplatz 1, 99999 Musterstadt", "action", "Verwaltungsgericht Würzburg",
                             "Burkarderstraße 26\r\n97082 Würzburg", "")
    shown = admin_client.get(_url(town)).content.decode()
    assert "Angaben für Bescheide gespeichert." in shown and "Noch nicht festgelegt" not in shown
    assert ("bei diesem Gericht zu erheben: Verwaltungsgericht Würzburg, Burkarderstraße 26, 97082 Würzburg." in shown)
    entry = AuditEntry.objects.filter(action="municipality.changed").latest("pk")
    assert entry.actor.email == "admin@musterstadt.example"
    assert entry.data["letters"]["remedy"] == {"old": "", "new": "action"}
    assert entry.data["letters"]["address"] == {"old": "", "new": "Rathausplatz 1, 99999 Musterstadt"}
    assert "bank" not in entry.data


def test_the_preview_shows_the_text_and_stores_nothing(admin_client, town):
    response = admin_client.post(_url(town), {**COURT, "remedy": "objection", "action": "preview"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Vorschau (noch nicht gespeichert)" in page
    assert "die den Bescheid erlassen hat: Musterstadt, Rathausplatz 1, 99999 Musterstadt." in page
    assert _stored(town) == ("", "", "", "", "")
    assert not AuditEntry.objects.filter(action="municipality.changed").exists()


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"court_address": ""}, "court_address",
     "Anschrift des Verwaltungsgerichts: Bitte geben Sie die Anschrift des Verwaltungsgerichts an: Ohne sie ist die "
     "Belehrung unvollständig und die Klagefrist beträgt ein Jahr statt eines Monats."),
    ({"court_name": " "}, "court_name",
     "Verwaltungsgericht: Bitte nennen Sie das Verwaltungsgericht, bei dem die Klage zu erheben ist (z. B. "
     "Verwaltungsgericht Würzburg)."),
    ({"remedy": "objection", "address": ""}, "address",
     "Anschrift der Kommune (Absender der Bescheide): Für den Widerspruch muss der Bescheid die Anschrift der Kommune "
     "nennen, bei der er einzulegen ist. Bitte geben Sie die Anschrift an."),
    ({"remedy": ""}, "remedy",
     "Rechtsbehelf gegen Bescheide: Bitte wählen Sie, welcher Rechtsbehelf gegen Ihre Bescheide gegeben ist."),
    # The choice names both places: it needs the town's address and the court with its address.
    ({"remedy": "choice", "address": ""}, "address",
     "Anschrift der Kommune (Absender der Bescheide): Für den Widerspruch muss der Bescheid die Anschrift der Kommune "
     "nennen, bei der er einzulegen ist. Bitte geben Sie die Anschrift an."),
    ({"remedy": "choice", "court_address": ""}, "court_address",
     "Anschrift des Verwaltungsgerichts: Bitte geben Sie die Anschrift des Verwaltungsgerichts an: Ohne sie ist die "
     "Belehrung unvollständig und die Klagefrist beträgt ein Jahr statt eines Monats."),
])
def test_incomplete_details_are_named_at_their_field_and_nothing_changes(admin_client, town, changes, field, message):
    for action in ("save", "preview"):
        response = admin_client.post(_url(town), {**COURT, **changes, "action": action})
        assert response.status_code == 422
        page = response.content.decode()
        assert f'<a class="kern-link" href="#id_{field}">{message}</a>' in page
        assert f'id="id_{field}-error"' in page
    assert _stored(town) == ("", "", "", "", "")
    assert not AuditEntry.objects.filter(action="municipality.changed").exists()


def test_the_messages_are_english_on_an_english_page(admin_client, town):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = admin_client.post(_url(town), {**COURT, "court_address": "", "action": "save"}).content.decode()
    assert "Details for decision letters" in page
    assert ("Please give the address of the administrative court: without it the instruction is incomplete and the "
            "time limit for an action is one year instead of one month.") in page
    # The letter's text stays German, the language of the letters, and says so to screen readers.
    assert '<dd lang="de">Rechtsbehelfsbelehrung: Gegen diesen Bescheid' in page


def test_the_service_refuses_incomplete_details_and_keeps_the_stored_ones(town):
    municipality_update(municipality=town, **{k: v for k, v in COURT.items() if k != "remedy_note"})
    with pytest.raises(ValidationError) as raised:
        municipality_update(municipality=town, court_address="")
    assert list(raised.value.message_dict) == ["court_address"]
    with pytest.raises(ValidationError) as raised:
        municipality_update(municipality=town, remedy="objection", address="")
    assert list(raised.value.message_dict) == ["address"]
    assert town.court_address == "Burkarderstraße 26\r\n97082 Würzburg" and town.remedy == "action"
    assert _stored(town)[1:3] == ("action", "Verwaltungsgericht Würzburg")
    assert AuditEntry.objects.filter(action="municipality.changed").count() == 1


def test_only_the_towns_administration_may_see_or_change_it(client, town, other_town, make_staff, login_verified):
    assert client.get(_url(town)).status_code == 302  # anonymous: to the login
    for role in ("case_worker", "team_lead"):
        staff = login_verified(client, make_staff(town, f"{role}@musterstadt.example", role=role))
        assert staff.get(_url(town)).status_code == 404
        assert staff.post(_url(town), {**COURT, "action": "save"}).status_code == 404
    theirs = login_verified(client, make_staff(other_town, "admin@beispielhausen.example", role="tenant_admin"))
    assert theirs.get(_url(town)).status_code == 404
    assert theirs.post(_url(town), {**COURT, "action": "save"}).status_code == 404
    assert _stored(town) == ("", "", "", "", "")
    assert not AuditEntry.objects.filter(action="municipality.changed").exists()


def test_an_operator_sets_the_remedy_in_the_admin_with_the_same_checks(client, town, make_user, login_verified):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from rathaus.core.tests.test_admin_audit import _form

    operator = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=operator, name="test", confirmed=True)
    login_verified(client, operator)
    url = f"/verwaltung/tenants/municipality/{town.pk}/change/"
    incomplete = client.post(url, _form(client, url) | {"remedy": ["action"], "court_name": ["Verwaltungsgericht Würzburg"]})
    assert incomplete.status_code == 200
    assert "Bitte geben Sie die Anschrift des Verwaltungsgerichts an" in incomplete.content.decode()
    assert _stored(town) == ("", "", "", "", "")
    response = client.post(url, _form(client, url) | {"remedy": ["action"], "court_name": ["Verwaltungsgericht Würzburg"],
                                                      "court_address": ["Burkarderstraße 26, 97082 Würzburg"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _stored(town)[1:4] == ("action", "Verwaltungsgericht Würzburg", "Burkarderstraße 26, 97082 Würzburg")
    entry = AuditEntry.objects.get(action="admin.changed", object_id=str(town.pk))
    assert entry.data["values"]["remedy"] == "action"
    assert entry.data["values"]["court_address"] == "Burkarderstraße 26, 97082 Würzburg"


def test_the_demo_towns_show_all_three_kinds_of_remedy():
    from rathaus.catalog.models import Service
    from rathaus.portal.demo import seed_demo

    seed_demo(with_exchanges=False)
    towns = {t.slug: t for t in Municipality.objects.all()}
    assert "Bekanntgabe Klage erhoben werden" in towns["musterstadt"].remedy_instruction()
    assert "Verwaltungsgericht Musterburg, Justizplatz 2, 99990 Musterburg" in towns["musterstadt"].remedy_instruction()
    assert towns["beispielhausen"].remedy_instruction().count("Marktstraße 3, 99998 Beispielhausen") == 1
    # Musterstadt's dog tax letters offer the choice, naming the town and the court with their addresses.
    dog_tax = Service.objects.get(municipality=towns["musterstadt"], slug="hund-anmelden").remedy_instruction()
    assert "Bekanntgabe entweder Widerspruch oder unmittelbar Klage erhoben werden." in dog_tax
    assert "erlassen hat: Musterstadt, Rathausplatz 1, 99999 Musterstadt." in dog_tax
    assert "zu erheben: Verwaltungsgericht Musterburg, Justizplatz 2, 99990 Musterburg." in dog_tax
    assert Service.objects.exclude(remedy="").count() == 1
    for town in towns.values():
        town.full_clean()
    for service in Service.objects.all():
        service.full_clean(exclude=["summary", "office"])
