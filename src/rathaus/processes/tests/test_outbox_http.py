"""Back-office calls through the outbox: the operator's address may lie in the town's network, an
address from a process model (which a town's admin uploads) may not, and no call follows a redirect."""

from __future__ import annotations

import io
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


def test_a_model_with_a_back_office_address_that_is_not_http_is_refused_when_checked(tmp_path):
    # The admin learns it at the upload, not when the first case reaches the step.
    from django.core.management import call_command

    from rathaus.processes.demo import DEMO_DIR
    from rathaus.processes.services import process_check

    bpmn = (DEMO_DIR / "street_space.bpmn").read_bytes().replace(
        b'<camunda:inputParameter name="event">signs_needed</camunda:inputParameter>',
        b'<camunda:inputParameter name="event">signs_needed</camunda:inputParameter>'
        b'<camunda:inputParameter name="url">file:///etc/passwd</camunda:inputParameter>')
    dmn = (DEMO_DIR / "street_fee.dmn").read_bytes()
    problems = process_check([("street.bpmn", bpmn), ("street_fee.dmn", dmn)])
    [problem] = [p for p in problems if p["code"] == "invalid-step-parameter"]
    assert problem["element_id"] == "notify_backoffice" and "file:///etc/passwd" in problem["message_de"]
    assert problem["severity"] == "error"
    public = bpmn.replace(b"file:///etc/passwd", b"https://bauhof.example.org/auftraege")
    assert not [p for p in process_check([("street.bpmn", public), ("street_fee.dmn", dmn)])
                if p["code"] == "invalid-step-parameter"]
    (tmp_path / "street.bpmn").write_bytes(bpmn)
    (tmp_path / "street_fee.dmn").write_bytes(dmn)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("check_process", str(tmp_path / "street.bpmn"), str(tmp_path / "street_fee.dmn"), stdout=out,
                     stderr=out)
    assert exit_status.value.code == 1 and "notify_backoffice" in out.getvalue() and "file:///etc/passwd" in out.getvalue()
