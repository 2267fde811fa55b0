"""JSON-Schema forms of user tasks, by the BPMN task's form key (rendered like citizen forms)."""

from __future__ import annotations

from typing import Any

_NOTE = {"type": "string", "title": "Begründung / Hinweis", "maxLength": 2000, "x-widget": "textarea",
         "description": "Wird bei einer Ablehnung oder Nachforderung der antragstellenden Person mitgeteilt."}


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
            "outcome": {"type": "string", "title": "Ergebnis", "enum": [value for value, _ in options],
                        "x-enum-labels": [label for _, label in options], "x-widget": "radio"},
            "note": dict(_NOTE),
        },
        "required": ["outcome"],
    }
    if reject:
        decision["properties"]["note"]["x-required-when"] = "bei einer Ablehnung nötig"
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
    "approve-or-reject": _decision_form("Entscheidung", "Bewilligen", "Ablehnen"),
    "dog-exemption-review": _decision_form("Nachweis für die Steuerbefreiung prüfen", "Befreiung anerkennen",
                                           "Befreiung ablehnen (normaler Steuersatz)",
                                           request=("request_documents", "Neuen Nachweis anfordern (Frist 28 Tage)")),
    "proof-received": _decision_form("Nachweis eingegangen", "Der Nachweis liegt vor (z. B. per Post) – erneut prüfen",
                                     None),
    "parking-review": _decision_form("Bewohnerparkausweis prüfen", "Ausweis ausstellen", "Antrag ablehnen"),
    "street-space-approval": _decision_form("Halteverbot genehmigen", "Genehmigen", "Ablehnen"),
}
DEFAULT_FORM = "approve-or-reject"


def task_form(form_key: str | None) -> dict[str, Any]:
    return TASK_FORMS.get(form_key or "", TASK_FORMS[DEFAULT_FORM])


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """The form's step objects merged into one level: what the process conditions read."""
    flat: dict[str, Any] = {}
    for value in data.values():
        if isinstance(value, dict):
            flat.update(value)
    return flat
