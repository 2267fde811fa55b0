"""Domain events (the transactional outbox of the integration layer) and staff API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import EncryptedTextField, TenantModel


def url_without_query(url: str) -> str:
    """Where a webhook goes, without query and fragment: receivers sometimes put an access key there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


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

    # No index of its own: the indexes in Meta start with it (one index less to write per row).
    municipality = models.ForeignKey("tenants.Municipality", on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("Kommune"), db_index=False)
    kind = models.CharField(_("Ereignis"), max_length=40, choices=EventKind.choices)
    application = models.ForeignKey("applications.Application", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="domain_events")
    reference = models.CharField(_("Vorgangsnummer"), max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # A plain index on kind (db_index would add one for LIKE, which nothing uses).
        indexes = [models.Index(fields=["municipality", "id"]), models.Index(fields=["kind"], name="domainevent_kind_idx")]

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


class SubscriptionKind(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook (HTTP)")
    EMAIL = "email", _("E-Mail an ein Amt")


class Subscription(TenantModel):
    """A receiver of a municipality's domain events: a signed webhook or an office's e-mail address.

    Subscriptions are never deleted (their delivery log stays); deactivating one stops it for good.
    """

    name = models.CharField(_("Bezeichnung"), max_length=100)
    kind = models.CharField(_("Art"), max_length=10, choices=SubscriptionKind.choices, default=SubscriptionKind.WEBHOOK)
    url = models.URLField(_("Adresse (URL)"), max_length=500, blank=True)
    email = models.EmailField(_("E-Mail-Adresse"), blank=True)
    # Empty list: every kind of event.
    event_kinds = models.JSONField(_("Ereignisse"), default=list, blank=True)
    active = models.BooleanField(_("aktiv"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    # Every event up to this id has been fanned out to this subscription (see services.deliveries_fan_out).
    fanout_floor = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-active", "name", "id"]
        indexes = [models.Index(fields=["municipality", "active"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.shown_target})"

    @property
    def target(self) -> str:
        return self.url if self.kind == SubscriptionKind.WEBHOOK else self.email

    @property
    def shown_target(self) -> str:
        """The target as pages and downloads show it: a webhook's URL without the query string,
        which may hold the receiver's credentials."""
        return url_without_query(self.url) if self.kind == SubscriptionKind.WEBHOOK else self.email


class SubscriptionSecret(TenantModel):
    """A signing secret of a webhook, shown once. HMAC needs the value itself, so it is stored
    encrypted with a key derived from SECRET_KEY (core/crypto.py), not hashed.

    After a rotation the old secret gets `expires_at` (the grace period); until then deliveries
    carry a signature for each secret that is still valid.
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="secrets")
    secret = EncryptedTextField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        # Never the secret itself: this string ends up in logs and the admin.
        return f"secret #{self.pk} of subscription {self.subscription_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("ausstehend")
    SENDING = "sending", _("wird gesendet")
    DELIVERED = "delivered", _("zugestellt")
    FAILED = "failed", _("fehlgeschlagen")
    CANCELLED = "cancelled", _("abgebrochen")


class Delivery(TenantModel):
    """One event for one subscriber: retried with backoff until it is delivered or the cut-off is reached."""

    event = models.ForeignKey(DomainEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event: the per-case log and the per-case ordering read it without a join.
    application = models.ForeignKey("applications.Application", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    state = models.CharField(_("Zustand"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(_("Versuche"), default=0)
    next_attempt_at = models.DateTimeField(_("nächster Versuch"), null=True, blank=True)
    # Start of the current retry cycle (creation or the last manual resend): the age cut-off counts from here.
    cycle_started_at = models.DateTimeField()
    # A worker that claimed the delivery owns it until then; after a crash another one takes over.
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(_("zugestellt am"), null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(_("letzte Antwort (HTTP)"), null=True, blank=True)
    last_error = models.TextField(_("letzter Fehler"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["event", "subscription"], name="delivery_event_subscription_unique")]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["subscription", "state", "event"]),
            models.Index(fields=["municipality", "state", "-id"]),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class DeliveryAttempt(TenantModel):
    """One try of a delivery: when, how long, what the receiver answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
