from datetime import date

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AdminUserCreationForm, AuthenticationForm, PasswordResetForm
from django.core.validators import RegexValidator
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from rathaus.core.jobs import enqueue_on_commit
from rathaus_domain.forms.validation import HOUSE_NUMBER_PATTERN, NAME_PATTERN, PHONE_PATTERN, POSTCODE_PATTERN

from .models import User


class LoginForm(AuthenticationForm):
    username = forms.CharField(label=_("E-Mail-Adresse oder Benutzername"), max_length=254,
                               widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(label=_("Passwort"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    error_messages = {
        "invalid_login": _("E-Mail-Adresse/Benutzername oder Passwort sind falsch. Achten Sie auf Groß- und Kleinschreibung."),
        "inactive": _("Dieses Konto ist gesperrt."),
        "unverified": _("Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse über den Link, den wir Ihnen geschickt haben."),
    }

    def clean_username(self):
        # Citizens log in with their e-mail address; staff may also use a user name.
        value = self.cleaned_data["username"].strip()
        user = User.objects.filter(email__iexact=value).only("username").first()
        return user.username if user else value

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.email_verified and not user.memberships.exists():
            raise forms.ValidationError(self.error_messages["unverified"], code="unverified")


class StaffUserCreationForm(AdminUserCreationForm):
    """The admin's form for a new account (the only way to create staff): the e-mail address is required and unique."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self):
        # Unique regardless of case, as registration and login treat addresses.
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("Es gibt schon ein Konto mit dieser E-Mail-Adresse. Bitte geben Sie eine andere an."),
                                        code="unique")
        return email


class RegisterForm(forms.Form):
    first_name = forms.CharField(label=_("Vorname"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Nachname"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    # The address is also the user name (user_register), whose column is shorter than an e-mail address may be.
    email = forms.EmailField(label=_("E-Mail-Adresse"), max_length=User._meta.get_field("username").max_length,
                             error_messages={"max_length": _("Die E-Mail-Adresse ist zu lang: Sie darf höchstens %(limit_value)d Zeichen haben.")},
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(label=_("Passwort"), strip=False, help_text=_("Mindestens 10 Zeichen, nicht nur Ziffern."),
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    #: The account not yet verified that already has the address: registering again sends a fresh link.
    pending_user: User | None = None
    #: Any other account with the address: its owner is told by e-mail, the page answers as for a new one.
    existing_user: User | None = None

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and not user.email_verified and user.is_active and not user.memberships.exists():
            self.pending_user = user
        elif user is not None:
            self.existing_user = user
        return email

    def clean(self):
        data = super().clean()
        if data.get("password"):
            probe = User(email=data.get("email", ""), first_name=data.get("first_name", ""), last_name=data.get("last_name", ""))
            try:
                password_validation.validate_password(data["password"], probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class PasswordResetRequestForm(PasswordResetForm):
    email = forms.EmailField(label=_("E-Mail-Adresse"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None) -> None:
        """Queue the reset link for the worker instead of sending it within the request.

        Only addresses with an account get here; sending now would make their answer measurably
        slower than that for an unknown address. The job composes the e-mail with a fresh token.
        """
        from .tasks import send_password_reset

        enqueue_on_commit(send_password_reset, context["user"].pk, context["protocol"], context["domain"],
                          translation.get_language() or settings.LANGUAGE_CODE)


class TokenForm(forms.Form):
    token = forms.CharField(label=_("Sicherheitscode aus Ihrer Authenticator-App"), min_length=6, max_length=8,
                            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}))


# The profile takes what the forms take (the patterns they share), so taken-over data passes.
_NAME = RegexValidator(NAME_PATTERN, _("Bitte keine Sonderzeichen wie < > { } [ ] / @ # $ % ^ * = | ~ verwenden."))
_NO_CONTROL_MULTILINE = RegexValidator(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*\Z", _("Bitte keine Steuerzeichen verwenden."))


class ProfileForm(forms.Form):
    """„Meine Daten": what forms may take over. Every field but the name is optional."""

    first_name = forms.CharField(label=_("Vorname"), max_length=150, validators=[_NAME],
                                 widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Nachname"), max_length=150, validators=[_NAME],
                                widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    birth_date = forms.DateField(label=_("Geburtsdatum"), required=False, input_formats=["%d.%m.%Y", "%Y-%m-%d"],
                                 help_text=_("Format: TT.MM.JJJJ, zum Beispiel 31.01.1980"),
                                 error_messages={"invalid": _("Bitte geben Sie das Datum als TT.MM.JJJJ ein, zum Beispiel 31.01.1980.")},
                                 widget=forms.TextInput(attrs={"autocomplete": "bday"}))
    street = forms.CharField(label=_("Straße"), max_length=100, required=False, validators=[_NAME],
                             widget=forms.TextInput(attrs={"autocomplete": "address-line1"}))
    house_number = forms.RegexField(label=_("Hausnummer"), max_length=10, required=False,
                                    regex=HOUSE_NUMBER_PATTERN,
                                    help_text=_("Zum Beispiel 12 oder 12a"),
                                    error_messages={"invalid": _("Die Hausnummer besteht aus Ziffern, eventuell mit Buchstaben, zum Beispiel 12a.")},
                                    widget=forms.TextInput())
    postal_code = forms.RegexField(label=_("Postleitzahl"), max_length=5, required=False, regex=POSTCODE_PATTERN,
                                   error_messages={"invalid": _("Die Postleitzahl hat 5 Ziffern.")},
                                   widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}))
    city = forms.CharField(label=_("Ort"), max_length=100, required=False, validators=[_NAME],
                           widget=forms.TextInput(attrs={"autocomplete": "address-level2"}))
    phone = forms.RegexField(label=_("Telefon"), max_length=30, required=False, regex=PHONE_PATTERN,
                             help_text=_("Nur Ziffern, Leerzeichen, +, /, - und Klammern."),
                             error_messages={"invalid": _("Bitte geben Sie eine Telefonnummer nur mit Ziffern, Leerzeichen, +, /, - und Klammern an.")},
                             widget=forms.TextInput(attrs={"autocomplete": "tel"}))

    def clean_birth_date(self):
        value = self.cleaned_data.get("birth_date")
        if value is not None and not date(1900, 1, 1) <= value <= timezone.localdate():
            raise forms.ValidationError(_("Das Geburtsdatum muss zwischen 1900 und heute liegen."))
        return value


class ErasureRequestForm(forms.Form):
    reason = forms.CharField(label=_("Begründung (freiwillig)"), max_length=2000, required=False, validators=[_NO_CONTROL_MULTILINE],
                             widget=forms.Textarea(attrs={"rows": 4}),
                             help_text=_("Zum Beispiel: Ich nutze die Angebote nicht mehr. Eine Begründung ist nicht nötig."))
    confirm = forms.BooleanField(label=_("Ich möchte, dass meine Daten gelöscht werden, soweit das Gesetz es erlaubt."),
                                 error_messages={"required": _("Bitte bestätigen Sie, dass Sie die Löschung wünschen.")})


class DataRequestRefuseForm(forms.Form):
    reason = forms.CharField(label=_("Begründung der Ablehnung"), max_length=4000, validators=[_NO_CONTROL_MULTILINE],
                             widget=forms.Textarea(attrs={"rows": 4}),
                             help_text=_("Die Person liest diesen Text. Nennen Sie die Rechtsgrundlage, zum Beispiel eine gesetzliche Aufbewahrungspflicht (Art. 17 Abs. 3 DSGVO)."),
                             error_messages={"required": _("Bitte begründen Sie die Ablehnung.")})


class DataRequestCompleteForm(forms.Form):
    applications = forms.TypedMultipleChoiceField(label=_("Diese abgeschlossenen Anträge jetzt anonymisieren"), coerce=int,
                                                  required=False, widget=forms.CheckboxSelectMultiple)
    message = forms.CharField(label=_("Nachricht an die Person (freiwillig)"), max_length=4000, required=False,
                              validators=[_NO_CONTROL_MULTILINE], widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("Zum Beispiel, warum ein Antrag noch aufbewahrt wird."))

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["applications"].choices = list(choices)
