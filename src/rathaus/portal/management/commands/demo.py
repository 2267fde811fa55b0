import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from rich.console import Console

from rathaus.portal.demo import DEMO_PASSWORD, DEMO_TOTP_KEY, STAFF


class Command(BaseCommand):
    help = "Migrate, seed the demo municipalities and serve them with a background worker (one command)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port: int, host: str, **options):
        console = Console()
        with console.status("Datenbank wird eingerichtet …"):
            call_command("migrate", verbosity=0)
            call_command("createcachetable", verbosity=0)
        with console.status("Demo-Kommunen werden angelegt …"):
            call_command("seed_demo", verbosity=0)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        # SIGTERM (systemd, `docker stop`, `kill`) ends the demo as Ctrl+C does, through the
        # `finally` below: without this the worker would run on after the server has gone.
        signal.signal(signal.SIGTERM, _exit)
        worker = subprocess.Popen([sys.executable, "-m", "rathaus.cli", "worker"], env=env)
        try:
            database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
            console.print(f"\n[bold]Rathaus-Demo[/bold] auf http://{host}:{port}/  (Datenbank: {database})")
            console.print(f"Anmeldung Verwaltung: {STAFF[0][1]} / {DEMO_PASSWORD}; Zwei-Faktor-Schlüssel (hex) "
                          f"{DEMO_TOTP_KEY} – aktueller Code: [bold]rathaus demo-otp[/bold]")
            console.print(f"Bürgerin: buergerin@example.org / {DEMO_PASSWORD}\n")
            call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=10)


def _exit(signum, frame):
    raise SystemExit(128 + signum)
