from django.core.wsgi import get_wsgi_application

from rathaus.config.envfile import choose_settings

choose_settings()

from rathaus.core.heap import FreezeAfterRequests  # noqa: E402 - after the settings are chosen

# The collector leaves what the process keeps alone once its first requests have loaded it (see core/heap.py).
application = FreezeAfterRequests(get_wsgi_application())
