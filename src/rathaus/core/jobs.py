"""Jobs that run if, and only if, the current transaction commits.

With the database queue (django-tasks-db on the default database) the job row is written inside
the transaction itself: the worker sees it exactly when the change commits, a rollback removes it,
and no job is lost if the process dies between commit and enqueue. Any other backend (the
immediate one in tests, an external broker) is enqueued after the commit.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router, transaction


def queued_in_transaction(task, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when `task`'s job row goes to database `using`, so a transaction there writes it (the database queue)."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    return isinstance(task.get_backend(), DatabaseBackend) and router.db_for_write(DBTaskResult) == using


def enqueue_on_commit(task, *args: Any, using: str = DEFAULT_DB_ALIAS) -> None:
    """Have `task(*args)` run if, and only if, the current transaction on `using` commits."""
    if queued_in_transaction(task, using=using):
        task.enqueue(*args)
    else:
        transaction.on_commit(lambda: task.enqueue(*args), using=using)


def job_row(task, *args: Any):
    """The unsaved job row the database queue would write for `task(*args)`.

    For statements that insert the job together with the rows it is about (see core/sql.py);
    the values are those of django-tasks-db's own enqueue.
    """
    from django_tasks.utils import normalize_json
    from django_tasks_db.models import DBTaskResult, get_date_max

    backend = task.get_backend()
    backend.validate_task(task)
    return DBTaskResult(id=backend._get_id(), args_kwargs=normalize_json({"args": list(args), "kwargs": {}}),
                        priority=task.priority, task_path=task.module_path, queue_name=task.queue_name,
                        run_after=task.run_after or get_date_max(), backend_name=backend.alias)


def job_insert_select(connection, task, *, source: str, exprs: dict[str, str]) -> tuple[str, list[Any]]:
    """`insert_select` of `job_row(task)` for a statement whose `exprs` supply the arguments.

    All but the row's id is the same on every call for a task and its backend: text and parameters
    are built once (the task validated once) and only a new id goes into each call's parameters.
    """
    from django_tasks_db.models import DBTaskResult

    backend = task.get_backend()
    sql, params, id_at = _job_template(task, backend, connection.alias, tuple(sorted(exprs.items())), source)
    params = list(params)
    params[id_at] = DBTaskResult._meta.pk.get_db_prep_save(backend._get_id(), connection)
    return sql, params


@functools.lru_cache(maxsize=64)
def _job_template(task, backend, alias: str, exprs: tuple[tuple[str, str], ...], source: str) -> tuple[str, tuple[Any, ...], int]:
    from django.db import connections

    from .sql import insert_select

    row = job_row(task)
    connection = connections[alias]
    sql, params = insert_select(connection, row, source=source, exprs=dict(exprs))
    row_id = row._meta.pk.get_db_prep_save(row.pk, connection)
    (id_at,) = [index for index, param in enumerate(params) if param == row_id]
    return sql, tuple(params), id_at
