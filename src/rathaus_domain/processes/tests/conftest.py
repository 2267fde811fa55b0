"""Fixtures for the process-core tests (helpers live in :mod:`.support`)."""

from __future__ import annotations

import pytest

from .support import Recorder


@pytest.fixture
def recorder() -> Recorder:
    """A step registry that records calls."""
    return Recorder()
