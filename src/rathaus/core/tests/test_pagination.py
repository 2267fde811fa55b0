"""Pagination by keys: every row once, in the queryset's order, with its joins loaded."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rathaus.core.models import AuditEntry
from rathaus.core.pagination import paginate_by_keys

pytestmark = pytest.mark.django_db


def test_pages_cover_every_row_once_in_order_at_a_constant_cost(town):
    for i in range(7):
        AuditEntry.objects.create(municipality=town, action=f"a{i}", summary=str(i))
    qs = AuditEntry.objects.filter(municipality=town).select_related("municipality").order_by("-created_at", "-id")
    expected = list(qs.values_list("pk", flat=True))

    seen, costs = [], []
    for number in (1, 2, 3):
        with CaptureQueriesContext(connection) as ctx:
            page = paginate_by_keys(qs, 3, number)
            names = [entry.municipality.name for entry in page]  # joined row: no extra query
        costs.append(len(ctx.captured_queries))
        assert names == [town.name] * len(page.object_list)
        seen += [entry.pk for entry in page]
    assert seen == expected
    assert len(set(costs)) == 1
    assert page.paginator.num_pages == 3 and not page.has_next()


def test_a_page_number_out_of_range_shows_the_last_page(town):
    for i in range(4):
        AuditEntry.objects.create(municipality=town, action=f"a{i}")
    page = paginate_by_keys(AuditEntry.objects.filter(municipality=town).order_by("id"), 3, "99")
    assert page.number == 2 and len(page.object_list) == 1
