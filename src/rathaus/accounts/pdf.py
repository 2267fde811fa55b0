"""The human-readable copy of a citizen's stored data (Art. 15 GDPR), from the same document as the JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import models
from django.utils import timezone, translation

from rathaus.applications.models import MandateKind, Status
from rathaus.applications.pdf import TextPdf
from rathaus.exchanges.models import RegistrationStatus

from .models import Profile, RequestState
from .services import PROFILE_FIELDS


def _label(choices: type[models.TextChoices], value: str) -> str:
    """The model's own label of a stored choice (the PDF is German, like the rest of its text)."""
    with translation.override("de"):
        return str(choices(value).label) if value in choices.values else value


def _when(value: str | None) -> str:
    if not value:
        return "–"
    try:
        if len(value) == 10:
            return date.fromisoformat(value).strftime("%d.%m.%Y")
        return timezone.localtime(datetime.fromisoformat(value)).strftime("%d.%m.%Y, %H:%M Uhr")
    except ValueError:
        return value


def personal_data_pdf(document: dict[str, Any]) -> bytes:
    """Auskunft nach Art. 15 DSGVO: account, profile, applications, exchanges, requests, log."""
    account = document["account"]
    pdf = TextPdf("Auskunft über Ihre gespeicherten Daten", "Digitales Rathaus")
    pdf.add_page()
    pdf.block("Auskunft über Ihre gespeicherten Daten (Art. 15 DSGVO)", 16, "B", 8)
    pdf.block(f"Erstellt am {_when(document['created_at'])}. Die maschinenlesbare Fassung (JSON) enthält dieselben Daten.",
              9, "", 5)
    pdf.ln(2)
    pdf.block("Konto", 13, "B", 8)
    for label, value in (("Name", f"{account['first_name']} {account['last_name']}".strip() or "–"),
                         ("E-Mail", account["email"]), ("Benutzername", account["username"]),
                         ("Registriert am", _when(account["date_joined"])), ("Letzte Anmeldung", _when(account["last_login"]))):
        pdf.fact(label, value)
    pdf.ln(2)
    pdf.block("Meine Daten (für das Ausfüllen von Formularen)", 13, "B", 8)
    for key in PROFILE_FIELDS:
        value = document["profile"].get(key) or "–"
        with translation.override("de"):
            label = str(Profile._meta.get_field(key).verbose_name)
        pdf.fact(label, _when(value) if key == "birth_date" and value != "–" else value)
    pdf.ln(2)
    pdf.block(f"Anträge ({len(document['applications'])})", 13, "B", 8)
    if not document["applications"]:
        pdf.block("Keine.", 10)
    for application in document["applications"]:
        pdf.block(f"{application['reference']} – {application['service']}", 11, "B", 7)
        pdf.fact("Kommune", application["municipality"], size=10, height=6)
        pdf.fact("Eingegangen", _when(application["submitted_at"]), size=10, height=6)
        pdf.fact("Status", _label(Status, application["status"]), size=10, height=6)
        if application["anonymised_at"]:
            pdf.fact("Anonymisiert", _when(application["anonymised_at"]), size=10, height=6)
        representation = application.get("representation")
        if representation:
            pdf.fact("Vertretung", f"{_label(MandateKind, representation['kind'])}: "
                                   f"für {representation['principal_name']}", size=10, height=6)
        for step, rows in application["summary"]:
            for label, value in rows:
                pdf.block(f"{step} › {label}: {value}", 9, "", 5)
        for change in application["status_history"]:
            pdf.block(f"{_when(change['at'])} – {_label(Status, change['status'])}: {change['text']}", 9, "", 5)
        for doc in application["documents"]:
            files = ", ".join(f"{v['filename']} ({v['size']} Bytes)" for v in doc["versions"])
            pdf.block(f"Dokument: {doc['title']} ({_when(doc['created_at'])}){': ' + files if files else ''}", 9, "", 5)
        pdf.ln(2)
    exchanges = document["exchanges"]
    registrations = exchanges["daycare_registrations"] + exchanges["holiday_registrations"]
    pdf.block(f"Anmeldungen in Börsen ({len(registrations)})", 13, "B", 8)
    if not registrations:
        pdf.block("Keine.", 10)
    for registration in exchanges["daycare_registrations"]:
        pdf.block(f"Kita-Anmeldung {registration['reference']} ({registration['municipality']}): "
                  f"{registration['child_first_name']} {registration['child_last_name']}, "
                  f"Status {_label(RegistrationStatus, registration['status'])}", 10, "", 6)
    for registration in exchanges["holiday_registrations"]:
        pdf.block(f"Ferienprogramm {registration['programme']} ({registration['municipality']}): "
                  f"{registration['child_first_name']} {registration['child_last_name']}", 10, "", 6)
    pdf.ln(2)
    pdf.block(f"Ihre Datenschutz-Anfragen ({len(document['data_subject_requests'])})", 13, "B", 8)
    for request in document["data_subject_requests"]:
        pdf.block(f"{request['reference']} ({request['municipality']}), gestellt {_when(request['created_at'])}: "
                  f"{_label(RequestState, request['state'])}", 10, "", 6)
    pdf.ln(2)
    pdf.block(f"Protokoll ({len(document['audit'])} Einträge)", 13, "B", 8)
    pdf.block("Anmeldungen und Änderungen, die Sie vorgenommen haben oder die Ihr Konto und Ihre Anträge betreffen.", 9, "", 5)
    for entry in document["audit"]:
        pdf.block(f"{_when(entry['at'])} {entry['action']}{' (' + entry['municipality'] + ')' if entry['municipality'] else ''}",
                  9, "", 5)
    return pdf.render()
