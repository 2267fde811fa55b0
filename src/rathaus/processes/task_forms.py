"""JSON-Schema forms of user tasks, by the BPMN task's form key (rendered like citizen forms)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_noop as N_

from rathaus.core.language import in_english

# The forms are stored with each task in German (the case's record, like its timeline) and translated
# only when shown: every text below is marked for the catalogue and looked up by its German wording.
_NOTE = {"type": "string", "title": N_("Begründung / Hinweis"), "maxLength": 2000, "x-widget": "textarea",
         "description": N_("Wird bei einer Ablehnung oder Nachforderung der antragstellenden Person mitgeteilt.")}


def _decision_form(title: str, approve: str, reject: str | None,
                   request: tuple[str, str] | None = None) -> dict[str, Any]:
    """One radio group of outcomes (approve, reject, optionally a third) and a note.

    A refusal is a written decision, which must give its reasons (§ 39 VwVfG): with "reject" the
    note is required, and the process puts it into the letter and the status text.
    """
    options = [("approve", approve)] + ([("reject", reject)] if reject else []) + ([request] if request else [])
    decision: dict[str, Any] = {
        "type": "object", "title": title, "additionalProperties": False,
        "properties": {
            "outcome": {"type": "string", "title": N_("Ergebnis"), "enum": [value for value, _ in options],
                        "x-enum-labels": [label for _, label in options], "x-widget": "radio"},
            "note": dict(_NOTE),
        },
        "required": ["outcome"],
    }
    if reject:
        decision["properties"]["note"]["x-required-when"] = N_("bei einer Ablehnung nötig")
        # Said as "not one of the others": a condition on one value would also hide the note for them
        # (docs/forms.md), and a note goes with a request for documents too.
        others = [value for value, _ in options if value != "reject"]
        decision["if"] = {"properties": {"outcome": {"not": {"const": others[0]} if len(others) == 1 else {"enum": others}}},
                          "required": ["outcome"]}
        decision["then"] = {"required": ["note"], "properties": {"note": {"minLength": 1}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": title,
        "properties": {"decision": decision},
        "required": ["decision"], "additionalProperties": False,
    }


TASK_FORMS: dict[str, dict[str, Any]] = {
    "approve-or-reject": _decision_form(N_("Entscheidung"), N_("Bewilligen"), N_("Ablehnen")),
    "dog-exemption-review": _decision_form(N_("Nachweis für die Steuerbefreiung prüfen"), N_("Befreiung anerkennen"),
                                           N_("Befreiung ablehnen (normaler Steuersatz)"),
                                           request=("request_documents", N_("Neuen Nachweis anfordern (Frist 28 Tage)"))),
    "proof-received": _decision_form(N_("Nachweis eingegangen"),
                                     N_("Der Nachweis liegt vor (z. B. per Post) – erneut prüfen"), None),
    "parking-review": _decision_form(N_("Bewohnerparkausweis prüfen"), N_("Ausweis ausstellen"), N_("Antrag ablehnen")),
    "street-space-approval": _decision_form(N_("Halteverbot genehmigen"), N_("Genehmigen"), N_("Ablehnen")),
}
DEFAULT_FORM = "approve-or-reject"


_WORDED_KEYS = ("title", "description", "x-required-when")


def _texts(schema: Any) -> set[str]:
    """The words of a form schema a person reads: titles, help texts, choice labels."""
    if isinstance(schema, list):
        return {text for item in schema for text in _texts(item)}
    if not isinstance(schema, dict):
        return set()
    found = {schema[key] for key in _WORDED_KEYS if isinstance(schema.get(key), str)}
    found.update(label for label in schema.get("x-enum-labels") or () if isinstance(label, str))
    return found.union(*(_texts(value) for key, value in schema.items() if key != "x-enum-labels"))


#: Only the project's own words are translated: a stored form of an older wording, or words that
#: are no built-in text, stay as stored (German).
BUILT_IN_TEXTS = frozenset(_texts(list(TASK_FORMS.values())))


def task_form(form_key: str | None) -> dict[str, Any]:
    """The form stored with a new task of this form key (German; `localized_form` translates it for display)."""
    return TASK_FORMS.get(form_key or "", TASK_FORMS[DEFAULT_FORM])


def _translate(text: Any) -> Any:
    return gettext(text) if isinstance(text, str) and text in BUILT_IN_TEXTS else text


def localized_form(schema: Any) -> Any:
    """A task's stored form in the current language, for the task page, its error messages and the API.

    Only words change (titles, help texts, choice labels), never values or constraints, so the copy
    validates exactly as the stored form does. A German page gets the stored form itself: its words
    are the German ones (no copy for every task shown or completed).
    """
    return _localized(schema) if in_english() else schema


def _localized(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_localized(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _translate(value) if key in _WORDED_KEYS and isinstance(value, str) else _localized(value)
            for key, value in schema.items()}
    if isinstance(schema.get("x-enum-labels"), list):
        copy["x-enum-labels"] = [_translate(label) for label in schema["x-enum-labels"]]
    return copy


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """The form's step objects merged into one level: what the process conditions read."""
    flat: dict[str, Any] = {}
    for value in data.values():
        if isinstance(value, dict):
            flat.update(value)
    return flat
