"""`rathaus webhook add|list|rotate-secret|remove`: subscribers of a municipality's domain events."""

from __future__ import annotations

import sys
from datetime import timedelta
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from rathaus.integration.models import EventKind, Subscription, SubscriptionKind
from rathaus.integration.selectors import subscription_list
from rathaus.integration.services import (
    NotAllowed,
    SubscriptionInvalid,
    subscription_create,
    subscription_deactivate,
    subscription_rotate_secret,
)
from rathaus.tenants.models import Municipality

ARGUMENT_OF = {"url": "--url", "email": "--email", "event_kinds": "--events", "secret": "--secret", "name": "--name",
               "kind": "--url/--email"}


class Command(BaseCommand):
    help = ("Manage the subscribers of a municipality's domain events: signed webhooks and office e-mail "
            "(see docs/integration.md).")

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list,rotate-secret,remove}")
        add = actions.add_parser("add", help="add a webhook (--url) or an e-mail subscriber (--email)")
        add.add_argument("--municipality", required=True, help="slug of the municipality")
        target = add.add_mutually_exclusive_group(required=True)
        target.add_argument("--url", help="http(s) URL the events are POSTed to")
        target.add_argument("--email", help="office e-mail address the events are sent to")
        add.add_argument("--secret", help="signing secret (at least 16 characters); '-' reads it from standard input, "
                                          "out of the process list; default: a random one, shown once")
        add.add_argument("--events", default="",
                         help=f"comma-separated event types (default: all): {', '.join(EventKind.values)}")
        add.add_argument("--name", default="", help="label shown to staff (default: the URL's host or the address)")
        listing = actions.add_parser("list", help="list the subscribers")
        listing.add_argument("--municipality", required=True)
        rotate = actions.add_parser("rotate-secret", help="new signing secret; the old one stays valid for a grace period")
        rotate.add_argument("--municipality", required=True)
        rotate.add_argument("--id", type=int, required=True, help="subscription id (see `webhook list`)")
        rotate.add_argument("--secret", help="the new secret ('-' reads it from standard input; default: a random one, "
                                             "shown once)")
        rotate.add_argument("--grace-hours", type=float, default=None,
                            help="how long the old secret stays valid (default: RATHAUS_WEBHOOK_SECRET_GRACE_HOURS)")
        remove = actions.add_parser("remove", help="deactivate a subscriber (its delivery log is kept)")
        remove.add_argument("--municipality", required=True)
        remove.add_argument("--id", type=int, required=True)

    def handle(self, *args, action: str, municipality: str, **options):
        town = Municipality.objects.filter(slug=municipality).first()
        if town is None:
            known = ", ".join(Municipality.objects.order_by("slug").values_list("slug", flat=True)[:20])
            raise CommandError(f"unknown municipality '{municipality}' (known: {known or 'none'})")
        if options.get("secret") == "-":
            # A secret on the command line is visible to every user of the host (ps); stdin is not.
            options["secret"] = sys.stdin.readline().strip()
            if not options["secret"]:
                raise CommandError("--secret -: no secret on standard input")
        if action == "add":
            return self._add(town, **options)
        if action == "list":
            return self._list(town)
        subscription = Subscription.objects.for_municipality(town).filter(pk=options["id"]).first()
        if subscription is None:
            raise CommandError(f"no subscription {options['id']} in {town.slug} (see `rathaus webhook list`)")
        if action == "rotate-secret":
            return self._rotate(subscription, options["secret"], options["grace_hours"])
        subscription_deactivate(subscription=subscription, actor=None)
        self.stdout.write(self.style.SUCCESS(f"subscription {subscription.pk} ({subscription.name}) deactivated"))
        return None

    def _add(self, town, *, url, email, secret, events, name, **options):
        kinds = [k.strip() for k in events.split(",") if k.strip()] or None
        kind = SubscriptionKind.WEBHOOK if url else SubscriptionKind.EMAIL
        label = name or (url or email or "")
        if url and not name:
            label = urlsplit(url).hostname or url
        try:
            subscription, plain = subscription_create(municipality=town, kind=kind, name=label[:100], url=url or "",
                                                      email=email or "", event_kinds=kinds, secret=secret, actor=None)
        except SubscriptionInvalid as exc:
            raise CommandError("; ".join(f"{ARGUMENT_OF.get(k, k)}: {v}" for k, v in exc.errors.items())) from None
        self.stdout.write(self.style.SUCCESS(
            f"subscription {subscription.pk} added: {subscription.get_kind_display()} → {subscription.target}, "
            f"events: {', '.join(subscription.event_kinds) or 'all'}"))
        if plain and not secret:
            self.stdout.write(f"signing secret (shown only now): {plain}")

    def _list(self, town):
        rows = subscription_list(municipality=town, now=timezone.now())
        if not rows:
            self.stdout.write("no subscriptions")
        for s in rows:
            state = "active" if s.active else "inactive"
            self.stdout.write(f"{s.pk}\t{state}\t{s.kind}\t{s.target}\t{','.join(s.event_kinds) or 'all'}\t"
                              f"secrets={len(s.secret_rows)}\tpending={s.pending_count}\tfailed={s.failed_count}\t{s.name}")

    def _rotate(self, subscription, secret, grace_hours):
        if grace_hours is not None and grace_hours < 0:
            raise CommandError("--grace-hours must not be negative")
        try:
            plain = subscription_rotate_secret(subscription=subscription, actor=None, secret=secret,
                                               grace=timedelta(hours=grace_hours) if grace_hours is not None else None)
        except NotAllowed:
            raise CommandError(f"subscription {subscription.pk} is not an active webhook") from None
        except SubscriptionInvalid as exc:
            raise CommandError(f"--secret: {exc.errors['secret']}") from None
        self.stdout.write(self.style.SUCCESS(f"subscription {subscription.pk}: new secret active; older secrets stay "
                                             "valid for the grace period"))
        if not secret:
            self.stdout.write(f"signing secret (shown only now): {plain}")
