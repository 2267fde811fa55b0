"""Reads of the case file, each scoped to a municipality; a page costs a fixed number of queries."""

from __future__ import annotations

import functools

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from .models import (
    DEFAULT_RETENTION_DAYS,
    OUTCOMES,
    Confidentiality,
    DecisionNotice,
    Document,
    DocumentRequest,
    DocumentType,
    DocumentVersion,
    LegalHold,
    RetentionRule,
)


def case_file(*, municipality, application, public_only: bool = False) -> list[Document]:
    """The documents of one case with their versions (oldest first), newest document last."""
    qs = (Document.objects.for_municipality(municipality).filter(application=application)
          .select_related("created_by", "request", "notice__posted_by")
          .prefetch_related(Prefetch("versions", queryset=DocumentVersion.objects.select_related("added_by")
                                     .order_by("number"))))
    if public_only:
        qs = qs.filter(confidentiality=Confidentiality.PUBLIC)
    return list(qs.order_by("created_at", "id"))


def document_get(*, municipality, application, pk: int, public_only: bool = False) -> Document:
    qs = Document.objects.for_municipality(municipality).filter(application=application, pk=pk)
    if public_only:
        qs = qs.filter(confidentiality=Confidentiality.PUBLIC)
    document = qs.select_related("application", "created_by").first()
    if document is None:
        raise Http404("no such document")
    return document


def version_get(*, document: Document, number: int | None = None) -> DocumentVersion:
    """One version of the document, the latest if `number` is None."""
    qs = DocumentVersion.objects.filter(document=document, municipality_id=document.municipality_id)
    version = qs.filter(number=number).first() if number is not None else qs.order_by("-number").first()
    if version is None:
        raise Http404("no such version")
    return version


def document_requests(*, municipality, application, open_only: bool = False) -> list[DocumentRequest]:
    qs = (DocumentRequest.objects.for_municipality(municipality).filter(application=application)
          .select_related("requested_by").prefetch_related("documents"))
    if open_only:
        qs = qs.filter(fulfilled_at__isnull=True, cancelled_at__isnull=True)
    return list(qs.order_by("created_at", "id"))


def request_missing_items(*, request: DocumentRequest) -> list[int]:
    """Indexes of the request's items no document answers yet."""
    answered = set(Document.objects.filter(request=request).values_list("request_item", flat=True))
    return [index for index in range(len(request.items)) if index not in answered]


def request_rows(request: DocumentRequest) -> list[tuple[int, str, bool]]:
    """(index, item, handed in) for a request whose documents were prefetched."""
    answered = {d.request_item for d in request.documents.all()}
    return [(index, item, index in answered) for index, item in enumerate(request.items)]


def legal_hold_active(*, municipality, application) -> LegalHold | None:
    return (LegalHold.objects.for_municipality(municipality).filter(application=application, released_at__isnull=True)
            .select_related("set_by").first())


def legal_holds(*, municipality, application) -> QuerySet[LegalHold]:
    return (LegalHold.objects.for_municipality(municipality).filter(application=application)
            .select_related("set_by", "released_by").order_by("-set_at", "-id"))


def _to_post(municipality) -> QuerySet[DecisionNotice]:
    # The condition of the index notice_post_due_idx.
    return (DecisionNotice.objects.for_municipality(municipality)
            .filter(post_due_since__isnull=False, posted_on__isnull=True, withdrawn_at__isnull=True))


def decisions_to_post(*, municipality) -> QuerySet[DecisionNotice]:
    """The town's decision letters to be given notice by post (no consent, or not retrieved in time), oldest first."""
    return (_to_post(municipality)
            .select_related("document__application__service", "document__application__municipality")
            .order_by("post_due_since", "id"))


def decisions_to_post_count(*, municipality) -> int:
    return _to_post(municipality).count()


def retention_rules(*, municipality) -> dict[tuple[str, str], int | None]:
    """The tenant's retention class for every document type and case result (defaults where not set)."""
    rules = {(t, o): DEFAULT_RETENTION_DAYS.get((t, o)) for t in DocumentType.values for o in OUTCOMES}
    for row in RetentionRule.objects.for_municipality(municipality).only("document_type", "outcome", "days"):
        if (row.document_type, row.outcome) in rules:
            rules[(row.document_type, row.outcome)] = row.days
    return rules


def retention_customised(*, municipality) -> bool:
    return RetentionRule.objects.for_municipality(municipality).exists()


# ---------------------------------------------------------------- process steps' reads (hand-written SQL)

@functools.lru_cache(maxsize=16)
def _document_sql(alias: str, columns: tuple[str, ...], column: str) -> str:
    from django.db import connections

    quote = connections[alias].ops.quote_name
    return f"SELECT {', '.join(map(quote, columns))} FROM {quote(Document._meta.db_table)} WHERE {quote(column)} = %s"  # noqa: S608 - names from the model


def _rows(columns: tuple[str, ...], column: str, value) -> list[tuple]:
    """``SELECT columns FROM documents WHERE column = value``, prepared (process steps run it for every case)."""
    from django.db import connections, router

    from rathaus.core.sql import prepared_cursor

    connection = connections[router.db_for_read(Document)]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_document_sql(connection.alias, columns, column), [value])
        return cursor.fetchall()


def document_ids_and_fields(application_id: int) -> list[tuple[int, str]]:
    """(id, form field) of every document of the case file (the completeness check reads this once per case)."""
    return _rows(("id", "form_field"), "application_id", application_id)


def document_key_used(key: str) -> bool:
    """Whether a document was stored under this idempotency key (a re-run step's look-up)."""
    return bool(_rows(("id",), "idempotency_key", key))
