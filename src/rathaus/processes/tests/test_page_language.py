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
    assert shown == 2 and german == 2  # the zone rule and the approval rule
