from django.shortcuts import render

from rathaus.core.decorators import tenant_view
from rathaus.core.language import in_english

from . import selectors


@tenant_view
def index(request):
    query = request.GET.get("q", "")[:200]
    situation = request.GET.get("lebenslage", "")[:40]
    services = selectors.service_list(municipality=request.municipality, query=query, life_situation=situation)
    situations = selectors.life_situation_list(municipality=request.municipality)
    if in_english():
        # The database orders by the German name; English readers expect their own alphabet.
        situations = sorted(situations, key=lambda s: s.display_name.casefold())
    return render(request, "catalog/index.html", {
        "services": services, "query": query, "situation": situation, "situations": situations,
    })


@tenant_view
def detail(request, service: str):
    return render(request, "catalog/detail.html", {"service": selectors.service_get(municipality=request.municipality, slug=service)})
