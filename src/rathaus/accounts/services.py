"""Writes on accounts: registration, e-mail verification, second factor, profile, data subject requests."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from rathaus.core.audit import audit_record
from rathaus.core.jobs import enqueue_on_commit
from rathaus_domain.shared.workdays import months_after

from .models import AssistanceCode, DataSubjectRequest, Profile, RequestKind, RequestState, User
from .tasks import ACCOUNT_EXISTS, ERASURE_RECEIVED, VERIFY, VERIFY_AGAIN, send_account_mail

VERIFY_SALT = "rathaus.accounts.verify-email"
VERIFY_MAX_AGE = 3 * 24 * 3600


class EmailTaken(Exception):
    """Another account with the address was stored after the form checked it (two registrations at once)."""


def user_register(*, first_name: str, last_name: str, email: str, password: str, site_url: str, ip: str | None = None) -> User:
    """Create a citizen account and send the verification link after commit.

    Raises EmailTaken if a concurrent registration stored the address first.
    """
    try:
        with transaction.atomic():
            user = User(username=email, email=email, first_name=first_name, last_name=last_name)
            user.set_password(password)
            user.save()
            audit_record(action="account.registered", actor=user, obj=user, ip_address=ip)
    except IntegrityError as exc:
        raise EmailTaken from exc
    _mail(VERIFY, user, site_url)
    return user


def _mail(kind: str, user: User, site_url: str = "", request_ids: list[int] | None = None) -> None:
    """Have the worker send an account e-mail of `kind` if the current transaction commits (accounts/tasks.py says why).

    The job gets ids, not the e-mail: it composes it when it runs, in the language of this request.
    """
    enqueue_on_commit(send_account_mail, kind, user.pk, site_url, translation.get_language() or settings.LANGUAGE_CODE,
                      request_ids)


def verification_link(user: User, site_url: str) -> str:
    """The link that verifies the account's current address (valid VERIFY_MAX_AGE)."""
    token = signing.dumps({"u": user.pk, "e": user.email}, salt=VERIFY_SALT)
    return site_url.rstrip("/") + reverse("accounts:verify", kwargs={"token": token})


def user_verification_resend(*, user: User, site_url: str, ip: str | None = None) -> None:
    """Send a fresh verification link to an account not yet verified (she registered again with its address).

    The account keeps the password chosen first: whoever registers again only proves nothing, so the
    e-mail points to the password reset for the case she has forgotten it.
    """
    if user.email_verified:
        raise ValueError("the address is verified already")
    with transaction.atomic():
        audit_record(action="account.verification_resent", actor=user, obj=user, ip_address=ip)
    _mail(VERIFY_AGAIN, user, site_url)


def user_registration_attempted(*, user: User, site_url: str, ip: str | None = None) -> None:
    """Tell the owner of a verified account that someone registered with her address.

    The registration page answers as it does for a new account (no one learns there whether an
    address has an account); this e-mail tells its owner, with the ways back in.
    """
    with transaction.atomic():
        # Not her doing: someone registered with her address (no actor; the entry is about her account).
        audit_record(action="account.registration_attempted", obj=user, ip_address=ip, actor_label="registration")
    _mail(ACCOUNT_EXISTS, user, site_url)


def user_password_reset(*, user: User, password: str, ip: str | None = None) -> User:
    """Set the password chosen through a reset link; the link reached her mailbox, so the address is verified too."""
    with transaction.atomic():
        user.set_password(password)
        fields = ["password"]
        if not user.email_verified:
            user.email_verified = True
            fields.append("email_verified")
        user.save(update_fields=fields)
        audit_record(action="account.password_reset", actor=user, obj=user, ip_address=ip)
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


# ---------------------------------------------------------------- profile ("Meine Daten")

PROFILE_FIELDS = ("birth_date", "street", "house_number", "postal_code", "city", "phone")


def profile_update(*, user: User, first_name: str, last_name: str, ip: str | None = None, **values) -> Profile:
    """Save the citizen's name and profile; the audit entry names the changed fields, never their values."""
    unknown = set(values) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"unknown profile fields: {sorted(unknown)}")
    with transaction.atomic():
        profile, _created = Profile.objects.select_for_update().get_or_create(user=user)
        changed = [name for name, value in values.items() if getattr(profile, name) != value]
        for name, value in values.items():
            setattr(profile, name, value)
        profile.save()
        if (user.first_name, user.last_name) != (first_name, last_name):
            changed += [name for name, value in (("first_name", first_name), ("last_name", last_name))
                        if getattr(user, name) != value]
            user.first_name, user.last_name = first_name, last_name
            user.save(update_fields=["first_name", "last_name"])
        if changed:
            audit_record(action="account.profile_updated", actor=user, obj=user, data={"fields": sorted(changed)}, ip_address=ip)
    return profile


def profile_update_from_application(*, user: User, application, keys: list[str], ip: str | None = None) -> list[str]:
    """Take the chosen values the citizen entered in her application into her profile (her explicit choice).

    Only keys whose submitted value differs from the profile are taken; returns them.
    """
    from rathaus_domain.forms.model import FormSpec
    from rathaus_domain.forms.prefill import profile_changes

    if application.applicant_id != user.pk or application.anonymised_at is not None:
        raise PermissionError("not her application")
    from .selectors import profile_for

    profile = profile_for(user=user)
    changes = profile_changes(application.data, FormSpec.from_schema(application.form.schema), profile.as_prefill(),
                              keys=[k for k in keys if k != "email"])
    if not changes:
        return []
    values = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    for key, value in changes.items():
        if key == "birth_date":
            try:
                values[key] = date.fromisoformat(value)
            except ValueError:
                continue
        elif key in values:
            values[key] = value[:Profile._meta.get_field(key).max_length]
    first = changes.get("given_name", user.first_name)[:150]
    last = changes.get("family_name", user.last_name)[:150]
    profile_update(user=user, first_name=first, last_name=last, ip=ip, **values)
    return sorted(changes)


# ---------------------------------------------------------------- data subject rights (GDPR Art. 15, 17)

def one_month_after(day: date) -> date:
    """The same day next month, or its last day (Art. 12(3) GDPR: answer within one month)."""
    return months_after(day, 1)


def data_export_record(*, user: User, fmt: str, ip: str | None = None) -> None:
    """Note in the audit log that the citizen downloaded her data (Art. 15 GDPR)."""
    with transaction.atomic():
        audit_record(action="account.data_exported", actor=user, obj=user, data={"format": fmt}, ip_address=ip)


class NothingToErase(Exception):
    """No municipality holds data about the person (beyond her account), or every one has an open request."""


def erasure_request(*, user: User, reason: str, ip: str | None = None) -> list[DataSubjectRequest]:
    """Ask every municipality that holds data about the citizen to erase it: one request (and task) each.

    A municipality that already has an open request of hers is skipped. She gets one
    confirmation e-mail listing the municipalities and the date by which each must answer.
    """
    from .selectors import municipalities_with_data

    today = timezone.localdate()
    created: list[DataSubjectRequest] = []
    with transaction.atomic():
        # One request of hers at a time (a double click): the second waits here and then sees the
        # first's open requests, instead of inserting the same ones and failing on the constraint.
        User.objects.select_for_update().only("pk").get(pk=user.pk)
        already_open = set(DataSubjectRequest.objects.filter(user=user, kind=RequestKind.ERASURE, state=RequestState.OPEN)
                           .values_list("municipality_id", flat=True))
        for municipality in municipalities_with_data(user=user):
            if municipality.pk in already_open:
                continue
            request = DataSubjectRequest.objects.create(
                municipality=municipality, user=user, kind=RequestKind.ERASURE, requester_name=user.get_full_name()[:200] or user.email,
                requester_email=user.email, reason=reason.strip()[:2000], due_date=one_month_after(today))
            audit_record(action="data_request.created", municipality=municipality, actor=user, obj=request,
                         summary=request.reference, data={"kind": request.kind}, ip_address=ip)
            created.append(request)
        if not created:
            raise NothingToErase
    # The receipt lists the municipalities, their references and due dates: the job reads them.
    _mail(ERASURE_RECEIVED, user, request_ids=[r.pk for r in created])
    return created


class RequestClosed(Exception):
    """The request was already answered."""


def _locked_open(request: DataSubjectRequest) -> DataSubjectRequest:
    locked = DataSubjectRequest.objects.select_for_update(of=("self",)).select_related("municipality", "user").get(pk=request.pk)
    if locked.state != RequestState.OPEN:
        raise RequestClosed
    return locked


def data_request_complete(*, request: DataSubjectRequest, actor: User, application_ids: list[int], message: str = "",
                          ip: str | None = None) -> DataSubjectRequest:
    """Grant an erasure request: anonymise the chosen closed applications of the person, drop her drafts
    and anonymise her exchange registrations that are no longer needed.

    Applications still in progress, or not chosen (a legal duty to keep them), stay and are named
    in the answer, as are registrations still in an allocation or holding a daycare place.
    Everything happens in one transaction with an audit entry per application and registration
    and one for the request; the citizen gets the answer by e-mail through the outbox.
    """
    from rathaus.applications.models import Application, Draft
    from rathaus.applications.services import application_anonymise
    from rathaus.exchanges.services import family_registrations_anonymise

    with transaction.atomic():
        locked = _locked_open(request)
        municipality = locked.municipality
        anonymised, kept = [], []
        exchanges: dict[str, list] = {"anonymised": [], "kept": []}
        if locked.user_id is not None:
            applications = (Application.objects.for_municipality(municipality).filter(applicant_id=locked.user_id)
                            .select_related("service").order_by("submitted_at", "id"))
            chosen = set(application_ids)
            for application in applications:
                if application.pk in chosen and application_anonymise(
                        application=application, actor=actor, reason=f"erasure request {locked.reference}"):
                    anonymised.append(application.reference)
                elif application.anonymised_at is None:
                    kept.append({"reference": application.reference,
                                 "reason": "open" if application.is_open else "retention"})
            drafts = Draft.objects.for_municipality(municipality).filter(user_id=locked.user_id).delete()[0]
            exchanges = family_registrations_anonymise(municipality=municipality, parent=locked.user, actor=actor,
                                                       reason=f"erasure request {locked.reference}")
        else:
            drafts = 0
        locked.state, locked.closed_at, locked.closed_by = RequestState.DONE, timezone.now(), actor
        locked.outcome_text = message.strip()[:4000]
        locked.result = {"anonymised": anonymised, "kept": kept, "drafts_deleted": drafts, "exchanges": exchanges}
        locked.save(update_fields=["state", "closed_at", "closed_by", "outcome_text", "result"])
        audit_record(action="data_request.completed", municipality=municipality, actor=actor, obj=locked,
                     summary=locked.reference, data={"anonymised": len(anonymised), "kept": len(kept), "drafts_deleted": drafts,
                                                     "registrations_anonymised": len(exchanges["anonymised"]),
                                                     "registrations_kept": len(exchanges["kept"])},
                     ip_address=ip)
        _notify_outcome(locked)
    request.refresh_from_db()
    return request


def data_request_refuse(*, request: DataSubjectRequest, actor: User, reason: str, ip: str | None = None) -> DataSubjectRequest:
    """Refuse an erasure request with the reason the citizen will read (e.g. a legal duty to keep the files)."""
    reason = reason.strip()
    if not reason:
        raise ValueError("a refusal needs a reason")
    with transaction.atomic():
        locked = _locked_open(request)
        locked.state, locked.closed_at, locked.closed_by = RequestState.REFUSED, timezone.now(), actor
        locked.outcome_text = reason[:4000]
        locked.save(update_fields=["state", "closed_at", "closed_by", "outcome_text"])
        audit_record(action="data_request.refused", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=locked.reference, ip_address=ip)
        _notify_outcome(locked)
    request.refresh_from_db()
    return request


def exchange_registration_label(entry: dict[str, str]) -> str:
    """How the answer and the staff page name a registration of a request's result (no child's name)."""
    if entry["kind"] == "daycare":
        return _("Kita-Anmeldung %(ref)s") % {"ref": entry["reference"]}
    return _("Ferienprogramm „%(programme)s“ (%(ref)s)") % {"programme": entry["programme"], "ref": entry["reference"]}


def _notify_outcome(request: DataSubjectRequest) -> None:
    """Queue the answer e-mail in the outbox (sent after commit, once, retried by the sweep)."""
    from rathaus.processes.models import OutboxKind
    from rathaus.processes.outbox import outbox_add

    municipality = request.municipality
    if request.state == RequestState.REFUSED:
        body = _("Guten Tag %(name)s,\n\n%(town)s hat Ihren Antrag auf Löschung (%(ref)s) abgelehnt.\n\nBegründung:\n%(text)s\n\n"
                 "Sie können sich bei der oder dem Datenschutzbeauftragten der Kommune oder bei der Aufsichtsbehörde beschweren.")
        text = request.outcome_text
    else:
        result = request.result
        parts = []
        if result.get("anonymised"):
            parts.append(_("Gelöscht (anonymisiert): %(refs)s") % {"refs": ", ".join(result["anonymised"])})
        kept_open = [k["reference"] for k in result.get("kept", []) if k["reason"] == "open"]
        kept_retention = [k["reference"] for k in result.get("kept", []) if k["reason"] != "open"]
        if kept_open:
            parts.append(_("Noch nicht gelöscht, weil das Verfahren noch läuft: %(refs)s") % {"refs": ", ".join(kept_open)})
        if kept_retention:
            parts.append(_("Aufbewahrt wegen einer gesetzlichen Aufbewahrungspflicht: %(refs)s") % {"refs": ", ".join(kept_retention)})
        if result.get("drafts_deleted"):
            parts.append(_("Gelöschte Entwürfe: %(n)d") % {"n": result["drafts_deleted"]})
        exchanges = result.get("exchanges", {})
        if exchanges.get("anonymised"):
            parts.append(_("Anmeldungen in Börsen gelöscht (anonymisiert): %(regs)s")
                         % {"regs": ", ".join(exchange_registration_label(e) for e in exchanges["anonymised"])})
        kept_running = [exchange_registration_label(e) for e in exchanges.get("kept", []) if e["reason"] == "open"]
        kept_placed = [exchange_registration_label(e) for e in exchanges.get("kept", []) if e["reason"] != "open"]
        if kept_running:
            parts.append(_("Anmeldungen in Börsen, die noch nicht gelöscht sind, weil die Vergabe oder das Ferienprogramm "
                           "noch läuft: %(regs)s") % {"regs": ", ".join(kept_running)})
        if kept_placed:
            parts.append(_("Kita-Anmeldungen mit angenommenem Platz; sie bleiben als Grundlage der Platzvergabe und "
                           "werden nach Ablauf der Aufbewahrungsfrist gelöscht: %(regs)s") % {"regs": ", ".join(kept_placed)})
        if request.outcome_text:
            parts.append(_("Nachricht der Verwaltung: %(text)s") % {"text": request.outcome_text})
        body = _("Guten Tag %(name)s,\n\n%(town)s hat Ihren Antrag auf Löschung (%(ref)s) bearbeitet.\n\n%(text)s")
        text = "\n".join(parts) or _("Es waren keine Daten mehr zu löschen.")
    outbox_add(municipality=municipality, key=f"dsr:{request.pk}:{request.state}", kind=OutboxKind.EMAIL, payload={
        "subject": _("Antwort auf Ihren Antrag auf Löschung (%(ref)s)") % {"ref": request.reference},
        "body": body % {"name": request.requester_name, "town": municipality.name, "ref": request.reference, "text": text},
        "to": [request.requester_email],
    })


def profile_disclose(*, user: User, actor: User, municipality, ip: str | None = None) -> dict[str, str]:
    """The citizen's profile for assisted entry by staff; the disclosure is audited (who saw whose data)."""
    from .selectors import prefill_profile

    with transaction.atomic():
        audit_record(action="account.profile_disclosed", municipality=municipality, actor=actor, obj=user,
                     summary="assisted entry", ip_address=ip)
    return prefill_profile(user=user)


ASSISTANCE_CODE_MINUTES = 30
ASSISTANCE_CODE_TRIES = 5


def _assistance_hash(user_id: int, code: str) -> str:
    return salted_hmac("rathaus.accounts.assistance-code", f"{user_id}:{code}", algorithm="sha256").hexdigest()


def assistance_code_normalised(text: str) -> str:
    """The code as typed, without the spaces and dashes people put between its groups."""
    return "".join(ch for ch in (text or "") if ch not in " -\u00a0\t")[:20]


def assistance_code_create(*, user: User, ip: str | None = None) -> tuple[str, datetime]:
    """A new code with which the citizen lets staff use her account's data once (replaces an older one).

    Returns the code (8 digits, shown to her once; only its keyed hash is stored) and when it expires.
    """
    code = f"{secrets.randbelow(10**8):08d}"
    expires_at = timezone.now() + timedelta(minutes=ASSISTANCE_CODE_MINUTES)
    with transaction.atomic():
        AssistanceCode.objects.update_or_create(user=user, defaults={
            "code_hash": _assistance_hash(user.pk, code), "expires_at": expires_at, "failed_attempts": 0})
        audit_record(action="account.assistance_code_created", actor=user, obj=user, ip_address=ip)
    return code, expires_at


def assistance_code_redeem(*, email: str, code: str, actor: User, municipality, ip: str | None = None) -> User | None:
    """The citizen whose account `email` names, if `code` is her valid code; the code is then used up.

    None for an unknown address, a wrong, expired or used code alike (staff learn nothing more).
    A wrong code counts against it: after ASSISTANCE_CODE_TRIES it is gone. Call inside the
    transaction that uses the consent (the draft), so that a failure there leaves the code unused;
    a refusal returns instead of raising, so that the caller's commit keeps the count.
    """
    from .selectors import citizen_by_email

    citizen = citizen_by_email(email=email)
    code = assistance_code_normalised(code)
    if citizen is None or not code:
        return None
    with transaction.atomic():
        stored = AssistanceCode.objects.select_for_update().filter(user=citizen).first()
        if stored is None:
            return None
        if stored.expires_at <= timezone.now():
            stored.delete()
            return None
        if not constant_time_compare(stored.code_hash, _assistance_hash(citizen.pk, code)):
            stored.failed_attempts += 1
            if stored.failed_attempts >= ASSISTANCE_CODE_TRIES:
                stored.delete()
            else:
                stored.save(update_fields=["failed_attempts"])
            audit_record(action="account.assistance_code_refused", municipality=municipality, actor=actor, obj=citizen,
                         summary=f"attempt {stored.failed_attempts}", ip_address=ip)
            return None
        stored.delete()
    return citizen
