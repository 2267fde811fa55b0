"""Reads of the process side, each scoped to a municipality; fixed number of queries per page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from rathaus.accounts.models import ROLE_RANK, Membership

from .models import (
    CITIZEN_MESSAGES,
    PAYMENT_MESSAGE,
    CaseEvent,
    DefinitionState,
    ProcessDefinition,
    ProcessInstance,
    TaskState,
    UserTask,
)

TASK_VIEWS = ("mine", "team", "overdue")


def task_list(*, municipality, user, view: str = "mine", service_id: int | None = None, query: str = "") -> QuerySet[UserTask]:
    """Open tasks: mine (assigned to me), team (open tasks of the roles I hold), overdue (those of
    mine and my team's whose due date has passed; a team lead's roles include her team's)."""
    qs = (UserTask.objects.for_municipality(municipality).filter(state=TaskState.OPEN)
          .select_related("application__service", "assignee").order_by("due_at", "id"))
    if view == "mine":
        qs = qs.filter(assignee=user)
    elif view in ("team", "overdue"):
        membership = Membership.objects.for_municipality(municipality).filter(user=user).first()
        roles = Q(role__in=[r for r in ROLE_RANK if membership and membership.has_role(r)])
        qs = qs.filter(roles) if view == "team" else qs.filter(roles | Q(assignee=user), due_at__lt=timezone.now())
    if service_id:
        qs = qs.filter(application__service_id=service_id)
    if query:
        qs = qs.filter(Q(application__reference__icontains=query) | Q(name__icontains=query)
                       | Q(application__applicant_name__icontains=query))
    return qs


def task_get(*, municipality, pk: int) -> UserTask:
    task = (UserTask.objects.for_municipality(municipality).select_related("application__service", "assignee", "instance")
            .filter(pk=pk).first())
    if task is None:
        raise Http404("no such task")
    return task


def staff_members(*, municipality) -> list:
    return [m.user for m in Membership.objects.for_municipality(municipality).select_related("user").order_by("user__last_name")]


def instance_for(*, municipality, application) -> ProcessInstance | None:
    return (ProcessInstance.objects.for_municipality(municipality).select_related("definition")
            .filter(application=application).first())


@dataclass(frozen=True)
class CitizenWait:
    """What a case's process waits for from the citizen (message names) and its last day (None: not known)."""

    messages: tuple[str, ...]
    until: date | None


def citizen_wait(*, municipality, application, instance: ProcessInstance | None) -> CitizenWait | None:
    """The citizen's part the process waits for (a document, a payment), or None if it waits for nothing of hers.

    `instance` is the case's process (`instance_for`), None if it has none. The last day is the one
    the payment request named, else the day the process stops waiting: the earliest of its timers,
    leaving out reminders (timers that let the waiting go on).
    """
    messages = tuple(m for m in (instance.waiting_messages if instance else ()) if m in CITIZEN_MESSAGES)
    if not messages:
        return None
    until = None
    if PAYMENT_MESSAGE in messages:
        named = (CaseEvent.objects.for_municipality(municipality).filter(application=application, data__has_key="payment_due")
                 .order_by("-created_at", "-id").values_list("data", flat=True).first())
        until = date.fromisoformat(named["payment_due"]) if named else None
    if until is None:
        from rathaus_domain.processes.engine import ProcessError

        from .engine import model_for

        try:
            reminders = model_for(instance.definition).reminder_timer_ids()
        except ProcessError:  # a model that no longer loads: every timer may end the wait
            reminders = frozenset()
        ends = instance.timers.exclude(element_id__in=reminders).order_by("due_at").values_list("due_at", flat=True).first()
        until = timezone.localdate(ends) if ends else None
    return CitizenWait(messages, until)


def case_timeline(*, municipality, application) -> list[CaseEvent]:
    qs = CaseEvent.objects.for_municipality(municipality).filter(application=application).select_related("actor")
    return list(qs.order_by("created_at", "id"))


def case_decision_texts(*, municipality, application) -> list[str]:
    """The rules that decided the case, in the words the citizen may see, each once (a rule that
    applied again, after a new proof, says nothing new the second time)."""
    return list(dict.fromkeys(CaseEvent.objects.for_municipality(municipality).filter(
        application=application, public=True, kind="decision").order_by("created_at", "id").values_list("text", flat=True)))


def case_decided_by_a_person(*, municipality, application) -> bool:
    """Whether staff completed a task of the case or gave it a final status by hand (a person is
    named as its actor; the process's own steps are not): then not everything was decided automatically."""
    from rathaus.applications.models import FINAL_STATUSES, StatusChange

    return (UserTask.objects.for_municipality(municipality).filter(application=application, state=TaskState.COMPLETED)
            .exists()
            or StatusChange.objects.for_municipality(municipality).filter(
                application=application, status__in=FINAL_STATUSES, actor__isnull=False).exists())


def case_tasks(*, municipality, application) -> list[UserTask]:
    return list(UserTask.objects.for_municipality(municipality).filter(application=application)
                .select_related("assignee", "completed_by"))


def published_definitions(*, municipality) -> list[ProcessDefinition]:
    """The version in force of each service's process, with its files (one query)."""
    return list(ProcessDefinition.objects.for_municipality(municipality).filter(state=DefinitionState.PUBLISHED)
                .select_related("service").order_by("service__name"))


_STEPS: dict[str, tuple] = {}  # model digest -> its service steps' configurations (models never change under a digest)


def model_step_configs(digest: str, bpmn_files: Callable[[], list[tuple[str, bytes]]]) -> tuple:
    """The configurations (step name, parameters) of a model's service tasks, cached by its digest,
    for the staff pages' questions about a model (does it write letters, ask for payment?).

    `bpmn_files` (e.g. ``definition.bpmn_files``) is called only when the digest is not cached yet.
    """
    if digest in _STEPS:
        return _STEPS[digest]
    from rathaus_domain.processes.bpmnext import BPMN_NS, ConfigError, service_step_config
    from rathaus_domain.processes.xmlutil import XmlError, parse_xml

    configs = []
    for _name, content in bpmn_files():
        try:
            root = parse_xml(content)
        except XmlError:  # stored models passed the check; a broken one runs no step
            continue
        for node in root.iter(f"{{{BPMN_NS}}}serviceTask"):
            try:
                configs.append(service_step_config(node))
            except ConfigError:
                continue
    if len(_STEPS) > 1000:
        _STEPS.clear()
    _STEPS[digest] = found = tuple(configs)
    return found


def model_issues_letters(digest: str, bpmn_files: Callable[[], list[tuple[str, bytes]]]) -> bool:
    """Whether a model has an ``issue_decision`` step, i.e. writes decision letters."""
    return any(config.step == "issue_decision" for config in model_step_configs(digest, bpmn_files))


_NAMES: dict[str, dict[str, str]] = {}  # model digest -> its elements' names by id


def model_element_names(digest: str, bpmn_files: Callable[[], list[tuple[str, bytes]]]) -> dict[str, str]:
    """The names of a model's elements by id (as the diagram shows them), cached by its digest."""
    if digest in _NAMES:
        return _NAMES[digest]
    from rathaus_domain.processes.xmlutil import XmlError, parse_xml

    names: dict[str, str] = {}
    for _name, content in bpmn_files():
        try:
            root = parse_xml(content)
        except XmlError:  # stored models passed the check; a broken one names nothing
            continue
        for node in root.iter():
            element_id, name = node.get("id"), " ".join((node.get("name") or "").split())
            if element_id and name:
                names.setdefault(element_id, name)
    if len(_NAMES) > 1000:
        _NAMES.clear()
    _NAMES[digest] = names
    return names


def instance_steps(instance: ProcessInstance) -> list[tuple[str, str]]:
    """What the diagram marks, in words: (name, "completed" | "current") of each named step, the done
    ones in the order they were done, then the current ones. A step that runs again is current only."""
    definition = instance.definition
    names = model_element_names(definition.digest, definition.bpmn_files)
    current = [i for i in dict.fromkeys(instance.current_elements or []) if i in names]
    completed = [i for i in dict.fromkeys(instance.completed_elements or []) if i in names and i not in current]
    return [(names[i], "completed") for i in completed] + [(names[i], "current") for i in current]


def definition_list(*, municipality) -> QuerySet[ProcessDefinition]:
    return (ProcessDefinition.objects.for_municipality(municipality).select_related("service")
            .defer("files").order_by("service__name", "-version"))
