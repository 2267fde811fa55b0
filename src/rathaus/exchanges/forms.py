"""Forms of the exchanges. Every form works without JavaScript: ranked wishes are numbered
selects, schedules are formsets with spare rows, months are selects."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from .models import (
    ACCESSIBILITY_FLAGS,
    WEEKDAYS,
    Criterion,
    Directory,
    District,
    ExchangeSettings,
    Facility,
    GroupKind,
    HolidayActivity,
    HolidayProgramme,
    Offer,
    Provider,
)


class HttpsURLField(forms.URLField):
    """Addresses typed without a scheme ("verein.de") become https:// ones."""

    def __init__(self, **kwargs):
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)


# Type checkers see the mixin as a form; at run time it is a plain mixin in front of one.
if TYPE_CHECKING:
    _FormBase = forms.BaseForm
else:
    _FormBase = object

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class A11yMixin(_FormBase):
    """Ties hints and error messages to their inputs (aria-describedby, aria-invalid)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                self._describe(name, "hint")

    def _describe(self, name: str, suffix: str) -> None:
        field = self.fields[name]
        widget_id = field.widget.attrs.get("id") or self[name].auto_id
        ids = field.widget.attrs.get("aria-describedby", "").split()
        if f"{widget_id}-{suffix}" not in ids:
            ids.append(f"{widget_id}-{suffix}")
        field.widget.attrs["aria-describedby"] = " ".join(ids)

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-invalid"] = "true"
                self._describe(name, "error")


def month_choices(start: date | None = None, count: int = 24, back: int = 0) -> list[tuple[str, str]]:
    start = (start or timezone.localdate()).replace(day=1)
    year, month = start.year, start.month - back
    while month < 1:
        year, month = year - 1, month + 12
    out = []
    for _i in range(count + back):
        day = date(year, month, 1)
        out.append((day.isoformat(), date_format(day, "F Y")))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


class MonthField(forms.TypedChoiceField):
    def __init__(self, *args, back: int = 0, count: int = 24, **kwargs):
        kwargs.setdefault("coerce", date.fromisoformat)
        # A callable: the months (and their language) are worked out for each form, not at import.
        super().__init__(*args, choices=lambda: [("", _("Bitte auswählen")), *month_choices(count=count, back=back)],
                         **kwargs)


def error_summary(*forms_or_sets) -> list[dict[str, str]]:
    """One list of {href, label, message} for all forms and formsets of a page."""
    items: list[dict[str, str]] = []
    for form in forms_or_sets:
        if form is None:
            continue
        if hasattr(form, "forms"):
            for message in form.non_form_errors():
                items.append({"href": "#main", "label": "", "message": message})
            items.extend(error_summary(*form.forms))
            continue
        for message in form.non_field_errors():
            items.append({"href": "#main", "label": "", "message": message})
        for name, errors in form.errors.items():
            if name == "__all__":
                continue
            bound = form[name] if name in form.fields else None
            for message in errors:
                items.append({"href": f"#{bound.id_for_label}" if bound else "#main",
                              "label": str(bound.label) if bound else "", "message": message})
    return items


def apply_errors(form, exc: ValidationError, field_map: dict[str, str | None] | None = None) -> None:
    """Put a service's ValidationError onto the form's fields (or the form itself)."""
    field_map = field_map or {}
    if hasattr(exc, "error_dict"):
        for key, errors in exc.error_dict.items():
            target = field_map.get(key, key)
            for error in errors:
                form.add_error(target if target in form.fields else None, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


# ---------------------------------------------------------------------------- providers and offers


class ProviderForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = Provider
        fields = ["name", "description", "email", "phone", "website", "address"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        field_classes = {"website": HttpsURLField}
        help_texts = {"description": _("Wer Sie sind und was Sie anbieten – zwei, drei Sätze genügen.")}


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.get_directory_display()}: {obj.name}"


class OfferForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = Offer
        fields = ["directory", "category", "title", "description", "min_age", "max_age", "schedule_note",
                  "valid_from", "valid_until", "place_name", "street", "postcode", "city", "latitude", "longitude",
                  "fee", "fee_note", *[name for name, _label in ACCESSIBILITY_FLAGS], "contact_name",
                  "contact_email", "contact_phone", "website"]
        widgets = {"description": forms.Textarea(attrs={"rows": 6}), "valid_from": DATE_WIDGET, "valid_until": DATE_WIDGET}
        labels = dict(ACCESSIBILITY_FLAGS)
        field_classes = {"website": HttpsURLField, "category": CategoryChoiceField}
        help_texts = {
            "fee": _("0 für kostenlose Angebote."),
            "latitude": _("Für die Karte, z. B. 50,2584. Sie finden die Werte in jedem Kartendienst per Rechtsklick."),
            "schedule_note": _("Zum Beispiel „nicht in den Schulferien“."),
        }

    def __init__(self, *args, municipality, **kwargs):
        super().__init__(*args, **kwargs)
        from .models import Category

        cast(forms.ModelChoiceField, self.fields["category"]).queryset = Category.objects.for_municipality(municipality)
        for name in ("latitude", "longitude", "fee"):
            self.fields[name].localize = True
            self.fields[name].widget.is_localized = True

    def accessibility_fields(self):
        return [self[name] for name, _label in ACCESSIBILITY_FLAGS]


class SlotForm(A11yMixin, forms.Form):
    weekday = forms.TypedChoiceField(label=_("Wochentag"), choices=[("", "–"), *WEEKDAYS], coerce=int, required=False,
                                     empty_value=None)
    start_time = forms.TimeField(label=_("von"), required=False, widget=TIME_WIDGET)
    end_time = forms.TimeField(label=_("bis"), required=False, widget=TIME_WIDGET)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        filled = [data.get(k) is not None for k in ("weekday", "start_time", "end_time")]
        if any(filled) and not all(filled):
            raise ValidationError(_("Bitte Wochentag, Beginn und Ende angeben – oder die Zeile ganz leer lassen."))
        if all(filled) and data["end_time"] <= data["start_time"]:
            self.add_error("end_time", _("Das Ende muss nach dem Beginn liegen."))
        return data


class DateForm(A11yMixin, forms.Form):
    day = forms.DateField(label=_("Datum"), required=False, widget=DATE_WIDGET)
    start_time = forms.TimeField(label=_("von"), required=False, widget=TIME_WIDGET)
    end_time = forms.TimeField(label=_("bis"), required=False, widget=TIME_WIDGET)
    note = forms.CharField(label=_("Hinweis"), max_length=200, required=False)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if (data.get("start_time") or data.get("end_time") or data.get("note")) and not data.get("day"):
            self.add_error("day", _("Bitte ein Datum angeben."))
        if data.get("day") and not data.get("start_time"):
            self.add_error("start_time", _("Bitte die Uhrzeit des Beginns angeben."))
        if data.get("start_time") and data.get("end_time") and data["end_time"] <= data["start_time"]:
            self.add_error("end_time", _("Das Ende muss nach dem Beginn liegen."))
        return data

    def as_input(self):
        from .services import DateInput

        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        start = datetime.combine(data["day"], data["start_time"], zone)
        end = datetime.combine(data["day"], data["end_time"], zone) if data.get("end_time") else None
        return DateInput(starts_at=start, ends_at=end, note=data.get("note", ""))


SlotFormSet = formset_factory(SlotForm, extra=2, max_num=14)
DateFormSet = formset_factory(DateForm, extra=2, max_num=60)


def slot_initial(offer: Offer | None) -> list[dict]:
    if offer is None:
        return []
    return [{"weekday": s.weekday, "start_time": s.start_time, "end_time": s.end_time} for s in offer.slots.all()]


def date_initial(offer: Offer | None) -> list[dict]:
    if offer is None:
        return []
    out = []
    for d in offer.dates.all():
        start = timezone.localtime(d.starts_at)
        out.append({"day": start.date(), "start_time": start.time(), "note": d.note,
                    "end_time": timezone.localtime(d.ends_at).time() if d.ends_at else None})
    return out


class ReasonForm(A11yMixin, forms.Form):
    reason = forms.CharField(label=_("Begründung"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Der Anbieter erhält sie per E-Mail und sieht sie in seinem Bereich."))


class MemberAddForm(A11yMixin, forms.Form):
    email = forms.EmailField(label=_("E-Mail-Adresse des Kontos"),
                             help_text=_("Die Person muss sich vorher im Portal registriert haben."))


class CategoryForm(A11yMixin, forms.Form):
    directory = forms.ChoiceField(label=_("Verzeichnis"), choices=Directory.choices)
    name = forms.CharField(label=_("Name"), max_length=100)
    slug = forms.SlugField(label=_("Kürzel"), max_length=60, help_text=_("Kleinbuchstaben ohne Leerzeichen, z. B. „ballsport“."))


# ---------------------------------------------------------------------------- daycare: staff


class SettingsForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = ExchangeSettings
        fields = ["daycare_max_wishes", "offer_response_days"]


class DistrictForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = District
        fields = ["name", "latitude", "longitude"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("latitude", "longitude"):
            self.fields[name].localize = True
            self.fields[name].widget.is_localized = True


class FacilityForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = Facility
        fields = ["code", "name", "operator", "description", "street", "postcode", "city", "latitude", "longitude",
                  "email", "phone", "is_active", "catchment_districts"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "catchment_districts": forms.CheckboxSelectMultiple}

    def __init__(self, *args, municipality, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["catchment_districts"]).queryset = District.objects.for_municipality(municipality)
        for name in ("latitude", "longitude"):
            self.fields[name].localize = True
            self.fields[name].widget.is_localized = True


class GroupForm(A11yMixin, forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    kind = forms.ChoiceField(label=_("Art"), choices=[("", "–"), *GroupKind.choices], required=False)
    name = forms.CharField(label=_("Name der Gruppe"), max_length=100, required=False)
    care_hours = forms.CharField(label=_("Wochenstunden"), max_length=60, required=False,
                                 help_text=_("Mit Komma getrennt, z. B. 25, 35, 45"))
    delete = forms.BooleanField(label=_("Gruppe löschen"), required=False)

    def clean_care_hours(self):
        raw = self.cleaned_data["care_hours"]
        try:
            hours = tuple(sorted({int(part) for part in raw.replace(";", ",").split(",") if part.strip()}))
        except ValueError:
            raise ValidationError(_("Bitte nur ganze Zahlen, mit Komma getrennt.")) from None
        if any(not 1 <= h <= 60 for h in hours):
            raise ValidationError(_("Wochenstunden liegen zwischen 1 und 60."))
        return hours

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not data.get("delete") and (data.get("kind") or data.get("name")):
            for key in ("kind", "name", "care_hours"):
                if not data.get(key):
                    self.add_error(key, _("Bitte ausfüllen."))
        return data


GroupFormSet = formset_factory(GroupForm, extra=2, max_num=30)


class CapacityForm(A11yMixin, forms.Form):
    group = forms.TypedChoiceField(label=_("Gruppe"), coerce=int, required=False, empty_value=None)
    start_month = MonthField(label=_("Aufnahmemonat"), required=False, back=6, count=30)
    places = forms.IntegerField(label=_("freie Plätze"), min_value=0, max_value=500, required=False)

    def __init__(self, *args, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["group"]).choices = [("", "–"), *[(g.pk, f"{g.name} ({g.kind})") for g in groups]]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        filled = [data.get(k) not in (None, "") for k in ("group", "start_month", "places")]
        if any(filled) and not all(filled):
            raise ValidationError(_("Bitte Gruppe, Monat und Zahl der Plätze angeben – oder die Zeile leer lassen."))
        return data


CapacityFormSet = formset_factory(CapacityForm, extra=3, max_num=200)


class RuleForm(A11yMixin, forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    position = forms.IntegerField(label=_("Reihenfolge"), min_value=0, max_value=99, required=False)
    criterion = forms.ChoiceField(label=_("Kriterium"), choices=[("", "–"), *Criterion.choices], required=False)
    points = forms.IntegerField(label=_("Punkte"), min_value=0, max_value=10000, required=False)
    max_km = forms.DecimalField(label=_("bis km (nur Entfernung)"), min_value=Decimal("0"), max_digits=5,
                                decimal_places=1, required=False, localize=True)
    is_active = forms.BooleanField(label=_("aktiv"), required=False, initial=True)
    delete = forms.BooleanField(label=_("löschen"), required=False)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("criterion") and not data.get("delete"):
            if data.get("points") is None:
                self.add_error("points", _("Bitte Punkte angeben."))
            if data["criterion"] == Criterion.DISTANCE and data.get("max_km") is None:
                self.add_error("max_km", _("Für eine Entfernungsregel brauchen Sie die Entfernung in km."))
        return data


RuleFormSet = formset_factory(RuleForm, extra=1, max_num=30)


class RoundForm(A11yMixin, forms.Form):
    follow_up = forms.TypedChoiceField(
        label=_("Art der Runde"), widget=forms.RadioSelect, coerce=lambda v: v == "1",
        choices=[("1", _("Nachrückrunde: abgelehnte und verfallene Plätze neu vergeben, angenommene bleiben")),
                 ("0", _("Hauptrunde: neue Vergabe für alle aktiven Anmeldungen"))])
    offer_deadline = forms.DateField(label=_("Antwortfrist für die Platzangebote"), widget=DATE_WIDGET)
    seed = forms.IntegerField(label=_("Startwert der Verlosung (optional)"), min_value=0, max_value=2**62, required=False,
                              help_text=_("Leer lassen für einen zufälligen Startwert. Bei einer öffentlichen Ziehung tragen Sie die gezogene Zahl ein."))


# ---------------------------------------------------------------------------- daycare: families


class RegistrationForm(A11yMixin, forms.Form):
    child_first_name = forms.CharField(label=_("Vorname des Kindes"), max_length=100)
    child_last_name = forms.CharField(label=_("Nachname des Kindes"), max_length=100)
    birth_date = forms.DateField(label=_("Geburtsdatum des Kindes"), widget=DATE_WIDGET)
    desired_start = MonthField(label=_("Gewünschter Beginn"))
    care_hours = forms.TypedChoiceField(label=_("Betreuungszeit (Wochenstunden)"), coerce=int)
    district = forms.ModelChoiceField(label=_("In welchem Ortsteil wohnen Sie?"), queryset=District.objects.none(),
                                      required=False, empty_label=_("anderer / keine Angabe"),
                                      help_text=_("Zählt für das Einzugsgebiet und die Entfernung zur Kita."))
    sibling_facility = forms.ModelChoiceField(label=_("Besucht ein Geschwisterkind schon eine dieser Kitas?"),
                                              queryset=Facility.objects.none(), required=False, empty_label=_("nein"))
    single_parent = forms.BooleanField(label=_("Ich bin alleinerziehend."), required=False)
    parents_working = forms.BooleanField(label=_("Alle Sorgeberechtigten sind berufstätig oder in Ausbildung."), required=False)
    special_needs = forms.BooleanField(label=_("Mein Kind hat einen besonderen Förderbedarf."), required=False,
                                       help_text=_("Die Verwaltung bittet Sie später um einen Nachweis."))

    def __init__(self, *args, municipality, facilities, hours: list[int], max_wishes: int, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["district"]).queryset = District.objects.for_municipality(municipality)
        cast(forms.ModelChoiceField, self.fields["sibling_facility"]).queryset = facilities
        cast(forms.ChoiceField, self.fields["care_hours"]).choices = [("", _("Bitte auswählen")), *[(h, _("%(h)s Stunden") % {"h": h}) for h in hours]]
        self.max_wishes = max_wishes
        choices = [("", _("– kein weiterer Wunsch –")), *[(f.pk, f.name) for f in facilities]]
        self._facilities = {f.pk: f for f in facilities}
        for rank in range(1, max_wishes + 1):
            self.fields[f"wish_{rank}"] = forms.TypedChoiceField(
                label=_("%(n)s. Wunsch") % {"n": rank}, choices=choices, coerce=int, required=rank == 1, empty_value=None)

    def wish_fields(self):
        return [self[f"wish_{rank}"] for rank in range(1, self.max_wishes + 1)]

    def fact_fields(self):
        return [self[name] for name in ("single_parent", "parents_working", "special_needs")]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        chosen = [data.get(f"wish_{rank}") for rank in range(1, self.max_wishes + 1)]
        wishes = [pk for pk in chosen if pk is not None]
        if len(set(wishes)) != len(wishes):
            self.add_error(None, _("Sie haben eine Kita mehrfach gewählt. Jede Kita zählt nur einmal."))
        data["wishes"] = [self._facilities[pk] for pk in dict.fromkeys(wishes)]
        return data

    @classmethod
    def initial_for(cls, registration) -> dict:
        initial = {k: getattr(registration, k) for k in (
            "child_first_name", "child_last_name", "birth_date", "care_hours", "district", "sibling_facility",
            "single_parent", "parents_working", "special_needs")}
        initial["desired_start"] = registration.desired_start.isoformat()
        for wish in registration.wishes.all():
            initial[f"wish_{wish.rank}"] = wish.facility_id
        return initial


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=[("accept", _("annehmen")), ("decline", _("ablehnen"))])


# ---------------------------------------------------------------------------- holiday programme


class ProgrammeForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = HolidayProgramme
        fields = ["name", "description", "starts_on", "ends_on", "registration_until", "max_wishes", "max_activities_limit"]
        widgets = {"starts_on": DATE_WIDGET, "ends_on": DATE_WIDGET, "registration_until": DATE_WIDGET,
                   "description": forms.Textarea(attrs={"rows": 3})}


class ActivityForm(A11yMixin, forms.ModelForm):
    class Meta:
        model = HolidayActivity
        fields = ["title", "description", "start_date", "end_date", "start_time", "end_time", "capacity", "min_age",
                  "max_age", "fee", "place_name", "address", "latitude", "longitude"]
        widgets = {"start_date": DATE_WIDGET, "end_date": DATE_WIDGET, "start_time": TIME_WIDGET,
                   "end_time": TIME_WIDGET, "description": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"end_date": _("Bei eintägigen Aktivitäten derselbe Tag."),
                      "min_age": _("Alter am ersten Ferientag.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("latitude", "longitude", "fee"):
            self.fields[name].localize = True
            self.fields[name].widget.is_localized = True


class StaffActivityForm(ActivityForm):
    provider = forms.ModelChoiceField(label=_("Anbieter"), queryset=Provider.objects.none())

    class Meta(ActivityForm.Meta):
        fields = ["provider", *ActivityForm.Meta.fields]

    def __init__(self, *args, municipality, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["provider"]).queryset = Provider.objects.for_municipality(municipality).filter(status="approved")


class HolidayRegistrationForm(A11yMixin, forms.Form):
    child_first_name = forms.CharField(label=_("Vorname des Kindes"), max_length=100)
    child_last_name = forms.CharField(label=_("Nachname des Kindes"), max_length=100)
    birth_date = forms.DateField(label=_("Geburtsdatum des Kindes"), widget=DATE_WIDGET)
    max_activities = forms.TypedChoiceField(label=_("Wie viele Aktivitäten höchstens?"), coerce=int)
    emergency_phone = forms.CharField(label=_("Telefon für Notfälle"), max_length=40,
                                      widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}))
    notes = forms.CharField(label=_("Hinweise für die Betreuung"), max_length=1000, required=False,
                            widget=forms.Textarea(attrs={"rows": 3}),
                            help_text=_("Zum Beispiel Allergien oder Medikamente. Nur die Anbieter Ihrer Aktivitäten sehen das."))

    def __init__(self, *args, programme: HolidayProgramme, activities, **kwargs):
        super().__init__(*args, **kwargs)
        self.programme = programme
        cast(forms.ChoiceField, self.fields["max_activities"]).choices = [(n, str(n)) for n in range(1, programme.max_activities_limit + 1)]
        self._activities = {a.pk: a for a in activities}
        choices = [("", _("– kein weiterer Wunsch –")), *[
            (a.pk, f"{a.title} ({a.start_date:%d.%m.}–{a.end_date:%d.%m.}, {a.min_age}–{a.max_age} J.)") for a in activities]]
        for rank in range(1, programme.max_wishes + 1):
            self.fields[f"wish_{rank}"] = forms.TypedChoiceField(
                label=_("%(n)s. Wunsch") % {"n": rank}, choices=choices, coerce=int, required=rank == 1, empty_value=None)

    def wish_fields(self):
        return [self[f"wish_{rank}"] for rank in range(1, self.programme.max_wishes + 1)]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        chosen = [data.get(f"wish_{rank}") for rank in range(1, self.programme.max_wishes + 1)]
        wishes = [pk for pk in chosen if pk is not None]
        if len(set(wishes)) != len(wishes):
            self.add_error(None, _("Sie haben eine Aktivität mehrfach gewählt. Jede zählt nur einmal."))
        data["wishes"] = [self._activities[pk] for pk in dict.fromkeys(wishes)]
        return data
