"""The process pages in the states the site-wide axe walk does not reach, axe-checked.

The walk (test_axe_every_page.py) sees each route once, in German and without errors. Here: the
process models page after an upload without a file and after a refused one (the error summary
takes the focus), the task page after handing a task on to nobody and the record-receipt page
sent without a choice (the error takes the focus), every process page in English, where the
recorded timeline and the rules stay German and say so, and the case page's process diagram: drawn
(done and current steps marked by more than colour), not loading, and without JavaScript.
"""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import pytest
from conftest import fill_login
from playwright.sync_api import Page, expect
from test_accessibility import check

pytestmark = pytest.mark.browser

TOWN = "/m/musterstadt"
TASK_NAME = "Nachweis für die Befreiung prüfen"
PROOF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def case(town, services, dog_data):
    """A dog registration with an exemption: its published process waits at the review task."""
    from rathaus.applications.services import application_submit
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import UserTask
    from rathaus.processes.services import process_start

    attach_demo_processes(town, {"hund-anmelden": services["dog"]})
    dog_data["reduction"] = {"exemption": "rettungshund", "proof": {
        "filename": "zeugnis.pdf", "content_type": "application/pdf", "content": base64.b64encode(PROOF).decode()}}
    result = application_submit(municipality=town, service=services["dog"], data=dog_data)
    process_start(application=result.application)
    return SimpleNamespace(reference=result.application.reference, token=result.access_token,
                           task=UserTask.objects.get(application=result.application))


def _log_in(page: Page, town_admin, otp_code, next_path: str) -> None:
    page.goto(f"/konto/anmelden/?next={next_path}")
    fill_login(page, town_admin.email)
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(town_admin.device))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def test_a_refused_model_and_a_task_handed_to_nobody_show_focused_errors(page: Page, town_admin, otp_code, axe, case):
    from rathaus.processes.demo import demo_files

    _log_in(page, town_admin, otp_code, f"{TOWN}/verwaltung/prozesse/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Prozessmodelle")
    expect(page.get_by_role("button", name="Außer Betrieb nehmen (Hund anmelden (Hundesteuer), Version 1)")).to_be_visible()
    title = page.title()

    page.get_by_role("button", name="Prüfen und speichern").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(page).to_have_title(f"Fehler: {title}")
    expect(page.get_by_label("BPMN- und DMN-Dateien")).to_have_accessible_description(
        "Fehler: Bitte wählen Sie mindestens eine BPMN-Datei.")
    check(page, axe, "process models: upload without a file", reflow=False)

    bpmn = demo_files("hund-anmelden")[0][1].replace(b'camunda:topic="check_documents"', b'camunda:topic="no_such_step"')
    page.get_by_label("BPMN- und DMN-Dateien").set_input_files(
        {"name": "falsch.bpmn", "mimeType": "application/xml", "buffer": bpmn})
    page.get_by_role("button", name="Prüfen und speichern").click()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("Das Modell wurde nicht gespeichert:")
    expect(summary).to_contain_text("(falsch.bpmn, Fehler): Automatisierungsschritt «no_such_step»")
    expect(page).to_have_title(f"Fehler: {title}")
    check(page, axe, "process models with a refused upload")

    page.goto(f"{TOWN}/verwaltung/aufgaben/{case.task.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(TASK_NAME)
    page.get_by_role("button", name="Zuweisen").click()
    choice = page.get_by_label("An Kollegin/Kollegen")
    expect(choice).to_be_focused()
    expect(choice).to_have_accessible_description(re.compile("Bitte wählen Sie aus, an wen die Aufgabe gehen soll."))
    expect(page).to_have_title(re.compile(f"^Fehler: {TASK_NAME}"))
    check(page, axe, "task handed on to nobody", reflow=False)


def test_the_process_pages_in_english_have_no_axe_violations(page: Page, town_admin, otp_code, axe, case, live_server):
    _log_in(page, town_admin, otp_code, f"{TOWN}/verwaltung/aufgaben/team/")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    for path, heading in ((f"{TOWN}/verwaltung/aufgaben/team/", "Team tasks"),
                          (f"{TOWN}/verwaltung/aufgaben/ueberfaellig/", "Overdue tasks"),
                          (f"{TOWN}/verwaltung/aufgaben/{case.task.pk}/", TASK_NAME),
                          (f"{TOWN}/verwaltung/prozesse/", "Process models"),
                          (f"{TOWN}/verwaltung/antraege/{case.reference}/", f"Application {case.reference}"),
                          (f"{TOWN}/status/{case.reference}/{case.token}/", "Progress of your application")):
        page.goto(path, wait_until="networkidle")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check(page, axe, f"{path} in English")
    # The status page's "why" (the rules' own words stay German, and say so).
    why = page.locator(".process-why")
    expect(why.get_by_role("heading")).to_have_text("Why this decision was made")
    expect(why.get_by_role("listitem").first).to_have_attribute("lang", "de")


def test_a_diagram_that_cannot_load_says_so_in_the_page_language(page: Page, town_admin, otp_code, case, live_server):
    path = f"{TOWN}/verwaltung/antraege/{case.reference}/"
    _log_in(page, town_admin, otp_code, path)
    page.route(re.compile(r".*/prozess\.json$"), lambda route: route.abort())
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(path)
    box = page.locator("#process-diagram")
    expect(box).to_have_text("The process diagram is not available. Every step is also described in words below: "
                             "Completed and current steps · Tasks · Process history")
    expect(box).not_to_have_attribute("role", re.compile("."))
    expect(page.locator("#process-legend")).to_be_hidden()


def test_the_drawn_diagram_marks_done_and_current_steps_beyond_colour(page: Page, town_admin, otp_code, axe, case):
    path = f"{TOWN}/verwaltung/antraege/{case.reference}/"
    _log_in(page, town_admin, otp_code, path)
    diagram = page.get_by_role("group", name="Prozessdiagramm: erledigte Schritte mit Häkchen (grün), aktuelle Schritte "
                                             "mit dickem, gestricheltem Rahmen (blau)")
    expect(diagram.locator(".djs-element.is-current")).to_have_count(1)
    state = page.request.get(f"{path}prozess.json").json()
    assert state["current"] == ["review"] and len(state["completed"]) >= 3
    drawn = [i for i in state["completed"] if diagram.locator(f'.djs-element[data-element-id="{i}"]').count()]
    assert len(drawn) >= 3  # the start event, the preparation, the completeness check …
    for element_id in drawn:
        expect(diagram.locator(f'.djs-element[data-element-id="{element_id}"]')).to_have_class(re.compile(r"\bis-completed\b"))
    # Each done step carries a check mark; the current one a thick dashed frame; neither is colour alone.
    expect(diagram.locator(".djs-overlay .process-badge")).to_have_count(len(drawn))
    frame = diagram.locator('.djs-element.is-current[data-element-id="review"] .djs-visual > :first-child')
    assert frame.evaluate("e => [getComputedStyle(e).strokeDasharray, getComputedStyle(e).strokeWidth]") == ["10px, 5px", "4px"]
    legend = page.locator("#process-legend")
    expect(legend).to_be_visible()
    expect(legend.get_by_role("listitem")).to_have_text(["erledigt (mit Häkchen)", "aktuell (dicker, gestrichelter Rahmen)"])
    expect(legend.locator(".legend-shape--completed .process-badge")).to_be_visible()
    # The way to the steps in words stays, under the diagram, without the "needs JavaScript" reason.
    after = page.locator("#process-diagram + .process-diagram__fallback")
    expect(after).to_be_visible()
    expect(after.locator(".process-diagram__reason")).to_be_hidden()
    expect(after.get_by_role("link")).to_have_text(["Erledigte und aktuelle Schritte", "Aufgaben", "Verlauf des Verfahrens"])
    check(page, axe, "case page with its process diagram drawn")


def test_without_javascript_the_diagram_box_points_to_the_steps_in_words(browser, page: Page, town_admin, otp_code, case,
                                                                         live_server):
    path = f"{TOWN}/verwaltung/antraege/{case.reference}/"
    _log_in(page, town_admin, otp_code, path)
    context = browser.new_context(base_url=live_server.url, locale="de-DE", java_script_enabled=False,
                                  storage_state=page.context.storage_state())
    try:
        plain = context.new_page()
        plain.goto(path)
        box = plain.locator("#process-diagram")
        expect(box).to_have_text("Das Prozessdiagramm lässt sich nur mit JavaScript anzeigen. Jeder Schritt steht auch "
                                 "in Worten weiter unten: Erledigte und aktuelle Schritte · Aufgaben · Verlauf des Verfahrens")
        # The text alternative of the diagram: the done steps and the current one, by name and in words.
        steps = plain.locator(".process-steps").get_by_role("listitem")
        expect(steps.first).to_have_text("Antrag eingegangen – erledigt")
        expect(steps.last).to_have_text("Nachweis für die Befreiung prüfen – aktuell")
        # No empty group named after a diagram that is not there, and no legend for it.
        expect(box).not_to_have_attribute("role", re.compile("."))
        expect(box).not_to_have_attribute("aria-label", re.compile("."))
        expect(plain.locator("#process-legend")).to_be_hidden()
        box.get_by_role("link", name="Verlauf des Verfahrens").click()
        expect(plain).to_have_url(re.compile("#process-timeline-title$"))
        expect(plain.locator("#process-timeline-title")).to_have_text("Verlauf des Verfahrens")
        expect(box.get_by_role("link", name="Aufgaben")).to_have_attribute("href", "#process-tasks-title")
        expect(plain.locator("#process-tasks-title")).to_have_text("Aufgaben")
    finally:
        context.close()


def test_recording_a_receipt_without_a_choice_shows_a_focused_error(page: Page, town_admin, otp_code, axe, case):
    from rathaus.processes.models import ProcessInstance

    ProcessInstance.objects.filter(application__reference=case.reference).update(
        waiting_messages=["payment_received", "backoffice_answer"])
    path = f"{TOWN}/verwaltung/antraege/{case.reference}/eingang/"
    _log_in(page, town_admin, otp_code, path)
    expect(page.get_by_role("radio", name="Zahlung eingegangen")).not_to_be_checked()
    page.locator("main").get_by_role("button", name="Eingang erfassen").click()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.get_by_role("group", name="Was ist eingegangen?")).to_have_accessible_description(
        "Fehler: Bitte wählen Sie aus, was eingegangen ist.")
    check(page, axe, "record receipt without a choice")
