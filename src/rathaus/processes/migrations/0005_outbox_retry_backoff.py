from django.db import migrations, models


def schedule_failing(apps, schema_editor):
    """Messages still being retried (fewer than the old limit of 10 attempts) are due now; those
    that reached it stay given up, so no weeks-old e-mail goes out after the upgrade."""
    from django.utils import timezone

    OutboxMessage = apps.get_model("processes", "OutboxMessage")
    OutboxMessage.objects.filter(sent_at__isnull=True, attempts__gt=0, attempts__lt=10).update(next_attempt_at=timezone.now())


class Migration(migrations.Migration):

    dependencies = [
        ('processes', '0004_outbox_composed_receipts'),
    ]

    operations = [
        migrations.AddField(
            model_name='outboxmessage',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(schedule_failing, migrations.RunPython.noop),
    ]
