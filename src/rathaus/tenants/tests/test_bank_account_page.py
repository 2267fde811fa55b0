"""The town's administration sets the account citizens pay fees to, on its own staff page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from rathaus.core.models import AuditEntry
from rathaus.processes.models import OutboxMessage

pytestmark = pytest.mark.django_db


def _url(town) -> str:
    return reverse("tenants:bank_account", kwargs={"municipality": town.slug})


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, "admin@musterstadt.example", role="tenant_admin"))


def test_the_towns_admin_sets_the_account_and_the_change_is_audited_with_the_old_value(admin_client, town):
    page = admin_client.get(_url(town)).content.decode()
    assert "Bankverbindung für Zahlungen" in page and 'name="iban"' in page
    response = admin_client.post(_url(town), {"payee_name": "Stadtkasse Musterstadt", "iban": "de89 3704 0044 0532 0130 00",
                                              "bic": ""})
    assert response.status_code == 302
    town.refresh_from_db()
    assert (town.payee_name, town.iban) == ("Stadtkasse Musterstadt", "DE89370400440532013000")
    shown = admin_client.get(_url(town)).content.decode()
    assert 'value="DE89 3704 0044 0532 0130 00"' in shown and "Bankverbindung gespeichert." in shown
    entry = AuditEntry.objects.filter(action="municipality.changed").latest("pk")
    assert entry.data["bank"]["iban"] == {"old": "", "new": "DE89370400440532013000"}
    assert entry.actor.email == "admin@musterstadt.example"
    # Whoever knows the right account hears of the change at once: the town's address and its administrators.
    [notice] = OutboxMessage.objects.filter(idempotency_key__startswith="bank-changed:")
    assert notice.payload["to"] == [town.contact_email, "admin@musterstadt.example"]
    assert notice.payload["subject"] == "Bankverbindung von Musterstadt geändert"
    assert "Bisher: keine\nJetzt: Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00\n" in notice.payload["body"]
    admin_client.post(_url(town), {"payee_name": "Stadtkasse Musterstadt", "iban": "DE89370400440532013000", "bic": ""})
    assert OutboxMessage.objects.filter(idempotency_key__startswith="bank-changed:").count() == 1  # nothing changed


def test_an_operator_changing_the_account_in_the_admin_is_announced_too(client, town, make_user, login_verified):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from rathaus.core.tests.test_admin_audit import _form
    from rathaus.tenants.services import municipality_update

    municipality_update(municipality=town, payee_name="Stadtkasse Musterstadt", iban="DE89370400440532013000")
    OutboxMessage.objects.all().delete()
    operator = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=operator, name="test", confirmed=True)
    login_verified(client, operator)
    url = f"/verwaltung/tenants/municipality/{town.pk}/change/"
    response = client.post(url, _form(client, url) | {"iban": ["DE12 5001 0517 0648 4898 90"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    [notice] = OutboxMessage.objects.filter(idempotency_key__startswith="bank-changed:")
    assert "Bisher: Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00\n" in notice.payload["body"]
    assert "Jetzt: Stadtkasse Musterstadt, IBAN DE12 5001 0517 0648 4898 90\n" in notice.payload["body"]


def test_a_wrong_iban_is_named_at_its_field_and_nothing_changes(admin_client, town):
    response = admin_client.post(_url(town), {"payee_name": "Stadtkasse", "iban": "DE89 3704 0044 0532 0130 01", "bic": ""})
    assert response.status_code == 422
    page = response.content.decode()
    assert '<a class="kern-link" href="#id_iban">IBAN: ' in page and 'aria-invalid="true"' in page
    town.refresh_from_db()
    assert town.iban == "" and not AuditEntry.objects.filter(action="municipality.changed").exists()
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = admin_client.post(_url(town), {"payee_name": "", "iban": "", "bic": "COBADEFFXXX"}).content.decode()
    assert "Bank details for payments" in english


def test_a_bic_of_another_bank_is_named_at_its_field_and_nothing_changes(admin_client, town):
    response = admin_client.post(_url(town), {"payee_name": "Stadtkasse", "iban": "DE12 5001 0517 0648 4898 90",
                                              "bic": "COBADEFFXXX"})
    assert response.status_code == 422
    page = response.content.decode()
    assert '<a class="kern-link" href="#id_bic">BIC: Der BIC passt nicht zur IBAN' in page
    assert "gehört der BIC INGDDEFFXXX" in page
    town.refresh_from_db()
    assert (town.iban, town.bic) == ("", "") and not AuditEntry.objects.filter(action="municipality.changed").exists()


def test_only_the_towns_administration_may_see_or_change_it(client, town, other_town, make_staff, login_verified):
    worker = login_verified(client, make_staff(town, "sb@musterstadt.example", role="case_worker"))
    assert worker.get(_url(town)).status_code == 404
    assert worker.post(_url(town), {"payee_name": "Betrüger", "iban": "DE89370400440532013000"}).status_code == 404
    theirs = login_verified(client, make_staff(other_town, "admin@beispielhausen.example", role="tenant_admin"))
    assert theirs.get(_url(town)).status_code == 404
    town.refresh_from_db()
    assert town.iban == ""
