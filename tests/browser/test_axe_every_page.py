"""axe-core (WCAG 2.0/2.1 A and AA) finds nothing on any page of the site, for every kind of visitor.

The pages are found, not listed: each walk starts at every route of the URLConf that needs no
object (only the municipality), plus a few real objects a visitor holds a link to, and follows
the links of each page it checks. One real URL per route is checked (the steps of the form
wizard, whose pages differ per step and service, each count), so a new page is covered as soon
as a page links to it. Three walks: an anonymous visitor, a logged-in citizen who holds an
application, a daycare registration with an offer, a holiday registration and a provider
account, and a tenant administrator after the two-factor login.

Each walk fetches a URL once outside the page (sharing the browser's cookies) to skip what is no
HTML page (downloads, exports, JSON, POST-only addresses answering 405, redirects such as the
login a page sends anonymous visitors to); only 200 text/html answers are opened and scanned.
The Django admin (/verwaltung/, instance operators) and the JSON API are not part of the walk.

Run alone: pytest -n 0 -p no:cacheprovider tests/browser/test_axe_every_page.py (add -rP to see the
list of checked routes, skipped routes and their reasons, and routes no link led to).
"""

from __future__ import annotations

from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import fill_login
from playwright.sync_api import Page, expect

from rathaus.core.tests import crawl

pytestmark = pytest.mark.browser


# Coverage floors: the walks checked 25 / 39 / 39 routes when this test was written. A walk that
# checks fewer has lost its way (a broken link, a missing seed, a login that failed); when a page
# really goes away, lower the floor in the same commit.
MIN_ROUTES = {"anonymous": 24, "citizen": 38, "staff": 38}
MAX_PAGES = 250  # per walk; a safety net against a link loop, far above what the site has
# Routes whose every real URL is its own page for axe: each step of each form looks different.
EVERY_URL = {"applications:step"}
# Never followed: state-changing (logout is POST-only, but a GET link would still end the walk's
# session), the operators' Django admin, the API (JSON and its Swagger UI, not our templates).
NOT_FOLLOWED = ("/konto/abmelden/", "/verwaltung/", "/api/", "/static/", "/media/", "/i18n/")
# Links, form actions (a POST-only address answers 405 and is skipped; many render their form on
# GET as the page without JavaScript) and the addresses scripts fetch (data-url).
LINKS = """() => [
  ...[...document.querySelectorAll('a[href]')].map(a => a.href),
  ...[...document.querySelectorAll('form[action]')].map(f => new URL(f.getAttribute('action'), location.href).href),
  ...[...document.querySelectorAll('[data-url]')].map(e => new URL(e.dataset.url, location.href).href),
]"""


# Forms sent empty after the walk, so the pages that show validation errors are scanned too (the
# error summary, invalid fields and their messages). Only forms that create something and refuse
# an empty submission: an empty "accept", "withdraw" or "record" form would act instead.
EMPTY_SUBMISSIONS = {
    "anonymous": ["konto/registrieren/", "konto/passwort-vergessen/", "m/<slug:municipality>/antrag/<str:token>/schritt/<int:index>/"],
    "citizen": ["m/<slug:municipality>/boersen/kita/anmelden/", "m/<slug:municipality>/boersen/ferien/<int:pk>/anmelden/",
                "m/<slug:municipality>/boersen/anbieter/registrieren/",
                "m/<slug:municipality>/boersen/anbieter/<int:provider>/angebote/neu/",
                "m/<slug:municipality>/boersen/anbieter/<int:provider>/ferien/neu/", "konto/meine-daten/loeschen/"],
    "staff": ["m/<slug:municipality>/verwaltung/erfassen/", "m/<slug:municipality>/boersen/verwaltung/kategorien/",
              "m/<slug:municipality>/boersen/verwaltung/kita/einrichtungen/neu/", "m/<slug:municipality>/boersen/verwaltung/ferien/",
              "m/<slug:municipality>/boersen/verwaltung/ferien/<int:programme>/aktivitaeten/neu/",
              "m/<slug:municipality>/verwaltung/antraege/<str:reference>/akte/neu/",
              "m/<slug:municipality>/verwaltung/antraege/<str:reference>/unterlagen-nachfordern/",
              "m/<slug:municipality>/verwaltung/api-zugaenge/", "m/<slug:municipality>/verwaltung/anbindung/"],
}
# Empties the first POST form in <main> that has fields and sends it with its first submit button,
# past the browser's own checks (as a browser without them, or a user agent ignoring them, would).
SUBMIT_EMPTY = """(send) => {
  const form = [...document.querySelectorAll('main form')].find(f => (f.getAttribute('method') || '').toLowerCase() === 'post'
    && f.querySelector('input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea'));
  if (!form || !send) return Boolean(form);
  form.noValidate = true;
  for (const e of form.querySelectorAll('input:not([type=hidden]):not([type=submit]):not([type=button]), textarea')) {
    if (e.type === 'checkbox' || e.type === 'radio') e.checked = false; else e.value = '';
  }
  for (const e of form.querySelectorAll('select')) e.selectedIndex = -1;
  form.requestSubmit(form.querySelector('button[type=submit], input[type=submit], button:not([type])'));
  return true;
}"""


def walk_urlconf():
    from django.urls import get_resolver

    return crawl.walk(get_resolver().url_patterns)


def resolve_route(url: str):
    """The ResolverMatch of a site URL (its path), or None when no route answers it."""
    from django.urls import resolve
    from django.urls.exceptions import Resolver404

    try:
        return resolve(urlsplit(url).path)
    except Resolver404:
        return None


def _key(match) -> str:
    name = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
    route = match.route or "/"
    return route if name not in EVERY_URL else f"{route} {match.kwargs}"


def _parameterless(slug: str, allowed) -> list[str]:
    """Real URLs of every route that needs nothing but the municipality, if `allowed(route, view)`."""
    urls = []
    for route, pattern in walk_urlconf():
        url = "/" + route.replace("<slug:municipality>", slug)
        if "<" in url or "(" in url or "^" in url or not allowed(route, pattern.callback):
            continue
        if not any(url.startswith(prefix) for prefix in NOT_FOLLOWED):
            urls.append(url)
    return urls


class Walk:
    """Breadth-first walk of one visitor's pages; scans each new route with axe and keeps the findings."""

    def __init__(self, page: Page, scan, kind: str, allowed) -> None:
        self.page, self.scan, self.kind, self.allowed = page, scan, kind, allowed
        self.checked: dict[str, str] = {}  # route key → the URL checked for it
        self.skipped: dict[str, str] = {}  # route → why (download, redirect, POST only, …)
        self.violations: list[str] = []
        self.errors: list[str] = []

    def check_current(self, label: str) -> None:
        """Scan the page the browser shows now (reached by a click, e.g. the 2FA form), as `label`."""
        self.checked[label] = self.page.url
        self._scan(label)

    def check_error_page(self, url: str, status: int, label: str) -> None:
        """Open an address that answers with an error page (404, an expired link) and scan it."""
        response = self.page.goto(url)
        if response is None or response.status != status:
            self.errors.append(f"[{self.kind}] {url}: expected HTTP {status}, got {response and response.status}")
        self.check_current(label)

    def check_empty_submissions(self, routes: list[str]) -> None:
        """Send the form of each route's checked page empty and scan the page that shows the errors."""
        for route in routes:
            urls = [url for key, url in self.checked.items() if key.split(" ", 1)[0] == route and " (" not in key]
            if not urls:
                self.errors.append(f"[{self.kind}] {route}: not checked by the walk, so its form was not sent empty")
            # Form steps: the first step of each form (their fields, and so their errors, differ).
            for url in [u for u in urls if u.endswith("/schritt/1/")] or urls[:1]:
                self.page.goto(url)
                if not self.page.evaluate(SUBMIT_EMPTY, False):
                    self.errors.append(f"[{self.kind}] {route}: no POST form with fields on {url}")
                    continue
                with self.page.expect_navigation():
                    self.page.evaluate(SUBMIT_EMPTY, True)
                if not self.page.locator("[aria-invalid=true], #error-summary, .kern-alert--danger, .notice-error").count():
                    self.errors.append(f"[{self.kind}] {route}: sent empty, {url} showed no errors ({self.page.url})")
                self.check_current(f"{route} (sent empty: {url})")

    def _scan(self, key: str) -> None:
        for violation in self.scan(self.page):
            nodes = violation["nodes"]
            targets = "; ".join(" ".join(map(str, node["target"])) for node in nodes[:8])
            if len(nodes) > 8:
                targets += f"; … {len(nodes) - 8} more"
            self.violations.append(f"[{self.kind}] {key} ({self.page.url}): {violation['id']} "
                                   f"[{violation['impact']}] {violation['help']} — {targets}")

    def run(self, start: list[str]) -> None:
        base = self.page.context.request
        origin = urlsplit(self.page.url or "").netloc
        queue, seen = deque(start), set(start)
        pages = 0
        while queue and pages < MAX_PAGES:
            url = queue.popleft()
            match = resolve_route(url)
            if match is None or not self.allowed(match.route, match.func):
                continue
            key = _key(match)
            # A route that redirected may still answer another URL (a reset link redirects to its form).
            if key in self.checked or (key in self.skipped and not self.skipped[key].startswith("redirects")):
                continue
            response = base.get(url, max_redirects=0)
            content_type = response.headers.get("content-type", "")
            if response.status in (301, 302, 303):
                location = response.headers.get("location", "")
                self.skipped[match.route or "/"] = f"redirects ({response.status} to {location})"
                self._follow(urljoin(url, location), origin, seen, queue)
                continue
            if response.status == 405:
                self.skipped[match.route or "/"] = "POST only (405)"
                continue
            if response.status != 200:
                self.errors.append(f"[{self.kind}] {url}: HTTP {response.status}")
                continue
            if not content_type.startswith("text/html"):
                self.skipped[match.route or "/"] = f"not a page ({content_type.split(';')[0]})"
                continue
            pages += 1
            # Scripts fill some pages after load (the process diagram, the offer map): wait for them.
            self.page.goto(url, wait_until="networkidle")
            self.checked[key] = url
            self._scan(key)
            for link in self.page.evaluate(LINKS):
                self._follow(urljoin(self.page.url, link), origin, seen, queue)

    @staticmethod
    def _follow(link: str, origin: str, seen: set[str], queue: deque) -> None:
        parts = urlsplit(link)
        if (parts.netloc and parts.netloc != origin) or any(parts.path.startswith(prefix) for prefix in NOT_FOLLOWED):
            return
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if target not in seen:
            seen.add(target)
            queue.append(target)

    def routes(self) -> set[str]:
        return {key.split(" ", 1)[0] for key in self.checked if not key.startswith("(")}

    def unreached(self) -> list[str]:
        """Routes this visitor may see that the walk neither checked nor skipped (no link led there)."""
        done = self.routes() | {route or "/" for route in self.skipped}
        candidates = {route or "/" for route, pattern in walk_urlconf() if self.allowed(route, pattern.callback)
                      and not any(("/" + route).startswith(prefix) for prefix in NOT_FOLLOWED)}
        return sorted(candidates - done)


def _public(route: str, view) -> bool:
    return crawl.staff_perm(view) is None


def _staff(route: str, view) -> bool:
    return crawl.staff_perm(view) is not None


@pytest.fixture
def site(world, town, demo_services, dog_data):
    """The seeded `world`; our town's citizen also holds a daycare offer, a holiday registration, a provider and a draft.

    Returns the citizen, the tenant administrator and, per kind of visitor, the real URLs a walk
    starts from besides the parameterless routes: addresses that come by e-mail or after a POST.
    """
    from types import SimpleNamespace

    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from rathaus.applications.models import Application
    from rathaus.applications.services import draft_create
    from rathaus.exchanges.models import HolidayRegistration, PlaceOffer, PlaceOfferStatus, Provider, ProviderMember
    from rathaus_domain.forms import FormSpec

    citizen = world["citizens"][town.slug]
    offer = PlaceOffer.objects.filter(municipality=town, status=PlaceOfferStatus.OPEN).select_related("registration").first()
    offer.registration.parent = citizen
    offer.registration.save(update_fields=["parent"])
    holiday = HolidayRegistration.objects.filter(municipality=town).order_by("pk").first()
    holiday.parent = citizen
    holiday.save(update_fields=["parent"])
    ProviderMember.objects.create(municipality=town, provider=Provider.objects.filter(municipality=town).first(), user=citizen)

    def draft_urls(draft) -> list[str]:
        # Only a POST starts a draft; its review page and every step are then plain addresses.
        base = f"/m/{town.slug}/antrag/{draft.token}/"
        steps = FormSpec.from_schema(draft.service.form.schema).steps
        return [f"{base}pruefen/", *(f"{base}schritt/{index}/" for index in range(1, len(steps) + 1))]

    # Drafts a visitor holds the link to: the dog registration filled in, the other forms empty.
    anonymous_drafts = [draft_create(municipality=town, service=service, data=dog_data if slug == "hund-anmelden" else None)
                        for slug, service in demo_services.items()]
    citizen_draft = draft_create(municipality=town, service=demo_services["hund-anmelden"], user=citizen, data=dog_data)
    status = f"/m/{town.slug}/status/{world['references'][town.slug]}/{world['tokens'][town.slug]}/"
    reset = f"/konto/passwort-neu/{urlsafe_base64_encode(force_bytes(citizen.pk))}/{default_token_generator.make_token(citizen)}/"
    failed = Application.objects.get(municipality=town, applicant=citizen).reference
    starts = {
        "anonymous": [status, f"{status}bestaetigung/", reset, *(url for d in anonymous_drafts for url in draft_urls(d))],
        "citizen": draft_urls(citizen_draft),
        # The walk takes one case file; the retry page belongs to the other one, whose process failed.
        "staff": [f"/m/{town.slug}/verwaltung/antraege/{failed}/prozess/erneut/"],
    }
    return SimpleNamespace(citizen=citizen, admin=world["ours_user"], starts=starts)


def test_every_page_has_no_axe_violations(page: Page, axe_scan, site, town, otp_code, settings, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    slug = town.slug
    # With a tile server configured the directories show their Leaflet map (markers, zoom buttons,
    # attribution), which must pass too. Same origin, so the CSP allows it; the tiles themselves
    # are missing (404), which Leaflet tolerates and axe does not look at.
    settings.RATHAUS_MAP_TILE_URL = live_server.url + "/static/kacheln/{z}/{x}/{y}.png"
    walks = {}

    page.goto("/")
    walks["anonymous"] = anonymous = Walk(page, axe_scan, "anonymous", _public)
    anonymous.run([*_parameterless(slug, _public), *site.starts["anonymous"]])
    anonymous.check_empty_submissions(EMPTY_SUBMISSIONS["anonymous"])
    anonymous.check_error_page("/gibt-es-nicht/", 404, "(404 page)")
    anonymous.check_error_page("/konto/bestaetigen/abgelaufen/", 400, "konto/bestaetigen/<str:token>/ (expired link)")

    page.context.clear_cookies()
    page.goto("/konto/anmelden/")
    fill_login(page, site.citizen.email)
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()
    walks["citizen"] = citizen = Walk(page, axe_scan, "citizen", _public)
    citizen.run([*_parameterless(slug, _public), *site.starts["citizen"]])
    citizen.check_empty_submissions(EMPTY_SUBMISSIONS["citizen"])

    page.context.clear_cookies()
    page.goto(f"/konto/anmelden/?next=/m/{slug}/verwaltung/posteingang/")
    walks["staff"] = staff = Walk(page, axe_scan, "staff", _staff)
    fill_login(page, site.admin.email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sicherheitscode eingeben")
    staff.check_current("konto/2fa/ (second factor)")
    page.get_by_label("Sicherheitscode aus Ihrer Authenticator-App").fill(otp_code(TOTPDevice.objects.get(user=site.admin)))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Posteingang")
    staff.run([*_parameterless(slug, _staff), *site.starts["staff"]])
    staff.check_empty_submissions(EMPTY_SUBMISSIONS["staff"])

    report = []
    for kind, walk in walks.items():
        report.append(f"{kind}: {len(walk.routes())} routes, {len(walk.checked)} pages checked")
        report.extend(f"  {key} → {url}" for key, url in sorted(walk.checked.items()))
        report.extend(f"  (skipped {route}: {why})" for route, why in sorted(walk.skipped.items()) if route not in walk.routes())
        report.extend(f"  (not reached: {route})" for route in walk.unreached())
    print("\n".join(report))

    errors = [error for walk in walks.values() for error in walk.errors]
    violations = [violation for walk in walks.values() for violation in walk.violations]
    assert not violations, f"axe found {len(violations)} violation(s):\n" + "\n".join(violations)
    assert not errors, "pages linked from the site did not answer as expected:\n" + "\n".join(errors)
    too_few = {kind: len(walk.routes()) for kind, walk in walks.items() if len(walk.routes()) < MIN_ROUTES[kind]}
    assert not too_few, f"the walk checked fewer routes than the floor {MIN_ROUTES}: {too_few}\n" + "\n".join(report)
    # Every staff route is linked from some staff page (the isolation test relies on the same).
    assert not staff.unreached(), f"no staff page links to these staff routes: {staff.unreached()}"
