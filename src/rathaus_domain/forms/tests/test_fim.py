from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from rathaus_domain.forms._schema import resolve_pointer
from rathaus_domain.forms.fim import (
    DATE_PATTERN,
    DEFAULT_MAX_BYTES,
    XDF2,
    FimImportError,
    ImportedForm,
    import_xdf,
    slugify,
    xsd_pattern_to_regex,
)
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.validation import (
    MULTI_LINE_TEXT_PATTERN,
    SINGLE_LINE_TEXT_PATTERN,
    FieldError,
    check_form_schema,
    file_field_schema,
    validate,
)

from .conftest import BLAUE_KARTE
from .schema_data import instance

GESCHLECHT_URI = "urn:xpersonenstand:schluesseltabelle:geschlecht_2"

GESCHLECHT_GENERICODE = b"""<?xml version="1.0" encoding="UTF-8"?>
<gc:CodeList xmlns:gc="http://docs.oasis-open.org/codelist/ns/genericode/1.0/">
  <Identification>
    <ShortName>geschlecht</ShortName>
    <CanonicalUri>urn:xpersonenstand:schluesseltabelle:geschlecht</CanonicalUri>
    <CanonicalVersionUri>urn:xpersonenstand:schluesseltabelle:geschlecht_2</CanonicalVersionUri>
  </Identification>
  <ColumnSet>
    <Column Id="beschreibung" Use="required"><ShortName>Beschreibung</ShortName></Column>
    <Column Id="code" Use="required"><ShortName>Code</ShortName></Column>
    <Key Id="codeKey"><ShortName>CodeKey</ShortName><ColumnRef Ref="code"/></Key>
  </ColumnSet>
  <SimpleCodeList>
    <Row><Value ColumnRef="code"><SimpleValue>m</SimpleValue></Value>
         <Value ColumnRef="beschreibung"><SimpleValue>m\xc3\xa4nnlich</SimpleValue></Value></Row>
    <Row><Value ColumnRef="code"><SimpleValue>w</SimpleValue></Value>
         <Value ColumnRef="beschreibung"><SimpleValue>weiblich</SimpleValue></Value></Row>
    <Row><Value ColumnRef="code"><SimpleValue>d</SimpleValue></Value>
         <Value ColumnRef="beschreibung"><SimpleValue>divers</SimpleValue></Value></Row>
    <Row><Value ColumnRef="code"><SimpleValue>x</SimpleValue></Value>
         <Value ColumnRef="beschreibung"><SimpleValue>ohne Angabe</SimpleValue></Value></Row>
  </SimpleCodeList>
</gc:CodeList>
"""


def _walk(schema: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every value-defining node (steps, groups, arrays, leaves) with its JSON pointer."""
    yield pointer, schema
    if schema.get("x-widget") == "file":
        return
    for key, child in schema.get("properties", {}).items():
        yield from _walk(child, f"{pointer}/properties/{key}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{pointer}/items")


def _codes(errors: list[FieldError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(e.path, e.code) for e in errors]


# --------------------------------------------------------------------- both real files


@pytest.fixture(params=["waffenbesitzkarte", "blaue_karte"])
def imported(request: pytest.FixtureRequest) -> ImportedForm:
    result: ImportedForm = request.getfixturevalue(request.param)
    return result


def test_imported_schema_passes_the_form_lint(imported: ImportedForm) -> None:
    assert check_form_schema(imported.schema) == []


def test_every_node_keeps_its_fim_id_and_every_key_is_ascii(imported: ImportedForm) -> None:
    for pointer, node in _walk(imported.schema):
        if pointer.count("/") > 2:  # below the steps: every node comes from a FIM element
            assert re.fullmatch(r"[FG]\d{8}", node["x-fim-id"]), pointer
        for key in node.get("properties", {}):
            assert re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key), (pointer, key)


def test_minimal_and_full_instances_validate(imported: ImportedForm) -> None:
    for full in (False, True):
        data = instance(imported.schema, full=full)

        assert validate(imported.schema, data) == []


def test_imported_form_renders_and_summarises(imported: ImportedForm) -> None:
    spec = FormSpec.from_schema(imported.schema)
    data = instance(imported.schema, full=True)

    summary = spec.summary(data)

    assert [title for title, _ in summary] == [step.title for step in spec.steps]
    assert sum(len(rows) for _, rows in summary) >= len(list(spec.fields()))


def _free_texts(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for pointer, node in _walk(schema):
        if node.get("type") == "string" and "enum" not in node and "format" not in node:
            yield pointer, node


def test_every_free_text_of_an_imported_form_refuses_control_characters(imported: ImportedForm) -> None:
    texts = dict(_free_texts(imported.schema))

    assert len(texts) >= 25
    for pointer, node in texts.items():
        assert node["pattern"] == SINGLE_LINE_TEXT_PATTERN, pointer
        for bad in ("ab\x00c", "\x00", "a\nb", "Erika\n", "a\tb", "a\x7fb", "a\x85b", "a\x1bb"):
            assert not re.search(node["pattern"], bad), (pointer, bad)
        assert re.search(node["pattern"], "Müller-Lüdenscheidt <b>&amp; Söhne</b> 😀")


def test_a_nul_in_an_imported_text_field_is_a_pattern_error_at_that_field(blaue_karte: ImportedForm) -> None:
    data = instance(blaue_karte.schema, full=True)
    data["persoenliche_angaben_antragsteller_inkl"]["familienname"] = "ab\x00c"

    errors = validate(blaue_karte.schema, data)

    assert [(e.pointer, e.code) for e in errors] == [("/persoenliche_angaben_antragsteller_inkl/familienname", "pattern")]
    assert errors[0].message == "Bitte geben Sie den Text in einer Zeile ein, ohne Zeilenumbrüche und Steuerzeichen."


# --------------------------------------------------------------------- XDF1: Waffenbesitzkarte


def test_xdf1_header_and_steps(waffenbesitzkarte: ImportedForm) -> None:
    schema = waffenbesitzkarte.schema

    assert (waffenbesitzkarte.title, waffenbesitzkarte.fim_id, waffenbesitzkarte.version) == (
        "Waffenbesitzkarte nach § 10 Absatz 1 WaffG",
        "S00000036",
        "0.0",
    )
    assert (schema["x-fim-id"], schema["x-fim-version"]) == ("S00000036", "0.0")
    assert schema["description"].startswith("Urkunde zur Bestätigung der Erlaubnis")
    assert list(schema["properties"]) == [
        "angaben",
        "ausstellende_behoerde",
        "berechtigte_natuerliche_person",
        "bestaetigung_gueltigkeit_der_urkunde",
        "waffen",
        "amtliche_eintragungen",
    ]
    assert schema["required"] == list(schema["properties"])
    assert waffenbesitzkarte.rules == []
    assert "x-rules" not in schema


def test_xdf1_loose_fields_form_the_angaben_step_and_labels_are_skipped(waffenbesitzkarte: ImportedForm) -> None:
    step = waffenbesitzkarte.schema["properties"]["angaben"]

    # F00000141 and F00000110 are labels; only the certificate number is an input.
    assert step == {
        "type": "object",
        "title": "Angaben",
        "properties": {
            "urkundennummer": {
                "title": "Urkundennummer",
                "description": "Geben Sie die Urkundennummer an.",
                "x-fim-id": "F00000057",
                "type": "number",
            }
        },
        "required": ["urkundennummer"],
        "additionalProperties": False,
    }


def test_xdf1_praezisierung_json_becomes_length_limits(waffenbesitzkarte: ImportedForm) -> None:
    schema = waffenbesitzkarte.schema
    organisation = resolve_pointer(
        schema,
        "/properties/ausstellende_behoerde/properties/bezeichnung_juristische_person/properties/organisationsname",
    )
    short_name = resolve_pointer(
        schema,
        "/properties/ausstellende_behoerde/properties/bezeichnung_juristische_person/properties/organisation_kurzbezeichnung",
    )

    assert organisation == {
        "title": "Organisationsname",
        "description": "Geben Sie den Namen der Organisation an.",
        "x-fim-id": "F00000034",
        "type": "string",
        "minLength": 1,
        "maxLength": 250,
        "pattern": SINGLE_LINE_TEXT_PATTERN,
    }
    assert short_name["maxLength"] == 255  # no limit in FIM: the default keeps it bounded


def test_xdf1_cardinalities(waffenbesitzkarte: ImportedForm) -> None:
    person = "/properties/berechtigte_natuerliche_person/properties/name_natuerliche_person_ohne/properties"
    schema = waffenbesitzkarte.schema
    other_names = resolve_pointer(schema, f"{person}/weiterer_name")
    first_names_group = resolve_pointer(schema, f"{person}/vorname_natuerliche_person")
    serial_numbers = resolve_pointer(schema, "/properties/waffen/properties/hersteller_bzw_seriennummer")
    entries = resolve_pointer(schema, "/properties/amtliche_eintragungen")

    assert (other_names["type"], other_names.get("minItems"), other_names["maxItems"]) == ("array", None, 25)
    assert "weiterer_name" not in resolve_pointer(schema, person.removesuffix("/properties"))["required"]
    assert first_names_group["required"] == ["vorname"]  # 1:* inside an optional (0:1) group
    assert first_names_group["properties"]["vorname"]["minItems"] == 1
    assert (serial_numbers["minItems"], serial_numbers["maxItems"]) == (1, 4)  # anzahl 1:4
    # An optional repeatable top-level group (0:*) is wrapped in a step of its own.
    assert "required" not in entries
    assert entries["properties"]["amtliche_eintragungen"]["type"] == "array"
    assert entries["properties"]["amtliche_eintragungen"]["items"]["required"] == ["datum"]


def test_xdf1_datatypes(waffenbesitzkarte: ImportedForm) -> None:
    schema = waffenbesitzkarte.schema
    birth = resolve_pointer(
        schema, "/properties/berechtigte_natuerliche_person/properties/geburtsangaben/properties/geburtsdatum"
    )
    permit = resolve_pointer(schema, "/properties/waffen/properties/munitionserwerbserlaubnis_zur_waffe")

    assert {k: birth[k] for k in ("type", "format", "pattern", "maxLength")} == {
        "type": "string",
        "format": "date",
        "pattern": DATE_PATTERN,
        "maxLength": 10,
    }
    assert permit["type"] == "boolean"


def test_xdf1_groups_with_only_labels_are_left_out(waffenbesitzkarte: ImportedForm) -> None:
    confirmation = waffenbesitzkarte.schema["properties"]["bestaetigung_gueltigkeit_der_urkunde"]
    weapons = waffenbesitzkarte.schema["properties"]["waffen"]["properties"]

    assert list(confirmation["properties"]) == ["schriftliche_bestaetigung_ohne_name"]  # no "stempel"
    assert "berechtigt_zum_erwerb_der_waffe" not in weapons
    assert list(weapons)[-2:] == ["schusswaffe_erworben_oder_angemeldet", "schusswaffe_ueberlassen"]


def test_xdf1_warnings_name_missing_code_lists_and_dropped_groups(waffenbesitzkarte: ImportedForm) -> None:
    assert waffenbesitzkarte.warnings == [
        "F00000073 Anrede: code list Anrede is not contained in the file; imported as free text (max. 255 characters)",
        "F00000038 Staat: code list urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:staat is not contained "
        "in the file; imported as free text (max. 255 characters)",
        "G00000025 Stempel: group contains no input fields; left out",
        "F00000049 Waffenkategorie: code list Waffenkategorie is not contained in the file; imported as free text "
        "(max. 255 characters)",
        "F00000050 Waffentyp: code list Waffentyp is not contained in the file; imported as free text (max. 255 characters)",
        "F00000024 Kaliber (Liste): code list urn:de:xwaffe:codelisten:munitionsbezeichnungkaliber is not contained "
        "in the file; imported as free text (max. 255 characters)",
        "F00000019 Herstellerbezeichnung (Liste): code list Herstellerbezeichnung is not contained in the file; "
        "imported as free text (max. 255 characters)",
        "G00000058 Berechtigt zum Erwerb der Waffe: group contains no input fields; left out",
        "G00000059 Berechtigt zum Erwerb und Besitz von für die Waffe bestimmte oder zugelassene Munition: "
        "group contains no input fields; left out",
    ]


def test_xdf1_invalid_data_gets_errors_at_the_right_paths(waffenbesitzkarte: ImportedForm) -> None:
    schema = waffenbesitzkarte.schema
    data = instance(schema)
    del data["waffen"]["modellbezeichnung"]
    data["berechtigte_natuerliche_person"]["geburtsangaben"]["geburtsort"] = "O" * 81
    data["ausstellende_behoerde"]["stempel"] = "rund"
    data["amtliche_eintragungen"] = {"amtliche_eintragungen": [{"datum": "1.1.2020"}]}

    errors = validate(schema, data)

    assert _codes(errors) == [
        (("ausstellende_behoerde", "stempel"), "additionalProperties"),
        (("berechtigte_natuerliche_person", "geburtsangaben", "geburtsort"), "maxLength"),
        (("waffen", "modellbezeichnung"), "required"),
        (("amtliche_eintragungen", "amtliche_eintragungen", 0, "datum"), "pattern"),
    ]
    assert [e.message for e in errors] == [
        "Unbekanntes Feld „stempel“.",
        "Bitte geben Sie höchstens 80 Zeichen ein.",
        "Dieses Feld ist ein Pflichtfeld.",
        "Das Datum muss im Format TT.MM.JJJJ angegeben werden, z. B. 31.01.2025.",
    ]


# --------------------------------------------------------------------- XDF2: Blaue Karte EU


def test_xdf2_header_and_steps(blaue_karte: ImportedForm) -> None:
    schema = blaue_karte.schema

    assert (blaue_karte.title, blaue_karte.fim_id, blaue_karte.version) == (
        "Antrag auf Blaue Karte EU",
        "S00000121",
        "1.0",
    )
    assert "description" not in schema  # beschreibung and definition are empty
    # The loose yes/no questions sit where the first of them stood in the document.
    assert list(schema["properties"]) == [
        "persoenliche_angaben_antragsteller_inkl",
        "anschrift_des_antragstellers_in",
        "angaben_zu_vorhandenem_visum_oder",
        "angaben_zur_hochschulqualifikation",
        "angaben_zur_arbeitsstelle",
        "angaben_zur_krankenversicherung",
        "angaben",
        "angaben_zur_anerkennung_als",
        "angaben_zur_vorbestrafung",
        "angaben_zu_laufenden",
    ]
    assert len(schema["properties"]["angaben"]["properties"]) == 11
    assert schema["properties"]["persoenliche_angaben_antragsteller_inkl"]["x-fim-version"] == "1.0"


def test_xdf2_rules_are_collected_at_the_root(blaue_karte: ImportedForm) -> None:
    assert blaue_karte.schema["x-rules"] == blaue_karte.rules
    assert [(r["id"], r["name"]) for r in blaue_karte.rules] == [
        ("R00000254", "Krankenversicherung"),
        ("R00000252", "Details zur Anerkennung"),
        ("R00000255", "Angaben zur Vorstrafe"),
    ]
    assert blaue_karte.rules[0]["text"] == (
        '"F00001028 Krankenversicherungsträger" ist nur dann zu befüllen, wenn '
        '"F00001027 Krankenversicherung vorhanden" bejaht wurde.'
    )
    assert FormSpec.from_schema(blaue_karte.schema).rules() == blaue_karte.rules


def test_xdf2_files_currency_and_address_lines(blaue_karte: ImportedForm) -> None:
    schema = blaue_karte.schema
    photo = resolve_pointer(schema, "/properties/persoenliche_angaben_antragsteller_inkl/properties/lichtbild_person")
    income = resolve_pointer(schema, "/properties/angaben_zur_arbeitsstelle/properties/jahresbruttobetrag_der_einnahmen")
    lines = resolve_pointer(
        schema,
        "/properties/angaben_zur_arbeitsstelle/properties/angaben_zum_arbeitgeber/properties"
        "/anschrift_adresse_ausland/properties/anschriftzone/properties/zeileanschrift",
    )

    assert photo == {
        **file_field_schema(["application/pdf", "image/png", "image/jpeg"], DEFAULT_MAX_BYTES, "Lichtbild"),
        "x-fim-id": "F00001019",
        "x-fim-version": "1.0",
    }
    assert income == {
        "title": "Jahresbruttobetrag der Einnahmen",
        "x-fim-id": "F00000728",
        "x-fim-version": "1.0",
        "type": "number",
    }
    assert {k: lines[k] for k in ("type", "title", "minItems", "maxItems")} == {
        "type": "array",
        "title": "ZeileAnschrift",  # bezeichnungEingabe is empty: the name stands in
        "minItems": 2,
        "maxItems": 5,
    }


def test_xdf2_referenced_code_lists_fall_back_to_free_text(blaue_karte: ImportedForm) -> None:
    sex = resolve_pointer(blaue_karte.schema, "/properties/persoenliche_angaben_antragsteller_inkl/properties/geschlecht")

    assert (sex["type"], sex["maxLength"], "enum" in sex) == ("string", 255, False)
    assert blaue_karte.warnings == [
        f"F00000065 Geschlecht: code list {GESCHLECHT_URI} is not contained in the file; "
        "imported as free text (max. 255 characters)",
        "F00000039 Staatsangehörigkeit: code list urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:"
        "staatsangehoerigkeit_2017-01-01 is not contained in the file; imported as free text (max. 255 characters)",
        "F00000038 Staat: code list urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:staat_2017-01-01 is not "
        "contained in the file; imported as free text (max. 255 characters)",
        "F00000025 Kanal: code list urn:de:xoev:codeliste:erreichbarkeit_2 is not contained in the file; "
        "imported as free text (max. 255 characters)",
    ]


def test_xdf2_code_list_supplied_next_to_the_file_becomes_an_enum() -> None:
    imported = import_xdf(BLAUE_KARTE.read_bytes(), code_lists={GESCHLECHT_URI: GESCHLECHT_GENERICODE})
    schema = imported.schema
    pointer = "/properties/persoenliche_angaben_antragsteller_inkl/properties/geschlecht"
    data = instance(schema)
    data["persoenliche_angaben_antragsteller_inkl"]["geschlecht"] = "männlich"

    sex = resolve_pointer(schema, pointer)

    assert (sex["enum"], sex["x-enum-labels"]) == (["m", "w", "d", "x"], ["männlich", "weiblich", "divers", "ohne Angabe"])
    assert check_form_schema(schema) == []
    assert len(imported.warnings) == 3
    assert [(e.pointer, e.code, e.message) for e in validate(schema, data)] == [
        (
            "/persoenliche_angaben_antragsteller_inkl/geschlecht",
            "enum",
            "Bitte wählen Sie einen der angebotenen Werte.",
        )
    ]


def test_xdf2_invalid_data_gets_errors_at_the_right_paths(blaue_karte: ImportedForm) -> None:
    schema = blaue_karte.schema
    data = instance(schema, full=True)
    person = data["persoenliche_angaben_antragsteller_inkl"]
    del person["familienname"]
    person["geburtsort"] = "x" * 81
    data["angaben"]["ehepartner"] = "ja"
    data["angaben_zur_arbeitsstelle"]["angaben_zum_arbeitgeber"]["kontaktmoeglichkeiten_juristische_person"][
        "kommunikation_juristische_person"
    ][1]["kennung"] = "k" * 256
    employer = data["angaben_zur_arbeitsstelle"]["angaben_zum_arbeitgeber"]
    employer["anschrift_adresse_ausland"]["anschriftzone"]["zeileanschrift"] = ["nur eine Zeile"]

    errors = validate(schema, data)

    assert _codes(errors) == [
        (("persoenliche_angaben_antragsteller_inkl", "familienname"), "required"),
        (("persoenliche_angaben_antragsteller_inkl", "geburtsort"), "maxLength"),
        (
            (
                "angaben_zur_arbeitsstelle",
                "angaben_zum_arbeitgeber",
                "anschrift_adresse_ausland",
                "anschriftzone",
                "zeileanschrift",
            ),
            "minItems",
        ),
        (
            (
                "angaben_zur_arbeitsstelle",
                "angaben_zum_arbeitgeber",
                "kontaktmoeglichkeiten_juristische_person",
                "kommunikation_juristische_person",
                1,
                "kennung",
            ),
            "maxLength",
        ),
        (("angaben", "ehepartner"), "additionalProperties"),
    ]


# --------------------------------------------------------------------- synthetic documents


def _xdf2(body: str, *, rules: str = "") -> bytes:
    """A small XDF2 Stammdatenschema around ``body`` (a sequence of <xdf:struktur>)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xdf:xdatenfelder.stammdatenschema.0102 xmlns:xdf="{XDF2}">
  <xdf:header><xdf:nachrichtID>1</xdf:nachrichtID></xdf:header>
  <xdf:stammdatenschema>
    <xdf:identifikation><xdf:id>S99000001</xdf:id><xdf:version>2.1</xdf:version></xdf:identifikation>
    <xdf:name>Testantrag</xdf:name>
    <xdf:bezeichnungEingabe/>
    <xdf:beschreibung>-</xdf:beschreibung>
    <xdf:definition>Ein Antrag für Tests.</xdf:definition>
    {rules}
    {body}
  </xdf:stammdatenschema>
</xdf:xdatenfelder.stammdatenschema.0102>""".encode()


def _field(
    fim_id: str,
    name: str,
    *,
    datatype: str = "text",
    kind: str = "input",
    anzahl: str = "1:1",
    precision: str = "<xdf:praezisierung/>",
    extra: str = "",
    label: str = "",
) -> str:
    return f"""<xdf:struktur><xdf:anzahl>{anzahl}</xdf:anzahl><xdf:enthaelt><xdf:datenfeld>
      <xdf:identifikation><xdf:id>{fim_id}</xdf:id><xdf:version>1.0</xdf:version></xdf:identifikation>
      <xdf:name>{name}</xdf:name><xdf:bezeichnungEingabe>{label}</xdf:bezeichnungEingabe>
      <xdf:hilfetextEingabe/>
      <xdf:feldart><code>{kind}</code></xdf:feldart><xdf:datentyp><code>{datatype}</code></xdf:datentyp>
      {precision}<xdf:inhalt>{extra}</xdf:inhalt>
    </xdf:datenfeld></xdf:enthaelt></xdf:struktur>"""


def _group(fim_id: str, name: str, body: str, *, anzahl: str = "1:1", help_text: str = "") -> str:
    return f"""<xdf:struktur><xdf:anzahl>{anzahl}</xdf:anzahl><xdf:enthaelt><xdf:datenfeldgruppe>
      <xdf:identifikation><xdf:id>{fim_id}</xdf:id></xdf:identifikation>
      <xdf:name>{name}</xdf:name><xdf:hilfetextEingabe>{help_text}</xdf:hilfetextEingabe>
      {body}
    </xdf:datenfeldgruppe></xdf:enthaelt></xdf:struktur>"""


def test_praezisierung_as_attributes_and_elements_with_pattern_and_number_limits() -> None:
    body = _group(
        "G99000001",
        "Daten",
        _field(
            "F99000001", "Aktenzeichen", precision='<xdf:praezisierung minLength="3" maxLength="12" pattern="[A-Z]{2}-[0-9]+"/>'
        )
        + _field(
            "F99000002",
            "Anzahl Kinder",
            datatype="num_int",
            precision="<xdf:praezisierung><xdf:minValue>0</xdf:minValue><xdf:maxValue>15</xdf:maxValue></xdf:praezisierung>",
        )
        + _field(
            "F99000003", "Betrag", datatype="num_currency", precision='<xdf:praezisierung>{"minValue":"0,5"}</xdf:praezisierung>'
        )
        + _field("F99000004", "Begründung", precision='<xdf:praezisierung>{"maxLength":"2000"}</xdf:praezisierung>'),
    )

    imported = import_xdf(_xdf2(body))
    fields = imported.schema["properties"]["daten"]["properties"]

    assert imported.schema["description"] == "Ein Antrag für Tests."  # definition stands in for "-"
    assert imported.title == "Testantrag"
    assert {k: fields["aktenzeichen"][k] for k in ("minLength", "maxLength", "pattern")} == {
        "minLength": 3,
        "maxLength": 12,
        "pattern": "^(?![\\s\\S]*[\\u0000-\\u001f\\u007f-\\u009f])(?:[A-Z]{2}-[0-9]+)(?![\\s\\S])",
    }
    assert {k: fields["anzahl_kinder"][k] for k in ("type", "minimum", "maximum")} == {
        "type": "integer",
        "minimum": 0,
        "maximum": 15,
    }
    assert fields["betrag"]["minimum"] == 0.5
    assert fields["begruendung"]["x-widget"] == "textarea"
    assert check_form_schema(imported.schema) == []
    assert _codes(
        validate(imported.schema, {"daten": {"aktenzeichen": "ab-1", "anzahl_kinder": 16, "betrag": 1, "begruendung": "x"}})
    ) == [
        (("daten", "aktenzeichen"), "pattern"),
        (("daten", "anzahl_kinder"), "maximum"),
    ]


def test_same_names_get_unique_keys_and_labels_become_group_help() -> None:
    body = _group(
        "G99000001",
        "Kontakt",
        _field("F99000010", "Hinweis", kind="label", extra="Bitte vollständig ausfüllen.")
        + _field("F99000011", "Telefon")
        + _field("F99000012", "Telefon")
        + _field("F99000012", "Telefon")
        + _field("F99000013", "123 Nummer"),
        help_text="So erreichen wir Sie.",
    )

    group = import_xdf(_xdf2(body)).schema["properties"]["kontakt"]

    assert list(group["properties"]) == ["telefon", "telefon_f99000012", "telefon_f99000012_2", "f_123_nummer"]
    assert group["description"] == "So erreichen wir Sie. Bitte vollständig ausfüllen."


def test_embedded_genericode_values_become_enum_and_labels() -> None:
    reference = f"""<xdf:codelisteReferenz><xdf:identifikation><xdf:id>C99000001</xdf:id></xdf:identifikation>
        <xdf:genericodeIdentification><xdf:canonicalIdentification>urn:test:farbe</xdf:canonicalIdentification>
        </xdf:genericodeIdentification>{GESCHLECHT_GENERICODE.decode().split("?>", 1)[1]}</xdf:codelisteReferenz>"""
    body = _group(
        "G99000001",
        "Person",
        _field("F99000020", "Geschlecht", kind="select", extra="", precision="<xdf:praezisierung/>" + reference),
    )

    imported = import_xdf(_xdf2(body))

    field = imported.schema["properties"]["person"]["properties"]["geschlecht"]
    assert field["enum"] == ["m", "w", "d", "x"]
    assert imported.warnings == []
    assert FormSpec.from_schema(imported.schema).step("person").children[0].widget == "radio"  # type: ignore[union-attr]


def test_optional_top_level_groups_are_wrapped_and_unknown_types_warned() -> None:
    body = (
        _group("G99000001", "Zusatz", _field("F99000030", "Bemerkung"), anzahl="0:1")
        + _field("F99000031", "Zeitpunkt", datatype="time")
        + _field("F99000032", "Kosten", anzahl="kaputt")
    )

    imported = import_xdf(_xdf2(body))

    assert imported.schema["properties"]["zusatz"] == {
        "type": "object",
        "title": "Zusatz",
        "properties": {
            "zusatz": {
                "type": "object",
                "title": "Zusatz",
                "x-fim-id": "G99000001",
                "properties": {
                    "bemerkung": {
                        "title": "Bemerkung",
                        "x-fim-id": "F99000030",
                        "x-fim-version": "1.0",
                        "type": "string",
                        "maxLength": 255,
                        "pattern": SINGLE_LINE_TEXT_PATTERN,
                    }
                },
                "required": ["bemerkung"],
                "additionalProperties": False,
            }
        },
        "additionalProperties": False,
    }
    assert imported.schema["properties"]["angaben"]["required"] == ["zeitpunkt"]
    assert imported.warnings == [
        "F99000031 Zeitpunkt: datentyp 'time' is not supported; imported as text",
        "F99000032 Kosten: unreadable cardinality 'kaputt'; treated as optional (0:1)",
    ]
    assert check_form_schema(imported.schema) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<kaputt", "not well-formed XML"),
        (b'<a xmlns="urn:xoev-de:fim:standard:xdatenfelder_3.0.0"/>', "not an XDatenfelder 1 or 2 document"),
        (f'<xdf:xdatenfelder.datenfeldgruppe.0103 xmlns:xdf="{XDF2}"/>'.encode(), "only Stammdatenschema"),
        (f'<xdf:xdatenfelder.stammdatenschema.0102 xmlns:xdf="{XDF2}"/>'.encode(), "no stammdatenschema"),
        (_xdf2(""), "contains no input fields"),
    ],
)
def test_documents_that_are_no_stammdatenschema_are_refused(document: bytes, message: str) -> None:
    with pytest.raises(FimImportError, match=message):
        import_xdf(document)


def test_entities_are_neither_expanded_nor_fetched(tmp_path: Any) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("GEHEIM")
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<xdf:xdatenfelder.stammdatenschema.0102 xmlns:xdf="urn:xoev-de:fim:standard:xdatenfelder_2">&lol2;</xdf:xdatenfelder.stammdatenschema.0102>"""
    external = f"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file://{secret}">]>
<xdf:xdatenfelder.stammdatenschema.0102 xmlns:xdf="{XDF2}"><xdf:x>&secret;</xdf:x></xdf:xdatenfelder.stammdatenschema.0102>""".encode()

    for document in (laughs, external):
        with pytest.raises(FimImportError, match="DTD") as caught:
            import_xdf(document)
        assert "GEHEIM" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Größe Person", "groesse_person"),
        ("Anschrift/ Adresse Ausland", "anschrift_adresse_ausland"),
        ("Persönliche Angaben Antragsteller (inkl. Größe & Augenfarbe)", "persoenliche_angaben_antragsteller_inkl"),
        ("Café Señor", "cafe_senor"),
        ("2. Wohnsitz", "f_2_wohnsitz"),
        ("§§", ""),
        ("a" * 50, "a" * 40),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_import_is_deterministic() -> None:
    first = import_xdf(BLAUE_KARTE.read_bytes())
    second = import_xdf(BLAUE_KARTE.read_bytes())

    assert first == second
    assert first.schema is not second.schema
    assert copy.deepcopy(first.schema) == second.schema


def test_unreadable_limits_are_left_out_with_a_warning() -> None:
    precision = '<xdf:praezisierung>{"maxLength":"²","minValue":"1e400"}</xdf:praezisierung>'
    body = _group(
        "G99000001",
        "Daten",
        _field("F99000040", "Text", precision=precision)
        + _field("F99000041", "Zahl", datatype="num", precision=precision)
        + _field("F99000042", "Kaputt", precision="<xdf:praezisierung>{maxLength: 3}</xdf:praezisierung>"),
    )

    imported = import_xdf(_xdf2(body))
    fields = imported.schema["properties"]["daten"]["properties"]

    assert fields["text"]["maxLength"] == 255
    assert "minimum" not in fields["zahl"]
    assert imported.warnings == [
        "F99000040 Text: maxLength '²' is not a whole number; left out",
        "F99000041 Zahl: minValue '1e400' is not a number; left out",
        "F99000042 Kaputt: praezisierung '{maxLength: 3}' is not valid JSON; ignored",
    ]


def test_a_textarea_allows_tab_and_line_breaks_but_no_other_control_characters() -> None:
    body = _group(
        "G99000001",
        "Daten",
        _field("F99000050", "Begründung", kind="textarea")
        + _field("F99000051", "Lang", precision='<xdf:praezisierung>{"maxLength":"2000"}</xdf:praezisierung>'),
    )

    fields = import_xdf(_xdf2(body)).schema["properties"]["daten"]["properties"]

    for node in fields.values():
        assert (node["x-widget"], node["pattern"]) == ("textarea", MULTI_LINE_TEXT_PATTERN)
        assert re.search(node["pattern"], "Zeile 1\r\nZeile 2\n\tEingerückt")
        for bad in ("a\x00b", "a\x0bb", "a\x1fb", "a\x7f", "\x9f"):
            assert not re.search(node["pattern"], bad), bad


def test_a_fim_pattern_is_kept_and_control_characters_are_refused_on_top() -> None:
    precision = '<xdf:praezisierung pattern="[A-Z]{2}.[0-9]+"/>'
    body = _group("G99000001", "Daten", _field("F99000052", "Aktenzeichen", precision=precision))

    pattern = import_xdf(_xdf2(body)).schema["properties"]["daten"]["properties"]["aktenzeichen"]["pattern"]

    assert re.search(pattern, "AB-12") and re.search(pattern, "AB 12")
    for bad in ("AB\x0012", "AB\n12", "AB-12\n", "xAB-12", "AB-1x"):
        assert not re.search(pattern, bad), bad


@pytest.mark.parametrize(
    ("xsd", "regex"),
    [
        ("[A-Z]{2}-[0-9]+", "[A-Z]{2}-[0-9]+"),
        (r"\d{5}", "[0-9]{5}"),
        (r"[\d\s]+", r"[0-9 \t\n\r]+"),
        (r"\S+\s\S+", r"[^ \t\n\r]+[ \t\n\r][^ \t\n\r]+"),
        ("a.c", r"a[^\n\r]c"),
        ("$^", r"\$\^"),  # XML Schema regexes have no anchors
        (r"[^$]\-x", r"[^$]-x"),
        (r"[a\-z]", r"[a\-z]"),
        ("(ab|cd)?", "(ab|cd)?"),
    ],
)
def test_xml_schema_patterns_are_translated_into_the_common_subset(xsd: str, regex: str) -> None:
    assert xsd_pattern_to_regex(xsd) == regex


@pytest.mark.parametrize(
    "xsd",
    [r"\w+", r"\i\c*", r"\p{Lu}", "[a-z-[aeiou]]", r"[\D]", "[]a]", "a{,3}", "a}", "(?i)a", "[a-z", "(a", "\\"],
)
def test_xml_schema_patterns_without_a_common_meaning_are_refused(xsd: str) -> None:
    assert xsd_pattern_to_regex(xsd) is None


def test_an_untranslatable_fim_pattern_is_left_out_with_a_warning() -> None:
    body = _group("G99000001", "Daten", _field("F99000053", "Kennung", precision='<xdf:praezisierung pattern="\\w+"/>'))

    imported = import_xdf(_xdf2(body))

    assert imported.schema["properties"]["daten"]["properties"]["kennung"]["pattern"] == SINGLE_LINE_TEXT_PATTERN
    assert imported.warnings == [
        "F99000053 Kennung: pattern '\\\\w+' cannot be imported (unsupported XML Schema regex); left out"
    ]


def test_a_cardinality_beyond_what_a_form_holds_is_limited_so_the_form_can_be_published() -> None:
    body = _group("G99000001", "Daten", _field("F99000001", "Kind", anzahl="1:999") + _field("F99000002", "Zeuge", anzahl="60:n"))

    imported = import_xdf(_xdf2(body))
    fields = imported.schema["properties"]["daten"]["properties"]

    assert (fields["kind"].get("minItems"), fields["kind"]["maxItems"]) == (1, 200)
    assert (fields["zeuge"]["minItems"], fields["zeuge"]["maxItems"]) == (50, 50)
    assert imported.warnings == [
        "F99000001 Kind: cardinality limited to 1:200, what one form can hold",
        "F99000002 Zeuge: cardinality limited to 50:50, what one form can hold",
    ]
    assert check_form_schema(imported.schema) == []
