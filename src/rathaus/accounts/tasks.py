"""Background jobs of the accounts app: account e-mails, sent by the worker instead of within the request.

A registration or a password-reset request answers with the same page whether or not the address
has an account. Sending the e-mail within the request would undo that: the SMTP conversation
takes far longer than anything else the request does, so the time to answer would tell. The
request only queues the mail (with the database queue: one row in its own transaction).
"""

from __future__ import annotations

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tasks import task

#: The templates of the password-reset e-mail (the view names them to Django's form as well).
RESET_SUBJECT_TEMPLATE = "accounts/password_reset_subject.txt"
RESET_EMAIL_TEMPLATE = "accounts/password_reset_email.txt"


@task()
def send_account_mail(subject: str, body: str, to: str) -> None:
    """An account e-mail composed by the request (verification link, "you have an account", receipts)."""
    send_mail(subject, body, None, [to])


@task()
def send_password_reset(user_id: int, protocol: str, domain: str, language: str) -> None:
    """The password-reset link for an account, composed here.

    The link's token is made here, not in the request, so no usable reset link waits in the job
    queue's table. Nothing is sent if the account was deactivated or lost its address meanwhile.
    """
    from .models import User

    user = User.objects.filter(pk=user_id, is_active=True).exclude(email="").first()
    if user is None:
        return
    context = {"email": user.email, "domain": domain, "site_name": domain, "protocol": protocol, "user": user,
               "uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}
    with translation.override(language):
        subject = "".join(render_to_string(RESET_SUBJECT_TEMPLATE, context).splitlines())
        body = render_to_string(RESET_EMAIL_TEMPLATE, context)
    send_mail(subject, body, None, [user.email])
