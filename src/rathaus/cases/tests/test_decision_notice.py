"""Notice of decision letters (§ 41 VwVfG): provided for retrieval with the applicant's consent, her
first download is the retrieval (deemed notified the next day); without consent or when not retrieved
within 10 days staff give notice by post (deemed notified on the fourth day after posting)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.urls import reverse

from rathaus.applications.services import application_submit
from rathaus.cases.models import DecisionNotice, Document, DocumentType
from rathaus.core.models import AuditEntry
from rathaus.processes.models import CaseEvent

pytestmark = pytest.mark.django_db

# Monday 7 December 2026, 10:00 in Berlin: ten days later is Thursday 17 December, a working day.
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def at(moment: datetime):
    return mock.patch("django.utils.timezone.now", return_value=moment)


@pytest.fixture
def decided(town, demo_processes, dog_data, django_capture_on_commit_callbacks):
    """``decided(consent)``: a dog registration whose process wrote its decision letter on MONDAY."""

    def run(consent: bool = True, municipality=None, services=None):
        with at(MONDAY), django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=municipality or town,
                                        service=(services or demo_processes)["hund-anmelden"], data=dog_data,
                                        retrieval_consent=consent)
        application = result.application
        letter = Document.objects.get(application=application, document_type=DocumentType.DECISION)
        return application, letter, result.access_token

    return run


def _download(client, application, letter, token):
    return client.get(reverse("cases:citizen_download", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference, "token": token,
        "document_id": letter.pk}))


def _status(client, application, token):
    return client.get(reverse("applications:status", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference,
        "token": token})).content.decode()


# ---------------------------------------------------------------- provision and retrieval

def test_a_decision_letter_with_consent_is_provided_for_ten_days(decided):
    application, letter, _token = decided(consent=True)
    notice = letter.notice
    assert notice.provided_at == MONDAY
    assert notice.retrieve_by == date(2026, 12, 17)
    assert notice.state == "provided" and notice.post_due_since is None


def test_the_end_of_the_ten_days_moves_to_the_next_working_day(decided, town):
    # Thursday 10 December + 10 days = Sunday 20 December: she may retrieve it until Monday 21.
    from rathaus.cases.services import _decision_provide

    application, _letter, _token = decided(consent=True)

    with at(datetime(2026, 12, 10, 9, 0, tzinfo=UTC)):
        other = Document.objects.create(municipality=town, application=application, title="Bescheid",
                                        document_type=DocumentType.DECISION, source="staff")
        assert _decision_provide(other, application).retrieve_by == date(2026, 12, 21)


def test_the_status_page_says_until_when_to_retrieve_the_letter(client, decided):
    application, _letter, token = decided(consent=True)
    with at(MONDAY + timedelta(hours=1)):
        page = _status(client, application, token)
    assert "Bitte laden Sie den Bescheid bis zum 17.12.2026 herunter." in page


def test_the_first_download_is_the_retrieval_and_the_letter_is_notified_the_next_day(client, decided):
    application, letter, token = decided(consent=True)
    with at(MONDAY + timedelta(hours=2)):
        assert _download(client, application, letter, token).status_code == 200
    with at(MONDAY + timedelta(days=1)):
        assert _download(client, application, letter, token).status_code == 200
        page = _status(client, application, token)
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.retrieved_at == MONDAY + timedelta(hours=2)
    assert notice.notice_date == date(2026, 12, 8)
    assert list(CaseEvent.objects.filter(application=application, kind="decision_retrieved").values_list(
        "text", flat=True)) == ["Hundesteuerbescheid abgerufen am 07.12.2026; er gilt am 08.12.2026 als bekannt gegeben."]
    assert AuditEntry.objects.filter(action="case.decision_retrieved").count() == 1
    assert "Abgerufen am 07.12.2026. Der Bescheid gilt am 08.12.2026 als bekannt gegeben" in page


def test_her_account_download_is_a_retrieval_too(client, town, demo_processes, dog_data, make_user,
                                                 django_capture_on_commit_callbacks):
    citizen = make_user("erika@example.org")
    with at(MONDAY), django_capture_on_commit_callbacks(execute=True):
        application = application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data,
                                          applicant=citizen, retrieval_consent=True).application
    letter = Document.objects.get(application=application, document_type=DocumentType.DECISION)
    client.force_login(citizen)
    with at(MONDAY + timedelta(days=3)):
        response = client.get(reverse("cases:my_download", kwargs={
            "municipality": town.slug, "reference": application.reference, "document_id": letter.pk}))
    assert response.status_code == 200
    assert DecisionNotice.objects.get(document=letter).notice_date == date(2026, 12, 11)


def test_a_staff_download_is_no_retrieval(staff_client, decided):
    application, letter, _token = decided(consent=True)
    response = staff_client.get(reverse("cases:staff_download", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference, "document_id": letter.pk}))
    assert response.status_code == 200
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None
    assert not CaseEvent.objects.filter(kind="decision_retrieved").exists()


def test_a_download_with_a_wrong_token_changes_nothing(client, decided):
    application, letter, _token = decided(consent=True)
    assert _download(client, application, letter, "falsch").status_code == 404
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None
    assert not AuditEntry.objects.filter(action="case.decision_retrieved").exists()


def test_without_consent_a_download_is_no_retrieval_and_the_letter_comes_by_post(client, decided):
    application, letter, token = decided(consent=False)
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.retrieve_by is None and notice.post_due_since == MONDAY and notice.state == "post_due"
    with at(MONDAY + timedelta(hours=1)):
        assert _download(client, application, letter, token).status_code == 200
        page = _status(client, application, token)
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None
    assert "Sie erhalten diesen Bescheid per Post." in page


def test_the_status_page_names_the_dates_in_english(client, decided):
    application, letter, token = decided(consent=True)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with at(MONDAY + timedelta(hours=1)):
        assert "Please download the decision letter by 17.12.2026." in _status(client, application, token)
        _download(client, application, letter, token)
        page = _status(client, application, token)
    assert "Retrieved on 07.12.2026. The decision letter counts as notified on 08.12.2026" in page


def test_an_internal_decision_document_is_not_provided(town, decided, make_staff):
    from rathaus.cases.services import document_upload_staff
    from rathaus.cases.tests.conftest import PDF

    application, _letter, _token = decided(consent=True)
    document = document_upload_staff(application=application, filename="entwurf.pdf", raw=PDF, title="Entwurf",
                                     document_type=DocumentType.DECISION, confidentiality="internal",
                                     actor=make_staff(town))
    assert not DecisionNotice.objects.filter(document=document).exists()
