"""Municipalities: the tenants every owned row points to."""

from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# The Amtlicher Gemeindeschlüssel: 2 digits state, 1 district, 2 county, 3 municipality.
AGS_VALIDATOR = RegexValidator(
    r"^(0[1-9]|1[0-6])[0-9]{6}$",
    _("Der Amtliche Gemeindeschlüssel (AGS) hat 8 Ziffern und beginnt mit dem Länderschlüssel 01–16."),
)


class Municipality(models.Model):
    name = models.CharField(_("Name"), max_length=120)
    slug = models.SlugField(_("Kürzel in der Adresse"), max_length=60, unique=True)
    ags = models.CharField(_("Amtlicher Gemeindeschlüssel"), max_length=8, unique=True, validators=[AGS_VALIDATOR])
    reference_prefix = models.CharField(
        _("Präfix der Vorgangsnummern"), max_length=5,
        validators=[RegexValidator(r"^[A-Z]{2,5}$", _("2 bis 5 Großbuchstaben."))],
    )
    contact_email = models.EmailField(_("Kontakt-E-Mail"))
    contact_phone = models.CharField(_("Telefon"), max_length=40, blank=True)
    address = models.TextField(_("Anschrift"), max_length=300, blank=True)
    website = models.URLField(_("Webseite"), blank=True)
    logo = models.ImageField(_("Wappen oder Logo"), upload_to="logos/", blank=True)
    is_active = models.BooleanField(_("aktiv"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Kommune")
        verbose_name_plural = _("Kommunen")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:index", kwargs={"municipality": self.slug})
