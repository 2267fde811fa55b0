"""Once-only: "Meine Daten" fills forms, the citizen sees and changes what was filled, nothing leaks."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core.cache import cache
from django.test import Client

from rathaus.accounts.models import Profile
from rathaus.applications.models import Application
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

STEP_REST = {
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


@pytest.fixture
def erika(make_user):
    user = make_user("erika@example.org", first_name="Erika", last_name="Mustermann")
    Profile.objects.create(user=user, birth_date=date(1980, 1, 31), street="Hauptstraße", house_number="12a",
                           postal_code="99999", city="Musterstadt", phone="0761 123456")
    return user


def _start(client, town) -> str:
    response = client.post(f"/m/{town.slug}/leistungen/hund-anmelden/antrag/")
    assert response.status_code == 302
    return response["Location"].rsplit("/schritt/", 1)[0]


def _value(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    return value.group(1) if value else ""


def test_profile_is_edited_on_my_data_and_refuses_a_bad_postcode(client, erika):
    client.force_login(erika)
    page = client.get("/konto/meine-daten/").content.decode()
    assert 'value="Hauptstraße"' in page and 'value="31.01.1980"' in page
    bad = client.post("/konto/meine-daten/", {"first_name": "Erika", "last_name": "Mustermann", "postal_code": "123"})
    assert bad.status_code == 422
    assert "Die Postleitzahl hat 5 Ziffern." in bad.content.decode()
    assert Profile.objects.get(user=erika).postal_code == "99999"
    saved = client.post("/konto/meine-daten/", {"first_name": "Erika", "last_name": "Musterfrau", "birth_date": "31.01.1980",
                                                "street": "Lindenweg", "house_number": "3", "postal_code": "79098",
                                                "city": "Freiburg", "phone": ""})
    assert saved.status_code == 302
    profile = Profile.objects.get(user=erika)
    erika.refresh_from_db()
    assert (erika.last_name, profile.street, profile.city, profile.phone) == ("Musterfrau", "Lindenweg", "Freiburg", "")
    entry = AuditEntry.objects.get(action="account.profile_updated")
    assert "last_name" in entry.data["fields"] and "Lindenweg" not in str(entry.data)


def test_logged_in_citizen_gets_the_form_prefilled_sees_it_and_what_she_types_wins(
        client, town, demo_services, erika, django_capture_on_commit_callbacks):
    client.force_login(erika)
    base = _start(client, town)
    page = client.get(f"{base}/schritt/1/").content.decode()
    assert _value(page, "owner.family_name") == "Mustermann"
    assert _value(page, "owner.address.street") == "Hauptstraße"
    assert _value(page, "owner.birth_date") == "31.01.1980"
    # A summary at the top and a note per field, tied to the input for screen readers.
    assert "9 Angaben aus „Meine Daten“ übernommen" in page
    assert page.count('class="kern-hint prefill-hint"') == 9
    assert re.search(r'id="f-owner-address-street"[^>]*aria-describedby="[^"]*f-owner-address-street-prefill', page)

    # She moved for this application only: the new street is submitted, the profile stays as it was.
    step1 = {"owner.given_name": "Erika", "owner.family_name": "Mustermann", "owner.birth_date": "31.01.1980",
             "owner.address.street": "Bahnhofstraße", "owner.address.house_number": "12a",
             "owner.address.postal_code": "99999", "owner.address.city": "Musterstadt", "owner.email": "erika@example.org",
             "owner.phone": "0761 123456"}
    assert client.post(f"{base}/schritt/1/", step1).status_code == 302
    again = client.get(f"{base}/schritt/1/").content.decode()
    assert 'id="f-owner-address-street-prefill"' not in again
    assert 'id="f-owner-address-city-prefill"' in again
    for index, values in STEP_REST.items():
        assert client.post(f"{base}/schritt/{index}/", values).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        submitted = client.post(f"{base}/pruefen/")
    application = Application.objects.get()
    assert application.data["owner"]["address"]["street"] == "Bahnhofstraße"
    assert application.applicant == erika
    assert Profile.objects.get(user=erika).street == "Hauptstraße"

    # After submitting she is asked whether to keep the new street; only her choice changes the profile.
    receipt = client.get(submitted["Location"]).content.decode()
    assert "Angaben in „Meine Daten“ übernehmen?" in receipt
    assert 'value="street"' in receipt and 'value="city"' not in receipt
    take_over = re.search(r'action="(/konto/meine-daten/uebernehmen/[^"]+)"', receipt).group(1)
    response = client.post(take_over, {"key": ["street"], "next": submitted["Location"]})
    assert response.status_code == 302 and response["Location"] == submitted["Location"]
    assert Profile.objects.get(user=erika).street == "Bahnhofstraße"
    assert "Angaben in „Meine Daten“ übernehmen?" not in client.get(submitted["Location"]).content.decode()


def test_no_prefill_for_anonymous_visitors_and_none_across_users(client, town, demo_services, erika, make_user):
    base = _start(client, town)
    page = client.get(f"{base}/schritt/1/").content.decode()
    assert _value(page, "owner.family_name") == "" and "prefill-hint" not in page

    other = Client()
    other.force_login(make_user("max@example.org", first_name="Max", last_name="Beispiel"))
    other_page = other.get(f"{_start(other, town)}/schritt/1/").content.decode()
    assert _value(other_page, "owner.family_name") == "Beispiel"
    assert "Mustermann" not in other_page and "Hauptstraße" not in other_page

    # Erika's draft link opened by Max shows no "taken over from your profile" marks, and Max cannot take over values.
    client.force_login(erika)
    erika_base = _start(client, town)
    foreign = other.get(f"{erika_base}/schritt/1/").content.decode()
    assert "prefill-hint" not in foreign


def test_take_over_of_another_persons_application_is_404(client, town, demo_services, erika, make_user, dog_data):
    from rathaus.applications.services import application_submit

    result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data, applicant=erika)
    intruder = make_user("max@example.org")
    client.force_login(intruder)
    response = client.post(f"/konto/meine-daten/uebernehmen/{town.slug}/{result.application.reference}/", {"key": ["street"]})
    assert response.status_code == 404
    assert not Profile.objects.filter(user=intruder).exists()


def _assistance_code(erika) -> str:
    """The code Erika makes on her account page (as she would read it out: two groups of four)."""
    citizen = Client()
    citizen.force_login(erika)
    page = citizen.post("/konto/meine-daten/freigabecode/").content.decode()
    return re.search(r'id="assistance-code">([0-9 ]+)<', page).group(1)


def test_assisted_entry_fills_the_form_with_her_data_only_with_the_code_she_made(staff_client, town, demo_services,
                                                                                 erika):
    from rathaus.applications.models import Draft

    url = f"/m/{town.slug}/verwaltung/erfassen/"
    office = {"service": "hund-anmelden", "channel": "office"}
    plain = staff_client.post(url, office)
    page = staff_client.get(plain["Location"]).content.decode()
    assert _value(page, "owner.family_name") == ""

    # Her address alone is not enough: it needs her consent, the code from her account.
    no_code = staff_client.post(url, {**office, "person": "erika@example.org"})
    assert no_code.status_code == 422 and "Freigabecode ein" in no_code.content.decode()
    code = _assistance_code(erika)
    wrong = "00000000" if code.replace(" ", "") != "00000000" else "11111111"
    refusals = [staff_client.post(url, {**office, "person": person, "code": c})
                for person, c in (("erika@example.org", wrong), ("niemand@example.org", code))]
    # The same answer for a wrong code and an address without an account: staff learn nothing from it.
    assert {r.status_code for r in refusals} == {422}
    assert len({re.search(r'id="as-person-error".*?</div>', r.content.decode(), re.S).group(0) for r in refusals}) == 1
    assert "passen zu keinem Bürgerkonto" in refusals[0].content.decode()
    assert not AuditEntry.objects.filter(action="account.profile_disclosed").exists()
    drafts = Draft.objects.count()

    named = staff_client.post(url, {**office, "person": "Erika@example.org", "code": f" {code} "})
    page = staff_client.get(named["Location"]).content.decode()
    assert _value(page, "owner.family_name") == "Mustermann"
    assert "prefill-hint" in page
    assert Draft.objects.count() == drafts + 1 and Draft.objects.latest("id").user == erika
    entry = AuditEntry.objects.get(action="account.profile_disclosed")
    assert entry.municipality == town and entry.object_id == str(erika.pk)
    # Used once: the same code opens nothing a second time.
    again = staff_client.post(url, {**office, "person": "erika@example.org", "code": code})
    assert again.status_code == 422 and Draft.objects.count() == drafts + 1


def test_a_code_is_gone_after_five_wrong_tries_and_after_thirty_minutes(staff_client, town, demo_services, erika):
    from datetime import timedelta

    from django.utils import timezone

    from rathaus.accounts.models import AssistanceCode

    url = f"/m/{town.slug}/verwaltung/erfassen/"
    office = {"service": "hund-anmelden", "channel": "office", "person": "erika@example.org"}
    code = _assistance_code(erika)
    wrong = "00000000" if code.replace(" ", "") != "00000000" else "11111111"
    for _ in range(5):
        assert staff_client.post(url, {**office, "code": wrong}).status_code == 422
    assert staff_client.post(url, {**office, "code": code}).status_code == 422  # guessed at: no longer valid
    assert AuditEntry.objects.filter(action="account.assistance_code_refused").count() == 5

    code = _assistance_code(erika)  # a new one works again
    AssistanceCode.objects.filter(user=erika).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert staff_client.post(url, {**office, "code": code}).status_code == 422
    code = _assistance_code(erika)
    assert staff_client.post(url, {**office, "code": code}).status_code == 302


def test_a_new_code_replaces_the_old_one_and_staff_accounts_make_none(client, town, erika, make_staff):
    from rathaus.accounts.models import AssistanceCode
    from rathaus.accounts.services import assistance_code_redeem

    first, second = _assistance_code(erika), _assistance_code(erika)
    assert AssistanceCode.objects.filter(user=erika).count() == 1
    staff = make_staff(town)
    if first != second:
        assert assistance_code_redeem(email=erika.email, code=first, actor=staff, municipality=town) is None
    assert assistance_code_redeem(email=erika.email, code=second, actor=staff, municipality=town) == erika
    client.force_login(staff)
    assert client.post("/konto/meine-daten/freigabecode/").status_code == 404
    assert not AssistanceCode.objects.filter(user=staff).exists()


@pytest.mark.parametrize(("field", "value"), [
    ("last_name", "Muster@mann"), ("street", "Haupt{straße}"), ("city", "Muster<stadt>"), ("house_number", "12 a"),
    ("postal_code", "9999"), ("phone", "0170-ABC"),
])
def test_the_profile_refuses_what_the_forms_would_refuse(field, value):
    # The profile shares the forms' patterns, so data taken over from it never fails the form.
    from rathaus.accounts.forms import ProfileForm
    from rathaus.catalog import demo_forms

    data = {"first_name": "Erika", "last_name": "Mustermann", field: value}
    form = ProfileForm(data)
    assert not form.is_valid() and field in form.errors
    pattern = {"last_name": demo_forms.NAME_PATTERN, "street": demo_forms.NAME_PATTERN, "city": demo_forms.NAME_PATTERN,
               "house_number": demo_forms.HOUSE_NUMBER_PATTERN, "postal_code": demo_forms.POSTCODE_PATTERN,
               "phone": demo_forms.PHONE_PATTERN}[field]
    assert re.match(pattern, value) is None
    assert ProfileForm({"first_name": "Erika", "last_name": "Müller-Lüdenscheidt", "street": "Am Markt",
                        "house_number": "12a", "postal_code": "99999", "city": "Musterstadt",
                        "phone": "+49 (0)170 123-45"}).is_valid()
