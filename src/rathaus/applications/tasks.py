"""Background jobs of the applications app (django-tasks, enqueued after commit)."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django_tasks import task

from .models import Application, StatusChange


def _status_url(application: Application, token: str) -> str:
    path = reverse("applications:status", kwargs={"municipality": application.municipality.slug,
                                                   "reference": application.reference, "token": token})
    return settings.SITE_URL.rstrip("/") + path


@task()
def send_receipt_email(application_id: int, token: str) -> None:
    """Confirmation of receipt with the PDF and the status link."""
    from rathaus.cases.files import read_bytes
    from rathaus.cases.services import receipt_document_ensure

    from .pdf import receipt_pdf

    application = Application.objects.select_related("municipality", "service", "form").get(pk=application_id)
    with translation.override("de"):
        body = _(
            "Guten Tag,\n\nIhr Antrag „%(service)s“ ist am %(date)s bei %(town)s eingegangen.\n"
            "Ihre Vorgangsnummer: %(ref)s\n\nDen Stand Ihres Antrags sehen Sie jederzeit hier:\n%(url)s\n\n"
            "Die Eingangsbestätigung mit allen Angaben finden Sie im Anhang.\n\nMit freundlichen Grüßen\n%(town)s"
        ) % {"service": application.service.name, "date": application.submitted_at.strftime("%d.%m.%Y"),
             "town": application.municipality.name, "ref": application.reference, "url": _status_url(application, token)}
        message = EmailMessage(_("Eingangsbestätigung %(ref)s") % {"ref": application.reference}, body,
                               to=[application.applicant_email])
        # The receipt goes into the case file here (version 1), so mail, status page and staff share one document.
        version = receipt_document_ensure(application=application)
        pdf = read_bytes(version.file) if version is not None else receipt_pdf(application)
        message.attach(f"Eingangsbestaetigung-{application.reference}.pdf", pdf, "application/pdf")
        message.send()


@task()
def send_status_email(status_change_id: int) -> None:
    change = StatusChange.objects.select_related("application__municipality").get(pk=status_change_id)
    application = change.application
    with translation.override("de"):
        body = _("Guten Tag,\n\nes gibt Neuigkeiten zu Ihrem Antrag %(ref)s:\n\n%(status)s – %(text)s\n\n"
                 "Den vollständigen Verlauf sehen Sie mit dem Link aus Ihrer Eingangsbestätigung.\n\n%(town)s") % {
            "ref": application.reference, "status": change.get_status_display(), "text": change.public_text,
            "town": application.municipality.name}
        EmailMessage(_("Neuer Stand zu %(ref)s") % {"ref": application.reference}, body, to=[application.applicant_email]).send()


@task()
def apply_retention() -> dict:
    from .services import applications_apply_retention

    return applications_apply_retention()
