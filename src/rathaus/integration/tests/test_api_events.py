"""The events feed: `after=<cursor>` pages over the outbox; nothing is skipped or repeated while events arrive."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from rathaus.accounts.rules import Perm
from rathaus.integration.models import DomainEvent, EventKind
from rathaus.integration.services import event_emit

from .staff_api import *  # noqa: F403 - fixtures
from .staff_api import PROBLEM, bearer

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/m/musterstadt/events"


def emit(municipality, n: int = 1, kind: str = EventKind.STATUS_CHANGED) -> list[int]:
    ids = []
    for _ in range(n):
        with transaction.atomic():
            ids.append(event_emit(municipality=municipality, kind=kind, data={"n": len(ids)}).pk)
    return ids


def test_following_next_sees_every_event_once_while_new_ones_arrive(town, other_town, make_token):
    raw = make_token([Perm.VIEW_INBOX])
    expected = emit(town, 5)
    emit(other_town, 2)
    seen: list[int] = []
    url = f"{EVENTS}?limit=2"
    for round_ in range(12):
        page = Client().get(url, headers=bearer(raw)).json()
        seen += [e["id"] for e in page["events"]]
        assert page["cursor"] == (seen[-1] if seen else 0)
        url = page["next"]
        if round_ in (1, 4):  # new events arrive between two reads, for us and for the neighbours
            expected += emit(town, 3)
            emit(other_town, 1)
        if not page["has_more"] and round_ > 5:
            break
    assert seen == expected
    # An empty page keeps the cursor where it was.
    last = Client().get(url, headers=bearer(raw)).json()
    assert last["events"] == [] and last["cursor"] == expected[-1] and not last["has_more"]
    assert f"after={expected[-1]}" in last["next"]


def test_event_fields_and_limits(town, make_token, demo_services, dog_data, django_capture_on_commit_callbacks):
    from rathaus.applications.services import application_submit

    with django_capture_on_commit_callbacks(execute=True):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    raw = make_token([Perm.VIEW_INBOX])
    page = Client().get(EVENTS, headers=bearer(raw)).json()
    submitted = next(e for e in page["events"] if e["kind"] == EventKind.APPLICATION_SUBMITTED)
    assert submitted["reference"] == application.reference
    for bad in ("limit=0", "limit=201", "after=-1", "after=x"):
        response = Client().get(f"{EVENTS}?{bad}", headers=bearer(raw))
        assert response.status_code == 422, bad
        assert response["Content-Type"] == PROBLEM


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_is_not_skipped(town, make_token, held_open):
    """Event 1 gets its id first but commits after event 2: a reader must not jump over it.

    On PostgreSQL ids and commit order can differ (the read waits for the open insert); SQLite
    has one writer at a time, where the late writer cannot even start before the first commits.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    raw = make_token([Perm.VIEW_INBOX])
    assert Client().get(EVENTS, headers=bearer(raw)).json()["events"] == []  # warm: the first request is slow
    results: dict[str, object] = {}

    def reader():
        try:
            response = Client().get(EVENTS, headers=bearer(raw))
            results["status"] = response.status_code
            results["body"] = response.json()
        finally:
            connections.close_all()

    with held_open(lambda: event_emit(municipality=town, kind=EventKind.STATUS_CHANGED).pk) as first:
        [second] = emit(town)
        assert second > first
        # While the first insert is open, a poll never answers with the later event alone: it waits
        # up to the short lock timeout and then asks the client to come back (503), having skipped nothing.
        reading = threading.Thread(target=reader)
        reading.start()
        reading.join(5)
        assert results["status"] == 503, results
        assert results["body"]["type"].endswith("/busy")
    reader()
    assert results["status"] == 200
    assert [e["id"] for e in results["body"]["events"]] == [first, second]
    assert DomainEvent.objects.count() == 2
