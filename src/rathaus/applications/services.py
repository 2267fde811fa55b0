"""Every write on applications: one function per use case, atomic, audited, jobs after commit."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rathaus.cases.files import discard_files_on_error
from rathaus.cases.services import document_requests_close, documents_from_submission
from rathaus.cases.uploads import CheckedUpload, UploadRefused, check_upload
from rathaus.catalog.selectors import SubmissionLookup, submission_lookup_guard
from rathaus.core.audit import (
    audit_batch,
    audit_entry,
    audit_record,
    audit_redact,
    chained_insert_parts,
    ensure_chain_head,
    placeholder,
)
from rathaus.core.jobs import enqueue_on_commit, job_insert_select, queued_in_transaction
from rathaus.core.models import AuditEntry
from rathaus.core.problems import request_fingerprint
from rathaus.core.ratelimit import counting_statement
from rathaus.core.sql import insert_one, insert_select, prepared_cursor, update_one
from rathaus_domain.forms.coerce import without_hidden
from rathaus_domain.forms.identity import IdentityCache
from rathaus_domain.forms.model import FormSpec, value_at
from rathaus_domain.forms.prefill import profile_key
from rathaus_domain.forms.validation import FieldError, json_pointer, validate
from rathaus_domain.shared import workdays

from .changes import touch_written
from .models import (
    DEFAULT_PUBLIC_TEXT,
    FINAL_STATUSES,
    RECEIPT_COMPOSER,
    STATUS_COMPOSER,
    Application,
    Channel,
    Draft,
    MandateKind,
    Note,
    ReferenceCounter,
    Representation,
    Status,
    StatusChange,
)
from .selectors import application_by_idempotency_key, application_for_job

DRAFT_LIFETIME = timedelta(days=30)
logger = logging.getLogger(__name__)


class ApplicationInvalid(Exception):
    """The data does not meet the form's schema; nothing was stored."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request."""


class LookupStale(Exception):
    """The remembered look-up a submission was made with no longer holds; nothing was stored and
    the request not counted: forget it, look up afresh and submit again."""


class LookupNotUsable(Exception):
    """This submission cannot use a remembered look-up (it holds files or a representation, which
    the one statement that checks the look-up does not store); nothing was stored and the request
    not counted: look up afresh (the look-up may still hold for others) and submit again."""


class ServiceNotOffered(Exception):
    """The draft's service has been unpublished since the draft was started; nothing was stored."""


class RateLimited(Exception):
    """The request, counted by the submission's statement, exceeds the rate limit; nothing was stored."""


@dataclass(frozen=True)
class RepresentationData:
    """Who applies for whom (validated by the caller: the web form or the API schema).

    The representative's name and e-mail default to the applicant's (the person filling in the form).
    """

    kind: str
    principal_name: str
    principal_birth_date: date | None = None
    principal_register_number: str = ""
    principal_address: str = ""
    representative_name: str = ""
    representative_email: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "principal_name": self.principal_name,
                "principal_birth_date": self.principal_birth_date.isoformat() if self.principal_birth_date else None,
                "principal_register_number": self.principal_register_number, "principal_address": self.principal_address,
                "representative_name": self.representative_name, "representative_email": self.representative_email}

    @classmethod
    def from_json(cls, value: Any) -> RepresentationData | None:
        if not isinstance(value, dict) or value.get("kind") not in MandateKind.values or not value.get("principal_name"):
            return None
        birth = value.get("principal_birth_date")
        return cls(kind=value["kind"], principal_name=str(value["principal_name"]),
                   principal_birth_date=date.fromisoformat(birth) if birth else None,
                   principal_register_number=str(value.get("principal_register_number") or ""),
                   principal_address=str(value.get("principal_address") or ""),
                   representative_name=str(value.get("representative_name") or ""),
                   representative_email=str(value.get("representative_email") or ""))


@dataclass(frozen=True)
class SubmissionResult:
    application: Application
    access_token: str
    created: bool


def access_token_for(application: Application) -> str:
    """The citizen's access token, derived (not stored) so a retried submission can return it again."""
    return _access_token_with(settings.SECRET_KEY, application)


def _access_token_with(key: str, application: Application) -> str:
    digest = hmac.new(key.encode(), f"access:{application.access_token_hash}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode().rstrip("=")


def access_token_matches(application: Application, token: str) -> bool:
    """Whether `token` opens this application: derived from SECRET_KEY or one of SECRET_KEY_FALLBACKS.

    The fallbacks keep the links in receipts and e-mails working while the key is rotated. Tokens
    are URL-safe base64; anything else (e.g. umlauts typed into the link) simply does not match.
    """
    if not token or not token.isascii():
        return False
    given = token.encode()
    return any(hmac.compare_digest(_access_token_with(key, application).encode(), given)
               for key in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))


def add_working_days(start: date, days: int, *, municipality=None) -> date:
    """``days`` working days after ``start``: weekends and the public holidays of the municipality's state skipped.

    The state is the first two digits of its Amtlicher Gemeindeschlüssel; without a municipality
    only the holidays of the whole country are skipped.
    """
    return workdays.add_working_days(start, days, _state_of(municipality))


def first_working_day(day: date, *, municipality) -> date:
    """``day``, or the next working day if it falls on a weekend or a public holiday of the municipality's state."""
    return workdays.first_working_day(day, _state_of(municipality))


def period_end(event_day: date, *, days: int = 0, months: int = 0, municipality) -> date:
    """The last day of a period of ``days`` or ``months`` from an event on ``event_day`` (its notice),
    moved off a weekend or a public holiday of the municipality's state (see `workdays.period_end`)."""
    return workdays.period_end(event_day, days=days, months=months, state=_state_of(municipality))


def last_working_day_before(day: date, *, municipality) -> date:
    """The last working day before ``day`` in the municipality's state (weekends and public holidays skipped)."""
    return workdays.last_working_day_before(day, _state_of(municipality))


def _state_of(municipality) -> str | None:
    """The state (Land) key of a municipality: the first two digits of its AGS; None without one."""
    return (municipality.ags or "")[:2] or None if municipality is not None else None


def _next_reference(municipality, year: int) -> str:
    """Take the next number in one statement, in its own short transaction.

    Taking it outside the submission's transaction keeps the counter row locked for one
    statement instead of the whole submission, so submissions to one municipality run in
    parallel; the price is a gap in the numbering when a submission fails after this point.
    Called outside a transaction (as `application_submit` does), the statement is its own
    transaction in autocommit mode: one round trip, no BEGIN/COMMIT around it.
    """
    table = ReferenceCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (municipality_id, year, value) VALUES (%s, %s, 1) "  # noqa: S608 - table name from the model
            f"ON CONFLICT (municipality_id, year) DO UPDATE SET value = {table}.value + 1 RETURNING value",
            [municipality.pk, year],
        )
        value = cursor.fetchone()[0]
    return f"{municipality.reference_prefix}-{year}-{value:06d}"


def _extract_files(spec: FormSpec, data: Any, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """Find file leaves (objects with base64 `content`) anywhere in the data."""
    found: list[tuple[tuple, dict]] = []
    if isinstance(data, dict):
        if "content" in data and "content_type" in data and "filename" in data:
            return [(path, data)]
        for key, value in data.items():
            found += _extract_files(spec, value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _extract_files(spec, value, (*path, index))
    return found


def _field_for(spec: FormSpec, path: tuple):
    """The form field a concrete data path belongs to (items of repeatable groups match "*")."""
    for field in spec.fields():
        if len(field.path) == len(path) and all(a == b or a == "*" for a, b in zip(field.path, path, strict=True)):
            return field
    return None


def _checked_files(spec: FormSpec, files: list[tuple[tuple, dict]]) -> list[tuple[tuple, dict, str, CheckedUpload]]:
    """Run every file through the upload checks; ApplicationInvalid names each refused one.

    The schema already tied type and size to the field; this adds what a schema cannot see:
    archives, file names, the malware scanner (if configured).
    """
    checked, errors = [], []
    for path, leaf in files:
        field = _field_for(spec, path)
        constraints = field.constraints if field is not None else {}
        try:
            upload = check_upload(raw=base64.b64decode(leaf["content"], validate=False), filename=leaf["filename"],
                                  declared_type=leaf["content_type"], field_accept=constraints.get("accept"),
                                  max_bytes=constraints.get("max_bytes"))
        except UploadRefused as exc:
            errors.append(FieldError(path=path, pointer=json_pointer(path), code=f"upload_{exc.code}",
                                     message=exc.message_de, message_en=exc.message_en))
            continue
        checked.append((path, leaf, field.label if field is not None else "", upload))
    if errors:
        raise ApplicationInvalid(errors)
    return checked


def _set_path(data: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


_APPLICANT_FIELDS: IdentityCache[list[tuple[str, tuple]]] = IdentityCache()


def _applicant_fields(spec: FormSpec) -> list[tuple[str, tuple]]:
    """(profile key, data path) of the fields naming the applicant."""
    return [(key, field.path) for field in spec.fields()
            if (key := profile_key(field)) in ("given_name", "family_name", "email", "name")]


def _applicant_from_data(spec: FormSpec, data: dict) -> tuple[str, str]:
    """Name and e-mail from the fields annotated for once-only prefill (x-prefill)."""
    values: dict[str, str] = {}
    for key, path in _APPLICANT_FIELDS.get(spec, _applicant_fields):
        found, value = value_at(data, path)
        if found and isinstance(value, str):
            values[key] = value
    name = values.get("name") or " ".join(v for v in (values.get("given_name"), values.get("family_name")) if v)
    return name[:200], values.get("email", "")[:254]


def application_submit(
    *,
    municipality,
    service,
    data: dict[str, Any],
    channel: str = Channel.ONLINE,
    applicant=None,
    entered_by=None,
    idempotency_key: str | None = None,
    ip: str | None = None,
    key_checked_by_insert: bool = False,
    representation: RepresentationData | None = None,
    lookup: SubmissionLookup | None = None,
    count: tuple[str, str, str] | None = None,
    retrieval_consent: bool = False,
) -> SubmissionResult:
    """Validate and store an application with its reference and first status, all or nothing.

    A retry with the same Idempotency-Key and the same body returns the first application; the
    same key with another body raises IdempotencyConflict. The key is looked up first, unless
    `key_checked_by_insert`: then the data is validated and stored, and a key used before is
    recognised by the unique constraint, which answers with the first application as well (the
    API does so: a new key, by far the common case, then costs no look-up). A concurrent first
    use of the key is caught by the constraint either way. A `representation` (applying on
    behalf of someone else) is stored with the application in the same transaction.
    `retrieval_consent`: the applicant agreed that decision letters are given notice by being
    retrieved online (§ 41 (2a) VwVfG); stored with the time of submission. Only with an
    `applicant` (her account): the retrieval is her download after signing in (sentence 2), so
    without an account it could never happen; ValueError then.

    `lookup`: the service (with municipality and form) was not looked up for this request but
    remembered from an earlier one (see `catalog.selectors.SubmissionLookup`); the statement that
    stores the application checks that it still holds, and raises LookupStale if it does not, or
    LookupNotUsable if the submission needs more than that one statement, having stored nothing. `count` (group,
    key, rate; with `lookup` only) counts the request against that rate limit in the same
    statement; RateLimited if it is over. Neither is counted when an exception is raised before
    the statement (invalid data, conflicting key): the caller counts then.
    """
    if count is not None and lookup is None:
        raise ValueError("count needs a remembered lookup (otherwise the look-up counts)")
    if service.municipality_id != municipality.pk:
        raise ValueError("service belongs to another municipality")
    if retrieval_consent and applicant is None:
        raise ValueError("retrieval consent needs an applicant's account")
    if representation is not None and representation.kind not in MandateKind.values:
        raise ValueError(f"unknown mandate kind {representation.kind!r}")
    # Without a representation or consent the hash stays what it always was, so earlier keys still replay.
    fingerprinted: dict[str, Any] = {"data": data}
    if representation is not None:
        fingerprinted["representation"] = representation.as_json()
    if retrieval_consent:
        fingerprinted["retrieval_consent"] = True
    request_hash = request_fingerprint(service.pk, data if len(fingerprinted) == 1 else fingerprinted)
    if idempotency_key and not key_checked_by_insert:
        replay = _replay(municipality, idempotency_key, request_hash)
        if replay is not None:
            return replay
    schema = service.form.schema
    spec = FormSpec.cached(schema)
    if isinstance(data, dict):
        # A field whose condition does not hold has no value (docs/forms.md), however the data came:
        # the HTML steps drop it already, the API sends the whole form at once.
        data = without_hidden(spec, data)
    now = timezone.now()
    # Dates relative to the day of submission count from the town's day (Europe/Berlin), not UTC's.
    errors = validate(schema, data, today=timezone.localdate(now))
    if errors:
        if idempotency_key and key_checked_by_insert:
            # The same body can be refused today that was accepted yesterday (a date drew nearer, the
            # form changed): a retry of that request gets its application, not today's refusal.
            replay = _replay(municipality, idempotency_key, request_hash)
            if replay is not None:
                return replay
        raise ApplicationInvalid(errors)
    # The data is stored as it came (less hidden fields); a copy only where files are found, which
    # the copy then refers to by their place in the case file instead of their content.
    stored = data
    found = _extract_files(spec, data)
    if lookup is not None and (found or representation is not None):
        raise LookupNotUsable  # before the uploads are checked: that would be done twice
    if found:
        stored = json.loads(json.dumps(data))
        found = _extract_files(spec, stored)
    files = _checked_files(spec, found)
    name, email = _applicant_from_data(spec, data)
    if applicant is not None and not email:
        email = applicant.email
        name = name or applicant.get_full_name()
    from rathaus.integration.models import EventKind
    from rathaus.integration.services import application_event_data, event_emit

    from .tasks import application_received

    db = connections[router.db_for_write(Application)]
    # PostgreSQL, without files or representation: the whole submission is one statement, which
    # takes the number itself. Otherwise the number is taken first, in its own short transaction,
    # so no counter lock is held while files are written (the audit chain's lock comes last).
    one_statement = db.vendor == "postgresql" and not files and representation is None
    if lookup is not None and (not one_statement or lookup.alias != db.alias):
        raise LookupNotUsable  # only the one statement checks a remembered look-up, on its own database
    if idempotency_key and key_checked_by_insert and not one_statement:
        # Here the number is taken before the insert: a key used before must not cost one.
        replay = _replay(municipality, idempotency_key, request_hash)
        if replay is not None:
            return replay
    year = timezone.localtime(now).year  # the town's year: 00:30 on New Year's Day in Berlin is still December in UTC
    reference = "" if one_statement else _next_reference(municipality, year)
    actor = entered_by or applicant
    try:
        application = Application(
            municipality=municipality, service=service, form=service.form,
            reference=reference, status=Status.RECEIVED, channel=channel,
            data=stored, applicant=applicant, applicant_name=name, applicant_email=email, entered_by=entered_by,
            access_token_hash=secrets.token_hex(16), idempotency_key=idempotency_key or None,
            request_hash=request_hash, submitted_at=now, updated_at=now,
            retrieval_consent_at=now if retrieval_consent else None,
            due_date=add_working_days(timezone.localdate(now), service.processing_days, municipality=municipality),
        )
        received = StatusChange(municipality=municipality, application=application, status=Status.RECEIVED,
                                public_text=str(DEFAULT_PUBLIC_TEXT[Status.RECEIVED]), actor=entered_by)
        # Subscribers hear of the application if, and only if, it is stored. Everything that follows
        # (receipt e-mail, the service's process, the fan-out to subscribers) is one job that runs
        # once this commits.
        event_data = application_event_data(application, channel=channel)
        audit = {"action": "application.submitted", "municipality": municipality, "actor": actor,
                 "data": {"channel": channel, "service": service.pk, "retrieval_consent": bool(retrieval_consent)},
                 "ip_address": ip}
        if one_statement:
            # Atomic by itself; inside a caller's transaction it gets a savepoint, so a lost race
            # for the Idempotency-Key leaves that transaction usable for the replay below.
            with transaction.atomic(using=db.alias) if db.in_atomic_block else contextlib.nullcontext():
                _insert_submission(application, received, event_data, year=year, audit=audit, lookup=lookup,
                                   count=count)
        else:
            # audit_batch: the entries of the uploaded files and of the submission join the audit
            # chain together at the end, so its lock is taken once and last.
            with discard_files_on_error(), transaction.atomic(using=db.alias), audit_batch():
                application.save()
                received.save()
                event_emit(municipality=municipality, kind=EventKind.APPLICATION_SUBMITTED, application=application,
                           data=event_data, fan_out=False)
                enqueue_on_commit(application_received, application.pk, using=db.alias)
                if email:
                    # The receipt e-mail's outbox row, stored with the application: no crash can lose it.
                    _receipt_message(municipality, application.pk, key=receipt_message_key(application.pk)).save()
                # The files go into the case file; the data keeps what they were and where they are.
                documents = documents_from_submission(application=application, actor=actor, ip=ip, files=[
                    ("/".join(map(str, path)), label, upload) for path, _leaf, label, upload in files])
                for path, leaf, _label, upload in files:
                    document = documents["/".join(map(str, path))]
                    _set_path(stored, path, {"filename": leaf["filename"], "content_type": upload.content_type,
                                             "size": upload.size, "sha512": upload.sha512, "document_id": document.pk})
                if files:
                    application.save(update_fields=["data"])
                if representation is not None:
                    _representation_create(application, representation, applicant=applicant)
                audit_record(**audit, obj=application, summary=f"{application.reference} {service.name}")
        token = access_token_for(application)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer with its result.
        replay = _replay(municipality, idempotency_key, request_hash) if idempotency_key else None
        if replay is not None:
            return replay
        raise
    return SubmissionResult(application, token, True)


def _representation_create(application: Application, data: RepresentationData, *, applicant) -> Representation:
    return Representation.objects.create(
        municipality=application.municipality, application=application, kind=data.kind,
        representative_user=applicant,
        representative_name=(data.representative_name or application.applicant_name
                             or (applicant.get_full_name() if applicant is not None else ""))[:200],
        representative_email=(data.representative_email or application.applicant_email)[:254],
        principal_name=data.principal_name[:200], principal_birth_date=data.principal_birth_date,
        principal_register_number=data.principal_register_number[:50], principal_address=data.principal_address[:300],
    )


def _insert_submission(application: Application, received: StatusChange, event_data: dict[str, Any], *,
                       year: int, audit: dict[str, Any], lookup: SubmissionLookup | None = None,
                       count: tuple[str, str, str] | None = None, head_created: bool = False) -> None:
    """PostgreSQL, without files or representation: the whole submission in one statement (a data-modifying CTE).

    Locks the municipality's audit chain head, takes the next reference number, inserts the
    application, its first status, the event, the job and the audit entry (hashed by the database
    into the chain) and moves the chain head. One statement instead of a dozen ORM queries (the
    ORM compiles each anew: that was most of a submission's time); without files it needs no
    transaction of its own. The counter row stays locked until commit, so the numbers have no
    gaps. Lock order: the client's rate counter (if counted here), the chain head, then the
    reference counter (every submission alike; so one client's submissions wait for each other,
    whichever town they go to, as a town's do anyway). `audit` takes the
    arguments of `audit_entry` but the object and the summary, which name the application: the
    database fills in its id and reference. Sets the application's `pk` and `reference`.

    With a remembered `lookup` the statement first checks that it still holds, and with `count`
    counts the request (if the look-up holds); it writes nothing else unless both pass (the chain
    head's lock, which everything else reads from, is taken only then). LookupStale or
    RateLimited say which did not.
    """
    from rathaus.integration.models import DomainEvent, EventKind
    from rathaus.integration.services import fan_out_by_caller

    from .tasks import application_received

    db = connections[router.db_for_write(Application)]
    municipality = application.municipality
    counter = db.ops.quote_name(ReferenceCounter._meta.db_table)
    application.reference = f"{municipality.reference_prefix}-{year}-"
    event = DomainEvent(municipality=municipality, kind=EventKind.APPLICATION_SUBMITTED, data=event_data)
    id_token, reference_token = placeholder(), placeholder()
    entry = audit_entry(**audit, object_type=Application._meta.label_lower, object_id=id_token,
                        summary=f"{reference_token} {application.service.name}")
    guard: list[tuple[str, str, list[Any]]] = []
    gate: tuple[str, list[Any]] | None = None
    limit = 0
    if lookup is not None:
        guard.append(("valid", *submission_lookup_guard(db, lookup)))
        gate = ("EXISTS (SELECT 1 FROM valid)", [])
        if count is not None:
            counting, count_params, limit = counting_statement(db, *count, source="valid")
            guard.append(("counted", counting, count_params))
            gate = ("EXISTS (SELECT 1 FROM counted WHERE hits <= %s::integer)", [limit])
    lock_head, append_entry = chained_insert_parts(db, entry, source="app", gate=gate, municipality="app.municipality_id",
                                                   substitutions={id_token: "app.id::text", reference_token: "app.reference"})
    parts = [
        *guard,
        *lock_head,
        ("number", f"INSERT INTO {counter} AS c (municipality_id, year, value) "  # noqa: S608 - table name from the model
                   "SELECT %s::bigint, %s::integer, 1 FROM head "
                   "ON CONFLICT (municipality_id, year) DO UPDATE SET value = c.value + 1 RETURNING value, municipality_id",
         [municipality.pk, year]),
        # The rows about the submission carry its time, town and status (one parameter instead of one each).
        ("app", *insert_select(db, application, source="number",
                               returning=("id", "municipality_id", "reference", "status", "submitted_at"), exprs={
            "municipality_id": "number.municipality_id",
            "reference": "$value || lpad(number.value::text, greatest(6, length(number.value::text)), '0')"})),
        ("received", *insert_select(db, received, source="app", exprs={
            "application_id": "app.id", "municipality_id": "app.municipality_id", "status": "app.status",
            "created_at": "app.submitted_at"})),
        ("event", *insert_select(db, event, source="app", exprs={
            "application_id": "app.id", "municipality_id": "app.municipality_id", "reference": "app.reference",
            "created_at": "app.submitted_at", "data": "jsonb_set($value, '{reference}', to_jsonb(app.reference))"})),
    ]
    if application.applicant_email:
        # The receipt e-mail's outbox row: stored with the application, so no crash can lose it.
        parts.append(("receipt", *_receipt_part(db.alias)))
    job_in_statement = queued_in_transaction(application_received, using=db.alias)
    if job_in_statement:
        parts.append(("job", *job_insert_select(db, application_received, source="app", exprs={
            "args_kwargs": "jsonb_build_object('args', jsonb_build_array(app.id), 'kwargs', '{}'::jsonb)",
            # A new job has no error: literals, not parameters (the statement's parameters must stay within 50).
            "exception_class_path": "''", "traceback": "''",
            "enqueued_at": "app.submitted_at"})))
    parts += append_entry
    # One row in any case: what was stored (nothing while the chain has no head), whether the
    # remembered look-up held, and the count.
    outcome = ("(SELECT id FROM app), (SELECT reference FROM app), "  # noqa: S608 - no values in the text
               + ("EXISTS (SELECT 1 FROM valid), " if lookup is not None else "true, ")
               + ("(SELECT hits FROM counted)" if count is not None else "0"))
    sql = "WITH " + ", ".join(f"{name} AS ({part})" for name, part, _params in parts) + f" SELECT {outcome}"  # noqa: S608 - built from the models
    params = [param for _name, _part, part_params in parts for param in part_params]
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, params)
        *row, held, hits = cursor.fetchone()
    if not held:
        raise LookupStale
    if count is not None and (hits or 0) > limit:
        raise RateLimited
    if row[0] is None:
        # The municipality's first entry: nothing was written but the count. Once more, uncounted.
        if head_created:
            raise RuntimeError(f"audit chain head of municipality {municipality.pk} missing")
        ensure_chain_head(municipality.pk)
        _insert_submission(application, received, event_data, year=year, audit=audit, lookup=lookup,
                           head_created=True)
        return
    application.pk, application.reference = row
    application._state.adding, application._state.db = False, db.alias
    if not job_in_statement:
        enqueue_on_commit(application_received, application.pk, using=db.alias)
    fan_out_by_caller(municipality.pk)


@functools.lru_cache(maxsize=8)
def _receipt_part(alias: str) -> tuple[str, tuple[Any, ...]]:
    """The submission statement's INSERT of the receipt e-mail's outbox row, the same for every
    application (its id is filled in by the database): built once per database."""
    from rathaus.processes.models import OutboxKind

    template = _receipt_message(None, None, key=RECEIPT_MESSAGE_PREFIX)  # town and id: from the application row
    sql, params = insert_select(connections[alias], template, source="app", exprs={
        "municipality_id": "app.municipality_id", "idempotency_key": f"'{RECEIPT_MESSAGE_PREFIX}' || app.id::text",
        "kind": f"'{OutboxKind.EMAIL}'", "payload": "jsonb_set($value, '{args,0}', to_jsonb(app.id))",
        "created_at": "app.submitted_at", "attempts": "0", "last_error": "''",
        "cancel_reason": "''"})
    return sql, tuple(params)


def _receipt_message(municipality, application_id: int | None, *, key: str):
    """The receipt e-mail's unsaved outbox row (composed when sent: the row holds no access link)."""
    from rathaus.processes.models import OutboxKind, OutboxMessage

    return OutboxMessage(municipality=municipality, kind=OutboxKind.EMAIL, idempotency_key=key,
                         payload=receipt_payload(application_id))


def receipt_payload(application_id: int | None) -> dict[str, Any]:
    """The receipt e-mail as an outbox payload: composed by `tasks.receipt_email` when it is sent."""
    from rathaus.processes.outbox import composed

    return composed(RECEIPT_COMPOSER, application_id)


RECEIPT_MESSAGE_PREFIX = "receipt:"


def receipt_message_key(application_id: int) -> str:
    return f"{RECEIPT_MESSAGE_PREFIX}{application_id}"


def _replay(municipality, idempotency_key: str, request_hash: str) -> SubmissionResult | None:
    """The first application made with this key, answered again; None if the key is new.

    IdempotencyConflict if the key was used for another request.
    """
    existing = application_by_idempotency_key(municipality=municipality, key=idempotency_key)
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyConflict
    return SubmissionResult(existing, access_token_for(existing), False)


def application_change_status(*, application: Application, status: str, public_text: str = "", actor, ip: str | None = None,
                              read_locked: bool = False, email: bool = True, by_process: bool = False) -> StatusChange:
    """Move an application to a new status with the text the citizen will read.

    `read_locked`: the caller's transaction holds the application's row lock and read `application`
    under it (as the process start does), so it is not read again.
    `email`: whether the citizen gets an e-mail about it (a process that has just sent her a notice
    saying the same thing turns it off); the status page shows the change either way.
    `by_process`: the case's own process sets the status (its `set_status` step). A final status set
    any other way decides the case by hand: it ends its process and cancels every e-mail about the
    case not sent yet but the receipt (`case_decide_by_hand`); the e-mail about this status, queued
    afterwards, goes.
    """
    status = Status(status)
    text = public_text.strip() or str(DEFAULT_PUBLIC_TEXT[status])
    # No savepoint inside a caller's transaction (a process step's): a failure here fails it as a whole.
    # audit_batch: the town's audit chain is locked last, after the case's rows (a process step's
    # batch is joined), so a status change never waits for a case while holding every audit write.
    with transaction.atomic(savepoint=False), audit_batch():
        if status in FINAL_STATUSES and not by_process:
            from rathaus.processes.services import case_decide_by_hand

            # It locks the process rows before the application's, as the engine does, and returns the
            # application read under its lock.
            locked = case_decide_by_hand(application=application, status=status, actor=actor)
        else:
            locked = application if read_locked else application_for_job(application.pk, lock=True)
        if locked is None:
            raise Application.DoesNotExist(f"application {application.pk} does not exist")
        old = locked.status
        locked.status = status
        locked.updated_at = timezone.now()
        locked.closed_at = locked.updated_at if status in FINAL_STATUSES else None
        update_one(locked, ["status", "closed_at", "updated_at"])
        touch_written(locked)
        change = insert_one(StatusChange(municipality=locked.municipality, application=locked, status=status,
                                         public_text=text, actor=actor))
        if old != status:
            from rathaus.integration.models import EventKind
            from rathaus.integration.services import application_event_data, event_emit

            event_emit(municipality=locked.municipality, kind=EventKind.STATUS_CHANGED, application=locked,
                       data=application_event_data(locked, previous_status=old))
        if status in FINAL_STATUSES:
            # A decided case asks for nothing more: its open requests for documents are withdrawn.
            document_requests_close(application=locked, actor=actor, ip=ip)
        if email and locked.applicant_email:
            status_message(change)  # the e-mail, through the outbox: not lost if a worker dies
        audit_record(action="application.status_changed", municipality=locked.municipality, actor=actor, obj=locked,
                     summary=f"{locked.reference}: {old} → {status}", data={"from": old, "to": status}, ip_address=ip)
    application.status, application.closed_at = locked.status, locked.closed_at
    return change


def status_message(change: StatusChange, *, enqueue: bool = True):
    """The outbox message of the e-mail about status change `change` (once per change)."""
    from rathaus.processes.models import OutboxKind
    from rathaus.processes.outbox import composed, outbox_add

    return outbox_add(municipality=change.application.municipality, key=f"status:{change.pk}", kind=OutboxKind.EMAIL,
                      payload=composed(STATUS_COMPOSER, change.pk), enqueue=enqueue)


def note_add(*, application: Application, author, text: str, ip: str | None = None) -> Note:
    with transaction.atomic():
        note = Note.objects.create(municipality=application.municipality, application=application, author=author, text=text.strip())
        audit_record(action="application.note_added", municipality=application.municipality, actor=author, obj=application,
                     summary=application.reference, ip_address=ip)
    return note


def draft_create(*, municipality, service, user=None, channel: str = Channel.ONLINE, assisted_by=None,
                 data: dict[str, Any] | None = None) -> Draft:
    """A new draft; `data` starts it filled in (once-only prefill from the citizen's profile)."""
    user = user if user is not None and user.is_authenticated else None
    return Draft.objects.create(municipality=municipality, service=service, token=secrets.token_urlsafe(32),
                                user=user, channel=channel, assisted_by=assisted_by, data=data or {},
                                expires_at=timezone.now() + DRAFT_LIFETIME)


def draft_representation(draft: Draft) -> RepresentationData | None:
    return RepresentationData.from_json(draft.representation)


def draft_set_representation(*, draft: Draft, representation: RepresentationData | None) -> Draft:
    """Record (or, with None, drop) that the draft is made on behalf of someone else."""
    draft.representation = representation.as_json() if representation is not None else None
    draft.expires_at = timezone.now() + DRAFT_LIFETIME
    draft.save(update_fields=["representation", "expires_at", "updated_at"])
    return draft


def draft_save(*, draft: Draft, data: dict[str, Any]) -> Draft:
    draft.data = data
    draft.expires_at = timezone.now() + DRAFT_LIFETIME
    draft.save(update_fields=["data", "expires_at", "updated_at"])
    return draft


def draft_idempotency_key(token: str) -> str:
    """The Idempotency-Key a draft is submitted with: its application is found by it after the draft is gone."""
    return f"draft:{token[:40]}"


def draft_submit(*, draft: Draft, ip: str | None = None, retrieval_consent: bool = False) -> SubmissionResult:
    """Submit a finished draft through the same path as the API, then drop the draft.

    `retrieval_consent`: ticked on the review page (by her, or by staff entering it for her with her agreement).

    ServiceNotOffered if the service is no longer published (the API refuses those too); the draft stays.
    """
    if not draft.service.is_published:
        raise ServiceNotOffered
    with transaction.atomic():
        result = application_submit(
            municipality=draft.municipality, service=draft.service, data=draft.data, channel=draft.channel,
            applicant=draft.user, entered_by=draft.assisted_by, ip=ip,
            idempotency_key=draft_idempotency_key(draft.token), representation=draft_representation(draft),
            retrieval_consent=retrieval_consent,
        )
        Draft.objects.filter(pk=draft.pk).delete()
    return result


# Stored in place of removed texts, translated when written (as the citizen-facing texts are).
RETENTION_MARKER = gettext_noop("(gelöscht nach Ablauf der Aufbewahrungsfrist)")


def applications_apply_retention(*, now=None) -> dict[str, int]:
    """Anonymise closed applications past their service's retention period and drop stale drafts.

    Everything personal that hangs off an application goes with it, each case in one
    transaction: form data, name, e-mail, account link, the case file, notes, free status texts,
    the process's engine state, task results, timeline texts and data, decision letters and the
    outbox messages written for it. Files leave the storage only after the commit. Reference,
    service, channel, dates, final status and the counts of what was removed stay for
    statistics; each case gets an audit entry with those counts and nothing personal.
    """
    now = now or timezone.now()
    anonymised = failed = 0
    from django.db.models import Exists, OuterRef

    from rathaus.cases.models import LegalHold
    from rathaus.catalog.models import Service

    # Per service, so the database selects exactly what is due instead of scanning closed cases.
    for service in Service.objects.only("id", "retention_days", "municipality_id").iterator():
        cutoff = now - timedelta(days=service.retention_days)
        # A case under a legal hold keeps everything until the hold is released.
        due = (Application.objects.filter(service=service, anonymised_at__isnull=True, closed_at__lt=cutoff)
               .exclude(Exists(LegalHold.objects.filter(application=OuterRef("pk"), released_at__isnull=True))))
        # Ids first: each case then runs in its own transaction without a cursor open across them.
        for application_id in list(due.values_list("pk", flat=True)):
            try:
                if _application_anonymise(application_id=application_id, cutoff=cutoff, now=now,
                                          retention_days=service.retention_days):
                    anonymised += 1
            except Exception:  # noqa: BLE001 - one broken case must not keep the others past their period
                logger.exception("retention: application %s could not be anonymised; retried on the next run", application_id)
                failed += 1
    drafts_deleted, _details = Draft.objects.filter(expires_at__lt=now).delete()
    logger.info("retention: %d application(s) anonymised, %d failed, %d draft(s) deleted", anonymised, failed, drafts_deleted)
    return {"anonymised": anonymised, "failed": failed, "drafts_deleted": drafts_deleted}


def application_anonymise(*, application: Application, actor, reason: str, now=None) -> bool:
    """Anonymise one closed application now, ahead of its retention period, as the retention job would.

    For an erasure request (Art. 17 GDPR) that staff granted; the audit entry names them and the
    reason. Returns False if the application is still open or already anonymised.
    """
    now = now or timezone.now()
    if application.closed_at is None or application.anonymised_at is not None:
        return False
    return _application_anonymise(application_id=application.pk, cutoff=now, now=now,
                                  retention_days=application.service.retention_days, actor=actor, reason=reason)


def _application_anonymise(*, application_id: int, cutoff, now, retention_days: int, actor=None, reason: str = "") -> bool:
    """Remove the personal data of one due application and of every row derived from it.

    Returns False when the case is no longer due (another run got it first, or it was reopened).
    """
    from django.db.models import Q

    from rathaus.cases.models import Document, LegalHold
    from rathaus.cases.services import case_file_purge, decision_notice_email_key
    from rathaus.processes.models import (
        CaseEvent,
        OutboxMessage,
        ProcessInstance,
        TaskState,
        UserTask,
    )
    from rathaus.processes.outbox import case_messages
    from rathaus.processes.services import instance_end

    with transaction.atomic():
        # Lock in the engine's order (instance, its tasks, application), so a concurrent step waits instead of deadlocking.
        instances = list(ProcessInstance.objects.select_for_update().filter(application_id=application_id).order_by("pk"))
        tasks = list(UserTask.objects.select_for_update().filter(application_id=application_id).order_by("pk"))
        application = (Application.objects.select_for_update(of=("self",)).select_related("municipality")
                       .filter(pk=application_id, anonymised_at__isnull=True, closed_at__lt=cutoff).first())
        if application is None or LegalHold.objects.filter(application=application, released_at__isnull=True).exists():
            return False
        municipality = application.municipality
        # The e-mails announcing a letter staff added for retrieval are keyed by the letter's document
        # ("decision-notice:<id>", see cases.services.decision_notice_email_key), which the purge below
        # deletes: their keys are taken first.
        notice_keys = [decision_notice_email_key(pk) for pk in
                       Document.objects.filter(application_id=application_id).values_list("pk", flat=True)]
        counts = {
            # The whole case file: documents, all their versions (files after the commit), requests.
            **case_file_purge(application=application),
            "notes": application.notes.all().delete()[0],
            "status_texts": application.history.update(public_text=_(RETENTION_MARKER)),
            "events": CaseEvent.objects.filter(application=application).update(text=_(RETENTION_MARKER), data={}),
            "representations": Representation.objects.filter(application=application).delete()[0],
            "tasks": len(tasks),
            "processes": len(instances),
            "timers": 0,
        }
        UserTask.objects.filter(application_id=application_id).update(result={})
        UserTask.objects.filter(application_id=application_id, state=TaskState.OPEN).update(
            state=TaskState.CANCELLED, completed_at=now)
        for instance in instances:
            # The engine state holds the applicant's data; without it the case cannot move on, so it ends here.
            counts["timers"] += instance_end(instance, now=now)
        # Outbox keys: the engine's steps use "<reference>:<task>", deadline mails "remind:<id>"/"escalate:<id>",
        # the announcement of a letter staff added "decision-notice:<document id>" (with her address).
        # The receipt ("receipt:<id>") and status e-mails ("status:<id>") hold only ids; their composers
        # write nothing for an anonymised application, so they are left as they are.
        outbox = OutboxMessage.objects.filter(municipality=municipality).filter(
            case_messages(application.reference, [task.pk for task in tasks], notice_keys))
        # Unsent mail about a case whose data is gone must not go out; sent rows stay (without content) for statistics.
        counts["outbox_cancelled"] = outbox.filter(sent_at__isnull=True).delete()[0]
        counts["outbox_cleared"] = outbox.update(payload={}, last_error="")
        # The audit trail's copies of the timeline (a decision's inputs, such as her street; a
        # notification's subject) lose their words as the timeline did; who did what, when, stays.
        # Its process's own entries too (a failure's message may quote the case's data). Entries
        # written before content digests existed cannot be redacted (AuditEntry.content_digest).
        about_case = Q(object_type=Application._meta.label_lower, object_id=str(application.pk)) | Q(
            object_type=ProcessInstance._meta.label_lower, object_id__in=[str(instance.pk) for instance in instances])
        counts["audit_redacted"] = audit_redact(
            municipality=municipality, entries=AuditEntry.objects.filter(about_case, action__startswith="process."),
            reason=f"{application.reference}, Aufbewahrungsfrist abgelaufen",
            actor=actor, actor_label="" if actor is not None else "retention-job")
        application.data = {}
        application.applicant_name = ""
        application.applicant_email = ""
        application.applicant = None
        application.idempotency_key = None
        application.request_hash = ""
        application.anonymised_at = application.updated_at = now
        application.save(update_fields=["data", "applicant_name", "applicant_email", "applicant", "idempotency_key",
                                        "request_hash", "anonymised_at", "updated_at"])
        audit_record(action="application.anonymised", municipality=municipality, obj=application,
                     summary=f"{application.reference}: {reason or f'retention {retention_days} days'}"[:500],
                     data={"retention_days": retention_days, "removed": counts, **({"reason": reason} if reason else {})},
                     actor=actor, actor_label="" if actor is not None else "retention-job")
    return True
