"""The job queue's table keeps finished jobs only RATHAUS_TASK_RESULTS_DAYS (the daily job core.task_results)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from rathaus.core.tasks import prune_rate_counters, prune_task_results

pytestmark = pytest.mark.django_db


def _job(status: str, finished_days_ago: float | None, enqueued_days_ago: float = 30) -> str:
    """A job row of the database queue as it stands after a while (a real enqueue, then aged)."""
    job_id = prune_rate_counters.enqueue().id
    now = timezone.now()
    DBTaskResult.objects.filter(pk=job_id).update(
        status=status, enqueued_at=now - timedelta(days=enqueued_days_ago),
        started_at=None if status == TaskResultStatus.READY else now - timedelta(days=enqueued_days_ago),
        finished_at=None if finished_days_ago is None else now - timedelta(days=finished_days_ago))
    return str(job_id)


def test_finished_jobs_are_deleted_after_the_configured_days_and_others_stay(db_queue, settings):
    assert settings.RATHAUS_PERIODIC_TASKS["core.task_results"] == ("rathaus.core.tasks.prune_task_results", 24 * 3600)
    assert settings.RATHAUS_TASK_RESULTS_DAYS == 14
    old_done, old_failed = _job(TaskResultStatus.SUCCESSFUL, 15), _job(TaskResultStatus.FAILED, 20)
    recent_done, recent_failed = _job(TaskResultStatus.SUCCESSFUL, 13), _job(TaskResultStatus.FAILED, 1)
    waiting, running = _job(TaskResultStatus.READY, None), _job(TaskResultStatus.RUNNING, None)

    prune_task_results.call()
    kept = {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)}
    assert kept == {recent_done, recent_failed, waiting, running}
    assert old_done not in kept and old_failed not in kept

    settings.RATHAUS_TASK_RESULTS_DAYS = 7
    prune_task_results.call()
    assert {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)} == {recent_failed, waiting, running}
