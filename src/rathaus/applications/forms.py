from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Status


class StatusLookupForm(forms.Form):
    reference = forms.RegexField(label=_("Vorgangsnummer"), regex=r"^[A-Z]{2,5}-[0-9]{4}-[0-9]{6}$", max_length=20,
                                 help_text=_("Zum Beispiel MUS-2026-000123"),
                                 error_messages={"invalid": _("Die Vorgangsnummer hat die Form ABC-2026-000123.")})
    token = forms.CharField(label=_("Zugangscode"), max_length=64, help_text=_("Steht in Ihrer Eingangsbestätigung."))

    def clean_reference(self):
        return self.cleaned_data["reference"].upper()


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(label=_("Neuer Status"), choices=Status.choices)
    public_text = forms.CharField(label=_("Nachricht an die antragstellende Person"), max_length=2000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text=_("Leer lassen für den Standardtext. Die Person sieht diesen Text auf ihrer Statusseite."))


class StaffNoteForm(forms.Form):
    text = forms.CharField(label=_("Interne Notiz"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Nur für die Verwaltung sichtbar."))
