"""Domain events (the transactional outbox of the integration layer) and staff API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import TenantModel


class EventKind(models.TextChoices):
    APPLICATION_SUBMITTED = "application.submitted", _("Antrag eingegangen")
    STATUS_CHANGED = "application.status_changed", _("Status geändert")
    DECISION_ISSUED = "decision.issued", _("Bescheid erlassen")
    DOCUMENT_ADDED = "document.added", _("Dokument hinzugefügt")


class DomainEvent(TenantModel):
    """Something that happened to a case, written in the same transaction as the change itself.

    The id is the cursor of the "events since" API: ids only grow, so a client that remembers the
    last id it saw misses nothing and sees nothing twice.
    """

    kind = models.CharField(_("Ereignis"), max_length=40, choices=EventKind.choices, db_index=True)
    application = models.ForeignKey("applications.Application", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="domain_events")
    reference = models.CharField(_("Vorgangsnummer"), max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["municipality", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class ApiToken(TenantModel):
    """A staff API token: one municipality, a set of permissions; only its SHA-256 is stored."""

    name = models.CharField(_("Bezeichnung"), max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    permissions = models.JSONField(_("Berechtigungen"), default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("gültig bis"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
