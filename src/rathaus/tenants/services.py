"""Writes on municipalities: validated by the model (AGS, slug, prefix, e-mail) and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rathaus.core.audit import audit_record

from .models import Municipality, compact_code

#: Where fees go: a change is what a fraudster would try, so its audit entry keeps old and new value.
BANK_FIELDS = ("payee_name", "iban", "bic")


def _bank_changes(before: dict[str, Any], municipality: Municipality) -> dict[str, dict[str, str]]:
    return {name: {"old": before[name], "new": getattr(municipality, name)} for name in before}


def municipality_create(*, name: str, slug: str, ags: str, reference_prefix: str, contact_email: str, actor=None,
                        actor_label: str = "", ip_address: str | None = None, **details: Any) -> Municipality:
    """Create a municipality; raises ValidationError (nothing stored) when a field is invalid or taken.

    `details` are the optional fields (phone, address, website, logo, is_active, payee_name, iban, bic;
    an IBAN or BIC may be typed with spaces and in lower case).
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

    A change of the bank details is audited with the old and the new values.
    """
    # The stored IBAN is compact: the same IBAN typed in groups of four is no change.
    fields = {name: compact_code(value) if name in ("iban", "bic") and isinstance(value, str) else value
              for name, value in fields.items()}
    changed = [name for name, value in fields.items() if getattr(municipality, name) != value]
    if not changed:
        return municipality
    before = {name: getattr(municipality, name) for name in changed if name in BANK_FIELDS}
    for name in changed:
        setattr(municipality, name, fields[name])
    try:
        municipality.full_clean()
    except ValidationError:
        municipality.refresh_from_db(fields=changed)  # the caller's object keeps the stored values
        raise
    with transaction.atomic():
        municipality.save(update_fields=changed)
        data: dict[str, Any] = {"fields": changed}
        if before:
            data["bank"] = _bank_changes(before, municipality)
        audit_record(action="municipality.changed", municipality=municipality, actor=actor, obj=municipality,
                     summary=f"{municipality.slug}: {', '.join(changed)}", data=data,
                     ip_address=ip_address, actor_label=actor_label)
    return municipality
