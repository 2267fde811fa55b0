"""Local development and the demo: debug on, a throwaway key unless one is given."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# A local test receiver is the usual first webhook of a developer.
RATHAUS_WEBHOOK_ALLOW_PRIVATE = env.bool("RATHAUS_WEBHOOK_ALLOW_PRIVATE", default=True)
RATHAUS_MAP_TILE_URL = env.str("RATHAUS_MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
