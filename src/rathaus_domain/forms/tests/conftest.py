from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rathaus_domain.forms.fim import DATE_PATTERN, ImportedForm, import_xdf
from rathaus_domain.forms.validation import (
    CONTROL_CHARACTERS,
    END_OF_TEXT,
    MULTI_LINE_TEXT_PATTERN,
    SINGLE_LINE_TEXT_PATTERN,
    file_field_schema,
)

# The two real FIM schemas of ../shared/data/fim, shipped unchanged with the demo (see FIM-README.md
# there), so the tests run in a checkout that has nothing beside it.
FIM_DIR = Path(__file__).resolve().parents[3] / "rathaus" / "catalog" / "demo_data"
WAFFENBESITZKARTE = FIM_DIR / "S00000036_waffenbesitzkarte_xdf1.xml"
BLAUE_KARTE = FIM_DIR / "S00000121_blaue_karte_eu_xdf2.xml"

# No `\s`: Python's re and ECMA-262 define it differently (docs/forms.md).
_NO_AT_OR_SPACE = rf"[^@ {CONTROL_CHARACTERS}\u00a0\u2028\u2029\ufeff]+"
EMAIL_PATTERN = rf"^{_NO_AT_OR_SPACE}@{_NO_AT_OR_SPACE}\.{_NO_AT_OR_SPACE}{END_OF_TEXT}"

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17)
GIF_BYTES = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def dog_form_schema() -> dict[str, Any]:
    """A hand-written form using every widget of docs/forms.md: dog tax registration."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "title": "Hund anmelden",
        "description": "Anmeldung zur Hundesteuer",
        "properties": {
            "applicant": {
                "type": "object",
                "title": "Antragsteller",
                "description": "Ihre Angaben",
                "properties": {
                    "name": {
                        "type": "string",
                        "title": "Name",
                        "maxLength": 80,
                        "pattern": SINGLE_LINE_TEXT_PATTERN,
                        "x-autocomplete": "name",
                        "x-prefill": "profile.name",
                        "x-placeholder": "Vor- und Nachname",
                    },
                    "email": {
                        "type": "string",
                        "title": "E-Mail",
                        "format": "email",
                        "pattern": EMAIL_PATTERN,
                        "maxLength": 254,
                        "x-autocomplete": "email",
                    },
                    "birth_date": {
                        "type": "string",
                        "title": "Geburtsdatum",
                        "format": "date",
                        "pattern": DATE_PATTERN,
                        "maxLength": 10,
                    },
                    "address": {
                        "type": "object",
                        "title": "Anschrift",
                        "properties": {
                            "street": {
                                "type": "string",
                                "title": "Straße",
                                "maxLength": 100,
                                "pattern": SINGLE_LINE_TEXT_PATTERN,
                            },
                            "postcode": {
                                "type": "string",
                                "title": "Postleitzahl",
                                "minLength": 5,
                                "maxLength": 5,
                                "pattern": "^[0-9]{5}" + END_OF_TEXT,
                            },
                        },
                        "required": ["street", "postcode"],
                        "additionalProperties": False,
                    },
                },
                "required": ["name", "birth_date", "address"],
                "additionalProperties": False,
            },
            "dogs": {
                "type": "object",
                "title": "Hunde",
                "properties": {
                    "dogs": {
                        "type": "array",
                        "title": "Hund",
                        "minItems": 1,
                        "maxItems": 5,
                        "items": {
                            "type": "object",
                            "title": "Hund",
                            "properties": {
                                "name": {
                                    "type": "string",
                                    "title": "Name des Hundes",
                                    "maxLength": 40,
                                    "pattern": SINGLE_LINE_TEXT_PATTERN,
                                },
                                "breed": {
                                    "type": "string",
                                    "title": "Rasse",
                                    "enum": ["labrador", "pudel", "dackel", "mischling", "schaeferhund", "andere"],
                                    "x-enum-labels": ["Labrador", "Pudel", "Dackel", "Mischling", "Schäferhund", "Andere"],
                                },
                                "breed_other": {
                                    "type": "string",
                                    "title": "Andere Rasse",
                                    "maxLength": 60,
                                    "pattern": SINGLE_LINE_TEXT_PATTERN,
                                },
                                "weight_kg": {"type": "number", "title": "Gewicht in kg", "minimum": 0, "maximum": 120},
                            },
                            "required": ["name", "breed"],
                            "additionalProperties": False,
                            "if": {"properties": {"breed": {"const": "andere"}}, "required": ["breed"]},
                            "then": {"required": ["breed_other"]},
                        },
                    },
                    "count_previous": {
                        "type": "integer",
                        "title": "Bisher gemeldete Hunde",
                        "minimum": 0,
                        "maximum": 20,
                    },
                },
                "required": ["dogs"],
                "additionalProperties": False,
            },
            "details": {
                "type": "object",
                "title": "Weitere Angaben",
                "properties": {
                    "kind": {
                        "type": "string",
                        "title": "Art der Haltung",
                        "enum": ["privat", "gewerblich"],
                        "x-enum-labels": ["Privat", "Gewerblich"],
                    },
                    "company": {"type": "string", "title": "Firma", "maxLength": 120, "pattern": SINGLE_LINE_TEXT_PATTERN},
                    "notes": {
                        "type": "string",
                        "title": "Bemerkungen",
                        "maxLength": 1000,
                        "pattern": MULTI_LINE_TEXT_PATTERN,
                        "x-widget": "textarea",
                    },
                    "insured": {"type": "boolean", "title": "Haftpflichtversichert"},
                    "reductions": {
                        "type": "array",
                        "title": "Ermäßigungen",
                        "uniqueItems": True,
                        "maxItems": 3,
                        "items": {
                            "type": "string",
                            "enum": ["rettungshund", "blindenhund", "sozialhilfe"],
                            "x-enum-labels": ["Rettungshund", "Blindenhund", "Bezug von Sozialhilfe"],
                        },
                    },
                    "vaccination": file_field_schema(
                        ["application/pdf", "image/png", "image/jpeg"], 1_000_000, "Impfpass", "Foto oder Scan"
                    ),
                    "nicknames": {
                        "type": "array",
                        "title": "Rufnamen",
                        "maxItems": 3,
                        "items": {"type": "string", "maxLength": 30, "pattern": SINGLE_LINE_TEXT_PATTERN},
                    },
                    "consent": {
                        "type": "boolean",
                        "const": True,
                        "title": "Ich versichere die Richtigkeit meiner Angaben.",
                    },
                },
                "required": ["kind", "insured", "consent"],
                "additionalProperties": False,
                "allOf": [
                    {
                        "if": {"properties": {"kind": {"const": "gewerblich"}}, "required": ["kind"]},
                        "then": {"required": ["company"]},
                    }
                ],
            },
        },
        "required": ["applicant", "dogs", "details"],
        "additionalProperties": False,
        "x-rules": [{"id": "R1", "name": "Ermäßigung", "text": "Ermäßigungen nur mit Nachweis."}],
    }


def valid_dog_data() -> dict[str, Any]:
    return {
        "applicant": {
            "name": "Erika Mustermann",
            "email": "erika@example.de",
            "birth_date": "1980-02-29",
            "address": {"street": "Hauptstraße 1", "postcode": "12345"},
        },
        "dogs": {
            "dogs": [
                {"name": "Bello", "breed": "dackel", "weight_kg": 9.5},
                {"name": "Rex", "breed": "andere", "breed_other": "Podenco"},
            ],
            "count_previous": 0,
        },
        "details": {
            "kind": "gewerblich",
            "company": "Hundeschule Wau GmbH",
            "insured": True,
            "reductions": ["rettungshund", "sozialhilfe"],
            "nicknames": ["Belli"],
            "consent": True,
        },
    }


@pytest.fixture
def dog_schema() -> dict[str, Any]:
    return dog_form_schema()


@pytest.fixture
def dog_data() -> dict[str, Any]:
    return valid_dog_data()


@pytest.fixture(scope="session")
def waffenbesitzkarte() -> ImportedForm:
    return import_xdf(WAFFENBESITZKARTE.read_bytes())


@pytest.fixture(scope="session")
def blaue_karte() -> ImportedForm:
    return import_xdf(BLAUE_KARTE.read_bytes())


def _date(title: str, **limits: int) -> dict[str, Any]:
    keywords = {f"x-date-{side}-days-ahead": days for side, days in limits.items()}
    return {"type": "string", "title": title, "format": "date", "pattern": DATE_PATTERN, "maxLength": 10, **keywords}


def moving_form_schema() -> dict[str, Any]:
    """A form with dates relative to the day of submission: in a step, in a group, in a list of
    entries, in a list of plain values, through a definition and in an ``allOf`` part."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "title": "Umzug",
        "properties": {
            "move": {
                "type": "object",
                "title": "Umzug",
                "properties": {
                    "day": _date("Tag des Umzugs", min=14, max=365),
                    "contract": {
                        "type": "object",
                        "title": "Mietvertrag",
                        "properties": {"signed": _date("Unterschrieben am", min=-90, max=0)},
                        "required": ["signed"],
                        "additionalProperties": False,
                    },
                    "helpers": {
                        "type": "array",
                        "title": "Helfer",
                        "maxItems": 3,
                        "items": {
                            "type": "object",
                            "title": "Helfer",
                            "properties": {
                                "name": {"type": "string", "title": "Name", "maxLength": 40,
                                         "pattern": SINGLE_LINE_TEXT_PATTERN},
                                "from": _date("Hilft ab", min=0),
                            },
                            "required": ["name", "from"],
                            "additionalProperties": False,
                        },
                    },
                    "spare_days": {"type": "array", "title": "Ausweichtermine", "maxItems": 2,
                                   "items": _date("Ausweichtermin", min=14)},
                    "handover": {"$ref": "#/$defs/not_future", "title": "Schlüsselübergabe der alten Wohnung"},
                },
                "required": ["day", "contract"],
                # Closed with unevaluatedProperties: additionalProperties would not see the allOf part's field.
                "unevaluatedProperties": False,
                "allOf": [{"properties": {"registered": _date("Angemeldet am", max=-1)}}],
            },
        },
        "required": ["move"],
        "additionalProperties": False,
        "$defs": {"not_future": _date("Datum", max=0)},
    }
