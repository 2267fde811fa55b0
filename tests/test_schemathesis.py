"""schemathesis over the whole OpenAPI document, against the WSGI app with a real (test) database.

Every operation gets a bounded number of generated requests, sent with a staff API token that
holds every permission, to a municipality that has services, forms, cases with documents,
tasks and events; path parameters point at those real objects, so authenticated operations
are exercised past their 404s. Checks: no server error, status codes, content types, headers
and bodies as documented, auth really required.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Enough to find a crash or a wrong body in each operation; the whole run stays well under a minute.
MAX_EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, ignored_auth]


@pytest.fixture
def api_world(town, make_staff, demo_services, dog_data, django_capture_on_commit_callbacks):
    """A municipality with every kind of object the API names, and a token with every permission."""
    import base64

    from rathaus.accounts.models import Role
    from rathaus.applications.services import application_submit
    from rathaus.cases.models import Document
    from rathaus.integration.auth import grantable_permissions
    from rathaus.integration.services import api_token_create
    from rathaus.processes.demo import attach_demo_processes
    from rathaus.processes.models import UserTask

    attach_demo_processes(town, demo_services)
    pdf = base64.b64encode(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n").decode()
    exempt = {**dog_data, "reduction": {"exemption": "blindenfuehrhund", "proof": {
        "filename": "nachweis.pdf", "content_type": "application/pdf", "content": pdf}}}
    with django_capture_on_commit_callbacks(execute=True):
        application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data)
        application = application_submit(municipality=town, service=demo_services["hund-anmelden"], data=exempt).application
    admin = make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN)
    admin.is_verified = lambda: True
    _, token = api_token_create(municipality=town, actor=admin, name="schemathesis", permissions=grantable_permissions(),
                                valid_days=30)
    task = UserTask.objects.filter(application=application).first()
    document = Document.objects.filter(application=application).first()
    service = demo_services["hund-anmelden"]
    return {"token": token, "parameters": {
        "path.slug": town.slug, "path.reference": application.reference, "path.service_id": service.pk,
        "path.task_id": task.pk, "path.document_id": document.pk, "path.key": service.form.key,
        "path.version": service.form.version}}


def wsgi_app():
    """The project's WSGI app as a server runs it: every real server sets REMOTE_ADDR (werkzeug's test client does not)."""
    django_app = get_wsgi_application()

    def app(environ, start_response):
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")
        return django_app(environ, start_response)

    return app


@pytest.fixture
def api_schema(api_world, settings):
    cache.clear()  # rate-limit counters of earlier tests
    # Submissions past the limit would all be 429: let the generated ones reach validation (429 has its own tests).
    settings.RATELIMIT_SUBMISSIONS = "100000/m"
    # As Django's test client does: the requests run inside the test's transaction, whose connection
    # must survive the end of each request (PostgreSQL would otherwise close it after the first).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app())
        schema.config.update(headers={"Authorization": f"Bearer {api_world['token']}"}, parameters=api_world["parameters"])
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
@pytest.mark.django_db
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(checks=CHECKS)
