"""Rate limits counted in the database (core.ratelimit): what a client sees, window by window."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from rathaus.applications.models import Application
from rathaus.core.models import RateCounter
from rathaus.core.ratelimit import address_key, over_limit, parse_rate, prune
from rathaus.core.tasks import prune_rate_counters

pytestmark = pytest.mark.django_db

MINUTE = 1_800_000_000  # a window start (a multiple of 60 seconds)


@pytest.mark.parametrize(("rate", "expected"), [
    ("30/m", (30, 60)), ("100/5m", (100, 300)), ("1/d", (1, 86400)), ("5 / h", (5, 3600)), ("2/10s", (2, 10))])
def test_rates_read_as_django_ratelimit_writes_them(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["30", "30/x", "m/30", "30/0m", "-1/m", ""])
def test_a_misconfigured_rate_is_named(rate):
    with pytest.raises(ImproperlyConfigured, match="N/"):
        parse_rate(rate)


def test_the_request_past_the_limit_is_refused_until_the_window_ends():
    answers = [over_limit("submit", "10.0.0.1", "3/m", now=MINUTE + second) for second in (0, 10, 20, 30, 59)]
    assert answers == [False, False, False, True, True]
    # The next minute starts afresh.
    assert over_limit("submit", "10.0.0.1", "3/m", now=MINUTE + 60) is False


def test_addresses_and_endpoints_are_counted_apart():
    for _ in range(2):
        over_limit("submit", "10.0.0.1", "2/m", now=MINUTE)
    assert over_limit("submit", "10.0.0.1", "2/m", now=MINUTE) is True
    assert over_limit("submit", "10.0.0.2", "2/m", now=MINUTE) is False
    assert over_limit("upload", "10.0.0.1", "2/m", now=MINUTE) is False


def test_ipv6_clients_are_counted_by_their_64_network_ipv4_by_address():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key(None) == "unknown"


def test_pruning_drops_only_windows_long_past():
    over_limit("submit", "10.0.0.1", "3/m", now=MINUTE)
    over_limit("submit", "10.0.0.2", "3/m", now=MINUTE + 86400)

    assert prune(now=MINUTE + 86400 + 30) == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["submit:10.0.0.2"]


def test_the_periodic_job_prunes():
    RateCounter.objects.create(key="submit:10.0.0.9", window_end=0, hits=4)

    assert prune_rate_counters.call() == {"deleted": 1}


def test_api_submissions_past_the_limit_get_429_whatever_the_body_and_store_nothing(client, town, demo_services, dog_data,
                                                                                    settings):
    settings.RATELIMIT_SUBMISSIONS = "2/m"
    url = f"/api/v1/m/{town.slug}/applications"
    valid = json.dumps({"service": demo_services["hund-anmelden"].pk, "data": dog_data})
    # A broken body counts too: floods of junk are limited like floods of applications.
    assert client.post(url, "{kaputt", content_type="application/json").status_code == 400
    assert client.post(url, valid, content_type="application/json").status_code == 201
    refused = client.post(url, valid, content_type="application/json")

    assert refused.status_code == 429
    assert refused.json()["type"].endswith("/rate-limited")
    assert Application.objects.count() == 1
    # Another client is not held back by the first.
    assert client.post(url, valid, content_type="application/json", REMOTE_ADDR="192.0.2.50").status_code == 201


def test_requests_for_services_that_do_not_exist_are_counted_too(client, town, settings):
    settings.RATELIMIT_SUBMISSIONS = "2/m"
    url = f"/api/v1/m/{town.slug}/applications"
    body = json.dumps({"service": 999_999, "data": {}})

    statuses = [client.post(url, body, content_type="application/json").status_code for _ in range(3)]

    assert statuses == [422, 422, 429]


def test_a_request_stamped_with_an_older_window_counts_in_the_current_one():
    # Two web hosts whose clocks differ by seconds around the turn of a minute.
    assert over_limit("submit", "10.0.0.1", "2/m", now=MINUTE + 61) is False
    assert over_limit("submit", "10.0.0.1", "2/m", now=MINUTE + 59) is False  # lagging host: no reset
    assert over_limit("submit", "10.0.0.1", "2/m", now=MINUTE + 62) is True
    assert RateCounter.objects.get().window_end == MINUTE + 120  # the window of MINUTE + 60


def test_ipv4_clients_on_a_dual_stack_socket_are_counted_by_their_ipv4_address():
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") != address_key("::ffff:192.0.2.8")


def test_pruning_keeps_counters_whose_window_is_longer_than_a_day(settings):
    settings.RATELIMIT_SUBMISSIONS = "100/2d"
    window = MINUTE // (2 * 86400) * (2 * 86400)
    over_limit("submit", "10.0.0.1", "100/2d", now=window + 10)

    assert prune(now=window + 86400 + 60) == 0  # a day is over, the window is not
    assert prune(now=window + 2 * 86400 + 60) == 1
