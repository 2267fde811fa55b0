"""Bad input and security: each hostile request gets a clear error and stores nothing."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from rathaus.applications.models import Application, Draft
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dog(demo_services):
    return demo_services["hund-anmelden"]


def _submit(client, slug, body: bytes | str, content_type="application/json", **extra):
    return client.post(f"/api/v1/m/{slug}/applications", data=body, content_type=content_type, **extra)


def _nothing_stored(before_audit: int) -> None:
    assert Application.objects.count() == 0
    assert AuditEntry.objects.count() == before_audit
    assert not AuditEntry.objects.filter(action="application.submitted").exists()


# ---------------------------------------------------------------- bodies


class _UnreadableStream:
    """A request body that fails the test if anything tries to read it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def test_oversized_api_body_is_refused_with_413_before_it_is_read(client, town, dog):
    audit = AuditEntry.objects.count()
    response = client.post(f"/api/v1/m/{town.slug}/applications", data=b"", content_type="application/json",
                           **{"wsgi.input": _UnreadableStream(), "CONTENT_LENGTH": str(15 * 1024 * 1024 + 1)})
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "Die Anfrage ist zu groß (höchstens 15 MB)."
    _nothing_stored(audit)


def test_oversized_body_is_refused_with_the_configured_limit(client, town, dog, dog_data, settings):
    settings.RATHAUS_MAX_BODY_BYTES = 2048
    body = json.dumps({"service": dog.pk, "data": dog_data})
    assert len(body.encode()) < 2048
    assert _submit(client, town.slug, body).status_code == 201
    dog_data["dog"]["name"] = "B" * 60
    padded = json.dumps({"service": dog.pk, "data": dog_data}) + " " * 2048
    response = _submit(client, town.slug, padded)
    assert response.status_code == 413
    assert Application.objects.count() == 1


def test_oversized_form_post_is_refused_with_413(client, town, dog):
    response = client.post(f"/m/{town.slug}/leistungen/hund-anmelden/antrag/", data=b"",
                           content_type="application/x-www-form-urlencoded",
                           **{"wsgi.input": _UnreadableStream(), "CONTENT_LENGTH": str(10**9)})
    assert response.status_code == 413
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert Draft.objects.count() == 0


def test_malformed_content_length_is_refused(client, town, dog):
    response = client.post(f"/api/v1/m/{town.slug}/applications", data=b"{}", content_type="application/json",
                           CONTENT_LENGTH="-1")
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/xml", "application/json-patch+json"])
def test_wrong_content_type_is_415(client, town, dog, dog_data, content_type):
    audit = AuditEntry.objects.count()
    response = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data}), content_type=content_type)
    assert response.status_code == 415
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/unsupported-media-type")
    _nothing_stored(audit)


def test_json_with_charset_parameter_is_accepted(client, town, dog, dog_data):
    response = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data}),
                       content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_invalid_utf8_is_400(client, town, dog):
    audit = AuditEntry.objects.count()
    body = b'{"service": %d, "data": {"owner": {"given_name": "Erika \xff\xfe"}}}' % dog.pk
    response = _submit(client, town.slug, body)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/invalid-encoding")
    _nothing_stored(audit)


def test_empty_body_has_no_content_type_and_is_415(client, town, dog):
    response = client.post(f"/api/v1/m/{town.slug}/applications")
    assert response.status_code == 415
    assert Application.objects.count() == 0


@pytest.mark.parametrize("body", ['{"service": 1, "data": {', " ", "nul", '{"service": 1, "data": {}} trailing', "{'a': 1}"])
def test_invalid_json_is_400_with_position(client, town, dog, body):
    audit = AuditEntry.objects.count()
    response = _submit(client, town.slug, body)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"].startswith("Ungültiges JSON (Zeile 1, Spalte ")
    _nothing_stored(audit)


def test_the_api_answers_bad_input_in_the_callers_language(client, town, dog):
    english = client.post(f"/api/v1/m/{town.slug}/applications", data='{"service": 1, "data": {',
                          content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "Invalid JSON (line 1, column 25)."
    unknown = client.post(f"/api/v1/m/{town.slug}/applications", data={"service": dog.pk, "data": {}, "colour": 1},
                          content_type="application/json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert unknown["detail"] == "The request is not built correctly."
    assert unknown["errors"] == [{"pointer": "/colour", "detail": "Unknown field “colour”.", "code": "additionalProperties"}]
    invalid = client.post(f"/api/v1/m/{town.slug}/applications", data={"service": dog.pk, "data": {}},
                          content_type="application/json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert invalid["detail"] == "The application data do not meet the form."
    representation = client.post(f"/api/v1/m/{town.slug}/applications", data={
        "service": dog.pk, "data": {}, "representation": {"kind": "parent", "principal_name": "Mia",
                                                           "representative_name": "Erika"}},
        content_type="application/json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert representation["errors"][0]["detail"] == "principal_birth_date is required for parent and guardian."
    german = client.post(f"/api/v1/m/{town.slug}/applications", data="{", content_type="text/plain",
                         HTTP_ACCEPT_LANGUAGE="de")
    assert german.json()["detail"] == "Bitte senden Sie JSON (Content-Type: application/json)."
    assert Application.objects.count() == 0


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDC00"])
def test_lone_surrogate_escape_is_refused_as_invalid_text(client, town, dog, dog_data, escape):
    # "\ud800" is valid JSON syntax but no Unicode text; it must not reach the database or the hash.
    dog_data["dog"]["name"] = f"Bel{escape}lo"
    body = json.dumps({"service": dog.pk, "data": dog_data}).replace("\\" + escape, escape)
    assert escape in body
    audit = AuditEntry.objects.count()
    response = _submit(client, town.slug, body)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/invalid-encoding")
    _nothing_stored(audit)


@pytest.mark.parametrize("depth", [64, 100, 100_000])
def test_deeply_nested_json_is_refused_without_a_server_error(client, town, dog, depth):
    body = f'{{"service": {dog.pk}, "data": {{"owner": ' + "[" * depth + "]" * depth + "}}"
    response = _submit(client, town.slug, body)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/invalid-json")
    assert Application.objects.count() == 0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1" * 5000])
def test_numbers_json_does_not_allow_are_refused(client, town, dog, dog_data, number):
    body = json.dumps({"service": dog.pk, "data": dog_data}).replace('"other_dogs": 0', f'"other_dogs": {number}')
    assert number in body
    response = _submit(client, town.slug, body)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert Application.objects.count() == 0


def test_overlong_idempotency_key_is_400(client, town, dog, dog_data):
    response = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data}),
                       headers={"Idempotency-Key": "k" * 201})
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-idempotency-key")
    assert Application.objects.count() == 0


# ---------------------------------------------------------------- markup in text fields


@pytest.fixture
def free_text_service(town):
    """A service with a free-text field, so markup can reach the database through the schema."""
    from rathaus.catalog.services import form_definition_create, service_upsert

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "Anregung",
        "additionalProperties": False, "required": ["details"],
        "properties": {"details": {
            "type": "object", "title": "Ihre Anregung", "additionalProperties": False, "required": ["remarks"],
            "properties": {"remarks": {"type": "string", "title": "Text", "minLength": 1, "maxLength": 500,
                                       "x-widget": "textarea"}},
        }},
    }
    form = form_definition_create(municipality=town, key="anregung", title="Anregung", schema=schema)
    return service_upsert(municipality=town, slug="anregung", form=form, leika_key="99000000000000", name="Anregung",
                          summary="", office="Bürgerbüro", processing_days=5)


SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_is_stored_as_text_and_escaped_on_receipt_and_staff_page(client, town, free_text_service,
                                                                              make_staff, login_verified):
    response = _submit(client, town.slug, json.dumps({"service": free_text_service.pk, "data": {"details": {"remarks": SCRIPT}}}))
    assert response.status_code == 201
    body = response.json()
    application = Application.objects.get()
    assert application.data == {"details": {"remarks": SCRIPT}}

    pages = [client.get(f"/m/{town.slug}/status/{body['reference']}/{body['access_token']}/bestaetigung/")]
    staff = login_verified(Client(), make_staff(town))
    pages.append(staff.get(f"/m/{town.slug}/verwaltung/antraege/{body['reference']}/"))
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
        assert "<script>alert" not in html
        assert "<img src=x" not in html


def test_markup_in_staff_note_and_status_text_is_escaped(client, town, dog, dog_data, make_staff, login_verified):
    from rathaus.applications.services import application_change_status, note_add

    body = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data})).json()
    application = Application.objects.get()
    staff_user = make_staff(town)
    note_add(application=application, author=staff_user, text=SCRIPT)
    application_change_status(application=application, status="waiting", public_text=SCRIPT, actor=staff_user)
    staff_page = login_verified(Client(), staff_user).get(f"/m/{town.slug}/verwaltung/antraege/{body['reference']}/")
    status_page = client.get(body["status_url"])
    for page in (staff_page, status_page):
        html = page.content.decode()
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "<script>alert" not in html


def test_quotes_and_ampersands_in_names_are_escaped_on_the_receipt(client, town, dog, dog_data):
    # The name pattern already forbids < > and =, so quotes and & are what remains to escape.
    dog_data["owner"]["family_name"] = 'O\'Brien "Eri" & Co'
    body = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data})).json()
    html = client.get(f"/m/{town.slug}/status/{body['reference']}/{body['access_token']}/bestaetigung/").content.decode()
    assert "O&#x27;Brien &quot;Eri&quot; &amp; Co" in html
    assert 'O\'Brien "Eri"' not in html


# ---------------------------------------------------------------- tenants, CSRF, tokens


@pytest.mark.parametrize("slug", ["gibt-es-nicht", "MUSTERSTADT", "musterstadt-", "beispielhausen"])
def test_forged_tenant_slug_is_404_and_stores_nothing(client, town, dog, dog_data, slug):
    response = _submit(client, slug, json.dumps({"service": dog.pk, "data": dog_data}))
    assert response.status_code in (404, 422) if slug == "beispielhausen" else response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert Application.objects.count() == 0


def test_forged_tenant_slug_on_a_web_page_is_404(client, town, dog):
    assert client.get("/m/gibt-es-nicht/").status_code == 404
    assert client.post("/m/gibt-es-nicht/leistungen/hund-anmelden/antrag/").status_code == 404
    assert Draft.objects.count() == 0


def test_form_post_without_csrf_token_is_refused(town, dog):
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/m/{town.slug}/leistungen/hund-anmelden/antrag/")
    assert response.status_code == 403
    assert "Sicherheitsprüfung fehlgeschlagen" in response.content.decode()
    assert Draft.objects.count() == 0


def test_final_submit_without_csrf_token_stores_nothing(town, dog, dog_data):
    from rathaus.applications.services import draft_create, draft_save

    draft = draft_save(draft=draft_create(municipality=town, service=dog), data=dog_data)
    client = Client(enforce_csrf_checks=True)
    review_url = f"/m/{town.slug}/antrag/{draft.token}/pruefen/"
    assert client.get(review_url).status_code == 200
    response = client.post(review_url)
    assert response.status_code == 403
    assert Application.objects.count() == 0
    assert Draft.objects.filter(pk=draft.pk).exists()
    token = client.cookies["csrftoken"].value
    assert client.post(review_url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Application.objects.count() == 1


def test_staff_status_change_without_csrf_token_changes_nothing(town, dog, dog_data, make_staff, login_verified):
    from rathaus.applications.services import application_submit

    application = application_submit(municipality=town, service=dog, data=dog_data).application
    client = login_verified(Client(enforce_csrf_checks=True), make_staff(town))
    response = client.post(f"/m/{town.slug}/verwaltung/antraege/{application.reference}/", {"status": "approved"})
    assert response.status_code == 403
    application.refresh_from_db()
    assert application.status == "received"
    assert application.history.count() == 1


def test_status_pages_without_token_are_404(client, town, dog, dog_data):
    from rathaus.applications.services import application_submit

    reference = application_submit(municipality=town, service=dog, data=dog_data).application.reference
    for url in (f"/m/{town.slug}/status/{reference}/x/", f"/m/{town.slug}/status/{reference}/x/bestaetigung/",
                f"/m/{town.slug}/status/{reference}/x/eingangsbestaetigung.pdf"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/api/v1/m/{town.slug}/applications/{reference}").status_code == 404


def test_access_token_with_umlauts_is_404_everywhere_not_a_server_error(client, town, dog, dog_data):
    from rathaus.applications.services import application_submit

    reference = application_submit(municipality=town, service=dog, data=dog_data).application.reference
    base = f"/m/{town.slug}/status/{reference}/%C3%A4"
    for url in (f"{base}/", f"{base}/bestaetigung/", f"{base}/eingangsbestaetigung.pdf", f"{base}/dokumente/1/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"{base}/nachreichen/", {"file": ""}).status_code == 404
    api = client.get(f"/api/v1/m/{town.slug}/applications/{reference}", HTTP_AUTHORIZATION="Bearer äö")
    assert api.status_code == 404
    assert api["Content-Type"] == PROBLEM and api.json()["type"].endswith("not-found")
    lookup = client.post(f"/m/{town.slug}/status/", {"reference": reference, "token": "äöü"})
    assert lookup.status_code == 200
    assert "Vorgangsnummer oder Zugangscode stimmen nicht" in lookup.content.decode()


def test_status_link_still_opens_after_the_secret_key_is_rotated(client, town, dog, dog_data, settings):
    from rathaus.applications.services import application_submit

    result = application_submit(municipality=town, service=dog, data=dog_data)
    url = f"/m/{town.slug}/status/{result.application.reference}/{result.access_token}/"
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    assert client.get(url).status_code == 200
    api = client.get(f"/api/v1/m/{town.slug}/applications/{result.application.reference}",
                     HTTP_AUTHORIZATION=f"Bearer {result.access_token}")
    assert api.status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert client.get(url).status_code == 404


def test_my_application_page_needs_a_login(client, town, dog, dog_data):
    from rathaus.applications.services import application_submit

    reference = application_submit(municipality=town, service=dog, data=dog_data).application.reference
    response = client.get(f"/m/{town.slug}/meine-antraege/{reference}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/konto/anmelden/")


# ---------------------------------------------------------------- rate limits and lockout


def test_fourth_api_submission_in_a_minute_is_429_and_not_stored(client, town, dog, dog_data, settings):
    settings.RATELIMIT_SUBMISSIONS = "3/m"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    for _ in range(3):
        assert _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data})).status_code == 201
    audit = AuditEntry.objects.count()
    response = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data}))
    assert response.status_code == 429
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/rate-limited")
    assert Application.objects.count() == 3
    assert AuditEntry.objects.count() == audit
    other_address = _submit(client, town.slug, json.dumps({"service": dog.pk, "data": dog_data}), REMOTE_ADDR="10.0.0.2")
    assert other_address.status_code == 201


def test_rate_limit_also_guards_the_web_form_submit(client, town, dog, dog_data, settings):
    from rathaus.applications.services import draft_create, draft_save

    settings.RATELIMIT_SUBMISSIONS = "3/m"
    drafts = [draft_save(draft=draft_create(municipality=town, service=dog), data=dog_data) for _ in range(4)]
    for draft in drafts[:3]:
        assert client.post(f"/m/{town.slug}/antrag/{draft.token}/pruefen/").status_code == 302
    response = client.post(f"/m/{town.slug}/antrag/{drafts[3].token}/pruefen/")
    assert response.status_code == 429
    assert Application.objects.count() == 3
    assert Draft.objects.filter(pk=drafts[3].pk).exists()


def test_login_is_locked_after_five_failures_and_failures_are_audited(client, make_user):
    user = make_user("erika@example.org", password="Richtiges-Passwort-1")
    for attempt in range(5):
        response = client.post("/konto/anmelden/", {"username": "erika@example.org", "password": f"falsch-{attempt}"})
        assert response.status_code in (200, 429)
    locked = client.post("/konto/anmelden/", {"username": "erika@example.org", "password": "Richtiges-Passwort-1"})
    assert locked.status_code == 429
    assert "Anmeldung vorübergehend gesperrt" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    failures = AuditEntry.objects.filter(action="account.login_failed")
    assert failures.count() >= 5
    assert set(failures.values_list("actor_label", flat=True)) == {"erika@example.org"}
    assert not AuditEntry.objects.filter(action="account.login", actor=user).exists()


def test_login_from_another_address_is_not_locked_by_someone_elses_failures(client, make_user):
    make_user("erika@example.org", password="Richtiges-Passwort-1")
    for attempt in range(6):
        client.post("/konto/anmelden/", {"username": "erika@example.org", "password": f"falsch-{attempt}"},
                    REMOTE_ADDR="203.0.113.9")
    response = Client().post("/konto/anmelden/", {"username": "erika@example.org", "password": "Richtiges-Passwort-1"})
    assert response.status_code == 302


# ---------------------------------------------------------------- headers


@pytest.fixture
def pages(client, town, dog, dog_data):
    from rathaus.applications.services import application_submit

    result = application_submit(municipality=town, service=dog, data=dog_data)
    ref, token = result.application.reference, result.access_token
    return ["/", f"/m/{town.slug}/", f"/m/{town.slug}/leistungen/hund-anmelden/", "/konto/anmelden/",
            f"/m/{town.slug}/status/{ref}/{token}/", f"/m/{town.slug}/status/{ref}/{token}/bestaetigung/",
            "/m/gibt-es-nicht/"]


def test_html_pages_send_a_strict_content_security_policy(client, pages):
    for url in pages:
        response = client.get(url)
        assert response["Content-Type"].startswith("text/html"), url
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
        assert policy["default-src"] == "'self'", url
        assert policy["script-src"].split()[0] == "'self'", url
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'", url
        assert policy["frame-ancestors"] == "'none'", url
        assert "unsafe-inline" not in response["Content-Security-Policy"], url
        assert "unsafe-eval" not in response["Content-Security-Policy"], url


def test_pages_and_api_send_security_headers(client, pages):
    for url in [*pages, "/api/v1/municipalities"]:
        response = client.get(url)
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"] == "same-origin", url


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "rathaus.config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "rathaus.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "RATHAUS_VAR_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT / "src"),
    }
    code = ("import django; django.setup(); from django.core.management import call_command; "
            "call_command('check', deploy=True, fail_level='WARNING')")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
