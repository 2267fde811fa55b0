"""The case file (E-Akte): one per application, with versioned documents, document requests,
retention rules per document type and case result, and legal holds."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rathaus.applications.models import FINAL_STATUSES
from rathaus.core.models import TenantModel


class DocumentType(models.TextChoices):
    APPLICATION_FORM = "application_form", _("Antragsformular/Eingangsbestätigung")
    PROOF = "proof", _("Nachweis")
    DECISION = "decision", _("Bescheid")
    CORRESPONDENCE = "correspondence", _("Schriftverkehr")
    OTHER = "other", _("Sonstiges")


class Confidentiality(models.TextChoices):
    PUBLIC = "public", _("öffentlich für Antragsteller/in")
    INTERNAL = "internal", _("intern")
    CONFIDENTIAL = "confidential", _("vertraulich")


class Source(models.TextChoices):
    CITIZEN_ONLINE = "citizen_online", _("Antragsteller/in, mit dem Antrag")
    CITIZEN_LATER = "citizen_later", _("Antragsteller/in, nachgereicht")
    STAFF = "staff", _("Verwaltung")
    GENERATED = "generated", _("automatisch erstellt")


#: The case results retention classes distinguish (the final statuses of an application).
OUTCOMES = tuple(str(status) for status in FINAL_STATUSES)

# Days after a case closed until a document of the type goes (None: it stays with the case until
# the whole application is anonymised after the service's retention period, which also ends the
# case file). Proofs and other papers are only needed for the decision and the objection period;
# after a withdrawal nothing was decided on them.
DEFAULT_RETENTION_DAYS: dict[tuple[str, str], int | None] = {
    **{(DocumentType.PROOF, outcome): 365 for outcome in OUTCOMES},
    **{(DocumentType.OTHER, outcome): 365 for outcome in OUTCOMES},
    (DocumentType.PROOF, "withdrawn"): 90,
    (DocumentType.OTHER, "withdrawn"): 90,
}


class DocumentRequest(TenantModel):
    """Staff ask the citizen for missing documents: what, why, until when."""

    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="document_requests")
    # One entry per requested document, in the order staff wrote them ("Personalausweis, Rückseite").
    items = models.JSONField(_("Angeforderte Unterlagen"), default=list)
    message = models.TextField(_("Nachricht an die antragstellende Person"), max_length=2000)
    deadline = models.DateField(_("Frist"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    fulfilled_at = models.DateTimeField(_("erfüllt am"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("zurückgenommen am"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["application", "fulfilled_at", "cancelled_at"])]
        verbose_name = _("Nachforderung")
        verbose_name_plural = _("Nachforderungen")

    def __str__(self) -> str:
        return ", ".join(self.items)[:80]

    @property
    def is_open(self) -> bool:
        return self.fulfilled_at is None and self.cancelled_at is None


class Document(TenantModel):
    """One document of a case file; its content lives in one or more versions."""

    # No index of its own: the indexes in Meta start with it (one index less to write per row).
    municipality = models.ForeignKey("tenants.Municipality", on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("Kommune"), db_index=False)
    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="documents")
    document_type = models.CharField(_("Art"), max_length=20, choices=DocumentType.choices, default=DocumentType.OTHER)
    title = models.CharField(_("Bezeichnung"), max_length=200)
    confidentiality = models.CharField(_("Vertraulichkeit"), max_length=12, choices=Confidentiality.choices,
                                       default=Confidentiality.INTERNAL)
    source = models.CharField(_("Herkunft"), max_length=16, choices=Source.choices)
    # The form field a citizen's file belongs to ("reduction/proof"), if any.
    form_field = models.CharField(_("Formularfeld"), max_length=300, blank=True)
    # Set for documents a job or process step writes, so a retried step does not write it twice.
    # Unique (see Meta; unique=True would add a LIKE index nothing uses).
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request = models.ForeignKey(DocumentRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents")
    request_item = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("erstellt von"))
    created_at = models.DateTimeField(_("erstellt am"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="document_idempotency_key_unique")]
        indexes = [models.Index(fields=["municipality", "document_type"])]
        verbose_name = _("Dokument")
        verbose_name_plural = _("Dokumente")

    def __str__(self) -> str:
        return self.title

    @property
    def latest_version(self) -> DocumentVersion | None:
        """The newest version (from prefetched versions where the selector loaded them)."""
        versions = list(self.versions.all())
        return max(versions, key=lambda v: v.number) if versions else None


def version_path(instance: DocumentVersion, filename: str) -> str:
    # Never the citizen's file name on disk (it is data only); ids and the hash make the name unique.
    # One directory per case, not per document: a new document then needs no new directory (a
    # directory costs more than the file written into it). Older versions keep the paths they were
    # stored under (cases/<town>/<case>/<document>/v<n>-<hash>).
    document = instance.document
    return (f"cases/{document.municipality_id}/{document.application_id}/"
            f"{document.pk}-v{instance.number}-{instance.sha512[:32]}")


class DocumentVersion(TenantModel):
    """The content of a document at one point; a new version never replaces an old one."""

    # Indexed by the unique (document, number) constraint below.
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions", db_index=False)
    number = models.PositiveIntegerField(_("Version"))
    file = models.FileField(upload_to=version_path, max_length=300)
    original_filename = models.CharField(_("ursprünglicher Dateiname"), max_length=255)
    filename = models.CharField(_("Dateiname"), max_length=120)
    content_type = models.CharField(_("Dateiformat"), max_length=100)
    size = models.PositiveBigIntegerField(_("Größe"))
    sha512 = models.CharField(max_length=128)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=_("hinzugefügt von"))
    created_at = models.DateTimeField(_("hinzugefügt am"), auto_now_add=True)

    class Meta:
        ordering = ["document", "number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="document_version_number_unique")]
        verbose_name = _("Dokumentversion")
        verbose_name_plural = _("Dokumentversionen")

    def __str__(self) -> str:
        return f"{self.filename} (v{self.number})"


class RetentionRule(TenantModel):
    """How long documents of one type stay after a case closed with one result (a tenant's override).

    `days` empty means: kept with the case until the whole application is anonymised after the
    service's retention period.
    """

    document_type = models.CharField(_("Art"), max_length=20, choices=DocumentType.choices)
    outcome = models.CharField(_("Ergebnis"), max_length=12)
    days = models.PositiveIntegerField(_("Tage nach Abschluss"), null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["municipality", "document_type", "outcome"],
                                               name="retention_rule_unique")]
        verbose_name = _("Aufbewahrungsregel")
        verbose_name_plural = _("Aufbewahrungsregeln")

    def __str__(self) -> str:
        return f"{self.document_type}/{self.outcome}: {self.days}"


class LegalHold(TenantModel):
    """A legal hold (Aufbewahrungssperre): while active, nothing of the case is deleted or anonymised."""

    application = models.ForeignKey("applications.Application", on_delete=models.CASCADE, related_name="legal_holds")
    reason = models.TextField(_("Grund"), max_length=1000)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    set_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(_("Grund der Aufhebung"), max_length=1000, blank=True)

    class Meta:
        ordering = ["-set_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["application"], condition=Q(released_at__isnull=True),
                                               name="one_active_legal_hold_per_application")]
        verbose_name = _("Aufbewahrungssperre")
        verbose_name_plural = _("Aufbewahrungssperren")

    def __str__(self) -> str:
        return self.reason[:60]

    @property
    def is_active(self) -> bool:
        return self.released_at is None


#: Days a decision letter stays provided for retrieval (§ 41 (2a) sentence 4 VwVfG).
RETRIEVAL_DAYS = 10
#: A letter sent by post is deemed notified on this day after posting (§ 41 (2) VwVfG).
POSTAL_NOTICE_DAYS = 4
#: Months to object to a letter or to sue against it after its notice (§§ 70, 74 VwGO).
REMEDY_MONTHS = 1


class DecisionNotice(TenantModel):
    """How a decision letter of the case file is given notice (Bekanntgabe).

    With the applicant's consent it is provided for retrieval online and deemed notified on the day
    after her first download (§ 41 (2a) VwVfG). Without consent, or when she does not retrieve it
    within 10 days, the provision ends and staff give notice by post (deemed notified on the fourth
    day after posting, § 41 (2)). One row per public decision document, written when it is added.
    """

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="notice")
    provided_at = models.DateTimeField(_("bereitgestellt am"))
    # The last day she may retrieve it (the 10 days, moved to a working day); empty without consent.
    retrieve_by = models.DateField(_("abrufbar bis"), null=True, blank=True)
    retrieved_at = models.DateTimeField(_("abgerufen am"), null=True, blank=True)
    provision_ended_at = models.DateTimeField(_("Bereitstellung beendet am"), null=True, blank=True)
    # Since when it waits for staff to post it (no consent, or the provision ended).
    post_due_since = models.DateTimeField(_("per Post bekannt zu geben seit"), null=True, blank=True)
    posted_on = models.DateField(_("per Post versandt am"), null=True, blank=True)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("versandt von"))
    # Withdrawn before it was notified: staff decided the case by hand against it (see
    # `decision_notices_withdraw`); it is then given notice no more, neither by retrieval nor by post.
    withdrawn_at = models.DateTimeField(_("zurückgezogen am"), null=True, blank=True)
    withdrawn_reason = models.CharField(_("Grund der Zurückziehung"), max_length=300, blank=True)
    # What the letter asks her to pay, as it says it (the process's issue_decision): the amount, by
    # transfer to the account with the reference, within days or months counted from the notice. The
    # letter can name no date, as the notice comes later; kept here, the day to pay is shown once the
    # notice date is known. Empty for a letter that asks for nothing, one staff added (its terms are
    # in its PDF only), and letters written before the terms were kept.
    amount_due = models.DecimalField(_("zu zahlender Betrag"), max_digits=12, decimal_places=2, null=True, blank=True)
    payment_days = models.PositiveSmallIntegerField(_("Zahlungsfrist in Tagen nach Bekanntgabe"), null=True, blank=True)
    payment_months = models.PositiveSmallIntegerField(_("Zahlungsfrist in Monaten nach Bekanntgabe"), null=True,
                                                      blank=True)
    payment_reference = models.CharField(_("Verwendungszweck"), max_length=100, blank=True)
    # «Stadtkasse Musterstadt, IBAN … (BIC …)» as the letter printed it; empty when the town had none.
    payment_account = models.CharField(_("Bankverbindung"), max_length=300, blank=True)

    class Meta:
        ordering = ["provided_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(payment_days__isnull=True) | Q(payment_months__isnull=True),
                                              name="notice_one_period_to_pay")]
        indexes = [
            # The worker's sweep: provisions whose 10 days are over (only the open ones are indexed).
            models.Index(fields=["retrieve_by"], name="notice_retrieval_open_idx",
                         condition=Q(retrieve_by__isnull=False, retrieved_at__isnull=True,
                                     provision_ended_at__isnull=True)),
            # The town's work list of letters to post.
            models.Index(fields=["municipality", "post_due_since"], name="notice_post_due_idx",
                         condition=Q(post_due_since__isnull=False, posted_on__isnull=True, withdrawn_at__isnull=True)),
        ]
        verbose_name = _("Bekanntgabe eines Bescheids")
        verbose_name_plural = _("Bekanntgaben von Bescheiden")

    def __str__(self) -> str:
        return f"{self.document_id}: {self.state}"

    @property
    def notice_date(self) -> date | None:
        """The day the letter is deemed notified (from it the objection period runs), once known."""
        if self.retrieved_at is not None:
            return timezone.localdate(self.retrieved_at) + timedelta(days=1)
        if self.posted_on is not None:
            return self.posted_on + timedelta(days=POSTAL_NOTICE_DAYS)
        return None

    @property
    def asks_payment(self) -> bool:
        """Whether the letter's payment terms are kept (an amount and a period counted from the notice)."""
        return self.amount_due is not None and bool(self.payment_days or self.payment_months)

    @property
    def state(self) -> str:
        """provided (waiting for her download), retrieved, post_due (to be posted), posted or withdrawn.

        Read with the town's today (Europe/Berlin): a provision whose last day has passed is over
        (post_due) even before the hourly sweep has ended it, as `decision_retrieval_record`
        refuses a retrieval from then on.
        """
        if self.retrieved_at is not None:
            return "retrieved"
        if self.posted_on is not None:
            return "posted"
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.post_due_since is not None or self.lapsed:
            return "post_due"
        return "provided"

    @property
    def lapsed(self) -> bool:
        """Whether the provision's last day has passed unretrieved (swept or not yet)."""
        return (self.retrieve_by is not None and self.retrieved_at is None
                and (self.provision_ended_at is not None or self.retrieve_by < timezone.localdate()))
