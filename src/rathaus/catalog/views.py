from django.shortcuts import render

from rathaus.core.decorators import tenant_view

from . import selectors


@tenant_view
def index(request):
    query = request.GET.get("q", "")[:200]
    situation = request.GET.get("lebenslage", "")[:40]
    services = selectors.service_list(municipality=request.municipality, query=query, life_situation=situation)
    return render(request, "catalog/index.html", {
        "services": services, "query": query, "situation": situation,
        "situations": selectors.life_situation_list(municipality=request.municipality),
    })


@tenant_view
def detail(request, service: str):
    return render(request, "catalog/detail.html", {"service": selectors.service_get(municipality=request.municipality, slug=service)})
