"""Form definitions: one JSON Schema 2020-12 document per form version (docs/forms.md)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from rathaus.core.models import OrderedJSONField, TenantModel


class FormDefinition(TenantModel):
    class Source(models.TextChoices):
        MANUAL = "manual", _("selbst erstellt")
        FIM = "fim", _("aus FIM XDatenfelder importiert")
        PACKAGE = "package", _("aus einem Paket importiert")

    key = models.SlugField(_("Kennung"), max_length=80)
    version = models.PositiveIntegerField(_("Version"), default=1)
    title = models.CharField(_("Titel"), max_length=200)
    schema = OrderedJSONField(_("JSON Schema"))
    source = models.CharField(_("Herkunft"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    fim_id = models.CharField(_("FIM-Schema"), max_length=40, blank=True)
    rules = models.JSONField(_("Regeln für die Sachbearbeitung"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["municipality", "key", "version"], name="form_key_version_unique")]
        verbose_name = _("Formular")
        verbose_name_plural = _("Formulare")

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"
