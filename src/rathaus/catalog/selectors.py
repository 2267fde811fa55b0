"""Reads on the service catalogue; every function needs the municipality."""

import json
import time
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Q
from django.shortcuts import get_object_or_404

from rathaus.core.ratelimit import counting_statement, over_limit
from rathaus_domain.forms.validation import prepare

from .models import LifeSituation, Service


def service_list(*, municipality, query: str = "", life_situation: str = "", published_only: bool = True):
    qs = Service.objects.for_municipality(municipality).select_related("form").prefetch_related("life_situations")
    if published_only:
        qs = qs.filter(is_published=True)
    if query:
        for word in query.split()[:8]:
            qs = qs.filter(Q(name__icontains=word) | Q(summary__icontains=word) | Q(description__icontains=word)
                           | Q(leika_key=word) | Q(life_situations__name__icontains=word))
        qs = qs.distinct()
    if life_situation:
        qs = qs.filter(life_situations__key=life_situation)
    return qs.order_by("name")


def service_get(*, municipality, slug: str | None = None, pk: int | None = None, published_only: bool = True) -> Service:
    qs = Service.objects.for_municipality(municipality).select_related("form", "municipality")
    if published_only:
        qs = qs.filter(is_published=True)
    return get_object_or_404(qs, slug=slug) if slug is not None else get_object_or_404(qs, pk=pk)


def life_situation_list(*, municipality):
    return LifeSituation.objects.filter(service__municipality=municipality, service__is_published=True).distinct().order_by("name")


def service_choices(*, municipality):
    """(id, name) of every service, published or not, for staff filters."""
    return Service.objects.for_municipality(municipality).order_by("name").values_list("id", "name")


def service_remedy_list(*, municipality) -> list[Service]:
    """Every service, published or not, with the remedy its letters name (its own, or "" for the town's)."""
    return list(Service.objects.for_municipality(municipality).only("slug", "name", "remedy").order_by("name"))


def own_remedies(*, municipality) -> set[str]:
    """The remedies the town's services name instead of the town's (one small query, no rows)."""
    return set(Service.objects.for_municipality(municipality).exclude(remedy="").values_list("remedy", flat=True)
               .distinct())


# What the hot paths (a submission, the jobs after it) never read of a service and of its
# municipality: left out of their hand-written reads (time stamps are the dearest columns to load).
# The town's address is read: every decision letter prints it as sender and in its remedy instruction.
SERVICE_UNREAD = ("description", "required_documents", "created_at", "updated_at")
MUNICIPALITY_UNREAD = ("created_at",)

_SCHEMAS: dict[str, Any] = {}  # form schema text -> parsed document (forms change rarely; bounded below)


@dataclass(frozen=True)
class SubmissionLookup:
    """A submission look-up remembered by this process (PostgreSQL only): the service with its
    municipality and form, and `stamp`, the version of the three rows it was built from.

    A later submission to the same service validates against it without looking it up again; its
    statement checks the stamp (:func:`submission_lookup_guard`) and stores nothing when any of the
    rows changed since, or the service is no longer offered: the caller then forgets the entry and
    looks up afresh. The instances are shared by the threads of the process: read them, never
    change them.

    A stamp tells row versions apart within one database history. Transaction ids can be handed
    out again after a failover to a standby that lagged, or a restore to an earlier point in time;
    so a look-up is remembered for `LOOKUP_LIFETIME` seconds only, which bounds the time in which
    such a reused id could pass for the remembered one.
    """

    alias: str  # the database the stamp was read from, and must be checked on
    slug: str
    service_id: int
    service: Service
    stamp: str
    expires: float  # time.monotonic()


LOOKUP_LIFETIME = 60.0
_LOOKUPS: dict[tuple[str, str, int], SubmissionLookup] = {}  # (database alias, slug, service id) -> look-up
_MAX_LOOKUPS = 1024


def remembered_service_for_submission(*, slug: str, service_id: int) -> SubmissionLookup | None:
    """The last look-up of this service by `counted_service_for_submission` in this process, if it
    is recent (only on PostgreSQL, where the submission's statement can check that it still holds)."""
    lookup = _LOOKUPS.get((router.db_for_write(Service), slug, service_id))
    return lookup if lookup is not None and time.monotonic() < lookup.expires else None


def forget_service_for_submission(lookup: SubmissionLookup) -> None:
    """Drop a remembered look-up that turned out stale (see `SubmissionLookup`); a newer one that
    another thread remembered meanwhile stays."""
    key = (lookup.alias, lookup.slug, lookup.service_id)
    if _LOOKUPS.get(key) is lookup:
        _LOOKUPS.pop(key, None)


def submission_lookup_guard(connection, lookup: SubmissionLookup) -> tuple[str, list[Any]]:
    """A ``SELECT 1`` that yields a row if, and only if, the remembered look-up still holds: the
    service is published by an active municipality of that slug and none of the three rows
    changed since (same version stamp). For a data-modifying CTE that writes only if it does."""
    tables, found, stamp = _lookup_sql_parts(connection)
    return (f"SELECT 1 FROM {tables} WHERE {found} AND {stamp} = %s",  # noqa: S608 - names from the models
            [lookup.slug, lookup.service_id, lookup.stamp])


def _lookup_sql_parts(connection) -> tuple[str, str, str]:
    """The look-up's tables, its condition (parameters: slug, service id) and, on PostgreSQL, the
    version stamp of the three rows: every update writes a new row version, with the updating
    transaction's id (xmin) and a new place (ctid); the pair tells two versions apart even within
    one transaction."""
    from rathaus.forms.models import FormDefinition
    from rathaus.tenants.models import Municipality

    quote = connection.ops.quote_name
    tables = (f"{quote(Service._meta.db_table)} s "
              f"JOIN {quote(Municipality._meta.db_table)} m ON m.id = s.municipality_id "
              f"JOIN {quote(FormDefinition._meta.db_table)} f ON f.id = s.form_id")
    found = "m.slug = %s AND m.is_active AND s.id = %s AND s.is_published"
    stamp = "ROW(s.xmin, s.ctid, m.xmin, m.ctid, f.xmin, f.ctid)::text" if connection.vendor == "postgresql" else "''"
    return tables, found, stamp


def counted_service_for_submission(*, slug: str, service_id: int,
                                   count: tuple[str, str, str] | None = None) -> tuple[Service | None, bool]:
    """The published service of an active municipality, with municipality and form, in one query;
    with `count` (group, key, rate) the request counted against that rate limit in the same
    statement (see `core.ratelimit`): (service or None, over the limit). On PostgreSQL the
    look-up is remembered for later submissions (see `SubmissionLookup`).

    For the submission endpoint: hand-written SQL instead of the ORM's (which compiles anew each
    time), the form's schema parsed once per distinct text.

    The statement is prepared, so its plan is made once, perhaps while tables are small: it reads
    only rows found by their keys (service, municipality, form), never a table that grows.
    """
    from rathaus.core.sql import instance_from_row, prepared_cursor, select_columns
    from rathaus.forms.models import FormDefinition
    from rathaus.tenants.models import Municipality

    # Counting writes: with a read replica configured, the statement must go to the primary.
    # (Remembered look-ups are checked by the submission's own statement, on the primary, too.)
    connection = connections[router.db_for_read(Service) if count is None else router.db_for_write(Service)]
    s_cols, s_fields = select_columns(Service, "s", connection, defer=SERVICE_UNREAD)
    m_cols, m_fields = select_columns(Municipality, "m", connection, defer=MUNICIPALITY_UNREAD)
    f_cols, f_fields = select_columns(FormDefinition, "f", connection, defer=("rules", "created_at"))
    tables, found, stamp = _lookup_sql_parts(connection)
    limit, over, params = 0, False, []
    if count is not None and connection.vendor != "postgresql":
        over, count = over_limit(*count), None  # no data-modifying CTEs: counted in a statement of its own
    if count is None:
        sql = f"SELECT {s_cols}, {m_cols}, {f_cols}, {stamp}, 0 FROM {tables} WHERE {found}"  # noqa: S608 - names from the models
    else:
        # One row whether or not the service exists: the count, joined with the service if found.
        counting, params, limit = counting_statement(connection, *count)
        sql = (f"WITH counted AS ({counting}) SELECT {s_cols}, {m_cols}, {f_cols}, {stamp}, counted.hits "  # noqa: S608 - names from the models
               f"FROM counted LEFT JOIN ({tables}) ON {found}")
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [*params, slug, service_id])
        row = cursor.fetchone()
    over = over or (count is not None and row is not None and row[-1] > limit)
    if row is None or row[0] is None:
        return None, over
    row_stamp, row = row[-2], row[:-2]
    n_s, n_m = len(s_fields), len(m_fields)
    schema_at = n_s + n_m + [f.attname for f in f_fields].index("schema")
    text = row[schema_at]
    schema = _SCHEMAS.get(text)
    if schema is None:
        schema = json.loads(text)
        if len(_SCHEMAS) >= 256:
            _SCHEMAS.clear()
        _SCHEMAS[text] = schema
        prepare(schema)
    service = instance_from_row(Service, s_fields, row[:n_s], connection)
    service.municipality = instance_from_row(Municipality, m_fields, row[n_s:n_s + n_m], connection)
    service.form = instance_from_row(FormDefinition, f_fields, row[n_s + n_m:], connection, converted={"schema": schema})
    if connection.vendor == "postgresql" and connection.alias == router.db_for_write(Service):
        if len(_LOOKUPS) >= _MAX_LOOKUPS:
            _LOOKUPS.clear()
        _LOOKUPS[(connection.alias, slug, service_id)] = SubmissionLookup(
            connection.alias, slug, service_id, service, row_stamp, time.monotonic() + LOOKUP_LIFETIME)
    return service, over
