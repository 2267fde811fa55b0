"""Crawling the site with the Django test client: routes from the URLConf, real URLs from links.

Shared by the tenant-isolation tests (staff pages of one town, seen by the other town) and the
page-habit tests (help box and exports on every page, seen by each kind of visitor). The seeded
`world` both crawl lives in ``src/rathaus/conftest.py``.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlsplit

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

TENANT_PREFIX = "m/<slug:municipality>/"
# Links, and addresses that scripts fetch (data-url="…"), of the site's pages.
HREF = re.compile(r'(?:href|src|action|data-[a-z-]+)="(/[^"#]*)')


def staff_perm(view):
    """The permission a `staff_view` demands, or None for a view that is not one."""
    while view is not None:
        if hasattr(view, "staff_perm"):
            return view.staff_perm
        view = getattr(view, "__wrapped__", None)
    return None


def walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(route, pattern) for every URL pattern below `patterns`, routes written out in full."""
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def site_routes() -> dict[str, URLPattern]:
    """Route → pattern for the site's own pages: not the operators' Django admin, not the JSON API."""
    return {route: pattern for route, pattern in walk(get_resolver().url_patterns)
            if not route.startswith(("verwaltung/", "api/", "i18n/"))}


def staff_routes() -> dict[str, URLPattern]:
    """Route → pattern for every tenant staff page in the URLConf."""
    found = {}
    for route, pattern in walk(get_resolver().url_patterns):
        tenant_staff_path = route.startswith(TENANT_PREFIX) and "verwaltung/" in route[len(TENANT_PREFIX):]
        if tenant_staff_path or staff_perm(pattern.callback) is not None:
            found[route] = pattern
    return found


def route_of(url: str) -> str | None:
    """The URLConf route that answers `url` (None if none does)."""
    try:
        return resolve(urlsplit(url).path).route
    except Resolver404:
        return None


def start_urls(routes: Iterable[str], slug: str) -> list[str]:
    """One URL for every route that needs no parameter but the municipality."""
    return [f"/{route.replace('<slug:municipality>', slug)}" for route in routes
            if route.count("<") - route.count("<slug:municipality>") == 0]


def crawl(client: Client, start: Iterable[str], *, slug: str, follow: Callable[[str | None], bool],
          per_route: int = 2, max_requests: int = 400) -> Iterator[tuple[str, str | None, object]]:
    """(url, route, response) for the start URLs and the links found on them, breadth first.

    Only links to the site itself and to the municipality `slug` are followed, and only to routes
    for which `follow(route)` holds; at most `per_route` URLs per route: a few real URLs per route
    are enough and keep the crawl (and every test built on it) short. A redirect inside the site
    (e.g. starting an application leads to its first step) is followed like a link.
    """
    queue = deque(dict.fromkeys(start))
    seen = set(queue)
    queued = Counter(route_of(url) for url in queue)
    requests = 0
    while queue and requests < max_requests:
        url = queue.popleft()
        requests += 1
        response = client.get(url)
        route = route_of(url)
        yield url, route, response
        if response.status_code in (301, 302, 303, 307):
            links = [response["Location"]]
        elif response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            links = [link.replace("&amp;", "&") for link in HREF.findall(response.content.decode())]
        else:
            continue
        for link in links:
            path = urlsplit(link).path
            if path in seen or not path.startswith("/") or (path.startswith("/m/") and not path.startswith(f"/m/{slug}/")):
                continue
            target = route_of(path)
            if target is not None and follow(target) and queued[target] < per_route:
                seen.add(path)
                queued[target] += 1
                queue.append(path)
