import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rathaus.processes.management.files import read_file
from rathaus_domain.processes import dmn


def _not_a_number(text: str):
    raise ValueError(f"{text} ist keine Zahl / is not a number")


def _finite(text: str) -> float:
    # json reads 1e400 as infinity, which no table can compare and strict JSON cannot print.
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} ist zu groß / is too large")
    return value


class Command(BaseCommand):
    help = "Evaluate a DMN decision for JSON input and print the result (with the matched rules) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--decision", required=True)
        parser.add_argument("--input", required=True, help='JSON object, e.g. \'{"dog": {"other_dogs": 1}}\' or @file.json')

    def handle(self, *args, file, decision, input, **options):
        if input.startswith("@"):
            try:
                raw = read_file(input[1:]).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise CommandError(f"--input {input}: nicht in UTF-8 gespeichert / not UTF-8 encoded") from None
        else:
            raw = input
        try:
            inputs = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
        except ValueError as exc:
            raise CommandError(f"--input ist kein JSON / is not JSON: {exc}") from None
        except RecursionError:
            raise CommandError("--input ist zu tief verschachtelt / is nested too deeply") from None
        if not isinstance(inputs, dict):
            raise CommandError("--input muss ein JSON-Objekt sein / must be a JSON object")
        try:
            model = dmn.load_dmn(read_file(file), file=Path(file).name)
            result = dmn.decide(model, decision, inputs)
        except dmn.DmnError as exc:
            self.stderr.write(f"{exc.element_id or '-'}: {exc.message_de} / {exc.message_en}")
            raise SystemExit(1) from None
        self.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
