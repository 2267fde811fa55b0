"""A service's required documents are a list of texts; anything else is refused or, if stored, left out."""

import pytest

from rathaus.catalog.models import Service
from rathaus.core.tests.test_admin_audit import _form

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user, login_verified):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=operator, name="test", confirmed=True)
    return login_verified(client, operator)


@pytest.mark.parametrize("stored", [{"Ausweis": True}, "Personalausweis", ["Personalausweis", 7, None]],
                         ids=["object", "text", "list-with-other-values"])
def test_service_api_and_page_answer_when_the_stored_documents_are_not_a_list_of_texts(client, town, demo_services,
                                                                                      stored):
    dog = demo_services["hund-anmelden"]
    Service.objects.filter(pk=dog.pk).update(required_documents=stored)
    response = client.get(f"/api/v1/m/{town.slug}/services/{dog.pk}")
    assert response.status_code == 200
    expected = ["Personalausweis"] if isinstance(stored, list) else []
    assert response.json()["required_documents"] == expected
    page = client.get(f"/m/{town.slug}/leistungen/hund-anmelden/").content.decode()
    assert "<li>P</li>" not in page and "<li>Ausweis</li>" not in page


@pytest.mark.parametrize("entered", ['{"Ausweis": true}', '"Personalausweis"', '["Personalausweis", 7]'],
                         ids=["object", "text", "list-with-a-number"])
def test_admin_refuses_documents_that_are_not_a_list_of_texts(admin_client, demo_services, entered):
    dog = demo_services["hund-anmelden"]
    url = f"/verwaltung/catalog/service/{dog.pk}/change/"
    values = _form(admin_client, url)
    values["required_documents"] = [entered]
    response = admin_client.post(url, values)
    assert response.status_code == 200
    assert "Bitte eine Liste von Texten angeben" in response.content.decode()
    dog.refresh_from_db()
    assert dog.required_documents == []


def test_admin_stores_a_list_of_texts(admin_client, demo_services):
    dog = demo_services["hund-anmelden"]
    url = f"/verwaltung/catalog/service/{dog.pk}/change/"
    values = _form(admin_client, url)
    values["required_documents"] = ['["Personalausweis", "Impfpass des Hundes"]']
    assert admin_client.post(url, values).status_code == 302
    dog.refresh_from_db()
    assert dog.required_documents == ["Personalausweis", "Impfpass des Hundes"]
