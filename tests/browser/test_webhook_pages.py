"""The integration pages in a real browser: add a webhook, see its secret once, resend a failed delivery (axe-checked)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from test_accessibility import check

from rathaus.integration.tests.receiver import receiver  # noqa: F401 - fixture

pytestmark = pytest.mark.browser


def test_admin_adds_a_webhook_and_resends_a_failed_delivery(page: Page, town_admin, otp_code, axe, services, dog_data,
                                                            receiver, settings):  # noqa: F811
    settings.RATHAUS_WEBHOOK_MAX_ATTEMPTS = 1
    page.goto("/konto/anmelden/?next=/m/musterstadt/verwaltung/posteingang/")
    page.get_by_label("E-Mail-Adresse oder Benutzername").fill(town_admin.email)
    page.get_by_label("Passwort").fill(town_admin.password)
    page.locator("main").get_by_role("button", name="Anmelden").click()
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(town_admin.device))
    page.get_by_role("button", name="Bestätigen").click()
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Anbindung").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anbindung an Fachverfahren")
    check(page, axe, "subscriptions")

    page.get_by_role("button", name="Empfänger anlegen").click()
    expect(page.locator("#error-summary")).to_be_focused()
    check(page, axe, "subscriptions with errors")

    page.get_by_label("Bezeichnung").fill("Hundesteuer-Fachverfahren")
    page.get_by_label("Adresse (URL) – nur bei Webhook").fill(receiver.url)
    page.get_by_role("button", name="Empfänger anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Empfänger angelegt")
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("whsec_")
    check(page, axe, "secret shown once")

    from rathaus.applications.services import application_submit

    receiver.statuses = [500]
    reference = application_submit(municipality=services["dog"].municipality, service=services["dog"],
                                   data=dog_data).application.reference
    sent = len(receiver.requests)  # the submission (refused with 500) and the receipt added to the case file
    assert sent >= 1

    page.get_by_role("link", name="Fertig – zurück zur Übersicht").click()
    page.get_by_role("link", name="Fehlgeschlagene Zustellungen ansehen und erneut senden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zustellungen an Fachverfahren")
    expect(page.locator("main")).to_contain_text(reference)
    check(page, axe, "failed deliveries")
    page.get_by_role("button", name="Erneut senden").click()
    expect(page.locator(".messages")).to_contain_text("angenommen")
    assert len(receiver.requests) == sent + 1

    page.goto(f"/m/musterstadt/verwaltung/antraege/{reference}/")
    page.get_by_role("link", name="Zustellungen an Fachverfahren (Protokoll)").click()
    expect(page.locator("main")).to_contain_text("zugestellt")
    check(page, axe, "case delivery log")
