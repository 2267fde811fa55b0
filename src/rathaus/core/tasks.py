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


@task()
def erase_old_ips() -> dict:
    """Erase IP addresses older than RATHAUS_AUDIT_IP_DAYS (daily; see RATHAUS_PERIODIC_TASKS).

    From the audit trail (`audit_erase_ips`: the chain stays verifiable) and from the login
    records django-axes keeps (every login and failed attempt with address and browser).
    """
    return ips_erase()


def ips_erase(*, now=None) -> dict:
    """What `erase_old_ips` does, for the `rathaus retention` command too."""
    from datetime import timedelta

    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.utils import timezone

    from .audit import audit_erase_ips

    before = (now or timezone.now()) - timedelta(days=settings.RATHAUS_AUDIT_IP_DAYS)
    result = audit_erase_ips(before=before)
    result["login_records_deleted"] = sum(model.objects.filter(attempt_time__lt=before).delete()[0]
                                          for model in (AccessLog, AccessFailureLog, AccessAttempt))
    return result
