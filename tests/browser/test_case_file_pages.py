"""The pages of case files, once-only data and data protection in a real browser, axe-checked and reflowing at 320 px."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from conftest import fill_login
from playwright.sync_api import Page, expect
from test_accessibility import check

pytestmark = pytest.mark.browser


@pytest.fixture
def citizen(town):
    from conftest import PASSWORD

    from rathaus.accounts.models import User

    email = "erika@example.org"
    user = User.objects.create_user(username=email, email=email, password=PASSWORD, first_name="Erika",
                                    last_name="Mustermann", email_verified=True)
    return SimpleNamespace(user=user, email=email, password=PASSWORD)


def _log_in(page: Page, email: str, password: str, next_url: str) -> None:
    page.goto(f"/konto/anmelden/?next={next_url}")
    fill_login(page, email, password)


def test_citizen_keeps_her_data_sees_it_prefilled_and_asks_for_erasure(page: Page, citizen, services, axe):
    _log_in(page, citizen.email, citizen.password, "/konto/meine-daten/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Daten")
    check(page, axe, "my data")
    page.get_by_label("Straße").fill("Lindenweg")
    page.get_by_label("Hausnummer").fill("7")
    page.get_by_label("Postleitzahl").fill("99999")
    page.get_by_label("Ort").fill("Musterstadt")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_label("Straße")).to_have_value("Lindenweg")

    page.goto("/m/musterstadt/leistungen/hund-anmelden/")
    page.get_by_role("button", name="Antrag online stellen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Halterin oder Halter")
    token = page.url.split("/antrag/")[1].split("/")[0]
    # The owner's name comes from her account: marked as taken over, and still hers to change.
    expect(page.get_by_text("aus „Meine Daten“", exact=False).first).to_be_visible()
    check(page, axe, "prefilled form step")

    page.goto(f"/m/musterstadt/antrag/{token}/vertretung/")
    check(page, axe, "representation")

    page.goto("/konto/meine-daten/loeschen/")
    check(page, axe, "erasure request")

    # Help at the office: she makes a release code and reads it out.
    page.goto("/konto/meine-daten/")
    page.get_by_role("link", name="Freigabecode erzeugen").click()
    page.get_by_role("button", name="Code erzeugen").click()
    expect(page.locator("#assistance-code")).to_have_text(re.compile(r"^\d{4} \d{4}$"))
    check(page, axe, "release code")


def test_staff_pages_of_the_case_file_and_integration(page: Page, town_admin, otp_code, axe, dog_application):
    _log_in(page, town_admin.email, town_admin.password, f"/m/musterstadt/verwaltung/antraege/{dog_application.reference}/")
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(town_admin.device))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(dog_application.reference)
    expect(page.get_by_role("heading", name="E-Akte")).to_be_visible()

    base = f"/m/musterstadt/verwaltung/antraege/{dog_application.reference}"
    for label, path in (("request documents", "/unterlagen-nachfordern/"), ("staff upload", "/akte/neu/"),
                        ("legal hold", "/aufbewahrungssperre/")):
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check(page, axe, label)
    page.goto(base + "/unterlagen-nachfordern/")
    page.locator("main").get_by_role("button", name="Unterlagen nachfordern").click()
    expect(page.locator("#error-summary")).to_be_focused()
    check(page, axe, "request documents with errors", reflow=False)

    # Assisted entry: her account's data only with her release code; a wrong one is named.
    page.goto("/m/musterstadt/verwaltung/erfassen/")
    check(page, axe, "assisted entry")
    page.get_by_label("E-Mail-Adresse ihres Kontos").fill("erika@example.org")
    page.get_by_label("Freigabecode (8 Ziffern)").fill("1234 5678")
    page.locator("main").get_by_role("button", name="Formular öffnen").click()
    expect(page.get_by_text("passen zu keinem Bürgerkonto")).to_be_visible()
    check(page, axe, "assisted entry with an error", reflow=False)

    for label, path in (("retention rules", "/m/musterstadt/verwaltung/aufbewahrung/"),
                        ("data protection requests", "/m/musterstadt/verwaltung/datenschutz/"),
                        ("API tokens", "/m/musterstadt/verwaltung/api-zugaenge/")):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check(page, axe, label)


def test_a_citizen_who_forgot_her_password_sets_a_new_one(page: Page, citizen, axe):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    page.goto("/konto/anmelden/")
    page.locator("main").get_by_role("link", name="Passwort vergessen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passwort vergessen")
    check(page, axe, "password reset")
    page.get_by_label("E-Mail-Adresse").fill(citizen.email)
    page.get_by_role("button", name="Link anfordern").click()
    check(page, axe, "password reset sent")

    # The link of the e-mail, made as the e-mail makes it.
    uid = urlsafe_base64_encode(force_bytes(citizen.user.pk))
    page.goto(f"/konto/passwort-neu/{uid}/{default_token_generator.make_token(citizen.user)}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Neues Passwort festlegen")
    check(page, axe, "new password")
    page.locator("[name=new_password1]").fill("kurz")
    page.locator("[name=new_password2]").fill("kurz")
    page.get_by_role("button", name="Passwort speichern").click()
    expect(page.locator("#error-summary")).to_be_focused()
    check(page, axe, "new password with errors", reflow=False)
    page.locator("[name=new_password1]").fill("Lindenweg-7-Musterstadt")
    page.locator("[name=new_password2]").fill("Lindenweg-7-Musterstadt")
    page.get_by_role("button", name="Passwort speichern").click()
    check(page, axe, "password set")
    page.goto(f"/konto/passwort-neu/{uid}/{default_token_generator.make_token(citizen.user)}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Der Link ist ungültig oder abgelaufen")
