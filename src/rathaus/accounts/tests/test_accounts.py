"""Accounts: argon2, registration with e-mail verification, staff 2FA, audit of logins."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.core import mail
from django.core.cache import cache
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from rathaus.accounts.models import Membership, Role, User
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "Sehr-sicheres-Passwort-1"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def test_passwords_are_hashed_with_argon2_in_every_environment_but_tests():
    from rathaus.config.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        encoded = make_password(PASSWORD)
        assert encoded.startswith("argon2$argon2id$")
        assert check_password(PASSWORD, encoded)
        assert not check_password("falsch", encoded)


# ---------------------------------------------------------------- citizens


def register(client, email="erika@example.org", password=PASSWORD):
    return client.post("/konto/registrieren/", {"first_name": "Erika", "last_name": "Mustermann", "email": email,
                                               "password": password})


def login(client, username, password=PASSWORD):
    return client.post("/konto/anmelden/", {"username": username, "password": password})


def test_registration_sends_a_verification_link_and_login_waits_for_it(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = register(client, email="Erika@Example.org")
    assert response.status_code == 200
    user = User.objects.get()
    assert (user.email, user.email_verified) == ("erika@example.org", False)
    assert user.password.startswith("md5$")  # the test hasher; production uses argon2 (test above)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["erika@example.org"]
    link = re.search(r"http://testserver(/konto/bestaetigen/[^\s]+/)", mail.outbox[0].body).group(1)

    refused = login(client, "erika@example.org")
    assert refused.status_code == 200
    assert "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    verified = client.get(link)
    assert verified.status_code == 302 and verified["Location"] == "/konto/anmelden/"
    user.refresh_from_db()
    assert user.email_verified
    assert login(client, "erika@example.org").status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    actions = list(AuditEntry.objects.filter(actor=user).order_by("id").values_list("action", flat=True))
    assert actions == ["account.registered", "account.email_verified", "account.login"]


@pytest.mark.parametrize("mangle", [lambda t: t[:-2] + "xx", lambda t: "x" + t, lambda t: ""])
def test_tampered_verification_link_verifies_nothing(client, django_capture_on_commit_callbacks, mangle):
    with django_capture_on_commit_callbacks(execute=True):
        register(client)
    token = re.search(r"/konto/bestaetigen/([^\s/]+)/", mail.outbox[0].body).group(1)
    response = client.get(f"/konto/bestaetigen/{mangle(token)}/")
    assert response.status_code in (400, 404)
    assert not User.objects.get().email_verified


def test_registration_refuses_weak_passwords_and_never_creates_a_second_account_for_an_address(client, make_user):
    make_user("taken@example.org")
    weak = register(client, email="new@example.org", password="12345678901")
    assert weak.status_code == 200
    assert "password" in weak.context["form"].errors
    taken = register(client, email="TAKEN@example.org")
    assert taken.status_code == 200 and "form" not in taken.context  # the answer of a new registration
    assert User.objects.count() == 1


def test_registration_refuses_an_address_longer_than_an_account_can_store(client):
    long_address = "a" * 60 + "@" + "b" * 60 + "." + "c" * 30 + ".example"  # 160 characters, valid otherwise
    page = client.get("/konto/registrieren/").content.decode()
    assert 'maxlength="150"' in page
    response = register(client, email=long_address)
    assert response.status_code == 200
    assert "Die E-Mail-Adresse ist zu lang: Sie darf höchstens 150 Zeichen haben." in response.content.decode()
    assert not User.objects.exists()
    assert len(mail.outbox) == 0
    fits = "a" * 60 + "@" + "b" * 60 + "." + "c" * 20 + ".example"  # 150 characters
    assert register(client, email=fits).status_code == 200
    assert User.objects.get().username == fits


def test_failed_login_is_audited_with_the_attempted_name(client, make_user):
    make_user("erika@example.org")
    response = login(client, "erika@example.org", "falsch")
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="account.login_failed")
    assert (entry.actor, entry.actor_label, entry.ip_address) == (None, "erika@example.org", "127.0.0.1")


# ---------------------------------------------------------------- staff and the second factor


@pytest.fixture
def new_staff(town, make_user):
    user = make_user("neu@musterstadt.example")
    Membership.objects.create(user=user, municipality=town, role=Role.CASE_WORKER)
    return user


def test_staff_set_up_totp_on_first_login_and_then_reach_staff_pages(client, town, new_staff):
    inbox = f"/m/{town.slug}/verwaltung/posteingang/"
    response = login(client, new_staff.email)
    assert response.status_code == 302
    setup_url = response["Location"]
    assert setup_url.startswith("/konto/2fa/einrichten/")
    assert client.get(inbox).status_code == 302  # logged in, but without a second factor

    page = client.get(setup_url)
    assert page.status_code == 200
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=new_staff)
    assert device.confirmed is False
    assert 'src="data:image/svg+xml;base64,' in html
    assert 'class="otp-secret"' in html
    assert client.get(setup_url).status_code == 200
    assert TOTPDevice.objects.filter(user=new_staff).count() == 1  # a reload keeps the same secret

    wrong = client.post(setup_url, {"token": "000000" if code_for(device) != "000000" else "111111", "next": inbox})
    assert wrong.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is False

    throttled = client.post(setup_url, {"token": code_for(device), "next": inbox})
    assert "Zu viele falsche Codes" in throttled.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    device.throttle_reset()  # the user waited out django-otp's back-off

    confirmed = client.post(setup_url, {"token": code_for(device), "next": inbox})
    assert confirmed.status_code == 302 and confirmed["Location"] == inbox
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.get(inbox).status_code == 200
    actions = list(AuditEntry.objects.filter(actor=new_staff).order_by("id").values_list("action", flat=True))
    assert actions == ["account.login", "account.2fa_enabled"]


def test_staff_with_a_device_must_enter_a_valid_code(client, town, make_staff):
    staff = make_staff(town)
    device = TOTPDevice.objects.get(user=staff)
    inbox = f"/m/{town.slug}/verwaltung/posteingang/"
    response = login(client, staff.email)
    assert response["Location"].startswith("/konto/2fa/?next=")
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == ["/"]

    failed = client.post("/konto/2fa/", {"token": "12345" + ("9" if code_for(device)[-1] != "9" else "8"), "next": inbox})
    assert failed.status_code == 200
    assert "Der Code stimmt nicht" in failed.content.decode()
    assert client.get(inbox).status_code == 302

    # Right after a failure even the right code is refused (back-off), with a message that says so.
    throttled = client.post("/konto/2fa/", {"token": code_for(device), "next": inbox})
    assert throttled.status_code == 200
    assert "Zu viele falsche Codes" in throttled.content.decode()
    assert client.get(inbox).status_code == 302
    TOTPDevice.objects.get(pk=device.pk).throttle_reset()  # the user waited

    passed = client.post("/konto/2fa/", {"token": code_for(device), "next": inbox})
    assert passed.status_code == 302 and passed["Location"] == inbox
    assert client.get(inbox).status_code == 200
    actions = list(AuditEntry.objects.filter(actor=staff).order_by("id").values_list("action", flat=True))
    assert actions == ["account.login", "account.2fa_failed", "account.2fa_failed", "account.2fa_passed"]


def test_staff_land_on_the_page_they_asked_for_with_its_whole_query_after_the_second_factor(client, town, make_staff):
    staff = make_staff(town)
    device = TOTPDevice.objects.get(user=staff)
    wanted = f"/m/{town.slug}/verwaltung/posteingang/?x=1&y=2&q=M%C3%BCller+%26+Co"
    response = client.post("/konto/anmelden/", {"username": staff.email, "password": PASSWORD, "next": wanted})
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == [wanted]

    passed = client.post(response["Location"], {"token": code_for(device)})
    assert passed.status_code == 302 and passed["Location"] == wanted


def test_the_login_next_cannot_point_to_another_site_through_the_second_factor(client, town, make_staff):
    staff = make_staff(town)
    response = client.post("/konto/anmelden/", {"username": staff.email, "password": PASSWORD,
                                                "next": "https://evil.example/?x=1&y=2"})
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == ["/"]


def test_second_factor_next_cannot_point_to_another_site(client, town, make_staff):
    staff = make_staff(town)
    device = TOTPDevice.objects.get(user=staff)
    login(client, staff.email)
    response = client.post("/konto/2fa/", {"token": code_for(device), "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_citizens_are_not_asked_for_a_second_factor(client, make_user):
    make_user("erika@example.org")
    response = login(client, "erika@example.org")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert TOTPDevice.objects.count() == 0


def test_logout_is_post_only_and_audited(client, make_user):
    user = make_user("erika@example.org")
    client.force_login(user)
    assert client.get("/konto/abmelden/").status_code == 405
    assert client.post("/konto/abmelden/").status_code == 302
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="account.logout", actor=user).count() == 1


# ---------------------------------------------------------------- lost verification link, forgotten password


def _link(message, path: str) -> str:
    return re.search(rf"http://testserver({path}[^\s]+/)", message.body).group(1)


def test_an_expired_verification_link_tells_her_to_ask_for_a_new_one(client, django_capture_on_commit_callbacks, monkeypatch):
    from rathaus.accounts import services

    with django_capture_on_commit_callbacks(execute=True):
        register(client)
    monkeypatch.setattr(services, "VERIFY_MAX_AGE", -1)  # three days later
    page = client.get(_link(mail.outbox[0], "/konto/bestaetigen/"))
    assert page.status_code == 400
    html = page.content.decode()
    assert "Registrieren Sie sich noch einmal mit derselben E-Mail-Adresse" in html
    assert 'href="/konto/registrieren/"' in html and 'href="/konto/passwort-vergessen/"' in html
    assert "Konto erneut anlegen" not in html
    assert not User.objects.get().email_verified


def test_registering_again_with_an_unverified_address_sends_a_fresh_link_and_keeps_the_account(
        client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        register(client)
    with django_capture_on_commit_callbacks(execute=True):
        again = register(client, email="ERIKA@example.org", password="Ein-ganz-anderes-Passwort-2")
    assert again.status_code == 200
    assert "Wir haben eine E-Mail an erika@example.org geschickt." in again.content.decode()
    assert User.objects.count() == 1
    assert [m.to for m in mail.outbox] == [["erika@example.org"], ["erika@example.org"]]
    assert "http://testserver/konto/passwort-vergessen/" in mail.outbox[1].body

    verified = client.get(_link(mail.outbox[1], "/konto/bestaetigen/"))
    assert verified.status_code == 302 and verified["Location"] == "/konto/anmelden/"
    # Registering again proves nothing: the password stays the one chosen first.
    assert "_auth_user_id" not in login(client, "erika@example.org", "Ein-ganz-anderes-Passwort-2").wsgi_request.session
    assert login(client, "erika@example.org").status_code == 302
    actions = list(AuditEntry.objects.filter(actor=User.objects.get()).order_by("id").values_list("action", flat=True))
    assert actions == ["account.registered", "account.verification_resent", "account.email_verified", "account.login"]


def _main(response) -> str:
    """The page's main content (the rest holds per-response nonces)."""
    return re.search(r"<main.*</main>", response.content.decode(), re.S).group(0)


def test_registering_again_answers_as_a_new_registration_and_mails_a_few_links_per_hour(
        client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new = register(client, email="neu@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        register(client)
    mail.outbox.clear()
    answers = []
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(register(client))
    assert {a.status_code for a in answers} == {200}
    expected = _main(new).replace("neu@example.org", "erika@example.org")
    assert {_main(a) for a in answers} == {expected}
    assert len(mail.outbox) == 3  # then nothing more for this address this hour, with the same answer


def test_registering_a_verified_address_answers_as_for_a_new_one_and_tells_its_owner_by_e_mail(
        client, make_user, django_capture_on_commit_callbacks):
    # The page must not reveal that the address has an account (anyone could probe addresses);
    # the owner learns of the attempt, with the ways back in, and her account stays as it was.
    user = make_user("erika@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        new = register(client, email="neu@example.org")
    mail.outbox.clear()
    answers = []
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(register(client, password="Ein-ganz-anderes-Passwort-9"))
    assert {a.status_code for a in answers} == {200}
    assert {_main(a) for a in answers} == {_main(new).replace("neu@example.org", "erika@example.org")}
    assert "schon ein Konto" not in answers[0].content.decode()
    assert len(mail.outbox) == 3  # a few per address and hour, then the same answer without a mail
    message = mail.outbox[0]
    assert message.to == ["erika@example.org"] and message.subject == "Sie haben bereits ein Konto"
    assert "http://testserver/konto/anmelden/" in message.body and "http://testserver/konto/passwort-vergessen/" in message.body
    assert User.objects.filter(email__iexact="erika@example.org").count() == 1
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and not user.check_password("Ein-ganz-anderes-Passwort-9")
    assert AuditEntry.objects.filter(action="account.registration_attempted", object_id=str(user.pk), actor__isnull=True).count() == 3


@pytest.fixture
def request_reset(django_capture_on_commit_callbacks):
    """Ask for a reset link; the queued e-mail job runs as the request's transaction commits."""
    def request(client, email):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/konto/passwort-vergessen/", {"email": email})
    return request


def test_a_forgotten_password_is_replaced_through_a_link_by_e_mail(request_reset, client, make_user):
    user = make_user("erika@example.org")
    assert 'href="/konto/passwort-vergessen/"' in client.get("/konto/anmelden/").content.decode()
    response = request_reset(client, "Erika@Example.org")
    assert response.status_code == 302 and response["Location"] == "/konto/passwort-vergessen/gesendet/"
    assert "Wenn es zu dieser E-Mail-Adresse ein Konto gibt" in client.get(response["Location"]).content.decode()
    [message] = mail.outbox
    assert message.to == ["erika@example.org"] and message.subject == "Ihr neues Passwort"
    assert "Sie haben ein neues Passwort für Ihr Konto angefordert." in message.body

    form_url = client.get(_link(message, "/konto/passwort-neu/"))["Location"]
    page = client.get(form_url)
    assert page.status_code == 200 and "Neues Passwort festlegen" in page.content.decode()
    weak = client.post(form_url, {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200
    saved = client.post(form_url, {"new_password1": "Ein-neues-Passwort-42", "new_password2": "Ein-neues-Passwort-42"})
    assert saved.status_code == 302 and saved["Location"] == "/konto/passwort-neu/fertig/"
    assert "Neues Passwort gespeichert" in client.get(saved["Location"]).content.decode()
    assert login(client, "erika@example.org").status_code == 200  # the old one is gone
    assert login(client, "erika@example.org", "Ein-neues-Passwort-42").status_code == 302
    assert AuditEntry.objects.filter(action="account.password_reset", actor=user).count() == 1
    # The link works once.
    used = client.get(_link(message, "/konto/passwort-neu/"))
    assert "Der Link ist ungültig oder abgelaufen" in used.content.decode()


def test_a_password_reset_answers_alike_for_unknown_addresses_and_sends_nothing(request_reset, client, make_user):
    make_user("erika@example.org")
    known, unknown = request_reset(client, "erika@example.org"), request_reset(client, "niemand@example.org")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [["erika@example.org"]]


def test_a_password_reset_also_verifies_an_address_whose_link_was_lost(request_reset, client, make_user):
    user = make_user("erika@example.org", verified=False)
    request_reset(client, "erika@example.org")
    form_url = client.get(_link(mail.outbox[0], "/konto/passwort-neu/"))["Location"]
    client.post(form_url, {"new_password1": "Ein-neues-Passwort-42", "new_password2": "Ein-neues-Passwort-42"})
    user.refresh_from_db()
    assert user.email_verified
    assert login(client, "erika@example.org", "Ein-neues-Passwort-42").status_code == 302


def test_password_reset_requests_are_rate_limited_per_address(request_reset, client, make_user):
    from unittest import mock

    make_user("erika@example.org")
    # django-ratelimit's hour windows start at a second of the hour derived from the key (for this
    # address at minute 42:29): six requests across that second would count in two windows. Pinned
    # to one window, as six requests within an hour are.
    with mock.patch("django_ratelimit.core._get_window", return_value=2_000_000_000):
        statuses = [request_reset(client, "erika@example.org").status_code for _ in range(6)]
    assert statuses == [302] * 5 + [429]
    assert len(mail.outbox) == 5
    assert request_reset(client, "max@example.org").status_code == 302


def _run_worker() -> None:
    from rathaus.core.worker import Worker

    Worker(queue_names=["*"], interval=0.01, batch=True, backend_name="default", startup_delay=False,
           max_tasks=None, worker_id="w-test", excluded_queue_names=[]).run()


def _provider_member(user, municipality):
    """Makes `user` someone a municipality holds data about (for an erasure request), without an application."""
    from rathaus.exchanges.models import Provider, ProviderMember

    provider = Provider.objects.create(municipality=municipality, name="Kita Sonnenschein", email="kita@example.org")
    ProviderMember.objects.create(municipality=municipality, provider=provider, user=user)


@pytest.mark.django_db(transaction=True)
def test_account_e_mails_are_sent_by_the_worker_not_within_the_request(db_queue, client, make_user, town):
    # The SMTP conversation would make the answer for an address with an account measurably slower
    # than for an unknown one; the request only queues the e-mail.
    from django_tasks_db.models import DBTaskResult

    from rathaus.accounts.models import DataSubjectRequest

    erika = make_user("erika@example.org", first_name="Erika", last_name="Mustermann")
    make_user("max@example.org", verified=False, first_name="Max", last_name="Beispiel")
    register(client, email="neu@example.org")
    register(client, email="erika@example.org")  # has an account: its owner is told
    client.cookies["django_language"] = "en"
    register(client, email="max@example.org")  # not verified yet: a new link, in the language of the request
    del client.cookies["django_language"]
    reset = client.post("/konto/passwort-vergessen/", {"email": "erika@example.org"})
    client.post("/konto/passwort-vergessen/", {"email": "niemand@example.org"})
    assert reset.status_code == 302
    _provider_member(erika, town)
    client.force_login(erika)
    assert client.post("/konto/meine-daten/loeschen/", {"reason": "Ich ziehe weg.", "confirm": "on"}).status_code == 302
    client.logout()
    [erasure] = DataSubjectRequest.objects.all()
    assert mail.outbox == []
    queued = list(DBTaskResult.objects.order_by("enqueued_at").values_list("task_path", "args_kwargs"))
    assert [path for path, _ in queued] == ["rathaus.accounts.tasks.send_account_mail"] * 3 + [
        "rathaus.accounts.tasks.send_password_reset", "rathaus.accounts.tasks.send_account_mail"]
    # No name, address, link or case reference waits in the queue's table (finished rows stay a while).
    for personal in ("Erika", "Mustermann", "Max", "example.org", "bestaetigen", "passwort-neu", erasure.reference, town.name):
        assert personal not in str(queued)

    _run_worker()
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["neu@example.org"], "Bitte bestätigen Sie Ihre E-Mail-Adresse"),
        (["erika@example.org"], "Sie haben bereits ein Konto"),
        (["max@example.org"], "Please confirm your email address"),
        (["erika@example.org"], "Ihr neues Passwort"),
        (["erika@example.org"], "Ihr Antrag auf Löschung Ihrer Daten ist eingegangen"),
    ]
    new, exists, again, reset_mail, receipt = mail.outbox
    assert new.body.startswith("Guten Tag Erika Mustermann,\n\nbitte bestätigen Sie Ihr Konto mit diesem Link (gültig 3 Tage):\n"
                               "http://testserver/konto/bestaetigen/")
    assert exists.body == (
        "Guten Tag Erika Mustermann,\n\njemand – vielleicht Sie – wollte mit dieser E-Mail-Adresse ein neues Konto anlegen. "
        "Sie haben bereits ein Konto; es bleibt unverändert.\n\nAnmelden: http://testserver/konto/anmelden/\n"
        "Passwort vergessen? Hier legen Sie ein neues fest: http://testserver/konto/passwort-vergessen/\n\n"
        "Wenn Sie das nicht waren, ignorieren Sie diese Nachricht.")
    assert again.body.startswith("Hello Max Beispiel,") and "http://testserver/konto/passwort-vergessen/" in again.body
    assert (f"weitergeleitet:\n- Musterstadt: {erasure.reference}, Antwort bis {erasure.due_date:%d.%m.%Y}\n\n"
            in receipt.body)
    # The links made by the jobs work.
    assert client.get(_link(new, "/konto/bestaetigen/")).status_code in (200, 302)
    assert User.objects.get(email="neu@example.org").email_verified
    client.get(_link(again, "/konto/bestaetigen/"))
    assert User.objects.get(email="max@example.org").email_verified
    form_url = client.get(_link(reset_mail, "/konto/passwort-neu/"))["Location"]
    saved = client.post(form_url, {"new_password1": "Ein-neues-Passwort-42", "new_password2": "Ein-neues-Passwort-42"})
    assert saved.status_code == 302 and saved["Location"] == "/konto/passwort-neu/fertig/"
    assert login(client, "erika@example.org", "Ein-neues-Passwort-42").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_no_account_e_mail_goes_to_an_account_deleted_before_the_worker_ran(db_queue, client, make_user):
    register(client, email="neu@example.org")
    User.objects.filter(email="neu@example.org").delete()
    _run_worker()
    assert mail.outbox == []


def _mail_server_fails(monkeypatch, error: Exception) -> None:
    """Every e-mail sent from now on fails with `error`, as an SMTP backend raises it."""
    def fail(self, messages):
        raise error

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", fail)


def _waiting_jobs():
    """The jobs queued for later (ready, with a run_after), as (task name, run_after)."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult, get_date_max

    return list(DBTaskResult.objects.filter(status=TaskResultStatus.READY).exclude(run_after=get_date_max())
                .order_by("enqueued_at").values_list("task_path", "run_after"))


def _time_passes() -> None:
    """The waits of the jobs queued for later are over."""
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult, get_date_max

    DBTaskResult.objects.exclude(run_after=get_date_max()).update(run_after=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_an_account_e_mail_the_mail_server_did_not_take_goes_out_later(db_queue, client, monkeypatch, caplog):
    import smtplib

    from django.utils import timezone

    _mail_server_fails(monkeypatch, smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))
    register(client, email="neu@example.org")
    _run_worker()
    assert mail.outbox == []
    [(path, run_after)] = _waiting_jobs()
    assert path == "rathaus.accounts.tasks.send_account_mail" and run_after > timezone.now()
    assert "failed on attempt 1 of 5, trying again" in caplog.text

    _run_worker()  # not yet due: nothing happens
    assert len(_waiting_jobs()) == 1
    monkeypatch.undo()  # the mail server is back
    _time_passes()
    _run_worker()
    [message] = mail.outbox
    assert (message.to, message.subject) == (["neu@example.org"], "Bitte bestätigen Sie Ihre E-Mail-Adresse")
    client.get(_link(message, "/konto/bestaetigen/"))
    assert User.objects.get(email="neu@example.org").email_verified
    assert _waiting_jobs() == []


@pytest.mark.django_db(transaction=True)
def test_an_account_e_mail_is_given_up_after_five_attempts_over_about_an_hour(db_queue, client, make_user, monkeypatch, caplog):
    from django.utils import timezone
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    make_user("erika@example.org")
    _mail_server_fails(monkeypatch, ConnectionRefusedError(111, "Connection refused"))
    client.post("/konto/passwort-vergessen/", {"email": "erika@example.org"})
    waits = []
    for _attempt in range(10):
        started = timezone.now()
        _run_worker()
        waiting = _waiting_jobs()
        if not waiting:
            break
        [(path, run_after)] = waiting
        assert path == "rathaus.accounts.tasks.send_password_reset"
        waits.append((run_after - started).total_seconds())
        _time_passes()
    assert len(waits) == 4 and waits == sorted(waits)  # four waits between five attempts, each longer
    assert 45 * 60 <= sum(waits) <= 75 * 60
    assert DBTaskResult.objects.count() == 5
    assert DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).count() == 1  # the last one
    assert "failed on attempt 5 of 5, giving up" in caplog.text
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_an_account_e_mail_to_a_refused_address_is_not_tried_again(db_queue, client, monkeypatch):
    import smtplib

    _mail_server_fails(monkeypatch, smtplib.SMTPRecipientsRefused({"neu@example.org": (550, b"no such user")}))
    register(client, email="neu@example.org")
    _run_worker()
    assert _waiting_jobs() == []


@pytest.mark.django_db(transaction=True)
def test_a_reset_link_is_not_sent_to_an_account_deactivated_after_asking(db_queue, client, make_user):
    user = make_user("erika@example.org")
    client.post("/konto/passwort-vergessen/", {"email": "erika@example.org"})
    User.objects.filter(pk=user.pk).update(is_active=False)
    _run_worker()
    assert mail.outbox == []


def test_the_reset_e_mail_is_written_in_the_language_of_the_request(request_reset, client, make_user):
    make_user("erika@example.org")
    client.cookies["django_language"] = "en"
    request_reset(client, "erika@example.org")
    [message] = mail.outbox
    assert message.subject != "Ihr neues Passwort"  # the English translation
    assert "/konto/passwort-neu/" in message.body
