"""One entry point for the audit log, called by every service that writes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any

from django.db import transaction

from .models import AuditChainHead, AuditEntry


def audit_record(
    *,
    action: str,
    municipality=None,
    actor=None,
    obj=None,
    summary: str = "",
    data: dict[str, Any] | None = None,
    ip_address: str | None = None,
    actor_label: str = "",
) -> AuditEntry:
    """Append one audit entry; call inside the service's transaction so both commit together."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    label = actor_label or (actor.get_username() if actor is not None else "")
    # No savepoint: inside a service's transaction a failure here must roll back the whole write anyway.
    with transaction.atomic(savepoint=False):
        key = chain_key(getattr(municipality, "pk", None))
        head = AuditChainHead.objects.select_for_update().filter(key=key).first()
        if head is None:
            AuditChainHead.objects.get_or_create(key=key)
            head = AuditChainHead.objects.select_for_update().get(key=key)
        entry = AuditEntry.objects.create(
            municipality=municipality,
            actor=actor,
            actor_label=label[:200],
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            summary=summary[:500],
            data=data or {},
            ip_address=ip_address,
            prev_hash=head.last_hash,
        )
        # created_at is only known after the insert; update() writes the hash without save().
        entry.hash = entry_hash(entry)
        AuditEntry.objects.filter(pk=entry.pk).update(hash=entry.hash)
        AuditChainHead.objects.filter(pk=head.pk).update(last_hash=entry.hash, last_entry_id=entry.pk)
    return entry


def audit_record_many(records: list[dict[str, Any]], *, municipality=None) -> list[AuditEntry]:
    """Append several entries of one municipality with one chain-head lock and three queries.

    Each record takes the keyword arguments of :func:`audit_record` (without `municipality`).
    Used by services that write many entries at once (a process step sequence).
    """
    if not records:
        return []
    entries = []
    for record in records:
        actor = record.get("actor")
        if actor is not None and not getattr(actor, "is_authenticated", False):
            actor = None
        obj = record.get("obj")
        label = record.get("actor_label") or (actor.get_username() if actor is not None else "")
        entries.append(AuditEntry(
            municipality=municipality, actor=actor, actor_label=label[:200], action=record["action"],
            object_type=obj._meta.label_lower if obj is not None else "", object_id=str(obj.pk) if obj is not None else "",
            summary=record.get("summary", "")[:500], data=record.get("data") or {}, ip_address=record.get("ip_address"),
        ))
    with transaction.atomic():
        key = chain_key(getattr(municipality, "pk", None))
        head = AuditChainHead.objects.select_for_update().filter(key=key).first()
        if head is None:
            AuditChainHead.objects.get_or_create(key=key)
            head = AuditChainHead.objects.select_for_update().get(key=key)
        # bulk_create sets created_at on the objects (auto_now_add), so the hashes can be computed after it.
        AuditEntry.objects.bulk_create(entries)
        previous = head.last_hash
        for entry in entries:
            entry.prev_hash = previous
            entry.hash = previous = entry_hash(entry)
        AuditEntry.objects.bulk_update(entries, ["prev_hash", "hash"])
        AuditChainHead.objects.filter(pk=head.pk).update(last_hash=previous, last_entry_id=entries[-1].pk)
    return entries


def chain_key(municipality_id: int | None) -> str:
    """Name of the chain an entry of this municipality belongs to."""
    return f"m:{municipality_id}" if municipality_id is not None else "global"


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's content and its predecessor's hash (canonical JSON)."""
    created = entry.created_at.astimezone(UTC).isoformat(timespec="microseconds") if entry.created_at else ""
    # Normalise as the database will: JSON round trip (int keys become strings), IPv6 spelling.
    data = json.loads(json.dumps(entry.data, default=str))
    ip = AuditEntry._meta.get_field("ip_address").get_prep_value(entry.ip_address)
    content = [
        entry.municipality_id, entry.actor_id, entry.actor_label, entry.action, entry.object_type, str(entry.object_id),
        entry.summary, data, ip, created, entry.prev_hash,
    ]
    raw = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def audit_verify(*, municipality_id: int | None = None, all_chains: bool = True) -> list[dict[str, Any]]:
    """Recompute every chain; returns one finding per broken chain (empty list: intact).

    Entries written before the chain existed (empty hash, at the start of a chain) are legacy
    and skipped; an unhashed entry after the first hashed one is a break.
    """
    findings: list[dict[str, Any]] = []
    ids = AuditEntry.objects.order_by().values_list("municipality_id", flat=True).distinct()
    chains = sorted({m for m in ids}, key=lambda m: (m is not None, m or 0))
    if not all_chains:
        chains = [municipality_id]
    for mid in chains:
        previous = ""
        started = False
        rows = AuditEntry.objects.filter(municipality_id=mid).order_by("id") if mid is not None else \
            AuditEntry.objects.filter(municipality__isnull=True).order_by("id")
        for entry in rows.iterator(chunk_size=2000):
            if not entry.hash and not started:
                continue
            started = True
            problem = ""
            if entry.prev_hash != previous:
                problem = "prev_hash does not match the previous entry (entry deleted or reordered)"
            elif entry_hash(entry) != entry.hash:
                problem = "content does not match its hash (entry changed)"
            if problem:
                findings.append({"chain": chain_key(mid), "entry_id": entry.pk, "problem": problem})
                break
            previous = entry.hash
        head = AuditChainHead.objects.filter(key=chain_key(mid)).first()
        if started and head is not None and head.last_hash != previous and not any(f["chain"] == chain_key(mid) for f in findings):
            findings.append({"chain": chain_key(mid), "entry_id": head.last_entry_id,
                             "problem": "the newest entries are missing (chain head does not match)"})
    return findings


def client_ip(request) -> str | None:
    """The client's address as the web server saw it (proxies set REMOTE_ADDR via the WSGI server)."""
    return request.META.get("REMOTE_ADDR") or None
