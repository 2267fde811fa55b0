from __future__ import annotations

import base64
from typing import Any

import pytest

from rathaus_domain.forms.coerce import (
    drop_hidden,
    errors_for_step,
    is_shown,
    normalise_date,
    parse_number,
    step_data_from_post,
    with_file,
)
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.validation import validate

from .conftest import PDF_BYTES, PNG_BYTES

APPLICANT_POST = {
    "csrfmiddlewaretoken": ["abc"],
    "applicant.name": ["  Erika Mustermann "],
    "applicant.email": [""],
    "applicant.birth_date": ["29.2.1980"],
    "applicant.address.street": ["Hauptstraße 1"],
    "applicant.address.postcode": ["12345"],
}


@pytest.fixture
def spec(dog_schema: dict[str, Any]) -> FormSpec:
    return FormSpec.from_schema(dog_schema)


def test_text_is_trimmed_empty_inputs_are_left_out_and_dates_normalised(spec: FormSpec) -> None:
    assert step_data_from_post(spec, "applicant", APPLICANT_POST) == {
        "name": "Erika Mustermann",
        "birth_date": "1980-02-29",
        "address": {"street": "Hauptstraße 1", "postcode": "12345"},
    }


def test_a_nul_in_posted_text_or_a_file_name_becomes_the_replacement_character(spec: FormSpec) -> None:
    # A draft is stored before it is validated, and PostgreSQL cannot store a NUL.
    post = {**APPLICANT_POST, "applicant.name": ["Erika\x00Mustermann"], "applicant.address.street": "\x00"}

    data = step_data_from_post(spec, "applicant", post)

    assert (data["name"], data["address"]["street"]) == ("Erika\ufffdMustermann", "\ufffd")
    assert with_file({}, ("vaccination",), "C:\\pass\x00.pdf", "application/pdf", PDF_BYTES)["vaccination"]["filename"] == (
        "pass\ufffd.pdf"
    )


def test_an_unreadable_date_stays_text_so_validation_explains_the_format(spec: FormSpec) -> None:
    post = {**APPLICANT_POST, "applicant.birth_date": ["29.2.80"]}
    data = step_data_from_post(spec, "applicant", post)

    errors = validate(spec.schema["properties"]["applicant"], data)

    assert data["birth_date"] == "29.2.80"
    assert [(e.pointer, e.message) for e in errors] == [
        ("/birth_date", "Das Datum muss im Format TT.MM.JJJJ angegeben werden, z. B. 31.01.2025."),
    ]


def test_required_group_left_empty_reports_its_fields(spec: FormSpec) -> None:
    data = step_data_from_post(spec, "applicant", {"applicant.name": ["Erika"], "applicant.birth_date": ["2000-01-01"]})

    assert data == {"name": "Erika", "birth_date": "2000-01-01", "address": {}}
    assert [e.pointer for e in validate(spec.schema["properties"]["applicant"], data)] == [
        "/address/street",
        "/address/postcode",
    ]


def test_repeatable_groups_are_read_by_index_and_empty_items_dropped(spec: FormSpec) -> None:
    post = {
        "dogs.dogs.0.name": ["Bello"],
        "dogs.dogs.0.breed": ["dackel"],
        "dogs.dogs.0.weight_kg": ["9,5"],
        "dogs.dogs.0.breed_other": ["Podenco"],  # hidden: breed is not "andere"
        "dogs.dogs.1.name": [""],
        "dogs.dogs.1.breed": [""],
        "dogs.dogs.3.name": ["Rex"],
        "dogs.dogs.3.breed": ["andere"],
        "dogs.dogs.3.breed_other": ["Podenco"],
        "dogs.count_previous": ["1.000"],
    }

    assert step_data_from_post(spec, "dogs", post) == {
        "dogs": [
            {"name": "Bello", "breed": "dackel", "weight_kg": 9.5},
            {"name": "Rex", "breed": "andere", "breed_other": "Podenco"},
        ],
        "count_previous": 1000,
    }


def test_empty_items_are_kept_up_to_min_items(spec: FormSpec) -> None:
    data = step_data_from_post(spec, "dogs", {"dogs.dogs.0.name": [""], "dogs.dogs.0.breed": [""]})

    assert data == {"dogs": [{}]}
    assert [e.pointer for e in validate(spec.schema["properties"]["dogs"], data)] == [
        "/dogs/0/name",
        "/dogs/0/breed",
    ]


def test_unparseable_number_stays_text_and_gets_a_type_error(spec: FormSpec) -> None:
    post = {"dogs.dogs.0.name": ["Bello"], "dogs.dogs.0.breed": ["pudel"], "dogs.count_previous": ["zwei"]}
    data = step_data_from_post(spec, "dogs", post)

    (error,) = [e for e in validate(spec.schema, {"dogs": data}) if e.path[0] == "dogs"]

    assert data["count_previous"] == "zwei"
    assert (error.pointer, error.message) == ("/dogs/count_previous", "Bitte geben Sie eine ganze Zahl ein.")


DETAILS_POST = {
    "details.kind": ["privat"],
    "details.company": ["Hundeschule"],  # hidden: only for "gewerblich"
    "details.notes": ["Zeile 1\r\nZeile 2"],
    "details.insured": ["on"],
    "details.reductions": ["blindenhund", "rettungshund", ""],
    "details.nicknames.0": ["Belli"],
    "details.nicknames.1": [" "],
    "details.consent": ["on"],
}


def test_checkboxes_lists_and_conditions(spec: FormSpec) -> None:
    assert step_data_from_post(spec, "details", DETAILS_POST) == {
        "kind": "privat",
        "notes": "Zeile 1\nZeile 2",
        "insured": True,
        "reductions": ["blindenhund", "rettungshund"],
        "nicknames": ["Belli"],
        "consent": True,
    }


def test_a_shown_conditional_field_is_kept(spec: FormSpec) -> None:
    data = step_data_from_post(spec, "details", {**DETAILS_POST, "details.kind": ["gewerblich"]})

    assert data["company"] == "Hundeschule"


def test_is_shown_follows_conditions_also_inside_list_items(spec: FormSpec) -> None:
    form = {"details": {"kind": "privat"}, "dogs": {"dogs": [{"breed": "andere"}, {"breed": "pudel"}]}}

    assert not is_shown(spec, ("details", "company"), form)
    assert is_shown(spec, ("details", "company"), {"details": {"kind": "gewerblich"}})
    assert is_shown(spec, ("dogs", "dogs", 0, "breed_other"), form)
    assert not is_shown(spec, ("dogs", "dogs", 1, "breed_other"), form)
    assert is_shown(spec, ("dogs", "dogs", 1, "name"), form)


def test_a_list_entry_with_only_a_file_is_kept_when_its_name_is_given(spec: FormSpec) -> None:
    post = {"dogs.dogs.0.name": ["Bello"], "dogs.dogs.0.breed": ["pudel"], "dogs.dogs.1.name": [""]}

    assert len(step_data_from_post(spec, "dogs", post)["dogs"]) == 1
    # Entry 1 holds a file (kept from before or uploaded now): it stays, for the file to go back in.
    assert step_data_from_post(spec, "dogs", post, ["dogs.dogs.1.photo"])["dogs"] == [
        {"name": "Bello", "breed": "pudel"}, {}]


def test_drop_hidden_removes_values_merged_in_after_coercion(spec: FormSpec) -> None:
    data = {"kind": "privat", "company": "Hundeschule"}
    drop_hidden(spec, "details", data)

    assert data == {"kind": "privat"}


def test_unticked_checkbox_is_false_but_unticked_confirmation_stays_absent(spec: FormSpec) -> None:
    data = step_data_from_post(spec, "details", {"details.kind": ["privat"]})

    assert data == {"kind": "privat", "insured": False}
    assert [(e.pointer, e.message) for e in validate(spec.schema, {"details": data}) if e.path[0] == "details"] == [
        ("/details/consent", "Bitte bestätigen Sie diese Angabe.")
    ]


def test_typed_enum_values_come_back_typed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {
                "type": "object",
                "title": "S",
                "properties": {
                    "size": {"type": "integer", "enum": [1, 2, 3], "x-enum-labels": ["klein", "mittel", "groß"]},
                    "answer": {"type": "boolean", "x-widget": "radio"},
                },
                "additionalProperties": False,
            }
        },
    }
    spec = FormSpec.from_schema(schema)

    assert step_data_from_post(spec, "s", {"s.size": ["2"], "s.answer": ["false"]}) == {"size": 2, "answer": False}
    assert step_data_from_post(spec, "s", {"s.size": ["7"]}) == {"size": "7"}


def test_a_whole_form_posted_step_by_step_validates(spec: FormSpec, dog_data: dict[str, Any]) -> None:
    posts = {
        "applicant": {**APPLICANT_POST, "applicant.email": ["erika@example.de"]},
        "dogs": {"dogs.dogs.0.name": ["Bello"], "dogs.dogs.0.breed": ["dackel"]},
        "details": DETAILS_POST,
    }

    data = {key: step_data_from_post(spec, key, post) for key, post in posts.items()}
    data = with_file(data, ("details", "vaccination"), "C:\\fakepath\\impfpass.pdf", "application/octet-stream", PDF_BYTES)

    assert validate(spec.schema, data) == []
    assert data["details"]["vaccination"] == {
        "filename": "impfpass.pdf",
        "content_type": "application/pdf",
        "content": base64.b64encode(PDF_BYTES).decode(),
    }


def test_with_file_copies_instead_of_changing_the_data() -> None:
    original: dict[str, Any] = {"s": {"files": [{"filename": "a.pdf"}]}}

    result = with_file(original, ("s", "files", 1), "scan.png", "image/png", PNG_BYTES)

    assert original == {"s": {"files": [{"filename": "a.pdf"}]}}
    assert result["s"]["files"][0] == {"filename": "a.pdf"}
    assert result["s"]["files"][1]["content_type"] == "image/png"
    with pytest.raises(IndexError):
        with_file(original, ("s", "files", 5), "scan.png", "image/png", PNG_BYTES)


def test_unrecognised_content_keeps_the_declared_type_and_fails_validation(spec: FormSpec, dog_data: dict[str, Any]) -> None:
    data = with_file(dog_data, ("details", "vaccination"), "pass.pdf", "application/pdf", b"MZ\x90\x00")

    (error,) = validate(spec.schema, data)

    assert (error.pointer, error.code) == ("/details/vaccination", "pattern")


def test_errors_for_step_keys_by_html_name_one_per_field(spec: FormSpec) -> None:
    data = {
        "applicant": {"name": "x" * 100, "unknown": 1, "address": {"street": "A"}},
        "dogs": {"dogs": []},
    }

    errors = errors_for_step(validate(spec.schema, data), "applicant")

    assert {name: error.code for name, error in errors.items()} == {
        "applicant.name": "maxLength",
        "applicant.birth_date": "required",
        "applicant.address.postcode": "required",
        "applicant.unknown": "additionalProperties",
    }
    assert list(errors) == ["applicant.name", "applicant.birth_date", "applicant.address.postcode", "applicant.unknown"]


@pytest.mark.parametrize(
    ("text", "integer", "expected"),
    [
        ("12", True, 12),
        ("1.234", True, 1234),
        ("-3", True, -3),
        ("12,5", True, "12,5"),
        ("12,5", False, 12.5),
        ("1.234,56", False, 1234.56),
        ("2.5", False, 2.5),
        ("1 000", True, 1000),
        ("1_000", True, "1_000"),
        ("١٢", True, "١٢"),
        ("nan", False, "nan"),
        ("inf", False, "inf"),
        ("1e3", False, 1000.0),
        ("1e999", False, "1e999"),
        ("9" * 5000, True, "9" * 5000),
    ],
)
def test_parse_number(text: str, integer: bool, expected: object) -> None:
    result = parse_number(text, integer=integer)

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31.01.2025", "2025-01-31"),
        ("1.2.2025", "2025-02-01"),
        ("2025-1-5", "2025-01-05"),
        ("2025-01-31", "2025-01-31"),
        ("31.01.25", "31.01.25"),
        ("gestern", "gestern"),
    ],
)
def test_normalise_date(text: str, expected: str) -> None:
    assert normalise_date(text) == expected
