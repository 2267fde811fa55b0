"""One entry point for the audit log, called by every service that writes.

Entries of one municipality form a hash chain; appending locks the chain's head row until the
transaction commits. So that the lock is held briefly, every append computes the hashes before
it inserts and writes the entries of a call in one statement (lock, insert, move the head: three
queries; on PostgreSQL two, the insert and the move being one statement), and a service that writes several entries can collect them with `audit_batch` and
append them together at the end of its transaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import secrets
from datetime import UTC
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from .batching import collected
from .models import AuditChainHead, AuditEntry
from .sql import insert_select, insert_values, prepared_cursor

_batch: contextvars.ContextVar[list[tuple[Any, AuditEntry]] | None] = contextvars.ContextVar("rathaus_audit_batch",
                                                                                            default=None)


def audit_entry(*, action: str, municipality=None, actor=None, obj=None, summary: str = "",
                data: dict[str, Any] | None = None, ip_address: str | None = None, actor_label: str = "",
                object_type: str = "", object_id: str = "") -> AuditEntry:
    """An unsaved audit entry (for statements that insert it themselves, see chained_insert_parts)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    label = actor_label or (actor.get_username() if actor is not None else "")
    entry = AuditEntry(
        municipality=municipality, actor=actor, actor_label=label[:200], action=action,
        object_type=obj._meta.label_lower if obj is not None else object_type,
        object_id=str(obj.pk) if obj is not None else object_id,
        summary=summary[:500], data=data or {}, ip_address=ip_address,
    )
    if ip_address:
        entry.ip_salt = secrets.token_hex(16)
        entry.ip_digest = ip_digest(entry.ip_salt, _prep_ip(ip_address))
    return entry


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
    """Append one audit entry; call inside the service's transaction so both commit together.

    Inside `audit_batch` the entry is only collected (and returned unsaved); the batch appends it.
    """
    entry = audit_entry(action=action, municipality=municipality, actor=actor, obj=obj, summary=summary, data=data,
                   ip_address=ip_address, actor_label=actor_label)
    pending = _batch.get()
    if pending is not None:
        pending.append((municipality, entry))
        return entry
    _append(municipality, [entry])
    return entry


def old_and_new(before: dict[str, Any], obj) -> dict[str, dict[str, Any]]:
    """For an audit entry's data: each field of `before` (its old values) with its value now on `obj`."""
    return {name: {"old": before[name], "new": getattr(obj, name)} for name in before}


def audit_record_many(records: list[dict[str, Any]], *, municipality=None) -> list[AuditEntry]:
    """Append several entries of one municipality with one chain-head lock and three queries.

    Each record takes the keyword arguments of :func:`audit_record` (without `municipality`).
    Used by services that write many entries at once (a process step sequence).
    """
    entries = [audit_entry(municipality=municipality, **record) for record in records]
    pending = _batch.get()
    if pending is not None:
        pending.extend((municipality, entry) for entry in entries)
    elif entries:
        _append(municipality, entries)
    return entries


def audit_batch() -> contextlib.AbstractContextManager[None]:
    """Collect the audit entries written inside the block and append them at its end, in order.

    Use it inside the service's transaction, around everything that writes: the chain head is
    then locked once, just before the commit, instead of from the first entry on. Nested
    batches join the outer one. If the block raises, nothing is appended.
    """
    return collected(_batch, _append_batch)


def _append_batch(pending: list[tuple[Any, AuditEntry]]) -> None:
    chains: dict[int | None, tuple[Any, list[AuditEntry]]] = {}
    for municipality, entry in pending:
        chains.setdefault(getattr(municipality, "pk", None), (municipality, []))[1].append(entry)
    for municipality, entries in chains.values():
        _append(municipality, entries)


def _append(municipality, entries: list[AuditEntry]) -> None:
    """Extend the municipality's chain with `entries` (hashes computed here, then one INSERT)."""
    fields = [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]
    # No savepoint: inside a service's transaction a failure here must roll back the whole write anyway.
    connection = connections[router.db_for_write(AuditEntry)]
    fast = connection.vendor == "postgresql" and len(entries) <= 500
    with transaction.atomic(savepoint=False):
        key = chain_key(getattr(municipality, "pk", None))
        head = _lock_head(connection, key) if fast else AuditChainHead.objects.select_for_update().filter(key=key).first()
        if head is None:
            ensure_chain_head(getattr(municipality, "pk", None))
            head = AuditChainHead.objects.select_for_update().get(key=key)
        now = timezone.now()
        previous = head.last_hash
        for entry in entries:
            entry.created_at, entry.prev_hash = now, previous
            entry.content_digest = content_digest(entry.summary, entry.data)
            entry.hash = previous = entry_hash(entry)
        if fast:
            # One round trip instead of two while the head is locked: the insert and the move
            # of the head in one statement (data-modifying CTE).
            _insert_and_move_head(connection, head, entries, fields, previous)
            return
        # raw=True inserts the values as set here: auto_now_add would stamp a new time the hash does not cover.
        for start in range(0, len(entries), 500):
            chunk = entries[start:start + 500]
            rows = AuditEntry._base_manager._insert(chunk, fields=fields, returning_fields=AuditEntry._meta.db_returning_fields,
                                                    raw=True)
            for entry, row in zip(chunk, rows, strict=True):
                entry.pk = row[0]
                entry._state.adding = False
        AuditChainHead.objects.filter(pk=head.pk).update(last_hash=previous, last_entry_id=entries[-1].pk)


def _lock_head(connection, key: str) -> AuditChainHead | None:
    """The chain head, locked until commit (the ORM's select_for_update, without compiling it under contention)."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_head_lock_sql(connection), [key])
        row = cursor.fetchone()
    if row is None:
        return None
    head = AuditChainHead(id=row[0], key=key, last_hash=row[1], last_entry_id=row[2])
    head._state.adding = False
    head._state.db = connection.alias
    return head


def _head_lock_sql(connection, condition: str = "") -> str:
    """Select a chain head's id, last hash and last entry by key (and `condition`), locked until commit."""
    table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    also = f" AND {condition}" if condition else ""
    return f'SELECT "id", "last_hash", "last_entry_id" FROM {table} WHERE "key" = %s{also} FOR UPDATE'  # noqa: S608 - table name from the model


def _insert_and_move_head(connection, head: AuditChainHead, entries: list[AuditEntry], fields, last_hash: str) -> None:
    """INSERT the entries (as prepared, raw) and set the head to the last one, in one statement."""
    insert_sql, insert_params = insert_values(connection, entries, returning=[AuditEntry._meta.pk.column], raw=True)
    head_table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    pk = connection.ops.quote_name(AuditEntry._meta.pk.column)
    head_pk = connection.ops.quote_name(AuditChainHead._meta.pk.column)
    sql = (f"WITH inserted AS ({insert_sql}), "  # noqa: S608 - names from the models, values as parameters
           f"moved AS (UPDATE {head_table} SET last_hash = %s, last_entry_id = (SELECT max({pk}) FROM inserted) "
           f"WHERE {head_pk} = %s) "
           f"SELECT {pk} FROM inserted ORDER BY {pk}")
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [*insert_params, last_hash, head.pk])
        ids = [row[0] for row in cursor.fetchall()]
    # One sequence, one statement: the ids rise in the order of the rows (VALUES or UNNEST arrays).
    for entry, pk_value in zip(entries, ids, strict=True):
        entry.pk = pk_value
        entry._state.adding = False


def chain_key(municipality_id: int | None) -> str:
    """Name of the chain an entry of this municipality belongs to."""
    return f"m:{municipality_id}" if municipality_id is not None else "global"


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's content and its predecessor's hash (canonical JSON)."""
    return hashlib.sha256(_hashed_text(entry).encode()).hexdigest()


def content_digest(summary: str, data: dict[str, Any]) -> str:
    """SHA-256 over an entry's summary and data (canonical JSON), which its hash covers in their stead."""
    return hashlib.sha256(_canonical([summary, _stored(data)]).encode()).hexdigest()


def ip_digest(salt: str, ip: str) -> str:
    """SHA-256 over a salt and an IP address, which an entry's hash covers in the address's stead.

    The salt is random per entry and erased with the address: the digest alone cannot be
    matched against the few billion possible addresses.
    """
    return hashlib.sha256(_canonical([salt, ip]).encode()).hexdigest()


def _prep_ip(ip_address: str | None) -> str | None:
    """The address as the database keeps it (IPv6 normalised)."""
    return AuditEntry._meta.get_field("ip_address").get_prep_value(ip_address)


def _stored(data: dict[str, Any]) -> Any:
    # Normalised as the database will keep it: JSON round trip (int keys become strings).
    return json.loads(json.dumps(data, default=str))


def _canonical(content: Any) -> str:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _hashed_text(entry: AuditEntry, *, created: str | None = None) -> str:
    """The canonical JSON an entry's hash covers; `created` stands in for its time (see chained_insert_parts).

    With a content digest the hash covers it instead of summary and data (one item instead of
    two: the two forms cannot be mistaken for each other), so they can be redacted; likewise the
    IP address's digest instead of the address, so the address can be erased.
    """
    if created is None:
        created = entry.created_at.astimezone(UTC).isoformat(timespec="microseconds") if entry.created_at else ""
    # An address's digest, where there is one, stands in for it (a digest has no dots or colons).
    ip = entry.ip_digest or _prep_ip(entry.ip_address)
    content = [entry.content_digest] if entry.content_digest else [entry.summary, _stored(entry.data)]
    return _canonical([entry.municipality_id, entry.actor_id, entry.actor_label, entry.action, entry.object_type,
                       str(entry.object_id), *content, ip, created, entry.prev_hash])


def chained_insert_parts(connection, entry: AuditEntry, *, source: str, substitutions: dict[str, str],
                         gate: tuple[str, list[Any]] | None = None,
                         municipality: str | None = None) -> tuple[list[tuple[str, str, list[Any]]],
                                                                 list[tuple[str, str, list[Any]]]]:
    """The audit entry of a one-statement write (PostgreSQL data-modifying CTE), chained like `_append`.

    Returns two lists of ``(name, sql, params)`` CTE parts. The first locks the chain head
    (``head``: id, last_hash); it must come first and the write's own first insert must read
    from it, so the head is locked before anything else (the lock order of every submission). The
    second inserts the entry after the head and moves the head.

    `entry` may hold placeholders (keys of `substitutions`: random letters and digits, e.g. from
    :func:`placeholder`) in `object_id` and `summary`; each is replaced by its SQL expression over
    `source` (no parameters), whose text JSON must leave as it is (digits, letters, hyphens). The
    database hashes the same text that :func:`entry_hash` hashes, so `verify-audit` checks these
    entries like any other. The placeholders are parameters, so the statement's text stays the
    same from call to call (and is prepared once). Nothing is inserted while the chain has no head
    row (see :func:`ensure_chain_head`). A `gate` (an SQL condition and its parameters, e.g.
    ``EXISTS (SELECT 1 FROM earlier_cte)``) is a further condition of the head's lock: when it is
    false the head is neither locked nor read, so nothing that reads from it is written.
    `municipality`, an SQL expression over `source` that yields the entry's municipality id (e.g.
    ``app.municipality_id``), is stored instead of a parameter of the same value (one parameter less).
    """
    head_table = connection.ops.quote_name(AuditChainHead._meta.db_table)
    key = chain_key(entry.municipality_id)
    # The time is the database's once the head is locked (as `_append` takes it after the lock), so
    # times rise along the chain however long a submission waited for the lock. In the hashed
    # text it is written as `isoformat` writes a UTC time with microseconds.
    created = placeholder()
    entry.prev_hash = placeholder()
    # In the entry's INSERT, h is the locked head and t the text to hash with its placeholders.
    replacements = {entry.prev_hash: "h.last_hash",
                    created: """to_char(t.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
                    **substitutions}
    text, object_id, summary = "t.t", "$value", "$value"
    for index, (token, expression) in enumerate(replacements.items()):
        column = f"t.p{index}"
        text = f"replace({text}, {column}, {expression})"
        if token in str(entry.object_id):
            object_id = f"replace({object_id}, {column}, {expression})"
        if token in entry.summary:
            summary = f"replace({summary}, {column}, {expression})"
    columns = ", ".join(["%s::text AS t", *(f"%s::text AS p{i}" for i in range(len(replacements))),
                         "clock_timestamp() AS ts"])
    insert, params = insert_select(
        connection, entry, raw=True, source=f"{source}, head h, hashed t", returning=("id", "hash"),
        exprs={"object_id": object_id, "summary": summary, "prev_hash": "h.last_hash", "created_at": "t.ts",
               "hash": f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')",
               **({"municipality_id": municipality} if municipality else {})})
    move = (f'UPDATE {head_table} SET "last_hash" = logged.hash, "last_entry_id" = logged.id '  # noqa: S608 - table name from the model
            f'FROM logged, head WHERE {head_table}."id" = head.id')
    condition, condition_params = gate or ("", [])
    # Short names: the statements they join must stay within psycopg's cache of converted queries
    # (4,096 bytes; see the submission's statement, core/sql.py insert_select).
    return ([("head", _head_lock_sql(connection, condition), [key, *condition_params])],
            # FROM head: the time is read once the head is locked, whatever order the joins run in.
            [("hashed", f"SELECT {columns} FROM head", [_hashed_text(entry, created=created), *replacements]),  # noqa: S608 - no values in the text
             ("logged", insert, params), ("moved", move, [])])


def placeholder() -> str:
    """A stand-in for a value the database fills in (see :func:`chained_insert_parts`)."""
    return "x" + secrets.token_hex(12)


def ensure_chain_head(municipality_id: int | None) -> None:
    """Create the municipality's chain head if it does not exist yet (before its first entry)."""
    AuditChainHead.objects.get_or_create(key=chain_key(municipality_id))


#: What a redacted entry's summary says instead (German, as the log is kept).
REDACTED = "(gelöscht nach Ablauf der Aufbewahrungsfrist)"


def audit_redact(*, municipality, entries, reason: str, actor=None, actor_label: str = "") -> int:
    """Erase summary and data of `entries` (a queryset of the municipality's audit entries) and
    record it; returns how many were redacted. Call inside the caller's transaction.

    For retention: what an entry says about a person (a decision's inputs, a notification's
    subject) must not outlive the case. Who did what and when (action, actor, object, time) stays,
    and so does the chain: it covers the entries' content digests, not their content. Only entries
    with a digest can be redacted (see AuditEntry.content_digest); the others are left as they are.
    An "audit.redacted" entry names the redacted ones, so `verify-audit` can tell a redaction from
    a tampering.
    """
    ids = list(entries.filter(municipality=municipality, redacted_at__isnull=True).filter(content_digest__isnull=False)
               .order_by("pk").values_list("pk", flat=True))
    if not ids:
        return 0
    AuditEntry.objects.filter(pk__in=ids).update(summary=REDACTED, data={}, redacted_at=timezone.now())
    audit_record(action="audit.redacted", municipality=municipality, actor=actor, actor_label=actor_label,
                 summary=f"{len(ids)} Protokolleinträge geschwärzt: {reason}"[:500], data={"entries": ids})
    return len(ids)


#: The action of the entry that records an erasure of IP addresses (`audit_erase_ips`).
IP_ERASED = "audit.ip_erased"


def audit_erase_ips(*, before) -> dict[str, int]:
    """Erase the IP addresses of audit entries written before `before` (a datetime), chain by chain.

    For data protection: an address is kept to trace abuse (logins, submissions, downloads) for
    RATHAUS_AUDIT_IP_DAYS, then erased with its salt. Only entries with an address digest can be
    erased (see AuditEntry.ip_digest); older ones keep their address, as their hash covers it.
    Each chain gets an "audit.ip_erased" entry naming the cut-off, in the same transaction, so
    `verify-audit` can tell an erasure from a tampering. Returns entries erased and chains touched.
    """
    erased = chains = 0
    due = AuditEntry.objects.filter(created_at__lt=before, ip_digest__isnull=False, ip_salt__isnull=False)
    towns = AuditEntry._meta.get_field("municipality").related_model._base_manager
    for mid in due.order_by().values_list("municipality_id", flat=True).distinct():
        with transaction.atomic():
            municipality = towns.get(pk=mid) if mid is not None else None
            rows = due.filter(municipality=municipality) if mid is not None else due.filter(municipality__isnull=True)
            count = rows.update(ip_address=None, ip_salt=None)
            if not count:
                continue
            cut_off = before.astimezone(UTC).isoformat(timespec="microseconds")
            audit_record(action=IP_ERASED, municipality=municipality, actor_label="retention",
                         summary=f"IP-Adressen von {count} Protokolleinträgen vor dem "
                                 f"{timezone.localtime(before):%d.%m.%Y %H:%M} gelöscht",
                         data={"before": cut_off, "entries": count})
            erased, chains = erased + count, chains + 1
    return {"erased": erased, "chains": chains}


def _ip_erasure_cut_off(rows):
    """The latest cut-off of the chain's "audit.ip_erased" entries (None: none)."""
    from datetime import datetime

    cut_offs = [datetime.fromisoformat(data["before"]) for data in rows.filter(action=IP_ERASED).values_list("data", flat=True)
                if isinstance(data, dict) and isinstance(data.get("before"), str)]
    return max(cut_offs, default=None)


def _ip_problem(entry: AuditEntry, cut_off) -> str:
    """What is wrong with an entry's IP address against its digest ("" if nothing)."""
    if not entry.ip_digest:
        return ""
    if entry.ip_address is not None:
        if not entry.ip_salt or ip_digest(entry.ip_salt, _prep_ip(entry.ip_address)) != entry.ip_digest:
            return "IP address does not match its digest (entry changed)"
        return ""
    if entry.ip_salt is not None or cut_off is None or entry.created_at >= cut_off:
        return "IP address erased without an erasure entry (entry changed)"
    return ""


def _redaction_records(rows) -> set[int]:
    """The ids of entries the chain's "audit.redacted" entries name."""
    named: set[int] = set()
    for data in rows.filter(action="audit.redacted").values_list("data", flat=True):
        named.update(pk for pk in (data or {}).get("entries", []) if isinstance(pk, int))
    return named


def audit_verify(*, municipality_id: int | None = None, all_chains: bool = True) -> list[dict[str, Any]]:
    """Recompute every chain; returns one finding per broken chain (empty list: intact).

    Entries written before the chain existed (empty hash, at the start of a chain) are legacy
    and skipped; an unhashed entry after the first hashed one is a break. An entry with a content
    digest must still have the content it was written with, unless it was redacted (and then says
    nothing but that) and a redaction entry of the chain names it.
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
        redacted, ip_cut_off = _redaction_records(rows), _ip_erasure_cut_off(rows)
        for entry in rows.iterator(chunk_size=2000):
            if not entry.hash and not started:
                continue
            started = True
            problem = ""
            if entry.prev_hash != previous:
                problem = "prev_hash does not match the previous entry (entry deleted or reordered)"
            elif entry_hash(entry) != entry.hash:
                problem = "content does not match its hash (entry changed)"
            elif entry.content_digest and entry.redacted_at is None and \
                    content_digest(entry.summary, entry.data) != entry.content_digest:
                problem = "content does not match its hash (entry changed)"
            elif entry.redacted_at is not None and entry.pk not in redacted:
                problem = "content erased without a redaction entry (entry changed)"
            elif entry.redacted_at is not None and (entry.summary != REDACTED or entry.data != {}):
                # A redacted entry says only that it was redacted: words put there later are forged.
                problem = "content does not match its hash (entry changed)"
            else:
                problem = _ip_problem(entry, ip_cut_off)
                if problem and entry.ip_address is None:
                    # An erasure may have committed since the cut-off was read: read it again.
                    ip_cut_off = _ip_erasure_cut_off(rows)
                    problem = _ip_problem(entry, ip_cut_off)
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
    """The client's address: REMOTE_ADDR, which TrustedProxyMiddleware sets from X-Forwarded-For behind proxies."""
    return request.META.get("REMOTE_ADDR") or None
