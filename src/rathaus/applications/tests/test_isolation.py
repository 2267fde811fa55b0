"""Tenant isolation: staff of one municipality get 404 for every staff page and endpoint of the other.

The staff routes are enumerated from the URLConf (every view decorated with `staff_view`, and
every route with a `verwaltung` segment under `m/<slug:municipality>/`), so a new staff page is
covered without touching this file. Real URLs of the other tenant (with its objects' ids) are
found by crawling its staff pages as its own administrator, who must get 200 on each of them.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from rathaus.applications.models import Application
from rathaus.core.models import AuditEntry
from rathaus.core.tests.crawl import TENANT_PREFIX, crawl, staff_perm, staff_routes, start_urls

pytestmark = pytest.mark.django_db

MAX_CRAWL = 400


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def crawl_staff_urls(client: Client, slug: str) -> dict[str, set[str]]:
    """Route → real URLs of one tenant's staff pages, each answered 200 to `client`."""
    routes = staff_routes()
    start = start_urls(routes, slug)
    found: dict[str, set[str]] = {}
    for url, route, response in crawl(client, start, slug=slug, follow=routes.__contains__, max_requests=MAX_CRAWL):
        assert response.status_code == 200, (url, response.status_code)
        found.setdefault(route, set()).add(url)
    return found


@pytest.fixture
def their_staff_urls(world, other_town):
    found = crawl_staff_urls(world["theirs"], other_town.slug)
    missing = sorted(set(staff_routes()) - set(found))
    assert not missing, ("No real URL was found for these staff routes: link them from a staff page of the "
                         f"tenant (or seed an object they show), so isolation can be tested: {missing}")
    return sorted(url for urls in found.values() for url in urls)


def test_every_staff_path_is_guarded_by_staff_view():
    routes = staff_routes()
    assert routes, "no staff routes found: the enumeration is broken"
    unguarded = [route for route, pattern in routes.items() if staff_perm(pattern.callback) is None]
    assert unguarded == []
    assert all(route.startswith(TENANT_PREFIX) for route in routes)


def test_staff_get_200_on_every_staff_page_of_their_own_tenant(world, their_staff_urls, other_town):
    # their_staff_urls asserted 200 for each page while crawling; the inbox lists their own application.
    assert any(world["references"][other_town.slug] in url for url in their_staff_urls)
    detail = world["theirs"].get(f"/m/{other_town.slug}/verwaltung/antraege/{world['references'][other_town.slug]}/")
    assert b"AusBeispielhausen" in detail.content
    assert len(their_staff_urls) >= len(staff_routes())


def test_staff_of_another_tenant_cannot_post_to_any_staff_page(world, their_staff_urls, other_town):
    audit = AuditEntry.objects.count()
    statuses = dict(Application.objects.values_list("reference", "status"))
    ours = world["ours"]
    for url in their_staff_urls:
        response = ours.post(url, {"status": "approved", "public_text": "x", "text": "x", "channel": "office",
                                   "service": "hund-anmelden"})
        assert response.status_code == 404, url
    assert AuditEntry.objects.count() == audit
    assert dict(Application.objects.values_list("reference", "status")) == statuses


def test_other_tenants_staff_and_citizens_get_404_anonymous_and_unverified_are_redirected(world, their_staff_urls,
                                                                                          make_user):
    # One crawl serves every kind of visitor: crawling is the slow part of this module.
    citizen = Client()
    citizen.force_login(make_user("buergerin@example.org"))
    unverified = Client()
    unverified.force_login(world["theirs_user"])
    visitors = {
        "staff of another tenant": (world["ours"], 404, None),
        "citizen": (citizen, 404, None),
        "anonymous": (Client(), 302, "/konto/anmelden/?next="),
        "staff without second factor": (unverified, 302, "/konto/2fa/?next="),
    }
    wrong = []
    for who, (client, status, location) in visitors.items():
        for url in their_staff_urls:
            response = client.get(url)
            if response.status_code != status or (location and not response["Location"].startswith(location)):
                wrong.append((who, url, response.status_code, response.get("Location")))
            # The 404 page may echo the address, never the other tenant's data.
            if b"AusBeispielhausen" in response.content:
                wrong.append((who, url, "shows the other tenant's data"))
    assert wrong == []


def test_staff_api_reads_of_another_tenant_are_404(world, town, other_town):
    reference = world["references"][other_town.slug]
    assert world["theirs"].get(f"/api/v1/m/{other_town.slug}/applications/{reference}").status_code == 200
    foreign = world["ours"].get(f"/api/v1/m/{other_town.slug}/applications/{reference}")
    assert foreign.status_code == 404
    assert foreign["Content-Type"] == "application/problem+json"
    # Their reference under our slug is simply unknown here.
    assert world["ours"].get(f"/api/v1/m/{town.slug}/applications/{reference}").status_code == 404


def test_own_reference_under_a_foreign_slug_is_404(world, town, other_town):
    reference = world["references"][town.slug]
    assert world["ours"].get(f"/m/{town.slug}/verwaltung/antraege/{reference}/").status_code == 200
    assert world["ours"].get(f"/m/{other_town.slug}/verwaltung/antraege/{reference}/").status_code == 404
