from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import OUTCOMES, Confidentiality, DocumentType

MAX_REQUEST_ITEMS = 20
OUTCOME_LABELS = {"approved": _("bewilligt"), "rejected": _("abgelehnt"), "withdrawn": _("zurückgezogen"),
                  "closed": _("abgeschlossen")}


class DocumentUploadForm(forms.Form):
    file = forms.FileField(label=_("Datei"), help_text=_("PDF, PNG oder JPEG."))
    title = forms.CharField(label=_("Bezeichnung"), max_length=200, required=False,
                            help_text=_("Zum Beispiel „Meldebescheinigung“. Leer lassen: der Dateiname."))
    document_type = forms.ChoiceField(label=_("Art des Dokuments"), choices=DocumentType.choices,
                                      initial=DocumentType.CORRESPONDENCE)
    confidentiality = forms.ChoiceField(
        label=_("Vertraulichkeit"), choices=Confidentiality.choices, initial=Confidentiality.INTERNAL,
        help_text=_("„Öffentlich für Antragsteller/in“: die Person sieht es auf ihrer Statusseite. „Vertraulich“: "
                    "nur die Teamleitung und Sie."))


class VersionUploadForm(forms.Form):
    file = forms.FileField(label=_("Neue Version"), help_text=_("Die bisherigen Versionen bleiben erhalten."))


class DocumentRequestForm(forms.Form):
    items = forms.CharField(label=_("Welche Unterlagen?"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
                            help_text=_("Eine Unterlage pro Zeile, z. B. „Schwerbehindertenausweis (Vorder- und Rückseite)“."))
    message = forms.CharField(label=_("Nachricht zur Nachforderung"), max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("Erklären Sie kurz, wofür die Unterlagen gebraucht werden."))
    deadline = forms.DateField(label=_("Frist"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                               help_text=_("Bis wann die Unterlagen da sein sollen."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deadline"].initial = (timezone.localdate() + timedelta(days=14)).isoformat()

    def clean_items(self) -> list[str]:
        items = [line.strip() for line in self.cleaned_data["items"].splitlines() if line.strip()]
        if not items:
            raise forms.ValidationError(_("Bitte nennen Sie mindestens eine Unterlage."))
        if len(items) > MAX_REQUEST_ITEMS:
            raise forms.ValidationError(_("Höchstens %(n)d Unterlagen auf einmal.") % {"n": MAX_REQUEST_ITEMS})
        if any(len(item) > 200 for item in items):
            raise forms.ValidationError(_("Jede Zeile darf höchstens 200 Zeichen lang sein."))
        return items

    def clean_deadline(self):
        deadline = self.cleaned_data["deadline"]
        if deadline < timezone.localdate():
            raise forms.ValidationError(_("Die Frist darf nicht in der Vergangenheit liegen."))
        return deadline


class LegalHoldForm(forms.Form):
    reason = forms.CharField(label=_("Grund"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Zum Beispiel ein Widerspruch, ein Gerichtsverfahren oder eine Prüfung. "
                                         "Der Grund steht im Protokoll."))


def retention_field_name(document_type: str, outcome: str) -> str:
    return f"days_{document_type}_{outcome}"


class RetentionForm(forms.Form):
    """One number per document type and case result; empty means "kept with the case"."""

    def __init__(self, *args, rules: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []
        for document_type, type_label in DocumentType.choices:
            cells = []
            for outcome in OUTCOMES:
                name = retention_field_name(document_type, outcome)
                self.fields[name] = forms.IntegerField(
                    label=_("%(type)s, Antrag %(outcome)s") % {"type": type_label, "outcome": OUTCOME_LABELS[outcome]},
                    required=False, min_value=0, max_value=36500, initial=rules.get((document_type, outcome)))
                cells.append(self[name])
            self.rows.append((type_label, cells))

    def rules(self) -> dict[tuple[str, str], int | None]:
        return {(t, o): self.cleaned_data[retention_field_name(t, o)] for t in DocumentType.values for o in OUTCOMES}


class DecisionPostedForm(forms.Form):
    """The day a decision letter on the list was handed to the post (not in the future)."""

    notice = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**63 - 1)
    posted_on = forms.DateField(label=_("Per Post versandt am"),
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                                help_text=_("Der Tag, an dem der Bescheid zur Post gegeben wurde. Er gilt am vierten "
                                            "Tag danach als bekannt gegeben."))

    def clean_posted_on(self):
        posted_on = self.cleaned_data["posted_on"]
        if posted_on > timezone.localdate():
            raise forms.ValidationError(_("Das Versanddatum darf nicht in der Zukunft liegen."))
        return posted_on
