"""A citizen registers her dog using nothing but the keyboard, as someone without a mouse would."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

MAX_TABS = 80


def focused(page: Page) -> dict:
    return page.evaluate(
        "() => { const e = document.activeElement; return {tag: e.tagName.toLowerCase(), id: e.id, name: e.name || '',"
        " type: e.type || '', value: e.value ?? '', text: (e.innerText || e.textContent || '').replace(/\\s+/g, ' ').trim()}; }"
    )


def tab_to(
    page: Page, *, name: str | None = None, id: str | None = None, text: str | None = None, value: str | None = None
) -> dict:
    """Press Tab until the focused control matches (`text`: its whole visible text); fail if it never does."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        now = focused(page)
        if now["tag"] in ("body", "html"):
            continue
        if (
            (name is None or now["name"] == name)
            and (id is None or now["id"] == id)
            and (text is None or now["text"] == text)
            and (value is None or now["value"] == value)
        ):
            return now
    pytest.fail(f"Tab never reached name={name} id={id} text={text} value={value}")


def type_into(page: Page, name: str, text: str) -> None:
    tab_to(page, name=name)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def press_on(page: Page, key: str = "Enter", **match) -> None:
    tab_to(page, **match)
    page.keyboard.press(key)


def skip_to_main(page: Page) -> None:
    """What a keyboard user does on every new page: the first Tab reaches the skip link."""
    if page.evaluate("() => document.activeElement.id === 'main'"):
        return  # arrived with #main in the address (a redirect keeps the fragment): already there
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Zum Inhalt springen"
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_citizen_registers_her_dog_with_the_keyboard_only(page: Page, services):
    page.goto("/m/musterstadt/")
    skip_to_main(page)
    press_on(page, text="Hund anmelden (Hundesteuer)")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hund anmelden (Hundesteuer)")
    skip_to_main(page)
    press_on(page, text="Antrag online stellen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Halterin oder Halter")
    skip_to_main(page)

    # An empty step: the error summary takes focus and links to each field.
    press_on(page, name="_next", text="Weiter")
    expect(page).to_have_title(re.compile(r"^Fehler:"))
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(8)
    page.keyboard.press("Tab")
    assert focused(page)["text"].startswith("Vorname:")
    page.keyboard.press("Enter")
    expect(page.locator("#f-owner-given_name")).to_be_focused()

    # Fix the errors, one deliberately wrong postcode first.
    page.keyboard.type("Erika")
    type_into(page, "owner.family_name", "Mustermann")
    type_into(page, "owner.birth_date", "31.01.1980")
    type_into(page, "owner.address.street", "Hauptstraße")
    type_into(page, "owner.address.house_number", "12a")
    type_into(page, "owner.address.postal_code", "9999")
    type_into(page, "owner.address.city", "Musterstadt")
    type_into(page, "owner.email", "erika@example.org")
    page.keyboard.press("Enter")  # implicit submission uses "Weiter", not another button
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(1)
    page.keyboard.press("Tab")
    assert focused(page)["text"].startswith("Postleitzahl:")
    page.keyboard.press("Enter")
    postcode = page.locator("#f-owner-address-postal_code")
    expect(postcode).to_be_focused()
    expect(postcode).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Control+A")
    page.keyboard.type("99999")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Hund")
    skip_to_main(page)
    type_into(page, "dog.name", "Bello")
    tab_to(page, name="dog.breed")
    page.keyboard.type("Labrador")  # a closed <select> picks the option typed
    expect(page.locator("[name='dog.breed']")).to_have_value("labrador")
    type_into(page, "dog.birth_date", "01.05.2024")
    press_on(page, " ", name="dog.sex", value="maennlich")
    expect(page.locator("#f-dog-sex-0")).to_be_checked()
    type_into(page, "dog.chip_number", "276098106123456")
    type_into(page, "dog.kept_since", "01.11.2026")
    type_into(page, "dog.other_dogs", "0")
    press_on(page, name="_next", text="Weiter")

    # A radio group left empty: its error link moves focus into the group.
    expect(page.get_by_role("heading", level=1)).to_have_text("Steuerermäßigung")
    skip_to_main(page)
    press_on(page, name="_next", text="Weiter")
    expect(summary).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    first_option = page.locator("#f-reduction-exemption-0")
    expect(first_option).to_be_focused()
    page.keyboard.press(" ")
    expect(first_option).to_be_checked()
    press_on(page, name="_next", text="Weiter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Erklärung")
    skip_to_main(page)
    press_on(page, " ", name="declaration.truthful")
    press_on(page, " ", name="declaration.privacy")
    press_on(page, name="_next", text="Weiter zur Übersicht")

    expect(page.get_by_role("heading", level=1)).to_have_text("Angaben prüfen und absenden")
    skip_to_main(page)
    review = page.locator("main")
    for shown in ("Erika", "Mustermann", "31.01.1980", "99999", "Labrador Retriever", "Rüde", "276098106123456"):
        expect(review).to_contain_text(shown)
    press_on(page, text="Antrag verbindlich absenden")

    expect(page.get_by_role("heading", level=1)).to_have_text("Vielen Dank – Ihr Antrag ist eingegangen")
    skip_to_main(page)
    reference = page.locator(".confirmation .reference").inner_text()
    assert re.fullmatch(r"MUS-\d{4}-000001", reference)

    tab_to(page, text="Eingangsbestätigung als PDF herunterladen")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    download = download_info.value
    assert download.suggested_filename == f"Eingangsbestaetigung-{reference}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"

    press_on(page, text="Status meines Antrags ansehen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Stand Ihres Antrags")
    expect(page.locator(".facts")).to_contain_text(reference)
    expect(page.locator(".facts")).to_contain_text("Eingegangen")


def test_error_summary_takes_focus_without_javascript(browser, live_server, services):
    """The form works without JavaScript, and the error summary still gets focus (autofocus)."""
    context = browser.new_context(base_url=live_server.url, locale="de-DE", java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/m/musterstadt/leistungen/hund-anmelden/")
        skip_to_main(page)
        press_on(page, text="Antrag online stellen")
        expect(page.get_by_role("heading", level=1)).to_have_text("Halterin oder Halter")
        skip_to_main(page)
        press_on(page, name="_next", text="Weiter")
        expect(page).to_have_title(re.compile(r"^Fehler:"))
        expect(page.locator("#error-summary")).to_be_focused()
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the browser's own fragment navigation focuses the input
        expect(page.locator("#f-owner-given_name")).to_be_focused()
    finally:
        context.close()
