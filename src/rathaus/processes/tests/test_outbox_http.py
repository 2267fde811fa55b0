"""Back-office calls through the outbox: the operator's address may lie in the town's network, an
address from a process model (which a town's admin uploads) may not, and no call follows a redirect."""

from __future__ import annotations

import json

import pytest

from rathaus.integration.tests.receiver import receiver  # noqa: F401 - fixture
from rathaus.processes.models import OutboxKind, OutboxMessage
from rathaus.processes.outbox import outbox_add, outbox_deliver

pytestmark = pytest.mark.django_db


def _call(town, key: str, url: str = "") -> OutboxMessage:
    return outbox_add(municipality=town, key=key, kind=OutboxKind.HTTP, enqueue=False,
                      payload={"url": url, "body": {"reference": "MUS-2026-000001", "event": "signs_needed"}})


def test_the_operators_back_office_address_is_called_also_in_the_towns_own_network(town, receiver, settings):  # noqa: F811
    settings.RATHAUS_WEBHOOK_ALLOW_PRIVATE = False  # as in production
    settings.RATHAUS_BACKOFFICE_URL = receiver.url
    message = _call(town, "backoffice:1")
    assert outbox_deliver(message_id_=message.pk) is True
    [request] = receiver.requests
    assert json.loads(request.body) == {"reference": "MUS-2026-000001", "event": "signs_needed"}
    assert request.headers["Idempotency-Key"] == "backoffice:1"
    assert OutboxMessage.objects.get(pk=message.pk).sent_at is not None


def test_an_address_from_a_process_model_cannot_reach_internal_services(town, receiver, settings):  # noqa: F811
    # A town's admin could otherwise make the server post to itself, the cloud's metadata service
    # or anything else in the operator's network (server-side request forgery).
    settings.RATHAUS_WEBHOOK_ALLOW_PRIVATE = False
    settings.RATHAUS_BACKOFFICE_URL = ""
    message = _call(town, "backoffice:2", url=receiver.url)
    assert outbox_deliver(message_id_=message.pk) is False
    assert receiver.requests == []
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert stored.sent_at is None and "internen Netz" in stored.last_error


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/liste", "gopher://127.0.0.1:6379/_INFO"])
def test_only_http_and_https_addresses_are_called(town, settings, url):
    message = _call(town, f"backoffice:{url}", url=url)
    assert outbox_deliver(message_id_=message.pk) is False
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert stored.sent_at is None and "Nur http- und https-Adressen" in stored.last_error


def test_a_redirect_is_not_followed_even_from_the_operators_address(town, receiver, settings):  # noqa: F811
    settings.RATHAUS_BACKOFFICE_URL = receiver.url
    receiver.statuses = [302]
    receiver.location = receiver.url + "elsewhere"
    message = _call(town, "backoffice:3")
    assert outbox_deliver(message_id_=message.pk) is False
    assert [r.path for r in receiver.requests] == ["/hook/"]
    assert "302" in OutboxMessage.objects.get(pk=message.pk).last_error
