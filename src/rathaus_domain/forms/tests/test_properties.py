"""Property tests: whatever a client sends, validation answers with errors that point into
the form, and coercion of arbitrary POST data never fails."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rathaus_domain.forms._schema import WILDCARD, is_file_schema, json_pointer, schema_for_path, value_at
from rathaus_domain.forms.coerce import errors_for_step, step_data_from_post
from rathaus_domain.forms.fim import import_xdf
from rathaus_domain.forms.model import FormSpec
from rathaus_domain.forms.validation import FieldError, validate

from .conftest import BLAUE_KARTE, WAFFENBESITZKARTE, dog_form_schema, moving_form_schema
from .schema_data import DEFECTS, broken_data, form_validator, near_valid, valid_data

FORMS = {
    "waffenbesitzkarte": import_xdf(WAFFENBESITZKARTE.read_bytes()).schema,
    "blaue_karte": import_xdf(BLAUE_KARTE.read_bytes()).schema,
    "dog": dog_form_schema(),
    "moving": moving_form_schema(),
}
#: The day of submission the tests validate on (and draw relative dates from): fixed, so a run is
#: reproducible whatever the day.
TODAY = dt.date(2026, 3, 11)
# The imported forms have about a hundred fields each: generating one example costs about
# 0.1 s, so they get fewer examples than the small hand-written form.
BIG_FORM_SETTINGS = settings(
    max_examples=40,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROPERTY_SETTINGS = settings(
    max_examples=75,
    database=None,  # no example database in the shared working tree
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _assert_points_into_schema_and_data(schema: dict[str, Any], data: Any, error: FieldError) -> None:
    assert error.pointer == json_pointer(error.path)
    assert error.message
    assert error.message_en
    if error.code in ("additionalProperties", "unevaluatedProperties"):
        # An unknown key has no schema of its own; its object has.
        assert schema_for_path(schema, error.path[:-1]) is not None
        assert schema_for_path(schema, error.path) is None
        assert value_at(data, error.path)[0]
    elif error.code == "required":
        target = schema_for_path(schema, error.path)
        assert target is not None
        assert value_at(data, error.path[:-1])[0]
        # An incomplete upload is reported on the upload field, which is then present.
        assert is_file_schema(target) or not value_at(data, error.path)[0]
    else:
        assert schema_for_path(schema, error.path) is not None
        assert value_at(data, error.path)[0]


NEAR_VALID = {name: near_valid(schema) for name, schema in FORMS.items()}


def _check(name: str, data: Any) -> None:
    schema = FORMS[name]
    errors = validate(schema, data, today=TODAY)
    for error in errors:
        _assert_points_into_schema_and_data(schema, data, error)
    assert len({e.pointer for e in errors}) == len(errors)  # one message per field


@BIG_FORM_SETTINGS
@given(NEAR_VALID["waffenbesitzkarte"])
def test_waffenbesitzkarte_errors_point_into_the_schema(data: Any) -> None:
    _check("waffenbesitzkarte", data)


@BIG_FORM_SETTINGS
@given(NEAR_VALID["blaue_karte"])
def test_blaue_karte_errors_point_into_the_schema(data: Any) -> None:
    _check("blaue_karte", data)


@PROPERTY_SETTINGS
@given(NEAR_VALID["dog"])
def test_dog_form_errors_point_into_the_schema(data: Any) -> None:
    _check("dog", data)


@PROPERTY_SETTINGS
@given(NEAR_VALID["moving"] | valid_data(FORMS["moving"], TODAY))
def test_moving_form_errors_point_into_the_schema_and_agree_with_the_reading_of_docs_forms(data: Any) -> None:
    _check("moving", data)
    assert (validate(FORMS["moving"], data, today=TODAY) == []) == form_validator(FORMS["moving"], TODAY).is_valid(data)


# The strategies the API's property tests draw from: few examples, always the same ones.
STRATEGY_SETTINGS = settings(
    max_examples=10, database=None, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", sorted(FORMS))
def test_valid_data_is_valid_for_jsonschema_and_for_validate(name: str) -> None:
    schema = FORMS[name]
    validator = form_validator(schema, TODAY)

    @STRATEGY_SETTINGS
    @given(valid_data(schema, TODAY))
    def check(data: Any) -> None:
        assert validator.is_valid(data)
        assert validate(schema, data, today=TODAY) == []

    check()


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("how", DEFECTS)
def test_broken_data_is_invalid_and_validate_reports_the_defect_where_it_is(name: str, how: str) -> None:
    schema = FORMS[name]
    validator = form_validator(schema, TODAY)

    @settings(STRATEGY_SETTINGS, max_examples=3)
    @given(broken_data(schema, how, TODAY))
    def check(broken: Any) -> None:
        assert not validator.is_valid(broken.data)
        errors = validate(schema, broken.data, today=TODAY)
        pointers = [e.pointer for e in errors]
        assert broken.pointer in pointers, (broken.how, errors)
        assert len(set(pointers)) == len(pointers)

    check()


@PROPERTY_SETTINGS
@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)))
def test_data_that_is_not_an_object_gets_one_error_at_the_root(data: Any) -> None:
    errors = validate(FORMS["dog"], data)

    assert [(e.pointer, e.code) for e in errors] == [("", "type")]


def _html_names(spec: FormSpec) -> list[str]:
    names = []
    for field in spec.fields():
        for index in ("0", "1", "3"):
            names.append(field.name.replace(WILDCARD, index))
    return sorted(set(names))


DOG_SPEC = FormSpec.from_schema(FORMS["dog"])
POST = st.dictionaries(
    st.one_of(st.sampled_from(_html_names(DOG_SPEC)), st.text(max_size=12)),
    st.lists(
        st.one_of(st.text(max_size=12), st.sampled_from(["on", "true", "12,5", "1.000", "31.12.2024", "andere", "gewerblich"])),
        max_size=3,
    ),
    max_size=25,
)


@PROPERTY_SETTINGS
@given(POST)
def test_any_post_data_coerces_and_validates_without_failing(post: dict[str, list[str]]) -> None:
    data = {step.key: step_data_from_post(DOG_SPEC, step.key, post) for step in DOG_SPEC.steps}

    errors = validate(DOG_SPEC.schema, data)

    for error in errors:
        _assert_points_into_schema_and_data(DOG_SPEC.schema, data, error)
    for step in DOG_SPEC.steps:
        assert all(name.startswith(step.key) for name in errors_for_step(errors, step.key))
    # Coercion never produces the values the schema forbids by construction.
    assert not any(error.code == "additionalProperties" for error in errors)
