"""Notice of decision letters (§ 41 VwVfG): provided for retrieval with the applicant's consent, her
first download is the retrieval (deemed notified the next day); without consent or when not retrieved
within 10 days staff give notice by post (deemed notified on the fourth day after posting)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client
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
def decided(town, demo_processes, dog_data, django_capture_on_commit_callbacks, make_user):
    """``decided(consent)``: a dog registration by a citizen signed in to her account, whose process
    wrote its decision letter on MONDAY."""

    made = iter(range(1, 100))

    def run(consent: bool = True, municipality=None, services=None):
        applicant = make_user(f"antragstellerin{next(made)}@example.org")
        with at(MONDAY), django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=municipality or town,
                                        service=(services or demo_processes)["hund-anmelden"], data=dog_data,
                                        applicant=applicant, retrieval_consent=consent)
        application = result.application
        letter = Document.objects.get(application=application, document_type=DocumentType.DECISION)
        return application, letter, result.access_token

    return run


def _download(client, application, letter, token):
    """A download with the status link's token: a copy for information, never a retrieval."""
    return client.get(reverse("cases:citizen_download", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference, "token": token,
        "document_id": letter.pk}))


def _retrieve(application, letter, client=None):
    """Her download under "Meine Anträge", signed in to her account: the only one that is a retrieval."""
    client = client or Client()
    client.force_login(application.applicant)
    return client.get(reverse("cases:my_download", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference, "document_id": letter.pk}))


def _my_status(application, client=None):
    client = client or Client()
    client.force_login(application.applicant)
    return client.get(reverse("applications:my_status", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference})).content.decode()


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
        page = _my_status(application)
    assert "Bitte laden Sie den Bescheid bis zum 17.12.2026 herunter." in page


def test_the_first_download_is_the_retrieval_and_the_letter_is_notified_the_next_day(client, decided):
    application, letter, token = decided(consent=True)
    with at(MONDAY + timedelta(hours=2)):
        assert _retrieve(application, letter).status_code == 200
    with at(MONDAY + timedelta(days=1)):
        assert _retrieve(application, letter).status_code == 200
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


def test_staff_following_her_status_link_do_not_retrieve_the_letter(staff_client, decided):
    application, letter, token = decided(consent=True)
    assert _download(staff_client, application, letter, token).status_code == 200
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None


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
        assert _retrieve(application, letter).status_code == 200
        page = _status(client, application, token)
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None
    assert "Sie erhalten diesen Bescheid per Post." in page


def test_the_status_page_names_the_dates_in_english(client, decided):
    application, letter, token = decided(consent=True)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with at(MONDAY + timedelta(hours=1)):
        assert "Please sign in and download the decision letter by 17.12.2026" in _status(client, application, token)
        _retrieve(application, letter)
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


# ---------------------------------------------------------------- when retrieval fails: the post

def _end_provisions(moment):
    from rathaus.cases.services import decision_provisions_end

    with at(moment):
        return decision_provisions_end()


def _to_post_url(municipality):
    return reverse("cases:decisions_to_post", kwargs={"municipality": municipality.slug})


def test_the_provision_runs_through_its_last_day(decided):
    _application, letter, _token = decided(consent=True)
    assert _end_provisions(datetime(2026, 12, 17, 22, 30, tzinfo=UTC)) == {"ended": 0}  # 23:30 in Berlin
    assert DecisionNotice.objects.get(document=letter).provision_ended_at is None


def test_a_letter_not_retrieved_in_ten_days_ends_its_provision_and_goes_to_post(client, decided):
    application, letter, token = decided(consent=True)
    after = datetime(2026, 12, 17, 23, 5, tzinfo=UTC)  # 00:05 on the 18th in Berlin
    assert _end_provisions(after) == {"ended": 1}
    assert _end_provisions(after + timedelta(hours=1)) == {"ended": 0}
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.provision_ended_at == notice.post_due_since == after and notice.state == "post_due"
    assert list(CaseEvent.objects.filter(application=application, kind="decision_provision_ended")
                .values_list("text", flat=True)) == [
        "Bereitstellung zum Abruf beendet: nicht innerhalb von 10 Tagen abgerufen (Hundesteuerbescheid, abrufbar bis "
        "17.12.2026). Der Bescheid ist per Post bekannt zu geben."]
    assert AuditEntry.objects.filter(action="case.decision_provision_ended").count() == 1
    # A download after the end is no retrieval: the letter is given notice by post.
    with at(after + timedelta(days=1)):
        assert _retrieve(application, letter).status_code == 200
        assert "Sie erhalten diesen Bescheid per Post." in _status(client, application, token)
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None


def test_a_retrieved_letter_never_goes_to_post(client, decided):
    application, letter, token = decided(consent=True)
    with at(MONDAY + timedelta(days=9)):
        _retrieve(application, letter)
    assert _end_provisions(MONDAY + timedelta(days=30)) == {"ended": 0}
    assert DecisionNotice.objects.get(document=letter).post_due_since is None


def test_the_sweep_is_a_periodic_job_of_the_worker(settings):
    task_path, seconds = settings.RATHAUS_PERIODIC_TASKS["cases.decision_provisions"]
    assert task_path == "rathaus.cases.tasks.end_unretrieved_provisions" and seconds <= 3600


def test_staff_see_the_letters_to_post_and_record_the_posting(staff_client, decided, town):
    without, letter_without, _t = decided(consent=False)
    unretrieved, letter_unretrieved, _t = decided(consent=True)
    retrieved, letter_retrieved, token = decided(consent=True)
    with at(MONDAY + timedelta(hours=1)):
        _retrieve(retrieved, letter_retrieved)
    _end_provisions(datetime(2026, 12, 18, 9, 0, tzinfo=UTC))
    page = staff_client.get(_to_post_url(town)).content.decode()
    assert without.reference in page and unretrieved.reference in page and retrieved.reference not in page
    assert "keine Einwilligung in den Abruf" in page and "nicht abgerufen (abrufbar bis 17.12.2026)" in page
    inbox = staff_client.get(reverse("applications:inbox", kwargs={"municipality": town.slug})).content.decode()
    assert "2 Bescheide sind noch per Post bekannt zu geben." in inbox

    notice = DecisionNotice.objects.get(document=letter_without)
    with at(datetime(2026, 12, 18, 9, 0, tzinfo=UTC)):
        response = staff_client.post(_to_post_url(town), {"notice": notice.pk, "posted_on": "2026-12-18"}, follow=True)
    assert "Der Bescheid gilt am 22.12.2026 als bekannt gegeben." in response.content.decode()
    notice.refresh_from_db()
    assert notice.posted_on == date(2026, 12, 18) and notice.notice_date == date(2026, 12, 22)
    assert notice.posted_by.memberships.get().municipality == town
    event = CaseEvent.objects.get(application=without, kind="decision_posted")
    assert event.text == ("Hundesteuerbescheid per Post versandt am 18.12.2026; er gilt am 22.12.2026 als bekannt "
                          "gegeben (§ 41 Abs. 2 VwVfG).")
    assert event.actor == notice.posted_by and not event.automatic
    assert AuditEntry.objects.filter(action="case.decision_posted").count() == 1
    page = staff_client.get(_to_post_url(town)).content.decode()
    assert without.reference not in page and unretrieved.reference in page


def test_a_posting_day_in_the_future_is_refused_and_nothing_changes(staff_client, decided, town):
    application, letter, _token = decided(consent=False)
    notice = DecisionNotice.objects.get(document=letter)
    with at(datetime(2026, 12, 8, 9, 0, tzinfo=UTC)):
        response = staff_client.post(_to_post_url(town), {"notice": notice.pk, "posted_on": "2026-12-09"})
    assert response.status_code == 422
    assert "Das Versanddatum darf nicht in der Zukunft liegen." in response.content.decode()
    notice.refresh_from_db()
    assert notice.posted_on is None
    assert not CaseEvent.objects.filter(kind="decision_posted").exists()
    assert not AuditEntry.objects.filter(action="case.decision_posted").exists()


def test_a_posting_day_before_the_letter_existed_is_refused(decided, town, make_staff):
    from rathaus.cases.services import CaseFileError, decision_post_record

    _application, letter, _token = decided(consent=False)
    notice = DecisionNotice.objects.get(document=letter)
    with at(datetime(2026, 12, 20, 9, 0, tzinfo=UTC)), pytest.raises(CaseFileError, match="before the letter"):
        decision_post_record(notice=notice, posted_on=date(2026, 12, 6), actor=make_staff(town))
    notice.refresh_from_db()
    assert notice.posted_on is None


def test_a_letter_posted_once_cannot_be_posted_again(decided, town, make_staff):
    from rathaus.cases.services import CaseFileError, decision_post_record

    _application, letter, _token = decided(consent=False)
    notice = DecisionNotice.objects.get(document=letter)
    clerk = make_staff(town)
    with at(datetime(2026, 12, 20, 9, 0, tzinfo=UTC)):
        decision_post_record(notice=notice, posted_on=date(2026, 12, 7), actor=clerk)
        with pytest.raises(CaseFileError, match="no longer"):
            decision_post_record(notice=notice, posted_on=date(2026, 12, 8), actor=clerk)
    notice.refresh_from_db()
    assert notice.posted_on == date(2026, 12, 7)


def test_a_letter_still_provided_cannot_be_recorded_as_posted(staff_client, decided, town):
    _application, letter, _token = decided(consent=True)
    notice = DecisionNotice.objects.get(document=letter)
    response = staff_client.post(_to_post_url(town), {"notice": notice.pk, "posted_on": "2026-12-07"})
    assert response.status_code == 404
    notice.refresh_from_db()
    assert notice.posted_on is None


def test_a_posting_for_no_letter_of_the_list_is_refused(staff_client, decided, town):
    decided(consent=False)
    for bad in ("99999999999999999999999", "abc", ""):
        response = staff_client.post(_to_post_url(town), {"notice": bad, "posted_on": "2026-12-07"})
        assert response.status_code == 422, bad
    assert not DecisionNotice.objects.filter(posted_on__isnull=False).exists()


def test_the_list_of_letters_to_post_exports_as_csv_and_json(staff_client, decided, town):
    application, _letter, _token = decided(consent=False)
    from rathaus.applications.models import Application

    Application.objects.filter(pk=application.pk).update(applicant_name="=HYPERLINK(\"http://x\")")
    csv_text = staff_client.get(_to_post_url(town) + "?export=csv").content.decode("utf-8-sig")
    header, row = csv_text.splitlines()[:2]
    assert header.split(",")[:5] == ["reference", "service", "applicant_name", "letter", "letter_made_at"]
    assert application.reference in row and "'=HYPERLINK" in row and "no_consent" in row
    assert "keine Einwilligung in den Abruf" in row
    rows = staff_client.get(_to_post_url(town) + "?export=json").json()
    assert [(r["reference"], r["reason"], r["retrieve_by"]) for r in rows] == [(application.reference, "no_consent", "")]


def test_the_list_and_the_posting_are_for_case_workers_of_the_town_only(client, decided, town, other_town,
                                                                        make_staff, make_user, login_verified):
    from rathaus.accounts.models import Role

    _application, letter, _token = decided(consent=False)
    notice = DecisionNotice.objects.get(document=letter)
    # A citizen, and the other town's case worker (on our town's address, and on her own town's list).
    client.force_login(make_user("buerger@example.org"))
    assert client.get(_to_post_url(town)).status_code in (302, 403, 404)
    assert client.post(_to_post_url(town), {"notice": notice.pk, "posted_on": "2026-12-07"}).status_code in (302, 403, 404)
    stranger = login_verified(client, make_staff(other_town, "sb@beispielhausen.example", role=Role.CASE_WORKER))
    assert stranger.get(_to_post_url(town)).status_code in (302, 403, 404)
    assert stranger.post(_to_post_url(town), {"notice": notice.pk, "posted_on": "2026-12-07"}).status_code in (
        302, 403, 404)
    theirs = stranger.get(_to_post_url(other_town))
    assert theirs.status_code == 200 and notice.document.application.reference not in theirs.content.decode()
    assert stranger.post(_to_post_url(other_town), {"notice": notice.pk, "posted_on": "2026-12-07"}).status_code == 404
    assert notice.document.application.reference not in stranger.get(_to_post_url(other_town) + "?export=csv").content.decode()
    notice.refresh_from_db()
    assert notice.posted_on is None and not AuditEntry.objects.filter(action="case.decision_posted").exists()


def test_the_list_of_letters_to_post_reads_in_english(staff_client, decided, town):
    decided(consent=False)
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = staff_client.get(_to_post_url(town)).content.decode()
    assert "Give notice of decision letters by post" in page and "no consent to retrieval" in page
    assert "Per Post versandt am" not in page


# ---------------------------------------------------------------- the staff case page

def test_the_case_page_shows_each_letters_notice_state(staff_client, decided, town):
    application, letter, token = decided(consent=True)
    url = reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": application.reference})
    with at(MONDAY + timedelta(hours=1)):
        page = staff_client.get(url).content.decode()
    assert "zum Abruf bereitgestellt am 07.12.2026, abrufbar bis 17.12.2026; noch nicht abgerufen" in page
    with at(MONDAY + timedelta(hours=2)):
        _retrieve(application, letter)
    page = staff_client.get(url).content.decode()
    assert "abgerufen am 07.12.2026, 12:00 Uhr; bekannt gegeben am 08.12.2026" in page

    other, other_letter, _token = decided(consent=True)
    _end_provisions(datetime(2026, 12, 18, 9, 0, tzinfo=UTC))
    url = reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": other.reference})
    assert "Bereitstellung beendet am 18.12.2026: nicht bis 17.12.2026 abgerufen" in staff_client.get(url).content.decode()
    from rathaus.cases.services import decision_post_record

    with at(datetime(2026, 12, 18, 9, 0, tzinfo=UTC)):
        decision_post_record(notice=DecisionNotice.objects.get(document=other_letter), posted_on=date(2026, 12, 18),
                             actor=None)
    assert "per Post versandt am 18.12.2026; bekannt gegeben am 22.12.2026" in staff_client.get(url).content.decode()


def test_the_case_page_shows_the_notice_state_in_english(staff_client, decided, town):
    application, _letter, _token = decided(consent=True)
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": application.reference})
    with at(MONDAY + timedelta(hours=1)):
        page = staff_client.get(url).content.decode()
    assert "provided for retrieval on 07.12.2026, retrievable until 17.12.2026; not retrieved yet" in page


# ---------------------------------------------------------------- a final status by hand withdraws the letter

def _decide_by_hand(application, status, staff):
    from rathaus.applications.services import application_change_status

    with at(MONDAY + timedelta(days=1)):
        application_change_status(application=application, status=status, actor=staff)


@pytest.mark.parametrize("status", ["rejected", "withdrawn"])
def test_a_status_set_by_hand_against_the_letter_withdraws_its_provision(client, decided, town, make_staff, status):
    application, letter, token = decided(consent=True)
    _decide_by_hand(application, status, make_staff(town))
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.state == "withdrawn" and notice.provision_ended_at == MONDAY + timedelta(days=1)
    assert notice.withdrawn_reason.startswith("Der Antrag erhielt von Hand den Status")
    with at(MONDAY + timedelta(days=2)):
        _retrieve(application, letter)
        page = _status(client, application, token)
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None
    assert not AuditEntry.objects.filter(action="case.decision_retrieved").exists()
    assert "Dieser Bescheid wurde nicht bekannt gegeben und ist gegenstandslos" in page
    assert "Bitte laden Sie den Bescheid" not in page
    line = CaseEvent.objects.get(application=application, kind__in=["process_ended", "emails_held_back"],
                                 data__withdrawn_letters=[letter.pk])
    assert "Nicht bekannt gegeben und zurückgezogen: Hundesteuerbescheid" in line.text
    assert AuditEntry.objects.filter(action="case.decision_withdrawn").count() == 1
    # Nor does the sweep send it to post later.
    assert _end_provisions(MONDAY + timedelta(days=30)) == {"ended": 0}
    assert DecisionNotice.objects.get(document=letter).post_due_since is None


def test_a_withdrawn_letter_leaves_the_list_of_letters_to_post(staff_client, decided, town, make_staff):
    from rathaus.cases.services import CaseFileError, decision_post_record

    application, letter, _token = decided(consent=False)
    staff = make_staff(town, email="zweite@musterstadt.example")
    _decide_by_hand(application, "rejected", staff)
    assert application.reference not in staff_client.get(_to_post_url(town)).content.decode()
    notice = DecisionNotice.objects.get(document=letter)
    with at(MONDAY + timedelta(days=2)), pytest.raises(CaseFileError):
        decision_post_record(notice=notice, posted_on=date(2026, 12, 9), actor=staff)
    notice.refresh_from_db()
    assert notice.posted_on is None and notice.state == "withdrawn"
    page = staff_client.get(reverse("applications:staff_detail", kwargs={
        "municipality": town.slug, "reference": application.reference})).content.decode()
    assert "nicht bekannt gegeben, zurückgezogen am 08.12.2026" in page


def test_closing_an_approved_case_confirms_the_letter_and_keeps_its_notice(client, decided, town, make_staff):
    application, letter, token = decided(consent=True)
    application.refresh_from_db()
    assert application.status == "approved"
    _decide_by_hand(application, "closed", make_staff(town))
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.withdrawn_at is None and notice.state == "provided"
    assert not AuditEntry.objects.filter(action="case.decision_withdrawn").exists()


def test_a_letter_already_retrieved_is_not_withdrawn(client, decided, town, make_staff):
    application, letter, token = decided(consent=True)
    with at(MONDAY + timedelta(hours=1)):
        _retrieve(application, letter)
    _decide_by_hand(application, "rejected", make_staff(town))
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.withdrawn_at is None and notice.state == "retrieved"


# ---------------------------------------------------------------- after the last day, before the sweep

def test_after_the_last_day_the_status_page_says_post_even_before_the_sweep(client, decided):
    application, letter, token = decided(consent=True)
    before_the_sweep = datetime(2026, 12, 17, 23, 5, tzinfo=UTC)  # 00:05 on the 18th in Berlin, not swept yet
    with at(before_the_sweep):
        page = _status(client, application, token)
        _retrieve(application, letter)
        assert DecisionNotice.objects.get(document=letter).state == "post_due"
    assert "Sie erhalten diesen Bescheid per Post." in page
    assert "Bitte laden Sie den Bescheid bis zum 17.12.2026 herunter." not in page
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.retrieved_at is None and notice.provision_ended_at is None
    assert not AuditEntry.objects.filter(action="case.decision_retrieved").exists()


def test_on_the_last_day_in_berlin_the_letter_is_still_provided(client, decided):
    application, _letter, token = decided(consent=True)
    with at(datetime(2026, 12, 17, 22, 30, tzinfo=UTC)):  # 23:30 on the 17th in Berlin
        assert "Bitte laden Sie den Bescheid bis zum 17.12.2026 herunter." in _my_status(application)


# ---------------------------------------------------------------- no new version of a letter given notice

def _new_version(staff_client, application, document):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from rathaus.cases.tests.conftest import PDF

    return staff_client.post(reverse("cases:version_upload", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference,
        "document_id": document.pk}), {"file": SimpleUploadedFile("korrektur.pdf", PDF, "application/pdf")})


@pytest.mark.parametrize("consent", [True, False])
def test_a_decision_letter_given_notice_takes_no_new_version(staff_client, decided, consent):
    application, letter, _token = decided(consent=consent)
    response = _new_version(staff_client, application, letter)
    assert response.status_code == 422
    assert "erhält keine neue Version. Legen Sie eine Berichtigung als neues Dokument an" in response.content.decode()
    assert list(letter.versions.values_list("number", flat=True)) == [1]
    assert not AuditEntry.objects.filter(action="case.version_added").exists()


def test_the_refusal_of_a_new_version_reads_in_english(staff_client, decided):
    application, letter, _token = decided(consent=True)
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "add a correction as a new document" in _new_version(staff_client, application, letter).content.decode()


def test_an_internal_draft_of_a_letter_still_takes_new_versions(staff_client, decided, town, make_staff):
    from rathaus.cases.services import document_upload_staff
    from rathaus.cases.tests.conftest import PDF

    application, _letter, _token = decided(consent=True)
    draft = document_upload_staff(application=application, filename="entwurf.pdf", raw=PDF, title="Entwurf",
                                  document_type=DocumentType.DECISION, confidentiality="internal",
                                  actor=make_staff(town, email="entwurf@musterstadt.example"))
    assert _new_version(staff_client, application, draft).status_code == 302
    assert list(draft.versions.values_list("number", flat=True)) == [1, 2]


# ---------------------------------------------------------------- a letter staff add is announced by e-mail

def _staff_letter(application, town, make_staff, title="Änderungsbescheid"):
    from rathaus.cases.services import document_upload_staff
    from rathaus.cases.tests.conftest import PDF

    with at(MONDAY + timedelta(days=2)):
        return document_upload_staff(application=application, filename="bescheid.pdf", raw=PDF, title=title,
                                     document_type=DocumentType.DECISION, confidentiality="public",
                                     actor=make_staff(town, email="bescheid@musterstadt.example"))


def test_a_letter_staff_add_for_retrieval_is_announced_by_email_with_its_last_day(decided, town, make_staff):
    from rathaus.processes.models import OutboxMessage

    application, _letter, _token = decided(consent=True)
    before = OutboxMessage.objects.count()
    document = _staff_letter(application, town, make_staff)
    notice = DecisionNotice.objects.get(document=document)
    assert notice.state == "provided" and notice.retrieve_by == date(2026, 12, 21)  # 19th is a Saturday
    message = OutboxMessage.objects.get(idempotency_key=f"decision-notice:{document.pk}")
    assert OutboxMessage.objects.count() == before + 1
    assert message.payload["to"] == [application.applicant_email]
    assert "„Änderungsbescheid“" in message.payload["body"] and "bis zum 21.12.2026" in message.payload["body"]
    assert f"/meine-antraege/{application.reference}/" in message.payload["body"]


def test_without_an_email_address_a_letter_staff_add_is_not_provided_but_goes_to_post(decided, town, make_staff):
    from rathaus.processes.models import OutboxMessage

    application, _letter, _token = decided(consent=True)
    application.applicant_email = ""
    application.save(update_fields=["applicant_email"])
    document = _staff_letter(application, town, make_staff)
    notice = DecisionNotice.objects.get(document=document)
    assert notice.retrieve_by is None and notice.state == "post_due"
    assert not OutboxMessage.objects.filter(idempotency_key=f"decision-notice:{document.pk}").exists()


def test_without_consent_a_letter_staff_add_sends_no_email(decided, town, make_staff):
    from rathaus.processes.models import OutboxMessage

    application, _letter, _token = decided(consent=False)
    document = _staff_letter(application, town, make_staff)
    assert DecisionNotice.objects.get(document=document).state == "post_due"
    assert not OutboxMessage.objects.filter(idempotency_key=f"decision-notice:{document.pk}").exists()


def test_a_letter_a_process_step_wrote_gets_no_second_email(decided):
    from rathaus.processes.models import OutboxMessage

    _application, letter, _token = decided(consent=True)
    assert not OutboxMessage.objects.filter(idempotency_key=f"decision-notice:{letter.pk}").exists()


def test_withdrawing_a_letter_cancels_its_unsent_email(decided, town, make_staff):
    from rathaus.processes.models import OutboxMessage

    application, _letter, _token = decided(consent=True)
    document = _staff_letter(application, town, make_staff)
    _decide_by_hand(application, "rejected", make_staff(town))
    message = OutboxMessage.objects.get(idempotency_key=f"decision-notice:{document.pk}")
    assert message.sent_at is None and message.cancelled_at is not None
    # Counted with the case's other e-mails held back (the process's had gone out already).
    line = CaseEvent.objects.get(application=application, kind="emails_held_back")
    assert line.data["cancelled_outbox_ids"] == [message.pk]
    assert "Deshalb wurde 1 noch nicht versandte E-Mail zu diesem Antrag zurückgehalten." in line.text


def test_closing_an_approved_case_lets_the_announcement_of_a_letter_staff_added_go(decided, town, make_staff):
    from rathaus.processes.models import OutboxMessage
    from rathaus.processes.outbox import outbox_deliver

    application, _letter, _token = decided(consent=True)
    document = _staff_letter(application, town, make_staff)
    message = OutboxMessage.objects.get(idempotency_key=f"decision-notice:{document.pk}")
    assert (message.letter_id, message.sent_at) == (document.pk, None)
    _decide_by_hand(application, "closed", make_staff(town))
    assert outbox_deliver(message_id_=message.pk) is True
    assert DecisionNotice.objects.get(document=document).state == "provided"
    assert not CaseEvent.objects.filter(application=application, kind="emails_held_back").exists()


# ---------------------------------------------------------------- only her signed-in download is a retrieval

def test_a_download_with_the_status_link_is_an_information_copy_not_a_retrieval(client, decided):
    application, letter, token = decided(consent=True)
    with at(MONDAY + timedelta(hours=1)):
        response = _download(client, application, letter, token)
        page = _status(client, application, token)
    assert response.status_code == 200 and response.get("Content-Disposition", "").startswith("attachment")
    notice = DecisionNotice.objects.get(document=letter)
    assert notice.retrieved_at is None and notice.state == "provided"
    assert not AuditEntry.objects.filter(action="case.decision_retrieved").exists()
    assert not CaseEvent.objects.filter(kind="decision_retrieved").exists()
    assert "nur eine Kopie zur Information und gilt nicht als Abruf" in page
    login = reverse("accounts:login") + "?next=" + reverse("applications:my_status", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference})
    assert f'href="{login}"' in page


def test_a_head_request_under_her_account_is_no_retrieval(decided):
    application, letter, _token = decided(consent=True)
    client = Client()
    client.force_login(application.applicant)
    with at(MONDAY + timedelta(hours=1)):
        client.head(reverse("cases:my_download", kwargs={
            "municipality": application.municipality.slug, "reference": application.reference,
            "document_id": letter.pk}))
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None


def test_another_signed_in_person_cannot_download_or_retrieve_her_letter(decided, make_user):
    application, letter, _token = decided(consent=True)
    client = Client()
    client.force_login(make_user("fremd@example.org"))
    response = client.get(reverse("cases:my_download", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference, "document_id": letter.pk}))
    assert response.status_code == 404
    assert DecisionNotice.objects.get(document=letter).retrieved_at is None


@pytest.mark.django_db(transaction=True)  # the schema changes
def test_the_upgrade_links_an_unsent_announcement_to_its_letter(decided, town, make_staff, migrator):
    from rathaus.processes.models import OutboxMessage

    application, _letter, _token = decided(consent=True)
    from rathaus.cases.services import document_upload_staff
    from rathaus.cases.tests.conftest import PDF

    document = _staff_letter(application, town, make_staff)
    sent = document_upload_staff(application=application, filename="b.pdf", raw=PDF, title="Berichtigungsbescheid",
                                 document_type=DocumentType.DECISION, confidentiality="public", actor=document.created_by)
    migrator([("processes", "0012_outbox_message_letter")])
    # As queued before the upgrade; one still waits for the mail server, the other went out.
    OutboxMessage.objects.update(letter=None)
    OutboxMessage.objects.filter(idempotency_key=f"decision-notice:{document.pk}").update(sent_at=None)
    assert OutboxMessage.objects.get(idempotency_key=f"decision-notice:{sent.pk}").sent_at is not None
    migrator([("processes", "0013_outbox_letter_of_staff_letters")])
    linked = dict(OutboxMessage.objects.filter(letter__isnull=False).values_list("idempotency_key", "letter_id"))
    assert linked == {f"decision-notice:{document.pk}": document.pk}  # a sent one needs no link


# ---------------------------------------------------------------- the days a notified letter sets

BANK = "Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX)"


@pytest.fixture
def with_account(town):
    from rathaus.tenants.models import Municipality

    Municipality.objects.filter(pk=town.pk).update(payee_name="Stadtkasse Musterstadt", iban="DE89370400440532013000",
                                                   bic="COBADEFFXXX")
    town.refresh_from_db()
    return town


def _euros(amount) -> str:
    return f"{amount:.2f}".replace(".", ",")


def test_the_tax_letter_keeps_its_payment_terms_with_its_notice(decided, with_account):
    from rathaus.processes.models import OutboxMessage

    application, letter, _token = decided(consent=True)
    notice = DecisionNotice.objects.get(document=letter)
    assert (notice.payment_months, notice.payment_days, notice.payment_account) == (1, None, BANK)
    assert notice.payment_reference.startswith(f"{application.reference}-") and len(notice.payment_reference) == len(
        application.reference) + 7  # and six hex digits of the step's key
    assert notice.amount_due is not None and notice.amount_due > 0 and notice.asks_payment
    # What the letter's e-mail asked for: the same amount and reference.
    body = OutboxMessage.objects.get(idempotency_key__startswith=f"{application.reference}:", letter=letter).payload["body"]
    assert f"Bitte überweisen Sie {_euros(notice.amount_due)} € innerhalb eines Monats nach Bekanntgabe des Bescheids" in body
    assert f"mit dem Verwendungszweck {notice.payment_reference}" in body


def test_once_retrieved_her_status_page_names_the_notice_the_end_of_the_remedy_and_the_day_to_pay(decided, with_account):
    application, letter, _token = decided(consent=True)
    notice = DecisionNotice.objects.get(document=letter)
    with at(MONDAY + timedelta(hours=1)):
        assert "Bekannt gegeben am" not in _my_status(application)  # not known before the retrieval
        _retrieve(application, letter)
    with at(MONDAY + timedelta(days=1)):
        page = _my_status(application)
    # Retrieved Monday 7 December: notified on the 8th; one month: Friday 8 January 2027, a working day.
    assert '<dl class="facts notice-dates">' in page
    assert "<dt>Bekannt gegeben am</dt><dd>08.12.2026</dd>" in page
    assert "<dt>Rechtsbehelfsfrist</dt><dd>bis zum 08.01.2027</dd>" in page
    assert (f"<dt>Zu zahlen</dt><dd>bis 08.01.2027: {_euros(notice.amount_due)} € an {BANK} mit dem Verwendungszweck "
            f"{notice.payment_reference}</dd>") in page
    assert "die Rechtsbehelfsfrist (bis zu diesem Tag können Sie Widerspruch oder Klage erheben" in page  # the help


def test_the_days_read_in_english(client, decided, with_account):
    application, letter, token = decided(consent=True)
    notice = DecisionNotice.objects.get(document=letter)
    with at(MONDAY + timedelta(hours=1)):
        _retrieve(application, letter)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = _status(client, application, token)
    assert "<dt>Notified on</dt><dd>08.12.2026</dd>" in page
    assert "<dt>Time limit for a legal remedy</dt><dd>until 08.01.2027</dd>" in page
    assert (f"<dt>To pay</dt><dd>by 08.01.2027: {notice.amount_due:.2f} € to {BANK} with the payment reference "
            f"{notice.payment_reference}</dd>") in page
    assert "Once a decision letter has been notified, the days that matter are shown with it" in page


def test_a_letter_posted_on_a_saturday_counts_to_the_monday_after_the_weekend(staff_client, decided, town):
    from rathaus.cases.services import decision_post_record

    application, letter, token = decided(consent=False)  # without an account at the town: no account in the line
    notice = DecisionNotice.objects.get(document=letter)
    with at(datetime(2026, 12, 19, 9, 0, tzinfo=UTC)):
        decision_post_record(notice=notice, posted_on=date(2026, 12, 19), actor=None)
    # Posted Saturday 19 December: notified Wednesday 23rd; one month ends Saturday 23 January 2027, so Monday 25th.
    url = reverse("applications:staff_detail", kwargs={"municipality": town.slug, "reference": application.reference})
    assert (f"per Post versandt am 19.12.2026; bekannt gegeben am 23.12.2026; Rechtsbehelfsfrist bis zum 25.01.2027; "
            f"zu zahlen bis 25.01.2027: {_euros(notice.amount_due)} € (Verwendungszweck {notice.payment_reference})"
            ) in staff_client.get(url).content.decode()
    page = Client().get(reverse("applications:status", kwargs={
        "municipality": town.slug, "reference": application.reference, "token": token})).content.decode()
    assert "<dt>Rechtsbehelfsfrist</dt><dd>bis zum 25.01.2027</dd>" in page
    assert (f"<dd>bis 25.01.2027: {_euros(notice.amount_due)} € mit dem Verwendungszweck {notice.payment_reference}"
            "</dd>") in page


def test_a_letter_whose_payment_terms_were_not_kept_shows_no_day_to_pay(decided):
    application, letter, _token = decided(consent=True)
    DecisionNotice.objects.filter(document=letter).update(amount_due=None, payment_months=None, payment_reference="")
    with at(MONDAY + timedelta(hours=1)):
        _retrieve(application, letter)
        page = _my_status(application)
    assert "<dt>Rechtsbehelfsfrist</dt><dd>bis zum 08.01.2027</dd>" in page
    assert "Zu zahlen" not in page


def test_the_case_file_export_gives_the_days_of_a_notified_letter(staff_client, decided, town):
    application, letter, _token = decided(consent=True)
    url = reverse("cases:export_json", kwargs={"municipality": town.slug, "reference": application.reference})
    assert {(r["notice_date"], r["remedy_until"], r["pay_by"]) for r in staff_client.get(url).json()} == {("", "", "")}
    with at(MONDAY + timedelta(hours=1)):
        _retrieve(application, letter)
    rows = {r["document"]: r for r in staff_client.get(url).json()}
    assert (rows[letter.pk]["notice_date"], rows[letter.pk]["remedy_until"], rows[letter.pk]["pay_by"]) == (
        "2026-12-08", "2027-01-08", "2027-01-08")
    assert all(r["notice_date"] == "" for pk, r in rows.items() if pk != letter.pk)
    header = staff_client.get(url.replace("akte.json", "akte.csv")).content.decode("utf-8-sig").splitlines()[0]
    assert header.endswith(",notice_date,remedy_until,pay_by")


def test_a_period_to_pay_in_days_moves_off_the_christmas_holidays(town):
    from rathaus.cases.services import NoticeDates, notice_dates

    # Retrieved Thursday 10 December: notified on the 11th; 14 days: Friday 25 December, then
    # Boxing Day and a Sunday: Monday 28th.
    notice = DecisionNotice(retrieved_at=datetime(2026, 12, 10, 9, 0, tzinfo=UTC), amount_due=25, payment_days=14)
    assert notice_dates(notice, municipality=town) == NoticeDates(notice_date=date(2026, 12, 11),
                                                                  remedy_until=date(2027, 1, 11), pay_by=date(2026, 12, 28))


def test_the_periods_skip_the_holidays_of_the_towns_state(town):
    from rathaus.cases.services import notice_dates
    from rathaus.tenants.models import Municipality

    # Notified Sunday 6 December 2026: one month ends Wednesday 6 January 2027, Epiphany in Bayern
    # (the town's AGS begins with 09) but not in Niedersachsen (03).
    notice = DecisionNotice(retrieved_at=datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    assert notice_dates(notice, municipality=town).remedy_until == date(2027, 1, 7)
    assert notice_dates(notice, municipality=Municipality(ags="03241001")).remedy_until == date(2027, 1, 6)
    assert notice_dates(DecisionNotice(), municipality=town) is None  # not notified yet
