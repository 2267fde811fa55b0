from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rathaus.catalog.services import FormSchemaInvalid, service_import_fim
from rathaus.tenants.models import Municipality
from rathaus_domain.forms.fim import FimImportError


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
        form = service.form
        steps = len(form.schema.get("properties", {}))
        self.stdout.write(self.style.SUCCESS(
            f"imported {form.fim_id or file.name} as '{service.name}' (form {form.key} v{form.version}, {steps} steps, "
            f"{len(form.rules)} rules for staff) → /m/{town.slug}/leistungen/{service.slug}/"))
