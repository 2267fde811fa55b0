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
