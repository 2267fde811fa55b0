from django.core.management.base import BaseCommand

from rathaus.portal.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create or refresh the demo municipalities, staff, citizen and services (idempotent)."

    def handle(self, *args, **options):
        counts = seed_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {counts['municipalities']} municipalities, "
                                             f"{counts['staff']} staff accounts (password {DEMO_PASSWORD})."))
