from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from rathaus.catalog.services import FormSchemaInvalid, service_import_fim
from rathaus.tenants.models import Municipality
from rathaus_domain.forms.fim import FimImportError

# The option a refused model field came from (the form's key is the service's slug).
ARGUMENT_OF = {"key": "--slug", "slug": "--slug", "leika_key": "--leika", "office": "--office"}


class Command(BaseCommand):
    help = "Import a FIM XDatenfelder schema (XDF1 or XDF2) as a service form of a municipality."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--municipality", required=True, help="slug of the municipality")
        parser.add_argument("--leika", default="99000000000000", help="LeiKa key of the service (14 digits)")
        parser.add_argument("--office", default="", help="responsible office")
        parser.add_argument("--slug", default=None, help="slug of the service (default: the FIM id)")
        parser.add_argument("--draft", action="store_true", help="import unpublished")

    def handle(self, *args, file: Path, municipality: str, leika: str, office: str, slug: str | None, draft: bool, **options):
        town = Municipality.objects.filter(slug=municipality).first()
        if town is None:
            raise CommandError(f"unknown municipality '{municipality}'")
        try:
            xml = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            service = service_import_fim(municipality=town, xml=xml, leika_key=leika, office=office or f"Bürgerbüro {town.name}",
                                         slug=slug, publish=not draft)
        except (FimImportError, FormSchemaInvalid) as exc:
            raise CommandError(f"{file}: {exc}") from None
        except ValidationError as exc:
            raise CommandError(_explain(exc)) from None
        form = service.form
        steps = len(form.schema.get("properties", {}))
        self.stdout.write(self.style.SUCCESS(
            f"imported {form.fim_id or file.name} as '{service.name}' (form {form.key} v{form.version}, {steps} steps, "
            f"{len(form.rules)} rules for staff) → /m/{town.slug}/leistungen/{service.slug}/"))


def _explain(exc: ValidationError) -> str:
    """The refused values, in German and English: ``--slug: <deutsch> / <english>``."""
    by_field = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.error_list}
    problems = []
    for field, errors in by_field.items():
        texts = []
        for language in ("de", "en"):
            with translation.override(language):
                texts.append(" ".join(ValidationError(errors).messages))
        where = ARGUMENT_OF.get(field, field if field != NON_FIELD_ERRORS else "")
        problems.append(f"{where}: {texts[0]} / {texts[1]}" if where else f"{texts[0]} / {texts[1]}")
    return "; ".join(problems)
