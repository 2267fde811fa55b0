"""Payment requests and decision letters name the account to pay to, when the town has given one."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from rathaus.accounts.models import Role
from rathaus.processes.models import CaseEvent, Timer, UserTask
from rathaus.processes.services import task_complete
from rathaus.tenants.services import municipality_update

from .test_demo_processes import PARKING_FEE_LINE, _letter_text, _parking_payment

pytestmark = pytest.mark.django_db

ACCOUNT = "an Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX),"


@pytest.fixture
def town_with_account(town):
    return municipality_update(municipality=town, payee_name="Stadtkasse Musterstadt",
                               iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX")


def _approve_street_space(submit, street_data, town, make_staff, capture):
    application = submit("halteverbot-umzug", street_data)
    before = len(mail.outbox)
    with capture(execute=True):  # the e-mail goes out after the commit
        task_complete(task=UserTask.objects.get(application=application), user=make_staff(town),
                      data={"decision": {"outcome": "approve"}})
    application.refresh_from_db()
    [timer] = Timer.objects.filter(instance__application=application)
    return application, mail.outbox[before:], date_format(timezone.localdate(timer.due_at), "d.m.Y")


def test_the_street_space_payment_request_names_the_account(submit, street_data, town_with_account, make_staff,
                                                            django_capture_on_commit_callbacks):
    application, [request], last_day = _approve_street_space(submit, street_data, town_with_account, make_staff,
                                                             django_capture_on_commit_callbacks)
    note = CaseEvent.objects.get(application=application, text__startswith="Zahlungsaufforderung")
    [reference] = re.findall(re.escape(application.reference) + r"-[0-9A-F]{6}", note.text)
    assert (f"bitte überweisen Sie 45 € bis zum {last_day} {ACCOUNT} mit dem Verwendungszweck {reference}.\n"
            in request.body)
    # Her status page (and the case's public timeline) say the same.
    assert application.history.last().public_text == (
        f"Ihr Antrag ist genehmigt. Bitte überweisen Sie 45 € bis zum {last_day} {ACCOUNT} mit dem Verwendungszweck "
        f"{reference}. Sobald die Zahlung eingegangen ist, erhalten Sie die Erlaubnis.")
    assert note.public and note.text == (
        f"Zahlungsaufforderung über 45 € bis zum {last_day} {ACCOUNT.rstrip(',')} gesendet "
        f"(Verwendungszweck {reference}).")


def test_without_bank_details_the_payment_request_reads_as_before(submit, street_data, town, make_staff,
                                                                   django_capture_on_commit_callbacks):
    application, [request], last_day = _approve_street_space(submit, street_data, town, make_staff,
                                                             django_capture_on_commit_callbacks)
    assert f"bitte überweisen Sie 45 € bis zum {last_day} mit dem Verwendungszweck {application.reference}-" in (
        request.body)
    text = application.history.last().public_text
    assert text.startswith(f"Ihr Antrag ist genehmigt. Bitte überweisen Sie 45 € bis zum {last_day} mit dem "
                           f"Verwendungszweck {application.reference}-")
    assert "IBAN" not in request.body + text and " an " not in text


def test_the_parking_permit_letter_and_notice_name_the_account(submit, parking_data, town_with_account):
    application = submit("bewohnerparkausweis", parking_data)
    assert application.status == "approved"
    letter = _letter_text(application)
    due, reference = _parking_payment(application, town_with_account)
    # The letter's core font has no €, and its lines wrap; the text read from it has single spaces.
    assert PARKING_FEE_LINE.format(account=f" {ACCOUNT}", reference=reference) in letter
    to_pay = f"Bitte überweisen Sie die Gebühr von 30 € {due} {ACCOUNT} mit dem Verwendungszweck {reference}."
    assert application.history.last().public_text.endswith(to_pay)
    [notice] = [m for m in mail.outbox if m.subject == f"Ihr Bewohnerparkausweis ({application.reference})"]
    assert to_pay in notice.body


def test_without_bank_details_the_parking_letter_names_no_account(submit, parking_data, town):
    application = submit("bewohnerparkausweis", parking_data)
    letter = _letter_text(application)
    due, reference = _parking_payment(application, town)
    assert PARKING_FEE_LINE.format(account="", reference=reference) in letter
    assert "IBAN" not in letter and "IBAN" not in application.history.last().public_text


@pytest.fixture
def admin_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town, role=Role.TENANT_ADMIN))


def _warning(page: str) -> str:
    import lxml.html

    found = lxml.html.fromstring(page).xpath('//*[@id="keine-bankverbindung"]')
    return " ".join(found[0].text_content().split()) if found else ""


def test_the_definitions_page_warns_when_a_model_asks_for_payment_and_the_town_names_no_account(
        admin_client, town, demo_processes):
    url = reverse("processes:definitions", kwargs={"municipality": town.slug})
    page = admin_client.get(url).content.decode()
    warning = _warning(page)
    assert 'role="alert" aria-labelledby="no-account-title" id="keine-bankverbindung"' in page
    assert warning.startswith("Keine Bankverbindung hinterlegt Diese Prozessmodelle fordern zur Zahlung auf")
    # The street-space model waits for a payment, the parking permit's letter fixes a fee, the dog
    # tax letter asks for this year's tax within a month (payment_months).
    names = {demo_processes[slug].name for slug in ("halteverbot-umzug", "bewohnerparkausweis", "hund-anmelden")}
    assert all(name in warning for name in names)
    # The town's administration can fix it at once, on its own page.
    assert f'href="/m/{town.slug}/verwaltung/bankverbindung/">Bankverbindung eintragen</a>' in page
    english = admin_client.get(url, headers={"accept-language": "en"}).content.decode()
    assert _warning(english).startswith("No bank details given These process models ask for payment")


def test_the_definitions_page_has_no_warning_once_the_town_names_its_account(admin_client, town, demo_processes):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    municipality_update(municipality=town, payee_name="Stadtkasse Musterstadt", iban="DE89370400440532013000",
                        address="Rathausplatz 1, 99999 Musterstadt")
    url = reverse("processes:definitions", kwargs={"municipality": town.slug})
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(url).content.decode()
    assert _warning(page) == "" and "Keine Bankverbindung" not in page
    # With an account (and an address for letters) the page reads no model files to look for steps.
    assert not [q for q in queries if '"files"' in q["sql"]]
