"""Background jobs of the exchanges (django-tasks, enqueued after commit): notices by e-mail."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django_tasks import task

from .models import (
    AllocationRound,
    HolidayActivity,
    HolidayPlacement,
    HolidayProgramme,
    Offer,
    PlacementStatus,
    PlaceOffer,
    PlaceOfferStatus,
    Provider,
    ProviderStatus,
)


def _url(name: str, **kwargs) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, kwargs=kwargs)


def _send(subject: str, body: str, to: list[str]) -> None:
    recipients = [address for address in to if address]
    if recipients:
        EmailMessage(subject, body, to=recipients).send()


@task()
def send_provider_decision(provider_id: int) -> None:
    provider = Provider.objects.select_related("municipality").get(pk=provider_id)
    town = provider.municipality.name
    with translation.override("de"):
        if provider.status == ProviderStatus.APPROVED:
            subject = _("Ihr Zugang als Anbieter ist freigeschaltet")
            body = _("Guten Tag,\n\n%(town)s hat „%(name)s“ als Anbieter zugelassen. Sie können jetzt Angebote "
                     "anlegen:\n%(url)s\n\nMit freundlichen Grüßen\n%(town)s")
        else:
            subject = _("Ihre Anfrage als Anbieter")
            body = _("Guten Tag,\n\n%(town)s hat „%(name)s“ nicht als Anbieter zugelassen.\nBegründung: %(reason)s\n\n"
                     "Bei Fragen antworten Sie bitte an %(contact)s.\n\n%(town)s")
        body = body % {"town": town, "name": provider.name, "reason": provider.rejection_reason,
                       "contact": provider.municipality.contact_email,
                       "url": _url("exchanges:provider_home", municipality=provider.municipality.slug)}
        emails = [provider.email, *provider.members.values_list("email", flat=True)]
        _send(subject, body, sorted(set(emails)))


@task()
def send_moderation_decision(kind: str, object_id: int) -> None:
    """Tell the provider whether an offer or activity was published or sent back, and why."""
    model = Offer if kind == "offer" else HolidayActivity
    item = model.objects.select_related("provider", "municipality").get(pk=object_id)
    with translation.override("de"):
        if item.status == "published":
            subject = _("Veröffentlicht: %(t)s") % {"t": item.title}
            body = _("Guten Tag,\n\n„%(t)s“ ist jetzt öffentlich sichtbar.\n\n%(town)s")
        else:
            subject = _("Bitte überarbeiten: %(t)s") % {"t": item.title}
            body = _("Guten Tag,\n\n„%(t)s“ wurde nicht veröffentlicht.\nBegründung: %(reason)s\n\nSie können es in "
                     "Ihrem Anbieterbereich ändern und erneut einreichen:\n%(url)s\n\n%(town)s")
        body = body % {"t": item.title, "reason": item.rejection_reason, "town": item.municipality.name,
                       "url": _url("exchanges:provider_home", municipality=item.municipality.slug)}
        _send(subject, body, [item.provider.email])


@task()
def send_place_offers(round_id: int) -> int:
    """One e-mail per new place offer of the round, with the deadline and the link to answer."""
    allocation_round = AllocationRound.objects.select_related("municipality").get(pk=round_id)
    town = allocation_round.municipality.name
    sent = 0
    # A family whose registration was anonymised meanwhile (erasure granted before this job ran) has
    # no address left here and is not written to; the others are.
    # An offer answered or withdrawn before this job ran needs no e-mail either.
    offers = (PlaceOffer.objects.filter(round=allocation_round, status=PlaceOfferStatus.OPEN,
                                        registration__parent__isnull=False)
              .select_related("registration__parent", "facility").iterator(chunk_size=500))
    with translation.override("de"):
        for offer in offers:
            registration = offer.registration
            body = _(
                "Guten Tag,\n\nfür %(child)s (%(ref)s) bieten wir Ihnen einen Platz an:\n%(facility)s, Beginn %(start)s.\n\n"
                "Bitte nehmen Sie das Angebot bis zum %(deadline)s an oder lehnen Sie es ab:\n%(url)s\n\n"
                "Dort sehen Sie auch zu jedem Ihrer Wünsche, wie die Vergabe ausgegangen ist.\n\n%(town)s"
            ) % {"child": registration.child_first_name, "ref": registration.reference, "facility": offer.facility.name,
                 "start": registration.desired_start.strftime("%m/%Y"), "deadline": offer.deadline.strftime("%d.%m.%Y"),
                 "url": _url("exchanges:daycare_registration", municipality=allocation_round.municipality.slug,
                             pk=registration.pk), "town": town}
            _send(_("Platzangebot für %(child)s") % {"child": registration.child_first_name}, body,
                  [registration.parent.email])
            sent += 1
    return sent


@task()
def apply_retention() -> dict:
    """Anonymise registrations past RATHAUS_EXCHANGE_RETENTION_YEARS (daily; see RATHAUS_PERIODIC_TASKS)."""
    from .services import registrations_apply_retention

    return registrations_apply_retention()


@task()
def expire_place_offers() -> int:
    """Periodic: open place offers past their deadline expire, in every municipality that has any.

    An expired offer counts as declined in the next follow-up round, and the family sees it as
    expired rather than as an offer it can still take. Returns the number of offers expired.
    """
    from django.utils import timezone

    from rathaus.tenants.models import Municipality

    from . import services

    due = PlaceOffer.objects.filter(status=PlaceOfferStatus.OPEN, deadline__lt=timezone.localdate())
    return sum(services.place_offers_expire(municipality=municipality)
               for municipality in Municipality.objects.filter(pk__in=due.values("municipality_id")))


@task()
def send_holiday_results(programme_id: int) -> int:
    """After the draw: each family learns its places and waiting-list positions."""
    programme = HolidayProgramme.objects.select_related("municipality").get(pk=programme_id)
    sent = 0
    with translation.override("de"):
        for registration in (programme.registrations.filter(status="active", parent__isnull=False).select_related("parent")
                             .prefetch_related("placements__activity", "waitlist_entries__activity")):
            places = [p.activity.title for p in registration.placements.all() if p.status == PlacementStatus.CONFIRMED]
            waiting = [f"{w.activity.title} (Platz {w.position})" for w in registration.waitlist_entries.all()]
            body = _("Guten Tag,\n\ndas %(programme)s ist verlost (Startwert der Verlosung: %(seed)s).\n\n"
                     "%(child)s hat einen Platz bei:\n%(places)s\n\nAuf der Warteliste:\n%(waiting)s\n\n"
                     "Wird ein Platz frei, rückt Ihr Kind automatisch nach und Sie erhalten eine Nachricht.\n"
                     "Absagen können Sie hier:\n%(url)s\n\n%(town)s") % {
                "programme": programme.name, "seed": programme.seed, "child": registration.child_first_name,
                "places": "\n".join(f"– {t}" for t in places) or "–",
                "waiting": "\n".join(f"– {t}" for t in waiting) or "–",
                "url": _url("exchanges:holiday_registration", municipality=programme.municipality.slug, pk=registration.pk),
                "town": programme.municipality.name}
            _send(_("Ergebnis der Verlosung: %(programme)s") % {"programme": programme.name}, body, [registration.parent.email])
            sent += 1
    return sent


@task()
def send_holiday_move_up(moves: list[list]) -> int:
    """Notice to families whose child moved up from a waiting list.

    `moves` holds `[placement id, [ids of activities the child gave up for it]]` pairs.
    """
    sent = 0
    released_by_placement = {int(pid): [int(a) for a in released] for pid, released in moves}
    placements = (HolidayPlacement.objects.filter(pk__in=list(released_by_placement), registration__parent__isnull=False)
                  .select_related("registration__parent", "activity__programme__municipality"))
    with translation.override("de"):
        for placement in placements:
            registration, activity = placement.registration, placement.activity
            released = list(HolidayActivity.objects.filter(pk__in=released_by_placement[placement.pk])
                            .values_list("title", flat=True))
            note = ""
            if released:
                note = _("\nDafür wurde Ihr Platz bei „%(old)s“ frei gegeben, weil Sie „%(new)s“ höher gewünscht hatten.\n") % {
                    "old": "“, „".join(released), "new": activity.title}
            body = _("Guten Tag,\n\ngute Nachricht: %(child)s ist bei „%(title)s“ (%(dates)s) nachgerückt und hat "
                     "jetzt einen Platz.\n%(note)s\nWenn Ihr Kind nicht teilnehmen kann, sagen Sie bitte hier ab, "
                     "damit das nächste Kind nachrücken kann:\n%(url)s\n\n%(town)s") % {
                "child": registration.child_first_name, "title": activity.title,
                "dates": f"{activity.start_date:%d.%m.}–{activity.end_date:%d.%m.%Y}", "note": note,
                "url": _url("exchanges:holiday_registration", municipality=activity.programme.municipality.slug,
                            pk=registration.pk), "town": activity.programme.municipality.name}
            _send(_("Nachgerückt: %(title)s") % {"title": activity.title}, body, [registration.parent.email])
            sent += 1
    return sent
