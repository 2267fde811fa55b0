from pathlib import Path

from django.core.management.base import BaseCommand

from rathaus.processes.management.files import read_file
from rathaus.processes.services import process_check


class Command(BaseCommand):
    help = "Parse and lint BPMN/DMN files; prints each problem with its element id; exit 1 on any error."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--lang", choices=["de", "en", "both"], default="both")

    def handle(self, *args, files, lang, **options):
        loaded = [(Path(name).name, read_file(name)) for name in files]
        problems = process_check(loaded)
        errors = 0
        for p in problems:
            errors += p["severity"] == "error"
            # One line per problem (and its English line): a quoted multi-line expression is folded.
            de, en = " ".join(p["message_de"].split()), " ".join(p["message_en"].split())
            message = {"de": de, "en": en}.get(lang, f"{de}\n    ({en})")
            self.stdout.write(f"{p['file'] or '-'}: {p['element_id'] or '-'}: {p['severity']}: {message}")
        if errors:
            self.stdout.write(self.style.ERROR(f"{errors} Fehler / error(s)"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("OK" + (f" ({len(problems)} Hinweise / warnings)" if problems else "")))
