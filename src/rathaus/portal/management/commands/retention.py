from django.core.management.base import BaseCommand

from rathaus.applications.services import applications_apply_retention


class Command(BaseCommand):
    help = "Anonymise closed applications past their retention period now (the worker does this daily)."

    def handle(self, *args, **options):
        result = applications_apply_retention()
        self.stdout.write(f"anonymised {result['anonymised']} applications, deleted {result['drafts_deleted']} expired drafts")
        if result.get("failed"):
            # A case that could not be anonymised is logged and retried on the next run.
            self.stderr.write(f"{result['failed']} applications could not be anonymised (see the log); they are retried next time")
            raise SystemExit(1)
