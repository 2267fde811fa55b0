from django import template

from ..labels import rule_label as _rule_label

register = template.Library()


@register.filter
def widget_kind(bound_field) -> str:
    """How a field is laid out: a single checkbox, a group of choices (fieldset) or one input."""
    widget = bound_field.field.widget
    if getattr(widget, "input_type", "") == "radio" or getattr(widget, "allow_multiple_selected", False) and getattr(widget, "input_type", "") == "checkbox":
        return "choices"
    if getattr(widget, "input_type", "") == "checkbox":
        return "checkbox"
    if getattr(widget, "input_type", "") == "hidden":
        return "hidden"
    return "input"


@register.filter
def rule_label(key: str) -> str:
    return _rule_label(key)


@register.filter
def lookup(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
