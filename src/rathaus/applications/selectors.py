"""Reads on applications; every staff read is scoped to one municipality."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import OPEN_STATUSES, Application, Draft, Status, StatusChange

# A whole reference number as printed on receipts, e.g. MUS-2026-000123.
FULL_REFERENCE = re.compile(r"^[A-Za-z]{2,5}-\d{4}-\d{6,}$")


def application_inbox(*, municipality, status: str = "", service_id: int | None = None, channel: str = "",
                      overdue: bool = False, query: str = ""):
    """The staff inbox; select_related keeps a page at a fixed number of queries."""
    qs = (Application.objects.for_municipality(municipality)
          .select_related("service")
          .only("id", "reference", "status", "channel", "submitted_at", "due_date", "applicant_name",
                "service__name", "service__id", "municipality_id"))
    if status:
        qs = qs.filter(status=status)
    if service_id:
        qs = qs.filter(service_id=service_id)
    if channel:
        qs = qs.filter(channel=channel)
    if overdue:
        qs = qs.filter(status__in=OPEN_STATUSES, due_date__lt=timezone.localdate())
    if query:
        query = query.strip()
        if FULL_REFERENCE.match(query):
            # A pasted reference is looked up through the unique index, not by scanning every case.
            qs = qs.filter(reference=query.upper())
        else:
            qs = qs.filter(reference__icontains=query) | qs.filter(applicant_name__icontains=query)
    return qs.order_by("-submitted_at", "-id")


def application_get(*, municipality, reference: str) -> Application:
    qs = (Application.objects.for_municipality(municipality)
          .select_related("service", "form", "municipality", "applicant", "entered_by")
          .prefetch_related(Prefetch("history", queryset=StatusChange.objects.select_related("actor")),
                            "notes__author"))
    return get_object_or_404(qs, reference=reference)


def application_row_get(*, municipality, reference: str) -> Application:
    """One application with its service and municipality only: for pages and downloads that need no history."""
    qs = Application.objects.for_municipality(municipality).select_related("service", "municipality")
    return get_object_or_404(qs, reference=reference)


def application_list_for_user(*, user):
    """A citizen's own applications across municipalities (they are hers, not a tenant's)."""
    return (Application.objects.filter(applicant=user).select_related("service", "municipality")
            .order_by("-submitted_at"))


def application_by_idempotency_key(*, municipality, key: str) -> Application | None:
    return Application.objects.for_municipality(municipality).filter(idempotency_key=key).first()


def draft_get(*, municipality, token: str) -> Draft:
    return get_object_or_404(Draft.objects.for_municipality(municipality).select_related("service__form"),
                             token=token, expires_at__gt=timezone.now())


# ---------------------------------------------------------------- jobs' reads (hand-written SQL)

@dataclass(frozen=True)
class ApplicationSelect:
    """The parts of a statement that reads applications with municipality and service (aliases a, m, s).

    Built once per database and shape; `statement` puts a statement together, `build`
    turns the first columns of a row into the application with both parents attached and
    returns the rest of the row.
    """

    columns: str
    tables: str
    fields: tuple[tuple[Any, tuple[Any, ...]], ...]
    lock_clause: str  # locks the application's row only ("" where the database has no FOR UPDATE OF)

    def statement(self, where: str, *, columns: str = "", joins: str = "", lock: bool = False) -> str:
        """``SELECT <application, parents>[, columns] FROM <them>[ joins] WHERE where``, locked if asked."""
        extra = f", {columns}" if columns else ""
        sql = f"SELECT {self.columns}{extra} FROM {self.tables}{' ' + joins if joins else ''} WHERE {where}"  # noqa: S608 - names from the models
        return sql + self.lock_clause if lock else sql

    def build(self, row, connection) -> tuple[Application, tuple]:
        from rathaus.core.sql import instance_from_row

        made, at = [], 0
        for model, fields in self.fields:
            made.append(instance_from_row(model, fields, row[at:at + len(fields)], connection))
            at += len(fields)
        application, municipality, service = made
        application.municipality, application.service = municipality, service
        return application, tuple(row[at:])


@functools.lru_cache(maxsize=16)
def _application_select(alias: str, defer: tuple[str, ...]) -> ApplicationSelect:
    from django.db import connections

    from rathaus.catalog.models import Service
    from rathaus.catalog.selectors import MUNICIPALITY_UNREAD, SERVICE_UNREAD
    from rathaus.core.sql import select_columns
    from rathaus.tenants.models import Municipality

    connection = connections[alias]
    quote = connection.ops.quote_name
    a_cols, a_fields = select_columns(Application, "a", connection, defer=defer)
    m_cols, m_fields = select_columns(Municipality, "m", connection, defer=MUNICIPALITY_UNREAD)
    s_cols, s_fields = select_columns(Service, "s", connection, defer=SERVICE_UNREAD)
    tables = (f"{quote(Application._meta.db_table)} a "
              f"JOIN {quote(Municipality._meta.db_table)} m ON m.{quote('id')} = a.{quote('municipality_id')} "
              f"JOIN {quote(Service._meta.db_table)} s ON s.{quote('id')} = a.{quote('service_id')}")
    return ApplicationSelect(f"{a_cols}, {m_cols}, {s_cols}", tables,
                             ((Application, a_fields), (Municipality, m_fields), (Service, s_fields)),
                             " FOR UPDATE OF a" if connection.features.has_select_for_update_of else "")


def application_select(connection, *, defer: tuple[str, ...] = ()) -> ApplicationSelect:
    """Statement parts for reading applications with their parents; `defer`: application fields left out."""
    return _application_select(connection.alias, tuple(defer))


def application_for_job(application_id: int, *, defer: tuple[str, ...] = ("data",),
                        lock: bool = False) -> Application | None:
    """One application with municipality and service, read by one prepared statement; None if gone.

    For the jobs, steps and e-mails after a submission, which run once per case, and for status
    changes (by the process, staff or the API): the ORM would compile the same join anew each
    time. The form data and the parents' long texts are left out unless asked for (loaded on
    access, one query each). `lock`: the application's row stays locked until the transaction ends (as
    ``select_for_update(of=("self",))``; call it inside one).
    """
    from django.db import connections, router

    from rathaus.core.sql import prepared_cursor

    connection = connections[router.db_for_write(Application) if lock else router.db_for_read(Application)]
    select, sql = _by_id(connection.alias, tuple(defer), lock)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [application_id])
        row = cursor.fetchone()
    return None if row is None else select.build(row, connection)[0]


@functools.lru_cache(maxsize=16)
def _by_id(alias: str, defer: tuple[str, ...], lock: bool) -> tuple[ApplicationSelect, str]:
    from django.db import connections

    select = _application_select(alias, defer)
    return select, select.statement(f"a.{connections[alias].ops.quote_name('id')} = %s", lock=lock)


@dataclass(frozen=True)
class Awaited:
    """What an open application waits for from the citizen: ``documents`` (the missing ``items``
    if staff named them), a ``payment`` or an ``answer`` to a question, and the last day for it
    (None: not known)."""

    kind: str
    until: date | None = None
    items: tuple[str, ...] = ()


def application_awaited(*, municipality, application, requests, instance) -> Awaited | None:
    """What the case waits for from her, or None if it is being processed (or closed).

    `requests` are its open document requests and `instance` its process (None: none), as the
    status page reads them once for this and for the upload panel. While it waits, the processing
    norm's date is no promise the town can keep: the status page names what is awaited and until
    when instead. Documents staff asked for come first (their deadline is the one she was told),
    then what the process waits for, then the status alone.
    """
    if not application.takes_documents:
        return None
    from rathaus.cases.selectors import request_rows
    from rathaus.processes.models import DOCUMENT_MESSAGE, PAYMENT_MESSAGE
    from rathaus.processes.selectors import citizen_wait

    if requests:
        missing = tuple(item for request in requests for _index, item, done in request_rows(request) if not done)
        return Awaited("documents", min(request.deadline for request in requests), missing)
    wait = citizen_wait(municipality=municipality, application=application, instance=instance)
    if wait is not None and PAYMENT_MESSAGE in wait.messages:
        return Awaited("payment", wait.until)
    if wait is not None and DOCUMENT_MESSAGE in wait.messages:
        return Awaited("documents", wait.until)
    if application.status == Status.PAYMENT_DUE:
        return Awaited("payment")
    if application.status == Status.WAITING:
        return Awaited("answer")
    return None

