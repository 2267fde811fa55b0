"""Tenant isolation: staff of one municipality get 404 for every staff page and endpoint of the other.

The staff routes are enumerated from the URLConf (every view decorated with `staff_view`, and
every route with a `verwaltung` segment under `m/<slug:municipality>/`), so a new staff page is
covered without touching this file. Real URLs of the other tenant (with its objects' ids) are
found by crawling its staff pages as its own administrator, who must get 200 on each of them.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from rathaus.accounts.models import Role
from rathaus.applications.models import Application
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

TENANT_PREFIX = "m/<slug:municipality>/"
# Links, and addresses that scripts fetch (data-url="…"), of the tenant's pages.
HREF = re.compile(r'(?:href|src|action|data-[a-z-]+)="(/m/[^"#]+)')
MAX_CRAWL = 400
URLS_PER_ROUTE = 2
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _staff_perm(view):
    while view is not None:
        if hasattr(view, "staff_perm"):
            return view.staff_perm
        view = getattr(view, "__wrapped__", None)
    return None


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def staff_routes() -> dict[str, URLPattern]:
    """Route → pattern for every tenant staff page in the URLConf."""
    found = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        tenant_staff_path = route.startswith(TENANT_PREFIX) and "verwaltung/" in route[len(TENANT_PREFIX):]
        if tenant_staff_path or _staff_perm(pattern.callback) is not None:
            found[route] = pattern
    return found


def _route_of(url: str) -> str | None:
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return match.route if _staff_perm(match.func) is not None else None


@pytest.fixture
def world(town, other_town, make_staff, make_user, login_verified, demo_services, django_capture_on_commit_callbacks):
    """Both towns seeded alike, each with an application carrying an attachment."""
    import base64

    from rathaus.accounts.services import erasure_request
    from rathaus.applications.services import application_submit
    from rathaus.catalog.services import service_upsert

    try:
        from rathaus.exchanges.demo import seed_demo_exchanges
    except ImportError:  # exchanges is optional; its staff pages are then absent from the URLConf too
        seed_demo_exchanges = None
    try:
        from rathaus.processes.demo import attach_demo_processes
    except ImportError:  # likewise for processes (tasks, case documents)
        attach_demo_processes = None
    references = {}
    for municipality in (town, other_town):
        dog = demo_services["hund-anmelden"]
        if municipality != town:
            dog = service_upsert(municipality=municipality, slug="hund-anmelden", form=dog.form, leika_key=dog.leika_key,
                                 name="Hund anmelden", summary="", office="Bürgerbüro", processing_days=5)
        if attach_demo_processes is not None:
            attach_demo_processes(municipality)
        owner = {"given_name": "Erika", "family_name": f"Aus{municipality.name}", "birth_date": "1980-01-31",
                 "address": {"street": "Hauptstraße", "house_number": "1", "postal_code": "99999", "city": "Ort"},
                 "email": "erika@example.org"}
        dog_details = {"name": "Bello", "breed": "labrador", "birth_date": "2024-05-01", "sex": "maennlich",
                       "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": 0}
        proof = {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": base64.b64encode(PDF).decode()}
        declaration = {"truthful": True, "privacy": True}
        # Jobs after commit (receipt, process start) run, so cases get their tasks and documents:
        # a plain registration runs through to a decision letter, an exemption waits for staff.
        # A citizen with an account, who asks for erasure: the data-protection pages get a real request.
        citizen = make_user(f"erika@{municipality.slug}.example")
        with django_capture_on_commit_callbacks(execute=True):
            application_submit(municipality=municipality, service=dog, applicant=citizen, data={
                "owner": owner, "dog": dog_details, "reduction": {"exemption": "keine"}, "declaration": declaration})
        with django_capture_on_commit_callbacks(execute=True):
            erasure_request(user=citizen, reason="")
        with django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=municipality, service=dog, data={
                "owner": owner, "dog": dog_details, "reduction": {"exemption": "blindenfuehrhund", "proof": proof},
                "declaration": declaration})
        references[municipality.slug] = result.application.reference
        # The case worker asks for a new proof: the case waits for a message (staff can record it).
        from rathaus.processes.models import ProcessInstance, UserTask
        from rathaus.processes.services import task_complete

        reviewer = make_staff(municipality, f"review@{municipality.slug}.example")
        task_complete(task=UserTask.objects.get(application=result.application), user=reviewer,
                      data={"decision": {"outcome": "request_documents"}})
        # A broken case, so the retry page has a real object.
        ProcessInstance.objects.filter(application__municipality=municipality, status="completed").update(
            status="failed", error="Testfehler")
        if seed_demo_exchanges is not None:
            seed_demo_exchanges(municipality)
    ours = make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN)
    theirs = make_staff(other_town, "admin@beispielhausen.example", role=Role.TENANT_ADMIN)
    if seed_demo_exchanges is not None:
        _run_allocation_round(town, ours)
        _run_allocation_round(other_town, theirs)
    return {"ours": login_verified(Client(), ours), "theirs": login_verified(Client(), theirs),
            "ours_user": ours, "theirs_user": theirs, "references": references}


def _run_allocation_round(municipality, admin) -> None:
    """A completed daycare round, so the round pages and their exports have a real object."""
    from datetime import timedelta

    from django.utils import timezone

    from rathaus.exchanges.services import round_create, round_run

    admin.is_verified = lambda: True  # what OTPMiddleware sets after the second factor
    allocation_round = round_create(municipality=municipality, actor=admin, follow_up=False,
                                    offer_deadline=timezone.localdate() + timedelta(days=14))
    round_run(allocation_round=allocation_round, actor=admin)
    del admin.is_verified


def crawl_staff_urls(client: Client, slug: str) -> dict[str, set[str]]:
    """Route → real URLs of one tenant's staff pages, each answered 200 to `client`."""
    routes = staff_routes()
    start = [f"/{route.replace('<slug:municipality>', slug)}" for route, p in routes.items() if route.count("<") == 1]
    queue, seen, found = deque(start), set(start), {}
    queued = Counter(_route_of(url) for url in start)
    requests = 0
    while queue and requests < MAX_CRAWL:
        url = queue.popleft()
        requests += 1
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        route = _route_of(url)
        found.setdefault(route, set()).add(url)
        if not response["Content-Type"].startswith("text/html"):
            continue
        for link in HREF.findall(response.content.decode()):
            link = link.replace("&amp;", "&")
            path = urlsplit(link).path
            if not path.startswith(f"/m/{slug}/") or path in seen:
                continue
            target = _route_of(path)
            # Two real URLs per route are enough, and keep the crawl (and every test below) short.
            if target is not None and queued[target] < URLS_PER_ROUTE:
                seen.add(path)
                queued[target] += 1
                queue.append(path)
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
    unguarded = [route for route, pattern in routes.items() if _staff_perm(pattern.callback) is None]
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
