"""Unsent outbox messages of running processes, queued before 0009, are tied to their process instance.

From their keys: a process step's are "<reference>:<engine task id>" (a document request's
"<reference>:request:<id>" is staff's, not the process's), a task reminder's "remind:<task id>" and
"escalate:<task id>", and a status e-mail's "status:<change id>" when no person made the change (only
the process's set_status step changes a status without one). A separate migration from 0009's schema
change, so that the table is not locked while this runs.
"""

from django.db import migrations, models


def tie_unsent_to_their_process(apps, schema_editor):
    OutboxMessage = apps.get_model("processes", "OutboxMessage")
    ProcessInstance = apps.get_model("processes", "ProcessInstance")
    UserTask = apps.get_model("processes", "UserTask")
    StatusChange = apps.get_model("applications", "StatusChange")
    # Only what can still go out (not yet tried, or a retry due) of processes still running: a message
    # given up for good, or one of an ended process, is never cancelled. Few rows (what is left is sent
    # within minutes), read before any is written: SQLite does not isolate a cursor from writes to its
    # table on the same connection.
    unsent = list(OutboxMessage.objects.filter(sent_at__isnull=True, instance__isnull=True)
                  .filter(models.Q(attempts=0) | models.Q(next_attempt_at__isnull=False))
                  .values_list("pk", "idempotency_key", "municipality_id"))
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
        if instance_id is not None and ProcessInstance.objects.filter(pk=instance_id).exclude(status="completed").exists():
            OutboxMessage.objects.filter(pk=pk).update(instance_id=instance_id)


class Migration(migrations.Migration):

    dependencies = [
        ("applications", "0009_payment_due_status"),
        ("processes", "0009_outbox_cancelled_by_process_end"),
    ]

    operations = [
        migrations.RunPython(tie_unsent_to_their_process, migrations.RunPython.noop, elidable=True),
    ]
