"""Downloads: the directory as an open dataset (CSV/JSON), round results, participant lists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils import timezone

from rathaus.core.exports import csv_response, json_response  # noqa: F401 - the app's download helpers

from .models import ACCESSIBILITY_FLAGS, Offer

OFFER_COLUMNS = [
    "id", "directory", "category", "title", "description", "provider", "min_age", "max_age", "weekly", "dates",
    "schedule_note", "place_name", "street", "postcode", "city", "latitude", "longitude", "fee_eur", "fee_note",
    *[name for name, _label in ACCESSIBILITY_FLAGS], "contact_name", "contact_email", "contact_phone", "website",
    "url", "updated_at",
]


def offer_record(offer: Offer, url: str) -> dict[str, Any]:
    """One offer as a flat record; dates in ISO 8601, coordinates as WGS 84 decimal degrees."""
    record: dict[str, Any] = {
        "id": offer.pk, "directory": offer.directory, "category": offer.category.name if offer.category else "",
        "title": offer.title, "description": offer.description, "provider": offer.provider.name,
        "min_age": offer.min_age, "max_age": offer.max_age,
        "weekly": "; ".join(f"{['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'][s.weekday]} {s.start_time:%H:%M}-{s.end_time:%H:%M}"
                            for s in offer.slots.all()),
        "dates": "; ".join(timezone.localtime(d.starts_at).isoformat() for d in offer.dates.all()),
        "schedule_note": offer.schedule_note, "place_name": offer.place_name, "street": offer.street,
        "postcode": offer.postcode, "city": offer.city,
        "latitude": float(offer.latitude) if offer.latitude is not None else None,
        "longitude": float(offer.longitude) if offer.longitude is not None else None,
        "fee_eur": str(offer.fee), "fee_note": offer.fee_note,
        "contact_name": offer.contact_name, "contact_email": offer.contact_email, "contact_phone": offer.contact_phone,
        "website": offer.website, "url": url, "updated_at": offer.updated_at.isoformat(),
    }
    for name, _label in ACCESSIBILITY_FLAGS:
        record[name] = bool(getattr(offer, name))
    return record


def offers_dataset(offers: Iterable[Offer], url_for: Callable[[Offer], str], *, municipality, directory_label: str,
                   source_url: str, limit: int, truncated: bool) -> dict[str, Any]:
    """The JSON document: a little metadata, then the records (same fields as the CSV).

    `truncated` says that more offers matched than the `limit` a download holds.
    """
    records = [offer_record(o, url_for(o)) for o in offers]
    return {
        "title": f"{directory_label} {municipality.name}", "publisher": municipality.name,
        "source": source_url, "generated_at": timezone.now().isoformat(), "count": len(records),
        "limit": limit, "truncated": truncated, "offers": records,
    }
