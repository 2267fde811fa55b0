"""Demo data for the exchanges: directories, three daycare facilities, a holiday programme.

`seed_demo_exchanges(municipality)` is idempotent: every row is found by a natural key first, so
running it again changes nothing. Dates are relative to today so the demo never goes stale.
"""

from __future__ import annotations

import functools
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from .models import (
    Category,
    ChildRegistration,
    Criterion,
    DaycareWish,
    Directory,
    District,
    ExchangeSettings,
    Facility,
    FacilityGroup,
    GroupCapacity,
    GroupKind,
    HolidayActivity,
    HolidayProgramme,
    HolidayRegistration,
    HolidayWish,
    ModerationStatus,
    Offer,
    OfferDate,
    OfferSlot,
    PriorityRule,
    ProgrammeStatus,
    Provider,
    ProviderMember,
    ProviderStatus,
)
from .services import group_kind_for

# Coburg's market square: a plausible small-town centre for the map.
DEFAULT_CENTER = (50.2584, 10.9646)

FIRST_NAMES = ["Emma", "Ben", "Mia", "Paul", "Hannah", "Leon", "Lina", "Finn", "Sophia", "Elias", "Marie", "Noah",
               "Lea", "Jonas", "Clara", "Felix", "Ida", "Luis", "Frieda", "Anton", "Mila", "Emil", "Ella", "Theo",
               "Lotta", "Henry", "Ava", "Oskar", "Greta", "Karl", "Nele", "Moritz", "Romy", "Jakob", "Pia", "Lukas",
               "Johanna", "David", "Amelie", "Samuel"]
LAST_NAMES = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
              "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krüger"]


def _at(center: tuple[float, float], north_m: float, east_m: float) -> tuple[Decimal, Decimal]:
    lat = center[0] + north_m / 111_320
    lon = center[1] + east_m / (111_320 * 0.64)  # cos(50°) ≈ 0.64
    return Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}")


@functools.lru_cache(maxsize=4)
def _hashed(password: str) -> str:
    # Argon2 is slow by design; seventy demo families share one hash instead of seventy.
    return make_password(password)


def _user(email: str, first: str, last: str, password: str | None):
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        email=email, defaults={"username": email, "first_name": first, "last_name": last, "email_verified": True})
    if created:
        if password:
            user.password = _hashed(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


def _month(months_ahead: int) -> date:
    day = timezone.localdate().replace(day=1)
    for _i in range(months_ahead):
        day = (day + timedelta(days=32)).replace(day=1)
    return day


def _next_august() -> date:
    today = timezone.localdate()
    year = today.year if today.month < 7 else today.year + 1
    return date(year, 8, 1)


@transaction.atomic
def seed_demo_exchanges(municipality, *, center: tuple[float, float] = DEFAULT_CENTER,
                        password: str | None = None) -> dict[str, int]:
    """Create demo providers, offers, facilities, registrations and a holiday programme.

    Demo accounts get `password` if given, otherwise an unusable one. Returns row counts.
    """
    rng = random.Random(f"rathaus-demo-{municipality.slug}")
    domain = f"{municipality.slug}.example"
    providers = _providers(municipality, domain, password)
    _directory(municipality, center, providers)
    facilities = _daycare(municipality, center)
    registrations = _daycare_registrations(municipality, facilities, rng, domain, password)
    programme, holiday = _holiday(municipality, center, providers, rng, domain, password)
    # A second programme whose registration closed yesterday, so staff can prepare and run a draw.
    _holiday(municipality, center, providers, rng, domain, password, season="Herbst", starts_in=21, closes_in=-1,
             prefix="herbst")
    return {
        "providers": len(providers),
        "offers": Offer.objects.for_municipality(municipality).count(),
        "facilities": len(facilities),
        "daycare_registrations": registrations,
        "holiday_activities": programme.activities.count(),
        "holiday_registrations": holiday,
    }


def _providers(municipality, domain: str, password: str | None) -> dict[str, Provider]:
    specs = {
        "tsv": ("TSV 1860 Musterstadt e. V.", "Breitensportverein mit Fußball, Turnen und Schwimmen."),
        "famz": ("Familienzentrum Regenbogen", "Treffpunkt, Beratung und Kurse für Familien."),
        "natur": ("Naturschutzjugend Ortsgruppe", "Draußen unterwegs: Natur entdecken und schützen."),
        "musik": ("Städtische Musikschule", "Instrumentalunterricht und Ensembles für alle Altersgruppen."),
    }
    out = {}
    for key, (name, description) in specs.items():
        provider, _created = Provider.objects.get_or_create(
            municipality=municipality, name=name,
            defaults={"description": description, "email": f"{key}@{domain}", "status": ProviderStatus.APPROVED,
                      "approved_at": timezone.now()})
        member = _user(f"anbieter-{key}@{domain}", "Demo", name.split()[0], password)
        ProviderMember.objects.get_or_create(municipality=municipality, provider=provider, user=member)
        out[key] = provider
    return out


def _directory(municipality, center, providers) -> None:
    categories = {}
    for directory, slug, name in ((Directory.SPORT, "ballsport", "Ballsport"), (Directory.SPORT, "wassersport", "Wassersport"),
                                  (Directory.SPORT, "fitness", "Fitness und Gesundheit"),
                                  (Directory.FAMILY, "treffpunkte", "Treffpunkte"), (Directory.FAMILY, "beratung", "Beratung"),
                                  (Directory.FAMILY, "kurse", "Kurse für Eltern und Kinder")):
        categories[slug], _created = Category.objects.get_or_create(
            municipality=municipality, directory=directory, slug=slug, defaults={"name": name})
    soon = timezone.localdate() + timedelta(days=12)
    offers = [
        # (provider, directory, category, title, description, ages, fee, slots, single dates, place, offset m, a11y)
        ("tsv", Directory.SPORT, "ballsport", "Fußball für Bambini", "Erste Schritte mit dem Ball, spielerisch und ohne Druck.",
         (4, 6), "0", [(1, time(16, 0), time(17, 0))], [], "Sportplatz am Hofgarten", (400, -300), {"step_free": True}),
        ("tsv", Directory.SPORT, "ballsport", "Volleyball Mixed", "Freizeitvolleyball für Erwachsene, Anfänger willkommen.",
         (18, None), "5.00", [(3, time(19, 30), time(21, 30))], [], "Turnhalle Ernestinum", (-350, 250),
         {"step_free": True, "accessible_toilet": True}),
        ("tsv", Directory.SPORT, "wassersport", "Schwimmkurs Seepferdchen", "Zehn Termine, am Ende das Abzeichen.",
         (5, 8), "60.00", [(2, time(15, 0), time(15, 45))], [], "Hallenbad Aquaria", (900, 1200), {"step_free": True}),
        ("tsv", Directory.SPORT, "fitness", "Rehasport nach Verordnung", "Gelenkschonendes Training in kleinen Gruppen.",
         (18, None), "0", [(0, time(10, 0), time(11, 0)), (4, time(10, 0), time(11, 0))], [], "Vereinsheim TSV",
         (-800, -600), {"step_free": True, "accessible_toilet": True, "inclusive": True}),
        ("musik", Directory.SPORT, "fitness", "Tanzen ab 60", "Kreistänze und Line Dance in geselliger Runde.",
         (60, None), "3.00", [(2, time(14, 0), time(15, 30))], [], "Musikschule, Saal 1", (150, 100),
         {"step_free": True, "hearing_support": True}),
        ("famz", Directory.FAMILY, "treffpunkte", "Krabbelgruppe", "Offener Treff für Eltern mit Babys bis 18 Monate.",
         (0, 1), "0", [(1, time(9, 30), time(11, 0))], [], "Familienzentrum Regenbogen", (-200, 600),
         {"step_free": True, "accessible_toilet": True, "easy_language": True}),
        ("famz", Directory.FAMILY, "beratung", "Erziehungsberatung", "Vertrauliche Beratung, kostenlos, auf Wunsch anonym.",
         (None, None), "0", [(3, time(14, 0), time(17, 0))], [], "Familienzentrum Regenbogen", (-200, 600),
         {"step_free": True, "easy_language": True}),
        ("famz", Directory.FAMILY, "kurse", "Erste Hilfe am Kind", "Kurs für Eltern, Großeltern und Babysitter.",
         (None, None), "25.00", [], [soon, soon + timedelta(days=28)], "Familienzentrum Regenbogen", (-200, 600), {}),
        ("natur", Directory.FAMILY, "kurse", "Kräuterwanderung für Familien", "Essbare Wildkräuter finden und zubereiten.",
         (5, None), "0", [], [soon + timedelta(days=5)], "Treffpunkt Parkplatz Callenberg", (2500, -1800), {}),
    ]
    for key, directory, category, title, description, ages, fee, slots, dates, place, offset, flags in offers:
        lat, lon = _at(center, *offset)
        offer, created = Offer.objects.get_or_create(
            municipality=municipality, provider=providers[key], title=title,
            defaults={"directory": directory, "category": categories[category], "description": description,
                      "min_age": ages[0], "max_age": ages[1], "fee": Decimal(fee), "place_name": place,
                      "city": municipality.name, "latitude": lat, "longitude": lon,
                      "contact_email": providers[key].email, "status": ModerationStatus.PUBLISHED,
                      "published_at": timezone.now(), **flags})
        if created:
            for weekday, start, end in slots:
                OfferSlot.objects.create(municipality=municipality, offer=offer, weekday=weekday, start_time=start, end_time=end)
            for day in dates:
                starts = timezone.make_aware(datetime.combine(day, time(10, 0)))
                OfferDate.objects.create(municipality=municipality, offer=offer, starts_at=starts,
                                         ends_at=starts + timedelta(hours=3))
    # One offer waiting for moderation, so the staff queue is not empty.
    Offer.objects.get_or_create(
        municipality=municipality, provider=providers["tsv"], title="Boule-Treff",
        defaults={"directory": Directory.SPORT, "category": categories["ballsport"], "place_name": "Schlossplatz",
                  "description": "Jeden Samstag, alle sind willkommen.", "status": ModerationStatus.SUBMITTED,
                  "submitted_at": timezone.now()})


def _daycare(municipality, center) -> list[Facility]:
    ExchangeSettings.objects.get_or_create(municipality=municipality, defaults={"daycare_max_wishes": 3})
    districts = {}
    for name, offset in (("Altstadt", (0, 0)), ("Nord", (2200, 300)), ("Süd", (-2000, -400)), ("Ost", (200, 2400))):
        lat, lon = _at(center, *offset)
        districts[name], _created = District.objects.get_or_create(
            municipality=municipality, name=name, defaults={"latitude": lat, "longitude": lon})
    august, soon = _next_august(), _month(2)
    specs = [
        ("kita-sonnenschein", "Kita Sonnenschein", "Evangelische Kirchengemeinde", (1900, 200), ["Nord", "Altstadt"],
         [(GroupKind.U3, "Krippe Mäuse", [25, 35, 45], 4), (GroupKind.UE3, "Kindergarten Bären", [25, 35, 45], 6)]),
        ("kita-regenbogen", "Kita Regenbogen", "Stadt", (-1700, -300), ["Süd"],
         [(GroupKind.U3, "Krippe Spatzen", [35, 45], 3), (GroupKind.UE3, "Kindergarten Füchse", [35, 45], 5),
          (GroupKind.HORT, "Hort Entdecker", [20, 25], 4)]),
        ("waldkindergarten", "Waldkindergarten Eichhörnchen", "Naturkinder e. V.", (500, 2600), ["Ost"],
         [(GroupKind.UE3, "Waldgruppe", [25, 30], 4)]),
    ]
    facilities = []
    for code, name, operator, offset, catchment, groups in specs:
        lat, lon = _at(center, *offset)
        facility, created = Facility.objects.get_or_create(
            municipality=municipality, code=code,
            defaults={"name": name, "operator": operator, "latitude": lat, "longitude": lon, "city": municipality.name})
        if created:
            facility.catchment_districts.set([districts[d] for d in catchment])
        for kind, group_name, hours, places in groups:
            group, _created = FacilityGroup.objects.get_or_create(
                municipality=municipality, facility=facility, name=group_name, defaults={"kind": kind, "care_hours": hours})
            GroupCapacity.objects.get_or_create(municipality=municipality, group=group, start_month=august,
                                                defaults={"places": places})
            GroupCapacity.objects.get_or_create(municipality=municipality, group=group, start_month=soon,
                                                defaults={"places": 1})
        facilities.append(facility)
    if not PriorityRule.objects.for_municipality(municipality).exists():
        for position, (criterion, points, km) in enumerate([
                (Criterion.SIBLING, 8, None), (Criterion.SPECIAL_NEEDS, 6, None), (Criterion.SINGLE_PARENT, 3, None),
                (Criterion.PARENTS_WORKING, 2, None), (Criterion.CATCHMENT, 2, None), (Criterion.DISTANCE, 1, "1.5")]):
            PriorityRule.objects.create(municipality=municipality, criterion=criterion, points=points, position=position,
                                        max_km=Decimal(km) if km else None)
    return facilities


def _daycare_registrations(municipality, facilities, rng: random.Random, domain: str, password: str | None) -> int:
    districts = list(District.objects.for_municipality(municipality))
    starts = [_next_august(), _month(2)]
    count = 0
    for index in range(30):
        parent = _user(f"eltern-{index + 1:02d}@{domain}", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), password)
        first_name = FIRST_NAMES[index % len(FIRST_NAMES)]
        start = starts[0] if index < 24 else starts[1]
        age = rng.choice([1, 1, 2, 3, 4, 4, 5, 6])
        birth = date(start.year - age, rng.randint(1, 12), rng.randint(1, 28))
        if birth >= start:
            birth = date(birth.year - 1, birth.month, birth.day)
        kind = group_kind_for(birth, start)
        eligible = [f for f in facilities if any(g.kind == kind for g in f.groups.all())]
        if not eligible:
            continue
        hours = sorted({h for f in eligible for g in f.groups.all() if g.kind == kind for h in g.care_hours})
        care_hours = rng.choice(hours)
        wishes = [f for f in eligible if any(g.kind == kind and care_hours in g.care_hours for g in f.groups.all())]
        rng.shuffle(wishes)
        registration, created = ChildRegistration.objects.get_or_create(
            municipality=municipality, parent=parent, child_first_name=first_name,
            defaults={"child_last_name": parent.last_name, "birth_date": birth, "desired_start": start,
                      "care_hours": care_hours, "group_kind": kind, "district": rng.choice(districts),
                      "sibling_facility": rng.choice(facilities) if rng.random() < 0.15 else None,
                      "single_parent": rng.random() < 0.2, "parents_working": rng.random() < 0.7,
                      "special_needs": rng.random() < 0.05})
        if created:
            for rank, facility in enumerate(wishes[:3], start=1):
                DaycareWish.objects.create(municipality=municipality, registration=registration, facility=facility, rank=rank)
        count += 1
    return count


def _holiday(municipality, center, providers, rng: random.Random, domain: str, password: str | None, *,
             season: str = "Sommer", starts_in: int = 60, closes_in: int = 30, prefix: str = "ferien"):
    today = timezone.localdate()
    starts = today + timedelta(days=starts_in)
    programme, _created = HolidayProgramme.objects.get_or_create(
        municipality=municipality, name=f"Ferienprogramm {season} {starts.year}",
        defaults={"description": f"Spiel, Sport und Natur in den {season}ferien – für Kinder von 6 bis 14 Jahren.",
                  "starts_on": starts, "ends_on": starts + timedelta(days=41),
                  "registration_until": today + timedelta(days=closes_in),
                  "max_wishes": 5, "max_activities_limit": 3, "status": ProgrammeStatus.OPEN})
    specs = [
        ("natur", "Bachforscher", "Kleintiere im Bach bestimmen.", 1, 1, 12, 6, 10, "0", (2400, -1500)),
        ("natur", "Nachtwanderung mit Fledermäusen", "Mit Detektor auf Fledermaus-Suche.", 3, 1, 15, 8, 14, "3.00", (2500, -1800)),
        ("tsv", "Fußballcamp", "Drei Tage Training mit Abschlussturnier.", 6, 3, 20, 7, 12, "25.00", (400, -300)),
        ("tsv", "Schwimmen und Spielen", "Spielenachmittag im Hallenbad.", 10, 1, 16, 6, 10, "2.00", (900, 1200)),
        ("musik", "Trommelworkshop", "Rhythmus für Einsteiger, Instrumente werden gestellt.", 13, 2, 10, 8, 14, "10.00", (150, 100)),
        ("musik", "Band für einen Tag", "Gemeinsam einen Song proben und aufnehmen.", 17, 1, 8, 10, 14, "5.00", (150, 100)),
        ("famz", "Kochen wie die Profis", "Einfache Gerichte, gemeinsam gekocht und gegessen.", 20, 1, 8, 9, 13, "6.00", (-200, 600)),
        ("famz", "Zirkustage", "Jonglieren, Balancieren, Akrobatik – mit Aufführung.", 24, 4, 18, 6, 12, "30.00", (-200, 600)),
    ]
    activities = []
    for key, title, description, offset_days, length, capacity, min_age, max_age, fee, offset in specs:
        lat, lon = _at(center, *offset)
        day = programme.starts_on + timedelta(days=offset_days)
        activity, _created = HolidayActivity.objects.get_or_create(
            municipality=municipality, programme=programme, title=title,
            defaults={"provider": providers[key], "description": description, "start_date": day,
                      "end_date": day + timedelta(days=length - 1), "start_time": time(9, 0), "end_time": time(15, 0),
                      "capacity": capacity, "min_age": min_age, "max_age": max_age, "fee": Decimal(fee),
                      "place_name": providers[key].name, "latitude": lat, "longitude": lon,
                      "status": ModerationStatus.PUBLISHED})
        activities.append(activity)
    count = 0
    for index in range(40):
        parent = _user(f"{prefix}-{index + 1:02d}@{domain}", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), password)
        first_name = FIRST_NAMES[(index * 7) % len(FIRST_NAMES)]
        age = rng.randint(6, 13)
        birth = date(programme.starts_on.year - age - 1, rng.randint(1, 12), rng.randint(1, 28))
        registration, created = HolidayRegistration.objects.get_or_create(
            municipality=municipality, programme=programme, parent=parent, child_first_name=first_name,
            defaults={"child_last_name": parent.last_name, "birth_date": birth, "max_activities": rng.randint(1, 3),
                      "emergency_phone": f"0151 {rng.randint(1000000, 9999999)}"})
        if created:
            child_age = registration.age_on(programme.starts_on)
            fitting = [a for a in activities if a.min_age <= child_age <= a.max_age]
            # Popular activities first more often, so some fill up and waiting lists form.
            fitting.sort(key=lambda a: rng.random() * (0.5 if a.title in ("Fußballcamp", "Zirkustage") else 1.0))
            for rank, activity in enumerate(fitting[:4], start=1):
                HolidayWish.objects.create(municipality=municipality, registration=registration, activity=activity, rank=rank)
        count += 1
    return programme, count
