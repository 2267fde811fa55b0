"""The staff case page's process panel in words, for users who cannot see the diagram or its colours.

The diagram marks done and current steps, but only for a sighted user with JavaScript, and at
320 CSS pixels (400 % zoom) it is shrunk to fit and unreadable. The case page therefore lists the
same steps, named as in the model, with their state in words: without JavaScript, for a screen
reader and at any zoom. An overdue task is called overdue there, as in the task inbox.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _steps(client, town, application) -> tuple[str, list[str]]:
    page = client.get(reverse("applications:staff_detail", kwargs={"municipality": town.slug,
                                                                   "reference": application.reference})).content.decode()
    heading = re.search(r'<h3 class="kern-heading-small" id="process-steps-title">(.*?)</h3>', page)
    assert heading, "no list of the steps in words"
    steps = re.search(r'<ol class="kern-list process-steps"[^>]*>(.*?)</ol>', page, flags=re.S).group(1)
    return page, [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in re.findall(r"<li>(.*?)</li>", steps, flags=re.S)]


def test_the_case_page_lists_the_done_and_the_current_steps_in_words(staff_client, town, open_task):
    page, steps = _steps(staff_client, town, open_task.application)
    assert '<h3 class="kern-heading-small" id="process-steps-title">Erledigte und aktuelle Schritte</h3>' in page
    # Done in the order they were done, the current one last and marked by a word, not by colour.
    assert steps[0] == "Antrag eingegangen – erledigt"
    assert "Vorgang vorbereiten – erledigt" in steps and "Hundesteuer festsetzen (DMN) – erledigt" in steps
    assert steps[-1] == "Nachweis für die Befreiung prüfen – aktuell"
    assert "Nachweis für die Befreiung prüfen – erledigt" not in steps
    # Only what the diagram marks: steps not reached yet are not listed.
    assert not any(step.startswith("Steuerbescheid erstellen") for step in steps)
    # The box that holds the diagram leads there first, also when there is no diagram.
    box = re.search(r'<div class="process-diagram" id="process-diagram"[^>]*>(.*?)</div>', page, flags=re.S).group(1)
    assert re.findall(r'href="(#[^"]+)"', box)[0] == "#process-steps-title"


def test_the_steps_in_words_are_english_and_the_models_names_are_marked_as_german(staff_client, town, open_task):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page, steps = _steps(staff_client, town, open_task.application)
    assert '<h3 class="kern-heading-small" id="process-steps-title">Completed and current steps</h3>' in page
    assert steps[0] == "Antrag eingegangen – done" and steps[-1] == "Nachweis für die Befreiung prüfen – current"
    assert '<span lang="de">Nachweis für die Befreiung prüfen</span>' in page


def test_an_overdue_task_is_called_overdue_in_the_case_pages_task_list(staff_client, town, open_task):
    from datetime import timedelta

    from django.utils import timezone

    from rathaus.processes.models import UserTask

    def task_item() -> str:
        page = staff_client.get(reverse("applications:staff_detail", kwargs={
            "municipality": town.slug, "reference": open_task.application.reference})).content.decode()
        tasks = page.split('id="process-tasks-title"', 1)[1].split("</ul>", 2)[1]
        return " ".join(re.sub(r"<[^>]+>", "", re.search(r"<li>(.*?)</li>", tasks, flags=re.S).group(1)).split())

    assert "überfällig" not in task_item()
    UserTask.objects.filter(pk=open_task.pk).update(due_at=timezone.now() - timedelta(days=2))
    due = timezone.localtime(timezone.now() - timedelta(days=2)).strftime("%d.%m.%Y")
    # As in the task inbox and on the task page: in words, not by colour alone.
    assert task_item() == f"Nachweis für die Befreiung prüfen – Offen, fällig {due} (überfällig)"


def test_a_finished_process_without_tasks_is_not_said_to_be_running(staff_client, town, submit, dog_data):
    from rathaus.processes.models import ProcessInstance

    dog_data["reduction"] = {"exemption": "keine"}
    application = submit("hund-anmelden", dog_data)
    assert ProcessInstance.objects.get(application=application).status == "completed"
    page = staff_client.get(reverse("applications:staff_detail", kwargs={
        "municipality": town.slug, "reference": application.reference})).content.decode()
    tasks = page.split('id="process-tasks-title"', 1)[1].split("</ul>", 1)[0]
    assert " ".join(re.sub(r"<[^>]+>", "", tasks.split('<ul class="kern-list">', 1)[1]).split()) == (
        "Keine Aufgaben – das Verfahren ist abgeschlossen.")
    assert "läuft automatisch" not in page
