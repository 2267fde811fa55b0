"""`rathaus <command>`: every hyphenated spelling the console script accepts names a command that exists."""

from __future__ import annotations

import pytest
from django.core.management import get_commands

from rathaus.cli import ALIASES


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_hyphenated_command_runs_an_existing_management_command(alias):
    assert ALIASES[alias] in get_commands(), f"`rathaus {alias}` would answer: Unknown command '{ALIASES[alias]}'"
