"""RFC 9457 problem documents: the one error format of the JSON API."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import JsonResponse
from ninja import Schema

PROBLEM_BASE = "https://rathaus.example/problems/"


class Problem(Schema):
    """A problem document as it appears in the OpenAPI document (every error response)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemResponse(JsonResponse):
    def __init__(self, status: int, title: str, detail: str = "", *, type_: str = "about:blank",
                 errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        body: dict[str, Any] = {"type": type_ if type_ == "about:blank" else PROBLEM_BASE + type_,
                                "title": title, "status": status}
        if detail:
            body["detail"] = detail
        if errors is not None:
            body["errors"] = errors
        body.update(extra)
        super().__init__(body, status=status, content_type="application/problem+json",
                         json_dumps_params={"ensure_ascii": False})


class ProblemError(Exception):
    """Raised by API code to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str = "", *, type_: str = "about:blank",
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.type_, self.errors = status, title, detail, type_, errors

    def response(self) -> ProblemResponse:
        return ProblemResponse(self.status, self.title, self.detail, type_=self.type_, errors=self.errors)


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "Beliebiger eindeutiger Wert; eine Wiederholung mit demselben Schlüssel und Inhalt liefert das erste Ergebnis."}


def request_fingerprint(*parts: Any) -> str:
    """The fingerprint of a request stored with its Idempotency-Key: a repetition must match it."""
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def idempotency_key(request) -> str:
    """The request's Idempotency-Key header ("" without one); a 400 problem if it is too long or not printable."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200 or (key and not key.isprintable()):
        raise ProblemError(400, "Bad Request", "Der Idempotency-Key darf höchstens 200 druckbare Zeichen haben.",
                           type_="invalid-idempotency-key")
    return key


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"


def problems_in_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Declare error responses as `application/problem+json`, the media type they are sent with.

    django-ninja documents every response schema as application/json; clients (and schemathesis)
    compare the declared media type with the one they get.
    """
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for response in (operation.get("responses") or {}).values() if isinstance(operation, dict) else ():
                content = response.get("content") or {}
                declared = content.get("application/json", {})
                if declared.get("schema", {}).get("$ref") == PROBLEM_REF:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return document
