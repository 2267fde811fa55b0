"""`rathaus export-submission REF --format fit-connect --out DIR`: an application as a FIT-Connect submission."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rathaus.applications.models import Application
from rathaus.integration import fitconnect
from rathaus.integration.services import submission_export


class Command(BaseCommand):
    help = ("Write an application as a FIT-Connect-style submission: metadata.json, data.json and attachments/ "
            "(with --encrypt-for, each part as a JWE for the destination's public RSA key).")

    def add_arguments(self, parser):
        parser.add_argument("reference", help="case reference, e.g. MUS-2026-000123")
        parser.add_argument("--format", default="fit-connect", help=f"export format ({', '.join(fitconnect.FORMATS)})")
        parser.add_argument("--out", required=True, help="directory to write into (created if missing; must be empty)")
        parser.add_argument("--municipality", help="slug of the municipality (needed if the reference is not unique)")
        parser.add_argument("--encrypt-for", dest="encrypt_for", help="public key of the destination: JWK (.jwk/.json) or PEM")

    def handle(self, *args, reference, format, out, municipality, encrypt_for, **options):
        if format not in fitconnect.FORMATS:
            raise CommandError(f"unknown format {format!r}; known: {', '.join(fitconnect.FORMATS)}")
        application = self._application(reference, municipality)
        key = None
        if encrypt_for:
            try:
                key = fitconnect.load_public_key(Path(encrypt_for).read_bytes())
            except OSError as exc:
                raise CommandError(f"cannot read key {encrypt_for}: {exc.strerror}") from None
            except fitconnect.KeyRefused as exc:
                raise CommandError(f"unusable key {encrypt_for}: {exc.message}") from None
        target = Path(out)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise CommandError(f"{target} exists and is not an empty directory")
        try:
            files = submission_export(application=application, encrypt_key=key, channel="cli",
                                      actor_label="rathaus export-submission")
        except fitconnect.ExportRefused as exc:
            raise CommandError(f"{application.reference}: {exc.message}") from None
        for name, content in sorted(files.items()):
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            self.stdout.write(f"{path}\t{len(content)} bytes")
        state = "encrypted (JWE, RSA-OAEP-256 + A256GCM)" if key is not None else "unencrypted"
        self.stdout.write(self.style.SUCCESS(f"{application.reference}: {len(files)} files written to {target}, {state}"))

    def _application(self, reference: str, slug: str | None) -> Application:
        qs = Application.objects.filter(reference=reference).select_related("municipality", "service", "form")
        if slug:
            qs = qs.filter(municipality__slug=slug)
        found = list(qs[:2])
        if not found:
            where = f" in municipality {slug}" if slug else ""
            raise CommandError(f"unknown reference {reference}{where}")
        if len(found) > 1:
            raise CommandError(f"reference {reference} exists in several municipalities; name one with --municipality")
        return found[0]
