"""The process pages in English (language cookie "en"): what staff and citizens read is English, and
what stays German (the case's recorded timeline, the rules' own words) is marked as German."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from rathaus.processes.models import CaseEvent, UserTask
from rathaus.processes.services import task_complete

pytestmark = pytest.mark.django_db


def _url(name, town, **kw):
    return reverse(f"processes:{name}", kwargs={"municipality": town.slug, **kw})


@pytest.fixture
def waiting_payment(submit, street_data, make_staff, town):
    """A street closure approved by a case worker; its process waits for the payment."""
    application = submit("halteverbot-umzug", street_data)
    task_complete(task=UserTask.objects.get(application=application), user=make_staff(town, "lead@musterstadt.example"),
                  data={"decision": {"outcome": "approve"}})
    return application


def test_the_awaited_payment_is_named_in_english_and_recorded_in_german(staff_client, town, waiting_payment):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    detail = staff_client.get(reverse("applications:staff_detail", kwargs={
        "municipality": town.slug, "reference": waiting_payment.reference})).content.decode()
    assert "Record: Payment received" in detail and "Erfassen: Zahlung eingegangen" not in detail
    url = _url("case_message", town, reference=waiting_payment.reference)
    confirm = staff_client.get(url + "?message=payment_received").content.decode()
    assert ">Payment received</label>" in confirm and "Zahlung eingegangen" not in confirm
    done = staff_client.post(url, {"message": "payment_received"}, follow=True).content.decode()
    assert "Receipt recorded: Payment received" in done
    # The case's record stays in German, whoever recorded it in which language.
    assert CaseEvent.objects.filter(application=waiting_payment, kind="message_received",
                                    text="Zahlung eingegangen.").exists()


def test_the_awaited_payment_is_named_in_german_on_the_german_page(staff_client, town, waiting_payment):
    url = _url("case_message", town, reference=waiting_payment.reference)
    assert ">Zahlung eingegangen</label>" in staff_client.get(url).content.decode()


@pytest.fixture
def admin_client(client, town, make_staff, login_verified, demo_processes):
    from rathaus.accounts.models import Role

    return login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))


def _upload_unknown_step(admin_client, town, demo_processes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rathaus.processes.demo import demo_files

    bpmn = demo_files("hund-anmelden")[0][1].replace(b'camunda:topic="check_documents"', b'camunda:topic="no_such_step"')
    response = admin_client.post(_url("definitions", town), {
        "action": "upload", "service": demo_processes["hund-anmelden"].pk, "files": [SimpleUploadedFile("bad.bpmn", bpmn)]})
    assert response.status_code == 422
    return response.content.decode()


def test_the_problems_of_a_refused_model_are_listed_in_english(admin_client, town, demo_processes):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = _upload_unknown_step(admin_client, town, demo_processes)
    assert "(bad.bpmn, Error): automation step «no_such_step» (camunda:topic) is not registered" in page
    assert "Automatisierungsschritt" not in page and "ist nicht registriert" not in page


def test_the_problems_of_a_refused_model_are_listed_in_german_with_the_english_words_marked(admin_client, town,
                                                                                             demo_processes):
    page = _upload_unknown_step(admin_client, town, demo_processes)
    assert "(bad.bpmn, Fehler): Automatisierungsschritt «no_such_step» (camunda:topic) ist nicht registriert" in page
    assert '<span lang="en">(automation step «no_such_step»' in page
    assert ", error)" not in page


def test_a_task_the_process_cannot_continue_from_says_why_in_english(staff_client, town, submit, dog_data, monkeypatch):
    from rathaus.processes import views
    from rathaus_domain.processes.engine import ProcessError

    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "n.pdf", "content_type": "application/pdf", "content": PDF}}
    task = UserTask.objects.get(application=submit("hund-anmelden", dog_data))
    url = _url("task_detail", town, pk=task.pk)
    staff_client.post(url, {"action": "claim"})

    def fails(**kwargs):
        raise ProcessError("Die Gebührentabelle fehlt.", "the fee table is missing", element_id="fee")

    monkeypatch.setattr(views.services, "task_complete", fails)
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = staff_client.post(url, {"action": "complete", "decision.outcome": "approve"}, follow=True).content.decode()
    assert "The process could not continue: the fee table is missing" in page
    assert "Gebührentabelle" not in page


def _texts_marked_german(page: str, pattern: str) -> tuple[int, int]:
    """How many recorded texts the page shows (`pattern` finds their opening tags) and how many say they are German."""
    import re

    tags = re.findall(pattern, page)
    return len(tags), sum('lang="de"' in tag for tag in tags)


def test_the_recorded_timeline_on_english_staff_pages_is_marked_as_german(staff_client, town, submit, dog_data):
    from .conftest import PDF

    dog_data["reduction"] = {"exemption": "assistenzhund",
                             "proof": {"filename": "n.pdf", "content_type": "application/pdf", "content": PDF}}
    application = submit("hund-anmelden", dog_data)
    task = UserTask.objects.get(application=application)
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for url in (_url("task_detail", town, pk=task.pk),
                reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": application.reference})):
        # The task's history, and the process panel of the case page (its status history is the application's).
        page = staff_client.get(url).content.decode().split('<ol class="timeline', 1)[1]
        if "process-timeline" in page:
            page = page.split('<ol class="timeline process-timeline">', 1)[1]
        assert "Automatischer Schritt: Vorgang vorbereiten." in page  # recorded in German, as it happened
        shown, german = _texts_marked_german(page, r'<p class="timeline__text[^>]*>')
        assert shown >= 7 and german == shown, url


def test_the_rules_on_the_english_status_page_are_marked_as_german(client, town, submit, parking_data):
    from rathaus.applications.services import access_token_for

    application = submit("bewohnerparkausweis", parking_data)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("applications:status", kwargs={
        "municipality": town.slug, "reference": application.reference, "token": access_token_for(application)})).content.decode()
    why = page.split('id="why-title"', 1)[1].split("</section>", 1)[0]
    assert "These rules applied:" in why and "Automatisch bewilligen" in why
    shown, german = _texts_marked_german(why, r"<li[^>]*>")
    assert shown == 3 and german == 3  # the zone rule, the approval rule and the fee rule


@pytest.fixture
def parking_task(submit, parking_data):
    """A residents' parking permit for a zone other than her address's: a case worker decides it."""
    parking_data["zone"]["zone"] = "C"
    return UserTask.objects.get(application=submit("bewohnerparkausweis", parking_data))


def test_the_task_form_on_the_english_page_is_english_and_the_model_words_are_marked_as_german(
        staff_client, town, parking_task):
    stored = parking_task.form_schema
    url = _url("task_detail", town, pk=parking_task.pk)
    staff_client.post(url, {"action": "claim"})
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = staff_client.get(url).content.decode()
    form = page.split('<form method="post" action="' + url + '" novalidate', 1)[1].split("</form>", 1)[0]
    assert '<h2 class="kern-heading-medium">Check the residents’ parking permit</h2>' in page
    assert '<legend class="kern-label">Result</legend>' in form
    assert ">Issue the permit</label>" in form and ">Refuse the application</label>" in form
    assert "Reason / note" in form and "– needed for a refusal" in form
    assert "Sent to the applicant with a refusal or a request for documents." in form
    assert not any(german in form for german in ("Ausweis ausstellen", "Antrag ablehnen", "Begründung", "Ergebnis"))
    # The task's name is the town's model, which has it in German only.
    assert '<h1 class="kern-heading-large" lang="de">Bewohnerparkausweis prüfen</h1>' in page
    # A refusal without its reason is named in the page's words, in the summary and at the field.
    refused = staff_client.post(url, {"action": "complete", "decision.outcome": "reject"})
    assert refused.status_code == 422
    error = "This field is required – it is needed because you answered “Refuse the application” to “Result”."
    assert f'<a class="kern-link" href="#f-decision-note">Reason / note: {error}</a>' in refused.content.decode()
    staff_client.post(url, {"action": "complete", "decision.outcome": "reject", "decision.note": "Zone C passt nicht."})
    parking_task.refresh_from_db()
    # What is stored stays as it was: the German form, the values chosen, the German record of the case.
    assert parking_task.form_schema == stored and parking_task.form_schema["title"] == "Bewohnerparkausweis prüfen"
    assert parking_task.result == {"decision": {"outcome": "reject", "note": "Zone C passt nicht."}}
    assert CaseEvent.objects.filter(application=parking_task.application, kind="task_result").get().text == (
        "Aufgabe „Bewohnerparkausweis prüfen“ – Ergebnis: Antrag ablehnen; Begründung / Hinweis: Zone C passt nicht.")


def test_the_task_form_on_the_german_page_keeps_its_german_words(staff_client, town, parking_task):
    url = _url("task_detail", town, pk=parking_task.pk)
    staff_client.post(url, {"action": "claim"})
    page = staff_client.get(url).content.decode()
    assert '<h2 class="kern-heading-medium">Bewohnerparkausweis prüfen</h2>' in page
    assert ">Ausweis ausstellen</label>" in page and "– bei einer Ablehnung nötig" in page


@pytest.mark.parametrize(("language", "labels", "invalid", "needed"), [
    ("de", ["Ausweis ausstellen", "Antrag ablehnen"], "Die Formulardaten sind ungültig.",
     "Dieses Feld ist ein Pflichtfeld – das ist nötig, weil Sie bei „Ergebnis“ „Antrag ablehnen“ angegeben haben."),
    ("en", ["Issue the permit", "Refuse the application"], "The form data are invalid.",
     "This field is required – it is needed because you answered “Refuse the application” to “Result”."),
])
def test_the_task_api_gives_the_form_and_its_errors_in_the_language_asked_for(staff_client, town, parking_task,
                                                                              language, labels, invalid, needed):
    listed = staff_client.get(f"/api/v1/m/{town.slug}/tasks", HTTP_ACCEPT_LANGUAGE=language).json()
    [decision] = [t["form_schema"]["properties"]["decision"] for t in listed if t["id"] == parking_task.pk]
    assert decision["properties"]["outcome"]["x-enum-labels"] == labels
    assert decision["properties"]["outcome"]["enum"] == ["approve", "reject"]  # the values do not change
    refused = staff_client.post(f"/api/v1/m/{town.slug}/tasks/{parking_task.pk}/complete",
                                {"data": {"decision": {"outcome": "reject"}}}, content_type="application/json",
                                HTTP_ACCEPT_LANGUAGE=language)
    assert refused.status_code == 422
    assert refused.json()["detail"] == invalid
    assert refused.json()["errors"] == [{"pointer": "/data/decision/note", "detail": needed}]
    parking_task.refresh_from_db()
    assert parking_task.state == "open"


def test_the_models_task_and_process_names_are_marked_as_german_in_the_inbox_and_on_the_case_page(
        staff_client, town, parking_task):
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    inbox = staff_client.get(_url("tasks_team", town)).content.decode()
    assert '" lang="de">Bewohnerparkausweis prüfen</a>' in inbox
    case = staff_client.get(reverse("applications:staff_detail", kwargs={
        "municipality": town.slug, "reference": parking_task.application.reference})).content.decode()
    assert '" lang="de">Bewohnerparkausweis prüfen</a>' in case
    assert f'<span lang="de">{parking_task.instance.definition.name}</span>' in case
