"""Rate limits counted in the database: one statement per request, shared by every process.

django-ratelimit counts in the cache. For the file cache (the default, no server needed) that is
several file operations per request and a count per host only; on the submission endpoint this
cost more than the rest of the request's checks together. Here a request is one upsert on a small
(on PostgreSQL unlogged) table. Windows are fixed: ``30/m`` allows 30 requests in each minute.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router

from .models import RateCounter
from .sql import prepared_cursor

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """``"30/m"`` → (30 requests, 60 seconds); ``"100/5m"`` → (100, 300). The grammar of django-ratelimit."""
    match = _RATE.match(rate)
    if match is None or (match.group(2) and int(match.group(2)) == 0):
        raise ImproperlyConfigured(f"rate {rate!r} is not of the form N/[M]s|m|h|d, e.g. 30/m")
    return int(match.group(1)), int(match.group(2) or 1) * _UNITS[match.group(3)]


def address_key(address: str | None) -> str:
    """The key of a client address: IPv4 as it is, IPv6 by its /64 network (RATELIMIT_IPV6_MASK, as
    django-ratelimit does), since one client commonly holds a whole /64 and could rotate within it."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)  # an IPv4 client on a dual-stack socket: one address, not a /64 of all
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{getattr(settings, 'RATELIMIT_IPV6_MASK', 64)}", strict=False))
    return str(ip)


def over_limit(group: str, key: str, rate: str, *, now: float | None = None) -> bool:
    """Count one request of `key` (e.g. a client address) in `group`; True if it exceeds `rate`.

    Every request counts, refused ones too, so a client that keeps trying stays refused until
    the window ends.
    """
    connection = connections[router.db_for_write(RateCounter)]
    sql, params, limit = counting_statement(connection, group, key, rate, now=now)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        hits = cursor.fetchone()[0]
    return hits > limit


def counting_statement(connection, group: str, key: str, rate: str, *,
                       now: float | None = None, source: str = "") -> tuple[str, list[Any], int]:
    """The upsert that counts one request (``INSERT … RETURNING hits``), its parameters and the limit.

    For a caller that runs it as the first part of a statement of its own (a data-modifying CTE),
    which saves the round trip; ``hits > limit`` means refused. With `source` (an earlier CTE's
    name) the request is counted only if that yields a row.
    """
    limit, period = parse_rate(rate)
    window_end = (int((time.time() if now is None else now) // period) + 1) * period
    return _upsert_sql(connection.alias, source), [f"{group}:{key}"[:200], window_end], limit


@functools.cache
def _upsert_sql(alias: str, source: str = "") -> str:
    quote = connections[alias].ops.quote_name
    table = quote(RateCounter._meta.db_table)
    # A newer window starts the count afresh; a request stamped with an older one (a web host whose
    # clock lags) counts in the current window instead of resetting it.
    newer = "excluded.window_end > c.window_end"
    # INSERT … SELECT does not infer parameter types from the columns: typed by casts.
    values = f"SELECT %s::varchar, %s::bigint, 1 FROM {source}" if source else "VALUES (%s, %s, 1)"  # noqa: S608 - a CTE's name
    return (f"INSERT INTO {table} AS c ({quote('key')}, window_end, hits) {values} "  # noqa: S608 - names from the model
            f"ON CONFLICT ({quote('key')}) DO UPDATE SET hits = CASE WHEN {newer} THEN 1 ELSE c.hits + 1 END, "
            f"window_end = {'greatest' if connections[alias].vendor == 'postgresql' else 'max'}(c.window_end, excluded.window_end) "
            "RETURNING hits")


def prune(*, now: float | None = None) -> int:
    """Delete the counters of windows that are over (of any rate's period); the count deleted."""
    deleted, _ = RateCounter.objects.filter(window_end__lte=time.time() if now is None else now).delete()
    return deleted
