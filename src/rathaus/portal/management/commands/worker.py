from django.core.management import call_command
from django.core.management.base import BaseCommand

from rathaus.core.scheduling import Scheduler


class Command(BaseCommand):
    help = "Run background jobs (e-mails, retention, allocations) and enqueue periodic jobs when due."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls for new jobs.")
        parser.add_argument("--no-scheduler", action="store_true", help="Do not enqueue periodic jobs from this worker.")

    def handle(self, *args, interval: float, no_scheduler: bool, **options):
        scheduler = None
        if not no_scheduler:
            scheduler = Scheduler()
            scheduler.start()
        try:
            call_command("db_worker", interval=interval, queue_name="*", verbosity=options.get("verbosity", 1))
        finally:
            if scheduler is not None:
                scheduler.stopped.set()
