"""Every write of the process side: definitions, starting and moving instances, tasks, timers.

Each function opens a transaction, locks the instance row, restores the engine run from its
saved state, moves it, and saves the new state together with everything the move caused
(status changes, documents, outbox rows, task and timer mirrors, timeline, audit entries).
A crash anywhere rolls all of it back, so a retried job neither loses nor repeats a step.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, OperationalError, connections, router, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from rathaus.accounts.models import ROLE_RANK, Membership, Role
from rathaus.applications.changes import touches_collected
from rathaus.applications.models import Application
from rathaus.applications.selectors import ApplicationSelect, application_select
from rathaus.cases.files import discard_files_on_error
from rathaus.core.audit import audit_batch, audit_record, audit_record_many
from rathaus.core.problems import request_fingerprint
from rathaus.core.sql import insert_many, insert_one, instance_from_row, prepared_cursor, select_columns, update_one
from rathaus.integration.services import event_batch
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.validation import FieldError, validate
from rathaus_domain.processes.engine import (
    MessageInvalid,
    MessageNotExpected,
    ProcessError,
    ProcessModelError,
    ProcessRun,
    check_message,
)
from rathaus_domain.processes.lint import check_files, file_kind, has_errors

from .engine import model_for
from .models import (
    DOCUMENT_MESSAGE,
    PERSON_EVENT_KINDS,
    CaseEvent,
    DefinitionState,
    InstanceStatus,
    OutboxMessage,
    ProcessDefinition,
    ProcessInstance,
    ReceivedMessage,
    TaskState,
    Timer,
    UserTask,
)
from .steps.registry import CaseContext, case_context, load_contrib, steps
from .task_forms import TASK_FORMS, flatten, localized_form, task_form

logger = logging.getLogger(__name__)

# Candidate groups / lanes named like a role map to it; anything else is case-worker work.
_ROLE_NAMES = {
    "case_worker": Role.CASE_WORKER, "sachbearbeitung": Role.CASE_WORKER,
    "team_lead": Role.TEAM_LEAD, "teamleitung": Role.TEAM_LEAD,
    "tenant_admin": Role.TENANT_ADMIN, "administration": Role.TENANT_ADMIN,
}


class ProcessUploadInvalid(Exception):
    """The uploaded model has errors; nothing was stored."""

    def __init__(self, problems: list[dict[str, Any]]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class TaskInvalid(Exception):
    """The task form data does not meet its schema."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class VersionStateInvalid(Exception):
    """The version is not in a state this change applies to (only a published version retires)."""


# Why a task (or a process) refuses what a user asked, in her words; the reason is the code.
TASK_REFUSALS = {
    "closed": gettext_lazy("Die Aufgabe ist bereits erledigt oder beendet."),
    "role": gettext_lazy("Dafür fehlt Ihnen die nötige Rolle."),
    "assigned": gettext_lazy("Die Aufgabe bearbeitet bereits jemand anderes."),
    "not_yours": gettext_lazy("Abgeben kann eine Aufgabe nur, wer sie bearbeitet oder das Team leitet."),
    "unassigned": gettext_lazy("Die Aufgabe liegt bereits beim Team."),
    "assignee": gettext_lazy("Die gewählte Person kann diese Aufgabe nicht bearbeiten (Rolle oder Konto)."),
    "same_assignee": gettext_lazy("Die Aufgabe ist bereits bei dieser Person."),
    "self": gettext_lazy("An sich selbst abgeben geht nicht: Übernehmen Sie die Aufgabe oder weisen Sie sie sich zu."),
    "not_failed": gettext_lazy("Das Verfahren ist nicht fehlgeschlagen."),
    "ended": gettext_lazy("Das Verfahren war schon beendet, als es fehlschlug; es wird nicht neu gestartet."),
}


class TaskNotAllowed(Exception):
    """The user may not do this with the task (role, state or assignee): ``reason`` is a key of TASK_REFUSALS."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        """The refusal in the user's language (German by default)."""
        return str(TASK_REFUSALS.get(self.reason, TASK_REFUSALS["role"]))


def problem_dict(problem) -> dict[str, Any]:
    return {"file": problem.file, "element_id": problem.element_id, "severity": problem.severity,
            "message_de": problem.message_de, "message_en": problem.message_en, "code": problem.code}


# ------------------------------------------------------------------ definitions

def process_check(files: Iterable[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """Lint BPMN/DMN files with the registered steps (the same check as `rathaus check-process`)."""
    load_contrib()
    return [problem_dict(p) for p in check_files(list(files), registry=steps, forms=TASK_FORMS)]


def process_definition_create(*, municipality, service, files: list[tuple[str, bytes]], publish: bool = False,
                              actor=None) -> ProcessDefinition:
    """Check and store a new version of a service's process; optionally publish it at once."""
    if service.municipality_id != municipality.pk:
        raise ValueError("service belongs to another municipality")
    problems = process_check(files)
    if has_errors(_Problems(problems)):
        raise ProcessUploadInvalid(problems)
    load_contrib()
    # Sorted by root element as the check did, not by extension (a decision table may be saved as .xml).
    kinds = [file_kind(c) for _, c in files]
    bpmn = [(n, c) for (n, c), kind in zip(files, kinds, strict=True) if kind != "dmn"]
    dmn = [(n, c) for (n, c), kind in zip(files, kinds, strict=True) if kind == "dmn"]
    try:
        from rathaus_domain.processes.engine import ProcessModel

        # process_check above found no error (with the same registry): not checked a third time.
        model = ProcessModel.from_files(bpmn, dmn, registry=steps, checked=False)
    except ProcessModelError as exc:
        raise ProcessUploadInvalid([{"file": exc.file, "element_id": exc.element_id, "severity": "error",
                                     "message_de": exc.message_de, "message_en": exc.message_en, "code": "invalid"}]) from None
    with transaction.atomic():
        _lock_versions_of(service.pk)
        last = ProcessDefinition.objects.filter(service=service).order_by("-version").first()
        definition = ProcessDefinition.objects.create(
            municipality=municipality, service=service, version=(last.version + 1) if last else 1, name=model.name,
            process_id=model.process_id, digest=model.digest, problems=problems, created_by=actor,
            files=[{"name": n, "kind": "dmn" if kind == "dmn" else "bpmn", "content": c.decode("utf-8")}
                   for (n, c), kind in zip(files, kinds, strict=True)])
        audit_record(action="process.definition_created", municipality=municipality, actor=actor, obj=definition,
                     summary=f"{service.slug} v{definition.version}", data={"digest": model.digest, "files": [n for n, _ in files]})
        if publish:
            process_definition_publish(definition=definition, actor=actor)
    return definition


class _Problems(list):
    """Problem dicts that look like lint Problems to `has_errors`."""

    def __iter__(self):
        return (type("P", (), {"severity": p["severity"]}) for p in list.__iter__(self))


def process_definition_publish(*, definition: ProcessDefinition, actor=None) -> ProcessDefinition:
    """Publish a version; the previously published one retires. Running cases keep their version.

    A retired version may be published again (going back to it after a faulty new one). A version
    that is already published stays as it is: a double click records no second publication.
    """
    with transaction.atomic():
        # Two publishes of one service at once (two admins, a double click): the later waits here and
        # then retires what the earlier published, instead of failing on the one-published rule.
        _lock_versions_of(definition.service_id)
        definition.refresh_from_db(fields=["state", "published_at"])
        if definition.state == DefinitionState.PUBLISHED:
            return definition
        ProcessDefinition.objects.filter(service=definition.service, state=DefinitionState.PUBLISHED).exclude(
            pk=definition.pk).update(state=DefinitionState.RETIRED)
        definition.state = DefinitionState.PUBLISHED
        definition.published_at = timezone.now()
        definition.save(update_fields=["state", "published_at"])
        audit_record(action="process.definition_published", municipality=definition.municipality, actor=actor,
                     obj=definition, summary=f"{definition.service.slug} v{definition.version}")
    return definition


def _lock_versions_of(service_id: int) -> None:
    """Serialise the writes of a service's process versions (a new version, publishing) on its row.

    One row, so no lock order between versions; no key lock, so submissions and process starts,
    which only reference the service (a key share lock), are not held up.
    """
    from rathaus.catalog.models import Service

    list(Service.objects.select_for_update(no_key=True).filter(pk=service_id).values_list("pk", flat=True))


def process_definition_retire(*, definition: ProcessDefinition, actor=None) -> ProcessDefinition:
    """Take the published version out of service: new applications start no process until one is published.

    Only the published version retires; a draft was never in service and a retired one is already
    out of it (`VersionStateInvalid`, nothing recorded). Cases running on it go on to their end.
    """
    with transaction.atomic():
        _lock_versions_of(definition.service_id)  # not while a publish of the same service is under way
        definition.refresh_from_db(fields=["state"])
        if definition.state != DefinitionState.PUBLISHED:
            raise VersionStateInvalid(definition.state)
        definition.state = DefinitionState.RETIRED
        definition.save(update_fields=["state"])
        audit_record(action="process.definition_retired", municipality=definition.municipality, actor=actor,
                     obj=definition, summary=f"{definition.service.slug} v{definition.version}")
    return definition


# ------------------------------------------------------------------ running

def _start_data(application: Application) -> dict[str, Any]:
    data = dict(application.data)
    data.update({
        "case_ref": application.reference,
        "service": application.service.slug,
        "applicant_email": application.applicant_email,
        "submitted_on": timezone.localdate(application.submitted_at).isoformat(),
    })
    return data


def _event_line(event, model) -> tuple[str, bool, dict[str, Any]]:
    """A plain-language line for the timeline, whether the citizen sees it, and audit data."""
    name = event.element_name or event.element_id or ""
    details = dict(event.details)
    if event.kind == "process_started":
        return f"Das Verfahren „{model.name}“ wurde gestartet.", False, details
    if event.kind == "step":
        description = steps.describe(details["step"]) if details.get("step") in steps else details.get("step")
        return f"Automatischer Schritt: {name or description}.", False, details
    if event.kind == "decision":
        rules = [_rule_in_words(rule) for rule in details.get("matched_rules", [])]
        outputs = details.get("output")
        why = "; ".join(rules) or "keine Regel traf zu"
        return f"Automatische Entscheidung „{details.get('decision_name') or name}“: {why}.", True, {
            "inputs": details.get("inputs_used"), "matched_rules": details.get("matched_rules"), "output": outputs,
            "decision_id": details.get("decision_id")}
    if event.kind == "script":
        return f"Automatischer Schritt: {name}.", False, details
    if event.kind == "user_task_ready":
        return f"Aufgabe „{name}“ an die Sachbearbeitung übergeben.", False, details
    if event.kind == "user_task_completed":
        return f"Aufgabe „{name}“ erledigt.", False, details
    if event.kind == "timer_fired":
        return f"Frist abgelaufen: {name}.", False, details
    if event.kind == "message_received":
        message = str(details.get("message") or "")
        label = MESSAGE_LABELS.get(message)
        return (f"{label}." if label else f"Nachricht eingegangen: {message}."), False, details
    if event.kind == "process_completed":
        return "Das Verfahren ist abgeschlossen.", False, details
    return f"{event.kind}: {name}", False, details


def _rule_in_words(rule: dict[str, Any]) -> str:
    """A matched rule as the citizen reads it: its annotation, else its number and what it tested.

    A rule id (``DecisionRule_0x7f3k``) tells a citizen nothing; the column labels and the
    rule's conditions do (``Regel 2 (Rasse: "pitbull","staffordshire"; Weitere Hunde: > 0)``).
    """
    if rule.get("annotation"):
        return str(rule["annotation"])
    tests = [f"{label}: {condition}" for label, condition in (rule.get("conditions") or {}).items()
             if str(condition).strip() not in ("", "-")]
    number = f"Regel {rule['index']}" if rule.get("index") else str(rule.get("rule_id") or "Regel")
    return f"{number} ({'; '.join(tests)})" if tests else f"{number} (gilt immer)"


def _role_for(groups: Iterable[str], lane: str | None) -> str:
    for name in [*groups, lane or ""]:
        role = _ROLE_NAMES.get(name.strip().lower())
        if role:
            return role
    return Role.CASE_WORKER


# What a move changes on the instance row (the rest is set once, when it is created).
_PERSISTED = ("state", "current_elements", "completed_elements", "waiting_messages", "status", "completed_at", "error",
              "updated_at")


def _persist(instance: ProcessInstance, run: ProcessRun, case: CaseContext, *, actor=None, now: datetime,
             fresh: bool = False) -> None:
    """Save state, mirror tasks and timers, write timeline and audit entries (inside the caller's transaction).

    `fresh`: the instance was created in this transaction, so it has no task or timer rows yet.
    """
    application = case.application
    municipality = instance.municipality
    # A completed run never moves again (see _move), so its engine state (14 KB for the dog
    # registration, with a copy of the applicant's data) is not kept: the timeline, the audit trail
    # and the elements below record what happened.
    instance.state = "" if run.completed else run.serialize()
    instance.current_elements = run.current_element_ids()
    instance.completed_elements = run.completed_element_ids()
    instance.waiting_messages = run.waiting_messages()
    ready = run.ready_user_tasks()
    if run.completed:
        instance.status, instance.completed_at = InstanceStatus.COMPLETED, now
    else:
        instance.status = InstanceStatus.WAITING if (ready or instance.waiting_messages or run.pending_timers()) \
            else InstanceStatus.RUNNING
    instance.error = ""
    update_one(instance, _PERSISTED)

    ready_ids = {t.id for t in ready}
    open_tasks = {} if fresh else {t.engine_task_id: t for t in instance.tasks.filter(state=TaskState.OPEN)}
    gone = [t.pk for engine_id, t in open_tasks.items() if engine_id not in ready_ids]
    if gone:
        # Interrupted by a boundary event or a terminate end: the task no longer exists in the engine.
        UserTask.objects.filter(pk__in=gone).update(state=TaskState.CANCELLED, completed_at=now)
    new_tasks = []
    for info in ready:
        if info.id in open_tasks:
            continue
        due = info.due or _default_due(application)
        new_tasks.append(UserTask(
            municipality=municipality, instance=instance, application=application, engine_task_id=info.id,
            element_id=info.element_id, name=(info.name or info.element_id)[:200], documentation=info.documentation or "",
            lane=info.lane or "", candidate_groups=list(info.candidate_groups),
            role=_role_for(info.candidate_groups, info.lane), form_key=info.form_key or "",
            form_schema=task_form(info.form_key), due_at=due))
    UserTask.objects.bulk_create(new_tasks, ignore_conflicts=True)

    pending = {t.task_id: t for t in run.pending_timers()}
    existing_timers: dict[str, datetime] = {} if fresh else dict(instance.timers.values_list("engine_task_id", "due_at"))
    stale = set(existing_timers) - set(pending)
    if stale:
        instance.timers.filter(engine_task_id__in=stale).delete()
    for tid, timer in pending.items():
        if tid in existing_timers and existing_timers[tid] != timer.due:
            # A repeating timer keeps its task and waits for its next occurrence: the row follows.
            instance.timers.filter(engine_task_id=tid).update(due_at=timer.due)
    Timer.objects.bulk_create([Timer(municipality=municipality, instance=instance, engine_task_id=tid,
                                     element_id=t.element_id or "", due_at=t.due)
                               for tid, t in pending.items() if tid not in existing_timers])

    # Ids rather than objects: the lines are only inserted (a relation set by object costs more). Only
    # the line of the person's own act (the task she completed, the message she delivered) carries
    # her; the steps the process then took by itself are its own (the audit trail keeps who set it going).
    actor_id = actor.pk if actor is not None else None
    events = run.drain_events()
    # A step's notes are made while it runs, just before the engine records the step itself: they
    # follow that step in the timeline, not the end of the whole run.
    notes_before: dict[int, list[dict[str, Any]]] = {}
    for note in case.notes:
        at = note["after"]
        if at < len(events) and note["element_id"] and events[at].element_id == note["element_id"]:
            at += 1
        notes_before.setdefault(at, []).append(note)
    lines: list[CaseEvent] = []

    def add_line(kind: str, element_id: str, text: str, public: bool, data: dict[str, Any]) -> None:
        lines.append(CaseEvent(municipality_id=municipality.pk, application_id=application.pk, instance_id=instance.pk,
                               kind=kind, element_id=element_id, text=text[:1000], public=public,
                               actor_id=actor_id if kind in PERSON_EVENT_KINDS else None, data=data))
    for index in range(len(events) + 1):
        for note in notes_before.pop(index, []):
            add_line(note["kind"], note["element_id"], note["text"], note["public"], note["data"])
        if index < len(events):
            text, public, data = _event_line(events[index], run.model)
            add_line(events[index].kind, events[index].element_id or "", text, public, data)
    case.notes.clear()
    insert_many(lines)
    audit_record_many([
        {"action": f"process.{line.kind}", "actor": actor, "obj": application,
         "summary": f"{application.reference}: {line.text}", "data": {"element": line.element_id, **line.data},
         "actor_label": "" if actor else "process-engine"}
        for line in lines
    ], municipality=municipality)


def _default_due(application: Application) -> datetime:
    # Without a due date in the model the service's processing norm applies.
    return timezone.make_aware(datetime.combine(application.due_date, datetime.max.time().replace(microsecond=0)))


def _fail(instance: ProcessInstance, exc: ProcessError) -> None:
    instance.status = InstanceStatus.FAILED
    instance.error = f"{exc.message_de} / {exc.message_en}" + (f" [{exc.element_id}]" if exc.element_id else "")
    instance.save(update_fields=["status", "error", "updated_at"])
    CaseEvent.objects.create(municipality=instance.municipality, application_id=instance.application_id, instance=instance,
                             kind="error", element_id=exc.element_id or "", text=f"Fehler im Verfahren: {exc.message_de}"[:1000])
    audit_record(action="process.failed", municipality=instance.municipality, obj=instance, summary=instance.error[:500],
                 actor_label="process-engine")


def _move(instance: ProcessInstance, application: Application, action: Callable[[ProcessRun], None], *,
          actor=None, now: datetime | None = None, application_locked: bool = False) -> ProcessInstance:
    """Restore the run, apply `action`, persist; an engine error marks the instance failed (state unchanged)."""
    if instance.status == InstanceStatus.COMPLETED:
        # Its state is not kept (see _persist); nothing in a completed process waits for anything.
        raise MessageNotExpected("Das Verfahren ist abgeschlossen", "the process has ended")
    now = now or timezone.now()
    # The engine tells the time in the town's zone: today() in a script, a decision or a date in a
    # letter is the day in Germany, not the UTC date (they differ for an hour or two each night).
    local_now = timezone.localtime(now)
    model = model_for(instance.definition)
    fresh = not instance.state
    if instance.state:
        run = ProcessRun.deserialize(model, instance.state, registry=steps, case_ref=application.reference,
                                     clock=lambda: local_now)
    else:
        run = ProcessRun(model, registry=steps, case_ref=application.reference, clock=lambda: local_now)
    case = CaseContext(application=application, instance=instance, model=model, application_locked=application_locked,
                       events_so_far=lambda: run.event_count)
    try:
        # audit_batch: the step's and the timeline's entries join the audit chain together, just before the commit.
        # event_batch: the steps' domain events go in one statement at the end (before the audit chain's lock).
        # touches_collected: a document's "case changed" is written once at the end (before the audit
        # chain's lock), and not at all when a step changed the status, which writes it anyway.
        with discard_files_on_error(), transaction.atomic(), case_context(case), audit_batch(), event_batch(), \
                touches_collected():
            action(run)
            _persist(instance, run, case, actor=actor, now=now, fresh=fresh)
    except (MessageNotExpected, MessageInvalid):
        raise
    except ProcessError as exc:
        logger.warning("process %s failed: %s", instance.pk, exc)
        _fail(instance, exc)
    return instance


@functools.lru_cache(maxsize=8)
def _start_sql(alias: str) -> tuple[str, ApplicationSelect, tuple]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    select = application_select(connection)
    # The definition's files and lint results stay deferred: the runnable model is cached (engine.model_for).
    d_cols, d_fields = select_columns(ProcessDefinition, "d", connection, defer=("files", "problems"))
    instance = (f"(SELECT i.{quote('id')} FROM {quote(ProcessInstance._meta.db_table)} i "  # noqa: S608 - names from the models
                f"WHERE i.{quote('application_id')} = a.{quote('id')})")
    sql = select.statement(f"a.{quote('id')} = %s", columns=f"{instance}, {d_cols}", lock=True, joins=(
        f"LEFT JOIN {quote(ProcessDefinition._meta.db_table)} d ON d.{quote('service_id')} = a.{quote('service_id')} "
        f"AND d.{quote('state')} = %s"))
    return sql, select, d_fields


def _locked_for_start(application_id: int) -> tuple[Application, int | None, ProcessDefinition | None]:
    """In one statement: the application locked until commit (with municipality and service), the id
    of its process instance if it has one, and its service's published definition (at most one).

    process_start runs once per submission; the ORM would need three queries, each compiled anew.
    """
    connection = connections[router.db_for_write(Application)]
    sql, select, d_fields = _start_sql(connection.alias)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [DefinitionState.PUBLISHED, application_id])
        row = cursor.fetchone()
    if row is None:
        raise Application.DoesNotExist(f"application {application_id} does not exist")
    application, rest = select.build(row, connection)
    existing_id, definition_row = rest[0], rest[1:]
    definition = instance_from_row(ProcessDefinition, d_fields, definition_row, connection) \
        if definition_row[0] is not None else None
    return application, existing_id, definition


def process_start(*, application: Application, now: datetime | None = None) -> ProcessInstance | None:
    """Start the service's published process for an application (once; a second call returns the first).

    Runs the automatic steps up to the first wait in the same transaction as their effects.
    Returns None when the service has no published process.
    """
    with transaction.atomic():
        locked, existing_id, definition = _locked_for_start(application.pk)
        if existing_id is not None:
            return ProcessInstance.objects.get(pk=existing_id)
        if definition is None:
            return None
        instance = insert_one(ProcessInstance(municipality=locked.municipality, application=locked, definition=definition))
        data = _start_data(locked)
        _move(instance, locked, lambda run: run.start(data), now=now, application_locked=True)
    application.status = locked.status
    return instance


def _locked_instance(instance_id: int) -> tuple[ProcessInstance, Application]:
    instance = ProcessInstance.objects.select_for_update(of=("self",)).select_related("definition", "municipality").get(pk=instance_id)
    application = Application.objects.select_related("service", "municipality").get(pk=instance.application_id)
    return instance, application


def message_deliver(*, application: Application, name: str, payload: dict[str, Any] | None = None, actor=None,
                    now: datetime | None = None) -> ProcessInstance:
    """Deliver a BPMN message (e.g. `payment_received`, `document_uploaded`) to the case's process.

    Raises MessageNotExpected when the process does not wait for it, MessageInvalid when the payload
    cannot be kept as process data; nothing changes then (bad input never fails the process). Raises
    ProcessError when a step the message leads to fails: nothing is stored either, the process still
    waits for the message, and the sender may send it again.
    """
    check_message(name, payload or {})
    with transaction.atomic():
        locked, app = _waiting_instance(application, name)
        return _deliver_to(locked, app, name, payload, actor=actor, now=now)


def _deliver_to(locked: ProcessInstance | None, app: Application, name: str, payload: dict[str, Any] | None, *, actor,
                now: datetime | None) -> ProcessInstance:
    if locked is None:
        if not ProcessInstance.objects.filter(application_id=app.pk).exists():
            raise MessageNotExpected("Zu diesem Antrag läuft kein Verfahren", "no process runs for this application")
        raise MessageNotExpected(f"Der Prozess erwartet die Nachricht «{name}» nicht",
                                 f"the process does not expect the message «{name}»")
    instance = _move(locked, app, lambda run: run.deliver_message(name, payload or {}), actor=actor, now=now)
    if instance.status == InstanceStatus.FAILED:
        # Refused as a whole (the caller's transaction rolls back). A failure kept here would lose the
        # message: the sender is told it arrived (and a repetition with its key changes nothing), while
        # the instance keeps its state from before it, so a retry by staff waits for it once more.
        raise ProcessError(instance.error, instance.error)
    return instance


class MessageKeyConflict(Exception):
    """The Idempotency-Key was used before for another message (another case, name or payload)."""


@dataclass(frozen=True)
class MessageDelivery:
    instance: ProcessInstance | None
    #: True when the key was seen before: this request changed nothing.
    replayed: bool


def message_deliver_once(*, application: Application, name: str, payload: dict[str, Any] | None, idempotency_key: str,
                         actor=None, now: datetime | None = None) -> MessageDelivery:
    """`message_deliver`, once per Idempotency-Key of the case's municipality.

    A system that got no answer sends the message again with the same key: the repetition changes
    nothing and is answered as a success, even when the process has moved on (or waits for a
    second message of that name, which the repetition must not answer). The key is stored in the
    delivery's transaction; a concurrent repetition waits for the case's lock and then finds it.
    Raises MessageKeyConflict for a key used with another message; otherwise as `message_deliver`
    (a refused message stores no key, so it can be sent again once it fits).
    """
    check_message(name, payload or {})
    request_hash = request_fingerprint(application.reference, name, payload or {})
    with transaction.atomic():
        locked, app = _waiting_instance(application, name)
        seen = ReceivedMessage.objects.filter(municipality_id=app.municipality_id,
                                              idempotency_key=idempotency_key).values_list("request_hash", flat=True).first()
        if seen is not None:
            if seen != request_hash:
                raise MessageKeyConflict
            return MessageDelivery(ProcessInstance.objects.filter(application_id=app.pk).first(), replayed=True)
        instance = _deliver_to(locked, app, name, payload, actor=actor, now=now)
        try:
            with transaction.atomic():
                ReceivedMessage.objects.create(municipality_id=app.municipality_id, application_id=app.pk,
                                               idempotency_key=idempotency_key, request_hash=request_hash)
        except IntegrityError:
            # The same key for another case at the same moment: refused, and the delivery rolls back with it.
            raise MessageKeyConflict from None
        return MessageDelivery(instance, replayed=False)


#: Plain-language names of the messages the standard processes wait for (anything else: its name).
#: German here, as the case timeline records them; pages translate them with `message_label`.
MESSAGE_LABELS = {
    "payment_received": gettext_noop("Zahlung eingegangen"),
    "document_uploaded": gettext_noop("Unterlagen eingegangen"),
    "backoffice_answer": gettext_noop("Antwort des Fachverfahrens eingegangen"),
}


def message_label(name: str) -> str:
    """The awaited message's name for a page, in the page's language (an unknown one: its technical name)."""
    return gettext(MESSAGE_LABELS[name]) if name in MESSAGE_LABELS else name


def _waiting_instance(application: Application, name: str) -> tuple[ProcessInstance | None, Application]:
    """The case's locked instance and application; the instance only if it waits for message `name`."""
    instance_id = ProcessInstance.objects.filter(application=application).values_list("pk", flat=True).first()
    if instance_id is None:
        return None, Application.objects.select_for_update(of=("self",)).select_related("service", "municipality").get(
            pk=application.pk)
    locked, app = _locked_instance(instance_id)
    return (locked if name in locked.waiting_messages else None), app


def document_upload_later(*, application: Application, filename: str, raw: bytes, declared_type: str | None = None,
                          request_id: int | None = None, request_item: int | None = None, actor=None,
                          ip: str | None = None, now: datetime | None = None):
    """A citizen hands in a document her case waits for; the waiting process continues by itself.

    Accepted when the process waits for documents or staff asked for them (an open request);
    the file goes through the upload checks and into the case file, answers the request (item),
    and, once nothing requested is missing, the waiting process gets its `document_uploaded`
    message. All of it is stored together or not at all. Raises UploadRefused (bad file),
    CaseFileError (unknown request item) or MessageNotExpected (nothing is expected).
    """
    from rathaus.cases.selectors import request_missing_items
    from rathaus.cases.services import citizen_document_add, request_for_upload
    from rathaus.cases.uploads import check_upload

    upload = check_upload(raw=raw, filename=filename, declared_type=declared_type)
    # audit_batch: the audit chain's lock is taken last, after the rows of the case, as every
    # process step takes them; otherwise an upload and a step of the same town could deadlock.
    with discard_files_on_error(), transaction.atomic(), audit_batch():
        waiting, app = _waiting_instance(application, DOCUMENT_MESSAGE)
        request, item = request_for_upload(application=app, request_id=request_id, item=request_item)
        if waiting is None and request is None:
            raise MessageNotExpected("Zu diesem Antrag werden derzeit keine Unterlagen erwartet",
                                     "this application does not wait for documents")
        document = citizen_document_add(application=app, upload=upload, request=request, request_item=item,
                                        actor=actor, ip=ip)
        # With several documents requested, the process goes on when the last of them is in.
        if waiting is not None and (request is None or not request_missing_items(request=request)):
            _move(waiting, app, lambda run: run.deliver_message(DOCUMENT_MESSAGE, {"uploaded_document": document.pk}),
                  actor=actor, now=now)
            if waiting.status == InstanceStatus.FAILED:
                # Roll back the upload too: the citizen tries again rather than leaving a half-handled file.
                raise ProcessError(waiting.error, waiting.error)
    return document


def timer_fire_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Fire timers whose due time has passed (index on `due_at`; at most `limit` per call).

    Timers of failed instances wait until staff retry the instance, so one broken case can
    neither block the others nor fill its timeline with the same error on every tick.
    """
    now = now or timezone.now()
    due = list(Timer.objects.filter(due_at__lte=now).exclude(instance__status=InstanceStatus.FAILED)
               .order_by("due_at").values_list("pk", "instance_id", "engine_task_id")[:limit])
    fired = 0
    for timer_id, instance_id, engine_task_id in due:
        try:
            with transaction.atomic():
                locked, app = _locked_instance(instance_id)
                if locked.status == InstanceStatus.FAILED or not Timer.objects.filter(pk=timer_id).exists():
                    continue  # another worker fired it, the process moved on, or it failed meanwhile
                if locked.status == InstanceStatus.COMPLETED:
                    # A timer row left over by an ended process: nothing waits for it (and _move refuses).
                    Timer.objects.filter(pk=timer_id).delete()
                    continue
                forced: list[str] = []

                def fire(run: ProcessRun, tid: str = engine_task_id, forced: list[str] = forced) -> None:
                    due_at = next((t.due for t in run.pending_timers() if t.task_id == tid), None)
                    if due_at is not None and due_at > now:
                        return  # the engine waits longer than the row said: the save moves the row
                    run.fire_timer(tid)
                    forced.append(tid)

                _move(locked, app, fire, now=now)
                if forced and locked.status != InstanceStatus.FAILED:
                    fired += 1
        except OperationalError:
            # A deadlock or a lost connection, not a fault of the case: the timer row is still
            # there (rolled back) and fires at the next tick.
            logger.warning("timer %s of instance %s: database error, tried again at the next tick", timer_id, instance_id,
                           exc_info=True)
        except Exception as exc:  # noqa: BLE001 - any crash of one case must not stop the other timers
            logger.exception("timer %s of instance %s could not fire", timer_id, instance_id)
            with transaction.atomic():
                instance = ProcessInstance.objects.select_for_update().get(pk=instance_id)
                if instance.status != InstanceStatus.COMPLETED:  # ended meanwhile (by hand): nothing to fail
                    _fail(instance, ProcessError(f"Frist konnte nicht ausgelöst werden: {exc}",
                                                 f"timer could not fire: {exc}"))
    return fired


def case_decide_by_hand(*, application, status: str, actor, now: datetime | None = None):
    """Staff gave `application` the final status `status` by hand: nothing under way for the case may
    contradict the decision afterwards; returns the application, read and locked (for the status
    change that follows in the same transaction).

    Its process, if still running, ends: a timer, a message or a task it still waited for would
    otherwise move the case on later and overwrite the decision (a withdrawn application "closed"
    when its payment deadline passes, with an e-mail about it; an "approved" one refused when a
    task is completed). Its open tasks are cancelled, its timers dropped, and it ends like a
    completed process (its state is not kept; the timeline says why it ended).

    Every e-mail about the case that has not gone out yet (the mail server was down) is cancelled,
    whoever queued it and whether or not the process still ran (an approval the process reached by
    itself is overruled, say): the receipt and back-office calls still go, see
    `outbox.outbox_cancel_for_case` for the rule and why. The timeline and the audit trail say how
    many were held back: in the line about the process's end, or, when none was running, in a line
    of their own ("emails_held_back", only if there were any).

    Every decision letter of the case not yet notified (neither retrieved nor posted) is withdrawn
    (`cases.services.decision_notices_withdraw`): it must not take effect against the decision,
    neither by her download nor by staff posting it. Only a status that confirms an approval
    (approved → closed or approved, `LETTER_STANDS`) lets it stand, and with it the e-mails that
    tell her of it (they are not held back, nor counted); the same timeline line names the
    withdrawn letters.

    Call inside the status change's transaction, before the e-mail about the new status is queued
    (it must go): the rows are locked in the engine's order (the instance, its tasks, then the
    application; the audit chain last), the letters not yet notified before the application (a
    retrieval locks its notice, then the application); the unsent e-mails are locked after the
    application (a worker that sends one holds only it), so one that a concurrent change of the
    case queued is seen. The tasks are read after the instance's lock, so a task that a move of the
    process created meanwhile (it held the lock) is cancelled too, and so is an e-mail that move
    queued.
    """
    from rathaus.applications.models import Application, Status
    from rathaus.applications.selectors import application_for_job
    from rathaus.cases.services import (
        LETTER_STANDS,
        decision_notices_not_notified,
        decision_notices_withdraw,
        letters_named,
    )

    from .outbox import outbox_cancel_for_case

    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        instance = ProcessInstance.objects.select_for_update(of=("self",)).select_related("municipality").filter(
            application_id=application.pk).exclude(status=InstanceStatus.COMPLETED).first()
        cancelled = 0
        if instance is not None:
            cancelled = UserTask.objects.filter(instance=instance, state=TaskState.OPEN).update(
                state=TaskState.CANCELLED, completed_at=now)
        # The letters not yet notified, before the application: a retrieval under way (it locks its
        # notice, then the application) is waited for, and one that comes later finds them withdrawn.
        letters = decision_notices_not_notified(application=application)
        # The application's row next (the engine's order: instance, tasks, application): another
        # change of the case under way (a status with its e-mail, a request for documents) holds it
        # until it commits, so the e-mail it queues is seen and held back below, not sent after the
        # decision. Its status before this change is read under that lock (whether the new one
        # confirms a letter); the status change goes on with this row.
        locked = application_for_job(application.pk, lock=True)
        if locked is None:
            raise Application.DoesNotExist(f"application {application.pk} does not exist")
        stands = (locked.status, status) in LETTER_STANDS
        # What was written for the case and has not gone out yet no longer holds, but what tells her
        # of a letter that stands.
        held_back = outbox_cancel_for_case(application=locked, letters_stand=stands, now=now,
                                           instance_id=instance.pk if instance is not None else None)
        with translation.override("de"):  # the timeline is written in German, whatever the language of the page
            label = str(Status(status).label)
        # Nor does a decision letter not yet notified, unless the status confirms it (LETTER_STANDS).
        withdrawn = [] if stands else decision_notices_withdraw(
            application=locked, notices=letters, status=status, actor=actor, now=now,
            reason=f"Der Antrag erhielt von Hand den Status „{label}“.")
        if instance is None and not held_back and not withdrawn:
            return locked
        data: dict[str, Any] = {"status": status, "cancelled_emails": len(held_back),
                                "cancelled_outbox_ids": [message.pk for message in held_back],
                                "withdrawn_letters": [notice.document_id for notice in withdrawn]}
        if instance is not None:
            instance_end(instance, now=now)
            text = f"Das Verfahren wurde beendet, weil der Antrag von Hand den Status „{label}“ erhielt."
            kind, action, obj, data["cancelled_tasks"] = "process_ended", "process.ended", instance, cancelled
        else:
            text = f"Der Antrag erhielt von Hand den Status „{label}“."
            kind, action, obj = "emails_held_back", "application.emails_held_back", application
        if held_back:
            text += (" Deshalb wurde 1 noch nicht versandte E-Mail zu diesem Antrag zurückgehalten." if len(held_back) == 1
                     else f" Deshalb wurden {len(held_back)} noch nicht versandte E-Mails zu diesem Antrag zurückgehalten.")
        if withdrawn:
            text += (f" Nicht bekannt gegeben und zurückgezogen: {letters_named(withdrawn)} (nicht mehr abrufbar, "
                     "nicht mehr per Post zu versenden).")
        municipality = instance.municipality if instance is not None else application.municipality
        CaseEvent.objects.create(municipality=municipality, application_id=application.pk, instance=instance, kind=kind,
                                 text=text, actor=actor, data=data)
        audit_record(action=action, municipality=municipality, actor=actor, obj=obj, summary=text, data=data)
    return locked


def instance_end(instance: ProcessInstance, *, now: datetime) -> int:
    """End `instance` where it stands (the caller holds its lock): its timers dropped, nothing awaited,
    its state not kept (it holds the applicant's data, see _persist); returns how many timers went.

    Its tasks are the caller's: a status set by hand cancels the open ones, retention also empties
    their results.
    """
    timers = instance.timers.all().delete()[0]
    instance.state, instance.error, instance.current_elements, instance.waiting_messages = "", "", [], []
    if instance.status != InstanceStatus.COMPLETED:
        instance.status, instance.completed_at = InstanceStatus.COMPLETED, now
    instance.save(update_fields=["state", "error", "current_elements", "waiting_messages", "status", "completed_at",
                                 "updated_at"])
    return timers


def process_retry(*, instance: ProcessInstance, actor) -> ProcessInstance:
    """Staff retry a failed instance from its last saved state (or from the start if it never ran)."""
    with transaction.atomic(), audit_batch():
        locked, app = _locked_instance(instance.pk)
        if locked.status != InstanceStatus.FAILED:
            raise TaskNotAllowed("not_failed")
        if not locked.state and locked.completed_elements:
            # It had ended (an ended process keeps no state): starting it anew would repeat its steps.
            raise TaskNotAllowed("ended")
        audit_record(action="process.retried", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"{app.reference}: {locked.error[:400]}")
        if locked.state:
            action: Callable[[ProcessRun], None] = lambda run: None  # noqa: E731 - restore and re-persist only
        else:
            data = _start_data(app)
            action = lambda run: run.start(data)  # noqa: E731
        _move(locked, app, action, actor=actor)
        CaseEvent.objects.create(municipality=locked.municipality, application=app, instance=locked, kind="retried",
                                 text="Das Verfahren wurde nach einem Fehler erneut angestoßen.", actor=actor)
    return locked


# ------------------------------------------------------------------ tasks

def _membership(user, municipality) -> Membership | None:
    return Membership.objects.filter(user=user, municipality=municipality).first()


def _holds_or_leads(task: UserTask, user, membership: Membership) -> bool:
    """Whether the user may hand the task on or back: she holds it, or she leads the team."""
    return task.assignee_id == user.pk or membership.has_role(Role.TEAM_LEAD)


@dataclass(frozen=True)
class TaskRights:
    """What a user may do with a task now: the task page offers exactly these, and the services
    refuse the rest, by the same rules (`_refusal`)."""

    claim: bool = False
    give_back: bool = False
    delegate: bool = False
    assign: bool = False
    complete: bool = False


def _refusal(task: UserTask, user, membership: Membership | None, action: str) -> str | None:
    """Why the user may not do ``action`` (a TaskRights field) with the task now, or None if she may."""
    if membership is None:
        return "role"
    if task.state != TaskState.OPEN:
        return "closed"
    if action in ("claim", "complete"):
        if not membership.has_role(task.role):
            return "role"
        mine = (None,) if action == "claim" else (None, user.pk)
        return None if task.assignee_id in mine else "assigned"
    if action == "assign":
        return None if membership.has_role(Role.TEAM_LEAD) else "role"
    # Handing on or back.
    if not membership.has_role(Role.CASE_WORKER):
        return "role"
    if not _holds_or_leads(task, user, membership):
        return "not_yours"
    if action == "give_back" and task.assignee_id is None:
        return "unassigned"
    return None


def task_rights(*, task: UserTask, user) -> TaskRights:
    membership = _membership(user, task.municipality)
    return TaskRights(**{action: _refusal(task, user, membership, action) is None
                         for action in ("claim", "give_back", "delegate", "assign", "complete")})


def _check(task: UserTask, user, action: str) -> None:
    reason = _refusal(task, user, _membership(user, task.municipality), action)
    if reason:
        raise TaskNotAllowed(reason)


def _require_assignee(assignee, task: UserTask) -> None:
    """Only an active member of the task's municipality who holds its role may be given it (else
    nobody could complete it: not she, and no one else, as it is hers); handing it to whoever has
    it already changes nothing and is refused rather than recorded."""
    membership = _membership(assignee, task.municipality)
    if membership is None or not assignee.is_active or not membership.has_role(task.role):
        raise TaskNotAllowed("assignee")
    if assignee.pk == task.assignee_id:
        raise TaskNotAllowed("same_assignee")


def _task_event(task: UserTask, text: str, actor, kind: str, data: dict | None = None) -> None:
    CaseEvent.objects.create(municipality=task.municipality, application_id=task.application_id, instance_id=task.instance_id,
                             kind=kind, element_id=task.element_id, text=text[:1000], actor=actor, data=data or {})
    audit_record(action=f"process.{kind}", municipality=task.municipality, actor=actor, obj=task,
                 summary=text[:500], data=data or {})


def _lock_instance_of(task: UserTask) -> None:
    """Lock the task's process instance, as every move of the process does before it touches a task.

    Whoever writes to a task takes its instance first: a move holds the instance while it runs and
    cancels the tasks it cut off at its end, and a row that refers to the instance (a timeline line,
    a reminder) waits for the move; a task locked before that would deadlock with it.
    """
    list(ProcessInstance.objects.select_for_update().filter(pk=task.instance_id).values_list("pk", flat=True))


def _locked_task(task: UserTask, *, instance_locked: bool = False) -> UserTask:
    if not instance_locked:
        _lock_instance_of(task)
    locked = UserTask.objects.select_for_update(of=("self",)).select_related("municipality").get(pk=task.pk)
    if locked.state != TaskState.OPEN:
        raise TaskNotAllowed("closed")
    return locked


def _hand_to(task: UserTask, assignee) -> list[str]:
    """Give the (locked) task to `assignee` (None: back to the team); the fields to save.

    A reminder is the holder's: one sent to the one before does not count for the next, who is
    reminded in her turn while the due date is still ahead (after it the task is escalated, once).
    """
    changed = task.assignee_id != getattr(assignee, "pk", None)
    task.assignee = assignee
    if changed and task.reminded_at is not None and task.due_at is not None and task.due_at > timezone.now():
        task.reminded_at = None  # whoever was reminded already is not reminded again (see task_deadlines)
        return ["assignee", "reminded_at"]
    return ["assignee"]


def _reminder_key(task: UserTask) -> str | None:
    """The outbox key of a reminder to the task's assignee, None if she has had one for it.

    The first reminder of a task is "remind:<task>"; one to a later holder (the task changed hands
    after it) "remind:<task>:<user>".
    """
    first = f"remind:{task.pk}"
    sent_to = OutboxMessage.objects.filter(idempotency_key=first).values_list("payload__to", flat=True).first()
    if sent_to is None:
        return first
    if sent_to == [task.assignee.email]:
        return None
    key = f"{first}:{task.assignee_id}"
    return None if OutboxMessage.objects.filter(idempotency_key=key).exists() else key


def task_claim(*, task: UserTask, user) -> UserTask:
    """Take an open, unassigned task of one's role (taking one's own again, a second click, changes nothing)."""
    with transaction.atomic():
        locked = _locked_task(task)
        if locked.assignee_id == user.pk:
            return locked
        _check(locked, user, "claim")
        locked.save(update_fields=_hand_to(locked, user))
        _task_event(locked, f"Aufgabe „{locked.name}“ übernommen von {user}.", user, "task_claimed")
    return locked


def task_assign(*, task: UserTask, assignee, user) -> UserTask:
    """A team lead assigns the task to a staff member of the municipality."""
    with transaction.atomic():
        locked = _locked_task(task)
        _check(locked, user, "assign")
        _require_assignee(assignee, locked)
        locked.save(update_fields=_hand_to(locked, assignee))
        _task_event(locked, f"Aufgabe „{locked.name}“ zugewiesen an {assignee}.", user, "task_assigned",
                    {"assignee": assignee.pk})
    return locked


def task_delegate(*, task: UserTask, assignee, user) -> UserTask:
    """The assignee (or a team lead) hands the task to a colleague."""
    with transaction.atomic():
        locked = _locked_task(task)
        _check(locked, user, "delegate")
        if assignee.pk == user.pk:
            raise TaskNotAllowed("self")
        _require_assignee(assignee, locked)
        locked.save(update_fields=_hand_to(locked, assignee))
        _task_event(locked, f"Aufgabe „{locked.name}“ abgegeben an {assignee}.", user, "task_delegated",
                    {"assignee": assignee.pk})
    return locked


def task_return(*, task: UserTask, user) -> UserTask:
    """Give the task back to the team (unassigned)."""
    with transaction.atomic():
        locked = _locked_task(task)
        _check(locked, user, "give_back")
        locked.save(update_fields=_hand_to(locked, None))
        _task_event(locked, f"Aufgabe „{locked.name}“ zurück an das Team.", user, "task_returned")
    return locked


def _result_summary(schema: dict[str, Any], data: dict[str, Any]) -> str:
    """The task result in words for the case timeline: the form's own summary (option labels, formatted values)."""
    return "; ".join(f"{label}: {value}" for _title, rows in FormSpec.from_schema(schema).summary(data)
                     for label, value in rows)


def _trimmed(value: Any) -> Any:
    """Text trimmed and empty texts left out, as the task page's form does with what is typed
    (so a reason of only spaces sent to the API is a missing reason there too)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {key: item for key, item in ((k, _trimmed(v)) for k, v in value.items()) if item != ""}
    if isinstance(value, list):
        return [_trimmed(item) for item in value]
    return value


def audited_result(schema: Any, value: Any) -> Any:
    """What the audit trail keeps of a task's result: choices, yes/no and numbers as given, free text
    only by its length («<Freitext, 40 Zeichen>»).

    The trail is append-only and kept for good, while retention clears the result itself (the
    task, the timeline): a note such as «Frau Mustermann hat den Ausweis gezeigt» must not outlive
    the case there. Who decided what (the outcome) stays; the words stay in the case until its
    retention. Text is free unless the form restricts it to a list (enum, const).
    """
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        return {key: audited_result(properties.get(key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [audited_result(schema.get("items"), item) for item in value]
    if isinstance(value, str) and "enum" not in schema and "const" not in schema:
        return f"<Freitext, {len(value)} Zeichen>"
    return value


def task_complete(*, task: UserTask, user, data: dict[str, Any], now: datetime | None = None) -> UserTask:
    """Complete the task with its form data (validated against the task's JSON Schema) and move the process on."""
    now = now or timezone.now()
    data = _trimmed(data)
    with transaction.atomic(), audit_batch():
        # The instance before its task, in the order every move of the process locks them (a timer
        # that interrupts the task, a status set by hand): the other order could deadlock with them.
        instance, application = _locked_instance(task.instance_id)
        # Rights and state first: someone who may not complete the task learns nothing from field errors.
        locked = _locked_task(task, instance_locked=True)
        _check(locked, user, "complete")
        # Validated against the form in the reader's language, so that an error names the field as she sees it.
        errors = validate(localized_form(locked.form_schema), data, today=timezone.localdate(now))
        if errors:
            raise TaskInvalid(errors)
        flat = flatten(data)
        flat.setdefault("note", "")
        locked.state, locked.completed_at, locked.completed_by, locked.result = TaskState.COMPLETED, now, user, data
        locked.assignee = locked.assignee or user
        locked.save(update_fields=["state", "completed_at", "completed_by", "result", "assignee"])
        audit_record(action="process.task_completed", municipality=locked.municipality, actor=user, obj=locked,
                     summary=f"{application.reference}: {locked.name}",
                     data={"result": audited_result(locked.form_schema, data)})
        summary = _result_summary(locked.form_schema, data)
        if summary:
            CaseEvent.objects.create(municipality=locked.municipality, application=application, instance=instance,
                                     kind="task_result", element_id=locked.element_id, actor=user,
                                     text=f"Aufgabe „{locked.name}“ – {summary}"[:1000])
        _move(instance, application, lambda run: run.complete_user_task(locked.engine_task_id, flat), actor=user, now=now)
        if instance.status == InstanceStatus.FAILED:
            raise ProcessError(instance.error, instance.error)
    task.state = locked.state
    return locked


_LEAD_ROLES = [role for role in Role if ROLE_RANK[role] >= ROLE_RANK[Role.TEAM_LEAD]]


def _team_leads(municipality_id: int) -> list[str]:
    """Whom an overdue task goes to: everyone ranked team lead or above (a town's administration too)."""
    return sorted(set(Membership.objects.filter(municipality_id=municipality_id, role__in=_LEAD_ROLES, user__is_active=True)
                      .exclude(user__email="").values_list("user__email", flat=True)))


def task_deadlines(*, now: datetime | None = None, remind_before_hours: int = 24) -> dict[str, int]:
    """Remind the assignee before the due date; escalate to the team leads after it (once each)."""
    from datetime import timedelta

    from .outbox import outbox_add

    now = now or timezone.now()
    reminded = escalated = 0
    # Each task is claimed by one conditional UPDATE in its own transaction before anything is sent or
    # written: of two runs at once (two workers, or a run that outlasted the hour) only one matches,
    # and a task completed, cancelled or handed back since the list was read no longer does.
    # Tasks nobody has taken wait for their reminder until someone does (it goes to that person).
    due_soon = {"state": TaskState.OPEN, "reminded_at__isnull": True, "assignee__isnull": False, "due_at__gt": now,
                "due_at__lte": now + timedelta(hours=remind_before_hours)}
    for task in list(UserTask.objects.filter(**due_soon).select_related("assignee", "application", "municipality")
                     .order_by("due_at", "pk")[:500]):
        with transaction.atomic():
            _lock_instance_of(task)
            # Still open, not reminded, and still the assignee read above (else the reminder is hers).
            if not UserTask.objects.filter(pk=task.pk, assignee_id=task.assignee_id, **due_soon).update(reminded_at=now):
                continue
            due = f"{timezone.localtime(task.due_at):%d.%m.%Y %H:%M}"
            if task.assignee.email:
                key = _reminder_key(task)
                if key is None:  # reminded while she held the task before: once is enough
                    continue
                outbox_add(municipality=task.municipality, key=key, kind="email", payload={
                    "subject": f"Erinnerung: {task.name} ({task.application.reference})",
                    "body": f"Die Aufgabe „{task.name}“ ist am {due} fällig.",
                    "to": [task.assignee.email]}, instance_id=task.instance_id)  # cancelled if the process is ended by hand
                text = f"Erinnerung an {task.assignee} gesendet: Aufgabe „{task.name}“ ist am {due} fällig."
            else:
                text = (f"Aufgabe „{task.name}“ ist am {due} fällig. {task.assignee} hat keine E-Mail-Adresse, an die "
                        "eine Erinnerung gehen könnte.")
            # An automatic step like the escalation: in the timeline and the audit trail.
            _task_event(task, text, None, "task_reminded", {"assignee": task.assignee_id, "sent": bool(task.assignee.email)})
            reminded += 1
    overdue = {"state": TaskState.OPEN, "escalated_at__isnull": True, "due_at__lte": now}
    leads_of: dict[int, list[str]] = {}  # per town, looked up once per call
    # A task due when its interrupting timer fires is about to be cut off by that timer (the worker
    # fires timers every minute): not escalated while a timer of its running process is due.
    about_to_move = Timer.objects.filter(instance_id=OuterRef("instance_id"), due_at__lte=now).exclude(
        instance__status=InstanceStatus.FAILED)
    for task in list(UserTask.objects.filter(**overdue).exclude(Exists(about_to_move)).select_related(
            "application", "municipality").order_by("due_at", "pk")[:500]):
        with transaction.atomic():
            _lock_instance_of(task)
            if not UserTask.objects.filter(pk=task.pk, **overdue).update(escalated_at=now):
                continue
            if task.municipality_id not in leads_of:
                leads_of[task.municipality_id] = _team_leads(task.municipality_id)
            leads = leads_of[task.municipality_id]
            if leads:
                outbox_add(municipality=task.municipality, key=f"escalate:{task.pk}", kind="email", payload={
                    "subject": f"Überfällig: {task.name} ({task.application.reference})",
                    "body": f"Die Aufgabe „{task.name}“ war am {timezone.localtime(task.due_at):%d.%m.%Y %H:%M} fällig "
                            "und ist noch offen.", "to": leads}, instance_id=task.instance_id)
                text = f"Aufgabe „{task.name}“ ist überfällig und wurde an die Teamleitung eskaliert."
            else:
                text = (f"Aufgabe „{task.name}“ ist überfällig. Niemand mit Teamleitung oder Administration hat eine "
                        "E-Mail-Adresse, an die sie eskaliert werden könnte.")
            _task_event(task, text, None, "task_escalated", {"notified": len(leads)})
            escalated += 1
    return {"reminded": reminded, "escalated": escalated}


def processes_sweep(*, now: datetime | None = None, min_age_seconds: int = 5) -> dict[str, int]:
    """Restart what a killed worker left: applications without their process, undelivered outbox rows."""
    from datetime import timedelta

    from .outbox import outbox_deliver_pending

    now = now or timezone.now()
    missing: list[int] = []
    # Only applications submitted while the process was published: older ones stay manual.
    for service_id, published_at in ProcessDefinition.objects.filter(state=DefinitionState.PUBLISHED).values_list(
            "service_id", "published_at"):
        missing += Application.objects.filter(
            service_id=service_id, process_instances__isnull=True, submitted_at__gte=published_at,
            submitted_at__lte=now - timedelta(seconds=min_age_seconds)).order_by("id").values_list("pk", flat=True)[:500]
    started = 0
    for pk in missing:
        try:
            if process_start(application=Application.objects.get(pk=pk)) is not None:
                started += 1
        except Exception:  # noqa: BLE001 - one case that cannot start must not stop the others or the outbox
            logger.exception("process of application %s could not start", pk)
    return {"started": started, "delivered": outbox_deliver_pending()}
