"""verify-audit checks a redacted entry too: it may say nothing but that it was redacted."""

from __future__ import annotations

import pytest

from rathaus.core.audit import REDACTED, audit_record, audit_redact, audit_verify
from rathaus.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_a_redacted_entry_given_new_words_afterwards_breaks_the_chain(town):
    entry = audit_record(action="process.decision", municipality=town,
                         summary="A-1: Lindenallee 7", data={"street": "Lindenallee"})
    audit_record(action="process.other", municipality=town, summary="later")
    assert audit_redact(municipality=town, entries=AuditEntry.objects.filter(pk=entry.pk), reason="test") == 1
    assert audit_verify() == []
    # Tampering after the redaction: the "erased" entry now says something else.
    AuditEntry.objects.filter(pk=entry.pk).update(summary="A-1: Antrag von Sachbearbeiter X genehmigt",
                                                  data={"outcome": "approve"})
    assert AuditEntry.objects.get(pk=entry.pk).summary != REDACTED
    assert audit_verify() == [{"chain": f"m:{town.pk}", "entry_id": entry.pk,
                               "problem": "content does not match its hash (entry changed)"}]
