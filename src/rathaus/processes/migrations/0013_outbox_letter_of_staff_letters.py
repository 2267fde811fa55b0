"""Unsent announcements of letters staff added, queued before 0012, name their letter.

Their key is "decision-notice:<document id>" (`cases.services.decision_notice_email_key`): a final
status by hand that lets the letter stand lets them go, one that withdraws it holds them back. The
process's e-mails about a letter cannot be told from its other e-mails after the fact and stay as
they were (held back by any final status by hand, as before). A separate migration from 0012's
schema change, so that the table is not locked while this runs.
"""

from django.db import migrations


def link_announcements(apps, schema_editor):
    OutboxMessage = apps.get_model("processes", "OutboxMessage")
    Document = apps.get_model("cases", "Document")
    # Few rows (what is left is sent within minutes), read before any is written: SQLite does not
    # isolate a cursor from writes to its table on the same connection.
    unsent = list(OutboxMessage.objects.filter(sent_at__isnull=True, cancelled_at__isnull=True, letter__isnull=True,
                                               idempotency_key__startswith="decision-notice:")
                  .values_list("pk", "idempotency_key", "municipality_id"))
    for pk, key, municipality_id in unsent:
        document_id = key.partition(":")[2]
        if document_id.isdigit() and Document.objects.filter(pk=int(document_id), municipality_id=municipality_id).exists():
            OutboxMessage.objects.filter(pk=pk).update(letter_id=int(document_id))


class Migration(migrations.Migration):

    dependencies = [
        ("processes", "0012_outbox_message_letter"),
    ]

    operations = [
        migrations.RunPython(link_announcements, migrations.RunPython.noop, elidable=True),
    ]
