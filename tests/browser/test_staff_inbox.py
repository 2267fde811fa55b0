"""Staff log in with a second factor, find a new application in the inbox and answer the citizen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_staff_log_in_with_2fa_and_change_the_status(page: Page, staff, otp_code, dog_application):
    inbox_path = "/m/musterstadt/verwaltung/posteingang/"
    page.goto(inbox_path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")  # staff pages need a login

    page.get_by_label("E-Mail-Adresse oder Benutzername").fill(staff.email)
    page.get_by_label("Passwort").fill(staff.password)
    page.locator("main").get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sicherheitscode eingeben")
    code = page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App")
    code.fill(otp_code(staff.device))
    page.get_by_role("button", name="Bestätigen").click()

    expect(page).to_have_url(f"{page.url.split('/m/')[0]}{inbox_path}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Posteingang")
    row = page.get_by_role("row").filter(has_text=dog_application.reference)
    expect(row).to_contain_text("Hund anmelden (Hundesteuer)")
    expect(row).to_contain_text("Erika Mustermann")
    expect(row).to_contain_text("Eingegangen")
    row.get_by_role("link", name=dog_application.reference).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Antrag {dog_application.reference}")
    page.get_by_label("Neuer Status").select_option(label="Rückfrage an Sie")
    message = "Bitte senden Sie uns noch ein Foto des Heimtierausweises."
    page.get_by_label("Nachricht an die antragstellende Person").fill(message)
    page.get_by_role("button", name="Status speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Status geändert.")
    expect(page.locator(".facts")).to_contain_text("Rückfrage an Sie")
    expect(page.locator(".timeline")).to_contain_text(message)

    # The citizen reads the same text on her status page.
    page.goto(f"/m/musterstadt/status/{dog_application.reference}/{dog_application.token}/")
    expect(page.locator(".timeline")).to_contain_text(message)
    expect(page.locator(".facts")).to_contain_text("Rückfrage an Sie")
