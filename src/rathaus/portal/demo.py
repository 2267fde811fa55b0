"""Demo data: two municipalities, staff with 2FA, citizens and realistic services."""

from __future__ import annotations

import binascii
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from rathaus.accounts.models import Membership, Role, User
from rathaus.catalog import demo_forms
from rathaus.catalog.services import form_definition_create, service_import_fim, service_upsert
from rathaus.tenants.models import Municipality
from rathaus.tenants.services import municipality_create, municipality_update

DEMO_PASSWORD = "Rathaus-Demo-2026"  # noqa: S105 - the published demo password (README)
# Published on purpose: the README tells demo users to add this key to an authenticator app
# (or run `rathaus demo-otp`). Never used outside the demo.
DEMO_TOTP_KEY = "3132333435363738393031323334353637383930"
FIM_DIR = Path(__file__).resolve().parent.parent / "catalog" / "demo_data"

# The bank details are the well-known test IBANs (valid check digits, no real account behind them);
# Beispielhausen prints no BIC, as SEPA transfers within the EU need none. The two towns show both
# kinds of remedy instruction: an action at a (made-up) administrative court, as in Länder that
# abolished the objection procedure, and an objection at the town. Musterstadt's dog tax letters show
# the third: the choice of both, as Bavaria keeps the objection optional against communal levies
# (Art. 12 (1) AGVwGO).
TOWNS = [
    {"slug": "musterstadt", "name": "Musterstadt", "ags": "09999001", "reference_prefix": "MUS",
     "contact_email": "buergerbuero@musterstadt.example", "contact_phone": "09999 123-0",
     "address": "Rathausplatz 1, 99999 Musterstadt",
     "payee_name": "Stadtkasse Musterstadt", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX",
     "remedy": "action", "court_name": "Verwaltungsgericht Musterburg", "court_address": "Justizplatz 2, 99990 Musterburg",
     "remedy_note": "Kraft Bundesrechts wird in Prozessverfahren vor den Verwaltungsgerichten infolge der "
                    "Klageerhebung eine Verfahrensgebühr fällig."},
    {"slug": "beispielhausen", "name": "Beispielhausen", "ags": "09999002", "reference_prefix": "BSP",
     "contact_email": "rathaus@beispielhausen.example", "contact_phone": "09998 456-0",
     "address": "Marktstraße 3, 99998 Beispielhausen",
     "payee_name": "Gemeindekasse Beispielhausen", "iban": "DE12500105170648489890", "bic": "",
     "remedy": "objection"},
]

DOG_TAX_REMEDY = {"musterstadt": "choice"}

STAFF = [
    ("musterstadt", "sachbearbeitung@musterstadt.example", "Sabine", "Sachbearbeiterin", Role.CASE_WORKER),
    ("musterstadt", "leitung@musterstadt.example", "Lars", "Leiter", Role.TEAM_LEAD),
    ("musterstadt", "admin@musterstadt.example", "Anja", "Admin", Role.TENANT_ADMIN),
    ("beispielhausen", "sachbearbeitung@beispielhausen.example", "Bernd", "Bearbeiter", Role.CASE_WORKER),
]

CITIZEN = ("buergerin@example.org", "Berta", "Bürgerin")


def _user(email: str, first: str, last: str) -> User:
    user, created = User.objects.get_or_create(username=email, defaults={"email": email, "first_name": first, "last_name": last,
                                                                         "email_verified": True})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def _services(town: Municipality) -> None:
    office = f"Bürgerbüro {town.name}"
    contact = f"{town.contact_email} · {town.contact_phone}"
    dog = form_definition_create(municipality=town, key="hund-anmelden", title="Hund anmelden", schema=demo_forms.dog_registration())
    service_upsert(
        municipality=town, slug="hund-anmelden", form=dog, leika_key="99108002001000", name="Hund anmelden (Hundesteuer)",
        summary="Wenn Sie einen Hund halten, melden Sie ihn innerhalb von zwei Wochen zur Hundesteuer an.",
        description="Hundehalterinnen und Hundehalter müssen ihren Hund bei der Gemeinde anmelden. Sie erhalten danach "
                    "einen Steuerbescheid und eine Hundesteuermarke. Blindenführhunde, Assistenzhunde und geprüfte "
                    "Rettungshunde sind von der Steuer befreit.",
        legal_basis="Hundesteuersatzung der Gemeinde; Art. 3 Kommunalabgabengesetz", fee=Decimal("0"),
        fee_note="Die Anmeldung ist gebührenfrei; die Hundesteuer beträgt 90 € im Jahr (jeder weitere Hund 120 €), ab dem "
                 "Monat nach der Aufnahme des Hundes, im ersten Jahr anteilig.",
        processing_days=5, office=office, office_contact=contact, retention_days=365 * 3,
        required_documents=["Chipnummer des Hundes", "bei Ermäßigung: Nachweis (z. B. Ausweis mit Merkzeichen Bl)"],
        life_situations=[("tiere", "Tiere", "Animals")], remedy=DOG_TAX_REMEDY.get(town.slug, ""),
    )
    parking = form_definition_create(municipality=town, key="bewohnerparken", title="Bewohnerparkausweis", schema=demo_forms.parking_permit())
    service_upsert(
        municipality=town, slug="bewohnerparkausweis", form=parking, leika_key="99050012104000",
        name="Bewohnerparkausweis beantragen",
        summary="Wenn Sie in einer Bewohnerparkzone wohnen, dürfen Sie mit dem Ausweis dort parken.",
        description="Der Bewohnerparkausweis gilt ein Jahr für ein Fahrzeug, das auf Sie zugelassen ist oder das Sie "
                    "dauerhaft nutzen (Firmenwagen, Leasing).",
        legal_basis="§ 45 Abs. 1b Nr. 2a StVO", fee=Decimal("30.00"), fee_note="für ein Jahr", processing_days=10,
        office=f"Straßenverkehrsbehörde {town.name}", office_contact=contact, retention_days=365 * 2,
        required_documents=["Zulassungsbescheinigung Teil I", "bei fremdem Fahrzeug: Nutzungsnachweis"],
        life_situations=[("mobilitaet", "Mobilität und Verkehr", "Mobility and transport"), ("umzug", "Umzug", "Moving house")],
    )
    street = form_definition_create(municipality=town, key="halteverbot-umzug", title="Halteverbot für einen Umzug", schema=demo_forms.street_space())
    service_upsert(
        municipality=town, slug="halteverbot-umzug", form=street, leika_key="99050016007000",
        name="Halteverbot für einen Umzug (Straßenraum nutzen)",
        summary="Für Ihren Umzugswagen sperren wir Parkplätze vor Ihrem Haus mit Halteverbotsschildern.",
        description="Beantragen Sie das Halteverbot mindestens 14 Tage vor dem Umzug. Die Schilder müssen 72 Stunden "
                    "vorher stehen.",
        legal_basis="§ 29 Abs. 3, § 46 StVO; Sondernutzungssatzung", fee=Decimal("45.00"),
        fee_note="zuzüglich Kosten für die Beschilderung", processing_days=10,
        office=f"Ordnungsamt {town.name}", office_contact=contact, retention_days=365,
        required_documents=["Datum und Ort des Umzugs"],
        life_situations=[("umzug", "Umzug", "Moving house"), ("mobilitaet", "Mobilität und Verkehr", "Mobility and transport")],
    )
    service_import_fim(municipality=town, xml=(FIM_DIR / "S00000036_waffenbesitzkarte_xdf1.xml").read_bytes(),
                       leika_key="99089013000000", office=f"Waffenbehörde {town.name}", slug="waffenbesitzkarte")
    service_import_fim(municipality=town, xml=(FIM_DIR / "S00000121_blaue_karte_eu_xdf2.xml").read_bytes(),
                       leika_key="99010003001000", office=f"Ausländerbehörde {town.name}", slug="blaue-karte-eu")


def _citizen_profile(user: User) -> None:
    """The demo citizen has filled in "Meine Daten", so her next form starts prefilled (once-only)."""
    from rathaus.accounts.models import Profile
    from rathaus.accounts.services import profile_update

    if not Profile.objects.filter(user=user).exclude(street="").exists():
        profile_update(user=user, first_name=user.first_name, last_name=user.last_name, birth_date=date(1985, 4, 12),
                       street="Lindenweg", house_number="7", postal_code="99999", city="Musterstadt", phone="09999 4711")


def _office_subscribers(towns: dict) -> None:
    """Each demo town tells its Ordnungsamt of new applications and decisions by e-mail (delivery log on every case)."""
    from rathaus.integration.models import EventKind, Subscription, SubscriptionKind
    from rathaus.integration.services import subscription_create

    for town in towns.values():
        if not Subscription.objects.for_municipality(town).exists():
            subscription_create(municipality=town, kind=SubscriptionKind.EMAIL, name=f"Ordnungsamt {town.name}",
                                email=f"ordnungsamt@{town.slug}.example",
                                event_kinds=[EventKind.APPLICATION_SUBMITTED, EventKind.DECISION_ISSUED])


def seed_demo(*, with_exchanges: bool = True) -> dict[str, int]:
    """Create or refresh the demo; safe to run again."""
    with transaction.atomic():
        towns = {}
        for data in TOWNS:
            town = Municipality.objects.filter(slug=data["slug"]).first()
            town = (municipality_update(municipality=town, actor_label="seed-demo", **data) if town is not None
                    else municipality_create(actor_label="seed-demo", **data))
            towns[town.slug] = town
            _services(town)
            from rathaus.processes.demo import attach_demo_processes

            attach_demo_processes(town)
        for slug, email, first, last, role in STAFF:
            user = _user(email, first, last)
            Membership.objects.update_or_create(user=user, municipality=towns[slug], defaults={"role": role})
            if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                TOTPDevice.objects.create(user=user, name="Demo", key=DEMO_TOTP_KEY, confirmed=True)
        _citizen_profile(_user(*CITIZEN))
        _office_subscribers(towns)
    if with_exchanges:
        try:
            from rathaus.exchanges.demo import seed_demo_exchanges
        except ImportError:  # pragma: no cover - exchanges ships with Rathaus; kept optional for slim installs
            seed_demo_exchanges = None
        if seed_demo_exchanges is not None:
            centers = {"musterstadt": (49.79, 9.95), "beispielhausen": (49.87, 10.23)}
            for slug, town in towns.items():
                seed_demo_exchanges(town, center=centers[slug], password=DEMO_PASSWORD)
    return {"municipalities": len(towns), "staff": len(STAFF)}


def demo_totp_code() -> str:
    """The current code of the demo authenticator (what an app with DEMO_TOTP_KEY would show)."""
    from django_otp.oath import TOTP

    return f"{TOTP(binascii.unhexlify(DEMO_TOTP_KEY)).token():06d}"
