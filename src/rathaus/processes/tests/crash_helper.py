"""Run in a subprocess by the SIGKILL test: `python -m rathaus.processes.tests.crash_helper setup N | report`."""

from __future__ import annotations

import json
import sys


def setup(count: int) -> None:
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    from rathaus.applications.services import application_submit
    from rathaus.catalog import demo_forms
    from rathaus.catalog.services import form_definition_create, service_upsert
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.tenants.models import Municipality

    town = Municipality.objects.create(slug="musterstadt", name="Musterstadt", ags="09999001", reference_prefix="MUS",
                                       contact_email="info@musterstadt.example")
    form = form_definition_create(municipality=town, key="hund", title="Hund", schema=demo_forms.dog_registration())
    service = service_upsert(municipality=town, slug="hund-anmelden", form=form, leika_key="99108002001000", name="Hund",
                             summary="Kurz", office="Bürgerbüro", processing_days=5)
    attach_demo_processes(town, {"hund-anmelden": service})
    for i in range(count):
        data = {
            "owner": {"given_name": "Erika", "family_name": f"Muster{i}", "birth_date": "1980-01-31",
                      "address": {"street": "Hauptstraße", "house_number": "1", "postal_code": "99999", "city": "Musterstadt"},
                      "email": f"erika{i}@example.org"},
            "dog": {"name": "Bello", "breed": "labrador", "birth_date": "2024-05-01", "sex": "maennlich",
                    "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": i % 2},
            "reduction": {"exemption": "keine"}, "declaration": {"truthful": True, "privacy": True},
        }
        with transaction.atomic():
            application_submit(municipality=town, service=service, data=data)


def report() -> None:
    from rathaus.applications.models import Application
    from rathaus.cases.models import Document
    from rathaus.processes.models import OutboxMessage, ProcessInstance

    print(json.dumps({
        "applications": Application.objects.count(),
        "approved": Application.objects.filter(status="approved").count(),
        "instances": ProcessInstance.objects.count(),
        "completed": ProcessInstance.objects.filter(status="completed").count(),
        "failed": list(ProcessInstance.objects.exclude(error="").values_list("error", flat=True)[:3]),
        "documents": Document.objects.filter(document_type="decision").count(),
        "outbox": sorted(OutboxMessage.objects.values_list("idempotency_key", flat=True)),
        "unsent": OutboxMessage.objects.filter(sent_at__isnull=True).count(),
        "status_changes": {a.reference: a.history.count() for a in Application.objects.prefetch_related("history")},
    }))


if __name__ == "__main__":
    import django

    django.setup()
    if sys.argv[1] == "setup":
        setup(int(sys.argv[2]))
    else:
        report()
