"""Staff forms of the service catalogue."""

from __future__ import annotations

from django import forms
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
