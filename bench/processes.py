"""Benchmark: cases through the full stack vs the raw engine on the same models, in one run.

Run: ``.venv/bin/python bench/processes.py [--cases 300] [--database-url postgres:///rathaus_bench_processes]``

* full stack: ``application_submit`` (validation, reference, attachments, status history, audit
  with hash chain, receipt job) → after commit the process start job (immediate task backend,
  in process) → the dog-registration process: completeness check, DMN fee decision, script,
  gateway, decision letter PDF, outbox e-mail (+ delivery), status change, timeline and audit
  entries for every step. One transaction per submission and one per process start, as in
  production. Database: PostgreSQL (a throwaway ``test_…`` database is created and dropped) or
  whatever ``--database-url`` names.
* process only: the same, but timing only ``process_start`` for already submitted applications.
* raw engine: our ``ProcessRun`` over SpiffWorkflow, in memory, same BPMN + DMN, with no-op
  steps that return what the real steps return (no database, no PDF).

Prints cases/s for each and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _dog(i: int) -> dict:
    return {
        "owner": {"given_name": "Erika", "family_name": f"Muster{i}", "birth_date": "1980-01-31",
                  "address": {"street": "Hauptstraße", "house_number": "1", "postal_code": "99999", "city": "Musterstadt"},
                  "email": f"erika{i}@example.org"},
        "dog": {"name": "Bello", "breed": ["labrador", "pitbull", "dackel"][i % 3], "birth_date": "2024-05-01",
                "sex": "maennlich", "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": i % 2},
        "reduction": {"exemption": "keine"}, "declaration": {"truthful": True, "privacy": True},
    }


def raw_engine(cases: int) -> float:
    from rathaus.processes.demo import demo_files
    from rathaus_domain.processes.engine import ProcessModel, ProcessRun, ServiceStepRegistry

    registry = ServiceStepRegistry()
    results = {"check_documents": {"documents_complete": True, "missing_documents": []},
               "issue_decision": {"decision_issued": True, "decision_document": 1}, "notify_citizen": {"citizen_notified": True},
               "set_status": {"status": "approved"}, "compute_fee": {"fee": 0}, "set_deadline": {"deadline": "2026-12-01T23:59:00+01:00"},
               "wait_for_payment": {"payment_reference": "X"}, "notify_backoffice": {"backoffice_notified": True}}
    for name, result in results.items():
        registry.add(name, lambda ctx, r=result: r)
    files = demo_files("hund-anmelden")
    model = ProcessModel.from_files(files[:1], files[1:], registry=registry)
    start = time.perf_counter()
    for i in range(cases):
        run = ProcessRun(model, registry=registry, case_ref=f"MUS-{i}")
        data = _dog(i)
        data["case_ref"] = f"MUS-{i}"
        run.start(data)
        assert run.completed
        run.serialize()
        run.drain_events()
    return cases / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres:///rathaus_bench_processes"))
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rathaus.config.settings.test")
    import django

    django.setup()
    from django.db import connection, transaction

    from rathaus.applications.models import Application
    from rathaus.applications.services import application_submit
    from rathaus.catalog import demo_forms
    from rathaus.catalog.services import form_definition_create, service_upsert
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import ProcessInstance
    from rathaus.processes.services import process_start
    from rathaus.tenants.models import Municipality

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        town = Municipality.objects.create(slug="musterstadt", name="Musterstadt", ags="09999001", reference_prefix="MUS",
                                           contact_email="info@musterstadt.example")
        form = form_definition_create(municipality=town, key="hund", title="Hund", schema=demo_forms.dog_registration())
        service = service_upsert(municipality=town, slug="hund-anmelden", form=form, leika_key="99108002001000",
                                 name="Hund", summary="Kurz", office="Bürgerbüro", processing_days=5)
        attach_demo_processes(town, {"hund-anmelden": service})

        def submit(i: int):
            with transaction.atomic():
                return application_submit(municipality=town, service=service, data=_dog(i)).application

        for i in range(10):  # warm-up: model cache, templates, connections
            submit(i)
        start = time.perf_counter()
        for i in range(args.cases):
            submit(1000 + i)
        full = args.cases / (time.perf_counter() - start)
        done = ProcessInstance.objects.filter(status="completed").count()
        assert done == args.cases + 10, f"only {done} processes completed"

        # Process only: submissions without their start job, then time process_start alone.
        from unittest import mock

        with mock.patch("rathaus.processes.tasks.start_process"):
            pending = [submit(5000 + i) for i in range(args.cases)]
        start = time.perf_counter()
        for application in pending:
            process_start(application=application)
        process_only = args.cases / (time.perf_counter() - start)
        assert Application.objects.filter(status="approved").count() == 2 * args.cases + 10
        from rathaus.core.audit import audit_verify

        assert audit_verify() == [], "the audit hash chain must verify after the run"
        vendor = connection.vendor
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    raw = raw_engine(args.cases)
    print(f"database: {vendor}, cases: {args.cases}, cpus: {os.cpu_count()}")
    print(f"full stack (submission + process + PDFs + e-mails): {full:8.1f} cases/s")
    print(f"process only (process_start, DB + decision letter): {process_only:8.1f} cases/s")
    print(f"raw engine (ProcessRun in memory, same models):     {raw:8.1f} cases/s")
    print(f"ratio raw/full: {raw / full:.1f}x   raw/process-only: {raw / process_only:.1f}x")


if __name__ == "__main__":
    main()
