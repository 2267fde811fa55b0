"""The staff page "API-Zugänge": administrators create a token (shown once, only its hash kept) and revoke it."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client

from rathaus.accounts.models import Role
from rathaus.accounts.rules import Perm
from rathaus.core.models import AuditEntry
from rathaus.integration.models import ApiToken

from .staff_api import *  # noqa: F403 - fixtures
from .staff_api import bearer

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"rth_[A-Za-z0-9_-]{43}")
PAGE = "/m/musterstadt/verwaltung/api-zugaenge/"


@pytest.fixture
def admin_client(admin, login_verified):
    return login_verified(Client(), admin)


def create(client, **fields):
    body = {"action": "create", "name": "Hundesteuer-Fachverfahren", "valid_days": "90",
            "permissions": [Perm.VIEW_INBOX, Perm.WORK_TASKS], **fields}
    return client.post(PAGE, body)


def test_token_is_shown_once_and_only_its_sha256_is_stored(town, admin_client):
    response = create(admin_client)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    [raw] = set(TOKEN.findall(response.content.decode()))
    token = ApiToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:12]
    assert raw not in str(ApiToken.objects.values().get())
    assert token.permissions == [Perm.VIEW_INBOX, Perm.WORK_TASKS]
    assert token.municipality == town
    assert 89 <= (token.expires_at - token.created_at).days <= 90
    entry = AuditEntry.objects.get(action="integration.token_created")
    assert entry.municipality == town and entry.actor.email == "admin@musterstadt.example"
    assert raw not in str(entry.data) and raw not in entry.summary
    # The list shows the prefix and the rights in words, never the token again.
    page = admin_client.get(PAGE).content.decode()
    assert token.prefix in page and "Vorgänge, Dokumente und Ereignisse lesen" in page
    assert raw not in page
    # The token works at once and its last use is shown.
    assert Client().get("/api/v1/m/musterstadt/cases", headers=bearer(raw)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_page_is_for_administrators_only_and_linked_for_them(town, admin_client, make_staff, login_verified):
    assert 'href="/m/musterstadt/verwaltung/api-zugaenge/"' in admin_client.get("/m/musterstadt/verwaltung/aufgaben/").content.decode()
    worker = login_verified(Client(), make_staff(town))
    assert worker.get(PAGE).status_code == 404
    assert "api-zugaenge" not in worker.get("/m/musterstadt/verwaltung/aufgaben/").content.decode()
    assert create(worker).status_code == 404
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("permissions", [[Perm.MANAGE_API_TOKENS], ["applications.everything"], []])
def test_a_token_never_gets_token_management_or_made_up_rights(admin_client, permissions):
    response = create(admin_client, permissions=permissions)
    assert response.status_code == 422
    assert "Bitte korrigieren Sie" in response.content.decode()
    assert not ApiToken.objects.exists()
    assert not AuditEntry.objects.filter(action="integration.token_created").exists()


def test_missing_name_and_unknown_validity_are_explained_in_german(admin_client):
    response = create(admin_client, name="  ", valid_days="9999")
    text = response.content.decode()
    assert response.status_code == 422
    assert "Bitte geben Sie eine Bezeichnung ein" in text
    assert "Gültig für" in text and "Auswahl" in text
    assert not ApiToken.objects.exists()


def test_the_service_refuses_rights_the_creator_does_not_hold(town, make_staff):
    from rathaus.integration.services import TokenInvalid, TokenNotAllowed, api_token_create

    lead = make_staff(town, "lead@musterstadt.example", role=Role.TEAM_LEAD)
    lead.is_verified = lambda: True
    with pytest.raises(TokenNotAllowed):
        api_token_create(municipality=town, actor=lead, name="x", permissions=[Perm.VIEW_INBOX], valid_days=30)
    admin_user = make_staff(town, "chefin@musterstadt.example", role=Role.TENANT_ADMIN)
    admin_user.is_verified = lambda: True
    with pytest.raises(TokenInvalid) as refused:
        api_token_create(municipality=town, actor=admin_user, name="x", permissions=[Perm.MANAGE_API_TOKENS], valid_days=30)
    assert "permissions" in refused.value.errors
    assert not ApiToken.objects.exists()


def test_revoking_asks_first_then_stops_the_token_at_once(town, admin_client):
    [raw] = set(TOKEN.findall(create(admin_client).content.decode()))
    token = ApiToken.objects.get()
    confirm = admin_client.get(f"{PAGE}?widerrufen={token.pk}")
    assert "widerrufen?" in confirm.content.decode()
    assert ApiToken.objects.get().revoked_at is None  # asking changes nothing
    response = admin_client.post(PAGE, {"action": "revoke", "token": token.pk})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEntry.objects.filter(action="integration.token_revoked", object_id=str(token.pk)).count() == 1
    answer = Client().get("/api/v1/m/musterstadt/cases", headers=bearer(raw))
    assert answer.status_code == 401 and answer["Content-Type"] == "application/problem+json"
    # Revoking again changes nothing and writes no second entry.
    admin_client.post(PAGE, {"action": "revoke", "token": token.pk})
    assert AuditEntry.objects.filter(action="integration.token_revoked").count() == 1


def test_another_municipalitys_admin_cannot_revoke_our_token(town, other_town, admin_client, make_staff, login_verified):
    create(admin_client)
    token = ApiToken.objects.get()
    theirs = login_verified(Client(), make_staff(other_town, "admin@beispielhausen.example", role=Role.TENANT_ADMIN))
    assert theirs.post(PAGE, {"action": "revoke", "token": token.pk}).status_code == 404
    assert theirs.post("/m/beispielhausen/verwaltung/api-zugaenge/", {"action": "revoke", "token": token.pk}).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_token_list_exports_as_csv_and_json_without_secrets(town, admin_client):
    response = create(admin_client)
    [raw] = set(TOKEN.findall(response.content.decode()))
    rows = admin_client.get(PAGE, {"export": "json"}).json()
    assert [(r["name"], r["prefix"]) for r in rows] == [("Hundesteuer-Fachverfahren", raw[:12])]
    assert rows[0]["permissions"] == f"{Perm.VIEW_INBOX} {Perm.WORK_TASKS}" and rows[0]["revoked_at"] == ""
    csv = admin_client.get(PAGE, {"export": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode("utf-8-sig").splitlines()[0].startswith("name,prefix,permissions")
    assert raw not in csv.content.decode() and raw not in json.dumps(rows)
