"""Staff: subscribers of domain events (webhooks, office e-mail), the delivery lists, a case's delivery log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rathaus.accounts.rules import Perm
from rathaus.applications.selectors import application_get
from rathaus.core.audit import client_ip
from rathaus.core.decorators import staff_view
from rathaus.core.exports import list_download, list_export, local_time
from rathaus.core.pagination import paginate_by_keys
from rathaus.core.params import parse_int

from . import selectors, services
from .models import DeliveryState, EventKind, SubscriptionKind, url_without_query

PAGE_SIZE = 50
#: Choices for how long the old secret stays valid after a rotation (hours; 0: at once, after a leak).
GRACE_CHOICES = [(0, gettext_lazy("sofort ungültig (bei Verdacht auf Missbrauch)")), (1, gettext_lazy("1 Stunde")),
                 (24, gettext_lazy("24 Stunden")), (72, gettext_lazy("3 Tage")), (168, gettext_lazy("7 Tage"))]
STATE_FILTERS = [("failed", gettext_lazy("fehlgeschlagen")), ("pending", gettext_lazy("ausstehend")),
                 ("delivered", gettext_lazy("zugestellt")), ("cancelled", gettext_lazy("abgebrochen")),
                 ("alle", gettext_lazy("alle"))]


def _secret_page(request, subscription, secret: str, *, rotated: bool):
    # The only time the secret is shown: not cached, not put into a message or the session.
    response = render(request, "integration/secret.html", {"subscription": subscription, "secret": secret,
                                                            "rotated": rotated})
    response["Cache-Control"] = "no-store"
    return response


@staff_view(Perm.MANAGE_INTEGRATION)
def subscriptions(request):
    """List subscribers; add one; rotate a webhook's secret or deactivate a subscriber (with confirmation)."""
    municipality = request.municipality
    errors: dict[str, str] = {}
    values: dict = {"kind": SubscriptionKind.WEBHOOK, "events": list(EventKind.values)}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "add":
            post = request.POST
            values = {"kind": post.get("kind", ""), "name": post.get("name", "")[:200], "url": post.get("url", "")[:600],
                      "email": post.get("email", "")[:300], "events": post.getlist("events")}
            try:
                subscription, secret = services.subscription_create(
                    municipality=municipality, kind=values["kind"], name=values["name"], url=values["url"],
                    email=values["email"], event_kinds=values["events"], secret=post.get("secret", "").strip() or None,
                    actor=request.user, ip=client_ip(request))
            except services.SubscriptionInvalid as exc:
                errors, status = exc.errors, 422
            else:
                if secret:
                    return _secret_page(request, subscription, secret, rotated=False)
                messages.success(request, _("Empfänger „%(name)s“ angelegt.") % {"name": subscription.name})
                return redirect("integration:subscriptions", municipality=municipality.slug)
        elif action in ("rotate", "deactivate"):
            subscription = selectors.subscription_get(municipality=municipality, pk=parse_int(request.POST.get("subscription"), 0))
            if not subscription.active or (action == "rotate" and subscription.kind != SubscriptionKind.WEBHOOK):
                messages.error(request, _("Das ist bei diesem Empfänger nicht möglich."))
                return redirect("integration:subscriptions", municipality=municipality.slug)
            if request.POST.get("confirm") != "1":
                return render(request, "integration/subscription_confirm.html", {
                    "subscription": subscription, "action": action, "grace_choices": GRACE_CHOICES,
                    "grace_default": _default_grace()})
            if action == "deactivate":
                services.subscription_deactivate(subscription=subscription, actor=request.user, ip=client_ip(request))
                messages.success(request, _("Empfänger „%(name)s“ deaktiviert.") % {"name": subscription.name})
                return redirect("integration:subscriptions", municipality=municipality.slug)
            hours = parse_int(request.POST.get("grace"), _default_grace())
            if hours not in dict(GRACE_CHOICES):
                hours = _default_grace()
            secret = services.subscription_rotate_secret(subscription=subscription, actor=request.user,
                                                         grace=timedelta(hours=hours), ip=client_ip(request))
            return _secret_page(request, subscription, secret, rotated=True)
        else:
            raise Http404("unknown action")
    # The query string of a URL may carry a receiver's own credentials: not in a download.
    if download := list_download(request, f"empfaenger-{municipality.slug}", lambda: [
            {"name": sub.name, "kind": sub.kind, "url": url_without_query(sub.url) if sub.url else "", "email": sub.email,
             "events": " ".join(sub.event_kinds), "active": sub.active, "created_at": local_time(sub.created_at),
             "deactivated_at": local_time(sub.deactivated_at), "failed": sub.failed_count, "pending": sub.pending_count}
            for sub in selectors.subscription_list(municipality=municipality, now=timezone.now())], "name"):
        return download
    return render(request, "integration/subscriptions.html", {
        "subscriptions": selectors.subscription_list(municipality=municipality, now=timezone.now()),
        "errors": errors, "values": values, "event_kinds": EventKind.choices, "kinds": SubscriptionKind.choices,
        "now": timezone.now()}, status=status)


def _default_grace() -> int:
    hours = int(getattr(settings, "RATHAUS_WEBHOOK_SECRET_GRACE_HOURS", 24))
    return hours if hours in dict(GRACE_CHOICES) else 24


def _resend(request, delivery) -> None:
    try:
        services.delivery_resend(delivery=delivery, actor=request.user, ip=client_ip(request))
    except services.NotAllowed:
        messages.error(request, _("Nur fehlgeschlagene Zustellungen an aktive Empfänger können erneut gesendet werden."))
        return
    delivery.refresh_from_db()
    if delivery.state == DeliveryState.DELIVERED:
        messages.success(request, _("Zustellung %(id)s wurde erneut gesendet und angenommen.") % {"id": delivery.pk})
    else:
        messages.success(request, _("Zustellung %(id)s wird erneut gesendet.") % {"id": delivery.pk})


@staff_view(Perm.MANAGE_INTEGRATION)
def deliveries(request):
    """Deliveries of all subscribers (failed ones first), with resend and CSV/JSON export."""
    municipality = request.municipality
    if request.method == "POST":
        if request.POST.get("action") != "resend":
            raise Http404("unknown action")
        delivery = selectors.delivery_get(municipality=municipality, pk=parse_int(request.POST.get("delivery"), 0))
        _resend(request, delivery)
        return redirect(request.get_full_path())
    params = request.GET
    state = params.get("zustand") or "failed"
    if state not in dict(STATE_FILTERS):
        state = "failed"
    subscription_id = parse_int(params.get("empfaenger"), 0) or None
    qs = selectors.delivery_list(municipality=municipality, state="" if state == "alle" else state,
                                 subscription_id=subscription_id, query=params.get("q", "")[:50])
    if params.get("export") in ("csv", "json"):
        return list_export(selectors.delivery_export_rows(qs), params["export"],
                           f"zustellungen-{state}-{municipality.slug}", "delivery")
    page = paginate_by_keys(qs, PAGE_SIZE, params.get("seite"))
    query = params.copy()
    query.pop("seite", None)
    return render(request, "integration/deliveries.html", {
        "page": page, "state": state, "states": STATE_FILTERS, "params": params, "query": query.urlencode(),
        "subscription_choices": selectors.subscription_choices(municipality=municipality),
        "subscription_id": subscription_id})


@staff_view(Perm.HANDLE_APPLICATION)
def case_deliveries(request, reference: str):
    """What the back-office systems were told about this case, each attempt; resend for integration admins."""
    municipality = request.municipality
    application = application_get(municipality=municipality, reference=reference)
    can_resend = request.user.has_perm(Perm.MANAGE_INTEGRATION, municipality)
    if request.method == "POST":
        if not can_resend or request.POST.get("action") != "resend":
            raise Http404("not allowed")
        qs = selectors.delivery_list(municipality=municipality, application=application)
        _resend(request, get_object_or_404(qs, pk=parse_int(request.POST.get("delivery"), 0)))
        return redirect(request.path)
    if download := list_download(request, f"zustellungen-{application.reference}", lambda: selectors.delivery_export_rows(
            selectors.delivery_list(municipality=municipality, application=application)), "delivery"):  # without the attempts
        return download
    qs = selectors.delivery_list_with_attempts(municipality=municipality, application=application)
    return render(request, "integration/case_deliveries.html", {
        "application": application, "deliveries": list(qs), "can_resend": can_resend,
        "events": list(application.domain_events.order_by("id"))})
