"""A message the outbox cannot send is tried again later, ever more rarely, and does not hold up the others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings
from django.utils import timezone

from rathaus.processes.models import OutboxMessage
from rathaus.processes.outbox import outbox_add, outbox_deliver, outbox_deliver_pending, retry_delay

pytestmark = pytest.mark.django_db


def _queue(town, key):
    return outbox_add(municipality=town, key=key, kind="email", enqueue=False,
                      payload={"subject": key, "body": "Text", "to": ["a@example.org"]})


def test_the_wait_doubles_from_a_minute_to_at_most_six_hours():
    assert [retry_delay(n) for n in (1, 2, 3, 9)] == [timedelta(minutes=m) for m in (1, 2, 4, 256)]
    assert retry_delay(10) == retry_delay(15) == retry_delay(100) == timedelta(hours=6)


def test_an_outage_of_an_hour_delays_the_email_but_does_not_lose_it(town, mail_server_down):
    message = _queue(town, "decision")
    start = timezone.now()
    assert outbox_deliver(message_id_=message.pk) is False
    tried, at = [1], start
    # The sweep runs every minute for an hour while the mail server is down: tries 2 to 6 only.
    for minute in range(1, 61):
        at = start + timedelta(minutes=minute, seconds=1)
        outbox_deliver_pending(now=at)
        message.refresh_from_db()
        if message.attempts != tried[-1]:
            tried.append(message.attempts)
    assert tried == [1, 2, 3, 4, 5, 6]
    assert message.sent_at is None and message.next_attempt_at is not None
    mail_server_down.clear()  # back up: sent with the next due sweep
    assert outbox_deliver_pending(now=message.next_attempt_at) == 1
    assert [m.subject for m in mail.outbox] == ["decision"]


@override_settings(RATHAUS_OUTBOX_MAX_ATTEMPTS=3)
def test_after_the_last_attempt_the_message_is_given_up_and_kept_with_its_error(town, mail_server_down, caplog):
    message = _queue(town, "hopeless")
    outbox_deliver(message_id_=message.pk)
    for hours in (1, 2, 3, 4):
        outbox_deliver_pending(now=timezone.now() + timedelta(hours=hours))
    message.refresh_from_db()
    assert message.attempts == 3 and message.next_attempt_at is None and message.sent_at is None
    assert "mail server down" in message.last_error
    assert "failed for good after 3 attempts" in caplog.text
    mail_server_down.clear()
    assert outbox_deliver_pending(now=timezone.now() + timedelta(days=2)) == 0
    assert mail.outbox == []


def test_messages_never_tried_go_before_those_that_keep_failing(town, mail_server_down):
    failing = [_queue(town, f"failing-{n}") for n in range(3)]
    for message in failing:
        outbox_deliver(message_id_=message.pk)
    fresh = _queue(town, "fresh")
    mail_server_down.clear()
    # A sweep that can take one message only: the new one, though the failing ones are older and due.
    assert outbox_deliver_pending(limit=1, now=timezone.now() + timedelta(minutes=5)) == 1
    assert [m.subject for m in mail.outbox] == ["fresh"]
    assert OutboxMessage.objects.get(pk=fresh.pk).sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_after_the_upgrade_messages_still_retried_stay_due_and_those_given_up_stay_given_up(town, migrator):
    old = migrator([("processes", "0004_outbox_composed_receipts")]).get_model("processes", "OutboxMessage")
    for key, attempts in (("fresh", 0), ("failing", 3), ("given-up", 10)):
        old.objects.create(municipality_id=town.pk, kind="email", idempotency_key=key, attempts=attempts,
                           payload={"subject": key, "body": "Text", "to": ["a@example.org"]})
    # Through 0005 (which schedules the retries) to the schema the code of today reads.
    migrator(MigrationLoader(connection).graph.leaf_nodes("processes"))
    assert outbox_deliver_pending() == 2
    assert sorted(m.subject for m in mail.outbox) == ["failing", "fresh"]
    assert OutboxMessage.objects.get(idempotency_key="given-up").sent_at is None
