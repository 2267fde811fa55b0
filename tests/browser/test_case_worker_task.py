"""A case worker decides a user task of a running process: the dog tax exemption is checked by hand.

A citizen registers a dog as a certified rescue dog and uploads the proof (a PDF). The demo process
("Hund anmelden") decides the tax by DMN; an exemption with a proof needs a human, so the process
stops at the user task "Nachweis für die Befreiung prüfen" in the case workers' team inbox. A case
worker logs in with the second factor, takes the task, decides it with the keyboard only and the
process moves on by itself: the citizen's status page shows the decision, the case timeline the
completed task. axe-core checks the task inbox and the task detail page on the way.
"""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import pytest
from conftest import fill_login
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

TOWN = "/m/musterstadt"
TASKS_MINE = f"{TOWN}/verwaltung/aufgaben/"
TASKS_TEAM = f"{TOWN}/verwaltung/aufgaben/team/"
TASK_NAME = "Nachweis für die Befreiung prüfen"
PROOF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def exemption_case(town, services, dog_data):
    """A dog registration with an exemption for a rescue dog and its proof, its process waiting at the review task."""
    from rathaus.applications.services import application_submit
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import TaskState, UserTask
    from rathaus.processes.services import process_start

    attach_demo_processes(town, {"hund-anmelden": services["dog"]})
    data = dog_data
    data["reduction"] = {
        "exemption": "rettungshund",
        "proof": {"filename": "pruefungszeugnis.pdf", "content_type": "application/pdf",
                  "content": base64.b64encode(PROOF).decode()},
    }
    result = application_submit(municipality=town, service=services["dog"], data=data)
    # The submission already started the process after commit (immediate task backend in tests);
    # process_start returns that instance (it starts a process only once per application).
    instance = process_start(application=result.application)
    assert instance is not None and instance.status == "waiting", instance and instance.error
    task = UserTask.objects.get(application=result.application)
    assert task.name == TASK_NAME and task.state == TaskState.OPEN and task.assignee is None
    result.application.refresh_from_db()
    return SimpleNamespace(
        application=result.application,
        reference=result.application.reference,
        token=result.access_token,
        task=task,
        status_before=result.application.status,
    )


def log_in(page: Page, staff, otp_code, next_path: str) -> None:
    page.goto(next_path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    fill_login(page, staff.email, staff.password)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sicherheitscode eingeben")
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(staff.device))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def facts(page: Page, term: str):
    """The <dd> of a row of the page's fact list."""
    return page.locator(".facts__row").filter(has=page.locator("dt", has_text=term)).locator("dd")


def test_case_worker_decides_the_exemption_with_the_keyboard(page: Page, staff, otp_code, axe, exemption_case, screenshot):
    from rathaus.processes.models import TaskState, UserTask

    log_in(page, staff, otp_code, TASKS_MINE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Aufgaben")
    expect(page.get_by_role("table")).to_contain_text("Keine offenen Aufgaben.")  # nobody took it yet

    tabs = page.get_by_role("navigation", name="Aufgabenlisten")
    tabs.get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aufgaben im Team")
    expect(tabs.get_by_role("link", name="Team")).to_have_attribute("aria-current", "page")
    row = page.get_by_role("row").filter(has_text=exemption_case.reference)
    expect(row).to_contain_text(TASK_NAME)
    expect(row).to_contain_text("– (Team)")
    axe(page, "team task inbox")
    screenshot(page, "tasks-team")

    task_link = row.get_by_role("link", name=TASK_NAME)
    task_link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(TASK_NAME)
    expect(facts(page, "Stand")).to_have_text("Offen")
    expect(facts(page, "Bearbeitung")).to_have_text("– (Team)")
    axe(page, "task detail (unclaimed)")

    page.get_by_role("button", name="Übernehmen").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Sie haben die Aufgabe übernommen.")
    expect(facts(page, "Bearbeitung")).to_have_text("Sabine Sachbearbeiterin")
    expect(page.get_by_role("button", name="Zurück an das Team")).to_be_visible()
    axe(page, "task detail (claimed)")
    screenshot(page, "task-detail")

    # Keyboard only: Space selects the focused radio, Tab leaves the radio group for the note.
    approve = page.get_by_role("radio", name="Befreiung anerkennen")
    approve.focus()
    page.keyboard.press("Space")
    expect(approve).to_be_checked()
    expect(page.get_by_role("radio", name="Befreiung ablehnen (normaler Steuersatz)")).not_to_be_checked()
    page.keyboard.press("Tab")
    note = page.get_by_label("Begründung / Hinweis")
    expect(note).to_be_focused()
    page.keyboard.type("Prüfungszeugnis der Rettungshundestaffel liegt vor.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Aufgabe abschließen")).to_be_focused()
    page.keyboard.press("Enter")

    # Back in the team list the task was opened from: it is done and gone from the list.
    expect(page).to_have_url(re.compile(re.escape(TASKS_TEAM) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Aufgaben im Team")
    expect(page.locator(".messages")).to_contain_text("Aufgabe erledigt.")
    expect(page.get_by_role("table")).to_contain_text("Keine offenen Aufgaben.")
    axe(page, "team task inbox after completing")

    task = UserTask.objects.get(pk=exemption_case.task.pk)
    assert task.state == TaskState.COMPLETED and task.completed_by_id == staff.user.pk
    assert task.result == {"decision": {"outcome": "approve", "note": "Prüfungszeugnis der Rettungshundestaffel liegt vor."}}

    # The case: the process ran on (DMN again, decision, notification) and the timeline says so.
    page.goto(f"{TOWN}/verwaltung/antraege/{exemption_case.reference}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Antrag {exemption_case.reference}")
    expect(facts(page, "Status")).to_have_text("Bewilligt")
    expect(page.get_by_role("link", name="pruefungszeugnis.pdf")).to_be_visible()  # the proof the worker checked
    panel = page.locator(".process-panel")
    expect(panel.get_by_role("heading", level=2)).to_contain_text("(v1, Abgeschlossen)")
    expect(panel.get_by_role("listitem").filter(has=page.get_by_role("link", name=TASK_NAME))).to_contain_text("Erledigt")
    timeline = panel.locator(".process-timeline")
    expect(timeline).to_contain_text(f"Aufgabe „{TASK_NAME}“ an die Sachbearbeitung übergeben.")
    expect(timeline).to_contain_text(f"Aufgabe „{TASK_NAME}“ übernommen von Sabine Sachbearbeiterin.")
    completed = timeline.get_by_role("listitem").filter(has_text=f"Aufgabe „{TASK_NAME}“ erledigt.")
    expect(completed).to_contain_text("Sabine Sachbearbeiterin")
    expect(timeline).to_contain_text("Steuerbefreiung nach § 4 Hundesteuersatzung")
    expect(timeline).to_contain_text("Das Verfahren ist abgeschlossen.")
    screenshot(page, "case-after-task")

    # The finished task says so instead of offering the form again.
    panel.get_by_role("link", name=TASK_NAME).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TASK_NAME)
    expect(facts(page, "Stand")).to_have_text("Erledigt")
    expect(page.locator("main")).to_contain_text("Diese Aufgabe ist erledigt.")
    expect(page.get_by_role("button", name="Aufgabe abschließen")).to_have_count(0)

    # The citizen's status page: approved, tax 0 € with the reason, the tax notice to download.
    page.goto(f"{TOWN}/status/{exemption_case.reference}/{exemption_case.token}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Stand Ihres Antrags")
    expect(facts(page, "Aktueller Status")).to_have_text("Bewilligt")
    history = page.locator(".timeline").first
    expect(history).to_contain_text("Hundesteuer: 0 € im Jahr")
    why = page.locator(".process-why")
    expect(why).to_contain_text("Steuerbefreiung nach § 4 Hundesteuersatzung")
    expect(page.get_by_role("link", name=re.compile("Hundesteuerbescheid"))).to_be_visible()
    screenshot(page, "status-after-task")


def test_completing_without_an_outcome_shows_the_error_and_changes_nothing(page: Page, staff, otp_code, axe, exemption_case):
    from rathaus.applications.models import Application
    from rathaus.processes.models import CaseEvent, ProcessInstance, TaskState, UserTask

    events_before = CaseEvent.objects.filter(application=exemption_case.application).count()
    task_path = f"{TASKS_MINE}{exemption_case.task.pk}/"
    log_in(page, staff, otp_code, task_path)
    expect(page.get_by_role("heading", level=1)).to_have_text(TASK_NAME)
    title = page.title()

    note_text = "Zeugnis ist nicht lesbar."
    page.get_by_label("Begründung / Hinweis").fill(note_text)
    page.get_by_role("button", name="Aufgabe abschließen").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("Bitte korrigieren Sie:")
    expect(page).to_have_title(f"Fehler: {title}")
    link = summary.get_by_role("link")
    expect(link).to_have_count(1)
    expect(link).to_have_text(re.compile(r"^Ergebnis: "))
    outcome = page.get_by_role("group", name="Ergebnis")
    expect(outcome).to_contain_text(re.compile("Fehler:"))
    expect(page.get_by_role("radio", name="Befreiung anerkennen")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Begründung / Hinweis")).to_have_value(note_text)  # the input is kept
    axe(page, "task detail with errors")

    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("radio", name="Befreiung anerkennen")).to_be_focused()
    expect(page).to_have_url(re.compile(re.escape(task_path) + "$"))  # the script moved focus, no navigation

    # Nothing happened: the task is still open and nobody's, the process and the application still wait.
    expect(facts(page, "Stand")).to_have_text("Offen")
    expect(facts(page, "Bearbeitung")).to_have_text("– (Team)")
    task = UserTask.objects.get(pk=exemption_case.task.pk)
    assert task.state == TaskState.OPEN and task.assignee is None and task.completed_at is None and not task.result
    assert ProcessInstance.objects.get(application=exemption_case.application).status == "waiting"
    assert Application.objects.get(pk=exemption_case.application.pk).status == exemption_case.status_before
    assert CaseEvent.objects.filter(application=exemption_case.application).count() == events_before
    page.goto(TASKS_TEAM)
    expect(page.get_by_role("row").filter(has_text=exemption_case.reference)).to_contain_text(TASK_NAME)
