"""Process models (BPMN + DMN per service, versioned), running instances, tasks, timers, outbox."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import OrderedJSONField, TenantModel

#: The BPMN messages that come from the citizen: a document she hands in, a payment she makes.
DOCUMENT_MESSAGE = "document_uploaded"
PAYMENT_MESSAGE = "payment_received"
CITIZEN_MESSAGES = (DOCUMENT_MESSAGE, PAYMENT_MESSAGE)


class DefinitionState(models.TextChoices):
    DRAFT = "draft", _("Entwurf")
    PUBLISHED = "published", _("Veröffentlicht")
    RETIRED = "retired", _("Außer Betrieb")


class ProcessDefinition(TenantModel):
    """One version of a service's process. Files never change after creation: a change is a new version."""

    service = models.ForeignKey("catalog.Service", on_delete=models.PROTECT, related_name="process_definitions",
                                verbose_name=_("Leistung"))
    version = models.PositiveIntegerField(_("Version"))
    state = models.CharField(_("Zustand"), max_length=10, choices=DefinitionState.choices, default=DefinitionState.DRAFT)
    name = models.CharField(_("Name"), max_length=200)
    process_id = models.CharField(max_length=200)
    digest = models.CharField(max_length=64)
    # [{"name": "x.bpmn", "kind": "bpmn"|"dmn", "content": "<xml…>"}]
    files = models.JSONField(default=list)
    problems = models.JSONField(_("Prüfergebnis"), default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["service", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["service", "version"], name="process_definition_version_unique"),
            models.UniqueConstraint(fields=["service"], condition=Q(state="published"), name="one_published_process_per_service"),
        ]
        verbose_name = _("Prozessmodell")
        verbose_name_plural = _("Prozessmodelle")

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.state})"

    def bpmn_files(self) -> list[tuple[str, bytes]]:
        return [(f["name"], f["content"].encode()) for f in self.files if f["kind"] == "bpmn"]

    def dmn_files(self) -> list[tuple[str, bytes]]:
        return [(f["name"], f["content"].encode()) for f in self.files if f["kind"] == "dmn"]


class InstanceStatus(models.TextChoices):
    RUNNING = "running", _("Läuft")
    WAITING = "waiting", _("Wartet")
    COMPLETED = "completed", _("Abgeschlossen")
    FAILED = "failed", _("Fehler")


class ProcessInstance(TenantModel):
    """The process of one application; its engine state is saved in the same transaction as its effects."""

    # Indexed by the unique constraint below (an index of the foreign key would be a second copy).
    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="process_instances",
                                    db_index=False)
    definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="instances")
    status = models.CharField(max_length=10, choices=InstanceStatus.choices, default=InstanceStatus.RUNNING)
    state = models.TextField(blank=True)
    current_elements = models.JSONField(default=list, blank=True)
    completed_elements = models.JSONField(default=list, blank=True)
    waiting_messages = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application"], name="one_process_per_application")]
        # A plain index: db_index on a CharField adds a second one for LIKE, which nothing uses.
        indexes = [models.Index(fields=["status"], name="processinstance_status_idx")]
        verbose_name = _("Prozessinstanz")
        verbose_name_plural = _("Prozessinstanzen")

    def __str__(self) -> str:
        return f"{self.application_id} {self.definition_id} {self.status}"


class TaskState(models.TextChoices):
    OPEN = "open", _("Offen")
    COMPLETED = "completed", _("Erledigt")
    CANCELLED = "cancelled", _("Entfallen")


class UserTask(TenantModel):
    """A user task of the engine, mirrored for the staff inbox (the engine state stays authoritative)."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="tasks")
    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="process_tasks")
    engine_task_id = models.CharField(max_length=40)
    element_id = models.CharField(max_length=200)
    name = models.CharField(_("Aufgabe"), max_length=200)
    documentation = models.TextField(blank=True)
    lane = models.CharField(max_length=200, blank=True)
    candidate_groups = models.JSONField(default=list, blank=True)
    role = models.CharField(_("Rolle"), max_length=20, default="case_worker")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="process_tasks", verbose_name=_("Bearbeitung"))
    state = models.CharField(max_length=10, choices=TaskState.choices, default=TaskState.OPEN)
    form_key = models.CharField(max_length=100, blank=True)
    form_schema = OrderedJSONField(default=dict, blank=True)  # field order is the order on screen
    due_at = models.DateTimeField(_("fällig am"), null=True, blank=True, db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["instance", "engine_task_id"], name="user_task_engine_id_unique")]
        indexes = [
            models.Index(fields=["municipality", "state", "due_at"]),
            models.Index(fields=["assignee", "state", "due_at"]),
        ]
        verbose_name = _("Aufgabe")
        verbose_name_plural = _("Aufgaben")

    def __str__(self) -> str:
        return f"{self.name} ({self.application_id})"


class Timer(TenantModel):
    """A timer the engine waits for. The scheduler reads `due_at <= now` through the index, never instances."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="timers")
    engine_task_id = models.CharField(max_length=40)
    element_id = models.CharField(max_length=200, blank=True)
    due_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["instance", "engine_task_id"], name="timer_engine_id_unique")]

    def __str__(self) -> str:
        return f"{self.element_id} @ {timezone.localtime(self.due_at):%Y-%m-%d %H:%M}"


class OutboxKind(models.TextChoices):
    EMAIL = "email", _("E-Mail")
    HTTP = "http", _("HTTP")


class OutboxCancelReason(models.TextChoices):
    # Staff gave the case a final status by hand: every unsent e-mail about it but the receipt
    # (`outbox.outbox_cancel_for_case`). PROCESS_ENDED is what such messages were cancelled with
    # before the rule covered more than the process's own e-mails; kept for them.
    FINAL_STATUS = "final_status", _("Abschließender Status von Hand gesetzt")
    PROCESS_ENDED = "process_ended", _("Verfahren von Hand beendet")


class OutboxState(models.TextChoices):
    """Where a message stands, as staff read it (derived from its fields: `outbox.outbox_state`)."""

    PENDING = "pending", _("Wartet auf Versand")
    RETRYING = "retrying", _("Fehlgeschlagen, wird erneut versucht")
    FAILED = "failed", _("Endgültig fehlgeschlagen")
    SENT = "sent", _("Versandt")
    CANCELLED = "cancelled", _("Storniert (nicht versandt)")


class OutboxMessage(TenantModel):
    """A side effect to perform after commit; the idempotency key makes a repeated step a no-op."""

    # unique=True also gives a LIKE index, which the anonymisation's search by case reference prefix uses.
    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(_("Art"), max_length=8, choices=OutboxKind.choices)
    payload = models.JSONField(default=dict)
    # The process whose run queued it (a step's e-mail or call, a status e-mail of its set_status, a
    # reminder of one of its tasks); None for everything else (receipt, account e-mails, staff's own).
    # A final status set by hand cancels the case's unsent e-mails, found by it and by their keys
    # (`outbox.outbox_cancel_for_case`). Indexed below, without the NULLs.
    instance = models.ForeignKey(ProcessInstance, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="outbox_messages", db_index=False, verbose_name=_("Prozessinstanz"))
    # The decision letter the e-mail tells her about: one the process queued in the move that wrote the
    # letter, after it (its notify_citizen, set_status or payment e-mail), or ours announcing a letter
    # staff added (`cases.services._decision_provided_email`). It shares its letter's fate when staff
    # decide the case by hand: it goes if the letter stands, it is cancelled if the letter is
    # overruled (`outbox.outbox_cancel_for_case`). Indexed below, without the NULLs.
    letter = models.ForeignKey("cases.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               db_index=False, verbose_name=_("Bescheid"))
    created_at = models.DateTimeField(_("erstellt am"), auto_now_add=True)
    sent_at = models.DateTimeField(_("versandt am"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("Versuche"), default=0)
    last_error = models.TextField(_("letzter Fehler"), blank=True)
    # After a failed attempt: not before this time again (outbox.retry_delay); None after a failure: given up.
    next_attempt_at = models.DateTimeField(_("nächster Versuch"), null=True, blank=True)
    # Set once, never cleared: a cancelled message is never sent (not by its job, the sweep or a retry).
    cancelled_at = models.DateTimeField(_("storniert am"), null=True, blank=True)
    cancel_reason = models.CharField(_("Grund der Stornierung"), max_length=20, choices=OutboxCancelReason.choices,
                                     blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["sent_at", "id"]),
            # Only a process's messages: the receipts and other e-mails (most rows) stay out of it.
            models.Index(fields=["instance"], condition=Q(instance__isnull=False), name="outbox_instance_idx"),
            models.Index(fields=["letter"], condition=Q(letter__isnull=False), name="outbox_letter_idx"),
        ]
        verbose_name = _("Nachricht im Postausgang")
        verbose_name_plural = _("Postausgang")

    def __str__(self) -> str:
        return self.idempotency_key


# Timeline lines that are a person's own act (a task completed, claimed, handed on, a message she
# delivered, a process ended or retried by hand, a final status set by hand that held back e-mails
# of a case whose process had ended or that has none). Every other line is the process's own work, even
# when a person's act set the run going: it is shown as done automatically, not under her name.
PERSON_EVENT_KINDS = frozenset({
    "user_task_completed", "message_received", "task_result", "task_claimed", "task_assigned", "task_delegated",
    "task_returned", "process_ended", "emails_held_back", "retried", "decision_retrieved", "decision_posted",
})


class CaseEvent(TenantModel):
    """One line of the case timeline: an automatic step, a decision or a human action, in plain words."""

    # Indexed by (application, id) below, which serves every look-up by application.
    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="case_events",
                                    db_index=False)
    instance = models.ForeignKey(ProcessInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    element_id = models.CharField(max_length=200, blank=True)
    text = models.CharField(max_length=1000)
    # Decisions the citizen may read ("why was this decided"): the rule annotation in plain words.
    public = models.BooleanField(default=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["application", "id"])]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def automatic(self) -> bool:
        """Whether the process did this by itself (the timeline says "automatisch", not a name)."""
        return self.kind not in PERSON_EVENT_KINDS


def _document_path(instance, filename: str) -> str:
    """Upload path of the former CaseDocument model (documents moved to `rathaus.cases`); migration 0001 names it."""
    return f"documents/{instance.municipality_id}/{instance.application_id}/{filename}"


class ReceivedMessage(TenantModel):
    """A message delivered through the API with an Idempotency-Key: a repeated request is recognised.

    A back-office system that gets no answer (a timeout) sends the same message again; with the key
    the repetition changes nothing and is answered as the first was, also where the process now
    waits for a second message of the same name that the repetition must not answer.
    """

    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=200)
    # SHA-256 of the case, the message's name and its payload: the same key with another request is a conflict.
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["municipality", "idempotency_key"],
                                               name="received_message_key_unique")]

    def __str__(self) -> str:
        return self.idempotency_key
