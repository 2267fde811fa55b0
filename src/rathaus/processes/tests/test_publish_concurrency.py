"""Two publishes of one service's process at the same moment (two admins, a double click)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from rathaus.processes.models import DefinitionState, ProcessDefinition
from rathaus.processes.services import process_definition_create, process_definition_publish

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_later_of_two_publishes_at_once_wins_and_neither_fails(town, demo_processes, held_open):
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    service = demo_processes["hund-anmelden"]
    first = ProcessDefinition.objects.get(service=service, state=DefinitionState.PUBLISHED)
    files = [(f["name"], f["content"].encode()) for f in first.files]
    two, three = (process_definition_create(municipality=town, service=service, files=files) for _ in range(2))
    results: dict = {}

    def second_publish():
        try:
            process_definition_publish(definition=ProcessDefinition.objects.get(pk=three.pk))
            results["done"] = True
        except Exception as exc:  # noqa: BLE001 - asserted below
            results["error"] = exc
        finally:
            connections.close_all()

    with held_open(lambda: process_definition_publish(definition=ProcessDefinition.objects.get(pk=two.pk))):
        second = threading.Thread(target=second_publish)
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waits for the first publish instead of racing it
    second.join(10)
    assert results == {"done": True}  # not the one-published-version rule's IntegrityError (a 500 page)
    states = dict(ProcessDefinition.objects.filter(service=service).values_list("version", "state"))
    assert states == {first.version: "retired", two.version: "retired", three.version: "published"}
