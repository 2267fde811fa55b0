"""Rate limits in a shared Redis (CACHE_URL=redis://…), as several web processes or hosts use them.

Needs a Redis server: the test runs when RATHAUS_TEST_REDIS_URL names one (e.g.
redis://127.0.0.1:6379/15) and is skipped with that reason otherwise.
"""

from __future__ import annotations

import os

import pytest
from django.core.cache import caches
from django.test import Client

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("RATHAUS_TEST_REDIS_URL", "")


@pytest.mark.skipif(not REDIS_URL, reason="no Redis named in RATHAUS_TEST_REDIS_URL")
def test_web_form_submission_limit_counts_in_redis_shared_by_every_process(settings, town, demo_services, dog_data):
    import environ
    import redis

    from rathaus.applications.models import Application
    from rathaus.applications.services import draft_create, draft_save

    settings.CACHES = {"default": environ.Env.cache_url_config(REDIS_URL)}
    settings.RATELIMIT_SUBMISSIONS = "2/m"
    caches["default"].clear()
    drafts = [draft_save(draft=draft_create(municipality=town, service=demo_services["hund-anmelden"]), data=dog_data)
              for _ in range(3)]
    statuses = [Client().post(f"/m/{town.slug}/antrag/{draft.token}/pruefen/").status_code for draft in drafts]
    assert statuses == [302, 302, 429]
    assert Application.objects.count() == 2
    # The counter lives in Redis, where another process (here: a client of our own) sees it.
    keys = redis.Redis.from_url(REDIS_URL).keys("*rl:*")
    assert keys, "no rate-limit counter in Redis"
    caches["default"].clear()
