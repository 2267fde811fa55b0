"""Background jobs of the accounts app: account e-mails, sent by the worker instead of within the request.

A registration or a password-reset request answers with the same page whether or not the address
has an account. Sending the e-mail within the request would undo that: the SMTP conversation
takes far longer than anything else the request does, so the time to answer would tell. The
request only queues the mail (with the database queue: one row in its own transaction).

The job's arguments are ids, a kind, the site's address and the language: the job composes the
e-mail when it runs. Nothing personal (name, address, link, case references) waits in the queue's
table, where the rows of finished jobs stay RATHAUS_TASK_RESULTS_DAYS (core.task_results).

The worker does not retry a failed job, and the page has already said the e-mail is on its way:
when the mail server or the network fails, `_send` queues the job again for later, with growing
waits, up to MAX_ATTEMPTS times (about an hour), and logs each failure.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django_tasks import task

logger = logging.getLogger(__name__)

#: The templates of the password-reset e-mail (the view names them to Django's form as well).
RESET_SUBJECT_TEMPLATE = "accounts/password_reset_subject.txt"
RESET_EMAIL_TEMPLATE = "accounts/password_reset_email.txt"

#: The kinds of `send_account_mail`.
VERIFY = "verify"                      # the verification link of a new account
VERIFY_AGAIN = "verify_again"          # a new link for an unverified account (she registered again)
ACCOUNT_EXISTS = "account_exists"      # someone registered with the address of a verified account
ERASURE_RECEIVED = "erasure_received"  # the receipt of her erasure requests

#: Waits before the second, third … attempt of an account e-mail the mail server did not take:
#: 5 attempts over about an hour.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=40))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def _user(user_id: int, *, active_only: bool = False):
    """The account if it still exists and has an address (else nothing is sent)."""
    from .models import User

    users = User.objects.filter(pk=user_id).exclude(email="")
    return (users.filter(is_active=True) if active_only else users).first()


def _transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed: the server or the network failed, not the address."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    # smtplib.SMTPException is an OSError; so are ConnectionError and socket timeouts (TimeoutError).
    return isinstance(exc, (smtplib.SMTPException, OSError))


def _send(job, args: list, attempt: int, subject: str, body: str, to: str) -> None:
    """Send the e-mail; on a transient failure queue `job(*args)` again for later, up to MAX_ATTEMPTS."""
    try:
        send_mail(subject, body, None, [to])
    except Exception as exc:
        if not _transient(exc):
            raise
        what = f"{job.name}{tuple(args[:2])}"  # the task, its kind or user id: nothing personal in the log
        if attempt >= MAX_ATTEMPTS or not job.get_backend().supports_defer:
            logger.error("account e-mail %s failed on attempt %d of %d, giving up: %r", what, attempt, MAX_ATTEMPTS, exc)
            raise
        run_after = timezone.now() + RETRY_DELAYS[attempt - 1]
        logger.warning("account e-mail %s failed on attempt %d of %d, trying again at %s: %r",
                       what, attempt, MAX_ATTEMPTS, run_after.isoformat(), exc)
        job.using(run_after=run_after).enqueue(*args, attempt=attempt + 1)


def _account_mail(kind: str, user, site_url: str, request_ids: list[int]) -> tuple[str, str] | None:
    """Subject and body of an account e-mail in the active language; None if there is nothing to say."""
    base = site_url.rstrip("/")
    name = user.get_full_name()
    if kind in (VERIFY, VERIFY_AGAIN):
        from .services import verification_link

        params = {"name": name, "link": verification_link(user, site_url)}
        if kind == VERIFY:
            body = _("Guten Tag %(name)s,\n\nbitte bestätigen Sie Ihr Konto mit diesem Link (gültig 3 Tage):\n%(link)s\n\n"
                     "Wenn Sie kein Konto angelegt haben, ignorieren Sie diese Nachricht.")
        else:
            body = _("Guten Tag %(name)s,\n\nfür diese E-Mail-Adresse gibt es schon ein Konto, das noch nicht bestätigt ist. "
                     "Bitte bestätigen Sie es mit diesem Link (gültig 3 Tage):\n%(link)s\n\n"
                     "Melden Sie sich danach mit dem Passwort an, das Sie beim ersten Mal gewählt haben. "
                     "Wenn Sie es nicht mehr wissen, legen Sie hier ein neues fest:\n%(reset)s\n\n"
                     "Wenn Sie kein Konto angelegt haben, ignorieren Sie diese Nachricht.")
            params["reset"] = base + reverse("accounts:password_reset")
        return _("Bitte bestätigen Sie Ihre E-Mail-Adresse"), body % params
    if kind == ACCOUNT_EXISTS:
        body = _("Guten Tag %(name)s,\n\njemand – vielleicht Sie – wollte mit dieser E-Mail-Adresse ein neues Konto anlegen. "
                 "Sie haben bereits ein Konto; es bleibt unverändert.\n\n"
                 "Anmelden: %(login)s\nPasswort vergessen? Hier legen Sie ein neues fest: %(reset)s\n\n"
                 "Wenn Sie das nicht waren, ignorieren Sie diese Nachricht.")
        return _("Sie haben bereits ein Konto"), body % {
            "name": name or user.email, "login": base + reverse("accounts:login"), "reset": base + reverse("accounts:password_reset")}
    if kind == ERASURE_RECEIVED:
        from .models import DataSubjectRequest

        requests = (DataSubjectRequest.objects.filter(pk__in=request_ids, user=user).select_related("municipality")
                    .order_by("pk"))
        lines = "\n".join(f"- {r.municipality.name}: {r.reference}, " + _("Antwort bis %(d)s") % {"d": r.due_date.strftime("%d.%m.%Y")}
                          for r in requests)
        if not lines:
            return None
        body = _("Guten Tag %(name)s,\n\nwir haben Ihren Antrag auf Löschung Ihrer Daten an diese Stellen weitergeleitet:\n%(lines)s\n\n"
                 "Jede Stelle prüft, welche Daten sie löschen darf, und antwortet Ihnen innerhalb eines Monats. "
                 "Den Stand sehen Sie auch in Ihrem Konto unter „Meine Daten“.")
        return _("Ihr Antrag auf Löschung Ihrer Daten ist eingegangen"), body % {"name": name or user.email, "lines": lines}
    raise ValueError(f"unknown account e-mail kind {kind!r}")


@task()
def send_account_mail(kind: str, user_id: int, site_url: str, language: str, request_ids: list[int] | None = None, *,
                      attempt: int = 1) -> None:
    """An account e-mail of `kind` (VERIFY, VERIFY_AGAIN, ACCOUNT_EXISTS or ERASURE_RECEIVED; another
    is refused where it is composed) to the account `user_id`, composed here in `language`.

    `request_ids` are the erasure requests a receipt lists. Nothing is sent if the account or its
    address is gone meanwhile (or, for a receipt, every request it would list).
    """
    user = _user(user_id)
    if user is None:
        return
    with translation.override(language):
        message = _account_mail(kind, user, site_url, request_ids or [])
    if message is not None:
        _send(send_account_mail, [kind, user_id, site_url, language, request_ids], attempt, *message, user.email)


@task()
def send_password_reset(user_id: int, protocol: str, domain: str, language: str, *, attempt: int = 1) -> None:
    """The password-reset link for an account, composed here.

    The link's token is made here, not in the request, so no usable reset link waits in the job
    queue's table. Nothing is sent if the account was deactivated or lost its address meanwhile.
    """
    user = _user(user_id, active_only=True)
    if user is None:
        return
    context = {"email": user.email, "domain": domain, "site_name": domain, "protocol": protocol, "user": user,
               "uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}
    with translation.override(language):
        subject = "".join(render_to_string(RESET_SUBJECT_TEMPLATE, context).splitlines())
        body = render_to_string(RESET_EMAIL_TEMPLATE, context)
    _send(send_password_reset, [user_id, protocol, domain, language], attempt, subject, body, user.email)
