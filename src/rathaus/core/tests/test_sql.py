"""Hand-built statements (core/sql.py) store and read exactly what the ORM would."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rathaus.applications.models import Application, Channel, Status, StatusChange
from rathaus.core.models import AuditEntry
from rathaus.core.sql import (
    insert_many,
    insert_one,
    insert_select,
    insert_values,
    instance_from_row,
    prepared_cursor,
    select_columns,
    update_one,
)

pytestmark = pytest.mark.django_db


NOW = timezone.now()


def _application(town, service, **extra) -> Application:
    now = NOW
    values = dict(municipality=town, service=service, form=service.form, reference="MUS-2026-000001",
                  status=Status.RECEIVED, channel=Channel.ONLINE, data={"a": {"ü": [1, 2.5, None, "<b>"]}},
                  applicant_name="Erika <Muster>", applicant_email="e@example.org", access_token_hash="f" * 32,
                  request_hash="0" * 64, submitted_at=now, updated_at=now, due_date=date(2027, 1, 15))
    values.update(extra)
    return Application(**values)


def _row(model, pk) -> dict:
    return {f.attname: getattr(model.objects.get(pk=pk), f.attname) for f in model._meta.concrete_fields
            if f.attname != "id"}


def test_insert_select_stores_what_save_stores(town, demo_services):
    service = demo_services["hund-anmelden"]
    by_orm = _application(town, service)
    by_orm.save()
    by_sql = _application(town, service, reference="MUS-2026-000002")
    sql, params = insert_select(connection, by_sql, returning=("id",))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        new_id = cursor.fetchone()[0]
    expected = _row(Application, by_orm.pk) | {"reference": "MUS-2026-000002"}
    assert _row(Application, new_id) == expected


def test_insert_select_expressions_refer_to_an_earlier_row(town, demo_services):
    service = demo_services["hund-anmelden"]
    application = _application(town, service)
    application.save()
    change = StatusChange(municipality=town, application=application, status=Status.APPROVED, public_text="ok")
    # The application id comes from the source; the text is the instance's value with a suffix.
    sql, params = insert_select(connection, change, source=f"(SELECT {application.pk} AS id) src",
                                exprs={"application_id": "src.id", "public_text": "$value || '!'"})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    stored = StatusChange.objects.get(status=Status.APPROVED)
    assert stored.application_id == application.pk and stored.public_text == "ok!"
    assert stored.created_at is not None and abs(stored.created_at - timezone.now()) < timedelta(minutes=1)


def test_insert_select_refuses_unknown_columns(town, demo_services):
    with pytest.raises(ValueError, match="no columns"):
        insert_select(connection, _application(town, demo_services["hund-anmelden"]), exprs={"nonsense": "1"})


def test_insert_values_raw_keeps_the_times_set_on_the_instances(town):
    when = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.get_current_timezone())
    entries = [AuditEntry(municipality=town, action=f"test.{i}", data={"i": i}, created_at=when) for i in range(3)]
    sql, params = insert_values(connection, entries, returning=["id"], raw=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    stored = list(AuditEntry.objects.filter(pk__in=ids).order_by("id"))
    assert [e.action for e in stored] == ["test.0", "test.1", "test.2"]
    assert all(e.created_at == when for e in stored) and [e.data for e in stored] == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_instance_from_row_converts_as_the_orm_does(town, demo_services):
    application = _application(town, demo_services["hund-anmelden"])
    application.save()
    columns, fields = select_columns(Application, "a", connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {Application._meta.db_table} a WHERE a.id = %s", [application.pk])  # noqa: S608
        row = cursor.fetchone()
    loaded = instance_from_row(Application, fields, row, connection)
    orm = Application.objects.get(pk=application.pk)
    assert all(getattr(loaded, f.attname) == getattr(orm, f.attname) for f in fields)
    assert isinstance(loaded.submitted_at, datetime) and isinstance(loaded.due_date, date)
    assert loaded.data == {"a": {"ü": [1, 2.5, None, "<b>"]}}
    assert not loaded._state.adding


def test_prepared_cursor_prepares_on_postgresql_only():
    sql = "SELECT CAST(%s AS integer) + 1"
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [41])
        assert cursor.fetchone()[0] == 42
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["SELECT CAST($1 AS integer) + 1%"])
        assert cursor.fetchone()[0] == 1


def test_statements_stay_visible_in_djangos_query_log():
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx, prepared_cursor(connection) as cursor:
        cursor.execute("SELECT CAST(%s AS integer) + 2", [40])
        assert cursor.fetchone()[0] == 42
    assert ctx.captured_queries and "40" in ctx.captured_queries[-1]["sql"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_without_prepared_statements_nothing_is_prepared(monkeypatch):
    # DATABASE_PREPARED_STATEMENTS=false leaves Django's prepare_threshold at None (e.g. behind PgBouncer < 1.21).
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {**connection.settings_dict["OPTIONS"],
                                                              "prepare_threshold": None})
    with prepared_cursor(connection) as cursor:
        cursor.execute("SELECT CAST(%s AS integer) * 3", [14])
        assert cursor.fetchone()[0] == 42
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%* 3%"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite does not enforce lengths")
def test_a_value_too_long_for_its_column_is_refused_not_cut(town, demo_services):
    from django.db import DataError

    application = _application(town, demo_services["hund-anmelden"], reference="X" * 21)
    sql, params = insert_select(connection, application)
    with pytest.raises(DataError), connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert not Application.objects.exists()


def _inserted_models():
    from django_tasks_db.models import DBTaskResult

    from rathaus.integration.models import DomainEvent
    from rathaus.processes.models import OutboxMessage

    # Every model the hand-built statements insert (applications.services, core.audit).
    return [Application, StatusChange, AuditEntry, DomainEvent, OutboxMessage, DBTaskResult]


@pytest.mark.parametrize("model", _inserted_models())
def test_plain_values_skip_only_conversions_that_change_nothing(model):
    from django.utils.translation import gettext_lazy

    from rathaus.core.sql import _prep

    samples = ["Straße <b>", "", 7, 0, True, False, None, gettext_lazy("Eingegangen"), 2**40, 3.0]
    for field in model._meta.concrete_fields:
        for value in samples:
            try:
                expected = field.get_db_prep_save(value, connection)
            except Exception as exc:  # noqa: BLE001 - whatever the ORM raises, the fast path must raise too
                # A value the field cannot take fails the same way on the fast path.
                with pytest.raises(type(exc)):
                    _prep(field, value, connection)
                continue
            got = _prep(field, value, connection)
            # Adapters (psycopg's Jsonb) compare by what they wrap.
            assert (type(got), getattr(got, "obj", got)) == (type(expected), getattr(expected, "obj", expected)), \
                (field.name, value)


def test_insert_one_stores_what_save_stores(town, demo_services):
    service = demo_services["hund-anmelden"]
    fast = insert_one(_application(town, service))
    slow = _application(town, service, reference="MUS-2026-000002")
    slow.save()
    assert fast.pk and fast.pk != slow.pk and not fast._state.adding
    expected = _row(Application, slow.pk)
    expected["reference"] = "MUS-2026-000001"
    assert _row(Application, fast.pk) == expected
    change = insert_one(StatusChange(municipality=town, application=fast, status=Status.IN_REVIEW, public_text="x"))
    # auto_now_add is applied as save() applies it.
    assert StatusChange.objects.get(pk=change.pk).created_at == change.created_at is not None


def test_update_one_writes_only_the_given_fields_and_stamps_auto_now(town, demo_services):
    application = insert_one(_application(town, demo_services["hund-anmelden"]))
    other = Application.objects.get(pk=application.pk)
    other.applicant_name = "changed elsewhere"
    other.save(update_fields=["applicant_name"])
    application.status, application.data = Status.APPROVED, {"new": True}
    update_one(application, ["status", "data"])
    stored = Application.objects.get(pk=application.pk)
    assert (stored.status, stored.data, stored.applicant_name) == (Status.APPROVED, {"new": True}, "changed elsewhere")
    from rathaus.catalog.models import Service

    service = Service.objects.get(pk=demo_services["hund-anmelden"].pk)
    before = service.updated_at
    service.name = "Hund anmelden (neu)"
    update_one(service, ["name", "updated_at"])  # updated_at is auto_now
    stored_service = Service.objects.get(pk=service.pk)
    assert stored_service.name == "Hund anmelden (neu)" and stored_service.updated_at > before


def test_insert_and_update_one_refuse_models_with_their_own_save(town):
    entry = AuditEntry(municipality=town, action="test")
    with pytest.raises(ValueError, match="own save"):
        insert_one(entry)
    with pytest.raises(ValueError, match="own save"):
        update_one(entry, ["action"])
    assert not AuditEntry.objects.filter(action="test").exists()


def test_update_one_of_a_row_that_is_gone_fails_as_save_does(town, demo_services):
    from django.db import DatabaseError

    application = insert_one(_application(town, demo_services["hund-anmelden"]))
    Application.objects.filter(pk=application.pk).delete()
    application.status = Status.APPROVED
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        update_one(application, ["status"])


def test_insert_many_stores_what_bulk_create_stores_nulls_included(town, demo_services):
    application = insert_one(_application(town, demo_services["hund-anmelden"]))
    texts = ["eins", "zwei <b>", "drei ü"]

    def changes():
        # actor is NULL in every row: a column of NULLs only must still be typed.
        return [StatusChange(municipality=town, application=application, status=Status.IN_REVIEW, public_text=text)
                for text in texts]

    insert_many(changes())
    StatusChange.objects.bulk_create(changes())
    stored = list(StatusChange.objects.filter(application=application).order_by("id"))
    assert [c.public_text for c in stored] == texts + texts
    assert all(c.actor_id is None and c.created_at is not None for c in stored)
    insert_many([])  # nothing to insert: no statement
    assert StatusChange.objects.filter(application=application).count() == 6


def test_insert_many_keeps_texts_and_json_that_array_literals_would_have_to_escape(town, demo_services):
    # On PostgreSQL the rows go as one binary array per column: quotes, backslashes, braces, commas,
    # the word NULL and empty strings arrive as written, JSON documents included.
    from rathaus.processes.models import CaseEvent

    application = insert_one(_application(town, demo_services["hund-anmelden"]))
    texts = ['Er sagte: "Ja"', "C:\\Pfad\\datei", "{a,b}", "NULL", "", "zwei\nZeilen", "ß € ✓"]

    def lines():
        return [CaseEvent(municipality=town, application=application, kind="note", text=text,
                          data={"text": text, "list": [text, None, 1.5], "nested": {'"key"': "\\"}})
                for text in texts]

    insert_many(lines())
    CaseEvent.objects.bulk_create(lines())
    stored = list(CaseEvent.objects.filter(application=application).order_by("id"))
    assert [e.text for e in stored] == texts + texts
    assert [e.data for e in stored] == [line.data for line in lines()] * 2
