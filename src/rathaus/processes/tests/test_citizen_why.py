"""The citizen's "why": what the rules decided, and, when a person decided too, that a person did."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from rathaus.applications.services import access_token_for
from rathaus.processes import services
from rathaus.processes.models import UserTask

pytestmark = pytest.mark.django_db

AUTOMATIC = "Ihr Antrag wurde nach festen Regeln automatisch geprüft. Diese Regeln haben gegolten:"
BY_A_PERSON = "eine Sachbearbeiterin oder ein Sachbearbeiter"


def _status_page(client, town, application) -> str:
    url = reverse("applications:status", kwargs={"municipality": town.slug, "reference": application.reference,
                                                 "token": access_token_for(application)})
    return client.get(url).content.decode()


def test_an_automatic_decision_is_called_automatic(client, town, submit, parking_data):
    application = submit("bewohnerparkausweis", parking_data)
    assert application.status == "approved"
    html = _status_page(client, town, application)
    assert AUTOMATIC in html and BY_A_PERSON not in html


def test_a_refusal_by_a_case_worker_is_not_presented_as_an_automatic_decision(client, town, submit, parking_data,
                                                                               make_staff):
    parking_data["zone"]["zone"] = "B"  # Hauptstraße lies in zone A: a person checks it
    application = submit("bewohnerparkausweis", parking_data)
    task = UserTask.objects.get(application=application)
    services.task_complete(task=task, user=make_staff(town),
                           data={"decision": {"outcome": "reject", "note": "Die Anschrift liegt in Zone A."}})
    application.refresh_from_db()
    assert application.status == "rejected"
    html = _status_page(client, town, application)
    assert AUTOMATIC not in html
    assert "Ihr Antrag wurde zuerst nach festen Regeln automatisch vorgeprüft." in html
    assert f"Außerdem hat {BY_A_PERSON} Ihren Antrag geprüft" in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = _status_page(client, town, application)
    assert "first pre-checked automatically" in english and "A case worker has also checked" in english


def test_a_rule_that_applied_twice_is_listed_once(client, town, submit, dog_data, make_staff):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    worker = make_staff(town)
    task = UserTask.objects.get(application=application, state="open")
    services.task_complete(task=task, user=worker, data={"decision": {"outcome": "request_documents"}})
    services.document_upload_later(application=application, filename="neu.pdf", raw=b"%PDF-1.4\n%%EOF\n")
    html = _status_page(client, town, application)
    assert html.count("Befreiung beantragt: der Nachweis wird von der Sachbearbeitung geprüft") == 1


def test_an_automatic_approval_changed_by_hand_is_not_presented_as_automatic(client, town, submit, parking_data,
                                                                              make_staff):
    from rathaus.applications.services import application_change_status

    application = submit("bewohnerparkausweis", parking_data)
    assert application.status == "approved"  # decided automatically, the process has ended
    application_change_status(application=application, status="rejected", actor=make_staff(town),
                              public_text="Die Anschrift wurde falsch angegeben.")
    html = _status_page(client, town, application)
    assert AUTOMATIC not in html
    assert "Ihr Antrag wurde zuerst nach festen Regeln automatisch vorgeprüft." in html
    assert f"Außerdem hat {BY_A_PERSON} Ihren Antrag geprüft" in html


def test_the_why_lists_the_rules_that_decided_not_what_followed_from_them(client, town, submit, street_data, make_staff):
    application = submit("halteverbot-umzug", street_data)
    services.task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                           data={"decision": {"outcome": "approve"}})
    html = _status_page(client, town, application)
    why = html.split('id="why-title"', 1)[1].split("</section>", 1)[0]
    assert "Gebühr berechnet: 45 €" in why
    assert "Zahlungsaufforderung" not in why and "Bescheid erstellt" not in why
