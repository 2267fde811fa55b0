from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import BIRTH_DATE_MANDATES, MandateKind, Status

_NO_CONTROL = RegexValidator(r"^[^\x00-\x1f\x7f-\x9f<>]*\Z", _("Bitte keine Steuerzeichen und keine spitzen Klammern verwenden."))


class StatusLookupForm(forms.Form):
    reference = forms.RegexField(label=_("Vorgangsnummer"), regex=r"^[A-Za-z]{2,5}-[0-9]{4}-[0-9]{6}$", max_length=20,
                                 strip=True,  # RegexField keeps spaces by default; a pasted number often has one
                                 help_text=_("Zum Beispiel MUS-2026-000123"),
                                 error_messages={"invalid": _("Die Vorgangsnummer hat die Form ABC-2026-000123.")})
    token = forms.CharField(label=_("Zugangscode"), max_length=64, help_text=_("Steht in Ihrer Eingangsbestätigung."))

    def clean_reference(self):
        return self.cleaned_data["reference"].upper()


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Neuer Status"), choices=Status.choices,
        help_text=_("„Bewilligt“, „Abgelehnt“, „Zurückgezogen“ und „Abgeschlossen“ beenden das Verfahren des Antrags: "
                    "offene Aufgaben, Fristen und erwartete Nachrichten entfallen, und E-Mails zum Antrag, die noch nicht "
                    "versandt sind, werden nicht mehr versandt (außer der Eingangsbestätigung). Das lässt sich nicht "
                    "rückgängig machen."))
    public_text = forms.CharField(label=_("Nachricht an die antragstellende Person"), max_length=2000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text=_("Leer lassen für den Standardtext. Die Person sieht diesen Text auf ihrer Statusseite."))


class StaffNoteForm(forms.Form):
    text = forms.CharField(label=_("Interne Notiz"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Nur für die Verwaltung sichtbar."))


SELF = "self"


class RepresentationForm(forms.Form):
    """"Für wen stellen Sie den Antrag?" – on behalf of someone else (works without JavaScript)."""

    kind = forms.ChoiceField(label=_("Für wen stellen Sie den Antrag?"), widget=forms.RadioSelect,
                             choices=[(SELF, _("Für mich selbst")), *MandateKind.choices],
                             error_messages={"required": _("Bitte wählen Sie, für wen Sie den Antrag stellen.")})
    principal_name = forms.CharField(label=_("Name der vertretenen Person oder Firma"), max_length=200, required=False,
                                     validators=[_NO_CONTROL])
    principal_birth_date = forms.DateField(label=_("Geburtsdatum der vertretenen Person"), required=False,
                                           input_formats=["%d.%m.%Y", "%Y-%m-%d"],
                                           help_text=_("Bei Kindern und betreuten Personen. Format: TT.MM.JJJJ"),
                                           error_messages={"invalid": _("Bitte geben Sie das Datum als TT.MM.JJJJ ein, zum Beispiel 31.01.2015.")})
    principal_register_number = forms.CharField(label=_("Registernummer"), max_length=50, required=False, validators=[_NO_CONTROL],
                                                help_text=_("Bei Unternehmen, zum Beispiel HRB 12345 (Amtsgericht Musterstadt)."))
    principal_address = forms.CharField(label=_("Anschrift der vertretenen Person oder Firma"), max_length=300, required=False,
                                        validators=[_NO_CONTROL], help_text=_("Wenn sie von Ihrer abweicht."))
    mandate_confirmed = forms.BooleanField(
        label=_("Ich bin berechtigt, diese Person oder Firma zu vertreten, und weise das auf Verlangen nach (Vollmacht, Sorgerecht, Bestellung)."),
        required=False)

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind and kind != SELF:
            if not data.get("principal_name"):
                self.add_error("principal_name", _("Bitte geben Sie an, für wen Sie den Antrag stellen."))
            if kind in BIRTH_DATE_MANDATES and not data.get("principal_birth_date"):
                self.add_error("principal_birth_date", _("Bitte geben Sie das Geburtsdatum der vertretenen Person an."))
            birth = data.get("principal_birth_date")
            if birth and birth > timezone.localdate():
                self.add_error("principal_birth_date", _("Das Geburtsdatum darf nicht in der Zukunft liegen."))
            if not data.get("mandate_confirmed"):
                self.add_error("mandate_confirmed", _("Bitte bestätigen Sie, dass Sie zur Vertretung berechtigt sind."))
        return data
