"""A side effect is queued once per idempotency key, also when two transactions queue it at the same time."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from rathaus.processes.models import OutboxMessage
from rathaus.processes.outbox import outbox_add

pytestmark = pytest.mark.django_db(transaction=True)


def _jobs() -> list:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.all())


def test_the_same_key_queues_one_message_and_one_job(db_queue, town):
    first = outbox_add(municipality=town, key="decision:1", kind="email",
                       payload={"subject": "Bescheid", "body": "Text", "to": ["a@example.org"]})
    again = outbox_add(municipality=town, key="decision:1", kind="email",
                       payload={"subject": "Anders", "body": "Anders", "to": ["b@example.org"]})
    assert again.pk == first.pk and again.payload["subject"] == "Bescheid"  # the first one stays
    stored = OutboxMessage.objects.get()
    assert (stored.pk, stored.municipality_id, stored.kind, stored.attempts, stored.sent_at) == (
        first.pk, town.pk, "email", 0, None)
    assert stored.created_at is not None and stored.created_at == first.created_at
    assert [job.task_result.args for job in _jobs()] == [[first.pk]]


def test_a_key_rolled_back_with_its_transaction_can_be_queued_again(db_queue, town):
    @transaction.atomic
    def rolled_back():
        outbox_add(municipality=town, key="status:7", kind="email", payload={"subject": "A", "body": "", "to": []})
        raise RuntimeError

    with pytest.raises(RuntimeError):
        rolled_back()
    message = outbox_add(municipality=town, key="status:7", kind="email", payload={"subject": "B", "body": "", "to": []})
    assert OutboxMessage.objects.get().pk == message.pk and message.payload["subject"] == "B"


def test_two_transactions_queueing_the_same_key_at_once_store_it_once(db_queue, town, held_open):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    results: dict[str, tuple[int, bool]] = {}

    def second_writer():
        try:
            message = outbox_add(municipality=town, key="receipt:9", kind="email",
                                 payload={"subject": "Zweiter", "body": "", "to": []})
            results["second"] = (message.pk, message.payload["subject"] == "Erster")
        finally:
            connections.close_all()

    with held_open(lambda: outbox_add(municipality=town, key="receipt:9", kind="email",
                                      payload={"subject": "Erster", "body": "", "to": []}).pk) as first:
        second = threading.Thread(target=second_writer)
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waits for the first transaction's row instead of storing its own
    second.join(10)
    assert results["second"] == (first, True)
    assert OutboxMessage.objects.count() == 1 and len(_jobs()) == 1
