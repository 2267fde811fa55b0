from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

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


class RegisterForm(forms.Form):
    first_name = forms.CharField(label=_("Vorname"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Nachname"), max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    email = forms.EmailField(label=_("E-Mail-Adresse"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(label=_("Passwort"), strip=False, help_text=_("Mindestens 10 Zeichen, nicht nur Ziffern."),
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("Für diese E-Mail-Adresse gibt es schon ein Konto. Melden Sie sich an oder setzen Sie Ihr Passwort zurück."))
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


class TokenForm(forms.Form):
    token = forms.CharField(label=_("Sicherheitscode aus Ihrer Authenticator-App"), min_length=6, max_length=8,
                            widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}))
