from __future__ import annotations

import base64
from typing import Any

import pytest

from rathaus_domain.forms.model import (
    Condition,
    Field,
    FormSchemaError,
    FormSpec,
    Group,
    default_widget,
    format_bytes,
)
from rathaus_domain.forms.validation import SINGLE_LINE_TEXT_PATTERN

from .conftest import PDF_BYTES


def _fields(spec: FormSpec) -> dict[str, Field]:
    return {field.name: field for field in spec.fields()}


def test_steps_follow_the_root_properties_in_schema_order(dog_schema: dict[str, Any]) -> None:
    spec = FormSpec.from_schema(dog_schema)

    assert spec.title == "Hund anmelden"
    assert spec.description == "Anmeldung zur Hundesteuer"
    assert [(s.key, s.title, s.description) for s in spec.steps] == [
        ("applicant", "Antragsteller", "Ihre Angaben"),
        ("dogs", "Hunde", ""),
        ("details", "Weitere Angaben", ""),
    ]


def test_a_text_field_carries_every_ui_hint(dog_schema: dict[str, Any]) -> None:
    field = _fields(FormSpec.from_schema(dog_schema))["applicant.name"]

    assert field == Field(
        path=("applicant", "name"),
        name="applicant.name",
        label="Name",
        help="",
        widget="text",
        type="string",
        required=True,
        choices=(),
        constraints={"maxLength": 80, "pattern": SINGLE_LINE_TEXT_PATTERN},
        autocomplete="name",
        placeholder="Vor- und Nachname",
        condition=None,
        fim_id=None,
        prefill="profile.name",
    )


def test_widgets_default_as_docs_forms_md_says(dog_schema: dict[str, Any]) -> None:
    widgets = {name: f.widget for name, f in _fields(FormSpec.from_schema(dog_schema)).items()}

    assert widgets == {
        "applicant.name": "text",
        "applicant.email": "email",
        "applicant.birth_date": "date",
        "applicant.address.street": "text",
        "applicant.address.postcode": "text",
        "dogs.dogs.*.name": "text",
        "dogs.dogs.*.breed": "select",  # six breeds: more than five choices
        "dogs.dogs.*.breed_other": "text",
        "dogs.dogs.*.weight_kg": "number",
        "dogs.count_previous": "number",
        "details.kind": "radio",
        "details.company": "text",
        "details.notes": "textarea",
        "details.insured": "checkbox",
        "details.reductions": "checkboxes",
        "details.vaccination": "file",
        "details.nicknames.*": "text",
        "details.consent": "checkbox",
    }


def test_default_widget_switches_from_radio_to_select_after_five_choices() -> None:
    assert default_widget({"type": "string", "enum": list("abcde")}) == "radio"
    assert default_widget({"type": "string", "enum": list("abcdef")}) == "select"
    assert default_widget({"type": "integer"}) == "number"
    assert default_widget({"type": "string", "x-widget": "textarea"}) == "textarea"


def test_choices_pair_enum_values_with_their_labels(dog_schema: dict[str, Any]) -> None:
    fields = _fields(FormSpec.from_schema(dog_schema))

    assert fields["details.kind"].choices == (("privat", "Privat"), ("gewerblich", "Gewerblich"))
    assert fields["details.reductions"].choices == (
        ("rettungshund", "Rettungshund"),
        ("blindenhund", "Blindenhund"),
        ("sozialhilfe", "Bezug von Sozialhilfe"),
    )
    assert fields["details.reductions"].constraints == {"maxItems": 3}


def test_file_and_confirmation_constraints(dog_schema: dict[str, Any]) -> None:
    fields = _fields(FormSpec.from_schema(dog_schema))

    vaccination = fields["details.vaccination"]
    assert (vaccination.type, vaccination.label, vaccination.help) == ("object", "Impfpass", "Foto oder Scan")
    assert vaccination.constraints == {
        "accept": ["application/pdf", "image/png", "image/jpeg"],
        "max_bytes": 1_000_000,
    }
    assert fields["details.consent"].constraints == {"const": True}
    assert fields["applicant.birth_date"].constraints["format"] == "date"


def test_conditions_come_from_if_then_and_from_all_of(dog_schema: dict[str, Any]) -> None:
    spec = FormSpec.from_schema(dog_schema)
    fields = _fields(spec)

    company = fields["details.company"]
    assert company.condition == Condition(("details", "kind"), "gewerblich")
    assert company.required is True  # required whenever it is shown
    assert fields["dogs.dogs.*.breed_other"].condition == Condition(("dogs", "dogs", "*", "breed"), "andere")
    assert spec.step("details").conditions == (Condition(("details", "kind"), "gewerblich"),)
    assert fields["details.notes"].condition is None


def test_condition_holds_only_for_the_exact_json_value() -> None:
    condition = Condition(("s", "flag"), True)

    assert condition.holds({"s": {"flag": True}}) is True
    assert condition.holds({"s": {"flag": 1}}) is False
    assert condition.holds({"s": {}}) is False


def test_repeatable_group_items_bind_the_index(dog_schema: dict[str, Any]) -> None:
    group = FormSpec.from_schema(dog_schema).step("dogs").children[0]
    assert isinstance(group, Group)
    assert (group.repeatable, group.min_items, group.max_items, group.required) == (True, 1, 5, True)
    assert group.name == "dogs.dogs"

    item = group.item(1)

    assert [node.path for node in item] == [
        ("dogs", "dogs", 1, "name"),
        ("dogs", "dogs", 1, "breed"),
        ("dogs", "dogs", 1, "breed_other"),
        ("dogs", "dogs", 1, "weight_kg"),
    ]
    breed_other = item[2]
    assert isinstance(breed_other, Field)
    assert breed_other.name == "dogs.dogs.1.breed_other"
    assert breed_other.condition == Condition(("dogs", "dogs", 1, "breed"), "andere")


def test_a_list_of_plain_values_is_a_repeatable_group_of_one_field(dog_schema: dict[str, Any]) -> None:
    nicknames = FormSpec.from_schema(dog_schema).step("details").children[6]
    assert isinstance(nicknames, Group)

    assert nicknames.holds_values is True
    (child,) = nicknames.item(2)
    assert isinstance(child, Field)
    assert (child.name, child.label, child.constraints) == (
        "details.nicknames.2",
        "Rufnamen",
        {"maxLength": 30, "pattern": SINGLE_LINE_TEXT_PATTERN},
    )


def test_item_of_a_plain_group_is_refused(dog_schema: dict[str, Any]) -> None:
    address = FormSpec.from_schema(dog_schema).step("applicant").children[3]
    assert isinstance(address, Group)

    with pytest.raises(ValueError, match="not repeatable"):
        address.item(0)


def test_html_name_joins_path_segments_with_dots() -> None:
    assert FormSpec.html_name(("dogs", 0, "breed")) == "dogs.0.breed"
    assert FormSpec.html_name(("applicant", "name")) == "applicant.name"


def test_rules_are_collected_from_the_whole_schema(dog_schema: dict[str, Any]) -> None:
    dog_schema["properties"]["dogs"]["x-rules"] = [{"id": "R2", "name": "Anzahl", "text": "Höchstens fünf."}]

    assert FormSpec.from_schema(dog_schema).rules() == [
        {"id": "R1", "name": "Ermäßigung", "text": "Ermäßigungen nur mit Nachweis."},
        {"id": "R2", "name": "Anzahl", "text": "Höchstens fünf."},
    ]


def test_summary_reads_like_the_citizen_entered_it(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["details"]["vaccination"] = {
        "filename": "impfpass.pdf",
        "content_type": "application/pdf",
        "content": base64.b64encode(PDF_BYTES[:5] + bytes(1531)).decode(),
    }
    dog_data["details"]["notes"] = ""

    summary = FormSpec.from_schema(dog_schema).summary(dog_data)

    assert summary == [
        (
            "Antragsteller",
            [
                ("Name", "Erika Mustermann"),
                ("E-Mail", "erika@example.de"),
                ("Geburtsdatum", "29.02.1980"),
                ("Anschrift › Straße", "Hauptstraße 1"),
                ("Anschrift › Postleitzahl", "12345"),
            ],
        ),
        (
            "Hunde",
            [
                ("Hund 1 › Name des Hundes", "Bello"),
                ("Hund 1 › Rasse", "Dackel"),
                ("Hund 1 › Gewicht in kg", "9,5"),
                ("Hund 2 › Name des Hundes", "Rex"),
                ("Hund 2 › Rasse", "Andere"),
                ("Hund 2 › Andere Rasse", "Podenco"),
                ("Bisher gemeldete Hunde", "0"),
            ],
        ),
        (
            "Weitere Angaben",
            [
                ("Art der Haltung", "Gewerblich"),
                ("Firma", "Hundeschule Wau GmbH"),
                ("Haftpflichtversichert", "Ja"),
                ("Ermäßigungen", "Rettungshund, Bezug von Sozialhilfe"),
                ("Impfpass", "impfpass.pdf (1,5 KB)"),
                ("Rufnamen 1", "Belli"),
                ("Ich versichere die Richtigkeit meiner Angaben.", "Ja"),
            ],
        ),
    ]


def test_summary_leaves_out_values_whose_condition_does_not_hold(dog_schema: dict[str, Any], dog_data: dict[str, Any]) -> None:
    dog_data["details"]["kind"] = "privat"
    dog_data["details"]["insured"] = False

    rows = dict(FormSpec.from_schema(dog_schema).summary(dog_data)[2][1])

    assert "Firma" not in rows
    assert rows["Art der Haltung"] == "Privat"
    assert rows["Haftpflichtversichert"] == "Nein"


def test_format_bytes_uses_german_decimal_commas() -> None:
    assert [format_bytes(n) for n in (1, 850, 1536, 4 * 1024 * 1024)] == [
        "1 Byte",
        "850 Bytes",
        "1,5 KB",
        "4,0 MB",
    ]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string"}, "root of a form schema must be an object"),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, "step 'a' must be an object"),
        ({"type": "object", "properties": {}}, "at least one step"),
    ],
)
def test_schemas_without_steps_are_refused(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(FormSchemaError, match=message):
        FormSpec.from_schema(schema)


def test_local_references_are_followed() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "address": {"type": "object", "title": "Anschrift", "properties": {"city": {"type": "string", "maxLength": 5}}}
        },
        "properties": {
            "s": {"type": "object", "title": "S", "properties": {"home": {"$ref": "#/$defs/address", "title": "Wohnort"}}}
        },
    }

    home = FormSpec.from_schema(schema).step("s").children[0]

    assert isinstance(home, Group)
    assert home.title == "Wohnort"  # keywords beside $ref win
    assert [child.path for child in home.children] == [("s", "home", "city")]
