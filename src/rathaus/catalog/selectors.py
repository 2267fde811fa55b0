"""Reads on the service catalogue; every function needs the municipality."""

from django.db.models import Q
from django.shortcuts import get_object_or_404

from .models import LifeSituation, Service


def service_list(*, municipality, query: str = "", life_situation: str = "", published_only: bool = True):
    qs = Service.objects.for_municipality(municipality).select_related("form").prefetch_related("life_situations")
    if published_only:
        qs = qs.filter(is_published=True)
    if query:
        for word in query.split()[:8]:
            qs = qs.filter(Q(name__icontains=word) | Q(summary__icontains=word) | Q(description__icontains=word)
                           | Q(leika_key=word) | Q(life_situations__name__icontains=word))
        qs = qs.distinct()
    if life_situation:
        qs = qs.filter(life_situations__key=life_situation)
    return qs.order_by("name")


def service_get(*, municipality, slug: str | None = None, pk: int | None = None, published_only: bool = True) -> Service:
    qs = Service.objects.for_municipality(municipality).select_related("form", "municipality")
    if published_only:
        qs = qs.filter(is_published=True)
    return get_object_or_404(qs, slug=slug) if slug is not None else get_object_or_404(qs, pk=pk)


def life_situation_list(*, municipality):
    return LifeSituation.objects.filter(service__municipality=municipality, service__is_published=True).distinct().order_by("name")


def service_choices(*, municipality):
    """(id, name) of every service, published or not, for staff filters."""
    return Service.objects.for_municipality(municipality).order_by("name").values_list("id", "name")
