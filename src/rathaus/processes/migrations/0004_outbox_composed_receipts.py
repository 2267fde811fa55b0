"""Receipt e-mails waiting in the outbox name their composer (`{"compose": …, "args": […]}`)
instead of the former special key `receipt_for`, which the outbox no longer reads."""

from django.db import migrations


def forwards(apps, schema_editor):
    OutboxMessage = apps.get_model("processes", "OutboxMessage")
    for message in OutboxMessage.objects.filter(sent_at__isnull=True, payload__has_key="receipt_for"):
        message.payload = {"compose": "application-receipt", "args": [message.payload["receipt_for"]]}
        message.save(update_fields=["payload"])


def backwards(apps, schema_editor):
    OutboxMessage = apps.get_model("processes", "OutboxMessage")
    for message in OutboxMessage.objects.filter(sent_at__isnull=True, payload__compose="application-receipt"):
        message.payload = {"receipt_for": message.payload["args"][0]}
        message.save(update_fields=["payload"])


class Migration(migrations.Migration):

    dependencies = [("processes", "0003_delete_casedocument")]

    operations = [migrations.RunPython(forwards, backwards)]
