"""Reads on the service catalogue; every function needs the municipality."""

import json
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


_SCHEMAS: dict[str, Any] = {}  # form schema text -> parsed document (forms change rarely; bounded below)


def counted_service_for_submission(*, slug: str, service_id: int,
                                   count: tuple[str, str, str] | None = None) -> tuple[Service | None, bool]:
    """The published service of an active municipality, with municipality and form, in one query;
    with `count` (group, key, rate) the request counted against that rate limit in the same
    statement (see `core.ratelimit`): (service or None, over the limit).

    For the submission endpoint, where this look-up is on every request: hand-written SQL instead
    of the ORM's (which compiles anew each time), the form's schema parsed once per distinct text.

    The statement is prepared, so its plan is made once, perhaps while tables are small: it reads
    only rows found by their keys (service, municipality, form), never a table that grows.
    """
    from rathaus.core.sql import instance_from_row, prepared_cursor, select_columns
    from rathaus.forms.models import FormDefinition
    from rathaus.tenants.models import Municipality

    # Counting writes: with a read replica configured, the statement must go to the primary.
    connection = connections[router.db_for_read(Service) if count is None else router.db_for_write(Service)]
    quote = connection.ops.quote_name
    # What a submission does not read stays deferred (time stamps are the dearest columns to load).
    s_cols, s_fields = select_columns(Service, "s", connection, defer=(
        "description", "required_documents", "created_at", "updated_at"))
    m_cols, m_fields = select_columns(Municipality, "m", connection, defer=("address", "created_at"))
    f_cols, f_fields = select_columns(FormDefinition, "f", connection, defer=("rules", "created_at"))
    tables = (f"{quote(Service._meta.db_table)} s "
              f"JOIN {quote(Municipality._meta.db_table)} m ON m.id = s.municipality_id "
              f"JOIN {quote(FormDefinition._meta.db_table)} f ON f.id = s.form_id")
    found = "m.slug = %s AND m.is_active AND s.id = %s AND s.is_published"
    limit, over, params = 0, False, []
    if count is not None and connection.vendor != "postgresql":
        over, count = over_limit(*count), None  # no data-modifying CTEs: counted in a statement of its own
    if count is None:
        sql = f"SELECT {s_cols}, {m_cols}, {f_cols}, 0 FROM {tables} WHERE {found}"  # noqa: S608 - names from the models
    else:
        # One row whether or not the service exists: the count, joined with the service if found.
        counting, params, limit = counting_statement(connection, *count)
        sql = (f"WITH counted AS ({counting}) SELECT {s_cols}, {m_cols}, {f_cols}, counted.hits "  # noqa: S608 - names from the models
               f"FROM counted LEFT JOIN ({tables}) ON {found}")
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [*params, slug, service_id])
        row = cursor.fetchone()
    over = over or (count is not None and row is not None and row[-1] > limit)
    if row is None or row[0] is None:
        return None, over
    row = row[:-1]
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
    return service, over
