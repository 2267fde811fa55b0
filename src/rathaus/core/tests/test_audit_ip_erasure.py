"""IP addresses in the audit trail and the login records are erased after RATHAUS_AUDIT_IP_DAYS; the chain still verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessLog
from django.utils import timezone

from rathaus.applications.models import Application
from rathaus.applications.services import application_submit
from rathaus.core.audit import IP_ERASED, _append, audit_entry, audit_record, audit_verify
from rathaus.core.models import AuditEntry
from rathaus.core.tasks import ips_erase

pytestmark = pytest.mark.django_db


def _age(entry: AuditEntry, days: int) -> None:
    """Move an entry's time back (its hash covers the time, so the chain is re-hashed as written then)."""
    from rathaus.core.audit import entry_hash

    entries = list(AuditEntry.objects.filter(municipality_id=entry.municipality_id).order_by("pk"))
    previous = ""
    for row in entries:
        if row.pk == entry.pk:
            row.created_at -= timedelta(days=days)
        row.prev_hash = previous
        row.hash = previous = entry_hash(row)
        AuditEntry.objects.filter(pk=row.pk).update(created_at=row.created_at, prev_hash=row.prev_hash, hash=row.hash)
    from rathaus.core.models import AuditChainHead

    AuditChainHead.objects.filter(key=f"m:{entry.municipality_id}").update(last_hash=previous)


def test_addresses_older_than_the_period_are_erased_and_the_chain_verifies(town, settings):
    settings.RATHAUS_AUDIT_IP_DAYS = 90
    old = audit_record(action="accounts.login", municipality=town, summary="Anmeldung", ip_address="203.0.113.7")
    recent = audit_record(action="accounts.login", municipality=town, summary="Anmeldung", ip_address="2001:db8::1")
    _age(old, 91)
    assert audit_verify() == []
    stale = AccessLog.objects.create(ip_address="203.0.113.7", username="erika", user_agent="Firefox")
    AccessLog.objects.filter(pk=stale.pk).update(attempt_time=timezone.now() - timedelta(days=91))  # auto_now_add
    AccessLog.objects.create(ip_address="2001:db8::1", username="erika", user_agent="Firefox")

    result = ips_erase()

    assert result == {"erased": 1, "chains": 1, "login_records_deleted": 1}
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.ip_address is None and old.ip_salt is None and old.ip_digest  # the digest stays for the chain
    assert recent.ip_address == "2001:db8::1"
    assert list(AccessLog.objects.values_list("ip_address", flat=True)) == ["2001:db8::1"]
    record = AuditEntry.objects.get(action=IP_ERASED)
    assert record.municipality_id == town.pk and record.data["entries"] == 1
    assert "IP-Adressen von 1 Protokolleinträgen" in record.summary
    assert audit_verify() == []
    # Once is enough: the next day's run finds nothing more to erase and writes no entry.
    assert ips_erase()["erased"] == 0
    assert AuditEntry.objects.filter(action=IP_ERASED).count() == 1


def test_a_changed_address_breaks_the_chain(town):
    entry = audit_record(action="accounts.login", municipality=town, summary="Anmeldung", ip_address="203.0.113.7")
    AuditEntry.objects.filter(pk=entry.pk).update(ip_address="198.51.100.1")
    assert audit_verify() == [{"chain": f"m:{town.pk}", "entry_id": entry.pk,
                               "problem": "IP address does not match its digest (entry changed)"}]


def test_an_address_erased_by_hand_breaks_the_chain(town):
    """Only the job erases, and only behind its cut-off: a recent address removed by hand is tampering."""
    old = audit_record(action="accounts.login", municipality=town, summary="Anmeldung", ip_address="203.0.113.7")
    recent = audit_record(action="accounts.login", municipality=town, summary="Anmeldung", ip_address="203.0.113.8")
    _age(old, 100)
    ips_erase()
    assert audit_verify() == []
    AuditEntry.objects.filter(pk=recent.pk).update(ip_address=None, ip_salt=None)
    assert audit_verify() == [{"chain": f"m:{town.pk}", "entry_id": recent.pk,
                               "problem": "IP address erased without an erasure entry (entry changed)"}]


def test_entries_written_before_address_digests_keep_their_address(town):
    legacy = audit_entry(action="accounts.login", municipality=town, summary="Anmeldung", ip_address="203.0.113.7")
    legacy.ip_digest = legacy.ip_salt = None  # as written before this release: the hash covers the address
    _append(town, [legacy])
    _age(legacy, 400)
    assert ips_erase()["erased"] == 0
    legacy.refresh_from_db()
    assert legacy.ip_address == "203.0.113.7"
    assert audit_verify() == []


@pytest.mark.django_db(transaction=True)
def test_a_submissions_address_is_erased_too(town, demo_services, dog_data, settings):
    """A submission writes its entry in one statement on PostgreSQL; its address has a digest there too."""
    settings.RATHAUS_AUDIT_IP_DAYS = 30
    application_submit(municipality=town, service=demo_services["hund-anmelden"], data=dog_data, ip="192.0.2.44")
    application = Application.objects.get()
    entry = AuditEntry.objects.get(action="application.submitted", object_id=str(application.pk))
    assert entry.ip_address == "192.0.2.44" and entry.ip_digest
    assert audit_verify() == []

    ips_erase(now=timezone.now() + timedelta(days=31))

    entry.refresh_from_db()
    assert entry.ip_address is None
    assert not AuditEntry.objects.filter(ip_address__isnull=False).exclude(ip_digest__isnull=True).exists()
    assert audit_verify() == []


def test_the_privacy_page_names_the_period(client, settings):
    settings.RATHAUS_AUDIT_IP_DAYS = 30
    page = client.get("/datenschutz/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "speichern wir Ihre IP-Adresse im Protokoll" in page and "Nach 30 Tagen wird sie gelöscht." in page
    english = client.get("/datenschutz/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "It is erased after 30 days." in english
