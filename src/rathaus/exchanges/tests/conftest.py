"""Shared fixtures: two municipalities, citizens, staff with a verified second factor, providers,
a small daycare landscape and a holiday programme."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from rathaus.accounts.models import Membership, Role, User
from rathaus.exchanges import services
from rathaus.exchanges.models import (
    Category,
    Criterion,
    Directory,
    District,
    ExchangeSettings,
    Facility,
    FacilityGroup,
    GroupCapacity,
    HolidayActivity,
    HolidayProgramme,
    ModerationStatus,
    Offer,
    OfferDate,
    OfferSlot,
    PriorityRule,
    Provider,
    ProviderMember,
    ProviderStatus,
)
from rathaus.tenants.models import Municipality


def next_month(months: int = 1) -> date:
    day = timezone.localdate().replace(day=1)
    for _i in range(months):
        day = (day + timedelta(days=32)).replace(day=1)
    return day


def birth_for(age_years: int, at: date) -> date:
    """A birth date that makes a child `age_years` old (and a few months) on `at`."""
    return date(at.year - age_years, 1, 15) if at.month > 2 else date(at.year - age_years - 1, 9, 15)


@pytest.fixture
def municipality(db):
    return Municipality.objects.create(name="Musterstadt", slug="musterstadt", ags="09463000", reference_prefix="MUS",
                                       contact_email="rathaus@musterstadt.example")


@pytest.fixture
def other_municipality(db):
    return Municipality.objects.create(name="Andersdorf", slug="andersdorf", ags="09463111", reference_prefix="AND",
                                       contact_email="rathaus@andersdorf.example")


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(email: str | None = None, **extra) -> User:
        counter["n"] += 1
        email = email or f"person{counter['n']}@example.org"
        user = User.objects.create_user(username=email, email=email, password="correct-horse-battery",
                                        first_name=extra.pop("first_name", "Erika"),
                                        last_name=extra.pop("last_name", f"Muster{counter['n']}"),
                                        email_verified=True, **extra)
        return user

    return make


@pytest.fixture
def citizen(make_user):
    return make_user("eltern@example.org", first_name="Eva", last_name="Eltern")


@pytest.fixture
def other_citizen(make_user):
    return make_user("nachbar@example.org", first_name="Nora", last_name="Nachbar")


def verified(user: User) -> User:
    """For service calls: what django_otp's middleware sets on a request user who passed 2FA."""
    user.is_verified = lambda: True
    return user


@pytest.fixture
def make_staff(make_user):
    def make(municipality, role: str = Role.TEAM_LEAD, email: str | None = None) -> User:
        user = make_user(email)
        Membership.objects.create(user=user, municipality=municipality, role=role)
        return verified(user)

    return make


@pytest.fixture
def team_lead(make_staff, municipality):
    return make_staff(municipality, Role.TEAM_LEAD, "leitung@musterstadt.example")


@pytest.fixture
def case_worker(make_staff, municipality):
    return make_staff(municipality, Role.CASE_WORKER, "sachbearbeitung@musterstadt.example")


@pytest.fixture
def staff_login():
    """Log a staff user in with a session whose second factor is verified."""

    def login(client, user: User):
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    return login


@pytest.fixture
def staff_client(client, staff_login, team_lead):
    return staff_login(client, team_lead)


@pytest.fixture
def citizen_client(client, citizen):
    client.force_login(citizen)
    return client


# ---------------------------------------------------------------------------- providers and offers


@pytest.fixture
def make_provider(db):
    def make(municipality, name: str, member: User | None = None, status: str = ProviderStatus.APPROVED) -> Provider:
        provider = Provider.objects.create(municipality=municipality, name=name, email=f"info@{name.lower().replace(' ', '')}.example",
                                           status=status)
        if member is not None:
            ProviderMember.objects.create(municipality=municipality, provider=provider, user=member)
        return provider

    return make


@pytest.fixture
def provider_user(make_user):
    return make_user("verein@example.org", first_name="Vera", last_name="Verein")


@pytest.fixture
def provider(make_provider, municipality, provider_user):
    return make_provider(municipality, "TSV Musterstadt", provider_user)


@pytest.fixture
def categories(municipality):
    return {
        "ball": Category.objects.create(municipality=municipality, directory=Directory.SPORT, name="Ballsport", slug="ballsport"),
        "water": Category.objects.create(municipality=municipality, directory=Directory.SPORT, name="Wassersport", slug="wassersport"),
        "meet": Category.objects.create(municipality=municipality, directory=Directory.FAMILY, name="Treffpunkte", slug="treffpunkte"),
    }


@pytest.fixture
def make_offer(municipality):
    def make(provider, title: str, *, status: str = ModerationStatus.PUBLISHED, directory: str = Directory.SPORT,
             slots=(), dates=(), **fields) -> Offer:
        offer = Offer.objects.create(municipality=municipality, provider=provider, directory=directory, title=title,
                                     description=fields.pop("description", f"Beschreibung von {title}"),
                                     place_name=fields.pop("place_name", "Sporthalle"), status=status, **fields)
        for weekday, start, end in slots:
            OfferSlot.objects.create(municipality=municipality, offer=offer, weekday=weekday, start_time=start, end_time=end)
        for starts_at in dates:
            OfferDate.objects.create(municipality=municipality, offer=offer, starts_at=starts_at)
        return offer

    return make


@pytest.fixture
def published_offers(make_offer, provider, categories):
    """Four offers covering the filters: category, age, weekday, cost, accessibility, location."""
    return {
        "football": make_offer(provider, "Fußball für Kinder", category=categories["ball"], min_age=6, max_age=10,
                               slots=[(1, time(17, 0), time(18, 30))], latitude=Decimal("50.258400"),
                               longitude=Decimal("10.964000"), step_free=True),
        "swim": make_offer(provider, "Schwimmkurs Seepferdchen", category=categories["water"], min_age=4, max_age=7,
                           fee=Decimal("45.00"), fee_note="für 10 Termine", slots=[(3, time(15, 0), time(16, 0))],
                           latitude=Decimal("50.261000"), longitude=Decimal("10.958000")),
        "seniors": make_offer(provider, "Volleyball 60 plus", category=categories["ball"], min_age=60,
                              fee=Decimal("5.00"), slots=[(1, time(10, 0), time(11, 30))], accessible_toilet=True),
        "draft": make_offer(provider, "Geheimes Training", status=ModerationStatus.DRAFT, category=categories["ball"]),
    }


# ---------------------------------------------------------------------------- daycare


@pytest.fixture
def start_month():
    return next_month(2)


@pytest.fixture
def daycare(municipality, start_month):
    """Three facilities with U3 groups; Sonnenschein has one place, the others two each."""
    north = District.objects.create(municipality=municipality, name="Nord", latitude=Decimal("50.270000"),
                                    longitude=Decimal("10.960000"))
    south = District.objects.create(municipality=municipality, name="Süd", latitude=Decimal("50.240000"),
                                    longitude=Decimal("10.970000"))
    facilities = {}
    for code, name, places, lat, district in (("sonne", "Kita Sonnenschein", 1, "50.271000", north),
                                              ("regen", "Kita Regenbogen", 2, "50.241000", south),
                                              ("wald", "Waldkindergarten", 2, "50.255000", None)):
        facility = Facility.objects.create(municipality=municipality, code=code, name=name, latitude=Decimal(lat),
                                           longitude=Decimal("10.965000"))
        if district:
            facility.catchment_districts.add(district)
        group = FacilityGroup.objects.create(municipality=municipality, facility=facility, kind="U3", name="Krippe",
                                             care_hours=[25, 35, 45])
        GroupCapacity.objects.create(municipality=municipality, group=group, start_month=start_month, places=places)
        facilities[code] = facility
    PriorityRule.objects.create(municipality=municipality, criterion=Criterion.SIBLING, points=4, position=0)
    PriorityRule.objects.create(municipality=municipality, criterion=Criterion.CATCHMENT, points=2, position=1)
    PriorityRule.objects.create(municipality=municipality, criterion=Criterion.DISTANCE, points=1, position=2, max_km=Decimal("1.0"))
    ExchangeSettings.objects.create(municipality=municipality, daycare_max_wishes=3, offer_response_days=14)
    return {"facilities": facilities, "districts": {"north": north, "south": south}}


@pytest.fixture
def register_child(municipality, start_month, daycare):
    def register(parent: User, first_name: str, wishes: list[str], **facts):
        data = {"child_first_name": first_name, "child_last_name": "Kind", "birth_date": birth_for(1, start_month),
                "desired_start": start_month, "care_hours": 35, "district": facts.pop("district", None),
                "sibling_facility": facts.pop("sibling_facility", None), "single_parent": False,
                "parents_working": False, "special_needs": False, **facts}
        return services.registration_create(municipality=municipality, parent=parent, data=data,
                                            wishes=[daycare["facilities"][code] for code in wishes])

    return register


# ---------------------------------------------------------------------------- holiday programme


@pytest.fixture
def programme(municipality):
    start = timezone.localdate() + timedelta(days=40)
    return HolidayProgramme.objects.create(municipality=municipality, name="Sommerferien", starts_on=start,
                                           ends_on=start + timedelta(days=30),
                                           registration_until=timezone.localdate() + timedelta(days=10),
                                           max_wishes=4, max_activities_limit=2)


@pytest.fixture
def activities(municipality, programme, provider):
    def make(title, day_offset, capacity, min_age=6, max_age=12):
        day = programme.starts_on + timedelta(days=day_offset)
        return HolidayActivity.objects.create(municipality=municipality, programme=programme, provider=provider,
                                              title=title, description=title, start_date=day, end_date=day,
                                              start_time=time(9, 0), end_time=time(15, 0), capacity=capacity,
                                              min_age=min_age, max_age=max_age, place_name="Vereinsheim",
                                              status=ModerationStatus.PUBLISHED)

    return {"kanu": make("Kanutour", 1, 1), "zirkus": make("Zirkusworkshop", 2, 2), "wald": make("Waldtag", 3, 5)}


@pytest.fixture
def register_holiday(programme):
    def register(parent: User, first_name: str, wishes, max_activities: int = 1, age: int = 8):
        data = {"child_first_name": first_name, "child_last_name": "Ferienkind",
                "birth_date": birth_for(age, programme.starts_on), "max_activities": max_activities,
                "emergency_phone": "0151 234567", "notes": ""}
        return services.holiday_registration_create(programme=programme, parent=parent, data=data, wishes=list(wishes))

    return register


def close_registration(programme) -> None:
    """Let the registration deadline pass (the draw can only be prepared afterwards)."""
    HolidayProgramme.objects.filter(pk=programme.pk).update(registration_until=timezone.localdate() - timedelta(days=1))
    programme.refresh_from_db()


@pytest.fixture
def draw_holiday():
    """Close registration, record the seed, then draw: the published order of the lottery."""

    def draw(programme, actor):
        close_registration(programme)
        services.holiday_draw_prepare(programme=programme, actor=actor)
        return services.holiday_programme_allocate(programme=programme, actor=actor)

    return draw
