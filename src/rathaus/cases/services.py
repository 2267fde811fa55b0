"""Every write on the case file: documents and versions, requests for documents, legal holds,
retention rules and the retention job. One function per use case, atomic, audited; files
written inside the transaction are removed again if it fails, and deleted files leave storage
only after the commit."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rathaus.applications.changes import application_touch
from rathaus.applications.models import Application
from rathaus.core.audit import audit_record
from rathaus.core.sql import insert_one, prepared_cursor

from . import selectors
from .files import discard_files_on_error, file_written, files_delete_after_commit
from .models import (
    OUTCOMES,
    REMEDY_MONTHS,
    RETRIEVAL_DAYS,
    Confidentiality,
    DecisionNotice,
    Document,
    DocumentRequest,
    DocumentType,
    DocumentVersion,
    LegalHold,
    RetentionRule,
    Source,
)
from .uploads import KNOWN_TYPES, CheckedUpload, check_upload, sanitise_filename

logger = logging.getLogger(__name__)
RECEIPT_KEY = "receipt:{pk}"


class CaseFileError(Exception):
    """A request on the case file that cannot be done as asked; nothing changed."""

    def __init__(self, message_de: str, message_en: str = ""):
        super().__init__(message_en or message_de)
        self.message_de, self.message_en = message_de, message_en or message_de


@dataclass(frozen=True)
class Generated:
    """Bytes Rathaus made itself (a receipt, a decision letter): trusted, not run through the upload checks."""

    raw: bytes
    filename: str
    content_type: str = "application/pdf"

    def checked(self) -> CheckedUpload:
        name = sanitise_filename(self.filename, self.content_type) if self.content_type in KNOWN_TYPES else self.filename
        return CheckedUpload(raw=self.raw, content_type=self.content_type, filename=name, original_filename=self.filename,
                             size=len(self.raw), sha512=hashlib.sha512(self.raw).hexdigest())


@dataclass(frozen=True)
class PaymentTerms:
    """What a decision letter asks her to pay (the process's issue_decision): `amount` euros to
    `account` («Stadtkasse …, IBAN … (BIC …)», "" without one) with `reference`, within `days` or
    `months` of the letter's notice. Kept with its notice, which turns them into a day to pay."""

    amount: Decimal
    reference: str
    account: str
    days: int | None = None
    months: int | None = None


# ---------------------------------------------------------------- documents and versions

def _store_version(*, document: Document, number: int, upload: CheckedUpload, added_by=None) -> DocumentVersion:
    version = DocumentVersion(municipality_id=document.municipality_id, document=document, number=number,
                              original_filename=upload.original_filename[:255], filename=upload.filename[:120],
                              content_type=upload.content_type, size=upload.size, sha512=upload.sha512,
                              added_by=added_by if getattr(added_by, "is_authenticated", False) else None)
    version.file.save(f"v{number}", ContentFile(upload.raw), save=False)
    file_written(version.file.storage, version.file.name)
    return insert_one(version)


def _added(document: Document, version: DocumentVersion, *, actor=None, ip: str | None = None,
           actor_label: str = "") -> None:
    """Audit entry and domain event of a new document or version, in the caller's transaction."""
    from rathaus.integration.models import EventKind
    from rathaus.integration.services import application_event_data, event_emit

    application = document.application
    details = {"document": document.pk, "version": version.number, "document_type": document.document_type,
               "confidentiality": document.confidentiality, "source": document.source,
               "content_type": version.content_type, "size": version.size, "sha512": version.sha512}
    # A back-office system syncing "cases changed since" must see the new document too (the row's
    # lock before the audit chain's: see application_touch).
    application_touch(application)
    audit_record(action="case.document_added" if version.number == 1 else "case.version_added",
                 municipality=application.municipality, actor=actor, obj=document,
                 summary=f"{application.reference}: {document.get_document_type_display()} v{version.number}",
                 data=details, ip_address=ip, actor_label=actor_label)
    event_emit(municipality=application.municipality, kind=EventKind.DOCUMENT_ADDED, application=application,
               data=application_event_data(application, **details))


def document_add(*, application: Application, upload: CheckedUpload, title: str, document_type: str,
                 confidentiality: str, source: str, form_field: str = "", actor=None, ip: str | None = None,
                 idempotency_key: str | None = None, request: DocumentRequest | None = None,
                 request_item: int | None = None, actor_label: str = "") -> Document:
    """Add a document (version 1) to the case file of `application`; `upload` has passed the checks."""
    return _document_add(application=application, upload=upload, title=title, document_type=document_type,
                         confidentiality=confidentiality, source=source, form_field=form_field, actor=actor, ip=ip,
                         idempotency_key=idempotency_key, request=request, request_item=request_item,
                         actor_label=actor_label)[0]


def _document_add(*, application: Application, upload: CheckedUpload, title: str, document_type: str,
                  confidentiality: str, source: str, form_field: str = "", actor=None, ip: str | None = None,
                  idempotency_key: str | None = None, request: DocumentRequest | None = None,
                  request_item: int | None = None, actor_label: str = "",
                  payment: PaymentTerms | None = None) -> tuple[Document, DocumentVersion]:
    DocumentType(document_type)
    Confidentiality(confidentiality)
    Source(source)
    actor = actor if getattr(actor, "is_authenticated", False) else None
    # No savepoint inside a caller's transaction (a process step's): a failure here fails the
    # caller's write as a whole anyway. A caller that recovers from an error makes its own.
    with discard_files_on_error(), transaction.atomic(savepoint=False):
        document = insert_one(Document(
            municipality_id=application.municipality_id, application=application, document_type=document_type,
            title=(title.strip() or upload.filename)[:200], confidentiality=confidentiality, source=source,
            form_field=form_field[:300], idempotency_key=idempotency_key, request=request, request_item=request_item,
            created_by=actor))
        version = _store_version(document=document, number=1, upload=upload, added_by=actor)
        _added(document, version, actor=actor, ip=ip, actor_label=actor_label)
        if document_type == DocumentType.DECISION and confidentiality == Confidentiality.PUBLIC:
            _decision_provide(document, application, payment=payment)
    return document, version


def document_add_generated(*, application: Application, generated: Generated, title: str, document_type: str,
                           idempotency_key: str, confidentiality: str = Confidentiality.PUBLIC,
                           key_unused: bool = False, payment: PaymentTerms | None = None) -> Document:
    """Store a document Rathaus produced (once per key: a retried step or job returns the first).

    `key_unused` says the caller has just looked the key up and found no document (which saves
    the look-up here); a concurrent first use is caught by the key's unique constraint either way.
    `payment`: what a decision letter asks her to pay, kept with its notice.
    """
    existing = None if key_unused else Document.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    return _generated_add(application=application, generated=generated, title=title, document_type=document_type,
                          idempotency_key=idempotency_key, confidentiality=confidentiality, payment=payment)[0]


def _generated_add(*, application: Application, generated: Generated, title: str, document_type: str,
                   idempotency_key: str, confidentiality: str = Confidentiality.PUBLIC,
                   payment: PaymentTerms | None = None) -> tuple[Document, DocumentVersion]:
    return _document_add(application=application, upload=generated.checked(), title=title, document_type=document_type,
                         confidentiality=confidentiality, source=Source.GENERATED, idempotency_key=idempotency_key,
                         actor_label="rathaus", payment=payment)


def document_version_add(*, document: Document, filename: str, raw: bytes, declared_type: str | None = None,
                         actor, ip: str | None = None) -> DocumentVersion:
    """Staff add a new version of a document; the old versions stay. Raises UploadRefused.

    Raises CaseFileError for a decision letter that has a notice (provided, to be posted, notified
    or withdrawn): the notice and the objection period belong to the letter she was given, so a
    new version would change what was notified behind her back. A correction is a new document,
    which gets its own notice.
    """
    upload = check_upload(raw=raw, filename=filename, declared_type=declared_type)
    with discard_files_on_error(), transaction.atomic():
        locked = Document.objects.select_for_update().select_related("application__municipality").get(pk=document.pk)
        if DecisionNotice.objects.filter(document=locked).exists():
            raise CaseFileError(
                "Dieser Bescheid wird bereits bekannt gegeben oder ist bekannt gegeben und erhält keine neue Version. "
                "Legen Sie eine Berichtigung als neues Dokument an; es wird eigens bekannt gegeben.",
                "this decision letter is being or has been given notice and takes no new version; add a correction "
                "as a new document, which is given notice of its own")
        last = locked.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = _store_version(document=locked, number=last + 1, upload=upload, added_by=actor)
        _added(locked, version, actor=actor, ip=ip)
    return version


def document_upload_staff(*, application: Application, filename: str, raw: bytes, title: str, document_type: str,
                          confidentiality: str, actor, declared_type: str | None = None,
                          ip: str | None = None) -> Document:
    """Staff put a document into the case file (a letter received by post, a note of a call …)."""
    upload = check_upload(raw=raw, filename=filename, declared_type=declared_type)
    return document_add(application=application, upload=upload, title=title, document_type=document_type,
                        confidentiality=confidentiality, source=Source.STAFF, actor=actor, ip=ip)


def documents_from_submission(*, application: Application, files: Iterable[tuple[str, str, CheckedUpload]],
                              actor=None, ip: str | None = None) -> dict[str, Document]:
    """The files of a submitted form as documents (form field path → document), in the submission's transaction."""
    stored: dict[str, Document] = {}
    for form_field, label, upload in files:
        stored[form_field] = document_add(
            application=application, upload=upload, title=label or upload.filename, document_type=DocumentType.PROOF,
            confidentiality=Confidentiality.PUBLIC, source=Source.CITIZEN_ONLINE, form_field=form_field, actor=actor,
            ip=ip, actor_label="" if actor else "citizen")
    return stored


def citizen_document_add(*, application: Application, upload: CheckedUpload, request: DocumentRequest | None = None,
                         request_item: int | None = None, actor=None, ip: str | None = None) -> Document:
    """A citizen hands in a document later (status page); it answers `request` (item) if given.

    The request is marked fulfilled once every item has a document. Call inside the caller's
    transaction with the request locked (`request_for_upload`).
    """
    count = Document.objects.filter(application=application, source=Source.CITIZEN_LATER).count()
    title = _("Nachgereichte Unterlage")
    if request is not None and request_item is not None:
        title = request.items[request_item]
    document = document_add(application=application, upload=upload, title=str(title),
                            document_type=DocumentType.PROOF, confidentiality=Confidentiality.PUBLIC,
                            source=Source.CITIZEN_LATER, form_field=f"nachgereicht/{count + 1}", actor=actor, ip=ip,
                            request=request, request_item=request_item, actor_label="" if actor else "citizen")
    if request is not None and not selectors.request_missing_items(request=request):
        request.fulfilled_at = timezone.now()
        request.save(update_fields=["fulfilled_at"])
        audit_record(action="case.request_fulfilled", municipality=application.municipality, actor=actor, obj=request,
                     summary=f"{application.reference}: {len(request.items)} Unterlage(n) eingegangen", ip_address=ip,
                     actor_label="" if actor else "citizen")
    return document


def request_for_upload(*, application: Application, request_id: int | None, item: int | None
                       ) -> tuple[DocumentRequest | None, int | None]:
    """The open request (locked) and item an upload answers; the only open one if none is named.

    Raises CaseFileError for a closed application, an unknown request or item, or one already handed in.
    """
    if not application.takes_documents:
        raise CaseFileError("Dieser Antrag ist abgeschlossen. Unterlagen können nicht mehr nachgereicht werden.",
                            "this application is closed; documents can no longer be handed in")
    open_requests = DocumentRequest.objects.select_for_update().filter(
        application=application, fulfilled_at__isnull=True, cancelled_at__isnull=True).order_by("created_at", "id")
    if request_id is None:
        requests = list(open_requests[:2])
        if not requests:
            return None, None
        request = requests[0]
    else:
        request = open_requests.filter(pk=request_id).first()
        if request is None:
            raise CaseFileError("Diese Nachforderung ist nicht mehr offen.", "this request is no longer open")
    missing = selectors.request_missing_items(request=request)
    if item is None:
        if len(missing) != 1:
            raise CaseFileError("Bitte wählen Sie, welche Unterlage Sie hochladen.", "choose which document you upload")
        item = missing[0]
    if item not in missing:
        raise CaseFileError("Diese Unterlage ist schon eingegangen oder wurde nicht angefordert.",
                            "this document was handed in already or was not requested")
    return request, item


# ---------------------------------------------------------------- the receipt

def receipt_document_ensure(*, application: Application) -> DocumentVersion | None:
    """The receipt (Eingangsbestätigung) as version 1 in the case file, generated and stored the first time.

    Runs when the receipt is first fetched: the citizen's download from the receipt or status
    page, or staff's (the receipt e-mail carries only the link). Later calls return the stored
    file, so the citizen and staff have the same document. Nothing is stored for an anonymised
    application (None).
    """
    from rathaus.applications.pdf import receipt_pdf

    key = RECEIPT_KEY.format(pk=application.pk)
    existing = DocumentVersion.objects.filter(document__idempotency_key=key, number=1).select_related("document").first()
    if existing is not None or application.anonymised_at is not None:
        return existing
    generated = Generated(raw=receipt_pdf(application), filename=f"Eingangsbestaetigung-{application.reference}.pdf")
    try:
        # Just looked up and not found: stored directly, the key's unique constraint guarding the
        # race. Its own savepoint: inside a caller's transaction the look-up below must still run.
        with discard_files_on_error(), transaction.atomic():  # the file goes if the commit fails
            return _generated_add(application=application, generated=generated, title=_("Eingangsbestätigung"),
                                  document_type=DocumentType.APPLICATION_FORM, idempotency_key=key)[1]
    except IntegrityError:
        # A concurrent first download stored it a moment earlier.
        return DocumentVersion.objects.get(document__idempotency_key=key, number=1)


# ---------------------------------------------------------------- notice of decision letters (§ 41 VwVfG)

def _decision_provide(document: Document, application: Application, *, payment: PaymentTerms | None = None
                      ) -> DecisionNotice:
    """Record how a decision letter just added for the citizen is to be given notice (in the caller's transaction).

    With her consent it is provided for retrieval until the 10th day (§ 41 (2a) VwVfG; moved to the
    next working day as § 31 (3) moves the end of a period); counted from its provision, which comes
    no later than the e-mail telling her of it, so the provision never outlasts the law's. Without
    consent it goes straight onto the town's list of letters to post.
    """
    from rathaus.applications.services import first_working_day

    now = timezone.now()
    consent = application.retrieval_consent_at is not None
    # A letter a process step wrote is announced by the e-mail its model sends (nothing more on
    # that path); one added any other way (staff's upload) gets ours, and without an address to
    # send it to there is no notification, so no provision (§ 41 (2a) sentence 4): it goes to post.
    by_process = document.source == Source.GENERATED
    if consent and not by_process and not application.applicant_email:
        consent = False
    retrieve_by = (first_working_day(timezone.localdate(now) + timedelta(days=RETRIEVAL_DAYS),
                                     municipality=application.municipality) if consent else None)
    terms = {} if payment is None else {
        "amount_due": payment.amount, "payment_reference": payment.reference[:100],
        "payment_account": payment.account[:300], "payment_days": payment.days, "payment_months": payment.months}
    notice = insert_one(DecisionNotice(municipality_id=application.municipality_id, document=document,
                                       provided_at=now, retrieve_by=retrieve_by,
                                       post_due_since=None if consent else now, **terms))
    if consent and not by_process:
        _decision_provided_email(notice, application)
    return notice


def _my_status_url(application: Application) -> str:
    """The address of the case under "Meine Anträge" (her account), for an e-mail."""
    from django.conf import settings
    from django.urls import reverse

    return settings.SITE_URL.rstrip("/") + reverse("applications:my_status", kwargs={
        "municipality": application.municipality.slug, "reference": application.reference})


def _decision_provided_email(notice: DecisionNotice, application: Application) -> None:
    """Tell her that a letter is provided, which one and until when (once per document, through the outbox)."""
    from rathaus.processes.models import OutboxKind
    from rathaus.processes.outbox import outbox_add

    municipality = application.municipality
    url = _my_status_url(application)
    body = (f"Guten Tag,\n\nfür Ihren Antrag {application.reference} ({application.service.name}) steht ein Bescheid "
            f"für Sie bereit: „{notice.document.title}“.\n\nBitte melden Sie sich an und laden Sie ihn bis zum "
            f"{notice.retrieve_by:%d.%m.%Y} unter „Meine Anträge“ herunter:\n{url}\n\n"
            "Der Bescheid gilt am Tag nach dem ersten Herunterladen als bekannt gegeben; ab dann laufen die Fristen, "
            "zum Beispiel für einen Widerspruch. Laden Sie ihn bis dahin nicht herunter, schicken wir ihn Ihnen per "
            f"Post.\n\nMit freundlichen Grüßen\n{municipality.name}")
    outbox_add(municipality=municipality, key=decision_notice_email_key(notice.document_id), kind=OutboxKind.EMAIL,
               payload={"subject": f"Ihr Bescheid steht zum Abruf bereit: {application.reference}", "body": body,
                        "to": [application.applicant_email]}, letter_id=notice.document_id)


def _timeline(application: Application, *, kind: str, text: str, actor=None, data: dict | None = None) -> None:
    """A line of the case timeline (staff read it on the case page), in German as the timeline is kept."""
    from rathaus.processes.models import CaseEvent

    CaseEvent.objects.create(municipality_id=application.municipality_id, application=application, kind=kind,
                             text=text[:1000], actor=actor if getattr(actor, "is_authenticated", False) else None,
                             data=data or {})


def _letter(document: Document) -> str:
    """The letter as the timeline names it: its title where that says it is one («Hundesteuerbescheid»),
    else «Bescheid „Title“» (a case may have several letters)."""
    title = document.title.strip()
    return title if title.lower().endswith("bescheid") else f"Bescheid „{title}“"


def _notice_summary(notice: DecisionNotice) -> dict[str, Any]:
    return {"document": notice.document_id, "notice_date": notice.notice_date.isoformat() if notice.notice_date else None}


@dataclass(frozen=True)
class NoticeDates:
    """The days a notified decision letter sets: its notice, the last day of the period for a legal
    remedy, and the last day to pay (None for a letter whose payment terms were not kept)."""

    notice_date: date
    remedy_until: date
    pay_by: date | None


def notice_dates(notice: DecisionNotice, *, municipality) -> NoticeDates | None:
    """The concrete days of a letter once its notice date is known (retrieved or posted), else None.

    Both periods run from the notice: the legal remedy's month (§ 57 (2) VwGO with § 222 ZPO and
    § 188 (2), (3) BGB), the period to pay the letter names in days or months (§ 31 VwVfG with the
    same rules of the BGB); an end on a weekend or a public holiday of the town's state moves to the
    next working day. The remedy's month assumes the letter's instruction on remedies (every letter
    prints the town's); without one the period would be a year (§ 58 (2) VwGO).
    """
    from rathaus.applications.services import period_end

    notified = notice.notice_date
    if notified is None:
        return None
    pay_by = (period_end(notified, days=notice.payment_days or 0, months=notice.payment_months or 0,
                         municipality=municipality) if notice.asks_payment else None)
    return NoticeDates(notice_date=notified, remedy_until=period_end(notified, months=REMEDY_MONTHS,
                                                                      municipality=municipality), pay_by=pay_by)


def decision_retrieval_record(*, document: Document, actor=None, ip: str | None = None) -> DecisionNotice | None:
    """The citizen downloads a decision letter provided for retrieval: her first download is its retrieval.

    Recorded once (the first download only, also when two arrive at once) and only while the
    provision runs; the letter is then deemed notified on the next day (§ 41 (2a) sentence 3
    VwVfG). Returns the notice when this download was the retrieval, else None.
    """
    if document.document_type != DocumentType.DECISION:
        return None
    now = timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        # The conditional UPDATE is the gate: of two concurrent first downloads only one matches.
        if not DecisionNotice.objects.filter(document=document, retrieved_at__isnull=True, withdrawn_at__isnull=True,
                                             provision_ended_at__isnull=True, retrieve_by__gte=today
                                             ).update(retrieved_at=now):
            return None
        notice = DecisionNotice.objects.select_related("document__application__municipality").get(document=document)
        application = notice.document.application
        application_touch(application)
        _timeline(application, kind="decision_retrieved", data=_notice_summary(notice),
                  text=f"{_letter(notice.document)} abgerufen am {today:%d.%m.%Y}; er gilt am "
                       f"{notice.notice_date:%d.%m.%Y} als bekannt gegeben.")
        audit_record(action="case.decision_retrieved", municipality=application.municipality, actor=actor, obj=notice,
                     summary=f"{application.reference}: {notice.document.title} abgerufen, bekannt gegeben am "
                             f"{notice.notice_date:%d.%m.%Y}", data=_notice_summary(notice), ip_address=ip,
                     actor_label="" if getattr(actor, "is_authenticated", False) else "citizen")
    return notice


def decision_provisions_end(*, now: datetime | None = None) -> dict[str, int]:
    """The worker's sweep: end every provision not retrieved by its last day; the letter goes to post.

    The provision has then not given notice (§ 41 (2a) sentence 5 VwVfG); the letter appears on
    the town's list of letters to post. Reads only the open provisions that are due (a partial
    index); each is ended in its own transaction with its timeline and audit entries.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = Q(retrieve_by__isnull=False, retrieve_by__lt=today, retrieved_at__isnull=True, provision_ended_at__isnull=True,
            withdrawn_at__isnull=True)
    ended = 0
    for pk in list(DecisionNotice.objects.filter(due).order_by("retrieve_by", "pk").values_list("pk", flat=True)):
        with transaction.atomic():
            # Checked again under the lock: a download may have retrieved it meanwhile.
            notice = (DecisionNotice.objects.select_for_update(of=("self",))
                      .select_related("document__application__municipality").filter(due, pk=pk).first())
            if notice is None:
                continue
            notice.provision_ended_at = notice.post_due_since = now
            notice.save(update_fields=["provision_ended_at", "post_due_since"])
            application = notice.document.application
            application_touch(application)
            _timeline(application, kind="decision_provision_ended", data=_notice_summary(notice),
                      text=f"Bereitstellung zum Abruf beendet: nicht innerhalb von {RETRIEVAL_DAYS} Tagen abgerufen "
                           f"({_letter(notice.document)}, abrufbar bis {notice.retrieve_by:%d.%m.%Y}). Der Bescheid ist "
                           "per Post bekannt zu geben.")
            audit_record(action="case.decision_provision_ended", municipality=application.municipality, obj=notice,
                         summary=f"{application.reference}: {notice.document.title} nicht abgerufen, per Post bekannt "
                                 "zu geben", data=_notice_summary(notice), actor_label="rathaus")
        ended += 1
    if ended:
        logger.info("decision letters: %d provision(s) ended unretrieved", ended)
    return {"ended": ended}


def decision_post_record(*, notice: DecisionNotice, posted_on: date, actor, ip: str | None = None) -> DecisionNotice:
    """Staff record that a letter on the list was posted; it is deemed notified on the fourth day after (§ 41 (2) VwVfG).

    Raises CaseFileError for a day in the future or before the letter existed, or for a letter
    that is not (or no longer) to be posted; nothing changes then.
    """
    if posted_on > timezone.localdate():
        raise CaseFileError("Das Versanddatum darf nicht in der Zukunft liegen.", "the day of posting is in the future")
    with transaction.atomic():
        locked = (DecisionNotice.objects.select_for_update(of=("self",))
                  .select_related("document__application__municipality").get(pk=notice.pk))
        if (locked.post_due_since is None or locked.posted_on is not None or locked.retrieved_at is not None
                or locked.withdrawn_at is not None):
            raise CaseFileError("Dieser Bescheid ist nicht (mehr) per Post bekannt zu geben.",
                                "this letter is not (or no longer) to be given notice by post")
        if posted_on < timezone.localdate(locked.provided_at):
            raise CaseFileError("Das Versanddatum liegt vor dem Tag, an dem der Bescheid erstellt wurde.",
                                "the day of posting is before the letter was made")
        locked.posted_on, locked.posted_by = posted_on, actor
        locked.save(update_fields=["posted_on", "posted_by"])
        application = locked.document.application
        application_touch(application)
        _timeline(application, kind="decision_posted", actor=actor, data=_notice_summary(locked),
                  text=f"{_letter(locked.document)} per Post versandt am {posted_on:%d.%m.%Y}; er gilt am "
                       f"{locked.notice_date:%d.%m.%Y} als bekannt gegeben (§ 41 Abs. 2 VwVfG).")
        audit_record(action="case.decision_posted", municipality=application.municipality, actor=actor, obj=locked,
                     summary=f"{application.reference}: {locked.document.title} per Post versandt am "
                             f"{posted_on:%d.%m.%Y}", data={**_notice_summary(locked), "posted_on": posted_on.isoformat()},
                     ip_address=ip)
    return locked


#: (status before, status set by hand) under which a decision letter not yet notified stands: staff
#: confirm an approval (they close the approved case, or approve it again). Every other final status
#: set by hand overrules what the letter says (a rejection, a withdrawal; "closed" on a case not
#: approved ends it without that decision), so the letter is withdrawn; staff who want a letter to
#: go out after all add it again (a new document, with its own notice).
LETTER_STANDS = {("approved", "approved"), ("approved", "closed")}


def decision_notice_email_key(document_id: int) -> str:
    """The outbox key of the e-mail telling her a letter staff added is provided (`_decision_provide`).

    The e-mail names its letter (`OutboxMessage.letter`): a final status by hand holds it back with
    the case's other unsent e-mails only when the letter is withdrawn (`outbox_cancel_for_case`).
    """
    return f"decision-notice:{document_id}"


def decision_notices_not_notified(*, application: Application) -> list[DecisionNotice]:
    """The case's decision letters neither retrieved nor posted nor withdrawn, locked until commit.

    For `processes.services.case_decide_by_hand`, before it locks the application (a retrieval locks
    its notice, then the application): a retrieval under way is waited for, and the letter it
    retrieved is not among them.
    """
    return list(DecisionNotice.objects.select_for_update(of=("self",)).select_related("document").filter(
        document__application_id=application.pk, retrieved_at__isnull=True, posted_on__isnull=True,
        withdrawn_at__isnull=True).order_by("pk"))


def decision_notices_withdraw(*, application: Application, notices: list[DecisionNotice], status: str, reason: str,
                              actor=None, now: datetime | None = None) -> list[DecisionNotice]:
    """Withdraw `notices` (`decision_notices_not_notified`), as staff decided the case by hand against
    them; returns them.

    For `processes.services.case_decide_by_hand`, in the status change's transaction, unless the
    status confirms the letters (`LETTER_STANDS`). A letter neither retrieved nor posted is then
    given notice no more: its provision ends, it leaves the list of letters to post, a later
    download is no retrieval, and her status page says it was not given notice. Each withdrawn
    letter gets an audit entry; the caller's timeline line names them. The e-mails that would have
    told her of them the caller has held back just before (`outbox_cancel_for_case`, counted with
    the others).
    """
    now = now or timezone.now()
    for notice in notices:
        notice.withdrawn_at, notice.withdrawn_reason = now, reason[:300]
        fields = ["withdrawn_at", "withdrawn_reason"]
        if notice.retrieve_by is not None and notice.provision_ended_at is None:
            notice.provision_ended_at = now
            fields.append("provision_ended_at")
        notice.save(update_fields=fields)
        audit_record(action="case.decision_withdrawn", municipality=application.municipality, actor=actor, obj=notice,
                     summary=f"{application.reference}: {notice.document.title} nicht bekannt gegeben, zurückgezogen "
                             f"({reason[:150]})", data={"document": notice.document_id, "status": status},
                     actor_label="" if getattr(actor, "is_authenticated", False) else "rathaus")
    return notices


def letters_named(notices: list[DecisionNotice]) -> str:
    """The withdrawn letters as the timeline names them ("Hundesteuerbescheid, Bescheid „X“")."""
    return ", ".join(_letter(notice.document) for notice in notices)


# ---------------------------------------------------------------- requests for documents

def document_request_create(*, application: Application, items: list[str], message: str, deadline: date, actor,
                            ip: str | None = None) -> DocumentRequest:
    """Ask the citizen for documents: stored, shown on her status page, and sent by e-mail (outbox)."""
    from django.conf import settings
    from django.urls import reverse

    from rathaus.processes.outbox import outbox_add

    items = [item.strip()[:200] for item in items if item.strip()]
    if not items:
        raise CaseFileError("Bitte nennen Sie mindestens eine Unterlage.", "name at least one document")
    if deadline < timezone.localdate():
        raise CaseFileError("Die Frist darf nicht in der Vergangenheit liegen.", "the deadline is in the past")
    if not application.takes_documents:
        raise CaseFileError("Für abgeschlossene Anträge können keine Unterlagen nachgefordert werden.",
                            "documents cannot be requested for a closed application")
    with transaction.atomic():
        request = DocumentRequest.objects.create(municipality_id=application.municipality_id, application=application,
                                                 items=items[:20], message=message.strip()[:2000], deadline=deadline,
                                                 requested_by=actor)
        municipality = application.municipality
        audit_record(action="case.documents_requested", municipality=municipality, actor=actor, obj=request,
                     summary=f"{application.reference}: {len(request.items)} Unterlage(n) bis {deadline:%d.%m.%Y}",
                     data={"items": len(request.items), "deadline": deadline.isoformat()}, ip_address=ip)
        if application.applicant_email:
            url = _my_status_url(application) if application.applicant_id else settings.SITE_URL.rstrip("/") + reverse(
                "applications:status_lookup", kwargs={"municipality": municipality.slug})
            listing = "\n".join(f"- {item}" for item in request.items)
            body = (f"Guten Tag,\n\nfür Ihren Antrag {application.reference} ({application.service.name}) brauchen wir "
                    f"noch folgende Unterlagen:\n\n{listing}\n\n{request.message}\n\n"
                    f"Bitte laden Sie sie bis zum {deadline:%d.%m.%Y} auf der Statusseite Ihres Antrags hoch:\n{url}\n"
                    "(Den persönlichen Link zur Statusseite finden Sie auch in Ihrer Eingangsbestätigung.)\n\n"
                    f"Mit freundlichen Grüßen\n{municipality.name}")
            outbox_add(municipality=municipality, key=f"{application.reference}:request:{request.pk}", kind="email",
                       payload={"subject": f"Bitte Unterlagen nachreichen: {application.reference}", "body": body,
                                "to": [application.applicant_email]})
    return request


def document_request_cancel(*, request: DocumentRequest, actor, ip: str | None = None) -> DocumentRequest:
    """Withdraw an open request (e.g. the document arrived by post)."""
    with transaction.atomic():
        locked = DocumentRequest.objects.select_for_update().select_related("application").get(pk=request.pk)
        if not locked.is_open:
            raise CaseFileError("Diese Nachforderung ist nicht mehr offen.", "this request is no longer open")
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["cancelled_at"])
        audit_record(action="case.request_cancelled", municipality=locked.application.municipality, actor=actor,
                     obj=locked, summary=locked.application.reference, ip_address=ip)
    return locked


@functools.lru_cache(maxsize=8)
def _withdraw_open_requests_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    table = quote(DocumentRequest._meta.db_table)
    column = {name: quote(DocumentRequest._meta.get_field(name).column)
              for name in ("id", "application", "fulfilled_at", "cancelled_at")}
    return (f"UPDATE {table} SET {column['cancelled_at']} = %s WHERE {column['application']} = %s "  # noqa: S608 - names from the model
            f"AND {column['fulfilled_at']} IS NULL AND {column['cancelled_at']} IS NULL RETURNING {column['id']}")


def document_requests_close(*, application: Application, actor, ip: str | None = None) -> None:
    """Withdraw every open request of an application that has just reached a final status.

    Call inside the status change's transaction, with the application locked. Each withdrawn
    request gets an audit entry.
    """
    now = timezone.now()
    connection = connections[router.db_for_write(DocumentRequest)]
    if connection.vendor == "postgresql":
        # On every final status change, so one prepared statement (the ORM compiled a query here
        # for each of them, though most cases have no open request): the UPDATE locks what it
        # withdraws, and a request fulfilled meanwhile no longer matches.
        with prepared_cursor(connection) as cursor:
            cursor.execute(_withdraw_open_requests_sql(connection.alias), [now, application.pk])
            requests = [DocumentRequest(pk=pk, application=application) for pk in sorted(row[0] for row in cursor.fetchall())]
    else:
        requests = list(DocumentRequest.objects.select_for_update().filter(
            application=application, fulfilled_at__isnull=True, cancelled_at__isnull=True).order_by("pk"))
        DocumentRequest.objects.filter(pk__in=[request.pk for request in requests]).update(cancelled_at=now)
    for request in requests:
        audit_record(action="case.request_cancelled", municipality=application.municipality, actor=actor, obj=request,
                     summary=f"{application.reference}: Antrag abgeschlossen ({application.status})", ip_address=ip,
                     actor_label="" if actor else "rathaus")


# ---------------------------------------------------------------- legal holds

def _locked_application(application: Application) -> Application:
    return Application.objects.select_for_update(of=("self",)).select_related("municipality").get(pk=application.pk)


def legal_hold_set(*, application: Application, reason: str, actor, ip: str | None = None) -> LegalHold:
    """Stop every deletion and the anonymisation of the case until the hold is released."""
    reason = reason.strip()
    if not reason:
        raise CaseFileError("Bitte geben Sie einen Grund an.", "a reason is required")
    with transaction.atomic():
        locked = _locked_application(application)
        if LegalHold.objects.filter(application=locked, released_at__isnull=True).exists():
            raise CaseFileError("Für diesen Antrag besteht bereits eine Aufbewahrungssperre.", "a legal hold is active")
        if locked.anonymised_at is not None:
            raise CaseFileError("Der Antrag ist bereits anonymisiert.", "the application is anonymised already")
        hold = LegalHold.objects.create(municipality=locked.municipality, application=locked, reason=reason[:1000],
                                        set_by=actor)
        audit_record(action="case.legal_hold_set", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"{locked.reference}: {reason[:200]}", data={"hold": hold.pk}, ip_address=ip)
    return hold


def legal_hold_release(*, application: Application, reason: str, actor, ip: str | None = None) -> LegalHold:
    """End the active hold; retention applies again from the next run."""
    reason = reason.strip()
    if not reason:
        raise CaseFileError("Bitte geben Sie einen Grund an.", "a reason is required")
    with transaction.atomic():
        locked = _locked_application(application)
        hold = LegalHold.objects.select_for_update().filter(application=locked, released_at__isnull=True).first()
        if hold is None:
            raise CaseFileError("Für diesen Antrag besteht keine Aufbewahrungssperre.", "no legal hold is active")
        hold.released_at, hold.released_by, hold.release_reason = timezone.now(), actor, reason[:1000]
        hold.save(update_fields=["released_at", "released_by", "release_reason"])
        audit_record(action="case.legal_hold_released", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"{locked.reference}: {reason[:200]}", data={"hold": hold.pk}, ip_address=ip)
    return hold


# ---------------------------------------------------------------- retention

def retention_rules_save(*, municipality, rules: dict[tuple[str, str], int | None], actor,
                         ip: str | None = None) -> None:
    """Store the tenant's retention classes (days after closing; None = kept with the case)."""
    with transaction.atomic():
        before = selectors.retention_rules(municipality=municipality)
        for (document_type, outcome), days in rules.items():
            DocumentType(document_type)
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}")
            RetentionRule.objects.update_or_create(municipality=municipality, document_type=document_type,
                                                   outcome=outcome, defaults={"days": days, "updated_by": actor})
        changed = {f"{t}/{o}": [before.get((t, o)), d] for (t, o), d in rules.items() if before.get((t, o)) != d}
        audit_record(action="case.retention_rules_saved", municipality=municipality, actor=actor, obj=None,
                     summary=f"{len(changed)} Aufbewahrungsregel(n) geändert", data={"changed": changed}, ip_address=ip)


def retention_rules_reset(*, municipality, actor, ip: str | None = None) -> None:
    with transaction.atomic():
        removed = RetentionRule.objects.for_municipality(municipality).delete()[0]
        audit_record(action="case.retention_rules_reset", municipality=municipality, actor=actor,
                     summary=f"{removed} Aufbewahrungsregel(n) auf Standard zurückgesetzt", ip_address=ip)


def _active_hold():
    return Exists(LegalHold.objects.filter(application=OuterRef("application"), released_at__isnull=True))


def documents_apply_retention(*, now: datetime | None = None) -> dict[str, int]:
    """Delete documents (all versions) whose retention class ran out; cases under a legal hold keep theirs.

    Each document goes in its own transaction with its audit entry; files leave storage after the commit.
    """
    from rathaus.tenants.models import Municipality

    now = now or timezone.now()
    deleted = failed = 0
    for municipality in Municipality.objects.only("id"):
        for (document_type, outcome), days in selectors.retention_rules(municipality=municipality).items():
            if days is None:
                continue
            cutoff = now - timedelta(days=days)
            due = (Document.objects.for_municipality(municipality)
                   .filter(document_type=document_type, application__status=outcome, application__closed_at__lt=cutoff,
                           application__anonymised_at__isnull=True)
                   .exclude(_active_hold()).values_list("pk", flat=True))
            for document_id in list(due):
                try:
                    if _document_expire(document_id=document_id, outcome=outcome, cutoff=cutoff, days=days):
                        deleted += 1
                except Exception:  # noqa: BLE001 - one broken document must not keep the others past their period
                    logger.exception("retention: document %s could not be deleted; retried on the next run", document_id)
                    failed += 1
    logger.info("document retention: %d deleted, %d failed", deleted, failed)
    return {"deleted": deleted, "failed": failed}


def _document_expire(*, document_id: int, outcome: str, cutoff: datetime, days: int) -> bool:
    with transaction.atomic():
        application_id = Document.objects.filter(pk=document_id).values_list("application_id", flat=True).first()
        if application_id is None:
            return False
        # The application row lock orders this against `legal_hold_set`, which takes the same lock.
        application = (Application.objects.select_for_update(of=("self",)).select_related("municipality")
                       .filter(pk=application_id, status=outcome, closed_at__lt=cutoff, anonymised_at__isnull=True)
                       .first())
        if application is None or LegalHold.objects.filter(application=application, released_at__isnull=True).exists():
            return False
        document = Document.objects.filter(pk=document_id).first()
        if document is None:
            return False
        files = [(v.file.storage, v.file.name) for v in document.versions.all() if v.file]
        versions = document.versions.all().delete()[0]
        document_type = document.document_type
        document.delete()
        audit_record(action="case.document_deleted", municipality=application.municipality, obj=application,
                     summary=f"{application.reference}: {DocumentType(document_type).label} nach {days} Tagen gelöscht",
                     data={"document": document_id, "document_type": document_type, "outcome": outcome,
                           "retention_days": days, "versions": versions}, actor_label="retention-job")
        files_delete_after_commit(files)
    return True


def case_file_purge(*, application: Application) -> dict[str, Any]:
    """Remove every document, version and request of a case (its anonymisation), in the caller's transaction.

    Returns the counts; the files leave storage after the commit.
    """
    versions = DocumentVersion.objects.filter(document__application=application)
    files = [(v.file.storage, v.file.name) for v in versions if v.file]
    counts = {"document_versions": versions.delete()[0],
              # The documents alone (their decision letters' notices go with them, uncounted).
              "documents": Document.objects.filter(application=application).delete()[1].get(Document._meta.label, 0),
              "document_requests": DocumentRequest.objects.filter(application=application).delete()[0]}
    files_delete_after_commit(files)
    return counts

