"""The service catalogue: what a citizen can apply for, described in plain language."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from rathaus.core.language import in_english
from rathaus.core.models import TenantModel
from rathaus.tenants.models import REMEDY_DETAIL_NAMES, Remedy


class LifeSituation(models.Model):
    """A life-situation category shared by all municipalities (e.g. "Umzug", "Tiere")."""

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(_("Name"), max_length=80)
    name_en = models.CharField(_("Name (Englisch)"), max_length=80, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Lebenslage")
        verbose_name_plural = _("Lebenslagen")

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """The name in the page's language; German where no English name is given."""
        return (self.name_en or self.name) if in_english() else self.name


class Service(TenantModel):
    leika_key = models.CharField(
        _("LeiKa-Schlüssel"), max_length=14,
        validators=[RegexValidator(r"^[0-9]{14}$", _("Der LeiKa-Schlüssel hat 14 Ziffern."))],
    )
    slug = models.SlugField(_("Kürzel"), max_length=80)
    name = models.CharField(_("Name"), max_length=200)
    summary = models.CharField(_("Kurzbeschreibung in einfacher Sprache"), max_length=400)
    description = models.TextField(_("Beschreibung"), max_length=5000, blank=True)
    legal_basis = models.CharField(_("Rechtsgrundlage"), max_length=400, blank=True)
    fee = models.DecimalField(_("Gebühr in Euro"), max_digits=9, decimal_places=2, default=Decimal("0"),
                              validators=[MinValueValidator(Decimal("0"))])
    fee_note = models.CharField(_("Hinweis zur Gebühr"), max_length=300, blank=True)
    processing_days = models.PositiveIntegerField(_("Bearbeitungszeit (Arbeitstage, Richtwert)"), default=10)
    required_documents = models.JSONField(_("Erforderliche Unterlagen"), default=list, blank=True)
    office = models.CharField(_("Zuständige Stelle"), max_length=200)
    office_contact = models.CharField(_("Kontakt der Stelle"), max_length=300, blank=True)
    life_situations = models.ManyToManyField(LifeSituation, blank=True, verbose_name=_("Lebenslagen"))
    form = models.ForeignKey("rathaus_forms.FormDefinition", on_delete=models.PROTECT, related_name="services",
                             verbose_name=_("Formular"))
    retention_days = models.PositiveIntegerField(
        _("Aufbewahrung nach Abschluss (Tage)"), default=365 * 2,
        help_text=_("So lange bleiben abgeschlossene Anträge gespeichert; danach werden sie anonymisiert."),
    )
    # The remedy is fixed by the law of the subject matter, not only by the town: e.g. in Bavaria an
    # objection stays optional against communal levies (Art. 12 (1) AGVwGO). Empty: the town's remedy.
    remedy = models.CharField(
        _("Rechtsbehelf gegen Bescheide dieser Leistung"), max_length=10, choices=Remedy.choices, blank=True,
        help_text=_("Leer: wie für die Kommune eingestellt. Gericht und Anschriften kommen aus den Angaben für "
                    "Bescheide der Kommune."))
    is_published = models.BooleanField(_("veröffentlicht"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["municipality", "slug"], name="service_slug_unique")]
        verbose_name = _("Leistung")
        verbose_name_plural = _("Leistungen")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:detail", kwargs={"municipality": self.municipality.slug, "service": self.slug})

    def clean(self) -> None:
        errors = {}
        # The admin takes any JSON here; the catalogue page and the API expect a list of texts.
        documents = self.required_documents
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            errors["required_documents"] = _(
                'Bitte eine Liste von Texten angeben, z. B. ["Personalausweis", "Meldebescheinigung"].')
        # An instruction without the court or the address where the remedy is lodged is incomplete
        # (the time limit becomes a year, § 58 (2) VwGO); the town's page is where they are entered.
        if self.remedy and self.municipality_id is not None:
            missing = self.municipality.missing_remedy_details(self.remedy)
            if missing:
                errors["remedy"] = ValidationError(
                    _("Für „%(remedy)s“ fehlen in den Angaben für Bescheide der Kommune noch: %(missing)s. Bitte "
                      "tragen Sie sie zuerst auf der Seite „Angaben für Bescheide“ ein."), code="remedy_details_missing",
                    params={"remedy": Remedy(self.remedy).label,
                            "missing": ", ".join(str(REMEDY_DETAIL_NAMES[name]) for name in missing)})
        if errors:
            raise ValidationError(errors)

    def remedy_instruction(self) -> str:
        """The remedy instruction of this service's decision letters: its own remedy, else the town's."""
        return self.municipality.remedy_instruction(self.remedy)

    @property
    def required_document_texts(self) -> list[str]:
        """The required documents; a value stored in another shape (before it was checked) is left out."""
        documents = self.required_documents
        return [d for d in documents if isinstance(d, str)] if isinstance(documents, list) else []
