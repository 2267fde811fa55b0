from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from rathaus.accounts.rules import Perm
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view, tenant_view
from rathaus.core.language import in_english
from rathaus.tenants.models import Remedy

from . import selectors
from .forms import ServiceLettersForm
from .services import service_update


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


@staff_view(Perm.MANAGE_SERVICES)
def service_edit(request, service: str):
    """A service's own settings for its decision letters: the remedy against them, with a preview of the text."""
    municipality = request.municipality
    found = selectors.service_get(municipality=municipality, slug=service, published_only=False)
    town_remedy = Remedy(municipality.remedy or Remedy.OBJECTION).label
    # As on the town's letter settings, the form works on a copy; "Vorschau" shows it without storing it.
    form = ServiceLettersForm(request.POST or None, town_remedy=town_remedy,
                              instance=selectors.service_get(municipality=municipality, pk=found.pk, published_only=False))
    shown, previewing, status = found, False, 200
    if request.method == "POST":
        if not form.is_valid():
            status = 422
        elif request.POST.get("action") == "preview":
            shown, previewing = form.instance, True
        else:
            try:
                service_update(service=found, actor=request.user, ip_address=client_ip(request), **form.cleaned_data)
            except ValidationError as exc:  # the town's details changed since the form checked them
                form.add_error(None, exc.messages)
                status = 422
            else:
                messages.success(request, _("Rechtsbehelf für „%(service)s“ gespeichert. Jeder neue Bescheid dieser "
                                            "Leistung druckt ihn ab.") % {"service": found.name})
                return redirect(request.path)
    return render(request, "catalog/service_edit.html", {
        "service": found, "form": form, "previewing": previewing, "town_remedy": town_remedy,
        "instruction": shown.remedy_instruction()}, status=status)
