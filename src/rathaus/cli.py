"""`rathaus <command>`: the console script, a thin wrapper around Django's manage.py."""

from __future__ import annotations

import sys

# Commands are spelt with hyphens on the command line and with underscores in Django.
ALIASES = {"seed-demo": "seed_demo", "import-fim": "import_fim", "demo-otp": "demo_otp", "check-process": "check_process",
           "import-process": "import_process", "verify-audit": "verify_audit", "export-submission": "export_submission"}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if argv[1:3] == ["allocate", "daycare"] and "--input" in argv:
        # File mode needs no database: skip Django's start-up (the 150,000-children target is 3 s).
        from rathaus.exchanges.allocate_cli import main as allocate_file_main

        sys.exit(allocate_file_main(argv[3:]))
    from rathaus.config.envfile import choose_settings

    choose_settings()
    if len(argv) > 1:
        argv[1] = ALIASES.get(argv[1], argv[1])
    argv[0] = "rathaus"
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
