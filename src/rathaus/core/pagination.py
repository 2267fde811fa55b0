"""Page-number pagination that stays fast on deep pages of large tables."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet


def paginate_by_keys(qs: QuerySet, per_page: int, number) -> Page:
    """Paginate `qs` by its primary keys first, then load only the page's rows.

    A plain OFFSET over the full rows makes the database fetch (and join) every skipped row: on the
    last page of 100,000 cases that costs ~100 ms. Counting and skipping over the primary keys alone
    can be answered from an index, and the page's 25-50 rows are then loaded by key with the
    queryset's joins. The page costs one query more than plain pagination, on every page alike.
    """
    page = Paginator(qs.values_list("pk", flat=True), per_page).get_page(number)
    keys = list(page.object_list)
    rows = {row.pk: row for row in qs.filter(pk__in=keys)} if keys else {}
    page.object_list = [rows[key] for key in keys if key in rows]
    return page
