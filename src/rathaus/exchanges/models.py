"""Exchanges (Börsen): directories of local offers, the daycare exchange and the holiday programme.

Three parts share one app because they share providers (clubs, associations, daycare operators),
moderation and the idea of bringing offers and families together:

* Directories (Sportkompass, Familienkompass): providers publish offers after moderation.
* Daycare exchange (KiTa-Börse): parents register children with ranked wishes; staff run
  allocation rounds (deferred acceptance, `rathaus_domain.allocation.daycare`).
* Holiday programme (Ferienbörse): providers publish activities; a seeded lottery allocates them
  (`rathaus_domain.allocation.holiday`); cancellations move children up from waiting lists.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import TenantModel


class ModerationStatus(models.TextChoices):
    DRAFT = "draft", _("Entwurf")
    SUBMITTED = "submitted", _("zur Prüfung eingereicht")
    PUBLISHED = "published", _("veröffentlicht")
    REJECTED = "rejected", _("abgelehnt")


class Directory(models.TextChoices):
    """The public directories; the value is also the URL segment."""

    SPORT = "sportkompass", _("Sportkompass")
    FAMILY = "familienkompass", _("Familienkompass")


# Accessibility facts an offer or place can state; (field name, label) used by forms and filters.
ACCESSIBILITY_FLAGS: tuple[tuple[str, Any], ...] = (
    ("step_free", _("stufenlos erreichbar")),
    ("accessible_toilet", _("barrierefreies WC")),
    ("hearing_support", _("Hörhilfe (z. B. Induktionsschleife)")),
    ("easy_language", _("Informationen in Leichter Sprache")),
    ("inclusive", _("inklusives Angebot für Menschen mit und ohne Behinderung")),
)

WEEKDAYS = [
    (0, _("Montag")), (1, _("Dienstag")), (2, _("Mittwoch")), (3, _("Donnerstag")),
    (4, _("Freitag")), (5, _("Samstag")), (6, _("Sonntag")),
]


def coordinate_field(label: Any) -> models.DecimalField:
    return models.DecimalField(label, max_digits=9, decimal_places=6, null=True, blank=True)


# ---------------------------------------------------------------------------- providers


class ProviderStatus(models.TextChoices):
    REQUESTED = "requested", _("Zulassung beantragt")
    APPROVED = "approved", _("zugelassen")
    REJECTED = "rejected", _("abgelehnt")


class Provider(TenantModel):
    """An organisation (club, association, daycare operator) that publishes offers after approval."""

    name = models.CharField(_("Name der Organisation"), max_length=200)
    description = models.TextField(_("Kurzbeschreibung"), max_length=2000, blank=True)
    email = models.EmailField(_("E-Mail"))
    phone = models.CharField(_("Telefon"), max_length=40, blank=True)
    website = models.URLField(_("Webseite"), blank=True)
    address = models.CharField(_("Anschrift"), max_length=300, blank=True)
    status = models.CharField(_("Status"), max_length=12, choices=ProviderStatus.choices,
                              default=ProviderStatus.REQUESTED, db_index=True)
    rejection_reason = models.TextField(_("Begründung der Ablehnung"), max_length=2000, blank=True)
    approved_at = models.DateTimeField(_("zugelassen am"), null=True, blank=True)
    members: models.ManyToManyField = models.ManyToManyField(settings.AUTH_USER_MODEL, through="ProviderMember",
                                     related_name="exchange_providers", verbose_name=_("Mitglieder"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["municipality", "name"], name="provider_name_unique")]
        verbose_name = _("Anbieter")
        verbose_name_plural = _("Anbieter")

    def __str__(self) -> str:
        return self.name

    @property
    def is_approved(self) -> bool:
        return self.status == ProviderStatus.APPROVED


class ProviderMember(TenantModel):
    """A user account that may act for a provider."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "user"], name="provider_member_unique")]
        verbose_name = _("Mitglied eines Anbieters")
        verbose_name_plural = _("Mitglieder von Anbietern")

    def __str__(self) -> str:
        return f"{self.user} @ {self.provider}"


# ---------------------------------------------------------------------------- directories


class Category(TenantModel):
    directory = models.CharField(_("Verzeichnis"), max_length=20, choices=Directory.choices)
    name = models.CharField(_("Name"), max_length=100)
    slug = models.SlugField(_("Kürzel"), max_length=60)
    position = models.PositiveSmallIntegerField(_("Reihenfolge"), default=0)

    class Meta:
        ordering = ["directory", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["municipality", "directory", "slug"], name="category_slug_unique")]
        verbose_name = _("Kategorie")
        verbose_name_plural = _("Kategorien")

    def __str__(self) -> str:
        return self.name


class Offer(TenantModel):
    """An entry in a directory: a course, a club training, a family café, a counselling hour."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="offers", verbose_name=_("Anbieter"))
    directory = models.CharField(_("Verzeichnis"), max_length=20, choices=Directory.choices)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True, related_name="offers",
                                 verbose_name=_("Kategorie"))
    title = models.CharField(_("Titel"), max_length=200)
    description = models.TextField(_("Beschreibung"), max_length=5000)
    min_age = models.PositiveSmallIntegerField(_("Alter ab"), null=True, blank=True, validators=[MaxValueValidator(120)])
    max_age = models.PositiveSmallIntegerField(_("Alter bis"), null=True, blank=True, validators=[MaxValueValidator(120)])
    schedule_note = models.CharField(_("Hinweis zu den Terminen"), max_length=300, blank=True)
    valid_from = models.DateField(_("wöchentliche Termine ab"), null=True, blank=True)
    valid_until = models.DateField(_("wöchentliche Termine bis"), null=True, blank=True)
    place_name = models.CharField(_("Ort (Name)"), max_length=200)
    street = models.CharField(_("Straße und Hausnummer"), max_length=200, blank=True)
    postcode = models.CharField(_("Postleitzahl"), max_length=10, blank=True)
    city = models.CharField(_("Ort"), max_length=100, blank=True)
    latitude = coordinate_field(_("Breitengrad"))
    longitude = coordinate_field(_("Längengrad"))
    fee = models.DecimalField(_("Kosten in Euro"), max_digits=8, decimal_places=2, default=0,
                              validators=[MinValueValidator(0)])
    fee_note = models.CharField(_("Hinweis zu den Kosten"), max_length=200, blank=True)
    step_free = models.BooleanField(_("stufenlos erreichbar"), default=False)
    accessible_toilet = models.BooleanField(_("barrierefreies WC"), default=False)
    hearing_support = models.BooleanField(_("Hörhilfe"), default=False)
    easy_language = models.BooleanField(_("Leichte Sprache"), default=False)
    inclusive = models.BooleanField(_("inklusives Angebot"), default=False)
    contact_name = models.CharField(_("Ansprechperson"), max_length=200, blank=True)
    contact_email = models.EmailField(_("E-Mail"), blank=True)
    contact_phone = models.CharField(_("Telefon"), max_length=40, blank=True)
    website = models.URLField(_("Webseite"), blank=True)
    status = models.CharField(_("Status"), max_length=12, choices=ModerationStatus.choices,
                              default=ModerationStatus.DRAFT, db_index=True)
    rejection_reason = models.TextField(_("Begründung der Ablehnung"), max_length=2000, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["municipality", "directory", "status"])]
        verbose_name = _("Angebot")
        verbose_name_plural = _("Angebote")

    def __str__(self) -> str:
        return self.title

    @property
    def is_free(self) -> bool:
        return not self.fee

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def address_line(self) -> str:
        town = " ".join(p for p in (self.postcode, self.city) if p)
        return ", ".join(p for p in (self.street, town) if p)

    def accessibility_labels(self) -> list[str]:
        return [str(label) for name, label in ACCESSIBILITY_FLAGS if getattr(self, name)]

    def age_label(self) -> str:
        if self.min_age is not None and self.max_age is not None:
            return _("%(a)s bis %(b)s Jahre") % {"a": self.min_age, "b": self.max_age}
        if self.min_age is not None:
            return _("ab %(a)s Jahren") % {"a": self.min_age}
        if self.max_age is not None:
            return _("bis %(b)s Jahre") % {"b": self.max_age}
        return str(_("alle Altersgruppen"))


class OfferSlot(TenantModel):
    """A weekly recurring time (every Tuesday 17:00–18:30)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="slots")
    weekday = models.PositiveSmallIntegerField(_("Wochentag"), choices=WEEKDAYS)
    start_time = models.TimeField(_("von"))
    end_time = models.TimeField(_("bis"))

    class Meta:
        ordering = ["weekday", "start_time"]
        verbose_name = _("wöchentlicher Termin")
        verbose_name_plural = _("wöchentliche Termine")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class OfferDate(TenantModel):
    """A single dated event of an offer (a workshop, a tournament, an open day)."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="dates")
    starts_at = models.DateTimeField(_("Beginn"))
    ends_at = models.DateTimeField(_("Ende"), null=True, blank=True)
    note = models.CharField(_("Hinweis"), max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name = _("Einzeltermin")
        verbose_name_plural = _("Einzeltermine")

    def __str__(self) -> str:
        return f"{timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------------------- daycare exchange


class ExchangeSettings(TenantModel):
    """Per-municipality settings of the daycare exchange that staff change without code."""

    daycare_max_wishes = models.PositiveSmallIntegerField(
        _("Höchstzahl der Wünsche je Kind"), default=5, validators=[MaxValueValidator(20)],
        help_text=_("0 = so viele Wünsche, wie es Einrichtungen gibt (keine Begrenzung)."))
    offer_response_days = models.PositiveSmallIntegerField(
        _("Frist für die Antwort auf ein Platzangebot (Tage)"), default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["municipality"], name="exchange_settings_unique")]
        verbose_name = _("Einstellungen der Börsen")
        verbose_name_plural = _("Einstellungen der Börsen")

    def __str__(self) -> str:
        return f"{self.municipality_id}"


class District(TenantModel):
    """A part of the town (Ortsteil); its centre gives distances, facilities list it as catchment."""

    name = models.CharField(_("Name"), max_length=100)
    latitude = coordinate_field(_("Breitengrad (Mitte)"))
    longitude = coordinate_field(_("Längengrad (Mitte)"))

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["municipality", "name"], name="district_name_unique")]
        verbose_name = _("Ortsteil")
        verbose_name_plural = _("Ortsteile")

    def __str__(self) -> str:
        return self.name


class Facility(TenantModel):
    """A daycare facility (KiTa)."""

    code = models.SlugField(_("Kürzel"), max_length=40,
                            help_text=_("Kurz und eindeutig, z. B. „kita-sonnenschein“; erscheint in Exporten."))
    name = models.CharField(_("Name"), max_length=200)
    operator = models.CharField(_("Träger"), max_length=200, blank=True)
    description = models.TextField(_("Beschreibung"), max_length=3000, blank=True)
    street = models.CharField(_("Straße und Hausnummer"), max_length=200, blank=True)
    postcode = models.CharField(_("Postleitzahl"), max_length=10, blank=True)
    city = models.CharField(_("Ort"), max_length=100, blank=True)
    latitude = coordinate_field(_("Breitengrad"))
    longitude = coordinate_field(_("Längengrad"))
    email = models.EmailField(_("E-Mail"), blank=True)
    phone = models.CharField(_("Telefon"), max_length=40, blank=True)
    catchment_districts = models.ManyToManyField(District, blank=True, related_name="facilities",
                                                 verbose_name=_("Einzugsgebiet (Ortsteile)"))
    is_active = models.BooleanField(_("nimmt an der Vergabe teil"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["municipality", "code"], name="facility_code_unique")]
        verbose_name = _("Kindertageseinrichtung")
        verbose_name_plural = _("Kindertageseinrichtungen")

    def __str__(self) -> str:
        return self.name

    @property
    def address_line(self) -> str:
        town = " ".join(p for p in (self.postcode, self.city) if p)
        return ", ".join(p for p in (self.street, town) if p)


class GroupKind(models.TextChoices):
    """Kinds of groups; the values are the group names the allocation core works with."""

    U3 = "U3", _("unter 3 Jahren (Krippe)")
    UE3 = "Ü3", _("3 Jahre bis Schuleintritt (Kindergarten)")
    HORT = "Hort", _("Schulkinder (Hort)")


class FacilityGroup(TenantModel):
    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="groups")
    kind = models.CharField(_("Art der Gruppe"), max_length=4, choices=GroupKind.choices)
    name = models.CharField(_("Name der Gruppe"), max_length=100)
    care_hours = models.JSONField(_("Betreuungszeiten (Wochenstunden)"), default=list,
                                  help_text=_("Wählbare Wochenstunden, z. B. 25, 35, 45."))

    class Meta:
        ordering = ["facility", "kind", "name"]
        verbose_name = _("Gruppe")
        verbose_name_plural = _("Gruppen")

    def __str__(self) -> str:
        return f"{self.facility} – {self.name} ({self.kind})"


class GroupCapacity(TenantModel):
    """Free places of a group for children starting in one month."""

    group = models.ForeignKey(FacilityGroup, on_delete=models.CASCADE, related_name="capacities")
    start_month = models.DateField(_("Aufnahmemonat"), help_text=_("Immer der Erste des Monats."))
    places = models.PositiveIntegerField(_("freie Plätze"))

    class Meta:
        ordering = ["start_month"]
        constraints = [models.UniqueConstraint(fields=["group", "start_month"], name="group_capacity_unique")]
        verbose_name = _("Platzkontingent")
        verbose_name_plural = _("Platzkontingente")

    def __str__(self) -> str:
        return f"{self.group} {self.start_month:%Y-%m}: {self.places}"


class Criterion(models.TextChoices):
    SIBLING = "sibling", _("Geschwisterkind in der Einrichtung")
    SINGLE_PARENT = "single_parent", _("alleinerziehend")
    PARENTS_WORKING = "parents_working", _("Eltern berufstätig oder in Ausbildung")
    CATCHMENT = "catchment", _("Wohnort im Einzugsgebiet der Einrichtung")
    SPECIAL_NEEDS = "special_needs", _("besonderer Förderbedarf")
    DISTANCE = "distance", _("Entfernung zur Einrichtung (bis … km)")


class PriorityRule(TenantModel):
    """One criterion of the municipality's statute with the points it gives.

    A child's priority number at a facility is the sum of the points of the rules it meets there;
    of several distance bands only the best one counts.
    """

    criterion = models.CharField(_("Kriterium"), max_length=20, choices=Criterion.choices)
    points = models.PositiveSmallIntegerField(_("Punkte"), validators=[MaxValueValidator(10000)])
    position = models.PositiveSmallIntegerField(_("Reihenfolge"), default=0)
    max_km = models.DecimalField(_("bis Entfernung (km)"), max_digits=5, decimal_places=1, null=True, blank=True,
                                 validators=[MinValueValidator(0)])
    is_active = models.BooleanField(_("aktiv"), default=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("Vergaberegel")
        verbose_name_plural = _("Vergaberegeln")

    def __str__(self) -> str:
        label = self.get_criterion_display()
        if self.criterion == Criterion.DISTANCE and self.max_km is not None:
            label = _("Entfernung bis %(km)s km") % {"km": self.max_km}
        return f"{label}: {self.points}"


class RegistrationStatus(models.TextChoices):
    ACTIVE = "active", _("nimmt an der Vergabe teil")
    PLACED = "placed", _("Platz angenommen")
    WITHDRAWN = "withdrawn", _("zurückgezogen")


class ParentContact:
    """How lists, exports and PDFs name a registration's parent: empty once it is anonymised (no parent)."""

    @property
    def parent_email(self) -> str:
        return self.parent.email if self.parent_id else ""

    @property
    def parent_name(self) -> str:
        return self.parent.get_full_name() if self.parent_id else ""


class ChildRegistration(ParentContact, TenantModel):
    """A parent's application for a daycare place for one child, with the facts for priority."""

    # Empty once anonymised: statistics and exports then name no family (the audit trail keeps which
    # account registered and withdrew, see docs/exchanges.md).
    parent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="daycare_registrations")
    child_first_name = models.CharField(_("Vorname des Kindes"), max_length=100)
    child_last_name = models.CharField(_("Nachname des Kindes"), max_length=100)
    birth_date = models.DateField(_("Geburtsdatum des Kindes"))
    desired_start = models.DateField(_("gewünschter Beginn"), help_text=_("Immer der Erste des Monats."))
    care_hours = models.PositiveSmallIntegerField(_("Betreuungszeit (Wochenstunden)"))
    group_kind = models.CharField(_("Gruppe"), max_length=4, choices=GroupKind.choices)
    district = models.ForeignKey(District, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                 verbose_name=_("Ortsteil der Wohnung"))
    sibling_facility = models.ForeignKey(Facility, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                         verbose_name=_("Geschwisterkind besucht bereits"))
    single_parent = models.BooleanField(_("alleinerziehend"), default=False)
    parents_working = models.BooleanField(_("Eltern berufstätig oder in Ausbildung"), default=False)
    special_needs = models.BooleanField(_("besonderer Förderbedarf"), default=False)
    status = models.CharField(_("Status"), max_length=10, choices=RegistrationStatus.choices,
                              default=RegistrationStatus.ACTIVE, db_index=True)
    anonymised_at = models.DateTimeField(_("anonymisiert am"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["municipality", "status"])]
        verbose_name = _("Kita-Anmeldung")
        verbose_name_plural = _("Kita-Anmeldungen")

    def __str__(self) -> str:
        return f"{self.reference} {self.child_first_name} {self.child_last_name}"

    @property
    def reference(self) -> str:
        return f"KITA-{self.pk:06d}" if self.pk else "KITA-?"

    @property
    def child_name(self) -> str:
        return f"{self.child_first_name} {self.child_last_name}"


class DaycareWish(TenantModel):
    registration = models.ForeignKey(ChildRegistration, on_delete=models.CASCADE, related_name="wishes")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="wishes")
    rank = models.PositiveSmallIntegerField(_("Rang"))

    class Meta:
        ordering = ["registration", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["registration", "rank"], name="daycare_wish_rank_unique"),
            models.UniqueConstraint(fields=["registration", "facility"], name="daycare_wish_facility_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.registration_id} #{self.rank}: {self.facility_id}"


class RoundStatus(models.TextChoices):
    PREPARED = "prepared", _("vorbereitet")
    COMPLETED = "completed", _("durchgeführt – Angebote verschickt")
    DISCARDED = "discarded", _("verworfen, nicht durchgeführt")


class AllocationRound(TenantModel):
    """One run of the daycare allocation; a follow-up round continues from `previous`.

    `snapshot` is exactly the input the pure core received (the `allocate daycare` file format),
    `result` its output with waiting lists, cut-offs and lottery numbers, so every round can be
    re-run and checked from the stored seed.
    """

    number = models.PositiveIntegerField(_("Nummer"))
    previous = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="follow_ups",
                                 verbose_name=_("Nachrückrunde zu"))
    seed = models.BigIntegerField(_("Startwert der Verlosung"), validators=[MinValueValidator(0)])
    offer_deadline = models.DateField(_("Antwortfrist für Angebote"))
    status = models.CharField(_("Status"), max_length=10, choices=RoundStatus.choices, default=RoundStatus.PREPARED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    run_at = models.DateTimeField(_("durchgeführt am"), null=True, blank=True)
    run_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    snapshot = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    stats = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["municipality", "number"], name="round_number_unique")]
        verbose_name = _("Vergaberunde")
        verbose_name_plural = _("Vergaberunden")

    def __str__(self) -> str:
        return f"Runde {self.number}"

    @property
    def is_follow_up(self) -> bool:
        return self.previous_id is not None

    @property
    def is_completed(self) -> bool:
        return self.status == RoundStatus.COMPLETED


class AllocationOutcome(TenantModel):
    """What one child got in one round, with the explanation the family may read."""

    round = models.ForeignKey(AllocationRound, on_delete=models.CASCADE, related_name="outcomes")
    registration = models.ForeignKey(ChildRegistration, on_delete=models.CASCADE, related_name="outcomes")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lottery = models.FloatField(_("Losnummer"))
    # {facility code: [[criterion label, points], ...]} – the child's own points, for transparency.
    points = models.JSONField(default=dict)
    # [{rank, facility, outcome, places, child_priority, cutoff_priority, text_de, text_en}]
    explanations = models.JSONField(default=list)

    class Meta:
        ordering = ["round", "registration"]
        constraints = [models.UniqueConstraint(fields=["round", "registration"], name="outcome_unique")]

    def __str__(self) -> str:
        return f"{self.round} {self.registration_id}: {self.facility_id}"


class PlaceOfferStatus(models.TextChoices):
    OPEN = "open", _("offen – bitte antworten")
    ACCEPTED = "accepted", _("angenommen")
    DECLINED = "declined", _("abgelehnt")
    EXPIRED = "expired", _("Frist abgelaufen")
    SUPERSEDED = "superseded", _("ersetzt durch ein besseres Angebot")
    WITHDRAWN = "withdrawn", _("Anmeldung zurückgezogen")


LIVE_OFFER_STATUSES = (PlaceOfferStatus.OPEN, PlaceOfferStatus.ACCEPTED)


class PlaceOffer(TenantModel):
    """A place offered to a family; they accept or decline by the deadline."""

    round = models.ForeignKey(AllocationRound, on_delete=models.PROTECT, related_name="place_offers")
    registration = models.ForeignKey(ChildRegistration, on_delete=models.CASCADE, related_name="place_offers")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="place_offers")
    status = models.CharField(_("Status"), max_length=10, choices=PlaceOfferStatus.choices,
                              default=PlaceOfferStatus.OPEN, db_index=True)
    deadline = models.DateField(_("Antwort bis"))
    responded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A child holds at most one offer that is open or accepted.
            models.UniqueConstraint(fields=["registration"], condition=Q(status__in=["open", "accepted"]),
                                    name="one_live_place_offer"),
        ]
        verbose_name = _("Platzangebot")
        verbose_name_plural = _("Platzangebote")

    def __str__(self) -> str:
        return f"{self.registration_id} → {self.facility_id} ({self.status})"

    def is_answerable(self, today: date) -> bool:
        return self.status == PlaceOfferStatus.OPEN and today <= self.deadline


class WaitingListEntry(TenantModel):
    """A child's place on a facility's waiting list after a round (1 = next in line)."""

    round = models.ForeignKey(AllocationRound, on_delete=models.CASCADE, related_name="waiting_entries")
    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="waiting_entries")
    registration = models.ForeignKey(ChildRegistration, on_delete=models.CASCADE, related_name="waiting_entries")
    position = models.PositiveIntegerField(_("Position"))

    class Meta:
        ordering = ["round", "facility", "position"]
        constraints = [models.UniqueConstraint(fields=["round", "facility", "registration"], name="waiting_entry_unique")]


# ---------------------------------------------------------------------------- holiday programme


class ProgrammeStatus(models.TextChoices):
    OPEN = "open", _("Anmeldung offen")
    PREPARED = "prepared", _("Anmeldung geschlossen, Startwert festgehalten")
    ALLOCATED = "allocated", _("verlost")
    CLOSED = "closed", _("abgeschlossen")


class HolidayProgramme(TenantModel):
    name = models.CharField(_("Name"), max_length=200)
    description = models.TextField(_("Beschreibung"), max_length=3000, blank=True)
    starts_on = models.DateField(_("erster Ferientag"))
    ends_on = models.DateField(_("letzter Ferientag"))
    registration_until = models.DateField(_("Anmeldung bis"))
    max_wishes = models.PositiveSmallIntegerField(_("Höchstzahl der Wünsche je Kind"), default=6,
                                                  validators=[MinValueValidator(1), MaxValueValidator(20)])
    max_activities_limit = models.PositiveSmallIntegerField(_("höchstens Plätze je Kind"), default=3,
                                                            validators=[MinValueValidator(1), MaxValueValidator(20)])
    status = models.CharField(_("Status"), max_length=10, choices=ProgrammeStatus.choices, default=ProgrammeStatus.OPEN)
    seed = models.BigIntegerField(_("Startwert der Verlosung"), null=True, blank=True)
    # Random text published with the seed after the draw; before it, only the SHA-256 of
    # "seed:nonce" is shown, and the nonce keeps that from being guessed back (the seed has 31 bits).
    seed_nonce = models.CharField(_("Zusatz zum Startwert"), max_length=32, blank=True)
    seed_recorded_at = models.DateTimeField(_("Startwert festgehalten am"), null=True, blank=True)
    allocated_at = models.DateTimeField(_("verlost am"), null=True, blank=True)
    # Input and lottery positions of the draw: reproducible from the seed and needed for move-ups.
    snapshot = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("Ferienprogramm")
        verbose_name_plural = _("Ferienprogramme")

    def __str__(self) -> str:
        return self.name

    def accepts_registrations(self, today: date) -> bool:
        return self.status == ProgrammeStatus.OPEN and today <= self.registration_until

    @property
    def seed_commitment(self) -> str:
        """SHA-256 (hex) of "seed:nonce": shown from the moment the seed is recorded, so that
        anyone can check after the draw that it used exactly that seed. Empty before."""
        if self.seed is None or not self.seed_nonce:
            return ""
        return hashlib.sha256(f"{self.seed}:{self.seed_nonce}".encode()).hexdigest()


class HolidayActivity(TenantModel):
    programme = models.ForeignKey(HolidayProgramme, on_delete=models.PROTECT, related_name="activities")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="holiday_activities",
                                 verbose_name=_("Anbieter"))
    title = models.CharField(_("Titel"), max_length=200)
    description = models.TextField(_("Beschreibung"), max_length=3000)
    start_date = models.DateField(_("erster Tag"))
    end_date = models.DateField(_("letzter Tag"))
    start_time = models.TimeField(_("Beginn (Uhrzeit)"), null=True, blank=True)
    end_time = models.TimeField(_("Ende (Uhrzeit)"), null=True, blank=True)
    capacity = models.PositiveSmallIntegerField(_("Plätze"), validators=[MinValueValidator(1), MaxValueValidator(500)])
    min_age = models.PositiveSmallIntegerField(_("Alter ab"), validators=[MaxValueValidator(18)])
    max_age = models.PositiveSmallIntegerField(_("Alter bis"), validators=[MaxValueValidator(18)])
    fee = models.DecimalField(_("Teilnahmebeitrag in Euro"), max_digits=7, decimal_places=2, default=0,
                              validators=[MinValueValidator(0)])
    place_name = models.CharField(_("Treffpunkt"), max_length=200)
    address = models.CharField(_("Anschrift"), max_length=300, blank=True)
    latitude = coordinate_field(_("Breitengrad"))
    longitude = coordinate_field(_("Längengrad"))
    status = models.CharField(_("Status"), max_length=12, choices=ModerationStatus.choices,
                              default=ModerationStatus.DRAFT, db_index=True)
    rejection_reason = models.TextField(_("Begründung der Ablehnung"), max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start_date", "title"]
        verbose_name = _("Ferienaktivität")
        verbose_name_plural = _("Ferienaktivitäten")

    def __str__(self) -> str:
        return self.title

    def days(self) -> tuple[date, ...]:
        count = (self.end_date - self.start_date).days + 1
        return tuple(self.start_date + timedelta(days=i) for i in range(max(count, 1)))


class HolidayRegistration(ParentContact, TenantModel):
    programme = models.ForeignKey(HolidayProgramme, on_delete=models.PROTECT, related_name="registrations")
    parent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="holiday_registrations")
    child_first_name = models.CharField(_("Vorname des Kindes"), max_length=100)
    child_last_name = models.CharField(_("Nachname des Kindes"), max_length=100)
    birth_date = models.DateField(_("Geburtsdatum des Kindes"))
    max_activities = models.PositiveSmallIntegerField(_("höchstens so viele Aktivitäten"), validators=[MinValueValidator(1)])
    emergency_phone = models.CharField(_("Telefon für Notfälle"), max_length=40)
    notes = models.TextField(_("Hinweise für die Betreuung (z. B. Allergien)"), max_length=1000, blank=True)
    status = models.CharField(_("Status"), max_length=10, choices=RegistrationStatus.choices,
                              default=RegistrationStatus.ACTIVE)
    anonymised_at = models.DateTimeField(_("anonymisiert am"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("Anmeldung zum Ferienprogramm")
        verbose_name_plural = _("Anmeldungen zum Ferienprogramm")

    def __str__(self) -> str:
        return f"{self.child_first_name} {self.child_last_name}"

    @property
    def reference(self) -> str:
        return f"FERIEN-{self.pk:06d}" if self.pk else "FERIEN-?"

    @property
    def child_name(self) -> str:
        return f"{self.child_first_name} {self.child_last_name}"

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


class HolidayWish(TenantModel):
    registration = models.ForeignKey(HolidayRegistration, on_delete=models.CASCADE, related_name="wishes")
    activity = models.ForeignKey(HolidayActivity, on_delete=models.PROTECT, related_name="wishes")
    rank = models.PositiveSmallIntegerField(_("Rang"))

    class Meta:
        ordering = ["registration", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["registration", "rank"], name="holiday_wish_rank_unique"),
            models.UniqueConstraint(fields=["registration", "activity"], name="holiday_wish_activity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.registration_id} #{self.rank}: {self.activity_id}"


class PlacementStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Platz sicher")
    CANCELLED = "cancelled", _("abgesagt")
    RELEASED = "released", _("freigegeben für einen höheren Wunsch")


class HolidayPlacement(TenantModel):
    registration = models.ForeignKey(HolidayRegistration, on_delete=models.CASCADE, related_name="placements")
    activity = models.ForeignKey(HolidayActivity, on_delete=models.PROTECT, related_name="placements")
    status = models.CharField(_("Status"), max_length=10, choices=PlacementStatus.choices, default=PlacementStatus.CONFIRMED)
    via_move_up = models.BooleanField(_("nachgerückt"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["activity", "id"]
        constraints = [
            models.UniqueConstraint(fields=["registration", "activity"], condition=Q(status="confirmed"),
                                    name="one_confirmed_placement"),
        ]
        verbose_name = _("Platz im Ferienprogramm")
        verbose_name_plural = _("Plätze im Ferienprogramm")

    def __str__(self) -> str:
        return f"{self.registration} @ {self.activity} ({self.status})"


class HolidayWaitlistEntry(TenantModel):
    activity = models.ForeignKey(HolidayActivity, on_delete=models.CASCADE, related_name="waitlist")
    registration = models.ForeignKey(HolidayRegistration, on_delete=models.CASCADE, related_name="waitlist_entries")
    position = models.PositiveIntegerField(_("Position"))

    class Meta:
        ordering = ["activity", "position"]
        constraints = [models.UniqueConstraint(fields=["activity", "registration"], name="holiday_waitlist_unique")]

    def __str__(self) -> str:
        return f"{self.activity_id} #{self.position}: {self.registration_id}"
