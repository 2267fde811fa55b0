"""Habits every page keeps, checked on every page a visitor can reach.

The site is crawled as an anonymous visitor, as logged-in citizens (an applicant, parents in the
exchanges, a provider) and as a tenant administrator, starting from every route of the URLConf
that needs no parameter but the town (and from links a visitor gets by e-mail) and following links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import NoReverseMatch, resolve, reverse

from rathaus.core.tests.crawl import crawl, site_routes, staff_perm, start_urls

pytestmark = pytest.mark.django_db

# Routes whose GET changes the session rather than showing a page.
NEVER_FOLLOW = {"konto/abmelden/"}
HELP_BOX = re.compile(r'<aside class="container page-help"[^>]*>.*?<div class="page-help__body">(.*?)</div>\s*</div>\s*</aside>',
                      re.S)
TAG = re.compile(r"<[^>]+>")


def help_text(html: str) -> str | None:
    """The plain text of the page-help box (None if the page has no box)."""
    boxes = HELP_BOX.findall(html)
    if len(boxes) != 1:
        return None
    return " ".join(unescape(TAG.sub(" ", boxes[0])).split())


@dataclass
class Page:
    kind: str
    url: str
    route: str
    view: str
    template: str
    html: str
    client: Client = field(repr=False)


def _crawl_pages(kind: str, clients: list[Client], slug: str, extra_start: list[str]) -> list[Page]:
    routes = site_routes()
    start = start_urls(routes, slug) + extra_start
    pages = []
    for client in clients:
        for url, route, response in crawl(client, start, slug=slug, follow=lambda r: r in routes and r not in NEVER_FOLLOW,
                                          max_requests=600):
            if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
                continue
            html = response.content.decode()
            if "<html" not in html:  # a fragment that htmx puts into a page
                continue
            pages.append(Page(kind, url, route, response.resolver_match.view_name, response.templates[0].name, html, client))
    return pages


def _draft_urls(municipality, user) -> list[str]:
    """The pages of a started application (starting one is a POST, so the crawl cannot)."""
    from rathaus.applications.services import draft_create
    from rathaus.catalog.models import Service

    draft = draft_create(municipality=municipality, user=user,
                         service=Service.objects.get(municipality=municipality, slug="hund-anmelden"))
    base = f"/m/{municipality.slug}/antrag/{draft.token}"
    return [f"{base}/schritt/1/", f"{base}/pruefen/", f"{base}/vertretung/"]


@pytest.fixture
def pages(world, other_town):
    """Every HTML page of the other town reachable by each kind of visitor, with the client that saw it."""
    from rathaus.accounts.models import User

    slug = other_town.slug
    status = f"/m/{slug}/status/{world['references'][slug]}/{world['tokens'][slug]}/"
    # Links from e-mails: the receipt, and confirmation and password links that are no longer valid.
    mailed = [status, f"{status}bestaetigung/", "/konto/bestaetigen/abgelaufen/", "/konto/passwort-neu/MQ/abgelaufen/"]
    citizens = []
    for user in [world["citizens"][slug], *User.objects.filter(email__in=[
            f"eltern-01@{slug}.example", f"eltern-02@{slug}.example", f"ferien-01@{slug}.example",
            f"anbieter-tsv@{slug}.example"]).order_by("email")]:
        client = Client()
        client.force_login(user)
        citizens.append(client)
    return {
        "anonymous": _crawl_pages("anonymous", [Client()], slug, mailed + _draft_urls(other_town, None)),
        "citizen": _crawl_pages("citizen", citizens, slug, mailed + _draft_urls(other_town, world["citizens"][slug])),
        "admin": _crawl_pages("admin", [world["theirs"]], slug, mailed),
    }


# Distinct HTML routes each kind of visitor reached when this was written: a crawl that breaks
# (a lost login, links no longer found) falls below these and fails instead of checking nothing.
FLOORS = {"anonymous": 24, "citizen": 41, "admin": 67, "all": 80}
# Plain language explains what the page is for, what one can do and what happens next: that
# takes more than a phrase.
MIN_HELP_WORDS = 15


def _assert_coverage(pages) -> None:
    reached = {kind: {p.route for p in found} for kind, found in pages.items()}
    reached["all"] = set().union(*reached.values())
    counts = {kind: len(routes) for kind, routes in reached.items()}
    assert all(counts[kind] >= floor for kind, floor in FLOORS.items()), counts


def test_every_page_has_its_own_help_text_and_every_list_its_downloads(pages, world, other_town):
    # One crawl serves both checks (crawling two seeded towns as seven people is the slow part).
    _assert_coverage(pages)
    _help_texts_of_their_own_in_german_and_english(pages)
    _list_pages_link_csv_and_json_that_only_their_own_people_get(pages, world, other_town)


def _help_texts_of_their_own_in_german_and_english(pages) -> None:
    missing, thin, used_by, one_per_template = [], [], {}, {}
    for page in (p for found in pages.values() for p in found):
        text = help_text(page.html)
        if not text:
            missing.append((page.route, page.template))
            continue
        if len(text.split()) < MIN_HELP_WORDS:
            thin.append((page.template, text))
        used_by.setdefault(text, set()).add(page.template)
        one_per_template.setdefault(page.template, page)
    problems = {'missing': sorted(set(missing)), 'thin': sorted(set(thin))}
    assert not missing and not thin, problems
    # A text may serve several routes of one template (the three task lists), never several templates:
    # a generic text would be identical on many pages and help on none.
    shared = {text[:60]: sorted(templates) for text, templates in used_by.items() if len(templates) > 1}
    assert not shared, shared
    untranslated = []
    for template, page in sorted(one_per_template.items()):
        german = help_text(page.html)
        english = help_text(page.client.get(page.url, headers={"accept-language": "en"}).content.decode())
        if not english or english == german:
            untranslated.append((template, german))
    assert not untranslated, untranslated


# Pages that list records: each links its list as CSV and as JSON (with the page's filters) whenever
# it shows records (a table; the directory lists its offers without one). A page with a table must be
# named here or in NOT_LISTS, so a new list page cannot go without exports.
LISTS = {
    "applications:inbox", "applications:staff_detail",  # the case file's documents
    "processes:tasks_mine", "processes:tasks_team", "processes:tasks_overdue", "processes:definitions",
    "dataprotection:list", "cases:decisions_to_post",
    "integration:tokens", "integration:subscriptions", "integration:deliveries", "integration:case_deliveries",
    "exchanges:directory",
    "exchanges:staff_providers", "exchanges:staff_offers", "exchanges:staff_categories", "exchanges:staff_facilities",
    "exchanges:staff_registrations", "exchanges:staff_rounds", "exchanges:staff_round", "exchanges:staff_programmes",
    "exchanges:staff_programme",
    "portal:my_applications", "exchanges:holiday_programme", "exchanges:provider_home",
}
TABLELESS_LISTS = {"exchanges:directory"}
NOT_LISTS = {
    "cases:retention": "a settings form: retention days per document kind",
    "exchanges:daycare_index": "the published allocation rules, explained to parents",
    "exchanges:staff_rules": "a form that edits the allocation rules",
    "exchanges:staff_facility": "a form: places per group and month of one facility",
    "exchanges:holiday_registration": "one child's places and waiting-list positions",
    "dataprotection:detail": "one erasure request: the applications held about the person",
    "accounts:my_data": "the person's own data; this page downloads all of it as JSON, PDF and ZIP",
}
# Lists that still lack exports (see the report of the branch that added this test): keep this
# exact, so an export added later moves the page into LISTS.
NO_EXPORT_YET: dict[str, str] = {}
EXPORT = {"csv": re.compile(r'href="([^"]*(?:export=csv|\.csv)(?:[?&][^"]*)?)"'),
          "json": re.compile(r'href="([^"]*(?:export=json|\.json)(?:[?&][^"]*)?)"')}
CONTENT_TYPE = {"csv": "text/csv", "json": "application/json"}


def _in_urlconf(view: str, slug: str) -> bool:
    try:
        reverse(view, kwargs={"municipality": slug})
    except NoReverseMatch as exc:
        # Known, but it needs more arguments than the town (an object's id): it exists.
        return "with keyword arguments" in str(exc)
    return True


def _list_pages_link_csv_and_json_that_only_their_own_people_get(pages, world, other_town) -> None:
    named = set(LISTS) | set(NOT_LISTS) | set(NO_EXPORT_YET)
    stale = [view for view in named if not _in_urlconf(view, other_town.slug)]
    assert not stale, stale  # a stale name would exempt nothing
    every = [p for found in pages.values() for p in found]
    unclassified = sorted({p.view for p in every if "<table" in p.html and p.view not in named})
    assert not unclassified, unclassified
    reached = {p.view for p in every}
    assert not (set(LISTS) | set(NO_EXPORT_YET)) - reached, "list pages the crawl no longer reaches"

    citizen = Client()
    citizen.force_login(world["citizens"][other_town.slug])
    problems = []
    showing_records = [p for p in every if "<table" in p.html or p.view in TABLELESS_LISTS]
    assert set(LISTS) <= {p.view for p in showing_records}, "list pages the crawl never saw with records"
    for page in (p for p in showing_records if p.view in LISTS or p.view in NO_EXPORT_YET):
        links = {fmt: [unescape(link) for link in pattern.findall(page.html)] for fmt, pattern in EXPORT.items()}
        if page.view in NO_EXPORT_YET:
            if all(links.values()):
                problems.append((page.view, "has exports now: move it to LISTS"))
            continue
        for fmt, found in links.items():
            if not found:
                problems.append((page.view, f"no {fmt} export"))
                continue
            url = found[0] if found[0].startswith("/") else page.url + found[0]
            response = page.client.get(url)
            if response.status_code != 200 or not response["Content-Type"].startswith(CONTENT_TYPE[fmt]):
                problems.append((page.view, url, response.status_code, response["Content-Type"]))
            if staff_perm(resolve(urlsplit(url).path).func) is not None:
                # Another town's staff and a citizen get nothing; an anonymous visitor is sent to the login.
                for who, client, status in (("other town", world["ours"], 404), ("citizen", citizen, 404),
                                            ("anonymous", Client(), 302)):
                    denied = client.get(url)
                    if denied.status_code != status:
                        problems.append((page.view, url, who, denied.status_code))
    assert not problems, "\n".join(map(str, sorted(set(problems))))
