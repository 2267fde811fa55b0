"""Staff API for back-office systems (Fachverfahren): cases, their documents, the events feed and
FIT-Connect-style exports. Authenticated by an API token of the municipality (or a staff session
with the second factor); see `auth.py` for the answers to wrong credentials.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from django.db import OperationalError
from django.http import FileResponse, Http404, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.params import Path

from rathaus.accounts.rules import Perm
from rathaus.applications.models import Status
from rathaus.cases.models import Confidentiality
from rathaus.cases.rules import CasePerm
from rathaus.cases.selectors import case_file, document_get, version_get
from rathaus.cases.uploads import KNOWN_TYPES
from rathaus.core.problems import Problem, ProblemError
from rathaus.tenants.selectors import municipality_get

from . import fitconnect, selectors, services
from .auth import STAFF_AUTH, access_has, staff_access

router = Router(tags=["Verwaltung: Vorgänge und Ereignisse"])

STAFF_ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem}
MAX_LIMIT = 200


class CaseOut(Schema):
    reference: str
    service: int
    service_slug: str
    status: str
    channel: str
    submitted_at: datetime
    updated_at: datetime
    due_date: date
    closed_at: datetime | None


class CasePage(Schema):
    items: list[CaseOut]
    next_cursor: str | None
    next: str | None


class CaseHistoryOut(Schema):
    status: str
    text: str
    at: datetime


class CaseDetailOut(CaseOut):
    status_label: str
    applicant_name: str
    applicant_email: str
    form_key: str
    form_version: int
    data: dict[str, Any]
    history: list[CaseHistoryOut]


class EventOut(Schema):
    id: int
    kind: str
    reference: str
    data: dict[str, Any]
    created_at: datetime


class EventPage(Schema):
    events: list[EventOut]
    cursor: int
    has_more: bool
    next: str


def _case_out(application) -> dict[str, Any]:
    return {"reference": application.reference, "service": application.service_id, "service_slug": application.service.slug,
            "status": application.status, "channel": application.channel, "submitted_at": application.submitted_at,
            "updated_at": application.updated_at, "due_date": application.due_date, "closed_at": application.closed_at}


def _encode_cursor(application) -> str:
    raw = json.dumps([application.updated_at.isoformat(), application.pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        updated, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(updated)
        if moment.tzinfo is None or not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**63:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise ProblemError(400, "Bad Request", _("Der Cursor ist ungültig. Verwenden Sie den Wert aus next_cursor."),
                           type_="invalid-cursor", errors=[{"pointer": "/cursor", "detail": _("ungültig"), "code": "cursor"}]) from None
    return moment, pk


def _link(request, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return request.build_absolute_uri(request.path + (f"?{query}" if query else ""))


@router.get("/m/{slug}/cases", response={200: CasePage, **STAFF_ERRORS, 422: Problem}, auth=STAFF_AUTH,
            summary="Vorgänge, nach letzter Änderung sortiert (Cursor-Seiten)")
def list_cases(request, slug: str, status: Status | None = None, service: int | None = Query(None, ge=1, le=2**31 - 1),
               updated_since: datetime | None = None, cursor: str | None = Query(None, max_length=200),
               limit: int = Query(50, ge=1, le=MAX_LIMIT)):
    """Cases of the municipality, oldest change first. Follow `next` until it is null.

    A case that changes while you page appears again later with its new state; none is
    skipped. Remember the `updated_at` of the last case and pass it as `updated_since` next time.
    """
    access = staff_access(request, slug, Perm.VIEW_INBOX)
    if updated_since is not None and updated_since.tzinfo is None:
        raise ProblemError(400, "Bad Request", _("updated_since braucht eine Zeitzone (z. B. 2026-01-31T08:00:00Z)."),
                           type_="invalid-request", errors=[{"pointer": "/updated_since", "detail": _("ohne Zeitzone"), "code": "timezone"}])
    after = _decode_cursor(cursor) if cursor else None
    rows = selectors.case_page(municipality=access.municipality, status=status.value if status else None,
                               service_id=service, updated_since=updated_since, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(page[-1]) if more else None
    return 200, {"items": [_case_out(a) for a in page], "next_cursor": next_cursor,
                 "next": _link(request, status=status.value if status else None, service=service,
                               updated_since=updated_since.isoformat() if updated_since else None,
                               cursor=next_cursor, limit=limit) if more else None}


@router.get("/m/{slug}/cases/{reference}", response={200: CaseDetailOut, **STAFF_ERRORS}, auth=STAFF_AUTH,
            summary="Ein Vorgang mit Antragsdaten und Statusverlauf")
def get_case(request, slug: str, reference: str = Path(..., max_length=40)):
    access = staff_access(request, slug, Perm.VIEW_INBOX)
    application = selectors.case_get(municipality=access.municipality, reference=reference)
    return 200, {**_case_out(application), "status_label": str(application.get_status_display()),
                 "applicant_name": application.applicant_name, "applicant_email": application.applicant_email,
                 "form_key": application.form.key, "form_version": application.form.version, "data": application.data,
                 "history": [{"status": h.status, "text": h.public_text, "at": h.created_at} for h in application.history.all()]}


class DocumentVersionOut(Schema):
    number: int
    filename: str
    content_type: str
    size: int
    sha512: str
    created_at: datetime


class DocumentOut(Schema):
    id: int
    title: str
    document_type: str
    confidentiality: str
    source: str
    form_field: str
    created_at: datetime
    may_open: bool
    download: str | None
    versions: list[DocumentVersionOut]


def _document_out(request, slug: str, reference: str, document, may_open: bool) -> dict[str, Any]:
    path = f"/api/v1/m/{slug}/cases/{reference}/documents/{document.pk}"
    return {"id": document.pk, "title": document.title, "document_type": document.document_type,
            "confidentiality": document.confidentiality, "source": document.source, "form_field": document.form_field,
            "created_at": document.created_at, "may_open": may_open,
            "download": request.build_absolute_uri(path) if may_open else None,
            "versions": [{"number": v.number, "filename": v.filename, "content_type": v.content_type, "size": v.size,
                          "sha512": v.sha512, "created_at": v.created_at} for v in document.versions.all()]}


def _may_open(access, document) -> bool:
    """Confidential documents only with the right to see them (or for whoever added them), as in the case file."""
    if document.confidentiality != Confidentiality.CONFIDENTIAL:
        return True
    return access_has(access, CasePerm.VIEW_CONFIDENTIAL) or document.created_by_id == access.user.pk


@router.get("/m/{slug}/cases/{reference}/documents", response={200: list[DocumentOut], **STAFF_ERRORS}, auth=STAFF_AUTH,
            summary="Dokumente der Akte eines Vorgangs mit ihren Versionen")
def list_documents(request, slug: str, reference: str = Path(..., max_length=40)):
    access = staff_access(request, slug, Perm.VIEW_INBOX)
    application = selectors.case_get(municipality=access.municipality, reference=reference)
    return 200, [_document_out(request, slug, application.reference, d, _may_open(access, d))
                 for d in case_file(municipality=access.municipality, application=application)]


DOWNLOAD_RESPONSE = {"200": {"description": "Der Inhalt der Dokumentversion (Header X-Content-SHA512: ihr SHA-512)",
                             "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in KNOWN_TYPES}}}


@router.get("/m/{slug}/cases/{reference}/documents/{document_id}", response={200: bytes, **STAFF_ERRORS, 422: Problem},
            auth=STAFF_AUTH, openapi_extra={"responses": DOWNLOAD_RESPONSE},
            summary="Ein Dokument herunterladen (neueste Version oder ?version=N)")
def download_document(request, slug: str, document_id: int = Path(..., ge=1, le=2**31 - 1),
                      reference: str = Path(..., max_length=40), version: int | None = Query(None, ge=1, le=2**31 - 1)):
    access = staff_access(request, slug, Perm.VIEW_INBOX)
    application = selectors.case_get(municipality=access.municipality, reference=reference)
    document = document_get(municipality=access.municipality, application=application, pk=document_id)
    if not _may_open(access, document):
        raise Http404("confidential")
    stored = version_get(document=document, number=version)
    response = FileResponse(stored.file.open("rb"), as_attachment=True, filename=stored.filename,
                            content_type=stored.content_type)
    response["X-Content-SHA512"] = stored.sha512
    return response


FIT_CONNECT_RESPONSE = {"200": {"description": "ZIP mit metadata.json, data.json und attachments/",
                                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}
FIT_CONNECT_JWE_RESPONSE = {"200": {"description": "ZIP mit metadata.jwe, data.jwe und attachments/*.jwe",
                                    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/m/{slug}/cases/{reference}/fit-connect", response={200: bytes, **STAFF_ERRORS, 409: Problem},
            auth=STAFF_AUTH, openapi_extra={"responses": FIT_CONNECT_RESPONSE},
            summary="Antrag als FIT-Connect-Einreichung (ZIP: Metadaten, Fachdaten, Anlagen)")
def export_fit_connect(request, slug: str, reference: str = Path(..., max_length=40)):
    """The same files `rathaus export-submission REF --format fit-connect` writes, as one ZIP.

    Unencrypted (the connection is TLS and the caller is authorised staff); POST a destination's
    public key to the same path (or use the command with `--encrypt-for`) to get JWE files.
    """
    access = staff_access(request, slug, Perm.HANDLE_APPLICATION)
    application = selectors.case_get(municipality=access.municipality, reference=reference)
    try:
        files = services.submission_export(application=application, actor=access.user, channel="api",
                                           actor_label=f"API-Token {access.token.prefix}…" if access.token else "")
    except fitconnect.ExportRefused as exc:
        raise ProblemError(409, "Conflict", exc.message, type_="export-refused") from None
    response = HttpResponse(fitconnect.submission_zip(files), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{application.reference}-fit-connect.zip"'
    return response


class EncryptedExportIn(Schema):
    public_key: dict[str, Any] | str = Field(
        description="Öffentlicher RSA-Schlüssel des Empfängers: JWK (auch ein JWK-Set mit einem Verschlüsselungsschlüssel) "
                    "oder PEM-Text; mindestens 2048 Bit")


@router.post("/m/{slug}/cases/{reference}/fit-connect", response={200: bytes, **STAFF_ERRORS, 409: Problem, 422: Problem},
             auth=STAFF_AUTH, openapi_extra={"responses": FIT_CONNECT_JWE_RESPONSE},
             summary="Antrag als verschlüsselte FIT-Connect-Einreichung (ZIP mit JWE-Dateien für den Schlüssel des Empfängers)")
def export_fit_connect_encrypted(request, slug: str, payload: EncryptedExportIn, reference: str = Path(..., max_length=40)):
    """Like the GET, but every part is a compact JWE (RSA-OAEP-256, A256GCM) for the given public key."""
    access = staff_access(request, slug, Perm.HANDLE_APPLICATION)
    application = selectors.case_get(municipality=access.municipality, reference=reference)
    raw_key = payload.public_key if isinstance(payload.public_key, str) else json.dumps(payload.public_key)
    try:
        key = fitconnect.load_public_key(raw_key.encode("utf-8"))
    except fitconnect.KeyRefused as exc:
        raise ProblemError(422, "Unprocessable Content", exc.message, type_="invalid-key",
                           errors=[{"pointer": "/public_key", "detail": exc.message, "code": "key"}]) from None
    try:
        files = services.submission_export(application=application, actor=access.user, channel="api", encrypt_key=key,
                                           actor_label=f"API-Token {access.token.prefix}…" if access.token else "")
    except fitconnect.ExportRefused as exc:
        raise ProblemError(409, "Conflict", exc.message, type_="export-refused") from None
    response = HttpResponse(fitconnect.submission_zip(files), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{application.reference}-fit-connect-jwe.zip"'
    return response


@router.get("/m/{slug}/events", response={200: EventPage, **STAFF_ERRORS, 422: Problem, 503: Problem}, auth=STAFF_AUTH,
            summary="Ereignisse seit einem Cursor (Outbox; nichts fehlt, nichts doppelt)")
def list_events(request, slug: str, after: int = Query(0, ge=0, le=2**63 - 1), limit: int = Query(100, ge=1, le=MAX_LIMIT)):
    """Domain events with an id above `after`, oldest first.

    Store `cursor` after processing a page and pass it as `after` next time (or follow `next`).
    An empty page means: nothing new yet; poll `next` again later.
    """
    access = staff_access(request, slug, Perm.VIEW_INBOX)
    try:
        rows = selectors.event_page(municipality=access.municipality, after=after, limit=limit + 1)
    except OperationalError:
        # The read waited too long for writers (see selectors.event_page): nothing was skipped, try again.
        raise ProblemError(503, "Service Unavailable", _("Gerade werden viele Ereignisse geschrieben. Bitte gleich erneut abfragen."),
                           type_="busy") from None
    page, more = rows[:limit], len(rows) > limit
    cursor = page[-1].pk if page else after
    return 200, {"events": [{"id": e.pk, "kind": e.kind, "reference": e.reference, "data": e.data, "created_at": e.created_at}
                            for e in page],
                 "cursor": cursor, "has_more": more, "next": _link(request, after=cursor, limit=limit)}


@router.get("/m/{slug}/forms/{key}/{version}/schema", response={200: dict[str, Any], 404: Problem, 422: Problem},
            tags=["Leistungen"], summary="JSON Schema einer Formularversion (Fachdatenschema der Einreichungen)")
def get_form_schema(request, slug: str, key: str = Path(..., max_length=80), version: int = Path(..., ge=1, le=2**31 - 1)):
    form = selectors.form_get(municipality=municipality_get(slug=slug), key=key, version=version)
    return 200, form.schema
