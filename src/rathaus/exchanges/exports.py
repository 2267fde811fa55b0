"""Downloads: the directory as an open dataset (CSV/JSON), round results, participant lists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils import timezone

from rathaus.core.exports import csv_response, json_response, list_export, local_time  # noqa: F401 - the app's download helpers

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


# Staff lists: one flat record per row of the page, the page's filters applied by the caller.
# Codes (status, kind) stay codes so a spreadsheet can filter on them in any language.


def provider_rows(providers) -> list[dict[str, Any]]:
    return [{"id": p.pk, "name": p.name, "status": p.status, "email": p.email, "offers": p.offer_count,
             "members": p.member_count, "requested_at": local_time(p.created_at)} for p in providers]


def moderation_rows(offers) -> list[dict[str, Any]]:
    return [{"id": o.pk, "title": o.title, "directory": o.directory, "category": o.category.name if o.category else "",
             "provider": o.provider.name, "status": o.status, "submitted_at": local_time(o.submitted_at)} for o in offers]


def category_rows(categories) -> list[dict[str, Any]]:
    return [{"directory": c.directory, "name": c.name, "slug": c.slug} for c in categories]


def facility_rows(facilities) -> list[dict[str, Any]]:
    """One row per facility, group and start month: the places the allocation works with."""
    rows = []
    for f in facilities:
        catchment = ", ".join(d.name for d in f.catchment_districts.all())
        base = {"facility": f.code, "facility_name": f.name, "active": f.is_active, "catchment": catchment}
        slots = [(g, c) for g in f.groups.all() for c in g.capacities.all()] or [(None, None)]
        rows += [{**base, "group": g.name if g else "", "group_kind": g.kind if g else "",
                  "care_hours": ", ".join(map(str, g.care_hours)) if g else "",
                  "start_month": c.start_month.isoformat() if c else "", "places": c.places if c else None}
                 for g, c in slots]
    return rows


def registration_rows(registrations) -> list[dict[str, Any]]:
    return [{"reference": r.reference, "child_first_name": r.child_first_name, "child_last_name": r.child_last_name,
             "birth_date": r.birth_date.isoformat(), "parent_email": r.parent_email, "group_kind": r.group_kind,
             "desired_start": r.desired_start.isoformat(), "care_hours": r.care_hours,
             "wishes": "; ".join(w.facility.code for w in r.wishes.all()), "single_parent": r.single_parent,
             "district": r.district.name if r.district_id else "", "parents_working": r.parents_working,
             "special_needs": r.special_needs,
             "sibling_facility": r.sibling_facility.code if r.sibling_facility_id else "", "status": r.status,
             "created_at": local_time(r.created_at)} for r in registrations]


def round_rows(rounds) -> list[dict[str, Any]]:
    return [{"number": r.number, "follow_up_of": r.previous.number if r.previous else None, "status": r.status,
             "seed": r.seed, "run_at": local_time(r.run_at), "offer_deadline": r.offer_deadline.isoformat()}
            for r in rounds]


def programme_rows(programmes) -> list[dict[str, Any]]:
    return [{"id": p.pk, "name": p.name, "starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat(),
             "registration_until": p.registration_until.isoformat(), "status": p.status} for p in programmes]


def public_activity_rows(activities, *, drawn: bool) -> list[dict[str, Any]]:
    """The published activities of a holiday programme as families see them (places taken once drawn)."""
    return [{"id": a.pk, "title": a.title, "description": a.description, "meeting_point": a.place_name,
             "address": a.address, "start_date": a.start_date.isoformat(), "end_date": a.end_date.isoformat(),
             "start_time": a.start_time.strftime("%H:%M") if a.start_time else "",
             "end_time": a.end_time.strftime("%H:%M") if a.end_time else "", "min_age": a.min_age, "max_age": a.max_age,
             "places": a.capacity, **({"taken": a.taken} if drawn else {"wishes": a.wish_count}),
             "fee_eur": str(a.fee), "provider": a.provider.name if a.provider else ""} for a in activities]


def provider_offer_rows(offers) -> list[dict[str, Any]]:
    """A provider's own directory offers, for the provider's download."""
    return [{"id": o.pk, "title": o.title, "directory": o.directory, "status": o.status,
             "rejection_reason": o.rejection_reason if o.status == "rejected" else "",
             "updated_at": local_time(o.updated_at)} for o in offers]


def activity_rows(activities) -> list[dict[str, Any]]:
    return [{"id": a.pk, "title": a.title, "provider": a.provider.name if a.provider else "",
             "start_date": a.start_date.isoformat(), "end_date": a.end_date.isoformat(), "status": a.status,
             "capacity": a.capacity, "taken": a.taken, "waiting": a.waiting, "min_age": a.min_age, "max_age": a.max_age,
             "fee_eur": str(a.fee)} for a in activities]
