"""Partials other apps' templates include: the staff case panel and the citizen's "why" section."""

from django import template

from .. import selectors
from ..services import DOCUMENT_MESSAGE, LATE_UPLOAD_MAX_BYTES, message_label

register = template.Library()


@register.inclusion_tag("processes/_staff_panel.html", takes_context=True)
def process_staff_panel(context, application):
    municipality = application.municipality
    instance = selectors.instance_for(municipality=municipality, application=application)
    return {
        "application": application, "municipality": municipality, "instance": instance,
        "tasks": selectors.case_tasks(municipality=municipality, application=application) if instance else [],
        "timeline": selectors.case_timeline(municipality=municipality, application=application) if instance else [],
        "documents": selectors.case_documents(municipality=municipality, application=application),
        "waiting": [(name, message_label(name)) for name in (instance.waiting_messages if instance else [])],
        "can_handle": context["request"].user.has_perm("applications.handle", municipality),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("processes/_citizen_why.html", takes_context=True)
def process_citizen_why(context, application, token=None):
    municipality = application.municipality
    instance = selectors.instance_for(municipality=municipality, application=application)
    return {
        "application": application, "municipality": municipality, "token": token,
        "reasons": selectors.case_timeline(municipality=municipality, application=application, public_only=True),
        "documents": selectors.case_documents(municipality=municipality, application=application, public_only=True),
        "wants_documents": bool(instance and DOCUMENT_MESSAGE in instance.waiting_messages),
        "upload_max_mb": LATE_UPLOAD_MAX_BYTES // (1024 * 1024),
        "owner_view": token is None,
        "csrf_token": context.get("csrf_token"),
    }
