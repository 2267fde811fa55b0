"""JSON-Schema forms of user tasks, by the BPMN task's form key (rendered like citizen forms)."""

from __future__ import annotations

from typing import Any

_NOTE = {"type": "string", "title": "Begründung / Hinweis", "maxLength": 2000, "x-widget": "textarea",
         "description": "Wird bei einer Ablehnung oder Nachforderung der antragstellenden Person mitgeteilt."}


def _decision_form(title: str, approve: str, reject: str | None,
                   request: tuple[str, str] | None = None) -> dict[str, Any]:
    """One radio group of outcomes (approve, reject, optionally a third) and a note."""
    options = [("approve", approve)] + ([("reject", reject)] if reject else []) + ([request] if request else [])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": title,
        "properties": {"decision": {
            "type": "object", "title": title, "additionalProperties": False,
            "properties": {
                "outcome": {"type": "string", "title": "Ergebnis", "enum": [value for value, _ in options],
                            "x-enum-labels": [label for _, label in options], "x-widget": "radio"},
                "note": _NOTE,
            },
            "required": ["outcome"],
        }},
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
