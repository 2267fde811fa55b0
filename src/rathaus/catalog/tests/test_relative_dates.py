"""A form is published only if its relative date limits (x-date-min-days-ahead/-max-) are sound."""

import copy

import pytest

from rathaus.catalog import demo_forms
from rathaus.catalog.services import FormSchemaInvalid, form_definition_create
from rathaus.forms.models import FormDefinition

pytestmark = pytest.mark.django_db


def _with_moving_day(**keywords):
    schema = copy.deepcopy(demo_forms.street_space())
    schema["properties"]["place"]["properties"]["date"].update(keywords)
    return schema


@pytest.mark.parametrize(("keywords", "problem"), [
    ({"x-date-max-days-ahead": 7}, "x-date-min-days-ahead (14) is greater than x-date-max-days-ahead (7)"),
    ({"x-date-min-days-ahead": "14"}, "x-date-min-days-ahead must be a whole number of days"),
    ({"x-date-min-days-ahead": 14.0}, "x-date-min-days-ahead must be a whole number of days"),
    ({"x-date-max-days-ahead": 100_000}, "x-date-max-days-ahead 100000 reaches further than 36600 days"),
])
def test_a_form_with_a_bad_relative_limit_is_refused_naming_the_problem_and_nothing_is_stored(town, keywords, problem):
    with pytest.raises(FormSchemaInvalid) as refused:
        form_definition_create(municipality=town, key="halteverbot", title="Halteverbot", schema=_with_moving_day(**keywords))

    assert any(p.startswith("/properties/place/properties/date: ") and problem in p for p in refused.value.problems)
    assert not FormDefinition.objects.exists()


def test_a_relative_limit_on_a_field_that_is_no_date_is_refused(town):
    schema = copy.deepcopy(demo_forms.street_space())
    schema["properties"]["place"]["properties"]["length_m"]["x-date-min-days-ahead"] = 14

    with pytest.raises(FormSchemaInvalid) as refused:
        form_definition_create(municipality=town, key="halteverbot", title="Halteverbot", schema=schema)

    assert refused.value.problems == [
        "/properties/place/properties/length_m: x-date-min-days-ahead only applies to a date field (a string with format date)"]


def test_the_demo_form_with_its_fourteen_days_is_published(town):
    form = form_definition_create(municipality=town, key="halteverbot", title="Halteverbot", schema=demo_forms.street_space())

    assert form.schema["properties"]["place"]["properties"]["date"]["x-date-min-days-ahead"] == 14
