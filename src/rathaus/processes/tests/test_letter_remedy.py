"""Decision letters name the issuing town with its address and a complete remedy instruction (§ 58 (1) VwGO)."""

from __future__ import annotations

import pytest

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


def test_without_settings_the_letter_still_names_an_objection_at_the_town(submit, parking_data, town):
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert OBJECTION.format(sender="Musterstadt") in letter
    municipality_update(municipality=town, address="Rathausplatz 1, 99999 Musterstadt")
    letter = _letter_text(submit("bewohnerparkausweis", parking_data))
    assert OBJECTION.format(sender="Musterstadt, Rathausplatz 1, 99999 Musterstadt") in letter

