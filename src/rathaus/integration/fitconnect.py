"""FIT-Connect-style submissions: an application as metadata, data and attachments.

The shape follows FIT-Connect's submission (metadata schema 1.0.0, shipped in `schemas/`):

- ``metadata.json`` — the service as ``urn:de:fim:leika:leistung:<LeiKa key>``, the SHA-512 of
  the data and of every attachment with its purpose, the applicant's e-mail as reply channel, and
  the case reference as ``senderReference``;
- ``data.json`` — the application exactly as submitted, valid under the form's JSON Schema (so
  uploaded files are in it as base64, as the schema requires);
- ``attachments/<uuid>.<ext>`` — the PDF of the form (purpose ``form``) and every file the
  citizen handed in (purpose ``attachment``).

With a destination's public RSA key each part is encrypted on its own as a JWE in compact
serialisation (``RSA-OAEP-256`` + ``A256GCM``, as FIT-Connect prescribes) and written as
``*.jwe``; the hashes in the metadata are always those of the unencrypted content.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone
from joserfc import jwe
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import RSAKey
from jsonschema import Draft202012Validator

from rathaus_domain.forms.validation import validate

METADATA_SCHEMA_ID = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
LEIKA_URN = "urn:de:fim:leika:leistung:"
JWE_ALGORITHMS = ["RSA-OAEP-256", "A256GCM"]
JWE_HEADER = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
MIN_RSA_BITS = 2048
FORMATS = ("fit-connect",)
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "application/json": "json",
              "application/xml": "xml", "text/plain": "txt"}


class ExportRefused(Exception):
    """The application cannot be exported; `message` says why (German)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KeyRefused(ExportRefused):
    """The encryption key is unusable (not RSA, private, too short, meant for something else)."""


@dataclass(frozen=True)
class CaseFile:
    """One file of a case, as the export needs it."""

    key: str             # stable within the case; the attachment id is derived from it
    filename: str
    content_type: str
    content: bytes
    purpose: str = "attachment"
    field: str = ""      # the form field ("reduction/proof") a file sent with the form belongs to
    description: str = ""


@dataclass(frozen=True)
class Submission:
    metadata: dict[str, Any]
    data: bytes
    attachments: tuple[tuple[str, CaseFile], ...]   # (attachment id, file)


def case_attachment_files(application) -> list[CaseFile]:
    """The files the citizen handed in (with the form, then later), in the order they came.

    A file sent with the form goes out as it was submitted (version 1, the one the data holds);
    one handed in later as its current version.
    """
    from rathaus.cases.models import Document, DocumentVersion, Source

    documents = (Document.objects.for_municipality(application.municipality)
                 .filter(application=application, source__in=(Source.CITIZEN_ONLINE, Source.CITIZEN_LATER))
                 .prefetch_related(Prefetch("versions", queryset=DocumentVersion.objects.order_by("number")))
                 .order_by("created_at", "id"))
    files = []
    for document in documents:
        versions = list(document.versions.all())
        if not versions:
            continue
        submitted = document.source == Source.CITIZEN_ONLINE
        version = versions[0] if submitted else versions[-1]
        with version.file.open("rb") as handle:
            content = handle.read()
        files.append(CaseFile(key=f"document:{document.pk}:{version.number}", filename=version.original_filename,
                              content_type=version.content_type, content=content,
                              field=document.form_field if submitted else "", description=document.title))
    return files


def form_pdf(application) -> CaseFile:
    from rathaus.applications.pdf import receipt_pdf

    return CaseFile(key="form", filename=f"Antrag-{application.reference}.pdf", content_type="application/pdf",
                    content=receipt_pdf(application), purpose="form")


def sha512(content: bytes) -> dict[str, str]:
    return {"type": "sha512", "content": hashlib.sha512(content).hexdigest()}


def attachment_id(application, key: str) -> str:
    """A UUIDv4-shaped id that stays the same for the same file of the same case in every export."""
    digest = hashlib.sha256(f"{application.municipality_id}:{application.reference}:{key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def service_identifier(service) -> str:
    """The service as URN: its LeiKa key, else (as FIT-Connect allows) a URN of this instance."""
    key = (service.leika_key or "").strip()
    if key.isdigit():
        return LEIKA_URN + key
    return f"urn:de:rathaus:leistung:{service.municipality.slug.lower()}:{service.slug.lower()}"


def schema_uri(application) -> str:
    form = application.form
    return (f"{settings.SITE_URL.rstrip('/')}/api/v1/m/{application.municipality.slug}/forms/"
            f"{form.key}/{form.version}/schema")


def submission_data(application, uploads: list[CaseFile]) -> dict[str, Any]:
    """The application's data as submitted: the stored file references become the files again."""
    data = json.loads(json.dumps(application.data))
    for upload in uploads:
        if not upload.field:
            continue
        parent, key = _parent(data, upload.field.split("/"))
        leaf = parent[key] if isinstance(parent[key], dict) else {}
        parent[key] = {"filename": leaf.get("filename", upload.filename),
                       "content_type": leaf.get("content_type", upload.content_type),
                       "content": base64.b64encode(upload.content).decode("ascii")}
    return data


def _parent(data: Any, path: list[str]) -> tuple[Any, Any]:
    try:
        for segment in path[:-1]:
            data = data[int(segment)] if isinstance(data, list) else data[segment]
        key: Any = int(path[-1]) if isinstance(data, list) else path[-1]
        data[key]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ExportRefused(f"Die Datei zum Formularfeld {'/'.join(path)} passt nicht zu den Antragsdaten.") from None
    return data, key


def submission_build(application) -> Submission:
    """Everything of a FIT-Connect submission except the encryption (see `submission_files`)."""
    if application.anonymised_at is not None:
        raise ExportRefused("Der Antrag ist anonymisiert; es gibt keine Antragsdaten mehr zum Übermitteln.")
    uploads = case_attachment_files(application)
    data = submission_data(application, uploads)
    # No `today`: a move date checked as "14 days ahead" when it was sent is nearer now and still right.
    errors = validate(application.form.schema, data)
    if errors:
        # Only what the form describes goes out: a receiving system validates against the same schema.
        raise ExportRefused("Die gespeicherten Daten passen nicht zum Formular (" +
                            "; ".join(f"{e.pointer or '/'}: {e.message}" for e in errors[:3]) + ").")
    data_bytes = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    attachments = tuple((attachment_id(application, f.key), f) for f in [form_pdf(application), *uploads])
    service = application.service
    public_service: dict[str, Any] = {"name": service.name, "identifier": service_identifier(service)}
    if service.summary:
        public_service["description"] = service.summary
    metadata: dict[str, Any] = {
        "$schema": METADATA_SCHEMA_ID,
        "contentStructure": {
            "data": {"hash": sha512(data_bytes),
                     "submissionSchema": {"schemaUri": schema_uri(application), "mimeType": "application/json"}},
            "attachments": [_attachment_metadata(aid, f) for aid, f in attachments],
        },
        "publicServiceType": public_service,
        "additionalReferenceInfo": {"senderReference": application.reference,
                                    "applicationDate": timezone.localdate(application.submitted_at).isoformat()},
    }
    if application.applicant_email:
        metadata["replyChannel"] = {"eMail": {"address": application.applicant_email}}
    problems = sorted(metadata_validator().iter_errors(metadata), key=lambda e: list(e.absolute_path))
    if problems:
        # Never hand a receiving system metadata it would reject; this is a bug of ours, said plainly.
        raise ExportRefused("Die Metadaten entsprechen nicht dem FIT-Connect-Schema (" + "; ".join(
            f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in problems[:3]) + ").")
    return Submission(metadata=metadata, data=data_bytes, attachments=attachments)


METADATA_SCHEMA_FILE = Path(__file__).resolve().parent / "schemas" / "metadata.schema.v1.0.0.json"


@lru_cache(maxsize=1)
def metadata_validator() -> Draft202012Validator:
    """The official FIT-Connect metadata schema 1.0.0 (shipped with Rathaus, see schemas/README.md)."""
    schema = json.loads(METADATA_SCHEMA_FILE.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _attachment_metadata(aid: str, file: CaseFile) -> dict[str, Any]:
    entry = {"hash": sha512(file.content), "purpose": file.purpose, "filename": file.filename,
             "mimeType": file.content_type, "attachmentId": aid}
    if file.description:
        entry["description"] = file.description
    return entry


def submission_files(submission: Submission, *, encrypt_key: RSAKey | None = None) -> dict[str, bytes]:
    """Relative path → content of every file of the submission (JWE files when a key is given)."""
    metadata = json.dumps(submission.metadata, ensure_ascii=False, indent=2).encode("utf-8")
    parts: list[tuple[str, str, bytes]] = [("metadata", "application/json", metadata),
                                           ("data", "application/json", submission.data)]
    for aid, file in submission.attachments:
        parts.append((f"attachments/{aid}", file.content_type, file.content))
    if encrypt_key is None:
        return {f"{name}.{EXTENSIONS.get(ctype, 'bin')}": content for name, ctype, content in parts}
    return {f"{name}.jwe": encrypt(content, encrypt_key, content_type=ctype).encode("ascii")
            for name, ctype, content in parts}


def submission_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: (n.count("/"), n)):
            archive.writestr(name, files[name])
    return buffer.getvalue()


def encrypt(content: bytes, key: RSAKey, *, content_type: str) -> str:
    """A compact JWE of `content` for `key` (RSA-OAEP-256, A256GCM)."""
    header = {**JWE_HEADER, "cty": content_type}
    kid = key.as_dict().get("kid")
    if kid:
        header["kid"] = kid
    return jwe.encrypt_compact(header, content, key, algorithms=JWE_ALGORITHMS)


def decrypt(token: str | bytes, private_key: RSAKey) -> bytes:
    """The inverse of `encrypt` (for the receiving side and the tests)."""
    return jwe.decrypt_compact(token, private_key, algorithms=JWE_ALGORITHMS).plaintext


_PEM = re.compile(rb"-----BEGIN [A-Z ]+-----")


def load_public_key(raw: bytes) -> RSAKey:
    """A destination's public RSA key from a JWK (JSON, also a JWK set with one key) or PEM."""
    try:
        if _PEM.search(raw):
            if b"PRIVATE KEY" in raw:
                raise KeyRefused("Das ist ein privater Schlüssel. Bitte geben Sie den öffentlichen Schlüssel des Empfängers an.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SecurityWarning)  # the size is checked below, with a clear message
                key = RSAKey.import_key(raw)
        else:
            jwk = json.loads(raw.decode("utf-8"))
            if isinstance(jwk, dict) and isinstance(jwk.get("keys"), list):
                candidates = [k for k in jwk["keys"] if isinstance(k, dict) and k.get("use", "enc") == "enc"]
                if len(candidates) != 1:
                    raise KeyRefused("Der Schlüsselsatz muss genau einen Verschlüsselungsschlüssel enthalten.")
                jwk = candidates[0]
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
                raise KeyRefused("Erwartet wird ein RSA-Schlüssel (JWK mit \"kty\": \"RSA\" oder PEM).")
            if "d" in jwk:
                raise KeyRefused("Das ist ein privater Schlüssel. Bitte geben Sie den öffentlichen Schlüssel des Empfängers an.")
            if jwk.get("use", "enc") != "enc" or jwk.get("alg", JWE_HEADER["alg"]) != JWE_HEADER["alg"]:
                raise KeyRefused("Der Schlüssel ist nicht für RSA-OAEP-256-Verschlüsselung bestimmt (use/alg).")
            ops = jwk.get("key_ops")
            if ops is not None and not {"wrapKey", "encrypt"} & set(ops):
                raise KeyRefused("Der Schlüssel darf laut key_ops nicht verschlüsseln.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SecurityWarning)
                key = RSAKey.import_key(jwk)
    except KeyRefused:
        raise
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, JoseError) as exc:  # RecursionError: [[[[…
        raise KeyRefused(f"Der Schlüssel ist weder ein gültiger JWK noch PEM ({exc.__class__.__name__}).") from None
    if key.is_private:
        raise KeyRefused("Das ist ein privater Schlüssel. Bitte geben Sie den öffentlichen Schlüssel des Empfängers an.")
    modulus = base64.urlsafe_b64decode(key.as_dict()["n"] + "==")
    if len(modulus.lstrip(b"\0")) * 8 < MIN_RSA_BITS:
        raise KeyRefused(f"Der Schlüssel ist zu kurz (mindestens {MIN_RSA_BITS} Bit).")
    return key
