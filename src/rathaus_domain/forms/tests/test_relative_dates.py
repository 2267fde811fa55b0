"""Dates relative to the day of submission: ``x-date-min-days-ahead`` and ``x-date-max-days-ahead``
(docs/forms.md), checked by `validate` on the day it is given, read by the form model, linted."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from rathaus_domain.forms.model import FormSpec, date_limits
from rathaus_domain.forms.validation import check_form_schema, compiled, prepare, validate

from .conftest import _date, moving_form_schema

TODAY = dt.date(2026, 3, 11)


def _form(**fields: Any) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "Test",
        "properties": {"step": {"type": "object", "title": "Schritt", "properties": fields,
                                "required": [], "additionalProperties": False}},
        "required": ["step"], "additionalProperties": False,
    }


def _errors(schema: dict[str, Any], value: str, today: dt.date | None = TODAY) -> list[tuple[str, str, str, str]]:
    return [(e.pointer, e.code, e.message, e.message_en) for e in validate(schema, {"step": {"day": value}}, today=today)]


def test_a_date_before_the_earliest_day_names_that_day_in_german_and_english() -> None:
    schema = _form(day=_date("Umzug", min=14))

    assert _errors(schema, "2026-03-24") == [(
        "/step/day", "x-date-min-days-ahead",
        "Das Datum muss mindestens 14 Tage in der Zukunft liegen, also frühestens am 25.03.2026.",
        "The date must be at least 14 days from today, so 25.03.2026 at the earliest.",
    )]
    assert _errors(schema, "2026-03-25") == []  # the earliest day itself is allowed
    assert _errors(schema, "2027-03-25") == []  # no upper limit


def test_a_date_after_the_latest_day_names_that_day() -> None:
    schema = _form(day=_date("Termin", min=1, max=90))

    assert _errors(schema, "2026-06-10") == [(
        "/step/day", "x-date-max-days-ahead",
        "Das Datum darf höchstens 90 Tage in der Zukunft liegen, also spätestens am 09.06.2026.",
        "The date may be at most 90 days from today, so 09.06.2026 at the latest.",
    )]
    assert _errors(schema, "2026-06-09") == []
    assert _errors(schema, "2026-03-11")[0][2] == (
        "Das Datum muss mindestens einen Tag in der Zukunft liegen, also frühestens am 12.03.2026.")


@pytest.mark.parametrize(("limits", "value", "german", "english"), [
    ({"min": 0}, "2026-03-10", "Das Datum darf nicht in der Vergangenheit liegen, also frühestens heute, am 11.03.2026.",
     "The date must not be in the past, so today, 11.03.2026, at the earliest."),
    ({"max": 0}, "2026-03-12", "Das Datum darf nicht in der Zukunft liegen, also spätestens heute, am 11.03.2026.",
     "The date must not be in the future, so today, 11.03.2026, at the latest."),
    ({"min": -30}, "2026-02-08", "Das Datum darf höchstens 30 Tage zurückliegen, also frühestens am 09.02.2026.",
     "The date may be at most 30 days in the past, so 09.02.2026 at the earliest."),
    ({"max": -7}, "2026-03-05", "Das Datum muss mindestens 7 Tage zurückliegen, also spätestens am 04.03.2026.",
     "The date must be at least 7 days in the past, so 04.03.2026 at the latest."),
])
def test_limits_of_today_and_of_the_past_say_so_in_their_own_words(limits: dict[str, int], value: str, german: str,
                                                                   english: str) -> None:
    [(_pointer, _code, message, message_en)] = _errors(_form(day=_date("Datum", **limits)), value)

    assert (message, message_en) == (german, english)


def test_without_the_day_of_submission_the_relative_limits_are_not_checked() -> None:
    # Stored data is validated again later (an export): its moving day was right when it was sent.
    schema = _form(day=_date("Umzug", min=14))

    assert _errors(schema, "2026-03-12", today=None) == []


@pytest.mark.parametrize(("value", "code"), [("2026-02-30", "format"), ("12.03.2026", "pattern"), ("", "pattern")])
def test_a_value_that_is_no_date_gets_its_own_error_and_only_that(value: str, code: str) -> None:
    assert [(pointer, found) for pointer, found, *_ in _errors(_form(day=_date("Umzug", min=14)), value)] == [
        ("/step/day", code)]


def test_the_fast_path_answers_as_the_reference_path() -> None:
    schema = _form(day=_date("Umzug", min=14, max=365))
    prepared = copy.deepcopy(schema)
    prepare(prepared)
    assert compiled(prepared) is not None  # jsonschema-rs ignores the unknown keywords, as it must

    for value in ("2026-03-24", "2026-03-25", "2027-03-11", "2027-03-12", "2026-02-30"):
        data = {"step": {"day": value}}
        assert validate(prepared, data, today=TODAY) == validate(schema, data, today=TODAY), value


def test_every_place_the_form_model_reads_is_checked_and_reported_at_its_pointer() -> None:
    schema = moving_form_schema()
    data = {"move": {
        "day": "2026-03-24",                                   # 14 days ahead at least: one too early
        "contract": {"signed": "2026-03-12"},                  # not in the future
        "helpers": [{"name": "Ole", "from": "2026-03-11"}, {"name": "Ida", "from": "2026-03-10"}],
        "spare_days": ["2026-04-01", "2026-03-20"],            # a list of plain values
        "handover": "2026-03-12",                              # through a definition ($ref)
        "registered": "2026-03-11",                            # in an allOf part: at least one day back
    }}

    errors = validate(schema, data, today=TODAY)

    assert [(e.pointer, e.code) for e in errors] == [
        ("/move/day", "x-date-min-days-ahead"),
        ("/move/contract/signed", "x-date-max-days-ahead"),
        ("/move/helpers/1/from", "x-date-min-days-ahead"),
        ("/move/spare_days/1", "x-date-min-days-ahead"),
        ("/move/handover", "x-date-max-days-ahead"),
        ("/move/registered", "x-date-max-days-ahead"),
    ]


def test_the_form_model_hands_the_limits_to_renderers_who_count_them_from_their_day() -> None:
    spec = FormSpec.from_schema(moving_form_schema())
    fields = {field.name: field for field in spec.fields()}

    assert fields["move.day"].constraints["x-date-min-days-ahead"] == 14
    assert date_limits(fields["move.day"].constraints, TODAY) == (dt.date(2026, 3, 25), dt.date(2027, 3, 11))
    assert date_limits(fields["move.handover"].constraints, TODAY) == (None, TODAY)
    assert date_limits(fields["move.spare_days.*"].constraints, TODAY) == (dt.date(2026, 3, 25), None)
    assert date_limits({}, TODAY) == (None, None)
    # A value the lint refuses sets no limit rather than failing the page.
    assert date_limits({"x-date-min-days-ahead": "14", "x-date-max-days-ahead": 10**9}, TODAY) == (None, None)


def test_a_form_with_relative_dates_passes_the_lint() -> None:
    assert check_form_schema(moving_form_schema()) == []


def _lint(**field: Any) -> list[str]:
    return check_form_schema(_form(day=field))


DATE = {"type": "string", "title": "Datum", "format": "date", "pattern": _date("x")["pattern"], "maxLength": 10}


@pytest.mark.parametrize(("field", "problem"), [
    ({**DATE, "x-date-min-days-ahead": 14.5},
     "/properties/step/properties/day: x-date-min-days-ahead must be a whole number of days (negative: before the "
     "day of submission), not 14.5"),
    ({**DATE, "x-date-min-days-ahead": "14"},
     "/properties/step/properties/day: x-date-min-days-ahead must be a whole number of days (negative: before the "
     "day of submission), not '14'"),
    ({**DATE, "x-date-max-days-ahead": True},
     "/properties/step/properties/day: x-date-max-days-ahead must be a whole number of days (negative: before the "
     "day of submission), not True"),
    ({**DATE, "x-date-max-days-ahead": 400_000},
     "/properties/step/properties/day: x-date-max-days-ahead 400000 reaches further than 36600 days (about a "
     "hundred years) from the day of submission"),
    ({**DATE, "x-date-min-days-ahead": -36_601},
     "/properties/step/properties/day: x-date-min-days-ahead -36601 reaches further than 36600 days (about a "
     "hundred years) from the day of submission"),
    ({**DATE, "x-date-min-days-ahead": 14, "x-date-max-days-ahead": 7},
     "/properties/step/properties/day: x-date-min-days-ahead (14) is greater than x-date-max-days-ahead (7), so no "
     "date can ever be valid"),
    ({"type": "string", "title": "Text", "maxLength": 10, "pattern": "^[a-z]*(?![\\s\\S])", "x-date-min-days-ahead": 14},
     "/properties/step/properties/day: x-date-min-days-ahead only applies to a date field (a string with format date)"),
    ({"type": "integer", "title": "Tage", "x-date-min-days-ahead": 14, "x-date-max-days-ahead": 20},
     "/properties/step/properties/day: x-date-min-days-ahead and x-date-max-days-ahead only applies to a date field "
     "(a string with format date)"),
    ({**DATE, "enum": ["2026-12-24"], "x-date-min-days-ahead": 0},
     "/properties/step/properties/day: x-date-min-days-ahead only applies to a date field (a string with format date)"),
])
def test_the_lint_names_each_bad_relative_limit(field: dict[str, Any], problem: str) -> None:
    assert problem in _lint(**field)


@pytest.mark.parametrize("days", [-36_600, -30, 0, 14, 36_600])
def test_negative_numbers_count_back_and_are_allowed_within_a_hundred_years(days: int) -> None:
    # "Not longer ago than 30 days" is -30, "not in the future" a maximum of 0: both are meaningful.
    assert _lint(**DATE, **{"x-date-min-days-ahead": days}) == []
    assert _lint(**DATE, **{"x-date-max-days-ahead": days}) == []


def test_a_limit_where_nothing_reads_it_is_refused_rather_than_silently_ignored() -> None:
    schema = _form(day=DATE, kind={"type": "string", "title": "Art", "enum": ["a", "b"]})
    schema["properties"]["step"]["if"] = {"properties": {"kind": {"const": "a"}}, "required": ["kind"]}
    schema["properties"]["step"]["then"] = {"properties": {"day": {"x-date-min-days-ahead": 14}}}
    schema["$defs"] = {"unused": {**DATE, "x-date-max-days-ahead": 0}}

    problems = check_form_schema(schema)

    assert problems == [
        "/properties/step/then/properties/day: x-date-min-days-ahead is read only on a date field's own schema (in "
        "properties or items), not inside if/then/else, not, anyOf, oneOf or an unused definition",
        "/$defs/unused: x-date-max-days-ahead is read only on a date field's own schema (in properties or items), not "
        "inside if/then/else, not, anyOf, oneOf or an unused definition",
    ]


def test_a_shared_definition_a_date_field_refers_to_is_read_and_its_values_checked() -> None:
    schema = _form(day={"$ref": "#/$defs/moving_day", "title": "Umzug"})
    schema["$defs"] = {"moving_day": {**DATE, "x-date-min-days-ahead": 14}}
    assert check_form_schema(schema) == []

    schema["$defs"]["moving_day"]["x-date-max-days-ahead"] = 1
    assert check_form_schema(schema) == [
        "/properties/step/properties/day: x-date-min-days-ahead (14) is greater than x-date-max-days-ahead (1), so no "
        "date can ever be valid"]


def test_a_date_inside_a_group_shared_through_a_definition_is_read_where_it_is_written() -> None:
    schema = _form(move={"$ref": "#/$defs/move", "title": "Umzug"})
    schema["$defs"] = {"move": {"type": "object", "title": "Umzug", "additionalProperties": False,
                                "properties": {"day": {**DATE, "x-date-min-days-ahead": 14}}, "required": ["day"]}}

    assert check_form_schema(schema) == []
    assert [e.pointer for e in validate(schema, {"step": {"move": {"day": "2026-03-12"}}}, today=TODAY)] == [
        "/step/move/day"]
