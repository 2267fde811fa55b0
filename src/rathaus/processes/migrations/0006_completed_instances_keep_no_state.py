from django.db import migrations


def drop_completed_state(apps, schema_editor):
    """Completed processes no longer keep their engine state (a copy of the applicant's data that
    nothing reads once the process has ended); those completed before this release lose it too."""
    ProcessInstance = apps.get_model("processes", "ProcessInstance")
    ProcessInstance.objects.filter(status="completed").exclude(state="").update(state="")


class Migration(migrations.Migration):

    dependencies = [
        ('processes', '0005_outbox_retry_backoff'),
    ]

    operations = [
        migrations.RunPython(drop_completed_state, migrations.RunPython.noop, elidable=True),
    ]
