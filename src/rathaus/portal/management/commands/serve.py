import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Rathaus with gunicorn (production-style; use `rathaus demo` to try it out)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))

    def handle(self, *args, port: int, host: str, workers: int, threads: int, **options):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings.SETTINGS_MODULE)
        argv = [sys.executable, "-m", "gunicorn", "rathaus.config.wsgi:application", "--bind", f"{host}:{port}",
                "--workers", str(workers), "--threads", str(threads), "--access-logfile", "-"]
        os.execv(sys.executable, argv)  # noqa: S606 - replaces this process with gunicorn, no shell involved
