"""Hand-built statements for hot paths: inserts (also as parts of data-modifying CTEs), single-row
updates, reads into model instances.

The ORM compiles every statement anew: on a submission and the job after it that was most of
their CPU. Here the SQL text for a model is built once per shape and cached; each call only
converts the instance's values with the fields' own ``get_db_prep_save`` (so JSON, dates and
foreign keys are stored exactly as the ORM would store them). For ``INSERT … SELECT`` columns can
be given as SQL expressions instead, usually referring to an earlier CTE (``app.id``), which lets
one statement insert a row and the rows that point at it. ``insert_one``, ``insert_many`` and
``update_one`` stand in for ``save()`` and ``bulk_create`` (see there).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DatabaseError, models


def _fast(connection) -> bool:
    """Whether the hand-written forms apply (PostgreSQL); elsewhere the ORM's own statements are used."""
    return connection.vendor == "postgresql"


@functools.lru_cache(maxsize=1024)
def _insert_select_text(model: type[models.Model], vendor_alias: str, exprs: tuple[tuple[str, str], ...],
                        source: str, returning: tuple[str, ...],
                        nulls: frozenset[str] = frozenset()) -> str:
    from django.db import connections

    connection = connections[vendor_alias]
    quote = connection.ops.quote_name
    overridden = dict(exprs)
    columns: list[str] = []
    values: list[str] = []
    for field in _insertable(model):
        # A typed parameter: on PostgreSQL INSERT … SELECT does not infer parameter types from the
        # target columns. (SQLite's CAST would apply type affinity, turning a date into a number.)
        # Without the length: an explicit cast to varchar(n) cuts silently, the column's own
        # (assignment) cast refuses a value that is too long, as the ORM's insert does.
        db_type = re.sub(r"^varchar\(\d+\)$", "varchar", field.db_type(connection) or "")
        typed = f"%s::{db_type}" if connection.vendor == "postgresql" else "%s"
        expression = overridden.pop(field.column, None)
        if expression is None and field.column in nulls:
            # Left out: the column is NULL (no database defaults here, see _insertable), and it is
            # one parameter less to convert, send and bind, and shorter text (see insert_select).
            continue
        columns.append(quote(field.column))
        if expression is None:
            values.append(typed)
        elif "$value" in expression:
            values.append(expression.replace("$value", typed))
        else:
            values.append(expression)
    if overridden:
        raise ValueError(f"{model.__name__} has no columns {sorted(overridden)}")
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) SELECT {', '.join(values)}"
    if source:
        sql += f" FROM {source}"
    if returning:
        sql += " RETURNING " + ", ".join(quote(name) for name in returning)
    return sql


def insert_select(connection, obj: models.Model, *, exprs: Mapping[str, str] | None = None, source: str = "",
                  returning: Sequence[str] = (), raw: bool = False) -> tuple[str, list[Any]]:
    """``INSERT INTO <obj's table> (…) SELECT … [FROM source] [RETURNING …]`` and its parameters.

    `exprs` maps column names to SQL expressions used instead of the instance's values; in an
    expression, ``$value`` stands for the instance's value (as a typed parameter), and nothing
    else may be a parameter. Auto-incrementing keys are left to the database; defaults and
    ``auto_now_add`` are applied to `obj` as ``save()`` would, unless `raw` (values as set).

    Keep a statement built of such parts within psycopg's cache of converted queries (4,096 bytes,
    50 parameters: ``psycopg._queries``); beyond, psycopg parses its text anew on every call.
    """
    model = type(obj)
    exprs = exprs or {}
    expressions = tuple(sorted(exprs.items()))
    # Only the values the statement uses (a column given by an expression without $value has none).
    values = [(field, getattr(obj, field.attname) if raw else field.pre_save(obj, True))
              for field in _valued(model, expressions)]
    nulls = frozenset(field.column for field, value in values if value is None and field.column not in exprs)
    sql = _insert_select_text(model, connection.alias, expressions, source, tuple(returning), nulls)
    # In the order of _insert_select_text's parameters: the fields with values, but the NULL ones.
    return sql, [_prep(field, value, connection) for field, value in values
                 if value is not None or field.column in exprs]


@functools.lru_cache(maxsize=1024)
def _valued(model: type[models.Model], expressions: tuple[tuple[str, str], ...]) -> tuple[models.Field, ...]:
    """The insertable fields whose values a statement uses."""
    given = dict(expressions)
    return tuple(field for field in _insertable(model) if field.column not in given or "$value" in given[field.column])


# Field classes whose get_db_prep_save returns a value of these exact types unchanged (their
# to_python/get_prep_value is the identity there); any other value or field goes the ORM's way.
# Not integer fields: on PostgreSQL Django wraps their values (Int4, Int8), which types the
# server-side parameter. Keys of auto-incrementing primary keys are passed as they are.
_PLAIN = {
    models.CharField: (str,), models.TextField: (str,), models.SlugField: (str,), models.EmailField: (str,),
    models.BooleanField: (bool,),
}


def _prep(field: models.Field, value: Any, connection) -> Any:
    if type(value) in _plain_types(field):
        return value
    return field.get_db_prep_save(value, connection)


@functools.lru_cache(maxsize=1024)
def _plain_types(field: models.Field) -> tuple[type, ...]:
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        return (int,) if isinstance(target, models.AutoField) else _PLAIN.get(type(target), ())
    return _PLAIN.get(type(field), ())


@functools.cache
def _insertable(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The fields an INSERT writes: not the auto-incrementing key, not generated columns."""
    fields = tuple(field for field in model._meta.concrete_fields
                   if not isinstance(field, models.AutoField) and not getattr(field, "generated", False))
    if any(getattr(field, "has_db_default", lambda: False)() for field in fields):
        raise ValueError(f"{model.__name__}: fields with db_default are not supported here")
    return fields


@functools.lru_cache(maxsize=256)
def _insert_values_text(model: type[models.Model], alias: str, rows: int,
                        returning: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]]:
    from django.db import connections

    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = _insertable(model)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - names from the model
           f"VALUES {', '.join([row] * rows)}")
    if returning:
        sql += " RETURNING " + ", ".join(quote(name) for name in returning)
    return sql, fields


@functools.lru_cache(maxsize=256)
def _insert_unnest_text(model: type[models.Model], alias: str,
                        returning: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]] | None:
    """The UNNEST form, or None where Django's own bulk insert would not use it either."""
    from django.db import connections

    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = _insertable(model)
    # As django.db.backends.postgresql.compiler: a field with its own placeholder, or of a type
    # the backend does not map (arrays, geometries), cannot go as one array per column.
    if any(hasattr(field, "get_placeholder")
           or (field.target_field if field.is_relation else field).get_internal_type() not in connection.data_types
           for field in fields):
        return None
    # As Django's own bulk insert on PostgreSQL: one array per column, typed without length
    # (varchar[], not varchar(50)[]: the column's cast refuses a value that is too long). Unlike
    # Django, each array goes in binary (%b): the text form quotes and backslash-escapes every
    # element with a regular expression in Python, which for the JSON of timeline and audit rows
    # cost more than the rest of their insert.
    arrays = ", ".join(f"(%b)::{field.db_type(connection).split('(')[0]}[]" for field in fields)
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - names from the model
           f"SELECT * FROM UNNEST({arrays})")
    if returning:
        sql += " RETURNING " + ", ".join(quote(name) for name in returning)
    return sql, fields


def insert_values(connection, objs: Sequence[models.Model], *, returning: Sequence[str] = (),
                  raw: bool = False) -> tuple[str, list[Any]]:
    """``INSERT INTO …`` of instances of one model ``[RETURNING …]``, and its parameters.

    With `raw`, values are stored as set on the instances (no ``auto_now_add`` stamping), as the
    ORM's ``_insert(raw=True)`` does. On PostgreSQL several rows go as one binary array per column
    (``SELECT * FROM UNNEST(…)``): the same text and parameter count for any number of rows, so
    psycopg converts it once and the server prepares it once (VALUES rows would make a new
    statement per count, beyond psycopg's cache of converted queries from 50 parameters on).
    Keys returned come in the order of `objs` (one statement takes its keys in row order; Django
    relies on the same).
    """
    model = type(objs[0])
    unnest = _insert_unnest_text(model, connection.alias, tuple(returning)) \
        if _fast(connection) and len(objs) > 1 else None
    sql, fields = unnest or _insert_values_text(model, connection.alias, len(objs), tuple(returning))
    rows = [[_prep(field, getattr(obj, field.attname) if raw else field.pre_save(obj, True), connection)
             for field in fields] for obj in objs]
    if unnest is not None:
        return sql, [list(column) for column in zip(*rows, strict=True)]
    return sql, [value for row in rows for value in row]


def select_columns(model: type[models.Model], alias: str, connection,
                   defer: tuple[str, ...] = ()) -> tuple[str, tuple[models.Field, ...]]:
    """``alias."col", …`` for the concrete fields of `model` but `defer`, and the fields in that order.

    Deferred fields load on first access, as with the ORM's ``defer()``. Built once per shape.
    """
    return _select_columns(model, alias, connection.alias, tuple(defer))


@functools.lru_cache(maxsize=256)
def _select_columns(model: type[models.Model], alias: str, db_alias: str,
                    defer: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]]:
    from django.db import connections

    quote = connections[db_alias].ops.quote_name
    fields = tuple(field for field in model._meta.concrete_fields if field.attname not in defer)
    return ", ".join(f"{alias}.{quote(field.column)}" for field in fields), fields


def instance_from_row(model: type[models.Model], fields: Sequence[models.Field], values: Sequence[Any], connection,
                      converted: Mapping[str, Any] | None = None):
    """A model instance from raw column values, converted as the ORM's compiler converts them.

    `converted` gives ready values for some attributes (e.g. a parsed document from a cache).
    """
    ready = converted or {}
    row = []
    for field, value in zip(fields, values, strict=True):
        if field.attname in ready:
            value = ready[field.attname]
        else:
            col, converters = _converters(model, field, connection.alias)
            for converter in converters:
                value = converter(value, col, connection)
        row.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], row)


@functools.lru_cache(maxsize=1024)
def _converters(model: type[models.Model], field: models.Field, alias: str) -> tuple[Any, tuple[Any, ...]]:
    from django.db import connections

    connection = connections[alias]
    col = field.get_col(model._meta.db_table)
    return col, (*connection.ops.get_db_converters(col), *col.get_db_converters(connection))


def prepared_cursor(connection):
    """A cursor whose statements PostgreSQL prepares once per connection (other databases: a plain one).

    Django binds parameters on the client and never prepares (for the sake of transaction-mode
    poolers). For the few statements on every submission the server's parse and plan cost more
    than their execution, so they are bound on the server and prepared.
    ``DATABASE_PREPARED_STATEMENTS=false`` turns this off, e.g. behind a pooler that cannot keep
    prepared statements (PgBouncer in transaction mode before 1.21, or with its
    ``max_prepared_statements`` at 0). Errors, query logging and wrappers are Django's as usual.
    """
    if (connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None
            # Django's query log (DEBUG, CaptureQueriesContext) reads the SQL from client-binding cursors only.
            or connection.queries_logged):
        return connection.cursor()
    # As Django's own cursor(): health check (CONN_HEALTH_CHECKS), connect, wrap errors.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(_preparing_cursor_class()(connection.connection))


@functools.cache
def _preparing_cursor_class():
    import psycopg

    class PreparingCursor(psycopg.Cursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    return PreparingCursor


# ---------------------------------------------------------------- single rows, as save() writes them
#
# `insert_one` and `update_one` stand in for ``save()`` on hot paths: on PostgreSQL the statement's
# text is built once per model (and field list) and prepared, where the ORM compiles it anew on
# every call; elsewhere they call ``save()``. Neither sends signals (Rathaus connects none to
# these models) nor calls a model's own ``save()``: use them only for models without one.

def insert_one(obj: models.Model, *, using: str | None = None) -> models.Model:
    """Insert `obj` as a new row (``save(force_insert=True)``); sets its key and state."""
    from django.db import connections, router

    model = type(obj)
    if model.save is not models.Model.save:
        raise ValueError(f"{model.__name__} has its own save(); insert_one would skip it")
    connection = connections[using or router.db_for_write(model)]
    if not _fast(connection):
        obj.save(force_insert=True, using=connection.alias)
        return obj
    pk = model._meta.pk
    sql, params = insert_values(connection, [obj], returning=[pk.column])
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        setattr(obj, pk.attname, cursor.fetchone()[0])
    obj._state.adding, obj._state.db = False, connection.alias
    return obj


def insert_many(objs: Sequence[models.Model], *, using: str | None = None) -> None:
    """``bulk_create(objs)`` in one statement, for rows nobody reads back through the objects.

    On PostgreSQL the objects stay as they are (no keys set, still "adding"); elsewhere
    ``bulk_create`` may set their keys. Callers must not rely on either.
    """
    from django.db import connections, router

    if not objs:
        return
    model = type(objs[0])
    connection = connections[using or router.db_for_write(model)]
    if not _fast(connection) or len(objs) > 500:
        model._base_manager.using(connection.alias).bulk_create(objs)
        return
    sql, params = insert_values(connection, objs)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)


@functools.lru_cache(maxsize=256)
def _update_text(model: type[models.Model], alias: str, attnames: tuple[str, ...]) -> tuple[str, tuple[models.Field, ...]]:
    from django.db import connections

    quote = connections[alias].ops.quote_name
    fields = tuple(model._meta.get_field(name) for name in attnames)
    if any(field.primary_key or not field.concrete for field in fields):
        raise ValueError(f"{model.__name__}: only concrete fields other than the key can be updated")
    sets = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s", fields  # noqa: S608 - names from the model


def update_one(obj: models.Model, fields: Sequence[str], *, using: str | None = None) -> None:
    """``obj.save(update_fields=fields)``: auto_now fields among them get the current time.

    Raises DatabaseError, as ``save()`` does, if the row no longer exists.
    """
    from django.db import connections, router

    model = type(obj)
    if model.save is not models.Model.save:
        raise ValueError(f"{model.__name__} has its own save(); update_one would skip it")
    connection = connections[using or obj._state.db or router.db_for_write(model)]
    if not _fast(connection):
        obj.save(update_fields=list(fields), using=connection.alias)
        return
    sql, model_fields = _update_text(model, connection.alias, tuple(fields))
    params = [_prep(field, field.pre_save(obj, False), connection) for field in model_fields]
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [*params, obj.pk])
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")  # as save() says it
