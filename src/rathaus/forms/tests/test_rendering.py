"""The HTML of single form fields, as the browser and a screen reader get it."""

from __future__ import annotations

import json
import re

from django.template.loader import render_to_string
from django.utils import translation

from rathaus.forms.rendering import render_nodes
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.validation import DATE_PATTERN

SCHEMA = {
    "type": "object", "title": "Test", "required": ["dog"], "additionalProperties": False,
    "properties": {"dog": {
        "type": "object", "title": "Ihr Hund", "additionalProperties": False,
        "properties": {
            "weight": {"type": "number", "title": "Gewicht in kg", "minimum": 0.5, "maximum": 99.5},
            "birth_date": {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10,
                           "title": "Geburtsdatum des Hundes",
                           "description": "Wenn Sie es nicht genau wissen: ungefähres Datum."},
        },
    }},
}


def _html() -> str:
    step = FormSpec.from_schema(SCHEMA).step("dog")
    with translation.override("de"):
        return render_to_string("forms/nodes.html", {"nodes": render_nodes(step.children, {}, {})})


def _input(html: str, name: str) -> str:
    match = re.search(rf'<input [^>]*name="{re.escape(name)}"[^>]*>', html)
    assert match, html
    return match.group()


def test_number_limits_are_written_as_browsers_read_them_not_in_german() -> None:
    weight = _input(_html(), "dog.weight")

    assert 'min="0.5"' in weight
    assert 'max="99.5"' in weight


def test_a_date_with_a_help_text_keeps_the_format_hint_and_both_are_read_out() -> None:
    html = _html()
    birth_date = _input(html, "dog.birth_date")

    assert "Wenn Sie es nicht genau wissen: ungefähres Datum." in html
    assert 'id="f-dog-birth_date-format">Format: TT.MM.JJJJ, zum Beispiel 31.01.1980</div>' in html
    described = re.search(r'aria-describedby="([^"]*)"', birth_date)
    assert described
    assert set(described.group(1).split()) == {"f-dog-birth_date-hint", "f-dog-birth_date-format"}


PHONES = {
    "type": "object", "title": "Test", "additionalProperties": False,
    "properties": {"contact": {
        "type": "object", "title": "Kontakt", "additionalProperties": False, "required": ["emails"],
        "properties": {
            "phones": {"type": "array", "title": "Telefonnummer", "maxItems": 3, "items": {"type": "string"}},
            "emails": {"type": "array", "title": "E-Mail-Adresse", "minItems": 1, "maxItems": 3,
                       "items": {"type": "string"}},
        },
    }},
}


def test_an_entry_of_an_optional_list_of_values_is_not_announced_as_required() -> None:
    step = FormSpec.from_schema(PHONES).step("contact")
    data = {"contact": {"phones": ["0761 1"], "emails": ["a@example.org", ""]}}
    with translation.override("de"):
        html = render_to_string("forms/nodes.html", {"nodes": render_nodes(step.children, data, {})})
    assert 'aria-required="true"' not in _input(html, "contact.phones.0")
    assert 'aria-required="true"' in _input(html, "contact.emails.0")  # the list needs one
    assert 'aria-required="true"' not in _input(html, "contact.emails.1")


CONDITIONAL = {
    "type": "object", "title": "Test", "required": ["pet"], "additionalProperties": False,
    "properties": {"pet": {
        "type": "object", "title": "Tier", "additionalProperties": False, "required": ["kind", "count"],
        "properties": {
            "kind": {"type": "string", "title": "Welches Tier?", "enum": ["hund", "katze"],
                     "x-enum-labels": ["Hund", "Katze"]},
            "count": {"type": "integer", "title": "Wie viele?", "minimum": 0},
            "leash": {"type": "string", "title": "Leinenpflicht bekannt?"},
            "litter": {"type": "string", "title": "Katzenklo vorhanden?"},
            "papers": {"type": "string", "title": "Papiere"},
            "note": {"type": "string", "title": "Anmerkung"},
        },
        "allOf": [
            {"if": {"properties": {"kind": {"const": "hund"}}, "required": ["kind"]}, "then": {"required": ["leash"]}},
            {"if": {"properties": {"kind": {"not": {"const": "hund"}}}, "required": ["kind"]},
             "then": {"required": ["litter"]}},
            # Too rich to show or hide by one answer: the label can only say "sometimes".
            {"if": {"properties": {"count": {"minimum": 2}}, "required": ["count"]}, "then": {"required": ["papers"]}},
        ],
    }},
}


def _labels(schema) -> dict[str, str]:
    step = FormSpec.from_schema(schema).step("pet")
    with translation.override("de"):
        html = render_to_string("forms/nodes.html", {"nodes": render_nodes(step.children, {}, {})})
    return {m.group(1): " ".join(re.sub(r"<[^>]+>", " ", m.group(2)).split())
            for m in re.finditer(r'<(?:label|legend) class="kern-label" for="f-pet-(\w+)">(.*?)</(?:label|legend)>', html, re.S)}


def test_a_field_some_answers_require_says_when_instead_of_optional() -> None:
    labels = _labels(CONDITIONAL)

    assert labels["leash"] == "Leinenpflicht bekannt? – nur nötig, wenn bei „Welches Tier?“ „Hund“ gewählt ist"
    assert labels["litter"] == "Katzenklo vorhanden? – nur nötig, wenn bei „Welches Tier?“ nicht „Hund“ gewählt ist"
    assert labels["papers"] == "Papiere – nur in bestimmten Fällen nötig (siehe Angaben oben)"
    assert labels["note"] == "Anmerkung – optional"
    assert labels["count"] == "Wie viele?"


def test_a_form_may_say_in_its_own_words_when_a_field_is_needed() -> None:
    schema = json.loads(json.dumps(CONDITIONAL))
    schema["properties"]["pet"]["properties"]["litter"]["x-required-when"] = "nur bei Katzen nötig"

    assert _labels(schema)["litter"] == "Katzenklo vorhanden? – nur bei Katzen nötig"


MOVING = {
    "type": "object", "title": "Test", "required": ["place"], "additionalProperties": False,
    "properties": {"place": {
        "type": "object", "title": "Ort und Zeit", "additionalProperties": False,
        "properties": {
            "date": {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10,
                     "title": "Datum des Umzugs", "x-date-min-days-ahead": 14},
            "inspection": {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10,
                           "title": "Letzte Besichtigung", "x-date-min-days-ahead": -30, "x-date-max-days-ahead": 0},
        },
    }},
}


def _moving_html(language: str = "de") -> str:
    step = FormSpec.from_schema(MOVING).step("place")
    with translation.override(language):
        return render_to_string("forms/nodes.html", {"nodes": render_nodes(step.children, {}, {})})


def test_relative_date_limits_are_computed_when_the_page_is_rendered_on_the_day_in_germany() -> None:
    from datetime import UTC, datetime
    from unittest import mock

    # 23:30 UTC on 10 March is already 11 March in Berlin.
    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 3, 10, 23, 30, tzinfo=UTC)):
        html = _moving_html()
    moving_day, inspection = _input(html, "place.date"), _input(html, "place.inspection")

    assert 'data-min="2026-03-25"' in moving_day and "data-max" not in moving_day
    assert 'id="f-place-date-range">Frühestens am 25.03.2026.</div>' in html
    assert 'data-min="2026-02-09"' in inspection and 'data-max="2026-03-11"' in inspection
    assert "Frühestens am 09.02.2026, spätestens am 11.03.2026." in html
    described = re.search(r'aria-describedby="([^"]*)"', moving_day)
    assert described and described.group(1).split() == ["f-place-date-format", "f-place-date-range"]
    # min and max do not apply to a text input; the date stays a text field (see field.html).
    assert 'type="text"' in moving_day and " min=" not in moving_day


def test_the_range_hint_is_translated() -> None:
    from datetime import UTC, datetime
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 3, 11, 9, 0, tzinfo=UTC)):
        html = _moving_html("en")

    assert "At the earliest on 25.03.2026." in html
    assert "At the earliest on 09.02.2026, at the latest on 11.03.2026." in html


def test_a_date_without_relative_limits_gets_no_range() -> None:
    birth_date = _input(_html(), "dog.birth_date")

    assert "data-min" not in birth_date and "-range" not in birth_date
