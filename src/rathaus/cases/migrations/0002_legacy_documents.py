"""Move the two old document stores into the case file.

`applications.Attachment` (citizens' files, with the form or handed in later) and
`processes.CaseDocument` (generated decision letters) become `cases.Document` with version 1.
The stored files keep their names in storage (nothing is copied); their SHA-512 is computed from
storage. File leaves in the application data point to the new document (`document_id`).
"""

import hashlib
import logging

from django.core.files.storage import default_storage
from django.db import migrations

logger = logging.getLogger(__name__)
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def _sha512(name):
    try:
        with default_storage.open(name, "rb") as handle:
            digest = hashlib.sha512()
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(chunk)
            return digest.hexdigest(), handle.size if hasattr(handle, "size") else None
    except Exception:  # noqa: BLE001 - a missing file must not stop the migration; the row keeps its metadata
        logger.warning("legacy document file %s could not be read", name)
        return "", None


def _field_label(application, field_path):
    try:
        from rathaus_domain.forms.model import FormSpec

        parts = [int(p) if p.isdigit() else p for p in field_path.split("/")]
        for field in FormSpec.from_schema(application.form.schema).fields():
            if len(field.path) == len(parts) and all(a == b or a == "*" for a, b in zip(field.path, parts, strict=True)):
                return field.label
    except Exception:  # noqa: BLE001 - an old form that no longer parses keeps the generic title
        logger.warning("form field label for %s not found", field_path)
    return "Nachweis"


def _leaf(data, path):
    parent = data
    for key in path[:-1]:
        parent = parent[int(key)] if isinstance(parent, list) else parent[key]
    key = int(path[-1]) if isinstance(parent, list) else path[-1]
    return parent, key


def _safe_name(filename, content_type):
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1].lstrip(". ").split(".", 1)[0]
    stem = "".join(ch if ch.isalnum() or ch in "-_ ()" else "_" for ch in stem).strip(" _-")[:80]
    return f"{stem or 'dokument'}.{EXTENSIONS.get(content_type, 'bin')}"


def forward(apps, schema_editor):
    Attachment = apps.get_model("applications", "Attachment")
    CaseDocument = apps.get_model("processes", "CaseDocument")
    Document = apps.get_model("cases", "Document")
    DocumentVersion = apps.get_model("cases", "DocumentVersion")
    current = None
    # Attachments of one application in a row, and that application's data loaded once: each file's
    # leaf is rewritten in the same dict, so a second file of the case does not undo the first.
    for attachment in (Attachment.objects.select_related("application__form").order_by("application_id", "id")
                       .iterator(chunk_size=500)):
        if current is None or current.pk != attachment.application_id:
            current = attachment.application
        application = current
        later = attachment.field.startswith("nachgereicht/")
        document = Document.objects.create(
            municipality_id=attachment.municipality_id, application_id=application.pk, document_type="proof",
            title="Nachgereichte Unterlage" if later else _field_label(application, attachment.field)[:200],
            confidentiality="public", source="citizen_later" if later else "citizen_online", form_field=attachment.field)
        sha512, _size = _sha512(attachment.file.name)
        version = DocumentVersion.objects.create(
            municipality_id=attachment.municipality_id, document=document, number=1, file=attachment.file.name,
            original_filename=attachment.filename[:255], filename=_safe_name(attachment.filename, attachment.content_type),
            content_type=attachment.content_type, size=attachment.size, sha512=sha512)
        Document.objects.filter(pk=document.pk).update(created_at=attachment.created_at)
        DocumentVersion.objects.filter(pk=version.pk).update(created_at=attachment.created_at)
        if not later and application.data:
            try:
                parent, key = _leaf(application.data, attachment.field.split("/"))
                leaf = parent[key]
            except (KeyError, IndexError, ValueError, TypeError):
                continue
            if isinstance(leaf, dict) and leaf.get("attachment_id") == attachment.pk:
                parent[key] = {"filename": leaf.get("filename", attachment.filename), "content_type": attachment.content_type,
                               "size": attachment.size, "sha512": sha512, "document_id": document.pk}
                application.save(update_fields=["data"])
    for legacy in CaseDocument.objects.order_by("id").iterator(chunk_size=500):
        sha512, size = _sha512(legacy.file.name)
        if size is None:
            try:
                size = default_storage.size(legacy.file.name)
            except Exception:  # noqa: BLE001
                size = 0
        document = Document.objects.create(
            municipality_id=legacy.municipality_id, application_id=legacy.application_id, document_type="decision",
            title=legacy.title, confidentiality="public" if legacy.public else "internal", source="generated",
            idempotency_key=legacy.idempotency_key)
        version = DocumentVersion.objects.create(
            municipality_id=legacy.municipality_id, document=document, number=1, file=legacy.file.name,
            original_filename=legacy.filename[:255], filename=_safe_name(legacy.filename, legacy.content_type),
            content_type=legacy.content_type, size=size or 0, sha512=sha512)
        Document.objects.filter(pk=document.pk).update(created_at=legacy.created_at)
        DocumentVersion.objects.filter(pk=version.pk).update(created_at=legacy.created_at)


def backward(apps, schema_editor):
    """Back to the two stores: citizens' documents as attachments, generated decisions as case documents."""
    Attachment = apps.get_model("applications", "Attachment")
    CaseDocument = apps.get_model("processes", "CaseDocument")
    Document = apps.get_model("cases", "Document")
    current = None
    # As forward: the documents of one application in a row and its data loaded once, so rewriting
    # the leaf of a second file does not save the first one's old leaf back.
    for document in (Document.objects.select_related("application").prefetch_related("versions")
                     .order_by("application_id", "id")):
        if current is None or current.pk != document.application_id:
            current = document.application
        version = min(document.versions.all(), key=lambda v: v.number, default=None)
        if version is None:
            continue
        if document.source in ("citizen_online", "citizen_later"):
            sha256 = ""
            try:
                with default_storage.open(version.file.name, "rb") as handle:
                    sha256 = hashlib.sha256(handle.read()).hexdigest()
            except Exception:  # noqa: BLE001
                logger.warning("document file %s could not be read", version.file.name)
            attachment = Attachment.objects.create(
                municipality_id=document.municipality_id, application_id=document.application_id,
                field=document.form_field or "nachgereicht/1", filename=version.original_filename[:255],
                content_type=version.content_type, size=version.size, sha256=sha256, file=version.file.name)
            application = current
            if document.source == "citizen_online" and application.data:
                try:
                    parent, key = _leaf(application.data, document.form_field.split("/"))
                    if isinstance(parent[key], dict) and parent[key].get("document_id") == document.pk:
                        parent[key] = {"filename": parent[key].get("filename", version.original_filename),
                                       "content_type": version.content_type, "size": version.size, "sha256": sha256,
                                       "attachment_id": attachment.pk}
                        application.save(update_fields=["data"])
                except (KeyError, IndexError, ValueError, TypeError):
                    pass
        elif document.source == "generated" and document.document_type == "decision" and document.idempotency_key:
            CaseDocument.objects.create(
                municipality_id=document.municipality_id, application_id=document.application_id,
                idempotency_key=document.idempotency_key, title=document.title, filename=version.original_filename[:200],
                content_type=version.content_type, file=version.file.name,
                public=document.confidentiality == "public")
    Document.objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0001_initial"),
        ("applications", "0002_representation"),
        ("processes", "0002_task_form_keeps_field_order"),
    ]

    operations = [migrations.RunPython(forward, backward)]
