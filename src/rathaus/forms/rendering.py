"""Turn a form step into plain dictionaries the templates render without logic.

The pure form model (rathaus_domain.forms) knows the schema; this module adds what HTML needs:
element ids, current values, checked states, error messages and the describedby links that
screen readers follow from an input to its help text and error.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from rathaus.core.params import parse_int
from rathaus_domain.forms.model import (
    RELATIVE_DATE_KEYWORDS,
    Condition,
    Field,
    FormSpec,
    Group,
    Step,
    date_limits,
    display_value,
    format_bytes,
    value_at,
)
from rathaus_domain.forms.validation import accepted_labels


def _dom_id(name: str) -> str:
    return "f-" + name.replace(".", "-")


def _text_value(field: Field, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return str(value)


def _html_number(value: Any) -> str | None:
    # As text: the template would localise a number ("0,5"), which browsers ignore in min and max.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return json.dumps(value)


def render_field(field: Field, data: dict, errors: dict[str, list[str]],
                 prefilled: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    found, value = value_at(data, field.path)
    name = field.name
    dom_id = _dom_id(name)
    field_errors = errors.get(name, [])
    described = [f"{dom_id}-hint"] if field.help else []
    # Taken over from the citizen's profile: the note is read out with the field (WCAG 3.3.2).
    is_prefilled = name in prefilled
    if is_prefilled:
        described.append(f"{dom_id}-prefill")
    if field_errors:
        described.append(f"{dom_id}-error")
    selected: set[str] = set()
    if found and isinstance(value, list):
        selected = {v if isinstance(v, str) else json.dumps(v) for v in value}
    elif found and value is not None:
        selected = {value if isinstance(value, str) else json.dumps(value)}
    file_info = None
    if field.widget == "file" and found and isinstance(value, dict):
        file_info = display_value(field, value)
    constraints = field.constraints
    return {
        "kind": "field",
        "name": name,
        "id": dom_id,
        "label": field.label,
        "help": field.help,
        "widget": field.widget,
        "type": field.type,
        "required": field.required,
        # A field that only some answers require is neither "optional" nor plainly required:
        # the label says when, so that it reads true without the script that hides it.
        "optional": not field.required and not field.conditional,
        "required_when": _required_when(field) if field.conditional else "",
        "value": _text_value(field, value) if found else "",
        "checked": bool(found and value is True),
        "choices": [
            {"value": v, "label": label, "id": f"{dom_id}-{i}", "checked": v in selected}
            for i, (v, label) in enumerate(field.choices)
        ],
        "errors": field_errors,
        "describedby": " ".join(described),
        "autocomplete": field.autocomplete or "",
        "placeholder": field.placeholder or "",
        "maxlength": constraints.get("maxLength"),
        "min": _html_number(constraints.get("minimum")),
        "max": _html_number(constraints.get("maximum")),
        "step": "1" if field.type == "integer" else "any",
        "accept": ",".join(constraints.get("accept", []) or []),
        "accept_labels": accepted_labels(constraints.get("accept", []) or []),
        "max_bytes": format_bytes(constraints["max_bytes"]) if constraints.get("max_bytes") else "",
        "file_info": file_info,
        "condition": _condition(field.condition),
        "prefilled": is_prefilled,
        **_date_range(field),
    }


def _date_range(field: Field) -> dict[str, str]:
    """A date field's limits relative to today, as of now: ISO dates for scripts and a hint for people.

    Computed when the page is rendered (the town's day, settings.TIME_ZONE), since they move with
    every day; the server checks them again when the form is sent.
    """
    if field.widget != "date" or not any(k in field.constraints for k in RELATIVE_DATE_KEYWORDS):
        return {"date_min": "", "date_max": "", "date_range": ""}
    earliest, latest = date_limits(field.constraints, timezone.localdate())
    words = {"earliest": f"{earliest:%d.%m.%Y}" if earliest else "", "latest": f"{latest:%d.%m.%Y}" if latest else ""}
    if earliest and latest:
        hint = _("Frühestens am %(earliest)s, spätestens am %(latest)s.") % words
    elif earliest:
        hint = _("Frühestens am %(earliest)s.") % words
    elif latest:
        hint = _("Spätestens am %(latest)s.") % words
    else:
        hint = ""
    return {"date_min": earliest.isoformat() if earliest else "", "date_max": latest.isoformat() if latest else "",
            "date_range": hint}


def _condition(condition: Condition | None) -> dict[str, Any] | None:
    if condition is None:
        return None
    equals = condition.equals if isinstance(condition.equals, str) else json.dumps(condition.equals)
    return {"field": FormSpec.html_name(condition.field_path), "equals": equals}


def _required_when(field: Field) -> str:
    """When a conditionally required field is needed, in words: the form's own, else from its condition."""
    if field.required_when:
        return field.required_when
    condition = field.required_if
    if condition is None:
        return _("nur in bestimmten Fällen nötig (siehe Angaben oben)")
    words = {"question": condition.field_label, "answer": condition.value_label}
    if condition.negated:
        return _("nur nötig, wenn bei „%(question)s“ nicht „%(answer)s“ gewählt ist") % words
    return _("nur nötig, wenn bei „%(question)s“ „%(answer)s“ gewählt ist") % words


def render_nodes(nodes, data: dict, errors: dict[str, list[str]],
                 prefilled: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    rendered = []
    for node in nodes:
        if isinstance(node, Field):
            rendered.append(render_field(node, data, errors, prefilled))
        else:
            rendered.append(render_group(node, data, errors, prefilled))
    return rendered


def render_group(group: Group, data: dict, errors: dict[str, list[str]],
                 prefilled: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    base = {"kind": "group", "name": group.name, "id": _dom_id(group.name), "title": group.title, "help": group.help,
            "required": group.required, "errors": errors.get(group.name, []), "condition": _condition(group.condition),
            "repeatable": group.repeatable}
    if not group.repeatable:
        base["children"] = render_nodes(group.children, data, errors, prefilled)
        return base
    found, value = value_at(data, group.path)
    count = len(value) if found and isinstance(value, list) else 0
    count = max(count, group.min_items, 1 if group.required or not found else 0)
    items = []
    needed = max(group.min_items, 1 if group.required else 0)
    for index in range(count):
        children = render_nodes(group.item(index), data, errors, prefilled)
        if group.holds_values and index >= needed:
            # A list of plain values: an entry beyond those the list needs may stay empty (it is
            # dropped), so a screen reader must not announce it as required.
            children = [{**child, "required": False} for child in children]
        items.append({"index": index, "number": index + 1, "name": f"{group.name}.{index}",
                      "children": children, "removable": count > group.min_items})
    base.update({"items": items, "can_add": group.max_items is None or count < group.max_items,
                 "count": count, "min_items": group.min_items, "max_items": group.max_items})
    return base


def render_step(step: Step, data: dict, errors: dict[str, list[str]],
                prefilled: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    """The step's nodes; fields named in `prefilled` carry a note that they came from the profile."""
    return render_nodes(step.children, data, errors, prefilled)


def messages_by_name(errors, step_key: str | None = None) -> dict[str, list[str]]:
    """Validation errors by the name of their input, in the current language; with `step_key`
    only those of that step."""
    from rathaus.core.language import localized

    by_name: dict[str, list[str]] = {}
    for error in errors:
        if step_key is not None and (not error.path or error.path[0] != step_key):
            continue
        by_name.setdefault(FormSpec.html_name(error.path), []).append(localized(error))
    return by_name


def error_summary(step: Step, errors: dict[str, list[str]]) -> list[dict[str, str]]:
    """Errors of one step in form order, each linking to its input."""
    labels: dict[str, str] = {}

    def collect(nodes, prefix=""):
        for node in nodes:
            if isinstance(node, Field):
                labels[node.name] = node.label
            else:
                labels[node.name] = node.title

    collect(step.children)
    summary = []
    for name, messages in errors.items():
        label = labels.get(name) or _label_for(step, name)
        target = _dom_id(name)
        for message in messages:
            summary.append({"href": f"#{target}", "label": label, "message": message})
    return summary


def name_matches(pattern: str, name: str) -> bool:
    """Whether the bound input ``name`` (dogs.1.breed) is one of the model's ``pattern`` (dogs.*.breed).

    "*" stands for an entry's number.
    """
    a, b = pattern.split("."), name.split(".")
    return len(a) == len(b) and all(x == y or (x == "*" and parse_int(y, max_digits=4) is not None)
                                    for x, y in zip(a, b, strict=True))


def _label_for(step: Step, name: str) -> str:
    # Names inside repeatable groups are bound (dogs.1.breed); match them against the unbound model.
    parts = name.split(".")
    for field in step.fields():
        if name_matches(field.name, name):
            number = next((n + 1 for p in parts if (n := parse_int(p, max_digits=4)) is not None), None)
            return f"{field.label} ({number}.)" if number else field.label
    return name
