from django.http import Http404

from .models import Municipality


def municipality_list():
    return Municipality.objects.filter(is_active=True).order_by("name")


def municipality_get(*, slug: str) -> Municipality:
    """The active municipality with this slug, or 404: unknown and forged slugs look the same."""
    try:
        return Municipality.objects.get(slug=slug, is_active=True)
    except Municipality.DoesNotExist:
        raise Http404("unknown municipality") from None
