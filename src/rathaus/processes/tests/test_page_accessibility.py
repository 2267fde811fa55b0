"""The process pages for keyboard and screen-reader users: buttons say what they act on, an error
summary takes the focus without JavaScript too, every page says in plain words what it is for."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from rathaus.accounts.models import Role

pytestmark = pytest.mark.django_db


def _url(name, town, **kw):
    return reverse(f"processes:{name}", kwargs={"municipality": town.slug, **kw})


def _button_names(page: str) -> list[str]:
    """Each submit button's accessible name: its text, screen-reader-only parts included."""
    return [" ".join(re.sub(r"<[^>]+>", "", inner).split())
            for inner in re.findall(r"<button[^>]*>(.*?)</button>", page, flags=re.S)]


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))


def test_each_version_button_names_the_model_and_its_version(admin_client, town, demo_processes):
    from rathaus.processes.demo import demo_files
    from rathaus.processes.models import ProcessDefinition
    from rathaus.processes.services import process_definition_create

    # A second, draft version of the dog registration beside the three published models.
    service = demo_processes["hund-anmelden"]
    process_definition_create(municipality=town, service=service, files=demo_files("hund-anmelden"), publish=False,
                              actor=None)
    assert ProcessDefinition.objects.filter(municipality=town).count() == 4
    names = [n for n in _button_names(admin_client.get(_url("definitions", town)).content.decode())
             if n.startswith(("Veröffentlichen", "Außer Betrieb nehmen"))]
    assert "Veröffentlichen (Hund anmelden (Hundesteuer), Version 2)" in names
    assert "Außer Betrieb nehmen (Hund anmelden (Hundesteuer), Version 1)" in names
    assert len(names) == len(set(names)) == 4


def test_a_refused_model_upload_shows_an_error_summary_that_takes_the_focus(admin_client, town, demo_processes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rathaus.processes.demo import demo_files

    bpmn = demo_files("hund-anmelden")[0][1].replace(b'camunda:topic="check_documents"', b'camunda:topic="no_such_step"')
    response = admin_client.post(_url("definitions", town), {
        "action": "upload", "service": demo_processes["hund-anmelden"].pk, "files": [SimpleUploadedFile("bad.bpmn", bpmn)]})
    page = response.content.decode()
    assert response.status_code == 422 and "<title>Fehler: Prozessmodelle" in page
    summary = re.search(r'<div class="kern-alert kern-alert--danger error-summary"[^>]*>', page).group(0)
    assert 'id="error-summary"' in summary and 'tabindex="-1"' in summary and "autofocus" in summary
    assert 'aria-labelledby="error-summary-title"' in summary and 'id="error-summary-title"' in page


@pytest.fixture
def open_task(submit, dog_data):
    from rathaus.processes.models import UserTask

    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "n.pdf", "content_type": "application/pdf", "content": PDF}}
    return UserTask.objects.get(application=submit("hund-anmelden", dog_data))


def test_a_task_completed_without_an_outcome_focuses_its_error_summary_without_javascript(staff_client, town, open_task):
    url = _url("task_detail", town, pk=open_task.pk)
    staff_client.post(url, {"action": "claim"})
    response = staff_client.post(url, {"action": "complete"})
    page = response.content.decode()
    assert response.status_code == 422 and "<title>Fehler: Nachweis für die Befreiung prüfen" in page
    summary = re.search(r'<div class="kern-alert kern-alert--danger error-summary"[^>]*>', page).group(0)
    assert 'id="error-summary"' in summary and "autofocus" in summary


def test_handing_a_task_on_without_choosing_to_whom_is_an_error_in_the_title_and_focused(client, town, open_task,
                                                                                         make_staff, login_verified):
    lead = login_verified(client, make_staff(town, role=Role.TEAM_LEAD))
    response = lead.post(_url("task_detail", town, pk=open_task.pk), {"action": "assign"})
    page = response.content.decode()
    assert response.status_code == 422 and "<title>Fehler: Nachweis für die Befreiung prüfen" in page
    select = re.search(r'<select[^>]*id="assignee"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in select and 'aria-describedby="assignee-error"' in select and "autofocus" in select
    assert "Bitte wählen Sie aus, an wen die Aufgabe gehen soll." in page


def test_an_upload_without_a_file_names_the_missing_file_at_the_field(admin_client, town, demo_processes):
    from rathaus.processes.models import ProcessDefinition

    before = ProcessDefinition.objects.count()
    response = admin_client.post(_url("definitions", town), {"action": "upload", "service": demo_processes["hund-anmelden"].pk})
    page = response.content.decode()
    assert response.status_code == 422 and "<title>Fehler: Prozessmodelle" in page
    summary = page.split('id="error-summary"', 1)[1].split("</div></div>", 1)[0]
    assert '<a class="kern-link" href="#up-files">BPMN- und DMN-Dateien: Bitte wählen Sie mindestens eine BPMN-Datei.</a>' in summary
    field = re.search(r'<input[^>]*id="up-files"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="up-files-error"' in field
    assert ProcessDefinition.objects.count() == before


def test_recording_a_receipt_without_choosing_which_asks_again_on_the_same_page(staff_client, town, submit, street_data,
                                                                                make_staff):
    from rathaus.processes.models import CaseEvent, ProcessInstance, UserTask
    from rathaus.processes.services import task_complete

    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=make_staff(town, "lead@musterstadt.example"),
                  data={"decision": {"outcome": "approve"}})
    # A model of the town's own may wait for two events at once: nothing is chosen for the clerk.
    ProcessInstance.objects.filter(application=application).update(
        waiting_messages=["payment_received", "backoffice_answer"])
    url = _url("case_message", town, reference=application.reference)
    assert " checked" not in staff_client.get(url).content.decode()
    events_before = CaseEvent.objects.filter(application=application).count()

    response = staff_client.post(url, {})
    page = response.content.decode()
    assert response.status_code == 422 and "<title>Fehler: Eingang erfassen" in page
    summary = page.split('id="error-summary"', 1)[1].split("</div></div>", 1)[0]
    opening = re.search(r'<div class="kern-alert kern-alert--danger error-summary"[^>]*>', page).group(0)
    assert 'id="error-summary"' in opening and "autofocus" in opening
    assert '<a class="kern-link" href="#message-1">Was ist eingegangen?: Bitte wählen Sie aus, was eingegangen ist.</a>' in summary
    fieldset = re.search(r'<fieldset[^>]*>', page).group(0)
    assert 'aria-describedby="message-error"' in fieldset
    assert page.count('aria-invalid="true"') == 2  # both choices
    assert CaseEvent.objects.filter(application=application).count() == events_before


def _case_page(client, town, application) -> str:
    return client.get(reverse("applications:staff_detail", kwargs={"municipality": town.slug,
                                                                   "reference": application.reference})).content.decode()


def test_without_javascript_the_diagram_box_says_why_it_is_empty_and_leads_to_the_steps_in_words(staff_client, town,
                                                                                                  open_task):
    page = _case_page(staff_client, town, open_task.application)
    box = re.search(r'<div class="process-diagram" id="process-diagram"[^>]*>(.*?)</div>', page, flags=re.S)
    # Not a group until the script has drawn a diagram into it: no empty, labelled group without JavaScript.
    assert "role=" not in box.group(0).split(">", 1)[0] and "aria-label=" not in box.group(0).split(">", 1)[0]
    text = " ".join(re.sub(r"<[^>]+>", "", box.group(1)).split())
    assert text == ("Das Prozessdiagramm lässt sich nur mit JavaScript anzeigen. Jeder Schritt steht auch in Worten "
                    "weiter unten: Erledigte und aktuelle Schritte · Aufgaben · Verlauf des Verfahrens")
    assert re.findall(r'href="(#[^"]+)"', box.group(1)) == ["#process-steps-title", "#process-tasks-title",
                                                            "#process-timeline-title"]
    assert '<h3 class="kern-heading-small" id="process-tasks-title">Aufgaben</h3>' in page
    assert '<h3 class="kern-heading-small" id="process-timeline-title">Verlauf des Verfahrens</h3>' in page
    # The label the script gives the drawn diagram names the marks, not only their colours.
    label = re.search(r'data-label="([^"]*)"', box.group(0)).group(1)
    assert "Häkchen" in label and "gestricheltem Rahmen" in label


def test_the_legend_shows_done_and_current_steps_by_shape_as_well_as_colour(staff_client, town, open_task):
    page = _case_page(staff_client, town, open_task.application)
    legend = re.search(r'<ul class="process-legend[^"]*" id="process-legend" hidden>(.*?)</ul>', page, flags=re.S).group(1)
    done, current = re.findall(r"<li>(.*?)</li>", legend, flags=re.S)
    assert '<span class="legend-shape legend-shape--completed" aria-hidden="true"><span class="process-badge"></span></span>' in done
    assert done.endswith("erledigt (mit Häkchen)")
    assert '<span class="legend-shape legend-shape--current" aria-hidden="true"></span>' in current
    assert current.endswith("aktuell (dicker, gestrichelter Rahmen)")


def test_the_case_page_links_its_tasks_and_timeline_as_csv_and_json_by_name(staff_client, town, open_task, submit,
                                                                             dog_data):
    def links(page: str) -> dict[str, str]:
        return {" ".join(re.sub(r"<[^>]+>", "", name).split()): href
                for href, name in re.findall(r'<a class="kern-link" href="([^"]+)" download>(.*?)</a>', page, flags=re.S)}

    reference = open_task.application.reference
    base = f"/m/{town.slug}/verwaltung/antraege/{reference}/"
    found = links(_case_page(staff_client, town, open_task.application))
    assert {name: found.get(name) for name in ("Aufgaben als CSV", "Aufgaben als JSON", "Verlauf als CSV",
                                               "Verlauf als JSON")} == {
        "Aufgaben als CSV": f"{base}aufgaben.csv", "Aufgaben als JSON": f"{base}aufgaben.json",
        "Verlauf als CSV": f"{base}verlauf.csv", "Verlauf als JSON": f"{base}verlauf.json"}
    # A case decided without anyone's task has a timeline to export and no empty task list.
    dog_data["reduction"] = {"exemption": "keine"}
    found = links(_case_page(staff_client, town, submit("hund-anmelden", dog_data)))
    assert "Verlauf als CSV" in found and "Verlauf als JSON" in found
    assert "Aufgaben als CSV" not in found and "Aufgaben als JSON" not in found
