"""Exchanges in the portal: public directories, families' registrations, the provider area and
the staff pages for moderation, daycare rounds and the holiday programme.

Views stay thin: they parse forms, call one service, and render. Everything works without
JavaScript; the map on the search page is an enhancement over the same list.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rathaus.accounts.rules import Perm
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view, tenant_view
from rathaus.core.exports import list_download
from rathaus.core.language import in_english
from rathaus.core.params import parse_int
from rathaus.tenants.selectors import municipality_get

from . import exports, ical, selectors, services
from .charts import fill_rate_chart
from .forms import (
    ActivityForm,
    AnswerForm,
    CapacityFormSet,
    CategoryForm,
    DateFormSet,
    DistrictForm,
    FacilityForm,
    GroupFormSet,
    HolidayRegistrationForm,
    MemberAddForm,
    OfferForm,
    ProgrammeForm,
    ProviderForm,
    ReasonForm,
    RegistrationForm,
    RoundForm,
    RuleFormSet,
    SettingsForm,
    SlotFormSet,
    StaffActivityForm,
    apply_errors,
    date_initial,
    error_summary,
    slot_initial,
)
from .labels import capacity_key_label, rule_label
from .models import (
    ACCESSIBILITY_FLAGS,
    WEEKDAYS,
    Directory,
    GroupKind,
    ModerationStatus,
    PlaceOfferStatus,
    ProgrammeStatus,
    ProviderStatus,
    RegistrationStatus,
)

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = "© OpenStreetMap-Mitwirkende"
SEARCH_PAGE_SIZE = 30
# The downloads (dataset, calendar) hold at most this many offers, so one request stays cheap;
# narrower filters give the rest. The search page and docs/exchanges.md state the cap.
EXPORT_LIMIT = 2000


# ---------------------------------------------------------------------------- helpers


def citizen_view(view):
    """A page for a logged-in person of the URL's municipality; others go to the login first."""

    @wraps(view)
    def wrapper(request, municipality: str, *args, **kwargs):
        request.municipality = municipality_get(slug=municipality)
        if not request.user.is_authenticated:
            return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, *args, **kwargs)

    return wrapper


def _directory_or_404(directory: str) -> Directory:
    try:
        return Directory(directory)
    except ValueError:
        raise Http404 from None


def _back(request, name: str, **kwargs):
    return redirect(name, municipality=request.municipality.slug, **kwargs)



def _can(request, perm: str) -> bool:
    return request.user.has_perm(perm, request.municipality)


def _tile_settings() -> tuple[str, str]:
    # Read at request time so operators can change the tile server without a restart of imports.
    return (getattr(settings, "RATHAUS_MAP_TILE_URL", DEFAULT_TILE_URL),
            getattr(settings, "RATHAUS_MAP_ATTRIBUTION", DEFAULT_TILE_ATTRIBUTION))


def _tile_origin(url: str) -> str:
    """The CSP source for the tile server: "{s}.tile.example.org" becomes "*.tile.example.org"."""
    parts = urlsplit(url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


# ============================================================================ public: overview, directories


@tenant_view
def index(request):
    return render(request, "exchanges/index.html", {
        "directories": Directory.choices,
        "programmes": selectors.programme_list(municipality=request.municipality)[:3],
        "provider_orgs": selectors.providers_for_user(municipality=request.municipality, user=request.user),
        "is_exchange_staff": _can(request, Perm.MANAGE_EXCHANGES),
    })


def _offer_url(request, offer) -> str:
    return request.build_absolute_uri(reverse("exchanges:offer_detail", kwargs={
        "municipality": request.municipality.slug, "directory": offer.directory, "pk": offer.pk}))


@tenant_view
def directory_search(request, directory: str):
    kind = _directory_or_404(directory)
    filters = selectors.OfferFilters.from_params(request.GET)
    offers = selectors.offer_search(municipality=request.municipality, directory=kind, filters=filters)
    page = Paginator(offers, SEARCH_PAGE_SIZE).get_page(request.GET.get("seite"))
    query = request.GET.copy()
    query.pop("seite", None)
    tile_url, attribution = _tile_settings()
    response = render(request, "exchanges/directory_search.html", {
        "directory": kind, "filters": filters, "page": page, "query": query.urlencode(),
        "categories": selectors.category_list(municipality=request.municipality, directory=kind),
        "weekdays": WEEKDAYS, "accessibility": ACCESSIBILITY_FLAGS,
        "tile_url": tile_url, "attribution": attribution,
        "has_map": bool(tile_url) and any(o.has_location for o in page),
        "export_limit": EXPORT_LIMIT,
    })
    origin = _tile_origin(tile_url) if tile_url else ""
    if origin:
        # Tiles are images from the tile server: allowed on this page only.
        response._csp_update = {"img-src": [origin]}  # type: ignore[attr-defined]  # read by django-csp
    return response


@tenant_view
def directory_export(request, directory: str, fmt: str):
    """The directory (with the current filters) as a dataset or a calendar."""
    kind = _directory_or_404(directory)
    filters = selectors.OfferFilters.from_params(request.GET)
    offers = list(selectors.offer_search(municipality=request.municipality, directory=kind, filters=filters)[:EXPORT_LIMIT + 1])
    truncated = len(offers) > EXPORT_LIMIT
    offers = offers[:EXPORT_LIMIT]
    name = f"{kind}-{request.municipality.slug}"
    if fmt == "ics":
        body = ical.offers_calendar(f"{kind.label} {request.municipality.name}", request.get_host().split(":")[0],
                                    offers, lambda o: _offer_url(request, o))
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.ics"'
        return response
    if fmt == "json":
        return exports.json_response(exports.offers_dataset(
            offers, lambda o: _offer_url(request, o), municipality=request.municipality, directory_label=str(kind.label),
            source_url=request.build_absolute_uri(), limit=EXPORT_LIMIT, truncated=truncated), f"{name}.json")
    if fmt == "csv":
        return exports.csv_response((exports.offer_record(o, _offer_url(request, o)) for o in offers),
                                    exports.OFFER_COLUMNS, f"{name}.csv")
    raise Http404


@tenant_view
def offer_detail(request, directory: str, pk: int):
    kind = _directory_or_404(directory)
    offer = selectors.offer_get_published(municipality=request.municipality, directory=kind, pk=pk)
    return render(request, "exchanges/offer_detail.html", {"offer": offer, "directory": kind})


@tenant_view
def offer_ical(request, directory: str, pk: int):
    kind = _directory_or_404(directory)
    offer = selectors.offer_get_published(municipality=request.municipality, directory=kind, pk=pk)
    body = ical.offers_calendar(offer.title, request.get_host().split(":")[0], [offer], lambda o: _offer_url(request, o))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="angebot-{offer.pk}.ics"'
    return response


# ============================================================================ provider area


@citizen_view
def provider_request(request):
    form = ProviderForm(request.POST or None, initial={"email": request.user.email})
    if request.method == "POST" and form.is_valid():
        try:
            services.provider_request(municipality=request.municipality, user=request.user, data=form.cleaned_data,
                                      ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Danke! Die Verwaltung prüft Ihre Anfrage und meldet sich per E-Mail."))
            return _back(request, "exchanges:provider_home")
    return render(request, "exchanges/provider_request.html", {"form": form, "errors": error_summary(form)},
                  status=422 if form.errors else 200)


@citizen_view
def provider_home(request):
    if request.method == "GET" and request.GET.get("export") in ("csv", "json"):  # as list_download asks
        return _provider_download(request)
    providers = list(selectors.providers_for_user(municipality=request.municipality, user=request.user))
    sections = []
    for p in providers:
        activities = list(selectors.activities_for_provider(municipality=request.municipality, provider=p))
        sections.append({"provider": p,
                         "offers": selectors.offers_for_provider(municipality=request.municipality, provider=p),
                         "activities": activities,
                         "chart_id": f"chart-provider-{p.pk}",
                         # The provider's downloads of each table (see _provider_download).
                         "offers_query": f"anbieter={p.pk}&liste=angebote", "activities_query": f"anbieter={p.pk}&liste=aktivitaeten",
                         "chart": _holiday_fill_chart([a for a in activities if a.programme.status in DRAWN_PROGRAMME])})
    return render(request, "exchanges/provider_home.html", {
        "sections": sections, "programmes": selectors.programme_list(municipality=request.municipality).filter(
            status=ProgrammeStatus.OPEN)})


def _provider_download(request):
    """One table of the provider area (`liste`: angebote or aktivitaeten) of one provider the user belongs to."""
    provider = _member_provider(request, parse_int(request.GET.get("anbieter")) or 0)
    municipality, which = request.municipality, request.GET.get("liste")
    if which == "angebote":
        rows = lambda: exports.provider_offer_rows(selectors.offers_for_provider(municipality=municipality, provider=provider))  # noqa: E731
    elif which == "aktivitaeten":
        rows = lambda: exports.activity_rows(selectors.activities_for_provider(municipality=municipality, provider=provider))  # noqa: E731
    else:
        raise Http404
    return _download(request, f"anbieter-{provider.pk}-{which}", rows, "id")


# Only after the draw do places and waiting lists exist; before it every bar would be empty.
DRAWN_PROGRAMME = (ProgrammeStatus.ALLOCATED, ProgrammeStatus.CLOSED)


def _holiday_fill_chart(activities):
    """Places taken of capacity per published activity, the waiting list printed after the numbers."""
    drawn = [a for a in activities if a.status == ModerationStatus.PUBLISHED]
    if not drawn:
        return None
    return fill_rate_chart([(a.title, a.taken, a.capacity) for a in drawn], value_room=220,
                           notes=[_("Warteliste: %(n)s") % {"n": a.waiting} for a in drawn])


def _member_provider(request, provider: int, *, approved: bool = True):
    found = selectors.provider_for_member(municipality=request.municipality, user=request.user, pk=provider)
    if approved and found.status != ProviderStatus.APPROVED:
        raise Http404
    return found


@citizen_view
def provider_edit(request, provider: int):
    org = _member_provider(request, provider, approved=False)
    form = ProviderForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        try:
            services.provider_update(provider=org, actor=request.user, data=form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Angaben gespeichert."))
            return _back(request, "exchanges:provider_home")
    return render(request, "exchanges/provider_request.html", {"form": form, "errors": error_summary(form), "provider": org},
                  status=422 if form.errors else 200)


def _schedule_inputs(slot_set, date_set):
    slots = [services.SlotInput(weekday=f.cleaned_data["weekday"], start_time=f.cleaned_data["start_time"],
                                end_time=f.cleaned_data["end_time"])
             for f in slot_set.forms if f.cleaned_data.get("weekday") is not None]
    dates = [f.as_input() for f in date_set.forms if f.cleaned_data.get("day")]
    return slots, dates


@citizen_view
def provider_offer_form(request, provider: int, pk: int | None = None):
    org = _member_provider(request, provider)
    offer = None
    if pk is not None:
        offer = selectors.offers_for_provider(municipality=request.municipality, provider=org).filter(pk=pk).first()
        if offer is None:
            raise Http404
    data = request.POST if request.method == "POST" else None
    form = OfferForm(data, instance=offer, municipality=request.municipality,
                     initial=None if offer else {"directory": request.GET.get("verzeichnis", Directory.SPORT)})
    slot_set = SlotFormSet(data, prefix="slots", initial=slot_initial(offer))
    date_set = DateFormSet(data, prefix="dates", initial=date_initial(offer))
    if request.method == "POST" and form.is_valid() and slot_set.is_valid() and date_set.is_valid():
        slots, dates = _schedule_inputs(slot_set, date_set)
        values = {k: v for k, v in form.cleaned_data.items()}
        try:
            if offer is None:
                offer = services.offer_create(provider=org, actor=request.user, data=values, slots=slots, dates=dates)
            else:
                offer = services.offer_update(offer=offer, actor=request.user, data=values, slots=slots, dates=dates)
            if "_submit" in request.POST:
                services.offer_submit(offer=offer, actor=request.user)
                messages.success(request, _("Gespeichert und zur Prüfung eingereicht. Sie erhalten eine E-Mail, sobald es veröffentlicht ist."))
            else:
                messages.success(request, _("Entwurf gespeichert. Reichen Sie das Angebot ein, wenn es fertig ist."))
            return _back(request, "exchanges:provider_home")
        except ValidationError as exc:
            apply_errors(form, exc, {"slots": None, "dates": None})
        except services.ExchangeError as exc:
            form.add_error(None, str(exc))
    errors = error_summary(form, slot_set, date_set)
    return render(request, "exchanges/offer_form.html", {
        "form": form, "slot_set": slot_set, "date_set": date_set, "provider": org, "offer": offer, "errors": errors,
    }, status=422 if errors else 200)


@citizen_view
@require_POST
def provider_offer_action(request, provider: int, pk: int):
    org = _member_provider(request, provider, approved=False)
    offer = selectors.offers_for_provider(municipality=request.municipality, provider=org).filter(pk=pk).first()
    if offer is None:
        raise Http404
    try:
        if request.POST.get("action") == "submit":
            services.offer_submit(offer=offer, actor=request.user)
            messages.success(request, _("Zur Prüfung eingereicht."))
        elif request.POST.get("action") == "delete":
            services.offer_delete(offer=offer, actor=request.user)
            messages.success(request, _("Angebot gelöscht."))
    except services.ExchangeError as exc:
        messages.error(request, str(exc))
    return _back(request, "exchanges:provider_home")


@citizen_view
def provider_activity_form(request, provider: int, pk: int | None = None):
    org = _member_provider(request, provider)
    activity = None
    if pk is not None:
        activity = selectors.activities_for_provider(municipality=request.municipality, provider=org).filter(pk=pk).first()
        if activity is None:
            raise Http404
        programme = activity.programme
    else:
        raw = request.GET.get("programm", "")
        programme = selectors.programme_get(municipality=request.municipality, pk=parse_int(raw, 0))
    form = ActivityForm(request.POST or None, instance=activity)
    if request.method == "POST" and form.is_valid():
        try:
            if activity is None:
                activity = services.holiday_activity_create(programme=programme, provider=org, actor=request.user,
                                                            data=form.cleaned_data)
            else:
                activity = services.holiday_activity_update(activity=activity, actor=request.user, data=form.cleaned_data)
            if "_submit" in request.POST:
                services.holiday_activity_submit(activity=activity, actor=request.user)
                messages.success(request, _("Gespeichert und zur Prüfung eingereicht."))
            else:
                messages.success(request, _("Entwurf gespeichert."))
            return _back(request, "exchanges:provider_home")
        except ValidationError as exc:
            apply_errors(form, exc)
        except services.ExchangeError as exc:
            form.add_error(None, str(exc))
    return render(request, "exchanges/activity_form.html", {
        "form": form, "provider": org, "activity": activity, "programme": programme, "errors": error_summary(form),
    }, status=422 if form.errors else 200)


def _participants_response(request, activity, fmt: str):
    placements = list(selectors.activity_participants(municipality=request.municipality, activity=activity))
    name = f"teilnehmende-{activity.pk}"
    if fmt == "pdf":
        from .pdf import participants_pdf

        response = HttpResponse(participants_pdf(activity, placements), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response
    if fmt in ("csv", "json"):
        starts = activity.programme.starts_on
        rows = [{"child_first_name": p.registration.child_first_name, "child_last_name": p.registration.child_last_name,
                 "age": p.registration.age_on(starts), "birth_date": p.registration.birth_date.isoformat(),
                 "parent_name": p.registration.parent_name,
                 "parent_email": p.registration.parent_email,
                 "emergency_phone": p.registration.emergency_phone, "notes": p.registration.notes,
                 "moved_up": "ja" if p.via_move_up else "nein"} for p in placements]
        if fmt == "json":
            return exports.json_response(rows, f"{name}.json")
        return exports.csv_response(rows, ["child_first_name", "child_last_name", "age", "birth_date", "parent_name",
                                           "parent_email", "emergency_phone", "notes", "moved_up"], f"{name}.csv")
    raise Http404


@citizen_view
def provider_participants(request, provider: int, pk: int, fmt: str):
    org = _member_provider(request, provider)
    activity = selectors.activities_for_provider(municipality=request.municipality, provider=org).filter(pk=pk).first()
    if activity is None:
        raise Http404
    return _participants_response(request, activity, fmt)


# ============================================================================ daycare: families


@tenant_view
def daycare_index(request):
    municipality = request.municipality
    max_wishes, capped = services.max_wishes_for(municipality)
    registrations = []
    if request.user.is_authenticated:
        registrations = list(selectors.registrations_for_parent(municipality=municipality, user=request.user))
    return render(request, "exchanges/daycare_index.html", {
        "facilities": selectors.facility_list(municipality=municipality),
        "rules": [r for r in selectors.priority_rule_list(municipality=municipality) if r.is_active],
        "registrations": registrations, "max_wishes": max_wishes, "capped": capped,
    })


def _registration_form(request, data=None, initial=None):
    municipality = request.municipality
    max_wishes, capped = services.max_wishes_for(municipality)
    facilities = selectors.facility_list(municipality=municipality)
    form = RegistrationForm(data, initial=initial, municipality=municipality, facilities=facilities,
                            hours=selectors.care_hour_options(municipality=municipality), max_wishes=max_wishes)
    return form, capped


_REGISTRATION_DATA = ("child_first_name", "child_last_name", "birth_date", "desired_start", "care_hours", "district",
                      "sibling_facility", "single_parent", "parents_working", "special_needs")


@citizen_view
def daycare_register(request, pk: int | None = None):
    registration = None
    if pk is not None:
        registration = selectors.registration_for_parent(municipality=request.municipality, user=request.user, pk=pk)
        if registration.status != RegistrationStatus.ACTIVE:
            messages.error(request, _("Diese Anmeldung kann nicht mehr geändert werden."))
            return _back(request, "exchanges:daycare_registration", pk=registration.pk)
    form, capped = _registration_form(request, request.POST or None,
                                      RegistrationForm.initial_for(registration) if registration else None)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in _REGISTRATION_DATA}
        try:
            if registration is None:
                registration = services.registration_create(municipality=request.municipality, parent=request.user,
                                                            data=data, wishes=form.cleaned_data["wishes"], ip=client_ip(request))
                messages.success(request, _("Ihre Anmeldung ist eingegangen (Nummer %(ref)s).") % {"ref": registration.reference})
            else:
                services.registration_update(registration=registration, actor=request.user, data=data,
                                             wishes=form.cleaned_data["wishes"])
                messages.success(request, _("Änderungen gespeichert. Sie gelten ab der nächsten Vergaberunde."))
            return _back(request, "exchanges:daycare_registration", pk=registration.pk)
        except ValidationError as exc:
            apply_errors(form, exc, {"wishes": "wish_1"})
        except services.ExchangeError as exc:
            form.add_error(None, str(exc))
    return render(request, "exchanges/daycare_register.html", {
        "form": form, "capped": capped, "registration": registration, "errors": error_summary(form),
    }, status=422 if form.errors else 200)


@citizen_view
def daycare_registration(request, pk: int):
    registration = selectors.registration_for_parent(municipality=request.municipality, user=request.user, pk=pk)
    state = selectors.registration_state(municipality=request.municipality, registration=registration)
    explanations = []
    if state.outcome is not None:
        english = in_english()
        for item in state.outcome.explanations:
            reasons = state.outcome.points.get(item["facility"], [])
            explanations.append({**item, "text": item["text_en"] if english else item["text_de"],
                                 "reasons": [(rule_label(key), points) for key, points in reasons]})
    return render(request, "exchanges/daycare_registration.html", {
        "registration": registration, "state": state, "explanations": explanations,
        "today": timezone.localdate(), "answerable": state.live_offer is not None
        and state.live_offer.is_answerable(timezone.localdate()),
    })


@citizen_view
@require_POST
def daycare_offer_answer(request, pk: int):
    offer = selectors.place_offer_for_parent(municipality=request.municipality, user=request.user, pk=pk)
    form = AnswerForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data["answer"] == "accept":
                services.place_offer_accept(offer=offer, actor=request.user)
                messages.success(request, _("Sie haben den Platz angenommen. Die Einrichtung meldet sich bei Ihnen."))
            else:
                services.place_offer_decline(offer=offer, actor=request.user)
                messages.success(request, _("Sie haben das Angebot abgelehnt. Ihr Kind nimmt mit seinen anderen Wünschen an der Nachrückrunde teil."))
        except services.ExchangeError as exc:
            messages.error(request, str(exc))
    return _back(request, "exchanges:daycare_registration", pk=offer.registration_id)


@citizen_view
@require_POST
def daycare_registration_withdraw(request, pk: int):
    registration = selectors.registration_for_parent(municipality=request.municipality, user=request.user, pk=pk)
    services.registration_withdraw(registration=registration, actor=request.user)
    messages.success(request, _("Die Anmeldung ist zurückgezogen."))
    return _back(request, "exchanges:daycare_registration", pk=registration.pk)


# ============================================================================ holiday programme: families


@tenant_view
def holiday_index(request):
    return render(request, "exchanges/holiday_index.html", {
        "programmes": selectors.programme_list(municipality=request.municipality),
        "registrations": selectors.holiday_registrations_for_parent(municipality=request.municipality, user=request.user)
        if request.user.is_authenticated else [],
    })


@tenant_view
def holiday_programme(request, pk: int):
    programme = selectors.programme_get(municipality=request.municipality, pk=pk)
    if programme.status == ProgrammeStatus.CLOSED:
        raise Http404
    if download := _download(request, f"ferienprogramm-{programme.pk}", lambda: exports.public_activity_rows(
            selectors.activities_published(municipality=request.municipality, programme=programme),
            drawn=programme.status == ProgrammeStatus.ALLOCATED), "id"):
        return download
    return render(request, "exchanges/holiday_programme.html", {
        "programme": programme, "today": timezone.localdate(),
        "activities": selectors.activities_published(municipality=request.municipality, programme=programme),
        "open": programme.accepts_registrations(timezone.localdate()),
    })


@citizen_view
def holiday_register(request, pk: int):
    programme = selectors.programme_get(municipality=request.municipality, pk=pk)
    if not programme.accepts_registrations(timezone.localdate()):
        messages.error(request, _("Die Anmeldung zu diesem Ferienprogramm ist geschlossen."))
        return _back(request, "exchanges:holiday_programme", pk=programme.pk)
    activities = list(selectors.activities_published(municipality=request.municipality, programme=programme))
    form = HolidayRegistrationForm(request.POST or None, programme=programme, activities=activities)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in services.HOLIDAY_REGISTRATION_FIELDS}
        try:
            registration = services.holiday_registration_create(programme=programme, parent=request.user, data=data,
                                                                wishes=form.cleaned_data["wishes"], ip=client_ip(request))
        except ValidationError as exc:
            apply_errors(form, exc, {"wishes": "wish_1"})
        except services.ExchangeError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Die Anmeldung ist eingegangen. Nach der Verlosung erhalten Sie eine E-Mail."))
            return _back(request, "exchanges:holiday_registration", pk=registration.pk)
    return render(request, "exchanges/holiday_register.html", {
        "form": form, "programme": programme, "errors": error_summary(form)}, status=422 if form.errors else 200)


@citizen_view
def holiday_registration(request, pk: int):
    registration = selectors.holiday_registration_for_parent(municipality=request.municipality, user=request.user, pk=pk)
    return render(request, "exchanges/holiday_registration.html", {
        "registration": registration, "programme": registration.programme,
        "placements": [p for p in registration.placements.all()],
        "waiting": list(registration.waitlist_entries.all()),
    })


@citizen_view
@require_POST
def holiday_placement_cancel(request, pk: int):
    placement = selectors.placement_for_parent(municipality=request.municipality, user=request.user, pk=pk)
    try:
        services.holiday_placement_cancel(placement=placement, actor=request.user)
        messages.success(request, _("Der Platz ist abgesagt. Danke – ein Kind von der Warteliste rückt nach."))
    except services.ExchangeError as exc:
        messages.error(request, str(exc))
    return _back(request, "exchanges:holiday_registration", pk=placement.registration_id)


@citizen_view
@require_POST
def holiday_registration_withdraw(request, pk: int):
    registration = selectors.holiday_registration_for_parent(municipality=request.municipality, user=request.user, pk=pk)
    services.holiday_registration_withdraw(registration=registration, actor=request.user)
    messages.success(request, _("Die Anmeldung ist zurückgezogen."))
    return _back(request, "exchanges:holiday_registration", pk=registration.pk)


def _download(request, name: str, rows, empty_header: str):
    """The staff list as a download when `?export=csv|json` asks for it (None shows the page).

    `rows` is called only for a download; it gets the page's queryset, so the file holds what the
    page lists with its filters, from this municipality only.
    """
    return list_download(request, f"{name}-{request.municipality.slug}", rows, empty_header)


# ============================================================================ staff: overview and moderation


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_dashboard(request):
    return render(request, "exchanges/staff/dashboard.html", {
        "counts": selectors.moderation_counts(municipality=request.municipality),
        "can_allocate": _can(request, Perm.RUN_ALLOCATION),
        "rounds": selectors.round_list(municipality=request.municipality)[:3],
        "programmes": selectors.programme_list(municipality=request.municipality, public=False)[:3],
    })


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_providers(request):
    status = request.GET.get("status", ProviderStatus.REQUESTED)
    status = status if status in ProviderStatus.values or status == "" else ProviderStatus.REQUESTED
    providers = selectors.provider_list(municipality=request.municipality, status=status)
    if download := _download(request, "anbieter", lambda: exports.provider_rows(providers), "id"):
        return download
    return render(request, "exchanges/staff/providers.html", {
        "providers": providers, "status": status, "statuses": ProviderStatus.choices,
        "query": urlencode({"status": status}),
    })


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_provider(request, pk: int):
    provider = selectors.provider_get(municipality=request.municipality, pk=pk)
    reason_form, member_form = ReasonForm(), MemberAddForm()
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "approve":
                services.provider_approve(provider=provider, actor=request.user)
                messages.success(request, _("Anbieter zugelassen; er wurde per E-Mail benachrichtigt."))
                return redirect(request.path)
            if action == "reject":
                reason_form = ReasonForm(request.POST)
                if reason_form.is_valid():
                    services.provider_reject(provider=provider, actor=request.user, reason=reason_form.cleaned_data["reason"])
                    messages.success(request, _("Anfrage abgelehnt; der Anbieter wurde benachrichtigt."))
                    return redirect(request.path)
            if action == "member":
                member_form = MemberAddForm(request.POST)
                if member_form.is_valid():
                    services.provider_member_add(provider=provider, actor=request.user, email=member_form.cleaned_data["email"])
                    messages.success(request, _("Mitglied hinzugefügt."))
                    return redirect(request.path)
        except ValidationError as exc:
            apply_errors(member_form if action == "member" else reason_form, exc)
    return render(request, "exchanges/staff/provider_detail.html", {
        "provider": provider, "reason_form": reason_form, "member_form": member_form,
        "offers": selectors.offers_for_provider(municipality=request.municipality, provider=provider),
        "errors": error_summary(reason_form, member_form),
    }, status=422 if reason_form.errors or member_form.errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_offers(request):
    status = request.GET.get("status", ModerationStatus.SUBMITTED)
    status = status if status in ModerationStatus.values or status == "" else ModerationStatus.SUBMITTED
    offers = selectors.offer_moderation_queue(municipality=request.municipality, status=status)
    if download := _download(request, "angebote-pruefung", lambda: exports.moderation_rows(offers), "id"):
        return download
    return render(request, "exchanges/staff/offers.html", {
        "offers": offers, "status": status, "statuses": ModerationStatus.choices, "query": urlencode({"status": status}),
    })


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_offer(request, pk: int):
    offer = selectors.offer_get(municipality=request.municipality, pk=pk)
    reason_form = ReasonForm()
    if request.method == "POST":
        try:
            if request.POST.get("action") == "publish":
                services.offer_publish(offer=offer, actor=request.user)
                messages.success(request, _("Veröffentlicht."))
                return _back(request, "exchanges:staff_offers")
            reason_form = ReasonForm(request.POST)
            if reason_form.is_valid():
                services.offer_reject(offer=offer, actor=request.user, reason=reason_form.cleaned_data["reason"])
                messages.success(request, _("Zurück an den Anbieter geschickt."))
                return _back(request, "exchanges:staff_offers")
        except services.ExchangeError as exc:
            messages.error(request, str(exc))
    return render(request, "exchanges/staff/offer_review.html", {
        "offer": offer, "reason_form": reason_form, "errors": error_summary(reason_form),
    }, status=422 if reason_form.errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_categories(request):
    if download := _download(request, "kategorien",
                             lambda: exports.category_rows(selectors.category_list(municipality=request.municipality)), "slug"):
        return download
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.category_create(municipality=request.municipality, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Kategorie angelegt."))
            return redirect(request.path)
    return render(request, "exchanges/staff/categories.html", {
        "form": form, "categories": selectors.category_list(municipality=request.municipality),
        "errors": error_summary(form)}, status=422 if form.errors else 200)


# ============================================================================ staff: daycare configuration


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_facilities(request):
    municipality = request.municipality
    if download := _download(request, "kita-plaetze", lambda: exports.facility_rows(
            selectors.facility_list(municipality=municipality, active_only=False)), "facility"):
        return download
    settings_form = SettingsForm(instance=selectors.exchange_settings_get(municipality=municipality))
    district_form = DistrictForm()
    if request.method == "POST":
        if request.POST.get("action") == "settings":
            settings_form = SettingsForm(request.POST, instance=selectors.exchange_settings_get(municipality=municipality))
            if settings_form.is_valid():
                services.exchange_settings_update(municipality=municipality, actor=request.user, **settings_form.cleaned_data)
                messages.success(request, _("Einstellungen gespeichert."))
                return redirect(request.path)
        else:
            district_form = DistrictForm(request.POST)
            if district_form.is_valid():
                try:
                    services.district_create(municipality=municipality, actor=request.user, **district_form.cleaned_data)
                except ValidationError as exc:
                    apply_errors(district_form, exc)
                else:
                    messages.success(request, _("Ortsteil angelegt."))
                    return redirect(request.path)
    errors = error_summary(settings_form, district_form)
    return render(request, "exchanges/staff/facilities.html", {
        "facilities": selectors.facility_list(municipality=municipality, active_only=False),
        "districts": selectors.district_list(municipality=municipality),
        "settings_form": settings_form, "district_form": district_form, "errors": errors,
    }, status=422 if errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_facility(request, pk: int | None = None):
    """Facility details and groups (one form), and its places per group and month (another)."""
    municipality = request.municipality
    facility = selectors.facility_get(municipality=municipality, pk=pk) if pk else None
    groups = list(facility.groups.all()) if facility else []
    post = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if post else None
    form = FacilityForm(post if action == "facility" else None, instance=facility, municipality=municipality)
    group_set = GroupFormSet(post if action == "facility" else None, prefix="groups", initial=[
        {"id": g.pk, "kind": g.kind, "name": g.name, "care_hours": ", ".join(map(str, g.care_hours))} for g in groups])
    capacity_set = CapacityFormSet(post if action == "capacities" else None, prefix="cap", initial=[
        {"group": c.group_id, "start_month": c.start_month.isoformat(), "places": c.places}
        for g in groups for c in g.capacities.all()], form_kwargs={"groups": groups})
    if action == "facility" and form.is_valid() and group_set.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "catchment_districts"}
        catchment = list(form.cleaned_data["catchment_districts"])
        group_inputs = [services.GroupInput(id=f.cleaned_data.get("id"), kind=f.cleaned_data["kind"],
                                            name=f.cleaned_data["name"], care_hours=f.cleaned_data["care_hours"],
                                            delete=f.cleaned_data.get("delete", False))
                        for f in group_set.forms if f.cleaned_data.get("kind") or f.cleaned_data.get("delete")]
        try:
            if facility is None:
                facility = services.facility_create(municipality=municipality, actor=request.user, data=data, catchment=catchment)
            else:
                services.facility_update(facility=facility, actor=request.user, data=data, catchment=catchment)
            services.facility_groups_set(facility=facility, actor=request.user,
                                         groups=[g for g in group_inputs if g.id or not g.delete])
        except ValidationError as exc:
            apply_errors(form, exc)
        except services.ExchangeError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Einrichtung gespeichert."))
            return _back(request, "exchanges:staff_facility", pk=facility.pk)
    if action == "capacities" and facility is not None and capacity_set.is_valid():
        rows = [services.CapacityInput(group_id=f.cleaned_data["group"], start_month=f.cleaned_data["start_month"],
                                       places=f.cleaned_data["places"])
                for f in capacity_set.forms if f.cleaned_data.get("group") is not None]
        try:
            services.facility_capacities_set(facility=facility, actor=request.user, capacities=rows)
        except services.ExchangeError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Plätze gespeichert."))
            return _back(request, "exchanges:staff_facility", pk=facility.pk)
    errors = error_summary(form, group_set, capacity_set)
    return render(request, "exchanges/staff/facility_form.html", {
        "facility": facility, "form": form, "group_set": group_set, "capacity_set": capacity_set, "errors": errors,
        "group_kinds": GroupKind.choices,
    }, status=422 if errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_rules(request):
    municipality = request.municipality
    rules = list(selectors.priority_rule_list(municipality=municipality))
    initial = [{"id": r.pk, "position": r.position, "criterion": r.criterion, "points": r.points, "max_km": r.max_km,
                "is_active": r.is_active} for r in rules]
    formset = RuleFormSet(request.POST if request.method == "POST" and request.POST.get("action") == "save" else None,
                          prefix="rules", initial=initial)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "order":
                services.priority_rules_points_from_order(municipality=municipality, actor=request.user)
                messages.success(request, _("Punkte aus der Reihenfolge gesetzt."))
                return redirect(request.path)
            if formset.is_valid():
                inputs = [services.RuleInput(id=f.cleaned_data.get("id"), criterion=f.cleaned_data["criterion"],
                                             points=f.cleaned_data["points"] or 0,
                                             position=f.cleaned_data["position"] if f.cleaned_data.get("position") is not None else index,
                                             max_km=f.cleaned_data.get("max_km"), is_active=f.cleaned_data.get("is_active", False),
                                             delete=f.cleaned_data.get("delete", False))
                          for index, f in enumerate(formset.forms) if f.cleaned_data.get("criterion")]
                services.priority_rules_update(municipality=municipality, actor=request.user, rules=inputs)
                messages.success(request, _("Vergaberegeln gespeichert. Sie gelten ab der nächsten Runde."))
                return redirect(request.path)
        except ValidationError as exc:
            formset.forms[0].add_error(None, exc.messages[0])
        except services.ExchangeError as exc:
            formset.forms[0].add_error(None, str(exc))
    errors = error_summary(formset)
    return render(request, "exchanges/staff/rules.html", {"formset": formset, "errors": errors, "rules": rules},
                  status=422 if errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_registrations(request):
    status = request.GET.get("status", "")
    status = status if status in RegistrationStatus.values else ""
    qs = selectors.registration_list(municipality=request.municipality, status=status, query=request.GET.get("q", "")[:50])
    if download := _download(request, "kita-anmeldungen", lambda: exports.registration_rows(qs), "reference"):
        return download
    page = Paginator(qs, 50).get_page(request.GET.get("seite"))
    query = request.GET.copy()
    query.pop("seite", None)
    return render(request, "exchanges/staff/registrations.html", {
        "page": page, "status": status, "statuses": RegistrationStatus.choices, "q": request.GET.get("q", ""),
        "query": query.urlencode()})


# ============================================================================ staff: daycare rounds


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_rounds(request):
    municipality = request.municipality
    if download := _download(request, "kita-runden",
                             lambda: exports.round_rows(selectors.round_list(municipality=municipality)), "number"):
        return download
    exchange_settings = selectors.exchange_settings_get(municipality=municipality)
    has_completed = selectors.round_list(municipality=municipality).filter(status="completed").exists()
    form = RoundForm(request.POST or None, initial={
        "follow_up": "1" if has_completed else "0",
        "offer_deadline": services.today_plus(exchange_settings.offer_response_days)})
    if request.method == "POST":
        if not _can(request, Perm.RUN_ALLOCATION):
            raise Http404
        if form.is_valid():
            try:
                created = services.round_create(municipality=municipality, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            except services.ExchangeError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Runde vorbereitet. Der Startwert ist festgehalten."))
                return _back(request, "exchanges:staff_round", pk=created.pk)
    return render(request, "exchanges/staff/rounds.html", {
        "rounds": selectors.round_list(municipality=municipality), "form": form, "errors": error_summary(form),
        "can_allocate": _can(request, Perm.RUN_ALLOCATION),
        "active_count": selectors.registration_list(municipality=municipality, status=RegistrationStatus.ACTIVE).count(),
    }, status=422 if form.errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_round(request, pk: int):
    municipality = request.municipality
    allocation_round = selectors.round_get(municipality=municipality, pk=pk)
    if request.method == "POST":
        if not _can(request, Perm.RUN_ALLOCATION):
            raise Http404
        try:
            if request.POST.get("action") == "discard":
                services.round_discard(allocation_round=allocation_round, actor=request.user)
                messages.success(request, _("Die Runde ist verworfen. Sie können eine neue Runde vorbereiten."))
            else:
                services.round_run(allocation_round=allocation_round, actor=request.user)
                messages.success(request, _("Die Runde ist durchgeführt; die Familien werden per E-Mail benachrichtigt."))
        except services.ExchangeError as exc:
            messages.error(request, str(exc))
        return redirect(request.path)
    rows = allocation_round.stats.get("rows", []) if allocation_round.is_completed else []
    table = [{**row, "key_label": capacity_key_label(row["capacity_key"]),
              "percent": round(100 * row["assigned"] / row["places"]) if row["places"] else 0} for row in rows]
    stats = allocation_round.stats
    counts = selectors.offer_status_counts(municipality=municipality, allocation_round=allocation_round)
    # In the order of the choices, so the list and the chart do not reorder between page loads.
    offer_counts = {status.label: counts[status] for status in PlaceOfferStatus if status in counts}
    return render(request, "exchanges/staff/round_detail.html", {
        "round": allocation_round, "table": table, "stats": stats,
        "chart": fill_rate_chart([(f"{r['name']} – {r['key_label']}", r["assigned"], r["places"]) for r in table]) if table else None,
        "outcome_chart": _round_outcome_chart(stats) if stats.get("children") else None,
        "offer_chart": fill_rate_chart([(label, n, sum(offer_counts.values())) for label, n in offer_counts.items()],
                                       label_width=280, max_label=40) if offer_counts else None,
        "offer_counts": offer_counts,
        "waiting_lists": selectors.round_waiting_lists(municipality=municipality, allocation_round=allocation_round),
        "can_allocate": _can(request, Perm.RUN_ALLOCATION),
        "active_count": selectors.registration_list(municipality=municipality, status=RegistrationStatus.ACTIVE).count(),
    })


def _round_outcome_chart(stats):
    """Each child of a round once: a place at the first wish, at a later wish, or none."""
    children, assigned, first = stats["children"], stats.get("assigned", 0), stats.get("first_wish", 0)
    return fill_rate_chart([(_("Platz beim ersten Wunsch"), first, children),
                            (_("Platz bei einem späteren Wunsch"), assigned - first, children),
                            (_("ohne Platz"), stats.get("unassigned", 0), children)], label_width=280, max_label=40)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_round_export(request, pk: int, fmt: str):
    municipality = request.municipality
    allocation_round = selectors.round_get(municipality=municipality, pk=pk)
    if not allocation_round.is_completed:
        raise Http404
    name = f"kita-runde-{allocation_round.number}-{municipality.slug}"
    if fmt == "eingabe":
        return exports.json_response(allocation_round.snapshot, f"{name}-eingabe.json")
    if fmt == "ausgabe":
        return exports.json_response(allocation_round.result, f"{name}-ausgabe.json")
    offers = {o.registration_id: o for o in selectors.round_offers(municipality=municipality, allocation_round=allocation_round)}
    rows = []
    for outcome in selectors.round_outcomes(municipality=municipality, allocation_round=allocation_round):
        registration, offer = outcome.registration, offers.get(outcome.registration_id)
        rows.append({
            "reference": registration.reference, "child_name": registration.child_name,
            "birth_date": registration.birth_date.isoformat(), "group": registration.group_kind,
            "start_month": f"{registration.desired_start:%Y-%m}", "parent_email": registration.parent_email,
            "facility": outcome.facility.code if outcome.facility else "",
            "offer_status": offer.status if offer else "", "lottery": outcome.lottery,
            "priorities": "; ".join(f"{e['facility']}={e['child_priority'] if e['child_priority'] is not None else '-'}"
                                    for e in outcome.explanations),
        })
    if fmt == "csv":
        return exports.csv_response(rows, ["reference", "child_name", "birth_date", "group", "start_month", "parent_email",
                                           "facility", "offer_status", "lottery", "priorities"], f"{name}.csv")
    if fmt == "json":
        return exports.json_response({
            "round": allocation_round.number, "seed": allocation_round.seed,
            "follow_up_of": allocation_round.previous.number if allocation_round.previous else None,
            "run_at": allocation_round.run_at, "stats": allocation_round.stats, "children": rows,
            "waiting_lists": allocation_round.result.get("waiting_lists", {}),
            "cutoffs": allocation_round.result.get("cutoffs", []),
        }, f"{name}.json")
    raise Http404


# ============================================================================ staff: holiday programme


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_programmes(request):
    if download := _download(request, "ferienprogramme", lambda: exports.programme_rows(
            selectors.programme_list(municipality=request.municipality, public=False)), "id"):
        return download
    form = ProgrammeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            programme = services.holiday_programme_create(municipality=request.municipality, actor=request.user,
                                                          data=form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Ferienprogramm angelegt."))
            return _back(request, "exchanges:staff_programme", pk=programme.pk)
    return render(request, "exchanges/staff/programmes.html", {
        "programmes": selectors.programme_list(municipality=request.municipality, public=False), "form": form,
        "errors": error_summary(form)}, status=422 if form.errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_programme(request, pk: int):
    municipality = request.municipality
    programme = selectors.programme_get(municipality=municipality, pk=pk)
    if download := _download(request, f"ferienprogramm-{programme.pk}-aktivitaeten", lambda: exports.activity_rows(
            selectors.activities_for_staff(municipality=municipality, programme=programme)), "id"):
        return download
    form = ProgrammeForm(instance=programme)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action in ("prepare", "allocate") and not _can(request, Perm.RUN_ALLOCATION):
                raise Http404
            if action == "prepare":
                services.holiday_draw_prepare(programme=programme, actor=request.user)
                messages.success(request, _("Die Anmeldung ist geschlossen und der Startwert festgehalten."))
                return redirect(request.path)
            if action == "allocate":
                # The seed was recorded when the draw was prepared; nobody picks one here.
                services.holiday_programme_allocate(programme=programme, actor=request.user)
                messages.success(request, _("Verlost. Die Familien werden per E-Mail benachrichtigt."))
                return redirect(request.path)
            else:
                form = ProgrammeForm(request.POST, instance=programme)
                if form.is_valid():
                    services.holiday_programme_update(programme=programme, actor=request.user, data=form.cleaned_data)
                    messages.success(request, _("Gespeichert."))
                    return redirect(request.path)
        except ValidationError as exc:
            apply_errors(form, exc)
        except services.ExchangeError as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
    errors = error_summary(form)
    registrations = selectors.programme_registrations(municipality=municipality, programme=programme)
    activities = list(selectors.activities_for_staff(municipality=municipality, programme=programme))
    return render(request, "exchanges/staff/programme_detail.html", {
        "programme": programme, "form": form, "errors": errors,
        "registration_closed": timezone.localdate() > programme.registration_until,
        "activities": activities,
        "chart": _holiday_fill_chart(activities) if programme.status in DRAWN_PROGRAMME else None,
        "registration_count": registrations.filter(status=RegistrationStatus.ACTIVE).count(),
        "can_allocate": _can(request, Perm.RUN_ALLOCATION),
    }, status=422 if errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_activity(request, pk: int | None = None, programme: int | None = None):
    """Create an activity for a provider, or review and edit one: publish, reject, cancel places."""
    municipality = request.municipality
    activity = selectors.activity_get(municipality=municipality, pk=pk) if pk else None
    programme_obj = activity.programme if activity else selectors.programme_get(municipality=municipality, pk=programme or 0)
    form = StaffActivityForm(instance=activity, municipality=municipality)
    reason_form = ReasonForm()
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "publish" and activity:
                services.holiday_activity_publish(activity=activity, actor=request.user)
                messages.success(request, _("Veröffentlicht."))
                return redirect(request.path)
            if action == "reject" and activity:
                reason_form = ReasonForm(request.POST)
                if reason_form.is_valid():
                    services.holiday_activity_reject(activity=activity, actor=request.user,
                                                     reason=reason_form.cleaned_data["reason"])
                    messages.success(request, _("Zurück an den Anbieter geschickt."))
                    return redirect(request.path)
            if action == "cancel" and activity:
                placement = selectors.placement_get(municipality=municipality, pk=parse_int(request.POST.get("placement"), 0))
                if placement.activity_id != activity.pk:
                    raise Http404
                moved = services.holiday_placement_cancel(placement=placement, actor=request.user)
                messages.success(request, _("Platz abgesagt; %(n)s Kind(er) nachgerückt.") % {"n": len(moved)})
                return redirect(request.path)
            if action == "save":
                form = StaffActivityForm(request.POST, instance=activity, municipality=municipality)
                if form.is_valid():
                    data = {k: v for k, v in form.cleaned_data.items() if k != "provider"}
                    if activity is None:
                        activity = services.holiday_activity_create(programme=programme_obj, provider=form.cleaned_data["provider"],
                                                                    actor=request.user, data=data)
                    else:
                        services.holiday_activity_update(activity=activity, actor=request.user, data=data)
                    messages.success(request, _("Aktivität gespeichert."))
                    return _back(request, "exchanges:staff_activity", pk=activity.pk)
        except ValidationError as exc:
            apply_errors(reason_form if action == "reject" else form, exc)
        except services.ExchangeError as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
    errors = error_summary(form, reason_form)
    return render(request, "exchanges/staff/activity_detail.html", {
        "activity": activity, "programme": programme_obj, "form": form, "reason_form": reason_form, "errors": errors,
        "participants": selectors.activity_participants(municipality=municipality, activity=activity) if activity else [],
        "waiting": activity.waitlist.select_related("registration").order_by("position") if activity else [],
    }, status=422 if errors else 200)


@staff_view(Perm.MANAGE_EXCHANGES)
def staff_participants(request, pk: int, fmt: str):
    return _participants_response(request, selectors.activity_get(municipality=request.municipality, pk=pk), fmt)



