"""Applications over the JSON API: submit (idempotent) and read the status."""

from __future__ import annotations

import functools
import json
import re
from datetime import date, datetime
from typing import Any, Literal, NoReturn

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from rathaus.accounts.rules import Perm
from rathaus.catalog.selectors import (
    counted_service_for_submission,
    forget_service_for_submission,
    remembered_service_for_submission,
)
from rathaus.core.audit import client_ip
from rathaus.core.jsonbody import MAX_JSON_DEPTH, SURROGATE_ESCAPE, check_json_structure
from rathaus.core.language import localized
from rathaus.core.problems import IDEMPOTENCY_KEY_PARAMETER, Problem, ProblemError, ProblemResponse, idempotency_key
from rathaus.core.ratelimit import address_key, over_limit
from rathaus.integration.auth import token_user_for
from rathaus.tenants.selectors import municipality_get
from rathaus_domain.forms.validation import EMAIL_PATTERN, END_OF_TEXT, SINGLE_LINE_TEXT_PATTERN

from . import selectors, services
from .models import BIRTH_DATE_MANDATES, Channel

router = Router(tags=["Anträge"])


# Text without control characters; the e-mail address as in the forms, or empty (then the form's).
_TEXT = SINGLE_LINE_TEXT_PATTERN
_EMAIL_OR_EMPTY = "^(?:" + EMAIL_PATTERN.removeprefix("^").removesuffix(END_OF_TEXT) + ")?" + END_OF_TEXT


class RepresentationIn(Schema):
    """Applying on behalf of someone else: the mandate and the person or company represented.

    Every rule is in the published schema (patterns, and the birth date required for a child or a
    person under guardianship as if/then), but one a schema cannot state: no birth date in the future.
    """

    # Python's re for the patterns: they are written for both it and ECMA-262 (see rathaus_domain.forms.validation).
    model_config = ConfigDict(extra="forbid", title="Vertretung", regex_engine="python-re", json_schema_extra={
        "if": {"properties": {"kind": {"enum": [str(kind) for kind in BIRTH_DATE_MANDATES]}}, "required": ["kind"]},
        "then": {"required": ["principal_birth_date"],
                 "properties": {"principal_birth_date": {"type": "string", "format": "date"}}}})

    # A Literal, not the enum: the schema is inlined in the request body, where a $ref to $defs would not resolve.
    kind: Literal["parent", "guardian", "company", "authorised"] = Field(description="parent (Elternteil für ein Kind), guardian (Vormund/Betreuung), "
                                          "company (Vertretung eines Unternehmens), authorised (Vollmacht)")
    principal_name: str = Field(min_length=1, max_length=200, pattern=_TEXT,
                                description="Name der vertretenen Person oder Firma")
    principal_birth_date: date | None = Field(None, description="Geburtsdatum; Pflicht bei parent und guardian, "
                                                                "nicht in der Zukunft")
    principal_register_number: str = Field("", max_length=50, pattern=_TEXT,
                                           description="Registernummer eines Unternehmens")
    principal_address: str = Field("", max_length=300, pattern=_TEXT)
    representative_name: str = Field("", max_length=200, pattern=_TEXT,
                                     description="Leer: der Name aus den Antragsdaten")
    representative_email: str = Field("", max_length=254, pattern=_EMAIL_OR_EMPTY,
                                      description="Leer: die E-Mail-Adresse aus den Antragsdaten")

    @field_validator("principal_name", "principal_register_number", "principal_address", "representative_name")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _birth_date(self) -> RepresentationIn:
        if self.kind in BIRTH_DATE_MANDATES and self.principal_birth_date is None:
            raise ValueError(_("Bei parent und guardian ist principal_birth_date Pflicht."))
        if self.principal_birth_date is not None and self.principal_birth_date > date.today():  # noqa: DTZ011 - a calendar date
            raise ValueError(_("principal_birth_date liegt in der Zukunft."))
        return self


def _representation_message(error: dict) -> str:
    """Pydantic's message, but in words for a pattern (not the pattern itself)."""
    if error["type"] == "string_pattern_mismatch":
        if error["loc"][-1:] == ("representative_email",):
            return _("Keine gültige E-Mail-Adresse.")
        return _("Steuerzeichen (z. B. Zeilenumbrüche) sind hier nicht erlaubt.")
    return error["msg"].removeprefix("Value error, ")


def _representation(value: Any) -> services.RepresentationData | None:
    """The optional `representation` object, validated by its schema; 422 problem naming each bad field."""
    if value is None:
        return None
    try:
        parsed = RepresentationIn.model_validate(value)
    except ValidationError as exc:
        errors = [{"pointer": "/representation" + "".join(f"/{_pointer_token(str(part))}" for part in error["loc"]),
                   "detail": _representation_message(error), "code": error["type"]} for error in exc.errors()]
        raise ProblemError(422, "Unprocessable Content", _("Die Angaben zur Vertretung sind nicht gültig."),
                           type_="invalid-representation", errors=errors) from None
    return services.RepresentationData(
        kind=parsed.kind, principal_name=parsed.principal_name, principal_birth_date=parsed.principal_birth_date,
        principal_register_number=parsed.principal_register_number, principal_address=parsed.principal_address,
        representative_name=parsed.representative_name, representative_email=parsed.representative_email)

SUBMIT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False, "required": ["service", "data"],
        "properties": {
            "service": {"type": "integer", "description": "ID der Leistung (siehe /services)"},
            "data": {"type": "object", "description": "Antragsdaten; gültig nach dem JSON Schema des Formulars der Leistung"},
            "representation": {**RepresentationIn.model_json_schema(),
                               "description": "Optional: der Antrag wird für eine andere Person oder ein Unternehmen gestellt."},
            "retrieval_consent": {"type": "boolean", "default": False,
                                  "description": "Optional: die antragstellende Person ist einverstanden, dass ihr der "
                                                 "Bescheid zum Abruf online bereitgestellt wird (§ 41 Abs. 2a VwVfG). "
                                                 "Der Abruf setzt ihre Anmeldung mit einem Konto voraus; über die API "
                                                 "eingereichte Anträge haben keines, daher wird true mit 422 abgelehnt. "
                                                 "Der Bescheid wird per Post bekannt gegeben."},
        },
    }}},
}

# The path parameter is repeated here because openapi_extra replaces the generated list.
SUBMIT_PARAMETERS = [
    {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}, "description": "Kürzel der Kommune"},
    IDEMPOTENCY_KEY_PARAMETER,
]


class SubmissionOut(Schema):
    reference: str
    status: str
    access_token: str
    status_url: str


class HistoryOut(Schema):
    status: str
    text: str
    at: datetime


class ApplicationOut(Schema):
    reference: str
    service: int
    status: str
    status_label: str
    channel: str
    submitted_at: datetime
    due_date: date
    history: list[HistoryOut]


# Ids are 64-bit signed integers in every database: a service id outside is no service (and no query).
MIN_ID, MAX_ID = -(2**63), 2**63 - 1


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse_body(request) -> dict[str, Any]:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ProblemError(415, "Unsupported Media Type", _("Bitte senden Sie JSON (Content-Type: application/json)."),
                           type_="unsupported-media-type")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProblemError(400, "Bad Request", _("Der Inhalt ist kein gültiges UTF-8."), type_="invalid-encoding") from None
    try:
        # NaN and Infinity are not JSON (RFC 8259) and PostgreSQL's jsonb cannot store them.
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProblemError(400, "Bad Request", _("Ungültiges JSON (Zeile %(line)s, Spalte %(column)s).") % {"line": exc.lineno, "column": exc.colno},
                           type_="invalid-json") from None
    except (ValueError, RecursionError):
        # Integers beyond Python's digit limit, NaN/Infinity, or nesting deeper than the C parser allows.
        raise ProblemError(400, "Bad Request", _("Ungültiges JSON (unzulässige Zahl oder zu tief verschachtelt)."),
                           type_="invalid-json") from None
    # The walk is needed only where the text could hold what it looks for: deep nesting takes more
    # brackets than MAX_JSON_DEPTH, a lone surrogate an escape \uD800-\uDFFF (raw ones are not UTF-8).
    if SURROGATE_ESCAPE.search(text) or text.count("{") + text.count("[") > MAX_JSON_DEPTH:
        check_json_structure(body)
    errors = []
    if not isinstance(body, dict):
        raise ProblemError(422, "Unprocessable Content", _("Erwartet wird ein Objekt {\"service\": …, \"data\": {…}}."),
                           type_="invalid-request", errors=[{"pointer": "", "detail": _("Objekt erwartet"), "code": "type"}])
    for key in body:
        if key not in ("service", "data", "representation", "retrieval_consent"):
            errors.append({"pointer": f"/{_pointer_token(key)}", "detail": _("Unbekanntes Feld „%(field)s“.") % {"field": key}, "code": "additionalProperties"})
    if not isinstance(body.get("service"), int) or isinstance(body.get("service"), bool):
        errors.append({"pointer": "/service", "detail": _("Die ID der Leistung (Ganzzahl) fehlt."), "code": "type"})
    if not isinstance(body.get("data"), dict):
        errors.append({"pointer": "/data", "detail": _("Die Antragsdaten (Objekt) fehlen."), "code": "type"})
    if not isinstance(body.get("retrieval_consent", False), bool):
        errors.append({"pointer": "/retrieval_consent", "detail": _("Erwartet wird true oder false."), "code": "type"})
    elif body.get("retrieval_consent"):
        # A submission through the API has no account behind it (anonymous, by Idempotency-Key), and a
        # retrieval counts only as the download of the person signed in to hers (§ 41 (2a) sentence 2).
        errors.append({"pointer": "/retrieval_consent", "code": "account_required",
                       "detail": _("Der Abruf des Bescheids setzt ein Konto voraus, mit dem sich die Person anmeldet; "
                                   "über die API eingereichte Anträge haben keines. Der Bescheid kommt per Post.")})
    if errors:
        raise ProblemError(422, "Unprocessable Content", _("Die Anfrage ist falsch aufgebaut."), type_="invalid-request", errors=errors)
    return body


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _status_url(request, municipality, reference: str, token: str) -> str:
    values = (municipality.slug, reference, token)
    if not all(_URL_SAFE.fullmatch(value) for value in values):
        return request.build_absolute_uri(reverse("applications:status", kwargs=dict(zip(_STATUS_ARGS, values, strict=True))))
    parts = _status_path_parts(get_script_prefix())
    return request.build_absolute_uri(parts[0] + "".join(value + part for value, part in zip(values, parts[1:], strict=True)))


_STATUS_ARGS = ("municipality", "reference", "token")
# Slugs, references and tokens are made of these, which reverse() leaves as they are.
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@functools.lru_cache(maxsize=16)
def _status_path_parts(script_prefix: str) -> list[str]:
    """The status page's path around its three arguments, reversed once (per script prefix)."""
    markers = [f"ARG{index}ZZ" for index in range(len(_STATUS_ARGS))]
    path = reverse("applications:status", kwargs=dict(zip(_STATUS_ARGS, markers, strict=True)))
    return re.split("|".join(markers), path)


def _refuse_rate() -> NoReturn:
    raise ProblemError(429, "Too Many Requests", _("Zu viele Anträge in kurzer Zeit. Bitte warten Sie eine Minute."),
                       type_="rate-limited")


@router.post("/m/{slug}/applications", response={201: SubmissionOut, 400: Problem, 404: Problem, 409: Problem,
             413: Problem, 415: Problem, 422: Problem, 429: Problem}, openapi_extra={"requestBody": SUBMIT_BODY, "parameters": SUBMIT_PARAMETERS},
             summary="Antrag stellen (mit Idempotency-Key wiederholbar)")
def submit(request, slug: str):
    # Every request counts against the limit, once, so floods of forged slugs or broken bodies are
    # limited too: a request is counted by the look-up's statement if it gets that far, else by the
    # statement that stores it (remembered look-up), else here or in `_submitted`.
    count = ("api-submit", address_key(client_ip(request)), settings.RATELIMIT_SUBMISSIONS)
    try:
        body = _parse_body(request)
        representation = _representation(body.get("representation"))
        key = idempotency_key(request)
    except ProblemError:
        if over_limit(*count):
            _refuse_rate()
        raise
    # A service looked up before in this process is used as remembered: the statement that stores
    # the application checks that it still holds and counts the request, so the common case is one
    # statement. Otherwise (or when it no longer holds) the count, tenant, service and form in one
    # statement; the tenant alone only to tell 404 from 422. A reused Idempotency-Key is recognised
    # when the application is stored.
    lookup = remembered_service_for_submission(slug=slug, service_id=body["service"]) if representation is None else None
    if lookup is not None:
        try:
            return _submitted(request, body, representation, key, lookup.service, lookup=lookup, count=count)
        except services.LookupStale:
            forget_service_for_submission(lookup)
        except services.LookupNotUsable:
            pass
        except services.ApplicationInvalid:
            pass  # the remembered form may be outdated: the errors are those of a fresh look-up's form
    if MIN_ID <= body["service"] <= MAX_ID:
        service, over = counted_service_for_submission(slug=slug, service_id=body["service"], count=count)
    else:
        # No row has such an id, and the database could not even compare it: answered (and
        # counted) as the look-up would answer an unknown service.
        service, over = None, over_limit(*count)
    if over:
        _refuse_rate()
    if service is None:
        municipality_get(slug=slug)
        _refuse_service()
    return _submitted(request, body, representation, key, service)


def _refuse_service() -> NoReturn:
    raise ProblemError(422, "Unprocessable Content", _("Diese Leistung gibt es bei dieser Kommune nicht."),
                       type_="unknown-service", errors=[{"pointer": "/service", "detail": _("Unbekannte Leistung"), "code": "unknown"}])


def _submitted(request, body: dict, representation, key: str, service, *, lookup=None,
               count: tuple[str, str, str] | None = None):
    """Store the application and answer; with a remembered `lookup`, `count` is taken by the
    statement that stores it, or here when the request ends before that statement, and invalid
    data raises ApplicationInvalid (to be checked again against a fresh look-up)."""
    municipality = service.municipality
    try:
        result = services.application_submit(municipality=municipality, service=service, data=body["data"],
                                              channel=Channel.ONLINE, idempotency_key=key or None, ip=client_ip(request),
                                              key_checked_by_insert=True,
                                              representation=representation, lookup=lookup, count=count,
                                              retrieval_consent=body.get("retrieval_consent", False))
    except services.RateLimited:
        _refuse_rate()
    except services.ApplicationInvalid as exc:
        if lookup is not None:
            raise
        return ProblemResponse(422, "Unprocessable Content", _("Die Antragsdaten erfüllen das Formular nicht."),
                               type_="invalid-application", errors=[
                                   {"pointer": "/data" + e.pointer, "detail": localized(e),
                                    "detail_en": e.message_en, "code": e.code} for e in exc.errors])
    except services.IdempotencyConflict:
        if count is not None and over_limit(*count):
            _refuse_rate()
        raise ProblemError(409, "Conflict", _("Dieser Idempotency-Key wurde schon für eine andere Anfrage verwendet."),
                           type_="idempotency-conflict") from None
    if not result.created and count is not None and over_limit(*count):
        _refuse_rate()  # a replay: the statement that would have counted it did not run to the end
    application = result.application
    response = {"reference": application.reference, "status": application.status, "access_token": result.access_token,
                "status_url": _status_url(request, municipality, application.reference, result.access_token)}
    # Rendered as it is: the values are those SubmissionOut documents, of the types it names
    # (validating them again cost as much as the rest of the answer; test_api checks the schema).
    return router.api.create_response(request, response, status=201)


@router.get("/m/{slug}/applications/{reference}", response={200: ApplicationOut, 401: Problem, 404: Problem},
            summary="Stand eines Antrags (Bearer-Zugangscode, API-Token oder Mitarbeitende)")
def get_application(request, slug: str, reference: str):
    municipality = municipality_get(slug=slug)
    application = selectors.application_get(municipality=municipality, reference=reference[:20])
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    user = request.user
    is_staff = ((user.is_authenticated and user.is_verified()
                 and user.memberships.filter(municipality=municipality).exists())
                or token_user_for(request, municipality, Perm.VIEW_INBOX) is not None)
    if not is_staff and not services.access_token_matches(application, token):
        # Same answer for "wrong token" and "no such reference": nothing leaks about other applications.
        raise ProblemError(404, "Not Found", _("Nicht gefunden."), type_="not-found")
    return 200, {
        "reference": application.reference, "service": application.service_id, "status": application.status,
        "status_label": str(application.get_status_display()), "channel": application.channel,
        "submitted_at": application.submitted_at, "due_date": application.due_date,
        "history": [{"status": h.status, "text": h.public_text, "at": h.created_at} for h in application.history.all()],
    }
