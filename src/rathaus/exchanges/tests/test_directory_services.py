"""Providers and directory offers: request, approval, moderation, ownership."""

from datetime import time
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from rathaus.core.models import AuditEntry
from rathaus.exchanges import services
from rathaus.exchanges.models import Directory, ModerationStatus, Offer, Provider, ProviderStatus

pytestmark = pytest.mark.django_db


def offer_data(**extra):
    return {"directory": Directory.SPORT, "title": "Tischtennis", "description": "Für alle ab 8.", "place_name": "Halle",
            "min_age": 8, "max_age": None, "fee": Decimal("0"), **extra}


def test_provider_request_creates_requested_provider_with_the_user_as_member(municipality, citizen):
    provider = services.provider_request(municipality=municipality, user=citizen,
                                         data={"name": "Schachclub", "email": "schach@example.org"})
    assert provider.status == ProviderStatus.REQUESTED
    assert list(provider.members.all()) == [citizen]
    assert AuditEntry.objects.filter(action="exchanges.provider_requested", object_id=str(provider.pk)).exists()


def test_provider_request_refuses_a_duplicate_name(municipality, citizen, provider):
    with pytest.raises(ValidationError):
        services.provider_request(municipality=municipality, user=citizen, data={"name": provider.name.upper(), "email": "x@example.org"})
    assert Provider.objects.count() == 1


def test_approval_is_mailed_to_the_provider(municipality, citizen, case_worker, django_capture_on_commit_callbacks):
    provider = services.provider_request(municipality=municipality, user=citizen, data={"name": "Chor", "email": "chor@example.org"})
    with django_capture_on_commit_callbacks(execute=True):
        services.provider_approve(provider=provider, actor=case_worker)
    provider.refresh_from_db()
    assert provider.status == ProviderStatus.APPROVED
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {"chor@example.org", citizen.email}


def test_offer_moves_from_draft_to_published_through_moderation(provider, provider_user, case_worker,
                                                                 django_capture_on_commit_callbacks):
    offer = services.offer_create(provider=provider, actor=provider_user, data=offer_data(),
                                  slots=[services.SlotInput(1, time(18), time(19, 30))])
    assert offer.status == ModerationStatus.DRAFT
    assert [str(s) for s in offer.slots.all()] == ["Dienstag 18:00–19:30"]
    services.offer_submit(offer=offer, actor=provider_user)
    assert offer.status == ModerationStatus.SUBMITTED
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_publish(offer=offer, actor=case_worker)
    offer.refresh_from_db()
    assert offer.status == ModerationStatus.PUBLISHED
    assert offer.published_at is not None
    assert mail.outbox[-1].subject == "Veröffentlicht: Tischtennis"


def test_rejection_needs_a_reason_and_tells_the_provider(provider, provider_user, case_worker,
                                                         django_capture_on_commit_callbacks):
    offer = services.offer_create(provider=provider, actor=provider_user, data=offer_data())
    services.offer_submit(offer=offer, actor=provider_user)
    with pytest.raises(ValidationError):
        services.offer_reject(offer=offer, actor=case_worker, reason="  ")
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_reject(offer=offer, actor=case_worker, reason="Bitte Uhrzeit ergänzen.")
    offer.refresh_from_db()
    assert (offer.status, offer.rejection_reason) == (ModerationStatus.REJECTED, "Bitte Uhrzeit ergänzen.")
    assert "Bitte Uhrzeit ergänzen." in mail.outbox[-1].body


def test_editing_a_published_offer_sends_it_back_to_draft(provider, provider_user, make_offer):
    offer = make_offer(provider, "Yoga")
    services.offer_update(offer=offer, actor=provider_user, data=offer_data(title="Yoga am Abend"))
    offer.refresh_from_db()
    assert (offer.title, offer.status) == ("Yoga am Abend", ModerationStatus.DRAFT)


def test_a_provider_cannot_edit_another_providers_offer(make_provider, municipality, make_user, provider, make_offer):
    stranger = make_user("fremd@example.org")
    make_provider(municipality, "Fremder Verein", stranger)
    offer = make_offer(provider, "Judo")
    with pytest.raises(PermissionDenied):
        services.offer_update(offer=offer, actor=stranger, data=offer_data(title="Gekapert"))
    with pytest.raises(PermissionDenied):
        services.offer_submit(offer=offer, actor=stranger)
    offer.refresh_from_db()
    assert (offer.title, offer.status) == ("Judo", ModerationStatus.PUBLISHED)


def test_a_provider_not_yet_approved_cannot_create_offers(make_provider, municipality, make_user):
    member = make_user()
    waiting = make_provider(municipality, "Neu e. V.", member, status=ProviderStatus.REQUESTED)
    with pytest.raises(PermissionDenied):
        services.offer_create(provider=waiting, actor=member, data=offer_data())
    assert not Offer.objects.exists()


def test_a_citizen_cannot_publish(provider, provider_user, citizen):
    offer = services.offer_create(provider=provider, actor=provider_user, data=offer_data())
    services.offer_submit(offer=offer, actor=provider_user)
    with pytest.raises(PermissionDenied):
        services.offer_publish(offer=offer, actor=citizen)
    offer.refresh_from_db()
    assert offer.status == ModerationStatus.SUBMITTED


def test_offer_validation_reports_inconsistent_ages_and_coordinates(provider, provider_user):
    with pytest.raises(ValidationError) as excinfo:
        services.offer_create(provider=provider, actor=provider_user,
                              data=offer_data(min_age=10, max_age=5, latitude=Decimal("50.1")))
    assert set(excinfo.value.error_dict) == {"max_age", "longitude"}
