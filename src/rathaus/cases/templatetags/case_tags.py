"""Partials of the case file other apps' templates include: the staff panel, the request form and
the citizen's documents and uploads on her status page."""

from django import template

from .. import selectors, services
from ..forms import DocumentRequestForm, DocumentUploadForm
from ..rules import CasePerm, mark_openable
from ..uploads import accept_attribute, configured_types, max_bytes_default, types_label

register = template.Library()


@register.inclusion_tag("cases/_staff_panel.html", takes_context=True)
def case_file_panel(context, application):
    municipality = application.municipality
    user = context["request"].user
    documents = selectors.case_file(municipality=municipality, application=application)
    requests = selectors.document_requests(municipality=municipality, application=application, open_only=True)
    upload_form = DocumentUploadForm()
    return {
        "application": application, "municipality": municipality,
        "documents": mark_openable(documents, user, municipality),
        "requests": [(r, selectors.request_rows(r)) for r in requests],
        "hold": selectors.legal_hold_active(municipality=municipality, application=application),
        "can_hold": user.has_perm(CasePerm.MANAGE_LEGAL_HOLDS, municipality),
        "can_configure": user.has_perm(CasePerm.MANAGE_RETENTION, municipality),
        "upload_form": upload_form, "accept": accept_attribute(configured_types()),
        "upload_hint": types_label(configured_types()), "upload_max_mb": max_bytes_default() // (1024 * 1024),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def notice_dates(notice, municipality):
    """``{% notice_dates notice municipality as dates %}``: the days a notified letter sets (its notice,
    the end of the remedy's period, the day to pay), or None before its notice date is known."""
    return services.notice_dates(notice, municipality=municipality)


@register.inclusion_tag("cases/_request_form.html", takes_context=True)
def case_request_form(context, application):
    return {"application": application, "municipality": application.municipality, "form": DocumentRequestForm(),
            "open": application.takes_documents,
            "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("cases/_citizen_panel.html", takes_context=True)
def case_citizen_panel(context, application, token=None, *, requests, instance):
    """Requests for documents, the upload form (when documents are expected) and her documents.

    `requests` (the open document requests) and `instance` (the case's process) are the status
    page's, read once (applications.views._citizen_context): empty for a closed case, which takes
    no more documents, so neither requests nor the upload form are shown.
    """
    from rathaus.processes.models import DOCUMENT_MESSAGE

    municipality = application.municipality
    types = configured_types()
    return {
        "application": application, "municipality": municipality, "token": token, "owner_view": token is None,
        "requests": [(r, selectors.request_rows(r)) for r in requests],
        "process_waits": bool(instance and DOCUMENT_MESSAGE in instance.waiting_messages),
        "documents": selectors.case_file(municipality=municipality, application=application, public_only=True),
        "accept": accept_attribute(types), "upload_hint": types_label(types),
        "upload_max_mb": max_bytes_default() // (1024 * 1024),
        "csrf_token": context.get("csrf_token"),
    }
