"""The client's address behind a load balancer (RATHAUS_TRUSTED_PROXY_COUNT): lockout, rate limits, audit."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory

from rathaus.core.middleware import TrustedProxyMiddleware
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"
PASSWORD = "Richtiges-Passwort-1"  # noqa: S105


def _behind_proxy(forwarded_for: str) -> Client:
    """A browser whose requests reach the server through the load balancer at PROXY."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def _fail_logins(client: Client, username: str, times: int = 5) -> None:
    for attempt in range(times):
        client.post("/konto/anmelden/", {"username": username, "password": f"falsch-{attempt}"})


def _address_seen(settings, count: int, forwarded_for: str | None, remote: str = PROXY) -> str:
    settings.RATHAUS_TRUSTED_PROXY_COUNT = count
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **extra)
    return TrustedProxyMiddleware(lambda r: r.META["REMOTE_ADDR"])(request)


@pytest.mark.parametrize(("count", "forwarded_for", "seen"), [
    (1, "203.0.113.7", "203.0.113.7"),
    (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the left entry is what the client claimed
    (2, "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
    (1, "2001:db8::7", "2001:db8::7"),
    (1, "kein-ip", PROXY),
    (1, "", PROXY),
    (1, None, PROXY),
    (2, "203.0.113.7", PROXY),  # fewer entries than proxies: the header is not what they wrote
    (0, "203.0.113.7", PROXY),
])
def test_the_client_is_the_entry_that_many_proxies_from_the_right(settings, count, forwarded_for, seen):
    assert _address_seen(settings, count, forwarded_for) == seen


def test_behind_one_proxy_a_staff_login_is_locked_only_for_the_client_who_failed(settings, make_user):
    settings.RATHAUS_TRUSTED_PROXY_COUNT = 1
    user = make_user("sachbearbeitung@musterstadt.example", password=PASSWORD)
    attacker = _behind_proxy("203.0.113.66")
    _fail_logins(attacker, user.email)
    assert attacker.post("/konto/anmelden/", {"username": user.email, "password": PASSWORD}).status_code == 429

    colleague = _behind_proxy("198.51.100.9")
    assert colleague.post("/konto/anmelden/", {"username": user.email, "password": PASSWORD}).status_code == 302
    failed = AuditEntry.objects.filter(action="account.login_failed")
    assert set(failed.values_list("ip_address", flat=True)) == {"203.0.113.66"}
    assert AuditEntry.objects.get(action="account.login").ip_address == "198.51.100.9"


def test_behind_one_proxy_the_login_rate_limit_counts_each_client_apart(settings, make_user):
    settings.RATHAUS_TRUSTED_PROXY_COUNT = 1
    settings.RATELIMIT_LOGIN = "2/m"
    user = make_user("erika@example.org", password=PASSWORD)
    busy = _behind_proxy("203.0.113.66")
    _fail_logins(busy, "jemand@example.org", times=2)
    assert busy.post("/konto/anmelden/", {"username": user.email, "password": PASSWORD}).status_code == 429
    assert _behind_proxy("198.51.100.9").post("/konto/anmelden/", {"username": user.email, "password": PASSWORD}).status_code == 302


def test_behind_one_proxy_the_api_submission_limit_counts_each_client_apart(settings, town, demo_services, dog_data):
    settings.RATHAUS_TRUSTED_PROXY_COUNT = 1
    settings.RATELIMIT_SUBMISSIONS = "1/m"
    url = f"/api/v1/m/{town.slug}/applications"
    body = json.dumps({"service": demo_services["hund-anmelden"].pk, "data": dog_data})
    first = _behind_proxy("203.0.113.66")
    assert first.post(url, body, content_type="application/json").status_code == 201
    assert first.post(url, body, content_type="application/json").status_code == 429
    assert _behind_proxy("198.51.100.9").post(url, body, content_type="application/json").status_code == 201


def test_without_trusted_proxies_a_forged_forwarded_for_changes_nothing(settings, make_user):
    settings.RATHAUS_TRUSTED_PROXY_COUNT = 0
    user = make_user("erika@example.org", password=PASSWORD)
    for attempt in range(5):
        # Each attempt claims another address; the server still sees the one it came from.
        Client(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}").post(
            "/konto/anmelden/", {"username": user.email, "password": f"falsch-{attempt}"})
    forged = Client(REMOTE_ADDR="203.0.113.66", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert forged.post("/konto/anmelden/", {"username": user.email, "password": PASSWORD}).status_code == 429
    failed = AuditEntry.objects.filter(action="account.login_failed")
    assert set(failed.values_list("ip_address", flat=True)) == {"203.0.113.66"}
    assert Client(REMOTE_ADDR="192.0.2.10").post(
        "/konto/anmelden/", {"username": user.email, "password": PASSWORD}).status_code == 302
