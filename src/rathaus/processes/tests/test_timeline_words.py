"""The case timeline staff read: every line in plain words, each step's own note right after the step."""

from __future__ import annotations

import pytest

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
