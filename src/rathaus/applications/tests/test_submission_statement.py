"""The submission's write (one statement on PostgreSQL, ORM inserts elsewhere) and its look-up.

Both databases must store the same: reference, first status, event with the reference, one job.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from rathaus.applications.models import Application, ReferenceCounter, Status
from rathaus.applications.services import application_submit
from rathaus.catalog.selectors import counted_service_for_submission
from rathaus.forms.models import FormDefinition
from rathaus.integration.models import DomainEvent, EventKind

pytestmark = pytest.mark.django_db


def test_submission_stores_reference_status_event_and_audit_together(town, demo_services, dog_data):
    service = demo_services["hund-anmelden"]
    first = application_submit(municipality=town, service=service, data=dog_data).application
    second = application_submit(municipality=town, service=service, data=dog_data).application
    year = first.submitted_at.year
    assert first.reference == f"{town.reference_prefix}-{year}-000001"
    assert second.reference == f"{town.reference_prefix}-{year}-000002"
    stored = Application.objects.get(pk=first.pk)
    assert stored.reference == first.reference and stored.data == dog_data and stored.status == Status.RECEIVED
    assert [(c.status, c.public_text != "") for c in stored.history.all()] == [(Status.RECEIVED, True)]
    event = DomainEvent.objects.get(application=stored)
    assert event.kind == EventKind.APPLICATION_SUBMITTED and event.reference == first.reference
    assert event.data["reference"] == first.reference and event.data["service"]["slug"] == service.slug
    assert event.data["channel"] == "online" and event.municipality_id == town.pk
    from rathaus.core.models import AuditEntry

    audit = AuditEntry.objects.get(action="application.submitted", object_id=str(first.pk))
    assert audit.summary.startswith(first.reference) and audit.hash


def test_numbers_past_six_digits_keep_counting(town, demo_services, dog_data):
    service = demo_services["hund-anmelden"]
    first = application_submit(municipality=town, service=service, data=dog_data).application
    ReferenceCounter.objects.filter(municipality=town).update(value=999_998)
    numbers = [application_submit(municipality=town, service=service, data=dog_data).application.reference
               for _ in range(2)]
    prefix = f"{town.reference_prefix}-{timezone.localtime(first.submitted_at).year}-"
    assert numbers == [prefix + "999999", prefix + "1000000"]


def test_the_number_carries_the_year_in_germany(town, demo_services, dog_data):
    # 00:30 on New Year's Day in Berlin is still 31 December in UTC: the application is of the new year.
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=new_year):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"],
                                         data=dog_data).application
    assert application.reference == f"{town.reference_prefix}-2027-000001"
    assert application.submitted_at == new_year


def test_each_municipality_counts_for_itself(town, other_town, demo_services, dog_data):
    from rathaus.catalog import demo_forms
    from rathaus.catalog.services import form_definition_create, service_upsert

    application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
    form = form_definition_create(municipality=other_town, key="hund", title="Hund", schema=demo_forms.dog_registration())
    service = service_upsert(municipality=other_town, slug="hund", form=form, leika_key="99108002001000", name="Hund",
                             summary="Kurz", office="Bürgerbüro", processing_days=5)
    other = application_submit(municipality=other_town, service=service, data=dog_data)
    assert re.fullmatch(rf"{other_town.reference_prefix}-\d{{4}}-000001", other.application.reference)


def test_html_in_the_data_is_stored_as_text(town, demo_services, dog_data):
    dog_data["dog"]["name"] = "Bello"
    dog_data["owner"]["family_name"] = "O'Brien"
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    assert Application.objects.get(pk=application.pk).data["owner"]["family_name"] == "O'Brien"
    assert DomainEvent.objects.get(application=application).reference == application.reference


def _failing_write(stack: contextlib.ExitStack) -> None:
    """Make the submission's write fail half-way: PostgreSQL refuses a row of its one statement
    (a job priority out of range), elsewhere the audit append raises after the inserts."""
    if connection.vendor == "postgresql":
        from rathaus.core import jobs

        real_job_row = jobs.job_row

        def bad_job(task, *args):
            row = real_job_row(task, *args)
            row.priority = 10**6
            return row

        stack.enter_context(override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}))
        # The job's part of the statement is built once per task and backend: anew with the bad row.
        jobs._job_template.cache_clear()
        stack.callback(jobs._job_template.cache_clear)
        stack.enter_context(mock.patch("rathaus.core.jobs.job_row", bad_job))
    else:
        stack.enter_context(mock.patch("rathaus.applications.services.audit_record", side_effect=RuntimeError("disk full")))


@pytest.mark.django_db(transaction=True)
def test_a_failed_submission_stores_nothing_and_leaves_no_gap_on_postgresql(town, demo_services, dog_data):
    from rathaus.core.models import AuditEntry

    service = demo_services["hund-anmelden"]
    first = application_submit(municipality=town, service=service, data=dog_data).application
    audit_count = AuditEntry.objects.count()
    with contextlib.ExitStack() as stack:
        _failing_write(stack)
        with pytest.raises(Exception, match="priority_range|disk full"):
            application_submit(municipality=town, service=service, data=dog_data)
    assert Application.objects.count() == 1
    assert DomainEvent.objects.filter(kind=EventKind.APPLICATION_SUBMITTED).count() == 1
    assert AuditEntry.objects.count() == audit_count
    after = application_submit(municipality=town, service=service, data=dog_data).application
    # On PostgreSQL the number is taken in the submission's statement and rolled back with it;
    # elsewhere it is taken before, in its own transaction, and the failed submission leaves a gap.
    step = 1 if connection.vendor == "postgresql" else 2
    assert int(after.reference.rsplit("-", 1)[1]) == int(first.reference.rsplit("-", 1)[1]) + step
    from rathaus.core.audit import audit_verify

    assert audit_verify() == []


def test_lookup_finds_only_published_services_of_active_towns(town, other_town, demo_services):
    service = demo_services["hund-anmelden"]
    found = counted_service_for_submission(slug=town.slug, service_id=service.pk)[0]
    assert found.pk == service.pk and found.municipality.slug == town.slug and found.form.schema == service.form.schema
    assert counted_service_for_submission(slug=other_town.slug, service_id=service.pk)[0] is None  # another town's slug
    service.is_published = False
    service.save(update_fields=["is_published"])
    assert counted_service_for_submission(slug=town.slug, service_id=service.pk)[0] is None
    service.is_published = True
    service.save(update_fields=["is_published"])
    town.is_active = False
    town.save(update_fields=["is_active"])
    assert counted_service_for_submission(slug=town.slug, service_id=service.pk)[0] is None


def test_lookup_sees_a_changed_form_at_once(town, demo_services):
    service = demo_services["hund-anmelden"]
    assert "Neuer Titel" not in json.dumps(counted_service_for_submission(slug=town.slug, service_id=service.pk)[0].form.schema)
    form = service.form
    form.schema = {**form.schema, "title": "Neuer Titel"}
    form.save(update_fields=["schema"])
    assert counted_service_for_submission(slug=town.slug, service_id=service.pk)[0].form.schema["title"] == "Neuer Titel"


@pytest.mark.django_db(transaction=True)
def test_one_job_sends_the_receipt_starts_the_process_and_informs_subscribers(town, demo_services, dog_data):
    from rathaus.integration.models import Delivery, SubscriptionKind
    from rathaus.integration.services import subscription_create
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import ProcessInstance

    attach_demo_processes(town, demo_services)
    subscription_create(municipality=town, kind=SubscriptionKind.EMAIL, name="Steueramt", email="steuer@town.example")
    mail.outbox.clear()
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    # Tests run jobs at once (immediate backend): by now the job has run after the commit.
    assert ProcessInstance.objects.filter(application=application).exists()
    receipts = [m for m in mail.outbox if application.reference in m.subject and "Eingangsbestätigung" in m.subject]
    assert len(receipts) == 1 and receipts[0].to == [dog_data["owner"]["email"]]
    assert application.reference in receipts[0].body and receipts[0].attachments == []
    assert Delivery.objects.filter(event__application=application, subscription__email="steuer@town.example").exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_part_of_the_job_does_not_stop_the_others(town, demo_services, dog_data):
    from rathaus.applications.tasks import application_received
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import ProcessInstance

    attach_demo_processes(town, demo_services)
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    mail.outbox.clear()
    with mock.patch("rathaus.applications.tasks._send_receipt", side_effect=OSError("mail server down")), \
            pytest.raises(OSError, match="mail server down"):
        application_received.call(application.pk)
    assert ProcessInstance.objects.filter(application=application).exists()  # the process started all the same


@pytest.mark.django_db(transaction=True)
def test_the_database_hashes_the_entry_as_verify_audit_does(town, demo_services, dog_data, make_staff):
    from rathaus.core.audit import audit_verify, entry_hash
    from rathaus.core.models import AuditEntry

    service = demo_services["hund-anmelden"]
    service.name = 'Hund „Bello\\" anmelden – ÄÖÜß 🐕'
    service.save(update_fields=["name"])
    clerk = make_staff(town)
    application = application_submit(municipality=town, service=service, data=dog_data, channel="office",
                                     entered_by=clerk, ip="2001:0db8:0000:0000:0000:0000:0000:0001").application
    stored = AuditEntry.objects.get(action="application.submitted", object_id=str(application.pk))
    assert stored.summary == f"{application.reference} {service.name}"
    assert stored.actor_id == clerk.pk and stored.ip_address == "2001:db8::1"
    assert stored.hash == entry_hash(stored) and audit_verify() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_get_consecutive_numbers_and_one_unbroken_chain(town, demo_services, dog_data):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from rathaus.core.audit import audit_verify

    service = demo_services["hund-anmelden"]

    def submit(i: int) -> str:
        try:
            return application_submit(municipality=town, service=service, data=dog_data,
                                      idempotency_key=f"key-{i}").application.reference
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        references = list(pool.map(submit, range(60)))
    numbers = sorted(int(reference.rsplit("-", 1)[1]) for reference in references)
    assert numbers == list(range(1, 61))
    assert audit_verify() == []
    # Along the chain the times rise: each entry is stamped once it holds the chain (not before waiting).
    from rathaus.core.models import AuditEntry

    times = list(AuditEntry.objects.filter(municipality=town, action="application.submitted")
                 .order_by("id").values_list("created_at", flat=True))
    assert len(times) == 60 and times == sorted(times)


@pytest.mark.django_db(transaction=True)
def test_a_lost_idempotency_race_inside_a_callers_transaction_replays(town, demo_services, dog_data):
    from django.db import transaction

    service = demo_services["hund-anmelden"]
    first = application_submit(municipality=town, service=service, data=dog_data, idempotency_key="twice")
    with transaction.atomic():
        # As the API stores it: the key is recognised by the unique constraint, not looked up first.
        again = application_submit(municipality=town, service=service, data=dog_data, idempotency_key="twice",
                                   key_checked_by_insert=True)
        assert Application.objects.count() == 1  # the caller's transaction is still usable
    assert not again.created and again.application.pk == first.application.pk
    assert again.access_token == first.access_token


@pytest.mark.django_db(transaction=True)
def test_the_receipt_goes_out_once_even_when_the_job_runs_again(town, demo_services, dog_data):
    from rathaus.applications.tasks import application_received
    from rathaus.processes.models import OutboxMessage

    mail.outbox.clear()
    application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application
    application_received.call(application.pk)  # a re-run (e.g. after another part failed)
    receipts = [m for m in mail.outbox if "Eingangsbestätigung" in m.subject]
    assert len(receipts) == 1
    from rathaus.applications.services import access_token_for

    # The status link is composed when sent (the outbox row holds no token).
    assert application.reference in receipts[0].body and access_token_for(application) in receipts[0].body
    message = OutboxMessage.objects.get(idempotency_key=f"receipt:{application.pk}")
    assert message.sent_at is not None and "token" not in json.dumps(message.payload)


@pytest.mark.django_db(transaction=True)
def test_a_receipt_the_mail_server_refused_is_sent_by_the_sweep(town, demo_services, dog_data):
    from rathaus.processes.models import OutboxMessage
    from rathaus.processes.outbox import outbox_deliver_pending

    mail.outbox.clear()
    with mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("SMTP down")):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"],
                                         data=dog_data).application
    message = OutboxMessage.objects.get(idempotency_key=f"receipt:{application.pk}")
    assert message.sent_at is None and "SMTP down" in message.last_error and message.attempts == 1
    assert outbox_deliver_pending() == 0  # tried again a minute later, not on the next sweep at once
    assert outbox_deliver_pending(now=timezone.now() + timedelta(minutes=1, seconds=1)) == 1
    assert [m.to for m in mail.outbox if application.reference in m.subject] == [[dog_data["owner"]["email"]]]


@pytest.mark.django_db(transaction=True)
def test_a_receipt_for_an_application_anonymised_before_sending_is_dropped_not_retried(town, demo_services, dog_data,
                                                                                      make_staff):
    from rathaus.applications.services import application_anonymise, application_change_status
    from rathaus.processes.models import OutboxMessage
    from rathaus.processes.outbox import outbox_deliver_pending

    lead = make_staff(town)
    with mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", side_effect=OSError("SMTP down")):
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"],
                                         data=dog_data).application
    application_change_status(application=application, status="withdrawn", actor=lead)
    assert application_anonymise(application=application, actor=lead, reason="Test")
    mail.outbox.clear()
    outbox_deliver_pending(now=timezone.now() + timedelta(minutes=1, seconds=1))
    message = OutboxMessage.objects.get(idempotency_key=f"receipt:{application.pk}")
    assert message.sent_at is not None  # settled: the sweep does not try again
    assert not [m for m in mail.outbox if "Eingangsbestätigung" in m.subject]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements and their plans (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_an_api_submission_reads_no_other_application_however_many_there_are(client, town, demo_services, dog_data,
                                                                            settings):
    """The hot path's statements are prepared: their plan is made once, often while the table is
    small and not analysed. None may then read the applications already stored (it did: a look-up
    of the Idempotency-Key planned as a scan of the town's applications, slower with each one)."""
    settings.RATELIMIT_SUBMISSIONS = "1000/m"
    url = f"/api/v1/m/{town.slug}/applications"
    body = json.dumps({"service": demo_services["hund-anmelden"].pk, "data": dog_data})

    def fetched() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) FROM pg_stat_user_tables "
                           "WHERE relname = %s", [Application._meta.db_table])
            return cursor.fetchone()[0]

    def submit(number: int) -> None:
        response = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"k-{number}")
        assert response.status_code == 201

    for number in range(30):  # more than the 5 runs after which the plan is made once for all
        submit(number)
    reads = []
    for batch in (range(30, 60), range(60, 90)):
        before = fetched()
        for number in batch:
            submit(number)
        reads.append(fetched() - before)

    assert Application.objects.count() == 90
    # What a submission reads (its own rows, the job's look-ups) does not grow with the table.
    assert reads[1] <= reads[0] + 10, reads


# ---------------------------------------------------------------- remembered look-ups


def _api_submit(client, town, service, data, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/api/v1/m/{town.slug}/applications", json.dumps({"service": service.pk, "data": data}),
                       content_type="application/json", headers=headers)


def test_api_submissions_see_a_changed_form_unpublished_service_and_closed_town_at_once(client, town, demo_services,
                                                                                        dog_data, settings):
    """After the first submission the look-up is remembered (PostgreSQL): every change of the
    service, its form or its town must still count from the next request on, even one made in the
    same transaction (as here, where the whole test is one)."""
    settings.RATELIMIT_SUBMISSIONS = "1000/m"
    service = demo_services["hund-anmelden"]
    assert _api_submit(client, town, service, dog_data).status_code == 201
    assert _api_submit(client, town, service, dog_data).status_code == 201

    # Plain UPDATEs, no savepoint: each new row version carries this transaction's own id.
    forms = FormDefinition.objects.filter(pk=service.form_id)
    retitled = {**service.form.schema, "title": "Hund anmelden (überarbeitet)"}
    forms.update(schema=retitled)
    assert _api_submit(client, town, service, dog_data).status_code == 201  # remembers the retitled form
    stricter = json.loads(json.dumps(retitled))
    stricter["properties"]["dog"]["properties"]["name"]["maxLength"] = 3  # "Bello" is now too long
    forms.update(schema=stricter)
    refused = _api_submit(client, town, service, dog_data)
    assert refused.status_code == 422, refused.content
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/data/dog/name"]
    forms.update(schema=retitled)
    assert _api_submit(client, town, service, dog_data).status_code == 201

    service.is_published = False
    service.save(update_fields=["is_published"])
    assert _api_submit(client, town, service, dog_data).json()["type"].endswith("/unknown-service")
    service.is_published = True
    service.save(update_fields=["is_published"])
    assert _api_submit(client, town, service, dog_data).status_code == 201

    town.is_active = False
    town.save(update_fields=["is_active"])
    assert _api_submit(client, town, service, dog_data).status_code == 404
    assert Application.objects.filter(municipality=town).count() == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="look-ups are remembered on PostgreSQL only")
def test_a_remembered_lookup_saves_the_lookup_statement(client, town, demo_services, dog_data, settings):
    settings.RATELIMIT_SUBMISSIONS = "1000/m"
    service = demo_services["hund-anmelden"]
    with mock.patch("rathaus.applications.api.counted_service_for_submission",
                    side_effect=counted_service_for_submission) as looked_up:
        for _ in range(3):
            assert _api_submit(client, town, service, dog_data).status_code == 201
    assert looked_up.call_count == 1
    assert Application.objects.filter(municipality=town).count() == 3


@pytest.mark.django_db(transaction=True)  # as in production: what a refused statement wrote stays written
def test_every_api_request_counts_against_the_limit_whichever_way_it_is_stored(client, town, demo_services, dog_data,
                                                                               settings):
    """Stored, refused as invalid, replayed: each counts once, and the request over the limit
    stores nothing (on PostgreSQL the statement that stores counts too)."""
    from rathaus.core.models import AuditEntry

    settings.RATELIMIT_SUBMISSIONS = "3/m"
    service = demo_services["hund-anmelden"]
    first = _api_submit(client, town, service, dog_data, key="k-1")
    assert first.status_code == 201
    assert _api_submit(client, town, service, {**dog_data, "dog": {}}).status_code == 422
    replay = _api_submit(client, town, service, dog_data, key="k-1")
    assert replay.status_code == 201 and replay.json()["reference"] == first.json()["reference"]
    audit = AuditEntry.objects.count()
    refused = _api_submit(client, town, service, dog_data)
    assert refused.status_code == 429
    assert Application.objects.filter(municipality=town).count() == 1
    assert AuditEntry.objects.count() == audit
    assert _api_submit(client, town, service, dog_data, key="k-1").status_code == 429  # replays too, once over


@pytest.mark.skipif(connection.vendor != "postgresql", reason="look-ups are remembered on PostgreSQL only")
@pytest.mark.django_db(transaction=True)  # as in production: what a refused statement wrote stays written
def test_a_stale_lookup_stores_and_counts_nothing(town, demo_services, dog_data):
    from rathaus.applications.services import LookupStale
    from rathaus.catalog.selectors import remembered_service_for_submission
    from rathaus.core.models import RateCounter

    service = demo_services["hund-anmelden"]
    counted_service_for_submission(slug=town.slug, service_id=service.pk)
    lookup = remembered_service_for_submission(slug=town.slug, service_id=service.pk)
    assert lookup is not None and lookup.service.pk == service.pk
    service.name = "Hund anmelden (neu)"
    service.save(update_fields=["name"])
    with pytest.raises(LookupStale):
        application_submit(municipality=lookup.service.municipality, service=lookup.service, data=dog_data,
                           lookup=lookup, count=("api-submit", "10.0.0.9", "10/m"))
    assert not Application.objects.filter(municipality=town).exists()
    assert not RateCounter.objects.filter(key__startswith="api-submit:10.0.0.9").exists()
    assert not ReferenceCounter.objects.filter(municipality=town).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's query cache (PostgreSQL)")
def test_the_submission_statement_stays_within_psycopgs_query_cache(client, town, demo_services, dog_data, db_queue):
    """psycopg converts a query's %s placeholders once and caches the result, but only for queries
    of at most 4,096 bytes and 50 parameters; a longer one is parsed anew on every call, which
    cost a submission more than a tenth of its CPU. The longest form of the statement (remembered
    look-up, rate count, receipt e-mail, job) must stay within both."""
    from psycopg import _queries

    from rathaus.applications import services

    service = demo_services["hund-anmelden"]
    statements = []
    real = services.prepared_cursor

    @contextlib.contextmanager
    def recording(db):
        with real(db) as cursor:
            execute = cursor.execute
            cursor.execute = lambda sql, params=None: (statements.append((sql, params)), execute(sql, params))[1]
            yield cursor

    # Within db_queue's override (the settings fixture's would outlive it and keep the queue).
    with override_settings(RATELIMIT_SUBMISSIONS="1000/m"), mock.patch.object(services, "prepared_cursor", recording):
        for number in range(2):  # with an Idempotency-Key: one parameter more
            assert _api_submit(client, town, service, dog_data, key=f"size-{number}").status_code == 201
    sql, params = statements[-1]
    assert all(f"{part} AS (" in sql for part in ("valid", "counted", "receipt", "job")), sql
    assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert len(params) <= _queries.MAX_CACHED_STATEMENT_PARAMS


@pytest.mark.skipif(connection.vendor != "postgresql", reason="look-ups are remembered on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_a_towns_first_entry_counts_the_request_once(town, demo_services, dog_data):
    """Without an audit chain head the statement stores nothing but the count; the second try,
    once the head exists, must not count the request again."""
    from rathaus.catalog.selectors import remembered_service_for_submission
    from rathaus.core.models import AuditChainHead, RateCounter

    service = demo_services["hund-anmelden"]
    counted_service_for_submission(slug=town.slug, service_id=service.pk)
    lookup = remembered_service_for_submission(slug=town.slug, service_id=service.pk)
    AuditChainHead.objects.filter(key=f"m:{town.pk}").delete()
    result = application_submit(municipality=town, service=lookup.service, data=dog_data, lookup=lookup,
                                count=("api-submit", "10.0.0.7", "10/m"))
    assert result.created and result.application.reference.endswith("-000001")
    assert RateCounter.objects.get(key="api-submit:10.0.0.7").hits == 1
    assert AuditChainHead.objects.filter(key=f"m:{town.pk}").exists()
