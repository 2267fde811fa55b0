from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from rathaus_domain.forms.coerce import parse_number
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.validation import (
    END_OF_TEXT,
    FILENAME_PATTERN,
    MULTI_LINE_TEXT_PATTERN,
    SINGLE_LINE_TEXT_PATTERN,
    FieldError,
    check_form_schema,
    content_pattern,
    file_field_schema,
    sniff_content_type,
    text_pattern,
    validate,
)

from .conftest import GIF_BYTES, PDF_BYTES, PNG_BYTES


def _only(errors: list[FieldError]) -> FieldError:
    assert len(errors) == 1, errors
    return errors[0]


def test_valid_data_has_no_errors(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    assert validate(dog_schema, dog_data) == []


def test_missing_required_field_points_at_the_field(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    del dog_data["applicant"]["name"]

    assert validate(dog_schema, dog_data) == [
        FieldError(
            path=("applicant", "name"),
            pointer="/applicant/name",
            code="required",
            message="Dieses Feld ist ein Pflichtfeld.",
            message_en="This field is required.",
        )
    ]


def test_too_long_text_names_the_limit(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["applicant"]["name"] = "x" * 81

    error = _only(validate(dog_schema, dog_data))

    assert (error.pointer, error.code) == ("/applicant/name", "maxLength")
    assert error.message == "Bitte geben Sie höchstens 80 Zeichen ein."
    assert error.message_en == "Please enter at most 80 characters."


def test_fixed_length_says_exactly(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["applicant"]["address"]["postcode"] = "1234"

    error = _only(validate(dog_schema, dog_data))

    assert (error.path, error.code) == (("applicant", "address", "postcode"), "minLength")
    assert error.message == "Bitte geben Sie genau 5 Zeichen ein."


def test_value_outside_the_enum(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["dogs"]["dogs"][0]["breed"] = "wolf"

    error = _only(validate(dog_schema, dog_data))

    assert (error.pointer, error.code, error.message) == (
        "/dogs/dogs/0/breed",
        "enum",
        "Bitte wählen Sie einen der angebotenen Werte.",
    )


def test_unknown_field_is_named(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["applicant"]["nickname"] = "Eri"

    error = _only(validate(dog_schema, dog_data))

    assert (error.path, error.code) == (("applicant", "nickname"), "additionalProperties")
    assert error.message == "Unbekanntes Feld „nickname“."
    assert error.message_en == "Unknown field “nickname”."


def test_date_in_the_wrong_format_and_a_date_that_does_not_exist(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["applicant"]["birth_date"] = "29.02.1980"
    wrong_format = _only(validate(dog_schema, dog_data))
    dog_data["applicant"]["birth_date"] = "1981-02-29"
    impossible = _only(validate(dog_schema, dog_data))

    assert (wrong_format.code, wrong_format.message) == (
        "pattern",
        "Das Datum muss im Format TT.MM.JJJJ angegeben werden, z. B. 31.01.2025.",
    )
    assert (impossible.code, impossible.message) == (
        "format",
        "Dieses Datum gibt es nicht. Bitte prüfen Sie Tag und Monat.",
    )


def test_a_trailing_line_break_does_not_slip_through_a_pattern(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["applicant"]["address"]["postcode"] = "1234\n"

    assert [e.code for e in validate(dog_schema, dog_data)] == ["pattern"]


# A pattern that Python's re needs about 2**40 steps to refuse for "a" * 40 + "!" (hours): a form
# author may write it, and the FIM import produces it from XML Schema patterns.
BACKTRACKING_PATTERN = text_pattern(r"([A-Za-z0-9]+[ \-]?)*")

_VALIDATE_IN_CHILD = """
import json, sys
from rathaus_domain.forms.validation import prepare, validate
schema, data, fast = json.load(sys.stdin)
if fast:
    prepare(schema)
print(json.dumps([[e.pointer, e.code, e.message] for e in validate(schema, data)]))
"""


def _validate_in_a_child(schema: dict[str, Any], data: dict[str, Any], *, fast: bool) -> list[list[str]]:
    # In a child process: a regression hangs in C code that holds the GIL, which only a kill ends.
    done = subprocess.run([sys.executable, "-c", _VALIDATE_IN_CHILD], input=json.dumps([schema, data, fast]),  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("fast", [False, True])
def test_a_pattern_that_backtracks_badly_refuses_long_input_at_once(dog_schema: dict[str, Any], dog_data: dict[str, Any],
                                                                    fast: bool) -> None:
    dog_schema["properties"]["applicant"]["properties"]["name"]["pattern"] = BACKTRACKING_PATTERN
    assert check_form_schema(dog_schema) == []
    dog_data["applicant"]["name"] = "a" * 40 + "!"

    errors = _validate_in_a_child(dog_schema, dog_data, fast=fast)

    assert errors == [["/applicant/name", "pattern", "Die Eingabe hat nicht das erwartete Format."]]


def test_a_pattern_that_backtracks_badly_still_accepts_what_it_describes(dog_schema: dict[str, Any],
                                                                         dog_data: dict[str, Any]) -> None:
    dog_schema["properties"]["applicant"]["properties"]["name"]["pattern"] = BACKTRACKING_PATTERN
    dog_data["applicant"]["name"] = "Erika Mustermann-Gabler"

    assert validate(dog_schema, dog_data) == []
    dog_data["applicant"]["name"] = "Erika Mustermann\n"
    assert [e.code for e in validate(dog_schema, dog_data)] == ["pattern"]


def test_a_nul_is_refused_even_where_the_schema_forgot_a_pattern(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    del dog_schema["properties"]["applicant"]["properties"]["name"]["pattern"]
    del dog_schema["properties"]["dogs"]["properties"]["dogs"]["items"]["properties"]["breed_other"]["pattern"]
    dog_data["applicant"]["name"] = "Erika\x00Mustermann"
    dog_data["dogs"]["dogs"][1]["breed_other"] = "\x00"

    errors = validate(dog_schema, dog_data)

    assert [(e.pointer, e.code) for e in errors] == [("/applicant/name", "pattern"), ("/dogs/dogs/1/breed_other", "pattern")]
    assert errors[0].message == "Der Text enthält unzulässige Steuerzeichen. Bitte geben Sie ihn erneut ein."


def test_a_nul_in_a_file_name_or_an_unknown_key_is_reported_once(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["details"]["vaccination"] = {
        "filename": "impf\x00pass.pdf",
        "content_type": "application/pdf",
        "content": base64.b64encode(PDF_BYTES).decode(),
    }
    dog_data["details"]["fa\x00x"] = "\x00"

    errors = validate(dog_schema, dog_data)

    assert [(e.pointer, e.code) for e in errors] == [
        ("/details/vaccination", "pattern"),
        ("/details/fa\x00x", "additionalProperties"),
    ]


def test_invalid_email(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["applicant"]["email"] = "erika at example"

    error = _only(validate(dog_schema, dog_data))

    assert error.message == "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@example.de."


def test_condition_inside_all_of_requires_the_dependent_field(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    del dog_data["details"]["company"]

    error = _only(validate(dog_schema, dog_data))

    assert (error.pointer, error.code) == ("/details/company", "required")


def test_condition_inside_repeatable_items(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    del dog_data["dogs"]["dogs"][1]["breed_other"]

    error = _only(validate(dog_schema, dog_data))

    assert error.path == ("dogs", "dogs", 1, "breed_other")


def test_wrong_type_explains_what_is_expected(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["dogs"]["count_previous"] = "zwei"
    dog_data["dogs"]["dogs"][0]["weight_kg"] = "schwer"

    errors = validate(dog_schema, dog_data)

    assert [(e.pointer, e.message, e.message_en) for e in errors] == [
        ("/dogs/dogs/0/weight_kg", "Bitte geben Sie eine Zahl ein.", "Please enter a number."),
        ("/dogs/count_previous", "Bitte geben Sie eine ganze Zahl ein.", "Please enter a whole number."),
    ]


def test_numbers_outside_their_range(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["dogs"]["dogs"][0]["weight_kg"] = 120.5
    dog_data["dogs"]["count_previous"] = -1

    assert [(e.code, e.message) for e in validate(dog_schema, dog_data)] == [
        ("maximum", "Der Wert darf höchstens 120 betragen."),
        ("minimum", "Der Wert muss mindestens 0 betragen."),
    ]


def test_missing_or_false_confirmation_asks_for_confirmation(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["details"]["consent"] = False
    refused = _only(validate(dog_schema, dog_data))
    del dog_data["details"]["consent"]
    missing = _only(validate(dog_schema, dog_data))

    assert (refused.code, refused.message) == ("const", "Bitte bestätigen Sie diese Angabe.")
    assert (missing.code, missing.message) == ("required", "Bitte bestätigen Sie diese Angabe.")


def test_required_choice_and_checkbox_group_messages(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    del dog_data["details"]["kind"]
    del dog_data["details"]["company"]
    dog_data["details"]["reductions"] = ["rettungshund", "rettungshund"]

    assert [(e.path[-1], e.code, e.message) for e in validate(dog_schema, dog_data)] == [
        ("kind", "required", "Bitte wählen Sie eine Möglichkeit aus."),
        ("reductions", "uniqueItems", "Jeder Eintrag darf nur einmal vorkommen."),
    ]


def test_repeatable_group_limits(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["dogs"]["dogs"] = []
    dog_data["details"]["nicknames"] = ["a", "b", "c", "d"]

    assert [(e.pointer, e.message) for e in validate(dog_schema, dog_data)] == [
        ("/dogs/dogs", "Bitte geben Sie mindestens einen Eintrag an."),
        ("/details/nicknames", "Bitte geben Sie höchstens 3 Einträge an."),
    ]


def test_errors_follow_schema_order_not_alphabet(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["details"]["consent"] = False
    dog_data["applicant"]["name"] = 5
    dog_data["details"]["insured"] = "ja"
    dog_data["applicant"]["address"]["street"] = "x" * 101

    assert [e.pointer for e in validate(dog_schema, dog_data)] == [
        "/applicant/name",
        "/applicant/address/street",
        "/details/insured",
        "/details/consent",
    ]


def test_one_of_is_unwrapped_to_the_concrete_error() -> None:
    schema = {
        "type": "object",
        "properties": {
            "contact": {
                "oneOf": [
                    {"type": "object", "properties": {"phone": {"type": "string", "maxLength": 3}}, "required": ["phone"]},
                    {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
                ]
            }
        },
    }

    error = _only(validate(schema, {"contact": {"phone": "12345"}}))

    assert (error.path, error.code, error.message) == (
        ("contact", "phone"),
        "maxLength",
        "Bitte geben Sie höchstens 3 Zeichen ein.",
    )


def test_pointer_escapes_slash_and_tilde() -> None:
    schema = {"type": "object", "properties": {"a/b~c": {"type": "string"}}, "required": ["a/b~c"]}

    assert _only(validate(schema, {})).pointer == "/a~1b~0c"


class TestFiles:
    def _file(self, raw: bytes, content_type: str = "application/pdf", name: str = "impfpass.pdf") -> dict[str, str]:
        return {"filename": name, "content_type": content_type, "content": base64.b64encode(raw).decode()}

    def test_an_allowed_file_is_valid(self, dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
        dog_data["details"]["vaccination"] = self._file(PNG_BYTES, "image/png", "pass.png")

        assert validate(dog_schema, dog_data) == []

    def test_errors_inside_a_file_belong_to_the_upload_field(self, dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
        dog_data["details"]["vaccination"] = self._file(GIF_BYTES, "image/gif", "pass.gif")

        error = _only(validate(dog_schema, dog_data))

        assert (error.pointer, error.code) == ("/details/vaccination", "enum")
        assert error.message == "Dieser Dateityp ist nicht erlaubt. Erlaubt sind: PDF, PNG, JPEG."

    def test_too_large_file_names_the_limit(self) -> None:
        schema = {
            "type": "object",
            "properties": {"scan": file_field_schema(["application/pdf"], 1000, "Scan")},
        }

        error = _only(validate(schema, {"scan": self._file(PDF_BYTES[:5] + bytes(1000))}))

        assert (error.path, error.code) == (("scan",), "maxLength")
        assert error.message == "Die Datei ist zu groß. Erlaubt sind höchstens 1000 Bytes."

    def test_missing_file_and_path_in_file_name(self, dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
        dog_schema["properties"]["details"]["required"].append("vaccination")
        missing = _only(validate(dog_schema, dog_data))
        dog_data["details"]["vaccination"] = self._file(PDF_BYTES, name="../../etc/passwd")
        bad_name = _only(validate(dog_schema, dog_data))

        assert (missing.pointer, missing.message) == ("/details/vaccination", "Bitte laden Sie eine Datei hoch.")
        assert (bad_name.pointer, bad_name.code) == ("/details/vaccination", "pattern")
        assert bad_name.message.startswith("Der Dateiname ist ungültig")


def test_file_field_schema_is_the_documented_leaf() -> None:
    assert file_field_schema(["application/pdf", "image/jpeg"], 1_000_000, "Nachweis", "PDF oder Foto") == {
        "type": "object",
        "title": "Nachweis",
        "description": "PDF oder Foto",
        "x-widget": "file",
        "x-max-bytes": 1_000_000,
        "properties": {
            "filename": {"type": "string", "maxLength": 255, "pattern": FILENAME_PATTERN},
            "content_type": {"enum": ["application/pdf", "image/jpeg"]},
            "content": {
                "type": "string",
                "contentEncoding": "base64",
                "maxLength": 1_333_336,
                "pattern": r"^(?:JVBERi0[A-Za-z0-9+/]|/9j/)(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?(?![\s\S])",
            },
        },
        "required": ["filename", "content_type", "content"],
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"content_type": {"const": "application/pdf"}}, "required": ["content_type"]},
                "then": {"properties": {"content": {"pattern": content_pattern(["application/pdf"])}}},
            },
            {
                "if": {"properties": {"content_type": {"const": "image/jpeg"}}, "required": ["content_type"]},
                "then": {"properties": {"content": {"pattern": content_pattern(["image/jpeg"])}}},
            },
        ],
    }


def test_file_content_must_be_decodable_base64_of_the_declared_type() -> None:
    schema = file_field_schema(["application/pdf", "image/png"], 1000, "Nachweis")
    pdf = base64.b64encode(PDF_BYTES).decode()
    assert validate(schema, {"filename": "a.pdf", "content_type": "application/pdf", "content": pdf}) == []
    truncated = {"filename": "a.pdf", "content_type": "application/pdf", "content": pdf[:-1]}
    assert [e.code for e in validate(schema, truncated)] == ["pattern"]
    mislabelled = {"filename": "a.png", "content_type": "image/png", "content": pdf}
    assert validate(schema, mislabelled) != []


@pytest.mark.parametrize(
    ("accept", "max_bytes", "message"),
    [(["image/gif"], 10, "known content types"), ([], 10, "known content types"), (["image/png"], 0, "positive")],
)
def test_file_field_schema_refuses_unknown_types_and_sizes(accept: list[str], max_bytes: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        file_field_schema(accept, max_bytes, "Datei")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (PDF_BYTES, "application/pdf"),
        (PNG_BYTES, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (GIF_BYTES, None),
        (b"", None),
        (b"%PD", None),
    ],
)
def test_sniff_content_type_reads_magic_bytes(raw: bytes, expected: str | None) -> None:
    assert sniff_content_type(raw) == expected


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [(PDF_BYTES, "application/pdf"), (PNG_BYTES, "image/png"), (b"\xff\xd8\xff\xdb" + bytes(9), "image/jpeg")],
)
def test_content_pattern_agrees_with_sniffing(raw: bytes, content_type: str) -> None:
    encoded = base64.b64encode(raw).decode()
    others = [t for t in ("application/pdf", "image/png", "image/jpeg") if t != content_type]

    assert re.search(content_pattern([content_type]), encoded)
    assert not re.search(content_pattern(others), encoded)


class TestCheckFormSchema:
    def test_the_sample_form_is_clean(self, dog_schema: dict[str, Any]) -> None:
        assert check_form_schema(dog_schema) == []

    def test_metaschema_errors_come_first_and_alone(self, dog_schema: dict[str, Any]) -> None:
        dog_schema["properties"]["applicant"]["properties"]["name"]["maxLength"] = -1
        dog_schema["properties"]["details"]["properties"]["notes"]["pattern"] = "(unclosed"

        problems = check_form_schema(dog_schema)

        assert len(problems) == 2
        assert problems[0].startswith("/properties/applicant/properties/name/maxLength: metaschema:")
        assert problems[1].startswith("/properties/details/properties/notes/pattern: metaschema:")

    def test_a_form_that_nests_itself_is_refused_instead_of_failing_for_every_citizen(self, dog_schema: dict[str, Any]) -> None:
        dog_schema["$defs"] = {"person": {
            "type": "object", "title": "Person", "additionalProperties": False,
            "properties": {"name": {"type": "string", "title": "Name", "maxLength": 80, "pattern": SINGLE_LINE_TEXT_PATTERN},
                           "kinder": {"type": "array", "title": "Kinder", "maxItems": 5, "items": {"$ref": "#/$defs/person"}}}}}
        dog_schema["properties"]["details"]["properties"]["person"] = {"$ref": "#/$defs/person"}
        with pytest.raises(RecursionError):
            FormSpec.from_schema(dog_schema)  # what opening the form did

        assert check_form_schema(dog_schema) == [
            "/properties/details/properties/person/properties/kinder/items: $ref '#/$defs/person' refers back to itself "
            "(#/$defs/person -> #/$defs/person); a form cannot nest without end"
        ]

    @pytest.mark.parametrize(
        ("widget", "problem"),
        [
            ("checkboxes", "x-widget 'checkboxes' needs an array whose items have an enum"),
            ("radio", "x-widget 'radio' needs an enum or a boolean"),
            ("number", "x-widget 'number' needs an integer or number without enum"),
            ("slider", "unknown x-widget 'slider'; known are checkbox, checkboxes, date, email, file, number, radio, "
                       "select, tel, text, textarea"),
        ],
    )
    def test_a_widget_that_cannot_show_the_field_is_refused(self, dog_schema: dict[str, Any], widget: str,
                                                            problem: str) -> None:
        dog_schema["properties"]["applicant"]["properties"]["name"]["x-widget"] = widget

        assert check_form_schema(dog_schema) == [f"/properties/applicant/properties/name: {problem}"]

    @pytest.mark.parametrize("widget", ["text", "textarea", "tel", "email"])
    def test_text_widgets_fit_a_free_text(self, dog_schema: dict[str, Any], widget: str) -> None:
        dog_schema["properties"]["applicant"]["properties"]["name"]["x-widget"] = widget

        assert check_form_schema(dog_schema) == []

    @pytest.mark.parametrize(
        ("limits", "problem"),
        [
            ({"maxItems": 201}, "maxItems 201 is more than a form can show; at most 200"),
            ({"minItems": 51, "maxItems": 60}, "minItems 51 is more than a citizen can fill in; at most 50"),
            ({"minItems": 4, "maxItems": 3}, "minItems is greater than maxItems, so the list can never be valid"),
        ],
    )
    def test_repeatable_groups_are_bounded(self, dog_schema: dict[str, Any], limits: dict[str, int], problem: str) -> None:
        dog_schema["properties"]["dogs"]["properties"]["dogs"].update(limits)

        assert check_form_schema(dog_schema) == [f"/properties/dogs/properties/dogs: {problem}"]

    def test_a_form_the_model_cannot_build_is_refused(self, dog_schema: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(schema: Any) -> None:
            raise AttributeError("'str' object has no attribute 'get'")

        monkeypatch.setattr(FormSpec, "from_schema", broken)

        assert check_form_schema(dog_schema) == [
            "/: the form cannot be built: AttributeError: 'str' object has no attribute 'get'"]

    def test_a_pattern_the_validator_cannot_compile_is_refused(self, dog_schema: dict[str, Any]) -> None:
        # Python's re reads {,5} as "at most five"; the validator (jsonschema-rs) cannot compile it.
        pattern = "^[0-9]{,5}" + END_OF_TEXT
        dog_schema["properties"]["applicant"]["properties"]["address"]["properties"]["postcode"]["pattern"] = pattern

        assert check_form_schema(dog_schema) == [
            f"/properties/applicant/properties/address/properties/postcode/pattern: pattern {pattern!r} "
            "cannot be compiled by the validator (jsonschema-rs)"
        ]

    def test_pattern_properties_are_refused(self, dog_schema: dict[str, Any]) -> None:
        dog_schema["properties"]["details"]["patternProperties"] = {"^x-": {"type": "string", "maxLength": 5}}

        assert check_form_schema(dog_schema) == [
            "/properties/details: patternProperties are not supported; a form has named fields only"]

    @pytest.mark.parametrize(
        ("change", "problem"),
        [
            (
                lambda s: s["properties"]["applicant"]["properties"]["address"].pop("additionalProperties"),
                "/properties/applicant/properties/address: object is not closed (additionalProperties: false missing)",
            ),
            (
                lambda s: s["properties"]["applicant"]["properties"]["name"].pop("maxLength"),
                "/properties/applicant/properties/name: string without maxLength",
            ),
            (
                lambda s: s["properties"]["applicant"]["properties"]["email"].pop("pattern"),
                "/properties/applicant/properties/email: format 'email' without a pattern",
            ),
            (
                lambda s: s["properties"]["details"]["properties"]["nicknames"].pop("maxItems"),
                "/properties/details/properties/nicknames: array without maxItems",
            ),
            (
                lambda s: s["properties"]["details"]["properties"]["reductions"].pop("uniqueItems"),
                "/properties/details/properties/reductions: checkbox group without uniqueItems: true",
            ),
            (
                lambda s: s["properties"]["details"]["properties"]["kind"]["x-enum-labels"].pop(),
                "/properties/details/properties/kind: x-enum-labels must have one label per enum value",
            ),
            (lambda s: s["required"].pop(), "/: required must list every step"),
            (lambda s: s.pop("$schema"), "/: $schema must be https://json-schema.org/draft/2020-12/schema"),
            (
                lambda s: s["properties"]["details"]["allOf"][0]["then"]["required"].append("fax"),
                "/properties/details: then requires unknown property 'fax'",
            ),
            (
                lambda s: s["properties"]["details"]["allOf"][0]["if"].pop("required"),
                "/properties/details: condition on 'kind' must list it in if.required",
            ),
            (
                lambda s: s["properties"]["details"]["allOf"][0]["then"].update(
                    {"properties": {"fax": {"type": "string", "maxLength": 20}}}
                ),
                "/properties/details: then defines property 'fax' that additionalProperties: false rejects",
            ),
            (
                lambda s: s["properties"]["details"]["properties"]["vaccination"]["properties"]["content"].update(
                    {"maxLength": 1_000_000}
                ),
                "/properties/details/properties/vaccination/properties/content: file field needs maxLength = 1333336",
            ),
            (
                lambda s: s["properties"]["details"]["properties"]["vaccination"].pop("x-max-bytes"),
                "/properties/details/properties/vaccination: file field needs a positive integer x-max-bytes",
            ),
            (
                lambda s: s["properties"]["applicant"]["properties"]["address"]["properties"]["postcode"].update(
                    {"pattern": "^[0-9]{5}$"}
                ),
                "/properties/applicant/properties/address/properties/postcode: pattern uses $, which Python's re "
                "also matches before a final line break; end it with (?![\\s\\S])",
            ),
            (
                lambda s: s["properties"]["applicant"]["properties"]["address"]["properties"]["postcode"].update(
                    {"pattern": r"^\d{5}" + END_OF_TEXT}
                ),
                "/properties/applicant/properties/address/properties/postcode: pattern uses \\d, which Python's re "
                "and ECMA-262 read differently; list the characters instead",
            ),
            (
                lambda s: s["properties"]["applicant"]["properties"]["address"]["properties"]["postcode"].update(
                    {"pattern": "^[0-9]{4}.?" + END_OF_TEXT}
                ),
                "/properties/applicant/properties/address/properties/postcode: pattern uses ., which Python's re "
                "and ECMA-262 read differently; list the characters instead",
            ),
            (
                lambda s: s["properties"]["applicant"]["properties"]["name"].update({"pattern": "^[^<>]*" + END_OF_TEXT}),
                "/properties/applicant/properties/name: pattern accepts a NUL character, which the database cannot "
                "store; exclude control characters",
            ),
        ],
    )
    def test_each_problem_is_reported_once(self, dog_schema: dict[str, Any], change: Any, problem: str) -> None:
        schema = copy.deepcopy(dog_schema)
        change(schema)

        assert check_form_schema(schema) == [problem]


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[0-9$.]{5}" + END_OF_TEXT,
        r"^[0-9]{4}\$\." + END_OF_TEXT,
        r"^[0-9]{5}(?![\S\s])",
        SINGLE_LINE_TEXT_PATTERN,
        MULTI_LINE_TEXT_PATTERN,
        text_pattern("[0-9]{5}"),
    ],
)
def test_escaped_or_in_a_class_dollar_and_dot_are_fine_for_the_lint(dog_schema: dict[str, Any], pattern: str) -> None:
    dog_schema["properties"]["applicant"]["properties"]["address"]["properties"]["postcode"]["pattern"] = pattern

    assert check_form_schema(dog_schema) == []


@pytest.mark.parametrize("where", [("not",), ("properties", "applicant", "properties", "name", "anyOf")])
def test_a_reference_outside_the_form_is_refused_and_never_fetched(dog_schema: dict[str, Any], where: tuple) -> None:
    # jsonschema would download an http(s) $ref while validating, from the server's network.
    remote = {"$ref": "http://169.254.169.254/latest/meta-data/"}
    node = dog_schema
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = [remote] if where[-1] == "anyOf" else remote
    problems = check_form_schema(dog_schema)
    assert any("points outside the form" in p and "169.254.169.254" in p for p in problems), problems


def test_a_reference_written_in_example_data_is_not_a_reference(dog_schema: dict[str, Any]) -> None:
    dog_schema["properties"]["applicant"]["examples"] = [{"$ref": "http://example.org/not-a-schema"}]
    assert not [p for p in check_form_schema(dog_schema) if "points outside the form" in p]


def test_validation_resolves_references_within_the_schema_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    fetched: list[Any] = []

    def no_network(request: Any, *args: Any, **kwargs: Any) -> None:
        fetched.append(getattr(request, "full_url", request))
        raise OSError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    schema = {"type": "object", "$defs": {"short": {"type": "string", "maxLength": 3}},
              "properties": {"a": {"$ref": "#/$defs/short"}, "b": {"$ref": "https://schemas.example/b.json"}}}
    assert [e.pointer for e in validate(schema, {"a": "abcd"})] == ["/a"]
    with pytest.raises(Exception, match="b.json"):
        validate(schema, {"b": 1})  # unresolvable: an error, not a download
    assert fetched == []


@pytest.mark.parametrize(
    ("text", "single_line", "multi_line"),
    [
        ("Erika Mustermann", True, True),
        ("", True, True),
        ("<script>alert(1)</script> & 😀", True, True),
        ("Zeile 1\nZeile 2", False, True),
        ("Zeile 1\r\n\tZeile 2", False, True),
        ("Erika\n", False, True),
        ("ab\x00c", False, False),
        ("\x1b[31m", False, False),
        ("a\x7f", False, False),
        ("a\x85", False, False),
        ("a\x0b", False, False),
    ],
)
def test_free_text_patterns(text: str, single_line: bool, multi_line: bool) -> None:
    assert bool(re.search(text_pattern(), text)) is single_line
    assert bool(re.search(text_pattern(multi_line=True), text)) is multi_line


def test_a_text_pattern_with_a_body_must_match_the_whole_text_and_refuses_control_characters() -> None:
    pattern = text_pattern("[A-Z]{2}[^ ]*")

    assert re.search(pattern, "AB-1")
    assert not re.search(pattern, "AB-1\n")
    assert not re.search(pattern, "AB\x00")
    assert not re.search(pattern, "xAB")
    assert re.search(text_pattern("[A-Z]+[^!]*", multi_line=True), "AB\nCD")


EURO = {"type": "object", "properties": {"fee": {"type": "number", "minimum": 0, "multipleOf": 0.01}}}


@pytest.mark.parametrize("typed", ["19,99", "0,29", "1.234,56", "1234.56", "7"])
def test_euro_amounts_with_cents_are_multiples_of_a_cent(typed: str) -> None:
    fee = parse_number(typed, integer=False)

    assert validate(EURO, {"fee": fee}) == []


def test_an_amount_finer_than_a_cent_is_refused_with_the_cent_named() -> None:
    error = _only(validate(EURO, {"fee": parse_number("19,999", integer=False)}))

    assert (error.pointer, error.code) == ("/fee", "multipleOf")
    assert error.message == "Der Wert muss ein Vielfaches von 0,01 sein."


EXEMPTION_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {"reduction": {
        "type": "object",
        "properties": {
            "exemption": {"type": "string", "title": "Ermäßigung?", "enum": ["keine", "blind"],
                          "x-enum-labels": ["Keine", "Blindenführhund"]},
            "proof": file_field_schema(["application/pdf"], 1000, "Nachweis"),
        },
        "required": ["exemption"],
        "if": {"properties": {"exemption": {"not": {"const": "keine"}}}, "required": ["exemption"]},
        "then": {"required": ["proof"]},
    }},
}


def test_a_field_required_by_an_answer_names_that_answer_in_its_error() -> None:
    error = _only(validate(EXEMPTION_FORM, {"reduction": {"exemption": "blind"}}))

    assert error.pointer == "/reduction/proof"
    assert error.message == ("Bitte laden Sie eine Datei hoch – das ist nötig, weil Sie bei „Ermäßigung?“ "
                             "„Blindenführhund“ angegeben haben.")
    assert error.message_en == ("Please upload a file – it is needed because you answered “Blindenführhund” "
                                "to “Ermäßigung?”.")
    assert validate(EXEMPTION_FORM, {"reduction": {"exemption": "keine"}}) == []


def test_a_field_a_negated_condition_requires_is_conditional_but_not_hidden() -> None:
    (exemption, proof) = FormSpec.from_schema(EXEMPTION_FORM).step("reduction").children

    assert (exemption.conditional, proof.conditional, proof.required) == (False, True, False)
    # Not shown or hidden by the answer: a hidden value would be dropped before validation.
    assert proof.condition is None
    condition = proof.required_if
    assert condition is not None and condition.negated
    assert (condition.field_label, condition.value_label) == ("Ermäßigung?", "Keine")
    assert condition.holds({"reduction": {"exemption": "blind"}})
    assert not condition.holds({"reduction": {"exemption": "keine"}})
    assert not condition.holds({"reduction": {}})
