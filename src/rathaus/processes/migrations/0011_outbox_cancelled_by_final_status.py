"""A new reason for a cancelled outbox message: a final status set by hand (every unsent e-mail about the case
but the receipt, not only the process's). Only the choices change; no row is touched: messages cancelled
before keep "process_ended". The messages are told by keys they already have, so nothing needs tying."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('processes', '0010_outbox_ties_unsent_to_their_process'),
    ]

    operations = [
        migrations.AlterField(
            model_name='outboxmessage',
            name='cancel_reason',
            field=models.CharField(blank=True, choices=[('final_status', 'Abschließender Status von Hand gesetzt'), ('process_ended', 'Verfahren von Hand beendet')], max_length=20, verbose_name='Grund der Stornierung'),
        ),
    ]
