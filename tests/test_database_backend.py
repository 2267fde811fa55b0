"""The PostgreSQL run in CI must really run on PostgreSQL, not silently fall back to SQLite."""

import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_suite_runs_on_the_database_ci_asked_for():
    if not os.environ.get("RATHAUS_REQUIRE_POSTGRES"):
        pytest.skip("RATHAUS_REQUIRE_POSTGRES not set: this run uses the default SQLite database")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 150000
