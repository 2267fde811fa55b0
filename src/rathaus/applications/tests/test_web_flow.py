"""A citizen fills the dog form without JavaScript, fixes errors, submits and follows the status."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from rathaus.applications.models import Application, Status

pytestmark = pytest.mark.django_db

STEP_VALUES = {
    1: {"owner.given_name": "Erika", "owner.family_name": "Mustermann", "owner.birth_date": "31.01.1980",
        "owner.address.street": "Hauptstraße", "owner.address.house_number": "12a",
        "owner.address.postal_code": "99999", "owner.address.city": "Musterstadt", "owner.email": "erika@example.org"},
    2: {"dog.name": "Bello", "dog.breed": "labrador", "dog.birth_date": "2024-05-01", "dog.sex": "maennlich",
        "dog.chip_number": "276098106123456", "dog.kept_since": "2026-11-01", "dog.other_dogs": "0"},
    3: {"reduction.exemption": "keine"},
    4: {"declaration.truthful": "true", "declaration.privacy": "true"},
}


def _start(client, town):
    response = client.post(f"/m/{town.slug}/leistungen/hund-anmelden/antrag/")
    assert response.status_code == 302
    return response["Location"].rsplit("/schritt/", 1)[0]


def test_citizen_applies_fixes_errors_and_follows_status(client, town, demo_services, django_capture_on_commit_callbacks):
    base = _start(client, town)
    empty = client.post(f"{base}/schritt/1/", {"_next": ""})
    assert empty.status_code == 422
    page = empty.content.decode()
    assert "Bitte korrigieren Sie" in page
    assert 'href="#f-owner-given_name"' in page
    assert 'id="f-owner-given_name"' in page and 'aria-invalid="true"' in page

    bad = dict(STEP_VALUES[1], **{"owner.address.postal_code": "9999"})
    response = client.post(f"{base}/schritt/1/", bad)
    assert response.status_code == 422
    assert 'href="#f-owner-address-postal_code"' in response.content.decode()

    for index, values in STEP_VALUES.items():
        response = client.post(f"{base}/schritt/{index}/", values)
        assert response.status_code == 302, (index, response.content.decode()[:3000])
    assert response["Location"].endswith("/pruefen/")

    review = client.get(f"{base}/pruefen/")
    text = review.content.decode()
    assert "Labrador Retriever" in text and "31.01.1980" in text

    with django_capture_on_commit_callbacks(execute=True):
        submitted = client.post(f"{base}/pruefen/")
    assert submitted.status_code == 302
    receipt = client.get(submitted["Location"])
    assert receipt.status_code == 200
    application = Application.objects.get()
    assert application.reference == f"MUS-{application.submitted_at.year}-000001"
    assert application.data["dog"]["name"] == "Bello"
    assert application.status == Status.RECEIVED
    assert application.reference in receipt.content.decode()

    pdf_url = re.search(r'href="([^"]+eingangsbestaetigung\.pdf)"', receipt.content.decode()).group(1)
    pdf = client.get(pdf_url)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")

    assert len(mail.outbox) == 1
    assert application.reference in mail.outbox[0].subject
    assert mail.outbox[0].to == ["erika@example.org"]
    status_url = re.search(r'href="([^"]+)" class="status-link"', receipt.content.decode()).group(1)
    # The e-mail brings the status link, not a copy of the data: the PDF is a download behind it.
    assert urlsplit(status_url).path in mail.outbox[0].body and mail.outbox[0].attachments == []
    status = client.get(status_url)
    assert status.status_code == 200
    assert "Eingegangen" in status.content.decode()


def test_draft_is_saved_and_resumed_later(client, town, demo_services):
    base = _start(client, town)
    response = client.post(f"{base}/schritt/1/", {**STEP_VALUES[1], "_save": ""})
    assert response.status_code == 200
    assert f"{base}/schritt/1/" in response.content.decode()
    client.cookies.clear()
    resumed = client.get(f"{base}/schritt/1/")
    assert 'value="Mustermann"' in resumed.content.decode()


def test_wrong_access_token_shows_nothing(client, town, demo_services, dog_data):
    from rathaus.applications.services import application_submit

    result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
    ref = result.application.reference
    assert client.get(f"/m/{town.slug}/status/{ref}/{result.access_token}/").status_code == 200
    assert client.get(f"/m/{town.slug}/status/{ref}/falsch/").status_code == 404


def test_resent_final_submit_leads_to_the_same_receipt_and_stores_nothing_more(client, town, demo_services):
    from django.test import Client

    base = _start(client, town)
    for index, values in STEP_VALUES.items():
        assert client.post(f"{base}/schritt/{index}/", values).status_code == 302
    first = client.post(f"{base}/pruefen/")
    assert first.status_code == 302 and "/bestaetigung/" in first["Location"]
    # Reload, double click or back: the browser sends the review form again.
    again = client.post(f"{base}/pruefen/")
    assert again.status_code == 302
    assert again["Location"] == first["Location"]
    assert client.get(again["Location"]).status_code == 200
    assert Application.objects.count() == 1
    # Someone else holding only the draft's link does not get the receipt (and its access token).
    stranger = Client()
    assert stranger.post(f"{base}/pruefen/").status_code == 404
    assert stranger.get(f"{base}/pruefen/").status_code == 404
    assert Application.objects.count() == 1


def test_draft_of_a_service_unpublished_meanwhile_is_not_submitted(client, town, demo_services):
    from rathaus.applications.models import Draft

    base = _start(client, town)
    for index, values in STEP_VALUES.items():
        assert client.post(f"{base}/schritt/{index}/", values).status_code == 302
    service = demo_services["hund-anmelden"]
    service.is_published = False
    service.save(update_fields=["is_published"])
    shown = client.get(f"{base}/pruefen/")
    assert "nicht mehr online angeboten" in shown.content.decode()
    response = client.post(f"{base}/pruefen/")
    assert response.status_code == 422
    assert "nicht mehr online angeboten" in response.content.decode()
    assert "Bürgerbüro" in response.content.decode()
    assert Application.objects.count() == 0
    assert Draft.objects.count() == 1


def test_status_lookup_accepts_the_reference_typed_in_lowercase(client, town, demo_services, dog_data):
    from rathaus.applications.services import application_submit

    result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
    reference = result.application.reference
    response = client.post(f"/m/{town.slug}/status/", {"reference": f" {reference.lower()} ", "token": result.access_token})
    assert response.status_code == 302
    assert response["Location"] == f"/m/{town.slug}/status/{reference}/{result.access_token}/"
    assert client.get(response["Location"]).status_code == 200
