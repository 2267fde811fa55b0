"""The town's own settings that its administration edits on the staff pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Municipality
from .services import BANK_FIELDS, LETTER_FIELDS


class BankAccountForm(forms.ModelForm):
    """Payee, IBAN and BIC, checked like everywhere else (the model's validators and its clean)."""

    class Meta:
        model = Municipality
        fields = BANK_FIELDS


class LetterSettingsForm(forms.ModelForm):
    """The sender's address and the remedy decision letters name, checked by the model's clean."""

    class Meta:
        model = Municipality
        fields = LETTER_FIELDS
        labels = {"address": _("Anschrift der Kommune (Absender der Bescheide)")}
        help_texts = {"address": _("Straße und Hausnummer, Postleitzahl und Ort, z. B. Rathausplatz 1, 99999 Musterstadt")}
        widgets = {"address": forms.Textarea(attrs={"rows": 3}),
                   "court_address": forms.Textarea(attrs={"rows": 3}),
                   "remedy_note": forms.Textarea(attrs={"rows": 3})}
        error_messages = {"remedy": {"required": _("Bitte wählen Sie, welcher Rechtsbehelf gegen Ihre Bescheide "
                                                   "gegeben ist.")}}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Here the town decides; only a town that has not been here yet has no choice stored.
        remedy = self.fields["remedy"]
        remedy.required = True
        remedy.choices = [("", _("– bitte wählen –")), *[c for c in remedy.choices if c[0]]]
