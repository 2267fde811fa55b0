"""Cases over the staff API: filters, cursor pages (opaque, stable, fixed queries), detail with history, documents."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rathaus.accounts.models import Role
from rathaus.accounts.rules import Perm
from rathaus.applications.models import Status, StatusChange
from rathaus.cases.models import Confidentiality, Document

from .staff_api import *  # noqa: F403 - fixtures
from .staff_api import PDF, PROBLEM, bearer

pytestmark = pytest.mark.django_db

CASES = "/api/v1/m/musterstadt/cases"


@pytest.fixture
def reader(make_token):
    return make_token([Perm.VIEW_INBOX, Perm.HANDLE_APPLICATION])


def get(path, raw, **params):
    return Client().get(path, params, headers=bearer(raw))


def all_pages(raw, **params) -> tuple[list[str], int]:
    """Follow `next` to the end; returns the references in order and the number of pages."""
    references, pages = [], 0
    response = get(CASES, raw, **params).json()
    while True:
        pages += 1
        references += [c["reference"] for c in response["items"]]
        if response["next"] is None:
            assert response["next_cursor"] is None
            return references, pages
        response = Client().get(response["next"], headers=bearer(raw)).json()


def change_status(application, status, minutes_later):
    """A status change recorded `minutes_later` after submission (a later change of the case)."""
    StatusChange.objects.create(municipality=application.municipality, application=application, status=status,
                                public_text="x")
    StatusChange.objects.filter(application=application, status=status).update(
        created_at=application.submitted_at + timedelta(minutes=minutes_later))
    application.status = status
    application.updated_at = application.submitted_at + timedelta(minutes=minutes_later)
    application.save(update_fields=["status", "updated_at"])


def test_pages_list_every_case_once_in_order_of_last_change(town, reader, submit_dog):
    applications = [submit_dog() for _ in range(5)]
    change_status(applications[0], Status.IN_REVIEW, 30)  # the oldest case changed last
    references, pages = all_pages(reader, limit=2)
    expected = [a.reference for a in applications[1:]] + [applications[0].reference]
    assert references == expected
    assert pages == 3
    first = get(CASES, reader, limit=2).json()
    assert first["items"][0]["updated_at"] <= first["items"][1]["updated_at"]
    assert "MUS" not in first["next_cursor"]  # opaque: no reference or id in plain text


def test_a_case_changing_while_paging_is_listed_again_never_skipped(town, reader, submit_dog):
    applications = [submit_dog() for _ in range(4)]
    first = get(CASES, reader, limit=2).json()
    assert [c["reference"] for c in first["items"]] == [a.reference for a in applications[:2]]
    change_status(applications[0], Status.APPROVED, 60)  # already seen; changes now
    rest, _ = all_pages(reader, limit=2, cursor=first["next_cursor"])
    assert rest == [applications[2].reference, applications[3].reference, applications[0].reference]


def test_filters_status_service_and_updated_since(town, reader, submit_dog):
    applications = [submit_dog() for _ in range(3)]
    change_status(applications[1], Status.IN_REVIEW, 90)
    assert all_pages(reader, status="in_review")[0] == [applications[1].reference]
    assert len(all_pages(reader, status="received")[0]) == 2
    since = (applications[1].submitted_at + timedelta(minutes=60)).isoformat()
    assert all_pages(reader, updated_since=since)[0] == [applications[1].reference]
    assert all_pages(reader, service=applications[0].service_id)[0] == [a.reference for a in applications[::2]] + [
        applications[1].reference]
    assert all_pages(reader, service=999999)[0] == []
    bad = get(CASES, reader, status="lost")
    assert bad.status_code == 422 and bad["Content-Type"] == PROBLEM
    naive = get(CASES, reader, updated_since="2026-01-01T00:00:00")
    assert naive.status_code == 400 and naive.json()["errors"][0]["pointer"] == "/updated_since"


def test_status_changes_and_new_documents_bring_a_case_back_into_updated_since(town, reader, submit_dog):
    from rathaus.applications.services import application_change_status
    from rathaus.cases.services import Generated, document_add_generated

    quiet, changed, documented = submit_dog(), submit_dog(), submit_dog()
    since = timezone.now().isoformat()
    assert all_pages(reader, updated_since=since)[0] == []
    application_change_status(application=changed, status=Status.IN_REVIEW, actor=None)
    document_add_generated(application=documented, generated=Generated(raw=PDF, filename="vermerk.pdf"),
                           title="Vermerk", document_type="other", idempotency_key="test:vermerk")
    assert all_pages(reader, updated_since=since)[0] == [changed.reference, documented.reference]
    assert quiet.reference not in all_pages(reader)[0][-2:]


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "WyJ4IiwxXQ", "eyJhIjoxfQ"])
def test_a_broken_cursor_is_a_400_problem(town, reader, cursor):
    response = get(CASES, reader, cursor=cursor)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-cursor")
    assert response.json()["errors"][0]["detail"] == "ungültig"
    english = Client().get(CASES, {"cursor": cursor}, headers={**bearer(reader), "Accept-Language": "en"}).json()
    assert english["detail"] == "The cursor is not valid. Use the value from next_cursor."
    assert english["errors"][0]["detail"] == "invalid"


def test_a_page_costs_the_same_queries_whatever_its_size(town, reader, submit_dog):
    for _ in range(12):
        submit_dog()
    get(CASES, reader, limit=1)  # the token's last use is written once a minute: not part of the count
    counts = {}
    for limit in (2, 12):
        with CaptureQueriesContext(connection) as queries:
            assert len(get(CASES, reader, limit=limit).json()["items"]) == limit
        counts[limit] = len(queries)
    assert counts[2] == counts[12] <= 5


def test_case_detail_has_data_and_status_history(town, reader, submit_dog):
    application = submit_dog()
    change_status(application, Status.IN_REVIEW, 5)
    detail = get(f"{CASES}/{application.reference}", reader).json()
    assert detail["reference"] == application.reference
    assert detail["status"] == "in_review" and detail["status_label"] == "In Bearbeitung"
    assert [h["status"] for h in detail["history"]] == ["received", "in_review"]
    assert detail["data"]["dog"]["name"] == "Bello"
    assert detail["form_key"] == application.form.key
    assert detail["updated_at"] == detail["history"][-1]["at"]
    assert get(f"{CASES}/MUS-2026-999999", reader).status_code == 404


def test_documents_list_and_download_with_hash(town, reader, exempt_dog):
    listed = get(f"{CASES}/{exempt_dog.reference}/documents", reader)
    assert listed.status_code == 200
    proof = next(d for d in listed.json() if d["form_field"] == "reduction/proof")
    assert proof["source"] == "citizen_online" and proof["may_open"]
    assert proof["versions"][0]["sha512"] == hashlib.sha512(PDF).hexdigest()
    download = Client().get(proof["download"], headers=bearer(reader))
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert body == PDF
    assert download["X-Content-SHA512"] == hashlib.sha512(body).hexdigest()
    assert get(f"{proof['download']}?version=9", reader).status_code == 404


def test_confidential_documents_need_the_right_to_see_them(town, admin, make_token, make_staff, exempt_dog):
    from rathaus.cases.rules import CasePerm

    document = Document.objects.get(application=exempt_dog, form_field="reduction/proof")
    Document.objects.filter(pk=document.pk).update(confidentiality=Confidentiality.CONFIDENTIAL)
    path = f"{CASES}/{exempt_dog.reference}/documents"
    plain = make_token([Perm.VIEW_INBOX])
    listed = next(d for d in get(path, plain).json() if d["id"] == document.pk)
    assert listed["may_open"] is False and listed["download"] is None
    assert get(f"{path}/{document.pk}", plain).status_code == 404
    lead_token = make_token([Perm.VIEW_INBOX, CasePerm.VIEW_CONFIDENTIAL])
    assert get(f"{path}/{document.pk}", lead_token).status_code == 200
    # A case worker's token cannot carry the right: she does not hold it herself.
    worker = make_staff(town, "worker@musterstadt.example", role=Role.CASE_WORKER)
    worker.memberships.update(role=Role.TENANT_ADMIN)
    worker_token = make_token([Perm.VIEW_INBOX, CasePerm.VIEW_CONFIDENTIAL], actor=worker)
    worker.memberships.update(role=Role.CASE_WORKER)
    assert get(f"{path}/{document.pk}", worker_token).status_code == 404


def test_cases_of_the_other_municipality_are_not_listed(town, other_town, reader, submit_dog):
    ours = submit_dog()
    theirs = submit_dog(other_town)
    assert all_pages(reader)[0] == [ours.reference]
    assert get(f"{CASES}/{theirs.reference}", reader).status_code == 404
