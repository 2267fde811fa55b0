"""Applications get `updated_at`, backfilled from their last status change (or submission)."""

from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Application = apps.get_model("applications", "Application")
    StatusChange = apps.get_model("applications", "StatusChange")
    last = (StatusChange.objects.filter(application=OuterRef("pk")).order_by("-created_at", "-id")
            .values("created_at")[:1])
    Application.objects.update(updated_at=Coalesce(Subquery(last, output_field=models.DateTimeField()), F("submitted_at")))


class Migration(migrations.Migration):
    dependencies = [("applications", "0005_draft_representation")]

    operations = [
        migrations.AddField(model_name="application", name="updated_at",
                            field=models.DateTimeField(null=True, verbose_name="zuletzt geändert")),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(model_name="application", name="updated_at",
                              field=models.DateTimeField(verbose_name="zuletzt geändert")),
        migrations.AddIndex(model_name="application",
                            index=models.Index(fields=["municipality", "updated_at", "id"], name="application_municip_upd_idx")),
    ]
