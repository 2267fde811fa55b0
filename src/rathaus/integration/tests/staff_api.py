"""Fixtures of the staff API tests (imported by the test modules that use them)."""

from __future__ import annotations

import base64

import pytest

from rathaus.accounts.models import Role
from rathaus.accounts.rules import Perm

# Fixtures for `from .staff_api import *`; the helpers below are imported by name.
__all__ = ["admin", "exempt_dog", "make_token", "submit_dog"]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PROBLEM = "application/problem+json"


@pytest.fixture
def admin(town, make_staff):
    return make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN)


@pytest.fixture
def make_token(admin):
    """A token made through the real service, as the page makes it; returns its value."""
    from rathaus.integration.services import api_token_create

    def make(permissions=(Perm.VIEW_INBOX,), *, actor=None, municipality=None, name="Fachverfahren", valid_days=90):
        actor = actor or admin
        actor.is_verified = lambda: True  # the page's session passed the second factor
        municipality = municipality or actor.memberships.first().municipality
        _, raw = api_token_create(municipality=municipality, actor=actor, name=name, permissions=list(permissions),
                                  valid_days=valid_days)
        del actor.is_verified
        return raw

    return make


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def exempt_dog(town, demo_services, dog_data, django_capture_on_commit_callbacks):
    """A dog registration with a proof (PDF) uploaded with the form, waiting for a case worker's review."""
    from rathaus.applications.services import application_submit
    from rathaus.processes.demo import attach_demo_processes

    attach_demo_processes(town, demo_services)

    data = {**dog_data, "reduction": {"exemption": "blindenfuehrhund", "proof": {
        "filename": "nachweis.pdf", "content_type": "application/pdf", "content": base64.b64encode(PDF).decode()}}}
    with django_capture_on_commit_callbacks(execute=True):
        result = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=data)
    result.application.refresh_from_db()
    return result.application


@pytest.fixture
def submit_dog(town, demo_services, dog_data, django_capture_on_commit_callbacks):
    from rathaus.applications.services import application_submit

    def submit(municipality=None):
        municipality = municipality or town
        service = demo_services["hund-anmelden"]
        if municipality != town:
            from rathaus.catalog.services import form_definition_create, service_upsert

            form = form_definition_create(municipality=municipality, key="hund", title="Hund", schema=service.form.schema)
            service = service_upsert(municipality=municipality, slug="hund-anmelden", form=form, leika_key=service.leika_key,
                                     name="Hund anmelden", summary="", office="Bürgerbüro", processing_days=5)
        with django_capture_on_commit_callbacks(execute=True):
            return application_submit(municipality=municipality, service=service, data=dog_data).application

    return submit
