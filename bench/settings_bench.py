"""Production settings plus the floor app; used only by bench/intake.py (never by the product)."""

from rathaus.config.settings.production import *  # noqa: F403
from rathaus.config.settings.production import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "floor_app"]
ROOT_URLCONF = "bench_urls"
