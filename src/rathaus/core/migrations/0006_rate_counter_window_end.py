from django.db import migrations, models


class Migration(migrations.Migration):
    """Counters keep the end of their window, so pruning needs no rate's period. A row from before
    reads its start as an end: its count starts afresh with the next request (one window at most)."""

    dependencies = [
        ("core", "0005_plain_indexes"),
    ]

    operations = [
        migrations.RenameField(model_name="ratecounter", old_name="window_start", new_name="window_end"),
        migrations.AlterField(
            model_name="ratecounter",
            name="window_end",
            field=models.BigIntegerField(help_text="End of the counted window, in seconds since the epoch."),
        ),
    ]
