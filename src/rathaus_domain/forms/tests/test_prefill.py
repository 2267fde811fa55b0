"""Once-only prefill: by FIM data field id in the real XDatenfelder schemas, and by annotation."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.prefill import apply_prefill, prefill_targets, prefilled_names, profile_changes
from rathaus_domain.forms.validation import validate

PROFILE = {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1980-01-31", "street": "Hauptstraße",
           "house_number": "12a", "postal_code": "99999", "city": "Musterstadt", "phone": "0761 123456",
           "email": "erika@example.org"}


def _annotated_form(prefill_key: str = "family_name") -> dict[str, Any]:
    text = {"type": "string", "maxLength": 50, "pattern": "^[A-Za-zäöüß -]*(?![\\s\\S])"}
    return {"type": "object", "properties": {"person": {
        "type": "object", "title": "Person", "additionalProperties": False, "required": ["surname"],
        "properties": {
            "surname": {**text, "title": "Nachname", "x-prefill": prefill_key},
            "postcode": {"type": "string", "title": "PLZ", "maxLength": 5, "pattern": "^[0-9]{5}(?![\\s\\S])",
                         "x-prefill": "postal_code"},
            "note": {**text, "title": "Bemerkung"},
        }}}, "required": ["person"], "additionalProperties": False}


def test_blaue_karte_is_prefilled_by_fim_ids_into_the_applicants_address_only(blaue_karte):
    spec = FormSpec.from_schema(blaue_karte.schema)
    data, filled = apply_prefill({}, spec, PROFILE)
    person = data["persoenliche_angaben_antragsteller_inkl"]
    assert (person["familienname"], person["vorname"]) == ("Mustermann", "Erika")
    address = data["anschrift_des_antragstellers_in"]["anschrift_inland_ohne_ortsteil"]
    street = address["anschrift_inland_strassenanschrift"]
    assert street["strassenangaben"] == {"strasse": "Hauptstraße", "hausnummer": "12a"}
    assert street["ort_inland_ohne_ortsteil"] == {"postleitzahl": "99999", "ort": "Musterstadt"}
    # FIM reuses F00000035 "Ort" for the post box and the employer; those stay empty.
    assert "anschrift_inland_postfachanschrift" not in address
    assert "angaben_zur_arbeitsstelle" not in data and "angaben_zur_hochschulqualifikation" not in data
    assert len(filled) == 6
    assert prefilled_names(data, spec, PROFILE) == set(filled)
    # Nothing prefilled breaks the field's own rules.
    prefilled_paths = [t.path for t in prefill_targets(spec)]
    assert [e for e in validate(blaue_karte.schema, data) if e.path in prefilled_paths] == []


def test_waffenbesitzkarte_fills_a_list_of_given_names_and_the_birth_date_but_not_a_signature_place(waffenbesitzkarte):
    spec = FormSpec.from_schema(waffenbesitzkarte.schema)
    data, _filled = apply_prefill({}, spec, PROFILE)
    person = data["berechtigte_natuerliche_person"]
    assert person["name_natuerliche_person_ohne"]["vorname_natuerliche_person"]["vorname"] == ["Erika"]
    assert person["geburtsangaben"]["geburtsdatum"] == "1980-01-31"
    # "Ort" of the issuing office's confirmation has the FIM id of a city, but is no address of hers.
    assert "bestaetigung_gueltigkeit_der_urkunde" not in data


def test_annotation_fills_the_field_and_profile_prefix_means_the_same():
    for key in ("family_name", "profile.family_name"):
        spec = FormSpec.from_schema(_annotated_form(key))
        data, filled = apply_prefill({}, spec, PROFILE)
        assert data == {"person": {"surname": "Mustermann", "postcode": "99999"}}
        assert filled == ["person.surname", "person.postcode"]


def test_unknown_annotations_and_values_the_field_would_refuse_are_not_filled():
    spec = FormSpec.from_schema(_annotated_form("shoe_size"))
    data, filled = apply_prefill({}, spec, {**PROFILE, "postal_code": "1234"})
    assert data == {} and filled == []


def test_what_is_typed_in_wins_and_a_changed_value_is_no_longer_marked():
    spec = FormSpec.from_schema(_annotated_form())
    data, _ = apply_prefill({"person": {"surname": "Musterfrau"}}, spec, PROFILE)
    assert data["person"]["surname"] == "Musterfrau"
    assert prefilled_names(data, spec, PROFILE) == {"person.postcode"}
    assert profile_changes(data, spec, PROFILE) == {"family_name": "Musterfrau"}


def test_an_empty_profile_fills_nothing():
    spec = FormSpec.from_schema(_annotated_form())
    assert apply_prefill({}, spec, {}) == ({}, [])
    assert apply_prefill({}, spec, {"family_name": "", "postal_code": None}) == ({}, [])


_PREFILL_IN_CHILD = """
import json, sys
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.prefill import apply_prefill
schema, profile = json.load(sys.stdin)
print(json.dumps(apply_prefill({}, FormSpec.from_schema(schema), profile)))
"""


def test_a_profile_value_is_never_matched_by_a_backtracking_regex():
    schema = _annotated_form()
    schema["properties"]["person"]["properties"]["surname"]["pattern"] = (
        "^(?![\\s\\S]*[\\u0000-\\u001f])(?:([A-Za-z0-9]+[ \\-]?)*)(?![\\s\\S])")
    # In a child process: Python's re would take hours here, in C code only a kill ends.
    done = subprocess.run([sys.executable, "-c", _PREFILL_IN_CHILD],  # noqa: S603
                          input=json.dumps([schema, {**PROFILE, "family_name": "a" * 40 + "!"}]),
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [{"person": {"postcode": "99999"}}, ["person.postcode"]]
