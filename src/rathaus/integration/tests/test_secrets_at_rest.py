"""Webhook signing secrets are stored encrypted: a copy of the database alone does not reveal them."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import override_settings

from rathaus.core.crypto import SecretUnreadable, decrypt, encrypt
from rathaus.integration.models import SubscriptionKind, SubscriptionSecret
from rathaus.integration.services import subscription_create, subscription_rotate_secret

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789abcdefghij"


def _raw_values() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {SubscriptionSecret._meta.db_table} ORDER BY id")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def _webhook(town):
    subscription, _secret = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="Fachverfahren",
                                                url="https://fachverfahren.example/hook", secret=SECRET)
    return subscription


def test_the_database_holds_no_secret_in_plain_text_and_the_app_reads_it_back(town):
    subscription = _webhook(town)
    [stored] = _raw_values()
    assert stored.startswith("enc:v1:") and SECRET not in stored
    assert SubscriptionSecret.objects.get(subscription=subscription).secret == SECRET
    # Each encryption differs (random IV), so equal secrets do not show as equal rows either.
    assert encrypt(SECRET) != encrypt(SECRET)


def test_rotation_stores_the_new_secret_encrypted_too(town):
    subscription = _webhook(town)
    new_secret = subscription_rotate_secret(subscription=subscription, actor=None)
    assert len(_raw_values()) == 2 and all(v.startswith("enc:v1:") for v in _raw_values())
    assert {s.secret for s in SubscriptionSecret.objects.filter(subscription=subscription)} == {SECRET, new_secret}


def test_a_new_secret_key_reads_old_values_through_the_fallbacks_and_says_so_without(town, settings):
    subscription = _webhook(town)
    old_key = settings.SECRET_KEY
    with override_settings(SECRET_KEY="a-new-key-" + "x" * 50, SECRET_KEY_FALLBACKS=[old_key]):
        assert SubscriptionSecret.objects.get(subscription=subscription).secret == SECRET
    with override_settings(SECRET_KEY="a-new-key-" + "x" * 50, SECRET_KEY_FALLBACKS=[]), \
            pytest.raises(SecretUnreadable, match="SECRET_KEY_FALLBACKS"):
        SubscriptionSecret.objects.get(subscription=subscription)


def test_the_migration_encrypts_secrets_written_before_and_can_undo_it(town):
    from django.apps import apps

    migration = importlib.import_module("rathaus.integration.migrations.0003_encrypt_webhook_secrets")
    subscription = _webhook(town)
    with connection.cursor() as cursor:  # as a row written before encryption existed
        cursor.execute(f"UPDATE {SubscriptionSecret._meta.db_table} SET secret = %s", [SECRET])  # noqa: S608
    assert _raw_values() == [SECRET]
    assert SubscriptionSecret.objects.get(subscription=subscription).secret == SECRET  # legacy value read as it is
    editor = SimpleNamespace(connection=connection)  # all the migration's functions use of the schema editor
    migration.encrypt_stored(apps, editor)
    [stored] = _raw_values()
    assert stored.startswith("enc:v1:") and decrypt(stored) == SECRET
    migration.decrypt_stored(apps, editor)
    assert _raw_values() == [SECRET]
