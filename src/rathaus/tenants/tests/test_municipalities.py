"""Municipalities: the official municipality key (AGS) is checked on every path that creates one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from rathaus.core.models import AuditEntry
from rathaus.tenants.models import Municipality
from rathaus.tenants.services import municipality_create, municipality_update

pytestmark = pytest.mark.django_db

VALID = {"name": "Musterstadt", "slug": "musterstadt", "ags": "09999001", "reference_prefix": "MUS",
         "contact_email": "info@musterstadt.example"}


@pytest.mark.parametrize("ags", ["0999900", "099990011", "17999001", "00999001", "0999900a", "09 99900", ""])
def test_full_clean_rejects_an_ags_that_is_not_eight_digits_with_a_state_key(ags):
    with pytest.raises(ValidationError) as raised:
        Municipality(**{**VALID, "ags": ags}).full_clean()
    assert "ags" in raised.value.message_dict


@pytest.mark.parametrize("ags", ["01001000", "09162000", "16077052"])
def test_full_clean_accepts_real_keys(ags):
    Municipality(**{**VALID, "ags": ags}).full_clean()


def test_create_refuses_a_bad_ags_and_stores_nothing():
    with pytest.raises(ValidationError) as raised:
        municipality_create(**{**VALID, "ags": "1234567"})
    assert list(raised.value.message_dict) == ["ags"]
    assert not Municipality.objects.exists()
    assert not AuditEntry.objects.exists()


def test_create_refuses_a_taken_ags():
    municipality_create(**VALID)
    with pytest.raises(ValidationError) as raised:
        municipality_create(**{**VALID, "slug": "andere", "name": "Andere"})
    assert list(raised.value.message_dict) == ["ags"]
    assert Municipality.objects.count() == 1


def test_create_stores_and_audits_the_municipality(make_user):
    operator = make_user("betrieb@example.org")
    town = municipality_create(actor=operator, address="Rathausplatz 1", **VALID)
    entry = AuditEntry.objects.get(action="municipality.created")
    assert (entry.municipality, entry.actor, entry.object_id) == (town, operator, str(town.pk))
    assert entry.data == {"slug": "musterstadt", "ags": "09999001"}
    assert Municipality.objects.get().address == "Rathausplatz 1"


def test_update_validates_too_and_leaves_the_row_and_object_unchanged_when_refused():
    town = municipality_create(**VALID)
    with pytest.raises(ValidationError):
        municipality_update(municipality=town, ags="99999999")
    assert town.ags == "09999001" and Municipality.objects.get().ags == "09999001"
    assert AuditEntry.objects.filter(action="municipality.changed").count() == 0
    municipality_update(municipality=town, name="Musterstadt am See", ags="09999001")
    entry = AuditEntry.objects.get(action="municipality.changed")
    assert entry.data == {"fields": ["name"]}


def test_demo_seed_creates_its_towns_through_the_service_once():
    from rathaus.portal.demo import seed_demo

    seed_demo(with_exchanges=False)
    seed_demo(with_exchanges=False)
    created = AuditEntry.objects.filter(action="municipality.created")
    assert sorted(created.values_list("data__slug", flat=True)) == ["beispielhausen", "musterstadt"]
    assert set(created.values_list("actor_label", flat=True)) == {"seed-demo"}
    assert not AuditEntry.objects.filter(action="municipality.changed").exists()
    # The demo shows once-only data and delivery: a filled-in citizen profile, an office subscriber per town.
    from rathaus.accounts.models import Profile
    from rathaus.integration.models import Subscription

    assert Profile.objects.get(user__email="buergerin@example.org").street == "Lindenweg"
    assert sorted(Subscription.objects.values_list("municipality__slug", "kind")) == [
        ("beispielhausen", "email"), ("musterstadt", "email")]


# The bank details citizens transfer fees to: checked with schwifty, stored compact, printed in groups.
BANK = {"payee_name": "Stadtkasse Musterstadt", "iban": "de89 3704 0044 0532 0130 00", "bic": "cobadeffxxx"}


def test_an_iban_typed_in_groups_and_lower_case_is_stored_compact_and_shown_in_groups():
    town = municipality_create(**VALID, **BANK)
    stored = Municipality.objects.get()
    assert (stored.payee_name, stored.iban, stored.bic) == ("Stadtkasse Musterstadt", "DE89370400440532013000",
                                                            "COBADEFFXXX")
    assert town.iban_display == "DE89 3704 0044 0532 0130 00"
    assert stored.bank_account_text() == "Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX)"
    assert Municipality(**VALID, payee_name="Stadtkasse", iban="DE89370400440532013000").bank_account_text() == (
        "Stadtkasse, IBAN DE89 3704 0044 0532 0130 00")
    assert Municipality(**VALID).bank_account_text() == "" and not Municipality(**VALID).has_bank_account


@pytest.mark.parametrize(("iban", "code", "message"), [
    ("DE88 3704 0044 0532 0130 00", "iban_checksum", "Die Prüfziffern der IBAN stimmen nicht"),
    ("DE89 3704 0044 0532 0130 0", "iban_length", "Eine IBAN aus DE hat 22 Zeichen, diese hat 21."),
    ("XX89 3704 0044 0532 0130 00", "iban_country", "«XX» ist keines"),
    ("DE89 3704 0044 0532 0130 0A", "iban_invalid", "Das ist keine gültige IBAN"),
])
def test_a_wrong_iban_is_refused_with_a_message_naming_the_mistake(iban, code, message):
    with pytest.raises(ValidationError) as raised:
        municipality_create(**VALID, **{**BANK, "iban": iban})
    [error] = raised.value.error_dict["iban"]
    assert error.code == code and message in " ".join(error.messages)
    assert not Municipality.objects.exists() and not AuditEntry.objects.exists()


def test_the_iban_messages_are_translated():
    from django.utils import translation

    with translation.override("en"):
        with pytest.raises(ValidationError) as raised:
            Municipality(**VALID, **{**BANK, "iban": "DE88370400440532013000"}).full_clean()
        assert raised.value.message_dict["iban"] == [
            "The check digits of the IBAN do not match: a character is probably mistyped or swapped."]
        with pytest.raises(ValidationError) as raised:
            Municipality(**VALID, **{**BANK, "iban": "DE8937040044053201300"}).full_clean()
        assert raised.value.message_dict["iban"] == ["An IBAN from DE has 22 characters, this one has 21."]
        with pytest.raises(ValidationError) as raised:
            Municipality(**VALID, **{**BANK, "iban": "DE12500105170648489890"}).full_clean()
        assert raised.value.message_dict["bic"] == [
            "The BIC does not match the IBAN: the IBAN's bank (ING-DiBa, bank code 50010517) has the BIC INGDDEFFXXX. "
            "Please check both; within Germany the IBAN alone is enough."]


def test_a_bad_bic_is_refused():
    with pytest.raises(ValidationError) as raised:
        municipality_create(**VALID, **{**BANK, "bic": "COBA1EFF"})
    assert list(raised.value.message_dict) == ["bic"]


def test_a_bic_of_another_bank_than_the_ibans_is_refused_naming_the_right_one():
    # DE12 5001 0517 … is kept by ING (Bankleitzahl 50010517); COBADEFFXXX is Commerzbank's.
    with pytest.raises(ValidationError) as raised:
        municipality_create(**VALID, **{**BANK, "iban": "DE12500105170648489890"})
    [error] = raised.value.error_dict["bic"]
    assert error.code == "bic_mismatch"
    assert error.messages == ["Der BIC passt nicht zur IBAN: zur Bank der IBAN (ING-DiBa, Bankleitzahl 50010517) "
                              "gehört der BIC INGDDEFFXXX. Bitte prüfen Sie beide Angaben; innerhalb Deutschlands "
                              "genügt die IBAN allein."]
    assert not Municipality.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize("bic", ["INGDDEFFXXX", "ingd deff", "INGDDEFF"])
def test_the_banks_bic_with_or_without_branch_code_is_accepted(bic):
    town = municipality_create(**VALID, **{**BANK, "iban": "DE12500105170648489890", "bic": bic})
    assert town.bic == "".join(bic.split()).upper()


def test_a_bic_listed_for_the_ibans_bank_code_is_accepted_though_not_its_registered_one():
    # Bankleitzahl 48020151 is registered with HAUKDEFFXXX and with LAMPDEDDXXX (a bank taken over):
    # both are the bank of the IBAN.
    town = municipality_create(**VALID, **{**BANK, "iban": "DE12480201510123456789", "bic": "LAMPDEDDXXX"})
    assert town.bic == "LAMPDEDDXXX"


@pytest.mark.parametrize(("given", "field"), [({"iban": BANK["iban"]}, "payee_name"),
                                              ({"payee_name": "Stadtkasse Musterstadt"}, "iban"),
                                              ({"bic": "COBADEFFXXX"}, "iban")])
def test_an_iban_without_a_payee_or_a_payee_without_an_iban_is_refused(given, field):
    with pytest.raises(ValidationError) as raised:
        municipality_create(**VALID, **given)
    assert list(raised.value.message_dict) == [field]
    assert not Municipality.objects.exists()


def test_a_change_of_the_bank_details_is_audited_with_the_old_and_the_new_account(make_user):
    operator = make_user("betrieb@example.org")
    town = municipality_create(**VALID, **BANK)
    # The same account typed in groups is no change: nothing is written, nothing audited.
    municipality_update(municipality=town, actor=operator, iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX")
    assert not AuditEntry.objects.filter(action="municipality.changed").exists()
    municipality_update(municipality=town, actor=operator, iban="de12 5001 0517 0648 4898 90", bic="")
    entry = AuditEntry.objects.get(action="municipality.changed")
    assert entry.actor == operator
    assert entry.data == {"fields": ["iban", "bic"], "bank": {
        "iban": {"old": "DE89370400440532013000", "new": "DE12500105170648489890"},
        "bic": {"old": "COBADEFFXXX", "new": ""}}}
    assert Municipality.objects.get().iban == "DE12500105170648489890"


def test_a_refused_bank_change_leaves_the_stored_account():
    town = municipality_create(**VALID, **BANK)
    with pytest.raises(ValidationError):
        municipality_update(municipality=town, iban="DE88370400440532013000")
    assert town.iban == Municipality.objects.get().iban == "DE89370400440532013000"
    with pytest.raises(ValidationError) as raised:
        municipality_update(municipality=town, payee_name="")
    assert list(raised.value.message_dict) == ["payee_name"]
    assert not AuditEntry.objects.filter(action="municipality.changed").exists()


def test_the_demo_towns_have_valid_bank_details():
    from rathaus.portal.demo import seed_demo

    seed_demo(with_exchanges=False)
    towns = {t.slug: t for t in Municipality.objects.all()}
    assert towns["musterstadt"].bank_account_text() == (
        "Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX)")
    assert towns["beispielhausen"].bank_account_text() == "Gemeindekasse Beispielhausen, IBAN DE12 5001 0517 0648 4898 90"
    for town in towns.values():
        town.full_clean()
