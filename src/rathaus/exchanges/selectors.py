"""Reads on the exchanges; each takes the municipality so no query crosses tenants."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from rathaus.core.params import parse_int

from .models import (
    ACCESSIBILITY_FLAGS,
    AllocationOutcome,
    AllocationRound,
    Category,
    ChildRegistration,
    District,
    ExchangeSettings,
    Facility,
    FacilityGroup,
    HolidayActivity,
    HolidayPlacement,
    HolidayProgramme,
    HolidayRegistration,
    ModerationStatus,
    Offer,
    OfferDate,
    PlacementStatus,
    PlaceOffer,
    PriorityRule,
    ProgrammeStatus,
    Provider,
    ProviderStatus,
    RegistrationStatus,
    RoundStatus,
    WaitingListEntry,
)

# ---------------------------------------------------------------------------- directories


@dataclass(frozen=True)
class OfferFilters:
    """Filters of the public directory search, parsed from the query string."""

    query: str = ""
    category: str = ""
    age: int | None = None
    weekday: int | None = None
    free_only: bool = False
    max_fee: Decimal | None = None
    accessibility: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_params(cls, params) -> OfferFilters:
        def number(name: str, low: int, high: int) -> int | None:
            value = parse_int(params.get(name, ""), max_digits=4)
            return value if value is not None and low <= value <= high else None

        max_fee = None
        raw = params.get("max_kosten", "").strip().replace(",", ".")
        try:
            if raw:
                max_fee = Decimal(raw).quantize(Decimal("0.01")) if Decimal(raw) >= 0 else None
        except ArithmeticError:
            max_fee = None
        flags = {name for name, _label in ACCESSIBILITY_FLAGS}
        return cls(
            query=params.get("q", "").strip()[:100],
            category=params.get("kategorie", "").strip()[:60],
            age=number("alter", 0, 120),
            weekday=number("tag", 0, 6),
            free_only=params.get("kosten") == "frei",
            max_fee=max_fee,
            accessibility=tuple(sorted(set(params.getlist("barrierefrei")) & flags)),
        )

    @property
    def is_empty(self) -> bool:
        return self == OfferFilters()


def _offer_base(municipality):
    return (Offer.objects.for_municipality(municipality)
            .select_related("provider", "category")
            .prefetch_related("slots", Prefetch("dates", queryset=OfferDate.objects.order_by("starts_at"))))


def offer_search(*, municipality, directory: str, filters: OfferFilters):
    """Published offers of a directory matching the filters, best match first when searching.

    On PostgreSQL the text search uses German stemming (SearchVector); elsewhere a plain
    case-insensitive substring match, which is enough for a town's few hundred offers.
    """
    qs = _offer_base(municipality).filter(directory=directory, status=ModerationStatus.PUBLISHED,
                                          provider__status=ProviderStatus.APPROVED)
    if filters.query:
        # Every word must occur (as a substring, so "ball" finds "Fußball"); PostgreSQL also
        # accepts a German-stemmed full-text match and ranks by it.
        words = filters.query.split()[:8]
        substring = Q()
        for word in words:
            substring &= Q(title__icontains=word) | Q(description__icontains=word) | Q(provider__name__icontains=word)
        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

            vector = SearchVector("title", weight="A", config="german") + SearchVector("description", weight="B", config="german")
            search = SearchQuery(filters.query, config="german", search_type="websearch")
            qs = (qs.annotate(document=vector, rank=SearchRank(vector, search))
                  .filter(Q(document=search) | substring).order_by("-rank", "title"))
        else:
            qs = qs.filter(substring)
    if filters.category:
        qs = qs.filter(category__slug=filters.category)
    if filters.age is not None:
        qs = qs.filter(Q(min_age__isnull=True) | Q(min_age__lte=filters.age),
                       Q(max_age__isnull=True) | Q(max_age__gte=filters.age))
    if filters.weekday is not None:
        # Django's week_day counts Sunday = 1 … Saturday = 7; ours Monday = 0 … Sunday = 6.
        django_weekday = (filters.weekday + 1) % 7 + 1
        on_day = Offer.objects.filter(Q(slots__weekday=filters.weekday) | Q(
            dates__starts_at__week_day=django_weekday, dates__starts_at__gte=timezone.now()))
        qs = qs.filter(pk__in=on_day.values("pk"))
    if filters.free_only:
        qs = qs.filter(fee=0)
    elif filters.max_fee is not None:
        qs = qs.filter(fee__lte=filters.max_fee)
    for flag in filters.accessibility:
        qs = qs.filter(**{flag: True})
    return qs


def offer_get_published(*, municipality, directory: str, pk: int) -> Offer:
    return get_object_or_404(_offer_base(municipality), pk=pk, directory=directory, status=ModerationStatus.PUBLISHED,
                             provider__status=ProviderStatus.APPROVED)


def offer_get(*, municipality, pk: int) -> Offer:
    return get_object_or_404(_offer_base(municipality), pk=pk)


def offer_moderation_queue(*, municipality, status: str = ModerationStatus.SUBMITTED):
    qs = Offer.objects.for_municipality(municipality).select_related("provider", "category")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("submitted_at", "id")


def category_list(*, municipality, directory: str | None = None):
    qs = Category.objects.for_municipality(municipality)
    return qs.filter(directory=directory) if directory else qs


def provider_list(*, municipality, status: str = ""):
    qs = Provider.objects.for_municipality(municipality).annotate(
        offer_count=Count("offers", distinct=True), member_count=Count("memberships", distinct=True))
    return qs.filter(status=status) if status else qs


def provider_get(*, municipality, pk: int) -> Provider:
    return get_object_or_404(Provider.objects.for_municipality(municipality).prefetch_related("memberships__user"), pk=pk)


def providers_for_user(*, municipality, user):
    if not user.is_authenticated:
        return Provider.objects.none()
    return Provider.objects.for_municipality(municipality).filter(memberships__user=user).order_by("name")


def provider_for_member(*, municipality, user, pk: int) -> Provider:
    """The provider if the user is one of its members; 404 otherwise (nothing leaks about others)."""
    return get_object_or_404(providers_for_user(municipality=municipality, user=user), pk=pk)


def offers_for_provider(*, municipality, provider: Provider):
    return _offer_base(municipality).filter(provider=provider).order_by("-updated_at")


# ---------------------------------------------------------------------------- daycare


def exchange_settings_get(*, municipality) -> ExchangeSettings:
    """The municipality's settings, or the defaults (unsaved) until staff first change them."""
    return ExchangeSettings.objects.for_municipality(municipality).first() or ExchangeSettings(municipality=municipality)


def district_list(*, municipality):
    return District.objects.for_municipality(municipality)


def facility_list(*, municipality, active_only: bool = True):
    qs = (Facility.objects.for_municipality(municipality)
          .prefetch_related(Prefetch("groups", queryset=FacilityGroup.objects.prefetch_related("capacities")),
                            "catchment_districts"))
    return qs.filter(is_active=True) if active_only else qs


def facility_get(*, municipality, pk: int) -> Facility:
    return get_object_or_404(facility_list(municipality=municipality, active_only=False), pk=pk)


def care_hour_options(*, municipality) -> list[int]:
    hours: set[int] = set()
    for group in FacilityGroup.objects.for_municipality(municipality).filter(facility__is_active=True):
        hours.update(int(h) for h in group.care_hours or [])
    return sorted(hours)


def priority_rule_list(*, municipality):
    return PriorityRule.objects.for_municipality(municipality)


def registrations_for_parent(*, municipality, user):
    return (ChildRegistration.objects.for_municipality(municipality).filter(parent=user)
            .prefetch_related("wishes__facility").order_by("-created_at"))


def registration_for_parent(*, municipality, user, pk: int) -> ChildRegistration:
    """A family's own registration; 404 for anybody else's."""
    return get_object_or_404(registrations_for_parent(municipality=municipality, user=user)
                             .select_related("district", "sibling_facility"), pk=pk)


def registration_list(*, municipality, status: str = "", query: str = ""):
    qs = (ChildRegistration.objects.for_municipality(municipality).select_related("parent", "district", "sibling_facility")
          .prefetch_related("wishes__facility"))
    if status:
        qs = qs.filter(status=status)
    if query:
        qs = qs.filter(Q(child_last_name__icontains=query) | Q(child_first_name__icontains=query)
                       | Q(parent__email__icontains=query))
    return qs.order_by("pk")


@dataclass(frozen=True)
class RegistrationState:
    """What a family sees about one registration after rounds: offers, explanations, waiting lists."""

    offers: list[PlaceOffer]
    live_offer: PlaceOffer | None
    outcome: AllocationOutcome | None
    waiting: list[WaitingListEntry]

    @property
    def past_offers(self) -> list[PlaceOffer]:
        """Offers that are no longer live: declined, expired, superseded or withdrawn."""
        return [o for o in self.offers if o != self.live_offer]


def registration_state(*, municipality, registration: ChildRegistration) -> RegistrationState:
    offers = list(PlaceOffer.objects.for_municipality(municipality).filter(registration=registration)
                  .select_related("facility", "round"))
    live = next((o for o in offers if o.status in ("open", "accepted")), None)
    outcome = (AllocationOutcome.objects.for_municipality(municipality).filter(registration=registration)
               .select_related("round", "facility").order_by("-round__number").first())
    waiting = []
    if outcome is not None:
        waiting = list(WaitingListEntry.objects.for_municipality(municipality)
                       .filter(round=outcome.round, registration=registration).select_related("facility"))
    return RegistrationState(offers=offers, live_offer=live, outcome=outcome, waiting=waiting)


def place_offer_for_parent(*, municipality, user, pk: int) -> PlaceOffer:
    return get_object_or_404(PlaceOffer.objects.for_municipality(municipality).select_related("registration", "facility"),
                             pk=pk, registration__parent=user)


def round_list(*, municipality):
    return AllocationRound.objects.for_municipality(municipality).select_related("previous", "run_by").defer(
        "snapshot", "result")


def round_get(*, municipality, pk: int) -> AllocationRound:
    return get_object_or_404(AllocationRound.objects.for_municipality(municipality).select_related("previous"), pk=pk)


def round_offers(*, municipality, allocation_round: AllocationRound):
    return (PlaceOffer.objects.for_municipality(municipality).filter(round=allocation_round)
            .select_related("registration", "facility"))


def round_outcomes(*, municipality, allocation_round: AllocationRound):
    return (AllocationOutcome.objects.for_municipality(municipality).filter(round=allocation_round)
            .select_related("registration__parent", "facility").order_by("registration_id"))


def round_waiting_lists(*, municipality, allocation_round: AllocationRound) -> dict[Facility, list[WaitingListEntry]]:
    lists: dict[Facility, list[WaitingListEntry]] = {}
    for entry in (WaitingListEntry.objects.for_municipality(municipality).filter(round=allocation_round)
                  .select_related("facility", "registration").order_by("facility__name", "position")):
        lists.setdefault(entry.facility, []).append(entry)
    return lists


def offer_status_counts(*, municipality, allocation_round: AllocationRound) -> dict[str, int]:
    rows = (PlaceOffer.objects.for_municipality(municipality).filter(round=allocation_round)
            .values("status").annotate(n=Count("id")))
    return {row["status"]: row["n"] for row in rows}


def prepared_round(*, municipality) -> AllocationRound | None:
    return AllocationRound.objects.for_municipality(municipality).filter(status=RoundStatus.PREPARED).first()


# ---------------------------------------------------------------------------- holiday programme


def programme_list(*, municipality, public: bool = True):
    qs = HolidayProgramme.objects.for_municipality(municipality)
    return qs.exclude(status=ProgrammeStatus.CLOSED) if public else qs


def programme_get(*, municipality, pk: int) -> HolidayProgramme:
    return get_object_or_404(HolidayProgramme.objects.for_municipality(municipality), pk=pk)


def activities_published(*, municipality, programme: HolidayProgramme):
    return (HolidayActivity.objects.for_municipality(municipality)
            .filter(programme=programme, status=ModerationStatus.PUBLISHED)
            .select_related("provider")
            # distinct: two joins (places, wishes) would otherwise multiply each other's counts.
            .annotate(taken=Count("placements", filter=Q(placements__status=PlacementStatus.CONFIRMED), distinct=True),
                      wish_count=Count("wishes", distinct=True)))


def activities_for_staff(*, municipality, programme: HolidayProgramme):
    return (HolidayActivity.objects.for_municipality(municipality).filter(programme=programme)
            .select_related("provider")
            .annotate(taken=Count("placements", filter=Q(placements__status=PlacementStatus.CONFIRMED), distinct=True),
                      waiting=Count("waitlist", distinct=True)))


def activity_get(*, municipality, pk: int) -> HolidayActivity:
    return get_object_or_404(HolidayActivity.objects.for_municipality(municipality).select_related("programme", "provider"),
                             pk=pk)


def activities_for_provider(*, municipality, provider: Provider):
    return (HolidayActivity.objects.for_municipality(municipality).filter(provider=provider)
            .select_related("programme", "provider")  # the download names the provider
            # distinct: the two joins (places, waiting list) would otherwise multiply each other's counts.
            .annotate(taken=Count("placements", filter=Q(placements__status=PlacementStatus.CONFIRMED), distinct=True),
                      waiting=Count("waitlist", distinct=True))
            .order_by("-programme__starts_on", "start_date"))


def activity_participants(*, municipality, activity: HolidayActivity):
    return (HolidayPlacement.objects.for_municipality(municipality)
            .filter(activity=activity, status=PlacementStatus.CONFIRMED)
            .select_related("registration__parent").order_by("registration__child_last_name", "registration__child_first_name"))


def holiday_registrations_for_parent(*, municipality, user, programme: HolidayProgramme | None = None):
    qs = (HolidayRegistration.objects.for_municipality(municipality).filter(parent=user)
          .select_related("programme").prefetch_related("wishes__activity"))
    return qs.filter(programme=programme) if programme is not None else qs


def holiday_registration_for_parent(*, municipality, user, pk: int) -> HolidayRegistration:
    qs = holiday_registrations_for_parent(municipality=municipality, user=user).prefetch_related(
        Prefetch("placements", queryset=HolidayPlacement.objects.select_related("activity").order_by("id")),
        "waitlist_entries__activity")
    return get_object_or_404(qs, pk=pk)


def placement_for_parent(*, municipality, user, pk: int) -> HolidayPlacement:
    return get_object_or_404(HolidayPlacement.objects.for_municipality(municipality).select_related("registration", "activity"),
                             pk=pk, registration__parent=user)


def placement_get(*, municipality, pk: int) -> HolidayPlacement:
    return get_object_or_404(HolidayPlacement.objects.for_municipality(municipality).select_related("registration", "activity"),
                             pk=pk)


def programme_registrations(*, municipality, programme: HolidayProgramme):
    return (HolidayRegistration.objects.for_municipality(municipality).filter(programme=programme)
            .select_related("parent").prefetch_related("wishes__activity", "placements__activity",
                                                       "waitlist_entries__activity"))


# Registrations an erasure request removes at once; the others are still part of an allocation.
DAYCARE_NO_LONGER_NEEDED = Q(status=RegistrationStatus.WITHDRAWN)


def holiday_programme_over(before) -> Q:
    """Holiday registrations whose programme, every activity included, ended before the day `before`."""
    later = HolidayActivity.objects.filter(programme=OuterRef("programme"), end_date__gte=before)
    return Q(programme__ends_on__lt=before) & ~Exists(later)


def holiday_no_longer_needed(today) -> Q:
    return Q(status=RegistrationStatus.WITHDRAWN) | holiday_programme_over(today)


def family_registrations(*, municipality, parent, today) -> tuple[QuerySet, QuerySet]:
    """A family's daycare and holiday registrations in the town's exchanges, each with `erasable`:
    whether an erasure request would anonymise it now (`DAYCARE_NO_LONGER_NEEDED`,
    `holiday_no_longer_needed`), read with the row."""
    daycare = ChildRegistration.objects.for_municipality(municipality).filter(parent=parent).annotate(
        erasable=ExpressionWrapper(DAYCARE_NO_LONGER_NEEDED, output_field=BooleanField()))
    holiday = HolidayRegistration.objects.for_municipality(municipality).filter(parent=parent).select_related(
        "programme").annotate(erasable=ExpressionWrapper(holiday_no_longer_needed(today), output_field=BooleanField()))
    return daycare, holiday


def moderation_counts(*, municipality) -> dict[str, int]:
    return {
        "providers": Provider.objects.for_municipality(municipality).filter(status=ProviderStatus.REQUESTED).count(),
        "offers": Offer.objects.for_municipality(municipality).filter(status=ModerationStatus.SUBMITTED).count(),
        "activities": HolidayActivity.objects.for_municipality(municipality).filter(status=ModerationStatus.SUBMITTED).count(),
    }
