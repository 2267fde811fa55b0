"""`rathaus webhook …`: add, list, rotate the secret, remove; clear errors for bad input."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from rathaus.integration.models import Subscription, SubscriptionSecret

pytestmark = pytest.mark.django_db
URL = "https://fachverfahren.example.de/rathaus"


def run(*args) -> str:
    out = io.StringIO()
    call_command("webhook", *args, stdout=out)
    return out.getvalue()


def test_add_with_secret_and_events_then_list(town):
    output = run("add", "--municipality", "musterstadt", "--url", URL, "--secret", "ein-langes-secret-1234",
                 "--events", "application.submitted,decision.issued")
    subscription = Subscription.objects.get()
    assert subscription.municipality == town and subscription.url == URL and subscription.kind == "webhook"
    assert subscription.event_kinds == ["application.submitted", "decision.issued"]
    assert subscription.name == "fachverfahren.example.de"
    assert SubscriptionSecret.objects.get().secret == "ein-langes-secret-1234"
    assert "ein-langes-secret-1234" not in output  # given by the operator: not echoed
    listing = run("list", "--municipality", "musterstadt")
    assert f"{subscription.pk}\tactive\twebhook\t{URL}\tapplication.submitted,decision.issued\tsecrets=1" in listing


def test_the_secret_can_come_from_standard_input(town, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("aus-der-standardeingabe-42\n"))
    output = run("add", "--municipality", "musterstadt", "--url", URL, "--secret", "-")
    assert SubscriptionSecret.objects.get().secret == "aus-der-standardeingabe-42"
    assert "aus-der-standardeingabe-42" not in output
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="no secret on standard input"):
        run("rotate-secret", "--municipality", "musterstadt", "--id", str(Subscription.objects.get().pk), "--secret", "-")


def test_add_without_secret_prints_a_generated_one_once(town):
    output = run("add", "--municipality", "musterstadt", "--url", URL)
    secret = re.search(r"shown only now\): (\S+)", output).group(1)
    assert SubscriptionSecret.objects.get().secret == secret
    assert Subscription.objects.get().event_kinds == []  # all events
    assert secret not in run("list", "--municipality", "musterstadt")


def test_add_an_office_email(town):
    run("add", "--municipality", "musterstadt", "--email", "amt@musterstadt.example", "--events", "decision.issued")
    subscription = Subscription.objects.get()
    assert subscription.kind == "email" and subscription.email == "amt@musterstadt.example"


@pytest.mark.parametrize(("args", "message"), [
    (("--municipality", "nirgendwo", "--url", URL), "unknown municipality 'nirgendwo'"),
    (("--municipality", "musterstadt", "--url", "ftp://fv.example.de/"), "--url: "),
    (("--municipality", "musterstadt", "--url", "fv.example.de/hook"), "--url: "),
    (("--municipality", "musterstadt", "--url", URL, "--events", "application.submitted,antrag.weg"),
     "--events: Unbekannte Ereignisse: antrag.weg"),
    (("--municipality", "musterstadt", "--url", URL, "--secret", "kurz"), "--secret: "),
    (("--municipality", "musterstadt", "--email", "kein-mail"), "--email: "),
])
def test_bad_input_is_a_clear_error_and_stores_nothing(town, args, message):
    with pytest.raises(CommandError) as caught:
        run("add", *args)
    assert message in str(caught.value)
    assert not Subscription.objects.exists()


def test_unknown_events_error_lists_the_possible_ones(town):
    with pytest.raises(CommandError) as caught:
        run("add", "--municipality", "musterstadt", "--url", URL, "--events", "x")
    assert "application.submitted" in str(caught.value) and "decision.issued" in str(caught.value)


def test_rotate_secret_keeps_the_old_one_for_the_grace_period_and_remove_deactivates(town):
    run("add", "--municipality", "musterstadt", "--url", URL, "--secret", "das-alte-secret-123456")
    subscription = Subscription.objects.get()
    output = run("rotate-secret", "--municipality", "musterstadt", "--id", str(subscription.pk), "--grace-hours", "2")
    new = re.search(r"shown only now\): (\S+)", output).group(1)
    old, fresh = SubscriptionSecret.objects.order_by("id")
    assert old.secret == "das-alte-secret-123456" and old.expires_at is not None
    assert fresh.secret == new and fresh.expires_at is None
    assert "secrets=2" in run("list", "--municipality", "musterstadt")
    run("remove", "--municipality", "musterstadt", "--id", str(subscription.pk))
    subscription.refresh_from_db()
    assert not subscription.active
    with pytest.raises(CommandError, match="not an active webhook"):
        run("rotate-secret", "--municipality", "musterstadt", "--id", str(subscription.pk))


def test_a_subscription_of_another_town_is_not_found(town, other_town):
    run("add", "--municipality", "beispielhausen", "--url", URL, "--secret", "ein-langes-secret-1234")
    subscription = Subscription.objects.get()
    with pytest.raises(CommandError, match="no subscription"):
        run("remove", "--municipality", "musterstadt", "--id", str(subscription.pk))
    subscription.refresh_from_db()
    assert subscription.active
