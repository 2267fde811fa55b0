"""Applications (Anträge): what a citizen submitted and its status history (documents: `rathaus.cases`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import TenantModel


class Status(models.TextChoices):
    RECEIVED = "received", _("Eingegangen")
    IN_REVIEW = "in_review", _("In Bearbeitung")
    WAITING = "waiting", _("Rückfrage an Sie")
    # Not a question to her: a fee she is asked to pay before the decision is handed over.
    PAYMENT_DUE = "payment_due", _("Zahlung offen")
    APPROVED = "approved", _("Bewilligt")
    REJECTED = "rejected", _("Abgelehnt")
    WITHDRAWN = "withdrawn", _("Zurückgezogen")
    CLOSED = "closed", _("Abgeschlossen")


OPEN_STATUSES = (Status.RECEIVED, Status.IN_REVIEW, Status.WAITING, Status.PAYMENT_DUE)
FINAL_STATUSES = (Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.CLOSED)

# What the citizen reads when staff change the status without writing their own text.
DEFAULT_PUBLIC_TEXT = {
    Status.RECEIVED: _("Ihr Antrag ist eingegangen und wird bald bearbeitet."),
    Status.IN_REVIEW: _("Ihr Antrag wird gerade bearbeitet."),
    Status.WAITING: _("Wir brauchen noch etwas von Ihnen. Bitte lesen Sie die Nachricht der Behörde."),
    Status.PAYMENT_DUE: _("Bitte bezahlen Sie die Gebühr. Betrag, Frist und Verwendungszweck stehen in der Nachricht "
                          "der Behörde."),
    Status.APPROVED: _("Ihr Antrag wurde bewilligt."),
    Status.REJECTED: _("Ihr Antrag wurde abgelehnt. Die Begründung erhalten Sie mit dem Bescheid."),
    Status.WITHDRAWN: _("Der Antrag wurde zurückgezogen."),
    Status.CLOSED: _("Der Vorgang ist abgeschlossen."),
}


class Channel(models.TextChoices):
    ONLINE = "online", _("Online")
    OFFICE = "office", _("Vor Ort im Bürgerbüro")
    PAPER = "paper", _("Papierantrag")
    PHONE = "phone", _("Telefonisch")


class ReferenceCounter(TenantModel):
    """Next number for readable references per municipality and year (MUS-2026-000123)."""

    year = models.PositiveIntegerField()
    value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["municipality", "year"], name="reference_counter_unique")]


class Application(TenantModel):
    # No index of its own: the indexes in Meta start with it (one index less to write per row).
    municipality = models.ForeignKey("tenants.Municipality", on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("Kommune"), db_index=False)
    service = models.ForeignKey("catalog.Service", on_delete=models.PROTECT, related_name="applications",
                                verbose_name=_("Leistung"))
    form = models.ForeignKey("rathaus_forms.FormDefinition", on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(_("Vorgangsnummer"), max_length=20)
    status = models.CharField(_("Status"), max_length=12, choices=Status.choices, default=Status.RECEIVED)
    channel = models.CharField(_("Eingangskanal"), max_length=8, choices=Channel.choices, default=Channel.ONLINE)
    data = models.JSONField(_("Antragsdaten"))
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="applications", verbose_name=_("Konto"))
    applicant_name = models.CharField(_("Name"), max_length=200, blank=True)
    applicant_email = models.EmailField(_("E-Mail"), blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("erfasst von"))
    # Never looked up by value (the token is derived from it and compared after the reference): no index.
    access_token_hash = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(_("eingegangen am"), db_index=True)
    due_date = models.DateField(_("Richtwert erledigt bis"), db_index=True)
    closed_at = models.DateTimeField(_("abgeschlossen am"), null=True, blank=True)
    # When the applicant consented to notice of decision letters by retrieval online (§ 41 (2a)
    # VwVfG); empty: no consent, so a decision letter is given notice by post.
    retrieval_consent_at = models.DateTimeField(_("Einwilligung in den Abruf von Bescheiden am"), null=True,
                                                blank=True)
    # Last change a back-office system should notice (submission, status, document, anonymisation):
    # the order of the staff API's case list, so it is a column with an index, not a subquery.
    updated_at = models.DateTimeField(_("zuletzt geändert"))
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "reference"], name="application_reference_unique"),
            models.UniqueConstraint(fields=["municipality", "idempotency_key"], name="application_idempotency_unique"),
        ]
        indexes = [
            models.Index(fields=["municipality", "status", "-submitted_at"]),
            models.Index(fields=["municipality", "-submitted_at", "-id"]),
            models.Index(fields=["municipality", "updated_at", "id"], name="application_municip_upd_idx"),
            # A plain index: db_index on a CharField adds a second one for LIKE, which nothing uses
            # and every submission would have to write.
            models.Index(fields=["status"], name="application_status_idx"),
        ]
        verbose_name = _("Antrag")
        verbose_name_plural = _("Anträge")

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return reverse("applications:staff_detail", kwargs={"municipality": self.municipality.slug, "reference": self.reference})

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def retrieval_consent(self) -> bool:
        """Whether decision letters may be given notice by being retrieved online (§ 41 (2a) VwVfG)."""
        return self.retrieval_consent_at is not None

    @property
    def takes_documents(self) -> bool:
        """Open and not anonymised: documents can still be requested and handed in."""
        return self.is_open and self.anonymised_at is None


class StatusChange(TenantModel):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="history")
    status = models.CharField(_("Status"), max_length=12, choices=Status.choices)
    public_text = models.TextField(_("Nachricht an die antragstellende Person"), max_length=2000)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class Note(TenantModel):
    """An internal note by staff; never shown to the citizen."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(_("Notiz"), max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


def _attachment_path(instance, filename: str) -> str:
    """Upload path of the former Attachment model (documents moved to `rathaus.cases`); migration 0001 names it."""
    return f"attachments/{instance.municipality_id}/{instance.sha256[:2]}/{instance.sha256}"


class Draft(TenantModel):
    """A form in progress: "save and continue later" keeps it under an unguessable token."""

    service = models.ForeignKey("catalog.Service", on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, unique=True)
    data = models.JSONField(default=dict)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.ONLINE)
    assisted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(db_index=True)
    # Applying on behalf of someone else (as RepresentationData.as_json); kept apart from the form data.
    representation = models.JSONField(null=True, blank=True)


class MandateKind(models.TextChoices):
    PARENT = "parent", _("Elternteil für ein Kind")
    GUARDIAN = "guardian", _("Vormund oder rechtliche Betreuung")
    COMPANY = "company", _("Vertretung eines Unternehmens")
    AUTHORISED = "authorised", _("Bevollmächtigte Person")


#: The outbox composer of the receipt e-mail (registered by tasks.receipt_email, named in stored payloads).
RECEIPT_COMPOSER = "application-receipt"
#: The outbox composer of the e-mail about a new status (tasks.status_email).
STATUS_COMPOSER = "application-status"

#: Mandates for a person (a child, someone under guardianship): their birth date identifies them.
BIRTH_DATE_MANDATES = (MandateKind.PARENT, MandateKind.GUARDIAN)


class Representation(TenantModel):
    """An application made on behalf of someone else: who acted, for whom, and under which mandate.

    Both persons are stored as they were stated at submission (a snapshot), so the case keeps them
    even if an account changes later.
    """

    application = models.OneToOneField(Application, on_delete=models.CASCADE, related_name="representation")
    kind = models.CharField(_("Art der Vertretung"), max_length=12, choices=MandateKind.choices)
    representative_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                            related_name="+")
    representative_name = models.CharField(_("Name der vertretenden Person"), max_length=200)
    representative_email = models.EmailField(_("E-Mail der vertretenden Person"), blank=True)
    principal_name = models.CharField(_("Name der vertretenen Person oder Firma"), max_length=200)
    principal_birth_date = models.DateField(_("Geburtsdatum der vertretenen Person"), null=True, blank=True)
    principal_register_number = models.CharField(_("Registernummer (Unternehmen)"), max_length=50, blank=True)
    principal_address = models.CharField(_("Anschrift der vertretenen Person oder Firma"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Vertretung")
        verbose_name_plural = _("Vertretungen")

    def __str__(self) -> str:
        return f"{self.representative_name} → {self.principal_name}"
