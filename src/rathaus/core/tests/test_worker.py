"""The job worker (`rathaus worker`): runs queued jobs in the library's order, each once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django_tasks import task

from rathaus.core.worker import Worker
from rathaus.processes.outbox import outbox_add
from rathaus.processes.tasks import deliver_outbox

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                   reason="the one-statement claim is PostgreSQL's; SQLite runs the library's loop")


def _worker(**options) -> Worker:
    values = {"queue_names": ["*"], "interval": 0.01, "batch": True, "backend_name": "default", "startup_delay": False,
              "max_tasks": None, "worker_id": "w-test", "excluded_queue_names": []}
    values.update(options)
    return Worker(**values)


def _message(town, key: str) -> int:
    return outbox_add(municipality=town, key=key, kind="email", enqueue=False,
                      payload={"subject": key, "body": "Text", "to": ["erika@example.org"]}).pk


def _jobs():
    from django_tasks_db.models import DBTaskResult

    return {job.args_kwargs["args"][0]: job for job in DBTaskResult.objects.all()}


def test_the_worker_runs_every_ready_job_once_highest_priority_first(db_queue, town):
    low, high, normal = (_message(town, key) for key in ("low", "high", "normal"))
    deliver_outbox.using(priority=-10).enqueue(low)
    deliver_outbox.using(priority=10).enqueue(high)
    deliver_outbox.enqueue(normal)
    _worker().run()
    assert [m.subject for m in mail.outbox] == ["high", "normal", "low"]
    jobs = _jobs()
    assert {job.status for job in jobs.values()} == {"SUCCESSFUL"}
    assert all(job.worker_ids == ["w-test"] and job.started_at and job.finished_at for job in jobs.values())
    _worker().run()  # nothing left: no job runs twice
    assert len(mail.outbox) == 3


@postgres_only
def test_a_claim_takes_only_due_jobs_of_its_queues_and_skips_rows_another_worker_holds(db_queue, town, held_open):
    from django_tasks_db.models import DBTaskResult

    later, other_queue, held, free = (_message(town, key) for key in ("later", "other", "held", "free"))
    deliver_outbox.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(later)
    deliver_outbox.enqueue(other_queue)
    deliver_outbox.using(priority=5).enqueue(held)
    deliver_outbox.enqueue(free)
    jobs = _jobs()
    # A queue the settings do not name for enqueueing, as a job of another deployment's workers.
    DBTaskResult.objects.filter(pk=jobs[other_queue].pk).update(queue_name="reports")
    worker = _worker(queue_names=["default"])

    def lock_held():
        return DBTaskResult.objects.select_for_update().get(pk=jobs[held].pk).pk

    with held_open(lock_held):
        claimed = worker.claim_next()  # the held job ranks first, but another worker has it
        assert claimed.pk == jobs[free].pk
        assert worker.claim_next() is None  # neither the job due later nor the other queue's
    assert (claimed.status, claimed.worker_ids) == ("RUNNING", ["w-test"]) and claimed.started_at is not None
    stored = DBTaskResult.objects.get(pk=jobs[free].pk)
    assert (stored.status, stored.worker_ids) == ("RUNNING", ["w-test"])
    assert worker.claim_next().pk == jobs[held].pk  # released
    assert _worker(queue_names=["*"], excluded_queue_names=["default"]).claim_next().pk == jobs[other_queue].pk
    assert DBTaskResult.objects.get(pk=jobs[later].pk).status == "READY"


def test_the_worker_command_refuses_a_queue_that_is_not_the_database():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    # The test settings run jobs at once (no queue): a worker would wait for nothing, silently.
    with pytest.raises(CommandError, match="not a database backend"):
        call_command("worker", "--no-scheduler")


def test_the_worker_loop_follows_the_installed_library_version():
    from importlib.metadata import version

    from rathaus.core.worker import MIRRORED_VERSION

    assert version("django-tasks-db") == MIRRORED_VERSION, (
        "django-tasks-db was upgraded: compare core/worker.py's Worker.run with the library's db_worker loop, "
        "then update MIRRORED_VERSION")


@task()
def _answer(value: int) -> dict:
    if value < 0:
        raise ValueError("negativ")
    return {"doubled": value * 2}


def test_the_worker_records_what_a_job_returned_and_why_a_job_failed(db_queue):
    from django_tasks_db.models import DBTaskResult

    good, bad = _answer.enqueue(21), _answer.enqueue(-1)
    _worker().run()
    stored_good, stored_bad = DBTaskResult.objects.get(pk=good.id), DBTaskResult.objects.get(pk=bad.id)
    assert (stored_good.status, stored_good.return_value, stored_good.traceback) == ("SUCCESSFUL", {"doubled": 42}, "")
    assert stored_good.finished_at is not None and stored_good.started_at <= stored_good.finished_at
    assert stored_bad.status == "FAILED" and stored_bad.exception_class_path == "builtins.ValueError"
    assert "negativ" in stored_bad.traceback
