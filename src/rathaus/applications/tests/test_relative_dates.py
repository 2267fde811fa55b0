"""The moving day of the street-space form must be at least 14 days ahead (x-date-min-days-ahead),
counted from the town's day of submission: in the form without JavaScript, in the API, at the
office, and for a draft that waited too long."""

import copy
import json
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from rathaus.applications.models import Application, Channel
from rathaus.applications.services import ApplicationInvalid, application_submit
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

SLUG = "halteverbot-umzug"
APPLICANT = {"applicant.given_name": "Erika", "applicant.family_name": "Mustermann",
             "applicant.address.street": "Hauptstraße", "applicant.address.house_number": "12a",
             "applicant.address.postal_code": "99999", "applicant.address.city": "Musterstadt",
             "applicant.email": "erika@example.org"}
PLACE = {"place.street": "Hauptstraße", "place.house_number": "12", "place.length_m": "15", "place.side": "house",
         "place.from_time": "07:00", "place.to_time": "18:00"}


def _in_days(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


def street_data(day: date) -> dict:
    return {
        "applicant": {"given_name": "Erika", "family_name": "Mustermann", "email": "erika@example.org",
                      "address": {"street": "Hauptstraße", "house_number": "12a", "postal_code": "99999",
                                  "city": "Musterstadt"}},
        "place": {"street": "Hauptstraße", "house_number": "12", "length_m": 15, "side": "house",
                  "date": day.isoformat(), "from_time": "07:00", "to_time": "18:00"},
        "vehicles": {"items": [{"kind": "van"}]},
        "declaration": {"truthful": True, "privacy": True},
    }


def _post_api(client, town, service, data, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/api/v1/m/{town.slug}/applications", data=json.dumps({"service": service.pk, "data": data}),
                       content_type="application/json", headers=headers)


def _to_place_step(client, base):
    assert client.post(f"{base}/schritt/1/", APPLICANT).status_code == 302
    return f"{base}/schritt/2/"


def test_the_demo_form_asks_for_fourteen_days_ahead():
    from rathaus.catalog.demo_forms import street_space

    assert street_space()["properties"]["place"]["properties"]["date"]["x-date-min-days-ahead"] == 14


def test_without_javascript_a_near_moving_day_is_refused_at_the_field_and_in_the_summary(client, town, demo_services):
    base = client.post(f"/m/{town.slug}/leistungen/{SLUG}/antrag/")["Location"].rsplit("/schritt/", 1)[0]
    step = _to_place_step(client, base)
    earliest = _in_days(14)

    form = client.get(step).content.decode()
    # The hint names the first day allowed; data-min carries it for scripts (min does not apply to a text input).
    assert f"Frühestens am {earliest:%d.%m.%Y}." in form
    assert f'data-min="{earliest.isoformat()}"' in form

    response = client.post(step, {**PLACE, "place.date": f"{_in_days(13):%d.%m.%Y}"})

    assert response.status_code == 422
    page = response.content.decode()
    message = f"Das Datum muss mindestens 14 Tage in der Zukunft liegen, also frühestens am {earliest:%d.%m.%Y}."
    assert page.count(message) == 2  # in the error summary and below the field
    assert 'href="#f-place-date"' in page
    assert 'id="f-place-date-error"' in page
    assert client.post(step, {**PLACE, "place.date": f"{earliest:%d.%m.%Y}"}).status_code == 302


def test_the_message_is_english_on_english_pages(client, town, demo_services):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    base = client.post(f"/m/{town.slug}/leistungen/{SLUG}/antrag/")["Location"].rsplit("/schritt/", 1)[0]
    step = _to_place_step(client, base)

    page = client.post(step, {**PLACE, "place.date": _in_days(2).isoformat()}).content.decode()

    assert f"The date must be at least 14 days from today, so {_in_days(14):%d.%m.%Y} at the earliest." in page
    assert f"At the earliest on {_in_days(14):%d.%m.%Y}." in page


def test_the_api_answers_with_a_problem_document_naming_the_field_and_stores_nothing(client, town, demo_services):
    before = AuditEntry.objects.count()

    response = _post_api(client, town, demo_services[SLUG], street_data(_in_days(1)))

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    earliest = f"{_in_days(14):%d.%m.%Y}"
    assert response.json()["errors"] == [{
        "pointer": "/data/place/date", "code": "x-date-min-days-ahead",
        "detail": f"Das Datum muss mindestens 14 Tage in der Zukunft liegen, also frühestens am {earliest}.",
        "detail_en": f"The date must be at least 14 days from today, so {earliest} at the earliest."}]
    assert Application.objects.count() == 0 and AuditEntry.objects.count() == before
    assert _post_api(client, town, demo_services[SLUG], street_data(_in_days(14))).status_code == 201


def test_the_days_are_counted_from_the_day_in_germany_not_from_utc(client, town, demo_services):
    # 23:30 UTC on 10 March is 00:30 on 11 March in Berlin: the earliest moving day is 25 March, not 24 March.
    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 3, 10, 23, 30, tzinfo=UTC)):
        refused = _post_api(client, town, demo_services[SLUG], street_data(date(2026, 3, 24)))
        accepted = _post_api(client, town, demo_services[SLUG], street_data(date(2026, 3, 25)))

    assert refused.status_code == 422
    assert "frühestens am 25.03.2026" in refused.json()["errors"][0]["detail"]
    assert accepted.status_code == 201


def test_a_retry_of_an_accepted_request_gets_its_application_though_the_day_is_too_near_by_now(client, town, demo_services):
    data = street_data(_in_days(14))
    first = _post_api(client, town, demo_services[SLUG], data, key="umzug-1")
    assert first.status_code == 201

    later = timezone.now() + timedelta(days=3)
    with mock.patch("django.utils.timezone.now", return_value=later):
        retried = _post_api(client, town, demo_services[SLUG], data, key="umzug-1")
        other = _post_api(client, town, demo_services[SLUG], data, key="umzug-2")

    assert retried.status_code in (200, 201)
    assert retried.json()["reference"] == first.json()["reference"]
    assert other.status_code == 422  # a new request is checked against today
    assert Application.objects.count() == 1


def test_a_draft_that_waited_until_its_day_is_too_near_is_sent_back_to_that_step(client, town, demo_services):
    from rathaus.applications.models import Draft

    base = client.post(f"/m/{town.slug}/leistungen/{SLUG}/antrag/")["Location"].rsplit("/schritt/", 1)[0]
    draft = Draft.objects.get()
    draft.data = street_data(_in_days(10))
    draft.save()

    review = client.get(f"{base}/pruefen/")
    sent = client.post(f"{base}/pruefen/")

    assert 'href="' + base + '/schritt/2/' in review.content.decode()  # the first step with an error
    assert sent.status_code == 422
    assert Application.objects.count() == 0


def test_the_assisted_channel_checks_the_same_limit(staff_client, town, demo_services):
    response = staff_client.post(f"/m/{town.slug}/verwaltung/erfassen/", {"service": SLUG, "channel": "office"})
    base = response["Location"].rsplit("/schritt/", 1)[0]
    step = _to_place_step(staff_client, base)

    refused = staff_client.post(step, {**PLACE, "place.date": f"{_in_days(5):%d.%m.%Y}"})

    assert refused.status_code == 422
    assert "frühestens am" in refused.content.decode()


def test_staff_cannot_override_the_limit_when_they_enter_an_application(town, demo_services, make_staff):
    # The published form is the contract at every door: no channel stores data it refuses.
    clerk = make_staff(town)
    with pytest.raises(ApplicationInvalid) as refused:
        application_submit(municipality=town, service=demo_services[SLUG], data=street_data(_in_days(3)),
                           channel=Channel.OFFICE, entered_by=clerk)

    assert [(e.pointer, e.code) for e in refused.value.errors] == [("/place/date", "x-date-min-days-ahead")]
    assert not Application.objects.exists()


def test_stored_data_stays_valid_for_the_export_when_its_day_draws_near(town, demo_services):
    from rathaus.integration.fitconnect import submission_build

    application = application_submit(municipality=town, service=demo_services[SLUG],
                                      data=street_data(_in_days(14))).application
    later = timezone.now() + timedelta(days=20)  # the moving day has passed
    with mock.patch("django.utils.timezone.now", return_value=later):
        submission = submission_build(application)

    assert json.loads(submission.data)["place"]["date"] == _in_days(14).isoformat()


def test_a_form_exported_through_the_api_and_imported_elsewhere_keeps_its_limit(client, town, other_town, demo_services):
    from rathaus.catalog.services import form_definition_create, service_upsert

    published = client.get(f"/api/v1/m/{town.slug}/services/{demo_services[SLUG].pk}").json()["form_schema"]
    assert published["properties"]["place"]["properties"]["date"]["x-date-min-days-ahead"] == 14

    form = form_definition_create(municipality=other_town, key=SLUG, title="Halteverbot", schema=copy.deepcopy(published))
    form.refresh_from_db()
    service = service_upsert(municipality=other_town, slug=SLUG, form=form, leika_key="99050016007000",
                             name="Halteverbot", summary="", office="Ordnungsamt", processing_days=10)

    assert form.schema["properties"]["place"]["properties"]["date"]["x-date-min-days-ahead"] == 14
    assert _post_api(client, other_town, service, street_data(_in_days(13))).status_code == 422
