"""Consent to notice by retrieval (§ 41 (2a) VwVfG): asked explicitly at submission and never assumed;
offered only where an account stands behind the application, as the retrieval is the download of
the person signed in to it (sentence 2)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from rathaus.applications.models import Application
from rathaus.applications.tests.test_web_flow import STEP_VALUES, _start
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

CHECKBOX = 'name="retrieval_consent" value="1"'


@pytest.fixture
def signed_in(client, make_user):
    client.force_login(make_user("erika@example.org"))
    return client


def _fill(client, base):
    for index, values in STEP_VALUES.items():
        assert client.post(f"{base}/schritt/{index}/", values).status_code == 302


def test_the_review_page_asks_for_consent_with_an_unticked_box_and_an_explanation(signed_in, town, demo_services):
    client = signed_in
    base = _start(client, town)
    _fill(client, base)
    page = client.get(f"{base}/pruefen/").content.decode()
    box = page[page.index('id="retrieval-consent"') - 80:page.index('id="retrieval-consent"') + 80]
    assert CHECKBOX in box and "checked" not in box
    assert '<label class="kern-label" for="retrieval-consent">Ich bin einverstanden' in page
    assert "Abrufen können Sie ihn nach der Anmeldung mit Ihrem Konto unter „Meine Anträge“." in page
    assert "Ohne Häkchen kommt der Bescheid per Post." in page


def test_without_the_tick_the_application_records_no_consent(signed_in, town, demo_services,
                                                             django_capture_on_commit_callbacks):
    client = signed_in
    base = _start(client, town)
    _fill(client, base)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/pruefen/").status_code == 302
    application = Application.objects.get()
    assert application.retrieval_consent_at is None and not application.retrieval_consent


def test_with_the_tick_the_consent_is_recorded_with_its_time_and_audited(signed_in, town, demo_services,
                                                                         django_capture_on_commit_callbacks):
    client = signed_in
    base = _start(client, town)
    _fill(client, base)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/pruefen/", {"retrieval_consent": "1"}).status_code == 302
    application = Application.objects.get()
    assert application.retrieval_consent_at == application.submitted_at
    entry = AuditEntry.objects.get(action="application.submitted")
    assert entry.data["retrieval_consent"] is True


def test_without_an_account_the_review_page_offers_no_consent_and_says_why(client, town, demo_services,
                                                                          django_capture_on_commit_callbacks):
    base = _start(client, town)
    _fill(client, base)
    page = client.get(f"{base}/pruefen/").content.decode()
    assert CHECKBOX not in page
    assert "Sie sind nicht angemeldet: Ihr Bescheid kommt per Post." in page
    # A tick sent anyway (a crafted form) records nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/pruefen/", {"retrieval_consent": "1"}).status_code == 302
    assert Application.objects.get().retrieval_consent_at is None


def test_staff_entering_an_application_for_a_person_without_account_cannot_record_consent(staff_client, town,
                                                                                          demo_services):
    response = staff_client.post(f"/m/{town.slug}/verwaltung/erfassen/", {"service": "hund-anmelden", "channel": "office"})
    base = response["Location"].rsplit("/schritt/", 1)[0]
    _fill(staff_client, base)
    page = staff_client.get(f"{base}/pruefen/").content.decode()
    assert CHECKBOX not in page
    assert "Dieser Antrag ist mit keinem Konto verbunden: Der Bescheid kommt per Post." in page
    staff_client.post(f"{base}/pruefen/", {"retrieval_consent": "1"})
    application = Application.objects.get()
    assert application.channel == "office" and not application.retrieval_consent


def test_the_review_page_asks_in_english(signed_in, town, demo_services):
    client = signed_in
    base = _start(client, town)
    _fill(client, base)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(f"{base}/pruefen/").content.decode()
    assert "I agree that the decision letter is provided to me for retrieval online" in page
    assert "Ich bin einverstanden" not in page


def _post(client, slug, body):
    return client.post(f"/api/v1/m/{slug}/applications", data=json.dumps(body), content_type="application/json")


def test_the_api_accepts_no_consent_and_refuses_it_for_want_of_an_account(client, town, demo_services, dog_data):
    dog = demo_services["hund-anmelden"]
    assert _post(client, town.slug, {"service": dog.pk, "data": dog_data}).status_code == 201
    assert _post(client, town.slug, {"service": dog.pk, "data": dog_data, "retrieval_consent": False}).status_code == 201
    response = _post(client, town.slug, {"service": dog.pk, "data": dog_data, "retrieval_consent": True})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/retrieval_consent"
    assert response.json()["errors"][0]["code"] == "account_required"
    assert "setzt ein Konto voraus" in response.json()["errors"][0]["detail"]
    assert Application.objects.count() == 2
    assert not Application.objects.filter(retrieval_consent_at__isnull=False).exists()


def test_the_api_refusal_of_consent_reads_in_english(client, town, demo_services, dog_data):
    dog = demo_services["hund-anmelden"]
    response = client.post(f"/api/v1/m/{town.slug}/applications", content_type="application/json",
                           data=json.dumps({"service": dog.pk, "data": dog_data, "retrieval_consent": True}),
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "requires an account the person signs in with" in response.json()["errors"][0]["detail"]


def test_the_service_refuses_consent_without_an_account(town, demo_services, dog_data):
    from rathaus.applications.services import application_submit

    with pytest.raises(ValueError, match="account"):
        application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data,
                           retrieval_consent=True)
    assert not Application.objects.exists()


def test_the_api_refuses_a_consent_that_is_not_a_boolean_and_stores_nothing(client, town, demo_services, dog_data):
    dog = demo_services["hund-anmelden"]
    response = _post(client, town.slug, {"service": dog.pk, "data": dog_data, "retrieval_consent": "ja"})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/retrieval_consent"]
    assert not Application.objects.exists()


def test_a_retry_with_another_consent_is_another_request(client, town, demo_services, dog_data):
    dog = demo_services["hund-anmelden"]
    headers = {"Idempotency-Key": "consent-1"}
    first = client.post(f"/api/v1/m/{town.slug}/applications", data=json.dumps({"service": dog.pk, "data": dog_data}),
                        content_type="application/json", headers=headers)
    again = client.post(f"/api/v1/m/{town.slug}/applications",
                        data=json.dumps({"service": dog.pk, "data": dog_data, "retrieval_consent": True}),
                        content_type="application/json", headers=headers)
    assert first.status_code == 201 and again.status_code == 422
    assert Application.objects.get().retrieval_consent_at is None


def test_the_tick_is_kept_when_the_review_page_is_shown_again_with_an_error(signed_in, town, demo_services):
    client = signed_in
    base = _start(client, town)
    _fill(client, base)
    service = demo_services["hund-anmelden"]
    service.is_published = False  # unpublished meanwhile: the page comes back with the error
    service.save(update_fields=["is_published"])
    response = client.post(f"{base}/pruefen/", {"retrieval_consent": "1"})
    assert response.status_code == 422
    page = response.content.decode()
    box = page[page.index('id="retrieval-consent"') - 80:page.index('id="retrieval-consent"') + 80]
    assert "checked" in box
    assert not Application.objects.exists()
    # Without the tick it stays unticked.
    page = client.post(f"{base}/pruefen/").content.decode()
    box = page[page.index('id="retrieval-consent"') - 80:page.index('id="retrieval-consent"') + 80]
    assert "checked" not in box
