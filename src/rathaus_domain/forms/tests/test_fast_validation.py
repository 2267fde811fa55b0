"""The fast path of `validate` (jsonschema-rs, for prepared schemas) answers exactly as the
reference path (`jsonschema`) does: the same errors for the same data, whatever the data."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rathaus_domain.forms.validation import compiled, prepare, validate

from .schema_data import DEFECTS, broken_data, near_valid, valid_data
from .test_properties import FORMS, TODAY

SETTINGS = settings(max_examples=40, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# One prepared object per form; the reference path gets an unprepared copy of the same schema.
PREPARED = {name: copy.deepcopy(schema) for name, schema in FORMS.items()}


def _same_answer(name: str, data: Any) -> list:
    prepared = PREPARED[name]
    prepare(prepared)  # again, in case another test filled the cache and it was cleared
    assert compiled(prepared) is not None, "the fast path must be in use, or this compares nothing"
    reference = validate(copy.deepcopy(FORMS[name]), data, today=TODAY)
    assert validate(prepared, data, today=TODAY) == reference
    return reference


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_form_is_compiled_for_the_fast_path(name: str) -> None:
    prepare(PREPARED[name])
    assert compiled(PREPARED[name]) is not None
    assert compiled(copy.deepcopy(PREPARED[name])) is None  # an equal but other object is not prepared


@pytest.mark.parametrize("name", sorted(FORMS))
def test_fast_path_accepts_and_refuses_what_the_reference_does(name: str) -> None:
    @settings(SETTINGS, max_examples=15)
    @given(st.one_of(valid_data(FORMS[name], TODAY), near_valid(FORMS[name])))
    def check(data: Any) -> None:
        _same_answer(name, data)

    check()


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("how", DEFECTS)
def test_fast_path_refuses_each_kind_of_broken_data(name: str, how: str) -> None:
    @settings(SETTINGS, max_examples=3)
    @given(broken_data(FORMS[name], how, TODAY))
    def check(broken: Any) -> None:
        assert broken.pointer in [e.pointer for e in _same_answer(name, broken.data)]

    check()


@pytest.mark.parametrize(("field", "value", "valid"), [
    (("applicant", "name"), "Şükrü Łukasz-Ôtto", True),
    (("applicant", "name"), "Erika\n", False),            # `$` in Python would let this through
    (("applicant", "name"), "Erika\x00", False),
    (("applicant", "name"), "Erika\u0085", False),        # a C1 control character
    (("applicant", "address", "postcode"), "٣٣٣٣٣", False),  # Arabic-Indic digits are no postcode
    (("applicant", "address", "postcode"), "12345\n", False),
    (("applicant", "birth_date"), "1981-02-29", False),     # no such day: the format, not the pattern
    (("applicant", "birth_date"), "1980-02-29", True),
    (("applicant", "birth_date"), "0000-01-01", False),     # no year 0 in Python's calendar (jsonschema-rs has one)
    (("applicant", "email"), "erika@example.org", True),
    (("applicant", "email"), "erika@example", False),
    (("applicant", "email"), "erika @example.org", False),
])
def test_tricky_values_get_the_same_answer_on_both_paths(field: tuple[str, ...], value: str, valid: bool) -> None:
    from .conftest import valid_dog_data

    data = valid_dog_data()
    target = data
    for key in field[:-1]:
        target = target.setdefault(key, {})
    target[field[-1]] = value

    errors = _same_answer("dog", data)

    if valid:
        assert errors == []
    else:
        assert errors, f"{value!r} must be refused"


@pytest.mark.parametrize(("value", "valid"), [
    ("12345678-1234-1234-1234-123456789abc", True), ("123456781234123412341234567890ab", False), ("x", False)])
def test_formats_are_checked_by_the_reference_checkers_on_the_fast_path_too(value: str, valid: bool) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}}
    prepare(schema)

    assert compiled(schema) is not None
    assert (validate(schema, {"id": value}) == []) is valid
    assert validate(schema, {"id": value}) == validate(copy.deepcopy(schema), {"id": value})


@pytest.mark.parametrize("keyword", [
    {"multipleOf": 0.1},                      # floats in Python, decimals in jsonschema-rs: 1.1 differs
    {"pattern": "^a\\Z"},                     # \Z: end in Python, a literal or an error elsewhere
    {"pattern": "^[a&&b]+"},                  # a set operation in Rust, literals in Python
    {"pattern": "^[[a]+"},                    # a nested class in Rust
    {"pattern": "(?i)^a"},                    # inline flags
    {"pattern": "^(?P<x>a)"},                 # Python's named groups
    {"pattern": "\\bword"},                   # word boundaries (Unicode or ASCII)
])
def test_schemas_the_engines_could_read_apart_are_not_compiled(keyword: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"v": {"type": "number" if "multipleOf" in keyword else "string", **keyword}}}
    prepare(schema)

    assert compiled(schema) is None
    for value in (1.1, 3, "a", "A", "aZ", "a\n", "word", "&"):
        assert validate(schema, {"v": value}) == validate(copy.deepcopy(schema), {"v": value})


def test_numbers_beyond_64_bits_fall_back_to_the_reference_path() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 10}}}
    prepare(schema)

    assert [e.code for e in validate(schema, {"n": 10**30})] == ["maximum"]
    assert validate(schema, {"n": -(10**30)}) == []


def test_nul_in_text_is_refused_on_the_fast_path_even_where_the_schema_allows_it() -> None:
    schema = {"type": "object", "properties": {"note": {"type": "string"}}}
    prepare(schema)

    assert [e.pointer for e in validate(schema, {"note": "a\x00b"})] == ["/note"]
    assert validate(schema, {"note": "ab"}) == []
