from django.core.management.base import BaseCommand

from rathaus.core.audit import audit_verify
from rathaus.core.models import AuditEntry


class Command(BaseCommand):
    help = "Recompute the audit log's hash chains; report the first broken entry of each chain (exit 1)."

    def handle(self, *args, **options):
        findings = audit_verify()
        for f in findings:
            self.stdout.write(self.style.ERROR(
                f"{f['chain']}: Eintrag {f['entry_id']} gebrochen / entry {f['entry_id']} broken: {f['problem']}"))
        if findings:
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"OK: {AuditEntry.objects.count()} Einträge / entries, Kette intakt / chain intact"))
