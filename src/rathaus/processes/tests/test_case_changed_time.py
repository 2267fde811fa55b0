"""A case's "last changed" time (updated_at, which back-office systems sync by) during a process move."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from rathaus.applications.changes import application_touch, touches_collected
from rathaus.applications.models import Application
from rathaus.applications.services import application_change_status
from rathaus.cases.models import Document
from rathaus.processes.services import process_start

pytestmark = pytest.mark.django_db


def _application_updates(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith('UPDATE "applications_application"')]


def test_an_automatic_decision_updates_the_case_row_once_and_its_time_covers_the_letter(town, demo_processes, dog_data):
    from rathaus.applications.services import application_submit

    with mock.patch("rathaus.applications.tasks.application_received"):  # the process starts below, counted
        application = application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data).application
    with CaptureQueriesContext(connection) as queries:
        process_start(application=application)
    application.refresh_from_db()
    letter = Document.objects.get(application=application, document_type="decision")
    assert application.status == "approved"
    # The letter's "case changed" and the status change's are one write (the status change's).
    assert len(_application_updates(queries.captured_queries)) == 1
    assert application.updated_at >= letter.created_at


def test_a_document_after_the_status_change_still_moves_the_time(town, demo_services, dog_data):
    from rathaus.applications.services import application_submit

    with mock.patch("rathaus.applications.tasks.application_received"):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    with transaction.atomic(), touches_collected():
        application_change_status(application=application, status="approved", actor=None, email=False)
        changed = Application.objects.get(pk=application.pk).updated_at
        application_touch(application)
        touched = application.updated_at
    assert touched > changed
    assert Application.objects.get(pk=application.pk).updated_at == touched


def test_outside_a_process_a_touch_is_written_at_once(town, demo_services, dog_data):
    from rathaus.applications.services import application_submit

    with mock.patch("rathaus.applications.tasks.application_received"):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    before = Application.objects.get(pk=application.pk).updated_at
    with transaction.atomic():
        application_touch(application)
        assert Application.objects.get(pk=application.pk).updated_at > before


def test_the_decision_letter_takes_the_towns_address_from_the_row_the_process_start_read(town, demo_processes,
                                                                                         dog_data):
    # The letter prints the town's address (sender, remedy instruction): read with the case, not
    # in a statement of its own for every letter.
    from rathaus.applications.services import application_submit

    town.address = "Rathausplatz 1\n99999 Musterstadt"
    town.save(update_fields=["address"])
    with mock.patch("rathaus.applications.tasks.application_received"):
        application = application_submit(municipality=town, service=demo_processes["hund-anmelden"], data=dog_data).application
    with CaptureQueriesContext(connection) as queries:
        process_start(application=application)
    assert Document.objects.filter(application=application, document_type="decision").exists()
    assert not [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "tenants_municipality"')]
