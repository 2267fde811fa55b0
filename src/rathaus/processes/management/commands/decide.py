import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rathaus_domain.processes import dmn


class Command(BaseCommand):
    help = "Evaluate a DMN decision for JSON input and print the result (with the matched rules) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--decision", required=True)
        parser.add_argument("--input", required=True, help='JSON object, e.g. \'{"dog": {"other_dogs": 1}}\' or @file.json')

    def handle(self, *args, file, decision, input, **options):
        raw = Path(input[1:]).read_text() if input.startswith("@") else input
        try:
            inputs = json.loads(raw)
        except ValueError as exc:
            raise CommandError(f"--input ist kein JSON / is not JSON: {exc}") from None
        if not isinstance(inputs, dict):
            raise CommandError("--input muss ein JSON-Objekt sein / must be a JSON object")
        try:
            model = dmn.load_dmn(Path(file).read_bytes(), file=Path(file).name)
            result = dmn.decide(model, decision, inputs)
        except OSError as exc:
            raise CommandError(str(exc)) from None
        except dmn.DmnError as exc:
            self.stderr.write(f"{exc.element_id or '-'}: {exc.message_de} / {exc.message_en}")
            raise SystemExit(1) from None
        self.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
