"""Staff forms of the service catalogue."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Service
from .services import SERVICE_LETTER_FIELDS


class ServiceLettersForm(forms.ModelForm):
    """What a service's decision letters say about the remedy, checked by the model's clean."""

    class Meta:
        model = Service
        fields = SERVICE_LETTER_FIELDS
        labels = {"remedy": _("Rechtsbehelf gegen Bescheide dieser Leistung")}

    def __init__(self, *args, town_remedy: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "Empty" is a real choice here: the service follows the town, named with what it is now.
        remedy = self.fields["remedy"]
        remedy.choices = [
            ("", _("Wie für die Kommune eingestellt (%(remedy)s)") % {"remedy": town_remedy}),
            *[c for c in remedy.choices if c[0]],
        ]

    def _update_errors(self, errors: ValidationError) -> None:
        # The model's clean checks other fields too (the required documents an operator typed as JSON
        # in the admin): not this page's to report, and a form cannot show an error of a field it
        # does not have (Django raises instead).
        if hasattr(errors, "error_dict"):
            kept = {name: messages for name, messages in errors.error_dict.items()
                    if name in self.fields or name == NON_FIELD_ERRORS}
            if not kept:
                return
            errors = ValidationError(kept)
        super()._update_errors(errors)
