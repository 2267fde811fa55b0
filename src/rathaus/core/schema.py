"""Index changes that migrations make without rebuilding anything (database side of SeparateDatabaseAndState).

Django turns ``db_index=False`` on a foreign key into dropping and re-adding the foreign key
(which checks every row again, under a lock that stops writes), and ``unique=True`` →
``UniqueConstraint`` into dropping and rebuilding the unique index. Dropping an index, renaming
an index or a constraint take a lock only for a moment. These operations do just that, with the
names Django gave the objects, and undo it when the migration is reversed; the model state is
changed by the ``state_operations`` next to them.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation


def _column(from_state, app_label: str, model_name: str, field_name: str) -> tuple[str, str]:
    model = from_state.apps.get_model(app_label, model_name)
    return model._meta.db_table, model._meta.get_field(field_name).column


class _IndexOperation(Operation):
    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str, field_name: str, **options: Any) -> None:
        self.model_name, self.field_name, self.options = model_name, field_name, options

    def deconstruct(self):
        return self.__class__.__name__, [self.model_name, self.field_name], self.options

    def state_forwards(self, app_label, state) -> None:
        pass  # the state_operations beside this one change the state

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        self.forwards(schema_editor, *_column(from_state, app_label, self.model_name, self.field_name))

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        self.backwards(schema_editor, *_column(to_state, app_label, self.model_name, self.field_name))

    def forwards(self, schema_editor, table: str, column: str) -> None:
        raise NotImplementedError

    def backwards(self, schema_editor, table: str, column: str) -> None:
        raise NotImplementedError


class DropFieldIndex(_IndexOperation):
    """Drop the index ``db_index`` (or a foreign key) gave a field (``plain``) and/or its LIKE twin (``like``)."""

    def __init__(self, model_name: str, field_name: str, *, plain: bool = True, like: bool = False) -> None:
        super().__init__(model_name, field_name, plain=plain, like=like)

    def describe(self) -> str:
        return f"Drop the index of {self.model_name}.{self.field_name} (keeping its constraints)"

    def _names(self, schema_editor, table: str, column: str) -> list[tuple[str, str]]:
        """(index name, column expression) of the indexes this operation drops."""
        quoted = schema_editor.quote_name(column)
        names = [(schema_editor._create_index_name(table, [column], suffix=""), quoted)] if self.options["plain"] else []
        if self.options["like"] and schema_editor.connection.vendor == "postgresql":
            names.append((schema_editor._create_index_name(table, [column], suffix="_like"), f"{quoted} varchar_pattern_ops"))
        return names

    def forwards(self, schema_editor, table: str, column: str) -> None:
        for name, _expression in self._names(schema_editor, table, column):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def backwards(self, schema_editor, table: str, column: str) -> None:
        for name, expression in self._names(schema_editor, table, column):
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} "
                                  f"ON {schema_editor.quote_name(table)} ({expression})")


class RenameFieldIndex(_IndexOperation):
    """Give the index ``db_index`` made for a field the name of a ``Meta.indexes`` entry."""

    def __init__(self, model_name: str, field_name: str, new_name: str) -> None:
        super().__init__(model_name, field_name, new_name=new_name)

    def describe(self) -> str:
        return f"Rename the index of {self.model_name}.{self.field_name} to {self.options['new_name']}"

    def _rename(self, schema_editor, table: str, column: str, source: str, target: str) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER INDEX IF EXISTS {schema_editor.quote_name(source)} "
                                  f"RENAME TO {schema_editor.quote_name(target)}")
            return
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(source)}")
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(target)} "
                              f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name(column)})")

    def forwards(self, schema_editor, table: str, column: str) -> None:
        old = schema_editor._create_index_name(table, [column], suffix="")
        self._rename(schema_editor, table, column, old, self.options["new_name"])

    def backwards(self, schema_editor, table: str, column: str) -> None:
        old = schema_editor._create_index_name(table, [column], suffix="")
        self._rename(schema_editor, table, column, self.options["new_name"], old)


class RenameUnique(_IndexOperation):
    """Give the unique constraint ``unique=True`` made for a field the name of a ``UniqueConstraint``.

    On PostgreSQL a rename; elsewhere (SQLite keeps a column's UNIQUE inside the table) nothing to do.
    """

    def __init__(self, model_name: str, field_name: str, new_name: str) -> None:
        super().__init__(model_name, field_name, new_name=new_name)

    def describe(self) -> str:
        return f"Rename the unique constraint of {self.model_name}.{self.field_name} to {self.options['new_name']}"

    def _rename(self, schema_editor, table: str, column: str, *, reverse: bool) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        new_name = self.options["new_name"]
        with schema_editor.connection.cursor() as cursor:
            constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
        names = [name for name, info in constraints.items()
                 if info["unique"] and not info["primary_key"] and info["columns"] == [column]
                 and (name == new_name) == reverse]
        if names:
            # unique=True in CREATE TABLE: PostgreSQL's own name for the constraint.
            target = f"{table}_{column}_key" if reverse else new_name
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} RENAME CONSTRAINT "
                                  f"{schema_editor.quote_name(names[0])} TO {schema_editor.quote_name(target)}")

    def forwards(self, schema_editor, table: str, column: str) -> None:
        self._rename(schema_editor, table, column, reverse=False)

    def backwards(self, schema_editor, table: str, column: str) -> None:
        self._rename(schema_editor, table, column, reverse=True)
