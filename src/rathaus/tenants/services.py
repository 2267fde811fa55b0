"""Writes on municipalities: validated by the model (AGS, slug, prefix, e-mail) and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rathaus.core.audit import audit_record

from .models import Municipality


def municipality_create(*, name: str, slug: str, ags: str, reference_prefix: str, contact_email: str, actor=None,
                        actor_label: str = "", ip_address: str | None = None, **details: Any) -> Municipality:
    """Create a municipality; raises ValidationError (nothing stored) when a field is invalid or taken.

    `details` are the optional fields (phone, address, website, logo, is_active).
    """
    municipality = Municipality(name=name, slug=slug, ags=ags, reference_prefix=reference_prefix,
                                contact_email=contact_email, **details)
    municipality.full_clean()
    with transaction.atomic():
        municipality.save()
        audit_record(action="municipality.created", municipality=municipality, actor=actor, obj=municipality,
                     summary=f"{municipality.slug} (AGS {municipality.ags})",
                     data={"slug": municipality.slug, "ags": municipality.ags}, ip_address=ip_address,
                     actor_label=actor_label)
    return municipality


def municipality_update(*, municipality: Municipality, actor=None, actor_label: str = "", ip_address: str | None = None,
                        **fields: Any) -> Municipality:
    """Change fields of a municipality with the same validation; an update that changes nothing writes nothing."""
    changed = [name for name, value in fields.items() if getattr(municipality, name) != value]
    if not changed:
        return municipality
    for name in changed:
        setattr(municipality, name, fields[name])
    try:
        municipality.full_clean()
    except ValidationError:
        municipality.refresh_from_db(fields=changed)  # the caller's object keeps the stored values
        raise
    with transaction.atomic():
        municipality.save(update_fields=changed)
        audit_record(action="municipality.changed", municipality=municipality, actor=actor, obj=municipality,
                     summary=f"{municipality.slug}: {', '.join(changed)}", data={"fields": changed},
                     ip_address=ip_address, actor_label=actor_label)
    return municipality
