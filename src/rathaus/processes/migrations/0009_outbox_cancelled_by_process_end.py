"""Outbox messages can be cancelled (when, why) and name the process instance that queued them.

A process that staff end by hand (a final status on the case page) cancels the e-mails it queued
and has not sent yet. The messages queued before are tied to their process in 0010, after this
schema change has committed (its lock on the table is held only for the change itself).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("applications", "0009_payment_due_status"),
        ("processes", "0008_received_message"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="outboxmessage",
            options={"ordering": ["id"], "verbose_name": "Nachricht im Postausgang", "verbose_name_plural": "Postausgang"},
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="cancel_reason",
            field=models.CharField(blank=True, choices=[("process_ended", "Verfahren von Hand beendet")], max_length=20,
                                   verbose_name="Grund der Stornierung"),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="storniert am"),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="instance",
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="outbox_messages", to="processes.processinstance",
                                    verbose_name="Prozessinstanz"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="attempts",
            field=models.PositiveIntegerField(default=0, verbose_name="Versuche"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, verbose_name="erstellt am"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="kind",
            field=models.CharField(choices=[("email", "E-Mail"), ("http", "HTTP")], max_length=8, verbose_name="Art"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="last_error",
            field=models.TextField(blank=True, verbose_name="letzter Fehler"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="nächster Versuch"),
        ),
        migrations.AlterField(
            model_name="outboxmessage",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="versandt am"),
        ),
        migrations.AddIndex(
            model_name="outboxmessage",
            index=models.Index(condition=models.Q(("instance__isnull", False)), fields=["instance"],
                               name="outbox_instance_idx"),
        ),
    ]
