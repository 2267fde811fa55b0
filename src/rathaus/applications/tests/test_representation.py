"""Applying on behalf of someone else: web form without JavaScript, API, staff page, status page, receipt PDF."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from django.core.cache import cache
from pypdf import PdfReader

from rathaus.applications.models import Application, MandateKind, Representation

pytestmark = pytest.mark.django_db

STEPS = {
    1: {"owner.given_name": "Erika", "owner.family_name": "Mustermann", "owner.birth_date": "31.01.1980",
        "owner.address.street": "Hauptstraße", "owner.address.house_number": "12a",
        "owner.address.postal_code": "99999", "owner.address.city": "Musterstadt", "owner.email": "erika@example.org"},
    2: {"dog.name": "Bello", "dog.breed": "labrador", "dog.birth_date": "2024-05-01", "dog.sex": "maennlich",
        "dog.chip_number": "276098106123456", "dog.kept_since": "2026-11-01", "dog.other_dogs": "0"},
    3: {"reduction.exemption": "keine"},
    4: {"declaration.truthful": "true", "declaration.privacy": "true"},
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _pdf_text(raw: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(raw)).pages)


def _filled_draft(client, town) -> str:
    base = client.post(f"/m/{town.slug}/leistungen/hund-anmelden/antrag/")["Location"].rsplit("/schritt/", 1)[0]
    for index, values in STEPS.items():
        assert client.post(f"{base}/schritt/{index}/", values).status_code == 302
    return base


def test_parent_applies_for_her_child_through_the_web_form(client, town, demo_services, staff_client,
                                                           django_capture_on_commit_callbacks):
    base = _filled_draft(client, town)
    review = client.get(f"{base}/pruefen/").content.decode()
    assert "Für sich selbst." in review
    assert f'href="{base}/vertretung/"' in review

    # Incomplete: a parent must name the child, give the birth date and confirm the mandate; nothing is stored.
    bad = client.post(f"{base}/vertretung/", {"kind": "parent", "principal_name": ""})
    assert bad.status_code == 422
    page = bad.content.decode()
    assert "Bitte geben Sie an, für wen Sie den Antrag stellen." in page
    assert "Bitte bestätigen Sie, dass Sie zur Vertretung berechtigt sind." in page
    ok = client.post(f"{base}/vertretung/", {"kind": "parent", "principal_name": "Mia Mustermann",
                                             "principal_birth_date": "01.06.2015", "mandate_confirmed": "on"})
    assert ok.status_code == 302 and ok["Location"].endswith("/pruefen/")
    review = client.get(f"{base}/pruefen/").content.decode()
    assert "Mia Mustermann" in review and "Elternteil für ein Kind" in review and "01.06.2015" in review
    assert "disabled" not in review.split("Antrag verbindlich absenden")[0].rsplit("<button", 1)[1]

    with django_capture_on_commit_callbacks(execute=True):
        submitted = client.post(f"{base}/pruefen/")
    assert submitted.status_code == 302
    application = Application.objects.get()
    representation = Representation.objects.get(application=application)
    assert (representation.kind, representation.principal_name, representation.principal_birth_date) == (
        MandateKind.PARENT, "Mia Mustermann", date(2015, 6, 1))
    assert (representation.representative_name, representation.representative_email) == ("Erika Mustermann", "erika@example.org")
    assert "$representation" not in application.data

    receipt = client.get(submitted["Location"]).content.decode()
    assert "Vertretung" in receipt and "Mia Mustermann" in receipt
    status_url = re.search(r'href="([^"]+)" class="status-link"', receipt).group(1)
    assert "Mia Mustermann" in client.get(status_url).content.decode()
    pdf_url = re.search(r'href="([^"]+eingangsbestaetigung\.pdf)"', receipt).group(1)
    text = _pdf_text(client.get(pdf_url).content)
    assert "Vertretung" in text and "Mia Mustermann" in text and "01.06.2015" in text
    staff_page = staff_client.get(f"/m/{town.slug}/verwaltung/antraege/{application.reference}/").content.decode()
    assert "Elternteil für ein Kind" in staff_page and "Mia Mustermann" in staff_page and "Erika Mustermann" in staff_page


def test_choosing_for_myself_again_removes_the_representation(client, town, demo_services):
    base = _filled_draft(client, town)
    client.post(f"{base}/vertretung/", {"kind": "company", "principal_name": "Muster GmbH",
                                        "principal_register_number": "HRB 123", "mandate_confirmed": "on"})
    assert "Muster GmbH" in client.get(f"{base}/pruefen/").content.decode()
    client.post(f"{base}/vertretung/", {"kind": "self"})
    client.post(f"{base}/pruefen/")
    assert not Representation.objects.exists()
    assert Application.objects.count() == 1


def _post(client, slug, body, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/api/v1/m/{slug}/applications", data=json.dumps(body), content_type="application/json",
                       headers=headers)


def test_api_accepts_an_optional_representation(client, town, demo_services, dog_data):
    service = demo_services["hund-anmelden"].pk
    body = {"service": service, "data": dog_data, "representation": {
        "kind": "company", "principal_name": "Muster GmbH", "principal_register_number": "HRB 12345",
        "principal_address": "Industriestraße 1, 99999 Musterstadt"}}
    response = _post(client, town.slug, body, key="rep-1")
    assert response.status_code == 201, response.content
    reference = response.json()["reference"]
    representation = Representation.objects.get(application__reference=reference)
    assert (representation.kind, representation.principal_register_number) == ("company", "HRB 12345")
    assert representation.representative_name == "Erika Mustermann"
    # The same key with the same body replays; with another representation it is a conflict.
    assert _post(client, town.slug, body, key="rep-1").json()["reference"] == reference
    other = {**body, "representation": {**body["representation"], "principal_name": "Andere GmbH"}}
    assert _post(client, town.slug, other, key="rep-1").status_code == 409
    # Without a representation the contract is unchanged.
    plain = _post(client, town.slug, {"service": service, "data": dog_data})
    assert plain.status_code == 201
    assert not Representation.objects.filter(application__reference=plain.json()["reference"]).exists()


def test_api_refuses_a_bad_representation_with_a_problem_and_stores_nothing(client, town, demo_services, dog_data):
    service = demo_services["hund-anmelden"].pk
    response = _post(client, town.slug, {"service": service, "data": dog_data, "representation": {
        "kind": "uncle", "principal_name": "", "colour": "blue"}})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    pointers = {error["pointer"] for error in problem["errors"]}
    assert {"/representation/kind", "/representation/principal_name", "/representation/colour"} <= pointers
    parent_without_birth_date = _post(client, town.slug, {"service": service, "data": dog_data, "representation": {
        "kind": "parent", "principal_name": "Mia"}})
    assert parent_without_birth_date.status_code == 422
    assert "principal_birth_date" in parent_without_birth_date.json()["errors"][0]["detail"]
    assert _post(client, town.slug, {"service": service, "data": dog_data, "representation": "me"}).status_code == 422
    assert not Application.objects.exists() and not Representation.objects.exists()


def test_openapi_documents_the_representation(client):
    schema = client.get("/api/v1/openapi.json").json()
    body = schema["paths"]["/api/v1/m/{slug}/applications"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["service", "data"]
    assert body["properties"]["representation"]["properties"]["kind"]["enum"] == ["parent", "guardian", "company", "authorised"]


@pytest.mark.parametrize(("representation", "valid"), [
    ({"kind": "company", "principal_name": "Muster GmbH"}, True),
    ({"kind": "parent", "principal_name": "Mia", "principal_birth_date": "2015-01-31"}, True),
    ({"kind": "company", "principal_name": "Muster GmbH", "representative_email": "buero@muster.example"}, True),
    ({"kind": "parent", "principal_name": "Mia"}, False),  # a child is named with her birth date
    ({"kind": "guardian", "principal_name": "Herr K.", "principal_birth_date": None}, False),
    ({"kind": "company", "principal_name": "Muster\nGmbH"}, False),  # control characters
    ({"kind": "company", "principal_name": "Muster GmbH\n"}, False),  # even at the end (not `$`)
    ({"kind": "company", "principal_name": "Muster GmbH", "representative_email": "kein at"}, False),
])
def test_the_published_schema_says_exactly_what_the_api_accepts(client, town, demo_services, dog_data,
                                                                representation, valid):
    # The contract: valid under the published schema ⇔ accepted; invalid ⇔ 422 naming the field.
    import jsonschema

    schema = client.get("/api/v1/openapi.json").json()
    body_schema = schema["paths"]["/api/v1/m/{slug}/applications"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]["representation"]
    checker = jsonschema.Draft202012Validator(body_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert checker.is_valid(representation) is valid
    response = _post(client, town.slug, {"service": demo_services["hund-anmelden"].pk, "data": dog_data,
                                         "representation": representation})
    assert response.status_code == (201 if valid else 422), response.content
    if not valid:
        details = " ".join(error["detail"] for error in response.json()["errors"])
        assert "\\u" not in details and "pattern" not in details  # words, not the regular expression
