"""Fixtures shared by the tests of several apps: a seeded world of two towns that crawls can walk."""

from __future__ import annotations

import pytest
from django.test import Client

from rathaus.accounts.models import Role

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world(town, other_town, make_staff, make_user, login_verified, demo_services, django_capture_on_commit_callbacks):
    """Both towns seeded alike, each with an application carrying an attachment.

    Per town (by slug): `references` and `tokens` of that application (the citizen's status page),
    `citizens` the applicant with an account who also asked for erasure. "ours"/"theirs" are
    clients of the two towns' administrators, logged in with the second factor.
    """
    import base64

    from rathaus.accounts.services import erasure_request
    from rathaus.applications.services import application_submit
    from rathaus.catalog.services import service_upsert

    try:
        from rathaus.exchanges.demo import seed_demo_exchanges
    except ImportError:  # exchanges is optional; its staff pages are then absent from the URLConf too
        seed_demo_exchanges = None
    try:
        from rathaus.processes.demo import attach_demo_processes
    except ImportError:  # likewise for processes (tasks, case documents)
        attach_demo_processes = None
    references, tokens, citizens = {}, {}, {}
    for municipality in (town, other_town):
        dog = demo_services["hund-anmelden"]
        if municipality != town:
            dog = service_upsert(municipality=municipality, slug="hund-anmelden", form=dog.form, leika_key=dog.leika_key,
                                 name="Hund anmelden", summary="", office="Bürgerbüro", processing_days=5)
        if attach_demo_processes is not None:
            attach_demo_processes(municipality)
        owner = {"given_name": "Erika", "family_name": f"Aus{municipality.name}", "birth_date": "1980-01-31",
                 "address": {"street": "Hauptstraße", "house_number": "1", "postal_code": "99999", "city": "Ort"},
                 "email": "erika@example.org"}
        dog_details = {"name": "Bello", "breed": "labrador", "birth_date": "2024-05-01", "sex": "maennlich",
                       "chip_number": "276098106123456", "kept_since": "2026-11-01", "other_dogs": 0}
        proof = {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": base64.b64encode(PDF).decode()}
        declaration = {"truthful": True, "privacy": True}
        # Jobs after commit (receipt, process start) run, so cases get their tasks and documents:
        # a plain registration runs through to a decision letter, an exemption waits for staff.
        # A citizen with an account, who asks for erasure: the data-protection pages get a real request.
        citizen = make_user(f"erika@{municipality.slug}.example")
        with django_capture_on_commit_callbacks(execute=True):
            application_submit(municipality=municipality, service=dog, applicant=citizen, data={
                "owner": owner, "dog": dog_details, "reduction": {"exemption": "keine"}, "declaration": declaration})
        with django_capture_on_commit_callbacks(execute=True):
            erasure_request(user=citizen, reason="")
        with django_capture_on_commit_callbacks(execute=True):
            result = application_submit(municipality=municipality, service=dog, data={
                "owner": owner, "dog": dog_details, "reduction": {"exemption": "blindenfuehrhund", "proof": proof},
                "declaration": declaration})
        references[municipality.slug] = result.application.reference
        tokens[municipality.slug] = result.access_token
        citizens[municipality.slug] = citizen
        # The case worker asks for a new proof: the case waits for a message (staff can record it).
        from rathaus.processes.models import ProcessInstance, UserTask
        from rathaus.processes.services import task_complete

        reviewer = make_staff(municipality, f"review@{municipality.slug}.example")
        task_complete(task=UserTask.objects.get(application=result.application), user=reviewer,
                      data={"decision": {"outcome": "request_documents"}})
        # A broken case, so the retry page has a real object.
        ProcessInstance.objects.filter(application__municipality=municipality, status="completed").update(
            status="failed", error="Testfehler")
        if seed_demo_exchanges is not None:
            seed_demo_exchanges(municipality)
    ours = make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN)
    theirs = make_staff(other_town, "admin@beispielhausen.example", role=Role.TENANT_ADMIN)
    if seed_demo_exchanges is not None:
        _run_allocation_round(town, ours)
        _run_allocation_round(other_town, theirs)
    return {"ours": login_verified(Client(), ours), "theirs": login_verified(Client(), theirs),
            "ours_user": ours, "theirs_user": theirs, "references": references,
            "tokens": tokens, "citizens": citizens}


def _run_allocation_round(municipality, admin) -> None:
    """A completed daycare round, so the round pages and their exports have a real object."""
    from datetime import timedelta

    from django.utils import timezone

    from rathaus.exchanges.services import round_create, round_run

    admin.is_verified = lambda: True  # what OTPMiddleware sets after the second factor
    allocation_round = round_create(municipality=municipality, actor=admin, follow_up=False,
                                    offer_deadline=timezone.localdate() + timedelta(days=14))
    round_run(allocation_round=allocation_round, actor=admin)
    del admin.is_verified
