"""Writes on accounts: registration, e-mail verification, second factor."""

from __future__ import annotations

from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from rathaus.core.audit import audit_record

from .models import User

VERIFY_SALT = "rathaus.accounts.verify-email"
VERIFY_MAX_AGE = 3 * 24 * 3600


def user_register(*, first_name: str, last_name: str, email: str, password: str, site_url: str, ip: str | None = None) -> User:
    """Create a citizen account and send the verification link after commit."""
    with transaction.atomic():
        user = User(username=email, email=email, first_name=first_name, last_name=last_name)
        user.set_password(password)
        user.save()
        audit_record(action="account.registered", actor=user, obj=user, ip_address=ip)
    token = signing.dumps({"u": user.pk, "e": email}, salt=VERIFY_SALT)
    link = site_url.rstrip("/") + reverse("accounts:verify", kwargs={"token": token})
    transaction.on_commit(lambda: send_mail(
        _("Bitte bestätigen Sie Ihre E-Mail-Adresse"),
        _("Guten Tag %(name)s,\n\nbitte bestätigen Sie Ihr Konto mit diesem Link (gültig 3 Tage):\n%(link)s\n\nWenn Sie kein Konto angelegt haben, ignorieren Sie diese Nachricht.")
        % {"name": user.get_full_name(), "link": link},
        None, [email],
    ))
    return user


def user_verify_email(*, token: str) -> User | None:
    """Mark the address verified if the signed link is valid and unexpired; None otherwise."""
    try:
        payload = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=payload.get("u"), email=payload.get("e")).first()
    if user is None:
        return None
    if not user.email_verified:
        with transaction.atomic():
            user.email_verified = True
            user.save(update_fields=["email_verified"])
            audit_record(action="account.email_verified", actor=user, obj=user)
    return user


def totp_device_for_setup(*, user: User) -> TOTPDevice:
    """The user's unconfirmed TOTP device, created on first use so a reload keeps the same secret."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return device


def totp_confirm(*, user: User, device: TOTPDevice, token: str, ip: str | None = None) -> bool:
    if not device.verify_token(token):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(action="account.2fa_enabled", actor=user, obj=user, ip_address=ip)
    return True
