"""The job worker: django-tasks-db's ``db_worker`` loop, with the claim of a job as one statement.

The library claims a job with three statements in a transaction of their own (``SELECT … FOR
UPDATE SKIP LOCKED``, an ``UPDATE`` of the row, ``COMMIT``), each compiled by the ORM anew. Every
submission is a job, so on PostgreSQL the worker claims with one prepared ``UPDATE … WHERE id =
(SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`` in autocommit: the same row, the same order
(priority, run_after, enqueued_at), the same columns set; and it records a job's success with one
prepared UPDATE of the columns the library sets. Running the job and recording a failure stay the
library's. Other databases (SQLite) use the library's loop unchanged.

`Worker.run` follows ``db_worker.Worker.run`` of the version below (pinned in pyproject.toml);
compare the two when upgrading (a test fails until this is done).
"""

from __future__ import annotations

import functools
import logging
import random
import time

from django.db import close_old_connections, connections, router
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker as LibraryWorker
from django_tasks_db.models import DBTaskResult, get_date_max

from .heap import freeze_long_lived
from .sql import instance_from_row, prepared_cursor, select_columns, update_one

logger = logging.getLogger("django_tasks_db")
MIRRORED_VERSION = "0.13.0"  # of django-tasks-db, whose db_worker loop `Worker.run` follows


@functools.lru_cache(maxsize=8)
def _claim_sql(alias: str) -> tuple[str, tuple]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    table = quote(DBTaskResult._meta.db_table)
    columns, fields = select_columns(DBTaskResult, "claimed", connection)
    status, backend, run_after, queue = (quote(name) for name in ("status", "backend_name", "run_after", "queue_name"))
    # The ready status and the "no run_after" date as literals, not parameters: the statement is
    # prepared, and only with the literal can a generic plan use the library's partial index on
    # ready jobs (``tasks_db_new_ordering_idx``, WHERE status = 'READY') as the number of
    # finished jobs grows. Both are the library's constants, not input.
    ready = _literal(TaskResultStatus.READY)
    no_date = _literal(get_date_max().isoformat())
    sql = (f"UPDATE {table} AS claimed SET {status} = %s, {quote('started_at')} = %s, "  # noqa: S608 - names from the model
           f"{quote('worker_ids')} = claimed.{quote('worker_ids')} || jsonb_build_array(%s::text) "
           f"WHERE claimed.{quote('id')} = (SELECT {quote('id')} FROM {table} WHERE {status} = {ready} AND {backend} = %s "
           f"AND ({run_after} = {no_date}::timestamptz OR {run_after} <= %s) "
           f"AND (%s OR {queue} = ANY(%s::varchar[])) AND NOT ({queue} = ANY(%s::varchar[])) "
           f"ORDER BY {quote('priority')} DESC, {run_after} ASC, {quote('enqueued_at')} ASC "
           f"LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {columns}")
    return sql, fields


def _set_successful(job: DBTaskResult):
    """``job.set_successful`` as one prepared UPDATE of the same columns to the same values.

    The library's ``save(update_fields=…)`` compiles the statement anew for every job (about
    0.3 ms of CPU against 0.1 ms; every submission is a job). Its retry on a locked database is
    SQLite's concern; this runs on PostgreSQL only.
    """

    def set_successful(return_value) -> None:
        job.status = TaskResultStatus.SUCCESSFUL
        job.finished_at = timezone.now()
        job.return_value = return_value
        job.exception_class_path = ""
        job.traceback = ""
        update_one(job, ["status", "return_value", "finished_at", "exception_class_path", "traceback"])

    return set_successful


def _literal(value: str) -> str:
    if not all(char.isalnum() or char in " :+-._" for char in value):
        raise ValueError(f"not a plain constant: {value!r}")
    return f"'{value}'"


class Worker(LibraryWorker):
    """``db_worker``'s worker; on PostgreSQL it claims jobs with one statement (see the module)."""

    _frozen = False

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        finally:
            # The job and its set_successful closure refer to each other: part them, so reference
            # counting frees the job at once instead of the cyclic collector, later.
            db_task_result.__dict__.pop("set_successful", None)
        if not self._frozen:
            # What the first job loaded (process models, fonts, templates) stays for the process's
            # life: the collector leaves it alone from now on (see core/heap.py).
            self._frozen = True
            freeze_long_lived()

    def claim_next(self) -> DBTaskResult | None:
        """The next ready job of this worker's backend and queues, marked running by this worker; None if none."""
        connection = connections[router.db_for_write(DBTaskResult)]
        sql, fields = _claim_sql(connection.alias)
        now = timezone.now()
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql, [TaskResultStatus.RUNNING, now, self.worker_id, self.backend_name, now,
                                 self.process_all_queues, list(self.queue_names), list(self.excluded_queue_names)])
            row = cursor.fetchone()
        if row is None:
            return None
        job = instance_from_row(DBTaskResult, fields, row, connection)
        job.set_successful = _set_successful(job)  # type: ignore[method-assign]
        return job

    def run(self) -> None:
        connection = connections[router.db_for_write(DBTaskResult)]
        if connection.vendor != "postgresql":
            super().run()
            return
        logger.info("Starting worker worker_id=%s queues=%s", self.worker_id, ",".join(self.queue_names))
        if self.startup_delay and self.interval:
            time.sleep(random.random())  # noqa: S311 - spreads the workers' first polls, as the library does
        while self.running:
            close_old_connections()  # dropped or expired connections, right after waking up
            # A signal during the claim only ends the loop: a job claimed (committed) still runs.
            self.running_task = True
            try:
                task_result = self.claim_next()
            finally:
                self.running_task = False
            if task_result is not None:
                self.run_task(task_result)
            elif self.batch:
                logger.info("No more tasks to run for worker_id=%s - exiting gracefully.", self.worker_id)
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                logger.info("Run maximum tasks (%d) on worker=%s - exiting gracefully.", self._run_tasks, self.worker_id)
                return
            close_old_connections()
            # Interrupted during a job (self.running cleared): exit at once instead of sleeping.
            if self.running and task_result is None:
                time.sleep(self.interval)
