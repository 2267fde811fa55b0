"""Reads on applications; every staff read is scoped to one municipality."""

from __future__ import annotations

import re

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import OPEN_STATUSES, Application, Draft, StatusChange

# A whole reference number as printed on receipts, e.g. MUS-2026-000123.
FULL_REFERENCE = re.compile(r"^[A-Za-z]{2,5}-\d{4}-\d{6,}$")


def application_inbox(*, municipality, status: str = "", service_id: int | None = None, channel: str = "",
                      overdue: bool = False, query: str = ""):
    """The staff inbox; select_related keeps a page at a fixed number of queries."""
    qs = (Application.objects.for_municipality(municipality)
          .select_related("service")
          .only("id", "reference", "status", "channel", "submitted_at", "due_date", "applicant_name",
                "service__name", "service__id", "municipality_id"))
    if status:
        qs = qs.filter(status=status)
    if service_id:
        qs = qs.filter(service_id=service_id)
    if channel:
        qs = qs.filter(channel=channel)
    if overdue:
        qs = qs.filter(status__in=OPEN_STATUSES, due_date__lt=timezone.localdate())
    if query:
        query = query.strip()
        if FULL_REFERENCE.match(query):
            # A pasted reference is looked up through the unique index, not by scanning every case.
            qs = qs.filter(reference=query.upper())
        else:
            qs = qs.filter(reference__icontains=query) | qs.filter(applicant_name__icontains=query)
    return qs.order_by("-submitted_at", "-id")


def application_get(*, municipality, reference: str) -> Application:
    qs = (Application.objects.for_municipality(municipality)
          .select_related("service", "form", "municipality", "applicant", "entered_by")
          .prefetch_related(Prefetch("history", queryset=StatusChange.objects.select_related("actor")),
                            "notes__author"))
    return get_object_or_404(qs, reference=reference)


def application_row_get(*, municipality, reference: str) -> Application:
    """One application with its service and municipality only: for pages and downloads that need no history."""
    qs = Application.objects.for_municipality(municipality).select_related("service", "municipality")
    return get_object_or_404(qs, reference=reference)


def application_list_for_user(*, user):
    """A citizen's own applications across municipalities (they are hers, not a tenant's)."""
    return (Application.objects.filter(applicant=user).select_related("service", "municipality")
            .order_by("-submitted_at"))


def draft_get(*, municipality, token: str) -> Draft:
    return get_object_or_404(Draft.objects.for_municipality(municipality).select_related("service__form"),
                             token=token, expires_at__gt=timezone.now())
