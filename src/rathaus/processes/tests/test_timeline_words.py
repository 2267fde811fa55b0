"""The case timeline staff read: every line in plain words, each step's own note right after the step."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from rathaus.processes import selectors, services
from rathaus.processes.models import UserTask

pytestmark = pytest.mark.django_db


def _texts(town, application) -> list[str]:
    return [e.text for e in selectors.case_timeline(municipality=town, application=application)]


def test_script_tasks_are_named_in_words_not_by_their_engine_kind(town, submit, dog_data):
    texts = _texts(town, submit("hund-anmelden", dog_data))
    assert "Automatischer Schritt: Vorgang vorbereiten." in texts
    assert not [t for t in texts if t.startswith("script:")]


def test_a_step_note_follows_its_step_and_the_end_comes_last(town, submit, dog_data):
    texts = _texts(town, submit("hund-anmelden", dog_data))
    checked = texts.index("Automatischer Schritt: Unterlagen prüfen.")
    assert texts[checked + 1] == "Unterlagen vollständig."
    issued = texts.index("Automatischer Schritt: Steuerbescheid erstellen.")
    assert texts[issued + 1] == "Bescheid erstellt: Hundesteuerbescheid."
    assert texts[-1] == "Das Verfahren ist abgeschlossen."


def test_a_fee_note_comes_before_the_task_it_led_to(town, submit, street_data):
    texts = _texts(town, submit("halteverbot-umzug", street_data))
    fee = next(i for i, t in enumerate(texts) if t.startswith("Gebühr berechnet: 45 €"))
    assert texts[fee - 1] == "Automatischer Schritt: Gebühr berechnen (DMN)."
    assert fee < texts.index("Aufgabe „Halteverbot genehmigen“ an die Sachbearbeitung übergeben.")


def test_an_event_from_outside_is_named_in_words_not_by_its_message_name(town, submit, street_data, make_staff):
    application = submit("halteverbot-umzug", street_data)
    lead = make_staff(town)
    task = UserTask.objects.get(application=application)
    services.task_complete(task=task, user=lead, data={"decision": {"outcome": "approve"}})
    services.message_deliver(application=application, name="payment_received", actor=lead)
    texts = _texts(town, application)
    assert "Zahlung eingegangen." in texts
    assert not [t for t in texts if "payment_received" in t]


def _staff_timeline(client, town, application) -> dict[str, str]:
    """The staff case page's process timeline: each line's text with its head (time · who)."""
    page = client.get(reverse("applications:staff_detail", kwargs={"municipality": town.slug,
                                                                   "reference": application.reference})).content.decode()
    timeline = page.split('<ol class="timeline process-timeline">', 1)[1].split("</ol>", 1)[0]
    return {html.unescape(text): " ".join(re.sub(r"<[^>]+>", " ", head).split())
            for head, text in re.findall(r'<p class="timeline__head">(.*?)</p><p class="timeline__text"[^>]*>(.*?)</p>', timeline)}


def test_steps_after_a_persons_act_read_as_automatic_and_only_her_act_carries_her_name(
        town, submit, dog_data, staff_client):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    task = UserTask.objects.get(application=application)
    detail = reverse("processes:task_detail", kwargs={"municipality": town.slug, "pk": task.pk})
    staff_client.post(detail, {"action": "claim"})
    assert staff_client.post(detail, {"action": "complete", "decision.outcome": "approve"}).status_code == 302
    task.refresh_from_db()
    name = str(task.completed_by)

    heads = _staff_timeline(staff_client, town, application)

    assert heads[f"Aufgabe „{task.name}“ erledigt."].endswith(f"· {name}")
    assert heads[f"Aufgabe „{task.name}“ übernommen von {name}."].endswith(f"· {name}")
    # The decision letter and the notice came after her approval, but the process wrote them.
    for text in ("Automatischer Schritt: Steuerbescheid erstellen.", "Bescheid erstellt: Hundesteuerbescheid.",
                 "Das Verfahren ist abgeschlossen."):
        assert heads[text].endswith("· automatisch"), (text, heads[text])
    assert all(name not in head for text, head in heads.items() if text.startswith("Automatisch"))


def test_a_task_result_says_result_once(town, submit, dog_data, make_staff):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    task = UserTask.objects.get(application=application)
    services.task_complete(task=task, user=make_staff(town), data={"decision": {"outcome": "approve", "note": "Passt."}})

    results = [t for t in _texts(town, application) if "Ergebnis" in t]
    assert results == [f"Aufgabe „{task.name}“ – Ergebnis: Befreiung anerkennen; Begründung / Hinweis: Passt."]
