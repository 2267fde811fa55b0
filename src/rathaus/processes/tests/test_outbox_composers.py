"""Outbox e-mails composed when sent: a registered composer writes them from the stored arguments."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail import EmailMessage

from rathaus.processes.models import OutboxKind, OutboxMessage
from rathaus.processes.outbox import composed, composer, message_id, outbox_add, outbox_deliver

pytestmark = pytest.mark.django_db


@composer("test-greeting")
def _greeting(name: str) -> EmailMessage | None:
    return None if name == "niemand" else EmailMessage(f"Hallo {name}", "Text", to=[f"{name}@example.org"])


def test_a_composed_message_is_written_when_sent_by_its_composer(town):
    message = outbox_add(municipality=town, key="greet:erika", kind=OutboxKind.EMAIL,
                         payload=composed("test-greeting", "erika"), enqueue=False)

    assert outbox_deliver(message_id_=message.pk) is True
    assert [(m.subject, m.to) for m in mail.outbox] == [("Hallo erika", ["erika@example.org"])]
    assert mail.outbox[0].extra_headers["Message-ID"] == message_id("greet:erika")


def test_an_e_mail_tells_its_reader_nothing_about_the_instances_ids(town, settings):
    # The idempotency key counts across all municipalities (receipt:4711); the e-mail carries
    # neither the key nor a hash of it that could be guessed back without the instance's secret.
    import hashlib

    message = outbox_add(municipality=town, key="receipt:4711", kind=OutboxKind.EMAIL,
                         payload=composed("test-greeting", "erika"), enqueue=False)
    outbox_deliver(message_id_=message.pk)
    sent = mail.outbox[0].message().as_string()
    assert "4711" not in sent and "receipt" not in sent
    assert hashlib.sha256(b"receipt:4711").hexdigest()[:32] not in sent
    first = message_id("receipt:4711")
    assert first in sent
    settings.SECRET_KEY = "ein-anderes-geheimnis-" + "x" * 40
    assert message_id("receipt:4711") != first and message_id("receipt:4711") == message_id("receipt:4711")


def test_nobody_to_write_to_sends_nothing_and_leaves_nothing_to_retry(town):
    message = outbox_add(municipality=town, key="greet:none", kind=OutboxKind.EMAIL,
                         payload=composed("test-greeting", "niemand"), enqueue=False)

    outbox_deliver(message_id_=message.pk)

    assert mail.outbox == []
    assert OutboxMessage.objects.get(pk=message.pk).sent_at is not None


def test_an_unknown_composer_is_named_and_the_message_stays_for_a_retry(town):
    message = outbox_add(municipality=town, key="greet:unknown", kind=OutboxKind.EMAIL,
                         payload=composed("no-such-composer", 1), enqueue=False)

    assert outbox_deliver(message_id_=message.pk) is False

    stored = OutboxMessage.objects.get(pk=message.pk)
    assert stored.sent_at is None and "no-such-composer" in stored.last_error


@pytest.mark.django_db(transaction=True)
def test_waiting_receipts_of_the_old_form_name_their_composer_after_the_migration(town, migrator):
    old = migrator([("processes", "0003_delete_casedocument")]).get_model("processes", "OutboxMessage")
    old.objects.create(municipality_id=town.pk, kind="email", idempotency_key="receipt:41", payload={"receipt_for": 41})
    old.objects.create(municipality_id=town.pk, kind="email", idempotency_key="other", payload={"subject": "s"})
    migrator([("processes", "0004_outbox_composed_receipts")])
    payloads = dict(OutboxMessage.objects.values_list("idempotency_key", "payload"))
    assert payloads == {"receipt:41": composed("application-receipt", 41), "other": {"subject": "s"}}
