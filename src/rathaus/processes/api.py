"""Staff task API: list open tasks, complete one with its form data (API token or staff session with 2FA)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from rathaus.accounts.rules import Perm
from rathaus.applications.selectors import application_get
from rathaus.core.jsonbody import check_json_structure
from rathaus.core.language import localized
from rathaus.core.problems import IDEMPOTENCY_KEY_PARAMETER, Problem, ProblemError, ProblemResponse, idempotency_key
from rathaus.integration.auth import STAFF_AUTH, staff_access
from rathaus_domain.processes.engine import RESERVED_DATA_KEY, MessageInvalid, MessageNotExpected, ProcessError, is_data_key
from rathaus_domain.processes.evaluator import MAX_INT_BITS

from . import selectors, services
from .task_forms import localized_form

router = Router(tags=["Aufgaben"])


class TaskOut(Schema):
    id: int
    name: str
    reference: str
    service: str
    role: str
    assignee: str | None
    due_at: datetime | None
    form_schema: dict[str, Any]


class CompleteIn(Schema):
    data: dict[str, Any]


STAFF_ERRORS = {400: Problem, 401: Problem, 403: Problem, 404: Problem}


def _out(task) -> dict[str, Any]:
    return {"id": task.pk, "name": task.name, "reference": task.application.reference, "service": task.application.service.slug,
            "role": task.role, "assignee": task.assignee.get_username() if task.assignee else None, "due_at": task.due_at,
            "form_schema": localized_form(task.form_schema)}


@router.get("/m/{slug}/tasks", response={200: list[TaskOut], **STAFF_ERRORS, 422: Problem}, auth=STAFF_AUTH,
            summary="Offene Aufgaben (mine, team, overdue)")
def list_tasks(request, slug: str, view: Literal["mine", "team", "overdue"] = "team"):
    access = staff_access(request, slug, Perm.WORK_TASKS)
    return 200, [_out(t) for t in selectors.task_list(municipality=access.municipality, user=access.user, view=view)[:500]]


@router.post("/m/{slug}/tasks/{task_id}/complete", response={200: TaskOut, **STAFF_ERRORS, 409: Problem, 422: Problem},
             auth=STAFF_AUTH, summary="Aufgabe mit Formulardaten abschließen")
def complete_task(request, slug: str, task_id: int, body: CompleteIn):
    access = staff_access(request, slug, Perm.WORK_TASKS)
    municipality = access.municipality
    task = selectors.task_get(municipality=municipality, pk=task_id)
    check_json_structure(body.data)
    try:
        services.task_complete(task=task, user=access.user, data=body.data)
    except services.TaskInvalid as exc:
        return ProblemResponse(422, "Unprocessable Content", _("Die Formulardaten sind ungültig."), type_="invalid-task-data",
                               errors=[{"pointer": "/data/" + "/".join(map(str, e.path)), "detail": localized(e)}
                                       for e in exc.errors])
    except services.TaskNotAllowed as exc:
        return ProblemResponse(409, "Conflict", exc.message, type_="task-not-allowed",
                               reason=exc.reason)
    except ProcessError as exc:  # the process has ended meanwhile, or a step after the task failed (nothing is changed)
        return ProblemResponse(409, "Conflict", _("Das Verfahren konnte nicht fortgesetzt werden: %(e)s") % {"e": localized(exc)},
                               type_="process-not-continued")
    return _out(selectors.task_get(municipality=municipality, pk=task_id))


MAX_PAYLOAD_BYTES = 64 * 1024


class MessageIn(Schema):
    name: str = Field(..., max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
                      description="BPMN message name, e.g. payment_received")
    payload: dict[str, Any] = Field(default_factory=dict,
                                    description="Available to the process as a variable named like the message")


class MessageOut(Schema):
    reference: str
    status: str
    process_status: str
    waiting_for: list[str]


def _bad_keys(value: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """(JSON pointer, reason) of what the process data cannot take: a bad field name, a NUL, a number
    that is no number of the evaluator (NaN, ±Infinity, or an integer beyond its limit)."""
    if depth > 5:
        return [(path or "/", "name")]
    if isinstance(value, dict):
        bad = [(f"{path}/{k}", "name") for k in value if not is_data_key(k)]
        return bad + [p for k, v in value.items() for p in _bad_keys(v, f"{path}/{k}", depth + 1)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _bad_keys(v, f"{path}/{i}", depth + 1)]
    if isinstance(value, str) and "\x00" in value:
        return [(path or "/", "name")]  # a NUL character: no text the process stores may hold one
    if isinstance(value, float) and not math.isfinite(value) \
            or isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        # Python's JSON reader takes NaN, Infinity and 1e999; a condition or a sum would fail the case on them.
        return [(path or "/", "number")]
    return []


def _bad_detail(path: str, reason: str) -> str:
    if reason == "number":
        return _("keine endliche Zahl oder größer als %(bits)s Bit") % {"bits": MAX_INT_BITS}
    return _("reservierter Feldname") if path.endswith("/" + RESERVED_DATA_KEY) else _("ungültiger Feldname oder Wert")


# The path parameters are repeated here because openapi_extra replaces the generated list.
MESSAGE_PARAMETERS = [
    {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}, "description": "Kürzel der Kommune"},
    {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}, "description": "Vorgangsnummer"},
    IDEMPOTENCY_KEY_PARAMETER,
]


@router.post("/m/{slug}/applications/{reference}/messages", response={202: MessageOut, **STAFF_ERRORS, 409: Problem, 422: Problem},
             auth=STAFF_AUTH, openapi_extra={"parameters": MESSAGE_PARAMETERS},
             summary="Ereignis an das wartende Verfahren melden (Zahlung, Antwort eines Fachverfahrens; "
                     "mit Idempotency-Key wiederholbar)")
def deliver_message(request, slug: str, reference: str, body: MessageIn):
    access = staff_access(request, slug, Perm.HANDLE_APPLICATION)
    key = idempotency_key(request)
    application = application_get(municipality=access.municipality, reference=reference)
    check_json_structure(body.payload)
    bad = _bad_keys(body.payload)
    if bad or len(json.dumps(body.payload)) > MAX_PAYLOAD_BYTES:
        numbers_only = bad and all(reason == "number" for _p, reason in bad)
        return ProblemResponse(422, "Unprocessable Content",
                               _("Die Nutzdaten enthalten Zahlen, die das Verfahren nicht verarbeiten kann (NaN, "
                                 "Infinity oder ganze Zahlen mit mehr als %(bits)s Bit).") % {"bits": MAX_INT_BITS}
                               if numbers_only else
                               _("Die Nutzdaten sind zu groß oder enthalten ungültige Feldnamen oder Nullzeichen "
                                 "(erlaubt: Buchstaben, Ziffern, _; höchstens 5 Ebenen, 64 KB; der Feldname "
                                 "„typename“ ist reserviert)."),
                               type_="invalid-message-payload",
                               errors=[{"pointer": "/payload" + p, "detail": _bad_detail(p, reason)}
                                       for p, reason in bad[:20]])
    payload = {body.name: body.payload} if body.payload else {}
    try:
        if key:
            # A repetition (same key and message) changes nothing and is answered with the case's state.
            instance = services.message_deliver_once(application=application, name=body.name, payload=payload,
                                                     idempotency_key=key, actor=access.user).instance
        else:
            instance = services.message_deliver(application=application, name=body.name, payload=payload,
                                                actor=access.user)
    except services.MessageKeyConflict:
        raise ProblemError(409, "Conflict", _("Dieser Idempotency-Key wurde schon für eine andere Nachricht verwendet."),
                           type_="idempotency-conflict") from None
    except MessageNotExpected:
        return ProblemResponse(409, "Conflict", _("Das Verfahren wartet nicht auf «%(name)s».") % {"name": body.name},
                               type_="message-not-expected")
    except MessageInvalid as exc:  # refused before the process moved: it waits as before
        return ProblemResponse(422, "Unprocessable Content",
                               _("Die Nachricht kann so nicht verarbeitet werden: %(reason)s") % {"reason": localized(exc)},
                               type_="invalid-message-payload")
    except ProcessError as exc:  # a step after the message failed: nothing is stored, it may be sent again
        return ProblemResponse(409, "Conflict", _("Das Verfahren konnte nicht fortgesetzt werden: %(e)s") % {"e": localized(exc)},
                               type_="process-not-continued")
    application.refresh_from_db(fields=["status"])
    return 202, {"reference": application.reference, "status": application.status,
                 "process_status": instance.status if instance else "",
                 "waiting_for": instance.waiting_messages if instance else []}
