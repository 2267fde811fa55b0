"""Index changes that migrations make without rebuilding anything (for SeparateDatabaseAndState).

Django turns ``db_index=False`` on a foreign key into dropping and re-adding the foreign key
(which checks every row again, under a lock that stops writes), and ``unique=True`` →
``UniqueConstraint`` into dropping and rebuilding the unique index. Dropping an index, renaming
an index or a constraint take a lock only for a moment. These helpers do just that, with the
names Django gave the objects, and undo it for the reverse migration.
"""

from __future__ import annotations

from typing import Any


def _index_name(schema_editor, model, column: str, suffix: str = "") -> str:
    return schema_editor._create_index_name(model._meta.db_table, [column], suffix=suffix)


def drop_field_index(schema_editor, model, field_name: str, *, like: bool = False) -> None:
    """Drop the index ``db_index`` (or a foreign key) gave a field; `like`: PostgreSQL's LIKE index too."""
    column = model._meta.get_field(field_name).column
    names = [_index_name(schema_editor, model, column)]
    if like:
        names.append(_index_name(schema_editor, model, column, "_like"))
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_field_index(schema_editor, model, field_name: str, *, like: bool = False) -> None:
    """The reverse of drop_field_index."""
    column = model._meta.get_field(field_name).column
    table, quoted = schema_editor.quote_name(model._meta.db_table), schema_editor.quote_name(column)
    name = _index_name(schema_editor, model, column)
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} ON {table} ({quoted})")
    if like and schema_editor.connection.vendor == "postgresql":
        like_name = _index_name(schema_editor, model, column, "_like")
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(like_name)} ON {table} "
                              f"({quoted} varchar_pattern_ops)")


def rename_field_index(schema_editor, model, field_name: str, new_name: str, *, reverse: bool = False) -> None:
    """Give the index ``db_index`` made for a field the name of a ``Meta.indexes`` entry (or back)."""
    column = model._meta.get_field(field_name).column
    old = _index_name(schema_editor, model, column)
    source, target = (new_name, old) if reverse else (old, new_name)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX IF EXISTS {schema_editor.quote_name(source)} "
                              f"RENAME TO {schema_editor.quote_name(target)}")
        return
    table, quoted = schema_editor.quote_name(model._meta.db_table), schema_editor.quote_name(column)
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(source)}")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(target)} ON {table} ({quoted})")


def rename_unique(schema_editor, model, field_name: str, new_name: str, *, reverse: bool = False) -> None:
    """Give the unique constraint ``unique=True`` made for a field the name of a ``UniqueConstraint`` (or back).

    On PostgreSQL a rename; elsewhere (SQLite keeps a column's UNIQUE inside the table) nothing to do.
    """
    if schema_editor.connection.vendor != "postgresql":
        return
    column = model._meta.get_field(field_name).column
    table = model._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        constraints: dict[str, Any] = schema_editor.connection.introspection.get_constraints(cursor, table)
    wanted = (lambda name: name == new_name) if reverse else (lambda name: name != new_name)
    names = [name for name, info in constraints.items()
             if info["unique"] and not info["primary_key"] and info["columns"] == [column] and wanted(name)]
    if not names:
        return
    target = (f"{table}_{column}_key" if reverse else new_name)
    schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} RENAME CONSTRAINT "
                          f"{schema_editor.quote_name(names[0])} TO {schema_editor.quote_name(target)}")
