"""Periodic housekeeping of the core app."""

from django_tasks import task

from . import ratelimit


@task()
def prune_rate_counters() -> dict:
    """Drop rate-limit counters of windows that are over (one row per client address would pile up)."""
    return {"deleted": ratelimit.prune()}
