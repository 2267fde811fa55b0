"""The optional local .env: read by every entry point before it chooses the settings module.

The settings read it too, but only once a settings module is imported; by then manage.py, the
console script or the WSGI application had taken their default (dev) and a
``DJANGO_SETTINGS_MODULE`` in the file was ignored. Real environment variables win over the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

ENV_FILE = Path(__file__).resolve().parents[3] / ".env"
DEFAULT_SETTINGS = "rathaus.config.settings.dev"


def read_env_file() -> None:
    """Put the variables of the .env file into the environment, leaving those already set alone."""
    environ.Env.read_env(ENV_FILE, overwrite=False)


def choose_settings() -> None:
    """Set DJANGO_SETTINGS_MODULE from the environment, else from the .env file, else the dev settings."""
    read_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
