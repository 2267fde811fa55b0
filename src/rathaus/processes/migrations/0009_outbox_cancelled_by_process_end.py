"""Outbox messages can be cancelled (when, why) and name the process instance that queued them.

A process that staff end by hand (a final status on the case page) cancels the e-mails it queued
and has not sent yet. Unsent messages of running processes queued before this migration are tied
to their instance here, from their keys: a process step's are "<reference>:<engine task id>"
(a document request's "<reference>:request:<id>" is staff's, not the process's), a task
reminder's "remind:<task id>" and "escalate:<task id>", and a status e-mail's "status:<change id>"
when no person made the change (only the process's set_status step changes a status without one).
"""

import django.db.models.deletion
from django.db import migrations, models


def tie_unsent_to_their_process(apps, schema_editor):
    OutboxMessage = apps.get_model("processes", "OutboxMessage")
    ProcessInstance = apps.get_model("processes", "ProcessInstance")
    UserTask = apps.get_model("processes", "UserTask")
    StatusChange = apps.get_model("applications", "StatusChange")
    # Few rows (unsent messages are sent within minutes or kept after their last attempt), read before
    # any is written: SQLite does not isolate a cursor from writes to its table on the same connection.
    unsent = list(OutboxMessage.objects.filter(sent_at__isnull=True, instance__isnull=True).values_list(
        "pk", "idempotency_key", "municipality_id"))
    for pk, key, municipality_id in unsent:
        head, _, rest = key.partition(":")
        if head in ("remind", "escalate") and rest.isdigit():
            instance_id = UserTask.objects.filter(pk=int(rest), municipality_id=municipality_id).values_list(
                "instance_id", flat=True).first()
        elif head == "status" and rest.isdigit():
            application_id = StatusChange.objects.filter(pk=int(rest), municipality_id=municipality_id,
                                                         actor__isnull=True).values_list("application_id", flat=True).first()
            instance_id = ProcessInstance.objects.filter(application_id=application_id).values_list(
                "pk", flat=True).first() if application_id is not None else None
        elif head not in ("receipt", "dsr") and rest and not rest.startswith("request:"):
            instance_id = ProcessInstance.objects.filter(
                municipality_id=municipality_id, application__reference=head).values_list("pk", flat=True).first()
        else:
            continue
        if instance_id is not None:
            OutboxMessage.objects.filter(pk=pk).update(instance_id=instance_id)


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
        migrations.RunPython(tie_unsent_to_their_process, migrations.RunPython.noop, elidable=True),
    ]
