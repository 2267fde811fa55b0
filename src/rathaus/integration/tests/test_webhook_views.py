"""Staff pages: subscribers, secret rotation, failed deliveries with resend, the case's delivery log."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from rathaus.accounts.models import Role
from rathaus.applications.services import application_submit
from rathaus.core.models import AuditEntry
from rathaus.integration.models import Delivery, DeliveryState, Subscription, SubscriptionKind, SubscriptionSecret
from rathaus.integration.services import subscription_create

from .receiver import receiver  # noqa: F401 - fixture
from .test_delivery import SECRET, verify

pytestmark = pytest.mark.django_db
BASE = "/m/musterstadt/verwaltung/anbindung/"


@pytest.fixture
def admin(town, make_staff, login_verified):
    return login_verified(Client(), make_staff(town, "admin@musterstadt.example", role=Role.TENANT_ADMIN))


@pytest.fixture
def clerk(town, make_staff, login_verified):
    return login_verified(Client(), make_staff(town, "sb@musterstadt.example"))


@pytest.fixture
def submit(town, demo_services, dog_data, django_capture_on_commit_callbacks):
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data).application

    return run


@pytest.fixture
def failed_delivery(town, submit, receiver, settings):  # noqa: F811
    """A webhook whose receiver answered 500 until the cut-off (one attempt allowed)."""
    settings.RATHAUS_WEBHOOK_MAX_ATTEMPTS = 1
    subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="Hundesteuer-Fachverfahren",
                        url=receiver.url, secret=SECRET, event_kinds=["application.submitted"])
    receiver.statuses = [500]
    application = submit()
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    return application, delivery


def test_admin_adds_a_webhook_and_sees_its_secret_once(admin, town):
    page = admin.get(BASE)
    assert page.status_code == 200
    assert "Anbindung an Fachverfahren" in page.content.decode()
    response = admin.post(BASE, {"action": "add", "kind": "webhook", "name": "Gewerbe-FV",
                                 "url": "https://fv.example.de/rathaus", "events": ["application.submitted",
                                                                                    "decision.issued"]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    subscription = Subscription.objects.get()
    secret = SubscriptionSecret.objects.get(subscription=subscription).secret
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert subscription.event_kinds == ["application.submitted", "decision.issued"]
    assert subscription.url == "https://fv.example.de/rathaus"
    # Not on the list, not in the audit log.
    listing = admin.get(BASE).content.decode()
    assert "Gewerbe-FV" in listing and secret not in listing
    entry = AuditEntry.objects.get(action="integration.subscription_created")
    assert secret not in json.dumps(entry.data) and secret not in entry.summary
    assert entry.municipality == town


def test_bad_input_shows_german_errors_and_stores_nothing(admin):
    response = admin.post(BASE, {"action": "add", "kind": "webhook", "name": "", "url": "ftp://fv.example.de/x",
                                 "secret": "kurz"})
    assert response.status_code == 422
    text = response.content.decode()
    assert "Bitte geben Sie eine Bezeichnung ein" in text
    assert "http- oder https-Adresse" in text
    assert "mindestens 16 Zeichen" in text
    assert "Bitte wählen Sie mindestens ein Ereignis" in text
    assert not Subscription.objects.exists()
    response = admin.post(BASE, {"action": "add", "kind": "email", "name": "Amt", "email": "kein-mail",
                                 "events": ["application.submitted"]})
    assert response.status_code == 422 and "gültige E-Mail-Adresse" in response.content.decode()
    assert not Subscription.objects.exists() and not AuditEntry.objects.filter(action__startswith="integration.").exists()


def test_admin_adds_an_office_by_email_without_a_secret(admin):
    response = admin.post(BASE, {"action": "add", "kind": "email", "name": "Ordnungsamt",
                                 "email": "ordnungsamt@musterstadt.example", "events": ["decision.issued"]})
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.kind == "email" and not subscription.secrets.exists()


def test_rotation_asks_for_confirmation_then_both_secrets_sign(admin, town, submit, receiver):  # noqa: F811
    subscription, _ = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="FV",
                                          url=receiver.url, secret=SECRET, event_kinds=["application.submitted"])
    confirm = admin.post(BASE, {"action": "rotate", "subscription": subscription.pk})
    assert confirm.status_code == 200 and "Altes Secret gültig für" in confirm.content.decode()
    assert SubscriptionSecret.objects.count() == 1
    response = admin.post(BASE, {"action": "rotate", "subscription": subscription.pk, "confirm": "1", "grace": "24"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new = SubscriptionSecret.objects.filter(subscription=subscription, expires_at__isnull=True).get().secret
    assert new != SECRET and new in response.content.decode()
    submit()
    request = receiver.requests[0]
    assert verify(request.headers["X-Rathaus-Signature"], request.body, SECRET)
    assert verify(request.headers["X-Rathaus-Signature"], request.body, new)
    entry = AuditEntry.objects.get(action="integration.secret_rotated")
    assert new not in json.dumps(entry.data) and SECRET not in json.dumps(entry.data)


def test_rotation_with_immediate_expiry_signs_with_the_new_secret_only(admin, town, submit, receiver):  # noqa: F811
    subscription, _ = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="FV",
                                          url=receiver.url, secret=SECRET, event_kinds=["application.submitted"])
    admin.post(BASE, {"action": "rotate", "subscription": subscription.pk, "confirm": "1", "grace": "0"})
    submit()
    header = receiver.requests[0].headers["X-Rathaus-Signature"]
    assert header.count("v1=") == 1 and not verify(header, receiver.requests[0].body, SECRET)


def test_deactivation_is_confirmed_first(admin, town):
    subscription, _ = subscription_create(municipality=town, kind=SubscriptionKind.EMAIL, name="Amt",
                                          email="amt@musterstadt.example")
    confirm = admin.post(BASE, {"action": "deactivate", "subscription": subscription.pk})
    assert confirm.status_code == 200 and "Endgültig deaktivieren" in confirm.content.decode()
    subscription.refresh_from_db()
    assert subscription.active
    assert admin.post(BASE, {"action": "deactivate", "subscription": subscription.pk, "confirm": "1"}).status_code == 302
    subscription.refresh_from_db()
    assert not subscription.active
    assert AuditEntry.objects.filter(action="integration.subscription_deactivated").count() == 1


def test_failed_delivery_is_listed_and_resending_it_from_the_staff_page_delivers(
        admin, failed_delivery, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    application, delivery = failed_delivery
    listing = admin.get(BASE + "zustellungen/")
    text = listing.content.decode()
    assert application.reference in text and "Erneut senden" in text and "HTTP 500" in text
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(BASE + "zustellungen/", {"action": "resend", "delivery": delivery.pk})
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["Idempotency-Key"] == receiver.requests[1].headers["Idempotency-Key"]
    entry = AuditEntry.objects.get(action="integration.delivery_resent")
    assert entry.object_id == str(delivery.pk) and entry.actor.username == "admin@musterstadt.example"
    # Delivered: no second resend.
    admin.post(BASE + "zustellungen/", {"action": "resend", "delivery": delivery.pk})
    assert len(receiver.requests) == 2
    assert AuditEntry.objects.filter(action="integration.delivery_resent").count() == 1
    assert "Keine fehlgeschlagenen Zustellungen" in admin.get(BASE + "zustellungen/").content.decode()


def test_resend_needs_a_post_with_csrf(town, make_staff, failed_delivery):
    client = Client(enforce_csrf_checks=True)
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_staff(town, "admin2@musterstadt.example", role=Role.TENANT_ADMIN)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    _, delivery = failed_delivery
    response = client.post(BASE + "zustellungen/", {"action": "resend", "delivery": delivery.pk})
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED


def test_delivery_lists_export_as_csv_and_json(admin, failed_delivery):
    application, delivery = failed_delivery
    response = admin.get(BASE + "zustellungen/?zustand=alle&export=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["delivery"], r["reference"], r["state"], r["last_status_code"]) for r in rows] == [
        (str(delivery.pk), application.reference, "failed", "500")]
    document = json.loads(admin.get(BASE + "zustellungen/?export=json").content)
    assert document[0]["event_type"] == "application.submitted" and document[0]["attempts"] == 1
    case = json.loads(admin.get(f"/m/musterstadt/verwaltung/antraege/{application.reference}/zustellungen/?export=json").content)
    assert [d["delivery"] for d in case] == [delivery.pk]


def test_case_page_links_to_its_delivery_log_which_case_workers_read_but_cannot_resend(
        clerk, admin, failed_delivery, receiver):  # noqa: F811
    application, delivery = failed_delivery
    detail = clerk.get(f"/m/musterstadt/verwaltung/antraege/{application.reference}/").content.decode()
    log_url = f"/m/musterstadt/verwaltung/antraege/{application.reference}/zustellungen/"
    assert f'href="{log_url}"' in detail
    page = clerk.get(log_url)
    text = page.content.decode()
    assert page.status_code == 200 and "Hundesteuer-Fachverfahren" in text and "HTTP 500" in text
    assert "Erneut senden" not in text
    assert clerk.post(log_url, {"action": "resend", "delivery": delivery.pk}).status_code == 404
    assert clerk.get(BASE).status_code == 404
    assert clerk.get(BASE + "zustellungen/").status_code == 404
    assert "Erneut senden" in admin.get(log_url).content.decode()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and len(receiver.requests) == 1


def test_staff_of_another_town_see_nothing(other_town, make_staff, login_verified, failed_delivery):
    application, delivery = failed_delivery
    stranger = login_verified(Client(), make_staff(other_town, "admin@beispielhausen.example", role=Role.TENANT_ADMIN))
    assert stranger.get(BASE).status_code == 404
    assert stranger.post(BASE + "zustellungen/", {"action": "resend", "delivery": delivery.pk}).status_code == 404
    # Their own pages do not reach our rows either.
    own = "/m/beispielhausen/verwaltung/anbindung/zustellungen/"
    assert stranger.post(own, {"action": "resend", "delivery": delivery.pk}).status_code == 404
    assert application.reference not in stranger.get(own + "?zustand=alle").content.decode()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED


def test_admin_navigation_links_to_the_integration_page(admin):
    page = admin.get("/m/musterstadt/verwaltung/posteingang/").content.decode()
    assert f'href="{BASE}"' in page


def test_the_subscriber_list_exports_as_csv_and_json_without_secrets_or_url_queries(admin):
    admin.post(BASE, {"action": "add", "kind": "webhook", "name": "Gewerbe-FV", "url": "https://fv.example.de/hook?key=geheim",
                      "events": ["application.submitted"]})
    secret = SubscriptionSecret.objects.get().secret
    rows = admin.get(BASE, {"export": "json"}).json()
    assert [(r["name"], r["url"], r["events"], r["active"]) for r in rows] == [
        ("Gewerbe-FV", "https://fv.example.de/hook", "application.submitted", True)]
    csv = admin.get(BASE, {"export": "csv"}).content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("name,kind,url") and "geheim" not in csv and secret not in csv


def test_delivery_pages_and_exports_never_show_the_query_of_a_webhook_url(town, admin, clerk, submit, receiver,  # noqa: F811
                                                                          settings):
    """A receiver's access key in the query string stays on the subscription itself: neither case
    workers (the case's delivery log) nor the delivery lists, their downloads or the confirmation
    pages show it."""
    settings.RATHAUS_WEBHOOK_MAX_ATTEMPTS = 1
    subscription, _secret = subscription_create(municipality=town, kind=SubscriptionKind.WEBHOOK, name="Gewerbe-FV",
                                                url=receiver.url + "?key=geheim-4711", secret=SECRET,
                                                event_kinds=["application.submitted"])
    receiver.statuses = [500]
    application = submit()
    case_log = f"/m/musterstadt/verwaltung/antraege/{application.reference}/zustellungen/"
    pages = {
        "case log": clerk.get(case_log),
        "case log csv": clerk.get(case_log + "?export=csv"),
        "case log json": clerk.get(case_log + "?export=json"),
        "deliveries": admin.get(BASE + "zustellungen/?zustand=alle"),
        "deliveries csv": admin.get(BASE + "zustellungen/?zustand=alle&export=csv"),
        "deliveries json": admin.get(BASE + "zustellungen/?zustand=alle&export=json"),
        "subscriptions": admin.get(BASE),
        "confirm": admin.post(BASE, {"action": "deactivate", "subscription": subscription.pk}),
    }
    for name, response in pages.items():
        text = response.content.decode()
        assert response.status_code == 200, name
        assert receiver.url in text, name  # the address without its query is still there
        assert "geheim-4711" not in text, name
    assert json.loads(pages["case log json"].content)[0]["target"] == receiver.url
