"""Every write on the exchanges: one function per use case, atomic, audited, jobs after commit.

Permissions: staff use cases take `actor` and check the permission for the municipality; `None`
means the system itself (a management command or a job). Provider use cases check membership;
family use cases check that the row belongs to the acting parent. A failed check raises
`PermissionDenied` before anything is written.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rathaus.accounts.models import User
from rathaus.accounts.rules import Perm
from rathaus.core.audit import audit_record
from rathaus.core.jobs import enqueue_on_commit
from rathaus.tenants.models import Municipality
from rathaus_domain.allocation import daycare as daycare_core
from rathaus_domain.allocation import holiday as holiday_core

from . import priority, selectors
from .models import (
    AllocationOutcome,
    AllocationRound,
    Category,
    ChildRegistration,
    Criterion,
    DaycareWish,
    District,
    ExchangeSettings,
    Facility,
    FacilityGroup,
    GroupCapacity,
    GroupKind,
    HolidayActivity,
    HolidayPlacement,
    HolidayProgramme,
    HolidayRegistration,
    HolidayWaitlistEntry,
    HolidayWish,
    ModerationStatus,
    Offer,
    OfferDate,
    OfferSlot,
    PlacementStatus,
    PlaceOffer,
    PlaceOfferStatus,
    PriorityRule,
    ProgrammeStatus,
    Provider,
    ProviderMember,
    ProviderStatus,
    RegistrationStatus,
    RoundStatus,
    WaitingListEntry,
)

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
SEED_BITS = 31  # fits every database's signed integer and is easy to read out at a public draw


class ExchangeError(Exception):
    """The use case cannot go ahead; the message is meant for the person who tried."""


def _noop(step: str) -> None:
    return None


def new_seed() -> int:
    return secrets.randbits(SEED_BITS)


def _check_staff(actor, perm: str, municipality) -> None:
    if actor is None:
        return
    if not actor.has_perm(perm, municipality):
        raise PermissionDenied(perm)


def _is_member(actor, provider: Provider) -> bool:
    return (actor is not None and getattr(actor, "is_authenticated", False)
            and ProviderMember.objects.filter(provider=provider, user=actor).exists())


def _check_member(actor, provider: Provider, *, approved: bool = True) -> None:
    if not _is_member(actor, provider):
        raise PermissionDenied("not a member of this provider")
    if approved and provider.status != ProviderStatus.APPROVED:
        raise PermissionDenied("provider not approved")


def _check_parent(actor, registration) -> None:
    if actor is None:
        return
    if registration.parent_id != actor.pk:
        raise PermissionDenied("not the family's registration")


# ============================================================================ providers


PROVIDER_FIELDS = ("name", "description", "email", "phone", "website", "address")


def _provider_name_taken(municipality, name: str, exclude_pk: int | None = None) -> bool:
    """Whether another provider of the municipality has the name already (case and outer spaces ignored)."""
    return (Provider.objects.for_municipality(municipality).filter(name__iexact=name.strip())
            .exclude(pk=exclude_pk).exists())


def provider_request(*, municipality, user, data: dict[str, Any], ip: str | None = None) -> Provider:
    """A citizen asks for their organisation to be admitted as a provider; they become its first member."""
    if _provider_name_taken(municipality, data["name"]):
        raise ValidationError({"name": _("Diesen Anbieter gibt es schon. Bitten Sie die Verwaltung, Sie als Mitglied hinzuzufügen.")})
    with transaction.atomic():
        provider = Provider.objects.create(municipality=municipality, status=ProviderStatus.REQUESTED,
                                           **{k: data.get(k, "") for k in PROVIDER_FIELDS})
        ProviderMember.objects.create(municipality=municipality, provider=provider, user=user)
        audit_record(action="exchanges.provider_requested", municipality=municipality, actor=user, obj=provider,
                     summary=provider.name, ip_address=ip)
    return provider


def provider_update(*, provider: Provider, actor, data: dict[str, Any]) -> Provider:
    """A member (or staff) changes the organisation's details."""
    if not _is_member(actor, provider):
        _check_staff(actor, Perm.MANAGE_EXCHANGES, provider.municipality)
    if "name" in data and _provider_name_taken(provider.municipality, data["name"], exclude_pk=provider.pk):
        raise ValidationError({"name": _("Diesen Anbieter gibt es schon. Bitte wählen Sie einen anderen Namen.")})
    with transaction.atomic():
        for key in PROVIDER_FIELDS:
            if key in data:
                setattr(provider, key, data[key])
        provider.save()
        audit_record(action="exchanges.provider_updated", municipality=provider.municipality, actor=actor,
                     obj=provider, summary=provider.name)
    return provider


def provider_approve(*, provider: Provider, actor) -> Provider:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, provider.municipality)
    with transaction.atomic():
        provider.status = ProviderStatus.APPROVED
        provider.rejection_reason = ""
        provider.approved_at = timezone.now()
        provider.save(update_fields=["status", "rejection_reason", "approved_at", "updated_at"])
        audit_record(action="exchanges.provider_approved", municipality=provider.municipality, actor=actor,
                     obj=provider, summary=provider.name)
        from .tasks import send_provider_decision

        enqueue_on_commit(send_provider_decision, provider.pk)
    return provider


def provider_reject(*, provider: Provider, actor, reason: str) -> Provider:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, provider.municipality)
    if not reason.strip():
        raise ValidationError({"reason": _("Bitte nennen Sie den Grund; der Anbieter erhält ihn per E-Mail.")})
    with transaction.atomic():
        provider.status = ProviderStatus.REJECTED
        provider.rejection_reason = reason.strip()
        provider.save(update_fields=["status", "rejection_reason", "updated_at"])
        audit_record(action="exchanges.provider_rejected", municipality=provider.municipality, actor=actor,
                     obj=provider, summary=provider.name)
        from .tasks import send_provider_decision

        enqueue_on_commit(send_provider_decision, provider.pk)
    return provider


def provider_member_add(*, provider: Provider, actor, email: str) -> ProviderMember:
    """Staff link an existing user account to a provider (the person registers first)."""
    _check_staff(actor, Perm.MANAGE_EXCHANGES, provider.municipality)
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise ValidationError({"email": _("Zu dieser E-Mail-Adresse gibt es kein Konto. Die Person muss sich zuerst registrieren.")})
    with transaction.atomic():
        member, created = ProviderMember.objects.get_or_create(municipality=provider.municipality, provider=provider, user=user)
        if created:
            audit_record(action="exchanges.provider_member_added", municipality=provider.municipality, actor=actor,
                         obj=provider, summary=f"{provider.name}: {user.email}")
    return member


# ============================================================================ directory offers


OFFER_FIELDS = (
    "directory", "category", "title", "description", "min_age", "max_age", "schedule_note", "valid_from",
    "valid_until", "place_name", "street", "postcode", "city", "latitude", "longitude", "fee", "fee_note",
    "step_free", "accessible_toilet", "hearing_support", "easy_language", "inclusive", "contact_name",
    "contact_email", "contact_phone", "website",
)


@dataclass(frozen=True)
class SlotInput:
    weekday: int
    start_time: time
    end_time: time


@dataclass(frozen=True)
class DateInput:
    starts_at: datetime
    ends_at: datetime | None = None
    note: str = ""


def _offer_validate(municipality, data: dict[str, Any], slots: Sequence[SlotInput], dates: Sequence[DateInput]) -> None:
    errors: dict[str, str] = {}
    category = data.get("category")
    if category is not None and (category.municipality_id != municipality.pk or category.directory != data.get("directory")):
        errors["category"] = _("Diese Kategorie gehört nicht zu diesem Verzeichnis.")
    if data.get("min_age") is not None and data.get("max_age") is not None and data["min_age"] > data["max_age"]:
        errors["max_age"] = _("Das Höchstalter ist kleiner als das Mindestalter.")
    if (data.get("latitude") is None) != (data.get("longitude") is None):
        errors["longitude"] = _("Bitte geben Sie Breiten- und Längengrad an oder keinen von beiden.")
    if any(s.end_time <= s.start_time for s in slots):
        errors["slots"] = _("Bei einem wöchentlichen Termin liegt das Ende nicht nach dem Beginn.")
    if any(d.ends_at is not None and d.ends_at <= d.starts_at for d in dates):
        errors["dates"] = _("Bei einem Einzeltermin liegt das Ende nicht nach dem Beginn.")
    if errors:
        raise ValidationError(errors)


def _offer_write_schedule(offer: Offer, slots: Sequence[SlotInput], dates: Sequence[DateInput]) -> None:
    offer.slots.all().delete()
    offer.dates.all().delete()
    OfferSlot.objects.bulk_create([OfferSlot(municipality_id=offer.municipality_id, offer=offer, weekday=s.weekday,
                                             start_time=s.start_time, end_time=s.end_time) for s in slots])
    OfferDate.objects.bulk_create([OfferDate(municipality_id=offer.municipality_id, offer=offer, starts_at=d.starts_at,
                                             ends_at=d.ends_at, note=d.note) for d in dates])


def offer_create(*, provider: Provider, actor, data: dict[str, Any], slots: Sequence[SlotInput] = (),
                 dates: Sequence[DateInput] = ()) -> Offer:
    """A provider member drafts a new offer; it stays invisible until staff publish it."""
    _check_member(actor, provider)
    _offer_validate(provider.municipality, data, slots, dates)
    with transaction.atomic():
        offer = Offer(municipality=provider.municipality, provider=provider, status=ModerationStatus.DRAFT,
                      **{k: data[k] for k in OFFER_FIELDS if k in data})
        offer.full_clean(exclude=["municipality", "provider"])
        offer.save()
        _offer_write_schedule(offer, slots, dates)
        audit_record(action="exchanges.offer_created", municipality=provider.municipality, actor=actor, obj=offer,
                     summary=offer.title)
    return offer


def offer_update(*, offer: Offer, actor, data: dict[str, Any], slots: Sequence[SlotInput] = (),
                 dates: Sequence[DateInput] = ()) -> Offer:
    """A provider member changes an own offer. A published or rejected offer goes back to draft:
    what the public sees has always been checked by the municipality."""
    _check_member(actor, offer.provider)
    _offer_validate(offer.municipality, data, slots, dates)
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        was = offer.status
        for key in OFFER_FIELDS:
            if key in data:
                setattr(offer, key, data[key])
        if was in (ModerationStatus.PUBLISHED, ModerationStatus.REJECTED):
            offer.status = ModerationStatus.DRAFT
            offer.published_at = None
        offer.full_clean(exclude=["municipality", "provider"])
        offer.save()
        _offer_write_schedule(offer, slots, dates)
        audit_record(action="exchanges.offer_updated", municipality=offer.municipality, actor=actor, obj=offer,
                     summary=offer.title, data={"from": was, "to": offer.status})
    return offer


def offer_submit(*, offer: Offer, actor) -> Offer:
    _check_member(actor, offer.provider)
    if offer.status not in (ModerationStatus.DRAFT, ModerationStatus.REJECTED):
        raise ExchangeError(_("Nur Entwürfe und abgelehnte Angebote können eingereicht werden."))
    with transaction.atomic():
        offer.status = ModerationStatus.SUBMITTED
        offer.submitted_at = timezone.now()
        offer.save(update_fields=["status", "submitted_at", "updated_at"])
        audit_record(action="exchanges.offer_submitted", municipality=offer.municipality, actor=actor, obj=offer,
                     summary=offer.title)
    return offer


def offer_publish(*, offer: Offer, actor) -> Offer:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, offer.municipality)
    if offer.status != ModerationStatus.SUBMITTED:
        raise ExchangeError(_("Nur eingereichte Angebote können veröffentlicht werden."))
    if offer.provider.status != ProviderStatus.APPROVED:
        raise ExchangeError(_("Der Anbieter ist noch nicht zugelassen."))
    with transaction.atomic():
        offer.status = ModerationStatus.PUBLISHED
        offer.rejection_reason = ""
        offer.published_at = timezone.now()
        offer.save(update_fields=["status", "rejection_reason", "published_at", "updated_at"])
        audit_record(action="exchanges.offer_published", municipality=offer.municipality, actor=actor, obj=offer,
                     summary=offer.title)
        from .tasks import send_moderation_decision

        enqueue_on_commit(send_moderation_decision, "offer", offer.pk)
    return offer


def offer_reject(*, offer: Offer, actor, reason: str) -> Offer:
    """Staff send an offer back (also a published one, which then leaves the directory)."""
    _check_staff(actor, Perm.MANAGE_EXCHANGES, offer.municipality)
    if not reason.strip():
        raise ValidationError({"reason": _("Bitte nennen Sie den Grund; der Anbieter sieht ihn.")})
    if offer.status not in (ModerationStatus.SUBMITTED, ModerationStatus.PUBLISHED):
        raise ExchangeError(_("Nur eingereichte oder veröffentlichte Angebote können abgelehnt werden."))
    with transaction.atomic():
        offer.status = ModerationStatus.REJECTED
        offer.rejection_reason = reason.strip()
        offer.published_at = None
        offer.save(update_fields=["status", "rejection_reason", "published_at", "updated_at"])
        audit_record(action="exchanges.offer_rejected", municipality=offer.municipality, actor=actor, obj=offer,
                     summary=offer.title)
        from .tasks import send_moderation_decision

        enqueue_on_commit(send_moderation_decision, "offer", offer.pk)
    return offer


def offer_delete(*, offer: Offer, actor) -> None:
    _check_member(actor, offer.provider, approved=False)
    with transaction.atomic():
        audit_record(action="exchanges.offer_deleted", municipality=offer.municipality, actor=actor, obj=offer,
                     summary=offer.title)
        offer.delete()


def category_create(*, municipality, actor, directory: str, name: str, slug: str) -> Category:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, municipality)
    if Category.objects.for_municipality(municipality).filter(directory=directory, slug=slug).exists():
        raise ValidationError({"slug": _("Dieses Kürzel gibt es in diesem Verzeichnis schon.")})
    with transaction.atomic():
        position = Category.objects.for_municipality(municipality).filter(directory=directory).count()
        category = Category.objects.create(municipality=municipality, directory=directory, name=name, slug=slug,
                                           position=position)
        audit_record(action="exchanges.category_created", municipality=municipality, actor=actor, obj=category,
                     summary=name)
    return category


# ============================================================================ daycare: configuration


def exchange_settings_update(*, municipality, actor, daycare_max_wishes: int, offer_response_days: int) -> ExchangeSettings:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, municipality)
    with transaction.atomic():
        settings_row, _created = ExchangeSettings.objects.get_or_create(municipality=municipality)
        settings_row.daycare_max_wishes = daycare_max_wishes
        settings_row.offer_response_days = offer_response_days
        settings_row.full_clean(exclude=["municipality"])
        settings_row.save()
        audit_record(action="exchanges.settings_updated", municipality=municipality, actor=actor, obj=settings_row,
                     data={"daycare_max_wishes": daycare_max_wishes, "offer_response_days": offer_response_days})
    return settings_row


def district_create(*, municipality, actor, name: str, latitude: Decimal | None = None,
                    longitude: Decimal | None = None) -> District:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, municipality)
    if District.objects.for_municipality(municipality).filter(name__iexact=name.strip()).exists():
        raise ValidationError({"name": _("Diesen Ortsteil gibt es schon.")})
    with transaction.atomic():
        district = District.objects.create(municipality=municipality, name=name.strip(), latitude=latitude, longitude=longitude)
        audit_record(action="exchanges.district_created", municipality=municipality, actor=actor, obj=district, summary=name)
    return district


FACILITY_FIELDS = ("code", "name", "operator", "description", "street", "postcode", "city", "latitude", "longitude",
                   "email", "phone", "is_active")


def facility_create(*, municipality, actor, data: dict[str, Any], catchment: Sequence[District] = ()) -> Facility:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, municipality)
    if Facility.objects.for_municipality(municipality).filter(code=data["code"]).exists():
        raise ValidationError({"code": _("Dieses Kürzel ist schon vergeben.")})
    with transaction.atomic():
        facility = Facility.objects.create(municipality=municipality, **{k: data[k] for k in FACILITY_FIELDS if k in data})
        facility.catchment_districts.set([d for d in catchment if d.municipality_id == municipality.pk])
        audit_record(action="exchanges.facility_created", municipality=municipality, actor=actor, obj=facility,
                     summary=facility.name)
    return facility


def facility_update(*, facility: Facility, actor, data: dict[str, Any], catchment: Sequence[District] = ()) -> Facility:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, facility.municipality)
    code = data.get("code", facility.code)
    if Facility.objects.for_municipality(facility.municipality).filter(code=code).exclude(pk=facility.pk).exists():
        raise ValidationError({"code": _("Dieses Kürzel ist schon vergeben.")})
    with transaction.atomic():
        for key in FACILITY_FIELDS:
            if key in data:
                setattr(facility, key, data[key])
        facility.save()
        facility.catchment_districts.set([d for d in catchment if d.municipality_id == facility.municipality_id])
        audit_record(action="exchanges.facility_updated", municipality=facility.municipality, actor=actor,
                     obj=facility, summary=facility.name)
    return facility


@dataclass(frozen=True)
class GroupInput:
    id: int | None
    kind: str
    name: str
    care_hours: tuple[int, ...]
    delete: bool = False


def facility_groups_set(*, facility: Facility, actor, groups: Sequence[GroupInput]) -> list[FacilityGroup]:
    """Create, change or delete the facility's groups in one go."""
    _check_staff(actor, Perm.MANAGE_EXCHANGES, facility.municipality)
    with transaction.atomic():
        existing = {g.pk: g for g in facility.groups.all()}
        for item in groups:
            group = existing.get(item.id) if item.id else None
            if item.id and group is None:
                raise ExchangeError(_("Diese Gruppe gehört nicht zu dieser Einrichtung."))
            if item.delete:
                if group is not None:
                    group.delete()
                continue
            if group is None:
                group = FacilityGroup(municipality_id=facility.municipality_id, facility=facility)
            group.kind, group.name, group.care_hours = GroupKind(item.kind), item.name, sorted(set(item.care_hours))
            group.save()
        audit_record(action="exchanges.facility_groups_set", municipality=facility.municipality, actor=actor,
                     obj=facility, summary=facility.name, data={"groups": len(groups)})
    return list(facility.groups.all())


@dataclass(frozen=True)
class CapacityInput:
    group_id: int
    start_month: date
    places: int


def facility_capacities_set(*, facility: Facility, actor, capacities: Sequence[CapacityInput]) -> None:
    """Replace the facility's places per group and start month (a place count of 0 removes the row)."""
    _check_staff(actor, Perm.MANAGE_EXCHANGES, facility.municipality)
    group_ids = set(facility.groups.values_list("pk", flat=True))
    if any(c.group_id not in group_ids for c in capacities):
        raise ExchangeError(_("Diese Gruppe gehört nicht zu dieser Einrichtung."))
    seen: set[tuple[int, date]] = set()
    with transaction.atomic():
        GroupCapacity.objects.filter(group__facility=facility).delete()
        rows = []
        for c in capacities:
            month = c.start_month.replace(day=1)
            if c.places <= 0 or (c.group_id, month) in seen:
                continue
            seen.add((c.group_id, month))
            rows.append(GroupCapacity(municipality_id=facility.municipality_id, group_id=c.group_id,
                                      start_month=month, places=c.places))
        GroupCapacity.objects.bulk_create(rows)
        audit_record(action="exchanges.capacities_set", municipality=facility.municipality, actor=actor, obj=facility,
                     summary=facility.name, data={"places": sum(r.places for r in rows)})


@dataclass(frozen=True)
class RuleInput:
    id: int | None
    criterion: str
    points: int
    position: int
    max_km: Decimal | None = None
    is_active: bool = True
    delete: bool = False


def priority_rules_update(*, municipality, actor, rules: Sequence[RuleInput]) -> list[PriorityRule]:
    """Save the municipality's priority rules (points and order) as staff edited them."""
    _check_staff(actor, Perm.MANAGE_EXCHANGES, municipality)
    for item in rules:
        if item.delete:
            continue
        if item.criterion == Criterion.DISTANCE and item.max_km is None:
            raise ValidationError({"max_km": _("Für eine Entfernungsregel brauchen Sie „bis Entfernung (km)“.")})
    with transaction.atomic():
        existing = {r.pk: r for r in PriorityRule.objects.for_municipality(municipality)}
        before = [str(r) for r in existing.values()]
        for item in rules:
            rule = existing.get(item.id) if item.id else None
            if item.id and rule is None:
                raise ExchangeError(_("Eine der Regeln gibt es nicht mehr; vielleicht hat sie gerade jemand "
                                      "gelöscht. Bitte laden Sie die Seite neu."))
            if item.delete:
                if rule is not None:
                    rule.delete()
                continue
            rule = rule or PriorityRule(municipality=municipality)
            rule.criterion = Criterion(item.criterion)
            rule.points, rule.position, rule.is_active = item.points, item.position, item.is_active
            rule.max_km = item.max_km if item.criterion == Criterion.DISTANCE else None
            rule.save()
        after = list(PriorityRule.objects.for_municipality(municipality))
        audit_record(action="exchanges.priority_rules_updated", municipality=municipality, actor=actor,
                     summary=_("Vergaberegeln geändert"), data={"before": before, "after": [str(r) for r in after]})
    return after


def priority_rules_points_from_order(*, municipality, actor) -> list[PriorityRule]:
    """Give the active rules points that make their order strict (8, 4, 2, 1, ...)."""
    rules = list(PriorityRule.objects.for_municipality(municipality).filter(is_active=True))
    return priority_rules_update(municipality=municipality, actor=actor, rules=[
        RuleInput(id=r.pk, criterion=r.criterion, points=p, position=i, max_km=r.max_km)
        for i, (r, p) in enumerate(zip(rules, priority.points_from_order(len(rules)), strict=True))])


# ============================================================================ daycare: families


REGISTRATION_FIELDS = ("child_first_name", "child_last_name", "birth_date", "desired_start", "care_hours", "district",
                       "sibling_facility", "single_parent", "parents_working", "special_needs")


def age_in_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def group_kind_for(birth_date: date, start: date) -> str:
    """Krippe under 3, Kindergarten from 3 until school (6), Hort for school children."""
    age = age_in_years(birth_date, start)
    if age < 3:
        return GroupKind.U3
    if age < 6:
        return GroupKind.UE3
    return GroupKind.HORT


def max_wishes_for(municipality) -> tuple[int, bool]:
    """How many wishes a family may give and whether that is a real cap (fewer than facilities)."""
    row = ExchangeSettings.objects.for_municipality(municipality).first()
    facilities = Facility.objects.for_municipality(municipality).filter(is_active=True).count()
    limit = row.daycare_max_wishes if row is not None else 5
    if limit == 0 or limit >= facilities:
        return max(facilities, 1), False
    return limit, True


def _registration_validate(municipality, data: dict[str, Any], wishes: Sequence[Facility]) -> str:
    """Check the registration against the exchange; return the child's group kind."""
    errors: dict[str, str] = {}
    today = timezone.localdate()
    start = data["desired_start"].replace(day=1)
    if data["birth_date"] > today:
        errors["birth_date"] = _("Das Geburtsdatum liegt in der Zukunft.")
    if start < today.replace(day=1):
        errors["desired_start"] = _("Der gewünschte Beginn liegt in der Vergangenheit.")
    elif data["birth_date"] >= start:
        errors["desired_start"] = _("Der Beginn muss nach der Geburt liegen.")
    if age_in_years(data["birth_date"], start) >= 14:
        errors["birth_date"] = _("Die Kita-Börse vergibt Plätze für Kinder bis 13 Jahre.")
    kind = group_kind_for(data["birth_date"], start)
    limit, _capped = max_wishes_for(municipality)
    if not wishes:
        errors["wishes"] = _("Bitte geben Sie mindestens einen Wunsch an.")
    elif len(wishes) > limit:
        errors["wishes"] = _("Sie können höchstens %(n)s Wünsche angeben.") % {"n": limit}
    elif len({f.pk for f in wishes}) != len(wishes):
        errors["wishes"] = _("Jede Einrichtung kann nur einmal gewählt werden.")
    else:
        for facility in wishes:
            if facility.municipality_id != municipality.pk or not facility.is_active:
                errors["wishes"] = _("Eine gewählte Einrichtung nimmt nicht an der Vergabe teil.")
                break
            offers_hours = any(g.kind == kind and data["care_hours"] in (g.care_hours or []) for g in facility.groups.all())
            if not offers_hours:
                errors["wishes"] = _("„%(name)s“ bietet für Ihr Kind (Gruppe %(kind)s) keine Betreuung mit %(h)s Wochenstunden an.") % {
                    "name": facility.name, "kind": kind, "h": data["care_hours"]}
                break
    for key in ("district", "sibling_facility"):
        if data.get(key) is not None and data[key].municipality_id != municipality.pk:
            errors[key] = _("Ungültige Auswahl.")
    if errors:
        raise ValidationError(errors)
    return kind


def _child_key(first_name: str, last_name: str, birth_date: date) -> tuple[str, str, date]:
    """Who a child is for the duplicate check: names without case and extra spaces, and the birth date."""
    return " ".join(first_name.split()).casefold(), " ".join(last_name.split()).casefold(), birth_date


def _same_child(candidates, data: dict[str, Any]) -> bool:
    key = _child_key(data["child_first_name"], data["child_last_name"], data["birth_date"])
    return any(_child_key(r.child_first_name, r.child_last_name, r.birth_date) == key for r in candidates)


def _check_daycare_child_once(municipality_id: int, data: dict[str, Any], kind: str,
                              exclude_pk: int | None = None) -> Municipality:
    """One competing registration per child, so nobody gets extra lottery chances or a second place.

    Called inside the transaction; locks the municipality row first (FOR NO KEY UPDATE: rows that
    refer to the municipality can still be written), so two requests cannot both pass, and returns
    it. A child placed in another group (Krippe, then Kindergarten) may register again."""
    municipality = Municipality.objects.select_for_update(no_key=True).get(pk=municipality_id)
    candidates = (ChildRegistration.objects.for_municipality(municipality).filter(birth_date=data["birth_date"])
                  .filter(Q(status=RegistrationStatus.ACTIVE) | Q(status=RegistrationStatus.PLACED, group_kind=kind))
                  .exclude(pk=exclude_pk))
    if _same_child(candidates, data):
        raise ValidationError(_("Dieses Kind ist für die Kita-Vergabe schon angemeldet. Bitte ändern Sie die "
                                "bestehende Anmeldung, statt eine zweite anzulegen. Sehen Sie sie nicht, hat das "
                                "Kind vielleicht ein anderer Elternteil angemeldet."))
    return municipality


def _write_wishes(registration: ChildRegistration, wishes: Sequence[Facility]) -> None:
    registration.wishes.all().delete()
    DaycareWish.objects.bulk_create([
        DaycareWish(municipality_id=registration.municipality_id, registration=registration, facility=f, rank=i)
        for i, f in enumerate(wishes, start=1)])


def registration_create(*, municipality, parent, data: dict[str, Any], wishes: Sequence[Facility],
                        ip: str | None = None) -> ChildRegistration:
    """A parent registers a child for a daycare place with ranked wishes and the priority facts."""
    kind = _registration_validate(municipality, data, wishes)
    with transaction.atomic():
        _check_daycare_child_once(municipality.pk, data, kind)
        registration = ChildRegistration(municipality=municipality, parent=parent, group_kind=kind,
                                         **{k: data.get(k) for k in REGISTRATION_FIELDS})
        registration.desired_start = registration.desired_start.replace(day=1)
        registration.save()
        _write_wishes(registration, wishes)
        audit_record(action="exchanges.daycare_registered", municipality=municipality, actor=parent, obj=registration,
                     summary=registration.reference, ip_address=ip)
    return registration


def registration_update(*, registration: ChildRegistration, actor, data: dict[str, Any],
                        wishes: Sequence[Facility]) -> ChildRegistration:
    """Change facts or wishes; they count from the next round on."""
    _check_parent(actor, registration)
    if registration.status != RegistrationStatus.ACTIVE:
        raise ExchangeError(_("Diese Anmeldung kann nicht mehr geändert werden."))
    kind = _registration_validate(registration.municipality, data, wishes)
    with transaction.atomic():
        # Locked so a round cannot make an offer between the check and the write.
        registration = ChildRegistration.objects.select_for_update().get(pk=registration.pk)
        if registration.status != RegistrationStatus.ACTIVE:
            raise ExchangeError(_("Diese Anmeldung kann nicht mehr geändert werden."))
        _check_held_place_kept(registration, data, wishes)
        municipality = _check_daycare_child_once(registration.municipality_id, data, kind, exclude_pk=registration.pk)
        for key in REGISTRATION_FIELDS:
            if key in data:
                setattr(registration, key, data[key])
        registration.desired_start = registration.desired_start.replace(day=1)
        registration.group_kind = kind
        registration.save()
        _write_wishes(registration, wishes)
        audit_record(action="exchanges.daycare_registration_updated", municipality=municipality,
                     actor=actor, obj=registration, summary=registration.reference)
    return registration


def _check_held_place_kept(registration: ChildRegistration, data: dict[str, Any], wishes: Sequence[Facility]) -> None:
    """While an offer is open, the next follow-up round keeps its place for the child; a new
    birth date or start month could move the child to a group or month that facility has no
    place for, and the round could not run. The family declines the offer first instead."""
    offer = (registration.place_offers.filter(status=PlaceOfferStatus.OPEN, deadline__gte=timezone.localdate())
             .select_related("facility").first())
    if offer is None:
        return
    errors: dict[str, str] = {}
    if data["birth_date"] != registration.birth_date:
        errors["birth_date"] = _("Solange Ihr Platzangebot offen ist, kann das Geburtsdatum nicht geändert werden. "
                                 "Wenn das Angebot nicht mehr passt, lehnen Sie es bitte zuerst ab.")
    if data["desired_start"].replace(day=1) != registration.desired_start:
        errors["desired_start"] = _("Solange Ihr Platzangebot offen ist, kann der gewünschte Beginn nicht geändert "
                                    "werden. Wenn das Angebot nicht mehr passt, lehnen Sie es bitte zuerst ab.")
    if all(f.pk != offer.facility_id for f in wishes):
        errors["wishes"] = _("„%(name)s“ hat Ihnen einen Platz angeboten. Solange das Angebot offen ist, bleibt die "
                             "Einrichtung unter Ihren Wünschen. Wenn Sie den Platz nicht möchten, lehnen Sie das "
                             "Angebot bitte ab.") % {"name": offer.facility.name}
    if errors:
        raise ValidationError(errors)


def registration_withdraw(*, registration: ChildRegistration, actor) -> ChildRegistration:
    """The family no longer needs a place; open or accepted offers are freed for the next round."""
    _check_parent(actor, registration)
    with transaction.atomic():
        registration = ChildRegistration.objects.select_for_update().get(pk=registration.pk)
        if registration.status == RegistrationStatus.WITHDRAWN:
            return registration
        registration.status = RegistrationStatus.WITHDRAWN
        registration.save(update_fields=["status", "updated_at"])
        registration.place_offers.filter(status__in=[PlaceOfferStatus.OPEN, PlaceOfferStatus.ACCEPTED]).update(
            status=PlaceOfferStatus.WITHDRAWN, responded_at=timezone.now())
        audit_record(action="exchanges.daycare_registration_withdrawn", municipality=registration.municipality,
                     actor=actor, obj=registration, summary=registration.reference)
    return registration


def _answer(offer: PlaceOffer, actor, status: str, action: str) -> PlaceOffer:
    with transaction.atomic():
        # The registration first, then the offer: the order registration_withdraw and round_run lock them in.
        registration = ChildRegistration.objects.select_for_update().get(pk=offer.registration_id)
        offer = PlaceOffer.objects.select_for_update(of=("self",)).select_related("facility").get(pk=offer.pk)
        offer.registration = registration
        _check_parent(actor, registration)
        if not offer.is_answerable(timezone.localdate()):
            raise ExchangeError(_("Auf dieses Angebot kann nicht mehr geantwortet werden (Frist abgelaufen oder schon beantwortet)."))
        if registration.status != RegistrationStatus.ACTIVE:
            raise ExchangeError(_("Diese Anmeldung ist nicht mehr aktiv (zum Beispiel zurückgezogen); das Angebot gilt nicht mehr."))
        offer.status = status
        offer.responded_at = timezone.now()
        offer.save(update_fields=["status", "responded_at"])
        if status == PlaceOfferStatus.ACCEPTED:
            offer.registration.status = RegistrationStatus.PLACED
            offer.registration.save(update_fields=["status", "updated_at"])
        audit_record(action=action, municipality=offer.municipality, actor=actor, obj=offer,
                     summary=f"{offer.registration.reference} {offer.facility.code}")
    return offer


def place_offer_accept(*, offer: PlaceOffer, actor) -> PlaceOffer:
    """The family takes the offered place; the registration counts as placed."""
    return _answer(offer, actor, PlaceOfferStatus.ACCEPTED, "exchanges.place_offer_accepted")


def place_offer_decline(*, offer: PlaceOffer, actor) -> PlaceOffer:
    """The family declines; the child keeps competing for its other wishes in the follow-up round."""
    return _answer(offer, actor, PlaceOfferStatus.DECLINED, "exchanges.place_offer_declined")


def place_offers_expire(*, municipality, today: date | None = None) -> int:
    """Mark open offers past their deadline as expired; they count as declined in a follow-up round."""
    today = today or timezone.localdate()
    with transaction.atomic():
        qs = PlaceOffer.objects.for_municipality(municipality).filter(status=PlaceOfferStatus.OPEN, deadline__lt=today)
        count = qs.update(status=PlaceOfferStatus.EXPIRED)
        if count:
            audit_record(action="exchanges.place_offers_expired", municipality=municipality,
                         summary=f"{count} offers expired", actor_label="system")
    return count


# ============================================================================ daycare: rounds


def round_create(*, municipality, actor, offer_deadline: date, seed: int | None = None,
                 follow_up: bool = True) -> AllocationRound:
    """Prepare a round with its seed recorded before anything is drawn.

    With `follow_up` the round continues from the latest completed round (declined places are
    re-allocated, accepted places kept, lottery numbers kept); otherwise it starts a new cycle.
    """
    _check_staff(actor, Perm.RUN_ALLOCATION, municipality)
    if seed is not None and not 0 <= seed < 2**63:
        raise ValidationError({"seed": _("Der Startwert muss eine nicht negative ganze Zahl sein.")})
    if offer_deadline < timezone.localdate():
        raise ValidationError({"offer_deadline": _("Die Antwortfrist liegt in der Vergangenheit.")})
    with transaction.atomic():
        rounds = AllocationRound.objects.for_municipality(municipality).select_for_update()
        if rounds.filter(status=RoundStatus.PREPARED).exists():
            raise ExchangeError(_("Es gibt schon eine vorbereitete Runde. Führen Sie sie zuerst durch."))
        previous = rounds.filter(status=RoundStatus.COMPLETED).order_by("-number").first() if follow_up else None
        if follow_up and previous is None:
            raise ExchangeError(_("Es gibt noch keine durchgeführte Runde, an die eine Nachrückrunde anschließen kann."))
        number = (rounds.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        allocation_round = AllocationRound.objects.create(
            municipality=municipality, number=number, previous=previous, offer_deadline=offer_deadline,
            seed=new_seed() if seed is None else seed, created_by=actor)
        audit_record(action="exchanges.round_created", municipality=municipality, actor=actor, obj=allocation_round,
                     summary=str(allocation_round), data={"seed": allocation_round.seed, "follow_up": follow_up})
    return allocation_round


def round_discard(*, allocation_round: AllocationRound, actor) -> AllocationRound:
    """Discard a prepared round that has not run, so a new one can be prepared.

    A follow-up round that cannot run (say, capacities changed under a held place) would
    otherwise block every later round. The row stays, marked discarded, with its seed, so the
    list of rounds still shows every seed that was drawn.
    """
    municipality = allocation_round.municipality
    _check_staff(actor, Perm.RUN_ALLOCATION, municipality)
    with transaction.atomic():
        locked = AllocationRound.objects.select_for_update().get(pk=allocation_round.pk)
        if locked.status != RoundStatus.PREPARED:
            raise ExchangeError(_("Nur eine vorbereitete Runde, die noch nicht durchgeführt wurde, kann verworfen werden."))
        locked.status = RoundStatus.DISCARDED
        locked.save(update_fields=["status"])
        audit_record(action="exchanges.round_discarded", municipality=municipality, actor=actor, obj=locked,
                     summary=str(locked), data={"seed": locked.seed})
    return locked


def rule_key(criterion: str, max_km: float | None) -> str:
    """A language-neutral name of a rule ("distance:1.5"), stored with a child's points and
    turned into words when shown, in the reader's language."""
    return f"{criterion}:{max_km:g}" if criterion == Criterion.DISTANCE and max_km is not None else criterion


def _rule_facts(municipality) -> list[priority.RuleFacts]:
    return [priority.RuleFacts(criterion=r.criterion, points=r.points,
                               label=rule_key(r.criterion, float(r.max_km) if r.max_km is not None else None),
                               max_km=float(r.max_km) if r.max_km is not None else None)
            for r in PriorityRule.objects.for_municipality(municipality).filter(is_active=True)]


@dataclass
class DaycareSnapshot:
    """What the core receives, plus what we need to persist its answer."""

    facilities: list[daycare_core.Facility]
    children: list[daycare_core.Child]
    facility_by_code: dict[str, Facility]
    registration_by_id: dict[str, ChildRegistration]
    points: dict[str, dict[str, list[tuple[str, int]]]]

    def as_json(self, seed: int) -> dict[str, Any]:
        """The complete input in the `allocate daycare --input` file format: re-running it gives
        the stored result of the round, follow-up rounds included."""
        return daycare_core.input_json(seed, self.facilities, self.children)


def daycare_snapshot(*, municipality, registrations: Sequence[ChildRegistration]) -> DaycareSnapshot:
    """Load facilities, capacities, rules and registrations into the core's frozen dataclasses."""
    facilities = list(Facility.objects.for_municipality(municipality).filter(is_active=True)
                      .prefetch_related("groups__capacities", "catchment_districts").order_by("code"))
    core_facilities = []
    facts_by_code: dict[str, priority.FacilityFacts] = {}
    for facility in facilities:
        capacity: dict[str, int] = {}
        for group in facility.groups.all():
            for cap in group.capacities.all():
                key = f"{group.kind}{daycare_core.MONTH_SEPARATOR}{cap.start_month:%Y-%m}"
                capacity[key] = capacity.get(key, 0) + cap.places
        core_facilities.append(daycare_core.Facility(id=facility.code, capacity=capacity))
        facts_by_code[facility.code] = priority.FacilityFacts(
            id=facility.pk, latitude=float(facility.latitude) if facility.latitude is not None else None,
            longitude=float(facility.longitude) if facility.longitude is not None else None,
            catchment_districts=frozenset(d.pk for d in facility.catchment_districts.all()))
    by_pk = {f.pk: f for f in facilities}
    rules = _rule_facts(municipality)
    children, points = [], {}
    for reg in registrations:
        home = None
        if reg.district is not None and reg.district.latitude is not None and reg.district.longitude is not None:
            home = (float(reg.district.latitude), float(reg.district.longitude))
        child_facts = priority.ChildFacts(district_id=reg.district_id, home=home, sibling_facility_id=reg.sibling_facility_id,
                                          single_parent=reg.single_parent, parents_working=reg.parents_working,
                                          special_needs=reg.special_needs)
        wishes = [by_pk[w.facility_id].code for w in reg.wishes.all() if w.facility_id in by_pk]
        prio, reasons = {}, {}
        for code in wishes:
            prio[code], reasons[code] = priority.points_for(rules, child_facts, facts_by_code[code])
        points[str(reg.pk)] = reasons
        children.append(daycare_core.Child(id=str(reg.pk), group=reg.group_kind, wishes=tuple(wishes),
                                           priority=prio, start_month=f"{reg.desired_start:%Y-%m}"))
    return DaycareSnapshot(facilities=core_facilities, children=children,
                           facility_by_code={f.code: f for f in facilities},
                           registration_by_id={str(r.pk): r for r in registrations}, points=points)


def result_to_json(result: daycare_core.DaycareResult) -> dict[str, Any]:
    """The core's output with every part, as `allocate daycare --include` writes it."""
    return daycare_core.dump_json(result, include=daycare_core.DUMP_EXTRAS)


def result_from_json(doc: dict[str, Any]) -> daycare_core.DaycareResult:
    """The stored result of a round, as the core needs it for a follow-up round."""
    return daycare_core.DaycareResult(
        seed=doc["seed"], assignments=doc["assignments"], unassigned=doc["unassigned"],
        waiting_lists=doc["waiting_lists"],
        cutoffs={(c["facility"], c["capacity_key"]): None if c["priority"] is None else (c["priority"], c["lottery"])
                 for c in doc["cutoffs"]},
        lottery=doc["lottery"], rounds=doc.get("rounds", 0),
        declined={cid: frozenset(fids) for cid, fids in doc.get("declined", {}).items()})


def round_run(*, allocation_round: AllocationRound, actor, progress: Progress | None = None) -> AllocationRound:
    """Run a prepared round: snapshot, allocate in the pure core, persist offers and explanations.

    A main round includes every active registration. A follow-up round keeps accepted places,
    re-allocates declined and expired ones, and keeps unanswered offers as a safe fallback while
    the child still competes for wishes it ranked higher. Families get an e-mail after commit.
    """
    progress = progress or _noop
    municipality = allocation_round.municipality
    _check_staff(actor, Perm.RUN_ALLOCATION, municipality)
    with transaction.atomic():
        locked = AllocationRound.objects.select_for_update(of=("self",)).select_related("previous").get(pk=allocation_round.pk)
        if locked.status == RoundStatus.DISCARDED:
            raise ExchangeError(_("Diese Runde wurde verworfen und kann nicht mehr durchgeführt werden."))
        if locked.status != RoundStatus.PREPARED:
            raise ExchangeError(_("Diese Runde wurde schon durchgeführt."))
        today = timezone.localdate()
        base = (ChildRegistration.objects.for_municipality(municipality)
                .select_related("district").prefetch_related("wishes").order_by("pk"))
        # Lock the registrations, then (below) the live offers, in the order families' answers,
        # withdrawals and changes take them: nobody changes what the round reads until it is stored.
        list(ChildRegistration.objects.for_municipality(municipality).select_for_update()
             .filter(status__in=[RegistrationStatus.ACTIVE, RegistrationStatus.PLACED])
             .order_by("pk").values_list("pk", flat=True))
        progress(_("Anmeldungen und Plätze einlesen"))
        if locked.previous is None:
            registrations = list(base.filter(status=RegistrationStatus.ACTIVE))
            accepted: set[str] = set()
            live: dict[str, PlaceOffer] | None = None
            snapshot = daycare_snapshot(municipality=municipality, registrations=registrations)
            progress(_("Plätze verteilen"))
            result = daycare_core.allocate(snapshot.facilities, snapshot.children, locked.seed)
        else:
            previous = locked.previous
            if previous.status != RoundStatus.COMPLETED:
                raise ExchangeError(_("Die vorherige Runde ist noch nicht durchgeführt."))
            # The worker expires offers daily; do it here too so an offer is never live past its deadline.
            place_offers_expire(municipality=municipality, today=today)
            previous_result = result_from_json(previous.result)
            live = {str(o.registration_id): o for o in PlaceOffer.objects.for_municipality(municipality)
                    .filter(status__in=[PlaceOfferStatus.ACCEPTED, PlaceOfferStatus.OPEN]).select_related("facility")
                    .select_for_update(of=("self",)).order_by("pk")}
            accepted = {cid for cid, o in live.items() if o.status == PlaceOfferStatus.ACCEPTED
                        and previous_result.assignments.get(cid) == o.facility.code}
            registrations = list(base.filter(status=RegistrationStatus.ACTIVE)) + list(
                base.filter(status=RegistrationStatus.PLACED, pk__in=[int(c) for c in accepted]))
            registrations.sort(key=lambda r: r.pk)
            present = {str(r.pk) for r in registrations}
            # Everyone whose previous offer is no longer live (declined, expired) competes again
            # without that facility; withdrawn families are simply absent.
            declined = {cid for cid in previous_result.assignments
                        if cid in present and cid not in live and cid not in accepted}
            snapshot = daycare_snapshot(municipality=municipality, registrations=registrations)
            progress(_("Plätze verteilen"))
            try:
                # The children carry what earlier rounds decided (kept lottery numbers, declined
                # facilities, held places), so the stored input alone reproduces this round.
                snapshot.children = daycare_core.follow_up_children(previous_result, declined, accepted,
                                                                    snapshot.children)
                result = daycare_core.allocate(snapshot.facilities, snapshot.children, locked.seed)
            except daycare_core.AllocationInputError as exc:
                raise ExchangeError(_("Die Nachrückrunde ist nicht möglich: %(e)s") % {"e": exc}) from exc
        progress(_("Ergebnisse speichern"))
        new_offers = _persist_round(locked, snapshot, result, accepted, live_offers=live)
        locked.status = RoundStatus.COMPLETED
        locked.run_at = timezone.now()
        locked.run_by = actor
        locked.snapshot = snapshot.as_json(locked.seed)
        locked.result = result_to_json(result)
        locked.stats = _round_stats(snapshot, result)
        locked.save()
        audit_record(action="exchanges.round_run", municipality=municipality, actor=actor, obj=locked,
                     summary=str(locked), data={"seed": locked.seed, "children": len(snapshot.children),
                                                "assigned": len(result.assignments), "new_offers": new_offers})
        from .tasks import send_place_offers

        enqueue_on_commit(send_place_offers, locked.pk)
    return locked


def _persist_round(allocation_round: AllocationRound, snapshot: DaycareSnapshot, result, accepted: set[str],
                   live_offers: dict[str, PlaceOffer] | None) -> int:
    """Store outcomes, explanations, new offers and waiting lists; return the number of new offers."""
    municipality_id = allocation_round.municipality_id
    facilities_by_code = snapshot.facility_by_code
    core_facilities = {f.id: f for f in snapshot.facilities}
    outcomes, offers = [], []
    superseded: list[int] = []
    if live_offers is None:
        # A new cycle replaces offers of earlier cycles nobody answered.
        live_offers = {}
        ids = [int(c.id) for c in snapshot.children]
        superseded += list(PlaceOffer.objects.filter(registration_id__in=ids, status=PlaceOfferStatus.OPEN)
                           .select_for_update().order_by("pk").values_list("pk", flat=True))
    for child in snapshot.children:
        if child.id in accepted:
            continue
        got = result.assignments.get(child.id)
        wished = [core_facilities[f] for f in child.wishes if f in core_facilities]
        explanations = []
        for item in daycare_core.explain(result, [child], wished, child.id):
            name = facilities_by_code[item.facility_id].name if item.facility_id in facilities_by_code else item.facility_id
            explanations.append({
                "rank": item.rank, "facility": item.facility_id, "facility_name": name, "outcome": item.outcome,
                "places": item.places, "child_priority": item.child_priority, "cutoff_priority": item.cutoff_priority,
                "text_de": item.text_de.replace(f"({item.facility_id})", f"({name})", 1),
                "text_en": item.text_en.replace(f"({item.facility_id})", f"({name})", 1),
            })
        outcomes.append(AllocationOutcome(
            municipality_id=municipality_id, round=allocation_round, registration_id=int(child.id),
            facility=facilities_by_code[got] if got else None, lottery=result.lottery[child.id],
            points={code: reasons for code, reasons in snapshot.points.get(child.id, {}).items()},
            explanations=explanations))
        if got is None:
            continue
        current = live_offers.get(child.id)
        if current is not None and current.facility.code == got:
            continue  # the unanswered offer stays as it is, with its deadline
        if current is not None:
            superseded.append(current.pk)
        offers.append(PlaceOffer(municipality_id=municipality_id, round=allocation_round, registration_id=int(child.id),
                                 facility=facilities_by_code[got], deadline=allocation_round.offer_deadline))
    # Only offers still open are replaced; one answered meanwhile aborts the round (nothing stored)
    # rather than turning an accepted place into a superseded one.
    replaced = PlaceOffer.objects.filter(pk__in=superseded, status=PlaceOfferStatus.OPEN).update(
        status=PlaceOfferStatus.SUPERSEDED, responded_at=timezone.now())
    if replaced != len(superseded):
        raise ExchangeError(_("Während der Runde hat eine Familie auf ein Angebot geantwortet. Es wurde nichts "
                              "gespeichert; bitte führen Sie die Runde noch einmal durch."))
    AllocationOutcome.objects.bulk_create(outcomes, batch_size=2000)
    PlaceOffer.objects.bulk_create(offers, batch_size=2000)
    WaitingListEntry.objects.bulk_create([
        WaitingListEntry(municipality_id=municipality_id, round=allocation_round, facility=facilities_by_code[code],
                         registration_id=int(cid), position=position)
        for code, waiting in result.waiting_lists.items() for position, cid in enumerate(waiting, start=1)
    ], batch_size=2000)
    return len(offers)


def _round_stats(snapshot: DaycareSnapshot, result) -> dict[str, Any]:
    """Places and assignments per facility and capacity key, for the fill-rate chart and exports."""
    capacities = {f.id: f.capacity for f in snapshot.facilities}
    children = {c.id: c for c in snapshot.children}
    taken: dict[tuple[str, str | None], int] = {}
    for cid, code in result.assignments.items():
        child = children[cid]
        key = daycare_core.capacity_key(capacities[code], child.group, child.start_month)
        taken[(code, key)] = taken.get((code, key), 0) + 1
    rows = []
    for facility in snapshot.facilities:
        for key, places in sorted(facility.capacity.items()):
            rows.append({"facility": facility.id, "name": snapshot.facility_by_code[facility.id].name,
                         "capacity_key": key, "places": places, "assigned": taken.get((facility.id, key), 0)})
    return {
        "children": len(snapshot.children), "assigned": len(result.assignments),
        "unassigned": len(result.unassigned), "rows": rows,
        "first_wish": sum(1 for cid, code in result.assignments.items() if children[cid].wishes[:1] == (code,)),
    }


# ============================================================================ holiday programme


PROGRAMME_FIELDS = ("name", "description", "starts_on", "ends_on", "registration_until", "max_wishes",
                    "max_activities_limit")


def holiday_programme_create(*, municipality, actor, data: dict[str, Any]) -> HolidayProgramme:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, municipality)
    if data["ends_on"] < data["starts_on"]:
        raise ValidationError({"ends_on": _("Der letzte Tag liegt vor dem ersten.")})
    with transaction.atomic():
        programme = HolidayProgramme.objects.create(municipality=municipality, **{k: data[k] for k in PROGRAMME_FIELDS})
        audit_record(action="exchanges.programme_created", municipality=municipality, actor=actor, obj=programme,
                     summary=programme.name)
    return programme


def holiday_programme_update(*, programme: HolidayProgramme, actor, data: dict[str, Any]) -> HolidayProgramme:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, programme.municipality)
    if data["ends_on"] < data["starts_on"]:
        raise ValidationError({"ends_on": _("Der letzte Tag liegt vor dem ersten.")})
    with transaction.atomic():
        for key in PROGRAMME_FIELDS:
            setattr(programme, key, data[key])
        programme.save()
        audit_record(action="exchanges.programme_updated", municipality=programme.municipality, actor=actor,
                     obj=programme, summary=programme.name)
    return programme


ACTIVITY_FIELDS = ("title", "description", "start_date", "end_date", "start_time", "end_time", "capacity", "min_age",
                   "max_age", "fee", "place_name", "address", "latitude", "longitude")


def _activity_validate(programme: HolidayProgramme, data: dict[str, Any]) -> None:
    errors = {}
    if data["end_date"] < data["start_date"]:
        errors["end_date"] = _("Der letzte Tag liegt vor dem ersten.")
    elif data["start_date"] < programme.starts_on or data["end_date"] > programme.ends_on:
        errors["start_date"] = _("Die Aktivität muss in den Ferien liegen (%(a)s bis %(b)s).") % {
            "a": programme.starts_on.strftime("%d.%m.%Y"), "b": programme.ends_on.strftime("%d.%m.%Y")}
    if data["min_age"] > data["max_age"]:
        errors["max_age"] = _("Das Höchstalter ist kleiner als das Mindestalter.")
    if errors:
        raise ValidationError(errors)


def holiday_activity_create(*, programme: HolidayProgramme, provider: Provider, actor, data: dict[str, Any]) -> HolidayActivity:
    """A provider member drafts an activity; staff may create one for a provider, published at once."""
    is_staff = actor is None or actor.has_perm(Perm.MANAGE_EXCHANGES, programme.municipality)
    if not is_staff:
        _check_member(actor, provider)
    if provider.municipality_id != programme.municipality_id or provider.status != ProviderStatus.APPROVED:
        raise ExchangeError(_("Der Anbieter ist nicht zugelassen."))
    if programme.status != ProgrammeStatus.OPEN:
        raise ExchangeError(_("Das Ferienprogramm ist schon verlost; neue Aktivitäten sind nicht mehr möglich."))
    _activity_validate(programme, data)
    with transaction.atomic():
        activity = HolidayActivity.objects.create(
            municipality=programme.municipality, programme=programme, provider=provider,
            status=ModerationStatus.PUBLISHED if is_staff else ModerationStatus.DRAFT,
            **{k: data[k] for k in ACTIVITY_FIELDS if k in data})
        audit_record(action="exchanges.activity_created", municipality=programme.municipality, actor=actor,
                     obj=activity, summary=activity.title)
    return activity


def holiday_activity_update(*, activity: HolidayActivity, actor, data: dict[str, Any]) -> HolidayActivity:
    """Providers change their activities until publication; afterwards only staff do (families chose it)."""
    is_staff = actor is None or actor.has_perm(Perm.MANAGE_EXCHANGES, activity.municipality)
    if not is_staff:
        _check_member(actor, activity.provider)
        if activity.status == ModerationStatus.PUBLISHED:
            raise ExchangeError(_("Veröffentlichte Aktivitäten ändert nur die Verwaltung. Bitte melden Sie sich dort."))
    _activity_validate(activity.programme, data)
    if is_staff and activity.programme.status != ProgrammeStatus.OPEN and data.get("capacity", activity.capacity) < activity.placements.filter(status=PlacementStatus.CONFIRMED).count():
        raise ValidationError({"capacity": _("Es sind schon mehr Kinder zugeteilt.")})
    with transaction.atomic():
        for key in ACTIVITY_FIELDS:
            if key in data:
                setattr(activity, key, data[key])
        if not is_staff and activity.status == ModerationStatus.REJECTED:
            activity.status = ModerationStatus.DRAFT
        activity.save()
        audit_record(action="exchanges.activity_updated", municipality=activity.municipality, actor=actor,
                     obj=activity, summary=activity.title)
    return activity


def holiday_activity_submit(*, activity: HolidayActivity, actor) -> HolidayActivity:
    _check_member(actor, activity.provider)
    if activity.status not in (ModerationStatus.DRAFT, ModerationStatus.REJECTED):
        raise ExchangeError(_("Nur Entwürfe und abgelehnte Aktivitäten können eingereicht werden."))
    with transaction.atomic():
        activity.status = ModerationStatus.SUBMITTED
        activity.save(update_fields=["status", "updated_at"])
        audit_record(action="exchanges.activity_submitted", municipality=activity.municipality, actor=actor,
                     obj=activity, summary=activity.title)
    return activity


def holiday_activity_publish(*, activity: HolidayActivity, actor) -> HolidayActivity:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, activity.municipality)
    if activity.status != ModerationStatus.SUBMITTED:
        raise ExchangeError(_("Nur eingereichte Aktivitäten können veröffentlicht werden."))
    if activity.programme.status != ProgrammeStatus.OPEN:
        raise ExchangeError(_("Das Ferienprogramm ist schon verlost."))
    with transaction.atomic():
        activity.status = ModerationStatus.PUBLISHED
        activity.rejection_reason = ""
        activity.save(update_fields=["status", "rejection_reason", "updated_at"])
        audit_record(action="exchanges.activity_published", municipality=activity.municipality, actor=actor,
                     obj=activity, summary=activity.title)
        from .tasks import send_moderation_decision

        enqueue_on_commit(send_moderation_decision, "activity", activity.pk)
    return activity


def holiday_activity_reject(*, activity: HolidayActivity, actor, reason: str) -> HolidayActivity:
    _check_staff(actor, Perm.MANAGE_EXCHANGES, activity.municipality)
    if not reason.strip():
        raise ValidationError({"reason": _("Bitte nennen Sie den Grund; der Anbieter sieht ihn.")})
    if activity.status != ModerationStatus.SUBMITTED:
        # Published activities may already be among families' wishes; they are not withdrawn silently.
        raise ExchangeError(_("Nur eingereichte Aktivitäten können abgelehnt werden."))
    with transaction.atomic():
        activity.status = ModerationStatus.REJECTED
        activity.rejection_reason = reason.strip()
        activity.save(update_fields=["status", "rejection_reason", "updated_at"])
        audit_record(action="exchanges.activity_rejected", municipality=activity.municipality, actor=actor,
                     obj=activity, summary=activity.title)
        from .tasks import send_moderation_decision

        enqueue_on_commit(send_moderation_decision, "activity", activity.pk)
    return activity


HOLIDAY_REGISTRATION_FIELDS = ("child_first_name", "child_last_name", "birth_date", "max_activities",
                               "emergency_phone", "notes")


def holiday_registration_create(*, programme: HolidayProgramme, parent, data: dict[str, Any],
                                wishes: Sequence[HolidayActivity], ip: str | None = None) -> HolidayRegistration:
    """A family registers a child with ranked wishes and how many activities it wants at most."""
    if not programme.accepts_registrations(timezone.localdate()):
        raise ExchangeError(_("Die Anmeldung zu diesem Ferienprogramm ist geschlossen."))
    errors = {}
    age = age_in_years(data["birth_date"], programme.starts_on)
    if not wishes:
        errors["wishes"] = _("Bitte wählen Sie mindestens eine Aktivität.")
    elif len(wishes) > programme.max_wishes:
        errors["wishes"] = _("Sie können höchstens %(n)s Wünsche angeben.") % {"n": programme.max_wishes}
    elif len({a.pk for a in wishes}) != len(wishes):
        errors["wishes"] = _("Jede Aktivität kann nur einmal gewählt werden.")
    else:
        for activity in wishes:
            if activity.programme_id != programme.pk or activity.status != ModerationStatus.PUBLISHED:
                errors["wishes"] = _("Eine gewählte Aktivität gehört nicht zu diesem Programm.")
                break
            if not activity.min_age <= age <= activity.max_age:
                errors["wishes"] = _("„%(t)s“ ist für %(a)s bis %(b)s Jahre; Ihr Kind ist zu Ferienbeginn %(age)s.") % {
                    "t": activity.title, "a": activity.min_age, "b": activity.max_age, "age": age}
                break
    if not 1 <= data["max_activities"] <= programme.max_activities_limit:
        errors["max_activities"] = _("Bitte wählen Sie 1 bis %(n)s.") % {"n": programme.max_activities_limit}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Registrations of one programme take turns (the draw's preparation locks the row too), so
        # two requests cannot both pass the duplicate check or register after the close.
        # The re-read row has no cached municipality; the caller's programme belongs to the same one.
        municipality = programme.municipality
        programme = HolidayProgramme.objects.select_for_update(no_key=True).get(pk=programme.pk)
        if not programme.accepts_registrations(timezone.localdate()):
            raise ExchangeError(_("Die Anmeldung zu diesem Ferienprogramm ist geschlossen."))
        others = programme.registrations.exclude(status=RegistrationStatus.WITHDRAWN).filter(birth_date=data["birth_date"])
        if _same_child(others, data):
            raise ValidationError(_("Dieses Kind ist für dieses Ferienprogramm schon angemeldet; jedes Kind nimmt "
                                    "nur einmal an der Verlosung teil. Sehen Sie die Anmeldung nicht, hat das Kind "
                                    "vielleicht ein anderer Elternteil angemeldet."))
        registration = HolidayRegistration.objects.create(
            municipality_id=programme.municipality_id, programme=programme, parent=parent,
            **{k: data[k] for k in HOLIDAY_REGISTRATION_FIELDS if k in data})
        HolidayWish.objects.bulk_create([
            HolidayWish(municipality_id=programme.municipality_id, registration=registration, activity=a, rank=i)
            for i, a in enumerate(wishes, start=1)])
        audit_record(action="exchanges.holiday_registered", municipality=municipality, actor=parent,
                     obj=registration, summary=programme.name, ip_address=ip)
    return registration


def _holiday_result_from_db(programme: HolidayProgramme) -> holiday_core.HolidayResult:
    """Rebuild the core's view of the programme now: who holds which place, who waits where."""
    activities = {str(a.pk): holiday_core.Activity(id=str(a.pk), capacity=a.capacity, min_age=a.min_age,
                                                   max_age=a.max_age, dates=a.days())
                  for a in programme.activities.filter(status=ModerationStatus.PUBLISHED)}
    children = {c["id"]: holiday_core.HolidayChild(id=c["id"], age=c["age"], wishes=tuple(c["wishes"]),
                                                   max_activities=c["max_activities"])
                for c in programme.snapshot.get("children", [])}
    assignments: dict[str, list[str]] = {cid: [] for cid in children}
    for registration_id, activity_id in (HolidayPlacement.objects.filter(activity__programme=programme,
                                                                         status=PlacementStatus.CONFIRMED)
                                         .order_by("pk").values_list("registration_id", "activity_id")):
        assignments.setdefault(str(registration_id), []).append(str(activity_id))
    waiting: dict[str, list[str]] = {aid: [] for aid in activities}
    for activity_id, registration_id in (HolidayWaitlistEntry.objects.filter(activity__programme=programme)
                                         .order_by("activity_id", "position").values_list("activity_id", "registration_id")):
        waiting.setdefault(str(activity_id), []).append(str(registration_id))
    return holiday_core.HolidayResult(seed=programme.seed or 0, assignments=assignments, waiting_lists=waiting,
                                      lottery_positions=programme.result.get("lottery_positions", {}),
                                      activities=activities, children=children)


def holiday_draw_prepare(*, programme: HolidayProgramme, actor) -> HolidayProgramme:
    """Close registration and record the seed of the draw, before anyone can run it.

    The seed comes from the system's random source; nobody chooses it. Until the draw, families
    and staff see its SHA-256 commitment (of "seed:nonce"); the draw then uses exactly this seed
    and publishes it with the nonce, so anyone can check that it was fixed beforehand.
    """
    _check_staff(actor, Perm.RUN_ALLOCATION, programme.municipality)
    with transaction.atomic():
        programme = HolidayProgramme.objects.select_for_update().get(pk=programme.pk)
        if programme.status != ProgrammeStatus.OPEN:
            raise ExchangeError(_("Die Verlosung ist schon vorbereitet."))
        if timezone.localdate() <= programme.registration_until:
            raise ExchangeError(_("Die Anmeldung läuft noch bis zum %(d)s. Danach können Sie die Verlosung vorbereiten.")
                                % {"d": programme.registration_until.strftime("%d.%m.%Y")})
        programme.seed = new_seed()
        programme.seed_nonce = secrets.token_hex(16)
        programme.seed_recorded_at = timezone.now()
        programme.status = ProgrammeStatus.PREPARED
        programme.save(update_fields=["seed", "seed_nonce", "seed_recorded_at", "status"])
        # The audit log names the commitment only: the seed stays unknown until the draw.
        audit_record(action="exchanges.programme_draw_prepared", municipality=programme.municipality, actor=actor,
                     obj=programme, summary=programme.name, data={"seed_sha256": programme.seed_commitment})
    return programme


def holiday_programme_allocate(*, programme: HolidayProgramme, actor,
                               progress: Progress | None = None) -> HolidayProgramme:
    """Draw the published lottery once, with the seed recorded by `holiday_draw_prepare`:
    places, waiting lists and the seed are stored; families are told."""
    progress = progress or _noop
    _check_staff(actor, Perm.RUN_ALLOCATION, programme.municipality)
    with transaction.atomic():
        programme = HolidayProgramme.objects.select_for_update().get(pk=programme.pk)
        if programme.status == ProgrammeStatus.OPEN:
            raise ExchangeError(_("Bitte bereiten Sie die Verlosung zuerst vor: Dabei wird der Startwert festgehalten."))
        if programme.status != ProgrammeStatus.PREPARED or programme.seed is None:
            raise ExchangeError(_("Dieses Ferienprogramm wurde schon verlost."))
        progress(_("Anmeldungen und Aktivitäten einlesen"))
        seed = programme.seed
        published = list(programme.activities.filter(status=ModerationStatus.PUBLISHED).order_by("pk"))
        ids = {a.pk for a in published}
        registrations = list(programme.registrations.filter(status=RegistrationStatus.ACTIVE)
                             .prefetch_related("wishes").order_by("pk"))
        activities = [holiday_core.Activity(id=str(a.pk), capacity=a.capacity, min_age=a.min_age, max_age=a.max_age,
                                            dates=a.days()) for a in published]
        children = [holiday_core.HolidayChild(
            id=str(r.pk), age=r.age_on(programme.starts_on),
            wishes=tuple(str(w.activity_id) for w in r.wishes.all() if w.activity_id in ids),
            max_activities=min(r.max_activities, programme.max_activities_limit)) for r in registrations]
        progress(_("Verlosen"))
        result = holiday_core.allocate_holiday(activities, children, seed)
        progress(_("Ergebnisse speichern"))
        municipality_id = programme.municipality_id
        HolidayPlacement.objects.bulk_create([
            HolidayPlacement(municipality_id=municipality_id, registration_id=int(cid), activity_id=int(aid))
            for cid, acts in result.assignments.items() for aid in acts])
        HolidayWaitlistEntry.objects.bulk_create([
            HolidayWaitlistEntry(municipality_id=municipality_id, activity_id=int(aid), registration_id=int(cid),
                                 position=position)
            for aid, waiting in result.waiting_lists.items() for position, cid in enumerate(waiting, start=1)])
        programme.status = ProgrammeStatus.ALLOCATED
        programme.allocated_at = timezone.now()
        programme.snapshot = {
            "seed": seed,
            "activities": [{"id": a.id, "capacity": a.capacity, "min_age": a.min_age, "max_age": a.max_age,
                            "dates": [d.isoformat() for d in a.dates]} for a in activities],
            "children": [{"id": c.id, "age": c.age, "wishes": list(c.wishes), "max_activities": c.max_activities}
                         for c in children],
        }
        programme.result = {"assignments": result.assignments, "waiting_lists": result.waiting_lists,
                            "lottery_positions": result.lottery_positions}
        programme.save()
        placed = sum(len(a) for a in result.assignments.values())
        audit_record(action="exchanges.programme_allocated", municipality=programme.municipality, actor=actor,
                     obj=programme, summary=programme.name,
                     data={"seed": seed, "seed_nonce": programme.seed_nonce, "seed_sha256": programme.seed_commitment,
                           "children": len(children), "places": placed})
        from .tasks import send_holiday_results

        enqueue_on_commit(send_holiday_results, programme.pk)
    return programme


def holiday_placement_cancel(*, placement: HolidayPlacement, actor) -> list[HolidayPlacement]:
    """Cancel a place (by the family or staff) and let the waiting list move up.

    The first child on the waiting list who can take the place gets it, possibly giving up an
    activity it ranked lower, whose place moves up in turn. Each family whose child moved up
    gets a notice after commit. Returns the new placements.
    """
    with transaction.atomic():
        placement = (HolidayPlacement.objects.select_for_update(of=("self",))
                     .select_related("registration", "activity__programme").get(pk=placement.pk))
        programme = placement.activity.programme
        if actor is not None and placement.registration.parent_id != actor.pk:
            _check_staff(actor, Perm.MANAGE_EXCHANGES, programme.municipality)
        if placement.status != PlacementStatus.CONFIRMED:
            raise ExchangeError(_("Dieser Platz ist schon abgesagt."))
        # Serialise move-ups of one programme: two cancellations must not hand out one place twice.
        HolidayProgramme.objects.select_for_update().filter(pk=programme.pk).first()
        before = _holiday_result_from_db(programme)
        moved = holiday_core.move_up(before, str(placement.registration_id), str(placement.activity_id))
        now = timezone.now()
        placement.status, placement.ended_at = PlacementStatus.CANCELLED, now
        placement.save(update_fields=["status", "ended_at"])
        new_placements: list[HolidayPlacement] = []
        notices: list[list] = []
        for cid, acts in moved.result.assignments.items():
            old = set(before.assignments.get(cid, []))
            if cid == str(placement.registration_id):
                old.discard(str(placement.activity_id))
            gained, released = set(acts) - old, old - set(acts)
            if released:
                HolidayPlacement.objects.filter(registration_id=int(cid), activity_id__in=[int(a) for a in released],
                                                status=PlacementStatus.CONFIRMED).update(
                    status=PlacementStatus.RELEASED, ended_at=now)
            for aid in gained:
                new = HolidayPlacement.objects.create(municipality_id=programme.municipality_id,
                                                      registration_id=int(cid), activity_id=int(aid), via_move_up=True)
                new_placements.append(new)
                notices.append([new.pk, sorted(int(a) for a in released)])
        for aid, waiting in moved.result.waiting_lists.items():
            if waiting == before.waiting_lists.get(aid, []):
                continue
            HolidayWaitlistEntry.objects.filter(activity_id=int(aid)).delete()
            HolidayWaitlistEntry.objects.bulk_create([
                HolidayWaitlistEntry(municipality_id=programme.municipality_id, activity_id=int(aid),
                                     registration_id=int(cid), position=position)
                for position, cid in enumerate(waiting, start=1)])
        audit_record(action="exchanges.holiday_placement_cancelled", municipality=programme.municipality, actor=actor,
                     obj=placement, summary=f"{placement.activity.title}: {placement.registration_id}",
                     data={"moves": moved.moves})
        if new_placements:
            from .tasks import send_holiday_move_up

            enqueue_on_commit(send_holiday_move_up, notices)
    return new_placements


def holiday_registration_withdraw(*, registration: HolidayRegistration, actor) -> HolidayRegistration:
    """The family withdraws the child: every place is cancelled (others move up), waiting lists left."""
    _check_parent(actor, registration)
    with transaction.atomic():
        registration = HolidayRegistration.objects.select_for_update().get(pk=registration.pk)
        if registration.status == RegistrationStatus.WITHDRAWN:
            return registration
        HolidayWaitlistEntry.objects.filter(registration=registration).delete()
        for placement in list(registration.placements.filter(status=PlacementStatus.CONFIRMED)):
            holiday_placement_cancel(placement=placement, actor=actor)
        registration.status = RegistrationStatus.WITHDRAWN
        registration.save(update_fields=["status"])
        audit_record(action="exchanges.holiday_registration_withdrawn", municipality=registration.municipality,
                     actor=actor, obj=registration, summary=registration.reference)
    return registration


def today_plus(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


# ============================================================================ erasure and retention

# Stored in place of the child's name, translated when written (as the applications' marker is).
ANONYMISED_MARKER = gettext_noop("(gelöscht)")

# Why a registration stays when its family asks for erasure (the answer e-mail names the reason).
KEPT_OPEN = "open"  # still in the allocation: waiting, competing, or a programme still to come
KEPT_PLACED = "placed"  # an accepted daycare place: the allocation decision it rests on is kept


def _registration_anonymise(*, model, registration_id: int, still_due: Q, now: datetime, actor=None,
                            reason: str) -> str | None:
    """Remove the personal data of one registration that `still_due` (re-checked under the lock) selects.

    Returns its reference, or None when it is no longer due (changed or anonymised meanwhile).
    What stays is what statistics and the reproducible allocation need: municipality, programme,
    group, start month, care hours, district, wishes, offers, places, states, dates and the year of birth.
    """
    with transaction.atomic():
        registration = (model.objects.select_for_update(of=("self",)).select_related("municipality")
                        .filter(still_due, pk=registration_id, anonymised_at__isnull=True).first())
        if registration is None:
            return None
        fields = ["child_first_name", "child_last_name", "birth_date", "parent"]
        registration.child_first_name = _(ANONYMISED_MARKER)
        registration.child_last_name = ""
        # The year alone keeps the age statistics and the group plausible; the day identifies the child.
        registration.birth_date = registration.birth_date.replace(month=1, day=1)
        registration.parent = None
        if model is ChildRegistration:
            # The priority facts are about the family (health, household); the round's stored points stay anonymous.
            registration.sibling_facility = None
            registration.single_parent = registration.parents_working = registration.special_needs = False
            fields += ["sibling_facility", "single_parent", "parents_working", "special_needs"]
        else:
            registration.emergency_phone = ""
            registration.notes = ""
            fields += ["emergency_phone", "notes"]
        registration.anonymised_at = now
        registration.save(update_fields=[*fields, "anonymised_at"])
        # The exchanges write no outbox messages and their mail jobs carry ids only: nothing else holds a copy.
        audit_record(action="exchanges.registration_anonymised", municipality=registration.municipality,
                     obj=registration, summary=f"{registration.reference}: {reason}"[:500],
                     data={"fields": sorted(fields), "reason": reason},
                     actor=actor, actor_label="" if actor is not None else "retention-job")
    return registration.reference


def family_registrations_anonymise(*, municipality, parent, actor, reason: str) -> dict[str, list]:
    """Anonymise a family's registrations in one municipality's exchanges that are no longer needed.

    For a granted erasure request (Art. 17 GDPR). Withdrawn registrations and those of a holiday
    programme that is over go now; registrations still in the allocation (waiting, competing, a
    programme still to come) and accepted daycare places stay and are reported with the reason.
    Returns {"anonymised": [entry], "kept": [entry with "reason"]}, each entry naming the kind,
    reference, programme and state: ids and labels, nothing about the child. Called inside
    `data_request_complete`, whose caller checked that `actor` may decide the request.
    """
    now = timezone.now()
    due_by_model = ((ChildRegistration, selectors.DAYCARE_NO_LONGER_NEEDED),
                    (HolidayRegistration, selectors.holiday_no_longer_needed(timezone.localdate(now))))
    anonymised: list[dict[str, str]] = []
    kept: list[dict[str, str]] = []
    with transaction.atomic():
        family = selectors.family_registrations(municipality=municipality, parent=parent,
                                                today=timezone.localdate(now))
        for (model, due), registrations in zip(due_by_model, family, strict=True):
            for registration in registrations.order_by("pk"):
                entry = {"kind": "daycare" if model is ChildRegistration else "holiday",
                         "reference": registration.reference, "status": registration.status,
                         "programme": registration.programme.name if model is HolidayRegistration else ""}
                if registration.erasable and _registration_anonymise(
                        model=model, registration_id=registration.pk, still_due=due, now=now, actor=actor,
                        reason=reason):
                    anonymised.append(entry)
                else:
                    kept.append({**entry, "reason": KEPT_PLACED if registration.status == RegistrationStatus.PLACED
                                 else KEPT_OPEN})
    return {"anonymised": anonymised, "kept": kept}


def registrations_apply_retention(*, now: datetime | None = None) -> dict[str, int]:
    """Anonymise exchange registrations whose allocation ended before the retention period began.

    The period is RATHAUS_EXCHANGE_RETENTION_YEARS whole calendar years after the year in which a
    registration ended (1: a registration withdrawn in 2025 goes in January 2027), long enough for
    objections and the follow-up rounds of the next year. A daycare registration ends when it is
    withdrawn, or, placed, when the place has begun; a holiday registration when its programme is
    over. Active ones are never due. Each registration runs in its own transaction.
    """
    now = now or timezone.now()
    years = settings.RATHAUS_EXCHANGE_RETENTION_YEARS
    cutoff = date(timezone.localdate(now).year - years, 1, 1)
    cutoff_at = timezone.make_aware(datetime.combine(cutoff, time.min))
    due_by_model = (
        (ChildRegistration, Q(status=RegistrationStatus.WITHDRAWN, updated_at__lt=cutoff_at)
         | Q(status=RegistrationStatus.PLACED, updated_at__lt=cutoff_at, desired_start__lt=cutoff)),
        (HolidayRegistration, selectors.holiday_programme_over(cutoff)),
    )
    anonymised = failed = 0
    for model, due in due_by_model:
        # Ids first: each registration then runs in its own transaction without a cursor open across them.
        for registration_id in list(model.objects.filter(due, anonymised_at__isnull=True).values_list("pk", flat=True)):
            try:
                if _registration_anonymise(model=model, registration_id=registration_id, still_due=due, now=now,
                                           reason=f"retention {years} year(s)"):
                    anonymised += 1
            except Exception:  # noqa: BLE001 - one broken row must not keep the others past their period
                logger.exception("retention: %s %s could not be anonymised; retried on the next run",
                                 model._meta.label_lower, registration_id)
                failed += 1
    logger.info("retention: %d exchange registration(s) anonymised, %d failed", anonymised, failed)
    return {"anonymised": anonymised, "failed": failed}
