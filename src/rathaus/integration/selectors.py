"""Reads of the integration layer; every staff read is scoped to one municipality."""

from __future__ import annotations

from datetime import datetime

from django.db import connections, router, transaction
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from rathaus.applications.models import Application, StatusChange
from rathaus.core.exports import local_time
from rathaus.forms.models import FormDefinition

from .models import ApiToken, Delivery, DeliveryAttempt, DeliveryState, DomainEvent, Subscription, SubscriptionSecret


def secrets_valid(*, subscription: Subscription, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now, newest first."""
    return list(SubscriptionSecret.objects.filter(subscription=subscription)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .order_by("-created_at", "-id").values_list("secret", flat=True))


def _count(qs) -> Coalesce:
    return Coalesce(Subquery(qs.order_by().values("subscription").annotate(n=Count("id")).values("n")[:1]), 0)


def subscription_list(*, municipality, now: datetime):
    """Subscriptions with their open and failed deliveries counted and their valid secrets (no secret text)."""
    valid = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    # Counted in subqueries (index on subscription, state): a join would multiply deliveries by secrets.
    deliveries = Delivery.objects.filter(subscription=OuterRef("pk"))
    return (Subscription.objects.for_municipality(municipality).select_related("created_by")
            .prefetch_related(Prefetch("secrets", to_attr="secret_rows",
                                       queryset=SubscriptionSecret.objects.filter(valid).only(
                                           "id", "subscription_id", "created_at", "expires_at")))
            .annotate(pending_count=_count(deliveries.filter(state__in=(DeliveryState.PENDING, DeliveryState.SENDING))),
                      failed_count=_count(deliveries.filter(state=DeliveryState.FAILED)))
            .order_by("-active", "name", "id"))


def subscription_get(*, municipality, pk: int) -> Subscription:
    return get_object_or_404(Subscription.objects.for_municipality(municipality), pk=pk)


def subscription_choices(*, municipality) -> list[tuple[int, str]]:
    return list(Subscription.objects.for_municipality(municipality).order_by("-active", "name", "id")
                .values_list("pk", "name"))


def delivery_list(*, municipality, state: str = "", subscription_id: int | None = None, query: str = "",
                  application=None):
    """Deliveries newest first; a page costs a fixed number of queries."""
    qs = (Delivery.objects.for_municipality(municipality)
          .select_related("event", "subscription"))
    if state:
        qs = qs.filter(state=state)
    if subscription_id:
        qs = qs.filter(subscription_id=subscription_id)
    if query:
        qs = qs.filter(event__reference__icontains=query)
    if application is not None:
        qs = qs.filter(application=application)
    return qs.order_by("-id")


def delivery_list_with_attempts(*, municipality, application):
    """One case's deliveries with every attempt (the delivery log on the case)."""
    return (delivery_list(municipality=municipality, application=application)
            .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number", "id"))))


def delivery_get(*, municipality, pk: int) -> Delivery:
    return get_object_or_404(Delivery.objects.for_municipality(municipality).select_related("subscription", "event"),
                             pk=pk)


def delivery_export_rows(qs) -> list[dict]:
    """The columns of the CSV/JSON export of a delivery list."""
    return [{"delivery": d.pk, "event": d.event_id, "event_type": d.event.kind, "reference": d.event.reference,
             "subscription": d.subscription.name, "kind": d.subscription.kind, "target": d.subscription.shown_target,
             "state": d.state, "attempts": d.attempts, "last_status_code": d.last_status_code or "",
             "last_error": d.last_error, "created_at": local_time(d.created_at),
             "next_attempt_at": local_time(d.next_attempt_at), "delivered_at": local_time(d.delivered_at),
             "failed_at": local_time(d.failed_at)}
            for d in qs.iterator(chunk_size=2000)]

# ------------------------------------------------------- staff API: tokens, cases, events, forms

# Waiting longer than this for writers still inserting events answers 503 (retry) instead of hanging.
# Short on purpose: while the read waits for the lock, new writers queue behind it, so a slow writer
# may hold submissions back by at most this long before the poll gives up and is retried.
EVENT_LOCK_TIMEOUT = "300ms"


def api_token_list(*, municipality):
    """Every token of the municipality, newest first (revoked and expired ones too: they are history)."""
    return ApiToken.objects.for_municipality(municipality).select_related("created_by").order_by("-created_at", "-id")


def api_token_get(*, municipality, pk: int) -> ApiToken:
    return get_object_or_404(ApiToken.objects.for_municipality(municipality), pk=pk)


def _cases(municipality):
    return Application.objects.for_municipality(municipality)


def case_page(*, municipality, status: str | None = None, service_id: int | None = None,
              updated_since: datetime | None = None, after: tuple[datetime, int] | None = None,
              limit: int = 50) -> list[Application]:
    """One page of cases ordered by last change, then id (oldest first); `after` is the last row seen.

    A case that changes while a client pages moves behind the cursor and is listed again with
    its new state; none is skipped. One query per page, whatever its size.
    """
    qs = _cases(municipality).select_related("service")
    if status:
        qs = qs.filter(status=status)
    if service_id is not None:
        qs = qs.filter(service_id=service_id)
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    if after is not None:
        # The leading `>=` gives the index (municipality, updated_at, id) a range to start from;
        # the OR alone would make PostgreSQL read the index from its beginning.
        qs = qs.filter(Q(updated_at__gte=after[0]) & (Q(updated_at__gt=after[0]) | Q(id__gt=after[1])))
    return list(qs.order_by("updated_at", "id")[:limit])


def case_get(*, municipality, reference: str) -> Application:
    """One case with its service, form and status history (three queries)."""
    qs = (_cases(municipality).select_related("service", "form", "municipality")
          .prefetch_related(Prefetch("history", queryset=StatusChange.objects.order_by("created_at", "id"))))
    return get_object_or_404(qs, reference=reference)


def event_page(*, municipality, after: int, limit: int) -> list[DomainEvent]:
    """Events with an id above `after`, oldest first.

    Ids come from a sequence when the row is inserted, but transactions commit in any order: a
    reader could see event 11 while event 10 is still uncommitted, move its cursor past 10 and
    never see it. On PostgreSQL the read therefore takes a SHARE lock on the table, which waits
    until every transaction that is inserting events has finished and holds new inserts back for
    the few milliseconds of the read. SQLite runs one writer at a time, so commits come in id order.
    """
    qs = (DomainEvent.objects.for_municipality(municipality).filter(id__gt=after).order_by("id")
          .only("id", "kind", "reference", "data", "created_at", "application_id"))[:limit]
    alias = router.db_for_read(DomainEvent)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return list(qs)
    table = connection.ops.quote_name(DomainEvent._meta.db_table)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{EVENT_LOCK_TIMEOUT}'")
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")  # noqa: S608 - table name from the model
        return list(qs)


def form_get(*, municipality, key: str, version: int) -> FormDefinition:
    return get_object_or_404(FormDefinition.objects.for_municipality(municipality), key=key, version=version)
