from django.core.management.base import BaseCommand

from rathaus.applications.services import applications_apply_retention
from rathaus.cases.services import documents_apply_retention
from rathaus.core.tasks import ips_erase
from rathaus.exchanges.services import registrations_apply_retention


class Command(BaseCommand):
    help = ("Apply retention now (the worker does this daily): delete documents whose retention class ran out, "
            "then anonymise closed applications past their service's period and exchange registrations past "
            "RATHAUS_EXCHANGE_RETENTION_YEARS, and erase IP addresses older than RATHAUS_AUDIT_IP_DAYS.")

    def handle(self, *args, **options):
        documents = documents_apply_retention()
        self.stdout.write(f"deleted {documents.get('deleted', 0)} documents past their retention class")
        result = applications_apply_retention()
        self.stdout.write(f"anonymised {result['anonymised']} applications, deleted {result['drafts_deleted']} expired drafts")
        exchanges = registrations_apply_retention()
        self.stdout.write(f"anonymised {exchanges['anonymised']} exchange registrations")
        ips = ips_erase()
        self.stdout.write(f"erased the IP addresses of {ips['erased']} audit entries, "
                          f"deleted {ips['login_records_deleted']} login records")
        if exchanges["failed"]:
            self.stderr.write(f"{exchanges['failed']} exchange registrations could not be anonymised (see the log); "
                              "they are retried next time")
        if documents.get("failed"):
            self.stderr.write(f"{documents['failed']} documents could not be deleted (see the log); they are retried next time")
        if result.get("failed") or documents.get("failed") or exchanges["failed"]:
            # A case that could not be anonymised is logged and retried on the next run.
            if result.get("failed"):
                self.stderr.write(f"{result['failed']} applications could not be anonymised (see the log); they are retried next time")
            raise SystemExit(1)
