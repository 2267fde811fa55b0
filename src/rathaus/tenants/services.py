"""Writes on municipalities: validated by the model (AGS, slug, prefix, e-mail) and audited."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from rathaus.core.audit import audit_record, old_and_new

from .models import Municipality, compact_code

#: Where fees go: a change is what a fraudster would try, so its audit entry keeps old and new value.
BANK_FIELDS = ("payee_name", "iban", "bic")
#: What decision letters print about the town as their sender and the remedy against them: a change
#: alters every later letter's legal effect (a wrong instruction extends the time limit to a year),
#: so its audit entry keeps old and new value as well.
LETTER_FIELDS = ("address", "remedy", "court_name", "court_address", "remedy_note")


def bank_change_notify(*, municipality: Municipality, old: dict[str, Any], actor=None) -> None:
    """Tell the town's contact address and every administrator that its bank details changed.

    Where citizens send their money is what a stolen login would change first: the audit trail
    keeps the old value, and this e-mail makes sure people who know the right account see the change
    at once, not when the first payment is missing. Queued in the caller's transaction (outbox).
    """
    from rathaus.accounts.models import Membership, Role
    from rathaus.processes.outbox import outbox_add

    recipients = [municipality.contact_email, *Membership.objects.filter(
        municipality=municipality, role=Role.TENANT_ADMIN, user__is_active=True).values_list("user__email", flat=True)]
    recipients = list(dict.fromkeys(address for address in recipients if address))
    if not recipients:
        return
    now = timezone.localtime()
    # The account as letters name it (Municipality.bank_account_text), before and after.
    before = Municipality(**{name: old.get(name) or "" for name in BANK_FIELDS}).bank_account_text() or "keine"
    after = municipality.bank_account_text() or "keine"
    who = f" von {actor.get_full_name() or actor.email}" if actor is not None else ""
    url = settings.SITE_URL.rstrip("/") + reverse("tenants:bank_account", kwargs={"municipality": municipality.slug})
    body = (f"Guten Tag,\n\ndie Bankverbindung von {municipality.name} für Zahlungen wurde am {now:%d.%m.%Y} um "
            f"{now:%H:%M} Uhr{who} geändert.\n\nBisher: {before}\nJetzt: {after}\n\n"
            f"Bescheide und Zahlungsaufforderungen nennen ab jetzt dieses Konto. Ist die Änderung nicht mit Ihrer "
            f"Kasse abgesprochen, prüfen Sie sie sofort: {url}\nEine falsche IBAN lenkt Zahlungen auf ein fremdes "
            f"Konto.\n\nRathaus")
    outbox_add(municipality=municipality, key=f"bank-changed:{municipality.pk}:{now.isoformat()}", kind="email",
               payload={"subject": f"Bankverbindung von {municipality.name} geändert", "body": body, "to": recipients})


def municipality_create(*, name: str, slug: str, ags: str, reference_prefix: str, contact_email: str, actor=None,
                        actor_label: str = "", ip_address: str | None = None, **details: Any) -> Municipality:
    """Create a municipality; raises ValidationError (nothing stored) when a field is invalid or taken.

    `details` are the optional fields (phone, address, website, logo, is_active, payee_name, iban, bic;
    an IBAN or BIC may be typed with spaces and in lower case; remedy, court_name, court_address,
    remedy_note for the decision letters).
    """
    municipality = Municipality(name=name, slug=slug, ags=ags, reference_prefix=reference_prefix,
                                contact_email=contact_email, **details)
    municipality.full_clean()
    with transaction.atomic():
        municipality.save()
        audit_record(action="municipality.created", municipality=municipality, actor=actor, obj=municipality,
                     summary=f"{municipality.slug} (AGS {municipality.ags})",
                     data={"slug": municipality.slug, "ags": municipality.ags,
                           **({"iban": municipality.iban} if municipality.iban else {})}, ip_address=ip_address,
                     actor_label=actor_label)
    return municipality


def municipality_update(*, municipality: Municipality, actor=None, actor_label: str = "", ip_address: str | None = None,
                        **fields: Any) -> Municipality:
    """Change fields of a municipality with the same validation; an update that changes nothing writes nothing.

    A change of the bank details or of what letters print (LETTER_FIELDS) is audited with the old
    and the new values.
    """
    # The stored IBAN is compact: the same IBAN typed in groups of four is no change.
    fields = {name: compact_code(value) if name in ("iban", "bic") and isinstance(value, str) else value
              for name, value in fields.items()}
    changed = [name for name, value in fields.items() if getattr(municipality, name) != value]
    if not changed:
        return municipality
    before = {name: getattr(municipality, name) for name in changed if name in BANK_FIELDS}
    letters_before = {name: getattr(municipality, name) for name in changed if name in LETTER_FIELDS}
    for name in changed:
        setattr(municipality, name, fields[name])
    try:
        with transaction.atomic():
            # Locked while checked and written: services check their own remedy against these
            # details under the same lock (catalog.services.service_update), so neither side
            # removes what the other has just relied on.
            list(Municipality.objects.select_for_update().filter(pk=municipality.pk).values_list("pk", flat=True))
            municipality.full_clean()
            municipality.save(update_fields=changed)
            data: dict[str, Any] = {"fields": changed}
            if before:
                data["bank"] = old_and_new(before, municipality)
                bank_change_notify(municipality=municipality, actor=actor,
                                   old={name: before.get(name, getattr(municipality, name)) for name in BANK_FIELDS})
            if letters_before:
                data["letters"] = old_and_new(letters_before, municipality)
            audit_record(action="municipality.changed", municipality=municipality, actor=actor, obj=municipality,
                         summary=f"{municipality.slug}: {', '.join(changed)}", data=data,
                         ip_address=ip_address, actor_label=actor_label)
    except ValidationError:
        municipality.refresh_from_db(fields=changed)  # the caller's object keeps the stored values
        raise
    return municipality
