"""A service's letters may name another remedy than the town's: e.g. the optional objection against the dog tax."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from rathaus.catalog.models import Service
from rathaus.catalog.services import service_update
from rathaus.core.models import AuditEntry
from rathaus.tenants.models import Municipality
from rathaus.tenants.services import municipality_update

pytestmark = pytest.mark.django_db

ADDRESS = "Rathausplatz 1, 99999 Musterstadt"
COURT = {"court_name": "Verwaltungsgericht Würzburg", "court_address": "Burkarderstraße 26, 97082 Würzburg"}
MISSING_COURT = (
    "Für „Wahlweise Widerspruch bei der Kommune oder Klage beim Verwaltungsgericht“ fehlen in den Angaben "
    "für Bescheide der Kommune noch: Name des Verwaltungsgerichts, Anschrift des Verwaltungsgerichts. Bitte "
    "tragen Sie sie zuerst auf der Seite „Angaben für Bescheide“ ein."
)
NEEDED = (
    "Diese Angabe steht in der Rechtsbehelfsbelehrung der Bescheide von Leistungen mit eigenem Rechtsbehelf "
    "(„Hund-Anmelden“: Wahlweise Widerspruch bei der Kommune oder Klage beim Verwaltungsgericht). Bitte lassen Sie "
    "sie stehen oder ändern Sie zuerst den Rechtsbehelf dieser Leistungen."
)


@pytest.fixture
def dog(demo_services) -> Service:
    return demo_services["hund-anmelden"]


def _stored_remedy(service) -> str:
    return Service.objects.values_list("remedy", flat=True).get(pk=service.pk)


def _url(town, service) -> str:
    return reverse("catalog:service_edit", kwargs={"municipality": town.slug, "service": service.slug})


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, "admin@musterstadt.example", role="tenant_admin"))


def test_a_remedy_whose_court_the_town_has_not_named_is_refused_and_nothing_is_stored(town, dog):
    municipality_update(municipality=town, address=ADDRESS, remedy="objection")
    with pytest.raises(ValidationError) as raised:
        service_update(service=dog, remedy="choice")
    assert raised.value.message_dict == {"remedy": [MISSING_COURT]}
    assert dog.remedy == "" and _stored_remedy(dog) == ""
    assert not AuditEntry.objects.filter(action="service.updated").exists()
    # Without any letter settings the objection needs the town's address as well.
    with pytest.raises(ValidationError) as raised:
        service_update(service=dog, remedy="action")
    assert raised.value.message_dict == {
        "remedy": [
            "Für „Klage beim Verwaltungsgericht“ fehlen in den Angaben für Bescheide der Kommune noch: Name des "
            "Verwaltungsgerichts, Anschrift des Verwaltungsgerichts. Bitte tragen Sie sie zuerst auf der Seite „Angaben für "
            "Bescheide“ ein."
        ]
    }
    assert _stored_remedy(dog) == ""


def test_the_objection_of_a_service_needs_the_towns_address(town, dog):
    with pytest.raises(ValidationError) as raised:
        service_update(service=dog, remedy="objection")
    assert raised.value.message_dict == {
        "remedy": [
            "Für „Widerspruch bei der Kommune“ fehlen in den Angaben für Bescheide der Kommune noch: Anschrift der Kommune. "
            "Bitte tragen Sie sie zuerst auf der Seite „Angaben für Bescheide“ ein."
        ]
    }
    assert _stored_remedy(dog) == ""


def test_a_service_remedy_is_stored_with_the_old_and_new_value_in_the_audit_trail(town, dog, make_user):
    municipality_update(municipality=town, address=ADDRESS, remedy="action", **COURT)
    actor = make_user("admin@musterstadt.example")
    service_update(service=dog, remedy="choice", actor=actor, ip_address="192.0.2.1")
    assert _stored_remedy(dog) == "choice"
    entry = AuditEntry.objects.get(action="service.updated")
    assert (entry.actor, entry.object_id, entry.ip_address) == (actor, str(dog.pk), "192.0.2.1")
    assert entry.data == {"fields": ["remedy"], "letters": {"remedy": {"old": "", "new": "choice"}}}
    # The same value again is no change and writes nothing.
    service_update(service=dog, remedy="choice", actor=actor)
    assert AuditEntry.objects.filter(action="service.updated").count() == 1


def test_the_town_cannot_remove_the_court_a_service_remedy_names(town, dog):
    municipality_update(municipality=town, address=ADDRESS, remedy="objection", **COURT)
    service_update(service=dog, remedy="choice")
    changes = AuditEntry.objects.filter(action="municipality.changed").count()
    with pytest.raises(ValidationError) as raised:
        municipality_update(municipality=town, court_name="", court_address="")
    assert raised.value.message_dict == {"court_name": [NEEDED], "court_address": [NEEDED]}
    assert town.court_name == "Verwaltungsgericht Würzburg"
    assert Municipality.objects.values_list("court_name", "court_address").get(pk=town.pk) == (
        "Verwaltungsgericht Würzburg",
        "Burkarderstraße 26, 97082 Würzburg",
    )
    assert AuditEntry.objects.filter(action="municipality.changed").count() == changes
    # Once the service follows the town again, the court may go.
    service_update(service=dog, remedy="")
    municipality_update(municipality=town, court_name="", court_address="")
    assert Municipality.objects.values_list("court_name", flat=True).get(pk=town.pk) == ""


def test_the_letter_settings_page_names_the_service_that_needs_a_detail_and_stores_nothing(admin_client, town, dog):
    municipality_update(municipality=town, address=ADDRESS, remedy="objection", **COURT)
    service_update(service=dog, remedy="choice")
    url = reverse("tenants:letter_settings", kwargs={"municipality": town.slug})
    response = admin_client.post(
        url,
        {
            "address": ADDRESS,
            "remedy": "objection",
            "court_name": COURT["court_name"],
            "court_address": "",
            "remedy_note": "",
            "action": "save",
        },
    )
    assert response.status_code == 422
    assert (
        f'<a class="kern-link" href="#id_court_address">Anschrift des Verwaltungsgerichts: {NEEDED}</a>'
        in response.content.decode().replace("&quot;", '"')
    )
    assert Municipality.objects.values_list("court_address", flat=True).get(pk=town.pk) == COURT["court_address"]


def test_the_letter_settings_page_lists_the_services_and_previews_their_own_instruction(admin_client, town, dog):
    municipality_update(municipality=town, address=ADDRESS, remedy="objection", **COURT)
    service_update(service=dog, remedy="choice")
    url = reverse("tenants:letter_settings", kwargs={"municipality": town.slug})
    page = admin_client.get(url).content.decode()
    assert (
        f"<li>Hund-Anmelden: Wahlweise Widerspruch bei der Kommune oder Klage beim Verwaltungsgericht – "
        f'<a class="kern-link" href="{_url(town, dog)}">ändern<span class="kern-sr-only"> (Hund-Anmelden)</span>'
        f"</a></li>"
    ) in page
    assert "<li>Bewohnerparkausweis: wie für die Kommune eingestellt – " in page
    # The preview shows the service's text with the court being typed, before anything is stored.
    preview = admin_client.post(
        url,
        {
            "address": ADDRESS,
            "remedy": "objection",
            "court_name": "Verwaltungsgericht Ansbach",
            "court_address": "Promenade 24, 91522 Ansbach",
            "remedy_note": "",
            "action": "preview",
        },
    ).content.decode()
    assert "Rechtsbehelfsbelehrung für „Hund-Anmelden“ (eigener Rechtsbehelf)" in preview
    assert (
        "Bekanntgabe entweder Widerspruch oder unmittelbar Klage erhoben werden." in preview
        and "zu erheben: Verwaltungsgericht Ansbach, Promenade 24, 91522 Ansbach." in preview
    )
    assert Municipality.objects.values_list("court_name", flat=True).get(pk=town.pk) == COURT["court_name"]


def test_the_service_page_sets_the_remedy_with_a_preview_and_audits_it(admin_client, town, dog):
    municipality_update(municipality=town, address=ADDRESS, remedy="action", **COURT)
    page = admin_client.get(_url(town, dog)).content.decode()
    assert '<option value="" selected>Wie für die Kommune eingestellt (Klage beim Verwaltungsgericht)</option>' in page
    assert "Bekanntgabe Klage erhoben werden." in page
    preview = admin_client.post(_url(town, dog), {"remedy": "choice", "action": "preview"})
    assert preview.status_code == 200
    assert "Vorschau (noch nicht gespeichert)" in preview.content.decode()
    assert "Bekanntgabe entweder Widerspruch oder unmittelbar Klage erhoben werden." in preview.content.decode()
    assert _stored_remedy(dog) == ""
    assert not AuditEntry.objects.filter(action="service.updated").exists()
    response = admin_client.post(_url(town, dog), {"remedy": "choice", "action": "save"})
    assert response.status_code == 302
    assert _stored_remedy(dog) == "choice"
    shown = admin_client.get(_url(town, dog)).content.decode()
    assert "Rechtsbehelf für „Hund-Anmelden“ gespeichert. Jeder neue Bescheid dieser Leistung druckt ihn ab." in shown
    entry = AuditEntry.objects.get(action="service.updated")
    assert entry.actor.email == "admin@musterstadt.example"
    assert entry.data["letters"] == {"remedy": {"old": "", "new": "choice"}}


def test_the_service_page_refuses_a_remedy_the_town_lacks_details_for_in_german_and_english(admin_client, town, dog):
    municipality_update(municipality=town, address=ADDRESS, remedy="objection")
    for action in ("save", "preview"):
        response = admin_client.post(_url(town, dog), {"remedy": "choice", "action": action})
        assert response.status_code == 422
        page = response.content.decode()
        assert (
            f'<a class="kern-link" href="#id_remedy">Rechtsbehelf gegen Bescheide dieser Leistung: {MISSING_COURT}</a>'
        ) in page
        assert 'id="id_remedy-error"' in page
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = admin_client.post(_url(town, dog), {"remedy": "choice", "action": "save"}).content.decode()
    assert (
        "For “Either an objection at the municipality or an action at the administrative court” the "
        "municipality&#x27;s details for decision letters still lack: Name of the administrative court, Address "
        "of the administrative court. Please enter them first on the page “Details for decision letters”."
    ) in english
    assert _stored_remedy(dog) == ""
    assert not AuditEntry.objects.filter(action="service.updated").exists()


def test_only_those_who_manage_services_may_see_or_change_a_services_remedy(
    client, town, other_town, dog, make_staff, login_verified
):
    municipality_update(municipality=town, address=ADDRESS, remedy="action", **COURT)
    url = _url(town, dog)
    assert client.get(url).status_code == 302  # anonymous: to the login
    for role in ("case_worker", "team_lead"):
        staff = login_verified(client, make_staff(town, f"{role}@musterstadt.example", role=role))
        # As on every staff page, a missing permission answers "not found" rather than revealing the page.
        assert staff.get(url).status_code == 404
        assert staff.post(url, {"remedy": "choice", "action": "save"}).status_code == 404
    theirs = login_verified(client, make_staff(other_town, "admin@beispielhausen.example", role="tenant_admin"))
    assert theirs.get(url).status_code == 404
    assert theirs.post(url, {"remedy": "choice", "action": "save"}).status_code == 404
    assert _stored_remedy(dog) == ""
    assert not AuditEntry.objects.filter(action="service.updated").exists()


def test_an_operator_sets_a_service_remedy_in_the_admin_with_the_same_check(client, town, dog, make_user, login_verified):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from rathaus.core.tests.test_admin_audit import _form

    operator = make_user("betrieb@example.org", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=operator, name="test", confirmed=True)
    login_verified(client, operator)
    municipality_update(municipality=town, address=ADDRESS, remedy="objection")
    url = f"/verwaltung/catalog/service/{dog.pk}/change/"
    refused = client.post(url, _form(client, url) | {"remedy": ["choice"]})
    assert refused.status_code == 200
    assert MISSING_COURT in refused.content.decode().replace("&#x27;", "'")
    assert _stored_remedy(dog) == ""
    municipality_update(municipality=town, **COURT)
    response = client.post(url, _form(client, url) | {"remedy": ["choice"]})
    assert response.status_code == 302
    assert _stored_remedy(dog) == "choice"
    entry = AuditEntry.objects.get(action="admin.changed", object_id=str(dog.pk))
    assert entry.data["values"]["remedy"] == "choice"


def test_a_service_with_a_malformed_list_of_documents_gets_a_message_not_a_server_error(admin_client, town, dog):
    # Typed as JSON in the operators' admin long ago: the page shows what is wrong and stores nothing.
    municipality_update(municipality=town, address=ADDRESS, remedy="objection")
    Service.objects.filter(pk=dog.pk).update(required_documents={"Nachweis": 1})
    assert admin_client.get(_url(town, dog)).status_code == 200
    response = admin_client.post(_url(town, dog), {"remedy": "objection", "action": "save"})
    assert response.status_code == 422
    assert "Bitte eine Liste von Texten angeben" in response.content.decode()
    assert _stored_remedy(dog) == ""
    assert not AuditEntry.objects.filter(action="service.updated").exists()
