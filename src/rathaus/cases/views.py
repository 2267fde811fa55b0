"""The case file (E-Akte): staff upload documents and versions, request documents, set legal holds,
configure retention; staff and citizens download (permission-checked, tenant-isolated)."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from rathaus.applications.selectors import application_row_get
from rathaus.applications.services import access_token_matches
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view, tenant_view
from rathaus.core.exports import list_download, list_export, local_time
from rathaus.core.language import localized

from . import selectors, services
from .forms import (
    DecisionPostedForm,
    DocumentRequestForm,
    DocumentUploadForm,
    LegalHoldForm,
    RetentionForm,
    VersionUploadForm,
)
from .models import OUTCOMES
from .rules import CasePerm, mark_openable, may_open
from .uploads import UploadRefused, configured_types, max_bytes_default, types_label


def _file_response(version) -> FileResponse:
    """A download: never shown inline, never sniffed into another type, never cached by proxies."""
    response = FileResponse(version.file.open("rb"), as_attachment=True, filename=version.filename,
                            content_type=version.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _back(request, application):
    return redirect("applications:staff_detail", municipality=request.municipality.slug,
                    reference=application.reference)


def _read_upload(upload) -> bytes:
    # One byte over the limit is enough to refuse the file without reading all of it.
    return upload.read(max_bytes_default() + 1)


def _upload_hint() -> str:
    return _("%(types)s, höchstens %(mb).0f MB.") % {"types": types_label(configured_types()),
                                                    "mb": max_bytes_default() / (1024 * 1024)}


# ---------------------------------------------------------------- staff: downloads

@staff_view(CasePerm.HANDLE_DOCUMENTS)
def staff_download(request, reference: str, document_id: int, number: int | None = None):
    application = application_row_get(municipality=request.municipality, reference=reference)
    document = selectors.document_get(municipality=request.municipality, application=application, pk=document_id)
    if not may_open(request.user, request.municipality, document):
        raise Http404("confidential")
    return _file_response(selectors.version_get(document=document, number=number))


@staff_view(CasePerm.HANDLE_DOCUMENTS)
def case_file_export(request, reference: str, fmt: str):
    """The case file's document list (one row per version) as CSV or JSON, for the paper trail or a transfer.

    A confidential document the user may not open is listed as the panel shows it: that it
    exists, without its file's name, type, size or hash. A decision letter whose notice date is
    known carries the days it sets, as the case page shows them.
    """
    application = application_row_get(municipality=request.municipality, reference=reference)
    documents = mark_openable(selectors.case_file(municipality=request.municipality, application=application),
                              request.user, request.municipality)
    rows = [{"document": d.pk, "title": d.title, "type": d.document_type, "confidentiality": d.confidentiality,
             "source": d.source, "version": v.number, **_file_columns(v, d.may_open),
             "added_by": v.added_by.get_username() if v.added_by else "",
             "added_at": local_time(v.created_at), **_notice_columns(d, request.municipality)}
            for d in documents for v in d.versions.all()]
    return list_export(rows, fmt, f"akte-{application.reference}", "document")


def _notice_columns(document, municipality) -> dict:
    """The days a notified letter sets (ISO dates; empty for other documents and before its notice date)."""
    notice = getattr(document, "notice", None)  # selected with the document; no row for other documents
    dates = services.notice_dates(notice, municipality=municipality) if notice is not None else None
    return {"notice_date": dates.notice_date.isoformat() if dates else "",
            "remedy_until": dates.remedy_until.isoformat() if dates else "",
            "pay_by": dates.pay_by.isoformat() if dates and dates.pay_by else ""}


def _file_columns(version, may_open: bool) -> dict:
    if not may_open:
        return dict.fromkeys(("filename", "content_type", "size", "sha512"))
    return {"filename": version.filename, "content_type": version.content_type, "size": version.size,
            "sha512": version.sha512}


# ---------------------------------------------------------------- staff: documents and versions

@staff_view(CasePerm.HANDLE_DOCUMENTS)
def document_upload(request, reference: str):
    """Put a document into the case file (GET: the form on its own page; POST: store it)."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    form = DocumentUploadForm(request.POST or None, request.FILES or None)
    form.fields["file"].help_text = _upload_hint()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                services.document_upload_staff(
                    application=application, filename=upload.name, raw=_read_upload(upload),
                    declared_type=upload.content_type, title=form.cleaned_data["title"],
                    document_type=form.cleaned_data["document_type"],
                    confidentiality=form.cleaned_data["confidentiality"], actor=request.user, ip=client_ip(request))
            except UploadRefused as exc:
                form.add_error("file", localized(exc))
            else:
                messages.success(request, _("Das Dokument ist in der E-Akte."))
                return _back(request, application)
        status = 422
    return render(request, "cases/document_upload.html", {"application": application, "form": form}, status=status)


@staff_view(CasePerm.HANDLE_DOCUMENTS)
def version_upload(request, reference: str, document_id: int):
    """Add a new version of a document; the earlier versions stay."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    document = selectors.document_get(municipality=request.municipality, application=application, pk=document_id)
    if not may_open(request.user, request.municipality, document):
        raise Http404("confidential")
    form = VersionUploadForm(request.POST or None, request.FILES or None)
    form.fields["file"].help_text = _upload_hint()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                version = services.document_version_add(document=document, filename=upload.name, raw=_read_upload(upload),
                                                        declared_type=upload.content_type, actor=request.user,
                                                        ip=client_ip(request))
            except (UploadRefused, services.CaseFileError) as exc:
                form.add_error("file", localized(exc))
            else:
                messages.success(request, _("Version %(n)d von „%(title)s“ gespeichert.") % {
                    "n": version.number, "title": document.title})
                return _back(request, application)
        status = 422
    return render(request, "cases/version_upload.html", {
        "application": application, "document": document, "form": form,
        "versions": list(document.versions.select_related("added_by").order_by("number"))}, status=status)


# ---------------------------------------------------------------- staff: requests for documents

@staff_view(CasePerm.HANDLE_DOCUMENTS)
def document_requests(request, reference: str):
    """Ask the citizen for missing documents, or withdraw an open request."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    form = DocumentRequestForm(request.POST if request.method == "POST" and request.POST.get("action") != "cancel"
                               else None)
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "cancel":
                pk = request.POST.get("request", "")
                found = [r for r in selectors.document_requests(municipality=request.municipality, application=application,
                                                                 open_only=True) if str(r.pk) == pk]
                if not found:
                    raise Http404("no such open request")
                try:
                    services.document_request_cancel(request=found[0], actor=request.user, ip=client_ip(request))
                except services.CaseFileError as exc:
                    messages.error(request, localized(exc))
                else:
                    messages.success(request, _("Die Nachforderung ist zurückgenommen."))
                return redirect(request.path)
            if form.is_valid():
                services.document_request_create(application=application, items=form.cleaned_data["items"],
                                                 message=form.cleaned_data["message"],
                                                 deadline=form.cleaned_data["deadline"], actor=request.user,
                                                 ip=client_ip(request))
                messages.success(request, _("Die Unterlagen sind nachgefordert. Die antragstellende Person wurde "
                                            "benachrichtigt."))
                return _back(request, application)
        except services.CaseFileError as exc:
            form.add_error(None, localized(exc))
        status = 422
    requests = selectors.document_requests(municipality=request.municipality, application=application)
    return render(request, "cases/document_requests.html", {
        "application": application, "form": form, "status_code": status,
        "requests": [(r, selectors.request_rows(r)) for r in requests]}, status=status)


# ---------------------------------------------------------------- staff: legal hold

@staff_view(CasePerm.MANAGE_LEGAL_HOLDS)
def legal_hold(request, reference: str):
    """Set or release the case's legal hold (team lead), always with a reason."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    active = selectors.legal_hold_active(municipality=request.municipality, application=application)
    form = LegalHoldForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                if active is None:
                    services.legal_hold_set(application=application, reason=form.cleaned_data["reason"],
                                            actor=request.user, ip=client_ip(request))
                    messages.success(request, _("Die Aufbewahrungssperre ist gesetzt. Bis zur Aufhebung wird nichts "
                                                "aus diesem Vorgang gelöscht."))
                else:
                    services.legal_hold_release(application=application, reason=form.cleaned_data["reason"],
                                                actor=request.user, ip=client_ip(request))
                    messages.success(request, _("Die Aufbewahrungssperre ist aufgehoben."))
                return _back(request, application)
            except services.CaseFileError as exc:
                form.add_error(None, localized(exc))
        status = 422
    return render(request, "cases/legal_hold.html", {
        "application": application, "active": active, "form": form,
        "holds": list(selectors.legal_holds(municipality=request.municipality, application=application))},
        status=status)


# ---------------------------------------------------------------- staff: decision letters to post

@staff_view(CasePerm.HANDLE_DOCUMENTS)
def decisions_to_post(request):
    """Decision letters to be given notice by post (no consent to retrieval, or not retrieved in 10 days):
    staff post them and record the day; the letter then leaves the list."""
    notices = selectors.decisions_to_post(municipality=request.municipality)
    if download := list_download(request, f"bescheide-per-post-{request.municipality.slug}",
                                 lambda: [_post_row(n) for n in notices], "reference"):
        return download
    form, failed, status = None, None, 200
    if request.method == "POST":
        form = DecisionPostedForm(request.POST)
        if form.is_valid():
            notice = notices.filter(pk=form.cleaned_data["notice"]).first()
            if notice is None:
                raise Http404("not on the list")
            try:
                posted = services.decision_post_record(notice=notice, posted_on=form.cleaned_data["posted_on"],
                                                       actor=request.user, ip=client_ip(request))
            except services.CaseFileError as exc:
                form.add_error("posted_on", localized(exc))
            else:
                messages.success(request, _("Versand per Post für %(reference)s erfasst. Der Bescheid gilt am %(day)s "
                                            "als bekannt gegeben.") % {
                    "reference": notice.document.application.reference, "day": f"{posted.notice_date:%d.%m.%Y}"})
                return redirect(request.path)
        failed, status = form.data.get("notice"), 422
    return render(request, "cases/decisions_to_post.html", {
        "notices": list(notices), "form": form, "failed": failed, "today": timezone.localdate()}, status=status)


def _post_row(notice) -> dict:
    application = notice.document.application
    return {"reference": application.reference, "service": application.service.name,
            "applicant_name": application.applicant_name, "letter": notice.document.title,
            "letter_made_at": local_time(notice.provided_at),
            "reason": "not_retrieved" if notice.provision_ended_at else "no_consent",
            "reason_label": (_("nicht innerhalb von 10 Tagen abgerufen") if notice.provision_ended_at
                             else _("keine Einwilligung in den Abruf")),
            "retrieve_by": notice.retrieve_by.isoformat() if notice.retrieve_by else "",
            "post_due_since": local_time(notice.post_due_since)}


# ---------------------------------------------------------------- tenant admin: retention classes

@staff_view(CasePerm.MANAGE_RETENTION)
def retention_settings(request):
    """How long each type of document stays after a case closed, per result of the case."""
    rules = selectors.retention_rules(municipality=request.municipality)
    form = RetentionForm(request.POST or None, rules=rules)
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "reset":
            services.retention_rules_reset(municipality=request.municipality, actor=request.user, ip=client_ip(request))
            messages.success(request, _("Die Aufbewahrungsfristen sind auf die Standardwerte zurückgesetzt."))
            return redirect(request.path)
        if form.is_valid():
            services.retention_rules_save(municipality=request.municipality, rules=form.rules(), actor=request.user,
                                          ip=client_ip(request))
            messages.success(request, _("Aufbewahrungsfristen gespeichert."))
            return redirect(request.path)
        status = 422
    return render(request, "cases/retention.html", {
        "form": form, "outcomes": OUTCOMES,
        "customised": selectors.retention_customised(municipality=request.municipality)}, status=status)


# ---------------------------------------------------------------- citizens: downloads

def _citizen_version(request, application, document_id: int, *, retrieval: bool = False):
    document = selectors.document_get(municipality=request.municipality, application=application, pk=document_id,
                                      public_only=True)
    version = selectors.version_get(document=document)
    if retrieval and request.method == "GET":
        # Her first download of a decision letter is its retrieval (§ 41 (2a) VwVfG); a HEAD is not.
        services.decision_retrieval_record(document=document, ip=client_ip(request), actor=request.user)
    return _file_response(version)


@tenant_view
def citizen_download(request, reference: str, token: str, document_id: int):
    """A document marked for the citizen, with the access token of her status page.

    Never the retrieval of a decision letter: whoever holds the link can download (a forwarded
    e-mail, a mail scanner fetching links), and § 41 (2a) sentence 2 VwVfG needs the entitled
    person authenticated. It is a copy for information; the status page says so.
    """
    application = application_row_get(municipality=request.municipality, reference=reference)
    if not access_token_matches(application, token):
        raise Http404("wrong token")
    return _citizen_version(request, application, document_id)


@tenant_view
def my_download(request, reference: str, document_id: int):
    """The same for a signed-in citizen under "Meine Anträge": her download of a decision letter
    provided to her is its retrieval, as her account authenticates her (§ 41 (2a) sentence 2)."""
    application = application_row_get(municipality=request.municipality, reference=reference)
    if not request.user.is_authenticated or application.applicant_id != request.user.pk:
        raise Http404("not yours")
    return _citizen_version(request, application, document_id, retrieval=True)
