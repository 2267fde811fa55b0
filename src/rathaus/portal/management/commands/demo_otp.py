from django.core.management.base import BaseCommand

from rathaus.portal.demo import demo_totp_code


class Command(BaseCommand):
    help = "Print the current second-factor code of the demo staff accounts."

    def handle(self, *args, **options):
        self.stdout.write(demo_totp_code())
