"""Periodic housekeeping of the core app."""

from django.conf import settings
from django.core.management import call_command
from django_tasks import task

from . import ratelimit


@task()
def prune_rate_counters() -> dict:
    """Drop rate-limit counters of windows that are over (one row per client address would pile up)."""
    return {"deleted": ratelimit.prune()}


@task()
def prune_task_results() -> dict:
    """Delete the rows of finished jobs (successful or failed) older than RATHAUS_TASK_RESULTS_DAYS (daily).

    The job queue's table keeps every job's arguments and result, and the worker never removes
    them. Ready, waiting (retries) and running jobs stay. Uses django-tasks-db's own pruning, on
    every configured backend that is a database queue.
    """
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.compat import task_backends

    days = settings.RATHAUS_TASK_RESULTS_DAYS
    pruned = []
    for alias in settings.TASKS:
        if isinstance(task_backends[alias], DatabaseBackend):
            # As command-line arguments: the command turns the backend's name into the backend.
            call_command("prune_db_task_results", f"--backend={alias}", "--queue-name=*", f"--min-age-days={days}",
                         verbosity=0)
            pruned.append(alias)
    return {"backends": pruned, "min_age_days": days}
