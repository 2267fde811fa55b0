from argparse import ArgumentTypeError

from django.core.management.base import CommandError
from django.utils.crypto import get_random_string
from django_tasks_db.compat import DEFAULT_TASK_BACKEND_ALIAS
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import valid_backend_name

from rathaus.core.scheduling import Scheduler
from rathaus.core.worker import Worker


class Command(DbWorkerCommand):
    help = "Run background jobs (e-mails, retention, allocations) and enqueue periodic jobs when due."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls for new jobs.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not enqueue periodic jobs from this worker.")

    def handle(self, *args, interval: float, no_scheduler: bool, **options):
        # django-tasks-db's db_worker on every queue, with the claim of core/worker.py. Unlike
        # `manage.py db_worker` it never reloads itself on code changes (a reloader would run a
        # second scheduler in its parent process): restart it after changing code.
        try:
            valid_backend_name(DEFAULT_TASK_BACKEND_ALIAS)
        except ArgumentTypeError as exc:
            raise CommandError(f"{exc} (TASKS_BACKEND must be django_tasks_db.DatabaseBackend for a worker)") from exc
        self.configure_logging(options.get("verbosity", 1))
        worker = Worker(queue_names=["*"], interval=interval, batch=False, backend_name=DEFAULT_TASK_BACKEND_ALIAS,
                        startup_delay=True, max_tasks=None, worker_id=get_random_string(32), excluded_queue_names=[])
        scheduler = None
        if not no_scheduler:
            scheduler = Scheduler()
            scheduler.start()
        try:
            worker.configure_signals()
            worker.run()
        finally:
            if scheduler is not None:
                scheduler.stopped.set()
