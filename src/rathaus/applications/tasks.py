"""Background jobs of the applications app (django-tasks, enqueued after commit)."""

import contextvars
import functools
import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from rathaus.processes.outbox import composer, outbox_deliver_collected, outbox_delivered_here

from .models import RECEIPT_COMPOSER, STATUS_COMPOSER, Application, StatusChange
from .selectors import application_for_job

logger = logging.getLogger(__name__)
#: The application the submission's job read at its start, for the receipt it sends (see receipt_email).
_job_application: contextvars.ContextVar[Application | None] = contextvars.ContextVar("rathaus_job_application",
                                                                                      default=None)


def _status_url(application: Application, token: str) -> str:
    path = reverse("applications:status", kwargs={"municipality": application.municipality.slug,
                                                   "reference": application.reference, "token": token})
    return settings.SITE_URL.rstrip("/") + path


@task()
@outbox_delivered_here()  # receipt and the e-mails the process queues (status, decision) go out together
def application_received(application_id: int) -> None:
    """Everything that follows a submission, in one job: receipt, process start, subscribers.

    One job row per submission instead of three keeps the submission's transaction short and the
    worker's queue small. Each part runs even if an earlier one failed; the first failure is
    raised at the end, so the job is marked failed and the log names what went wrong.
    """
    from rathaus.integration.services import deliveries_run_if_subscribed, job_fans_out
    from rathaus.processes.services import process_start

    application = application_for_job(application_id)
    if application is None:
        return  # deleted (or anonymised away) before the worker came to it
    failures: list[BaseException] = []
    steps = [lambda: process_start(application=application),
             outbox_deliver_collected,  # the citizen's e-mails do not wait for subscribers' webhooks
             lambda: deliveries_run_if_subscribed(municipality_id=application.municipality_id)]
    if application.applicant_email:
        steps.insert(0, lambda: _send_receipt(application))
    token = _job_application.set(application)
    try:
        # The process's events queue no fan-out job of their own: this job's last step runs it.
        with job_fans_out(application.municipality_id):
            for step in steps:
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - the other parts must still run; re-raised below
                    logger.exception("after submission of application %s", application_id)
                    failures.append(exc)
    finally:
        _job_application.reset(token)
    if failures:
        raise failures[0]


@task()
def send_receipt_email(application_id: int, token: str = "") -> None:
    """Confirmation of receipt (jobs queued before application_received; the token is derived anew)."""
    _send_receipt(Application.objects.select_related("municipality", "service", "form").get(pk=application_id))


def _send_receipt(application: Application) -> None:
    """Send the receipt e-mail's outbox message (once per application; the sweep retries it).

    A re-run job finds the message sent and sends nothing; if the worker died before, the outbox
    sweep sends it.
    """
    from rathaus.processes.models import OutboxKind
    from rathaus.processes.outbox import outbox_add, outbox_deliver_soon, outbox_message_id

    from .services import receipt_message_key, receipt_payload

    key = receipt_message_key(application.pk)
    message_id = outbox_message_id(key)
    if message_id is None:  # the submission stores the message; applications from before that get it here
        message_id = outbox_add(municipality=application.municipality, key=key, kind=OutboxKind.EMAIL,
                                payload=receipt_payload(application.pk), enqueue=False).pk
    outbox_deliver_soon(message_id)  # in application_received: with the process's e-mails, before them


@composer(RECEIPT_COMPOSER)
def receipt_email(application_id: int) -> EmailMessage | None:
    """The receipt e-mail with the reference and the status link (composed when the outbox sends it).

    It carries no PDF and none of the submitted data: the e-mail stays small, and what the
    citizen entered (birth dates, addresses, …) is not copied into mailboxes, their backups and
    forwards. The receipt PDF with all data is a download on the status page behind the link,
    made and stored in the case file the first time it is fetched (`receipt_document_ensure`).
    None when there is no one to write to any more (the application was anonymised or deleted).
    """
    from .services import access_token_for

    # In the submission's job: the application it read a moment ago (nothing the receipt shows has
    # changed since); elsewhere (the outbox sweep) it is read now.
    known = _job_application.get()
    application = known if known is not None and known.pk == application_id else application_for_job(application_id)
    if application is None or application.anonymised_at is not None or not application.applicant_email:
        return None
    with translation.override("de"):
        body = _(
            "Guten Tag,\n\nIhr Antrag „%(service)s“ ist am %(date)s bei %(town)s eingegangen.\n"
            "Ihre Vorgangsnummer: %(ref)s\n\nDen Stand Ihres Antrags sehen Sie jederzeit hier:\n%(url)s\n\n"
            "Dort können Sie auch die Eingangsbestätigung mit allen Angaben als PDF herunterladen.\n\n"
            "Mit freundlichen Grüßen\n%(town)s"
        ) % {"service": application.service.name, "date": timezone.localtime(application.submitted_at).strftime("%d.%m.%Y"),
             "town": application.municipality.name, "ref": application.reference,
             "url": _status_url(application, access_token_for(application))}
        return EmailMessage(_("Eingangsbestätigung %(ref)s") % {"ref": application.reference}, body,
                            to=[application.applicant_email])


@task()
def send_status_email(status_change_id: int) -> None:
    """The status e-mail of jobs queued before it went through the outbox: now sent through it."""
    from rathaus.processes.outbox import outbox_deliver

    from .services import status_message

    change = _status_change(status_change_id)
    if change is not None:
        outbox_deliver(message_id_=status_message(change, enqueue=False).pk)


@functools.lru_cache(maxsize=8)
def _status_change_sql(alias: str):
    from django.db import connections

    from rathaus.core.sql import select_columns

    from .selectors import application_select

    connection = connections[alias]
    select = application_select(connection, defer=("data",))
    c_cols, c_fields = select_columns(StatusChange, "c", connection)
    quote = connection.ops.quote_name
    sql = select.statement(f"c.{quote('id')} = %s", columns=c_cols, joins=(
        f"JOIN {quote(StatusChange._meta.db_table)} c ON c.{quote('application_id')} = a.{quote('id')}"))
    return sql, select, c_fields


def _status_change(status_change_id: int) -> StatusChange | None:
    """The status change with its application, municipality and service (one prepared statement)."""
    from django.db import connections, router

    from rathaus.core.sql import instance_from_row, prepared_cursor

    connection = connections[router.db_for_read(StatusChange)]
    sql, select, c_fields = _status_change_sql(connection.alias)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [status_change_id])
        row = cursor.fetchone()
    if row is None:
        return None
    application, rest = select.build(row, connection)
    change = instance_from_row(StatusChange, c_fields, rest, connection)
    change.application = application
    return change


@composer(STATUS_COMPOSER)
def status_email(status_change_id: int) -> EmailMessage | None:
    """The e-mail about a new status, with the text the citizen reads (composed when the outbox sends it).

    None when there is no one to write to any more (the application was anonymised or deleted).
    """
    change = _status_change(status_change_id)
    application = change.application if change is not None else None
    if application is None or application.anonymised_at is not None or not application.applicant_email:
        return None
    with translation.override("de"):
        body = _("Guten Tag,\n\nes gibt Neuigkeiten zu Ihrem Antrag %(ref)s:\n\n%(status)s – %(text)s\n\n"
                 "Den vollständigen Verlauf sehen Sie mit dem Link aus Ihrer Eingangsbestätigung.\n\n"
                 "Mit freundlichen Grüßen\n%(town)s") % {
            "ref": application.reference, "status": change.get_status_display(), "text": change.public_text,
            "town": application.municipality.name}
        return EmailMessage(_("Neuer Stand zu %(ref)s") % {"ref": application.reference}, body,
                            to=[application.applicant_email])


@task()
def apply_retention() -> dict:
    from .services import applications_apply_retention

    return applications_apply_retention()
