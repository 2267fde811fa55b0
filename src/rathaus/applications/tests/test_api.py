"""The JSON API contract of DESIGN.md §4: tenants, catalogue, submission, status, OpenAPI.

The property tests draw data from the form schema the API itself publishes and check that the
API accepts exactly what that schema accepts: every rule lives in the published schema. Valid
data comes from `valid_data` (hypothesis-jsonschema for the leaves, see schema_data.py),
invalid data from valid data with one known defect, so each example is a real test and none
is thrown away.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from rathaus.applications.models import Application, StatusChange
from rathaus.cases.models import Document, DocumentVersion
from rathaus.core.models import AuditEntry
from rathaus_domain.forms._schema import json_pointer, schema_for_path
from rathaus_domain.forms.tests.schema_data import DEFECTS, broken_data, form_validator, instance, valid_data
from rathaus_domain.forms.validation import SINGLE_LINE_TEXT_PATTERN

pytestmark = pytest.mark.django_db

FIM_DIR = Path(__file__).resolve().parents[2] / "catalog" / "demo_data"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Rate-limit counters live in the cache; without this one test's requests throttle the next.
    cache.clear()
    yield
    cache.clear()


def post_application(client, slug: str, body, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    payload = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(f"/api/v1/m/{slug}/applications", data=payload, content_type="application/json", headers=headers)


def get_application(client, slug: str, reference: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get(f"/api/v1/m/{slug}/applications/{reference}", headers=headers)


@pytest.fixture
def dog(demo_services):
    return demo_services["hund-anmelden"]


# ---------------------------------------------------------------- tenants and catalogue


def test_municipalities_lists_slug_name_and_ags_of_active_tenants(client, town, other_town, make_municipality):
    hidden = make_municipality("geschlossen", "Geschlossen", "09999003", "GES")
    hidden.is_active = False
    hidden.save()
    response = client.get("/api/v1/municipalities")
    assert response.status_code == 200
    assert response.json() == [
        {"slug": "beispielhausen", "name": "Beispielhausen", "ags": "09999002"},
        {"slug": "musterstadt", "name": "Musterstadt", "ags": "09999001"},
    ]


def test_service_list_is_the_tenants_catalogue(client, town, other_town, demo_services):
    response = client.get(f"/api/v1/m/{town.slug}/services")
    assert response.status_code == 200
    body = response.json()
    assert sorted(s["slug"] for s in body) == ["bewohnerparkausweis", "halteverbot-umzug", "hund-anmelden"]
    assert set(body[0]) == {"id", "slug", "leika_key", "name", "summary", "fee", "processing_days", "office"}
    assert client.get(f"/api/v1/m/{other_town.slug}/services").json() == []


def test_service_detail_publishes_the_forms_json_schema(client, town, dog):
    response = client.get(f"/api/v1/m/{town.slug}/services/{dog.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == dog.pk
    assert body["form_version"] == dog.form.version
    assert body["form_schema"] == dog.form.schema
    assert body["form_schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_service_of_another_tenant_is_not_found(client, town, other_town, dog):
    response = client.get(f"/api/v1/m/{other_town.slug}/services/{dog.pk}")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_unknown_tenant_slug_is_a_404_problem(client, town):
    response = client.get("/api/v1/m/gibt-es-nicht/services")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 404


# ---------------------------------------------------------------- submitting


def test_submission_returns_reference_token_and_status_url(client, town, dog, dog_data):
    response = post_application(client, town.slug, {"service": dog.pk, "data": dog_data})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"reference", "status", "access_token", "status_url"}
    application = Application.objects.get()
    assert body["reference"] == application.reference == f"MUS-{application.submitted_at.year}-000001"
    assert body["status"] == "received"
    assert body["status_url"] == f"http://testserver/m/{town.slug}/status/{application.reference}/{body['access_token']}/"
    assert application.data == dog_data
    assert application.channel == "online"
    assert client.get(body["status_url"]).status_code == 200


def test_retried_submission_returns_the_first_reference(client, town, dog, dog_data):
    first = post_application(client, town.slug, {"service": dog.pk, "data": dog_data}, key="retry-1")
    again = post_application(client, town.slug, {"service": dog.pk, "data": dog_data}, key="retry-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Application.objects.count() == 1
    assert StatusChange.objects.count() == 1
    assert AuditEntry.objects.filter(action="application.submitted").count() == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(client, town, dog, dog_data):
    assert post_application(client, town.slug, {"service": dog.pk, "data": dog_data}, key="k").status_code == 201
    changed = copy.deepcopy(dog_data)
    changed["dog"]["name"] = "Rex"
    response = post_application(client, town.slug, {"service": dog.pk, "data": changed}, key="k")
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/idempotency-conflict")
    assert list(Application.objects.values_list("data__dog__name", flat=True)) == ["Bello"]


def test_idempotency_keys_are_per_tenant(client, town, other_town, dog, dog_data, demo_services):
    from rathaus.catalog.services import service_upsert

    other_dog = service_upsert(municipality=other_town, slug="hund-anmelden", form=dog.form, leika_key=dog.leika_key,
                               name="Hund", summary="", office="", processing_days=5)
    ours = post_application(client, town.slug, {"service": dog.pk, "data": dog_data}, key="shared")
    theirs = post_application(client, other_town.slug, {"service": other_dog.pk, "data": dog_data}, key="shared")
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["reference"].startswith("MUS-") and theirs.json()["reference"].startswith("BSP-")


def test_invalid_data_lists_each_fields_json_pointer_in_german(client, town, dog, dog_data):
    bad = copy.deepcopy(dog_data)
    bad["owner"]["address"]["postal_code"] = "9999"
    del bad["dog"]["chip_number"]
    bad["dog"]["other_dogs"] = "zwei"
    response = post_application(client, town.slug, {"service": dog.pk, "data": bad})
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == 422
    assert body["detail"] == "Die Antragsdaten erfüllen das Formular nicht."
    by_pointer = {e["pointer"]: e for e in body["errors"]}
    assert set(by_pointer) == {"/data/owner/address/postal_code", "/data/dog/chip_number", "/data/dog/other_dogs"}
    assert by_pointer["/data/dog/chip_number"]["detail"] == "Dieses Feld ist ein Pflichtfeld."
    assert by_pointer["/data/dog/chip_number"]["code"] == "required"
    assert by_pointer["/data/dog/other_dogs"]["detail"] == "Bitte geben Sie eine ganze Zahl ein."
    assert by_pointer["/data/owner/address/postal_code"]["code"] in ("minLength", "pattern")
    assert Application.objects.count() == 0
    assert not AuditEntry.objects.filter(action="application.submitted").exists()


@pytest.fixture
def marital_status_service(town):
    """A service whose spouse field is shown (and required) only for a married applicant."""
    from rathaus.catalog.services import form_definition_create, service_upsert

    name = {"type": "string", "title": "Name", "maxLength": 80, "pattern": SINGLE_LINE_TEXT_PATTERN}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "title": "Familienstand",
        "additionalProperties": False, "required": ["person"],
        "properties": {"person": {
            "type": "object", "title": "Person", "additionalProperties": False, "required": ["married"],
            "properties": {"married": {"type": "string", "title": "Verheiratet?", "enum": ["ja", "nein"]},
                           "spouse": {**name, "title": "Name der Ehepartnerin oder des Ehepartners"}},
            "if": {"properties": {"married": {"const": "ja"}}, "required": ["married"]},
            "then": {"required": ["spouse"]},
        }},
    }
    form = form_definition_create(municipality=town, key="familienstand", title="Familienstand", schema=schema)
    return service_upsert(municipality=town, slug="familienstand", form=form, leika_key="99000000000001",
                          name="Familienstand", summary="", office="Bürgerbüro", processing_days=5)


def test_the_value_of_a_field_whose_condition_does_not_hold_is_not_stored(client, town, marital_status_service):
    data = {"person": {"married": "nein", "spouse": "Max Mustermann"}}

    response = post_application(client, town.slug, {"service": marital_status_service.pk, "data": data})

    assert response.status_code == 201
    assert Application.objects.get().data == {"person": {"married": "nein"}}


def test_the_value_of_a_field_whose_condition_holds_is_stored(client, town, marital_status_service):
    data = {"person": {"married": "ja", "spouse": "Max Mustermann"}}

    assert post_application(client, town.slug, {"service": marital_status_service.pk, "data": data}).status_code == 201
    assert Application.objects.get().data == data


def test_unknown_fields_in_the_data_are_refused(client, town, dog, dog_data):
    bad = copy.deepcopy(dog_data)
    bad["dog"]["colour"] = "braun"
    response = post_application(client, town.slug, {"service": dog.pk, "data": bad})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"pointer": "/data/dog/colour", "detail": "Unbekanntes Feld „colour“.",
                                          "detail_en": "Unknown field “colour”.", "code": "additionalProperties"}]
    assert Application.objects.count() == 0


def test_unknown_fields_in_the_envelope_are_refused(client, town, dog, dog_data):
    response = post_application(client, town.slug, {"service": dog.pk, "data": dog_data, "status": "approved"})
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert [e["pointer"] for e in response.json()["errors"]] == ["/status"]
    assert Application.objects.count() == 0


@pytest.mark.parametrize(("body", "pointers"), [
    ({"data": {}}, ["/service"]),
    ({"service": "1", "data": {}}, ["/service"]),
    ({"service": True, "data": {}}, ["/service"]),
    ({"service": 1}, ["/data"]),
    ({"service": 1, "data": []}, ["/data"]),
    ([], [""]),
])
def test_malformed_envelope_is_a_422_problem(client, town, dog, body, pointers):
    response = post_application(client, town.slug, body)
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert [e["pointer"] for e in response.json()["errors"]] == pointers
    assert Application.objects.count() == 0


def test_service_of_another_tenant_cannot_be_applied_for(client, town, other_town, dog, dog_data):
    response = post_application(client, other_town.slug, {"service": dog.pk, "data": dog_data})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/service"
    assert Application.objects.count() == 0


def test_unpublished_service_cannot_be_applied_for(client, town, dog, dog_data):
    dog.is_published = False
    dog.save()
    response = post_application(client, town.slug, {"service": dog.pk, "data": dog_data})
    assert response.status_code == 422
    assert Application.objects.count() == 0


@pytest.mark.parametrize("service_id", [2**63, 2**63 + 1, 10**30, -(2**63) - 1])
def test_a_service_id_beyond_64_bits_is_an_unknown_service(client, town, dog, dog_data, service_id):
    response = post_application(client, town.slug, f'{{"service": {service_id}, "data": {json.dumps(dog_data)}}}')
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"].endswith("/unknown-service")
    assert response.json()["errors"][0]["pointer"] == "/service"
    assert post_application(client, "gibt-es-nicht", {"service": service_id, "data": dog_data}).status_code == 404
    assert Application.objects.count() == 0


# ---------------------------------------------------------------- reading the status


@pytest.fixture
def submitted(client, town, dog, dog_data):
    return post_application(client, town.slug, {"service": dog.pk, "data": dog_data}).json()


def test_status_with_bearer_token_shows_status_and_history(client, town, dog, submitted):
    response = get_application(client, town.slug, submitted["reference"], submitted["access_token"])
    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == submitted["reference"]
    assert body["service"] == dog.pk
    assert (body["status"], body["status_label"], body["channel"]) == ("received", "Eingegangen", "online")
    assert [(h["status"], h["text"]) for h in body["history"]] == [
        ("received", "Ihr Antrag ist eingegangen und wird bald bearbeitet.")]


def test_status_history_grows_with_each_status_change(client, town, submitted, make_staff):
    from rathaus.applications.services import application_change_status

    application = Application.objects.get()
    application_change_status(application=application, status="in_review", public_text="Wir prüfen die Chipnummer.",
                              actor=make_staff(town))
    body = get_application(client, town.slug, submitted["reference"], submitted["access_token"]).json()
    assert body["status"] == "in_review"
    assert [(h["status"], h["text"]) for h in body["history"]][1] == ("in_review", "Wir prüfen die Chipnummer.")


@pytest.mark.parametrize("token", [None, "", "falsch", "x" * 200])
def test_status_without_the_right_token_is_not_found(client, town, submitted, token):
    response = get_application(client, town.slug, submitted["reference"], token)
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_status_with_basic_instead_of_bearer_is_not_found(client, town, submitted):
    response = client.get(f"/api/v1/m/{town.slug}/applications/{submitted['reference']}",
                          headers={"Authorization": f"Basic {submitted['access_token']}"})
    assert response.status_code == 404


def test_unknown_reference_and_wrong_token_look_the_same(client, town, submitted):
    unknown = get_application(client, town.slug, "MUS-2000-999999", submitted["access_token"])
    wrong = get_application(client, town.slug, submitted["reference"], "falsch")
    assert unknown.status_code == wrong.status_code == 404
    assert unknown.json() == wrong.json()


def test_reference_under_another_tenants_slug_is_not_found(client, town, other_town, submitted):
    response = get_application(client, other_town.slug, submitted["reference"], submitted["access_token"])
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_verified_staff_read_their_tenants_application_without_token(client, town, submitted, make_staff, login_verified):
    login_verified(client, make_staff(town))
    assert get_application(client, town.slug, submitted["reference"], None).status_code == 200


def test_staff_of_another_tenant_cannot_read_the_application(client, town, other_town, submitted, make_staff,
                                                             login_verified):
    login_verified(client, make_staff(other_town))
    assert get_application(client, town.slug, submitted["reference"], None).status_code == 404


def test_staff_without_second_factor_cannot_read_without_token(client, town, submitted, make_staff):
    client.force_login(make_staff(town))
    assert get_application(client, town.slug, submitted["reference"], None).status_code == 404


# ---------------------------------------------------------------- OpenAPI


def test_openapi_lists_every_public_path_that_exists():
    from django.test import Client

    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/municipalities": {"get"},
        "/api/v1/m/{slug}/services": {"get"},
        "/api/v1/m/{slug}/services/{service_id}": {"get"},
        "/api/v1/m/{slug}/applications": {"post"},
        "/api/v1/m/{slug}/applications/{reference}": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
    submit = paths["/api/v1/m/{slug}/applications"]["post"]
    assert {"201", "409", "413", "415", "422", "429"} <= set(submit["responses"])
    body_schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["required"] == ["service", "data"]
    assert body_schema["additionalProperties"] is False
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in submit.get("parameters", []))


def test_submission_answers_are_what_the_openapi_document_promises(client, town, dog, dog_data):
    """The 201 answer is rendered without a second validation: it must still match its schema,
    first submission and replay alike."""
    document = client.get("/api/v1/openapi.json").json()
    schema = document["paths"]["/api/v1/m/{slug}/applications"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    for _ in range(2):
        response = post_application(client, town.slug, {"service": dog.pk, "data": dog_data}, key="answer-1")
        assert response.status_code == 201
        assert response["Content-Type"].startswith("application/json")
        assert list(validator.iter_errors(response.json())) == []
        assert set(response.json()) == set(document["components"]["schemas"]["SubmissionOut"]["properties"])


def test_api_docs_page_is_served(client):
    assert client.get("/api/v1/docs").status_code == 200


# ---------------------------------------------------------------- the published schema is the contract


@pytest.fixture
def published(client, town, demo_services):
    """(service id, schema) as the API publishes them, for the demo services and both FIM imports."""
    from rathaus.catalog.services import service_import_fim

    service_import_fim(municipality=town, xml=(FIM_DIR / "S00000036_waffenbesitzkarte_xdf1.xml").read_bytes(),
                       leika_key="99089013000000", office="Waffenbehörde", slug="waffenbesitzkarte")
    service_import_fim(municipality=town, xml=(FIM_DIR / "S00000121_blaue_karte_eu_xdf2.xml").read_bytes(),
                       leika_key="99010003001000", office="Ausländerbehörde", slug="blaue-karte-eu")
    listing = client.get(f"/api/v1/m/{town.slug}/services").json()
    return {s["slug"]: (s["id"], client.get(f"/api/v1/m/{town.slug}/services/{s['id']}").json()["form_schema"])
            for s in listing}


SERVICE_SLUGS = ["hund-anmelden", "bewohnerparkausweis", "halteverbot-umzug", "waffenbesitzkarte", "blaue-karte-eu"]
# The normal suite draws a few examples per service (and per kind of defect), always the same
# ones (derandomize), so that a red run is reproducible; `make test-property` draws many, at random.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
FAST = settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=_SUPPRESSED)
FAST_PER_DEFECT = settings(FAST, max_examples=3)
THOROUGH = settings(max_examples=200, deadline=None, database=None, suppress_health_check=_SUPPRESSED)


def _validator(schema):
    # 2020-12 with formats, plus the form language's dates relative to the day of submission (the
    # street-space form's moving day): the town's day when each example is checked, as the server's.
    return form_validator(schema)


def _counts():
    return Application.objects.count(), AuditEntry.objects.count(), DocumentVersion.objects.count()


def _assert_accepted(client, service_id, validator, data):
    assert validator.is_valid(data)  # the strategy's promise; the API's is checked below
    before = Application.objects.count()
    response = post_application(client, "musterstadt", {"service": service_id, "data": data})
    assert response.status_code == 201, response.content[:2000]
    assert Application.objects.count() == before + 1
    stored = Application.objects.get(reference=response.json()["reference"])
    # File leaves are replaced by attachment metadata; every other value is stored as sent.
    file_paths = {tuple(d.form_field.split("/")) for d in Document.objects.filter(application=stored)}
    for path, value in _paths(data):
        if not isinstance(value, dict | list) and not any(tuple(map(str, path[: len(f)])) == f for f in file_paths):
            found = stored.data
            for key in path:
                found = found[key]
            assert _same_json_value(found, value), path


def _same_json_value(stored, sent):
    """Equal as JSON values. A number is compared as the decimal the JSON text wrote: PostgreSQL
    keeps 5.440822342221577e+16 as 54408223422215770 (exactly that decimal), Python's float of
    it is 54408223422215768."""
    if isinstance(stored, bool) or isinstance(sent, bool) or not isinstance(stored, int | float):
        return type(stored) is type(sent) and stored == sent
    return isinstance(sent, int | float) and Decimal(repr(stored)) == Decimal(repr(sent))


def _assert_refused(client, service_id, validator, data, pointer=None):
    assert not validator.is_valid(data)
    before = _counts()
    response = post_application(client, "musterstadt", {"service": service_id, "data": data})
    assert response.status_code == 422, response.content[:2000]
    assert response["Content-Type"] == PROBLEM
    errors = response.json()["errors"]
    assert errors and all(e["pointer"].startswith("/data") and e["detail"] for e in errors)
    if pointer is not None:
        assert "/data" + pointer in [e["pointer"] for e in errors]
    assert _counts() == before


def _paths(value, prefix=()):
    """Every (path, node) of a JSON value, the root included."""
    yield prefix, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


@pytest.mark.parametrize("slug", SERVICE_SLUGS)
def test_data_valid_under_the_published_schema_is_accepted(client, published, settings, slug):
    settings.RATELIMIT_SUBMISSIONS = "100000/m"
    service_id, schema = published[slug]
    validator = _validator(schema)

    @FAST
    @given(data=valid_data(schema))
    def check(data):
        _assert_accepted(client, service_id, validator, data)

    check()


@pytest.mark.parametrize("slug", SERVICE_SLUGS)
def test_data_broken_in_a_known_way_is_refused_at_that_field_and_nothing_stored(client, published, settings, slug):
    settings.RATELIMIT_SUBMISSIONS = "100000/m"
    service_id, schema = published[slug]
    validator = _validator(schema)

    for how in DEFECTS:
        @FAST_PER_DEFECT
        @given(broken=broken_data(schema, how))
        def check(broken):
            _assert_refused(client, service_id, validator, broken.data, broken.pointer)

        check()


@pytest.mark.slow_property
@pytest.mark.parametrize("slug", SERVICE_SLUGS)
def test_any_data_valid_under_the_published_schema_is_accepted(client, published, settings, slug):
    settings.RATELIMIT_SUBMISSIONS = "100000/m"
    service_id, schema = published[slug]
    validator = _validator(schema)

    @THOROUGH
    @given(data=valid_data(schema))
    def check(data):
        _assert_accepted(client, service_id, validator, data)

    check()


JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20) | st.sampled_from(
    ["<script>alert(1)</script>", "", " ", "2026-02-30", "1980-01-31\n", "x" * 300, "99999 ", "ä@example", "a\x00b"])
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@st.composite
def anything_replaced(draw, schema):
    """Valid data with one node replaced by an arbitrary JSON value (which may happen to be valid)."""
    data = draw(valid_data(schema))
    path, _node = draw(st.sampled_from(list(_paths(data))[1:]))
    return _replace(data, path, draw(JSON_VALUES))


@pytest.mark.slow_property
@pytest.mark.parametrize("slug", SERVICE_SLUGS)
def test_any_data_invalid_under_the_published_schema_is_refused_and_nothing_stored(client, published, settings, slug):
    settings.RATELIMIT_SUBMISSIONS = "100000/m"
    service_id, schema = published[slug]
    validator = _validator(schema)

    @THOROUGH
    @given(broken=broken_data(schema))
    def known_defects(broken):
        _assert_refused(client, service_id, validator, broken.data, broken.pointer)

    @THOROUGH
    @given(data=anything_replaced(schema))
    def arbitrary_values(data):
        if validator.is_valid(data):
            _assert_accepted(client, service_id, validator, data)
        else:
            _assert_refused(client, service_id, validator, data)

    known_defects()
    arbitrary_values()


@pytest.mark.parametrize(("path", "value"), [
    (("owner", "given_name"), "Erika\n"),
    (("owner", "address", "house_number"), "12a\n"),
    (("owner", "address", "postal_code"), "99999\n"),
    (("dog", "chip_number"), "276098106123456\n"),
    (("owner", "given_name"), "Er\x00ika"),
    (("owner", "email"), "erika@example.org\n"),
])
def test_a_trailing_line_break_or_a_nul_in_the_dog_form_is_refused(client, town, dog, dog_data, path, value):
    # Python's `$` matches before a final line break, ECMA-262's does not: the published patterns
    # end with END_OF_TEXT instead, so every validator refuses these alike.
    schema = client.get(f"/api/v1/m/{town.slug}/services/{dog.pk}").json()["form_schema"]
    data = _replace(dog_data, path, value)
    before = _counts()
    response = post_application(client, town.slug, {"service": dog.pk, "data": data})
    assert not _validator(schema).is_valid(data)
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    [error] = response.json()["errors"]
    assert error["pointer"] == "/data/" + "/".join(path)
    # One character too many for a fixed-length field is reported as that (the more helpful message).
    assert error["code"] == ("maxLength" if len(value) > schema_for_path(schema, path)["maxLength"] else "pattern")
    assert _counts() == before


@pytest.mark.parametrize("slug", ["waffenbesitzkarte", "blaue-karte-eu"])
def test_a_nul_anywhere_in_an_imported_form_is_refused_not_a_database_error(client, published, slug):
    # PostgreSQL's jsonb cannot store U+0000; the schema refuses it, so the database never sees one.
    service_id, schema = published[slug]
    data = instance(schema, full=True)
    text_paths = [path for path, value in _paths(data) if isinstance(value, str)
                  and schema_for_path(schema, path).get("pattern") == SINGLE_LINE_TEXT_PATTERN]
    assert len(text_paths) >= 10
    for path in (text_paths[0], text_paths[-1]):
        _assert_refused(client, service_id, _validator(schema), _replace(data, path, "ab\x00c"), json_pointer(path))
    first_step = next(iter(data))
    _assert_refused(client, service_id, _validator(schema), _replace(data, (first_step, "x\x00"), "1"),
                    json_pointer((first_step, "x\x00")))
    assert post_application(client, "musterstadt", {"service": service_id, "data": data}).status_code == 201


@pytest.mark.parametrize("content", ["JVBERi0xLjQK", "JVBERi0xLjQKJQ", "JVBERi0xLjQKJ", "JVBERi0xLjQKJQ=", "JVBERi0="])
def test_file_content_is_accepted_exactly_when_the_published_schema_accepts_it(client, town, dog, dog_data, content):
    # The schema's content pattern checks alphabet and magic bytes but not base64 padding, so
    # unpadded or odd-length content is valid under it and must not crash the decoder.
    schema = client.get(f"/api/v1/m/{town.slug}/services/{dog.pk}").json()["form_schema"]
    dog_data["reduction"] = {"exemption": "blindenfuehrhund",
                             "proof": {"filename": "nachweis.pdf", "content_type": "application/pdf", "content": content}}
    response = post_application(client, town.slug, {"service": dog.pk, "data": dog_data})
    if _validator(schema).is_valid(dog_data):
        assert response.status_code == 201, response.content
        assert DocumentVersion.objects.get().content_type == "application/pdf"
    else:
        assert response.status_code == 422
        assert Application.objects.count() == 0


@pytest.mark.parametrize("prefix", ["/", "/rathaus/"])
@pytest.mark.parametrize(("slug", "reference", "token"), [
    ("musterstadt", "MUS-2026-000123", "aB3_-x"), ("bad-bentheim", "BB-2027-1000000", "Zz09"), ("musterstadt", "R 1ü", "a~b")])
def test_status_url_is_the_one_reverse_gives_under_any_script_prefix(rf, prefix, slug, reference, token):
    from types import SimpleNamespace

    from django.urls import reverse, set_script_prefix

    from rathaus.applications.api import _status_url

    set_script_prefix(prefix)
    try:
        expected = "http://testserver" + reverse("applications:status", kwargs={
            "municipality": slug, "reference": reference, "token": token})
        assert _status_url(rf.get("/"), SimpleNamespace(slug=slug), reference, token) == expected
    finally:
        set_script_prefix("/")


def test_a_retry_with_the_same_key_replays_without_a_second_application_or_number(client, town, dog, dog_data):
    body = json.dumps({"service": dog.pk, "data": dog_data})
    first = client.post(f"/api/v1/m/{town.slug}/applications", body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="retry-1")
    again = client.post(f"/api/v1/m/{town.slug}/applications", body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="retry-1")
    after = client.post(f"/api/v1/m/{town.slug}/applications", body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="retry-2")

    assert first.status_code == again.status_code == after.status_code == 201
    assert again.json() == first.json()
    assert Application.objects.count() == 2
    # The replay took no number: the next application follows the first without a gap.
    assert int(after.json()["reference"].rsplit("-", 1)[1]) == int(first.json()["reference"].rsplit("-", 1)[1]) + 1
