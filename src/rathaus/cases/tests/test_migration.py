"""The data migration: the two old stores (attachments, case documents) become the case file."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from rathaus.applications.models import Application
from rathaus.cases.files import read_bytes
from rathaus.cases.models import Document
from rathaus.processes.models import UserTask
from rathaus.processes.services import task_complete

from .conftest import PDF

BEFORE = [("cases", "0001_initial"), ("applications", "0002_representation"),
          ("processes", "0002_task_form_keeps_field_order")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_attachments_and_decision_letters_move_into_the_case_file_and_back(submit, exemption_data, worker):
    application = submit("hund-anmelden", exemption_data)
    task_complete(task=UserTask.objects.get(application=application, element_id="review"), user=worker,
                  data={"decision": {"outcome": "approve"}})
    decision = Document.objects.get(application=application, document_type="decision")
    decision_bytes = read_bytes(decision.latest_version.file)
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        # Back to two stores: the citizen's proof as an attachment, the decision as a case document.
        old = _migrate(BEFORE)
        attachment = old.get_model("applications", "Attachment").objects.get()
        legacy = old.get_model("processes", "CaseDocument").objects.get()
        data = old.get_model("applications", "Application").objects.get(pk=application.pk).data
        assert (attachment.field, attachment.filename, attachment.sha256) == (
            "reduction/proof", "Ausweis.pdf", hashlib.sha256(PDF).hexdigest())
        assert data["reduction"]["proof"]["attachment_id"] == attachment.pk
        assert (legacy.title, legacy.public, legacy.idempotency_key) == (decision.title, True, decision.idempotency_key)

        # Forward again: one case file, the same files, the data pointing at the new documents.
        _migrate(latest)
    finally:
        _migrate(latest)
    proof = Document.objects.get(application=application, document_type="proof")
    version = proof.versions.get()
    assert (proof.source, proof.confidentiality, proof.form_field) == ("citizen_online", "public", "reduction/proof")
    assert (version.number, version.original_filename, version.content_type, version.size) == (
        1, "Ausweis.pdf", "application/pdf", len(PDF))
    assert version.sha512 == hashlib.sha512(PDF).hexdigest() and read_bytes(version.file) == PDF
    moved = Document.objects.get(application=application, document_type="decision")
    assert (moved.source, moved.idempotency_key, moved.confidentiality) == ("generated", decision.idempotency_key, "public")
    assert read_bytes(moved.latest_version.file) == decision_bytes
    application = Application.objects.get(pk=application.pk)
    assert application.data["reduction"]["proof"] == {"filename": "Ausweis.pdf", "content_type": "application/pdf",
                                                      "size": len(PDF), "sha512": version.sha512,
                                                      "document_id": proof.pk}


@pytest.mark.django_db(transaction=True)
def test_several_files_in_a_repeated_group_keep_their_places(town):
    """Two files in items of a repeatable group: each back to its own attachment and forward to its own document."""
    import base64

    from rathaus.applications.services import application_submit
    from rathaus.catalog.services import form_definition_create, service_upsert
    from rathaus_domain.forms.validation import file_field_schema

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Nachweise", "type": "object",
        "additionalProperties": False, "required": ["docs"], "properties": {"docs": {
            "type": "object", "title": "Unterlagen", "additionalProperties": False, "required": ["items"],
            "properties": {"items": {
                "type": "array", "title": "Nachweise", "minItems": 1, "maxItems": 3, "items": {
                    "type": "object", "additionalProperties": False, "required": ["scan"],
                    "properties": {"scan": file_field_schema(["application/pdf"], 100_000, "Scan")}}}}}}}
    form = form_definition_create(municipality=town, key="nachweise", title="Nachweise", schema=schema)
    service = service_upsert(municipality=town, slug="nachweise", form=form, leika_key="99108002001000",
                             name="Nachweise", summary="Kurz", office="Bürgerbüro", processing_days=5)
    files = [PDF + b"% first\n", PDF + b"% second one\n"]
    data = {"docs": {"items": [{"scan": {"filename": f"Scan-{i}.pdf", "content_type": "application/pdf",
                                         "content": base64.b64encode(raw).decode()}} for i, raw in enumerate(files)]}}
    application = application_submit(municipality=town, service=service, data=data).application
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE)
        attachments = {a.field: a for a in old.get_model("applications", "Attachment").objects.all()}
        assert set(attachments) == {"docs/items/0/scan", "docs/items/1/scan"}
        old_data = old.get_model("applications", "Application").objects.get(pk=application.pk).data
        for index in (0, 1):
            attachment = attachments[f"docs/items/{index}/scan"]
            assert old_data["docs"]["items"][index]["scan"]["attachment_id"] == attachment.pk
            assert attachment.sha256 == hashlib.sha256(files[index]).hexdigest()
        _migrate(latest)
    finally:
        _migrate(latest)
    stored = Application.objects.get(pk=application.pk).data["docs"]["items"]
    for index in (0, 1):
        document = Document.objects.get(application=application, form_field=f"docs/items/{index}/scan")
        version = document.versions.get()
        assert read_bytes(version.file) == files[index] and version.original_filename == f"Scan-{index}.pdf"
        assert stored[index]["scan"]["document_id"] == document.pk
        assert stored[index]["scan"]["sha512"] == hashlib.sha512(files[index]).hexdigest()
