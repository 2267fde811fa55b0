"""axe-core (WCAG 2.0/2.1 A and AA rules) finds nothing on the pages citizens and staff use.

The walk goes through every step of the dog registration twice, empty (errors shown) and filled,
and also checks reflow (WCAG 1.4.10): at 320 CSS pixels no page may scroll sideways.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

DOG_STEPS = [
    (
        "Halterin oder Halter",
        {
            "owner.given_name": "Erika",
            "owner.family_name": "Mustermann",
            "owner.birth_date": "31.01.1980",
            "owner.address.street": "Hauptstraße",
            "owner.address.house_number": "12a",
            "owner.address.postal_code": "99999",
            "owner.address.city": "Musterstadt",
            "owner.email": "erika@example.org",
        },
    ),
    (
        "Ihr Hund",
        {
            "dog.name": "Bello",
            "dog.breed": "labrador",
            "dog.birth_date": "01.05.2024",
            "dog.sex": "maennlich",
            "dog.chip_number": "276098106123456",
            "dog.kept_since": "01.11.2026",
            "dog.other_dogs": "0",
        },
    ),
    ("Steuerermäßigung", {"reduction.exemption": "blindenfuehrhund"}),
    ("Erklärung", {"declaration.truthful": True, "declaration.privacy": True}),
]


def fill_step(page: Page, values: dict) -> None:
    for name, value in values.items():
        field = page.locator(f"[name='{name}']")
        if value is True:
            field.check()
        elif field.first.get_attribute("type") == "radio":
            page.locator(f"[name='{name}'][value='{value}']").check()
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def reflows(page: Page, label: str) -> None:
    """WCAG 1.4.10: content fits 320 CSS pixels without horizontal scrolling (tables may scroll inside)."""
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    try:
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 320:
            wide = page.evaluate(
                "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 321)"
                ".slice(0, 5).map(e => e.outerHTML.slice(0, 120))"
            )
            pytest.fail(f"{label}: page is {width}px wide at a 320px viewport; too wide: {wide}")
    finally:
        page.set_viewport_size(size)


def check(page: Page, axe, label: str, *, reflow: bool = True) -> None:
    axe(page, label)
    if reflow:
        reflows(page, label)


def test_citizen_pages_have_no_axe_violations(page: Page, services, axe, screenshot):
    page.goto("/")
    check(page, axe, "home")
    page.goto("/hilfe/")
    check(page, axe, "help", reflow=False)
    page.goto("/m/musterstadt/")
    check(page, axe, "catalogue")
    screenshot(page, "catalogue")
    page.get_by_role("link", name="Hund anmelden (Hundesteuer)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hund anmelden")
    check(page, axe, "service page")
    page.get_by_role("button", name="Antrag online stellen").click()

    for index, (title, values) in enumerate(DOG_STEPS, start=1):
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        check(page, axe, f"step {index}", reflow=index == 1)
        screenshot(page, f"dog-step-{index}")
        page.locator("button.kern-btn[name=_next]").click()
        expect(page.locator("#error-summary")).to_be_focused()
        check(page, axe, f"step {index} with errors", reflow=index in (1, 3))
        screenshot(page, f"dog-step-{index}-errors")
        fill_step(page, values)
        if index == 3:
            page.locator("[name='reduction.proof']").set_input_files(
                files=[{"name": "ausweis.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}]
            )
        page.locator("button.kern-btn[name=_next]").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Angaben prüfen und absenden")
    check(page, axe, "review")
    screenshot(page, "review")
    page.get_by_role("button", name="Antrag verbindlich absenden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vielen Dank – Ihr Antrag ist eingegangen")
    check(page, axe, "receipt")
    screenshot(page, "receipt")
    page.get_by_role("link", name="Status meines Antrags ansehen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stand Ihres Antrags")
    check(page, axe, "status page")
    screenshot(page, "status-page")

    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Antragsstatus").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Antragsstatus abrufen")
    check(page, axe, "status lookup", reflow=False)
    page.get_by_label("Vorgangsnummer").fill("falsch")
    page.get_by_role("button", name="Status anzeigen").click()
    expect(page.locator("#error-summary")).to_be_focused()
    check(page, axe, "status lookup with errors")


def test_staff_pages_have_no_axe_violations(page: Page, staff, otp_code, axe, dog_application, screenshot):
    page.goto("/konto/anmelden/?next=/m/musterstadt/verwaltung/posteingang/")
    check(page, axe, "login")
    screenshot(page, "login")
    page.get_by_label("E-Mail-Adresse oder Benutzername").fill(staff.email)
    page.get_by_label("Passwort").fill("falsch")
    page.get_by_role("button", name="Anmelden", exact=True).last.click()
    expect(page.locator("#error-summary")).to_be_focused()
    check(page, axe, "login with errors", reflow=False)
    page.get_by_label("Passwort").fill(staff.password)
    page.locator("main").get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sicherheitscode eingeben")
    check(page, axe, "2FA")
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(staff.device))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Posteingang")
    check(page, axe, "inbox")
    screenshot(page, "inbox")
    page.get_by_role("link", name=dog_application.reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(dog_application.reference)
    check(page, axe, "staff detail")
    screenshot(page, "staff-detail")
