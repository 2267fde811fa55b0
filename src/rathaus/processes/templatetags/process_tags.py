"""Partials other apps' templates include: the staff case panel and the citizen's "why" section."""

from django import template
from django.utils import timezone

from .. import selectors
from ..services import message_label

register = template.Library()


@register.inclusion_tag("processes/_staff_panel.html", takes_context=True)
def process_staff_panel(context, application):
    municipality = application.municipality
    instance = selectors.instance_for(municipality=municipality, application=application)
    return {
        "application": application, "municipality": municipality, "instance": instance,
        "tasks": selectors.case_tasks(municipality=municipality, application=application) if instance else [],
        "timeline": selectors.case_timeline(municipality=municipality, application=application) if instance else [],
        "steps": selectors.instance_steps(instance) if instance else [],
        "now": timezone.now(),
        "waiting": [(name, message_label(name)) for name in (instance.waiting_messages if instance else [])],
        "can_handle": context["request"].user.has_perm("applications.handle", municipality),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("processes/_citizen_why.html", takes_context=True)
def process_citizen_why(context, application, token=None):
    # The citizen's documents and uploads are the case file's partial (cases_tags.case_citizen_panel).
    municipality = application.municipality
    reasons = selectors.case_decision_texts(municipality=municipality, application=application)
    return {
        "application": application, "municipality": municipality, "token": token,
        "reasons": reasons,
        "by_a_person": bool(reasons) and selectors.case_decided_by_a_person(municipality=municipality,
                                                                            application=application),
    }
