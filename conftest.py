"""Shared fixtures: municipalities, users, a staff client that passed 2FA."""

from __future__ import annotations

import pytest


@pytest.fixture
def make_municipality(db):
    from rathaus.tenants.models import Municipality

    def make(slug: str = "musterstadt", name: str = "Musterstadt", ags: str = "09999001", prefix: str = "MUS"):
        return Municipality.objects.create(slug=slug, name=name, ags=ags, reference_prefix=prefix,
                                           contact_email=f"info@{slug}.example")

    return make


@pytest.fixture
def town(make_municipality):
    return make_municipality()


@pytest.fixture
def other_town(make_municipality):
    return make_municipality("beispielhausen", "Beispielhausen", "09999002", "BSP")


@pytest.fixture
def make_user(db):
    from rathaus.accounts.models import User

    def make(email: str = "person@example.org", password: str = "Sehr-sicheres-Passwort-1", verified: bool = True,  # noqa: S107
             **extra):
        user = User.objects.create_user(username=email, email=email, password=password, email_verified=verified, **extra)
        return user

    return make


@pytest.fixture
def make_staff(make_user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from rathaus.accounts.models import Membership, Role

    def make(municipality, email: str | None = None, role: str = Role.CASE_WORKER):
        user = make_user(email or f"staff-{role}@{municipality.slug}.example")
        Membership.objects.create(user=user, municipality=municipality, role=role)
        TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        return user

    return make


@pytest.fixture
def login_verified():
    """Log a staff user in with a session that already passed the second factor."""

    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def login(client, user):
        client.force_login(user)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    return login


@pytest.fixture
def staff_client(client, town, make_staff, login_verified):
    return login_verified(client, make_staff(town))


@pytest.fixture
def demo_services(town):
    """The three hand-written demo services for `town`."""
    from rathaus.catalog import demo_forms
    from rathaus.catalog.services import form_definition_create, service_upsert

    created = {}
    for slug, builder, days in (("hund-anmelden", demo_forms.dog_registration, 5),
                                ("bewohnerparkausweis", demo_forms.parking_permit, 10),
                                ("halteverbot-umzug", demo_forms.street_space, 10)):
        form = form_definition_create(municipality=town, key=slug, title=slug, schema=builder())
        created[slug] = service_upsert(municipality=town, slug=slug, form=form, leika_key="99108002001000", name=slug.title(),
                                       summary="Kurz", office="Bürgerbüro", processing_days=days)
    return created


@pytest.fixture(autouse=True)
def _german_after_each_test():
    """A request with an English cookie leaves English active in the thread; the next test starts German."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def dog_data():
    """A complete, valid dog registration (first dog, no exemption)."""
    return {
        "owner": {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1980-01-31",
                  "address": {"street": "Hauptstraße", "house_number": "12a", "postal_code": "99999", "city": "Musterstadt"},
                  "email": "erika@example.org"},
        "dog": {"name": "Bello", "breed": "labrador", "birth_date": "2024-05-01", "sex": "maennlich",
                "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": 0},
        "reduction": {"exemption": "keine"},
        "declaration": {"truthful": True, "privacy": True},
    }


@pytest.fixture(autouse=True)
def _no_remembered_lookups():
    """Each test starts without the submission look-ups an earlier one left in this process."""
    from rathaus.catalog import selectors

    selectors._LOOKUPS.clear()
    yield
    selectors._LOOKUPS.clear()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache; each test starts with none, as if a minute had passed.

    Every test client comes from 127.0.0.1, so counters of earlier tests in the same worker would
    otherwise add up and a test would meet another test's limit.
    """
    from django.core.cache import caches

    for alias in caches:
        caches[alias].clear()


@pytest.fixture
def db_queue():
    """Jobs go to the database queue (django-tasks-db) as in production, instead of running at once."""
    from django.test import override_settings

    # django-tasks rebuilds its backends when the setting changes (setting_changed signal).
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        yield


@pytest.fixture
def migrator():
    """`migrate(targets)` moves the database to those migrations and returns their historical apps.

    The database is migrated back to the latest state when the test ends, whatever happened.
    """
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield migrate
    migrate(latest)


@pytest.fixture
def held_open():
    """``with held_open(work) as result:`` runs ``work()`` in a transaction on another thread.

    The transaction stays open (its writes uncommitted, its locks held) until the block ends;
    then it commits. For tests of concurrent writers (PostgreSQL; SQLite has one writer at a time).
    """
    import contextlib
    import threading

    from django.db import connections, transaction

    @contextlib.contextmanager
    def hold(work):
        done, release, results = threading.Event(), threading.Event(), []

        def run():
            try:
                with transaction.atomic():
                    results.append(work())
                    done.set()
                    release.wait(10)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        assert done.wait(10), "the held transaction did not get its work done"
        try:
            yield results[0]
        finally:
            release.set()
            thread.join(10)

    return hold
