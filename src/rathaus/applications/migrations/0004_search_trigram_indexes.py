"""Trigram indexes for the inbox search (PostgreSQL only).

The inbox searches parts of reference numbers and names with ``icontains``, which PostgreSQL runs
as ``UPPER(col::text) LIKE UPPER('%…%')``: without these indexes every search reads every case of
the municipality. pg_trgm is a trusted extension (PostgreSQL 13+), so the database owner may
create it. SQLite has no such indexes; there the search scans, which is fine at its scale.
"""

from django.db import migrations

INDEXES = {
    "application_name_trgm": "applicant_name",
    "application_reference_trgm": "reference",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON applications_application USING gin (UPPER({column}::text) gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("applications", "0003_delete_attachment")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
