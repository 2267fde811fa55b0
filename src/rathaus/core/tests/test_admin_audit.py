"""Every write through the Django admin leaves an audit entry: who, what, when, which municipality."""

from __future__ import annotations

import lxml.html
import pytest
from django.contrib import admin

from rathaus.accounts.models import Membership, Role
from rathaus.core.admin import AuditedAdminMixin
from rathaus.core.audit import audit_verify
from rathaus.core.models import AuditEntry
from rathaus.tenants.models import Municipality

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(make_user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


@pytest.fixture
def admin_client(client, operator, login_verified):
    return login_verified(client, operator)


def _form(client, url: str) -> dict[str, list[str]]:
    """The values the admin form at `url` would submit unchanged (as a browser would send them)."""
    response = client.get(url)
    assert response.status_code == 200, url
    form = next(f for f in lxml.html.fromstring(response.content).forms if f.get("id", "").endswith("_form"))
    values: dict[str, list[str]] = {}
    for name, value in form.form_values():
        values.setdefault(name, []).append(value)
    values.pop("csrfmiddlewaretoken")
    return values


def _entries(action: str, obj) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, object_type=obj._meta.label_lower, object_id=str(obj.pk)))


def test_every_registered_admin_writes_to_the_audit_trail():
    assert [model._meta.label for model, model_admin in admin.site._registry.items()
            if not isinstance(model_admin, AuditedAdminMixin)] == []


def test_adding_a_municipality_goes_through_the_service_and_is_audited_once(admin_client, operator):
    response = admin_client.post("/verwaltung/tenants/municipality/add/", {
        "name": "Neustadt", "slug": "neustadt", "ags": "09999003", "reference_prefix": "NEU",
        "contact_email": "info@neustadt.example", "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    town = Municipality.objects.get(slug="neustadt")
    [entry] = AuditEntry.objects.filter(object_type="tenants.municipality", object_id=str(town.pk))
    assert (entry.action, entry.actor, entry.municipality) == ("municipality.created", operator, town)
    assert entry.ip_address == "127.0.0.1"


def test_the_admin_refuses_a_bad_ags_and_stores_nothing(admin_client):
    response = admin_client.post("/verwaltung/tenants/municipality/add/", {
        "name": "Neustadt", "slug": "neustadt", "ags": "1234567", "reference_prefix": "NEU",
        "contact_email": "info@neustadt.example"})
    assert response.status_code == 200
    assert "Amtliche Gemeindeschlüssel" in response.content.decode()
    assert not Municipality.objects.exists() and not AuditEntry.objects.exists()


def test_changing_a_municipality_is_audited_in_its_chain_with_the_changed_fields(admin_client, operator, town):
    url = f"/verwaltung/tenants/municipality/{town.pk}/change/"
    data = _form(admin_client, url) | {"name": ["Musterstadt am See"]}
    assert admin_client.post(url, data).status_code == 302
    [entry] = _entries("admin.changed", town)
    assert (entry.actor, entry.municipality) == (operator, town)
    assert entry.data == {"via": "admin", "model": "tenants.municipality", "fields": ["Name"],
                          "values": {"slug": "musterstadt", "ags": "09999001", "is_active": True,
                                     "payee_name": "", "iban": "", "bic": "", "address": "", "remedy": "",
                                     "court_name": "", "court_address": "", "remedy_note": ""}}


def test_an_operator_enters_the_bank_details_in_the_admin_and_the_change_is_audited(admin_client, operator, town):
    url = f"/verwaltung/tenants/municipality/{town.pk}/change/"
    data = _form(admin_client, url) | {"payee_name": ["Stadtkasse Musterstadt"], "iban": ["de89 3704 0044 0532 0130 00"]}
    assert admin_client.post(url, data).status_code == 302
    town.refresh_from_db()
    assert (town.payee_name, town.iban, town.bic) == ("Stadtkasse Musterstadt", "DE89370400440532013000", "")
    [entry] = _entries("admin.changed", town)
    assert entry.data["fields"] == ["Zahlungsempfänger (Kontoinhaber)", "IBAN"]
    assert entry.data["values"]["iban"] == "DE89370400440532013000"
    # The form shows the IBAN in groups of four; sent back unchanged, it is no change.
    data = _form(admin_client, url)
    assert data["iban"] == ["DE89 3704 0044 0532 0130 00"]
    assert admin_client.post(url, data | {"name": ["Musterstadt am See"]}).status_code == 302
    assert [e.data["fields"] for e in sorted(_entries("admin.changed", town), key=lambda e: e.pk)] == [
        ["Zahlungsempfänger (Kontoinhaber)", "IBAN"], ["Name"]]


def test_the_admin_refuses_a_wrong_iban_with_its_reason(admin_client, town):
    url = f"/verwaltung/tenants/municipality/{town.pk}/change/"
    data = _form(admin_client, url) | {"payee_name": ["Stadtkasse Musterstadt"], "iban": ["DE88 3704 0044 0532 0130 00"]}
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Die Prüfziffern der IBAN stimmen nicht" in response.content.decode()
    town.refresh_from_db()
    assert town.iban == "" and not _entries("admin.changed", town)


def test_granting_changing_and_revoking_a_role_is_audited_in_the_towns_chain(admin_client, operator, town, make_user):
    clerk = make_user("clerk@example.org")
    url = f"/verwaltung/accounts/user/{clerk.pk}/change/"

    data = _form(admin_client, url) | {"memberships-TOTAL_FORMS": ["1"], "memberships-0-municipality": [str(town.pk)],
                                       "memberships-0-role": [Role.CASE_WORKER], "memberships-0-user": [str(clerk.pk)]}
    assert admin_client.post(url, data).status_code == 302
    membership = Membership.objects.get(user=clerk)
    [granted] = _entries("admin.added", membership)
    assert (granted.actor, granted.municipality) == (operator, town)
    assert granted.data["values"] == {"user": clerk.pk, "role": "case_worker"}

    data = _form(admin_client, url) | {"memberships-0-role": [Role.TENANT_ADMIN]}
    assert admin_client.post(url, data).status_code == 302
    [changed] = _entries("admin.changed", membership)
    assert changed.municipality == town and changed.data["values"]["role"] == "tenant_admin"
    assert changed.data["fields"] == ["role"]

    data = _form(admin_client, url) | {"memberships-0-DELETE": ["on"]}
    assert admin_client.post(url, data).status_code == 302
    assert not Membership.objects.filter(user=clerk).exists()
    [revoked] = _entries("admin.deleted", membership)
    assert revoked.municipality == town and revoked.data["values"]["role"] == "tenant_admin"
    # The user form itself was saved three times: each is in the global chain.
    assert [e.municipality for e in _entries("admin.changed", clerk)] == [None, None, None]
    assert audit_verify() == []


def test_making_someone_superuser_and_setting_a_password_are_audited(admin_client, operator, make_user):
    person = make_user("person@example.org")
    url = f"/verwaltung/accounts/user/{person.pk}/change/"
    data = _form(admin_client, url) | {"is_superuser": ["on"], "is_staff": ["on"]}
    assert admin_client.post(url, data).status_code == 302
    [entry] = _entries("admin.changed", person)
    assert entry.data["values"] == {"is_active": True, "is_staff": True, "is_superuser": True}
    assert set(entry.data["fields"]) == {"Staff status", "Superuser status"}

    response = admin_client.post(f"/verwaltung/accounts/user/{person.pk}/password/", {
        "password1": "Ein-neues-Passwort-42", "password2": "Ein-neues-Passwort-42", "set_usable_password": "true"})
    assert response.status_code == 302
    assert len(_entries("admin.changed", person)) == 2
    # The password itself never reaches the trail.
    assert "Ein-neues-Passwort-42" not in str(list(AuditEntry.objects.values_list("summary", "data")))


def test_adding_and_deleting_a_user_is_audited(admin_client, operator):
    response = admin_client.post("/verwaltung/accounts/user/add/", {
        "username": "neu@example.org", "email": "neu@example.org", "password1": "Ein-neues-Passwort-42", "password2": "Ein-neues-Passwort-42",
        "usable_password": "true", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:3000]
    from rathaus.accounts.models import User

    person = User.objects.get(username="neu@example.org")
    assert len(_entries("admin.added", person)) == 1
    person_id = person.pk
    assert admin_client.post(f"/verwaltung/accounts/user/{person_id}/delete/", {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=person_id).exists()
    [entry] = AuditEntry.objects.filter(action="admin.deleted", object_type="accounts.user", object_id=str(person_id))
    assert entry.actor == operator


def _add_user(client, username: str, email: str | None):
    data = {"username": username, "password1": "Ein-neues-Passwort-42", "password2": "Ein-neues-Passwort-42",
            "usable_password": "true", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
    if email is not None:
        data["email"] = email
    return client.post("/verwaltung/accounts/user/add/", data)


def test_the_admin_adds_staff_accounts_one_after_another_each_with_its_own_email(admin_client, operator):
    from rathaus.accounts.models import User

    page = admin_client.get("/verwaltung/accounts/user/add/").content.decode()
    assert 'name="email"' in page
    assert _add_user(admin_client, "sachbearbeitung1", "eins@musterstadt.example").status_code == 302
    assert _add_user(admin_client, "sachbearbeitung2", "zwei@musterstadt.example").status_code == 302
    assert set(User.objects.filter(username__startswith="sachbearbeitung").values_list("email", flat=True)) == {
        "eins@musterstadt.example", "zwei@musterstadt.example"}


@pytest.mark.parametrize(("email", "message"), [
    (None, "Dieses Feld ist zwingend erforderlich."),
    ("", "Dieses Feld ist zwingend erforderlich."),
    ("EINS@Musterstadt.example", "Es gibt schon ein Konto mit dieser E-Mail-Adresse."),
])
def test_the_admin_refuses_a_new_account_without_an_email_or_with_a_taken_one(admin_client, operator, email, message):
    from rathaus.accounts.models import User

    assert _add_user(admin_client, "sachbearbeitung1", "eins@musterstadt.example").status_code == 302
    count = User.objects.count()
    response = _add_user(admin_client, "sachbearbeitung2", email)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert User.objects.count() == count
    assert not User.objects.filter(username="sachbearbeitung2").exists()


def test_bulk_deleting_services_is_audited_per_service_in_its_towns_chain(admin_client, operator, demo_services, town):
    ids = [service.pk for service in demo_services.values()]
    response = admin_client.post("/verwaltung/catalog/service/", {"action": "delete_selected", "_selected_action": ids,
                                                                 "post": "yes"})
    assert response.status_code == 302
    entries = AuditEntry.objects.filter(action="admin.deleted", object_type="catalog.service")
    assert sorted(int(e.object_id) for e in entries) == sorted(ids)
    assert {(e.actor, e.municipality) for e in entries} == {(operator, town)}


def test_changing_a_service_records_the_retention_period(admin_client, demo_services, town):
    service = demo_services["hund-anmelden"]
    url = f"/verwaltung/catalog/service/{service.pk}/change/"
    data = _form(admin_client, url) | {"retention_days": ["30"]}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    [entry] = _entries("admin.changed", service)
    assert entry.municipality == town and entry.data["values"]["retention_days"] == 30


def test_admins_of_other_apps_are_audited_too(admin_client, operator):
    from django.contrib.auth.models import Group

    response = admin_client.post("/verwaltung/auth/group/add/", {"name": "Prüfer"})
    assert response.status_code == 302
    group = Group.objects.get(name="Prüfer")
    [entry] = _entries("admin.added", group)
    assert (entry.actor, entry.municipality) == (operator, None)
