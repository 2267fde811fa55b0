from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rathaus.catalog.models import Service
from rathaus.processes.management.files import read_file
from rathaus.processes.services import ProcessUploadInvalid, process_definition_create
from rathaus.tenants.models import Municipality


class Command(BaseCommand):
    help = "Check and store BPMN/DMN files as a new version of a service's process (--publish to publish it)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--municipality", required=True)
        parser.add_argument("--service", required=True)
        parser.add_argument("--publish", action="store_true")

    def handle(self, *args, files, municipality, service, publish, **options):
        town = Municipality.objects.filter(slug=municipality).first()
        if town is None:
            raise CommandError(f"Kommune nicht gefunden / unknown municipality: {municipality}")
        service_obj = Service.objects.for_municipality(town).filter(slug=service).first()
        if service_obj is None:
            raise CommandError(f"Leistung nicht gefunden / unknown service: {service}")
        loaded = [(Path(f).name, read_file(f)) for f in files]
        try:
            definition = process_definition_create(municipality=town, service=service_obj, files=loaded, publish=publish)
        except ProcessUploadInvalid as exc:
            self.write_problems(exc.problems)
            raise SystemExit(1) from None
        # Stored with the version, but the designer should read them now, as check-process shows them.
        self.write_problems(definition.problems)
        self.stdout.write(self.style.SUCCESS(f"{definition.name} v{definition.version} ({definition.state})"))

    def write_problems(self, problems):
        for p in problems:
            de, en = " ".join(p["message_de"].split()), " ".join(p["message_en"].split())
            self.stdout.write(f"{p['file'] or '-'}: {p['element_id'] or '-'}: {p['severity']}: {de} ({en})")
