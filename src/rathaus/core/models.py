"""Base models shared by every app: tenant ownership and the audit log."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TenantQuerySet(models.QuerySet):
    """Querysets of tenant-owned rows; selectors always start from `for_municipality`."""

    def for_municipality(self, municipality):
        if municipality is None:
            # A missing tenant must never widen a query to every municipality.
            raise ValueError("municipality is required")
        return self.filter(municipality=municipality)


class TenantModel(models.Model):
    """A row owned by one municipality."""

    municipality = models.ForeignKey(
        "tenants.Municipality", on_delete=models.PROTECT, related_name="+", verbose_name=_("Kommune")
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class AuditEntry(models.Model):
    """Append-only record of a login or a write: who, what, when, in which municipality."""

    # Indexed by (municipality, -id) below, which serves every look-up by municipality too.
    municipality = models.ForeignKey(
        "tenants.Municipality", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Hash chain per municipality (see audit.py): each entry commits to its predecessor, so a
    # changed or deleted row breaks every later hash (`rathaus verify-audit`).
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")
    # SHA-256 of summary and data. Where it is set, the chain's hash covers it instead of them, so
    # retention can erase what they say about a person (`audit_redact`) and the chain still
    # verifies; `verify-audit` checks them against it as long as they are not redacted. NULL:
    # entries written before it existed, and those a submission writes in one statement, which
    # hold nothing about the person but ids (their hash covers summary and data themselves). NULL
    # rather than "": that statement leaves NULL columns out and must stay within psycopg's cache
    # of converted queries (core/sql.py insert_select).
    content_digest = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: no digest, see above
    # When summary and data were erased (retention); a later "audit.redacted" entry names it.
    redacted_at = models.DateTimeField(null=True, blank=True)
    # SHA-256 of a random salt and the IP address. Where it is set, the chain's hash covers it
    # instead of the address, so the address can be erased after RATHAUS_AUDIT_IP_DAYS together
    # with the salt (`audit_erase_ips`); without the salt the digest tells nothing about the address.
    # NULL: no address, or an entry written before it existed (its hash covers the address itself).
    ip_digest = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: no digest, see above
    ip_salt = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001 - NULL once the address is erased

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        # Plain indexes (db_index on a CharField would add one for LIKE, which nothing uses).
        indexes = [models.Index(fields=["municipality", "-id"]), models.Index(fields=["object_type", "object_id"]),
                   models.Index(fields=["action"], name="auditentry_action_idx")]
        verbose_name = _("Protokolleintrag")
        verbose_name_plural = _("Protokoll")

    def __str__(self) -> str:
        return f"{timezone.localtime(self.created_at):%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")


class AuditChainHead(models.Model):
    """The last hash of one audit chain (one per municipality, one for entries without).

    Appending locks this row (`select_for_update`), so concurrent writers of one municipality
    extend the chain one after another while other municipalities are not blocked.
    """

    key = models.CharField(max_length=40, unique=True)
    last_hash = models.CharField(max_length=64, blank=True, default="")
    last_entry_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class RateCounter(models.Model):
    """Requests counted per key (e.g. one client address on one endpoint) in fixed time windows.

    Kept in the database, so every web process and host counts together without a shared cache
    server. On PostgreSQL the table is UNLOGGED: counters need no crash safety, and writing them
    costs no WAL. Rows of past windows are pruned by a periodic job (`core.tasks.prune_rate_counters`).
    """

    key = models.CharField(max_length=200, primary_key=True)
    # The end, not the start: a row can be pruned once its window is over, whatever the rate's period.
    window_end = models.BigIntegerField(help_text="End of the counted window, in seconds since the epoch.")
    hits = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} until {self.window_end}"


class PeriodicRun(models.Model):
    """When each periodic job last ran; a conditional UPDATE lets exactly one worker claim a run."""

    name = models.CharField(max_length=100, unique=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class OrderedJSONField(models.TextField):
    """JSON kept as text, so key order survives on PostgreSQL.

    PostgreSQL's jsonb reorders object keys; for a form schema the order of properties *is* the
    order of steps and fields, so such documents are stored verbatim.
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return value

    def get_prep_value(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


class EncryptedTextField(models.TextField):
    """Text stored encrypted (core/crypto.py) and read back in plain; for secrets the app must use.

    Lookups by value do not work (each encryption differs); the value is never logged or shown.
    """

    def from_db_value(self, value, expression, connection):
        from .crypto import decrypt

        return None if value is None else decrypt(value)

    def get_prep_value(self, value):
        from .crypto import encrypt, is_encrypted

        value = super().get_prep_value(value)
        return value if value in (None, "") or is_encrypted(value) else encrypt(value)
