"""The town's own settings that its administration edits on the staff pages."""

from __future__ import annotations

from django import forms

from .models import Municipality
from .services import BANK_FIELDS


class BankAccountForm(forms.ModelForm):
    """Payee, IBAN and BIC, checked like everywhere else (the model's validators and its clean)."""

    class Meta:
        model = Municipality
        fields = BANK_FIELDS
