"""The expected completion date on the status page and the receipt: the processing norm's date while
the town works on the case; while it waits for the citizen (documents, a payment, an answer) what
is awaited from her, until when, and that the processing goes on once it is there."""

import base64
import copy
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from rathaus.applications.models import Status
from rathaus.applications.services import application_change_status, application_submit
from rathaus.cases.services import document_request_create

pytestmark = pytest.mark.django_db

PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF").decode()


@pytest.fixture
def processes(town, demo_services):
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)
    return demo_services


@pytest.fixture
def submit(town, django_capture_on_commit_callbacks):
    """Submit through the real service; the process (if the service has one) starts on commit."""

    def run(service, data):
        with django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=town, service=service, data=data)
        result.application.refresh_from_db()
        return result

    return run


def _facts(client, town, result, page="status") -> dict[str, str]:
    """The rows of the facts list on the citizen's status page (or receipt), label → value."""
    url = f"/m/{town.slug}/status/{result.application.reference}/{result.access_token}/"
    url += "bestaetigung/" if page == "receipt" else ""
    html = client.get(url).content.decode()
    rows = re.findall(r'<div class="facts__row[^"]*"><dt>(.*?)</dt><dd>(.*?)</dd></div>', html, re.S)
    return {label: re.sub(r"<[^>]+>", "", value).strip() for label, value in rows}


def test_while_the_town_works_on_the_case_the_norm_date_is_shown(client, town, demo_services, dog_data, submit):
    result = submit(demo_services["hund-anmelden"], dog_data)  # no process: it stays received

    facts = _facts(client, town, result)

    assert facts["Voraussichtlich erledigt bis"] == f"{result.application.due_date:%d.%m.%Y}"
    assert "Wir warten auf" not in facts


def test_documents_staff_asked_for_are_named_with_their_deadline_instead_of_a_date(client, town, demo_services,
                                                                                  dog_data, submit, make_staff):
    result = submit(demo_services["hund-anmelden"], dog_data)
    deadline = timezone.localdate() + timedelta(days=10)
    document_request_create(application=result.application, items=["Personalausweis", "Impfpass"],
                            message="Bitte reichen Sie die Unterlagen nach.", deadline=deadline,
                            actor=make_staff(town))

    for page in ("status", "receipt"):
        facts = _facts(client, town, result, page)
        assert facts["Wir warten auf"] == "Unterlagen von Ihnen: Personalausweis, Impfpass"
        assert facts["Bitte bis zum"] == f"{deadline:%d.%m.%Y}"
        assert facts["Voraussichtlich erledigt"] == (
            "Das hängt von Ihnen ab: Sobald Ihre Unterlagen da sind, geht die Bearbeitung weiter.")
        assert "Voraussichtlich erledigt bis" not in facts


def test_the_dog_process_waiting_for_a_new_proof_names_the_last_day_not_the_reminder(
        client, town, processes, dog_data, submit, make_staff):
    from rathaus.processes.models import Timer, UserTask
    from rathaus.processes.services import task_complete

    data = copy.deepcopy(dog_data)
    data["reduction"] = {"exemption": "blindenfuehrhund",
                         "proof": {"filename": "ausweis.pdf", "content_type": "application/pdf", "content": PDF}}
    result = submit(processes["hund-anmelden"], data)
    task_complete(task=UserTask.objects.get(application=result.application, element_id="review"), user=make_staff(town),
                  data={"decision": {"outcome": "request_documents", "note": "Der Ausweis ist abgelaufen."}})
    result.application.refresh_from_db()
    assert result.application.status == Status.WAITING
    # A reminder after 14 days and the end of the wait after 28: the page names the end.
    reminder, end = Timer.objects.filter(instance__application=result.application).order_by("due_at")
    assert (reminder.element_id, end.element_id) == ("after_14_days", "after_28_days")

    facts = _facts(client, town, result)

    assert facts["Wir warten auf"] == "Unterlagen von Ihnen"
    assert facts["Bitte bis zum"] == f"{timezone.localdate(end.due_at):%d.%m.%Y}"
    assert "Voraussichtlich erledigt bis" not in facts


def test_a_payment_due_names_the_day_of_the_payment_request(client, town, processes, submit, make_staff):
    from rathaus.processes.models import Timer, UserTask
    from rathaus.processes.services import task_complete

    result = submit(processes["halteverbot-umzug"], _street_data())
    task_complete(task=UserTask.objects.get(application=result.application), user=make_staff(town),
                  data={"decision": {"outcome": "approve"}})
    result.application.refresh_from_db()
    assert result.application.status == Status.PAYMENT_DUE
    [timer] = Timer.objects.filter(instance__application=result.application)
    last_day = timezone.localdate(timer.due_at)

    facts = _facts(client, town, result)

    assert facts["Wir warten auf"] == "Ihre Zahlung"
    assert facts["Bitte bis zum"] == f"{last_day:%d.%m.%Y}"
    assert f"bis zum {last_day:%d.%m.%Y}" in result.application.history.last().public_text  # the same day as the request
    assert facts["Voraussichtlich erledigt"] == (
        "Das hängt von Ihnen ab: Sobald Ihre Zahlung eingegangen ist, geht die Bearbeitung weiter.")


def test_once_paid_the_case_is_decided_and_no_date_is_shown(client, town, processes, submit, make_staff):
    from rathaus.processes.models import UserTask
    from rathaus.processes.services import message_deliver, task_complete

    result = submit(processes["halteverbot-umzug"], _street_data())
    task_complete(task=UserTask.objects.get(application=result.application), user=make_staff(town),
                  data={"decision": {"outcome": "approve"}})
    message_deliver(application=result.application, name="payment_received", payload={"amount": 45})

    facts = _facts(client, town, result)

    assert not {"Wir warten auf", "Voraussichtlich erledigt", "Voraussichtlich erledigt bis"} & set(facts)


def test_a_question_set_by_hand_says_an_answer_is_awaited_without_inventing_a_deadline(
        client, town, demo_services, dog_data, submit, make_staff):
    result = submit(demo_services["hund-anmelden"], dog_data)
    application_change_status(application=result.application, status=Status.WAITING, actor=make_staff(town),
                              public_text="Bitte rufen Sie uns an.")

    facts = _facts(client, town, result)

    assert facts["Wir warten auf"] == "Ihre Antwort auf unsere Rückfrage"
    assert "Bitte bis zum" not in facts and "Voraussichtlich erledigt bis" not in facts


def test_when_the_documents_are_in_the_norm_date_is_back(client, town, demo_services, dog_data, submit, make_staff):
    from rathaus.processes.services import document_upload_later

    result = submit(demo_services["hund-anmelden"], dog_data)
    request = document_request_create(application=result.application, items=["Personalausweis"], message="",
                                      deadline=timezone.localdate() + timedelta(days=10), actor=make_staff(town))
    document_upload_later(application=result.application, filename="ausweis.pdf",
                          raw=base64.b64decode(PDF), request_id=request.pk, request_item=0)

    facts = _facts(client, town, result)

    assert facts["Voraussichtlich erledigt bis"] == f"{result.application.due_date:%d.%m.%Y}"


def test_the_awaited_part_is_in_english_on_english_pages(client, town, demo_services, dog_data, submit, make_staff):
    result = submit(demo_services["hund-anmelden"], dog_data)
    deadline = timezone.localdate() + timedelta(days=10)
    document_request_create(application=result.application, items=["Personalausweis"], message="", deadline=deadline,
                            actor=make_staff(town))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    facts = _facts(client, town, result)

    assert facts["We are waiting for"] == "Documents from you: Personalausweis"
    assert facts["Due by"] == f"{deadline:%d.%m.%Y}"
    assert facts["Expected to be completed"] == (
        "That depends on you: as soon as your documents are here, the processing goes on.")


def _street_data() -> dict:
    return {
        "applicant": {"given_name": "Erika", "family_name": "Mustermann", "email": "erika@example.org",
                      "address": {"street": "Hauptstraße", "house_number": "12", "postal_code": "99999",
                                  "city": "Musterstadt"}},
        "place": {"street": "Hauptstraße", "house_number": "12", "length_m": 15, "side": "house",
                  "date": (timezone.localdate() + timedelta(days=30)).isoformat(), "from_time": "07:00",
                  "to_time": "18:00"},
        "vehicles": {"items": [{"kind": "van"}]},
        "declaration": {"truthful": True, "privacy": True},
    }
