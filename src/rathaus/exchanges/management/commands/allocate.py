"""`rathaus allocate daycare|holiday`: run an allocation on a file or on a stored round.

    allocate daycare --input FILE.json --output FILE.json [--include waiting_lists,cutoffs]
    allocate daycare --municipality SLUG --round ID
    allocate holiday --municipality SLUG --programme ID --prepare   (close registration, record the seed)
    allocate holiday --municipality SLUG --programme ID             (draw with the recorded seed)

File mode runs the pure core only (no database), so it is as fast as the core and can check a
round independently from its downloaded input file.
"""

from __future__ import annotations

import sys
import time
from typing import IO, cast

from django.core.management.base import BaseCommand, CommandError

from rathaus.exchanges.allocate_cli import INCLUDE_CHOICES


class Command(BaseCommand):
    help = "Allocate daycare places (deferred acceptance) or a holiday programme (lottery)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="kind", required=True, metavar="{daycare,holiday}")
        daycare = sub.add_parser("daycare", help="daycare places: from a JSON file or a stored round")
        daycare.add_argument("--input", help="input JSON file (the core's file format)")
        daycare.add_argument("--output", help="output JSON file")
        daycare.add_argument("--include", default="", help=f"extra output parts, comma-separated: {', '.join(INCLUDE_CHOICES)}")
        daycare.add_argument("--municipality", help="municipality slug (with --round)")
        daycare.add_argument("--round", type=int, help="ID of a prepared round to run")
        holiday = sub.add_parser("holiday", help="holiday programme lottery of a stored programme")
        holiday.add_argument("--municipality", required=True, help="municipality slug")
        holiday.add_argument("--programme", type=int, required=True, help="ID of the programme")
        holiday.add_argument("--prepare", action="store_true",
                             help="close registration and record a random seed (its SHA-256 is shown until the draw)")

    def handle(self, *args, **options):
        if options["kind"] == "daycare":
            if options.get("input") or options.get("output"):
                return self._daycare_file(options)
            if options.get("municipality") and options.get("round"):
                return self._daycare_round(options)
            raise CommandError("Give --input FILE --output FILE, or --municipality SLUG --round ID.")
        return self._holiday(options)

    # -------------------------------------------------------------------- file mode

    def _daycare_file(self, options) -> None:
        from rathaus.exchanges.allocate_cli import AllocationFileError, parse_include, run_daycare_file

        if not options.get("input") or not options.get("output"):
            raise CommandError("File mode needs both --input and --output.")
        try:
            summary = run_daycare_file(options["input"], options["output"], parse_include(options["include"]),
                                       status=self._raw_stderr())
        except AllocationFileError as exc:
            raise CommandError(str(exc)) from None
        for warning in summary.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        self.stdout.write(self.style.SUCCESS(str(summary)))

    # -------------------------------------------------------------------- stored rounds

    def _municipality(self, slug: str):
        from rathaus.tenants.models import Municipality

        try:
            return Municipality.objects.get(slug=slug)
        except Municipality.DoesNotExist:
            raise CommandError(f"Unknown municipality {slug!r}.") from None

    def _daycare_round(self, options) -> None:
        from rathaus.exchanges import services
        from rathaus.exchanges.models import AllocationRound

        municipality = self._municipality(options["municipality"])
        allocation_round = AllocationRound.objects.for_municipality(municipality).filter(pk=options["round"]).first()
        if allocation_round is None:
            raise CommandError(f"No round {options['round']} in {municipality.slug}.")
        try:
            with self._progress() as step:
                done = services.round_run(allocation_round=allocation_round, actor=None, progress=step)
        except services.ExchangeError as exc:
            raise CommandError(str(exc)) from None
        stats = done.stats
        self.stdout.write(self.style.SUCCESS(
            f"Round {done.number} (seed {done.seed}): {stats['assigned']} of {stats['children']} children placed, "
            f"{stats['first_wish']} at their first wish."))

    def _holiday(self, options) -> None:
        from rathaus.exchanges import services
        from rathaus.exchanges.models import HolidayProgramme

        municipality = self._municipality(options["municipality"])
        programme = HolidayProgramme.objects.for_municipality(municipality).filter(pk=options["programme"]).first()
        if programme is None:
            raise CommandError(f"No holiday programme {options['programme']} in {municipality.slug}.")
        try:
            if options.get("prepare"):
                prepared = services.holiday_draw_prepare(programme=programme, actor=None)
                self.stdout.write(self.style.SUCCESS(
                    f"{prepared.name}: registration closed, seed recorded; SHA-256 {prepared.seed_commitment}."))
                return
            with self._progress() as step:
                done = services.holiday_programme_allocate(programme=programme, actor=None, progress=step)
        except services.ExchangeError as exc:
            raise CommandError(str(exc)) from None
        places = sum(len(v) for v in done.result["assignments"].values())
        self.stdout.write(self.style.SUCCESS(
            f"{done.name}: {places} places for {len(done.result['assignments'])} children (seed {done.seed})."))

    # -------------------------------------------------------------------- progress display

    def _raw_stderr(self) -> IO[str]:
        # OutputWrapper appends a newline to every write, which would break rich's live display.
        return cast(IO[str], getattr(self.stderr, "_out", sys.stderr))

    def _console(self):
        from rich.console import Console

        return Console(file=self._raw_stderr())

    def _progress(self):
        """A context manager giving a `step(text)` callback that shows each step with rich."""
        from contextlib import contextmanager

        @contextmanager
        def run():
            console = self._console()
            with console.status("…") as status:
                started = time.perf_counter()

                def step(text: str) -> None:
                    console.log(f"{text} ({time.perf_counter() - started:.2f} s)")
                    status.update(str(text))

                yield step

        return run()
