"""RFC 9457 problem documents: the one error format of the JSON API."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

PROBLEM_BASE = "https://rathaus.example/problems/"


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
