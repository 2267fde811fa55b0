"""Staff task API: list open tasks, complete one with its form data (session of staff with 2FA)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404
from ninja import Router, Schema
from ninja.errors import HttpError

from rathaus.accounts.rules import Perm
from rathaus.core.problems import ProblemResponse
from rathaus.tenants.selectors import municipality_get

from . import selectors, services
from .selectors import TASK_VIEWS

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


def _staff(request, slug: str):
    municipality = municipality_get(slug=slug)
    user = request.user
    if not (user.is_authenticated and user.is_verified() and user.has_perm(Perm.WORK_TASKS, municipality)):
        raise HttpError(401, "Anmeldung als Mitarbeiterin oder Mitarbeiter mit zweitem Faktor nötig.")
    return municipality


def _out(task) -> dict[str, Any]:
    return {"id": task.pk, "name": task.name, "reference": task.application.reference, "service": task.application.service.slug,
            "role": task.role, "assignee": task.assignee.get_username() if task.assignee else None, "due_at": task.due_at,
            "form_schema": task.form_schema}


@router.get("/m/{slug}/tasks", response=list[TaskOut], summary="Offene Aufgaben (mine, team, overdue)")
def list_tasks(request, slug: str, view: str = "team"):
    municipality = _staff(request, slug)
    if view not in TASK_VIEWS:
        raise Http404
    return [_out(t) for t in selectors.task_list(municipality=municipality, user=request.user, view=view)[:500]]


@router.post("/m/{slug}/tasks/{task_id}/complete", response=TaskOut, summary="Aufgabe mit Formulardaten abschließen")
def complete_task(request, slug: str, task_id: int, body: CompleteIn):
    municipality = _staff(request, slug)
    task = selectors.task_get(municipality=municipality, pk=task_id)
    try:
        services.task_complete(task=task, user=request.user, data=body.data)
    except services.TaskInvalid as exc:
        return ProblemResponse(422, "Unprocessable Content", "Die Formulardaten sind ungültig.", type_="invalid-task-data",
                               errors=[{"pointer": "/data/" + "/".join(map(str, e.path)), "detail": e.message} for e in exc.errors])
    except services.TaskNotAllowed as exc:
        return ProblemResponse(409, "Conflict", f"Nicht möglich: {exc}", type_="task-not-allowed")
    return _out(selectors.task_get(municipality=municipality, pk=task_id))
